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
    // By group, one factor r·scale[j] per group; by inner position, the scale and shift vary along i.
    const a = byGroup && scale !== null ? r * scale[j] : r;
    const t = byGroup && shift !== null ? shift[j] : 0;
    for (let o = 0; o < outer; o++) {
      const base = (o * groups + j) * inner;
      if (byGroup || (scale === null && shift === null))
        for (let i = 0; i < inner; i++) out[base + i] = (x[base + i] - m) * a + t;
      else
        for (let i = 0; i < inner; i++) {
          const xh = (x[base + i] - m) * r;
          out[base + i] = (scale === null ? xh : xh * scale[i]) + (shift === null ? 0 : shift[i]);
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
    // Σĝ and Σĝ·x̂ over the group (the statistics' share of the input gradient), ĝ = gOut·scale.
    let sg = 0;
    let sgx = 0;
    if (byGroup) {
      // One scale for the group: Σĝ = scale·ΣgOut, Σĝx̂ = scale·ΣgOut·x̂, and those sums are the scale's and
      // shift's gradients.
      for (let o = 0; o < outer; o++) {
        const base = (o * groups + j) * inner;
        for (let i = 0; i < inner; i++) {
          const gy = gOut[base + i];
          sg += gy;
          sgx += gy * ((x[base + i] - m) * r);
        }
      }
      if (gScale !== null) gScale[j] = sgx;
      if (gShift !== null) gShift[j] = sg;
      if (scale !== null) {
        sg *= scale[j];
        sgx *= scale[j];
      }
    } else
      for (let o = 0; o < outer; o++) {
        const base = (o * groups + j) * inner;
        for (let i = 0; i < inner; i++) {
          const gy = gOut[base + i];
          const xh = (x[base + i] - m) * r;
          const gh = scale === null ? gy : gy * scale[i];
          sg += gh;
          sgx += gh * xh;
          if (gScale !== null) gScale[i] += gy * xh;
          if (gShift !== null) gShift[i] += gy;
        }
      }
    if (gx === null) continue;
    const a = batchStats ? sg / count : 0;
    const b = batchStats ? sgx / count : 0;
    const s = byGroup && scale !== null ? scale[j] : 1;
    for (let o = 0; o < outer; o++) {
      const base = (o * groups + j) * inner;
      for (let i = 0; i < inner; i++) {
        const gh = byGroup || scale === null ? gOut[base + i] * s : gOut[base + i] * scale[i];
        gx[base + i] = batchStats ? r * (gh - a - (x[base + i] - m) * r * b) : r * gh;
      }
    }
  }
}
