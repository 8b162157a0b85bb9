/**
 * Small built-in datasets, generated: the seed notebook's one sample, the XOR truth table, TensorFlow
 * Playground's six 2-D problems and scikit-learn's two moons. Every generator is pure: all randomness comes
 * from the `rng` it is given (a fresh `RandomState(0)` when none is), so the same options give the same
 * table, bit for bit, in Node and in browsers.
 *
 * The playground generators follow the shapes and noise rules of its `src/dataset.ts`; they draw from
 * chainrule's MT19937 stream instead of `Math.random`, so the points are alike in distribution, not equal.
 */
import { RandomState } from '../random.js';
import { SEED_SETUP } from '../seed.js';
import { makeTable, type Table } from './table.js';
import { cos, sin } from '../libm.js';

/** Options of the random generators. */
export interface GeneratorOptions {
  /** Number of rows (default 500). */
  size?: number;
  /**
   * Noise level. For the playground generators 0–0.5, its slider's 0–50% (default 0); for `moons`, the
   * standard deviation of the Gaussian noise added to each coordinate, as scikit-learn's `noise`.
   */
  noise?: number;
  /** The random stream to draw from (default: a fresh `new RandomState(0)`). */
  rng?: RandomState;
}

/** What a generated table is for: the target column is `label` (classes) or `y` (a number). */
export type GeneratorTask = 'classification' | 'regression';

/** One entry of {@link GENERATORS}. */
export interface GeneratorInfo {
  /** One line for help texts. */
  readonly description: string;
  /** Classification (target column `label`, class names as strings) or regression (target column `y`). */
  readonly task: GeneratorTask;
  /** The name of the target column. */
  readonly target: 'label' | 'y';
  /** Whether `size`, `noise` and `rng` change the table (false for the fixed tables). */
  readonly random: boolean;
  /** Build the table. */
  readonly generate: (options?: GeneratorOptions) => Table;
}

const DEFAULT_SIZE = 500;

interface Resolved {
  size: number;
  noise: number;
  rng: RandomState;
}

function resolve(name: string, options: GeneratorOptions, maxNoise: number): Resolved {
  const { size = DEFAULT_SIZE, noise = 0, rng = new RandomState(0) } = options;
  if (!Number.isInteger(size) || size < 1)
    throw new RangeError(`${name}: size must be a positive integer, got ${size}`);
  if (!(noise >= 0 && noise <= maxNoise))
    throw new RangeError(`${name}: noise must be between 0 and ${maxNoise}, got ${noise}`);
  return { size, noise, rng };
}

function uniform(rng: RandomState, low: number, high: number): number {
  return low + (high - low) * rng.random();
}

function distance(x: number, y: number, cx: number, cy: number): number {
  // Not Math.hypot: its last bit is the engine's choice; these are IEEE operations, the same everywhere.
  const dx = x - cx;
  const dy = y - cy;
  return Math.sqrt(dx * dx + dy * dy);
}

/**
 * The generated coordinates, reordered by a permutation drawn from `rng`: the playground shuffles before it
 * splits off a test set, and a shuffled table lets any prefix serve as a fair sample.
 */
function shuffled(xs: number[], ys: number[], rng: RandomState) {
  const order = rng.permutation(xs.length);
  const x1 = Float64Array.from(order, (j) => xs[j]);
  const x2 = Float64Array.from(order, (j) => ys[j]);
  return { order, x1, x2 };
}

/** A table x1, x2 and the class column `label`, rows shuffled. */
function classTable(source: string, xs: number[], ys: number[], labels: string[], rng: RandomState): Table {
  const { order, x1, x2 } = shuffled(xs, ys, rng);
  return makeTable(source, [
    { name: 'x1', values: x1 },
    { name: 'x2', values: x2 },
    { name: 'label', values: Array.from(order, (j) => labels[j]) },
  ]);
}

/** A table x1, x2 and the numeric target `y`, rows shuffled. */
function regressionTable(
  source: string,
  xs: number[],
  ys: number[],
  targets: number[],
  rng: RandomState,
): Table {
  const { order, x1, x2 } = shuffled(xs, ys, rng);
  return makeTable(source, [
    { name: 'x1', values: x1 },
    { name: 'x2', values: x2 },
    { name: 'y', values: Float64Array.from(order, (j) => targets[j]) },
  ]);
}

// The playground labels classes −1 and +1; chainrule's class columns hold names.
const classOf = (sign: number): string => (sign > 0 ? '1' : '0');

/** The seed notebook's one training sample: x1 = 0.5, x2 = 0.6, target y = 0.8 (regression). */
export function seedSample(): Table {
  const [[x1, x2]] = SEED_SETUP.x;
  const [[y]] = SEED_SETUP.y;
  return makeTable('seed', [
    { name: 'x1', values: Float64Array.of(x1) },
    { name: 'x2', values: Float64Array.of(x2) },
    { name: 'y', values: Float64Array.of(y) },
  ]);
}

/** The XOR truth table: four rows of x1, x2 ∈ {0, 1} and label = x1 XOR x2 ('0' or '1'). */
export function xor(): Table {
  return makeTable('xor', [
    { name: 'x1', values: Float64Array.of(0, 0, 1, 1) },
    { name: 'x2', values: Float64Array.of(0, 1, 0, 1) },
    { name: 'label', values: ['0', '1', '1', '0'] },
  ]);
}

/**
 * Playground's "circle": class '1' uniform in radius inside 2.5, class '0' in the ring 3.5–5. Noise
 * displaces the point the label is computed from (by up to ±5·noise per coordinate), so with noise some
 * labels cross the boundary; the stored point is the undisplaced one, as in the playground.
 */
export function circle(options: GeneratorOptions = {}): Table {
  const { size, noise, rng } = resolve('circle', options, 0.5);
  const radius = 5;
  const xs: number[] = [];
  const ys: number[] = [];
  const labels: string[] = [];
  const inner = Math.floor(size / 2);
  for (let i = 0; i < size; i++) {
    const r = i < inner ? uniform(rng, 0, radius * 0.5) : uniform(rng, radius * 0.7, radius);
    const angle = uniform(rng, 0, 2 * Math.PI);
    const x = r * sin(angle);
    const y = r * cos(angle);
    const noiseX = uniform(rng, -radius, radius) * noise;
    const noiseY = uniform(rng, -radius, radius) * noise;
    xs.push(x);
    ys.push(y);
    labels.push(classOf(distance(x + noiseX, y + noiseY, 0, 0) < radius * 0.5 ? 1 : -1));
  }
  return classTable('circle', xs, ys, labels, rng);
}

/**
 * Playground's "xor": points uniform in [−5, 5]² pushed 0.3 away from both axes, class '1' where x1·x2 ≥ 0
 * (first and third quadrants). Noise displaces the point the label is computed from, as for {@link circle}.
 */
export function xor2d(options: GeneratorOptions = {}): Table {
  const { size, noise, rng } = resolve('xor-2d', options, 0.5);
  const padding = 0.3;
  const xs: number[] = [];
  const ys: number[] = [];
  const labels: string[] = [];
  for (let i = 0; i < size; i++) {
    let x = uniform(rng, -5, 5);
    x += x > 0 ? padding : -padding;
    let y = uniform(rng, -5, 5);
    y += y > 0 ? padding : -padding;
    const noiseX = uniform(rng, -5, 5) * noise;
    const noiseY = uniform(rng, -5, 5) * noise;
    xs.push(x);
    ys.push(y);
    labels.push(classOf((x + noiseX) * (y + noiseY) >= 0 ? 1 : -1));
  }
  return classTable('xor-2d', xs, ys, labels, rng);
}

/**
 * Playground's "gaussian": two Gaussian clouds, class '1' around (2, 2) and class '0' around (−2, −2). Noise
 * widens them: the variance goes linearly from 0.5 at noise 0 to 4 at noise 0.5, so the clouds overlap more
 * and more. Unlike the other playground sets, which stay within [−6, 6]², a few points fall outside it once
 * noise is above 0 (the playground only draws that square).
 */
export function gauss(options: GeneratorOptions = {}): Table {
  const { size, noise, rng } = resolve('gauss', options, 0.5);
  const std = Math.sqrt(0.5 + 7 * noise);
  const xs: number[] = [];
  const ys: number[] = [];
  const labels: string[] = [];
  const positive = Math.floor(size / 2);
  for (let i = 0; i < size; i++) {
    const c = i < positive ? 2 : -2;
    xs.push(rng.mt.normal(c, std));
    ys.push(rng.mt.normal(c, std));
    labels.push(classOf(c));
  }
  return classTable('gauss', xs, ys, labels, rng);
}

/**
 * Playground's "spiral": two interleaved arms of 1.75 turns out to radius 5, class '1' and class '0' half
 * a turn apart. Noise jitters each point by up to ±noise per coordinate.
 */
export function spiral(options: GeneratorOptions = {}): Table {
  const { size, noise, rng } = resolve('spiral', options, 0.5);
  const xs: number[] = [];
  const ys: number[] = [];
  const labels: string[] = [];
  const positive = Math.floor(size / 2);
  for (const [n, deltaT, sign] of [
    [positive, 0, 1],
    [size - positive, Math.PI, -1],
  ] as const) {
    for (let i = 0; i < n; i++) {
      const r = (i / n) * 5;
      const t = ((1.75 * i) / n) * 2 * Math.PI + deltaT;
      xs.push(r * sin(t) + uniform(rng, -1, 1) * noise);
      ys.push(r * cos(t) + uniform(rng, -1, 1) * noise);
      labels.push(classOf(sign));
    }
  }
  return classTable('spiral', xs, ys, labels, rng);
}

/**
 * Playground's regression "plane": points uniform in [−6, 6]², target y = (x1 + x2) / 10, in [−1.2, 1.2].
 * Noise displaces the point the target is computed from (by up to ±6·noise per coordinate).
 */
export function plane(options: GeneratorOptions = {}): Table {
  const { size, noise, rng } = resolve('plane', options, 0.5);
  const radius = 6;
  const xs: number[] = [];
  const ys: number[] = [];
  const targets: number[] = [];
  for (let i = 0; i < size; i++) {
    const x = uniform(rng, -radius, radius);
    const y = uniform(rng, -radius, radius);
    const noiseX = uniform(rng, -radius, radius) * noise;
    const noiseY = uniform(rng, -radius, radius) * noise;
    xs.push(x);
    ys.push(y);
    // The playground maps x + y from [−10, 10] linearly onto [−1, 1], unclamped.
    targets.push((x + noiseX + (y + noiseY)) / 10);
  }
  return regressionTable('plane', xs, ys, targets, rng);
}

// Centres and signs of the six bumps of the playground's "multi gaussian".
const BUMPS: readonly (readonly [number, number, number])[] = [
  [-4, 2.5, 1],
  [0, 2.5, -1],
  [4, 2.5, 1],
  [-4, -2.5, -1],
  [0, -2.5, 1],
  [4, -2.5, -1],
];

/**
 * Playground's regression "multi gaussian": points uniform in [−6, 6]²; six cone-shaped bumps of height
 * ±1 and radius 2 in a 3×2 grid of alternating signs; the target is the bump value largest in absolute value
 * (0 away from all of them), in [−1, 1]. Noise displaces the point the target is computed from.
 */
export function multiGaussian(options: GeneratorOptions = {}): Table {
  const { size, noise, rng } = resolve('multi-gaussian', options, 0.5);
  const radius = 6;
  const xs: number[] = [];
  const ys: number[] = [];
  const targets: number[] = [];
  for (let i = 0; i < size; i++) {
    const x = uniform(rng, -radius, radius);
    const y = uniform(rng, -radius, radius);
    const px = x + uniform(rng, -radius, radius) * noise;
    const py = y + uniform(rng, -radius, radius) * noise;
    let target = 0;
    for (const [cx, cy, sign] of BUMPS) {
      // The playground's clamped linear scale from distance [0, 2] onto height [1, 0].
      const v = sign * Math.min(1, Math.max(0, 1 - distance(px, py, cx, cy) / 2));
      if (Math.abs(v) > Math.abs(target)) target = v;
    }
    xs.push(x);
    ys.push(y);
    targets.push(target);
  }
  return regressionTable('multi-gaussian', xs, ys, targets, rng);
}

// numpy's linspace(0, π, n): i·step, with the last point set to π exactly.
function linspacePi(n: number): number[] {
  if (n === 1) return [0];
  const step = Math.PI / (n - 1);
  return Array.from({ length: n }, (_, i) => (i === n - 1 ? Math.PI : i * step));
}

/**
 * Two interleaving half circles, as scikit-learn's `make_moons(size, noise=noise, random_state=…)`: class
 * '0' is the upper arc cos/sin of [0, π] (⌊size/2⌋ points), class '1' the lower arc shifted to (1, 0.5).
 * The rows are shuffled, then Gaussian noise of standard deviation `noise` is added to every coordinate,
 * drawing from `rng` in scikit-learn's order, so a `RandomState(seed)` reproduces
 * `make_moons(size, noise=noise, random_state=seed)` up to the last bits of `cos`/`sin` (with noise 0, as
 * scikit-learn's `noise=None`). Default noise 0, default size 500.
 */
export function moons(options: GeneratorOptions = {}): Table {
  const { size, noise, rng } = resolve('moons', options, Infinity);
  const outer = Math.floor(size / 2);
  const xs: number[] = [];
  const ys: number[] = [];
  const labels: string[] = [];
  for (const t of linspacePi(outer)) {
    xs.push(Math.cos(t));
    ys.push(Math.sin(t));
    labels.push('0');
  }
  for (const t of linspacePi(size - outer)) {
    xs.push(1 - Math.cos(t));
    ys.push(1 - Math.sin(t) - 0.5);
    labels.push('1');
  }
  const { order, x1, x2 } = shuffled(xs, ys, rng);
  if (noise > 0) {
    // scikit-learn adds normal(scale=noise, size=(n, 2)) after shuffling: row by row, x1 then x2.
    for (let i = 0; i < size; i++) {
      x1[i] += rng.mt.normal(0, noise);
      x2[i] += rng.mt.normal(0, noise);
    }
  }
  return makeTable('moons', [
    { name: 'x1', values: x1 },
    { name: 'x2', values: x2 },
    { name: 'label', values: Array.from(order, (j) => labels[j]) },
  ]);
}

/**
 * Every generator by the name the CLI and the playground use, with a one-line description: `seed`, `xor`,
 * `circle`, `xor-2d`, `gauss`, `spiral`, `moons`, `plane`, `multi-gaussian`.
 */
export const GENERATORS = {
  seed: {
    description: "the seed notebook's one sample: x1=0.5, x2=0.6 → y=0.8 (regression)",
    task: 'regression',
    target: 'y',
    random: false,
    generate: () => seedSample(),
  },
  xor: {
    description: 'the XOR truth table: 4 rows, x1, x2 ∈ {0, 1} → label',
    task: 'classification',
    target: 'label',
    random: false,
    generate: () => xor(),
  },
  circle: {
    description: 'playground circle: a disc of class 1 inside a ring of class 0 (2-D)',
    task: 'classification',
    target: 'label',
    random: true,
    generate: circle,
  },
  'xor-2d': {
    description: 'playground xor: class 1 in the 1st and 3rd quadrants, class 0 in the others (2-D)',
    task: 'classification',
    target: 'label',
    random: true,
    generate: xor2d,
  },
  gauss: {
    description: 'playground gaussian: two Gaussian clouds around (2, 2) and (−2, −2) (2-D)',
    task: 'classification',
    target: 'label',
    random: true,
    generate: gauss,
  },
  spiral: {
    description: 'playground spiral: two interleaved spiral arms (2-D)',
    task: 'classification',
    target: 'label',
    random: true,
    generate: spiral,
  },
  moons: {
    description: "scikit-learn's two moons: two interleaving half circles (2-D)",
    task: 'classification',
    target: 'label',
    random: true,
    generate: moons,
  },
  plane: {
    description: 'playground plane: y = (x1 + x2) / 10 on [−6, 6]² (regression, 2-D)',
    task: 'regression',
    target: 'y',
    random: true,
    generate: plane,
  },
  'multi-gaussian': {
    description: 'playground multi gaussian: six bumps of height ±1 on [−6, 6]² (regression, 2-D)',
    task: 'regression',
    target: 'y',
    random: true,
    generate: multiGaussian,
  },
} as const satisfies Record<string, GeneratorInfo>;

/** The name of a built-in generator. */
export type GeneratorName = keyof typeof GENERATORS;
