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

/** A dataset's targets as a tensor, checked against `n` samples; `op` names the caller in messages. */
export function toSplit(data: Dataset, op: string): Split {
  if (!(data.x instanceof Tensor) || data.x.ndim < 1)
    throw new Error(`${op}: data.x must be a Tensor with a sample axis`);
  const n = data.x.shape[0];
  const y = data.y;
  if (y instanceof Tensor) {
    if (y.shape[0] !== n)
      throw new Error(`${op}: x has ${n} samples but y has ${y.shape[0]} (y shape ${fmt(y.shape)})`);
    return { x: data.x, y, labels: y.ndim === 1 && isIntegral(y.data) };
  }
  if (y.length !== n) throw new Error(`${op}: x has ${n} samples but y has ${y.length} labels`);
  const s = new Float64Array(n);
  for (let i = 0; i < n; i++) s[i] = y[i];
  return { x: data.x, y: new Tensor(s, [n]), labels: true };
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
