// Float32 elementary functions for the float32 elementwise kernels, in float32 arithmetic.
//
// Every operation is rounded to float32 (`Math.fround` after each +, −, ×, ÷: a double result of two
// float32 operands rounded once to float32 is the IEEE single result, double rounding being harmless at
// 53 ≥ 2·24 + 2 bits), so these functions are what a float32 machine computes, and
// `src/kernels/wasm/libm32.ts` emits the same operations in the same order over f32x4 lanes: the reference
// kernels and the WebAssembly ones give the same bits (test/wasm-libm.test.ts). No fused multiply-add, no
// engine-dependent Math function: the bits are the same in every engine.
//
// Accuracy against the float64 functions (src/libm.ts, src/special.ts) rounded to float32, measured in
// numpy with the same operations over every float32 in range (exp, gelu, gelu's derivative) or every 64th
// (the rest), and by test/libm32.test.ts over a million-argument stride each: exp, tanh, log and elu's
// e^x − 1 within 1 ulp; sigmoid, silu, softplus and softplus's derivative within 2 where the result is
// normal (below x = −88.72, where e^−x overflows, sigmoid and silu are 0 and −0, as PyTorch's float32
// kernels, where float64 would give a subnormal); gelu within 4 ulps (its far negative tail included); the
// derivatives of gelu and silu within 4 ulps except near their roots (x ≈ −0.7518 and −1.2785), where each
// is a difference of two nearly equal terms (in float64 as well) and its error is best stated absolutely:
// below 2⁻²³ there.

const f = Math.fround;

/** Bit access to a float32: one shared scratch word. */
const F32 = new Float32Array(1);
const I32 = new Int32Array(F32.buffer);
const bitsOf = (v: number) => ((F32[0] = v), I32[0]);
const fromBits = (b: number) => ((I32[0] = b), F32[0]);

/** 1.5·2²³: adding and subtracting it rounds a float32 of magnitude below 2²² to an integer, ties to even. */
const ROUND = 12582912;

/** 2^k for integer k in [−128, 127], exact doubles (products with them round once, in `fround`). */
const POW2 = (() => {
  const t = new Float64Array(256);
  let p = 1;
  for (let k = 0; k < 128; k++, p *= 2) t[128 + k] = p;
  p = 1;
  for (let k = 0; k >= -128; k--, p /= 2) t[128 + k] = p;
  return t;
})();

/** Cephes' tanhf polynomial for |x| < 0.625: tanh x ≈ x + x·z·P(z), z = x², highest degree first. */
export const TANH32_P = [
  -5.70498872745e-3, 2.06390887954e-2, -5.37397155531e-2, 1.33314422036e-1, -3.33332819422e-1,
].map(f);

/** Below this |x|, tanh x is x in float32. */
export const TANH32_TINY = 2 ** -12;

/** The constants of exp, as float32 values. */
export const EXP32 = {
  /** exp's argument is clamped to [LO, HI] first: e^LO rounds to 0, e^HI overflows to +∞, NaN stays. */
  LO: -110,
  HI: 100,
  LOG2E: f(Math.LOG2E),
  /** ln 2 in two parts: LN2_HI has 9 significant bits, so k·LN2_HI is exact (here |k| ≤ 185). */
  LN2_HI: 0.693359375,
  LN2_LO: f(-2.1219444e-4),
  /**
   * Cephes' expf polynomial: e^r ≈ 1 + r + r²·P(r) on |r| ≤ ln2/2, P's coefficients highest degree first.
   */
  P: [1.98756915e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1].map(
    f,
  ),
  ROUND,
};

/**
 * The constants of gelu and its derivative (fitted by scripts/fit-gelu-f32.py). With a = |x|,
 * Φ(−a) = e^(−a²/2) / D(a), D(a) = √(2π)·a + H_P(a)/H_Q(a); for |x| < 1, Φ(x) = ½ + x·S(x²) and
 * Φ(x) + x·φ(x) = ½ + x·V(x²). Coefficients lowest degree first.
 */
export const GELU32 = {
  /** |x| is clamped to A: e^(−A²/2)·2²⁴ is 0 in float32, so the tails are exactly 0·x (NaN at ±∞). */
  A: 16,
  /** Below this |x| the small-argument polynomials. */
  SMALL: 1,
  /** Adding and subtracting it rounds a ∈ [0, 16] to a multiple of 2⁻⁸: 12 bits, whose square is exact. */
  SPLIT: 32768,
  SQRT_2PI: f(Math.sqrt(2 * Math.PI)),
  /** 1/√(2π), and it times 2⁻²⁴ (the scaled exponential's factor undone). */
  INV_SQRT_2PI: f(0.3989422804014327),
  INV_SQRT_2PI_M24: f(0.3989422804014327 * 2 ** -24),
  /** 2⁻²⁴: e^(−a²/2) is computed times 2²⁴ so that far tails stay normal until the last product. */
  TWO_M24: 2 ** -24,
  H_P: [2.0, 1.2666214, 0.41946614, 0.07559377, 0.006345197].map(f),
  H_Q: [1.0, 1.0887403, 0.56895715, 0.17215078, 0.030168874, 0.00253115].map(f),
  S: [0.3989423, -0.06649033, 0.009973171, -0.0011859849, 0.00011314385, -7.5303733e-6].map(f),
  V: [0.7978846, -0.2659615, 0.059841152, -0.009497703, 0.0011520538, -0.000110256726, 7.168108e-6].map(f),
};

/**
 * The constants of log and log1p (musl's logf and log1pf, from FreeBSD): ln 2 in two parts, the
 * polynomial Lg1…Lg4 in s² with s = f/(2 + f), the bits that move a mantissa into [√2/2, √2).
 */
export const LOG32 = {
  LN2_HI: f(6.9313812256e-1),
  LN2_LO: f(9.0580006145e-6),
  LG1: f(0.66666662693),
  LG2: f(0.40000972152),
  LG3: f(0.28498786688),
  LG4: f(0.24279078841),
  /** Added to the bits: mantissas from √2/2 up carry into the exponent. */
  SHIFT: 0x3f800000 - 0x3f3504f3,
  SQRT1_2_BITS: 0x3f3504f3,
  /** log1p takes f = x itself (k = 0) below √2 − 1 (0x3ed413d0). */
  LOG1P_DIRECT: fromBits(0x3ed413d0),
  /** Subnormal arguments are scaled by 2²⁵ first. */
  MIN_NORMAL: 2 ** -126,
  TWO_25: 2 ** 25,
};

/**
 * Taylor's coefficients of expm1 (1, 1/2, …, 1/7!) for elu's x·P(x) on [−0.35, 0]; below, e^x − 1, whose
 * subtraction is then exact or nearly.
 */
export const EXPM1_32 = { P: [1, 1 / 2, 1 / 6, 1 / 24, 1 / 120, 1 / 720, 1 / 5040].map(f), SWITCH: f(-0.35) };

/** Horner's rule c[0] + z·(c[1] + z·(… + z·c[n])) in float32. */
function horner(z: number, c: readonly number[]): number {
  let t = c[c.length - 1];
  for (let i = c.length - 2; i >= 0; i--) t = f(f(z * t) + c[i]);
  return t;
}

/** e^r for |r| ≤ ln2/2 (plus a little): 1 + r + r²·P(r). */
function expPoly(r: number): number {
  const P = EXP32.P;
  let p = P[0];
  for (let i = 1; i < P.length; i++) p = f(f(p * r) + P[i]);
  return f(f(f(p * f(r * r)) + r) + 1);
}

/** p·2^k in two exact halves, so that the one rounding (into the subnormals, or to ∞) comes last. */
function scale(p: number, k: number): number {
  const k1 = k >> 1;
  return f(f(p * POW2[128 + k1]) * POW2[128 + k - k1]);
}

/** The nearest integer to the float32 v (|v| < 2²²), ties to even. */
const nearest = (v: number) => f(f(v + ROUND) - ROUND);

/**
 * e^x in float32 (x a float32): within 1 ulp of the float64 exp rounded to float32. NaN gives NaN,
 * x > 88.72 gives +∞, x < −103.97 gives 0, subnormal results in between rounded once.
 */
export function exp32(x: number): number {
  const xc = x < EXP32.LO ? EXP32.LO : x > EXP32.HI ? EXP32.HI : x;
  const kf = nearest(f(xc * EXP32.LOG2E));
  const r = f(f(xc - f(kf * EXP32.LN2_HI)) - f(kf * EXP32.LN2_LO));
  // `| 0` sends NaN to 0, as i32x4.trunc_sat_f32x4_s.
  return scale(expPoly(r), kf | 0);
}

/**
 * 2²⁴·e^(−a²/2) for a float32 a in [0, 16]: a split into a 12-bit head h (h² exact) and a tail, so
 * −a²/2 = −h²/2 − (a − h)(a + h)/2 enters the reduction as an exact part and a small correction.
 */
function expHalfSquare24(a: number): number {
  const h = f(f(a + GELU32.SPLIT) - GELU32.SPLIT);
  const hi = f(-0.5 * f(h * h));
  const lo = f(-0.5 * f(f(a - h) * f(a + h)));
  const kf = nearest(f(hi * EXP32.LOG2E));
  const r = f(f(f(hi - f(kf * EXP32.LN2_HI)) - f(kf * EXP32.LN2_LO)) + lo);
  return scale(expPoly(r), (kf | 0) + 24);
}

/** 2²⁴·Φ(−a) = 2²⁴·e^(−a²/2) / D(a), given e = 2²⁴·e^(−a²/2). */
function tail24(a: number, e: number): number {
  const d = f(f(GELU32.SQRT_2PI * a) + f(horner(a, GELU32.H_P) / horner(a, GELU32.H_Q)));
  return f(e / d);
}

/** |x| clamped to GELU32.A (NaN stays NaN). */
const clampAbs = (x: number) => {
  const a = Math.abs(x);
  return a > GELU32.A ? GELU32.A : a;
};

/**
 * gelu(x) = x·Φ(x) in float32 (x a float32): within 4 ulps of the float64 gelu rounded to float32 where the
 * result is normal; the negative tail as x·Φ(x) without cancellation down to the subnormals (gelu(−10) is
 * −7.6e−23), then −0. gelu(NaN) and gelu(−∞) are NaN, gelu(∞) = ∞, as in float64.
 */
export function gelu32(x: number): number {
  const a = clampAbs(x);
  if (a < GELU32.SMALL) return f(x * f(0.5 + f(x * horner(f(x * x), GELU32.S))));
  const q = tail24(a, expHalfSquare24(a));
  if (x < 0) return f(f(x * q) * GELU32.TWO_M24);
  return f(x * f(1 - f(q * GELU32.TWO_M24)));
}

/**
 * gelu'(x) = Φ(x) + x·φ(x) in float32 (x a float32): within 4 ulps of the float64 derivative rounded to
 * float32 away from its root x₀ ≈ −0.7518 (outside [−1.5, −0.4]), within 2⁻²³ absolutely near it. NaN and ±∞ give NaN, as in
 * float64.
 */
export function geluGrad32(x: number): number {
  const a = clampAbs(x);
  if (a < GELU32.SMALL) return f(0.5 + f(x * horner(f(x * x), GELU32.V)));
  const e = expHalfSquare24(a);
  const q = tail24(a, e);
  if (x < 0) return f(f(q + f(f(x * e) * GELU32.INV_SQRT_2PI)) * GELU32.TWO_M24);
  return f(f(1 - f(q * GELU32.TWO_M24)) + f(f(x * e) * GELU32.INV_SQRT_2PI_M24));
}

/**
 * σ(x) = 1 / (1 + e^−x) in float32: within 2 ulps of float64 where the result is normal; 0 below
 * x = −88.72.
 */
export function sigmoid32(x: number): number {
  return f(1 / f(1 + exp32(-x)));
}

/** silu(x) = x / (1 + e^−x) in float32: within 2 ulps of float64 where the result is normal; −0 below −88.72. */
export function silu32(x: number): number {
  return f(x / f(1 + exp32(-x)));
}

/**
 * silu's derivative times g, (g·σ)·(1 + x·(1 − σ)), in float32, with 1 − σ as e^−x·σ for x > 0 (no
 * cancellation as σ nears 1): within 4 ulps of float64 except near the root at x ≈ −1.2785 (outside
 * [−2, −0.5]), within 2⁻²³ absolutely there.
 */
export function siluGrad32(x: number, g: number): number {
  const e = exp32(-x);
  const s = f(1 / f(1 + e));
  const c = x > 0 ? f(e * s) : f(1 - s);
  return f(f(g * s) * f(1 + f(x * c)));
}

/**
 * tanh x in float32 (Cephes' tanhf): below |x| = 0.625 an odd polynomial, above 1 − 2/(e^{2|x|} + 1) with
 * the sign of x; x itself below 2⁻¹². Within 1 ulp of float64.
 */
export function tanh32(x: number): number {
  const a = Math.abs(x);
  // tanh x rounds to x below 2⁻¹²; taking x there keeps −0 (x + x·z·P(z) is +0 at x = −0).
  if (a < TANH32_TINY) return x;
  if (a < 0.625) {
    const z = f(x * x);
    let p = TANH32_P[0];
    for (let i = 1; i < TANH32_P.length; i++) p = f(f(p * z) + TANH32_P[i]);
    return f(f(f(p * z) * x) + x);
  }
  const t = f(1 - f(2 / f(exp32(f(a + a)) + 1)));
  return x < 0 ? -t : t;
}

/** log(1 + f) + k·ln 2 + c for f in [√2/2 − 1, √2 − 1] (musl's common tail of logf and log1pf). */
function logTail(fv: number, k: number, c: number): number {
  const s = f(fv / f(2 + fv));
  const z = f(s * s);
  const w = f(z * z);
  const t1 = f(w * f(LOG32.LG2 + f(w * LOG32.LG4)));
  const t2 = f(z * f(LOG32.LG1 + f(w * LOG32.LG3)));
  const r = f(t2 + t1);
  const hfsq = f(f(0.5 * fv) * fv);
  return f(f(f(f(f(s * f(hfsq + r)) + f(f(k * LOG32.LN2_LO) + c)) - hfsq) + fv) + f(k * LOG32.LN2_HI));
}

/**
 * log x in float32 (musl's logf): within 1 ulp of float64. log(±0) = −∞, log(x < 0) = NaN, log(∞) = ∞;
 * subnormals scaled into the normals first.
 */
export function log32(x: number): number {
  if (x !== x) return x;
  if (x === 0) return -Infinity;
  if (x < 0) return NaN;
  if (x === Infinity) return x;
  const sub = x < LOG32.MIN_NORMAL;
  const ix = (bitsOf(sub ? f(x * LOG32.TWO_25) : x) + LOG32.SHIFT) | 0;
  const k = (ix >> 23) - 0x7f - (sub ? 25 : 0);
  const m = fromBits((ix & 0x007fffff) + LOG32.SQRT1_2_BITS);
  return logTail(f(m - 1), k, 0);
}

/**
 * log(1 + e) for e in [0, 1] (musl's log1pf on that range; softplus's e = e^−|x|): 1 + e split into
 * 2^k·(1 + f) with the rounding of 1 + e carried in c; e itself below √2 − 1.
 */
function log1p01(e: number): number {
  if (e < LOG32.LOG1P_DIRECT) return logTail(e, 0, 0);
  const u = f(1 + e);
  const iu = (bitsOf(u) + LOG32.SHIFT) | 0;
  const k = (iu >> 23) - 0x7f;
  const c = f(f(e - f(u - 1)) / u);
  const m = fromBits((iu & 0x007fffff) + LOG32.SQRT1_2_BITS);
  return logTail(f(m - 1), k, c);
}

/**
 * softplus(x) = max(x, 0) + log1p(e^−|x|) in float32, as the float64 form: within 2 ulps of float64.
 */
export function softplus32(x: number): number {
  const t = log1p01(exp32(x > 0 ? -x : x));
  return x > 0 ? f(x + t) : t;
}

/**
 * softplus's derivative times g, x ≥ 0 ? g / (1 + e^−x) : (g·e^x) / (1 + e^x), in float32.
 */
export function softplusGrad32(x: number, g: number): number {
  const e = exp32(x >= 0 ? -x : x);
  return x >= 0 ? f(g / f(1 + e)) : f(f(g * e) / f(1 + e));
}

/** e^x − 1 for x ≤ 0 in float32 (elu's): within 1 ulp of float64. */
export function expm1Neg32(x: number): number {
  if (x < EXPM1_32.SWITCH) return f(exp32(x) - 1);
  return f(x * horner(x, EXPM1_32.P));
}
