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
      return { name: c.name, values: out as ArrayLike<number> };
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
