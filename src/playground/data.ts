/**
 * The playground's points: generated (TensorFlow Playground's six sets, the seed notebook's sample) or
 * read from a table (an uploaded CSV), split into training and test points. A point is (x₁, x₂) and a
 * value: −1 or +1 for the two classes, a number in [−1, 1] for regression (the seed's 0.8 as it is).
 */
import { inferTask } from '../data/preprocess.js';
import { cellText, isNumeric, type Table } from '../data/table.js';
import { GENERATORS, seedSample } from '../data/generators.js';
import { RandomState } from '../random.js';
import { DATASETS, type DatasetName, type PlaygroundConfig, type ProblemType } from './config.js';

/** Points as three parallel arrays. */
export interface Points {
  readonly x1: Float64Array;
  readonly x2: Float64Array;
  /** −1 / +1 (classification) or the target (regression). */
  readonly y: Float64Array;
}

/** The points a run trains and tests on. */
export interface PlaygroundData {
  readonly problem: ProblemType;
  readonly train: Points;
  readonly test: Points;
}

/** A built-in dataset that draws its points from a seeded generator. */
export type GeneratedDataset = 'circle' | 'xor' | 'gauss' | 'spiral' | 'plane' | 'multi-gaussian';

/** Where the points of each built-in set come from: the library's generators. */
const GENERATOR_OF = {
  circle: 'circle',
  xor: 'xor-2d',
  gauss: 'gauss',
  spiral: 'spiral',
  plane: 'plane',
  'multi-gaussian': 'multi-gaussian',
} as const satisfies Record<GeneratedDataset, keyof typeof GENERATORS> & Partial<Record<DatasetName, string>>;

/** A problem with the data, in words for the page (a CSV column that is not numeric, too many classes). */
export class PlaygroundDataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PlaygroundDataError';
  }
}

function column(table: Table, name: string) {
  const c = table.columns.find((col) => col.name === name);
  if (!c)
    throw new PlaygroundDataError(
      `${table.source}: no column '${name}'; the columns are ${table.columns.map((col) => `'${col.name}'`).join(', ')}`,
    );
  return c;
}

/** A generated table's points: label '1' → +1, '0' → −1; a regression target as it is. */
function tablePoints(table: Table): Points {
  const x1 = Float64Array.from(column(table, 'x1').values as ArrayLike<number>);
  const x2 = Float64Array.from(column(table, 'x2').values as ArrayLike<number>);
  const target = table.columns[2];
  const y = isNumeric(target)
    ? Float64Array.from(target.values)
    : Float64Array.from(target.values as readonly string[], (v) => (v === '1' ? 1 : -1));
  return { x1, x2, y };
}

/**
 * The points of a built-in set, drawn from `new RandomState(seed)` (the generators shuffle them). `noise`
 * is in percent, as the page's slider; `size` defaults to TensorFlow Playground's 500 (classification) or
 * 1200 (regression).
 */
export function generatePoints(
  dataset: GeneratedDataset,
  noise: number,
  seed: number,
  size?: number,
): Points {
  const info = GENERATORS[GENERATOR_OF[dataset]];
  return tablePoints(
    info.generate({ size: size ?? DATASETS[dataset].size, noise: noise / 100, rng: new RandomState(seed) }),
  );
}

/** The first ⌊n·ratio/100⌋ points for training, the rest for testing (the points come shuffled). */
export function splitPoints(points: Points, trainRatio: number): { train: Points; test: Points } {
  const n = points.y.length;
  const cut = Math.floor((n * trainRatio) / 100);
  const part = (from: number, to: number): Points => ({
    x1: points.x1.slice(from, to),
    x2: points.x2.slice(from, to),
    y: points.y.slice(from, to),
  });
  return { train: part(0, cut), test: part(cut, n) };
}

/** The same points in the order `order`. */
function reorder(points: Points, order: ArrayLike<number>): Points {
  const pick = (a: Float64Array) => Float64Array.from(order, (i) => a[i]);
  return { x1: pick(points.x1), x2: pick(points.x2), y: pick(points.y) };
}

/**
 * The training and test points of a configuration. Built-in sets are generated from the seed; `csv` takes
 * `csvPoints` (from {@link pointsFromTable}) and shuffles them with `new RandomState(seed)` before the
 * split, since a file is often sorted by class. The seed notebook's one sample trains and has no test set.
 */
export function playgroundData(config: PlaygroundConfig, csvPoints?: Points): PlaygroundData {
  const { dataset, problem } = config;
  if (dataset === 'seed') {
    const empty = { x1: new Float64Array(0), x2: new Float64Array(0), y: new Float64Array(0) };
    return { problem, train: tablePoints(seedSample()), test: empty };
  }
  let points: Points;
  if (dataset === 'csv') {
    if (!csvPoints) throw new PlaygroundDataError('playground: the dataset is csv but no CSV was loaded');
    points = reorder(csvPoints, new RandomState(config.seed).permutation(csvPoints.y.length));
  } else points = generatePoints(dataset, config.noise, config.seed);
  const { train, test } = splitPoints(points, config.trainRatio);
  if (train.y.length === 0)
    throw new PlaygroundDataError(
      `playground: ${config.trainRatio}% of ${points.y.length} points leaves no training point`,
    );
  return { problem, train, test };
}

/** Which columns of a table are x₁, x₂ and the label. */
export interface CsvColumns {
  x1: string;
  x2: string;
  label: string;
}

/** Points read from a table, with what the label column turned out to be. */
export interface TablePoints {
  points: Points;
  problem: ProblemType;
  /** Classification: the class shown as −1, then the one shown as +1. */
  classes: [string, string] | null;
  /** Regression: the label's range, mapped onto [−1, 1]. */
  range: [number, number] | null;
  /** Why the problem type was chosen, in words. */
  reason: string;
}

/** Map values linearly from [min, max] onto [lo, hi]; a constant column goes to the middle. */
function rescale(
  values: ArrayLike<number>,
  lo: number,
  hi: number,
): { out: Float64Array; min: number; max: number } {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < values.length; i++) {
    min = Math.min(min, values[i]);
    max = Math.max(max, values[i]);
  }
  const span = max - min;
  const out = Float64Array.from(values, (v) =>
    span > 0 ? lo + ((v - min) / span) * (hi - lo) : (lo + hi) / 2,
  );
  return { out, min, max };
}

function numericColumn(table: Table, name: string, role: string): ArrayLike<number> {
  const c = column(table, name);
  if (!isNumeric(c)) {
    const values = c.values as readonly string[];
    const bad = values.findIndex((v) => !Number.isFinite(Number(v)) || v.trim() === '');
    const line =
      bad >= 0 && table.lineOf ? ` (line ${table.lineOf(bad)}: ${JSON.stringify(values[bad])})` : '';
    throw new PlaygroundDataError(`${table.source}: ${role} column '${name}' is not numeric${line}`);
  }
  // A numeric column read from a CSV keeps NaN where a cell held no number (a missing value, a typo).
  const values = c.values;
  for (let r = 0; r < values.length; r++)
    if (!Number.isFinite(values[r]))
      throw new PlaygroundDataError(
        `${table.source}${table.lineOf ? `:${table.lineOf(r)}` : `: row ${r + 1}`}: ${role} column '${name}' ` +
          `has ${JSON.stringify(cellText(c, r))}, not a number; the playground needs a number in every row`,
      );
  return values;
}

/**
 * Points from a table: columns `x1` and `x2` must be numeric and are scaled linearly onto [−5, 5], the
 * range of the built-in sets. The label decides the problem unless `problem` is given: text or a few whole
 * numbers are classes (exactly two are needed: the first in sorted order becomes −1, the other +1);
 * other numbers are a regression target, scaled onto [−1, 1].
 */
export function pointsFromTable(table: Table, columns: CsvColumns, problem?: ProblemType): TablePoints {
  if (table.numRows < 2)
    throw new PlaygroundDataError(`${table.source}: needs at least 2 rows, has ${table.numRows}`);
  const x1 = rescale(numericColumn(table, columns.x1, 'the x₁'), -5, 5).out;
  const x2 = rescale(numericColumn(table, columns.x2, 'the x₂'), -5, 5).out;
  const label = column(table, columns.label);
  const inferred = inferTask(label);
  const chosen = problem ?? inferred.task;
  if (chosen === 'regression') {
    const values = numericColumn(table, columns.label, 'the label');
    const { out, min, max } = rescale(values, -1, 1);
    const reason = problem ? 'regression, as chosen' : inferred.reason;
    return { points: { x1, x2, y: out }, problem: 'regression', classes: null, range: [min, max], reason };
  }
  const names = Array.from(label.values as ArrayLike<number | string>, String);
  const distinct = [...new Set(names)];
  if (distinct.length !== 2)
    throw new PlaygroundDataError(
      `${table.source}: the label column '${columns.label}' has ${distinct.length} distinct values` +
        `${distinct.length <= 5 ? ` (${distinct.join(', ')})` : ''}; a playground classifier needs exactly 2` +
        (isNumeric(label) ? ' (or choose regression)' : ''),
    );
  const numeric = distinct.every((d) => d.trim() !== '' && Number.isFinite(Number(d)));
  const sorted = distinct.sort((a, b) => (numeric ? Number(a) - Number(b) : a < b ? -1 : a > b ? 1 : 0));
  const y = Float64Array.from(names, (v) => (v === sorted[1] ? 1 : -1));
  const classes: [string, string] = [sorted[0], sorted[1]];
  return { points: { x1, x2, y }, problem: 'classification', classes, range: null, reason: inferred.reason };
}
