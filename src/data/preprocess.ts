/**
 * From a table of raw columns to tensors and back. `fitPreprocessing` looks at the training table once and
 * records, as plain JSON, how each column is encoded (numbers standardized, text one-hot, class names
 * numbered); the model file keeps that record, so `predict` reads raw rows exactly like the training data.
 *
 * How a model's outputs are read: a classifier emits one logit per class, for two classes too (two logits,
 * softmax, cross-entropy — there is no single-output sigmoid case to keep apart); a regressor emits one
 * number, the standardized target.
 */
import type { Storage } from '../kernels/types.js';
import { allocStorage, Tensor, type DType } from '../tensor.js';
import { isNumeric, pixelName, RESAMPLES, type Column, type ImageInput, type Table } from './table.js';

/** How one input column is encoded. */
export type FeatureSpec =
  /** A number column, fed as (x − mean) / std: one input. */
  | { name: string; kind: 'numeric'; mean: number; std: number }
  /** A text column, fed one-hot: one input per category, in `categories` order. */
  | { name: string; kind: 'categorical'; categories: string[] };

/** How the target column is encoded. */
export type TargetSpec =
  /** Classification: class `classes[i]` is output (logit) i. */
  | { name: string; kind: 'classes'; classes: string[] }
  /** Regression: the model predicts (y − mean) / std. */
  | { name: string; kind: 'numeric'; mean: number; std: number };

/** Everything needed to turn raw rows into model inputs and outputs into answers; plain JSON. */
export interface Preprocessing {
  /** Input columns, in the order their inputs appear in a row of the feature tensor. */
  features: FeatureSpec[];
  /** The target column. */
  target: TargetSpec;
  /** Width of the feature tensor: one per numeric feature plus one per category. */
  inputSize: number;
  /**
   * Present when the inputs are images: their shape [C, H, W] (C·H·W = inputSize, the features being the
   * pixel columns in order) and how image files are read (see `src/data/image.ts`).
   */
  image?: ImageInput;
}

/** What is learnt: class names or a number. */
export type Task = 'classification' | 'regression';

/** How numeric features are scaled. */
export type Scaling = 'standard' | 'minmax' | 'none';

/** Options of {@link fitPreprocessing}. */
export interface FitPreprocessingOptions {
  /** Name of the target column. */
  target: string;
  /** Classification or regression; default {@link inferTask}'s choice. */
  task?: Task;
  /** Input columns; default every column but the target, in table order. */
  features?: string[];
  /**
   * How numeric features are scaled, stored as (x − mean) / std either way: `'standard'` (default) to mean
   * 0 and deviation 1; `'minmax'` to [0, 1] (mean = min, std = max − min), better for bounded
   * values such as pixels, where standardizing blows rare pixels up to huge values; `'none'` keeps them.
   */
  scaling?: Scaling;
  /**
   * Standardize a regression target (default true): targets of any scale then train with the same
   * learning rates, and {@link inverseTarget} undoes it. Losses are then in standardized units.
   */
  standardizeTarget?: boolean;
}

/** A table the preprocessing cannot use, with the table's source and the column (and line) at fault. */
export class PreprocessError extends Error {
  /** The table's source (file path or dataset name). */
  readonly source: string;
  /** The column at fault, when there is one. */
  readonly column: string | undefined;
  /** The 1-based line of the file, when the table knows it. */
  readonly line: number | undefined;

  constructor(message: string, source: string, column?: string, line?: number) {
    super(message);
    this.name = 'PreprocessError';
    this.source = source;
    this.column = column;
    this.line = line;
  }
}

/**
 * A feature with more categories (or a target with more classes) than this is refused: one input per category would make the model huge,
 * and such a column is nearly always an identifier or free text.
 */
const MAX_CATEGORIES = 1000;
/** A whole-number target with at most this many distinct values is read as classes. */
const MAX_INFERRED_CLASSES = 20;
/** How many class names a reason lists before '…'. */
const LISTED = 10;

const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/**
 * Whether a target column is classes or a number, and a sentence saying why for the user. Text → classes.
 * Numbers → classes when all are whole numbers with at most 20 distinct values, and fewer distinct values
 * than half the rows (so a short table of counts stays a regression); otherwise regression.
 */
export function inferTask(column: Column): { task: Task; reason: string } {
  const n = column.values.length;
  if (!isNumeric(column)) {
    const values = column.values as readonly string[];
    const classes = sortClasses(distinctStrings(values));
    let reason = `target '${column.name}' has ${plural(classes.length, 'class', 'classes')} (${listed(classes)})`;
    // A number column with a few text cells ('NA', '?') reads as text, and would silently become a
    // classifier with a class per value.
    const text = values.filter((s) => !NUMBER.test(s.trim()));
    if (classes.length > MAX_INFERRED_CLASSES && text.length > 0 && text.length <= 0.1 * values.length)
      reason +=
        `; but only ${plural(text.length, 'value is', 'values are')} not a number (such as '${text[0] ?? ''}'): ` +
        'if it should be numeric, fix or remove those rows';
    return { task: 'classification', reason };
  }
  const values = column.values;
  const distinct = new Set<number>();
  let integral = true;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (!Number.isInteger(v)) integral = false;
    distinct.add(v);
  }
  const k = distinct.size;
  if (integral && k <= MAX_INFERRED_CLASSES && k < n / 2) {
    const classes = sortClasses([...distinct].map(String));
    return {
      task: 'classification',
      reason: `target '${column.name}' has ${plural(k, 'class', 'classes')} (${listed(classes)}): whole numbers with few distinct values`,
    };
  }
  return {
    task: 'regression',
    reason: `target '${column.name}' is numeric with ${plural(k, 'distinct value', 'distinct values')}`,
  };
}

/**
 * Learn the encoding from a training table. Numeric features: mean and population std (a constant
 * column stores std 1, so it maps to 0). Text features: one-hot over the categories in first-seen order.
 * Classes: sorted so the numbering does not depend on row order — numerically when every class name is a
 * number ('2' before '10'), otherwise by UTF-16 code units (the same on every machine, unlike locale
 * order). A numeric column used as classes takes its values' decimal text ('3') as class names.
 */
export function fitPreprocessing(table: Table, options: FitPreprocessingOptions): Preprocessing {
  const { source } = table;
  const byName = columnsByName(table);
  const available = () => table.columns.map((c) => `'${c.name}'`).join(', ');
  const targetColumn = byName.get(options.target);
  if (targetColumn === undefined)
    throw new PreprocessError(
      `${source}: no target column '${options.target}'; the columns are ${available()}`,
      source,
      options.target,
    );
  if (table.numRows === 0) throw new PreprocessError(`${source}: no rows to learn from`, source);

  const featureNames =
    options.features ?? table.columns.map((c) => c.name).filter((n) => n !== options.target);
  const seen = new Set<string>();
  for (const name of featureNames) {
    if (!byName.has(name))
      throw new PreprocessError(
        `${source}: no feature column '${name}'; the columns are ${available()}`,
        source,
        name,
      );
    if (name === options.target)
      throw new PreprocessError(
        `${source}: '${name}' is the target; it cannot be a feature too`,
        source,
        name,
      );
    if (seen.has(name))
      throw new PreprocessError(`${source}: feature '${name}' is listed twice`, source, name);
    seen.add(name);
  }
  if (featureNames.length === 0)
    throw new PreprocessError(`${source}: no feature columns besides the target '${options.target}'`, source);

  const scaling = options.scaling ?? 'standard';
  const features = featureNames.map((name): FeatureSpec => {
    const column = byName.get(name)!;
    if (isNumeric(column)) {
      const { mean, std } =
        scaling === 'standard'
          ? moments(table, column)
          : scaling === 'minmax'
            ? range(table, column)
            : { mean: 0, std: 1 };
      return { name, kind: 'numeric', mean, std };
    }
    const categories = distinctStrings(column.values as readonly string[]);
    if (categories.length > MAX_CATEGORIES)
      throw new PreprocessError(
        `${source}: column '${name}' has ${categories.length} distinct values, more than ${MAX_CATEGORIES}: ` +
          `it looks like an identifier or free text, not a category; leave it out of the features` +
          prefixed('; or, ', numbersHint(table, column)),
        source,
        name,
      );
    return { name, kind: 'categorical', categories };
  });
  const inputSize = features.reduce((w, f) => w + (f.kind === 'numeric' ? 1 : f.categories.length), 0);

  const task = options.task ?? inferTask(targetColumn).task;
  let target: TargetSpec;
  if (task === 'classification') {
    const names = isNumeric(targetColumn)
      ? distinctStrings(Array.from(targetColumn.values, String))
      : distinctStrings(targetColumn.values as readonly string[]);
    if (names.length > MAX_CATEGORIES)
      throw new PreprocessError(
        `${source}: target '${targetColumn.name}' has ${names.length} distinct values, too many to be classes ` +
          `(at most ${MAX_CATEGORIES})` +
          (isNumeric(targetColumn) ? '; use regression' : prefixed('; ', numbersHint(table, targetColumn))),
        source,
        targetColumn.name,
      );
    if (names.length < 2)
      throw new PreprocessError(
        `${source}: target '${targetColumn.name}' has only one class ('${names[0]}'); classification needs at least two`,
        source,
        targetColumn.name,
      );
    target = { name: targetColumn.name, kind: 'classes', classes: sortClasses(names) };
  } else {
    if (!isNumeric(targetColumn))
      throw new PreprocessError(
        `${source}: target '${targetColumn.name}' holds text ${firstText(table, targetColumn)}; ` +
          `regression needs numbers`,
        source,
        targetColumn.name,
      );
    const { mean, std } =
      (options.standardizeTarget ?? true) ? moments(table, targetColumn) : { mean: 0, std: 1 };
    target = { name: targetColumn.name, kind: 'numeric', mean, std };
  }
  return { features, target, inputSize };
}

/**
 * The feature tensor [rows, inputSize] of a table. Columns are found by name, so their order does not
 * matter, extra columns (the target among them) are ignored. A text value unseen in training is an error
 * naming it and its line: the model has no input for it. A column that was text in training may arrive
 * as numbers (a file where every value happens to be numeric); they are matched by their decimal text.
 */
export function transformFeatures(pre: Preprocessing, table: Table, dtype: DType = 'float32'): Tensor {
  const n = table.numRows;
  const width = pre.inputSize;
  const byName = columnsByName(table);
  const columns = pre.features.map((f) => {
    const column = byName.get(f.name);
    if (column === undefined)
      throw new PreprocessError(
        `${table.source}: no column '${f.name}', which the model takes as input`,
        table.source,
        f.name,
      );
    return column;
  });
  // Check every column and build the category lookups before writing anything.
  const fills = pre.features.map((f, j): ((out: Storage, r0: number, r1: number, offset: number) => void) => {
    const column = columns[j];
    if (f.kind === 'numeric') {
      if (!isNumeric(column))
        throw new PreprocessError(
          `${table.source}: column '${f.name}' holds text ${firstText(table, column)}, but the model was trained on numbers in it`,
          table.source,
          f.name,
        );
      return (out, r0, r1, offset) =>
        fillNumeric(out, column.values, r0, r1, width, offset, f.mean, f.std, table, f.name);
    }
    const index = new Map(f.categories.map((c, i) => [c, i]));
    return (out, r0, r1, offset) =>
      fillOneHot(out, column, r0, r1, width, offset, index, f.categories, table);
  });
  const widths = pre.features.map((f) => (f.kind === 'numeric' ? 1 : f.categories.length));
  const out = allocStorage(dtype, n * width);
  // Rows in blocks, each block filled column by column: reads stay sequential per column and the block of
  // output rows being written stays in cache (a plain column-major pass strides through all of `out`).
  const BLOCK = 256;
  for (let r0 = 0; r0 < n; r0 += BLOCK) {
    const r1 = Math.min(n, r0 + BLOCK);
    for (let j = 0, offset = 0; j < fills.length; offset += widths[j], j++) fills[j](out, r0, r1, offset);
  }
  return new Tensor(out, [n, width]);
}

function fillNumeric(
  out: Storage,
  values: ArrayLike<number>,
  r0: number,
  r1: number,
  width: number,
  offset: number,
  mean: number,
  std: number,
  table: Table,
  name: string,
): void {
  for (let r = r0, k = r0 * width + offset; r < r1; r++, k += width) {
    const v = values[r];
    // v - v is NaN for NaN and ±Infinity: generated tables can hold them, CSV tables cannot.
    if (v - v !== 0) throw badNumber(table, name, r, v);
    out[k] = (v - mean) / std;
  }
}

function fillOneHot(
  out: Storage,
  column: Column,
  r0: number,
  r1: number,
  width: number,
  offset: number,
  index: Map<string, number>,
  categories: string[],
  table: Table,
): void {
  const numeric = isNumeric(column);
  for (let r = r0, k = r0 * width + offset; r < r1; r++, k += width) {
    const value = numeric ? String(column.values[r]) : (column.values as readonly string[])[r];
    const i = index.get(value);
    if (i === undefined)
      throw new PreprocessError(
        `${where(table, r)}: column '${column.name}' has '${value}', a value not seen in training ` +
          `(known: ${listed(categories)})`,
        table.source,
        column.name,
        table.lineOf?.(r),
      );
    out[k + i] = 1;
  }
}

/** Encoded targets: class indices for classification, standardized numbers [rows, 1] for regression. */
export type TargetTensors = { kind: 'classes'; labels: Int32Array } | { kind: 'numeric'; y: Tensor };

/**
 * The target column of a table, encoded: class names → indices into `pre.target.classes` (an unknown class
 * is an error naming its line), or numbers → (y − mean) / std as a tensor [rows, 1].
 */
export function transformTarget(pre: Preprocessing, table: Table, dtype: DType = 'float32'): TargetTensors {
  const spec = pre.target;
  const column = columnsByName(table).get(spec.name);
  if (column === undefined)
    throw new PreprocessError(`${table.source}: no target column '${spec.name}'`, table.source, spec.name);
  const n = table.numRows;
  if (spec.kind === 'classes') {
    const index = new Map(spec.classes.map((c, i) => [c, i]));
    const numeric = isNumeric(column);
    const labels = new Int32Array(n);
    for (let r = 0; r < n; r++) {
      const value = numeric ? String(column.values[r]) : (column.values as readonly string[])[r];
      const i = index.get(value);
      if (i === undefined)
        throw new PreprocessError(
          `${where(table, r)}: target '${spec.name}' has class '${value}', which the model does not know ` +
            `(classes: ${listed(spec.classes)})`,
          table.source,
          spec.name,
          table.lineOf?.(r),
        );
      labels[r] = i;
    }
    return { kind: 'classes', labels };
  }
  if (!isNumeric(column))
    throw new PreprocessError(
      `${table.source}: target '${spec.name}' holds text ${firstText(table, column)}; the model predicts numbers`,
      table.source,
      spec.name,
    );
  const y = allocStorage(dtype, n);
  fillNumeric(y, column.values, 0, n, 1, 0, spec.mean, spec.std, table, spec.name);
  return { kind: 'numeric', y: new Tensor(y, [n, 1]) };
}

/** Model outputs read back: predicted classes with their probabilities, or numbers in the target's units. */
export type TargetPredictions =
  | {
      kind: 'classes';
      /** Index into `classes` of the most probable class per row (the first one on ties). */
      classIndex: Int32Array;
      /** Its name. */
      className: string[];
      /** Softmax of each row's logits, one probability per class. */
      probabilities: Float64Array[];
    }
  | {
      kind: 'numeric';
      /** Predictions in the target's own units. */
      values: Float64Array;
    };

/**
 * Read a model's outputs. Classification: logits [rows, classes] → softmax probabilities, the most
 * probable class and its name (two classes use two logits too). Regression: [rows, 1] (or [rows]) →
 * de-standardized numbers.
 */
export function inverseTarget(pre: Preprocessing, outputs: Tensor): TargetPredictions {
  const spec = pre.target;
  const data = outputs.data;
  if (spec.kind === 'numeric') {
    if (!(outputs.ndim === 1 || (outputs.ndim === 2 && outputs.shape[1] === 1)))
      throw new Error(
        `inverseTarget: a regression model's outputs should be [rows, 1], got [${outputs.shape}]`,
      );
    const values = new Float64Array(data.length);
    for (let i = 0; i < data.length; i++) values[i] = data[i] * spec.std + spec.mean;
    return { kind: 'numeric', values };
  }
  const c = spec.classes.length;
  if (outputs.ndim !== 2 || outputs.shape[1] !== c)
    throw new Error(
      `inverseTarget: the target has ${c} classes, so outputs should be [rows, ${c}] logits, got [${outputs.shape}]`,
    );
  const n = outputs.shape[0];
  const classIndex = new Int32Array(n);
  const className = new Array<string>(n);
  const probabilities = new Array<Float64Array>(n);
  for (let r = 0; r < n; r++) {
    const base = r * c;
    let best = 0;
    for (let j = 1; j < c; j++) if (data[base + j] > data[base + best]) best = j;
    // Subtracting the largest logit keeps exp from overflowing; it cancels in the ratio.
    const top = data[base + best];
    const p = new Float64Array(c);
    let total = 0;
    for (let j = 0; j < c; j++) total += p[j] = Math.exp(data[base + j] - top);
    for (let j = 0; j < c; j++) p[j] /= total;
    classIndex[r] = best;
    className[r] = spec.classes[best];
    probabilities[r] = p;
  }
  return { kind: 'classes', classIndex, className, probabilities };
}

/**
 * Check that a value read from JSON (a model file) is a well-formed {@link Preprocessing}, and return it
 * typed. Messages name the path of the bad field, e.g. `preprocessing.features[2].std: expected a
 * positive number, got 0`.
 */
export function checkPreprocessing(value: unknown, where = 'preprocessing'): Preprocessing {
  const bad = (path: string, expected: string, got: unknown): never => {
    throw new PreprocessError(
      `${path}: expected ${expected}, got ${JSON.stringify(got) ?? String(got)}`,
      where,
    );
  };
  const object = (v: unknown, path: string) =>
    typeof v === 'object' && v !== null && !Array.isArray(v)
      ? (v as Record<string, unknown>)
      : bad(path, 'an object', v);
  const string = (v: unknown, path: string) => (typeof v === 'string' ? v : bad(path, 'a string', v));
  const finite = (v: unknown, path: string) =>
    typeof v === 'number' && Number.isFinite(v) ? v : bad(path, 'a finite number', v);
  const positive = (v: unknown, path: string) =>
    typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : bad(path, 'a positive number', v);
  const strings = (v: unknown, path: string, min: number) => {
    if (!Array.isArray(v) || v.length < min) return bad(path, `a list of at least ${min} strings`, v);
    const list = v.map((s, i) => string(s, `${path}[${i}]`));
    if (new Set(list).size !== list.length) bad(path, 'distinct strings', v);
    return list;
  };
  const root = object(value, where);
  if (!Array.isArray(root.features) || root.features.length === 0)
    bad(`${where}.features`, 'a non-empty list', root.features);
  const features = (root.features as unknown[]).map((f, i): FeatureSpec => {
    const path = `${where}.features[${i}]`;
    const o = object(f, path);
    const name = string(o.name, `${path}.name`);
    if (o.kind === 'numeric')
      return {
        name,
        kind: 'numeric',
        mean: finite(o.mean, `${path}.mean`),
        std: positive(o.std, `${path}.std`),
      };
    if (o.kind === 'categorical')
      return { name, kind: 'categorical', categories: strings(o.categories, `${path}.categories`, 1) };
    return bad(`${path}.kind`, "'numeric' or 'categorical'", o.kind);
  });
  const t = object(root.target, `${where}.target`);
  const names = new Set(features.map((f) => f.name));
  if (names.size !== features.length || names.has(t.name as string))
    bad(
      `${where}.features`,
      'distinct names, none of them the target',
      features.map((f) => f.name),
    );
  const name = string(t.name, `${where}.target.name`);
  let target: TargetSpec;
  if (t.kind === 'classes')
    target = { name, kind: 'classes', classes: strings(t.classes, `${where}.target.classes`, 2) };
  else if (t.kind === 'numeric')
    target = {
      name,
      kind: 'numeric',
      mean: finite(t.mean, `${where}.target.mean`),
      std: positive(t.std, `${where}.target.std`),
    };
  else return bad(`${where}.target.kind`, "'classes' or 'numeric'", t.kind);
  const width = features.reduce((w, f) => w + (f.kind === 'numeric' ? 1 : f.categories.length), 0);
  if (root.inputSize !== width)
    bad(`${where}.inputSize`, `${width} (the width of the features)`, root.inputSize);
  if (root.image === undefined || root.image === null) return { features, target, inputSize: width };
  const image = object(root.image, `${where}.image`);
  const shape = image.shape;
  if (
    !Array.isArray(shape) ||
    shape.length !== 3 ||
    !shape.every((d) => Number.isInteger(d) && (d as number) > 0)
  )
    bad(`${where}.image.shape`, '[channels, height, width] of positive integers', shape);
  const [c, h, w] = shape as [number, number, number];
  if (c * h * w !== width || features.some((f, i) => f.kind !== 'numeric' || f.name !== pixelName(i)))
    bad(
      `${where}.image.shape`,
      `a shape whose ${width} pixels are the features px0 … px${width - 1}, all numeric`,
      shape,
    );
  const resize = image.resize;
  if (resize !== null && !RESAMPLES.includes(resize as ImageInput['resize'] & string))
    bad(`${where}.image.resize`, `null or one of ${RESAMPLES.map((r) => `'${r}'`).join(', ')}`, resize);
  return {
    features,
    target,
    inputSize: width,
    image: {
      shape: [c, h, w],
      maxValue: positive(image.maxValue, `${where}.image.maxValue`),
      resize: resize as ImageInput['resize'],
    },
  };
}

// ---------------------------------------------------------------------------------------------------------

function columnsByName(table: Table): Map<string, Column> {
  return new Map(table.columns.map((c) => [c.name, c]));
}

/** Distinct values in first-seen order. */
function distinctStrings(values: readonly string[]): string[] {
  return [...new Set(values)];
}

function sortClasses(names: string[]): string[] {
  const byCodeUnits = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  if (names.every((s) => NUMBER.test(s.trim())))
    return [...names].sort((a, b) => Number(a) - Number(b) || byCodeUnits(a, b));
  return [...names].sort(byCodeUnits);
}

/** Mean and population standard deviation in float64, two passes for accuracy; std 0 → 1. */
function moments(
  table: Table,
  column: Column & { values: ArrayLike<number> },
): { mean: number; std: number } {
  const v = column.values;
  const n = v.length;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    if (v[i] - v[i] !== 0) throw badNumber(table, column.name, i, v[i]);
    sum += v[i];
  }
  const mean = sum / n;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (v[i] - mean) ** 2;
  const std = Math.sqrt(ss / n);
  // A constant column carries no information; std 1 maps it to 0 instead of dividing by zero.
  return { mean, std: std > 0 ? std : 1 };
}

/** Min and max as (x − min) / (max − min); a constant column maps to 0. */
function range(table: Table, column: Column & { values: ArrayLike<number> }): { mean: number; std: number } {
  const v = column.values;
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < v.length; i++) {
    if (v[i] - v[i] !== 0) throw badNumber(table, column.name, i, v[i]);
    if (v[i] < lo) lo = v[i];
    if (v[i] > hi) hi = v[i];
  }
  if (v.length === 0) return { mean: 0, std: 1 };
  return { mean: lo, std: hi > lo ? hi - lo : 1 };
}

function badNumber(table: Table, name: string, row: number, v: number): PreprocessError {
  return new PreprocessError(
    `${where(table, row)}: column '${name}' has ${v}, not a finite number`,
    table.source,
    name,
    table.lineOf?.(row),
  );
}

/** `file.csv:12` when the table knows its lines, else `source: row 12` (1-based). */
function where(table: Table, row: number): string {
  return table.lineOf ? `${table.source}:${table.lineOf(row)}` : `${table.source}: row ${row + 1}`;
}

/** "(e.g. 'abc' on line 5)": the first value of a text column that is not a number. */
function firstText(table: Table, column: Column): string {
  const values = column.values as readonly string[];
  let r = values.findIndex((s) => !NUMBER.test(s.trim()));
  if (r < 0) r = 0;
  if (r >= values.length) return '';
  return `(e.g. '${values[r]}' ${table.lineOf ? `on line ${table.lineOf(r)}` : `in row ${r + 1}`})`;
}

/** For a text column that is mostly numbers: a clause pointing at the first cell that is not; else ''. */
function numbersHint(table: Table, column: Column): string {
  const values = column.values as readonly string[];
  let numbers = 0;
  for (const s of values) if (NUMBER.test(s.trim())) numbers++;
  if (numbers < values.length * 0.9) return '';
  return `if it should hold numbers, fix the text in it ${firstText(table, column)}`;
}

function prefixed(prefix: string, clause: string): string {
  return clause === '' ? '' : prefix + clause;
}

function listed(names: readonly string[]): string {
  return names.length <= LISTED ? names.join(', ') : `${names.slice(0, LISTED).join(', ')}, …`;
}

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}
