/**
 * The reference loops of normalization (BatchNorm, LayerNorm): each group's moments, the normalization
 * with its scale and shift, and its gradients, over x viewed as [outer, groups, inner] (`NormGeometry`).
 * They follow the summation orders `types.ts` states, accumulate in JavaScript numbers and never
 * allocate.
 */
import type { NormGeometry, Storage } from './types.js';

/** Each group's mean and biased variance: see `Kernels.moments`. */
export function moments(x: Storage, g: NormGeometry, mean: Storage, variance: Storage): void {
  const { outer, groups, inner } = g;
  const count = outer * inner;
  for (let j = 0; j < groups; j++) {
    let s = 0;
    for (let o = 0; o < outer; o++) {
      const base = (o * groups + j) * inner;
      for (let i = 0; i < inner; i++) s += x[base + i];
    }
    const m = s / count;
    // Two passes, not Σx² − (Σx)²/n: that form loses every digit when the mean is large against the spread.
    let v = 0;
    for (let o = 0; o < outer; o++) {
      const base = (o * groups + j) * inner;
      for (let i = 0; i < inner; i++) {
        const d = x[base + i] - m;
        v += d * d;
      }
    }
    mean[j] = m;
    variance[j] = v / count;
  }
}

/** The scale (or shift) of element i of group j, 1 (or 0) when there is none. */
function affineAt(a: Storage | null, byGroup: boolean, j: number, i: number, none: number): number {
  return a === null ? none : byGroup ? a[j] : a[i];
}

/** out = (x − mean)·r·scale + shift: see `Kernels.normalize`. */
export function normalize(
  x: Storage,
  g: NormGeometry,
  mean: Storage,
  variance: Storage,
  scale: Storage | null,
  shift: Storage | null,
  out: Storage,
): void {
  const { outer, groups, inner, eps } = g;
  const byGroup = g.affine === 'group';
  for (let j = 0; j < groups; j++) {
    const m = mean[j];
    const r = 1 / Math.sqrt(variance[j] + eps);
    for (let o = 0; o < outer; o++) {
      const base = (o * groups + j) * inner;
      for (let i = 0; i < inner; i++) {
        const xh = (x[base + i] - m) * r;
        out[base + i] = xh * affineAt(scale, byGroup, j, i, 1) + affineAt(shift, byGroup, j, i, 0);
      }
    }
  }
}

/** The gradients of `normalize`: see `Kernels.normalizeGrad`. */
export function normalizeGrad(
  gOut: Storage,
  x: Storage,
  g: NormGeometry,
  mean: Storage,
  variance: Storage,
  scale: Storage | null,
  batchStats: boolean,
  gx: Storage | null,
  gScale: Storage | null,
  gShift: Storage | null,
): void {
  const { outer, groups, inner, eps } = g;
  const byGroup = g.affine === 'group';
  const count = outer * inner;
  gScale?.fill(0);
  gShift?.fill(0);
  for (let j = 0; j < groups; j++) {
    const m = mean[j];
    const r = 1 / Math.sqrt(variance[j] + eps);
    // Σĝ and Σĝ·x̂ over the group, for the statistics' share of the input gradient.
    let sg = 0;
    let sgx = 0;
    for (let o = 0; o < outer; o++) {
      const base = (o * groups + j) * inner;
      for (let i = 0; i < inner; i++) {
        const gy = gOut[base + i];
        const xh = (x[base + i] - m) * r;
        const gh = gy * affineAt(scale, byGroup, j, i, 1);
        sg += gh;
        sgx += gh * xh;
        if (gScale !== null) gScale[byGroup ? j : i] += gy * xh;
        if (gShift !== null) gShift[byGroup ? j : i] += gy;
      }
    }
    if (gx === null) continue;
    const a = batchStats ? sg / count : 0;
    const b = batchStats ? sgx / count : 0;
    for (let o = 0; o < outer; o++) {
      const base = (o * groups + j) * inner;
      for (let i = 0; i < inner; i++) {
        const gh = gOut[base + i] * affineAt(scale, byGroup, j, i, 1);
        if (!batchStats) {
          gx[base + i] = r * gh;
          continue;
        }
        const xh = (x[base + i] - m) * r;
        gx[base + i] = r * (gh - a - xh * b);
      }
    }
  }
}
