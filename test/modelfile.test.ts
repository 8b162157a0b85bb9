// Model specs, base64 of float arrays, model files and checkpoints: exact round trips (outputs and resumed
// training bit for bit) and a message naming the source and the field for every kind of bad file.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { castModel, fit, nn, optim, random, Tensor, tensor, type DType } from '../src/index.js';
import {
  base64ToBytes,
  bytesToBase64,
  bytesToFloats,
  decodeFloats,
  encodeFloats,
  floatsToBytes,
} from '../src/io/base64.js';
import {
  checkpointToJSON,
  loadModel,
  MODEL_FORMAT,
  ModelFileError,
  modelFromJSON,
  modelToJSON,
  parseCheckpoint,
  parseModelFile,
  serializeCheckpoint,
  serializeModel,
  stringifyModelFile,
  VERSION,
  type ModelFile,
} from '../src/io/modelfile.js';
import {
  ACTIVATION_NAMES,
  fromSpec,
  mlpSpec,
  toSpec,
  validateSpec,
  type LayerSpec,
  type LayerType,
  type ModelSpec,
} from '../src/nn/spec.js';

/**
 * One spec of each layer type, typed over every type: a new layer type does not compile until it has a
 * case here (and so a round trip through files and modules below).
 */
const ONE_OF_EACH: { [T in LayerType]: Extract<LayerSpec, { type: T }> } = {
  linear: { type: 'linear', in: 5, out: 5, bias: false },
  sigmoid: { type: 'sigmoid' },
  tanh: { type: 'tanh' },
  relu: { type: 'relu' },
  leakyRelu: { type: 'leakyRelu', slope: 0.2 },
  gelu: { type: 'gelu' },
  softplus: { type: 'softplus' },
  elu: { type: 'elu', alpha: 0.7 },
  silu: { type: 'silu' },
  identity: { type: 'identity' },
  softmax: { type: 'softmax', axis: -1 },
  dropout: { type: 'dropout', p: 0.25 },
  unflatten: { type: 'unflatten', shape: [2, 3, 4] },
  // 'same' with an even kernel: the extra column of padding goes after.
  conv2d: {
    type: 'conv2d',
    in: 2,
    out: 4,
    kernel: [3, 2],
    stride: 1,
    padding: 'same',
    dilation: 1,
    groups: 2,
    bias: true,
  },
  batchNorm2d: {
    type: 'batchNorm2d',
    features: 4,
    eps: 1e-5,
    momentum: 0.1,
    affine: true,
    trackRunningStats: true,
  },
  maxPool2d: { type: 'maxPool2d', kernel: 2, stride: 1, padding: [1, 0], dilation: 1, ceilMode: true },
  avgPool2d: {
    type: 'avgPool2d',
    kernel: 2,
    stride: [2, 1],
    padding: 1,
    ceilMode: false,
    countIncludePad: false,
  },
  adaptiveAvgPool2d: { type: 'adaptiveAvgPool2d', size: 1 },
  flatten: { type: 'flatten' },
  conv1d: {
    type: 'conv1d',
    in: 4,
    out: 5,
    kernel: 2,
    stride: 1,
    padding: 1,
    dilation: 2,
    groups: 1,
    bias: false,
  },
  maxPool1d: { type: 'maxPool1d', kernel: 3, stride: 2, padding: 1, dilation: 1, ceilMode: false },
  batchNorm1d: {
    type: 'batchNorm1d',
    features: 5,
    eps: 1e-3,
    momentum: null,
    affine: false,
    trackRunningStats: true,
  },
  layerNorm: { type: 'layerNorm', shape: [5], eps: 1e-6, elementwiseAffine: true },
  embedding: { type: 'embedding', num: 7, dim: 3 },
  lstm: { type: 'lstm', in: 2, hidden: 3, layers: 2, bias: true, bidirectional: false, dropout: 0.25 },
  gru: { type: 'gru', in: 3, hidden: 2, layers: 1, bias: false, bidirectional: true, dropout: 0 },
  rnn: {
    type: 'rnn',
    in: 4,
    hidden: 3,
    layers: 1,
    bias: true,
    bidirectional: false,
    dropout: 0,
    nonlinearity: 'relu',
  },
  lastStep: { type: 'lastStep' },
  gpt: { type: 'gpt', vocab: 7, context: 5, width: 8, heads: 2, blocks: 2, dropout: 0.1 },
};

/** The layer types over images and sequences, which the spec below strings together by their shapes. */
const WINDOW_TYPES: readonly LayerType[] = [
  'unflatten',
  'conv2d',
  'batchNorm2d',
  'maxPool2d',
  'avgPool2d',
  'adaptiveAvgPool2d',
  'flatten',
  'conv1d',
  'maxPool1d',
  'batchNorm1d',
  'embedding',
  'lstm',
  'gru',
  'rnn',
  'lastStep',
  'gpt',
];

/**
 * A spec with every layer type: flat rows of 3 become [2, 3, 4] images through the image layers, then a
 * sequence [4, 3] through the 1-D ones, a sequence [3, 2] through the recurrent layers (the embedding, which
 * takes ids, has its own test); then each activation (and dropout, identity, layer norm) after a
 * linear layer of its own, so each shapes the output; softmax last.
 */
const EVERY_LAYER: ModelSpec = {
  type: 'sequential',
  layers: [
    { type: 'linear', in: 3, out: 24, bias: true },
    ONE_OF_EACH.unflatten, // [2, 3, 4]
    ONE_OF_EACH.conv2d, // [4, 3, 4]
    ONE_OF_EACH.batchNorm2d,
    ONE_OF_EACH.maxPool2d, // [4, 4, 3]
    ONE_OF_EACH.avgPool2d, // [4, 3, 4]
    ONE_OF_EACH.adaptiveAvgPool2d, // [4, 1, 1]
    ONE_OF_EACH.flatten, // [4]
    { type: 'linear', in: 4, out: 12, bias: true },
    { type: 'unflatten', shape: [4, 3] },
    ONE_OF_EACH.conv1d, // [5, 3]
    ONE_OF_EACH.maxPool1d, // [5, 2]
    ONE_OF_EACH.batchNorm1d,
    ONE_OF_EACH.flatten, // [10]
    { type: 'linear', in: 10, out: 6, bias: true },
    { type: 'unflatten', shape: [3, 2] },
    ONE_OF_EACH.lstm, // [3, 3]
    ONE_OF_EACH.gru, // [3, 4]
    ONE_OF_EACH.rnn, // [3, 3]
    ONE_OF_EACH.lastStep, // [3]
    { type: 'linear', in: 3, out: 5, bias: true },
    ...Object.values(ONE_OF_EACH)
      .filter((l) => l.type !== 'softmax' && !WINDOW_TYPES.includes(l.type))
      .flatMap((l): LayerSpec[] =>
        l.type === 'linear' ? [l] : [l, { type: 'linear', in: 5, out: 5, bias: true }],
      ),
    { type: 'linear', in: 5, out: 4, bias: true },
    ONE_OF_EACH.softmax,
  ],
};

const CREATED = new Date('2024-01-02T03:04:05.000Z');

/** Bits of a float array, so −0 and every last ulp count. */
const bits = (a: Float32Array | Float64Array) =>
  Array.from(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));

function tinyModel(dtype: DType = 'float32', seed = 3) {
  return fromSpec(mlpSpec([2, 3, 2], 'tanh'), { dtype, rng: new random.RandomState(seed) });
}

/** A model file of `tinyModel`, as a plain object to break in tests. */
function tinyDoc(): Record<string, unknown> {
  return JSON.parse(modelToJSON(tinyModel(), { created: CREATED })) as Record<string, unknown>;
}

/** The error message `modelFromJSON` throws for a document. */
function loadError(doc: unknown, source = 'm.json'): string {
  const text = typeof doc === 'string' ? doc : JSON.stringify(doc);
  try {
    modelFromJSON(text, source);
  } catch (e) {
    assert.ok(e instanceof ModelFileError, `expected a ModelFileError, got ${String(e)}`);
    assert.equal(e.source, source);
    assert.ok(e.message.startsWith(`${source}: `), e.message);
    return e.message;
  }
  assert.fail('the document loaded without an error');
}

describe('model specs', () => {
  test('mlpSpec lays out linear layers, activations, dropout and the output activation', () => {
    assert.deepEqual(mlpSpec([2, 4, 3, 1], 'leakyRelu', { outputActivation: 'sigmoid', dropout: 0.1 }), {
      type: 'sequential',
      layers: [
        { type: 'linear', in: 2, out: 4, bias: true },
        { type: 'leakyRelu', slope: 0.01 },
        { type: 'dropout', p: 0.1 },
        { type: 'linear', in: 4, out: 3, bias: true },
        { type: 'leakyRelu', slope: 0.01 },
        { type: 'dropout', p: 0.1 },
        { type: 'linear', in: 3, out: 1, bias: true },
        { type: 'sigmoid' },
      ],
    });
    assert.deepEqual(mlpSpec([5, 2], { type: 'elu', alpha: 2 }, { bias: false }).layers, [
      { type: 'linear', in: 5, out: 2, bias: false },
    ]);
    assert.deepEqual(mlpSpec([1, 2, 1], { type: 'elu', alpha: 2 }).layers[1], { type: 'elu', alpha: 2 });
  });

  test('mlpSpec rejects bad sizes and activations', () => {
    assert.throws(() => mlpSpec([3], 'relu'), /sizes needs at least an input and an output size, got \[3\]/);
    assert.throws(() => mlpSpec([3, 0, 1], 'relu'), /sizes\[1\]: expected a positive integer, got 0/);
    assert.throws(
      () => mlpSpec([3, 1], 'swish' as 'relu'),
      /activation: expected one of sigmoid, .*got "swish"/,
    );
    assert.throws(
      () => mlpSpec([3, 1], { type: 'leakyRelu', slope: 'x' as unknown as number }),
      /mlpSpec: activation\.slope: expected a finite number, got "x"/,
    );
    assert.throws(
      () => mlpSpec([3, 1], 'relu', { dropout: 2 }),
      /dropout: expected a number in \[0, 1\], got 2/,
    );
  });

  test('toSpec(fromSpec(spec)) gives the spec back, for every layer type', () => {
    assert.deepEqual(toSpec(fromSpec(EVERY_LAYER)), EVERY_LAYER);
    assert.deepEqual(toSpec(fromSpec(EVERY_LAYER, { dtype: 'float64' })), EVERY_LAYER);
    assert.deepEqual([...ACTIVATION_NAMES].sort(), [
      'elu',
      'gelu',
      'identity',
      'leakyRelu',
      'relu',
      'sigmoid',
      'silu',
      'softmax',
      'softplus',
      'tanh',
    ]);
  });

  test('castModel: every tensor (buffers too) in the new dtype, values rounded once, the source untouched', () => {
    const source = fromSpec(EVERY_LAYER, { dtype: 'float64', rng: new random.RandomState(5) });
    // Values no float32 holds exactly, in every tensor, buffers included.
    const fill = new random.RandomState(6);
    for (const [, t] of source.namedTensors()) fill.fillNormal(t.data, 0, 1);
    const before = source.namedTensors().map(([k, t]) => [k, bits(t.data)] as const);
    random.seed(11);
    const expectedDraw = random.rand(3).data;
    random.seed(11);
    const cast = castModel(source, 'float32');
    // Casting draws nothing from the library's default stream.
    assert.deepEqual(random.rand(3).data, expectedDraw);
    assert.deepEqual(toSpec(cast), EVERY_LAYER);
    assert.equal(cast.training, source.training);
    const src = new Map(source.namedTensors());
    const out = cast.namedTensors();
    assert.deepEqual(
      out.map(([k]) => k),
      [...src.keys()],
    );
    for (const [k, t] of out) {
      assert.equal(t.dtype, 'float32', k);
      assert.deepEqual(t.data, Float32Array.from(src.get(k)!.data), k);
    }
    assert.deepEqual(
      source.namedTensors().map(([k, t]) => [k, bits(t.data)] as const),
      before,
    );
    // Evaluation mode carries over, and a model already in the dtype is returned as it is.
    assert.equal(castModel(source.eval(), 'float32').training, false);
    assert.equal(castModel(cast, 'float32'), cast);
  });

  test('fromSpec draws the weights a hand-built model draws from the same seed', () => {
    const a = fromSpec(mlpSpec([2, 4, 1], 'tanh', { outputActivation: 'sigmoid' }), {
      rng: new random.RandomState(7),
      dtype: 'float64',
    });
    const rng = new random.RandomState(7);
    const b = new nn.Sequential(
      new nn.Linear(2, 4, { rng, dtype: 'float64' }),
      new nn.Tanh(),
      new nn.Linear(4, 1, { rng, dtype: 'float64' }),
      new nn.Sigmoid(),
    );
    assert.deepEqual(
      a.parameters().map((p) => bits(p.data)),
      b.parameters().map((p) => bits(p.data)),
    );
    assert.equal(a.toString(), b.toString());
    const z = fromSpec(mlpSpec([2, 4, 1], 'tanh'), { init: 'zeros' });
    assert.ok(z.parameters().every((p) => p.data.every((v) => v === 0)));
  });

  test('validateSpec names the bad field and says what it expected', () => {
    const spec = (layers: unknown[]) => ({ type: 'sequential', layers });
    const cases: [unknown, string][] = [
      [null, 'spec: expected an object, got null'],
      [{ type: 'graph', layers: [] }, 'type: expected "sequential", got "graph"'],
      [{ type: 'sequential' }, 'layers: expected an array of layers, got nothing'],
      [{ type: 'sequential', layers: [], extra: 1 }, "spec: unexpected field 'extra'"],
      [
        spec([
          { type: 'linear', in: 2, out: 3, bias: true },
          { type: 'relu' },
          { type: 'linear', in: 3, out: 'x', bias: true },
        ]),
        'layers[2].out: expected a positive integer, got "x"',
      ],
      [
        spec([{ type: 'linear', in: 2.5, out: 3, bias: true }]),
        'layers[0].in: expected a positive integer, got 2.5',
      ],
      [spec([{ type: 'linear', in: 2, out: 3 }]), 'layers[0].bias: expected true or false, got nothing'],
      [
        spec([{ type: 'conv', size: 3 }]),
        'layers[0].type: expected one of linear, sigmoid, tanh, relu, leakyRelu, gelu, softplus, elu, silu, identity, softmax, dropout, conv2d, conv1d, maxPool2d, maxPool1d, avgPool2d, adaptiveAvgPool2d, flatten, unflatten, batchNorm1d, batchNorm2d, layerNorm, embedding, lstm, gru, rnn, lastStep, gpt, got "conv"',
      ],
      [spec(['relu']), 'layers[0]: expected an object with a "type", got "relu"'],
      [
        spec([{ type: 'relu', slope: 0.1 }]),
        "layers[0]: unexpected field 'slope' for a layer of type 'relu'",
      ],
      [spec([{ type: 'leakyRelu' }]), 'layers[0].slope: expected a finite number, got nothing'],
      [spec([{ type: 'elu', alpha: null }]), 'layers[0].alpha: expected a finite number, got null'],
      [spec([{ type: 'softmax', axis: 0.5 }]), 'layers[0].axis: expected an integer, got 0.5'],
      [spec([{ type: 'dropout', p: 1.5 }]), 'layers[0].p: expected a number in [0, 1], got 1.5'],
      [
        spec([
          { type: 'linear', in: 2, out: 3, bias: true },
          { type: 'tanh' },
          { type: 'linear', in: 4, out: 1, bias: true },
        ]),
        'layers[2].in: expected 3 (the output size of layers[0]), got 4',
      ],
    ];
    for (const [value, message] of cases) assert.throws(() => validateSpec(value), { message }, message);
    assert.throws(() => fromSpec({ type: 'sequential', layers: [{ type: 'dropout', p: -1 }] }), {
      message: 'layers[0].p: expected a number in [0, 1], got -1',
    });
    assert.throws(() => validateSpec({ type: 'sequential', layers: [{}] }, 'architecture'), {
      message:
        'architecture.layers[0].type: expected one of linear, sigmoid, tanh, relu, leakyRelu, gelu, softplus, elu, silu, identity, softmax, dropout, conv2d, conv1d, maxPool2d, maxPool1d, avgPool2d, adaptiveAvgPool2d, flatten, unflatten, batchNorm1d, batchNorm2d, layerNorm, embedding, lstm, gru, rnn, lastStep, gpt, got nothing',
    });
  });

  test('toSpec refuses what a spec cannot describe, naming the layer', () => {
    class Scale extends nn.Module {
      forward(x: Tensor): Tensor {
        return x.mul(2);
      }
    }
    class MyReLU extends nn.ReLU {}
    assert.throws(
      () => toSpec(new nn.Sequential(new nn.Linear(2, 2), new Scale())),
      /layer 1 \(Scale\) cannot be described/,
    );
    // A subclass may behave differently: saving it as its parent would load a different model.
    assert.throws(() => toSpec(new nn.Sequential(new MyReLU())), /layer 0 \(MyReLU\) cannot be described/);
    assert.throws(
      () => toSpec(new nn.Sequential(new nn.Sequential(new nn.ReLU()))),
      /layer 0 \(Sequential\)/,
    );
    assert.throws(
      () => toSpec(new nn.Sequential(new nn.Linear(2, 3), new nn.Linear(4, 1))),
      /toSpec: the model is inconsistent: layers\[1\]\.in: expected 3/,
    );
    assert.throws(
      () => toSpec(new nn.Linear(2, 2) as unknown as nn.Sequential),
      /expected a Sequential, got Linear/,
    );
  });
});

describe('base64 of float arrays', () => {
  test('bytes encode as standard base64 (checked against Node’s Buffer) and decode back', () => {
    const rng = new random.RandomState(5);
    for (let n = 0; n < 40; n++) {
      const bytes = new Uint8Array(n);
      for (let i = 0; i < n; i++) bytes[i] = Math.floor(rng.random() * 256);
      const b64 = bytesToBase64(bytes);
      assert.equal(b64, Buffer.from(bytes).toString('base64'));
      assert.deepEqual(base64ToBytes(b64), bytes);
    }
  });

  test('floats are their little-endian bytes, every bit kept', () => {
    assert.equal(encodeFloats(new Float32Array([1])), 'AACAPw=='); // 0x3f800000, low byte first
    assert.equal(encodeFloats(new Float64Array([1])), 'AAAAAAAA8D8='); // 0x3ff0000000000000
    const special = [0, -0, 1e-45, -3.4028234663852886e38, 5e-324, Number.MAX_VALUE, Math.PI, -1 / 3];
    for (const dtype of ['float32', 'float64'] as const) {
      const a = dtype === 'float32' ? new Float32Array(special) : new Float64Array(special);
      const back = decodeFloats(encodeFloats(a), dtype);
      assert.equal(back.constructor, a.constructor);
      assert.deepEqual(bits(back), bits(a));
      // The DataView path big-endian hosts take gives the same bytes and values.
      assert.deepEqual(floatsToBytes(a, true), floatsToBytes(a, false));
      assert.deepEqual(bits(bytesToFloats(floatsToBytes(a), dtype, true)), bits(a));
    }
    // A view into a larger buffer encodes only its own elements.
    const big = new Float32Array([9, 1, 9]);
    assert.equal(encodeFloats(big.subarray(1, 2)), 'AACAPw==');
  });

  test('bad base64 is refused with the position or the length', () => {
    assert.throws(() => base64ToBytes('AAC'), /base64 length 3 is not a multiple of 4 \(truncated\?\)/);
    assert.throws(() => base64ToBytes('AA!A'), /invalid base64 character "!" at position 2/);
    assert.throws(() => base64ToBytes('AA A'), /invalid base64 character " " at position 2/);
    assert.throws(() => base64ToBytes('A=AA'), /invalid base64 character "=" at position 1/);
    assert.throws(() => base64ToBytes('A==='), /invalid base64 character "=" at position 1/);
    assert.throws(() => base64ToBytes('AAé='), /invalid base64 character "é" at position 2/);
    assert.throws(() => decodeFloats('AAAA', 'float32'), /3 bytes are not a whole number of float32 values/);
  });

  test('megabytes go through in linear time', () => {
    const a = new Float32Array(4_000_000);
    for (let i = 0; i < a.length; i++) a[i] = Math.sin(i);
    const t0 = performance.now();
    const text = encodeFloats(a);
    const back = decodeFloats(text, 'float32');
    const ms = performance.now() - t0;
    assert.equal(text.length, (Math.ceil((a.length * 4) / 3) * 4) | 0);
    assert.ok(
      Buffer.from(back.buffer).equals(Buffer.from(a.buffer)),
      'a 16 MB array comes back byte for byte',
    );
    // Typically ~100 ms; a quadratic string build would take minutes.
    assert.ok(ms < 10_000, `16 MB took ${ms.toFixed(0)} ms`);
  });
});

describe('model files', () => {
  for (const dtype of ['float32', 'float64'] as const)
    test(`save → load → forward is bit-identical, every layer type, ${dtype}`, () => {
      const model = fromSpec(EVERY_LAYER, { dtype, rng: new random.RandomState(11) });
      const x = new random.RandomState(12).randn(7, 3).to(dtype);
      // A batch in training mode moves the batch norms' running statistics off their zeros and ones.
      model.train().forward(x);
      model.eval();
      assert.ok(model.buffers().some((b) => b.data.some((v) => v !== 0 && v !== 1)));
      const preprocessing = {
        features: ['a', 'b', 'c'],
        mean: [0.1, -2, 1e-300],
        classes: ['x', 'y', 'z', 'w'],
      };
      const training = { seed: 11, epochs: 3, metrics: { loss: 0.1234567890123456 }, date: '2024-01-02' };
      const text = modelToJSON(model, { task: 'classification', preprocessing, training, created: CREATED });
      const { model: loaded, file } = modelFromJSON(text, 'm.json');
      assert.equal(loaded.training, false, 'a loaded model is in evaluation mode');
      assert.deepEqual(bits(loaded.forward(x).data), bits(model.forward(x).data));
      assert.deepEqual(
        loaded.namedTensors().map(([k, t]) => [k, t.dtype, bits(t.data)]),
        model.namedTensors().map(([k, t]) => [k, t.dtype, bits(t.data)]),
      );
      assert.equal(file.format, MODEL_FORMAT);
      assert.equal(file.version, 1);
      assert.equal(file.chainrule, VERSION);
      assert.equal(file.created, '2024-01-02T03:04:05.000Z');
      assert.equal(file.dtype, dtype);
      assert.equal(file.task, 'classification');
      assert.deepEqual(file.architecture, EVERY_LAYER);
      assert.deepEqual(file.preprocessing, preprocessing);
      assert.deepEqual(file.training, training);
      // The text is a pure function of model and metadata, and reads back to the same document.
      assert.equal(
        modelToJSON(model, { task: 'classification', preprocessing, training, created: CREATED }),
        text,
      );
      const { sha256: digest, ...parsed } = parseModelFile(text);
      assert.deepEqual(
        parsed,
        serializeModel(model, { task: 'classification', preprocessing, training, created: CREATED }),
      );
      // The integrity digest: the SHA-256 of each other field's JSON text.
      assert.deepEqual(Object.keys(digest ?? {}), Object.keys(parsed));
      assert.equal(stringifyModelFile(file), text);
    });

  test('a model file is readable JSON: fields on top, short arrays on one line', () => {
    const text = modelToJSON(tinyModel(), { created: CREATED });
    assert.ok(
      text.startsWith('{\n  "format": "chainrule-model",\n  "version": 1,\n  "chainrule": "0.1.0",\n'),
      text,
    );
    assert.match(text, /\n {6}"shape": \[2, 3\]|\n {6}"shape": \[2,3\]/);
    assert.deepEqual(Object.keys(JSON.parse(text) as object), [
      'format',
      'version',
      'chainrule',
      'created',
      'dtype',
      'task',
      'architecture',
      'preprocessing',
      'training',
      'weights',
      'sha256',
    ]);
    assert.equal(JSON.parse(text).task, null);
  });

  test('VERSION is the package version', () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    assert.equal(VERSION, pkg.version);
  });

  test('loading touches no random stream (and dropout can be given one)', () => {
    const text = modelToJSON(fromSpec(EVERY_LAYER), { created: CREATED });
    random.seed(123);
    const before = random.getState();
    modelFromJSON(text);
    assert.deepEqual(random.getState(), before);
    const rng = new random.RandomState(1);
    const { model } = modelFromJSON(text, 'm.json', { rng });
    model.train().forward(tensor([[1, 2, 3]]));
    assert.notDeepEqual(
      rng.getState(),
      new random.RandomState(1).getState(),
      'dropout drew from the given stream',
    );
  });

  test('serializeModel refuses what could not be loaded back', () => {
    const nan = tinyModel();
    nan.parameters()[1].data[2] = NaN;
    assert.throws(() => serializeModel(nan), {
      message: "serializeModel: '0.bias' has a non-finite value (NaN) at index 2",
    });
    const mixed = new nn.Sequential(new nn.Linear(2, 2), new nn.Linear(2, 2, { dtype: 'float64' }));
    assert.throws(
      () => serializeModel(mixed),
      /all tensors must share one dtype, but '0.weight' is float32 and '1.weight' is float64/,
    );
    assert.throws(() => serializeModel(new nn.Sequential(new nn.ReLU())), /the model has no tensors/);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    assert.throws(
      () => serializeModel(tinyModel(), { training: cyclic }),
      /training cannot be written as JSON/,
    );
  });

  describe('bad files are refused with a message naming the file and the problem', () => {
    test('not JSON, with the position', () => {
      assert.match(
        loadError('{\n  "format": "chainrule-model",\n  oops\n}'),
        /^m\.json: not valid JSON \(line 3, column 3\): /,
      );
      assert.equal(loadError(''), 'm.json: the file is empty; expected a chainrule model (JSON)');
      assert.equal(loadError('  \n'), 'm.json: the file is empty; expected a chainrule model (JSON)');
      assert.match(loadError('{"format": "chainrule-model", '), /^m\.json: not valid JSON/);
      assert.equal(loadError('[1, 2]'), 'm.json: expected a chainrule model (a JSON object), got an array');
      assert.equal(loadError('42'), 'm.json: expected a chainrule model (a JSON object), got 42');
      // A byte-order mark is not an error.
      assert.ok(modelFromJSON('\ufeff' + JSON.stringify(tinyDoc())).model);
    });

    test('wrong format name or version', () => {
      assert.equal(loadError({ name: 'x' }), 'm.json: not a chainrule model file: it has no "format" field');
      assert.equal(
        loadError({ ...tinyDoc(), format: 'keras' }),
        'm.json: not a chainrule model file: "format" is "keras", expected "chainrule-model"',
      );
      assert.equal(
        loadError({ ...tinyDoc(), version: 2, chainrule: '0.5.0' }),
        'm.json: unsupported model file version 2 (written by chainrule 0.5.0); chainrule 0.1.0 reads version 1: upgrade chainrule to read it',
      );
      assert.equal(
        loadError({ ...tinyDoc(), version: '1' }),
        'm.json: unsupported model file version "1" (written by chainrule 0.1.0); chainrule 0.1.0 reads version 1',
      );
    });

    test('missing and mistyped fields', () => {
      for (const field of [
        'version',
        'chainrule',
        'created',
        'dtype',
        'task',
        'architecture',
        'preprocessing',
        'training',
        'weights',
      ]) {
        const doc = tinyDoc();
        delete doc[field];
        assert.equal(loadError(doc), `m.json: missing field "${field}"`);
      }
      assert.equal(
        loadError({ ...tinyDoc(), dtype: 'float16' }),
        'm.json: dtype: expected "float32" or "float64", got "float16"',
      );
      assert.equal(
        loadError({ ...tinyDoc(), task: 'ranking' }),
        'm.json: task: expected "classification", "regression" or null, got "ranking"',
      );
      assert.equal(loadError({ ...tinyDoc(), created: 5 }), 'm.json: created: expected a string, got 5');
      assert.equal(
        loadError({ ...tinyDoc(), weights: [] }),
        'm.json: weights: expected an object of tensors by name, got []',
      );
    });

    test('architecture errors, by path', () => {
      const doc = tinyDoc();
      (doc.architecture as ModelSpec).layers[2] = { type: 'linear', in: 3, out: 'x', bias: true } as never;
      assert.equal(
        loadError(doc),
        'm.json: architecture.layers[2].out: expected a positive integer, got "x"',
      );
    });

    test('weights missing, unexpected, or of the wrong shape', () => {
      const missing = tinyDoc();
      delete (missing.weights as Record<string, unknown>)['2.bias'];
      assert.equal(
        loadError(missing),
        "m.json: weights do not match the architecture: missing '2.bias' (the architecture has '0.weight', '0.bias', '2.weight', '2.bias')",
      );
      const renamed = tinyDoc();
      const w = renamed.weights as Record<string, unknown>;
      w['2.b'] = w['2.bias'];
      delete w['2.bias'];
      w.extra = w['0.bias'];
      assert.match(
        loadError(renamed),
        /: missing '2\.bias'; unexpected '2\.b', 'extra' \(the architecture has/,
      );
      const shape = tinyDoc();
      (shape.weights as Record<string, { shape: number[] }>)['0.weight'].shape = [3, 2];
      assert.equal(
        loadError(shape),
        "m.json: weights['0.weight']: shape [3, 2] does not match the architecture's [2, 3]",
      );
      const badShape = tinyDoc();
      (badShape.weights as Record<string, { shape: unknown }>)['0.weight'].shape = [2, -3];
      assert.equal(
        loadError(badShape),
        "m.json: weights['0.weight'].shape: expected an array of non-negative integers, got [2,-3]",
      );
      const noData = tinyDoc();
      (noData.weights as Record<string, { data: unknown }>)['0.bias'].data = [1, 2, 3];
      assert.equal(
        loadError(noData),
        "m.json: weights['0.bias'].data: expected a base64 string, got [1,2,3]",
      );
    });

    test('truncated or corrupt data, non-finite values', () => {
      const data = (doc: Record<string, unknown>) =>
        (doc.weights as Record<string, { data: string }>)['0.weight'];
      const short = tinyDoc();
      data(short).data = data(short).data.slice(0, -4); // 24 bytes = 32 characters; 28 left give 21 bytes
      assert.equal(
        loadError(short),
        "m.json: weights['0.weight'].data: expected 24 bytes (6 float32 values), got 21 (truncated?)",
      );
      const cut = tinyDoc();
      data(cut).data = data(cut).data.slice(0, -1);
      assert.equal(
        loadError(cut),
        "m.json: weights['0.weight'].data: corrupt base64: base64 length 31 is not a multiple of 4 (truncated?)",
      );
      const long = tinyDoc();
      data(long).data = encodeFloats(new Float32Array(7));
      assert.equal(
        loadError(long),
        "m.json: weights['0.weight'].data: expected 24 bytes (6 float32 values), got 28",
      );
      const corrupt = tinyDoc();
      data(corrupt).data = `${data(corrupt).data.slice(0, 5)}*${data(corrupt).data.slice(6)}`;
      assert.equal(
        loadError(corrupt),
        'm.json: weights[\'0.weight\'].data: corrupt base64: invalid base64 character "*" at position 5',
      );
      for (const bad of [NaN, Infinity, -Infinity]) {
        const doc = tinyDoc();
        data(doc).data = encodeFloats(new Float32Array([0, 1, 2, bad, 4, 5]));
        assert.equal(loadError(doc), `m.json: weights['0.weight']: non-finite value (${bad}) at index 3`);
      }
    });

    test('loadModel on a document checked by parseModelFile names the source too', () => {
      const file = parseModelFile(JSON.stringify(tinyDoc()), 'a/b.json');
      (file.weights['0.bias'] as { shape: number[] }).shape = [4];
      assert.throws(() => loadModel(file as ModelFile, 'a/b.json'), {
        name: 'ModelFileError',
        message: "a/b.json: weights['0.bias']: shape [4] does not match the architecture's [3]",
      });
    });
  });
});

describe('checkpoints', () => {
  /** Three interleaved spirals-ish classes in 2-D: enough signal that every step moves the weights. */
  const data = (() => {
    const rng = new random.RandomState(42);
    const n = 60;
    const x = rng.randn(n, 2);
    const y = Array.from(
      { length: n },
      (_, i) => (x.data[2 * i] > 0 ? 1 : 0) + (x.data[2 * i + 1] > 0.5 ? 1 : 0),
    );
    return { x, y };
  })();

  const configs = [
    {
      name: 'float32, dropout, Adam, StepLR',
      dtype: 'float32' as const,
      spec: mlpSpec([2, 8, 8, 3], 'relu', { dropout: 0.2 }),
      optimizer: (p: Tensor[]) => new optim.Adam(p, { lr: 0.01 }),
      scheduler: (o: optim.Optimizer) => new optim.StepLR(o, { stepSize: 1, gamma: 0.7 }),
    },
    {
      name: 'float64, SGD with momentum, ReduceLROnPlateau',
      dtype: 'float64' as const,
      spec: mlpSpec([2, 6, 3], 'tanh'),
      optimizer: (p: Tensor[]) => new optim.SGD(p, { lr: 0.1, momentum: 0.9, nesterov: true }),
      scheduler: (o: optim.Optimizer) => new optim.ReduceLROnPlateau(o, { patience: 0, factor: 0.5 }),
    },
  ];

  for (const c of configs)
    test(`2 epochs + save/parse/restore + 2 epochs = 4 epochs straight, bit for bit (${c.name})`, async () => {
      const x = data.x.to(c.dtype);
      const common = { loss: 'crossEntropy' as const, batchSize: 8, metrics: ['accuracy' as const] };

      const rngA = new random.RandomState(9);
      const a = fromSpec(c.spec, { dtype: c.dtype, rng: rngA });
      const optA = c.optimizer(a.parameters());
      const schedA = c.scheduler(optA);
      const straight = await fit(
        a,
        { x, y: data.y },
        { ...common, optimizer: optA, scheduler: schedA, rng: rngA, epochs: 4 },
      );

      const rngB = new random.RandomState(9);
      const b = fromSpec(c.spec, { dtype: c.dtype, rng: rngB });
      const optB = c.optimizer(b.parameters());
      const schedB = c.scheduler(optB);
      const first = await fit(
        b,
        { x, y: data.y },
        { ...common, optimizer: optB, scheduler: schedB, rng: rngB, epochs: 2 },
      );
      const text = checkpointToJSON(b, {
        optimizer: optB,
        scheduler: schedB,
        rng: rngB,
        epoch: 2,
        history: first,
        task: 'classification',
        created: CREATED,
      });

      const restored = parseCheckpoint(text, 'run.ckpt.json');
      assert.equal(restored.checkpoint.epoch, 2);
      assert.equal(restored.model.training, true);
      assert.deepEqual(restored.checkpoint.history, JSON.parse(JSON.stringify(first)));
      const optC = c.optimizer(restored.model.parameters());
      optC.loadStateDict(restored.checkpoint.optimizer);
      const schedC = c.scheduler(optC);
      schedC.loadStateDict(restored.checkpoint.scheduler!);
      const rest = await fit(
        restored.model,
        { x, y: data.y },
        { ...common, optimizer: optC, scheduler: schedC, rng: restored.rng, epochs: 2, initialEpoch: 2 },
      );

      const strip = (h: typeof straight) => h.epochs.map(({ seconds: _s, ...e }) => e);
      assert.deepEqual(strip(rest), strip(straight).slice(2));
      assert.deepEqual(
        restored.model.namedTensors().map(([k, t]) => [k, bits(t.data)]),
        a.namedTensors().map(([k, t]) => [k, bits(t.data)]),
      );
      assert.deepEqual(optC.stateDict(), optA.stateDict());
      assert.deepEqual(schedC.stateDict(), schedA.stateDict());
      assert.deepEqual(restored.rng.getState(), rngA.getState());
    });

  function checkpointDoc(): Record<string, unknown> {
    const rng = new random.RandomState(1);
    const model = tinyModel('float64');
    const optimizer = new optim.Adam(model.parameters(), { lr: 0.01 });
    model
      .forward(tensor([[1, 2]], { dtype: 'float64' }))
      .sum()
      .backward();
    optimizer.step();
    const text = checkpointToJSON(model, { optimizer, rng, epoch: 1 });
    return JSON.parse(text) as Record<string, unknown>;
  }

  function checkpointError(doc: Record<string, unknown>): string {
    try {
      parseCheckpoint(JSON.stringify(doc), 'c.json');
    } catch (e) {
      assert.ok(e instanceof ModelFileError, String(e));
      return e.message;
    }
    assert.fail('the checkpoint loaded without an error');
  }

  test('a checkpoint is a model file with a checkpoint field', () => {
    const doc = checkpointDoc();
    assert.deepEqual(Object.keys(doc).slice(-3), ['checkpoint', 'weights', 'sha256']);
    // It loads as a model too (for predict from a checkpoint) ...
    assert.ok(modelFromJSON(JSON.stringify(doc)).model);
    // ... but a model file is not a checkpoint.
    assert.equal(
      checkpointError(tinyDoc()),
      'c.json: this is a model file, not a checkpoint: it has no "checkpoint" field',
    );
  });

  test('checkpoint state is checked against the model', () => {
    type Ckpt = {
      epoch: unknown;
      optimizer: { paramSteps: unknown; buffers: Record<string, unknown[]>; lr: unknown };
      rng: { key: unknown[]; pos: unknown };
      scheduler: unknown;
    };
    const broken = (edit: (c: Ckpt) => void) => {
      const doc = checkpointDoc();
      edit(doc.checkpoint as Ckpt);
      return checkpointError(doc);
    };
    assert.equal(
      broken((c) => (c.epoch = -1)),
      'c.json: checkpoint.epoch: expected a non-negative integer, got -1',
    );
    assert.equal(
      broken((c) => delete (c as Partial<Ckpt>).rng),
      'c.json: checkpoint: missing field "rng"',
    );
    assert.equal(
      broken((c) => (c.optimizer.paramSteps = [1, 1, 1])),
      'c.json: checkpoint.optimizer.paramSteps: expected 4 non-negative integers (one per parameter), got [1,1,1]',
    );
    assert.equal(
      broken((c) => c.optimizer.buffers.exp_avg.pop()),
      "c.json: checkpoint.optimizer.buffers['exp_avg']: expected 4 entries (one per parameter), got an array of 3",
    );
    assert.equal(
      broken((c) => (c.optimizer.buffers.exp_avg[1] = [1, 2])),
      "c.json: checkpoint.optimizer.buffers['exp_avg'][1]: expected null or 3 numbers (parameter 1), got [1,2]",
    );
    assert.equal(
      broken((c) => ((c.optimizer.buffers.exp_avg_sq[0] as unknown[])[4] = null)),
      "c.json: checkpoint.optimizer.buffers['exp_avg_sq'][0][4]: expected a finite number, got null",
    );
    assert.equal(
      broken((c) => (c.optimizer.lr = 'fast')),
      'c.json: checkpoint.optimizer.lr: expected a finite number ≥ 0, got "fast"',
    );
    assert.equal(
      broken((c) => (c.rng.key[5] = -1)),
      'c.json: checkpoint.rng: key[5] must be an integer in [0, 2**32), got -1',
    );
    assert.equal(
      broken((c) => (c.scheduler = { lastEpoch: 'x' })),
      'c.json: checkpoint.scheduler.lastEpoch: expected a number, got "x"',
    );
    assert.equal(
      broken((c) => (c.scheduler = 3)),
      'c.json: checkpoint.scheduler: expected an object or null, got 3',
    );
  });

  test('serializeCheckpoint needs the optimizer over the model’s parameters, in order', () => {
    const model = tinyModel();
    const rng = new random.RandomState(0);
    const reversed = new optim.SGD(model.parameters().reverse(), { lr: 0.1 });
    assert.throws(
      () => serializeCheckpoint(model, { optimizer: reversed, rng, epoch: 0 }),
      /not the model's 4 parameters in order/,
    );
    const optimizer = new optim.SGD(model.parameters(), { lr: 0.1 });
    const other = new optim.StepLR(new optim.SGD(model.parameters(), { lr: 0.1 }), { stepSize: 1 });
    assert.throws(
      () => serializeCheckpoint(model, { optimizer, rng, epoch: 0, scheduler: other }),
      /different optimizer/,
    );
    assert.throws(
      () => serializeCheckpoint(model, { optimizer, rng, epoch: 1.5 }),
      /epoch must be a non-negative integer/,
    );
  });
});
