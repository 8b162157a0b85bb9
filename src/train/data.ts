/**
 * The data side of training: a dataset's targets as a tensor (class labels or values), and batches cut
 * from it in a shuffled order without allocating where the caller can reuse a buffer.
 */
import { kernelStorage } from '../kernels/index.js';
import type { Storage } from '../kernels/types.js';
import { fmt } from '../shape.js';
import { allocStorage, Tensor } from '../tensor.js';

/** Inputs and targets: `x` is [N, features]; `y` is [N, outputs] or N class indices. */
export interface Dataset {
  x: Tensor;
  y: Tensor | ArrayLike<number>;
}

/** Inputs with their targets as a tensor, and whether those are class indices. */
export interface Split {
  x: Tensor;
  y: Tensor;
  labels: boolean;
}

/**
 * Data that cannot be trained or evaluated on: a NaN or an infinite value among the inputs or the targets.
 * Bad input, not divergence (no learning rate fixes it); the fields say where the value is.
 */
export class DataError extends Error {
  constructor(
    message: string,
    /** The argument holding it, as the message names it: `'data'` or `'validationData'`. */
    readonly dataset: string,
    /** The inputs (`'x'`) or the targets (`'y'`). */
    readonly tensor: 'x' | 'y',
    /** The sample (row) holding the value, from 0. */
    readonly sample: number,
    /** The value's place within its sample (the column, for rows of numbers), from 0. */
    readonly index: number,
    /** The value itself: NaN, Infinity or -Infinity. */
    readonly value: number,
  ) {
    super(message);
    this.name = 'DataError';
  }
}

/**
 * A dataset's targets as a tensor, checked against `n` samples and for values that are not finite; `op`
 * names the caller in messages and `name` the argument (`'data'`, `'validationData'`).
 */
export function toSplit(data: Dataset, op: string, name = 'data'): Split {
  if (data === null || typeof data !== 'object')
    throw new TypeError(`${op}: ${name} must be { x, y } (inputs and targets), got ${String(data)}`);
  if (!(data.x instanceof Tensor) || data.x.ndim < 1)
    throw new TypeError(`${op}: ${name}.x must be a Tensor with a sample axis`);
  const n = data.x.shape[0];
  const y = data.y;
  let split: Split;
  if (y instanceof Tensor) {
    if (y.shape[0] !== n)
      throw new Error(`${op}: x has ${n} samples but y has ${y.shape[0]} (y shape ${fmt(y.shape)})`);
    split = { x: data.x, y, labels: y.ndim === 1 && isIntegral(y.data) };
  } else {
    if (y === null || typeof y !== 'object' || typeof y.length !== 'number')
      throw new TypeError(`${op}: ${name}.y must be a Tensor or a list of class labels`);
    if (y.length !== n) throw new Error(`${op}: x has ${n} samples but y has ${y.length} labels`);
    const s = new Float64Array(n);
    for (let i = 0; i < n; i++) s[i] = y[i];
    split = { x: data.x, y: new Tensor(s, [n]), labels: true };
  }
  checkFinite(split.x, 'x', op, name);
  checkFinite(split.y, 'y', op, name);
  return split;
}

/** Throw a {@link DataError} at the first value of `t` that is NaN or infinite. */
function checkFinite(t: Tensor, which: 'x' | 'y', op: string, name: string): void {
  const a = t.data;
  let i = 0;
  // v - v is 0 for every finite v, NaN for NaN and ±Infinity.
  while (i < a.length && a[i] - a[i] === 0) i++;
  if (i === a.length) return;
  const width = t.size / Math.max(t.shape[0], 1);
  const sample = Math.floor(i / width);
  const index = i - sample * width;
  const at =
    t.ndim === 1
      ? `${name}.${which}[${sample}]`
      : t.ndim === 2
        ? `${name}.${which}[${sample}][${index}]`
        : `${name}.${which}[${sample}] (value ${index} of the sample's ${width})`;
  throw new DataError(
    `${op}: ${at} is ${a[i]}; inputs and targets must be finite numbers (this is bad data, not divergence: ` +
      'no learning rate fixes it; look for missing values or numbers too large for the scaling)',
    name,
    which,
    sample,
    index,
    a[i],
  );
}

function isIntegral(a: Storage): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isInteger(a[i])) return false;
  return true;
}

/**
 * Rows `idx[from..to)` of `t` as a new tensor (or `t` itself when that is every row in order). With
 * `reuse`, the rows go into a tensor kept there per row count, overwritten by the next call: the fused
 * path, which holds no reference to its inputs, takes its batches that way without allocating.
 */
export function rows(
  t: Tensor,
  idx: Int32Array | null,
  from: number,
  to: number,
  reuse?: Map<number, Tensor>,
): Tensor {
  const n = t.shape[0];
  if (from === 0 && to === n && (idx === null || isIdentity(idx))) return t;
  const width = t.size / Math.max(n, 1);
  let kept = reuse?.get(to - from);
  if (reuse && !kept) {
    kept = new Tensor(kernelStorage(t.dtype, (to - from) * width), [to - from, ...t.shape.slice(1)]);
    reuse.set(to - from, kept);
  }
  const out = kept ? kept.data : allocStorage(t.dtype, (to - from) * width);
  if (idx === null) out.set(t.data.subarray(from * width, to * width));
  else
    for (let r = from; r < to; r++) {
      const src = idx[r] * width;
      out.set(t.data.subarray(src, src + width), (r - from) * width);
    }
  return kept ?? new Tensor(out, [to - from, ...t.shape.slice(1)]);
}

function isIdentity(idx: Int32Array): boolean {
  for (let i = 0; i < idx.length; i++) if (idx[i] !== i) return false;
  return true;
}
