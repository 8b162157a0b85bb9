// Losses: values against hand-computed numbers, numerical stability, gradients by finite differences,
// and the errors for bad input.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  gradCheck,
  loadWasmKernels,
  losses,
  random,
  referenceKernels,
  setKernels,
  sigmoid,
  tensor,
  Tensor,
  type NestedArray,
} from '../src/index.js';

const wasm = await loadWasmKernels({ minElements: 1 });
import { assertClose } from './helpers/close.js';

const f64 = (x: NestedArray[]) => tensor(x, { dtype: 'float64' });

describe('values', () => {
  const p = f64([1, 2, 3]);
  const t = f64([0, 2, 5]);

  test('mse: mean, sum and none', () => {
    assertClose(losses.mse(p, t), 5 / 3, { rel: 1e-15, what: 'mse' });
    assertClose(losses.mse(p, t, { reduction: 'sum' }), 5, { rel: 1e-15, what: 'mse sum' });
    const none = losses.mse(p, t, { reduction: 'none' });
    assert.deepEqual(none.shape, [3]);
    assert.deepEqual(Array.from(none.data), [1, 0, 4]);
  });

  test("the seed's loss: ½·mse(sum) is byName.mseHalfSum", () => {
    const a = losses.mse(p, t, { reduction: 'sum' }).mul(0.5);
    assert.equal(a.item(), 2.5);
    assert.equal(losses.byName.mseHalfSum(p, t).item(), a.item());
    assert.equal(losses.byName.mse(p, t).item(), losses.mse(p, t).item());
  });

  test('mae', () => {
    assertClose(losses.mae(p, t), 1, { rel: 1e-15, what: 'mae' });
    assertClose(losses.mae(p, t, { reduction: 'sum' }), 3, { rel: 1e-15, what: 'mae sum' });
    assert.deepEqual(Array.from(losses.mae(p, t, { reduction: 'none' }).data), [1, 0, 2]);
  });

  test('bce', () => {
    const prob = f64([0.8, 0.3, 0.5]);
    const y = f64([1, 0, 0.25]);
    const each = [-Math.log(0.8), -Math.log(0.7), -(0.25 * Math.log(0.5) + 0.75 * Math.log(0.5))];
    assertClose(losses.bce(prob, y, { reduction: 'none' }).data, each, { rel: 1e-15, what: 'bce' });
    assertClose(losses.bce(prob, y), (each[0] + each[1] + each[2]) / 3, { rel: 1e-15, what: 'bce' });
  });

  test('bce clamps each log at −100: p = 0 or 1 gives 100, not infinity', () => {
    for (const dtype of ['float64', 'float32'] as const) {
      const prob = tensor([0, 1, 0, 1], { dtype, requiresGrad: true });
      const y = tensor([1, 0, 0, 1], { dtype });
      const l = losses.bce(prob, y, { reduction: 'none' });
      assert.deepEqual(
        Array.from(l.data, (v) => v + 0), // −0 → 0
        [100, 100, 0, 0],
        dtype,
      );
      l.sum().backward();
      assert.ok(prob.grad!.data.every(Number.isFinite), `${dtype}: gradient ${prob.grad!.data}`);
    }
  });

  test('bce after a saturated float32 sigmoid trains on, with finite gradients', () => {
    // σ(20) rounds to exactly 1 in float32 and σ(−120) to 0: a confident right answer must give a finite
    // (here zero) gradient, not NaN.
    const z = tensor([20, -120, 30, -200], { requiresGrad: true });
    const prob = sigmoid(z);
    assert.deepEqual(Array.from(prob.data), [1, 0, 1, 0]);
    const l = losses.bce(prob, tensor([1, 0, 0, 1]));
    assert.equal(l.item(), 50);
    l.backward();
    assert.deepEqual(
      Array.from(z.grad!.data, (v) => v + 0),
      [0, 0, 0, 0],
    );
  });

  test('bce: p below e^−100 clamps to 100 in float64, with finite gradients', () => {
    const prob = tensor([1e-50, 1e-300, 5e-324, 1e-40], { dtype: 'float64', requiresGrad: true });
    const l = losses.bce(prob, tensor([1, 1, 1, 1], { dtype: 'float64' }), { reduction: 'none' });
    assertClose(l.data, [100, 100, 100, -Math.log(1e-40)], { rel: 1e-15, what: 'bce' });
    l.sum().backward();
    assert.ok(prob.grad!.data.every(Number.isFinite), `gradient ${prob.grad!.data}`);
  });

  test('bce: a float32 subnormal p keeps its exact log, with finite gradients', () => {
    const prob = tensor([1e-40, 1e-44, 1.5e-38], { requiresGrad: true });
    const l = losses.bce(prob, tensor([1, 1, 1]), { reduction: 'none' });
    const want = Array.from(prob.data, (p) => Math.min(100, Math.fround(-Math.log(p))));
    assert.deepEqual(Array.from(l.data), want);
    l.sum().backward();
    assert.ok(prob.grad!.data.every(Number.isFinite), `gradient ${prob.grad!.data}`);
  });

  test('bceWithLogits equals bce(σ(z)) for moderate z', () => {
    const z = f64([-4, -1.5, -0.2, 0, 0.7, 2, 5]);
    const y = f64([0, 1, 0.3, 1, 0, 1, 0.9]);
    const a = losses.bceWithLogits(z, y, { reduction: 'none' });
    const b = losses.bce(sigmoid(z), y, { reduction: 'none' });
    assertClose(a.data, b.data, { rel: 1e-13, what: 'bceWithLogits' });
    assertClose(losses.bceWithLogits(z, y), losses.bce(sigmoid(z), y).item(), {
      rel: 1e-13,
      what: 'bceWithLogits',
    });
  });

  test('bceWithLogits stays finite and accurate at z = ±50', () => {
    const z = tensor([50, 50, -50, -50], { dtype: 'float64', requiresGrad: true });
    const y = f64([1, 0, 1, 0]);
    const l = losses.bceWithLogits(z, y, { reduction: 'none' });
    // log(1 + e^−50) = e^−50 to double precision; bce on σ(50) = 1.0 would give 0 and 100 instead.
    assertClose(l.data, [Math.exp(-50), 50, 50, Math.exp(-50)], { rel: 1e-14, what: 'bceWithLogits' });
    l.sum().backward();
    assertClose(z.grad!.data, [0, 1, -1, 0], { rel: 1e-15, abs: 1e-21, what: 'gradient σ(z) − y' });
  });

  test('crossEntropy with integer labels', () => {
    const logits = f64([
      [1, 2, 3],
      [1, 1, 1],
    ]);
    const lse = Math.log(Math.E + Math.E ** 2 + Math.E ** 3);
    const each = [lse - 3, Math.log(3)];
    assertClose(losses.crossEntropy(logits, [2, 0], { reduction: 'none' }).data, each, {
      rel: 1e-14,
      what: 'ce',
    });
    assertClose(losses.crossEntropy(logits, [2, 0]), (each[0] + each[1]) / 2, {
      rel: 1e-14,
      what: 'crossEntropy',
    });
    assertClose(losses.crossEntropy(logits, f64([2, 0])), (each[0] + each[1]) / 2, {
      rel: 1e-14,
      what: 'crossEntropy',
    });
    assertClose(
      losses.crossEntropy(logits, new Int32Array([2, 0]), { reduction: 'sum' }),
      each[0] + each[1],
      { rel: 1e-14, what: 'crossEntropy sum' },
    );
  });

  test('crossEntropy with probability targets', () => {
    const logits = f64([
      [1, 2, 3],
      [0.5, -1, 2],
    ]);
    const target = f64([
      [0, 0, 1],
      [0.2, 0.8, 0],
    ]);
    const lse = [
      Math.log(Math.E + Math.E ** 2 + Math.E ** 3),
      Math.log(Math.exp(0.5) + Math.exp(-1) + Math.exp(2)),
    ];
    const each = [lse[0] - 3, -(0.2 * (0.5 - lse[1]) + 0.8 * (-1 - lse[1]))];
    assertClose(losses.crossEntropy(logits, target, { reduction: 'none' }).data, each, {
      rel: 1e-14,
      what: 'ce',
    });
    assertClose(losses.crossEntropy(logits, target), (each[0] + each[1]) / 2, {
      rel: 1e-14,
      what: 'crossEntropy',
    });
    // One-hot targets are the labels.
    assertClose(
      losses.crossEntropy(
        logits,
        f64([
          [0, 0, 1],
          [1, 0, 0],
        ]),
      ),
      losses.crossEntropy(logits, [2, 0]).item(),
      { rel: 1e-15, what: 'crossEntropy' },
    );
  });

  test('crossEntropy is stable for logits like [1000, −1000, 0]', () => {
    const logits = tensor([[1000, -1000, 0]], { dtype: 'float64', requiresGrad: true });
    assert.equal(losses.crossEntropy(logits, [0]).item(), 0);
    assert.equal(losses.crossEntropy(logits, [1]).item(), 2000);
    assert.equal(losses.crossEntropy(logits, [2]).item(), 1000);
    losses.crossEntropy(logits, [1]).backward();
    // softmax − onehot.
    assert.deepEqual(Array.from(logits.grad!.data), [1, -1, 0]);
    const l32 = losses.crossEntropy(tensor([[1000, -1000, 0]]), [2]);
    assert.equal(l32.item(), 1000);
  });

  test('huber: both branches and delta', () => {
    const d = f64([0.5, 2, -3, 0]);
    const zero = f64([0, 0, 0, 0]);
    assert.deepEqual(Array.from(losses.huber(d, zero, { reduction: 'none' }).data), [0.125, 1.5, 2.5, 0]);
    assertClose(losses.huber(d, zero), (0.125 + 1.5 + 2.5) / 4, { rel: 1e-15, what: 'huber' });
    // delta 2: |2| is on the boundary, where both branches give 2.
    assert.deepEqual(
      Array.from(losses.huber(d, zero, { delta: 2, reduction: 'none' }).data),
      [0.125, 2, 4, 0],
    );
    assertClose(
      losses.huber(d, zero, { delta: 0.25, reduction: 'sum' }),
      0.25 * (0.5 - 0.125 + 2 - 0.125 + 3 - 0.125),
      { rel: 1e-15, what: 'huber sum' },
    );
    // Huber is smooth: ½·mse for small errors, ~delta·mae for large ones.
    const small = f64([0.1, -0.2]);
    assertClose(losses.huber(small, f64([0, 0])), 0.5 * losses.mse(small, f64([0, 0])).item(), {
      rel: 1e-15,
      what: 'huber',
    });
  });

  test('huber gradient: d inside, ±delta outside', () => {
    const pred = tensor([0.5, 2, -3], { dtype: 'float64', requiresGrad: true });
    losses.huber(pred, f64([0, 0, 0]), { delta: 1, reduction: 'sum' }).backward();
    assert.deepEqual(Array.from(pred.grad!.data), [0.5, 1, -1]);
  });
});

describe('gradients match finite differences (float64)', () => {
  const rng = new random.RandomState(123);
  const rnd = (...shape: number[]) => rng.randn(...shape);
  const unit = (...shape: number[]) =>
    rng
      .rand(...shape)
      .mul(0.9)
      .add(0.05); // in (0.05, 0.95)
  const check = (name: string, fn: (...xs: Tensor[]) => Tensor, inputs: Tensor[]) => {
    const r = gradCheck(fn, inputs);
    assert.ok(r.ok, `${name}: ${JSON.stringify(r.inputs)}`);
  };

  for (const reduction of ['mean', 'sum', 'none'] as const) {
    test(`mse, mae, huber (${reduction})`, () => {
      check('mse', (a, b) => losses.mse(a, b, { reduction }), [rnd(4, 3), rnd(4, 3)]);
      check('mae', (a, b) => losses.mae(a, b, { reduction }), [rnd(4, 3), rnd(4, 3)]);
      check('huber', (a, b) => losses.huber(a, b, { reduction }), [rnd(4, 3).mul(2), rnd(4, 3)]);
      check('huber delta', (a, b) => losses.huber(a, b, { reduction, delta: 0.3 }), [rnd(4, 3), rnd(4, 3)]);
    });

    test(`bce, bceWithLogits (${reduction})`, () => {
      check('bce', (a, b) => losses.bce(a, b, { reduction }), [unit(5, 2), unit(5, 2)]);
      check('bceWithLogits', (a, b) => losses.bceWithLogits(a, b, { reduction }), [
        rnd(5, 2).mul(3),
        unit(5, 2),
      ]);
    });

    test(`crossEntropy, labels and probabilities (${reduction})`, () => {
      check('crossEntropy labels', (a) => losses.crossEntropy(a, [0, 3, 1, 1], { reduction }), [
        rnd(4, 4).mul(3),
      ]);
      const probs = rng.rand(4, 4);
      const target = probs.div(probs.sum(-1, { keepDims: true }));
      check('crossEntropy probs', (a, b) => losses.crossEntropy(a, b, { reduction }), [rnd(4, 4), target]);
    });
  }

  test('byName: every loss by name', () => {
    const x = unit(6, 1);
    const y = unit(6, 1);
    for (const [name, fn] of Object.entries(losses.byName)) {
      if (name === 'crossEntropy')
        check(name, (a, b) => fn(a, b), [
          rnd(3, 4),
          tensor(
            [
              [0, 1, 0, 0],
              [0.5, 0, 0, 0.5],
              [0, 0, 0, 1],
            ],
            { dtype: 'float64' },
          ),
        ]);
      else check(name, (a, b) => fn(a, b), [x, y]);
    }
  });
});

describe('the losses that run as one kernel op equal their composed form bit for bit', () => {
  const bits = (a: ArrayLike<number>) => Array.from(a, (v) => (Object.is(v, -0) ? '-0' : String(v)));
  /** Value and gradient of the prediction, the loss scaled by `upstream` before backward. */
  function run(loss: (p: Tensor, t: Tensor) => Tensor, pred: Tensor, target: Tensor, upstream: number) {
    const p = tensor(pred, { requiresGrad: true });
    const l = loss(p, target);
    l.mul(upstream).backward();
    return { value: bits(l.data), grad: bits(p.grad!.data), op: l._node?.op };
  }
  const sets = [
    { name: 'reference', kernels: referenceKernels },
    { name: 'wasm', kernels: wasm },
  ];
  for (const { name, kernels: k } of sets)
    for (const dtype of ['float32', 'float64'] as const)
      test(`${name} kernels, ${dtype}: mse, mseHalfSum, crossEntropy on labels`, () => {
        const saved = setKernels(k ?? referenceKernels);
        try {
          const rng = new random.RandomState(4);
          for (const [rows, cols, scale] of [
            [1, 1, 1],
            [7, 3, 1],
            [13, 11, 3],
            [70, 5, 30], // large logits: the max shift matters; wasm takes the long arrays
          ]) {
            const pred = rng.randn(rows, cols).mul(scale).to(dtype);
            const target = rng.randn(rows, cols).to(dtype);
            const labels = tensor(Array.from({ length: rows }, (_, i) => (i * 7) % cols));
            for (const upstream of [1, 0.37, 1 / 3, Math.PI / 1e3, -2.9]) {
              const cases: [
                string,
                Tensor,
                (p: Tensor, t: Tensor) => Tensor,
                (p: Tensor, t: Tensor) => Tensor,
              ][] = [
                ['mse', target, losses.mse, losses.composed.mse],
                ['mseHalfSum', target, losses.byName.mseHalfSum, losses.composed.mseHalfSum],
                ['crossEntropy', labels, (p, t) => losses.crossEntropy(p, t), losses.composed.crossEntropy],
              ];
              for (const [what, t, kernelForm, composedForm] of cases) {
                const a = run(kernelForm, pred, t, upstream);
                const b = run(composedForm, pred, t, upstream);
                // The comparison means something only if the first really is one kernel op.
                assert.equal(a.op, what, `${what} runs as one op`);
                assert.notEqual(b.op, what, `${what} composed`);
                assert.deepEqual(a.value, b.value, `${what} ${rows}×${cols} value`);
                assert.deepEqual(a.grad, b.grad, `${what} ${rows}×${cols} gradient (upstream ${upstream})`);
              }
            }
          }
        } finally {
          setKernels(saved);
        }
      });
});

describe('errors', () => {
  const a = f64([
    [1, 2, 3],
    [4, 5, 6],
  ]);
  const b = f64([
    [1, 2],
    [3, 4],
    [5, 6],
  ]);

  test('shape mismatches name the loss and both shapes', () => {
    for (const [name, fn] of [
      ['mse', losses.mse],
      ['mae', losses.mae],
      ['bce', losses.bce],
      ['bceWithLogits', losses.bceWithLogits],
      ['huber', losses.huber],
      ['crossEntropy', losses.crossEntropy],
    ] as const)
      assert.throws(
        () => fn(a, b),
        (e: Error) =>
          e.message.startsWith(`${name}:`) && e.message.includes('[2, 3]') && e.message.includes('[3, 2]'),
        name,
      );
  });

  test('a bad reduction is rejected by name', () => {
    assert.throws(
      () => losses.mse(a, a, { reduction: 'avg' as losses.Reduction }),
      /mse: reduction must be 'mean', 'sum' or 'none', got "avg"/,
    );
    assert.throws(
      () => losses.crossEntropy(a, [0, 1], { reduction: 'all' as losses.Reduction }),
      /crossEntropy: reduction/,
    );
  });

  test('bad arguments', () => {
    assert.throws(() => losses.huber(a, a, { delta: 0 }), /huber: delta must be positive, got 0/);
    assert.throws(() => losses.mse(a, [1, 2] as unknown as Tensor), /mse: expected two Tensors/);
    assert.throws(() => losses.crossEntropy(a, [0, 3]), /index 3 at row 1/);
    assert.throws(() => losses.crossEntropy(a, [0]), /1 indices for 2 rows/);
  });
});
