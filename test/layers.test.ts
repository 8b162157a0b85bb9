// The convolution, pooling and normalization layers: against PyTorch's float64 values (layer-gradients.json,
// the small CNN of model-trajectories.json), every op against central differences (gradCheck) with stride,
// padding, dilation, groups and ceilMode, PyTorch's shape rules and their messages, training and
// evaluation modes, buffers, and training through fit.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  adaptiveAvgPool2d,
  avgPool2d,
  batchNorm,
  conv1d,
  conv2d,
  evaluate,
  fit,
  flatten,
  fromSpec,
  gradCheck,
  layerNorm,
  losses,
  maxPool1d,
  maxPool2d,
  modelFromJSON,
  modelToJSON,
  checkpointToJSON,
  parseCheckpoint,
  nn,
  noGrad,
  optim,
  predict,
  random,
  specShapes,
  tensor,
  toSpec,
  validateSpec,
  zeros,
  type DType,
  type ModelSpec,
  type Tensor,
} from '../src/index.js';
import { FusedStep } from '../src/train/fused.js';
import { assertClose } from './helpers/close.js';
import { fixture, flat } from './helpers/fixtures.js';

type Nested = number | Nested[];

interface LayerCase {
  name: string;
  pytorch: string;
  input: Nested;
  params: Record<string, Nested>;
  output: Nested;
  upstream: Nested;
  loss: number;
  grads: Record<string, Nested>;
  buffersBefore?: Record<string, number[]>;
  buffersAfter?: Record<string, number[]>;
}

const layerCases = fixture<{ cases: LayerCase[] }>('layer-gradients.json').cases;

/** The sequence layers' cases belong to issue #13. */
const SEQUENCE_CASE = /^(Embedding|RNN|LSTM|GRU|MultiheadAttention)\b/;

/** The layer of each image/normalization case, by the case's name (every such case must be here). */
const LAYERS: Record<string, (dtype: DType) => nn.Module> = {
  'Conv2d in=1 out=3 k=3 stride=1 padding=0 dilation=1 groups=1 bias=True': (dtype) =>
    new nn.Conv2d(1, 3, 3, { dtype }),
  'Conv2d in=2 out=4 k=3 stride=2 padding=1 dilation=1 groups=1 bias=True': (dtype) =>
    new nn.Conv2d(2, 4, 3, { stride: 2, padding: 1, dtype }),
  'Conv2d in=4 out=4 k=3 stride=1 padding=2 dilation=2 groups=2 bias=False': (dtype) =>
    new nn.Conv2d(4, 4, 3, { padding: 2, dilation: 2, groups: 2, bias: false, dtype }),
  'Conv2d in=3 out=2 k=(2, 4) stride=(1, 2) padding=(1, 0) dilation=1 groups=1 bias=True': (dtype) =>
    new nn.Conv2d(3, 2, [2, 4], { stride: [1, 2], padding: [1, 0], dtype }),
  'Conv1d in=3 out=5 k=3 padding=1': (dtype) => new nn.Conv1d(3, 5, 3, { padding: 1, dtype }),
  'MaxPool2d k=2 stride=2 padding=0': () => new nn.MaxPool2d(2, { stride: 2, padding: 0 }),
  'AvgPool2d k=2 stride=2 padding=0': () => new nn.AvgPool2d(2, { stride: 2, padding: 0 }),
  'MaxPool2d k=3 stride=2 padding=1': () => new nn.MaxPool2d(3, { stride: 2, padding: 1 }),
  'AvgPool2d k=3 stride=2 padding=1': () => new nn.AvgPool2d(3, { stride: 2, padding: 1 }),
  'MaxPool2d k=3 stride=1 padding=0': () => new nn.MaxPool2d(3, { stride: 1 }),
  'AvgPool2d k=3 stride=1 padding=0': () => new nn.AvgPool2d(3, { stride: 1 }),
  'AdaptiveAvgPool2d 1 (global average)': () => new nn.AdaptiveAvgPool2d(1),
  Flatten: () => new nn.Flatten(),
  'BatchNorm1d(4) training mode': (dtype) => new nn.BatchNorm1d(4, { dtype }).train(),
  'BatchNorm1d(4) eval mode (running statistics)': (dtype) => new nn.BatchNorm1d(4, { dtype }).eval(),
  'BatchNorm2d(4) training mode': (dtype) => new nn.BatchNorm2d(4, { dtype }).train(),
  'BatchNorm2d(4) eval mode (running statistics)': (dtype) => new nn.BatchNorm2d(4, { dtype }).eval(),
  'LayerNorm(6)': (dtype) => new nn.LayerNorm(6, { dtype }),
};

/** Run one case: the layer with the case's parameters (and running statistics), forward, Σ out·upstream. */
function runCase(c: LayerCase, dtype: DType) {
  const layer = LAYERS[c.name](dtype);
  const buffers = c.buffersBefore ?? c.buffersAfter;
  const state: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(c.params)) state[k] = tensor(flat(v), { dtype });
  if (buffers) {
    state.running_mean = tensor(buffers.running_mean, { dtype });
    state.running_var = tensor(buffers.running_var, { dtype });
    state.num_batches_tracked = tensor(0, { dtype });
  }
  for (const [k, t] of Object.entries(state))
    state[k] = tensor(t.data, { dtype, shape: stateShape(layer, k) });
  layer.loadStateDict(state);
  const x = tensor(c.input as number[], { dtype, requiresGrad: true });
  const out = layer.forward(x);
  const loss = out.mul(tensor(c.upstream as number[], { dtype })).sum();
  loss.backward();
  return { layer, x, out, loss: loss.item() };
}

function stateShape(m: nn.Module, key: string): readonly number[] {
  const t = new Map(m.namedTensors()).get(key);
  assert.ok(t, `the layer has no tensor '${key}'`);
  return t.shape;
}

describe('layers match PyTorch (layer-gradients.json, float64, 1e-10)', () => {
  test('every image and normalization case of the fixture has its layer here', () => {
    const names = layerCases.filter((c) => !SEQUENCE_CASE.test(c.name)).map((c) => c.name);
    assert.deepEqual(names.sort(), Object.keys(LAYERS).sort());
  });

  for (const c of layerCases.filter((k) => !SEQUENCE_CASE.test(k.name))) {
    test(c.name, () => {
      const { layer, x, out, loss } = runCase(c, 'float64');
      const tol = { rel: 1e-10, abs: 1e-15 };
      assertClose(out, c.output, { ...tol, what: 'output' });
      assertClose(loss, c.loss, { rel: 1e-10, what: 'loss' });
      assertClose(x.grad!.data, flat(c.grads.input), { ...tol, what: 'input gradient' });
      const params = new Map(layer.namedParameters());
      assert.deepEqual([...params.keys()], Object.keys(c.params));
      for (const [k, g] of Object.entries(c.grads))
        if (k !== 'input') assertClose(params.get(k)!.grad!.data, flat(g), { ...tol, what: `${k} gradient` });
      if (c.buffersAfter) {
        const b = new Map(layer.namedBuffers());
        assertClose(b.get('running_mean')!, c.buffersAfter.running_mean, { ...tol, what: 'running_mean' });
        assertClose(b.get('running_var')!, c.buffersAfter.running_var, { ...tol, what: 'running_var' });
        // Counted in training only, as PyTorch.
        assert.equal(b.get('num_batches_tracked')!.item(), c.buffersBefore ? 1 : 0);
      }
    });
  }

  test('float32 agrees with float64 within 1e-5 of each tensor’s scale, every case', () => {
    for (const c of layerCases.filter((k) => !SEQUENCE_CASE.test(k.name))) {
      const r32 = runCase(c, 'float32');
      const r64 = runCase(c, 'float64');
      const scaled = (hi: ArrayLike<number>, what: string) => ({
        rel: 1e-5,
        abs: 1e-5 * Math.max(...Array.from(hi, Math.abs)),
        what: `${c.name}: ${what}`,
      });
      assert.equal(r32.out.dtype, 'float32');
      assertClose(r32.out.data, r64.out.data, scaled(r64.out.data, 'output'));
      assertClose(r32.x.grad!.data, r64.x.grad!.data, scaled(r64.x.grad!.data, 'input gradient'));
      const p64 = new Map(r64.layer.namedParameters());
      for (const [k, p] of r32.layer.namedParameters())
        assertClose(p.grad!.data, p64.get(k)!.grad!.data, scaled(p64.get(k)!.grad!.data, k));
    }
  });
});

interface TrajectoryCase {
  name: string;
  x: Nested;
  y: number[];
  initialState: Record<string, Nested>;
  losses: number[];
  finalState: Record<string, Nested>;
}

describe('the small CNN of model-trajectories.json: 3 Adam steps as PyTorch', () => {
  const c = fixture<{ cases: TrajectoryCase[] }>('model-trajectories.json').cases[0];
  const dtype = 'float64';
  // Sequential(Conv2d(1,4,3,padding=1), BatchNorm2d(4), ReLU(), MaxPool2d(2), Conv2d(4,6,3), ReLU(),
  // Flatten(), Linear(24,3)), BatchNorm in training mode.
  const build = () =>
    new nn.Sequential(
      new nn.Conv2d(1, 4, 3, { padding: 1, dtype }),
      new nn.BatchNorm2d(4, { dtype }),
      new nn.ReLU(),
      new nn.MaxPool2d(2),
      new nn.Conv2d(4, 6, 3, { dtype }),
      new nn.ReLU(),
      new nn.Flatten(),
      new nn.Linear(24, 3, { dtype }),
    );
  // PyTorch's Linear weight is [out, in]; ours is [in, out].
  const ours = (key: string, v: Nested): Tensor =>
    key === '7.weight'
      ? tensor(v as number[][], { dtype }).T
      : tensor(typeof v === 'number' ? [v] : flat(v), { dtype });

  test('the case is the model built here', () => {
    assert.match(c.name, /^small CNN/);
    assert.deepEqual(Object.keys(build().stateDict()), Object.keys(c.initialState));
  });

  test('losses and final state (running statistics included) within 1e-10', () => {
    const model = build();
    const state: Record<string, Tensor> = {};
    for (const [k, v] of Object.entries(c.initialState))
      state[k] = tensor(ours(k, v).data, { dtype, shape: stateShape(model, k) });
    model.loadStateDict(state);
    const opt = new optim.Adam(model.parameters(), { lr: 1e-2 });
    const x = tensor(c.x as number[], { dtype });
    for (let step = 0; step < 3; step++) {
      opt.zeroGrad();
      const loss = losses.crossEntropy(model.forward(x), c.y);
      assertClose(loss.item(), c.losses[step], { rel: 1e-10, what: `loss at step ${step + 1}` });
      loss.backward();
      if (step === 0) {
        // The first convolution's bias feeds BatchNorm, which subtracts it again: its gradient is 0 in exact
        // arithmetic, so what arrives is rounding noise (PyTorch's differs), and Adam, dividing by its own
        // scale, turns that into steps of up to lr·|g|/eps ≈ 1e-9 (see below).
        const gb = (model.layers[0] as nn.Conv2d).bias!.grad!.data;
        assert.ok(Math.max(...Array.from(gb, Math.abs)) < 1e-14, `conv bias gradient ${Array.from(gb)}`);
      }
      opt.step();
    }
    const final = model.stateDict();
    for (const [k, v] of Object.entries(c.finalState)) {
      // Only the noise-driven bias (and the running mean, which adds 0.1 of it per step) gets an absolute
      // floor: 3 steps of at most lr·1e-15/1e-8.
      const abs = k === '0.bias' || k === '1.running_mean' ? 3e-9 : 1e-15;
      assertClose(final[k].data, ours(k, v).data, { rel: 1e-10, abs, what: k });
    }
    assert.equal(final['1.num_batches_tracked'].item(), 3);
  });
});

// ---------------------------------------------------------------------------------------------------------
// gradCheck: every op, float64, with the options that change which inputs a window reads.

/** Uniform in [−1, 1) of `shape`, float64. */
function rand(shape: number[], seed: number): Tensor {
  return new random.RandomState(seed)
    .rand(...shape)
    .mul(2)
    .sub(1)
    .to('float64');
}

function assertGrad(name: string, fn: (...xs: Tensor[]) => Tensor, inputs: Tensor[], tol = 2e-8): void {
  const r = gradCheck(fn, inputs, { tol });
  assert.ok(
    r.ok,
    `${name}: ${r.inputs.map((x, i) => `input ${i}: abs ${x.maxAbsError}, rel ${x.maxRelError} at ${x.worstIndex}`).join('; ')}`,
  );
}

describe('gradCheck: convolution, pooling, normalization (float64)', () => {
  test('conv2d: stride, padding, dilation, groups, bias, same and valid', () => {
    const cases: [string, number[], number[], Parameters<typeof conv2d>[3], boolean][] = [
      ['plain', [2, 2, 5, 4], [3, 2, 3, 3], {}, true],
      ['stride 2, padding [1, 0]', [2, 2, 6, 5], [3, 2, 3, 2], { stride: 2, padding: [1, 0] }, true],
      ['dilation 2, groups 2', [1, 4, 7, 6], [4, 2, 2, 3], { dilation: 2, groups: 2, padding: 1 }, false],
      ["'same', even kernel", [2, 3, 4, 5], [2, 3, 2, 4], { padding: 'same' }, true],
      ["'same', dilation [1, 2]", [1, 2, 5, 5], [2, 2, 3, 2], { padding: 'same', dilation: [1, 2] }, true],
      ["'valid', stride [2, 1]", [1, 2, 5, 6], [2, 2, 3, 3], { padding: 'valid', stride: [2, 1] }, true],
      ['depthwise (groups = channels)', [2, 3, 4, 4], [6, 1, 3, 3], { groups: 3, padding: 1 }, true],
    ];
    cases.forEach(([name, xs, ws, options, bias], i) => {
      const inputs = [rand(xs, i), rand(ws, 100 + i), ...(bias ? [rand([ws[0]], 200 + i)] : [])];
      assertGrad(`conv2d ${name}`, (x, w, b) => conv2d(x, w, b ?? null, options), inputs);
    });
  });

  test('conv1d: stride, padding, same, dilation, groups', () => {
    const cases: [string, number[], number[], Parameters<typeof conv1d>[3]][] = [
      ['plain', [2, 3, 7], [4, 3, 3], {}],
      ['stride 2, padding 2', [2, 2, 8], [3, 2, 3], { stride: 2, padding: 2 }],
      ["'same', even kernel, dilation 2", [1, 2, 6], [2, 2, 4], { padding: 'same', dilation: 2 }],
      ['groups 2', [2, 4, 5], [6, 2, 2], { groups: 2 }],
    ];
    cases.forEach(([name, xs, ws, options], i) =>
      assertGrad(`conv1d ${name}`, (x, w, b) => conv1d(x, w, b, options), [
        rand(xs, i),
        rand(ws, 10 + i),
        rand([ws[0]], 20 + i),
      ]),
    );
  });

  test('maxPool2d and maxPool1d: stride, padding, dilation, ceilMode', () => {
    const cases: [number[], Parameters<typeof maxPool2d>[1], Parameters<typeof maxPool2d>[2]][] = [
      [[2, 2, 6, 5], 2, {}],
      [[1, 3, 7, 6], 3, { stride: 2, padding: 1 }],
      [[1, 2, 7, 7], [2, 3], { stride: [2, 1], dilation: [2, 1], padding: [1, 1] }],
      [[2, 1, 5, 7], 2, { stride: 2, ceilMode: true }],
      [[1, 2, 6, 6], 3, { stride: 2, padding: 1, ceilMode: true }],
    ];
    cases.forEach(([shape, k, options], i) =>
      assertGrad(`maxPool2d ${JSON.stringify([k, options])}`, (x) => maxPool2d(x, k, options), [
        rand(shape, i),
      ]),
    );
    assertGrad('maxPool1d', (x) => maxPool1d(x, 3, { stride: 2, padding: 1, dilation: 2, ceilMode: true }), [
      rand([2, 3, 9], 7),
    ]);
  });

  test('avgPool2d: padding counted or not, ceilMode; adaptiveAvgPool2d; flatten', () => {
    const cases: [number[], Parameters<typeof avgPool2d>[1], Parameters<typeof avgPool2d>[2]][] = [
      [[2, 2, 6, 5], 2, {}],
      [[1, 3, 7, 6], 3, { stride: 2, padding: 1 }],
      [[1, 2, 7, 6], [3, 2], { stride: [2, 1], padding: [1, 1], countIncludePad: false }],
      [[2, 1, 5, 7], 2, { stride: 2, ceilMode: true }],
      [[1, 2, 6, 6], 3, { stride: 2, padding: 1, ceilMode: true, countIncludePad: false }],
    ];
    cases.forEach(([shape, k, options], i) =>
      assertGrad(`avgPool2d ${JSON.stringify([k, options])}`, (x) => avgPool2d(x, k, options), [
        rand(shape, i),
      ]),
    );
    assertGrad('adaptiveAvgPool2d', (x) => adaptiveAvgPool2d(x, 1), [rand([2, 3, 4, 5], 8)]);
    assertGrad('flatten', (x) => flatten(x).mul(flatten(x)), [rand([2, 3, 2, 2], 9)]);
    assertGrad('flatten 1…2', (x) => flatten(x, 1, 2).mul(flatten(x, 1, 2)), [rand([2, 3, 2, 2], 9)]);
  });

  test('batchNorm: training (batch statistics) and evaluation, with and without scale and shift', () => {
    const stats = () => ({
      runningMean: rand([3], 30).mul(0.1),
      runningVar: rand([3], 31).abs().add(0.5),
    });
    for (const shape of [
      [5, 3],
      [4, 3, 5],
      [2, 3, 3, 4],
    ]) {
      const x = rand(shape, shape.length);
      const [w, b] = [rand([3], 40).add(1.5), rand([3], 41)];
      for (const training of [true, false]) {
        assertGrad(
          `batchNorm ${shape} training ${training}`,
          (xx, ww, bb) => batchNorm(xx, { ...stats(), weight: ww, bias: bb, training }),
          [x, w, b],
        );
        assertGrad(
          `batchNorm ${shape} training ${training}, no affine`,
          (xx) => batchNorm(xx, { ...stats(), training, eps: 1e-3 }),
          [x],
        );
      }
    }
  });

  test('layerNorm: one and two normalized axes, with and without scale and shift', () => {
    assertGrad('layerNorm [6]', (x, w, b) => layerNorm(x, 6, { weight: w, bias: b }), [
      rand([2, 3, 6], 50),
      rand([6], 51).add(1.5),
      rand([6], 52),
    ]);
    assertGrad('layerNorm [3, 4]', (x, w, b) => layerNorm(x, [3, 4], { weight: w, bias: b, eps: 1e-3 }), [
      rand([2, 3, 4], 53),
      rand([3, 4], 54).add(1.5),
      rand([3, 4], 55),
    ]);
    assertGrad('layerNorm, no affine', (x) => layerNorm(x, [5]), [rand([4, 5], 56)]);
  });

  test('gradients nobody asked for are not computed', () => {
    const x = rand([1, 2, 5, 5], 60);
    const w = rand([3, 2, 3, 3], 61);
    w.requiresGrad = true;
    const y = conv2d(x, w);
    y.sum().backward();
    assert.equal(x.grad, null);
    assert.ok(w.grad);
  });
});

// ---------------------------------------------------------------------------------------------------------
// PyTorch's shape rules.

describe('shapes follow PyTorch, and errors say what was expected', () => {
  test("'same' puts the odd extra zero after, as PyTorch pads the input", () => {
    const x = rand([1, 2, 4, 5], 70);
    const w = rand([3, 2, 2, 4], 71);
    // Kernel 2×4: totals 1 and 3 → rows 0 before, 1 after; columns 1 before, 2 after.
    const padded = zeros([1, 2, 5, 8], { dtype: 'float64' });
    for (let c = 0; c < 2; c++)
      for (let h = 0; h < 4; h++)
        for (let v = 0; v < 5; v++) padded.data[(c * 5 + h) * 8 + v + 1] = x.data[(c * 4 + h) * 5 + v];
    const same = conv2d(x, w, null, { padding: 'same' });
    assert.deepEqual(same.shape, [1, 3, 4, 5]);
    assertClose(same, conv2d(padded, w), { rel: 1e-15, abs: 1e-15 });
  });

  test('output sizes, ceilMode included', () => {
    const shape = (y: Tensor) => y.shape.slice(2);
    const x = (h: number, w: number) => zeros([1, 1, h, w], { dtype: 'float64' });
    assert.deepEqual(shape(maxPool2d(x(5, 5), 2)), [2, 2]);
    assert.deepEqual(shape(maxPool2d(x(5, 5), 2, { ceilMode: true })), [3, 3]);
    // The last window would start in the right padding: PyTorch drops it.
    assert.deepEqual(shape(maxPool2d(x(3, 3), 3, { stride: 2, padding: 1, ceilMode: true })), [2, 2]);
    assert.deepEqual(shape(avgPool2d(x(7, 8), 3, { stride: 2, padding: 1 })), [4, 4]);
    assert.deepEqual(
      shape(conv2d(x(7, 6), zeros([1, 1, 3, 3], { dtype: 'float64' }), null, { stride: 2, padding: 1 })),
      [4, 3],
    );
    assert.deepEqual(
      shape(conv2d(x(8, 8), zeros([1, 1, 3, 3], { dtype: 'float64' }), null, { padding: 2, dilation: 2 })),
      [8, 8],
    );
    assert.deepEqual(maxPool1d(zeros([2, 3, 9]), 2, { ceilMode: true }).shape, [2, 3, 5]);
    assert.deepEqual(flatten(zeros([2, 3, 4, 5])).shape, [2, 60]);
    assert.deepEqual(flatten(zeros([2, 3, 4, 5]), 0, 1).shape, [6, 4, 5]);
  });

  test('a maxPool window wholly in the padding is impossible: padding is at most half the kernel', () => {
    assert.throws(() => maxPool2d(zeros([1, 1, 4, 4]), 2, { padding: 2 }), {
      message: 'maxPool2d: padding 2×2 must be at most half the kernel size 2×2 (as PyTorch)',
    });
    assert.throws(
      () => new nn.AvgPool2d(3, { padding: [1, 2] }),
      /AvgPool2d: padding \[1, 2\] must be at most half/,
    );
  });

  test('errors name the op, the shapes and what was expected', () => {
    const cases: [() => unknown, string][] = [
      [
        () => conv2d(zeros([1, 1, 3, 3]), zeros([2, 1, 5, 5])),
        'conv2d: input [1, 1, 3, 3]: the kernel 5×5 is larger than the 3×3 input',
      ],
      [
        () => conv2d(zeros([1, 1, 3, 3]), zeros([2, 1, 3, 3]), null, { dilation: [2, 1] }),
        'conv2d: input [1, 1, 3, 3]: the kernel 3×3 (dilated to 5×3) is larger than the 3×3 input',
      ],
      [
        () => conv2d(zeros([1, 1, 2, 3]), zeros([2, 1, 3, 3]), null, { dilation: 2, padding: [1, 0] }),
        'conv2d: input [1, 1, 2, 3]: the kernel 3×3 (dilated to 5×5) is larger than the 2×3 input padded to 4×3',
      ],
      [
        () => conv1d(zeros([1, 2, 4]), zeros([3, 2, 6])),
        'conv1d: input [1, 2, 4]: the kernel 6 is larger than the 4 input',
      ],
      [
        () => conv2d(zeros([2, 3, 8, 8]), zeros([4, 2, 3, 3])),
        'conv2d: input [2, 3, 8, 8] has 3 channels, but weight [4, 2, 3, 3] takes 2',
      ],
      [
        () => conv2d(zeros([2, 4, 8, 8]), zeros([4, 1, 3, 3]), null, { groups: 2 }),
        'conv2d: input [2, 4, 8, 8] has 4 channels, but weight [4, 1, 3, 3] takes 1 per group × 2 groups = 2',
      ],
      [
        () => conv2d(zeros([2, 3, 8]), zeros([4, 3, 3, 3])),
        'conv2d: input has shape [2, 3, 8], expected [N, C, H, W]',
      ],
      [
        () => conv2d(zeros([1, 3, 8, 8]), zeros([4, 3, 3, 3]), zeros([3])),
        'conv2d: bias has shape [3], expected [4] (one per output channel)',
      ],
      [
        () => conv2d(zeros([1, 3, 8, 8]), zeros([4, 3, 3, 3]), null, { padding: 'same', stride: 2 }),
        "conv2d: padding 'same' needs stride 1 (as PyTorch), got stride 2×2",
      ],
      [
        () => conv1d(zeros([1, 3, 8]), zeros([4, 3, 3]), null, { padding: 'same', stride: 2 }),
        "conv1d: padding 'same' needs stride 1 (as PyTorch), got stride 2",
      ],
      [
        () => new nn.Conv2d(3, 4, 3, { groups: 2 }),
        'Conv2d: groups 2 must divide inChannels 3 and outChannels 4',
      ],
      [
        () => maxPool2d(zeros([1, 1, 2, 2]), 3, { padding: 1, stride: 1, dilation: 2 }),
        'maxPool2d: input [1, 1, 2, 2]: the kernel 3×3 (dilated to 5×5) is larger than the 2×2 input padded to 4×4',
      ],
      [
        () => batchNorm(zeros([1, 4]), { training: true }),
        'batchNorm: training needs more than 1 value per channel, got input [1, 4] (as PyTorch)',
      ],
      [
        () => batchNorm(zeros([2, 4])),
        'batchNorm: evaluation (training: false) normalizes by runningMean and runningVar; give them',
      ],
      [
        () => batchNorm(zeros([2, 4]), { training: true, weight: zeros([3]) }),
        'batchNorm: weight (one per channel of input [2, 4]) has shape [3], expected [4]',
      ],
      [
        () => new nn.BatchNorm2d(3).forward(zeros([2, 3])),
        'BatchNorm2d(3): input has shape [2, 3], expected [N, C, H, W]',
      ],
      [
        () => layerNorm(zeros([2, 5]), [4]),
        'layerNorm: input has shape [2, 5], expected [..., 4] (its last axes the normalized shape)',
      ],
      [
        () => new nn.Unflatten(1, [1, 28, 28]).forward(zeros([3, 780])),
        'Unflatten(1, [1, 28, 28]): input has shape [3, 780], expected axis 1 of 1·28·28 = 784 elements',
      ],
      [
        () => adaptiveAvgPool2d(zeros([1, 1, 4, 4]), 2),
        'adaptiveAvgPool2d: only output size 1 (a global average) is supported, got 2×2',
      ],
    ];
    for (const [fn, message] of cases) assert.throws(fn, { message }, message);
  });

  test('float32 and float64 mix as elementwise ops do: the wider wins', () => {
    const y = conv2d(zeros([1, 1, 3, 3]), zeros([1, 1, 2, 2], { dtype: 'float64' }));
    assert.equal(y.dtype, 'float64');
    assert.equal(maxPool2d(zeros([1, 1, 2, 2]), 2).dtype, 'float32');
    assert.equal(layerNorm(zeros([2, 3]), 3, { weight: zeros([3], { dtype: 'float64' }) }).dtype, 'float64');
  });
});

// ---------------------------------------------------------------------------------------------------------
// Modules: PyTorch's init, buffers, training and evaluation.

describe('layers as modules', () => {
  test("Conv2d's default init is PyTorch's: weight then bias uniform in ±1/√fanIn, from the given stream", () => {
    const conv = new nn.Conv2d(4, 6, [3, 2], { groups: 2, rng: new random.RandomState(5), dtype: 'float64' });
    assert.deepEqual(conv.weight.shape, [6, 2, 3, 2]);
    const bound = 1 / Math.sqrt(2 * 3 * 2);
    const rng = new random.RandomState(5);
    const w = new Float64Array(72);
    const b = new Float64Array(6);
    rng.fillUniform(w, -bound, bound);
    rng.fillUniform(b, -bound, bound);
    assert.deepEqual(conv.weight.data, w);
    assert.deepEqual(conv.bias!.data, b);
    assert.ok(Math.max(...Array.from(w, Math.abs)) <= bound);
    const c1 = new nn.Conv1d(3, 2, 4, { bias: false, init: 'zeros' });
    assert.deepEqual(c1.weight.shape, [2, 3, 4]);
    assert.equal(c1.bias, null);
  });

  test('BatchNorm: parameters and buffers under PyTorch’s names; buffers are saved, not trained', () => {
    const bn = new nn.BatchNorm2d(3);
    assert.deepEqual(
      bn.namedParameters().map(([k]) => k),
      ['weight', 'bias'],
    );
    assert.deepEqual(
      bn.namedBuffers().map(([k]) => k),
      ['running_mean', 'running_var', 'num_batches_tracked'],
    );
    assert.deepEqual(Object.keys(bn.stateDict()), [
      'weight',
      'bias',
      'running_mean',
      'running_var',
      'num_batches_tracked',
    ]);
    assert.deepEqual(Array.from(bn.running_var!.data), [1, 1, 1]);
    const model = new nn.Sequential(new nn.Conv2d(1, 3, 3), bn, new nn.Flatten(), new nn.LayerNorm(12));
    assert.deepEqual(
      model.namedBuffers().map(([k]) => k),
      ['1.running_mean', '1.running_var', '1.num_batches_tracked'],
    );
    assert.equal(model.buffers().length, 3);
    assert.ok(model.parameters().every((p) => !model.buffers().includes(p)));
    assert.equal(model.numParameters(), 3 * 9 + 3 + 3 + 3 + 12 + 12);
    const plain = new nn.BatchNorm1d(2, { affine: false, trackRunningStats: false });
    assert.deepEqual(Object.keys(plain.stateDict()), []);
  });

  test('train() and eval() switch every module; BatchNorm uses batch or running statistics by it', () => {
    const bn = new nn.BatchNorm1d(2);
    const drop = new nn.Dropout(0.5);
    const model = new nn.Sequential(new nn.Linear(3, 2), bn, new nn.Sequential(drop, new nn.ReLU()));
    model.eval();
    assert.ok(model.modules().every((m) => !m.training));
    assert.equal(model.modules().length, 6);
    const x = new random.RandomState(1).randn(8, 3);
    // Evaluation: running statistics (zeros and ones at first), nothing changes, dropout is the identity.
    const y1 = noGrad(() => model.forward(x));
    assert.deepEqual(y1.data, noGrad(() => model.forward(x)).data);
    assert.deepEqual(Array.from(bn.running_mean!.data), [0, 0]);
    assert.equal(bn.num_batches_tracked!.item(), 0);
    model.train();
    assert.ok(model.modules().every((m) => m.training));
    model.forward(x);
    assert.equal(bn.num_batches_tracked!.item(), 1);
    assert.ok(bn.running_mean!.data.some((v) => v !== 0));
  });

  test('momentum null averages every batch so far; without running statistics evaluation uses the batch', () => {
    const bn = new nn.BatchNorm1d(1, { momentum: null, dtype: 'float64' });
    const batches = [
      [[1], [3]],
      [[5], [9]],
      [[0], [4]],
    ];
    for (const b of batches) bn.forward(tensor(b, { dtype: 'float64' }));
    assertClose(bn.running_mean!.data, [(2 + 7 + 2) / 3], { rel: 1e-15 });
    // Unbiased variances 2, 8, 8.
    assertClose(bn.running_var!.data, [(2 + 8 + 8) / 3], { rel: 1e-15 });
    const free = new nn.BatchNorm1d(1, { trackRunningStats: false, affine: false, dtype: 'float64' }).eval();
    assertClose(
      free.forward(tensor([[1], [3]], { dtype: 'float64' })),
      [[-1 / Math.sqrt(1 + 1e-5)], [1 / Math.sqrt(1 + 1e-5)]],
      {
        rel: 1e-15,
      },
    );
  });

  test('a refused batch leaves the running statistics and the count alone', () => {
    const bn = new nn.BatchNorm1d(2);
    assert.throws(() => bn.forward(zeros([1, 2])), /more than 1 value per channel/);
    assert.equal(bn.num_batches_tracked!.item(), 0);
  });

  test('describe() shows what differs from the defaults', () => {
    const m = new nn.Sequential(
      new nn.Conv2d(1, 8, 5, { padding: 'same', bias: false }),
      new nn.BatchNorm2d(8, { momentum: null }),
      new nn.MaxPool2d(2),
      new nn.AvgPool2d(3, { stride: 1, padding: 1, countIncludePad: false }),
      new nn.Conv1d(2, 2, 3, { stride: 2, groups: 2 }),
      new nn.Flatten(),
      new nn.Unflatten(1, [2, 4]),
      new nn.LayerNorm([2, 4], { elementwiseAffine: false }),
    );
    assert.equal(
      m.toString(),
      [
        'Sequential(',
        "  (0): Conv2d(1 → 8, kernel 5, padding 'same', bias: false)",
        '  (1): BatchNorm2d(8, momentum: null)',
        '  (2): MaxPool2d(kernel 2)',
        '  (3): AvgPool2d(kernel 3, stride 1, padding 1, countIncludePad: false)',
        '  (4): Conv1d(2 → 2, kernel 3, stride 2, groups 2)',
        '  (5): Flatten()',
        '  (6): Unflatten(1, [2, 4])',
        '  (7): LayerNorm([2, 4], elementwiseAffine: false)',
        ')',
      ].join('\n'),
    );
  });
});

// ---------------------------------------------------------------------------------------------------------
// Specs of CNNs: shapes followed from layer to layer.

/** The CNN most examples use: flat 8×8 rows → [1, 8, 8] → conv, norm, pool → logits of 3 classes. */
const CNN: ModelSpec = {
  type: 'sequential',
  layers: [
    { type: 'unflatten', shape: [1, 8, 8] },
    { type: 'conv2d', in: 1, out: 4, kernel: 3, stride: 1, padding: 1, dilation: 1, groups: 1, bias: true },
    { type: 'batchNorm2d', features: 4, eps: 1e-5, momentum: 0.1, affine: true, trackRunningStats: true },
    { type: 'relu' },
    { type: 'maxPool2d', kernel: 2, stride: 2, padding: 0, dilation: 1, ceilMode: false },
    { type: 'conv2d', in: 4, out: 6, kernel: 3, stride: 1, padding: 0, dilation: 1, groups: 1, bias: true },
    { type: 'relu' },
    { type: 'flatten' },
    { type: 'dropout', p: 0.1 },
    { type: 'linear', in: 24, out: 3, bias: true },
  ],
};

describe('specs of CNNs', () => {
  test('specShapes follows a sample through the layers', () => {
    assert.deepEqual(specShapes(CNN), [
      [1, 8, 8],
      [4, 8, 8],
      [4, 8, 8],
      [4, 8, 8],
      [4, 4, 4],
      [6, 2, 2],
      [6, 2, 2],
      [24],
      [24],
      [3],
    ]);
    // Without an unflatten the image size is the input's: −1 until a Linear fixes a size again.
    assert.deepEqual(specShapes({ type: 'sequential', layers: CNN.layers.slice(1) }).slice(0, 7), [
      [4, -1, -1],
      [4, -1, -1],
      [4, -1, -1],
      [4, -1, -1],
      [6, -1, -1],
      [6, -1, -1],
      [-1],
    ]);
  });

  test('a spec that cannot fit its input fails before training, naming the layer and the shapes', () => {
    const withLayer = (i: number, patch: object): unknown => ({
      type: 'sequential',
      layers: CNN.layers.map((l, j) => (j === i ? { ...l, ...patch } : l)),
    });
    const cases: [unknown, string][] = [
      [
        withLayer(5, { kernel: 5 }),
        'layers[5] (conv2d): the kernel 5×5 does not fit the input: layers[4] gives [4, 4, 4]',
      ],
      [withLayer(5, { in: 3 }), 'layers[5].in: expected 4 (the channels layers[4] gives [4, 4, 4]), got 3'],
      [
        withLayer(2, { features: 5 }),
        'layers[2].features: expected 4 (the channels layers[1] gives [4, 8, 8]), got 5',
      ],
      [withLayer(9, { in: 25 }), 'layers[9].in: expected 24 (the output size of layers[7]), got 25'],
      [withLayer(0, { shape: [1, 7, 8] }), null as never],
      [withLayer(4, { padding: 2 }), 'layers[4].padding: expected at most half the kernel 2×2, got 2×2'],
      [
        withLayer(1, { padding: 'same', stride: 2 }),
        'layers[1].padding: "same" needs stride 1 (as PyTorch), got stride 2×2',
      ],
      [withLayer(1, { groups: 3 }), 'layers[1].groups: expected a divisor of in 1 and out 4, got 3'],
      [
        withLayer(1, { padding: 'full' }),
        'layers[1].padding: expected an integer ≥ 0, [height, width] of them, "same" or "valid", got "full"',
      ],
      [
        withLayer(1, { kernel: [3, 0] }),
        'layers[1].kernel: expected a positive integer or [height, width] of them, got [3,0]',
      ],
      [
        { type: 'sequential', layers: [{ type: 'linear', in: 4, out: 6, bias: true }, CNN.layers[1]] },
        'layers[1] (conv2d): takes [C, H, W] per sample, but layers[0] gives [6]',
      ],
      [
        {
          type: 'sequential',
          layers: [
            { type: 'linear', in: 4, out: 6, bias: true },
            { type: 'unflatten', shape: [2, 2] },
          ],
        },
        'layers[1].shape: 2·2 = 4 elements, but layers[0] gives [6] (6 to unflatten)',
      ],
      [
        {
          type: 'sequential',
          layers: [
            { type: 'unflatten', shape: [2, 6] },
            { type: 'layerNorm', shape: [5], eps: 1e-5, elementwiseAffine: true },
          ],
        },
        'layers[1].shape: expected the last axes of what layers[0] gives [2, 6], got [5]',
      ],
    ];
    for (const [spec, message] of cases) {
      if (message === null) continue;
      assert.throws(() => validateSpec(spec), { message }, message);
      assert.throws(() => fromSpec(spec as ModelSpec), { message });
    }
  });

  test('fromSpec builds the CNN, toSpec describes it back, and it takes flat rows', () => {
    const model = fromSpec(CNN, { dtype: 'float64', rng: new random.RandomState(1) });
    assert.deepEqual(toSpec(model), CNN);
    const y = model.eval().forward(new random.RandomState(2).randn(5, 64).to('float64'));
    assert.deepEqual(y.shape, [5, 3]);
    // A layer a spec cannot hold (Flatten of other axes) is refused by name.
    assert.throws(
      () => toSpec(new nn.Sequential(new nn.Flatten(0, 1))),
      /toSpec: layer 0 \(Flatten\) cannot be described in a model spec/,
    );
  });
});

// ---------------------------------------------------------------------------------------------------------
// Training.

/** Tiny 8×8 "images" as flat rows: class 1 when the left half is brighter than the right, else 0. */
function imageData(n: number, seed: number, dtype: DType = 'float32') {
  const rng = new random.RandomState(seed);
  const x = rng.randn(n, 64).to(dtype);
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let left = 0;
    for (let r = 0; r < 8; r++)
      for (let c = 0; c < 8; c++) left += (c < 4 ? 1 : -1) * x.data[i * 64 + r * 8 + c];
    y[i] = left > 0 ? 1 : 0;
  }
  return { x, y: tensor(y, { dtype: 'float64' }) };
}

/** The CNN with two classes; its weights and its dropout masks come from `rng`. */
const SMALL_CNN = (dtype: DType, rng: random.RandomState) =>
  fromSpec(
    {
      ...CNN,
      layers: [...CNN.layers.slice(0, -1), { type: 'linear', in: 24, out: 2, bias: true }],
    },
    { dtype, rng },
  );

describe('training CNNs through fit', () => {
  test('fit trains a small CNN on tiny random images (the general path, not the fused one)', async () => {
    const model = SMALL_CNN('float32', new random.RandomState(3));
    const data = imageData(96, 4);
    assert.equal(FusedStep.plan(model, 'crossEntropy'), null);
    const before = evaluate(model, data, { loss: 'crossEntropy', metrics: ['accuracy'] });
    const history = await fit(model, data, {
      loss: 'crossEntropy',
      optimizer: new optim.Adam(model.parameters(), { lr: 0.01 }),
      epochs: 15,
      batchSize: 16,
      rng: new random.RandomState(5),
      metrics: ['accuracy'],
    });
    const after = evaluate(model, data, { loss: 'crossEntropy', metrics: ['accuracy'] });
    assert.ok(after.loss < before.loss / 2, `loss ${before.loss} → ${after.loss}`);
    assert.ok((after.metrics.accuracy ?? 0) > 0.9, `accuracy ${after.metrics.accuracy}`);
    assert.equal(history.epochs.length, 15);
    const bn = model.layers[2] as nn.BatchNorm2d;
    assert.equal(bn.num_batches_tracked!.item(), 15 * 6);
  });

  test('the fused step is for plain MLPs only', () => {
    const mlp = new nn.Sequential(new nn.Linear(4, 3), new nn.ReLU(), new nn.Linear(3, 2));
    assert.ok(FusedStep.plan(mlp, 'crossEntropy'));
    for (const layer of [
      new nn.BatchNorm1d(3),
      new nn.LayerNorm(3),
      new nn.Flatten(),
      new nn.Sequential(new nn.Unflatten(1, [1, 3]), new nn.Conv1d(1, 1, 1), new nn.Flatten()),
    ])
      assert.equal(
        FusedStep.plan(new nn.Sequential(new nn.Linear(4, 3), layer, new nn.Linear(3, 2)), 'crossEntropy'),
        null,
        layer.constructor.name,
      );
  });

  test('fit trains in training mode and validates in evaluation mode, then restores every module', async () => {
    const seen: string[] = [];
    class Spy extends nn.Module {
      forward(x: Tensor): Tensor {
        seen.push(this.training ? 'train' : 'eval');
        return x;
      }
    }
    const bn = new nn.BatchNorm1d(3);
    const model = new nn.Sequential(new nn.Linear(4, 3), bn, new Spy(), new nn.Linear(3, 2));
    // The caller froze the batch norm (evaluation mode) and left the rest training: kept after fit.
    model.eval();
    model.layers[0].train();
    const x = new random.RandomState(1).randn(10, 4);
    const y = [0, 1, 0, 1, 1, 0, 0, 1, 1, 0];
    await fit(
      model,
      { x, y },
      {
        loss: 'crossEntropy',
        optimizer: new optim.SGD(model.parameters(), { lr: 0.1 }),
        epochs: 2,
        batchSize: 5,
        validationSplit: 0.2,
      },
    );
    // Per epoch: two training batches (8 samples, batch 5), then one validation pass.
    assert.deepEqual(seen, ['train', 'train', 'eval', 'train', 'train', 'eval']);
    assert.deepEqual(
      model.modules().map((m) => m.training),
      [false, true, false, false, false],
    );
    // evaluate and predict leave the modes and the running statistics alone.
    const stats = bn.running_mean!.data.slice();
    model.train();
    evaluate(model, { x, y }, { loss: 'crossEntropy' });
    predict(model, x);
    assert.ok(model.modules().every((m) => m.training));
    assert.deepEqual(bn.running_mean!.data, stats);
  });

  test('a diverging step puts back the running statistics with the weights', async () => {
    const model = new nn.Sequential(new nn.Linear(2, 3), new nn.BatchNorm1d(3), new nn.Linear(3, 1));
    let calls = 0;
    let saved: Float32Array | Float64Array | null = null;
    const loss = (p: Tensor, t: Tensor) => (++calls === 2 ? losses.mse(p, t).mul(NaN) : losses.mse(p, t));
    const x = new random.RandomState(2).randn(8, 2);
    const bn = model.layers[1] as nn.BatchNorm1d;
    await assert.rejects(
      fit(
        model,
        { x, y: new random.RandomState(3).randn(8, 1) },
        {
          loss,
          optimizer: new optim.SGD(model.parameters(), { lr: 0.1 }),
          batchSize: 4,
          onBatchEnd: () => (saved ??= bn.running_mean!.data.slice()),
        },
      ),
      /training diverged/,
    );
    assert.deepEqual(bn.running_mean!.data, saved);
  });

  test('checkpoints resume a CNN bit for bit, running statistics included; model files keep its outputs', async () => {
    const data = imageData(40, 6, 'float64');
    const options = (
      model: nn.Sequential,
      rng: random.RandomState,
      optimizer: optim.Adam,
      initialEpoch = 0,
    ) => ({
      loss: 'crossEntropy' as const,
      optimizer,
      epochs: initialEpoch === 0 ? 2 : 1,
      batchSize: 8,
      rng,
      initialEpoch,
    });
    // One stream for the weights, the shuffles and the dropout masks, as the command line has it: a
    // checkpoint restores it, and the loaded model's dropout draws from the restored stream.
    const rngA = new random.RandomState(8);
    const straight = SMALL_CNN('float64', rngA);
    const optA = new optim.Adam(straight.parameters(), { lr: 0.01 });
    await fit(straight, data, { ...options(straight, rngA, optA), epochs: 3 });

    const rngB = new random.RandomState(8);
    const first = SMALL_CNN('float64', rngB);
    const optB = new optim.Adam(first.parameters(), { lr: 0.01 });
    await fit(first, data, options(first, rngB, optB));
    const text = checkpointToJSON(first, { optimizer: optB, rng: rngB, epoch: 2 });
    const { model: resumed, rng, checkpoint } = parseCheckpoint(text, 'c.json');
    const optC = new optim.Adam(resumed.parameters(), { lr: 0.01 });
    optC.loadStateDict(checkpoint.optimizer);
    await fit(resumed, data, options(resumed, rng, optC, 2));
    const bits = (m: nn.Module) => m.namedTensors().map(([k, t]) => [k, Array.from(t.data)]);
    assert.deepEqual(bits(resumed), bits(straight));

    straight.eval();
    const { model: loaded } = modelFromJSON(modelToJSON(straight), 'm.json');
    assert.deepEqual(bits(loaded), bits(straight));
    assert.deepEqual(predict(loaded, data.x).data, predict(straight, data.x).data);
  });
});
