/**
 * L1 and L2 weight penalties, composed from ops so autograd differentiates them: rate·Σ|w| (gradient
 * rate·sign w) and rate·½·Σw² (gradient rate·w), over the weights only, as TensorFlow Playground.
 * Added to each batch's mean loss, an SGD step then subtracts lr·rate·w (L2), exactly the playground's
 * separate regularization update; unlike it, L1 does not clip a weight that crosses zero to zero.
 */
import * as ops from '../ops.js';
import type { Tensor } from '../tensor.js';
import type { RegularizationChoice } from './config.js';

/** The penalty of `weights` as a scalar tensor, or null when there is none (no term in the graph). */
export function penalty(weights: readonly Tensor[], kind: RegularizationChoice, rate: number): Tensor | null {
  if (kind === 'none' || rate === 0 || weights.length === 0) return null;
  const terms = weights.map((w) =>
    kind === 'L1' ? ops.sum(ops.abs(w)) : ops.mul(ops.sum(ops.mul(w, w)), 0.5),
  );
  let total = terms[0];
  for (let i = 1; i < terms.length; i++) total = ops.add(total, terms[i]);
  return ops.mul(total, rate);
}
