// Every op against central finite differences in float64 (gradCheck), against hand-computed and naive-loop
// values, against PyTorch's subgradient conventions, against PyTorch's float64 MLP gradients composed from
// primitives, and float32 against float64.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { assertClose } from './helpers/close.js';
import { fixture, type MlpCase } from './helpers/fixtures.js';
import { matmulTransposed } from '../src/ops.js';
import {
  Tensor,
  tensor,
  arange,
  gradCheck,
  random,
  add,
  sub,
  mul,
  div,
  neg,
  pow,
  exp,
  log,
  sqrt,
  abs,
  maximum,
  clamp,
  matmul,
  transpose,
  reshape,
  sum,
  mean,
  max,
  sigmoid,
  tanh,
  relu,
  leakyRelu,
  gelu,
  softplus,
  elu,
  silu,
  softmax,
  logSoftmax,
  logSumExp,
  pick,
  type NestedArray,
  type UnaryOp,
} from '../src/index.js';

// ---------------------------------------------------------------------------------------------------------
// Helpers.

/** Standard normal float64 samples from their own seeded stream. */
function randn(seed: number, shape: number[]): Tensor {
  return new random.RandomState(seed).randn(shape);
}

/** A float64 tensor with `f` applied to each element of `t`. */
function map(t: Tensor, f: (v: number) => number): Tensor {
  return new Tensor(Float64Array.from(t.data, f), t.shape);
}

/** Move every element at least `gap` away from each of `points` (keeps inputs off kinks and ties). */
function awayFrom(t: Tensor, points: number[], gap = 0.1): Tensor {
  return map(t, (v) => {
    for (const p of points) if (Math.abs(v - p) < gap) v = v >= p ? p + gap : p - gap;
    return v;
  });
}

/** Positive inputs (for log, sqrt, fractional powers, denominators): |x| + 0.5. */
const positive = (t: Tensor): Tensor => map(t, (v) => Math.abs(v) + 0.5);

/** Inputs bounded away from 0 on both sides: for denominators and reciprocal powers. */
const nonZero = (t: Tensor): Tensor => map(t, (v) => (v >= 0 ? v + 0.5 : v - 0.5));

/**
 * gradCheck must pass. The default tol is 50× tighter than gradCheck's own: central differences with
 * eps 1e-6 leave ~1e-10·|f| of rounding noise, and the worst case here measures 5e-9.
 */
function assertGrad(
  name: string,
  fn: (...xs: Tensor[]) => Tensor,
  inputs: Tensor[],
  tol = 2e-8,
  eps = 1e-6,
): void {
  const r = gradCheck(fn, inputs, { tol, eps });
  assert.ok(
    r.ok,
    `${name}: ${r.inputs.map((x, i) => `input ${i}: abs ${x.maxAbsError}, rel ${x.maxRelError} at ${x.worstIndex}`).join('; ')}`,
  );
}

/** The default here: hand-computed values agree to 1e-12, absolute or relative. */
const tol12 = { rel: 1e-12, abs: 1e-12 };

const f64 = (x: NestedArray, requiresGrad = false): Tensor => tensor(x, { dtype: 'float64', requiresGrad });

/** Gradient of sum(w ⊙ fn(x)) with respect to x, for hand-checked subgradients. */
function gradOf(fn: (x: Tensor) => Tensor, x: NestedArray, upstream?: NestedArray): Tensor {
  const t = f64(x, true);
  const y = fn(t);
  if (upstream === undefined) y.sum().backward();
  else y.backward(f64(upstream));
  assert.ok(t.grad);
  return t.grad;
}

/** numpy's broadcasting by naive index arithmetic: the oracle for broadcast forward values. */
function naiveBroadcast(a: Tensor, b: Tensor, f: (x: number, y: number) => number): Tensor {
  const nd = Math.max(a.ndim, b.ndim);
  const pa = [...Array(nd - a.ndim).fill(1), ...a.shape];
  const pb = [...Array(nd - b.ndim).fill(1), ...b.shape];
  const shape = pa.map((d, i) => Math.max(d, pb[i]));
  const size = shape.reduce((p, d) => p * d, 1);
  const out = new Float64Array(size);
  const flatIndex = (idx: number[], s: number[]) =>
    idx.reduce((acc, v, i) => acc * s[i] + (s[i] === 1 ? 0 : v), 0);
  for (let o = 0; o < size; o++) {
    const idx: number[] = [];
    let r = o;
    for (let d = nd - 1; d >= 0; d--) {
      idx[d] = r % shape[d];
      r = Math.floor(r / shape[d]);
    }
    out[o] = f(a.data[flatIndex(idx, pa)], b.data[flatIndex(idx, pb)]);
  }
  return new Tensor(out, shape);
}

// ---------------------------------------------------------------------------------------------------------
// gradCheck: every op, float64, central differences.

describe('gradCheck itself', () => {
  test('passes a right gradient and reports a wrong one', () => {
    const x = randn(1, [2, 3]);
    const before = [...x.data];
    const good = gradCheck((t) => t.mul(t), [x]);
    assert.ok(good.ok);
    assert.ok(good.inputs[0].maxAbsError < 1e-8);
    // x · stop_gradient(x) has the value of x² but half its gradient.
    const bad = gradCheck((t) => t.mul(t.detach()), [x]);
    assert.equal(bad.ok, false);
    assert.equal(bad.inputs[0].ok, false);
    assert.ok(bad.inputs[0].maxRelError > 0.4 && bad.inputs[0].worstIndex >= 0);
    assert.deepEqual([...x.data], before, 'inputs are not modified');
  });

  test('checks each input separately and accepts float32 inputs', () => {
    const a = tensor([1, 2, 3]);
    const b = tensor([0.5, -1, 2]);
    const r = gradCheck((p, q) => p.mul(q.detach()).add(q), [a, b]);
    assert.deepEqual(
      r.inputs.map((i) => i.ok),
      [true, false],
    );
  });
});

const BROADCAST_PAIRS: [number[], number[]][] = [
  [
    [3, 4],
    [3, 4],
  ],
  [[3, 4], [4]],
  [
    [3, 1],
    [1, 4],
  ],
  [
    [2, 3, 4],
    [3, 1],
  ],
  [[], [2, 3]],
  [[2, 3], [1]],
];

describe('gradCheck: binary ops with broadcasting (both operand orders)', () => {
  const cases: [string, (a: Tensor, b: Tensor) => Tensor, (b: Tensor) => Tensor][] = [
    ['add', add, (b) => b],
    ['sub', sub, (b) => b],
    ['mul', mul, (b) => b],
    ['div', div, nonZero],
    ['maximum', maximum, (b) => b],
  ];
  for (const [name, fn, prepB] of cases) {
    let seed = 100;
    for (const [sa, sb] of BROADCAST_PAIRS)
      for (const [x, y] of [
        [sa, sb],
        [sb, sa],
      ]) {
        const s = seed++;
        test(`${name} ${JSON.stringify(x)} with ${JSON.stringify(y)}`, () => {
          assertGrad(name, fn, [randn(s, x), prepB(randn(s + 1000, y))]);
        });
      }
  }

  test('a value used on both sides: x·x, x + x, x − x, x / x, maximum(x, x·0.5)', () => {
    const x = nonZero(randn(7, [3, 4]));
    assertGrad('x*x', (a) => mul(a, a), [x]);
    assertGrad('x+x', (a) => add(a, a), [x]);
    assertGrad('x-x', (a) => sub(a, a), [x]);
    assertGrad('x/x', (a) => div(a, a), [x]);
    assertGrad('maximum(x, x/2)', (a) => maximum(a, mul(a, 0.5)), [x]);
  });

  test('mixed requiresGrad: only one operand is differentiated', () => {
    const c = randn(8, [4]);
    assertGrad('mul const', (a) => mul(a, c), [randn(9, [3, 4])]);
    assertGrad('div const num', (b) => div(c, b), [nonZero(randn(10, [3, 4]))]);
    assertGrad('div const den', (a) => div(a, nonZero(c)), [randn(11, [3, 4])]);
  });
});

describe('gradCheck: scalar operands', () => {
  const a = nonZero(randn(20, [3, 4]));
  test('maximum with a number', () => {
    assertGrad('maximum(a, 0.3)', (x) => maximum(x, 0.3), [awayFrom(a, [0.3])]);
    assertGrad('a.maximum(-0.2)', (x) => x.maximum(-0.2), [awayFrom(a, [-0.2])]);
  });
});

describe('gradCheck: elementwise unary ops', () => {
  const x = randn(30, [3, 5]);
  const off0 = awayFrom(x, [0]);
  /**
   * Every unary kernel op through the public ops that reach it, typed over the ops: a new op does not
   * compile until it has its gradient checks here.
   */
  const cases: { [K in UnaryOp]: [string, (t: Tensor) => Tensor, Tensor][] } = {
    neg: [['neg', neg, x]],
    exp: [['exp', exp, x]],
    log: [['log', log, positive(x)]],
    sqrt: [['sqrt', sqrt, positive(x)]],
    abs: [['abs', abs, off0]],
    pow: [
      ['pow 2', (t) => pow(t, 2), x],
      ['pow 3', (t) => pow(t, 3), x],
      ['pow 0.5', (t) => pow(t, 0.5), positive(x)],
      ['pow 1.5', (t) => pow(t, 1.5), positive(x)],
      ['pow -1', (t) => pow(t, -1), nonZero(x)],
      ['pow -2', (t) => pow(t, -2), nonZero(x)],
      ['pow 0', (t) => pow(t, 0), x],
      ['pow 1', (t) => pow(t, 1), x],
    ],
    clamp: [
      ['clamp min', (t) => clamp(t, -0.3), awayFrom(x, [-0.3])],
      ['clamp max', (t) => clamp(t, undefined, 0.4), awayFrom(x, [0.4])],
      ['clamp both', (t) => clamp(t, -0.3, 0.4), awayFrom(x, [-0.3, 0.4])],
    ],
    addScalar: [
      ['a.add(2)', (t) => t.add(2), x],
      ['a.sub(2)', (t) => t.sub(2), x],
    ],
    mulScalar: [['a.mul(3)', (t) => t.mul(3), x]],
    divScalar: [['a.div(3)', (t) => t.div(3), x]],
    rsubScalar: [['3 - a', (t) => sub(3, t), x]],
    rdivScalar: [['2 / a', (t) => div(2, t), nonZero(x)]],
    sigmoid: [['sigmoid', sigmoid, x]],
    tanh: [['tanh', tanh, x]],
    relu: [['relu', relu, off0]],
    leakyRelu: [
      ['leakyRelu', leakyRelu, off0],
      ['leakyRelu 0.2', (t) => leakyRelu(t, 0.2), off0],
    ],
    gelu: [['gelu', gelu, x]],
    softplus: [
      ['softplus', softplus, x],
      ['softplus wide', softplus, map(x, (v) => v * 15)],
    ],
    elu: [
      ['elu', elu, off0],
      ['elu 0.5', (t) => elu(t, 0.5), off0],
    ],
    silu: [
      ['silu', silu, x],
      ['silu wide', silu, map(x, (v) => v * 15)],
    ],
  };
  for (const [name, fn, input] of Object.values(cases).flat())
    test(name, () => assertGrad(name, fn, [input]));

  test('method forms agree with the functions', () => {
    assertGrad('methods', (t) => t.abs().sqrt().exp().log().neg().pow(3).tanh().sigmoid(), [off0]);
    assertGrad(
      'methods 2',
      (t) => t.relu().add(t.leakyRelu(0.1)).add(t.gelu()).add(t.softplus()).add(t.elu(0.5)).add(t.silu()),
      [off0],
    );
    assertGrad('clamp method', (t) => t.clamp(-0.3, 0.4), [awayFrom(x, [-0.3, 0.4])]);
  });
});

describe('gradCheck: matmul', () => {
  const cases: [number[], number[]][] = [
    [
      [3, 4],
      [4, 5],
    ],
    [[4], [4, 5]],
    [[3, 4], [4]],
    [[4], [4]],
    [
      [2, 3, 4],
      [2, 4, 5],
    ],
    [
      [3, 4],
      [2, 4, 5],
    ],
    [
      [2, 3, 4],
      [4, 5],
    ],
    [
      [2, 1, 3, 4],
      [5, 4, 2],
    ],
    [[4], [2, 4, 5]],
    [[2, 3, 4], [4]],
    [
      [1, 3, 4],
      [2, 4, 1],
    ],
  ];
  let seed = 40;
  for (const [sa, sb] of cases) {
    const s = seed++;
    test(`${JSON.stringify(sa)} @ ${JSON.stringify(sb)}`, () => {
      assertGrad('matmul', matmul, [randn(s, sa), randn(s + 500, sb)]);
    });
  }
  test('a @ a, a.T @ a (one input on both sides)', () => {
    assertGrad('a@a', (a) => a.matmul(a), [randn(60, [3, 3])]);
    assertGrad('aT@a', (a) => a.T.matmul(a), [randn(61, [3, 4])]);
  });
});

describe('matmulTransposed: matmul(a, transpose(b)) without the copy', () => {
  const cases: [number[], number[]][] = [
    [
      [3, 4],
      [5, 4],
    ],
    [[4], [5, 4]],
    [
      [2, 3, 4],
      [2, 5, 4],
    ],
    [
      [2, 1, 3, 4],
      [5, 2, 4],
    ],
    [
      [3, 4],
      [2, 5, 4],
    ],
  ];
  let seed = 70;
  for (const [sa, sb] of cases) {
    const s = seed++;
    test(`${JSON.stringify(sa)} @ ${JSON.stringify(sb)}ᵀ: gradCheck, and the composed form's bits`, () => {
      const swapLast = (t: Tensor) => {
        const perm = t.shape.map((_, i) => i);
        [perm[t.ndim - 2], perm[t.ndim - 1]] = [perm[t.ndim - 1], perm[t.ndim - 2]];
        return transpose(t, perm);
      };
      assertGrad('matmulTransposed', matmulTransposed, [randn(s, sa), randn(s + 500, sb)]);
      const run = (f: (a: Tensor, b: Tensor) => Tensor) => {
        const a = new Tensor(randn(s, sa).data, sa, true);
        const b = new Tensor(randn(s + 500, sb).data, sb, true);
        const y = f(a, b);
        y.backward(randn(s + 900, [...y.shape]));
        return [y.data, a.grad!.data, b.grad!.data];
      };
      const got = run(matmulTransposed);
      const want = run((a, b) => matmul(a, swapLast(b)));
      for (let i = 0; i < 3; i++) assert.deepEqual(got[i], want[i], ['value', 'dA', 'dB'][i]);
    });
  }
  test('names the shapes when the inner sizes differ', () => {
    assert.throws(
      () => matmulTransposed(randn(1, [3, 4]), randn(2, [4, 5])),
      /matmulTransposed: \[3, 4\] @ \[4, 5\]/,
    );
  });
});

describe('gradCheck: shape ops', () => {
  const x = randn(70, [2, 3, 4]);
  test('transpose: default, explicit, negative axes', () => {
    assertGrad('T', (t) => transpose(t), [x]);
    assertGrad('[1,0,2]', (t) => transpose(t, [1, 0, 2]), [x]);
    assertGrad('[2,0,1]', (t) => transpose(t, [2, 0, 1]), [x]);
    assertGrad('[-1,0,1]', (t) => t.transpose([-1, 0, 1]), [x]);
    assertGrad('2-D .T', (t) => t.T, [randn(71, [3, 5])]);
  });
  test('reshape, with -1', () => {
    assertGrad('[4,-1]', (t) => reshape(t, [4, -1]), [x]);
    assertGrad('[-1]', (t) => t.reshape(-1), [x]);
    assertGrad('[6,4] then transpose', (t) => t.reshape(6, 4).T.reshape([2, 2, 6]), [x]);
  });
});

describe('gradCheck: reductions', () => {
  const x = randn(80, [2, 3, 4]);
  const axesCases: (number | number[] | undefined)[] = [
    0,
    1,
    2,
    -1,
    -3,
    [0, 2],
    [-1, 0],
    [1, 2],
    [0, 1, 2],
    undefined,
  ];
  for (const [name, fn] of [
    ['sum', sum],
    ['mean', mean],
    ['max', max],
  ] as const)
    for (const axis of axesCases)
      for (const keepDims of [false, true])
        test(`${name} axis ${JSON.stringify(axis)} keepDims ${keepDims}`, () => {
          assertGrad(name, (t) => fn(t, axis, { keepDims }), [x]);
        });
  test('method forms', () => {
    assertGrad('sum', (t) => t.sum(1).mean(-1, { keepDims: true }).max(), [x]);
  });
});

describe('gradCheck: softmax family and pick', () => {
  const x = randn(90, [2, 3, 4]);
  for (const axis of [0, 1, 2, -1]) {
    test(`softmax, logSoftmax, logSumExp axis ${axis}`, () => {
      assertGrad('softmax', (t) => softmax(t, axis), [x]);
      assertGrad('logSoftmax', (t) => logSoftmax(t, axis), [x]);
      assertGrad('logSumExp', (t) => logSumExp(t, axis), [x]);
      assertGrad('logSumExp keepDims', (t) => logSumExp(t, axis, { keepDims: true }), [x]);
    });
  }
  test('default axis is the last', () => {
    assertGrad('softmax', (t) => t.softmax(), [x]);
    assertGrad('logSoftmax', (t) => t.logSoftmax(), [x]);
    assertGrad('logSumExp', (t) => t.logSumExp(), [x]);
  });
  test('logSoftmax on large logits', () => {
    assertGrad('logSoftmax big', (t) => logSoftmax(t), [map(randn(91, [3, 5]), (v) => 300 * v)], 1e-6);
  });
  test('pick', () => {
    assertGrad('pick 2-D', (t) => pick(t, [0, 3, 4, 1]), [randn(92, [4, 5])]);
    assertGrad('pick 3-D', (t) => t.pick([3, 0, 1, 2, 2, 0]), [x]);
    assertGrad('pick 1-D', (t) => pick(t, [2]), [randn(93, [4])]);
    assertGrad('pick repeats', (t) => pick(t, tensor([1, 1, 1])), [randn(94, [3, 2])]);
    assertGrad('cross-entropy', (t) => logSoftmax(t).pick([0, 3, 4, 1]).mean().neg(), [randn(95, [4, 5])]);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Forward values.

describe('forward values', () => {
  const A = f64([
    [1, 2, 3],
    [4, 5, 6],
  ]);

  test('binary ops broadcast like numpy', () => {
    assertClose(
      add(A, f64([10, 20, 30])),
      [
        [11, 22, 33],
        [14, 25, 36],
      ],
      tol12,
    );
    assertClose(
      sub(f64([[1], [2], [3]]), f64([[10, 20]])),
      [
        [-9, -19],
        [-8, -18],
        [-7, -17],
      ],
      tol12,
    );
    assertClose(
      mul(f64(2), A),
      [
        [2, 4, 6],
        [8, 10, 12],
      ],
      tol12,
    );
    assertClose(
      div(A, f64([[1], [2]])),
      [
        [1, 2, 3],
        [2, 2.5, 3],
      ],
      tol12,
    );
    assertClose(
      maximum(A, f64([3, 1, 7])),
      [
        [3, 2, 7],
        [4, 5, 7],
      ],
      tol12,
    );
    const ops: [string, (a: Tensor, b: Tensor) => Tensor, (x: number, y: number) => number][] = [
      ['add', add, (x, y) => x + y],
      ['sub', sub, (x, y) => x - y],
      ['mul', mul, (x, y) => x * y],
      ['div', div, (x, y) => x / y],
      ['maximum', maximum, (x, y) => Math.max(x, y)],
    ];
    const shapes: [number[], number[]][] = [
      ...BROADCAST_PAIRS,
      [
        [2, 1, 4],
        [3, 1],
      ],
      [
        [4, 1, 3],
        [2, 1],
      ],
      [
        [1, 1],
        [2, 3, 1],
      ],
    ];
    let s = 200;
    for (const [name, f, ref] of ops)
      for (const [sa, sb] of shapes)
        for (const [x, y] of [
          [sa, sb],
          [sb, sa],
        ]) {
          const a = randn(s++, x);
          const b = nonZero(randn(s++, y));
          const want = naiveBroadcast(a, b, ref);
          assertClose(f(a, b), want.toArray(), { what: `${name} ${JSON.stringify(x)} ${JSON.stringify(y)}` });
        }
  });

  test('scalar forms', () => {
    const a = f64([1, 2, 4]);
    assertClose(a.add(2), [3, 4, 6], tol12);
    assertClose(a.sub(2), [-1, 0, 2], tol12);
    assertClose(sub(3, a), [2, 1, -1], tol12);
    assertClose(a.mul(3), [3, 6, 12], tol12);
    assertClose(div(2, a), [2, 1, 0.5], tol12);
    assertClose(a.div(4), [0.25, 0.5, 1], tol12);
    // x / 3 rounds once, unlike x · (1/3).
    assertClose(f64([1, 10]).div(3), [1 / 3, 10 / 3]);
    assertClose(maximum(a, 2.5), [2.5, 2.5, 4], tol12);
  });

  test('elementwise unary values', () => {
    assertClose(neg(f64([1, -2, 0])), [-1, 2, -0], tol12);
    assertClose(exp(f64([0, 1])), [1, Math.E], tol12);
    assertClose(log(f64([1, Math.E, 0])), [0, 1, -Infinity], tol12);
    assertClose(sqrt(f64([4, 2, 0])), [2, Math.SQRT2, 0], tol12);
    assertClose(abs(f64([-3, 0, 2])), [3, 0, 2], tol12);
    assertClose(pow(f64([2, 3, -2]), 2), [4, 9, 4], tol12);
    assertClose(pow(f64([2, -2]), 3), [8, -8], tol12);
    assertClose(pow(f64([4, 9]), 0.5), [2, 3], tol12);
    assertClose(pow(f64([4, -0.5]), -1), [0.25, -2], tol12);
    assertClose(pow(f64([0, 5]), 0), [1, 1], tol12);
    assertClose(clamp(f64([-2, -0.5, 0, 0.5, 2]), -1, 1), [-1, -0.5, 0, 0.5, 1], tol12);
    assertClose(clamp(f64([-2, 2]), 0), [0, 2], tol12);
    assertClose(clamp(f64([-2, 2]), undefined, 0), [-2, 0], tol12);
    assertClose(sigmoid(f64([0, 1000, -1000, 2])), [0.5, 1, 0, 1 / (1 + Math.exp(-2))], tol12);
    assertClose(tanh(f64([0, 1, -1000])), [0, Math.tanh(1), -1], tol12);
    assertClose(relu(f64([-1, 0, 2])), [0, 0, 2], tol12);
    assertClose(leakyRelu(f64([-1, 0, 2])), [-0.01, 0, 2], tol12);
    assertClose(leakyRelu(f64([-1, 2]), 0.2), [-0.2, 2], tol12);
    assertClose(elu(f64([-1, 0, 2])), [Math.expm1(-1), 0, 2], tol12);
    assertClose(elu(f64([-1, -1000]), 0.5), [0.5 * Math.expm1(-1), -0.5], tol12);
  });

  test('gelu at known points', () => {
    assertClose(gelu(f64([1, 0, -1, 2])), [0.8413447460685429, 0, -0.15865525393145705, 1.9544997361036416], {
      rel: 2e-16,
      abs: 2e-16,
    });
    // Far tails, to relative accuracy: x itself above, a tiny negative number (not −0) below.
    const tails = f64([10, -5, -10, 40, -40]);
    assertClose(gelu(tails), [10, -1.4332578593959695e-6, -7.619853024160526e-23, 40, 0], {
      rel: 1e-13,
      what: 'gelu at 10, -5, -10, 40, -40',
    });
    assertClose(gradOf(gelu, tails.toArray()), [1, -7.146946001792295e-6, -7.618400096464814e-22, 1, 0], {
      rel: 1e-13,
      what: "gelu' at 10, -5, -10, 40, -40",
    });
    assertClose(gradOf(gelu, [0, 1]), [0.5, 1.0833154705876864], { rel: 2e-16, abs: 2e-16 });
  });

  test('softplus is exact in both tails', () => {
    assertClose(softplus(f64([0, 1, -1])), [Math.LN2, Math.log1p(Math.E), Math.log1p(Math.exp(-1))], {
      rel: 2e-16,
      abs: 2e-16,
    });
    // log(1 + e⁻⁵⁰) would round to 0; log1p keeps it.
    assertClose(
      softplus(f64([-50, 50, 1000, -1000, 30])),
      [1.9287498479639178e-22, 50, 1000, 0, 30.000000000000092],
      { rel: 1e-15, abs: 1e-15 },
    );
    const g = gradOf(softplus, [-1000, 1000, -50, 0]);
    assertClose(g, [0, 1, 1.9287498479639178e-22, 0.5], { rel: 1e-15, abs: 1e-15 });
  });

  test('matmul values', () => {
    const B = f64([
      [5, 6],
      [7, 8],
    ]);
    const M = f64([
      [1, 2],
      [3, 4],
    ]);
    assertClose(
      matmul(M, B),
      [
        [19, 22],
        [43, 50],
      ],
      tol12,
    );
    assertClose(matmul(f64([1, 2]), B), [19, 22], tol12);
    assertClose(matmul(M, f64([5, 6])), [17, 39], tol12);
    assertClose(matmul(f64([1, 2, 3]), f64([4, 5, 6])), 32, tol12);
    assertClose(
      A.matmul(A.T),
      [
        [14, 32],
        [32, 77],
      ],
      tol12,
    );
  });

  test('batched matmul equals a naive loop, broadcast batches included', () => {
    const naive = (a: Tensor, b: Tensor): NestedArray => {
      // Only for a.ndim, b.ndim >= 2: broadcast the batch by index arithmetic, then one product per batch.
      const [m, k] = a.shape.slice(-2);
      const n = b.shape[b.ndim - 1];
      const aB = a.shape.slice(0, -2);
      const bB = b.shape.slice(0, -2);
      const nd = Math.max(aB.length, bB.length);
      const pa = [...Array(nd - aB.length).fill(1), ...aB];
      const pb = [...Array(nd - bB.length).fill(1), ...bB];
      const batch = pa.map((d, i) => Math.max(d, pb[i]));
      const build = (prefix: number[]): NestedArray => {
        if (prefix.length < nd)
          return [...Array(batch[prefix.length]).keys()].map((i) => build([...prefix, i]));
        const off = (p: number[]) => prefix.reduce((acc, v, i) => acc * p[i] + (p[i] === 1 ? 0 : v), 0);
        const ao = off(pa) * m * k;
        const bo = off(pb) * k * n;
        return [...Array(m).keys()].map((i) =>
          [...Array(n).keys()].map((j) => {
            let s = 0;
            for (let p = 0; p < k; p++) s += a.data[ao + i * k + p] * b.data[bo + p * n + j];
            return s;
          }),
        );
      };
      return build([]);
    };
    const cases: [number[], number[]][] = [
      [
        [2, 3, 4],
        [2, 4, 5],
      ],
      [
        [3, 4],
        [2, 4, 5],
      ],
      [
        [2, 1, 3, 4],
        [5, 4, 2],
      ],
      [
        [1, 3, 4],
        [2, 4, 1],
      ],
    ];
    let s = 300;
    for (const [sa, sb] of cases) {
      const a = randn(s++, sa);
      const b = randn(s++, sb);
      assertClose(matmul(a, b), naive(a, b), {
        rel: 1e-14,
        abs: 1e-14,
        what: `${JSON.stringify(sa)} @ ${JSON.stringify(sb)}`,
      });
    }
    // 1-D operands drop their axis.
    const v = f64([1, 2]);
    const bm = f64([
      [
        [1, 0],
        [0, 1],
      ],
      [
        [2, 3],
        [4, 5],
      ],
    ]);
    assertClose(
      matmul(v, bm),
      [
        [1, 2],
        [10, 13],
      ],
      tol12,
    );
    assertClose(
      matmul(bm, v),
      [
        [1, 2],
        [8, 14],
      ],
      tol12,
    );
  });

  test('matmul propagates NaN and Infinity like numpy (0 · ∞ = NaN)', () => {
    const r = matmul(f64([[0, 1]]), f64([[Infinity], [1]]));
    assert.ok(Number.isNaN(r.item()), `got ${r.item()}`);
    const r2 = matmul(f64([[0, 0]]), f64([[NaN], [1]]));
    assert.ok(Number.isNaN(r2.item()), `got ${r2.item()}`);
    // Per batch: only the batch whose B holds the ∞ turns NaN.
    const rb = matmul(
      f64([[[0, 1]], [[0, 1]]]),
      f64([
        [[1], [2]],
        [[Infinity], [2]],
      ]),
    );
    assert.equal(rb.data[0], 2);
    assert.ok(Number.isNaN(rb.data[1]));
    // Through the transposed-A kernel (dB = Aᵀ·G) as well: a NaN upstream gradient reaches the weights.
    const w = f64([[1], [2]], true);
    matmul(f64([[0, 0]]), w).backward(NaN);
    assert.ok(w.grad && Number.isNaN(w.grad.data[0]), `grad ${w.grad?.toArray()}`);
  });

  test('transposes of 3-D', () => {
    const x = arange(24, undefined, 1, { dtype: 'float64' }).reshape(2, 3, 4);
    const at = (i: number, j: number, k: number) => i * 12 + j * 4 + k;
    const check = (t: Tensor, shape: number[], src: (o: number[]) => number) => {
      assert.deepEqual([...t.shape], shape);
      let o = 0;
      for (let a = 0; a < shape[0]; a++)
        for (let b = 0; b < shape[1]; b++)
          for (let c = 0; c < shape[2]; c++) assert.equal(t.data[o++], src([a, b, c]));
    };
    check(x.transpose(), [4, 3, 2], ([k, j, i]) => at(i, j, k));
    check(x.T, [4, 3, 2], ([k, j, i]) => at(i, j, k));
    check(x.transpose([1, 0, 2]), [3, 2, 4], ([j, i, k]) => at(i, j, k));
    check(x.transpose([2, 0, 1]), [4, 2, 3], ([k, i, j]) => at(i, j, k));
    check(x.transpose([0, -1, 1]), [2, 4, 3], ([i, k, j]) => at(i, j, k));
    assertClose(
      f64([
        [1, 2, 3],
        [4, 5, 6],
      ]).T,
      [
        [1, 4],
        [2, 5],
        [3, 6],
      ],
      tol12,
    );
    assertClose(f64([1, 2, 3]).T, [1, 2, 3], tol12);
  });

  test('transpose of a scalar is itself', () => {
    assertClose(f64(5).transpose(), 5, tol12);
    assertClose(f64(5).T, 5, tol12);
    const g = gradOf((t) => t.T.mul(3), 2);
    assertClose(g, 3, tol12);
  });

  test('reductions', () => {
    assertClose(A.sum(), 21, tol12);
    assertClose(A.sum(0), [5, 7, 9], tol12);
    assertClose(A.sum(1), [6, 15], tol12);
    assertClose(A.sum(-1, { keepDims: true }), [[6], [15]], tol12);
    assertClose(A.sum([0, 1]), 21, tol12);
    assertClose(A.sum([0, 1], { keepDims: true }), [[21]], tol12);
    assertClose(A.mean(), 3.5, tol12);
    assertClose(A.mean(0), [2.5, 3.5, 4.5], tol12);
    assertClose(A.mean(1, { keepDims: true }), [[2], [5]], tol12);
    assertClose(A.max(), 6, tol12);
    assertClose(A.max(0), [4, 5, 6], tol12);
    assertClose(A.max(-1), [3, 6], tol12);
    assertClose(f64([[-5, -2, -9]]).max(1), [-2], tol12);
    const x = arange(24, undefined, 1, { dtype: 'float64' }).reshape(2, 3, 4);
    assertClose(
      x.sum(1),
      [
        [12, 15, 18, 21],
        [48, 51, 54, 57],
      ],
      tol12,
    );
    assertClose(x.sum([0, 2]), [60, 92, 124], tol12);
    assertClose(x.max([0, 1], { keepDims: true }), [[[20, 21, 22, 23]]], tol12);
    assertClose(x.mean([-1, 0]), [7.5, 11.5, 15.5], tol12);
    assertClose(
      x.max(0),
      [
        [12, 13, 14, 15],
        [16, 17, 18, 19],
        [20, 21, 22, 23],
      ],
      tol12,
    );
    // NaN wins a max, as numpy and PyTorch.
    assert.ok(Number.isNaN(f64([1, NaN, 3]).max().item()));
    assert.ok(
      Number.isNaN(
        f64([[1, NaN, 3]])
          .max(1)
          .item(),
      ),
    );
    assert.ok(
      Number.isNaN(
        f64([[1], [NaN], [3]])
          .max(0)
          .item(),
      ),
    );
  });

  test('logSumExp, logSoftmax and softmax stay finite for huge logits', () => {
    const big = f64([
      [1000, -1000],
      [-1000, -1000],
      [1000, 1000],
    ]);
    assertClose(logSumExp(big), [1000, -1000 + Math.LN2, 1000 + Math.LN2], { rel: 1e-15, abs: 1e-15 });
    assertClose(logSumExp(big, -1, { keepDims: true }), [[1000], [-1000 + Math.LN2], [1000 + Math.LN2]], {
      rel: 1e-15,
      abs: 1e-15,
    });
    assertClose(
      logSoftmax(big),
      [
        [0, -2000],
        [-Math.LN2, -Math.LN2],
        [-Math.LN2, -Math.LN2],
      ],
      tol12,
    );
    assertClose(
      softmax(big),
      [
        [1, 0],
        [0.5, 0.5],
        [0.5, 0.5],
      ],
      tol12,
    );
    assertClose(logSumExp(big, 0), [1000 + Math.LN2, 1000], { rel: 1e-15, abs: 1e-15 });
    // The gradient of logSumExp is softmax, with nothing overflowing.
    assertClose(
      gradOf((t) => logSumExp(t), [[1000, -1000]]),
      [[1, 0]],
      tol12,
    );
    // A row of −∞ stays −∞ (no NaN from −∞ − (−∞)).
    assertClose(logSumExp(f64([-Infinity, -Infinity])), -Infinity, tol12);
    // −∞ masks an entry: probability 0, and a finite gradient everywhere.
    assertClose(softmax(f64([0, -Infinity, 0])), [0.5, 0, 0.5], tol12);
    assertClose(
      gradOf((t) => softmax(t).mul(f64([1, 2, 3])), [0, -Infinity, 0]),
      [-0.5, 0, 0.5],
      tol12,
    );
    // softmax of small logits against the definition.
    const e = [Math.exp(1), Math.exp(2), Math.exp(3)];
    const z = e[0] + e[1] + e[2];
    assertClose(softmax(f64([1, 2, 3])), [e[0] / z, e[1] / z, e[2] / z], { rel: 1e-15, abs: 1e-15 });
    assertClose(softmax(f64([[1], [2]]), 0), [[1 / (1 + Math.E)], [Math.E / (1 + Math.E)]], {
      rel: 1e-15,
      abs: 1e-15,
    });
  });

  test('pick', () => {
    const x = f64([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    assertClose(pick(x, [2, 0]), [3, 4], tol12);
    assertClose(x.pick(tensor([1, 1])), [2, 5], tol12);
    assertClose(
      gradOf(
        (t) => t.pick([2, 0]),
        [
          [1, 2, 3],
          [4, 5, 6],
        ],
        [10, 20],
      ),
      [
        [0, 0, 10],
        [20, 0, 0],
      ],
      tol12,
    );
  });
});

// ---------------------------------------------------------------------------------------------------------
// PyTorch's subgradient conventions at kinks and ties.

describe('subgradients at kinks follow PyTorch', () => {
  test("relu'(0) = 0", () => assertClose(gradOf(relu, [-1, 0, 2]), [0, 0, 1], tol12));
  test("abs'(0) = 0", () => assertClose(gradOf(abs, [-1, 0, 2]), [-1, 0, 1], tol12));
  test("leakyRelu'(0) = slope", () =>
    assertClose(
      gradOf((t) => leakyRelu(t, 0.1), [-1, 0, 2]),
      [0.1, 0.1, 1],
      tol12,
    ));
  test("elu'(0) = alpha", () => {
    assertClose(gradOf(elu, [0, 1]), [1, 1], tol12);
    assertClose(
      gradOf((t) => elu(t, 0.5), [0, -1, 1]),
      [0.5, 0.5 * Math.exp(-1), 1],
      tol12,
    );
  });
  test('clamp: the bounds pass the gradient', () => {
    assertClose(
      gradOf((t) => clamp(t, 0, 1), [-1, 0, 0.5, 1, 2]),
      [0, 1, 1, 1, 0],
      tol12,
    );
    assertClose(
      gradOf((t) => clamp(t, 0), [-1, 0, 2]),
      [0, 1, 1],
      tol12,
    );
    assertClose(
      gradOf((t) => clamp(t, undefined, 1), [-1, 1, 2]),
      [1, 1, 0],
      tol12,
    );
  });
  test('maximum: ties split 0.5 / 0.5', () => {
    const a = f64([1, 2, 3], true);
    const b = f64([1, 1, 5], true);
    maximum(a, b).sum().backward();
    assertClose(a.grad!, [0.5, 1, 0], tol12);
    assertClose(b.grad!, [0.5, 0, 1], tol12);
    // Broadcast b collects the shares from every row.
    const c = f64([[2], [3]], true);
    const d = f64([2, 3, 1], true);
    maximum(c, d).sum().backward();
    assertClose(c.grad!, [[1.5], [2.5]], tol12);
    assertClose(d.grad!, [0.5, 1.5, 0], tol12);
    // A scalar operand: the tie at 0 splits too.
    assertClose(
      gradOf((t) => maximum(t, 0), [-1, 0, 2]),
      [0, 0.5, 1],
      tol12,
    );
  });
  test('max over ties splits the gradient evenly', () => {
    assertClose(
      gradOf((t) => t.max(), [1, 3, 3]),
      [0, 0.5, 0.5],
      tol12,
    );
    assertClose(
      gradOf(
        (t) => t.max(1),
        [
          [2, 2, 2, 1],
          [0, 4, 1, 4],
        ],
        [6, 2],
      ),
      [
        [2, 2, 2, 0],
        [0, 1, 0, 1],
      ],
      tol12,
    );
    assertClose(
      gradOf(
        (t) => t.max(0),
        [
          [2, 1],
          [2, 3],
        ],
      ),
      [
        [0.5, 0],
        [0.5, 1],
      ],
      tol12,
    );
  });
  test("sqrt'(0) and log'(0) are infinite, pow(x, 0)' = 0", () => {
    assertClose(gradOf(sqrt, [0]), [Infinity], tol12);
    assertClose(gradOf(log, [0]), [Infinity], tol12);
    assertClose(
      gradOf((t) => pow(t, 0), [0, 3]),
      [0, 0],
      tol12,
    );
  });
});

// ---------------------------------------------------------------------------------------------------------
// PyTorch float64 MLP gradients (test/fixtures/mlp-gradients.json), composed here from primitives only.

describe('MLPs composed from ops match PyTorch float64', () => {
  const act: Record<string, (t: Tensor) => Tensor> = {
    identity: (t) => t,
    sigmoid,
    tanh,
    relu,
    leakyRelu: (t) => leakyRelu(t, 0.01),
    gelu,
    softplus,
    elu: (t) => elu(t, 1),
  };
  const lossOf: Record<string, (o: Tensor, y: MlpCase['y']) => Tensor> = {
    mseHalfSum: (o, y) => o.sub(f64(y)).pow(2).sum().mul(0.5),
    mse: (o, y) => o.sub(f64(y)).pow(2).mean(),
    bce: (o, y) => {
      const t = f64(y);
      return t
        .mul(o.log())
        .add(sub(1, t).mul(sub(1, o).log()))
        .mean()
        .neg();
    },
    crossEntropy: (o, y) =>
      logSoftmax(o)
        .pick(y as number[])
        .mean()
        .neg(),
    huber: (o, y) => {
      const d = o.sub(f64(y)).abs();
      const c = d.clamp(undefined, 1);
      return c.pow(2).mul(0.5).add(d.sub(c)).mean();
    },
  };
  const cases = fixture<{ cases: MlpCase[] }>('mlp-gradients.json').cases;
  for (const c of cases)
    test(c.name, () => {
      const ws = c.weights.map((w) => f64(w, true));
      const bs = c.biases.map((b) => f64(b, true));
      let h = f64(c.x);
      for (let l = 0; l < ws.length; l++) h = act[c.activations[l]](h.matmul(ws[l]).add(bs[l]));
      assertClose(h, c.output, { rel: 1e-12, abs: 1e-12, what: 'output' });
      const loss = lossOf[c.loss](h, c.y);
      assertClose(loss, c.lossValue, { rel: 1e-12, abs: 1e-12, what: 'loss' });
      loss.backward();
      ws.forEach((w, l) =>
        assertClose(w.grad!, c.gradWeights[l], { rel: 1e-10, abs: 1e-10, what: `dW${l}` }),
      );
      bs.forEach((b, l) => assertClose(b.grad!, c.gradBiases[l], { rel: 1e-10, abs: 1e-10, what: `db${l}` }));
    });
});

// ---------------------------------------------------------------------------------------------------------
// float32 against float64.

describe('float32 agrees with float64', () => {
  test('a random network, forward and gradients, within 1e-5 relative', () => {
    const rng = new random.RandomState(500);
    const x = rng.randn(16, 6);
    const w1 = rng.randn(6, 8).mul(0.5);
    const b1 = rng.randn(8);
    const w2 = rng.randn(8, 5).mul(0.5);
    const labels = Array.from({ length: 16 }, (_, i) => i % 5);
    const run = (dtype: 'float32' | 'float64') => {
      const p = [x, w1, b1, w2].map((t) => tensor(t, { dtype, requiresGrad: true }));
      const [xt, a, b, c] = p;
      const h1 = xt.matmul(a).add(b);
      const h = h1.tanh().add(h1.gelu()).add(h1.softplus().mul(0.5)).add(h1.elu(0.5)).sub(h1.sigmoid());
      const logits = h.matmul(c).div(h.abs().add(1).sqrt().mean(-1, { keepDims: true }));
      const loss = logSoftmax(logits).pick(labels).mean().neg().add(logits.max(-1).pow(2).mean().mul(0.01));
      loss.backward();
      return { loss, logits, grads: p.map((t) => t.grad!) };
    };
    const lo = run('float32');
    const hi = run('float64');
    assert.equal(lo.loss.dtype, 'float32');
    assert.equal(lo.grads[1].dtype, 'float32');
    // 1e-5 relative, with a floor of 1e-7 of the tensor's largest entry for values near zero.
    const scaled = (b: Tensor, what: string) => ({
      rel: 1e-5,
      abs: 1e-5 * (0.01 * Math.max(...Array.from(b.data, Math.abs))),
      what,
    });
    assertClose(lo.loss, hi.loss, scaled(hi.loss, 'loss'));
    assertClose(lo.logits, hi.logits, scaled(hi.logits, 'logits'));
    lo.grads.forEach((g, i) => assertClose(g, hi.grads[i], scaled(hi.grads[i], `grad ${i}`)));
  });
});
