// ONNX export of the convolution, pooling, reshaping and normalization layers, checked by the real runtime:
// onnxruntime-node runs every exported graph and its outputs match chainrule's evaluation-mode outputs.
// Every layer type has cases (typed over the layer types), with the options that change the graph: strides,
// paddings (asymmetric 'same' too), dilations, groups, ceil mode, count_include_pad, running statistics or
// none. float64 runs wherever onnxruntime 1.30 has a double kernel (MaxPool, BatchNormalization,
// LayerNormalization, Flatten, Reshape); it has none for Conv, AveragePool and GlobalAveragePool, which are
// checked in float32 (and the refusal is pinned, so an upgrade that adds them shows up here).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { onnxSignature, OnnxExportError, toOnnx } from '../src/io/onnx.js';
import { nn, noGrad, random, tensor, type DType, type Tensor } from '../src/index.js';
import { assertClose } from './helpers/close.js';
import { fixture, flat } from './helpers/fixtures.js';
import type { ImageLayerType } from './helpers/layers.js';

/**
 * The tolerances of the ONNX suite, 1e-5 relative in float32 (1e-9 in float64), with an absolute floor
 * scaled to the output: a convolution's sum cancels, so an output near zero carries the rounding of terms
 * as large as the output's largest values (float32: ~1e-7 of them here; the floor is 10× that).
 */
const TOL = { float32: { rel: 1e-5, floor: 1e-6 }, float64: { rel: 1e-9, floor: 1e-12 } } as const;

/** The ops onnxruntime 1.30's CPU provider has no double kernel for. */
const NO_DOUBLE_KERNEL = ['Conv', 'AveragePool', 'GlobalAveragePool'];

interface Case {
  /** What the case varies. */
  name: string;
  /** The layer under test, in `dtype` where it has tensors. */
  make: (dtype: DType) => nn.Module;
  /** The input's shape, batch first. */
  input: number[];
  /** The ONNX op the layer becomes (for the float64 check). */
  op: string;
  /** Whether the input shape can be left to inference (the graph then has symbolic sizes). */
  symbolic?: boolean;
}

/** Every image layer type with the cases that change its graph. */
const CASES: { [T in ImageLayerType]: Case[] } = {
  conv2d: [
    {
      name: 'stride 2, padding 1',
      make: (dtype) => new nn.Conv2d(2, 4, 3, { stride: 2, padding: 1, dtype }),
      input: [3, 2, 7, 6],
      op: 'Conv',
      symbolic: true,
    },
    {
      name: "asymmetric 'same' (even kernel, dilated)",
      make: (dtype) => new nn.Conv2d(2, 4, [2, 4], { padding: 'same', dilation: [1, 2], dtype }),
      input: [3, 2, 7, 6],
      op: 'Conv',
      symbolic: true,
    },
    {
      name: 'groups 2, dilation 2, no bias',
      make: (dtype) => new nn.Conv2d(4, 6, 3, { groups: 2, dilation: 2, padding: 2, bias: false, dtype }),
      input: [2, 4, 7, 6],
      op: 'Conv',
      symbolic: true,
    },
    {
      name: 'rectangular kernel, stride and padding',
      make: (dtype) => new nn.Conv2d(3, 2, [2, 4], { stride: [1, 2], padding: [1, 0], dtype }),
      input: [2, 3, 5, 9],
      op: 'Conv',
    },
    {
      name: "'valid'",
      make: (dtype) => new nn.Conv2d(1, 3, 3, { padding: 'valid', dtype }),
      input: [2, 1, 5, 5],
      op: 'Conv',
    },
  ],
  conv1d: [
    {
      name: "asymmetric 'same'",
      make: (dtype) => new nn.Conv1d(3, 5, 4, { padding: 'same', dtype }),
      input: [2, 3, 9],
      op: 'Conv',
      symbolic: true,
    },
    {
      name: 'stride, padding, dilation, groups 3',
      make: (dtype) => new nn.Conv1d(3, 6, 3, { stride: 2, padding: 1, dilation: 2, groups: 3, dtype }),
      input: [2, 3, 11],
      op: 'Conv',
    },
  ],
  maxPool2d: [
    {
      name: 'kernel 3, stride 2, padding 1',
      make: () => new nn.MaxPool2d(3, { stride: 2, padding: 1 }),
      input: [2, 3, 7, 6],
      op: 'MaxPool',
      symbolic: true,
    },
    {
      name: 'ceil mode',
      make: () => new nn.MaxPool2d(3, { stride: 2, ceilMode: true }),
      input: [2, 3, 8, 6],
      op: 'MaxPool',
      symbolic: true,
    },
    {
      // PyTorch drops a last window that would start in the right padding: 5 + 2·1 → 3, not 4.
      name: 'ceil mode, last window dropped',
      make: () => new nn.MaxPool2d(2, { stride: 2, padding: 1, ceilMode: true }),
      input: [2, 3, 5, 5],
      op: 'MaxPool',
      symbolic: true,
    },
    {
      name: 'dilation 2, rectangular',
      make: () => new nn.MaxPool2d([2, 3], { stride: 1, dilation: 2 }),
      input: [2, 2, 6, 7],
      op: 'MaxPool',
    },
  ],
  maxPool1d: [
    {
      name: 'stride, padding, dilation',
      make: () => new nn.MaxPool1d(3, { stride: 2, padding: 1, dilation: 2 }),
      input: [2, 3, 11],
      op: 'MaxPool',
    },
    {
      name: 'ceil mode',
      make: () => new nn.MaxPool1d(2, { ceilMode: true }),
      input: [2, 3, 9],
      op: 'MaxPool',
    },
  ],
  avgPool2d: [
    {
      name: 'padding counted (PyTorch’s default)',
      make: () => new nn.AvgPool2d(3, { stride: 2, padding: 1 }),
      input: [2, 3, 7, 6],
      op: 'AveragePool',
      symbolic: true,
    },
    {
      name: 'padding not counted',
      make: () => new nn.AvgPool2d(3, { stride: 2, padding: 1, countIncludePad: false }),
      input: [2, 3, 7, 6],
      op: 'AveragePool',
      symbolic: true,
    },
    {
      // The last window runs past the padding: its divisor is clipped to the padded input, as PyTorch.
      name: 'ceil mode with padding counted',
      make: () => new nn.AvgPool2d(3, { stride: 2, padding: 1, ceilMode: true }),
      input: [2, 3, 8, 6],
      op: 'AveragePool',
      symbolic: true,
    },
    {
      name: 'ceil mode, padding not counted',
      make: () => new nn.AvgPool2d(3, { stride: 2, padding: 1, ceilMode: true, countIncludePad: false }),
      input: [2, 3, 8, 6],
      op: 'AveragePool',
      symbolic: true,
    },
    {
      name: 'ceil mode, last window dropped',
      make: () => new nn.AvgPool2d(2, { stride: 2, padding: 1, ceilMode: true }),
      input: [2, 3, 5, 5],
      op: 'AveragePool',
      symbolic: true,
    },
  ],
  adaptiveAvgPool2d: [
    {
      name: 'global average',
      make: () => new nn.AdaptiveAvgPool2d(1),
      input: [2, 3, 5, 4],
      op: 'GlobalAveragePool',
      symbolic: true,
    },
  ],
  flatten: [
    {
      name: 'one row per sample (ONNX Flatten)',
      make: () => new nn.Flatten(),
      input: [2, 3, 5, 4],
      op: 'Flatten',
      symbolic: true,
    },
    {
      name: 'axes 2…3 (Reshape)',
      make: () => new nn.Flatten(2, 3),
      input: [2, 3, 5, 4],
      op: 'Reshape',
      symbolic: true,
    },
  ],
  unflatten: [
    {
      name: 'rows to [3, 4]',
      make: () => new nn.Unflatten(1, [3, 4]),
      input: [2, 12],
      op: 'Reshape',
      symbolic: true,
    },
    {
      name: 'the last axis of [C, L]',
      make: () => new nn.Unflatten(-1, [2, 3]),
      input: [2, 3, 6],
      op: 'Reshape',
    },
  ],
  batchNorm1d: [
    {
      name: '[N, C], running statistics',
      make: (dtype) => new nn.BatchNorm1d(3, { dtype }),
      input: [4, 3],
      op: 'BatchNormalization',
      symbolic: true,
    },
    {
      name: '[N, C, L], running statistics',
      make: (dtype) => new nn.BatchNorm1d(3, { dtype }),
      input: [4, 3, 5],
      op: 'BatchNormalization',
    },
    {
      name: 'no affine, eps 1e-3',
      make: (dtype) => new nn.BatchNorm1d(3, { affine: false, eps: 1e-3, dtype }),
      input: [4, 3],
      op: 'BatchNormalization',
      symbolic: true,
    },
    {
      // Without running statistics evaluation normalizes by the batch's own: ReduceMean and friends.
      name: 'no running statistics',
      make: (dtype) => new nn.BatchNorm1d(3, { trackRunningStats: false, dtype }),
      input: [6, 3, 5],
      op: 'ReduceMean',
    },
  ],
  batchNorm2d: [
    {
      name: 'running statistics',
      make: (dtype) => new nn.BatchNorm2d(3, { dtype }),
      input: [4, 3, 5, 2],
      op: 'BatchNormalization',
      symbolic: true,
    },
    {
      name: 'no running statistics, no affine',
      make: (dtype) => new nn.BatchNorm2d(3, { trackRunningStats: false, affine: false, dtype }),
      input: [4, 3, 5, 2],
      op: 'ReduceMean',
      symbolic: true,
    },
    {
      name: 'no running statistics',
      make: (dtype) => new nn.BatchNorm2d(3, { trackRunningStats: false, dtype }),
      input: [4, 3, 5, 2],
      op: 'ReduceMean',
      symbolic: true,
    },
  ],
  layerNorm: [
    {
      name: 'last two axes',
      make: (dtype) => new nn.LayerNorm([5, 2], { dtype }),
      input: [4, 3, 5, 2],
      op: 'LayerNormalization',
      symbolic: true,
    },
    {
      name: 'no affine, eps 1e-3',
      make: (dtype) => new nn.LayerNorm(6, { elementwiseAffine: false, eps: 1e-3, dtype }),
      input: [4, 6],
      op: 'LayerNormalization',
      symbolic: true,
    },
  ],
};

/** Uniform in [−2, 2) of `shape`. */
function input(shape: readonly number[], dtype: DType, seed = 7): Tensor {
  const data =
    dtype === 'float64'
      ? new Float64Array(shape.reduce((a, b) => a * b, 1))
      : new Float32Array(shape.reduce((a, b) => a * b, 1));
  new random.RandomState(seed).fillUniform(data, -2, 2);
  return tensor(data, { shape: [...shape] });
}

/**
 * The case's layer behind a BatchNorm over the input's channels (so a layer without tensors still has the
 * model's dtype, and every case checks a pair), with every tensor drawn at random: weights, biases, running
 * means, and running variances in [0.5, 1.5).
 */
function model(c: Case, dtype: DType): nn.Sequential {
  const channels = c.input[1];
  const norm =
    c.input.length === 4 ? new nn.BatchNorm2d(channels, { dtype }) : new nn.BatchNorm1d(channels, { dtype });
  const m = new nn.Sequential(norm, c.make(dtype));
  const rng = new random.RandomState(3);
  for (const [name, t] of m.namedTensors()) {
    if (name.endsWith('num_batches_tracked')) continue;
    if (name.endsWith('running_var')) rng.fillUniform(t.data, 0.5, 1.5);
    else rng.fillUniform(t.data, -1, 1);
  }
  return m.eval();
}

function maxAbs(data: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < data.length; i++) m = Math.max(m, Math.abs(data[i]));
  return m;
}

/** Run the exported graph on `x` and compare with chainrule's evaluation-mode output. */
async function check(
  m: nn.Module,
  x: Tensor,
  options: { inputShape?: number[] },
  what: string,
): Promise<void> {
  const dtype = x.dtype;
  const want = noGrad(() => m.eval().forward(x));
  const s = await ort.InferenceSession.create(toOnnx(m, options));
  const r = await s.run({ input: new ort.Tensor(dtype, x.data, [...x.shape]) });
  assert.equal(r.output.type, dtype);
  assert.deepEqual(r.output.dims, want.shape, `${what}: output shape`);
  const tol = TOL[dtype];
  assertClose(r.output.data as Float32Array, want.data, {
    rel: tol.rel,
    abs: tol.floor * maxAbs(want.data),
    what,
  });
}

describe('toOnnx: every image layer, run by onnxruntime', () => {
  for (const [type, cases] of Object.entries(CASES))
    for (const c of cases)
      for (const dtype of ['float32', 'float64'] as DType[]) {
        const label = `${type}, ${c.name}, ${dtype}`;
        if (dtype === 'float64' && NO_DOUBLE_KERNEL.includes(c.op)) {
          test(`${label}: onnxruntime has no double ${c.op} kernel (checked in float32)`, async () => {
            await assert.rejects(
              ort.InferenceSession.create(toOnnx(model(c, dtype), { inputShape: c.input.slice(1) })),
              new RegExp(`Could not find an implementation for ${c.op}\\(`),
            );
          });
          continue;
        }
        test(`${label}: onnxruntime gives chainrule's outputs`, async () => {
          const m = model(c, dtype);
          const x = input(c.input, dtype);
          await check(m, x, { inputShape: c.input.slice(1) }, `${label}, sizes given`);
          // Symbolic sizes: the ONNX graph must compute the same sizes as PyTorch's rules from the input.
          if (c.symbolic) await check(m, x, {}, `${label}, sizes symbolic`);
          const ops = new TextDecoder().decode(toOnnx(m, { inputShape: c.input.slice(1) }));
          assert.ok(ops.includes(c.op), `${label}: the graph has ${c.op}`);
        });
      }
});

describe('toOnnx: a small CNN', () => {
  interface TrajectoryCase {
    name: string;
    x: number[][][][];
    finalState: Record<string, number | number[] | number[][] | number[][][][]>;
  }
  const c = fixture<{ cases: TrajectoryCase[] }>('model-trajectories.json').cases[0];

  /** The fixture's CNN (conv, bn, relu, maxpool, conv, relu, flatten, linear) with its trained weights. */
  function trained(dtype: DType, unflatten = false): nn.Sequential {
    const layers = [
      new nn.Conv2d(1, 4, 3, { padding: 1, dtype }),
      new nn.BatchNorm2d(4, { dtype }),
      new nn.ReLU(),
      new nn.MaxPool2d(2),
      new nn.Conv2d(4, 6, 3, { dtype }),
      new nn.ReLU(),
      new nn.Flatten(),
      new nn.Linear(24, 3, { dtype }),
    ];
    const m = new nn.Sequential(...(unflatten ? [new nn.Unflatten(1, [1, 8, 8])] : []), ...layers);
    const at = unflatten ? 1 : 0;
    const own = new Map(m.namedTensors());
    const state: Record<string, Tensor> = {};
    for (const [key, v] of Object.entries(c.finalState)) {
      const [layer, name] = [Number(key.split('.')[0]) + at, key.split('.').slice(1).join('.')];
      const ours = `${layer}.${name}`;
      const shape = own.get(ours)!.shape;
      // PyTorch's Linear weight is [out, in]; ours is [in, out].
      const t =
        key === '7.weight'
          ? tensor(v as number[][], { dtype }).T
          : tensor(typeof v === 'number' ? [v] : flat(v), { dtype });
      state[ours] = tensor(t.data, { dtype, shape });
    }
    m.loadStateDict(state);
    return m.eval();
  }

  test('the trained CNN (running statistics from 3 training steps), float32, sizes symbolic and given', async () => {
    const m = trained('float32');
    const x = tensor(flat(c.x), { dtype: 'float32', shape: [5, 1, 8, 8] });
    await check(m, x, {}, 'CNN');
    await check(m, x, { inputShape: [1, 8, 8] }, 'CNN, [1, 8, 8]');
    const ops = new TextDecoder().decode(toOnnx(m));
    for (const op of ['Conv', 'BatchNormalization', 'Relu', 'MaxPool', 'Flatten', 'Gemm'])
      assert.ok(ops.includes(op), op);
    // And against the float64 model: float32 export is float32 arithmetic, within its precision.
    const want64 = noGrad(() =>
      trained('float64').forward(tensor(flat(c.x), { dtype: 'float64', shape: [5, 1, 8, 8] })),
    );
    const r = await (
      await ort.InferenceSession.create(toOnnx(m))
    ).run({ input: new ort.Tensor('float32', x.data, [5, 1, 8, 8]) });
    assertClose(r.output.data as Float32Array, want64.data, {
      rel: 1e-5,
      abs: 1e-6 * maxAbs(want64.data),
      what: 'CNN vs float64',
    });
  });

  test('the signature: symbolic image sizes, or the sizes given; flat rows through Unflatten', () => {
    const m = trained('float32');
    assert.deepEqual(
      onnxSignature(m).inputs.map((v) => v.shape),
      [['batch', 1, 'height', 'width']],
    );
    assert.deepEqual(
      onnxSignature(m).outputs.map((v) => v.shape),
      [['batch', 3]],
    );
    assert.deepEqual(onnxSignature(m, { inputShape: [1, 8, 8] }).inputs[0].shape, ['batch', 1, 8, 8]);
    // Without the final Flatten and Linear, the sizes follow from the input's.
    const body = new nn.Sequential(...m.layers.slice(0, 6));
    assert.deepEqual(onnxSignature(body).outputs[0].shape, ['batch', 6, '?', '?']);
    assert.deepEqual(onnxSignature(body, { inputShape: [1, 8, 8] }).outputs[0].shape, ['batch', 6, 2, 2]);
    assert.deepEqual(onnxSignature(trained('float32', true)).inputs[0].shape, ['batch', 64]);
  });

  test('a CNN on flat rows (Unflatten first), as the command line builds one', async () => {
    const m = trained('float32', true);
    const x = tensor(flat(c.x), { dtype: 'float32', shape: [5, 64] });
    await check(m, x, {}, 'CNN on rows');
  });

  test('a BatchNorm in training mode exports its running statistics (an inference graph)', async () => {
    const m = trained('float32');
    m.train();
    const x = tensor(flat(c.x), { dtype: 'float32', shape: [5, 1, 8, 8] });
    const bytes = toOnnx(m);
    assert.equal(m.training, true, 'export leaves the mode alone');
    const r = await (
      await ort.InferenceSession.create(bytes)
    ).run({ input: new ort.Tensor('float32', x.data, [5, 1, 8, 8]) });
    const want = noGrad(() => m.eval().forward(x));
    assertClose(r.output.data as Float32Array, want.data, {
      rel: 1e-5,
      abs: 1e-6 * maxAbs(want.data),
      what: 'eval outputs',
    });
  });
});

describe('toOnnx refuses image layers that do not fit, naming the layer', () => {
  test('a rank the layer does not take, channels or sizes that do not chain', () => {
    const refuses = (m: nn.Module, re: RegExp, options = {}) =>
      assert.throws(
        () => toOnnx(m, options),
        (e: Error) => e instanceof OnnxExportError && re.test(e.message),
        String(re),
      );
    refuses(
      new nn.Sequential(new nn.Linear(4, 3), new nn.Conv2d(3, 2, 1)),
      /layer 1 \(Conv2d\) takes \[batch, C, H, W\], but receives \[batch, 3\]/,
    );
    refuses(
      new nn.Sequential(new nn.Conv2d(1, 3, 3), new nn.Conv2d(2, 2, 1)),
      /layer 1 \(Conv2d\) takes 2 channels but receives \[batch, 3, \?, \?\]/,
    );
    refuses(
      new nn.Sequential(new nn.Conv2d(1, 3, 3), new nn.BatchNorm2d(4)),
      /layer 1 \(BatchNorm2d\) normalizes 4 channels/,
    );
    refuses(
      new nn.Sequential(new nn.Conv2d(1, 3, 5)),
      /layer 0 \(Conv2d\) its window of 5 .* does not fit an input of 4/,
      { inputShape: [1, 4, 4] },
    );
    refuses(
      new nn.Sequential(new nn.Conv2d(1, 2, 3), new nn.Flatten(), new nn.Linear(10, 2)),
      /layer 2 \(Linear\) takes 10 features but receives 8/,
      { inputShape: [1, 4, 4] },
    );
    refuses(
      new nn.Sequential(new nn.Conv2d(1, 2, 3), new nn.Flatten(1, 2)),
      /layer 1 \(Flatten\) needs the sizes of \[batch, 2, \?, \?\].*inputShape/,
    );
    refuses(
      new nn.Sequential(new nn.Linear(4, 6), new nn.LayerNorm(4)),
      /layer 1 \(LayerNorm\) normalizes the last axes \[4\], but receives \[batch, 6\]/,
    );
    refuses(
      new nn.Sequential(new nn.Linear(4, 6), new nn.Unflatten(1, [4, 2])),
      /layer 1 \(Unflatten\) splits axis 1 into 4·2 = 8, but receives \[batch, 6\]/,
    );
    refuses(new nn.Linear(4, 2), /inputShape must be/, { inputShape: [0] });
  });
});
