// The float32 functions of src/libm32.ts against the float64 ones (src/libm.ts, src/special.ts) rounded to
// float32: a stride through every float32 bit pattern in each range (about a million arguments), uniform
// randoms where the functions curve, and the edges (NaN, ±∞, −0, overflow, underflow, the far GELU tail).
// Errors in ulps are distances between float32 bit patterns (subnormals included, one ulp = 2⁻¹⁴⁹ there).
// (scripts/fit-gelu-f32.py fitted the polynomials; a sweep over every float32, done once in numpy with the
// same operations, gave the same maxima as asserted here.)
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { exp, expm1, log, log1p, tanh } from '../src/libm.js';
import {
  exp32,
  expm1Neg32,
  gelu32,
  geluGrad32,
  log32,
  sigmoid32,
  silu32,
  siluGrad32,
  softplus32,
  softplusGrad32,
  tanh32,
} from '../src/libm32.js';
import { erfc } from '../src/special.js';
import { xorshift32 } from './helpers/xorshift.js';

const f32 = new Float32Array(1);
const i32 = new Int32Array(f32.buffer);

/** The float32's position on a line where neighbours differ by one (−0 and +0 both at 0). */
function ordinal(v: number): number {
  f32[0] = v;
  const b = i32[0];
  return b < 0 ? -(b & 0x7fffffff) : b;
}

function fromBits(b: number): number {
  i32[0] = b;
  return f32[0];
}

/** Ulps between two float32 values; 0 when both are NaN, Infinity when only one is. */
function ulps(a: number, b: number): number {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b) ? 0 : Infinity;
  return Math.abs(ordinal(a) - ordinal(b));
}

/** Every `stride`-th float32 in [lo, hi] (lo ≤ 0 ≤ hi or both the same sign), as a list. */
function floats(lo: number, hi: number, count: number): number[] {
  const a = ordinal(Math.fround(lo));
  const b = ordinal(Math.fround(hi));
  const stride = Math.max(1, Math.floor((b - a) / count));
  const out: number[] = [];
  for (let o = a; o <= b; o += stride) out.push(o < 0 ? fromBits(-o | 0x80000000 | 0) : fromBits(o));
  return out;
}

/** The sweep's randoms, the same every run. */
const rand = xorshift32(0x9e3779b9);

const uniform = (lo: number, hi: number, n: number) =>
  Array.from({ length: n }, () => Math.fround(lo + (hi - lo) * rand()));

const SQRT1_2 = Math.SQRT1_2;
const INV_SQRT_2PI = 0.3989422804014327;
const gelu64 = (x: number) => x * 0.5 * erfc(-x * SQRT1_2);
const geluGrad64 = (x: number) => 0.5 * erfc(-x * SQRT1_2) + x * exp(-0.5 * x * x) * INV_SQRT_2PI;

/** The largest error in ulps of `fn` against `truth` rounded to float32 over `xs`, and where. */
function worst(fn: (x: number) => number, truth: (x: number) => number, xs: number[]) {
  let max = 0;
  let at = NaN;
  for (const x of xs) {
    const u = ulps(fn(x), Math.fround(truth(x)));
    if (u > max) {
      max = u;
      at = x;
    }
  }
  return { max, at };
}

describe('float32 libm (src/libm32.ts) against float64 rounded to float32', () => {
  test('exp32: within 1 ulp from the underflow to the overflow', () => {
    const xs = [...floats(-110, 100, 1_000_000), ...uniform(-1, 1, 100_000), ...uniform(-104, 89, 100_000)];
    const { max, at } = worst(exp32, exp, xs);
    assert.ok(max <= 1, `exp32: ${max} ulps at ${at}`);
  });

  test('exp32: the edges', () => {
    assert.ok(Number.isNaN(exp32(NaN)));
    assert.equal(exp32(Infinity), Infinity);
    assert.ok(Object.is(exp32(-Infinity), 0));
    assert.equal(exp32(0), 1);
    assert.equal(exp32(-0), 1);
    assert.equal(exp32(Math.fround(88.72283)), Math.fround(exp(Math.fround(88.72283))));
    assert.equal(exp32(Math.fround(88.7229)), Infinity);
    assert.equal(exp32(1000), Infinity);
    // Subnormal results, rounded once; beyond them 0.
    assert.equal(exp32(-100), Math.fround(exp(-100)));
    assert.ok(exp32(-103) > 0 && exp32(-103) < 2 ** -126);
    assert.ok(Object.is(exp32(-104), 0));
    assert.ok(Object.is(exp32(-1000), 0));
  });

  test('gelu32: within 4 ulps everywhere, the far negative tail included', () => {
    const xs = [...floats(-17, 17, 1_000_000), ...uniform(-4, 4, 200_000), ...uniform(-14, -12, 50_000)];
    const { max, at } = worst(gelu32, gelu64, xs);
    assert.ok(max <= 4, `gelu32: ${max} ulps at ${at}`);
  });

  test('gelu32: the edges', () => {
    assert.ok(Number.isNaN(gelu32(NaN)));
    // As in float64: x·Φ(x) is −∞·0 at −∞.
    assert.ok(Number.isNaN(gelu32(-Infinity)));
    assert.equal(gelu32(Infinity), Infinity);
    assert.ok(Object.is(gelu32(-0), -0));
    assert.ok(Object.is(gelu32(0), 0));
    assert.equal(gelu32(1e30), Math.fround(1e30));
    assert.ok(Object.is(gelu32(-1e30), -0));
    // The negative tail does not cancel: gelu(−10) ≈ −7.6e−23, to 4 ulps.
    assert.ok(ulps(gelu32(-10), Math.fround(gelu64(-10))) <= 4);
    assert.ok(gelu32(-10) < -7e-23);
    // Subnormal tiny x: x/2, rounded once.
    assert.equal(gelu32(2 ** -140), 2 ** -141);
  });

  test('geluGrad32: within 4 ulps away from the root at −0.7518, within 2⁻²³ absolutely near it', () => {
    const xs = [...floats(-17, 17, 1_000_000), ...uniform(-4, 4, 200_000)];
    const far = xs.filter((x) => x < -1.5 || x > -0.4);
    const { max, at } = worst(geluGrad32, geluGrad64, far);
    assert.ok(max <= 4, `geluGrad32: ${max} ulps at ${at}`);
    let abs = 0;
    for (const x of [...floats(-1.5, -0.4, 200_000), ...uniform(-0.76, -0.74, 50_000)])
      abs = Math.max(abs, Math.abs(geluGrad32(x) - geluGrad64(x)));
    assert.ok(abs <= 2 ** -23, `geluGrad32 near the root: absolute error ${abs}`);
  });

  test('geluGrad32: the edges', () => {
    // As in float64: Φ(x) + x·φ(x) has ∞·0 at ±∞.
    for (const x of [NaN, Infinity, -Infinity]) assert.ok(Number.isNaN(geluGrad32(x)), `${x}`);
    assert.equal(geluGrad32(0), 0.5);
    assert.equal(geluGrad32(-0), 0.5);
    assert.equal(geluGrad32(1e30), 1);
    assert.ok(Object.is(geluGrad32(-1e30), 0));
    assert.ok(ulps(geluGrad32(-10), Math.fround(geluGrad64(-10))) <= 4);
  });

  test('sigmoid32 and silu32: within 2 ulps where the result is normal; 0 and −0 below −88.72', () => {
    const xs = [...floats(-87.3, 110, 1_000_000), ...uniform(-8, 8, 200_000)];
    const sig = worst(sigmoid32, (x) => 1 / (1 + exp(-x)), xs);
    assert.ok(sig.max <= 2, `sigmoid32: ${sig.max} ulps at ${sig.at}`);
    const silu = worst(silu32, (x) => x / (1 + exp(-x)), xs);
    assert.ok(silu.max <= 2, `silu32: ${silu.max} ulps at ${silu.at}`);
    assert.ok(Object.is(sigmoid32(-90), 0) && Object.is(silu32(-90), -0));
    assert.equal(sigmoid32(Infinity), 1);
    assert.ok(Object.is(sigmoid32(-Infinity), 0));
    assert.ok(Object.is(silu32(-0), -0));
    assert.equal(silu32(Infinity), Infinity);
    assert.ok(Number.isNaN(sigmoid32(NaN)) && Number.isNaN(silu32(NaN)) && Number.isNaN(silu32(-Infinity)));
  });

  test('siluGrad32: within 4 ulps away from the root at −1.2785, within 2⁻²³ absolutely near it', () => {
    const d64 = (x: number) => {
      const s = 1 / (1 + exp(-x));
      return s * (1 + x * (1 - s));
    };
    const xs = [...floats(-87.3, 110, 1_000_000), ...uniform(-8, 8, 200_000)];
    const { max, at } = worst(
      (x) => siluGrad32(x, 1),
      d64,
      xs.filter((x) => x < -2 || x > -0.5),
    );
    assert.ok(max <= 4, `siluGrad32: ${max} ulps at ${at}`);
    let abs = 0;
    for (const x of floats(-2, -0.5, 200_000)) abs = Math.max(abs, Math.abs(siluGrad32(x, 1) - d64(x)));
    assert.ok(abs <= 2 ** -23, `siluGrad32 near the root: absolute error ${abs}`);
    // g multiplies first, as PyTorch's (g·σ)·(…).
    assert.equal(siluGrad32(0, 3), 1.5);
    for (const x of [NaN, Infinity, -Infinity]) assert.ok(Number.isNaN(siluGrad32(x, 1)), `${x}`);
  });

  test('tanh32: within 1 ulp, −0 kept', () => {
    const xs = [...floats(-20, 20, 1_000_000), ...uniform(-1, 1, 200_000)];
    const { max, at } = worst(tanh32, tanh, xs);
    assert.ok(max <= 1, `tanh32: ${max} ulps at ${at}`);
    assert.ok(Object.is(tanh32(-0), -0));
    assert.equal(tanh32(Infinity), 1);
    assert.equal(tanh32(-Infinity), -1);
    assert.ok(Number.isNaN(tanh32(NaN)));
  });

  test('log32: within 1 ulp over all positive float32s, subnormals included', () => {
    const xs = [...floats(0, 3.4e38, 1_000_000), ...uniform(0.5, 2, 200_000)].filter((x) => x > 0);
    const { max, at } = worst(log32, log, xs);
    assert.ok(max <= 1, `log32: ${max} ulps at ${at}`);
    assert.equal(log32(0), -Infinity);
    assert.equal(log32(-0), -Infinity);
    assert.equal(log32(1), 0);
    assert.equal(log32(Infinity), Infinity);
    for (const x of [NaN, -1, -Infinity, -1e-45]) assert.ok(Number.isNaN(log32(x)), `${x}`);
  });

  test('softplus32 within 2 ulps, its derivative within 2', () => {
    const xs = [...floats(-110, 110, 1_000_000), ...uniform(-8, 8, 200_000)];
    const sp = worst(softplus32, (x) => (x > 0 ? x + log1p(exp(-x)) : log1p(exp(x))), xs);
    assert.ok(sp.max <= 2, `softplus32: ${sp.max} ulps at ${sp.at}`);
    const d64 = (x: number) => (x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x)));
    const d = worst((x) => softplusGrad32(x, 1), d64, xs);
    assert.ok(d.max <= 2, `softplusGrad32: ${d.max} ulps at ${d.at}`);
    assert.equal(softplus32(Infinity), Infinity);
    assert.ok(Object.is(softplus32(-Infinity), 0));
    assert.ok(Number.isNaN(softplus32(NaN)) && Number.isNaN(softplusGrad32(NaN, 1)));
  });

  test('expm1Neg32 (elu) within 1 ulp for x ≤ 0', () => {
    const xs = [...floats(-110, 0, 1_000_000), ...uniform(-1, 0, 200_000)];
    const { max, at } = worst(expm1Neg32, expm1, xs);
    assert.ok(max <= 1, `expm1Neg32: ${max} ulps at ${at}`);
    assert.ok(Object.is(expm1Neg32(-0), -0));
    assert.equal(expm1Neg32(-Infinity), -1);
    assert.ok(Number.isNaN(expm1Neg32(NaN)));
  });
});
