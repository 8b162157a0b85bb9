// Deterministic elementary functions built only from IEEE-754 basic operations.
//
// JavaScript engines are free to compute Math.exp, Math.log, Math.sin, ... with different
// algorithms, and they do differ in the last bit for a noticeable fraction of arguments. The
// functions here use only +, −, ×, ÷, comparisons, Math.round/Math.abs (exact operations) and bit
// access through a shared Float64Array/Uint32Array, so every conforming engine returns the same
// bits. Methods are textbook ones (Cody–Waite argument reduction, Taylor/atanh series evaluated by
// Horner's rule, error-free transformations TwoSum/Dekker's TwoProduct); all constants were
// derived for this file with exact rational arithmetic (series for ln 2 and Machin's formula for π).
//
// Accuracy figures quoted in the TSDoc are ulp distances to V8's Math.* measured by
// test/libm.test.ts (V8 itself is within 1 ulp of the true value).

// ---------------------------------------------------------------------------------------------
// Bit access. One shared 8-byte scratch buffer; the word order is detected once at load time.

const F64 = new Float64Array(1);
const U32 = new Uint32Array(F64.buffer);
F64[0] = 1;
/** Index of the 32-bit word holding sign, exponent and top of the mantissa. */
const HI = U32[1] === 0x3ff00000 ? 1 : 0;
const LO = 1 - HI;

/**
 * 2^k for every integer k in [-1022, 1023], built once from the exponent bits. A lookup, because building
 * the double from two 32-bit writes on every call stalls the read that follows (its store cannot be
 * forwarded to a 64-bit load): about 10 ns of every exp.
 */
const POW2 = (() => {
  const t = new Float64Array(2046);
  for (let k = -1022; k <= 1023; k++) {
    U32[HI] = (k + 1023) << 20;
    U32[LO] = 0;
    t[k + 1022] = F64[0]!;
  }
  return t;
})();

/** 2^k for integer k in [-1022, 1023]. */
function pow2(k: number): number {
  return POW2[k + 1022]!;
}

/** x · 2^k for a normal x and any integer k, with a single rounding when the result is subnormal. */
function scale(x: number, k: number): number {
  if (k > 1023) {
    x *= TWO_1023;
    k -= 1023;
    if (k > 1023) return x * Infinity;
    return x * pow2(k);
  }
  if (k < -1022) {
    // Scale into the normal range exactly, then do the one (possibly subnormal) rounding.
    const k2 = k + 1000;
    if (k2 < -1022) return x * 0;
    return x * pow2(k2) * TWO_M1000;
  }
  return x * pow2(k);
}

// ---------------------------------------------------------------------------------------------
// Constants (derived with exact rational arithmetic; see the file header).

const TWO_1023 = 8.98846567431158e307;
const TWO_M1000 = 9.332636185032189e-302;
const TWO_54 = 18014398509481984;
const SPLITTER = 134217729; // 2^27 + 1, Dekker's splitting constant

const LOG2E = 1.4426950408889634;
/** ln 2 rounded to 30 significant bits: k·LN2_HI is exact for |k| < 2^20. */
const LN2_HI = 0.6931471806019545;
const LN2_LO = -4.2009150726810846e-11;
/** ln 2 as a double-double. */
const LN2_DD_HI = 0.6931471805599453;
const LN2_DD_LO = 2.3190468138462996e-17;

const TWO_OVER_PI = 0.6366197723675814;
const PIO4 = 0.7853981633974483;
/** π/2 split in three 33-bit pieces (k·P_i exact for |k| < 2^20) plus a rounded tail. */
const PIO2_1 = 1.5707963267341256;
const PIO2_2 = 6.077100506303966e-11;
const PIO2_3 = 2.0222662487111665e-21;
const PIO2_4 = 8.4784276603689e-32;

// 1/n!, n = 2..20.
const F2 = 0.5;
const F3 = 0.16666666666666666;
const F4 = 0.041666666666666664;
const F5 = 0.008333333333333333;
const F6 = 0.001388888888888889;
const F7 = 0.0001984126984126984;
const F8 = 2.48015873015873e-5;
const F9 = 2.7557319223985893e-6;
const F10 = 2.755731922398589e-7;
const F11 = 2.505210838544172e-8;
const F12 = 2.08767569878681e-9;
const F13 = 1.6059043836821613e-10;
const F14 = 1.1470745597729725e-11;
const F15 = 7.647163731819816e-13;
const F16 = 4.779477332387385e-14;
const F17 = 2.8114572543455206e-15;
const F18 = 1.5619206968586225e-16;
const F19 = 8.22063524662433e-18;
const F20 = 4.110317623312165e-19;

// 2/(2n+1), n = 1..12: coefficients of 2·atanh(s) = log((1+s)/(1−s)).
const L1 = 0.6666666666666666;
const L1_LO = 3.700743415417188e-17;
const L2 = 0.4;
const L3 = 0.2857142857142857;
const L4 = 0.2222222222222222;
const L5 = 0.18181818181818182;
const L6 = 0.15384615384615385;
const L7 = 0.13333333333333333;
const L8 = 0.11764705882352941;
const L9 = 0.10526315789473684;
const L10 = 0.09523809523809523;
const L11 = 0.08695652173913043;
const L12 = 0.08;

const EXP_OVERFLOW = 709.782712893384; // largest x with exp(x) finite
const EXP_UNDERFLOW = -745.1332191019412; // below this exp(x) rounds to 0

// ---------------------------------------------------------------------------------------------
// Error-free transformations. Results are returned through module-level registers (no allocation).

let ddHi = 0;
let ddLo = 0;

/** Knuth's TwoSum: ddHi + ddLo = a + b exactly. */
function twoSum(a: number, b: number): void {
  const s = a + b;
  const bb = s - a;
  ddLo = a - (s - bb) + (b - bb);
  ddHi = s;
}

/** Dekker's TwoProduct: ddHi + ddLo = a · b exactly (barring overflow/underflow). */
function twoProd(a: number, b: number): void {
  const p = a * b;
  let t = SPLITTER * a;
  const ah = t - (t - a);
  const al = a - ah;
  t = SPLITTER * b;
  const bh = t - (t - b);
  const bl = b - bh;
  ddLo = ah * bh - p + ah * bl + al * bh + al * bl;
  ddHi = p;
}

/** (ah + al) · (bh + bl) as a double-double in ddHi/ddLo, relative error ~2^-104. */
function ddMul(ah: number, al: number, bh: number, bl: number): void {
  twoProd(ah, bh);
  const lo = ddLo + (ah * bl + al * bh);
  const hi = ddHi;
  ddHi = hi + lo;
  ddLo = lo - (ddHi - hi);
}

// ---------------------------------------------------------------------------------------------
// exp / expm1

/** (e^r − 1 − r)/r² for |r| ≤ 0.35 by the Taylor series through r^14 (truncation < 2^-58). */
function expTail(r: number): number {
  return (
    F2 +
    r *
      (F3 +
        r *
          (F4 +
            r *
              (F5 +
                r *
                  (F6 +
                    r *
                      (F7 + r * (F8 + r * (F9 + r * (F10 + r * (F11 + r * (F12 + r * (F13 + r * F14)))))))))))
  );
}

// Reduced argument shared by exp, expm1 and the pow kernel: x = k·ln2 + rr + rc.
let redK = 0;
let redR = 0;
let redC = 0;

function reduceLn2(x: number): void {
  const k = Math.round(x * LOG2E);
  const hi = x - k * LN2_HI; // exact: k·LN2_HI is exact and close to x
  const klo = k * LN2_LO;
  const r = hi - klo;
  redK = k;
  redR = r;
  redC = hi - r - klo;
}

/**
 * e^(x + xlo) / 2^redK as an unevaluated pair (ddHi + ddLo ∈ [0.7, 1.42]); sets redK.
 * xlo must be tiny compared with x.
 */
function expKernel(x: number, xlo: number): void {
  reduceLn2(x);
  const r = redR;
  const c = redC + xlo;
  const e0 = r * r * expTail(r);
  const q = e0 + c * (1 + r + e0); // e^(r+c) ≈ e^r·(1 + c)
  const s = 1 + r;
  const err = r - (s - 1); // exact (Fast2Sum, |r| < 1)
  ddHi = s;
  ddLo = err + q;
}

/**
 * e^x. Method: k = round(x·log2 e), r = x − k·ln2 with a Cody–Waite two-part ln 2 (the rounding
 * error of r is kept), e^r = 1 + r + r²·P(r) with P the Taylor series through r^14 by Horner,
 * the final 1 + r summed error-free, then scaled by 2^k through the exponent bits (one rounding
 * for subnormal results). Measured: ≤ 1 ulp from V8's Math.exp, nearly always 0.
 */
export function exp(x: number): number {
  if (!(x <= EXP_OVERFLOW)) return x !== x ? x : Infinity;
  if (x < EXP_UNDERFLOW) return 0;
  if (Math.abs(x) < 5.551115123125783e-17) return 1 + x;
  // expKernel(x, 0) and reduceLn2 written out over locals (the same operations in the same order, so
  // the same bits): the hot path of every sigmoid, softmax and exp, and module-level state is slower.
  const k = Math.round(x * LOG2E);
  const hi = x - k * LN2_HI;
  const klo = k * LN2_LO;
  const r = hi - klo;
  const c = hi - r - klo + 0;
  const e0 = r * r * expTail(r);
  const q = e0 + c * (1 + r + e0);
  const s = 1 + r;
  const err = r - (s - 1);
  const v = s + (err + q);
  return k >= -1022 && k <= 1023 ? v * pow2(k) : scale(v, k);
}

/**
 * e^x − 1. Method: for |x| < 2^-54 returns x; otherwise the same reduction as {@link exp}
 * (x = k·ln2 + r), and e^x − 1 = (2^k − 1) + 2^k·r + 2^k·r²·P(r) with the first two terms
 * added error-free (TwoSum) so there is a single significant rounding; k = 0 gives the plain
 * Taylor series. x > 40 uses exp(x); large negative x saturates to −1.
 * Measured: ≤ 1 ulp from V8's Math.expm1.
 */
export function expm1(x: number): number {
  if (x !== x) return x;
  if (x > 40) return exp(x);
  if (x < -40) return -1;
  if (Math.abs(x) < 5.551115123125783e-17) return x;
  expm1Kernel(x);
  return ddHi + ddLo;
}

/** e^x − 1 for 2^-54 ≤ |x| ≤ 44 as an unevaluated pair ddHi + ddLo (|ddLo| ≲ ulp(ddHi)·2). */
function expm1Kernel(x: number): void {
  reduceLn2(x);
  const k = redK;
  const r = redR;
  const c = redC;
  const e0 = r * r * expTail(r);
  const q = e0 + c * (1 + r + e0);
  if (k === 0) {
    ddHi = r + q;
    ddLo = q - (ddHi - r); // Fast2Sum, |q| < |r|
    return;
  }
  const p = pow2(k);
  if (k < -53) {
    ddHi = p * (1 + (r + q)) - 1;
    ddLo = 0;
    return;
  }
  twoSum(p - 1, p * r); // p − 1 is exact for −53 ≤ k ≤ 53
  const hi = ddHi;
  const lo = ddLo + p * q;
  ddHi = hi + lo;
  ddLo = lo - (ddHi - hi);
}

// ---------------------------------------------------------------------------------------------
// log / log1p

// Split of a positive finite x = 2^logE · (1 + logF), 1 + logF ∈ [√½, √2).
let logE = 0;
let logF = 0;

function splitLog(x: number): void {
  let e = 0;
  if (x < 2.2250738585072014e-308) {
    x *= TWO_54;
    e = -54;
  }
  F64[0] = x;
  const hw = U32[HI]!;
  e += (hw >>> 20) - 1023;
  let mhw = (hw & 0x000fffff) | 0x3ff00000; // mantissa scaled to [1, 2)
  if ((hw & 0x000fffff) > 0x6a09e) {
    // above √2 (high word 0x3ff6a09e): use [½, 1) instead
    mhw = (hw & 0x000fffff) | 0x3fe00000;
    e += 1;
  }
  U32[HI] = mhw;
  logE = e;
  logF = F64[0]! - 1; // exact (Sterbenz)
}

/** (atanhTail(z) − 2/3)/z = 2/5 + 2z/7 + …, z = s². */
function atanhTail2(z: number): number {
  return (
    L2 +
    z *
      (L3 + z * (L4 + z * (L5 + z * (L6 + z * (L7 + z * (L8 + z * (L9 + z * (L10 + z * (L11 + z * L12)))))))))
  );
}

/** s²-series: (2·atanh(s) − 2s)/s³ = 2/3 + 2s²/5 + … through s^22, with z = s². */
function atanhTail(z: number): number {
  return (
    L1 +
    z *
      (L2 +
        z *
          (L3 +
            z *
              (L4 + z * (L5 + z * (L6 + z * (L7 + z * (L8 + z * (L9 + z * (L10 + z * (L11 + z * L12))))))))))
  );
}

/** log(1 + f) for f ∈ [√½ − 1, √2 − 1]: 2·atanh(s), s = f/(2+f), written as f − s·(f − s²·T). */
function log1pCore(f: number): number {
  const s = f / (2 + f);
  const z = s * s;
  return f - s * (f - z * atanhTail(z));
}

/**
 * Natural logarithm. Method: x = 2^e·m with m ∈ [√½, √2) from the exponent bits (subnormals
 * pre-scaled by 2^54), f = m − 1 exactly, log m = 2·atanh(s) with s = f/(2+f) summed through
 * s^23 by Horner and arranged as f − s·(f − T) so that f carries the leading bits, plus e·ln2
 * with a Cody–Waite split ln 2. Measured: ≤ 1 ulp from V8's Math.log.
 */
export function log(x: number): number {
  if (!(x > 0)) return x === 0 ? -Infinity : NaN;
  if (x === Infinity) return x;
  splitLog(x);
  const e = logE;
  const f = logF;
  if (e === 0) return log1pCore(f);
  const s = f / (2 + f);
  const z = s * s;
  return e * LN2_HI + (f - (s * (f - z * atanhTail(z)) - e * LN2_LO));
}

/**
 * log(1 + x). Method: x itself for |x| < 2^-54; the {@link log} kernel applied directly to
 * f = x when 1 + x ∈ [√½, √2) (no rounding of 1 + x at all); otherwise log(u) + (x − (u − 1))/u
 * with u = 1 + x, the second term correcting the rounding of u. Measured: ≤ 1 ulp from V8.
 */
export function log1p(x: number): number {
  if (!(x >= -1)) return NaN;
  if (Math.abs(x) < 5.551115123125783e-17) return x;
  if (x >= -0.2928932188134524 && x <= 0.41421356237309503) return log1pCore(x);
  if (x === Infinity) return x;
  const u = 1 + x;
  if (u === 0) return -Infinity;
  return log(u) + (x - (u - 1)) / u;
}

// ---------------------------------------------------------------------------------------------
// tanh

/**
 * Hyperbolic tangent. Method: tanh|x| = −t/(t + 2) with t = expm1(−2|x|) kept as an unrounded
 * pair and the quotient formed with an exact residual (TwoSum/TwoProduct), sign restored;
 * x itself for |x| < 2^-28 (keeps −0), ±1 for |x| > 22. Measured: ≤ 2 ulp from V8's Math.tanh
 * (mostly 0; see the test histogram).
 */
export function tanh(x: number): number {
  if (x !== x) return x;
  const a = Math.abs(x);
  if (a > 22) return x > 0 ? 1 : -1;
  if (a < 3.725290298461914e-9) return x;
  expm1Kernel(-2 * a); // t = th + tl ∈ (−1, 0)
  const th = ddHi;
  const tl = ddLo;
  twoSum(2, th);
  const dh = ddHi;
  const dl = ddLo + tl;
  // y = −t/(2 + t): quotient of double-doubles, one Newton correction with an exact residual.
  const q = -th / dh;
  twoProd(q, dh);
  const y = q + (-th - ddHi - ddLo - tl - q * dl) / dh;
  return x < 0 ? -y : y;
}

// ---------------------------------------------------------------------------------------------
// sin / cos

// Reduced argument x = k·π/2 + (rdHi + rdLo), |rdHi| ≲ π/4.
let rdK = 0;
let rdHi = 0;
let rdLo = 0;

function reducePio2(x: number): void {
  const k = Math.round(x * TWO_OVER_PI);
  const a = x - k * PIO2_1; // exact for |k| < 2^20
  twoSum(a, -(k * PIO2_2));
  const b = ddHi;
  const e1 = ddLo;
  twoSum(b, -(k * PIO2_3));
  const c = ddHi;
  const tail = ddLo + e1 - k * PIO2_4;
  const r = c + tail;
  rdK = k;
  rdHi = r;
  rdLo = tail - (r - c);
}

/** sin(r + rl) for |r| ≤ π/4 + tiny: r + r³·S(r²), Taylor through r^19. */
function sinKernel(r: number, rl: number): number {
  const z = r * r;
  const p = -F3 + z * (F5 + z * (-F7 + z * (F9 + z * (-F11 + z * (F13 + z * (-F15 + z * (F17 - z * F19)))))));
  return r + (r * z * p + rl * (1 - 0.5 * z));
}

/** cos(r + rl) for |r| ≤ π/4 + tiny: 1 − r²/2 + r⁴·C(r²), Taylor through r^20. */
function cosKernel(r: number, rl: number): number {
  const z = r * r;
  const w = 0.5 * z;
  const h = 1 - w;
  const err = 1 - h - w; // exact (Fast2Sum)
  const p =
    F4 + z * (-F6 + z * (F8 + z * (-F10 + z * (F12 + z * (-F14 + z * (F16 + z * (-F18 + z * F20)))))));
  return h + (err + (z * z * p - r * rl));
}

/**
 * Sine. Method: |x| ≤ π/4 direct; otherwise k = round(x·2/π) and r = x − k·π/2 with a
 * four-part Cody–Waite π/2 (three 33-bit parts with exact products, compensated with TwoSum,
 * and a tail), about 150 bits of π/2, then a Taylor polynomial through r^19 (sine) or r^20
 * (cosine) chosen by k mod 4. Accurate (≤ 1 ulp measured) for |x| < 2^20·π/2 ≈ 1.6e6; beyond
 * that the products k·P_i are no longer exact and the error grows with |x| (results stay
 * deterministic). Returns x for |x| < 2^-27 (keeps −0).
 */
export function sin(x: number): number {
  const a = Math.abs(x);
  if (a <= PIO4) {
    if (a < 7.450580596923828e-9) return x;
    return sinKernel(x, 0);
  }
  if (!(a < Infinity)) return NaN;
  reducePio2(x);
  switch (rdK & 3) {
    case 0:
      return sinKernel(rdHi, rdLo);
    case 1:
      return cosKernel(rdHi, rdLo);
    case 2:
      return -sinKernel(rdHi, rdLo);
    default:
      return -cosKernel(rdHi, rdLo);
  }
}

/** Cosine. Method and accuracy as for {@link sin} (≤ 1 ulp measured for |x| < 1.6e6). */
export function cos(x: number): number {
  const a = Math.abs(x);
  if (a <= PIO4) {
    if (a < 7.450580596923828e-9) return 1;
    return cosKernel(x, 0);
  }
  if (!(a < Infinity)) return NaN;
  reducePio2(x);
  switch (rdK & 3) {
    case 0:
      return cosKernel(rdHi, rdLo);
    case 1:
      return -sinKernel(rdHi, rdLo);
    case 2:
      return -cosKernel(rdHi, rdLo);
    default:
      return sinKernel(rdHi, rdLo);
  }
}

// ---------------------------------------------------------------------------------------------
// pow

/**
 * |x|^n for positive finite x and integer 2 ≤ n ≤ 1024 in double-double (ddHi + ddLo).
 * Returns false when an intermediate leaves the range where Dekker's products are exact
 * (results beyond about 2^±990); the caller then uses the exp/log path.
 */
function powIntDD(x: number, n: number): boolean {
  let bh = x;
  let bl = 0;
  let rh = 1;
  let rl = 0;
  for (;;) {
    if (n & 1) {
      ddMul(rh, rl, bh, bl);
      rh = ddHi;
      rl = ddLo;
    }
    n >>>= 1;
    if (n === 0) break;
    ddMul(bh, bl, bh, bl);
    bh = ddHi;
    bl = ddLo;
  }
  ddHi = rh;
  ddLo = rl;
  const a = Math.abs(rh);
  return a < 1e297 && a > 1e-290 && rl === rl;
}

/** log(x) for positive finite x as a double-double (ddHi + ddLo), relative error ≈ 2^-65. */
function logDD(x: number): void {
  splitLog(x);
  const e = logE;
  const f = logF;
  // s = f/(2+f) as a double-double.
  twoSum(2, f);
  const dh = ddHi;
  const dl = ddLo;
  const sh = f / dh;
  twoProd(sh, dh);
  const sl = (f - ddHi - ddLo - sh * dl) / dh;
  // log(1+f) = 2s + (2/3)s³ + s⁵·R(s²).
  const z = sh * sh;
  const zl = 2 * sh * sl;
  twoProd(sh, sh);
  const s2h = ddHi;
  const s2l = ddLo + zl;
  twoProd(s2h, sh);
  const s3h = ddHi;
  const s3l = ddLo + s2l * sh + s2h * sl;
  twoProd(L1, s3h);
  const c3h = ddHi;
  const c3l = ddLo + (L1 * s3l + L1_LO * s3h);
  const r5 = s3h * z * atanhTail2(z);
  twoSum(2 * sh, c3h);
  let h = ddHi;
  let l = ddLo + (2 * sl + c3l + r5);
  // + e·ln 2 (double-double).
  if (e !== 0) {
    twoProd(e, LN2_DD_HI);
    const eh = ddHi;
    const el = ddLo + e * LN2_DD_LO;
    twoSum(eh, h);
    h = ddHi;
    l = ddLo + (l + el);
  }
  ddHi = h + l;
  ddLo = l - (ddHi - h);
}

function isOddInteger(y: number): boolean {
  return Math.abs(y) < 9007199254740992 && y % 2 !== 0 && Math.round(y) === y;
}

/**
 * x^y with the special cases of Math.pow (ECMAScript: y = ±0 → 1, NaN → NaN, |x| = 1 with
 * y = ±∞ → NaN, signed zeros/infinities for odd integer y, negative x with non-integer y → NaN).
 * Method: integer |y| ≤ 1024 by repeated squaring in double-double arithmetic (TwoProduct), then
 * one rounding (a reciprocal in double-double for y < 0); otherwise e^(y·log x) with log x computed
 * as a double-double (atanh series with the leading terms in double-double), y·log x formed with
 * TwoProduct, and the exp kernel fed the low part. Not correctly rounded, but measured ≤ 1 ulp
 * from V8's Math.pow on the tested shapes (Adam's β^t for t ≤ 20000 included).
 */
export function pow(x: number, y: number): number {
  if (y === 0) return 1;
  if (y !== y || x !== x) return NaN;
  const ay = Math.abs(y);
  const ax = Math.abs(x);
  if (ay === Infinity) {
    if (ax === 1) return NaN;
    return ax > 1 === y > 0 ? Infinity : 0;
  }
  if (x === 0 || ax === Infinity) {
    const odd = x < 0 || 1 / x < 0 ? isOddInteger(y) : false;
    const big = (ax === Infinity) === y > 0;
    const mag = big ? Infinity : 0;
    return odd ? -mag : mag;
  }
  let sign = 1;
  if (x < 0) {
    if (Math.round(y) !== y) return NaN;
    if (isOddInteger(y)) sign = -1;
  }
  if (ax === 1) return sign;
  if (Math.round(y) === y && ay <= 1024) {
    if (ay === 1) return y > 0 ? x : 1 / x;
    if (powIntDD(ax, ay)) {
      const h = ddHi;
      const l = ddLo;
      if (y > 0) return sign * (h + l);
      // 1/(h + l) in double-double: q = 1/h corrected by the exact residual 1 − q·h.
      const q = 1 / h;
      twoProd(q, h);
      const res = 1 - ddHi - ddLo - q * l;
      return sign * (q + q * res);
    }
  }
  logDD(ax);
  const lh = ddHi;
  const ll = ddLo;
  twoProd(y, lh);
  const th = ddHi;
  const tl = ddLo + y * ll;
  if (th > EXP_OVERFLOW + 1) return sign * Infinity;
  if (th < EXP_UNDERFLOW - 1) return sign * 0;
  const yh = th + tl;
  const yl = tl - (yh - th);
  expKernel(yh, yl);
  return sign * scale(ddHi + ddLo, redK);
}
