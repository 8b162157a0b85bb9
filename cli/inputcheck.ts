// Input a network cannot learn from, reported as bad input that names the cell: a number so large that
// scaling it overflows (1e300 squared is Infinity, so the column's deviation is), or that does not fit the
// model's number type. Without this such a value trains as a "diverged" run or writes a model file whose
// scaling its own reader refuses.
import type { Preprocessing, Table, Tensor } from '../src/index.js';
import { UserError } from './errors.js';

/** The cell of `column` with the largest magnitude: its row, value, and where to find it. */
function largest(table: Table, column: string): { row: number; value: number } | null {
  const c = table.columns.find((k) => k.name === column);
  if (!c || c.values.length === 0 || typeof c.values[0] !== 'number') return null;
  const values = c.values as ArrayLike<number>;
  let row = -1;
  let value = 0;
  for (let r = 0; r < values.length; r++) {
    const v = values[r];
    if (!Number.isFinite(v)) return { row: r, value: v };
    if (row < 0 || Math.abs(v) > Math.abs(value)) {
      row = r;
      value = v;
    }
  }
  return row < 0 ? null : { row, value };
}

function where(table: Table, source: string, row: number, column: string): string {
  const line = table.lineOf?.(row);
  return `${source}${line !== undefined ? `:${line}` : `, row ${row + 1}`}: column '${column}'`;
}

/**
 * Check the fitted scaling of every numeric feature and a numeric target: a mean or deviation that
 * overflowed to ±Infinity or NaN is reported with the cell that caused it (the largest in its column).
 */
export function checkScaling(pre: Preprocessing, table: Table, source = table.source): void {
  const numeric = [...pre.features, pre.target].filter(
    (f): f is { name: string; kind: 'numeric'; mean: number; std: number } => f.kind === 'numeric',
  );
  for (const f of numeric) {
    if (Number.isFinite(f.mean) && Number.isFinite(f.std)) continue;
    const cell = largest(table, f.name);
    const at = cell ? where(table, source, cell.row, f.name) : `${source}: column '${f.name}'`;
    throw new UserError(
      `${at}: ${cell ? `the value ${cell.value} is` : 'the values are'} too large to scale ` +
        `(the column's ${Number.isFinite(f.mean) ? 'spread' : 'mean'} overflows a 64-bit float); ` +
        'use values below about 1e150 in magnitude, or rescale the column',
    );
  }
}

/**
 * Check a feature tensor built from `rows` of `table` (as `transformFeatures` builds it): a value that
 * became ±Infinity or NaN (too large for float32, say) is reported with its cell.
 */
export function checkFeatureValues(x: Tensor, pre: Preprocessing, table: Table, source = table.source): void {
  const data = x.data;
  for (let i = 0; i < data.length; i++) {
    if (Number.isFinite(data[i])) continue;
    const row = Math.floor(i / pre.inputSize);
    let col = i % pre.inputSize;
    let name = '?';
    for (const f of pre.features) {
      const w = f.kind === 'numeric' ? 1 : f.categories.length;
      if (col < w) {
        name = f.name;
        break;
      }
      col -= w;
    }
    const c = table.columns.find((k) => k.name === name);
    const raw = c ? c.values[row] : undefined;
    throw new UserError(
      `${where(table, source, row, name)}: the value ${String(raw)} becomes ${data[i]} once scaled, ` +
        `which the network cannot learn from (${x.dtype} holds magnitudes up to ${x.dtype === 'float32' ? '3.4e38' : '1.8e308'}); ` +
        'rescale the column or use --scale standard',
    );
  }
}
