// Exact resume for every image layer: train, save a checkpoint (weights, running statistics and batch
// counters, optimizer, random stream), parse it, train on: the same bits as training straight through, in
// float32 and float64. Two networks between them hold every layer type with state or a mode (Conv1d/2d,
// BatchNorm1d on [N, C] and [N, C, L], BatchNorm2d with momentum and with PyTorch's cumulative average,
// LayerNorm, Dropout) and every layer without (pooling of each kind, Flatten, Unflatten).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  checkpointToJSON,
  fit,
  fromSpec,
  modelFromJSON,
  modelToJSON,
  nn,
  optim,
  parseCheckpoint,
  predict,
  random,
  tensor,
  type DType,
  type ModelSpec,
} from '../src/index.js';
import type { ImageLayerType } from './helpers/layers.js';

const bn = (type: 'batchNorm1d' | 'batchNorm2d', features: number, momentum: number | null = 0.1) =>
  ({ type, features, eps: 1e-5, momentum, affine: true, trackRunningStats: true }) as const;

/** Images [2, 6, 6] from rows of 72: every 2-D layer, BatchNorm1d on [N, C] at the end. */
const IMAGES: ModelSpec = {
  type: 'sequential',
  layers: [
    { type: 'unflatten', shape: [2, 6, 6] },
    {
      type: 'conv2d',
      in: 2,
      out: 4,
      kernel: [2, 3],
      stride: 1,
      padding: 'same',
      dilation: 1,
      groups: 1,
      bias: true,
    },
    bn('batchNorm2d', 4),
    { type: 'relu' },
    { type: 'avgPool2d', kernel: 3, stride: 2, padding: 1, ceilMode: true, countIncludePad: false },
    { type: 'conv2d', in: 4, out: 4, kernel: 3, stride: 1, padding: 1, dilation: 1, groups: 2, bias: false },
    // PyTorch's momentum=None: a plain average over the batches, driven by num_batches_tracked.
    bn('batchNorm2d', 4, null),
    { type: 'layerNorm', shape: [4, 4, 4], eps: 1e-5, elementwiseAffine: true },
    { type: 'tanh' },
    { type: 'maxPool2d', kernel: 2, stride: 2, padding: 1, dilation: 1, ceilMode: true },
    { type: 'adaptiveAvgPool2d', size: 1 },
    { type: 'flatten' },
    bn('batchNorm1d', 4),
    { type: 'dropout', p: 0.2 },
    { type: 'linear', in: 4, out: 3, bias: true },
  ],
};

/** Sequences [2, 36] from the same rows: the 1-D layers, BatchNorm1d on [N, C, L]. */
const SEQUENCES: ModelSpec = {
  type: 'sequential',
  layers: [
    { type: 'unflatten', shape: [2, 36] },
    { type: 'conv1d', in: 2, out: 4, kernel: 5, stride: 2, padding: 2, dilation: 1, groups: 2, bias: true },
    bn('batchNorm1d', 4, 0.3),
    { type: 'relu' },
    { type: 'maxPool1d', kernel: 3, stride: 2, padding: 1, dilation: 1, ceilMode: false },
    { type: 'flatten' },
    { type: 'linear', in: 36, out: 3, bias: true },
  ],
};

test('the two networks hold every image layer type', () => {
  const types = new Set([...IMAGES.layers, ...SEQUENCES.layers].map((l) => l.type));
  const all: Record<ImageLayerType, true> = {
    conv2d: true,
    conv1d: true,
    maxPool2d: true,
    maxPool1d: true,
    avgPool2d: true,
    adaptiveAvgPool2d: true,
    flatten: true,
    unflatten: true,
    batchNorm1d: true,
    batchNorm2d: true,
    layerNorm: true,
  };
  for (const t of Object.keys(all)) assert.ok(types.has(t as ImageLayerType), t);
});

/** 3 classes from the sign pattern of rows of 72 normal values. */
function data(n: number, dtype: DType) {
  const rng = new random.RandomState(5);
  const x = rng.randn(n, 72).to(dtype);
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let a = 0;
    let b = 0;
    for (let j = 0; j < 36; j++) {
      a += x.data[i * 72 + j];
      b += x.data[i * 72 + 36 + j];
    }
    y[i] = a > 0 ? (b > 0 ? 2 : 1) : 0;
  }
  return { x, y: tensor(y, { dtype: 'float64' }) };
}

const bits = (m: nn.Module) => m.namedTensors().map(([k, t]) => [k, Array.from(t.data)] as const);

describe('checkpoints resume every image layer bit for bit', () => {
  for (const [name, spec] of Object.entries({ images: IMAGES, sequences: SEQUENCES }))
    for (const dtype of ['float32', 'float64'] as DType[])
      test(`${name}, ${dtype}: 2 epochs + checkpoint + 2 epochs = 4 epochs straight`, async () => {
        const d = data(30, dtype);
        // batchSize 8 leaves a last batch of 6, so the counters and the running statistics see odd batches.
        const options = (
          rng: random.RandomState,
          optimizer: optim.Adam,
          epochs: number,
          initialEpoch = 0,
        ) => ({
          loss: 'crossEntropy' as const,
          optimizer,
          epochs,
          batchSize: 8,
          rng,
          initialEpoch,
        });
        // One stream for the weights, the shuffles and the dropout masks, as the command line has it.
        const rngA = new random.RandomState(8);
        const straight = fromSpec(spec, { dtype, rng: rngA });
        const optA = new optim.Adam(straight.parameters(), { lr: 0.01 });
        await fit(straight, d, options(rngA, optA, 4));

        const rngB = new random.RandomState(8);
        const first = fromSpec(spec, { dtype, rng: rngB });
        const optB = new optim.Adam(first.parameters(), { lr: 0.01 });
        await fit(first, d, options(rngB, optB, 2));
        const text = checkpointToJSON(first, { optimizer: optB, rng: rngB, epoch: 2 });
        const { model: resumed, rng, checkpoint } = parseCheckpoint(text, 'c.json');
        // The buffers travel: 2 epochs of 4 batches.
        const counters = resumed.namedBuffers().filter(([k]) => k.endsWith('num_batches_tracked'));
        assert.ok(counters.length > 0);
        for (const [k, t] of counters) assert.equal(t.item(), 8, k);
        assert.deepEqual(bits(resumed), bits(first));
        const optC = new optim.Adam(resumed.parameters(), { lr: 0.01 });
        optC.loadStateDict(checkpoint.optimizer);
        await fit(resumed, d, options(rng, optC, 2, 2));

        assert.deepEqual(bits(resumed), bits(straight));
        for (const [k, t] of resumed.namedBuffers().filter(([k]) => k.endsWith('num_batches_tracked')))
          assert.equal(t.item(), 16, k);
        // A model file keeps evaluation-mode outputs (running statistics included) bit for bit.
        const { model: loaded } = modelFromJSON(modelToJSON(straight.eval()), 'm.json');
        assert.deepEqual(predict(loaded, d.x).data, predict(straight, d.x).data);
      });
});
