/**
 * `gradCheck`: compare the gradients autograd computes with central finite differences, in float64.
 * Every op and loss is tested with it; it is public so users can check their own functions.
 */
import { RandomState } from './random.js';
import { noGrad, Tensor } from './tensor.js';

/** Options of `gradCheck`. */
export interface GradCheckOptions {
  /** Finite-difference step (default 1e-6). */
  eps?: number;
  /** Largest accepted error: an element passes when its absolute or its relative error is within it (default 1e-6). */
  tol?: number;
  /** Seed for the random output weighting of non-scalar outputs (default 0). */
  seed?: number;
}

/** The comparison for one input. */
export interface GradCheckInput {
  /** Largest |analytic − numeric| over the input's elements. */
  maxAbsError: number;
  /** Largest |analytic − numeric| / max(|analytic|, |numeric|) over elements whose scale exceeds 1e-12. */
  maxRelError: number;
  /** Flat index of the element with the largest relative error (−1 when none). */
  worstIndex: number;
  /** Whether every element is within `tol` in absolute or relative terms. */
  ok: boolean;
}

/** What `gradCheck` found. */
export interface GradCheckResult {
  /** Whether every input passed. */
  ok: boolean;
  /** One entry per input, in order. */
  inputs: GradCheckInput[];
}

/**
 * Check `fn`'s gradients with respect to each input. Inputs are copied to float64; a non-scalar output is
 * reduced with fixed random weights (so every output element is checked, not just their sum).
 */
export function gradCheck(
  fn: (...inputs: Tensor[]) => Tensor,
  inputs: Tensor[],
  options: GradCheckOptions = {},
): GradCheckResult {
  const eps = options.eps ?? 1e-6;
  const tol = options.tol ?? 1e-6;
  const xs = inputs.map((t) => {
    const c = t.to('float64');
    return new Tensor(c === t ? t.data.slice() : c.data, t.shape, true);
  });
  let weights: Float64Array | null = null;
  const scalarOf = (out: Tensor): Tensor => {
    if (out.size === 1) return out.to('float64');
    if (!weights) {
      const rng = new RandomState(options.seed ?? 0);
      weights = rng.randn(out.size).data as Float64Array;
    }
    return out
      .to('float64')
      .reshape(-1)
      .mul(new Tensor(weights, [out.size]))
      .sum();
  };
  const y = scalarOf(fn(...xs));
  y.backward();
  const evalAt = (): number => noGrad(() => scalarOf(fn(...xs)).item());
  const results = xs.map((x): GradCheckInput => {
    const analytic = x.grad ? x.grad.data : new Float64Array(x.size);
    let maxAbsError = 0;
    let maxRelError = 0;
    let worstIndex = -1;
    let ok = true;
    for (let i = 0; i < x.size; i++) {
      const orig = x.data[i];
      x.data[i] = orig + eps;
      const up = evalAt();
      x.data[i] = orig - eps;
      const down = evalAt();
      x.data[i] = orig;
      const numeric = (up - down) / (2 * eps);
      const a = analytic[i];
      const abs = Math.abs(a - numeric);
      const scale = Math.max(Math.abs(a), Math.abs(numeric));
      const rel = scale > 1e-12 ? abs / scale : 0;
      if (!(abs <= tol || rel <= tol)) ok = false;
      if (abs > maxAbsError || abs !== abs) maxAbsError = abs;
      if (rel > maxRelError || rel !== rel) {
        maxRelError = rel;
        worstIndex = i;
      }
    }
    return { maxAbsError, maxRelError, worstIndex, ok };
  });
  return { ok: results.every((r) => r.ok), inputs: results };
}
