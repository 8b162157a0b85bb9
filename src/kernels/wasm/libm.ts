/**
 * The portable elementary functions of `src/libm.ts` (exp, expm1, log, log1p, tanh) and the erfc of
 * `src/special.ts`, as WebAssembly SIMD code over two float64 lanes, for the elementwise kernels.
 *
 * Each emitter performs the same IEEE float64 operations, on the same operands and in the same order, as the
 * TypeScript it mirrors, so every lane's result has the same bits (NaN payloads aside). What the scalar code
 * does with control flow is done here with data:
 * - Branches (NaN, ±∞, the overflow and underflow thresholds, tiny arguments, the cases of `scale` and of
 *   the expm1 kernel) compute every arm on both lanes and pick each lane's arm with a comparison mask and
 *   `v128.bitselect`, applied in reverse order of the scalar code's tests so the first test that holds
 *   wins. Arms a lane does not take may compute garbage (NaN, ∞): SIMD arithmetic never traps, and the
 *   garbage is never selected.
 * - `Math.round` (round half up) is `f64x2.nearest` (half to even) plus one where the argument lies
 *   exactly half-way above the even neighbour.
 * - Integer exponent arithmetic is exact in doubles; 2^k is built by adding k to 2^52 + 1023 (the biased
 *   exponent lands in the low mantissa bits) and shifting those bits up by 52. The exponent and mantissa of
 *   a logarithm's argument are read with i64x2 shifts and masks on its bits.
 * - erfc's two methods run under `if (any lane needs it)`, on a harmless stand-in argument in the lanes
 *   that do not.
 *
 * Every emitter takes its argument in a v128 local and pushes one f64x2 result; the temporaries it needs
 * become new locals of the function being built.
 */
import { ERF_POLY, ERFC_POLY } from '../../special.js';
import type { Func, Local } from './asm.js';
import { expressions, Node } from './expr.js';

// ---------------------------------------------------------------------------------------------------------
// Expressions: a small tree language over f64x2 values, so each line below reads like the TypeScript it
// mirrors. A number is that double in both lanes, a bigint that 64-bit pattern in both lanes.

/** An operand: a v128 local, a splatted double, a splatted 64-bit pattern, or an expression. */
type Ex = Local | number | bigint | Node;

/** Push a v128 constant whose two 64-bit lanes hold the pattern `v` (written byte by byte: masks may be NaNs). */
function constBits(f: Func, v: bigint): void {
  const bytes = new Uint8Array(new BigInt64Array([BigInt.asIntN(64, v), BigInt.asIntN(64, v)]).buffer);
  f.code.push(0xfd, 0x0c, ...bytes);
}

const { push, op1, op2, sel, tmp } = expressions(
  (e: Ex): e is number | bigint => typeof e === 'number' || typeof e === 'bigint',
  (f, c) => (typeof c === 'number' ? f.f64x2(c, c) : constBits(f, c)),
);

const add = op2('f64x2.add');
const sub = op2('f64x2.sub');
const mul = op2('f64x2.mul');
const div = op2('f64x2.div');
const neg = op1('f64x2.neg');
const abs = op1('f64x2.abs');
const nearest = op1('f64x2.nearest');
const lt = op2('f64x2.lt');
const gt = op2('f64x2.gt');
const le = op2('f64x2.le');
const ge = op2('f64x2.ge');
const eq = op2('f64x2.eq');
const ne = op2('f64x2.ne');
const and = op2('v128.and');
const or = op2('v128.or');
/** a & ~b */
const andNot = op2('v128.andnot');
const not = op1('v128.not');
/** Signed 64-bit a > b. */
const gtI64 = op2('i64x2.gt_s');
/** Logical shift right of both 64-bit lanes. */
const shrU = (a: Ex, n: number) =>
  new Node((f) => {
    push(f, a);
    f.i32(n).op('i64x2.shr_u');
  });
/** Shift left of both 64-bit lanes. */
const shl = (a: Ex, n: number) =>
  new Node((f) => {
    push(f, a);
    f.i32(n).op('i64x2.shl');
  });

/** Evaluate into an existing local. */
function assign(f: Func, l: Local, e: Ex): void {
  push(f, e);
  f.set(l);
}

/** Horner's rule c[0] + z·(c[1] + z·(… + z·c[n])), innermost first, as the scalar code nests it. */
function horner(f: Func, z: Local, c: readonly number[]): Local {
  let t: Ex = c[c.length - 1];
  for (let i = c.length - 2; i >= 0; i--) t = tmp(f, add(c[i], mul(z, t)));
  return t as Local;
}

// ---------------------------------------------------------------------------------------------------------
// Constants, as in src/libm.ts.

const TWO_1023 = 8.98846567431158e307;
const TWO_M1000 = 9.332636185032189e-302;
const TWO_54 = 18014398509481984;
const SPLITTER = 134217729;
const LOG2E = 1.4426950408889634;
const LN2_HI = 0.6931471806019545;
const LN2_LO = -4.2009150726810846e-11;
const EXP_OVERFLOW = 709.782712893384;
const EXP_UNDERFLOW = -745.1332191019412;
/** Below this |x|, exp(x) is 1 + x and expm1(x) is x (2^-54). */
const TINY = 5.551115123125783e-17;
/** 2^52 + 1023: adding an integer k in [−1022, 1023] leaves k + 1023 in the low mantissa bits. */
const POW2_MAGIC = 4503599627371519;
/** 2^52 as a bit pattern's value: 0x4330000000000000 | n reads as 2^52 + n. */
const TWO_52 = 4503599627370496;

/** 1/n!, n = 2..14: the Taylor tail of e^r used by exp and expm1. */
const EXP_TAIL = [
  0.5, 0.16666666666666666, 0.041666666666666664, 0.008333333333333333, 0.001388888888888889,
  0.0001984126984126984, 2.48015873015873e-5, 2.7557319223985893e-6, 2.755731922398589e-7,
  2.505210838544172e-8, 2.08767569878681e-9, 1.6059043836821613e-10, 1.1470745597729725e-11,
];

/** 2/(2n+1), n = 1..12: the atanh series of log. */
const ATANH_TAIL = [
  0.6666666666666666, 0.4, 0.2857142857142857, 0.2222222222222222, 0.18181818181818182, 0.15384615384615385,
  0.13333333333333333, 0.11764705882352941, 0.10526315789473684, 0.09523809523809523, 0.08695652173913043,
  0.08,
];

// ---------------------------------------------------------------------------------------------------------
// exp, expm1

/** Math.round(v): nearest, ties toward +∞ (f64x2.nearest breaks ties to even, so add 1 after a tie below). */
function mathRound(f: Func, v: Local): Local {
  const r = tmp(f, nearest(v));
  return tmp(f, sel(add(r, 1), r, eq(sub(v, r), 0.5)));
}

/** 2^j for an integer-valued j in [−1022, 1023], from the exponent bits. */
const pow2 = (j: Ex) => shl(add(j, POW2_MAGIC), 52);

/** libm's reduceLn2: x = k·ln2 + r + c with a Cody–Waite two-part ln 2. */
function reduceLn2(f: Func, x: Local): { k: Local; r: Local; c: Local } {
  const k = mathRound(f, tmp(f, mul(x, LOG2E)));
  const hi = tmp(f, sub(x, mul(k, LN2_HI)));
  const klo = tmp(f, mul(k, LN2_LO));
  const r = tmp(f, sub(hi, klo));
  const c = tmp(f, sub(sub(hi, r), klo));
  return { k, r, c };
}

/**
 * libm's scale(y, k) = y·2^k for the k that exp produces (−1075 ≤ k ≤ 1024), as (y·P1)·P2: P2 is 1 in
 * the normal range (an exact multiplication), and the two out-of-range arms are the scalar code's.
 */
function scale(f: Func, y: Local, k: Local): Node {
  const high = tmp(f, gt(k, 1023));
  const low = tmp(f, lt(k, -1022));
  const p = tmp(f, pow2(sel(sub(k, 1023), sel(add(k, 1000), k, low), high)));
  return mul(mul(y, sel(TWO_1023, p, high)), sel(p, sel(TWO_M1000, 1, low), high));
}

function expLocal(f: Func, x: Local): Local {
  // expKernel(x, 0)
  const { k, r, c: redC } = reduceLn2(f, x);
  const c = tmp(f, add(redC, 0)); // redC + xlo
  const tail = horner(f, r, EXP_TAIL);
  const e0 = tmp(f, mul(mul(r, r), tail));
  const q = tmp(f, add(e0, mul(c, add(add(1, r), e0))));
  const s = tmp(f, add(1, r));
  const lo = tmp(f, add(sub(r, sub(s, 1)), q));
  const sum = tmp(f, add(s, lo));
  let res = tmp(f, scale(f, sum, k));
  res = tmp(f, sel(add(1, x), res, lt(abs(x), TINY)));
  res = tmp(f, sel(0, res, lt(x, EXP_UNDERFLOW)));
  return tmp(f, sel(sel(x, Infinity, ne(x, x)), res, not(le(x, EXP_OVERFLOW))));
}

/**
 * Push e^x, bit for bit `exp` of src/libm.ts: Cody–Waite reduction by ln 2 (Math.round mirrored), the
 * Taylor tail by Horner, the error-free 1 + r, then 2^k from the exponent bits; NaN, overflow, underflow
 * and |x| < 2^-54 by lane masks.
 */
export function pushExp(f: Func, x: Local): void {
  f.get(expLocal(f, x));
}

/** libm's expm1Kernel: e^x − 1 as hi + lo, its three arms (k = 0, k < −53, otherwise) by lane masks. */
function expm1Kernel(f: Func, x: Local): { hi: Local; lo: Local } {
  const { k, r, c } = reduceLn2(f, x);
  const tail = horner(f, r, EXP_TAIL);
  const e0 = tmp(f, mul(mul(r, r), tail));
  const q = tmp(f, add(e0, mul(c, add(add(1, r), e0))));
  // k = 0: Fast2Sum of r and q.
  const h0 = tmp(f, add(r, q));
  const l0 = tmp(f, sub(q, sub(h0, r)));
  const p = tmp(f, pow2(k));
  // k < −53
  const h1 = tmp(f, sub(mul(p, add(1, add(r, q))), 1));
  // otherwise: TwoSum(p − 1, p·r), then p·q into the low part.
  const a = tmp(f, sub(p, 1));
  const b = tmp(f, mul(p, r));
  const s = tmp(f, add(a, b));
  const bb = tmp(f, sub(s, a));
  const lo = tmp(f, add(add(sub(a, sub(s, bb)), sub(b, bb)), mul(p, q)));
  const h2 = tmp(f, add(s, lo));
  const l2 = tmp(f, sub(lo, sub(h2, s)));
  const zero = tmp(f, eq(k, 0));
  const far = tmp(f, lt(k, -53));
  return {
    hi: tmp(f, sel(h0, sel(h1, h2, far), zero)),
    lo: tmp(f, sel(l0, sel(0, l2, far), zero)),
  };
}

/**
 * Push e^x − 1, bit for bit `expm1` of src/libm.ts. With `above40` false the lanes where x > 40 (where
 * the scalar code calls exp) come out unspecified, for callers that discard them (elu uses x only for x ≤ 0),
 * which saves computing exp as well.
 */
export function pushExpm1(f: Func, x: Local, above40 = true): void {
  const { hi, lo } = expm1Kernel(f, x);
  let res = tmp(f, add(hi, lo));
  res = tmp(f, sel(x, res, lt(abs(x), TINY)));
  res = tmp(f, sel(-1, res, lt(x, -40)));
  if (above40) res = tmp(f, sel(expLocal(f, x), res, gt(x, 40)));
  push(f, sel(x, res, ne(x, x)));
}

// ---------------------------------------------------------------------------------------------------------
// tanh

/**
 * Push tanh x, bit for bit `tanh` of src/libm.ts: −t/(t + 2) with t = expm1(−2|x|) as an unrounded pair,
 * the quotient corrected with an exact residual (TwoSum, Dekker's TwoProduct), sign restored; NaN, |x| > 22
 * and |x| < 2^-28 by lane masks.
 */
export function pushTanh(f: Func, x: Local): void {
  const a = tmp(f, abs(x));
  const m2a = tmp(f, mul(-2, a));
  const { hi: th, lo: tl } = expm1Kernel(f, m2a);
  // twoSum(2, th)
  const dh = tmp(f, add(2, th));
  const bb = tmp(f, sub(dh, 2));
  const dl = tmp(f, add(add(sub(2, sub(dh, bb)), sub(th, bb)), tl));
  const q = tmp(f, div(neg(th), dh));
  // twoProd(q, dh)
  const p = tmp(f, mul(q, dh));
  const t1 = tmp(f, mul(SPLITTER, q));
  const ah = tmp(f, sub(t1, sub(t1, q)));
  const al = tmp(f, sub(q, ah));
  const t2 = tmp(f, mul(SPLITTER, dh));
  const bh = tmp(f, sub(t2, sub(t2, dh)));
  const bl = tmp(f, sub(dh, bh));
  const plo = tmp(f, add(add(add(sub(mul(ah, bh), p), mul(ah, bl)), mul(al, bh)), mul(al, bl)));
  const y = tmp(f, add(q, div(sub(sub(sub(sub(neg(th), p), plo), tl), mul(q, dl)), dh)));
  let res = tmp(f, sel(neg(y), y, lt(x, 0)));
  res = tmp(f, sel(x, res, lt(a, 3.725290298461914e-9)));
  res = tmp(f, sel(sel(1, -1, gt(x, 0)), res, gt(a, 22)));
  push(f, sel(x, res, ne(x, x)));
}

// ---------------------------------------------------------------------------------------------------------
// log, log1p

/**
 * libm's splitLog for the lanes where x is positive and finite: x = 2^e·(1 + m), 1 + m ∈ [√½, √2), with
 * subnormals pre-scaled by 2^54. e is built as a double (small integers: exact in any order).
 */
function splitLog(f: Func, x: Local): { e: Local; m: Local } {
  const subnormal = tmp(f, lt(x, 2.2250738585072014e-308));
  const bits = tmp(f, sel(mul(x, TWO_54), x, subnormal));
  const mant = tmp(f, and(bits, 0x000fffffffffffffn));
  // (high word & 0xfffff) > 0x6a09e: the mantissa is above √2's, so use [½, 1) instead.
  const upper = tmp(f, gtI64(mant, 0x0006a09effffffffn));
  const biased = sub(or(shrU(bits, 52), 0x4330000000000000n), TWO_52);
  const e = tmp(f, add(add(sub(biased, 1023), sel(-54, 0, subnormal)), sel(1, 0, upper)));
  const m = tmp(f, sub(or(mant, sel(0x3fe0000000000000n, 0x3ff0000000000000n, upper)), 1));
  return { e, m };
}

/**
 * log(2^e·(1 + m)) as the scalar log computes it: log1pCore(m) where e = 0, else
 * e·LN2_HI + (m − (s·(m − z·T(z)) − e·LN2_LO)), both from s = m/(2 + m) and z = s².
 */
function logParts(f: Func, e: Local, m: Local): Local {
  const s = tmp(f, div(m, add(2, m)));
  const z = tmp(f, mul(s, s));
  const tail = horner(f, z, ATANH_TAIL);
  const w = tmp(f, mul(s, sub(m, mul(z, tail))));
  const core = sub(m, w);
  const full = add(mul(e, LN2_HI), sub(m, sub(w, mul(e, LN2_LO))));
  return tmp(f, sel(core, full, eq(e, 0)));
}

/**
 * Push log x, bit for bit `log` of src/libm.ts: exponent and mantissa from the bits (subnormals pre-scaled),
 * the atanh series by Horner, e·ln 2 with a two-part ln 2; x ≤ 0, NaN and +∞ by lane masks.
 */
export function pushLog(f: Func, x: Local): void {
  const { e, m } = splitLog(f, x);
  let res = logParts(f, e, m);
  res = tmp(f, sel(x, res, eq(x, Infinity)));
  push(f, sel(sel(-Infinity, NaN, eq(x, 0)), res, not(gt(x, 0))));
}

/**
 * Push log(1 + x), bit for bit `log1p` of src/libm.ts: the log kernel on x itself where 1 + x ∈ [√½, √2),
 * else log(u) + (x − (u − 1))/u with u = 1 + x. Both share one evaluation of the series (each lane feeds it
 * the argument its arm needs).
 */
export function pushLog1p(f: Func, x: Local): void {
  const mid = tmp(f, and(ge(x, -0.2928932188134524), le(x, 0.41421356237309503)));
  const u = tmp(f, add(1, x));
  const split = splitLog(f, u);
  // e = 0 makes logParts return log1pCore(m), which is what the middle lanes need, with m = x.
  const m = tmp(f, sel(x, split.m, mid));
  const e = tmp(f, sel(0, split.e, mid));
  const v = logParts(f, e, m);
  let other = tmp(f, add(v, div(sub(x, sub(u, 1)), u)));
  other = tmp(f, sel(-Infinity, other, eq(u, 0)));
  other = tmp(f, sel(x, other, eq(x, Infinity)));
  let res = tmp(f, sel(v, other, mid));
  res = tmp(f, sel(x, res, lt(abs(x), TINY)));
  push(f, sel(NaN, res, not(ge(x, -1))));
}

// ---------------------------------------------------------------------------------------------------------
// erfc (src/special.ts)

const ERF_POLY_MAX = 0.84375;
const ERFC_ZERO = 28;
const W = 3;

/** x² = hi + lo exactly (Veltkamp's split), as special.ts writes it. */
function squareSplit(f: Func, x: Local): { hi: Local; lo: Local } {
  const hi = tmp(f, mul(x, x));
  const t = tmp(f, mul(SPLITTER, x));
  const xh = tmp(f, sub(t, sub(t, x)));
  const xl = tmp(f, sub(x, xh));
  const lo = tmp(f, add(add(sub(mul(xh, xh), hi), mul(mul(2, xh), xl)), mul(xl, xl)));
  return { hi, lo };
}

/** special.ts's expNegSquare: e^(−x²) with x² carried exactly. */
function expNegSquare(f: Func, x: Local): Local {
  const { hi, lo } = squareSplit(f, x);
  const e = expLocal(f, tmp(f, neg(hi)));
  return tmp(f, sub(e, mul(e, lo)));
}

/** special.ts's erfc for |x| < ERF_POLY_MAX: 1 − (x + y) below 0.25, else 0.5 + (0.5 − x − y), y = x·P(x²). */
function erfcSmall(f: Func, x: Local): Local {
  const y = tmp(f, mul(x, horner(f, tmp(f, mul(x, x)), ERF_POLY)));
  return tmp(f, sel(sub(1, add(x, y)), add(0.5, sub(sub(0.5, x), y)), lt(x, 0.25)));
}

/** special.ts's erfcPositive for 0 ≤ a < ERFC_ZERO: e^(−a²)·F((a − 3)/(a + 3))/(1 + 2a). */
function erfcPositive(f: Func, a: Local): Local {
  const r = horner(f, tmp(f, div(sub(a, W), add(a, W))), ERFC_POLY);
  return tmp(f, div(mul(expNegSquare(f, a), r), add(1, mul(2, a))));
}

/**
 * Push erfc x, bit for bit `erfc` of src/special.ts. Its two methods (1 − erf's polynomial below 0.84375,
 * the polynomial in (|x| − 3)/(|x| + 3) below 28) run only when some lane needs them, on a stand-in argument
 * in the lanes that do not; |x| ≥ 28 gives 0 (2 for negative x), NaN itself.
 */
export function pushErfc(f: Func, x: Local): void {
  const a = tmp(f, abs(x));
  const small = tmp(f, lt(a, ERF_POLY_MAX));
  const mid = tmp(f, andNot(lt(a, ERFC_ZERO), small));
  const res = tmp(f, sel(2, 0, lt(x, 0)));
  const arm = (mask: Local, arg: Ex, value: (arg: Local) => Ex) => {
    f.get(mask)
      .op('v128.any_true')
      .if(() => assign(f, res, sel(value(tmp(f, sel(arg, 1, mask))), res, mask)));
  };
  arm(small, x, (v) => erfcSmall(f, v));
  arm(mid, a, (v) => {
    const tail = erfcPositive(f, v);
    return sel(sub(2, tail), tail, lt(x, 0));
  });
  push(f, sel(x, res, ne(x, x)));
}
