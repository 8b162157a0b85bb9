// Input a network cannot learn from, reported as bad input that names the cell: a number so large that
// fitting its scaling overflows (1e300 squared is Infinity, so the column's deviation is). Without this
// such a value writes a model file whose scaling its own reader refuses. (Values that become infinite
// once scaled are the data layer's DataError, which train names the same way.)
import type { Preprocessing, Table } from '../src/index.js';
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
    const overflows = `its ${Number.isFinite(f.mean) ? 'deviation' : 'mean'} overflows a 64-bit float`;
    if (!cell)
      throw new UserError(`${source}: column '${f.name}': the values are too large to scale (${overflows})`);
    // The same words as the data layer's check of scaled values (train's badValue), with the reason.
    throw new UserError(
      `${where(table, source, cell.row, f.name)} holds ${cell.value}, which its scaling (mean ${f.mean}, ` +
        `deviation ${f.std}) turns into ${(cell.value - f.mean) / f.std}: the column's values are too large ` +
        `to scale (${overflows}); divide the column by a power of ten (bad input, not a learning-rate problem)`,
    );
  }
}
