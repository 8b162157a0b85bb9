/**
 * The error function and its complement in float64, written out here because JavaScript's `Math`
 * has neither and exact GELU (`0.5·x·erfc(−x/√2)`) must match PyTorch's gradients to 1e-10.
 *
 * Two polynomials, both fitted for this file (Chebyshev interpolation in 60-digit arithmetic, then
 * rounded; `scripts/fit-erf.py` prints them again), evaluated with IEEE basic operations only, so every
 * engine gives the same bits, and with no loop and one branch, so the WebAssembly kernels run the same
 * arithmetic in SIMD lanes (`src/kernels/wasm/libm.ts`):
 * - |x| < 0.84375: erf(x) = x + x·P(x²), P of degree 12, and erfc = 1 − erf.
 * - Beyond: erfc(|x|) = e^(−x²)·F(z)/(1 + 2|x|), with F(x) = (1 + 2x)·e^(x²)·erfc(x) a polynomial of
 *   degree 25 in z = (|x| − 3)/(|x| + 3) (Weideman's change of variable: it maps [0, ∞) onto [−1, 1),
 *   where F is smooth and goes from 1 to 2/√π); erfc(−x) = 2 − erfc(x), erf = ±(1 − erfc(|x|)).
 * Checked against mpmath at ~57,000 points: erf within 1 ulp, erfc within 3 ulp relative where its
 * value is normal (the old series and continued fractions here: 3 and 4), about 4× faster.
 *
 * @module
 */
import { exp } from './libm.js';

/** Veltkamp's splitter for float64, 2²⁷ + 1: cuts a double into two 26-bit halves whose products are exact. */
const SPLITTER = 134217729;
/** Below this, erf comes from its own polynomial; above, from 1 − erfc. */
const ERF_POLY_MAX = 0.84375;
/** erfc(28) ≈ 1e−342 is below the smallest subnormal, so anything beyond is exactly 0. */
const ERFC_ZERO = 28;
/** The centre of the map z = (x − W)/(x + W) for erfc. */
const W = 3;

/** erf(x)/x − 1 as a polynomial in t = x², lowest degree first (|x| < 0.84375). */
export const ERF_POLY = [
  0.1283791670955126, -0.37612638903183754, 0.11283791670955119, -0.026866170645129195, 0.0052239776254091085,
  -0.0008548327020282098, 0.00012055332786789778, -1.4925642307895309e-5, 1.646188646025385e-6,
  -1.6361401594512728e-7, 1.4748383049793128e-8, -1.1782540187183761e-9, 6.792271255793785e-11,
] as const;

/** F = (1 + 2x)·e^(x²)·erfc(x) as a polynomial in z = (x − 3)/(x + 3), lowest degree first (x ≥ 0). */
export const ERFC_POLY = [
  1.2530080582697296, -0.1356211061245812, -0.04756229435344912, 0.12964515870276316, -0.11927366341538978,
  0.06830802734389313, -0.023770514917107986, 0.0025293918173706497, 0.0018886903443894542,
  -0.0007798322831260387, -0.00010515971612176149, 0.00012509940933306624, 4.949184182276066e-6,
  -2.010075903780886e-5, -7.307985940695724e-7, 3.4728430145951554e-6, 3.5571413343395913e-7,
  -6.172971639709339e-7, -1.4042772727671948e-7, 1.0252159854733823e-7, 4.1031674722876435e-8,
  -1.3744637271614611e-8, -8.205287217548862e-9, 1.1435382719942424e-9, 8.373239801913565e-10,
  -2.5208846559132343e-11,
] as const;

/**
 * e^(−x²) without the error from rounding x² first: that rounding alone would cost x²·2⁻⁵³
 * relative (several ulp by x = 2.8), so x² is carried as hi + lo, exactly, and e^(−lo) ≈ 1 − lo.
 */
function expNegSquare(x: number): number {
  const hi = x * x;
  const t = SPLITTER * x;
  const xh = t - (t - x);
  const xl = x - xh;
  const lo = xh * xh - hi + 2 * xh * xl + xl * xl;
  const e = exp(-hi);
  // e − e·lo rather than e·(1 − lo): rounding 1 − lo would cost half an ulp of 1 on its own.
  return e - e * lo;
}

/** P(t) = erf(x)/x − 1 at t = x² (|x| < ERF_POLY_MAX), so erf(x) = x + x·P(x²), the small part added last. */
function erfPolyCorrection(t: number): number {
  const c = ERF_POLY;
  let r = c[12];
  for (let i = 11; i >= 0; i--) r = r * t + c[i];
  return r;
}

/** erfc(a) for 0 ≤ a < ERFC_ZERO. */
function erfcPositive(a: number): number {
  const z = (a - W) / (a + W);
  const c = ERFC_POLY;
  let r = c[25];
  for (let i = 24; i >= 0; i--) r = r * z + c[i];
  return (expNegSquare(a) * r) / (1 + 2 * a);
}

/**
 * The error function, erf(x) = (2/√π)·∫₀ˣ e^(−t²) dt, to an ulp for every float64 x.
 * Odd, with erf(±∞) = ±1 and erf(NaN) = NaN; erf(−0) is −0.
 */
export function erf(x: number): number {
  const a = Math.abs(x);
  // NaN and ±0 come back as they are, which keeps the sign of −0 that `x < 0` below would drop.
  if (!(a > 0)) return x;
  if (a < ERF_POLY_MAX) return x + x * erfPolyCorrection(x * x);
  const value = a < ERFC_ZERO ? 1 - erfcPositive(a) : 1;
  return x < 0 ? -value : value;
}

/**
 * The complementary error function, erfc(x) = 1 − erf(x), to a few ulp relative for every float64 x,
 * including the far tail where it is far smaller than 1 − erf could express (erfc(10) ≈ 2.09e−45).
 * erfc(−∞) = 2, erfc(+∞) = 0 and erfc(NaN) = NaN. Past x ≈ 26.6 the result is subnormal and keeps
 * only absolute accuracy; past about 27.2 it rounds to 0.
 */
export function erfc(x: number): number {
  if (Number.isNaN(x)) return x;
  const a = Math.abs(x);
  if (a < ERF_POLY_MAX) {
    // 1 − erf(x), with erf's small correction x·P(x²) subtracted last; from 0.25 up, 0.5 − x is exact
    // (Sterbenz) and taking it first keeps the result's rounding to one half-ulp step.
    const y = x * erfPolyCorrection(x * x);
    return x < 0.25 ? 1 - (x + y) : 0.5 + (0.5 - x - y);
  }
  const tail = a < ERFC_ZERO ? erfcPositive(a) : 0; // erfc(|x|)
  // For negative x the result lies in (1, 2], where 2 − erfc(|x|) loses nothing that matters.
  return x < 0 ? 2 - tail : tail;
}
