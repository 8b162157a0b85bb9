/**
 * A table of raw data as it comes from a CSV file or a built-in dataset: named columns, each either
 * numbers or strings. Preprocessing turns a table into tensors; the model file remembers how, so
 * `predict` takes raw rows exactly like the training data.
 */

/** How image files of another size are brought to the model's: the resampling filter's name. */
export type Resample = 'bilinear';

/** The resampling filters `resizeImage` (src/data/image.ts) knows. */
export const RESAMPLES: readonly Resample[] = ['bilinear'];

/** What makes a table's (or a model's) inputs images; plain JSON, saved in the model file. */
export interface ImageInput {
  /**
   * [channels, height, width] of one image: each row holds C·H·W values, channel-major (NCHW flattened),
   * pixel (c, y, x) in column `px${(c·H + y)·W + x}`. Channels: 1 = grey, 3 = red, green, blue.
   */
  shape: [number, number, number];
  /**
   * The raw value of full intensity: 255 for 8-bit images (and MNIST), 16 for digits. Image files are read
   * as 8-bit values and brought to this range, so a file can be fed to any image model.
   */
  maxValue: number;
  /**
   * The filter that brings an image file of another size to height × width; null when the images were not
   * resized, so files must have the model's size already.
   */
  resize: Resample | null;
}

/** The name of pixel column `i` of an image table. */
export function pixelName(i: number): string {
  return `px${i}`;
}

/** One named column: numbers (any numeric array) or strings (categories, class names). */
export interface Column {
  /** Header name. */
  readonly name: string;
  /** One value per row. */
  readonly values: ArrayLike<number> | readonly string[];
  /**
   * In a numeric column read from text: the cells that held no number, by row, as written — a missing
   * value ({@link isMissingValue}: `''`, `NA`, `NaN`…) or a stray word. `values` holds NaN there.
   * Absent when every cell was a number.
   */
  readonly textCells?: ReadonlyMap<number, string>;
}

/** Columns of equal length, with where they came from (for error messages). */
export interface Table {
  /** A file path or a built-in dataset name, as messages should name it. */
  readonly source: string;
  /** The columns, in file order. */
  readonly columns: readonly Column[];
  /** Number of rows. */
  readonly numRows: number;
  /**
   * The line of the source file that row `r` came from (1-based, counting the header), for messages;
   * absent for generated data.
   */
  readonly lineOf?: (row: number) => number;
  /**
   * Present when the rows are images: the first C·H·W columns are their pixels, `px0 …`, channel-major
   * (`src/data/image.ts` builds such tables).
   */
  readonly image?: ImageInput;
}

/** Whether a column holds numbers. */
export function isNumeric(column: Column): column is Column & { values: ArrayLike<number> } {
  return column.values.length === 0 || typeof column.values[0] === 'number';
}

/**
 * The cells that mean "no value here": empty (or only spaces), `NA`, `N/A`, `NaN`, `null` and `?`, in any
 * letter case. A missing value is never a number or a category; what happens to it is the preprocessing's
 * `missing` policy.
 */
export const MISSING_VALUES: readonly string[] = ['', 'NA', 'N/A', 'NaN', 'null', '?'];

const MISSING = new Set(MISSING_VALUES.map((m) => m.toLowerCase()));

/** Whether a cell is a missing value (one of {@link MISSING_VALUES}, spaces around it ignored, any case). */
export function isMissingValue(cell: string): boolean {
  const t = cell.trim();
  return t.length <= 4 && MISSING.has(t.toLowerCase());
}

// A decimal number, optionally signed, with an optional exponent: '1e3', '-0.5', '.5', '5.' pass; '1,5',
// '12abc', '0x10', 'Infinity', 'NaN' and '' do not (Number() would accept some of those).
const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/**
 * The number a cell spells, or NaN: a decimal number with optional sign and exponent (`1e3`, `-0.5`,
 * `.5`), spaces around it allowed. Hexadecimal, `Infinity`, `1,5`, `1_000` and numbers too large for a
 * double (`1e999`) are not numbers.
 */
export function parseNumber(cell: string): number {
  // Short unsigned integers — pixel values, counts, ids — are converted digit by digit: a large file has
  // tens of millions of cells, and this is most of the time spent on each.
  const n = cell.length;
  if (n > 0 && n <= 15) {
    let v = 0;
    let i = 0;
    for (; i < n; i++) {
      const d = cell.charCodeAt(i) - 48;
      if (d < 0 || d > 9) break;
      v = v * 10 + d;
    }
    if (i === n) return v;
  }
  let t = cell;
  if (!NUMBER.test(t)) {
    t = cell.trim();
    if (t === cell || !NUMBER.test(t)) return NaN;
  }
  const v = Number(t);
  return v - v === 0 ? v : NaN;
}

/** A cell as text: a string column's value, a number's decimal text, or a text cell as written. */
export function cellText(column: Column, row: number): string {
  if (!isNumeric(column)) return (column.values as readonly string[])[row];
  const v = column.values[row];
  return v === v ? String(v) : (column.textCells?.get(row) ?? String(v));
}

/** Whether a cell holds a missing value (a numeric column's NaN from a missing-value cell, or a text one). */
export function isMissingCell(column: Column, row: number): boolean {
  if (!isNumeric(column)) return isMissingValue((column.values as readonly string[])[row]);
  const v = column.values[row];
  if (v === v) return false;
  const text = column.textCells?.get(row);
  return text === undefined || isMissingValue(text);
}

/**
 * The column as numbers: a numeric column as it is; a text column converted cell by cell, with the cells
 * that hold no number kept in `textCells` (and NaN in `values`).
 */
export function asNumeric(column: Column): Column & { values: ArrayLike<number> } {
  if (isNumeric(column)) return column;
  const strings = column.values as readonly string[];
  const values = new Float64Array(strings.length);
  const textCells = new Map<number, string>();
  for (let r = 0; r < strings.length; r++) {
    const v = parseNumber(strings[r]);
    values[r] = v;
    if (v !== v) textCells.set(r, strings[r]);
  }
  return { name: column.name, values, ...(textCells.size > 0 ? { textCells } : {}) };
}

/** The column as text: a text column as it is; numbers as their decimal text, text cells as written. */
export function asText(column: Column): Column & { values: readonly string[] } {
  if (!isNumeric(column)) return column as Column & { values: readonly string[] };
  return {
    name: column.name,
    values: Array.from({ length: column.values.length }, (_, r) => cellText(column, r)),
  };
}

/** A table from columns, checking they have equal lengths and distinct names. */
export function makeTable(source: string, columns: Column[], lineOf?: (row: number) => number): Table {
  const numRows = columns.length > 0 ? columns[0].values.length : 0;
  const seen = new Set<string>();
  for (const c of columns) {
    if (c.values.length !== numRows)
      throw new Error(`${source}: column '${c.name}' has ${c.values.length} values, expected ${numRows}`);
    if (seen.has(c.name)) throw new Error(`${source}: column name '${c.name}' appears twice`);
    seen.add(c.name);
  }
  return { source, columns, numRows, ...(lineOf ? { lineOf } : {}) };
}

/** The rows `index` of a table, in that order (line numbers follow the rows). */
export function selectRows(table: Table, index: ArrayLike<number>): Table {
  const n = index.length;
  const columns = table.columns.map((c): Column => {
    if (isNumeric(c)) {
      const src = c.values;
      const Ctor = (ArrayBuffer.isView(src) ? src.constructor : Float64Array) as new (n: number) => {
        [i: number]: number;
        length: number;
      };
      const out = new Ctor(n);
      for (let r = 0; r < n; r++) out[r] = src[index[r]];
      const cells = c.textCells;
      if (!cells || cells.size === 0) return { name: c.name, values: out as ArrayLike<number> };
      const textCells = new Map<number, string>();
      for (let r = 0; r < n; r++) {
        const t = cells.get(index[r]);
        if (t !== undefined) textCells.set(r, t);
      }
      return {
        name: c.name,
        values: out as ArrayLike<number>,
        ...(textCells.size > 0 ? { textCells } : {}),
      };
    }
    const src = c.values as readonly string[];
    return { name: c.name, values: Array.from({ length: n }, (_, r) => src[index[r]]) };
  });
  const lineOf = table.lineOf;
  return {
    source: table.source,
    columns,
    numRows: n,
    ...(lineOf ? { lineOf: (r: number) => lineOf(index[r]) } : {}),
    ...(table.image ? { image: table.image } : {}),
  };
}
