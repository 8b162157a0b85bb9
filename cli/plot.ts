// --plot: the training and validation loss curves as a self-contained SVG a browser opens.
import type { EpochLog } from '../src/index.js';
import { num } from './format.js';

function escape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Round numbers for axis ticks: 1, 2 or 5 times a power of ten. */
function ticks(lo: number, hi: number, count: number): number[] {
  const span = hi - lo || Math.abs(hi) || 1;
  const raw = span / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step)
    out.push(Number(v.toPrecision(12)));
  return out;
}

/** An SVG line chart of loss (and validation loss, when present) per epoch. */
export function lossPlotSvg(epochs: readonly EpochLog[], title: string): string {
  const W = 720;
  const H = 420;
  const m = { left: 70, right: 20, top: 40, bottom: 50 };
  const series: { name: string; color: string; values: [number, number][] }[] = [
    { name: 'training loss', color: '#1f77b4', values: epochs.map((e) => [e.epoch, e.loss]) },
  ];
  const val = epochs
    .filter((e) => e.valLoss !== undefined)
    .map((e): [number, number] => [e.epoch, e.valLoss as number]);
  if (val.length) series.push({ name: 'validation loss', color: '#ff7f0e', values: val });
  const all = series.flatMap((s) => s.values).filter(([, v]) => Number.isFinite(v));
  const x0 = Math.min(...all.map(([e]) => e), 1);
  const x1 = Math.max(...all.map(([e]) => e), x0 + 1);
  const y1 = Math.max(...all.map(([, v]) => v), 1e-12);
  const y0 = Math.min(0, ...all.map(([, v]) => v));
  const sx = (e: number) => m.left + ((e - x0) / (x1 - x0)) * (W - m.left - m.right);
  const sy = (v: number) => H - m.bottom - ((v - y0) / (y1 - y0)) * (H - m.top - m.bottom);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">${escape(title)}</text>`,
  ];
  for (const t of ticks(y0, y1, 6)) {
    const y = sy(t).toFixed(1);
    parts.push(`<line x1="${m.left}" x2="${W - m.right}" y1="${y}" y2="${y}" stroke="#e5e5e5"/>`);
    parts.push(
      `<text x="${m.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${num(t)}</text>`,
    );
  }
  for (const t of ticks(x0, x1, 8).filter((t) => Number.isInteger(t))) {
    const x = sx(t).toFixed(1);
    parts.push(`<text x="${x}" y="${H - m.bottom + 18}" text-anchor="middle">${t}</text>`);
  }
  parts.push(`<line x1="${m.left}" x2="${m.left}" y1="${m.top}" y2="${H - m.bottom}" stroke="#333"/>`);
  parts.push(
    `<line x1="${m.left}" x2="${W - m.right}" y1="${H - m.bottom}" y2="${H - m.bottom}" stroke="#333"/>`,
  );
  parts.push(`<text x="${(m.left + W - m.right) / 2}" y="${H - 10}" text-anchor="middle">epoch</text>`);
  parts.push(
    `<text transform="translate(16 ${(m.top + H - m.bottom) / 2}) rotate(-90)" text-anchor="middle">loss</text>`,
  );
  series.forEach((s, i) => {
    const pts = s.values
      .filter(([, v]) => Number.isFinite(v))
      .map(([e, v]) => `${sx(e).toFixed(1)},${sy(v).toFixed(1)}`);
    parts.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${pts.join(' ')}"/>`);
    const ly = m.top + 8 + i * 18;
    parts.push(
      `<line x1="${W - m.right - 150}" x2="${W - m.right - 126}" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="3"/>`,
    );
    parts.push(`<text x="${W - m.right - 120}" y="${ly}" dominant-baseline="middle">${s.name}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
