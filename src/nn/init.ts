/**
 * Weight initialisers. Each draws from a seeded stream (the default one unless an `rng` is given), in
 * row-major order of the [in, out] weight, so a seed gives the same network everywhere.
 */
import { defaultStream, type RandomState } from '../random.js';
import type { Storage } from '../kernels/types.js';

/** The initialisation schemes of `Linear`. */
export type Init =
  /** PyTorch's Linear default: weight and bias uniform in ±1/√fanIn (kaiming_uniform with a = √5). */
  | 'default'
  /** Uniform [0, 1) like the seed notebook's `np.random.rand`; biases zero. */
  | 'rand'
  /** Glorot/Xavier uniform, ±√(6/(fanIn+fanOut)); biases zero. */
  | 'xavierUniform'
  /** Glorot/Xavier normal, std √(2/(fanIn+fanOut)); biases zero. */
  | 'xavierNormal'
  /** He/Kaiming uniform for ReLU, ±√(6/fanIn); biases zero. */
  | 'heUniform'
  /** He/Kaiming normal for ReLU, std √(2/fanIn); biases zero. */
  | 'heNormal'
  /** All zeros. */
  | 'zeros';

/** Every initialiser name, for validating user input. */
export const INITS: readonly Init[] = [
  'default',
  'rand',
  'xavierUniform',
  'xavierNormal',
  'heUniform',
  'heNormal',
  'zeros',
];

/**
 * Fill a weight (fanIn × fanOut, row-major) and then its bias (if any) by `init`, drawing from `rng`.
 */
export function initLinear(
  init: Init,
  weight: Storage,
  bias: Storage | null,
  fanIn: number,
  fanOut: number,
  rng: RandomState = defaultStream,
): void {
  switch (init) {
    case 'default': {
      const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
      rng.fillUniform(weight, -bound, bound);
      if (bias) rng.fillUniform(bias, -bound, bound);
      return;
    }
    case 'rand':
      rng.fillUniform(weight, 0, 1);
      break;
    case 'xavierUniform': {
      const bound = Math.sqrt(6 / (fanIn + fanOut));
      rng.fillUniform(weight, -bound, bound);
      break;
    }
    case 'xavierNormal':
      rng.fillNormal(weight, 0, Math.sqrt(2 / (fanIn + fanOut)));
      break;
    case 'heUniform': {
      const bound = Math.sqrt(6 / fanIn);
      rng.fillUniform(weight, -bound, bound);
      break;
    }
    case 'heNormal':
      rng.fillNormal(weight, 0, Math.sqrt(2 / fanIn));
      break;
    case 'zeros':
      weight.fill(0);
      break;
    default:
      throw new Error(`Linear: unknown init ${JSON.stringify(init)}; expected one of ${INITS.join(', ')}`);
  }
  if (bias) bias.fill(0);
}
