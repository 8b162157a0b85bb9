/**
 * The input features of TensorFlow Playground, computed from a point (x₁, x₂): x₁, x₂, x₁², x₂², x₁x₂,
 * sin x₁, sin x₂.
 */
import { Tensor } from '../tensor.js';
import type { FeatureName } from './config.js';
import { sin } from '../libm.js';

/** Each feature as a function of the point. */
export const FEATURE_FUNCTIONS: { readonly [F in FeatureName]: (x1: number, x2: number) => number } = {
  x1: (x1) => x1,
  x2: (_x1, x2) => x2,
  x1Squared: (x1) => x1 * x1,
  x2Squared: (_x1, x2) => x2 * x2,
  x1x2: (x1, x2) => x1 * x2,
  sinX1: (x1) => sin(x1),
  sinX2: (_x1, x2) => sin(x2),
};

/** The network's input for the points (x1[i], x2[i]): a float64 tensor [points, features]. */
export function featureMatrix(
  x1: ArrayLike<number>,
  x2: ArrayLike<number>,
  features: readonly FeatureName[],
): Tensor {
  const n = x1.length;
  const f = features.length;
  const fns = features.map((name) => FEATURE_FUNCTIONS[name]);
  const out = new Float64Array(n * f);
  for (let i = 0; i < n; i++) for (let j = 0; j < f; j++) out[i * f + j] = fns[j](x1[i], x2[i]);
  return new Tensor(out, [n, f]);
}
