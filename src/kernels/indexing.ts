/**
 * The reference loops of the indexing kernels: block copies (concat, stack, narrow and their gradients),
 * row selection along an axis and its scatter-add (embeddings), PyTorch's gather / scatter-add along an
 * axis, elementwise selection (where) and top-k positions. Every gradient loop adds in index order, so
 * repeated indices accumulate deterministically. None allocates per element.
 */
import type { Storage } from './types.js';

/** See `Kernels.copyBlocks`. */
export function copyBlocks(
  x: Storage,
  xOffset: number,
  xStride: number,
  out: Storage,
  outOffset: number,
  outStride: number,
  rows: number,
  cols: number,
): void {
  for (let r = 0; r < rows; r++) {
    const xi = xOffset + r * xStride;
    const oi = outOffset + r * outStride;
    for (let c = 0; c < cols; c++) out[oi + c] = x[xi + c];
  }
}

/** See `Kernels.take`. */
export function take(
  x: Storage,
  outer: number,
  n: number,
  inner: number,
  index: Int32Array,
  out: Storage,
): void {
  const m = index.length;
  let o = 0;
  for (let a = 0; a < outer; a++) {
    const base = a * n * inner;
    for (let j = 0; j < m; j++) {
      const src = base + index[j] * inner;
      for (let i = 0; i < inner; i++) out[o++] = x[src + i];
    }
  }
}

/** See `Kernels.takeGrad`. */
export function takeGrad(
  g: Storage,
  outer: number,
  n: number,
  inner: number,
  index: Int32Array,
  out: Storage,
): void {
  const m = index.length;
  let o = 0;
  for (let a = 0; a < outer; a++) {
    const base = a * n * inner;
    for (let j = 0; j < m; j++) {
      const dst = base + index[j] * inner;
      for (let i = 0; i < inner; i++) out[dst + i] += g[o++];
    }
  }
}

/** See `Kernels.gatherAxis`. */
export function gatherAxis(
  x: Storage,
  outer: number,
  n: number,
  inner: number,
  index: Int32Array,
  m: number,
  out: Storage,
): void {
  let o = 0;
  for (let a = 0; a < outer; a++) {
    const base = a * n * inner;
    for (let j = 0; j < m; j++) for (let i = 0; i < inner; i++, o++) out[o] = x[base + index[o] * inner + i];
  }
}

/** See `Kernels.scatterAddAxis`. */
export function scatterAddAxis(
  src: Storage,
  outer: number,
  n: number,
  inner: number,
  index: Int32Array,
  m: number,
  out: Storage,
): void {
  let o = 0;
  for (let a = 0; a < outer; a++) {
    const base = a * n * inner;
    for (let j = 0; j < m; j++)
      for (let i = 0; i < inner; i++, o++) out[base + index[o] * inner + i] += src[o];
  }
}

/** See `Kernels.select`. */
export function select(cond: Storage, a: Storage, b: Storage, out: Storage): void {
  for (let i = 0; i < out.length; i++) out[i] = cond[i] !== 0 ? a[i] : b[i];
}

/** Whether value u at position p ranks before value v at position q (larger first, NaN largest, ties by position). */
function before(u: number, p: number, v: number, q: number): boolean {
  if (u !== u) return v === v || p < q;
  if (v !== v) return false;
  return u > v || (u === v && p < q);
}

/** See `Kernels.topK`. */
export function topK(
  x: Storage,
  outer: number,
  n: number,
  inner: number,
  k: number,
  index: Int32Array,
): void {
  // One line at a time: its best k kept sorted by insertion (k is small next to n in sampling's use).
  const vals = new Float64Array(k);
  const pos = new Int32Array(k);
  for (let a = 0; a < outer; a++)
    for (let i = 0; i < inner; i++) {
      const base = a * n * inner + i;
      let filled = 0;
      for (let j = 0; j < n; j++) {
        const v = x[base + j * inner];
        if (filled === k && !before(v, j, vals[k - 1], pos[k - 1])) continue;
        let s = filled < k ? filled++ : k - 1;
        while (s > 0 && before(v, j, vals[s - 1], pos[s - 1])) {
          vals[s] = vals[s - 1];
          pos[s] = pos[s - 1];
          s--;
        }
        vals[s] = v;
        pos[s] = j;
      }
      const o = a * k * inner + i;
      for (let s = 0; s < k; s++) index[o + s * inner] = pos[s];
    }
}
