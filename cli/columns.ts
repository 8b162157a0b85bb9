// The columns a model uses, in one line for the training summary: which are numeric and which categorical
// (and why, where a flag decided), which are left out, and what happens to missing values.
import type { Preprocessing } from '../src/index.js';
import { num } from './format.js';

/** How many names a list shows before '…'. */
const SHOWN = 6;

function names(list: readonly string[]): string {
  return list.length <= SHOWN ? list.join(', ') : `${list.slice(0, SHOWN - 1).join(', ')}, … ${list.at(-1)}`;
}

/** What the summary needs besides the preprocessing. */
export interface ColumnsContext {
  /** Columns not used as features, with the reason. */
  left: readonly { name: string; why: string }[];
  /** Columns the user named with --categorical / --numeric. */
  categorical: readonly string[];
  numeric: readonly string[];
  /** Rows left out for missing values. */
  dropped: number;
}

/**
 * E.g. `columns: 30 numeric (radius, …), 1 categorical (sex: 2 categories); not used: id (an id names
 * rows); missing values: 2 filled (mean)`. The rule is stated so a surprising kind can be traced.
 */
export function columnsSummary(pre: Preprocessing, ctx: ColumnsContext): string {
  const numeric = pre.features.filter((f) => f.kind === 'numeric');
  const categorical = pre.features.filter((f) => f.kind === 'categorical');
  const parts: string[] = [];
  const forced = (name: string) =>
    ctx.categorical.includes(name) || ctx.numeric.includes(name) ? ' by flag' : '';
  if (numeric.length)
    parts.push(`${numeric.length} numeric (${names(numeric.map((f) => f.name + forced(f.name)))})`);
  if (categorical.length)
    parts.push(
      `${categorical.length} categorical (${names(
        categorical.map((f) => `${f.name}${forced(f.name)}: ${f.categories.length} categories`),
      )})`,
    );
  let line = `columns: ${parts.join(', ')}`;
  if (categorical.length || ctx.left.length)
    line += ' [numeric where numbers outnumber words; --categorical/--numeric/--drop choose]';
  if (ctx.left.length) line += `; not used: ${names(ctx.left.map((l) => `${l.name} (${l.why})`))}`;
  const filled = pre.features.filter((f) => f.fill !== undefined);
  const missing = pre.missing ?? 'error';
  if (missing === 'drop' || ctx.dropped > 0)
    line += `; ${ctx.dropped} ${ctx.dropped === 1 ? 'row' : 'rows'} with missing values left out`;
  if (filled.length)
    line += `; missing values filled (${missing}): ${names(
      filled.map((f) => `${f.name} → ${typeof f.fill === 'number' ? num(f.fill) : `'${f.fill}'`}`),
    )}`;
  return line;
}
