// Inputs shared by the kernel tests in Node (test/kernels.test.ts) and in Chromium
// (test/helpers/kernel-check.ts, bundled for the page): element types, random and special arrays, and the
// elementwise cases every kernel set must match the reference on. No Node modules here.
import type { random, Storage } from '../../src/index.js';
import type { BinaryOp, UnaryOp } from '../../src/kernels/types.js';

/** A typed-array constructor of either element type. */
export type Ctor = Float32ArrayConstructor | Float64ArrayConstructor;

/** The two element types and the error allowed against the reference, relative to a product's scale. */
export const DTYPES: { name: 'float32' | 'float64'; Array: Ctor; tol: number }[] = [
  { name: 'float32', Array: Float32Array, tol: 1e-6 },
  { name: 'float64', Array: Float64Array, tol: 1e-12 },
];

/** The three layouts backprop uses: forward A·B, the input gradient A·Bᵀ, the weight gradient Aᵀ·B. */
export const LAYOUTS = [
  { name: 'A·B', transA: false, transB: false },
  { name: 'A·Bᵀ', transA: false, transB: true },
  { name: 'Aᵀ·B', transA: true, transB: false },
] as const;

/**
 * m × k × n. Each of 1, 3, 17, 255, 257 appears on every axis (batch 1 included), and no size but 1 is a
 * multiple of a register tile, so every edge path runs; some products cross the wasm kernels' blocks on
 * every axis (test/kernels.test.ts checks that, so retuning the blocks cannot quietly drop it).
 */
export const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [1, 3, 17],
  [3, 1, 17],
  [3, 17, 1],
  [17, 17, 17],
  [1, 257, 255],
  [255, 1, 257],
  [255, 257, 3],
  [3, 255, 257],
  [257, 17, 255],
  [17, 257, 1],
  [129, 300, 70],
  [2, 3, 1100],
  [5, 600, 7],
];

/** Uniform in [−1, 1): signed, so sums cancel as they do in real products. */
export function randomArray(rng: random.RandomState, Array: Ctor, n: number): Storage {
  const x = new Array(n);
  for (let i = 0; i < n; i++) x[i] = rng.random() * 2 - 1;
  return x;
}

/** Random values led by NaN, ±Infinity, ±0, subnormal and huge ones, with every 7th scaled past ±20. */
export function specialArray(rng: random.RandomState, Array: Ctor, n: number): Storage {
  const x = randomArray(rng, Array, n);
  const special = [NaN, Infinity, -Infinity, 0, -0, 1, -1, 0.5, -0.5, 2, 1e-30, -3.5, 5e-324, -1e300];
  for (let i = 0; i < special.length && i < n; i++) x[i] = special[i];
  for (let i = special.length; i < n; i += 7) x[i] *= 40; // past the ±20 where softplus and friends switch
  return x;
}

/**
 * The parameters to try for each unary op: the ones the wasm versions handle and some they leave to the
 * reference. Typed over every op, so a new op does not compile until it has its kernel cases.
 */
const UNARY_PARAMS: { [K in UnaryOp]: [p0: number, p1: number][] } = {
  neg: [[0, 0]],
  exp: [[0, 0]],
  log: [[0, 0]],
  sqrt: [[0, 0]],
  abs: [[0, 0]],
  sigmoid: [[0, 0]],
  tanh: [[0, 0]],
  relu: [[0, 0]],
  leakyRelu: [[0.01, 0]],
  gelu: [[0, 0]],
  softplus: [[0, 0]],
  elu: [[1.5, 0]],
  silu: [[0, 0]],
  pow: [
    [2, 0],
    [3, 0],
    [0, 0],
  ],
  clamp: [[-0.5, 0.5]],
  addScalar: [[0.1, 0]],
  mulScalar: [[0.1, 0]],
  divScalar: [[3, 0]],
  rsubScalar: [[0.3, 0]],
  rdivScalar: [[-0.7, 0]],
};

/** Every unary op with each of its parameter cases. */
export const UNARY_CASES: { op: UnaryOp; p0: number; p1: number }[] = (
  Object.entries(UNARY_PARAMS) as [UnaryOp, [number, number][]][]
).flatMap(([op, ps]) => ps.map(([p0, p1]) => ({ op, p0, p1 })));

/** Every binary op. */
export const BINARY_OPS: BinaryOp[] = ['add', 'sub', 'mul', 'div', 'maximum', 'maximumMaskA', 'eqMask'];

/** Shapes of a and b for each broadcast plan kind, with rows of an odd width. */
export const PLANS: { kind: string; a: number[]; b: number[] }[] = [
  { kind: 'same', a: [37, 27], b: [37, 27] },
  { kind: 'scalarA', a: [1], b: [37, 27] },
  { kind: 'scalarB', a: [37, 27], b: [1, 1] },
  { kind: 'rowB', a: [37, 27], b: [27] },
  { kind: 'rowB', a: [3, 7, 27], b: [1, 7, 27] }, // b over a's leading axis, a's trailing two
  { kind: 'general', a: [5, 1, 27], b: [6, 1] },
];
