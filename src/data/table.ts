/**
 * A table of raw data as it comes from a CSV file or a built-in dataset: named columns, each either
 * numbers or strings. Preprocessing turns a table into tensors; the model file remembers how, so
 * `predict` takes raw rows exactly like the training data.
 */

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
  };
}
