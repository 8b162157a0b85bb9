/**
 * A Linear layer's kernels composed from the primitive ones: the reference set's `linear`/`linearBackward`
 * (and the WebAssembly set's where its own do not run), whose bits every set's must match.
 * y = x·op(W) + b over `rows` rows of `k` inputs and `n` outputs, op(W) = W ([k, n]) or Wᵀ (W stored
 * [n, k], `transW`): the product, then the bias added to each row; backward, the two products of a matmul
 * and the bias gradient as the column sums that `sumTo` takes.
 */
import { broadcastPlan } from '../shape.js';
import type { Kernels, Storage } from './types.js';

/** `Kernels.linear` from `K`'s matmul and binary add (the bias added in place). */
export function linearComposed(
  K: Kernels,
  x: Storage,
  w: Storage,
  bias: Storage | null,
  out: Storage,
  rows: number,
  k: number,
  n: number,
  transW: boolean,
): void {
  K.matmul(x, 0, w, 0, out, 0, rows, k, n, false, transW);
  if (bias !== null) K.binary('add', out, bias, out, broadcastPlan([rows, n], [n], 'add'));
}

/** `Kernels.linearBackward` from `K`'s matmul and reduce; a null output is skipped. */
export function linearBackwardComposed(
  K: Kernels,
  g: Storage,
  x: Storage,
  w: Storage,
  gx: Storage | null,
  gw: Storage | null,
  gb: Storage | null,
  rows: number,
  k: number,
  n: number,
  transW: boolean,
): void {
  // dX = G·op(W)ᵀ
  if (gx !== null) K.matmul(g, 0, w, 0, gx, 0, rows, n, k, false, !transW);
  // dW = Xᵀ·G, or its transpose Gᵀ·X for a transposed W
  if (gw !== null) {
    if (transW) K.matmul(g, 0, x, 0, gw, 0, n, rows, k, true, false);
    else K.matmul(x, 0, g, 0, gw, 0, k, rows, n, true, false);
  }
  if (gb !== null) K.reduce('sum', g, [rows, n], gb, [1, n]);
}
