/**
 * The primitives, each with its forward and its backward side by side, and the few ops composed from
 * them (softmax, logSoftmax, logSumExp, mean). Forward and backward both run on the active kernel set;
 * nothing here loops over elements.
 */
import { kernels } from './kernels/index.js';
import type { BinaryOp, Storage, UnaryOp } from './kernels/types.js';
import type { ActivationOp } from './kernels/unary.js';
import type { LossKernel } from './loss-kernels.js';
import { broadcastPlan, fmt, normAxis, padShape, sameShape, sizeOf, type Shape } from './shape.js';
import { allocStorage, isGradEnabled, noGrad, Tensor, type DType } from './tensor.js';

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
  const s = allocStorage(like.dtype, 1);
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
  const out = allocStorage(g instanceof Float64Array ? 'float64' : 'float32', sizeOf(target));
  kernels().reduce('sum', g, gShape, out, keep);
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Elementwise unary primitives: forward and derivative are both kernel ops keyed by the same name.

function unary(x: Tensor, op: UnaryOp, p0 = 0, p1 = 0): Tensor {
  assertTensor(x, op);
  const k = kernels();
  const out = allocStorage(x.dtype, x.size);
  k.unary(op, x.data, out, p0, p1);
  return result(out, x.shape, op, [x], (g) => {
    const gx = allocStorage(x.dtype, g.length);
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
  const out = allocStorage(dtype, x.size);
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
  const out = allocStorage(promote(a.dtype, b.dtype), plan.size);
  kernels().binary(op, a.data, b.data, out, plan);
  return result(out, plan.shape, op, [a, b], (g) => backward(g, plan.shape));
}

/** A fresh elementwise product/quotient of a gradient and an operand, at the gradient's shape. */
function mapWith(op: BinaryOp, g: Storage, gShape: Shape, x: Tensor): Storage {
  const plan = broadcastPlan(gShape, x.shape, op);
  const out = allocStorage(g instanceof Float64Array ? 'float64' : 'float32', plan.size);
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
    const gb = allocStorage(g instanceof Float64Array ? 'float64' : 'float32', g.length);
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
      const b2 = allocStorage(b.dtype, b.size);
      kernels().binary('mul', b.data, b.data, b2, broadcastPlan(b.shape, b.shape, 'div'));
      const q = allocStorage(ga instanceof Float64Array ? 'float64' : 'float32', ga.length);
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
      const m = allocStorage(g instanceof Float64Array ? 'float64' : 'float32', plan.size);
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
  const b = kernel.buffers((n) => allocStorage(pred.dtype, n), rows, cols);
  const out = allocStorage(pred.dtype, 1);
  out[0] = kernel.forward(kernels(), pred.data, target.data, rows, cols, b);
  return result(out, [], name, [pred], (g) => {
    const gp = allocStorage(pred.dtype, pred.size);
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
  assertTensor(a, 'matmul');
  assertTensor(b, 'matmul');
  if (a.ndim === 0 || b.ndim === 0)
    throw new Error(`matmul: [${a.shape}] @ [${b.shape}]: operands must have at least one axis`);
  const aShape = a.ndim === 1 ? [1, a.shape[0]] : a.shape;
  const bShape = b.ndim === 1 ? [b.shape[0], 1] : b.shape;
  const m = aShape[aShape.length - 2];
  const k = aShape[aShape.length - 1];
  const kb = bShape[bShape.length - 2];
  const n = bShape[bShape.length - 1];
  if (k !== kb)
    throw new Error(`matmul: ${fmt(a.shape)} @ ${fmt(b.shape)}: inner sizes ${k} and ${kb} differ`);
  const dtype = promote(a.dtype, b.dtype);
  const outShapeFull: number[] = [];
  if (aShape.length === 2 && bShape.length === 2) {
    const out = allocStorage(dtype, m * n);
    kernels().matmul(a.data, 0, b.data, 0, out, 0, m, k, n, false, false);
    outShapeFull.push(m, n);
    const shape = dropVectorAxes(outShapeFull, a.ndim, b.ndim);
    return result(out, shape, 'matmul', [a, b], (g) => {
      let ga: Storage | null = null;
      let gb: Storage | null = null;
      if (a.requiresGrad) {
        // dA = G·Bᵀ
        ga = allocStorage(dtype, m * k);
        kernels().matmul(g, 0, b.data, 0, ga, 0, m, n, k, false, true);
      }
      if (b.requiresGrad) {
        // dB = Aᵀ·G
        gb = allocStorage(dtype, k * n);
        kernels().matmul(a.data, 0, g, 0, gb, 0, k, m, n, true, false);
      }
      return [ga, gb];
    });
  }
  return batchedMatmul(a, b, aShape, bShape, m, k, n, dtype);
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
) {
  const aBatch = aShape.slice(0, -2);
  const bBatch = bShape.slice(0, -2);
  const batch = broadcastShapeOf(aBatch, bBatch, a.shape, b.shape);
  const { nb, ao, bo } = batchOffsets(aBatch, bBatch, batch, m * k, k * n);
  const out = allocStorage(dtype, nb * m * n);
  const K = kernels();
  for (let t = 0; t < nb; t++) K.matmul(a.data, ao[t], b.data, bo[t], out, t * m * n, m, k, n, false, false);
  const shape = dropVectorAxes([...batch, m, n], a.ndim, b.ndim);
  return result(out, shape, 'matmul', [a, b], (g) => {
    const K2 = kernels();
    let ga: Storage | null = null;
    let gb: Storage | null = null;
    if (a.requiresGrad) {
      // Per batch dA = G·Bᵀ, then summed over the batch axes a was broadcast along.
      const full = allocStorage(dtype, nb * m * k);
      for (let t = 0; t < nb; t++)
        K2.matmul(g, t * m * n, b.data, bo[t], full, t * m * k, m, n, k, false, true);
      ga = sumTo(full, [...batch, m, k], aShape);
    }
    if (b.requiresGrad) {
      const full = allocStorage(dtype, nb * k * n);
      for (let t = 0; t < nb; t++)
        K2.matmul(a.data, ao[t], g, t * m * n, full, t * k * n, k, m, n, true, false);
      gb = sumTo(full, [...batch, k, n], bShape);
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
  const out = allocStorage(x.dtype, x.size);
  kernels().permute(x.data, x.shape, perm, out);
  const inv = new Array<number>(nd);
  perm.forEach((p, i) => (inv[p] = i));
  return result(out, shape, 'transpose', [x], (g) => {
    const gx = allocStorage(g instanceof Float64Array ? 'float64' : 'float32', g.length);
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
  const out = allocStorage(x.dtype, sizeOf(keep));
  kernels().reduce('sum', x.data, x.shape, out, keep);
  return result(out, shape, 'sum', [x], (g) => {
    const gx = allocStorage(x.dtype, x.size);
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
  const out = allocStorage(x.dtype, sizeOf(keep));
  kernels().reduce('max', x.data, x.shape, out, keep);
  return result(out, shape, 'max', [x], (g) => {
    const K = kernels();
    const plan = broadcastPlan(x.shape, keep, 'max');
    const mask = allocStorage(x.dtype, x.size);
    K.binary('eqMask', x.data, out, mask, plan);
    const count = allocStorage(x.dtype, out.length);
    K.reduce('sum', mask, x.shape, count, keep);
    const share = allocStorage(x.dtype, out.length);
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

/** Softmax along `axis`: exp(logSoftmax(x)). */
export function softmax(x: Tensor, axis = -1): Tensor {
  return exp(logSoftmax(x, axis));
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
  const out = allocStorage(x.dtype, rows);
  kernels().gather(x.data, cols, idx, out);
  return result(out, x.shape.slice(0, -1), 'pick', [x], (g) => {
    const gx = allocStorage(x.dtype, x.size);
    kernels().scatterAdd(g, cols, idx, gx);
    return [gx];
  });
}
