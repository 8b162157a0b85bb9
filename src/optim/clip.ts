/** Gradient clipping by global norm, PyTorch's `torch.nn.utils.clip_grad_norm_`. */
import type { Tensor } from '../tensor.js';

/** Options of {@link clipGradNorm}. */
export interface ClipGradNormOptions {
  /** The p of the p-norm: 2 (default), any p > 0, or Infinity (largest magnitude). */
  normType?: number;
  /** Throw when the total norm is NaN or infinite instead of scaling by it (default false, as PyTorch). */
  errorIfNonfinite?: boolean;
}

/**
 * Scale the gradients of `params` in place so that their total norm is at most `maxNorm`, and return
 * the total norm before clipping. As PyTorch: the total is the p-norm of the parameters' own p-norms
 * (parameters without a gradient are skipped; none gives 0), and when `maxNorm / (total + 1e-6)` is
 * below 1 every gradient is multiplied by it (in the gradient's element type). Sums run in float64.
 */
export function clipGradNorm(
  params: Iterable<Tensor>,
  maxNorm: number,
  options: ClipGradNormOptions = {},
): number {
  const p = options.normType ?? 2;
  if (!(p > 0)) throw new RangeError(`clipGradNorm: normType must be > 0 or Infinity, got ${p}`);
  if (!(maxNorm >= 0)) throw new RangeError(`clipGradNorm: maxNorm must be ≥ 0, got ${maxNorm}`);
  const grads = [];
  for (const t of params) if (t.grad) grads.push(t.grad.data);
  if (grads.length === 0) return 0;
  let total = 0;
  if (p === Infinity) {
    // Math.max keeps a NaN, as PyTorch's amax.
    for (const g of grads) for (let i = 0; i < g.length; i++) total = Math.max(total, Math.abs(g[i]));
  } else {
    let acc = 0;
    for (const g of grads) {
      let s = 0;
      if (p === 2) for (let i = 0; i < g.length; i++) s += g[i] * g[i];
      else for (let i = 0; i < g.length; i++) s += Math.abs(g[i]) ** p;
      // Each parameter's norm, then the norm of those norms (PyTorch's order).
      const norm = p === 2 ? Math.sqrt(s) : s ** (1 / p);
      acc += p === 2 ? norm * norm : norm ** p;
    }
    total = p === 2 ? Math.sqrt(acc) : acc ** (1 / p);
  }
  if (options.errorIfNonfinite && !Number.isFinite(total))
    throw new Error(
      `clipGradNorm: the total norm of order ${p} of the gradients is ${total}, so they cannot be clipped`,
    );
  const coef = maxNorm / (total + 1e-6);
  if (coef < 1 || Number.isNaN(coef))
    for (const g of grads) {
      const c = g instanceof Float32Array ? Math.fround(coef) : coef;
      for (let i = 0; i < g.length; i++) g[i] *= c;
    }
  return total;
}
