// Small number and duration formats shared by the commands' output.

/** 0.98765 → "98.8%". */
export function pct(v: number): string {
  return `${(v * 100).toFixed(1)}%`;
}

/** A loss or metric with four significant digits, small values in exponent form. */
export function num(v: number): string {
  if (v === 0 || !Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  return a >= 1e-3 && a < 1e5 ? v.toPrecision(4) : v.toExponential(3);
}

/** Seconds as "12.3s" or "2m05s". */
export function duration(s: number): string {
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)}s`;
  const m = Math.floor(s / 60);
  return `${m}m${String(Math.round(s - m * 60)).padStart(2, '0')}s`;
}

/** 12345.6 → "12,346". */
export function int(v: number): string {
  return Math.round(v).toLocaleString('en-US');
}
