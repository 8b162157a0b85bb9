/**
 * From a table of raw columns to tensors and back. `fitPreprocessing` looks at the training table once and
 * records, as plain JSON, how each column is encoded (numbers standardized, text one-hot, class names
 * numbered) and what fills a missing value; the model file keeps that record, so `predict` reads raw rows
 * exactly like the training data.
 *
 * How a model's outputs are read: a classifier emits one logit per class, for two classes too (two logits,
 * softmax, cross-entropy — there is no single-output sigmoid case to keep apart); a regressor emits one
 * number, the standardized target.
 */
import type { Storage } from '../kernels/types.js';
import { allocStorage, Tensor, type DType } from '../tensor.js';
import {
  asNumeric,
  asText,
  cellText,
  isMissingCell,
  isMissingValue,
  isNumeric,
  pixelName,
  RESAMPLES,
  selectRows,
  type Column,
  type ImageInput,
  type Table,
} from './table.js';

/** How one input column is encoded. */
export type FeatureSpec =
  /** A number column, fed as (x − mean) / std: one input. `fill` replaces a missing value. */
  | { name: string; kind: 'numeric'; mean: number; std: number; fill?: number }
  /** A text column, fed one-hot: one input per category, in `categories` order. `fill` replaces a missing value. */
  | { name: string; kind: 'categorical'; categories: string[]; fill?: string };

/**
 * What happens to a missing value (see `isMissingValue`) in the columns a model uses: `'error'` refuses it,
 * naming its line and column; `'drop'` leaves out every row with one; `'mean'` fills a numeric column
 * with its mean and a text column with its most frequent value; `'mode'` fills either with its most
 * frequent value. A row without a target is never filled: outside `'error'` it is left out.
 */
export type MissingPolicy = 'error' | 'drop' | 'mean' | 'mode';

/** The missing-value policies, in the order help texts list them. */
export const MISSING_POLICIES: readonly MissingPolicy[] = ['error', 'drop', 'mean', 'mode'];

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
  /** The missing-value policy the model was trained with (absent: `'error'`); fills are in `features`. */
  missing?: MissingPolicy;
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
  /**
   * Input columns, in this order. Default: every column but the target, those in `drop` and a column
   * named `id` (in any letter case: it names rows, as `chainrule predict` uses it), in table order.
   */
  features?: string[];
  /** Columns left out of the default features. */
  drop?: string[];
  /** Columns read as categories even when they hold numbers (their decimal text is the category). */
  categorical?: string[];
  /** Columns read as numbers even when words outnumber them (each word is then an error naming its line). */
  numeric?: string[];
  /** What to do with missing values (default `'error'`); see {@link MissingPolicy}. */
  missing?: MissingPolicy;
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

/**
 * Which of the usual problems a {@link PreprocessError} is, so a caller can suggest its own remedy: a
 * missing value under the `'error'` policy, a word where a number belongs, a text column with a
 * different value in every row (an identifier).
 */
export type PreprocessProblem = 'missing' | 'not-a-number' | 'identifier';

/** A table the preprocessing cannot use, with the table's source and the column (and line) at fault. */
export class PreprocessError extends Error {
  /** The table's source (file path or dataset name). */
  readonly source: string;
  /** The column at fault, when there is one. */
  readonly column: string | undefined;
  /** The 1-based line of the file, when the table knows it. */
  readonly line: number | undefined;
  /** Which usual problem this is, when it is one. */
  readonly problem: PreprocessProblem | undefined;

  constructor(message: string, source: string, column?: string, line?: number, problem?: PreprocessProblem) {
    super(message);
    this.name = 'PreprocessError';
    this.source = source;
    this.column = column;
    this.line = line;
    this.problem = problem;
  }
}

/**
 * A feature with more categories (or a target with more classes) than this is refused: one input per category would make the model huge,
 * and such a column is nearly always an identifier or free text.
 */
const MAX_CATEGORIES = 1000;
/** A text feature with a different value in each of at least this many rows is an identifier, not a feature. */
const MIN_IDENTIFIER_ROWS = 20;
/** A whole-number target with at most this many distinct values is read as classes. */
const MAX_INFERRED_CLASSES = 20;
/** How many class names a reason lists before '…'. */
const LISTED = 10;

const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/**
 * Whether a target column is classes or a number, and a sentence saying why for the user. Text → classes.
 * Numbers → classes when all are whole numbers with at most 20 distinct values, and fewer distinct values
 * than half the rows (so a short table of counts stays a regression); otherwise regression. Missing
 * values are not counted.
 */
export function inferTask(column: Column): { task: Task; reason: string } {
  if (!isNumeric(column)) {
    const values = (column.values as readonly string[]).filter((s) => !isMissingValue(s));
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
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v !== v) continue;
    n++;
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
 * The input columns a fit uses by default, and those it leaves out with the reason: every column but the
 * target, those in `drop`, and a column named `id` in any letter case. With `features` given, those.
 */
export function chooseFeatures(
  table: Table,
  options: Pick<FitPreprocessingOptions, 'target' | 'features' | 'drop'>,
): { features: string[]; left: { name: string; why: string }[] } {
  const { source } = table;
  const names = table.columns.map((c) => c.name);
  const known = new Set(names);
  const available = () => names.map((n) => `'${n}'`).join(', ');
  for (const [list, what] of [
    [options.drop, 'dropped'],
    [options.features, 'feature'],
  ] as const)
    for (const name of list ?? [])
      if (!known.has(name))
        throw new PreprocessError(
          `${source}: no ${what} column '${name}'; the columns are ${available()}`,
          source,
          name,
        );
  const dropped = new Set(options.drop ?? []);
  if (options.features) {
    const both = options.features.find((f) => dropped.has(f));
    if (both !== undefined)
      throw new PreprocessError(`${source}: '${both}' is both a feature and dropped`, source, both);
    const chosen = new Set(options.features);
    return {
      features: [...options.features],
      left: names
        .filter((n) => !chosen.has(n) && n !== options.target)
        .map((name) => ({ name, why: dropped.has(name) ? 'dropped' : 'not among the features' })),
    };
  }
  const features: string[] = [];
  const left: { name: string; why: string }[] = [];
  for (const name of names) {
    if (name === options.target) continue;
    if (dropped.has(name)) left.push({ name, why: 'dropped' });
    else if (name.toLowerCase() === 'id') left.push({ name, why: 'an id names rows' });
    else features.push(name);
  }
  return { features, left };
}

/**
 * Learn the encoding from a training table. Which columns: see {@link chooseFeatures}. Numeric or
 * categorical: as the table stores the column (for a CSV, the rule of `parseCsv`: numbers outnumber
 * words), unless `categorical` or `numeric` names it. Numeric features: mean and population std over
 * the rows used (a constant column stores std 1, so it maps to 0). Text features: one-hot over the
 * categories in first-seen order; a text column with a different value in each of 20 or more rows is
 * refused as an identifier. Classes: sorted so the numbering does not depend on row order — numerically
 * when every class name is a number ('2' before '10'), otherwise by UTF-16 code units (the same on every
 * machine, unlike locale order). A numeric column used as classes takes its values' decimal text ('3')
 * as class names.
 *
 * Missing values follow `options.missing` (see {@link MissingPolicy}); statistics and fills come from
 * the rows that policy keeps ({@link dropMissing} gives those rows for training). A word in a numeric
 * column is an error naming its line, whatever the policy.
 */
export function fitPreprocessing(table: Table, options: FitPreprocessingOptions): Preprocessing {
  const { source } = table;
  const available = () => table.columns.map((c) => `'${c.name}'`).join(', ');
  const original = columnsByName(table);
  if (!original.has(options.target))
    throw new PreprocessError(
      `${source}: no target column '${options.target}'; the columns are ${available()}`,
      source,
      options.target,
    );
  if (table.numRows === 0) throw new PreprocessError(`${source}: no rows to learn from`, source);
  const categorical = new Set(options.categorical ?? []);
  const numeric = new Set(options.numeric ?? []);
  for (const [list, kind] of [
    [categorical, 'categorical'],
    [numeric, 'numeric'],
  ] as const)
    for (const name of list) {
      if (!original.has(name))
        throw new PreprocessError(
          `${source}: no column '${name}' to read as ${kind}; the columns are ${available()}`,
          source,
          name,
        );
      if (kind === 'numeric' && categorical.has(name))
        throw new PreprocessError(
          `${source}: '${name}' cannot be both categorical and numeric`,
          source,
          name,
        );
    }
  const retyped = table.columns.map((c) =>
    categorical.has(c.name) ? asText(c) : numeric.has(c.name) ? asNumeric(c) : c,
  );
  const byName = new Map(retyped.map((c) => [c.name, c]));
  const targetColumn = byName.get(options.target)!;

  const { features: featureNames } = chooseFeatures(table, options);
  const seen = new Set<string>();
  for (const name of featureNames) {
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

  const missing = options.missing ?? 'error';
  const used = featureNames.map((name) => byName.get(name)!);
  // Words in numeric columns are errors under every policy; missing values are under 'error'.
  for (const column of [...used, targetColumn]) checkCells(table, column, missing === 'error');
  // The rows the policy keeps: statistics and fills come from them.
  const rowsUsed = keptRows(table.numRows, missing === 'drop' ? [...used, targetColumn] : [targetColumn]);
  if (rowsUsed !== null && rowsUsed.length === 0)
    throw new PreprocessError(
      `${source}: no rows left to learn from: every row misses a value (${missing === 'drop' ? 'missing values dropped' : 'in the target'})`,
      source,
    );
  const view: Table = rowsUsed ? selectRows(makeView(table, retyped), rowsUsed) : makeView(table, retyped);
  const viewColumns = columnsByName(view);

  const scaling = options.scaling ?? 'standard';
  const fills = missing === 'mean' || missing === 'mode';
  const features = featureNames.map((name): FeatureSpec => {
    const column = viewColumns.get(name)!;
    if (isNumeric(column)) {
      const { mean, std } =
        scaling === 'standard' ? moments(column) : scaling === 'minmax' ? range(column) : { mean: 0, std: 1 };
      const spec: FeatureSpec = { name, kind: 'numeric', mean, std };
      if (fills && hasMissing(column))
        spec.fill = missing === 'mean' ? moments(column).mean : numericMode(column);
      return spec;
    }
    const values = column.values as readonly string[];
    const present = values.filter((v) => !isMissingValue(v));
    const categories = distinctStrings(present);
    if (categories.length > MAX_CATEGORIES)
      throw new PreprocessError(
        `${source}: column '${name}' has ${categories.length} distinct values, more than ${MAX_CATEGORIES}: ` +
          `it looks like an identifier or free text, not a category; leave it out of the features` +
          prefixed('; or, ', numbersHint(table, column)),
        source,
        name,
        undefined,
        'identifier',
      );
    if (present.length >= MIN_IDENTIFIER_ROWS && categories.length === present.length)
      throw new PreprocessError(
        `${source}: column '${name}' has a different value in each of its ${present.length} rows ` +
          `(such as '${categories[0]}'): it looks like an identifier, not a category; leave it out of the features`,
        source,
        name,
        undefined,
        'identifier',
      );
    if (categories.length === 0)
      throw new PreprocessError(
        `${source}: column '${name}' has no values, only missing ones; leave it out of the features`,
        source,
        name,
      );
    const spec: FeatureSpec = { name, kind: 'categorical', categories };
    if (fills && present.length < values.length) spec.fill = textMode(present);
    return spec;
  });
  const inputSize = features.reduce((w, f) => w + (f.kind === 'numeric' ? 1 : f.categories.length), 0);

  const viewTarget = viewColumns.get(options.target)!;
  const task = options.task ?? inferTask(viewTarget).task;
  let target: TargetSpec;
  if (task === 'classification') {
    const names = distinctStrings(
      Array.from({ length: view.numRows }, (_, r) => cellText(viewTarget, r)).filter(
        (v) => !isMissingValue(v),
      ),
    );
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
    if (!isNumeric(viewTarget))
      throw new PreprocessError(
        `${source}: target '${targetColumn.name}' holds text ${firstText(table, targetColumn)}; ` +
          `regression needs numbers`,
        source,
        targetColumn.name,
      );
    const { mean, std } = (options.standardizeTarget ?? true) ? moments(viewTarget) : { mean: 0, std: 1 };
    target = { name: targetColumn.name, kind: 'numeric', mean, std };
  }
  return { features, target, inputSize, ...(missing !== 'error' ? { missing } : {}) };
}

/**
 * The rows of `table` that the model's missing-value policy keeps for training or evaluation: under
 * `'drop'` those with no missing value in a feature (nor in the target, when `target` is true); under
 * `'mean'` and `'mode'` those with a target (when `target`); under `'error'` all (the transforms then
 * name any missing value). Returns the table itself when no row is left out, and how many were.
 */
export function dropMissing(
  pre: Preprocessing,
  table: Table,
  options: { target?: boolean } = {},
): { table: Table; dropped: number } {
  const missing = pre.missing ?? 'error';
  if (missing === 'error') return { table, dropped: 0 };
  const byName = columnsByName(table);
  const columns: Column[] = [];
  if (missing === 'drop')
    for (const f of pre.features) {
      const c = byName.get(f.name);
      if (c) columns.push(c);
    }
  const t = byName.get(pre.target.name);
  if (options.target && t) columns.push(t);
  const keep = keptRows(table.numRows, columns);
  if (keep === null) return { table, dropped: 0 };
  return { table: selectRows(table, keep), dropped: table.numRows - keep.length };
}

/** The rows with no missing value in any of `columns`, or null when that is every row. */
function keptRows(numRows: number, columns: readonly Column[]): Int32Array | null {
  let out: Int32Array | null = null;
  for (const c of columns) {
    if (!hasMissing(c)) continue;
    out ??= Int32Array.from({ length: numRows }, (_, r) => r);
    out = out.filter((r) => !isMissingCell(c, r));
  }
  return out;
}

/** Whether a column holds a missing value (quick for numeric columns without text cells). */
function hasMissing(column: Column): boolean {
  if (isNumeric(column)) {
    const v = column.values;
    if (!column.textCells || column.textCells.size === 0) {
      for (let i = 0; i < v.length; i++) if (v[i] !== v[i]) return true;
      return false;
    }
    for (const text of column.textCells.values()) if (isMissingValue(text)) return true;
    for (let i = 0; i < v.length; i++) if (v[i] !== v[i] && !column.textCells.has(i)) return true;
    return false;
  }
  return (column.values as readonly string[]).some(isMissingValue);
}

/** A table with the same source and lines, other columns. */
function makeView(table: Table, columns: Column[]): Table {
  return {
    source: table.source,
    columns,
    numRows: table.numRows,
    ...(table.lineOf ? { lineOf: table.lineOf } : {}),
  };
}

/**
 * Refuse a word or an infinity in a numeric column (naming its line) and, when `missingIsError`, a
 * missing value in any column; the first in row order is named, with how many there are.
 */
function checkCells(table: Table, column: Column, missingIsError: boolean): void {
  if (isNumeric(column)) {
    const v = column.values;
    let firstMissing = -1;
    let missingCount = 0;
    for (let r = 0; r < v.length; r++) {
      if (v[r] - v[r] === 0) continue;
      if (isMissingCell(column, r)) {
        if (firstMissing < 0) firstMissing = r;
        missingCount++;
      } else throw notANumber(table, column, r);
    }
    if (missingIsError && firstMissing >= 0) throw missingValue(table, column, firstMissing, missingCount);
    return;
  }
  if (!missingIsError) return;
  const values = column.values as readonly string[];
  const first = values.findIndex(isMissingValue);
  if (first >= 0) throw missingValue(table, column, first, values.filter(isMissingValue).length);
}

function missingValue(
  table: Table,
  column: Column,
  row: number,
  count: number,
  trained = false,
): PreprocessError {
  const cell = cellText(column, row);
  return new PreprocessError(
    `${where(table, row)}: column '${column.name}' has a missing value (${cell.trim() === '' ? 'an empty cell' : `'${cell}'`})` +
      (count > 1 ? `, and ${plural(count - 1, 'other row has', 'other rows have')} one` : '') +
      (trained
        ? '; the model was trained without filling in missing values'
        : '; choose what to do with missing values: leave those rows out, or fill in the mean or the most frequent value'),
    table.source,
    column.name,
    table.lineOf?.(row),
    'missing',
  );
}

function notANumber(
  table: Table,
  column: Column & { values: ArrayLike<number> },
  row: number,
): PreprocessError {
  const v = column.values[row];
  const text = column.textCells?.get(row);
  if (text === undefined)
    return new PreprocessError(
      `${where(table, row)}: column '${column.name}' has ${v}, not a finite number`,
      table.source,
      column.name,
      table.lineOf?.(row),
    );
  let numbers = 0;
  for (let i = 0; i < column.values.length; i++) if (column.values[i] === column.values[i]) numbers++;
  return new PreprocessError(
    `${where(table, row)}: column '${column.name}' has '${text}' where a number was expected ` +
      `(the column is numeric: ${numbers} of its ${column.values.length} values are numbers)`,
    table.source,
    column.name,
    table.lineOf?.(row),
    'not-a-number',
  );
}

/**
 * The feature tensor [rows, inputSize] of a table. Columns are found by name, so their order does not
 * matter, extra columns (the target among them) are ignored. A text value unseen in training is an error
 * naming it and its line: the model has no input for it. A column that was text in training may arrive
 * as numbers (a file where every value happens to be numeric); they are matched by their decimal text.
 * A numeric column that arrives as text is read as numbers. A missing value takes the feature's `fill`
 * when it has one, else is an error naming its line.
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
    return f.kind === 'numeric' ? asNumeric(column) : column;
  });
  // Check every column and build the category lookups before writing anything.
  const fills = pre.features.map((f, j): ((out: Storage, r0: number, r1: number, offset: number) => void) => {
    const column = columns[j];
    if (f.kind === 'numeric') {
      const numbers = column as Column & { values: ArrayLike<number> };
      return (out, r0, r1, offset) =>
        fillNumeric(out, numbers, r0, r1, width, offset, f.mean, f.std, f.fill, table);
    }
    const index = new Map(f.categories.map((c, i) => [c, i]));
    return (out, r0, r1, offset) =>
      fillOneHot(out, column, r0, r1, width, offset, index, f.categories, f.fill, table);
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
  column: Column & { values: ArrayLike<number> },
  r0: number,
  r1: number,
  width: number,
  offset: number,
  mean: number,
  std: number,
  fill: number | undefined,
  table: Table,
): void {
  const values = column.values;
  for (let r = r0, k = r0 * width + offset; r < r1; r++, k += width) {
    let v = values[r];
    // v - v is NaN for NaN and ±Infinity.
    if (v - v !== 0) {
      if (!isMissingCell(column, r)) throw notANumber(table, column, r);
      if (fill === undefined) throw missingValue(table, column, r, 1, true);
      v = fill;
    }
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
  fill: string | undefined,
  table: Table,
): void {
  for (let r = r0, k = r0 * width + offset; r < r1; r++, k += width) {
    let value = cellText(column, r);
    if (isMissingValue(value)) {
      if (fill === undefined) throw missingValue(table, column, r, 1, true);
      value = fill;
    }
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
 * is an error naming its line), or numbers → (y − mean) / std as a tensor [rows, 1]. A missing target is
 * an error naming its line ({@link dropMissing} leaves such rows out first).
 */
export function transformTarget(pre: Preprocessing, table: Table, dtype: DType = 'float32'): TargetTensors {
  const spec = pre.target;
  const column = columnsByName(table).get(spec.name);
  if (column === undefined)
    throw new PreprocessError(`${table.source}: no target column '${spec.name}'`, table.source, spec.name);
  const n = table.numRows;
  if (spec.kind === 'classes') {
    const index = new Map(spec.classes.map((c, i) => [c, i]));
    const labels = new Int32Array(n);
    for (let r = 0; r < n; r++) {
      const value = cellText(column, r);
      const i = index.get(value);
      if (i === undefined) {
        if (isMissingValue(value)) throw missingValue(table, column, r, 1);
        throw new PreprocessError(
          `${where(table, r)}: target '${spec.name}' has class '${value}', which the model does not know ` +
            `(classes: ${listed(spec.classes)})`,
          table.source,
          spec.name,
          table.lineOf?.(r),
        );
      }
      labels[r] = i;
    }
    return { kind: 'classes', labels };
  }
  if (!isNumeric(column) && [...(column.values as readonly string[])].every((s) => !NUMBER.test(s.trim())))
    throw new PreprocessError(
      `${table.source}: target '${spec.name}' holds text ${firstText(table, column)}; the model predicts numbers`,
      table.source,
      spec.name,
    );
  const numbers = asNumeric(column);
  const y = allocStorage(dtype, n);
  fillNumeric(y, numbers, 0, n, 1, 0, spec.mean, spec.std, undefined, table);
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
    if (o.kind === 'numeric') {
      const spec: FeatureSpec = {
        name,
        kind: 'numeric',
        mean: finite(o.mean, `${path}.mean`),
        std: positive(o.std, `${path}.std`),
      };
      if (o.fill !== undefined) spec.fill = finite(o.fill, `${path}.fill`);
      return spec;
    }
    if (o.kind === 'categorical') {
      const categories = strings(o.categories, `${path}.categories`, 1);
      const spec: FeatureSpec = { name, kind: 'categorical', categories };
      if (o.fill !== undefined) {
        const fill = string(o.fill, `${path}.fill`);
        if (!categories.includes(fill)) bad(`${path}.fill`, 'one of the categories', o.fill);
        spec.fill = fill;
      }
      return spec;
    }
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
  if (root.missing !== undefined && !MISSING_POLICIES.includes(root.missing as MissingPolicy))
    bad(`${where}.missing`, MISSING_POLICIES.map((m) => `'${m}'`).join(', '), root.missing);
  const missing = root.missing as MissingPolicy | undefined;
  const checked: Preprocessing = {
    features,
    target,
    inputSize: width,
    ...(missing && missing !== 'error' ? { missing } : {}),
  };
  if (root.image === undefined || root.image === null) return checked;
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
    ...checked,
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

/**
 * Mean and population standard deviation in float64 over the values present (NaN, a missing value, is
 * skipped), two passes for accuracy; std 0 → 1.
 */
function moments(column: Column & { values: ArrayLike<number> }): { mean: number; std: number } {
  const v = column.values;
  let sum = 0;
  let n = 0;
  for (let i = 0; i < v.length; i++) {
    if (v[i] !== v[i]) continue;
    sum += v[i];
    n++;
  }
  if (n === 0) return { mean: 0, std: 1 };
  const mean = sum / n;
  let ss = 0;
  for (let i = 0; i < v.length; i++) if (v[i] === v[i]) ss += (v[i] - mean) ** 2;
  const std = Math.sqrt(ss / n);
  // A constant column carries no information; std 1 maps it to 0 instead of dividing by zero.
  return { mean, std: std > 0 ? std : 1 };
}

/** Min and max as (x − min) / (max − min) over the values present; a constant column maps to 0. */
function range(column: Column & { values: ArrayLike<number> }): { mean: number; std: number } {
  const v = column.values;
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < v.length; i++) {
    if (v[i] < lo) lo = v[i];
    if (v[i] > hi) hi = v[i];
  }
  if (lo > hi) return { mean: 0, std: 1 };
  return { mean: lo, std: hi > lo ? hi - lo : 1 };
}

/** The most frequent number present (the smallest of those tied). */
function numericMode(column: Column & { values: ArrayLike<number> }): number {
  const counts = new Map<number, number>();
  const v = column.values;
  for (let i = 0; i < v.length; i++) if (v[i] === v[i]) counts.set(v[i], (counts.get(v[i]) ?? 0) + 1);
  let best = NaN;
  let bestCount = 0;
  for (const [value, count] of counts)
    if (count > bestCount || (count === bestCount && value < best)) [best, bestCount] = [value, count];
  return best;
}

/** The most frequent value (the first seen of those tied). */
function textMode(values: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const value of values) counts.set(value, (counts.get(value) ?? 0) + 1);
  let best = values[0];
  let bestCount = 0;
  for (const [value, count] of counts) if (count > bestCount) [best, bestCount] = [value, count];
  return best;
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
