// The sliding-window kernels' cases, shared by test/window-kernels.test.ts (Node) and
// test/helpers/kernel-check.ts (Chromium): geometries that reach every path of the WebAssembly versions
// (stride 1, 2 and 3; padding, dilation, groups, rectangular and 1-D windows; batch 1; channel counts that
// are no multiple of a vector; windows partly or wholly in the padding; depths, widths and channel counts
// past the GEMM's blocks), inputs with special values, and one check that runs all seven kernels of a set
// against the reference. No Node modules here.
import { random, referenceKernels, type Kernels, type Storage } from '../../src/index.js';
import type { Conv2dGeometry, Window2d } from '../../src/kernels/types.js';
import { type Ctor, DTYPES } from './kernel-cases.js';

/** A window along one axis: size, kernel, stride, padding before and after, dilation. */
interface Axis {
  size: number;
  k: number;
  stride?: number;
  pad?: number;
  /** Padding after the last element (default `pad`): 'same' with an even kernel pads one more after. */
  padAfter?: number;
  dilation?: number;
}

/** The window over two axes, output sizes worked out as PyTorch does. */
export function window2d(batch: number, channels: number, h: Axis, w: Axis): Window2d {
  const out = (a: Axis) =>
    Math.floor(
      (a.size + (a.pad ?? 0) + (a.padAfter ?? a.pad ?? 0) - (a.dilation ?? 1) * (a.k - 1) - 1) /
        (a.stride ?? 1),
    ) + 1;
  return {
    batch,
    channels,
    inH: h.size,
    inW: w.size,
    outH: out(h),
    outW: out(w),
    kH: h.k,
    kW: w.k,
    strideH: h.stride ?? 1,
    strideW: w.stride ?? 1,
    padH: h.pad ?? 0,
    padW: w.pad ?? 0,
    dilationH: h.dilation ?? 1,
    dilationW: w.dilation ?? 1,
  };
}

/** A convolution: the window, output channels and groups. */
export function conv2d(
  batch: number,
  channels: number,
  outChannels: number,
  h: Axis,
  w: Axis,
  groups = 1,
): Conv2dGeometry {
  return { ...window2d(batch, channels, h, w), outChannels, groups };
}

/** A random convolution from `rng`: small, every option mixed. */
function randomConv(rng: random.RandomState): Conv2dGeometry {
  const int = (lo: number, hi: number) => lo + Math.floor(rng.random() * (hi - lo + 1));
  const oneD = rng.random() < 0.2;
  const axis = (oneD: boolean): Axis => {
    if (oneD) return { size: 1, k: 1 };
    const k = int(1, 5);
    const dilation = int(1, 2);
    const pad = int(0, 2);
    return {
      size: int(Math.max(1, (k - 1) * dilation + 1 - 2 * pad), 15),
      k,
      stride: int(1, 3),
      pad,
      dilation,
    };
  };
  const groups = int(1, 3);
  return conv2d(int(1, 4), groups * int(1, 5), groups * int(1, 9), axis(oneD), axis(false), groups);
}

/** Convolutions: named edge cases, then seeded random ones. */
export function convCases(): { what: string; g: Conv2dGeometry }[] {
  const named: { what: string; g: Conv2dGeometry }[] = [
    { what: 'W4 conv1, smaller', g: conv2d(2, 1, 5, { size: 12, k: 5 }, { size: 12, k: 5 }) },
    { what: 'W4 conv2, smaller', g: conv2d(3, 6, 10, { size: 8, k: 5 }, { size: 8, k: 5 }) },
    { what: '1-D, batch 1, padding', g: conv2d(1, 3, 5, { size: 1, k: 1 }, { size: 17, k: 3, pad: 1 }) },
    {
      what: 'stride 2, padding 1',
      g: conv2d(2, 6, 7, { size: 9, k: 3, stride: 2, pad: 1 }, { size: 11, k: 3, stride: 2, pad: 1 }),
    },
    {
      what: 'dilation 2, groups 2',
      g: conv2d(2, 4, 6, { size: 7, k: 3, pad: 2, dilation: 2 }, { size: 8, k: 3, pad: 2, dilation: 2 }, 2),
    },
    {
      what: 'rectangular, stride (1, 2), padding (1, 0)',
      g: conv2d(2, 3, 2, { size: 5, k: 2, pad: 1 }, { size: 9, k: 4, stride: 2 }),
    },
    { what: 'depthwise ×2', g: conv2d(2, 6, 12, { size: 7, k: 3, pad: 1 }, { size: 7, k: 3, pad: 1 }, 6) },
    { what: '1×1, stride 1', g: conv2d(2, 5, 9, { size: 6, k: 1 }, { size: 7, k: 1 }) },
    { what: '1×1, stride 3', g: conv2d(1, 3, 4, { size: 7, k: 1, stride: 3 }, { size: 8, k: 1, stride: 3 }) },
    {
      what: "'same' with an even kernel (one more row and column of padding after)",
      g: conv2d(2, 2, 3, { size: 7, k: 4, pad: 1, padAfter: 2 }, { size: 6, k: 4, pad: 1, padAfter: 2 }),
    },
    {
      what: 'every window partly in the padding',
      g: conv2d(2, 2, 3, { size: 3, k: 5, pad: 2 }, { size: 3, k: 5, pad: 2 }),
    },
    {
      what: 'depth past the float64 block (540 taps), rows past its panel block',
      g: conv2d(1, 60, 100, { size: 6, k: 3 }, { size: 6, k: 3 }),
    },
    {
      what: 'positions past the float32 block (1098)',
      g: conv2d(1, 2, 3, { size: 1, k: 1 }, { size: 1100, k: 3 }),
    },
    {
      what: 'output channels past the float64 block (260)',
      g: conv2d(1, 3, 260, { size: 5, k: 2 }, { size: 5, k: 2 }),
    },
  ];
  const rng = new random.RandomState(2024);
  const randoms = Array.from({ length: 40 }, (_, i) => ({ what: `random ${i}`, g: randomConv(rng) }));
  return [...named, ...randoms];
}

/** Poolings: named edge cases, then seeded random ones; average pooling with and without the padding. */
export function poolCases(): { what: string; g: Window2d; avg: boolean; countIncludePad: boolean }[] {
  const named: { what: string; g: Window2d }[] = [
    {
      what: 'W4 2×2 stride 2',
      g: window2d(2, 3, { size: 24, k: 2, stride: 2 }, { size: 24, k: 2, stride: 2 }),
    },
    {
      what: '3×3 stride 2 padding 1',
      g: window2d(2, 3, { size: 13, k: 3, stride: 2, pad: 1 }, { size: 17, k: 3, stride: 2, pad: 1 }),
    },
    { what: '3×3 stride 1, wide rows', g: window2d(1, 2, { size: 6, k: 3 }, { size: 41, k: 3 }) },
    {
      what: '2×2 stride 3 (inputs no window reads)',
      g: window2d(2, 2, { size: 11, k: 2, stride: 3 }, { size: 40, k: 2, stride: 3 }),
    },
    {
      what: 'stride 3 padding 1, wide rows',
      g: window2d(1, 3, { size: 9, k: 3, stride: 3, pad: 1 }, { size: 45, k: 3, stride: 3, pad: 1 }),
    },
    { what: '1-D', g: window2d(3, 2, { size: 1, k: 1 }, { size: 30, k: 3, stride: 2, pad: 1 }) },
    {
      what: 'windows wholly in the padding',
      g: window2d(2, 2, { size: 4, k: 1, pad: 1 }, { size: 9, k: 1, pad: 1 }),
    },
  ];
  const dilated = {
    what: 'dilation 2 (max)',
    g: window2d(2, 2, { size: 9, k: 2, dilation: 2 }, { size: 30, k: 3, stride: 2, pad: 1, dilation: 2 }),
  };
  const rng = new random.RandomState(7);
  const int = (lo: number, hi: number) => lo + Math.floor(rng.random() * (hi - lo + 1));
  const randomAxis = (dilate: boolean): Axis => {
    const k = int(1, 4);
    const dilation = dilate ? int(1, 2) : 1;
    const pad = int(0, Math.floor(k / 2));
    return {
      size: int(Math.max(1, (k - 1) * dilation + 1 - 2 * pad), 30),
      k,
      stride: int(1, 3),
      pad,
      dilation,
    };
  };
  const out: { what: string; g: Window2d; avg: boolean; countIncludePad: boolean }[] = [];
  for (const c of named) {
    out.push({ ...c, avg: false, countIncludePad: false });
    out.push({ ...c, what: `${c.what}, average`, avg: true, countIncludePad: true });
    out.push({ ...c, what: `${c.what}, average without the padding`, avg: true, countIncludePad: false });
  }
  out.push({ ...dilated, avg: false, countIncludePad: false });
  for (let i = 0; i < 40; i++) {
    const avg = i % 2 === 1;
    const g = window2d(
      int(1, 3),
      int(1, 5),
      i % 5 === 0 ? { size: 1, k: 1 } : randomAxis(!avg),
      randomAxis(!avg),
    );
    out.push({ what: `random ${i}`, g, avg, countIncludePad: rng.random() < 0.5 });
  }
  return out;
}

/** Uniform in [−1, 1). */
function uniform(rng: random.RandomState, C: Ctor, n: number): Storage {
  const a = new C(n);
  for (let i = 0; i < n; i++) a[i] = rng.random() * 2 - 1;
  return a;
}

/** Quarter steps in [−2, 2] (ties for max pooling), every 11th a special value (NaN, ±∞, ±0). */
function pooled(rng: random.RandomState, C: Ctor, n: number): Storage {
  const special = [NaN, Infinity, -Infinity, -0, 0];
  const a = new C(n);
  for (let i = 0; i < n; i++)
    a[i] =
      i % 11 === 5 ? special[((i / 11) % special.length) | 0] : Math.round((rng.random() * 4 - 2) * 4) / 4;
  return a;
}

/** Whether two values are the same bits (any NaN equals any NaN: engines differ in payloads). */
function same(a: number, b: number): boolean {
  return Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b));
}

/** The first element where two results differ, or −1. */
export function firstDifference(got: ArrayLike<number>, want: ArrayLike<number>): number {
  if (got.length !== want.length) return Math.min(got.length, want.length);
  for (let i = 0; i < want.length; i++) if (!same(got[i], want[i])) return i;
  return -1;
}

/** What {@link checkWindowKernels} found. */
export interface WindowReport {
  /** Kernel calls compared. */
  calls: number;
  /** Results that differ: float64 from the reference's bits, float32 beyond the tolerance, or two sets' bits. */
  mismatches: string[];
  /** The largest float32 convolution error relative to Σ|products| (see `F32_TOL`). */
  worstF32: number;
}

/**
 * Float32 convolutions sum in float32 lanes where the reference sums in doubles: an element may be off by
 * this much relative to Σ|products| of its sum (the reference run on absolute values), as float32 matmul
 * is in test/kernels.test.ts (the same DTYPES tolerance).
 */
export const F32_TOL = DTYPES[0].tol;

/**
 * Run all seven sliding-window kernels of `k` (and of `twin`, which must give `k`'s bits: the same set
 * on another thread count) on every case, against the reference: float64 bit for bit, float32
 * pooling bit for bit, float32 convolution within {@link F32_TOL}.
 */
export function checkWindowKernels(k: Kernels, twin: Kernels | null = null): WindowReport {
  const report: WindowReport = { calls: 0, mismatches: [], worstF32: 0 };
  const rng = new random.RandomState(31);
  const sets = twin ? [k, twin] : [k];
  /** Run `call` on each set and the reference into fresh outputs (filled with garbage first). */
  const compare = (
    what: string,
    C: Ctor,
    n: number,
    call: (set: Kernels, out: Storage) => void,
    scale: Float64Array | null,
  ) => {
    const want = new C(n);
    call(referenceKernels, want);
    const results = sets.map((set) => {
      const got = new C(n).fill(7);
      call(set, got);
      return got;
    });
    report.calls += results.length;
    const [got] = results;
    if (scale) {
      for (let i = 0; i < n; i++) {
        if (!Number.isFinite(want[i]) || !Number.isFinite(got[i])) {
          if (!same(got[i], want[i]))
            report.mismatches.push(`${k.name} ${what}[${i}]: ${got[i]}, expected ${want[i]}`);
          continue;
        }
        const err = Math.abs(got[i] - want[i]) / Math.max(scale[i], Math.abs(want[i]), 1e-300);
        if (err > report.worstF32) report.worstF32 = err;
        if (!(err <= F32_TOL)) {
          report.mismatches.push(`${k.name} ${what}[${i}]: ${got[i]}, expected ${want[i]} (error ${err})`);
          break;
        }
      }
    } else {
      const i = firstDifference(got, want);
      if (i >= 0) report.mismatches.push(`${k.name} ${what}[${i}]: ${got[i]}, expected ${want[i]}`);
    }
    if (twin) {
      const i = firstDifference(results[1], got);
      if (i >= 0) report.mismatches.push(`${twin.name} ${what}[${i}]: ${results[1][i]}, ${k.name} ${got[i]}`);
    }
  };
  const abs = (a: Storage) => Float64Array.from(a, Math.abs);
  for (const { what, g } of convCases()) {
    for (const dt of DTYPES) {
      const C = dt.Array;
      const f32 = dt.name === 'float32';
      const xs = g.batch * g.channels * g.inH * g.inW;
      const ws = g.outChannels * (g.channels / g.groups) * g.kH * g.kW;
      const os = g.batch * g.outChannels * g.outH * g.outW;
      const x = uniform(rng, C, xs);
      const w = uniform(rng, C, ws);
      const b = uniform(rng, C, g.outChannels);
      const gOut = uniform(rng, C, os);
      // The scale of each sum: the same kernel on absolute values, in doubles.
      const scaleOf = (run: (out: Float64Array) => void, n: number) => {
        if (!f32) return null;
        const s = new Float64Array(n);
        run(s);
        return s;
      };
      const name = `${dt.name} ${what}`;
      compare(
        `${name} conv2d`,
        C,
        os,
        (s, o) => s.conv2d(x, w, b, o, g),
        scaleOf((o) => referenceKernels.conv2d(abs(x), abs(w), abs(b), o, g), os),
      );
      compare(
        `${name} conv2dInputGrad`,
        C,
        xs,
        (s, o) => s.conv2dInputGrad(gOut, w, o, g),
        scaleOf((o) => referenceKernels.conv2dInputGrad(abs(gOut), abs(w), o, g), xs),
      );
      compare(
        `${name} conv2dWeightGrad`,
        C,
        ws,
        (s, o) => s.conv2dWeightGrad(x, gOut, o, g),
        scaleOf((o) => referenceKernels.conv2dWeightGrad(abs(x), abs(gOut), o, g), ws),
      );
    }
  }
  // Non-finite values in padded windows: NaN from ∞·0 where a tap reads the padding, as im2col gives.
  {
    const g = conv2d(2, 2, 3, { size: 4, k: 3, pad: 1 }, { size: 5, k: 3, pad: 1 });
    for (const dt of DTYPES) {
      const C = dt.Array;
      const x = uniform(rng, C, 2 * 2 * 4 * 5);
      const w = uniform(rng, C, 3 * 2 * 9);
      const gOut = uniform(rng, C, 2 * 3 * 4 * 5);
      w[4] = Infinity;
      w[20] = NaN;
      x[7] = -Infinity;
      gOut[3] = Infinity;
      const scaleOf = (run: (out: Float64Array) => void, n: number) => {
        if (dt.name === 'float64') return null;
        const s = new Float64Array(n);
        run(s);
        return s;
      };
      const name = `${dt.name} non-finite values with padding`;
      compare(
        `${name} conv2d`,
        C,
        2 * 3 * 20,
        (s, o) => s.conv2d(x, w, null, o, g),
        scaleOf((o) => referenceKernels.conv2d(abs(x), abs(w), null, o, g), 2 * 3 * 20),
      );
      compare(
        `${name} conv2dInputGrad`,
        C,
        x.length,
        (s, o) => s.conv2dInputGrad(gOut, w, o, g),
        scaleOf((o) => referenceKernels.conv2dInputGrad(abs(gOut), abs(w), o, g), x.length),
      );
      compare(
        `${name} conv2dWeightGrad`,
        C,
        w.length,
        (s, o) => s.conv2dWeightGrad(x, gOut, o, g),
        scaleOf((o) => referenceKernels.conv2dWeightGrad(abs(x), abs(gOut), o, g), w.length),
      );
    }
  }
  for (const { what, g, avg, countIncludePad } of poolCases()) {
    for (const dt of DTYPES) {
      const C = dt.Array;
      const xs = g.batch * g.channels * g.inH * g.inW;
      const os = g.batch * g.channels * g.outH * g.outW;
      const x = pooled(rng, C, xs);
      const gOut = uniform(rng, C, os);
      const name = `${dt.name} ${what}`;
      if (avg) {
        compare(`${name} avgPool2d`, C, os, (s, o) => s.avgPool2d(x, o, g, countIncludePad), null);
        compare(`${name} avgPool2dGrad`, C, xs, (s, o) => s.avgPool2dGrad(gOut, o, g, countIncludePad), null);
        continue;
      }
      const argmax = new Int32Array(os);
      referenceKernels.maxPool2d(x, new C(os), argmax, g);
      compare(`${name} maxPool2d`, C, os, (s, o) => s.maxPool2d(x, o, new Int32Array(os), g), null);
      compare(
        `${name} maxPool2d argmax`,
        C,
        os,
        (s, o) => {
          const a = new Int32Array(os).fill(7);
          s.maxPool2d(x, new C(os), a, g);
          o.set(a);
        },
        null,
      );
      compare(`${name} maxPool2dGrad`, C, xs, (s, o) => s.maxPool2dGrad(gOut, argmax, o, g), null);
    }
  }
  return report;
}
