// The row broadcast (src/shape.ts broadcastPlan's `rowB` plan): b, its leading 1s dropped, is a's trailing
// axes ([2, 3, 4] + [3, 4], GPT's tok + pos, the causal bias on [B, H, L, S] scores), so a is [rows, R] and
// b one row of R. Before it covered only b = a's last axis; wider, it must give the general loops' bits:
// the kernels on every binary op (special values included), and the ops' outputs and both operands'
// gradients, on the reference set and the WebAssembly set; and the hand-made [B, X·R] + [X·R] reshapes
// that callers used to reach it give the same bits as the plain sum.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  add,
  div,
  maximum,
  mul,
  random,
  referenceKernels,
  reshape,
  sub,
  Tensor,
  type Kernels,
} from '../src/index.js';
import type { BroadcastPlan } from '../src/kernels/types.js';
import { loadWasmKernels } from '../src/kernels/wasm/index.js';
import { broadcastPlan } from '../src/shape.js';
import { BINARY_OPS, DTYPES, specialArray } from './helpers/kernel-cases.js';
import { firstDifference } from './helpers/window-cases.js';
import { withSet } from './helpers/with-kernels.js';

const wasm = (await loadWasmKernels({ minElements: 1 })) as Kernels;
const SETS: Kernels[] = [referenceKernels, wasm];

/** a's shape and b's, b the trailing axes of a (with leading 1s or not). */
const SHAPES: [number[], number[]][] = [
  [
    [2, 3, 4],
    [3, 4],
  ],
  [
    [5, 7, 27],
    [7, 27],
  ],
  [
    [3, 1, 6, 10],
    [6, 10],
  ],
  [
    [4, 2, 6, 8],
    [1, 6, 8],
  ],
  [
    [2, 5, 9],
    [1, 5, 9],
  ],
];

/** The same plan as the general loops run it: a contiguous, b's strides 0 over the leading axes. */
function generalOf(plan: BroadcastPlan, bSize: number): BroadcastPlan {
  const nd = plan.shape.length;
  const aStrides = new Array<number>(nd);
  const bStrides = new Array<number>(nd);
  let aAcc = 1;
  let bAcc = 1;
  for (let d = nd - 1; d >= 0; d--) {
    aStrides[d] = aAcc;
    aAcc *= plan.shape[d];
    const inB = bAcc * plan.shape[d] <= bSize;
    bStrides[d] = inB ? bAcc : 0;
    if (inB) bAcc *= plan.shape[d];
  }
  return { ...plan, aStrides, bStrides, kind: 'general' };
}

/** `k` with every row-broadcast plan run as the general loops (what the ops ran before the plan widened). */
function asGeneral(k: Kernels): Kernels {
  return {
    ...k,
    name: `${k.name}-general`,
    binary: (op, a, b, out, plan) =>
      k.binary(op, a, b, out, plan.kind === 'rowB' ? generalOf(plan, b.length) : plan),
  };
}

function assertSameBits(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  const at = firstDifference(got, want);
  assert.equal(at, -1, `${what}: differs at ${at}: ${got[at]} vs ${want[at]}`);
}

function randn(shape: number[], seed: number, dtype: 'float32' | 'float64'): Tensor {
  const t = new random.RandomState(seed).randn(shape);
  return dtype === 'float64' ? t : new Tensor(Float32Array.from(t.data), shape);
}

describe('broadcastPlan: the row broadcast wherever b is a’s trailing axes', () => {
  test('rowB for b over any number of leading axes, general where b is not a’s tail', () => {
    const kinds: [number[], number[], string][] = [
      [[2, 3, 4], [3, 4], 'rowB'],
      [[2, 3, 4], [1, 3, 4], 'rowB'],
      [[2, 3, 4], [4], 'rowB'],
      [[2, 3, 4], [1, 4], 'rowB'],
      [[1, 3, 4], [3, 4], 'rowB'],
      [[3, 4], [1, 1, 4], 'rowB'],
      [[2, 1, 4], [1, 4], 'rowB'],
      [[2, 3, 4], [3, 1], 'general'],
      [[2, 3, 4], [2, 1, 4], 'general'],
      [[2, 1, 4], [3, 4], 'general'],
      [[3, 4], [2, 3, 4], 'general'],
      [[2, 3, 4], [1, 1, 1], 'scalarB'],
      [[2, 3, 4], [2, 3, 4], 'same'],
    ];
    for (const [a, b, kind] of kinds) assert.equal(broadcastPlan(a, b, 'test').kind, kind, `[${a}] + [${b}]`);
  });

  for (const k of SETS)
    for (const dt of DTYPES)
      test(`${k.name}, ${dt.name}: every binary op under rowB gives the general loops' bits`, () => {
        const rng = new random.RandomState(31);
        for (const [aShape, bShape] of SHAPES) {
          const plan = broadcastPlan(aShape, bShape, 'test');
          assert.equal(plan.kind, 'rowB');
          const R = bShape.reduce((p, q) => p * q, 1);
          const general = generalOf(plan, R);
          const a = specialArray(rng, dt.Array, plan.size);
          const b = specialArray(rng, dt.Array, R).reverse();
          for (let i = 0; i < R; i += 5) a[R + i] = b[i]; // ties for the masks, in the second row
          for (const op of BINARY_OPS) {
            const want = new dt.Array(plan.size);
            referenceKernels.binary(op, a, b, want, general);
            const got = new dt.Array(plan.size).fill(7);
            k.binary(op, a, b, got, plan);
            assertSameBits(got, want, `${op} [${aShape}] with [${bShape}]`);
          }
        }
      });
});

describe('ops over a row broadcast: outputs and gradients keep the general path’s bits', () => {
  const OPS = { add, sub, mul, div, maximum };
  /** Output and both gradients of op(a, b), the output weighted by a fixed tensor before the sum. */
  function run(op: (a: Tensor, b: Tensor) => Tensor, a0: Tensor, b0: Tensor) {
    const a = new Tensor(a0.data.slice(), a0.shape, true);
    const b = new Tensor(b0.data.slice(), b0.shape, true);
    const y = op(a, b);
    const w = randn([...y.shape], 7, y.dtype);
    y.mul(w).sum().backward();
    return [y.data, (a.grad as Tensor).data, (b.grad as Tensor).data];
  }

  for (const k of SETS)
    for (const dt of DTYPES)
      test(`${k.name}, ${dt.name}: add, sub, mul, div, maximum`, () => {
        const general = asGeneral(k);
        for (const [i, [aShape, bShape]] of SHAPES.entries()) {
          const a = randn(aShape, 10 + i, dt.name);
          const b = randn(bShape, 20 + i, dt.name);
          // Ties for maximum's halves: a's first row equal to b.
          a.data.set(b.data.subarray(0, Math.min(b.size, aShape[aShape.length - 1])));
          for (const [name, op] of Object.entries(OPS)) {
            const got = withSet(k, () => run(op, a, b));
            const want = withSet(general, () => run(op, a, b));
            ['output', 'a.grad', 'b.grad'].forEach((part, j) =>
              assertSameBits(got[j], want[j], `${name} [${aShape}] with [${bShape}] ${part}`),
            );
          }
        }
      });

  for (const k of SETS)
    for (const dt of DTYPES)
      test(`${k.name}, ${dt.name}: the sum equals the hand-made [rows, R] + [R] reshape it replaced`, () => {
        for (const [i, [aShape, bShape]] of SHAPES.entries()) {
          const R = bShape.reduce((p, q) => p * q, 1);
          const a = randn(aShape, 30 + i, dt.name);
          const b = randn(bShape, 40 + i, dt.name);
          b.data[1] = -Infinity; // the causal bias's −∞
          const plain = withSet(k, () => run(add, a, b));
          const reshaped = withSet(k, () =>
            run((x, y) => reshape(add(reshape(x, [a.size / R, R]), reshape(y, [R])), aShape), a, b),
          );
          ['output', 'a.grad', 'b.grad'].forEach((part, j) =>
            assertSameBits(plain[j], reshaped[j], `[${aShape}] + [${bShape}] ${part}`),
          );
        }
      });
});
