/** The plain-text table: chainrule's figure, each peer's, and ours ÷ peer (above 1: chainrule is faster). */
import { fmtRate, type Figure } from './harness.js';
import { isFigure, PEERS, type NotApplicable, type Row } from './types.js';

/** ours / peer, or null where the peer did not run. */
export function ratio(ours: Figure, peer: Figure | NotApplicable): number | null {
  return isFigure(peer) ? ours.median / peer.median : null;
}

function fmtRatio(r: number | null): string {
  if (r === null) return 'n/a';
  return r >= 10 ? `${r.toFixed(0)}×` : r >= 1 ? `${r.toFixed(2)}×` : `${r.toPrecision(2)}×`;
}

/** A figure, marked with * when it is the median of fewer runs than the rest. */
function fmtFigure(f: Figure | NotApplicable, fullRuns: number): string {
  if (!isFigure(f)) return 'n/a';
  return fmtRate(f.median) + (f.runs < fullRuns ? '*' : '');
}

/** Render the rows as an aligned table. */
export function renderTable(rows: readonly Row[], fullRuns: number): string {
  const header = [
    'workload',
    'unit',
    'chainrule',
    ...PEERS,
    ...PEERS.map((p) => `ours/${p.replace('tfjs-', '')}`),
  ];
  const body = rows.map((r) => [
    r.name,
    r.unit,
    fmtFigure(r.ours, fullRuns),
    ...PEERS.map((p) => fmtFigure(r.peers[p], fullRuns)),
    ...PEERS.map((p) => fmtRatio(ratio(r.ours, r.peers[p]))),
  ]);
  const all = [header, ...body];
  const widths = header.map((_, c) => Math.max(...all.map((line) => [...line[c]].length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, c) => {
        const pad = ' '.repeat(widths[c] - [...cell].length);
        return c < 2 ? cell + pad : pad + cell;
      })
      .join('  ');
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(header), rule, ...body.map(line)].join('\n');
}
