/**
 * Seeded randomness with numpy's legacy `np.random` semantics: `random.seed(42); random.rand(2, 2)` gives
 * the numbers `np.random.seed(42); np.random.rand(2, 2)` gives, bit for bit.
 *
 * There is one default stream (what `random.seed` seeds) and any number of explicit `RandomState`s; every
 * random choice in the library (initialisation, shuffling, dropout) takes an optional `rng` and falls back
 * to the default stream.
 */
import { MT19937, type MT19937State } from './mt19937.js';
import { allocStorage, Tensor } from './tensor.js';

/** The saved state of a random stream (plain JSON). */
export type RandomStateSnapshot = MT19937State;
export { MT19937, type MT19937State };

function shapeArgs(shape: (number | readonly number[])[]): number[] {
  const s =
    shape.length === 1 && Array.isArray(shape[0])
      ? [...(shape[0] as readonly number[])]
      : (shape as number[]);
  for (const d of s)
    if (!Number.isInteger(d) || d < 0)
      throw new RangeError(`random: shape sizes must be non-negative integers, got ${d}`);
  return s;
}

/** A random stream reproducing numpy's legacy `RandomState` (MT19937). */
export class RandomState {
  /** The underlying generator. */
  readonly mt: MT19937;

  /** A stream seeded like `np.random.RandomState(seed)`; an unseeded one starts from seed 0. */
  constructor(seed = 0) {
    this.mt = new MT19937(seed);
  }

  /** Reseed, as `np.random.seed(seed)`. */
  seed(seed: number): void {
    this.mt.seed(seed);
  }

  /** Uniform [0, 1) samples of the given shape, float64 (as numpy's `rand`). */
  rand(...shape: (number | readonly number[])[]): Tensor {
    const s = shapeArgs(shape);
    const t = new Tensor(
      allocStorage(
        'float64',
        s.reduce((a, b) => a * b, 1),
      ),
      s,
    );
    this.mt.fillRandom(t.data);
    return t;
  }

  /** Standard normal samples of the given shape, float64 (as numpy's `randn`). */
  randn(...shape: (number | readonly number[])[]): Tensor {
    const s = shapeArgs(shape);
    const t = new Tensor(
      allocStorage(
        'float64',
        s.reduce((a, b) => a * b, 1),
      ),
      s,
    );
    this.mt.fillGauss(t.data);
    return t;
  }

  /** A random permutation of 0…n−1 (as numpy's `permutation(n)`). */
  permutation(n: number): Int32Array {
    if (!Number.isInteger(n) || n < 0)
      throw new RangeError(`permutation: n must be a non-negative integer, got ${n}`);
    return this.mt.permutation(n);
  }

  /**
   * Shuffle `a` in place, as numpy's `shuffle`: `permutation(n)` is `arange(n)` shuffled, so shuffling an
   * array that holds 0…n−1 gives the same order with the same draws, without a new array.
   */
  shuffle(a: Int32Array | number[]): void {
    this.mt.shuffle(a);
  }

  /** One uniform float64 in [0, 1). */
  random(): number {
    return this.mt.random();
  }

  /**
   * Fill `out` with an inverted-dropout mask drawn in order: 0 where `random()` falls below `p`, else
   * `keep` (the same draws and values as that loop over `random()`, faster).
   */
  fillMask(out: Float32Array | Float64Array, p: number, keep: number): void {
    this.mt.fillMask(out, p, keep);
  }

  /** Fill `out` with uniform samples in [low, high), drawn in order. */
  fillUniform(out: Float32Array | Float64Array, low: number, high: number): void {
    for (let i = 0; i < out.length; i++) out[i] = this.mt.uniform(low, high);
  }

  /** Fill `out` with normal samples of the given mean and standard deviation, drawn in order. */
  fillNormal(out: Float32Array | Float64Array, mean: number, std: number): void {
    for (let i = 0; i < out.length; i++) out[i] = this.mt.normal(mean, std);
  }

  /** The stream's full state, to save in a checkpoint. */
  getState(): RandomStateSnapshot {
    return this.mt.getState();
  }

  /** Restore a state from `getState()`: the stream continues exactly where it was. */
  setState(state: RandomStateSnapshot): void {
    this.mt.setState(state);
  }
}

/** The default stream, seeded with 0 until `seed()` is called. */
export const defaultStream = new RandomState(0);

/** Reseed the default stream, as `np.random.seed(n)`. */
export function seed(n: number): void {
  defaultStream.seed(n);
}

/** Uniform [0, 1) samples from the default stream (float64 unless `dtype` is given to `.to()`). */
export function rand(...shape: (number | readonly number[])[]): Tensor {
  return defaultStream.rand(...shape);
}

/** Standard normal samples from the default stream. */
export function randn(...shape: (number | readonly number[])[]): Tensor {
  return defaultStream.randn(...shape);
}

/** A random permutation of 0…n−1 from the default stream. */
export function permutation(n: number): Int32Array {
  return defaultStream.permutation(n);
}

/** The default stream's state. */
export function getState(): RandomStateSnapshot {
  return defaultStream.getState();
}

/** Restore the default stream's state. */
export function setState(state: RandomStateSnapshot): void {
  defaultStream.setState(state);
}
