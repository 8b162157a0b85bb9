/**
 * The seed notebook's network and sample, corrected: a 2‑2‑1 sigmoid network initialised as
 * `np.random.seed(42); rand(2, 2); rand(2, 1)`, zero biases, X = [[0.5, 0.6]], y = [[0.8]], SGD with
 * learning rate 0.1 for 100 epochs on the loss ½·Σ(o − y)².
 */
import { Linear, Sequential, Sigmoid } from './nn/layers.js';
import { RandomState } from './random.js';
import { tensor, type Tensor } from './tensor.js';

/** The notebook's hyperparameters and data. */
export const SEED_SETUP = {
  seed: 42,
  x: [[0.5, 0.6]],
  y: [[0.8]],
  learningRate: 0.1,
  epochs: 100,
} as const;

/**
 * The losses the notebook printed every 10th epoch. They come from its update order, which computes the
 * hidden layer's gradient through w5/w6 after updating them; correct backpropagation differs from the 5th
 * significant digit on.
 */
export const NOTEBOOK_LOSSES: readonly number[] = [
  0.024850926922809005, 0.019815846923920258, 0.015923917754564688, 0.012899201199448299,
  0.010531406234111765, 0.008662813808854386, 0.007175820212663337, 0.00598270229969578, 0.005017757799181896,
  0.0042314681042219015,
];

/**
 * The seed network in float64: Linear(2, 2) with weights rand(2, 2) (w1…w4 as [[w1, w3], [w2, w4]]),
 * sigmoid, Linear(2, 1) with weights rand(2, 1) (w5, w6), sigmoid; biases b1…b3 zero. Draws from `rng`
 * (default: a fresh stream seeded 42, as the notebook's `np.random.seed(42)`).
 */
export function seedNetwork(rng: RandomState = new RandomState(SEED_SETUP.seed)): Sequential {
  return new Sequential(
    new Linear(2, 2, { init: 'rand', dtype: 'float64', rng }),
    new Sigmoid(),
    new Linear(2, 1, { init: 'rand', dtype: 'float64', rng }),
    new Sigmoid(),
  );
}

/** The notebook's one training sample as float64 tensors. */
export function seedData(): { x: Tensor; y: Tensor } {
  return {
    x: tensor(
      SEED_SETUP.x.map((r) => [...r]),
      { dtype: 'float64' },
    ),
    y: tensor(
      SEED_SETUP.y.map((r) => [...r]),
      { dtype: 'float64' },
    ),
  };
}
