/**
 * The float32 functions of `src/libm32.ts` (exp, gelu and gelu's derivative) as WebAssembly SIMD code over
 * four float32 lanes, for the float32 elementwise kernels.
 *
 * Each emitter performs the same IEEE float32 operations, on the same operands and in the same order, as
 * the TypeScript it mirrors (which rounds every operation with `Math.fround`), so every lane's result has
 * the same bits (NaN payloads aside). Plain SIMD only (no relaxed SIMD, no fused multiply-add), so the bits
 * are the same in every engine. The scalar code's branches become lane masks and `v128.bitselect`: every
 * arm is computed on all four lanes (arms a lane does not take may compute garbage, never selected); its
 * clamps `x < lo ? lo : x` are `f32x4.max`/`f32x4.min` (the same value, NaN kept); `v | 0` of an integral
 * float is `i32x4.trunc_sat_f32x4_s` (NaN to 0 in both); 2^k is built from the exponent bits.
 *
 * Every emitter takes its argument in a v128 local and pushes one f32x4 result; the temporaries it needs
 * become new locals of the function being built.
 */
import { EXP32, EXPM1_32, GELU32, LOG32, TANH32_P, TANH32_TINY } from '../../libm32.js';
import type { Func, Local } from './asm.js';
import { expressions, Node } from './expr.js';

/** An operand: a v128 local, a float32 constant in all four lanes, or an expression. */
type Ex = Local | number | Node;

/** Push a v128 constant with the four 32-bit lanes given (float32 values or, with `int`, integers). */
function const4(f: Func, v: number, int = false): void {
  const lanes = int ? new Int32Array([v, v, v, v]) : new Float32Array([v, v, v, v]);
  f.code.push(0xfd, 0x0c, ...new Uint8Array(lanes.buffer));
}

const { push, op1, op2, sel, tmp } = expressions(
  (e: Ex): e is number => typeof e === 'number',
  (f, c) => const4(f, c),
);

const add = op2('f32x4.add');
const sub = op2('f32x4.sub');
const mul = op2('f32x4.mul');
const div = op2('f32x4.div');
const abs = op1('f32x4.abs');
const neg = op1('f32x4.neg');
const min = op2('f32x4.min');
const max = op2('f32x4.max');
const lt = op2('f32x4.lt');
const gt = op2('f32x4.gt');
const ge = op2('f32x4.ge');
const eq = op2('f32x4.eq');
const ne = op2('f32x4.ne');
const and = op2('v128.and');
const toF32 = op1('f32x4.convert_i32x4_s');
const truncI32 = op1('i32x4.trunc_sat_f32x4_s');
const addI32 = op2('i32x4.add');
const subI32 = op2('i32x4.sub');
/** An i32 constant in all four lanes. */
const int = (v: number) => new Node((f) => const4(f, v, true));
/** Shift of the four 32-bit lanes: arithmetic right or left. */
const shift = (op: 'i32x4.shr_s' | 'i32x4.shl') => (a: Ex, n: number) =>
  new Node((f) => {
    push(f, a);
    f.i32(n).op(op);
  });
const shrS = shift('i32x4.shr_s');
const shl = shift('i32x4.shl');

/** Horner's rule c[0] + z·(c[1] + z·(… + z·c[n])), as `horner` in src/libm32.ts. */
function horner(f: Func, z: Local, c: readonly number[]): Local {
  let t: Ex = c[c.length - 1];
  for (let i = c.length - 2; i >= 0; i--) t = tmp(f, add(mul(z, t), c[i]));
  return t as Local;
}

/** expPoly: 1 + r + r²·P(r). */
function expPoly(f: Func, r: Local): Local {
  const P = EXP32.P;
  let p: Ex = P[0];
  for (let i = 1; i < P.length; i++) p = tmp(f, add(mul(p, r), P[i]));
  return tmp(f, add(add(mul(p, mul(r, r)), r), 1));
}

/** scale: p·2^k1·2^k2 with k1 = k >> 1, k2 = k − k1 (2^j from the exponent bits, j + 127 ≥ 1 here). */
function scale(f: Func, p: Local, k: Local): Node {
  const k1 = tmp(f, shrS(k, 1));
  const pow2 = (j: Ex) => shl(addI32(j, int(127)), 23);
  return mul(mul(p, pow2(k1)), pow2(subI32(k, k1)));
}

/** nearest: (v + 1.5·2²³) − 1.5·2²³. */
const nearest = (v: Ex) => sub(add(v, EXP32.ROUND), EXP32.ROUND);

/** exp32 over f32x4 lanes: pushes e^x. */
export function pushExp32(f: Func, x: Local): void {
  push(f, exp32(f, x));
}

/** exp32 into a new local. */
function exp32(f: Func, x: Local): Local {
  const xc = tmp(f, min(max(x, EXP32.LO), EXP32.HI));
  const kf = tmp(f, nearest(mul(xc, EXP32.LOG2E)));
  const r = tmp(f, sub(sub(xc, mul(kf, EXP32.LN2_HI)), mul(kf, EXP32.LN2_LO)));
  const p = expPoly(f, r);
  const k = tmp(f, truncI32(kf));
  return tmp(f, scale(f, p, k));
}

/** expHalfSquare24: 2²⁴·e^(−a²/2) into a new local. */
function expHalfSquare24(f: Func, a: Local): Local {
  const h = tmp(f, sub(add(a, GELU32.SPLIT), GELU32.SPLIT));
  const hi = tmp(f, mul(-0.5, mul(h, h)));
  const lo = tmp(f, mul(-0.5, mul(sub(a, h), add(a, h))));
  const kf = tmp(f, nearest(mul(hi, EXP32.LOG2E)));
  const r = tmp(f, add(sub(sub(hi, mul(kf, EXP32.LN2_HI)), mul(kf, EXP32.LN2_LO)), lo));
  const p = expPoly(f, r);
  const k = tmp(f, addI32(truncI32(kf), int(24)));
  return tmp(f, scale(f, p, k));
}

/** tail24: 2²⁴·Φ(−a) = e / (√(2π)·a + H_P(a)/H_Q(a)) into a new local. */
function tail24(f: Func, a: Local, e: Local): Local {
  const hp = horner(f, a, GELU32.H_P);
  const hq = horner(f, a, GELU32.H_Q);
  return tmp(f, div(e, add(mul(GELU32.SQRT_2PI, a), div(hp, hq))));
}

/** The parts gelu and its derivative share: |x| clamped, x < 0, |x| < SMALL, and x² for the polynomials. */
function common(f: Func, x: Local) {
  const a = tmp(f, min(abs(x), GELU32.A));
  return {
    a,
    neg: tmp(f, lt(x, 0)),
    small: tmp(f, lt(a, GELU32.SMALL)),
    t: tmp(f, mul(x, x)),
  };
}

/**
 * Push `small` where every lane has |x| < SMALL (a v128 test and a branch: the tail's exponential and
 * divisions are skipped), else the lanes' select of `small` and `large`: the same bits either way.
 */
function smallOrBoth(f: Func, mask: Local, small: () => Ex, large: () => Ex): void {
  const r = f.local('v128');
  f.get(mask).op('i32x4.all_true');
  f.if(
    () => {
      push(f, small());
      f.set(r);
    },
    () => {
      push(f, sel(small(), large(), mask));
      f.set(r);
    },
  );
  f.get(r);
}

/** gelu32 over f32x4 lanes: pushes x·Φ(x). */
export function pushGelu32(f: Func, x: Local): void {
  const { a, neg, small, t } = common(f, x);
  smallOrBoth(
    f,
    small,
    () => mul(x, add(0.5, mul(x, horner(f, t, GELU32.S)))),
    () => {
      const q = tail24(f, a, expHalfSquare24(f, a));
      return sel(mul(mul(x, q), GELU32.TWO_M24), mul(x, sub(1, mul(q, GELU32.TWO_M24))), neg);
    },
  );
}

/** geluGrad32 over f32x4 lanes: pushes Φ(x) + x·φ(x). */
export function pushGeluGrad32(f: Func, x: Local): void {
  const { a, neg, small, t } = common(f, x);
  smallOrBoth(
    f,
    small,
    () => add(0.5, mul(x, horner(f, t, GELU32.V))),
    () => {
      const e = expHalfSquare24(f, a);
      const q = tail24(f, a, e);
      const xe = tmp(f, mul(x, e));
      return sel(
        mul(add(q, mul(xe, GELU32.INV_SQRT_2PI)), GELU32.TWO_M24),
        add(sub(1, mul(q, GELU32.TWO_M24)), mul(xe, GELU32.INV_SQRT_2PI_M24)),
        neg,
      );
    },
  );
}

/** sigmoid32 over f32x4 lanes: pushes 1 / (1 + e^−x). */
export function pushSigmoid32(f: Func, x: Local): void {
  push(f, div(1, add(1, exp32(f, tmp(f, neg(x))))));
}

/** silu32 over f32x4 lanes: pushes x / (1 + e^−x). */
export function pushSilu32(f: Func, x: Local): void {
  push(f, div(x, add(1, exp32(f, tmp(f, neg(x))))));
}

/** siluGrad32 over f32x4 lanes: pushes (g·σ)·(1 + x·c), c = x > 0 ? e^−x·σ : 1 − σ. */
export function pushSiluGrad32(f: Func, x: Local, g: Local): void {
  const e = exp32(f, tmp(f, neg(x)));
  const s = tmp(f, div(1, add(1, e)));
  const c = sel(mul(e, s), sub(1, s), gt(x, 0));
  push(f, mul(mul(g, s), add(1, mul(x, c))));
}

/** tanh32 over f32x4 lanes: x below 2⁻¹², the odd polynomial below 0.625, else 1 − 2/(e^{2|x|} + 1) signed. */
export function pushTanh32(f: Func, x: Local): void {
  const a = tmp(f, abs(x));
  const z = tmp(f, mul(x, x));
  let p: Ex = TANH32_P[0];
  for (let i = 1; i < TANH32_P.length; i++) p = tmp(f, add(mul(p, z), TANH32_P[i]));
  const small = add(mul(mul(p, z), x), x);
  const t = tmp(f, sub(1, div(2, add(exp32(f, tmp(f, add(a, a))), 1))));
  push(f, sel(x, sel(small, sel(neg(t), t, lt(x, 0)), lt(a, 0.625)), lt(a, TANH32_TINY)));
}

/** logTail: log(1 + fv) + k·ln 2 + c (k an i32x4 local, c f32x4 or 0), as src/libm32.ts. */
function logTail(f: Func, fv: Local, k: Local, c: Ex): Node {
  const s = tmp(f, div(fv, add(2, fv)));
  const z = tmp(f, mul(s, s));
  const w = tmp(f, mul(z, z));
  const t1 = mul(w, add(LOG32.LG2, mul(w, LOG32.LG4)));
  const t2 = mul(z, add(LOG32.LG1, mul(w, LOG32.LG3)));
  const r = tmp(f, add(t2, t1));
  const hfsq = tmp(f, mul(mul(0.5, fv), fv));
  const dk = tmp(f, toF32(k));
  return add(
    add(sub(add(mul(s, add(hfsq, r)), add(mul(dk, LOG32.LN2_LO), c)), hfsq), fv),
    mul(dk, LOG32.LN2_HI),
  );
}

/** 2^k·m → m's bits moved into [√2/2, √2) minus 1, and k, from the bits `ix` (already shifted). */
function reduceLog(f: Func, ix: Local) {
  return {
    k: tmp(f, subI32(shrS(ix, 23), int(0x7f))),
    fv: tmp(f, sub(addI32(and(ix, int(0x007fffff)), int(LOG32.SQRT1_2_BITS)), 1)),
  };
}

/** log32 over f32x4 lanes: pushes log x. */
export function pushLog32(f: Func, x: Local): void {
  const sub_ = tmp(f, lt(x, LOG32.MIN_NORMAL));
  const ix = tmp(f, addI32(sel(mul(x, LOG32.TWO_25), x, sub_), int(LOG32.SHIFT)));
  const { k, fv } = reduceLog(f, ix);
  const kk = tmp(f, subI32(k, and(sub_, int(25))));
  const r = logTail(f, fv, kk, 0);
  push(f, sel(x, sel(-Infinity, sel(NaN, sel(x, r, eq(x, Infinity)), lt(x, 0)), eq(x, 0)), ne(x, x)));
}

/** log1p01 into a new local: log(1 + e) for e in [0, 1], as src/libm32.ts. */
function log1p01(f: Func, e: Local): Local {
  const direct = tmp(f, lt(e, LOG32.LOG1P_DIRECT));
  const u = tmp(f, add(1, e));
  const iu = tmp(f, addI32(u, int(LOG32.SHIFT)));
  const { k, fv } = reduceLog(f, iu);
  const c = tmp(f, div(sub(e, sub(u, 1)), u));
  const fv2 = tmp(f, sel(e, fv, direct));
  const k2 = tmp(f, sel(int(0), k, direct));
  const c2 = tmp(f, sel(0, c, direct));
  return tmp(f, logTail(f, fv2, k2, c2));
}

/** softplus32 over f32x4 lanes: x > 0 ? x + t : t, t = log1p(e^−|x|). */
export function pushSoftplus32(f: Func, x: Local): void {
  const pos = tmp(f, gt(x, 0));
  const t = log1p01(f, exp32(f, tmp(f, sel(neg(x), x, pos))));
  push(f, sel(add(x, t), t, pos));
}

/** softplusGrad32 over f32x4 lanes: x ≥ 0 ? g / (1 + e) : (g·e) / (1 + e), e = e^−|x|. */
export function pushSoftplusGrad32(f: Func, x: Local, g: Local): void {
  const nonNeg = tmp(f, ge(x, 0));
  const e = exp32(f, tmp(f, sel(neg(x), x, nonNeg)));
  push(f, sel(div(g, add(1, e)), div(mul(g, e), add(1, e)), nonNeg));
}

/** expm1Neg32 into a new local: e^x − 1 below −0.35, x·P(x) above. */
function expm1Neg32(f: Func, x: Local): Local {
  const p = horner(f, x, EXPM1_32.P);
  return tmp(f, sel(sub(exp32(f, x), 1), mul(x, p), lt(x, EXPM1_32.SWITCH)));
}

/** elu32 over f32x4 lanes (`alpha` the float32 parameter splatted): x > 0 ? x : alpha·(e^x − 1). */
export function pushElu32(f: Func, x: Local, alpha: Local): void {
  const m = expm1Neg32(f, x);
  push(f, sel(x, mul(alpha, m), gt(x, 0)));
}

/** elu's derivative times g over f32x4 lanes: x > 0 ? g : (g·alpha)·e^x. */
export function pushEluGrad32(f: Func, x: Local, g: Local, alpha: Local): void {
  const e = exp32(f, x);
  push(f, sel(g, mul(mul(g, alpha), e), gt(x, 0)));
}
