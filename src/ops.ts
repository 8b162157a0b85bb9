/**
 * The primitives, each with its forward and its backward side by side, and the few ops composed from
 * them (softmax, logSoftmax, logSumExp, mean): elementwise, products, shapes, reductions, sliding windows
 * (convolution, pooling) and normalization. Forward and backward both run on the active kernel set;
 * nothing here loops over elements.
 */
import { kernels } from './kernels/index.js';
import type { BinaryOp, Conv2dGeometry, NormGeometry, Storage, UnaryOp, Window2d } from './kernels/types.js';
import type { ActivationOp } from './kernels/unary.js';
import type { LossKernel } from './loss-kernels.js';
import { broadcastPlan, fmt, normAxis, padShape, sameShape, sizeOf, type Shape } from './shape.js';
import { scratchStorage, isGradEnabled, noGrad, storageCtor, Tensor, type DType } from './tensor.js';

type Backward = (g: Storage) => (Storage | null)[];

/** @internal Wrap a result, linking it into the graph when an input needs gradients. */
export function result(
  data: Storage,
  shape: readonly number[],
  op: string,
  inputs: Tensor[],
  backward: Backward,
): Tensor {
  let needs = false;
  if (isGradEnabled()) for (let i = 0; i < inputs.length; i++) if (inputs[i].requiresGrad) needs = true;
  return needs ? new Tensor(data, shape, true, { op, inputs, backward }) : new Tensor(data, shape);
}

/** @internal The dtype of a result from operands of these two. */
export function promote(a: DType, b: DType): DType {
  return a === 'float64' || b === 'float64' ? 'float64' : 'float32';
}

function asTensor(x: Tensor | number, like: Tensor): Tensor {
  if (x instanceof Tensor) return x;
  const s = scratchStorage(like.dtype, 1);
  s[0] = x;
  return new Tensor(s, []);
}

/** @internal Throw a TypeError naming the op unless `x` is a Tensor. */
export function assertTensor(x: unknown, op: string): asserts x is Tensor {
  if (!(x instanceof Tensor))
    throw new TypeError(`${op}: expected a Tensor, got ${x === null ? 'null' : typeof x}`);
}

/** @internal Sum a broadcast gradient back down to the shape of the input it came from. */
export function sumTo(g: Storage, gShape: Shape, target: Shape): Storage {
  if (g.length === sizeOf(target) && (sameShape(gShape, target) || sizeOf(target) === g.length)) return g;
  const keep = padShape(target, gShape.length);
  const out = scratchStorage(g instanceof Float64Array ? 'float64' : 'float32', sizeOf(target));
  kernels().reduce('sum', g, gShape, out, keep);
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Elementwise unary primitives: forward and derivative are both kernel ops keyed by the same name.

function unary(x: Tensor, op: UnaryOp, p0 = 0, p1 = 0): Tensor {
  assertTensor(x, op);
  const k = kernels();
  const out = scratchStorage(x.dtype, x.size, true);
  k.unary(op, x.data, out, p0, p1);
  return result(out, x.shape, op, [x], (g) => {
    const gx = scratchStorage(x.dtype, g.length, true);
    kernels().unaryGrad(op, x.data, out, g, gx, p0, p1);
    return [gx];
  });
}

/** `-x`. */
export const neg = (x: Tensor): Tensor => unary(x, 'neg');
/** eˣ. */
export const exp = (x: Tensor): Tensor => unary(x, 'exp');
/** Natural logarithm. */
export const log = (x: Tensor): Tensor => unary(x, 'log');
/** Square root. */
export const sqrt = (x: Tensor): Tensor => unary(x, 'sqrt');
/** Absolute value (gradient 0 at 0, as PyTorch). */
export const abs = (x: Tensor): Tensor => unary(x, 'abs');
/** Logistic sigmoid. */
export const sigmoid = (x: Tensor): Tensor => unary(x, 'sigmoid');
/** Hyperbolic tangent. */
export const tanh = (x: Tensor): Tensor => unary(x, 'tanh');
/** Rectified linear unit, max(x, 0). */
export const relu = (x: Tensor): Tensor => unary(x, 'relu');
/** Leaky ReLU with the given negative slope (PyTorch's default 0.01). */
export const leakyRelu = (x: Tensor, slope = 0.01): Tensor => unary(x, 'leakyRelu', slope);
/** Exact GELU, x · Φ(x), Φ the standard normal CDF (PyTorch's default, not the tanh approximation). */
export const gelu = (x: Tensor): Tensor => unary(x, 'gelu');
/** Softplus log(1 + eˣ), exact in both tails. */
export const softplus = (x: Tensor): Tensor => unary(x, 'softplus');
/** ELU: x for x > 0, else alpha · (eˣ − 1). */
export const elu = (x: Tensor, alpha = 1): Tensor => unary(x, 'elu', alpha);
/** SiLU (swish), x · σ(x), as PyTorch's `silu`. */
export const silu = (x: Tensor): Tensor => unary(x, 'silu');

/**
 * An elementwise activation by its op name, with its parameter (LeakyReLU's slope, ELU's alpha; 0 for
 * the others): what the activation modules call.
 */
export const activation = (x: Tensor, op: ActivationOp, p = 0): Tensor => unary(x, op, p);

/** `x ** exponent` for a scalar exponent. */
export function pow(x: Tensor, exponent: number): Tensor {
  if (typeof exponent !== 'number') throw new TypeError('pow: the exponent must be a number');
  return unary(x, 'pow', exponent);
}

/** Limit values to [min, max]; the gradient passes where min ≤ x ≤ max (bounds included, as PyTorch). */
export function clamp(x: Tensor, min?: number, max?: number): Tensor {
  const lo = min ?? -Infinity;
  const hi = max ?? Infinity;
  if (lo > hi) throw new RangeError(`clamp: min ${lo} is greater than max ${hi}`);
  return unary(x, 'clamp', lo, hi);
}

/** Change dtype (identity when it already has it); the gradient is cast back. */
export function cast(x: Tensor, dtype: DType): Tensor {
  if (x.dtype === dtype) return x;
  const out = scratchStorage(dtype, x.size);
  out.set(x.data);
  return result(out, x.shape, 'cast', [x], (g) => [g]);
}

// ---------------------------------------------------------------------------------------------------------
// Binary primitives with numpy broadcasting. The backward of a broadcast is a sum over the broadcast axes.

function binary(
  a: Tensor,
  b: Tensor,
  op: BinaryOp,
  backward: (g: Storage, shape: Shape) => (Storage | null)[],
) {
  assertTensor(b, op);
  const plan = broadcastPlan(a.shape, b.shape, op);
  const out = scratchStorage(promote(a.dtype, b.dtype), plan.size, true);
  kernels().binary(op, a.data, b.data, out, plan);
  return result(out, plan.shape, op, [a, b], (g) => backward(g, plan.shape));
}

/** A fresh elementwise product/quotient of a gradient and an operand, at the gradient's shape. */
function mapWith(op: BinaryOp, g: Storage, gShape: Shape, x: Tensor): Storage {
  const plan = broadcastPlan(gShape, x.shape, op);
  const out = scratchStorage(g instanceof Float64Array ? 'float64' : 'float32', plan.size);
  kernels().binary(op, g, x.data, out, plan);
  return out;
}

function scaled(x: Tensor, op: UnaryOp, s: number): Tensor {
  return unary(x, op, s);
}

/** `a + b`, broadcasting. */
export function add(a: Tensor, b: Tensor | number): Tensor {
  assertTensor(a, 'add');
  if (typeof b === 'number') return scaled(a, 'addScalar', b);
  return binary(a, b, 'add', (g, s) => [sumTo(g, s, a.shape), sumTo(g, s, b.shape)]);
}

/** `a - b`, broadcasting. A number on the left is allowed. */
export function sub(a: Tensor | number, b: Tensor | number): Tensor {
  if (typeof a === 'number') {
    assertTensor(b, 'sub');
    return scaled(b, 'rsubScalar', a);
  }
  assertTensor(a, 'sub');
  // a − s equals a + (−s) exactly in IEEE arithmetic.
  if (typeof b === 'number') return scaled(a, 'addScalar', -b);
  return binary(a, b, 'sub', (g, s) => {
    const gb = scratchStorage(g instanceof Float64Array ? 'float64' : 'float32', g.length);
    kernels().unary('neg', g, gb, 0, 0);
    return [sumTo(g, s, a.shape), sumTo(gb, s, b.shape)];
  });
}

/** `a · b` elementwise, broadcasting. */
export function mul(a: Tensor, b: Tensor | number): Tensor {
  assertTensor(a, 'mul');
  if (typeof b === 'number') return scaled(a, 'mulScalar', b);
  return binary(a, b, 'mul', (g, s) => [
    a.requiresGrad ? sumTo(mapWith('mul', g, s, b), s, a.shape) : null,
    b.requiresGrad ? sumTo(mapWith('mul', g, s, a), s, b.shape) : null,
  ]);
}

/** `a / b` elementwise, broadcasting. A number on the left is allowed. */
export function div(a: Tensor | number, b: Tensor | number): Tensor {
  if (typeof a === 'number') {
    assertTensor(b, 'div');
    return scaled(b, 'rdivScalar', a);
  }
  assertTensor(a, 'div');
  if (typeof b === 'number') return scaled(a, 'divScalar', b);
  return binary(a, b, 'div', (g, s) => {
    let gb: Storage | null = null;
    if (b.requiresGrad) {
      // −g·a / b², in PyTorch's order.
      const ga = mapWith('mul', g, s, a);
      const b2 = scratchStorage(b.dtype, b.size);
      kernels().binary('mul', b.data, b.data, b2, broadcastPlan(b.shape, b.shape, 'div'));
      const q = scratchStorage(ga instanceof Float64Array ? 'float64' : 'float32', ga.length);
      kernels().binary('div', ga, b2, q, broadcastPlan(s, b.shape, 'div'));
      kernels().unary('neg', q, q, 0, 0);
      gb = sumTo(q, s, b.shape);
    }
    return [a.requiresGrad ? sumTo(mapWith('div', g, s, b), s, a.shape) : null, gb];
  });
}

/** Elementwise maximum, broadcasting; on ties each side gets half the gradient, as PyTorch. */
export function maximum(a: Tensor, b: Tensor | number): Tensor {
  assertTensor(a, 'maximum');
  const bt = asTensor(b, a);
  return binary(a, bt, 'maximum', (g, s) => {
    const mask = (x: Tensor, y: Tensor): Storage => {
      const plan = broadcastPlan(x.shape, y.shape, 'maximum');
      const m = scratchStorage(g instanceof Float64Array ? 'float64' : 'float32', plan.size);
      kernels().binary('maximumMaskA', x.data, y.data, m, plan);
      kernels().binary('mul', m, g, m, broadcastPlan(plan.shape, s, 'maximum'));
      return m;
    };
    return [
      a.requiresGrad ? sumTo(mask(a, bt), s, a.shape) : null,
      bt.requiresGrad ? sumTo(mask(bt, a), s, bt.shape) : null,
    ];
  });
}

/**
 * @internal A loss computed by a loss kernel (`loss-kernels.ts`: forward and backward over buffers) as one
 * op of the graph: the prediction [rows, cols] gets its gradient from the kernel's backward, seeded with
 * the gradient arriving at the loss. The target gets none (callers compose the loss when it needs one).
 */
export function kernelLoss<B>(
  name: string,
  kernel: LossKernel<B>,
  pred: Tensor,
  target: Tensor,
  rows: number,
  cols: number,
): Tensor {
  const b = kernel.buffers((n) => scratchStorage(pred.dtype, n), rows, cols);
  const out = scratchStorage(pred.dtype, 1);
  out[0] = kernel.forward(kernels(), pred.data, target.data, rows, cols, b);
  return result(out, [], name, [pred], (g) => {
    const gp = scratchStorage(pred.dtype, pred.size);
    kernel.backward(kernels(), g[0], pred.data, rows, cols, b, gp);
    return [gp];
  });
}

/** @internal acc += x, through the kernels (gradient accumulation). */
export function accumulateInto(acc: Storage, x: Storage): void {
  kernels().accumulate(acc, x);
}

// ---------------------------------------------------------------------------------------------------------
// Matrix product.

/**
 * Matrix product with numpy's `matmul` semantics: 2-D by 2-D, 1-D operands promoted to a row or column,
 * and leading (batch) axes broadcast.
 */
export function matmul(a: Tensor, b: Tensor): Tensor {
  return product(a, b, false, 'matmul');
}

/**
 * `matmul(a, transpose(b))` over b's last two axes (b: [..., n, k] with k = a's last axis), without the
 * copy the transpose would make: F.linear's x·Wᵀ and attention's q·kᵀ. Same values, and in float64 the
 * same bits, as the composed form.
 */
export function matmulTransposed(a: Tensor, b: Tensor): Tensor {
  assertTensor(b, 'matmulTransposed');
  if (b.ndim < 2)
    throw new Error(`matmulTransposed: ${fmt(a.shape)} @ ${fmt(b.shape)}ᵀ: b must have at least two axes`);
  return product(a, b, true, 'matmulTransposed');
}

/** matmul and matmulTransposed: op(B) is B, or B's last two axes swapped. */
function product(a: Tensor, b: Tensor, transB: boolean, op: string): Tensor {
  assertTensor(a, op);
  assertTensor(b, op);
  if (a.ndim === 0 || b.ndim === 0)
    throw new Error(`${op}: [${a.shape}] @ [${b.shape}]: operands must have at least one axis`);
  const aShape = a.ndim === 1 ? [1, a.shape[0]] : a.shape;
  const bShape = b.ndim === 1 ? [b.shape[0], 1] : b.shape;
  const m = aShape[aShape.length - 2];
  const k = aShape[aShape.length - 1];
  const kb = bShape[bShape.length - (transB ? 1 : 2)];
  const n = bShape[bShape.length - (transB ? 2 : 1)];
  if (k !== kb)
    throw new Error(`${op}: ${fmt(a.shape)} @ ${fmt(b.shape)}: inner sizes ${k} and ${kb} differ`);
  const dtype = promote(a.dtype, b.dtype);
  if (bShape.length === 2) {
    // A matrix B: a's leading axes fold into its rows (a Linear on [batch, L, E] is one [batch·L, E]
    // product), so each direction is one product and B's gradient needs no per-batch intermediate.
    const rows = sizeOf(aShape.slice(0, -1));
    const out = scratchStorage(dtype, rows * n);
    kernels().matmul(a.data, 0, b.data, 0, out, 0, rows, k, n, false, transB);
    const shape = dropVectorAxes([...aShape.slice(0, -1), n], a.ndim, b.ndim);
    return result(out, shape, op, [a, b], (g) => {
      let ga: Storage | null = null;
      let gb: Storage | null = null;
      if (a.requiresGrad) {
        // dA = G·op(B)ᵀ
        ga = scratchStorage(dtype, rows * k);
        kernels().matmul(g, 0, b.data, 0, ga, 0, rows, n, k, false, !transB);
      }
      if (b.requiresGrad) {
        // dB = Aᵀ·G (or its transpose Gᵀ·A for a transposed B), summed over every row of every batch
        gb = scratchStorage(dtype, k * n);
        if (transB) kernels().matmul(g, 0, a.data, 0, gb, 0, n, rows, k, true, false);
        else kernels().matmul(a.data, 0, g, 0, gb, 0, k, rows, n, true, false);
      }
      return [ga, gb];
    });
  }
  return batchedMatmul(a, b, aShape, bShape, m, k, n, dtype, transB, op);
}

/** Options of {@link linear}. */
export interface LinearOpOptions {
  /** The weight is [out, in] and the product reads it transposed (PyTorch's `F.linear`); default false. */
  transposed?: boolean;
}

/**
 * A Linear layer, y = x·W + b (W [in, out], chainrule's `Linear`) or x·Wᵀ + b (W [out, in], PyTorch's
 * `F.linear`, with `transposed`), as ONE graph node (PyTorch's AddmmBackward): x's leading axes fold into
 * the rows of one product, run by the kernel set's `linear` and `linearBackward`. Forward and gradients
 * are the same bits as `add(matmul(x, W), b)` on every kernel set (the WebAssembly set keeps the product
 * and g in its memory between the steps). Shapes this does not cover (x with one axis, mixed dtypes) take
 * the composed path itself.
 */
export function linear(
  x: Tensor,
  weight: Tensor,
  bias: Tensor | null = null,
  options: LinearOpOptions = {},
): Tensor {
  assertTensor(x, 'linear');
  assertTensor(weight, 'linear');
  if (bias !== null) assertTensor(bias, 'linear');
  const transW = options.transposed ?? false;
  const k = x.shape[x.ndim - 1];
  const n = weight.shape[transW ? 0 : 1];
  const covered =
    x.ndim >= 2 &&
    weight.ndim === 2 &&
    weight.shape[transW ? 1 : 0] === k &&
    weight.dtype === x.dtype &&
    (bias === null || (bias.ndim === 1 && bias.shape[0] === n && bias.dtype === x.dtype));
  if (!covered) {
    const y = transW ? matmulTransposed(x, weight) : matmul(x, weight);
    return bias ? add(y, bias) : y;
  }
  const rows = sizeOf(x.shape.slice(0, -1));
  const dtype = x.dtype;
  const K = kernels();
  const out = scratchStorage(dtype, rows * n, true);
  const b = bias === null ? null : bias.data;
  K.linear(x.data, weight.data, b, out, rows, k, n, transW);
  const shape = [...x.shape.slice(0, -1), n];
  const inputs = bias === null ? [x, weight] : [x, weight, bias];
  return result(out, shape, 'linear', inputs, (g) => {
    const gx = x.requiresGrad ? scratchStorage(dtype, rows * k, true) : null;
    const gw = weight.requiresGrad ? scratchStorage(dtype, k * n, true) : null;
    // One row: the bias gradient is g itself, as sumTo gives it.
    const oneRow = bias !== null && g.length === n;
    const gb = bias !== null && bias.requiresGrad && !oneRow ? scratchStorage(dtype, n) : null;
    kernels().linearBackward(g, x.data, weight.data, gx, gw, gb, rows, k, n, transW);
    if (bias === null) return [gx, gw];
    return [gx, gw, oneRow && bias.requiresGrad ? g : gb];
  });
}

function dropVectorAxes(shape: number[], aNd: number, bNd: number): number[] {
  const s = [...shape];
  if (bNd === 1) s.splice(s.length - 1, 1);
  if (aNd === 1) s.splice(s.length - (bNd === 1 ? 1 : 2), 1);
  return s;
}

/** Offsets of each batch's matrix in a and b for broadcast batch axes. */
function batchOffsets(aBatch: Shape, bBatch: Shape, batch: Shape, aMat: number, bMat: number) {
  const nb = sizeOf(batch);
  const ao = new Int32Array(nb);
  const bo = new Int32Array(nb);
  const ap = padShape(aBatch, batch.length);
  const bp = padShape(bBatch, batch.length);
  const idx = new Array<number>(batch.length).fill(0);
  for (let t = 0; t < nb; t++) {
    let ai = 0;
    let bi = 0;
    for (let d = 0; d < batch.length; d++) {
      ai = ai * ap[d] + (ap[d] === 1 ? 0 : idx[d]);
      bi = bi * bp[d] + (bp[d] === 1 ? 0 : idx[d]);
    }
    ao[t] = ai * aMat;
    bo[t] = bi * bMat;
    for (let d = batch.length - 1; d >= 0; d--) {
      if (++idx[d] < batch[d]) break;
      idx[d] = 0;
    }
  }
  return { nb, ao, bo };
}

function batchedMatmul(
  a: Tensor,
  b: Tensor,
  aShape: Shape,
  bShape: Shape,
  m: number,
  k: number,
  n: number,
  dtype: DType,
  transB: boolean,
  op: string,
) {
  const aBatch = aShape.slice(0, -2);
  const bBatch = bShape.slice(0, -2);
  const batch = broadcastShapeOf(aBatch, bBatch, a.shape, b.shape);
  const { nb, ao, bo } = batchOffsets(aBatch, bBatch, batch, m * k, k * n);
  const out = scratchStorage(dtype, nb * m * n);
  // The whole batch in one kernel call: the wasm set copies the operands in once and runs every product
  // in one call (attention's are many and small).
  kernels().matmulBatched(a.data, ao, b.data, bo, out, m, k, n, false, transB);
  const shape = dropVectorAxes([...batch, m, n], a.ndim, b.ndim);
  return result(out, shape, op, [a, b], (g) => {
    const K = kernels();
    let ga: Storage | null = null;
    let gb: Storage | null = null;
    // G's matrices lie one after another.
    const go = new Int32Array(nb);
    for (let t = 0; t < nb; t++) go[t] = t * m * n;
    if (a.requiresGrad) {
      // Per batch dA = G·op(B)ᵀ, then summed over the batch axes a was broadcast along.
      const full = scratchStorage(dtype, nb * m * k);
      K.matmulBatched(g, go, b.data, bo, full, m, n, k, false, !transB);
      ga = sumTo(full, [...batch, m, k], aShape);
    }
    if (b.requiresGrad) {
      // Per batch Aᵀ·G, or Gᵀ·A for a transposed B (B's own layout).
      const full = scratchStorage(dtype, nb * k * n);
      if (transB) K.matmulBatched(g, go, a.data, ao, full, n, m, k, true, false);
      else K.matmulBatched(a.data, ao, g, go, full, k, m, n, true, false);
      const bFull = transB ? [...batch, n, k] : [...batch, k, n];
      gb = sumTo(full, bFull, bShape);
    }
    return [ga, gb];
  });
}

function broadcastShapeOf(x: Shape, y: Shape, aFull: Shape, bFull: Shape): number[] {
  const nd = Math.max(x.length, y.length);
  const px = padShape(x, nd);
  const py = padShape(y, nd);
  return px.map((d, i) => {
    if (d !== py[i] && d !== 1 && py[i] !== 1)
      throw new Error(
        `matmul: ${fmt(aFull)} @ ${fmt(bFull)}: batch axes ${fmt(x)} and ${fmt(y)} cannot be broadcast`,
      );
    return d === 1 ? py[i] : d;
  });
}

// ---------------------------------------------------------------------------------------------------------
// Shape ops.

/** Same data, new shape; one axis may be -1 to be inferred. Shares storage with `x` (a view). */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  assertTensor(x, 'reshape');
  const s = [...shape];
  const infer = s.indexOf(-1);
  if (infer !== s.lastIndexOf(-1)) throw new Error(`reshape: ${fmt(shape)} has more than one -1`);
  if (infer >= 0) {
    const rest = sizeOf(s.filter((_, i) => i !== infer));
    if (rest === 0 || x.size % rest !== 0)
      throw new Error(`reshape: cannot reshape ${fmt(x.shape)} (${x.size} elements) to ${fmt(shape)}`);
    s[infer] = x.size / rest;
  }
  if (sizeOf(s) !== x.size || s.some((d) => !Number.isInteger(d) || d < 0))
    throw new Error(`reshape: cannot reshape ${fmt(x.shape)} (${x.size} elements) to ${fmt(shape)}`);
  return result(x.data, s, 'reshape', [x], (g) => [g]);
}

/** Reorder axes: result axis i is input axis `axes[i]`; default reverses all axes. */
export function transpose(x: Tensor, axes?: readonly number[]): Tensor {
  assertTensor(x, 'transpose');
  const nd = x.ndim;
  const perm = axes ? axes.map((a) => normAxis(a, nd, 'transpose')) : [...Array(nd).keys()].reverse();
  if (perm.length !== nd || new Set(perm).size !== nd)
    throw new Error(
      `transpose: axes ${fmt(axes ?? [])} are not a permutation of ${nd} axes of ${fmt(x.shape)}`,
    );
  const shape = perm.map((p) => x.shape[p]);
  const out = scratchStorage(x.dtype, x.size);
  kernels().permute(x.data, x.shape, perm, out);
  const inv = new Array<number>(nd);
  perm.forEach((p, i) => (inv[p] = i));
  return result(out, shape, 'transpose', [x], (g) => {
    const gx = scratchStorage(g instanceof Float64Array ? 'float64' : 'float32', g.length);
    kernels().permute(g, shape, inv, gx);
    return [gx];
  });
}

// ---------------------------------------------------------------------------------------------------------
// Reductions.

/** Options of reductions. */
export interface ReduceOptions {
  /** Keep reduced axes with size 1 (so the result broadcasts against the input). */
  keepDims?: boolean;
}

function reducedShapes(
  x: Tensor,
  axis: number | readonly number[] | undefined,
  keepDims: boolean,
  op: string,
) {
  const nd = x.ndim;
  const axes =
    axis === undefined
      ? [...Array(nd).keys()]
      : (typeof axis === 'number' ? [axis] : axis).map((a) => normAxis(a, nd, op));
  const keep = x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const shape = keepDims ? keep : x.shape.filter((_, i) => !axes.includes(i));
  const count = x.size / Math.max(1, sizeOf(keep));
  return { keep, shape, count };
}

/** Sum over `axis` (all axes when omitted). */
export function sum(x: Tensor, axis?: number | readonly number[], options: ReduceOptions = {}): Tensor {
  assertTensor(x, 'sum');
  const { keep, shape } = reducedShapes(x, axis, options.keepDims ?? false, 'sum');
  const out = scratchStorage(x.dtype, sizeOf(keep));
  kernels().reduce('sum', x.data, x.shape, out, keep);
  return result(out, shape, 'sum', [x], (g) => {
    const gx = scratchStorage(x.dtype, x.size);
    kernels().expand(g, keep, gx, x.shape);
    return [gx];
  });
}

/** Mean over `axis` (all axes when omitted). */
export function mean(x: Tensor, axis?: number | readonly number[], options: ReduceOptions = {}): Tensor {
  assertTensor(x, 'mean');
  const { count } = reducedShapes(x, axis, false, 'mean');
  return div(sum(x, axis, options), count);
}

/** Maximum over `axis` (all axes when omitted); tied maxima share the gradient evenly, as PyTorch's amax. */
export function max(x: Tensor, axis?: number | readonly number[], options: ReduceOptions = {}): Tensor {
  assertTensor(x, 'max');
  if (x.size === 0) throw new Error(`max: tensor of shape ${fmt(x.shape)} is empty`);
  const { keep, shape } = reducedShapes(x, axis, options.keepDims ?? false, 'max');
  const out = scratchStorage(x.dtype, sizeOf(keep));
  kernels().reduce('max', x.data, x.shape, out, keep);
  return result(out, shape, 'max', [x], (g) => {
    const K = kernels();
    const plan = broadcastPlan(x.shape, keep, 'max');
    const mask = scratchStorage(x.dtype, x.size);
    K.binary('eqMask', x.data, out, mask, plan);
    const count = scratchStorage(x.dtype, out.length);
    K.reduce('sum', mask, x.shape, count, keep);
    const share = scratchStorage(x.dtype, out.length);
    K.binary('div', g, count, share, broadcastPlan(keep, keep, 'max'));
    K.binary('mul', mask, share, mask, plan);
    return [mask];
  });
}

// ---------------------------------------------------------------------------------------------------------
// Composed ops: no backward of their own.

/** log Σ exp(x) along `axis`, shifted by the (constant) maximum so large inputs do not overflow. */
export function logSumExp(x: Tensor, axis = -1, options: ReduceOptions = {}): Tensor {
  const m = noGrad(() => max(x, axis, { keepDims: true }));
  // A row of −∞ would give −∞ − (−∞) = NaN; shift by 0 there instead.
  const md = m.data;
  for (let i = 0; i < md.length; i++) if (!Number.isFinite(md[i])) md[i] = 0;
  const lse = add(log(sum(exp(sub(x, m)), axis, { keepDims: true })), m);
  return options.keepDims
    ? lse
    : reshape(
        lse,
        lse.shape.filter((_, i) => i !== normAxis(axis, x.ndim, 'logSumExp')),
      );
}

/** log softmax along `axis`: x − logSumExp(x). */
export function logSoftmax(x: Tensor, axis = -1): Tensor {
  return sub(x, logSumExp(x, axis, { keepDims: true }));
}

/**
 * Softmax along `axis`. Along the last axis it is one graph node (attention's weights over [batch, heads,
 * L, S] would otherwise be eight nodes and as many passes each way): per row y = e / Σe with
 * e = exp(x − max) (shifted by 0 in a row whose max is not finite, as logSumExp), the exponentials from the
 * kernel set and the sums in float64; the backward is y·(g − Σ g·y). Along another axis: exp(logSoftmax(x)).
 */
export function softmax(x: Tensor, axis = -1): Tensor {
  assertTensor(x, 'softmax');
  const ax = normAxis(axis, x.ndim, 'softmax');
  if (ax !== x.ndim - 1 || x.size === 0) return exp(logSoftmax(x, axis));
  const n = x.shape[ax];
  const rows = x.size / n;
  const xd = x.data;
  const y = scratchStorage(x.dtype, x.size);
  for (let r = 0, at = 0; r < rows; r++, at += n) {
    let m = -Infinity;
    for (let i = at; i < at + n; i++) if (xd[i] > m) m = xd[i];
    if (!Number.isFinite(m)) m = 0;
    for (let i = at; i < at + n; i++) y[i] = xd[i] - m;
  }
  kernels().unary('exp', y, y, 0, 0);
  for (let r = 0, at = 0; r < rows; r++, at += n) {
    let sum = 0;
    for (let i = at; i < at + n; i++) sum += y[i];
    for (let i = at; i < at + n; i++) y[i] = y[i] / sum;
  }
  return result(y, x.shape, 'softmax', [x], (g) => {
    const gx = scratchStorage(x.dtype, g.length);
    for (let r = 0, at = 0; r < rows; r++, at += n) {
      let dot = 0;
      for (let i = at; i < at + n; i++) dot += g[i] * y[i];
      for (let i = at; i < at + n; i++) gx[i] = y[i] * (g[i] - dot);
    }
    return [gx];
  });
}

// ---------------------------------------------------------------------------------------------------------
// Indexing.

/** Class indices as an Int32Array (`out` when given, else a new one), checked against the number of classes. */
export function toIndex(
  index: ArrayLike<number> | Tensor,
  rows: number,
  classes: number,
  op: string,
  out: Int32Array = new Int32Array(rows),
): Int32Array {
  const src = index instanceof Tensor ? index.data : index;
  if (src.length !== rows) throw new Error(`${op}: ${src.length} indices for ${rows} rows`);
  for (let r = 0; r < rows; r++) {
    const v = src[r];
    if (!Number.isInteger(v) || v < 0 || v >= classes)
      throw new RangeError(`${op}: index ${v} at row ${r} is not a class in 0…${classes - 1}`);
    out[r] = v;
  }
  return out;
}

/**
 * For each position of all but the last axis, the element at the given index along the last axis:
 * `logp.pick(labels)` gives each sample's log-probability of its true class.
 */
export function pick(x: Tensor, index: ArrayLike<number> | Tensor): Tensor {
  assertTensor(x, 'pick');
  if (x.ndim === 0) throw new Error('pick: needs a tensor with at least one axis');
  const cols = x.shape[x.ndim - 1];
  const rows = x.size / Math.max(cols, 1);
  const idx = toIndex(index, rows, cols, 'pick');
  const out = scratchStorage(x.dtype, rows);
  kernels().gather(x.data, cols, idx, out);
  return result(out, x.shape.slice(0, -1), 'pick', [x], (g) => {
    const gx = scratchStorage(x.dtype, x.size);
    kernels().scatterAdd(g, cols, idx, gx);
    return [gx];
  });
}

// ---------------------------------------------------------------------------------------------------------
// Sliding windows: convolution and pooling over NCHW data, on the window kernels. A 1-D op is its 2-D op
// over a height of 1. Shapes are checked here, with PyTorch's rules, so the kernels can trust them.

/** A window size, stride, padding or dilation given once for both axes or as [height, width]. */
export type Size2d = number | readonly [number, number];

/** Options of {@link conv2d}; PyTorch's `F.conv2d` arguments. */
export interface Conv2dOptions {
  /** Rows and columns between successive windows (default 1). */
  stride?: Size2d;
  /**
   * Zeros around the input (default 0): a size, `'valid'` (none) or `'same'` (the output keeps the input's
   * size; stride 1 only; when the total is odd the extra row or column goes after, as PyTorch).
   */
  padding?: Size2d | 'same' | 'valid';
  /** Spacing between the kernel's taps (default 1). */
  dilation?: Size2d;
  /** Channel groups: input and output channels split in this many, each output sees its group (default 1). */
  groups?: number;
}

/** Options of {@link conv1d}; PyTorch's `F.conv1d` arguments. */
export interface Conv1dOptions {
  /** Positions between successive windows (default 1). */
  stride?: number;
  /** Zeros on both ends (default 0), `'valid'` (none) or `'same'` (stride 1 only). */
  padding?: number | 'same' | 'valid';
  /** Spacing between the kernel's taps (default 1). */
  dilation?: number;
  /** Channel groups (default 1). */
  groups?: number;
}

/** Options of {@link maxPool2d}; PyTorch's `F.max_pool2d` arguments. */
export interface MaxPool2dOptions {
  /** Rows and columns between successive windows (default: the kernel size). */
  stride?: Size2d;
  /** Implicit −∞ around the input (default 0; at most half the kernel size, as PyTorch). */
  padding?: Size2d;
  /** Spacing between the window's taps (default 1). */
  dilation?: Size2d;
  /** Round the output size up, keeping a last window that starts inside the input (default false). */
  ceilMode?: boolean;
}

/** Options of {@link maxPool1d}. */
export interface MaxPool1dOptions {
  /** Positions between successive windows (default: the kernel size). */
  stride?: number;
  /** Implicit −∞ on both ends (default 0; at most half the kernel size). */
  padding?: number;
  /** Spacing between the window's taps (default 1). */
  dilation?: number;
  /** Round the output size up (default false). */
  ceilMode?: boolean;
}

/** Options of {@link avgPool2d}; PyTorch's `F.avg_pool2d` arguments. */
export interface AvgPool2dOptions {
  /** Rows and columns between successive windows (default: the kernel size). */
  stride?: Size2d;
  /** Zeros around the input (default 0; at most half the kernel size, as PyTorch). */
  padding?: Size2d;
  /** Round the output size up, keeping a last window that starts inside the input (default false). */
  ceilMode?: boolean;
  /** Count the padding's zeros in each window's divisor (default true, as PyTorch). */
  countIncludePad?: boolean;
}

/**
 * @internal A size pair from one number or two, each an integer ≥ `min`; `what` names it in the message
 * (the layers check their arguments with it too).
 */
export function pair2d(
  v: Size2d | undefined,
  dflt: Size2d,
  min: number,
  op: string,
  what: string,
): [number, number] {
  const p = v ?? dflt;
  const hw: readonly number[] = typeof p === 'number' ? [p, p] : Array.isArray(p) ? p : [];
  if (hw.length !== 2 || !hw.every((d) => Number.isInteger(d) && d >= min))
    throw new RangeError(
      `${op}: ${what} must be an integer ≥ ${min} or a pair of them, got ${JSON.stringify(p)}`,
    );
  return [hw[0], hw[1]];
}

/** @internal A 1-D size: an integer ≥ `min`. */
export function size1d(v: number | undefined, dflt: number, min: number, op: string, what: string): number {
  const s = v ?? dflt;
  if (!Number.isInteger(s) || s < min)
    throw new RangeError(`${op}: ${what} must be an integer ≥ ${min}, got ${JSON.stringify(s)}`);
  return s;
}

/** `a×b`, as sizes of the two axes read in messages. */
const by = (hw: readonly number[]): string => hw.join('×');

/** Throws unless `x` is a tensor of `rank` axes with none empty; `layout` names them for the message. */
function assertLayout(x: Tensor, rank: number, layout: string, op: string, what = 'input'): void {
  assertTensor(x, op);
  if (x.ndim !== rank || x.size === 0)
    throw new Error(
      `${op}: ${what} has shape ${fmt(x.shape)}, expected ${layout}${x.ndim === rank ? ' with no empty axis' : ''}`,
    );
}

/**
 * @internal The output size along one axis of a window (PyTorch's formula), or −1 when the window does not
 * fit in the padded input. With `ceil`, the last window must still start inside the input or its left
 * padding. (ONNX export works out its graph's sizes with it too.)
 */
export function windowOut(
  size: number,
  k: number,
  pad: number,
  stride: number,
  dilation: number,
  ceil: boolean,
): number {
  const span = dilation * (k - 1) + 1;
  if (size + 2 * pad < span) return -1;
  let out = Math.floor((size + 2 * pad - span + (ceil ? stride - 1 : 0)) / stride) + 1;
  if (ceil && (out - 1) * stride >= size + pad) out--;
  return out;
}

/**
 * The NCHW window of an op over x [N, C, H, W]; throws, naming the op and shapes, when it does not fit.
 * With `same` the output keeps the input's size (stride 1; `pad` is the padding before, and whatever
 * more the last windows reach is padding after).
 */
function window2d(
  x: Tensor,
  k: readonly [number, number],
  stride: readonly [number, number],
  pad: readonly [number, number],
  dilation: readonly [number, number],
  ceil: boolean,
  op: string,
  shown: readonly number[] = x.shape,
  same = false,
): Window2d {
  const [batch, channels, inH, inW] = x.shape;
  const outH = same ? inH : windowOut(inH, k[0], pad[0], stride[0], dilation[0], ceil);
  const outW = same ? inW : windowOut(inW, k[1], pad[1], stride[1], dilation[1], ceil);
  if (outH < 1 || outW < 1) {
    const span = [dilation[0] * (k[0] - 1) + 1, dilation[1] * (k[1] - 1) + 1];
    const spatial = shown.slice(2);
    const padded = shown.length === 3 ? [inW + 2 * pad[1]] : [inH + 2 * pad[0], inW + 2 * pad[1]];
    const kernel = shown.length === 3 ? [k[1]] : k;
    const spanShown = shown.length === 3 ? [span[1]] : span;
    throw new Error(
      `${op}: input ${fmt(shown)}: the kernel ${by(kernel)}${spanShown.some((s, i) => s !== kernel[i]) ? ` (dilated to ${by(spanShown)})` : ''} ` +
        `is larger than the ${by(spatial)} input${padded.some((p, i) => p !== spatial[i]) ? ` padded to ${by(padded)}` : ''}`,
    );
  }
  return {
    batch,
    channels,
    inH,
    inW,
    outH,
    outW,
    kH: k[0],
    kW: k[1],
    strideH: stride[0],
    strideW: stride[1],
    padH: pad[0],
    padW: pad[1],
    dilationH: dilation[0],
    dilationW: dilation[1],
  };
}

/**
 * 2-D cross-correlation, PyTorch's `conv2d`: x [N, C, H, W] with weight [CO, C/groups, kH, kW] and an
 * optional bias [CO] gives [N, CO, OH, OW]. Gradients flow to x, weight and bias (each only when it needs
 * one).
 */
export function conv2d(
  x: Tensor,
  weight: Tensor,
  bias: Tensor | null = null,
  options: Conv2dOptions = {},
): Tensor {
  assertLayout(x, 4, '[N, C, H, W]', 'conv2d');
  assertLayout(weight, 4, '[outChannels, inChannels/groups, kH, kW]', 'conv2d', 'weight');
  const p = options.padding ?? 0;
  const stride = pair2d(options.stride, 1, 1, 'conv2d', 'stride');
  const dilation = pair2d(options.dilation, 1, 1, 'conv2d', 'dilation');
  const k: [number, number] = [weight.shape[2], weight.shape[3]];
  const pad = convPadding(p, k, stride, dilation, 'conv2d');
  return convolve(
    x,
    weight,
    bias,
    stride,
    pad,
    dilation,
    options.groups,
    'conv2d',
    x.shape,
    weight.shape,
    p === 'same',
  );
}

/**
 * 1-D cross-correlation, PyTorch's `conv1d`: x [N, C, L] with weight [CO, C/groups, k] and an optional
 * bias [CO] gives [N, CO, L'] (the 2-D convolution over a height of 1).
 */
export function conv1d(
  x: Tensor,
  weight: Tensor,
  bias: Tensor | null = null,
  options: Conv1dOptions = {},
): Tensor {
  assertLayout(x, 3, '[N, C, L]', 'conv1d');
  assertLayout(weight, 3, '[outChannels, inChannels/groups, k]', 'conv1d', 'weight');
  const stride = size1d(options.stride, 1, 1, 'conv1d', 'stride');
  const dilation = size1d(options.dilation, 1, 1, 'conv1d', 'dilation');
  const p = options.padding ?? 0;
  if (typeof p === 'number') size1d(p, 0, 0, 'conv1d', 'padding');
  if (p === 'same' && stride !== 1)
    throw new Error(`conv1d: padding 'same' needs stride 1 (as PyTorch), got stride ${stride}`);
  const pad = convPadding(
    typeof p === 'number' ? [0, p] : p,
    [1, weight.shape[2]],
    [1, stride],
    [1, dilation],
    'conv1d',
  );
  const [n, c, l] = x.shape;
  const [co, ci, kw] = weight.shape;
  const y = convolve(
    reshape(x, [n, c, 1, l]),
    reshape(weight, [co, ci, 1, kw]),
    bias,
    [1, stride],
    pad,
    [1, dilation],
    options.groups,
    'conv1d',
    x.shape,
    weight.shape,
    p === 'same',
  );
  return reshape(y, [n, co, y.shape[3]]);
}

/** A convolution's padding before each axis: a size, none ('valid'), or half the dilated kernel ('same'). */
function convPadding(
  p: Size2d | 'same' | 'valid',
  k: readonly [number, number],
  stride: readonly [number, number],
  dilation: readonly [number, number],
  op: string,
): [number, number] {
  if (p === 'valid') return [0, 0];
  if (p === 'same') {
    if (stride[0] !== 1 || stride[1] !== 1)
      throw new Error(`${op}: padding 'same' needs stride 1 (as PyTorch), got stride ${by(stride)}`);
    // The total is dilation·(k − 1); an odd one leaves its extra zero after (the output's size says so).
    return [Math.floor((dilation[0] * (k[0] - 1)) / 2), Math.floor((dilation[1] * (k[1] - 1)) / 2)];
  }
  return pair2d(p, 0, 0, op, "padding (or 'same' or 'valid')");
}

/**
 * The convolution node over 4-D views; `xShown` and `wShown` are the caller's shapes for messages, `same`
 * says the padding is 'same'.
 */
function convolve(
  x: Tensor,
  weight: Tensor,
  bias: Tensor | null,
  stride: readonly [number, number],
  pad: readonly [number, number],
  dilation: readonly [number, number],
  groupsOpt: number | undefined,
  op: string,
  xShown: readonly number[],
  wShown: readonly number[],
  same: boolean,
): Tensor {
  const groups = groupsOpt ?? 1;
  if (!Number.isInteger(groups) || groups < 1)
    throw new RangeError(`${op}: groups must be a positive integer, got ${JSON.stringify(groupsOpt)}`);
  const channels = x.shape[1];
  const outChannels = weight.shape[0];
  if (channels % groups !== 0 || outChannels % groups !== 0)
    throw new Error(
      `${op}: groups ${groups} must divide both the input's ${channels} channels and the weight's ${outChannels} output channels`,
    );
  if (weight.shape[1] * groups !== channels)
    throw new Error(
      `${op}: input ${fmt(xShown)} has ${channels} channels, but weight ${fmt(wShown)} takes ` +
        `${weight.shape[1]}${groups > 1 ? ` per group × ${groups} groups = ${weight.shape[1] * groups}` : ''}`,
    );
  if (bias !== null) {
    assertTensor(bias, op);
    if (bias.ndim !== 1 || bias.shape[0] !== outChannels)
      throw new Error(
        `${op}: bias has shape ${fmt(bias.shape)}, expected [${outChannels}] (one per output channel)`,
      );
  }
  const k: [number, number] = [weight.shape[2], weight.shape[3]];
  const w = window2d(x, k, stride, pad, dilation, false, op, xShown, same);
  const g: Conv2dGeometry = { ...w, outChannels, groups };
  const dtype = bias ? promote(promote(x.dtype, weight.dtype), bias.dtype) : promote(x.dtype, weight.dtype);
  const xc = cast(x, dtype);
  const wc = cast(weight, dtype);
  const bc = bias ? cast(bias, dtype) : null;
  const outShape = [g.batch, outChannels, g.outH, g.outW];
  const out = scratchStorage(dtype, sizeOf(outShape));
  kernels().conv2d(xc.data, wc.data, bc ? bc.data : null, out, g);
  const inputs = bc ? [xc, wc, bc] : [xc, wc];
  return result(out, outShape, op, inputs, (gOut) => {
    const K = kernels();
    let gx: Storage | null = null;
    let gw: Storage | null = null;
    let gb: Storage | null = null;
    if (xc.requiresGrad) {
      gx = scratchStorage(dtype, xc.size);
      K.conv2dInputGrad(gOut, wc.data, gx, g);
    }
    if (wc.requiresGrad) {
      gw = scratchStorage(dtype, wc.size);
      K.conv2dWeightGrad(xc.data, gOut, gw, g);
    }
    if (bc?.requiresGrad) {
      gb = scratchStorage(dtype, outChannels);
      K.reduce('sum', gOut, [g.batch, outChannels, g.outH * g.outW], gb, [1, outChannels, 1]);
    }
    return [gx, gw, gb];
  });
}

/** PyTorch's pooling check: padding at most half the kernel, per axis. */
function checkPoolPadding(pad: readonly number[], k: readonly number[], op: string): void {
  if (pad[0] > Math.floor(k[0] / 2) || pad[1] > Math.floor(k[1] / 2))
    throw new RangeError(
      `${op}: padding ${by(pad)} must be at most half the kernel size ${by(k)} (as PyTorch)`,
    );
}

/** The max-pooling node over x [N, C, H, W]. */
function maxPool(x: Tensor, w: Window2d, op: string): Tensor {
  const outShape = [w.batch, w.channels, w.outH, w.outW];
  const n = sizeOf(outShape);
  const out = scratchStorage(x.dtype, n);
  const argmax = new Int32Array(n);
  kernels().maxPool2d(x.data, out, argmax, w);
  return result(out, outShape, op, [x], (g) => {
    const gx = scratchStorage(x.dtype, x.size);
    kernels().maxPool2dGrad(g, argmax, gx, w);
    return [gx];
  });
}

/**
 * 2-D max pooling, PyTorch's `max_pool2d`: each window's largest value (a NaN wins, as PyTorch); its
 * gradient goes to the window's first maximum.
 */
export function maxPool2d(x: Tensor, kernelSize: Size2d, options: MaxPool2dOptions = {}): Tensor {
  assertLayout(x, 4, '[N, C, H, W]', 'maxPool2d');
  const k = pair2d(kernelSize, 1, 1, 'maxPool2d', 'kernelSize');
  const stride = pair2d(options.stride, k, 1, 'maxPool2d', 'stride');
  const pad = pair2d(options.padding, 0, 0, 'maxPool2d', 'padding');
  const dilation = pair2d(options.dilation, 1, 1, 'maxPool2d', 'dilation');
  checkPoolPadding(pad, k, 'maxPool2d');
  return maxPool(
    x,
    window2d(x, k, stride, pad, dilation, options.ceilMode ?? false, 'maxPool2d'),
    'maxPool2d',
  );
}

/** 1-D max pooling over x [N, C, L], PyTorch's `max_pool1d` (the 2-D op over a height of 1). */
export function maxPool1d(x: Tensor, kernelSize: number, options: MaxPool1dOptions = {}): Tensor {
  assertLayout(x, 3, '[N, C, L]', 'maxPool1d');
  const k = size1d(kernelSize, 1, 1, 'maxPool1d', 'kernelSize');
  const stride = size1d(options.stride, k, 1, 'maxPool1d', 'stride');
  const pad = size1d(options.padding, 0, 0, 'maxPool1d', 'padding');
  const dilation = size1d(options.dilation, 1, 1, 'maxPool1d', 'dilation');
  if (pad > Math.floor(k / 2))
    throw new RangeError(`maxPool1d: padding ${pad} must be at most half the kernel size ${k} (as PyTorch)`);
  const [n, c, l] = x.shape;
  const x4 = reshape(x, [n, c, 1, l]);
  const w = window2d(
    x4,
    [1, k],
    [1, stride],
    [0, pad],
    [1, dilation],
    options.ceilMode ?? false,
    'maxPool1d',
    x.shape,
  );
  return reshape(maxPool(x4, w, 'maxPool1d'), [n, c, w.outW]);
}

/** The average-pooling node over x [N, C, H, W]. */
function avgPool(x: Tensor, w: Window2d, countIncludePad: boolean, op: string): Tensor {
  const outShape = [w.batch, w.channels, w.outH, w.outW];
  const out = scratchStorage(x.dtype, sizeOf(outShape));
  kernels().avgPool2d(x.data, out, w, countIncludePad);
  return result(out, outShape, op, [x], (g) => {
    const gx = scratchStorage(x.dtype, x.size);
    kernels().avgPool2dGrad(g, gx, w, countIncludePad);
    return [gx];
  });
}

/**
 * 2-D average pooling, PyTorch's `avg_pool2d`: each window's sum over its divisor (the window clipped to
 * the padded input, or to the input itself without `countIncludePad`).
 */
export function avgPool2d(x: Tensor, kernelSize: Size2d, options: AvgPool2dOptions = {}): Tensor {
  assertLayout(x, 4, '[N, C, H, W]', 'avgPool2d');
  const k = pair2d(kernelSize, 1, 1, 'avgPool2d', 'kernelSize');
  const stride = pair2d(options.stride, k, 1, 'avgPool2d', 'stride');
  const pad = pair2d(options.padding, 0, 0, 'avgPool2d', 'padding');
  checkPoolPadding(pad, k, 'avgPool2d');
  const w = window2d(x, k, stride, pad, [1, 1], options.ceilMode ?? false, 'avgPool2d');
  return avgPool(x, w, options.countIncludePad ?? true, 'avgPool2d');
}

/**
 * Adaptive average pooling to `outputSize`, PyTorch's `adaptive_avg_pool2d`; only 1 (a global average:
 * [N, C, H, W] → [N, C, 1, 1]) for now.
 */
export function adaptiveAvgPool2d(x: Tensor, outputSize: Size2d = 1): Tensor {
  assertLayout(x, 4, '[N, C, H, W]', 'adaptiveAvgPool2d');
  const size = pair2d(outputSize, 1, 1, 'adaptiveAvgPool2d', 'outputSize');
  if (size[0] !== 1 || size[1] !== 1)
    throw new RangeError(
      `adaptiveAvgPool2d: only output size 1 (a global average) is supported, got ${by(size)}`,
    );
  const [, , h, wd] = x.shape;
  return avgPool(
    x,
    window2d(x, [h, wd], [h, wd], [0, 0], [1, 1], false, 'adaptiveAvgPool2d'),
    true,
    'adaptiveAvgPool2d',
  );
}

/** Merge axes `startDim`…`endDim` (default 1 to the last: one row per sample) into one; a view, as reshape. */
export function flatten(x: Tensor, startDim = 1, endDim = -1): Tensor {
  assertTensor(x, 'flatten');
  if (x.ndim === 0) return reshape(x, [1]);
  const s = normAxis(startDim, x.ndim, 'flatten');
  const e = normAxis(endDim, x.ndim, 'flatten');
  if (s > e)
    throw new RangeError(`flatten: startDim ${startDim} comes after endDim ${endDim} in ${fmt(x.shape)}`);
  return reshape(x, [...x.shape.slice(0, s), sizeOf(x.shape.slice(s, e + 1)), ...x.shape.slice(e + 1)]);
}

// ---------------------------------------------------------------------------------------------------------
// Normalization: one node each (statistics, normalization, scale and shift), on the normalization kernels.

/** Options of {@link batchNorm}; PyTorch's `F.batch_norm` arguments. */
export interface BatchNormOptions {
  /** Per-channel mean [C]: what evaluation normalizes with; training updates it in place. */
  runningMean?: Tensor | null;
  /** Per-channel variance [C], alike (training mixes in the batch's unbiased variance). */
  runningVar?: Tensor | null;
  /** Per-channel scale [C] (default none). */
  weight?: Tensor | null;
  /** Per-channel shift [C] (default none). */
  bias?: Tensor | null;
  /** Normalize with the batch's own statistics (default false: with the running ones, as PyTorch). */
  training?: boolean;
  /** In training, running = (1 − momentum)·running + momentum·batch statistic (default 0.1). */
  momentum?: number;
  /** Added to the variance under the square root (default 1e-5). */
  eps?: number;
}

/** Options of {@link layerNorm}; PyTorch's `F.layer_norm` arguments. */
export interface LayerNormOptions {
  /** Scale of the normalized shape (default none). */
  weight?: Tensor | null;
  /** Shift of the normalized shape (default none). */
  bias?: Tensor | null;
  /** Added to the variance under the square root (default 1e-5). */
  eps?: number;
}

/** Throws unless `t` is null or a tensor of shape `shape`; `what` names it. */
function assertShapeOf(
  t: Tensor | null | undefined,
  shape: readonly number[],
  what: string,
  op: string,
): void {
  if (t === null || t === undefined) return;
  assertTensor(t, op);
  if (!sameShape(t.shape, shape))
    throw new Error(`${op}: ${what} has shape ${fmt(t.shape)}, expected ${fmt(shape)}`);
}

/** The normalization node: x normalized by `mean`/`variance` per group, scaled and shifted. */
function normalized(
  x: Tensor,
  g: NormGeometry,
  mean: Storage,
  variance: Storage,
  weight: Tensor | null,
  bias: Tensor | null,
  batchStats: boolean,
  op: string,
): Tensor {
  const out = scratchStorage(x.dtype, x.size, true);
  kernels().normalize(x.data, g, mean, variance, weight?.data ?? null, bias?.data ?? null, out);
  const inputs = [x, ...(weight ? [weight] : []), ...(bias ? [bias] : [])];
  return result(out, x.shape, op, inputs, (gOut) => {
    const gx = x.requiresGrad ? scratchStorage(x.dtype, x.size, true) : null;
    const gw = weight?.requiresGrad ? scratchStorage(x.dtype, weight.size) : null;
    const gb = bias?.requiresGrad ? scratchStorage(x.dtype, bias.size) : null;
    kernels().normalizeGrad(gOut, x.data, g, mean, variance, weight?.data ?? null, batchStats, gx, gw, gb);
    return [gx, ...(weight ? [gw] : []), ...(bias ? [gb] : [])];
  });
}

/** `t` in `dtype`: the tensor itself, a differentiable cast, or null. */
function castOrNull(t: Tensor | null | undefined, dtype: DType): Tensor | null {
  return t ? cast(t, dtype) : null;
}

/**
 * Batch normalization, PyTorch's `batch_norm`, over x [N, C] or [N, C, …] per channel: in training by the
 * batch's mean and biased variance (and the running statistics, when given, move towards the batch's mean
 * and unbiased variance by `momentum`, in place), in evaluation by the running statistics. Then
 * `weight`·x̂ + `bias`. Gradients flow to x, weight and bias, through the batch statistics in training.
 */
export function batchNorm(x: Tensor, options: BatchNormOptions = {}): Tensor {
  assertTensor(x, 'batchNorm');
  if (x.ndim < 2 || x.size === 0)
    throw new Error(
      `batchNorm: input has shape ${fmt(x.shape)}, expected [N, C] or [N, C, …] with no empty axis`,
    );
  const { runningMean, runningVar, weight, bias } = options;
  const training = options.training ?? false;
  const momentum = options.momentum ?? 0.1;
  const eps = options.eps ?? 1e-5;
  const channels = x.shape[1];
  for (const [t, what] of [
    [runningMean, 'runningMean'],
    [runningVar, 'runningVar'],
    [weight, 'weight'],
    [bias, 'bias'],
  ] as const)
    assertShapeOf(t, [channels], `${what} (one per channel of input ${fmt(x.shape)})`, 'batchNorm');
  if (!runningMean !== !runningVar)
    throw new Error('batchNorm: give both runningMean and runningVar, or neither');
  if (!(eps >= 0) || !(momentum >= 0 && momentum <= 1))
    throw new RangeError(
      `batchNorm: eps must be ≥ 0 and momentum in [0, 1], got eps ${eps}, momentum ${momentum}`,
    );
  const g: NormGeometry = {
    outer: x.shape[0],
    groups: channels,
    inner: x.size / (x.shape[0] * channels),
    affine: 'group',
    eps,
  };
  let dtype = x.dtype;
  for (const t of [weight, bias]) if (t) dtype = promote(dtype, t.dtype);
  const xc = cast(x, dtype);
  if (!training) {
    if (!runningMean || !runningVar)
      throw new Error(
        'batchNorm: evaluation (training: false) normalizes by runningMean and runningVar; give them',
      );
    const mean = storageCtor(dtype).from(runningMean.data);
    const variance = storageCtor(dtype).from(runningVar.data);
    return normalized(
      xc,
      g,
      mean,
      variance,
      castOrNull(weight, dtype),
      castOrNull(bias, dtype),
      false,
      'batchNorm',
    );
  }
  const count = g.outer * g.inner;
  if (count < 2)
    throw new Error(
      `batchNorm: training needs more than 1 value per channel, got input ${fmt(x.shape)} (as PyTorch)`,
    );
  const mean = scratchStorage(dtype, channels);
  const variance = scratchStorage(dtype, channels);
  kernels().moments(xc.data, g, mean, variance);
  if (runningMean && runningVar) {
    // One update per channel (not per element), in PyTorch's order.
    const rm = runningMean.data;
    const rv = runningVar.data;
    for (let c = 0; c < channels; c++) {
      rm[c] = momentum * mean[c] + (1 - momentum) * rm[c];
      rv[c] = momentum * ((variance[c] * count) / (count - 1)) + (1 - momentum) * rv[c];
    }
  }
  return normalized(
    xc,
    g,
    mean,
    variance,
    castOrNull(weight, dtype),
    castOrNull(bias, dtype),
    true,
    'batchNorm',
  );
}

/**
 * Layer normalization, PyTorch's `layer_norm`: each sample's last axes (`normalizedShape`) normalized by
 * their own mean and biased variance, then `weight`·x̂ + `bias` (both of `normalizedShape`).
 */
export function layerNorm(
  x: Tensor,
  normalizedShape: number | readonly number[],
  options: LayerNormOptions = {},
): Tensor {
  assertTensor(x, 'layerNorm');
  const shape = typeof normalizedShape === 'number' ? [normalizedShape] : [...normalizedShape];
  if (shape.length === 0 || !shape.every((d) => Number.isInteger(d) && d >= 1))
    throw new RangeError(
      `layerNorm: normalizedShape must be positive integers, got ${JSON.stringify(normalizedShape)}`,
    );
  if (x.ndim < shape.length || !sameShape(x.shape.slice(x.ndim - shape.length), shape))
    throw new Error(
      `layerNorm: input has shape ${fmt(x.shape)}, expected [..., ${shape.join(', ')}] (its last axes the normalized shape)`,
    );
  const eps = options.eps ?? 1e-5;
  if (!(eps >= 0)) throw new RangeError(`layerNorm: eps must be ≥ 0, got ${eps}`);
  assertShapeOf(options.weight, shape, 'weight', 'layerNorm');
  assertShapeOf(options.bias, shape, 'bias', 'layerNorm');
  let dtype = x.dtype;
  for (const t of [options.weight, options.bias]) if (t) dtype = promote(dtype, t.dtype);
  const xc = cast(x, dtype);
  const inner = sizeOf(shape);
  const g: NormGeometry = { outer: 1, groups: x.size / inner, inner, affine: 'inner', eps };
  const mean = scratchStorage(dtype, g.groups);
  const variance = scratchStorage(dtype, g.groups);
  kernels().moments(xc.data, g, mean, variance);
  return normalized(
    xc,
    g,
    mean,
    variance,
    castOrNull(options.weight, dtype),
    castOrNull(options.bias, dtype),
    true,
    'layerNorm',
  );
}
