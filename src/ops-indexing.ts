/**
 * The primitives sequence models need beyond `ops.ts`, each forward with its backward right below it:
 * joining and cutting along an axis (concat, narrow; stack, split and chunk composed from them), selecting
 * along an axis (indexSelect / embedding, gather, scatterAdd; gradients of repeated indices add up),
 * elementwise choice (where; maskedFill, triu and tril composed from it), and the selections that have no
 * gradient (argmax, topK's positions, multinomial sampling). Loops over elements live in the kernels
 * (`src/kernels/indexing.ts`); what loops here walks indices or random draws.
 */
import { kernels } from './kernels/index.js';
import type { Storage } from './kernels/types.js';
import { assertTensor, promote, reshape, result, sumTo, transpose } from './ops.js';
import { defaultStream, type RandomState } from './random.js';
import { broadcastShapes, fmt, normAxis, padShape, sameShape, sizeOf, type Shape } from './shape.js';
import { scratchStorage, Tensor, type DType } from './tensor.js';

/** x viewed as [outer, n, inner] around `axis`. */
function around(shape: Shape, axis: number): { outer: number; n: number; inner: number } {
  return {
    outer: sizeOf(shape.slice(0, axis)),
    n: shape[axis],
    inner: sizeOf(shape.slice(axis + 1)),
  };
}

function dtypeOf(g: Storage): DType {
  return g instanceof Float64Array ? 'float64' : 'float32';
}

/** Integer positions in [0, n) as an Int32Array, naming the op and the bad entry otherwise. */
function positions(src: ArrayLike<number>, n: number, op: string): Int32Array {
  const out = new Int32Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const v = src[i];
    if (!Number.isInteger(v) || v < 0 || v >= n)
      throw new RangeError(`${op}: index ${v} at position ${i} is outside 0…${n - 1}`);
    out[i] = v;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Joining and cutting along an axis.

/**
 * Join tensors along an existing axis (PyTorch's `cat`, numpy's `concatenate`); all other axes must agree.
 * The result is float64 when any input is.
 */
export function concat(tensors: readonly Tensor[], axis = 0): Tensor {
  if (!Array.isArray(tensors as unknown) || tensors.length === 0)
    throw new Error('concat: expected a non-empty array of tensors');
  tensors.forEach((t) => assertTensor(t, 'concat'));
  const first = tensors[0];
  if (first.ndim === 0) throw new Error('concat: scalars have no axis to join along; use stack');
  const ax = normAxis(axis, first.ndim, 'concat');
  let total = 0;
  let dtype: DType = first.dtype;
  for (let i = 0; i < tensors.length; i++) {
    const t = tensors[i];
    const same = t.ndim === first.ndim && t.shape.every((d, j) => j === ax || d === first.shape[j]);
    if (!same)
      throw new Error(
        `concat: tensor ${i} has shape ${fmt(t.shape)}, tensor 0 ${fmt(first.shape)}: they may differ only along axis ${ax}`,
      );
    total += t.shape[ax];
    dtype = promote(dtype, t.dtype);
  }
  const { outer, inner } = around(first.shape, ax);
  const rowOut = total * inner;
  const shape = first.shape.map((d, j) => (j === ax ? total : d));
  const out = scratchStorage(dtype, outer * rowOut);
  const K = kernels();
  const offsets: number[] = [];
  let off = 0;
  for (const t of tensors) {
    const block = t.shape[ax] * inner;
    K.copyBlocks(t.data, 0, block, out, off, rowOut, outer, block);
    offsets.push(off);
    off += block;
  }
  return result(out, shape, 'concat', [...tensors], (g) =>
    tensors.map((t, i) => {
      if (!t.requiresGrad) return null;
      const block = t.shape[ax] * inner;
      const gt = scratchStorage(dtypeOf(g), outer * block);
      kernels().copyBlocks(g, offsets[i], rowOut, gt, 0, block, outer, block);
      return gt;
    }),
  );
}

/** Join same-shaped tensors along a new axis (PyTorch's and numpy's `stack`): concat of unsqueezed views. */
export function stack(tensors: readonly Tensor[], axis = 0): Tensor {
  if (!Array.isArray(tensors as unknown) || tensors.length === 0)
    throw new Error('stack: expected a non-empty array of tensors');
  tensors.forEach((t) => assertTensor(t, 'stack'));
  const shape = tensors[0].shape;
  tensors.forEach((t, i) => {
    if (!sameShape(t.shape, shape))
      throw new Error(`stack: tensor ${i} has shape ${fmt(t.shape)}, expected ${fmt(shape)} as tensor 0`);
  });
  const ax = normAxis(axis, shape.length + 1, 'stack');
  const unsqueezed = [...shape.slice(0, ax), 1, ...shape.slice(ax)];
  return concat(
    tensors.map((t) => reshape(t, unsqueezed)),
    ax,
  );
}

/**
 * The `length` entries from `start` along `axis` (PyTorch's `narrow`, numpy's `x[..., start:start+length]`),
 * copied; the gradient lands in those entries and is zero elsewhere.
 */
export function narrow(x: Tensor, axis: number, start: number, length: number): Tensor {
  assertTensor(x, 'narrow');
  const ax = normAxis(axis, x.ndim, 'narrow');
  const { outer, n, inner } = around(x.shape, ax);
  if (!Number.isInteger(start) || !Number.isInteger(length) || start < 0 || length < 0 || start + length > n)
    throw new RangeError(
      `narrow: entries ${start}…${start + length - 1} (start ${start}, length ${length}) are not within axis ${ax} of ${fmt(x.shape)}`,
    );
  const shape = x.shape.map((d, j) => (j === ax ? length : d));
  const block = length * inner;
  const out = scratchStorage(x.dtype, outer * block);
  kernels().copyBlocks(x.data, start * inner, n * inner, out, 0, block, outer, block);
  return result(out, shape, 'narrow', [x], (g) => {
    const gx = scratchStorage(dtypeOf(g), x.size);
    kernels().copyBlocks(g, 0, block, gx, start * inner, n * inner, outer, block);
    return [gx];
  });
}

/**
 * Cut along `axis` into pieces (PyTorch's `split`): of `sizes[i]` entries each, or, for a number, of that
 * many entries each with a shorter last piece. Each piece is a `narrow`.
 */
export function split(x: Tensor, sizes: number | readonly number[], axis = 0): Tensor[] {
  assertTensor(x, 'split');
  const ax = normAxis(axis, x.ndim, 'split');
  const n = x.shape[ax];
  let parts: number[];
  if (typeof sizes === 'number') {
    if (!Number.isInteger(sizes) || sizes < 1)
      throw new RangeError(`split: piece size must be a positive integer, got ${sizes}`);
    parts = [];
    for (let s = 0; s < n; s += sizes) parts.push(Math.min(sizes, n - s));
  } else {
    parts = [...sizes];
    const total = parts.reduce((a, b) => a + b, 0);
    if (total !== n || parts.some((p) => !Number.isInteger(p) || p < 0))
      throw new RangeError(
        `split: sizes ${fmt(parts)} must be non-negative integers adding up to ${n}, the size of axis ${ax} of ${fmt(x.shape)}`,
      );
  }
  // The pieces' gradients go into one buffer, so a backward costs x's size once rather than once per piece
  // (an LSTM cuts its gates in four and its input projection in one piece per time step). The pieces hang
  // off one identity node, `hub`, whose backward the engine runs after all of theirs: the first piece to
  // run hands a fresh buffer to the hub as its gradient, the others write their slices into that buffer in
  // place and return nothing, and the hub passes it on to x and lets it go before the next pass.
  const { outer, inner } = around(x.shape, ax);
  let shared: Storage | null = null;
  const hub = result(x.data, x.shape, 'split', [x], (g) => {
    shared = null;
    return [g];
  });
  let start = 0;
  return parts.map((p) => {
    const from = start * inner;
    start += p;
    const block = p * inner;
    const out = scratchStorage(x.dtype, outer * block);
    kernels().copyBlocks(x.data, from, n * inner, out, 0, block, outer, block);
    const shape = x.shape.map((d, j) => (j === ax ? p : d));
    return result(out, shape, 'split', [hub], (g) => {
      const buffer = shared ?? scratchStorage(x.dtype, x.size);
      kernels().copyBlocks(g, 0, block, buffer, from, n * inner, outer, block);
      if (shared !== null) return [null];
      shared = buffer;
      return [buffer];
    });
  });
}

/** The slices along `axis`, that axis removed (PyTorch's `unbind`): `split` into size-1 pieces, reshaped. */
export function unbind(x: Tensor, axis = 0): Tensor[] {
  assertTensor(x, 'unbind');
  const ax = normAxis(axis, x.ndim, 'unbind');
  const shape = x.shape.filter((_, j) => j !== ax);
  return split(x, 1, ax).map((t) => reshape(t, shape));
}

/** Cut along `axis` into `chunks` pieces of ⌈n / chunks⌉ entries (the last may be shorter; PyTorch's `chunk`). */
export function chunk(x: Tensor, chunks: number, axis = 0): Tensor[] {
  assertTensor(x, 'chunk');
  if (!Number.isInteger(chunks) || chunks < 1)
    throw new RangeError(`chunk: the number of chunks must be a positive integer, got ${chunks}`);
  const n = x.shape[normAxis(axis, x.ndim, 'chunk')];
  return split(x, Math.max(1, Math.ceil(n / chunks)), axis);
}

/** Exchange two axes (PyTorch's `transpose(a, b)`, numpy's `swapaxes`): a permutation, through `transpose`. */
export function swapAxes(x: Tensor, a: number, b: number): Tensor {
  assertTensor(x, 'swapAxes');
  const i = normAxis(a, x.ndim, 'swapAxes');
  const j = normAxis(b, x.ndim, 'swapAxes');
  if (i === j) return x;
  const perm = [...Array(x.ndim).keys()];
  [perm[i], perm[j]] = [j, i];
  return transpose(x, perm);
}

// ---------------------------------------------------------------------------------------------------------
// Selecting along an axis.

/** Indices as positions with their shape (a Tensor keeps its shape; a list is 1-D). */
function indexWithShape(
  index: ArrayLike<number> | Tensor,
  n: number,
  op: string,
): { idx: Int32Array; shape: Shape } {
  if (index instanceof Tensor) return { idx: positions(index.data, n, op), shape: index.shape };
  if (index === null || typeof index !== 'object' || typeof index.length !== 'number')
    throw new TypeError(`${op}: expected indices as a Tensor or an array of integers`);
  return { idx: positions(index, n, op), shape: [index.length] };
}

function takeRows(x: Tensor, axis: number, index: ArrayLike<number> | Tensor, op: string, skip = -1): Tensor {
  assertTensor(x, op);
  const ax = normAxis(axis, x.ndim, op);
  const { outer, n, inner } = around(x.shape, ax);
  const { idx, shape: iShape } = indexWithShape(index, n, op);
  const shape = [...x.shape.slice(0, ax), ...iShape, ...x.shape.slice(ax + 1)];
  const out = scratchStorage(x.dtype, outer * idx.length * inner);
  kernels().take(x.data, outer, n, inner, idx, out);
  return result(out, shape, op, [x], (g) => {
    const gx = scratchStorage(dtypeOf(g), x.size);
    kernels().takeGrad(g, outer, n, inner, idx, gx);
    // The padding row gets no gradient (PyTorch's padding_idx): it stays what it was set to.
    if (skip >= 0)
      for (let a = 0; a < outer; a++) gx.fill(0, (a * n + skip) * inner, (a * n + skip + 1) * inner);
    return [gx];
  });
}

/**
 * The entries at `index` along `axis` (PyTorch's `index_select`, numpy's `take`): the result's shape is
 * x's with that axis replaced by the index's shape (a list of indices is 1-D). Repeated indices are
 * allowed; their gradients add up.
 */
export function indexSelect(x: Tensor, axis: number, index: ArrayLike<number> | Tensor): Tensor {
  return takeRows(x, axis, index, 'indexSelect');
}

/** Options of {@link embedding}. */
export interface EmbeddingOpOptions {
  /** A row that gets no gradient (PyTorch's `padding_idx`); negative counts from the end. */
  paddingIdx?: number | null;
}

/**
 * Rows of `weight` [numEmbeddings, dim] for each index (PyTorch's `F.embedding(input, weight)`): the
 * result has shape [...indices.shape, dim]; gradients of repeated indices add up.
 */
export function embedding(
  indices: ArrayLike<number> | Tensor,
  weight: Tensor,
  options: EmbeddingOpOptions = {},
): Tensor {
  assertTensor(weight, 'embedding');
  if (weight.ndim !== 2)
    throw new Error(`embedding: weight must be [numEmbeddings, dim], got ${fmt(weight.shape)}`);
  const p = options.paddingIdx ?? null;
  const skip = p === null ? -1 : p < 0 ? p + weight.shape[0] : p;
  return takeRows(weight, 0, indices, 'embedding', skip);
}

/** Validate a same-rank index tensor for gather / scatterAdd; other axes must match `like`. */
function axisIndex(
  x: Tensor,
  axis: number,
  index: Tensor,
  like: Shape,
  op: string,
): { ax: number; outer: number; n: number; inner: number; m: number; idx: Int32Array } {
  assertTensor(index, op);
  const ax = normAxis(axis, x.ndim, op);
  if (index.ndim !== x.ndim || index.shape.some((d, j) => j !== ax && d !== like[j]))
    throw new Error(
      `${op}: index of shape ${fmt(index.shape)} must have the shape ${fmt(like)} except along axis ${ax}`,
    );
  const { outer, n, inner } = around(x.shape, ax);
  return { ax, outer, n, inner, m: index.shape[ax], idx: positions(index.data, n, op) };
}

/**
 * PyTorch's `gather`: out[i][j][k] = x[i][index[i][j][k]][k] for axis 1 (alike for any axis). `index` has
 * x's rank and x's sizes except along `axis`; the result has the index's shape. The gradient scatters back
 * with repeated positions adding up.
 */
export function gather(x: Tensor, axis: number, index: Tensor): Tensor {
  assertTensor(x, 'gather');
  const { outer, n, inner, m, idx } = axisIndex(x, axis, index, x.shape, 'gather');
  const out = scratchStorage(x.dtype, index.size);
  kernels().gatherAxis(x.data, outer, n, inner, idx, m, out);
  return result(out, index.shape, 'gather', [x], (g) => {
    const gx = scratchStorage(dtypeOf(g), x.size);
    kernels().scatterAddAxis(g, outer, n, inner, idx, m, gx);
    return [gx];
  });
}

/**
 * PyTorch's `scatter_add`: a copy of `x` with each entry of `src` added at its `index` along `axis`
 * (index and src of one shape, x's sizes except along `axis`). Gradients: x gets the result's, src the
 * result's gathered at `index`.
 */
export function scatterAdd(x: Tensor, axis: number, index: Tensor, src: Tensor): Tensor {
  assertTensor(x, 'scatterAdd');
  assertTensor(src, 'scatterAdd');
  if (!sameShape(index.shape, src.shape))
    throw new Error(`scatterAdd: index ${fmt(index.shape)} and src ${fmt(src.shape)} must have one shape`);
  const { outer, n, inner, m, idx } = axisIndex(x, axis, index, x.shape, 'scatterAdd');
  const out = scratchStorage(promote(x.dtype, src.dtype), x.size);
  out.set(x.data);
  kernels().scatterAddAxis(src.data, outer, n, inner, idx, m, out);
  return result(out, x.shape, 'scatterAdd', [x, src], (g) => {
    let gs: Storage | null = null;
    if (src.requiresGrad) {
      gs = scratchStorage(dtypeOf(g), src.size);
      kernels().gatherAxis(g, outer, n, inner, idx, m, gs);
    }
    return [g, gs];
  });
}

// ---------------------------------------------------------------------------------------------------------
// Elementwise choice.

/** `x` broadcast to `shape` (itself when it already has it). */
function expandTo(x: Storage, xShape: Shape, shape: Shape): Storage {
  if (sameShape(xShape, shape)) return x;
  const out = scratchStorage(dtypeOf(x), sizeOf(shape));
  kernels().expand(x, padShape(xShape, shape.length), out, shape);
  return out;
}

function scalarLike(v: number, dtype: DType): Tensor {
  const s = scratchStorage(dtype, 1);
  s[0] = v;
  return new Tensor(s, []);
}

/**
 * `a` where `cond` is non-zero, else `b` (PyTorch's and numpy's `where`), broadcasting all three. Each
 * side's gradient is the result's where it was chosen and zero elsewhere; `cond` gets none.
 */
export function where(cond: Tensor, a: Tensor | number, b: Tensor | number): Tensor {
  assertTensor(cond, 'where');
  const like = a instanceof Tensor ? a.dtype : b instanceof Tensor ? b.dtype : cond.dtype;
  const at = typeof a === 'number' ? scalarLike(a, like) : a;
  const bt = typeof b === 'number' ? scalarLike(b, like) : b;
  assertTensor(at, 'where');
  assertTensor(bt, 'where');
  const shape = broadcastShapes(broadcastShapes(cond.shape, at.shape, 'where'), bt.shape, 'where');
  const dtype = promote(at.dtype, bt.dtype);
  const c = expandTo(cond.data, cond.shape, shape);
  const size = sizeOf(shape);
  const out = scratchStorage(dtype, size);
  kernels().select(c, expandTo(at.data, at.shape, shape), expandTo(bt.data, bt.shape, shape), out);
  return result(out, shape, 'where', [at, bt], (g) => {
    const zero = scratchStorage(dtypeOf(g), size);
    const part = (x: Tensor, chosen: boolean): Storage | null => {
      if (!x.requiresGrad) return null;
      const gx = scratchStorage(dtypeOf(g), size);
      if (chosen) kernels().select(c, g, zero, gx);
      else kernels().select(c, zero, g, gx);
      return sumTo(gx, shape, x.shape);
    };
    return [part(at, true), part(bt, false)];
  });
}

/** `value` where `mask` is non-zero, else `x` (PyTorch's `masked_fill`); the mask broadcasts against x. */
export function maskedFill(x: Tensor, mask: Tensor, value: number): Tensor {
  assertTensor(x, 'maskedFill');
  const out = where(mask, scalarLike(value, x.dtype), x);
  if (!sameShape(out.shape, x.shape))
    throw new Error(`maskedFill: mask ${fmt(mask.shape)} broadcasts x ${fmt(x.shape)} to ${fmt(out.shape)}`);
  return out;
}

/** 1 where column − row ≥ k (upper) or ≤ k (lower) over the last two axes of `shape`, else 0. */
function band(shape: Shape, k: number, upper: boolean, dtype: DType, op: string): Tensor {
  if (shape.length < 2) throw new Error(`${op}: needs at least two axes, got ${fmt(shape)}`);
  if (!Number.isInteger(k)) throw new RangeError(`${op}: diagonal must be an integer, got ${k}`);
  const rows = shape[shape.length - 2];
  const cols = shape[shape.length - 1];
  const m = scratchStorage(dtype, rows * cols);
  for (let r = 0; r < rows; r++)
    for (let c = 0; c < cols; c++) m[r * cols + c] = (upper ? c - r >= k : c - r <= k) ? 1 : 0;
  return new Tensor(m, [rows, cols]);
}

/**
 * The upper triangle of the last two axes, zero below diagonal `k` (PyTorch's `triu`: keeps column − row
 * ≥ k). `triu(ones([t, t]), 1)` is the causal mask: 1 where a position would see its future.
 */
export function triu(x: Tensor, k = 0): Tensor {
  assertTensor(x, 'triu');
  return where(band(x.shape, k, true, x.dtype, 'triu'), x, 0);
}

/** The lower triangle of the last two axes, zero above diagonal `k` (PyTorch's `tril`: keeps column − row ≤ k). */
export function tril(x: Tensor, k = 0): Tensor {
  assertTensor(x, 'tril');
  return where(band(x.shape, k, false, x.dtype, 'tril'), x, 0);
}

// ---------------------------------------------------------------------------------------------------------
// Selections without a gradient.

/** Options of {@link argmax}. */
export interface ArgmaxOptions {
  /** Keep the reduced axis with size 1. */
  keepDims?: boolean;
}

/**
 * Position of the largest entry along `axis` (over all entries, flattened, when omitted), as PyTorch's
 * `argmax`: the first maximum, NaN counting as largest. Positions come as a float64 tensor without gradient.
 */
export function argmax(x: Tensor, axis?: number, options: ArgmaxOptions = {}): Tensor {
  assertTensor(x, 'argmax');
  if (x.size === 0) throw new Error(`argmax: tensor of shape ${fmt(x.shape)} is empty`);
  if (axis === undefined) {
    const pos = new Int32Array(1);
    kernels().topK(x.data, 1, x.size, 1, 1, pos);
    return new Tensor(Float64Array.of(pos[0]), options.keepDims ? x.shape.map(() => 1) : []);
  }
  const ax = normAxis(axis, x.ndim, 'argmax');
  const { outer, n, inner } = around(x.shape, ax);
  const pos = new Int32Array(outer * inner);
  kernels().topK(x.data, outer, n, inner, 1, pos);
  const shape = options.keepDims
    ? x.shape.map((d, j) => (j === ax ? 1 : d))
    : x.shape.filter((_, j) => j !== ax);
  return new Tensor(Float64Array.from(pos), shape);
}

/** What {@link topK} returns. */
export interface TopK {
  /** The k largest entries along the axis, largest first; differentiable (the gradient goes back to where each came from). */
  values: Tensor;
  /** Their positions along the axis, as a float64 tensor of the same shape, without gradient. */
  indices: Tensor;
}

/**
 * The `k` largest entries along `axis` (default the last) and their positions, largest first (PyTorch's
 * `topk` with its defaults: largest, sorted). NaN counts as largest; ties keep the lower position first.
 */
export function topK(x: Tensor, k: number, axis = -1): TopK {
  assertTensor(x, 'topK');
  const ax = normAxis(axis, x.ndim, 'topK');
  const { outer, n, inner } = around(x.shape, ax);
  if (!Number.isInteger(k) || k < 0 || k > n)
    throw new RangeError(`topK: k = ${k} must be an integer in 0…${n} (axis ${ax} of ${fmt(x.shape)})`);
  const pos = new Int32Array(outer * k * inner);
  if (k > 0) kernels().topK(x.data, outer, n, inner, k, pos);
  const shape = x.shape.map((d, j) => (j === ax ? k : d));
  const indices = new Tensor(Float64Array.from(pos), shape);
  return { values: gather(x, ax, indices), indices };
}

/** Options of {@link multinomial}. */
export interface MultinomialOptions {
  /** Draw with replacement (default false, as PyTorch: each category at most once per row). */
  replacement?: boolean;
  /** The stream to draw from (default: the library's default stream). */
  rng?: RandomState;
}

/**
 * Sample category indices from the non-negative weights along the last axis (PyTorch's `multinomial`;
 * weights need not sum to 1): shape [..., numSamples], float64, no gradient. Each draw takes one
 * `rng.random()` u and picks the first category whose running sum of weights exceeds u · total, rows in
 * order, so a seeded stream gives the same samples everywhere. Without replacement a drawn category's
 * weight is set aside for the rest of its row.
 */
export function multinomial(probs: Tensor, numSamples = 1, options: MultinomialOptions = {}): Tensor {
  assertTensor(probs, 'multinomial');
  if (probs.ndim === 0) throw new Error('multinomial: needs weights along at least one axis');
  const rng = options.rng ?? defaultStream;
  const replacement = options.replacement ?? false;
  const cats = probs.shape[probs.ndim - 1];
  const rows = probs.size / Math.max(cats, 1);
  if (!Number.isInteger(numSamples) || numSamples < 1)
    throw new RangeError(`multinomial: numSamples must be a positive integer, got ${numSamples}`);
  if (!replacement && numSamples > cats)
    throw new RangeError(`multinomial: ${numSamples} samples without replacement from ${cats} categories`);
  const p = probs.data;
  for (let i = 0; i < p.length; i++)
    if (!(p[i] >= 0) || p[i] === Infinity)
      throw new RangeError(
        `multinomial: weight ${p[i]} at row ${Math.floor(i / cats)}, category ${i % cats}: weights must be finite and ≥ 0`,
      );
  const out = new Float64Array(rows * numSamples);
  const w = new Float64Array(cats);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cats; c++) w[c] = p[r * cats + c];
    for (let s = 0; s < numSamples; s++) {
      let total = 0;
      let last = -1;
      for (let c = 0; c < cats; c++)
        if (w[c] > 0) {
          total += w[c];
          last = c;
        }
      if (last < 0)
        throw new RangeError(
          `multinomial: row ${r} has no category with positive weight left (sample ${s + 1} of ${numSamples})`,
        );
      const u = rng.random() * total;
      // u < total in exact arithmetic; should rounding make it reach the sum, the last category takes it.
      let pick = last;
      let acc = 0;
      for (let c = 0; c < last; c++) {
        acc += w[c];
        if (w[c] > 0 && acc > u) {
          pick = c;
          break;
        }
      }
      out[r * numSamples + s] = pick;
      if (!replacement) w[pick] = 0;
    }
  }
  return new Tensor(out, [...probs.shape.slice(0, -1), numSamples]);
}
