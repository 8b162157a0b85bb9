// The transcendental elementwise ops in WebAssembly (src/kernels/wasm/libm.ts) against the reference kernels,
// bit for bit: a dense sweep, log-spaced magnitudes down into the subnormals, the special values and the
// cut-offs of src/libm.ts and src/special.ts one ulp either side, in float32 and float64, forward and
// gradient, and arrays of awkward lengths for the SIMD tails. In float32, exp and gelu compute
// src/libm32.ts's float32 formula (f32x4 lanes against Math.fround), the rest float64 rounded once.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { referenceKernels } from '../src/kernels/reference.js';
import type { Kernels, Storage, UnaryOp } from '../src/kernels/types.js';
import { UNARY } from '../src/kernels/wasm/elementwise.js';
import { loadWasmKernels } from '../src/kernels/wasm/index.js';
import { xorshift32 } from './helpers/xorshift.js';

// minElements 1: every length runs in wasm, the short ones included.
const wasm = (await loadWasmKernels({ minElements: 1 })) as Kernels;

/** The ops whose forward and derivative run on the wasm libm, with the parameters to try. */
const CASES: { op: UnaryOp; p0: number[] }[] = [
  { op: 'exp', p0: [0] },
  { op: 'sigmoid', p0: [0] },
  { op: 'tanh', p0: [0] },
  { op: 'elu', p0: [1, 1.5, 0.1] },
  { op: 'softplus', p0: [0] },
  { op: 'log', p0: [0] },
  { op: 'gelu', p0: [0] },
  { op: 'silu', p0: [0] },
];

// ---------------------------------------------------------------------------------------------------------
// Inputs

const f64 = new Float64Array(1);
const u64 = new BigUint64Array(f64.buffer);
function bits(x: number): bigint {
  f64[0] = x;
  return u64[0];
}
function fromBits(b: bigint): number {
  u64[0] = b;
  return f64[0];
}
/** x and its neighbours `ulps` steps up and down (as bit patterns, so across zero and into subnormals too). */
function around(x: number, ulps = 2): number[] {
  const out: number[] = [];
  const b = bits(x);
  for (let d = -ulps; d <= ulps; d++) {
    const n = b + BigInt(d);
    if (n >= 0n && n < 1n << 64n) out.push(fromBits(n));
  }
  return out;
}

/** The sweep's randoms, the same every run. */
const rand = xorshift32(0x2545f491);

const LN2 = 0.6931471805599453;
const LOG2E = 1.4426950408889634;

function specialValues(): number[] {
  const v: number[] = [NaN, -NaN, 0, -0, Infinity, -Infinity, 1, -1, 0.5, -0.5, 2, -2];
  // Subnormals and the normal boundary.
  for (const x of [Number.MIN_VALUE, 2 * Number.MIN_VALUE, 2.2250738585072014e-308, 2.225073858507201e-308])
    v.push(...around(x), ...around(-x));
  v.push(1e-310, -1e-310, 4.9e-320, Number.MAX_VALUE, -Number.MAX_VALUE);
  // Thresholds in src/libm.ts: exp's overflow/underflow, tiny arguments, tanh's, expm1's, log1p's middle.
  const cutoffs = [
    709.782712893384,
    -745.1332191019412,
    5.551115123125783e-17,
    22,
    3.725290298461914e-9,
    40,
    20,
    0.2928932188134524,
    0.41421356237309503,
    1,
    1.4142135623730951,
    0.7071067811865476,
    // erfc's method switches (special.ts) and where gelu's −x/√2 meets them.
    0.25,
    0.84375,
    28,
    0.25 * Math.SQRT2,
    0.84375 * Math.SQRT2,
    28 * Math.SQRT2,
    26.6,
    27.2,
    8,
    10,
    // float32 limits
    3.4028234663852886e38,
    1.1754943508222875e-38,
    1.401298464324817e-45,
    88.72283935546875,
    -103.972084,
    // src/libm32.ts: exp's clamps, gelu's |x| clamp and small-argument switch, the last normal gelu
    100,
    110,
    16,
    12.95,
  ];
  for (const c of cutoffs) v.push(...around(c, 3), ...around(-c, 3));
  // Multiples of ln 2 and half-way between them: the ends of the reduction's rounding (Math.round ties).
  for (let k = -1080; k <= 1030; k += k > -40 && k < 40 ? 1 : 7) {
    v.push(...around(k * LN2, 1), ...around((k + 0.5) * LN2, 1), ...around((k + 0.5) / LOG2E, 1));
  }
  // Logarithm arguments around powers of two and their √2 points: splitLog moves mantissas whose high word
  // exceeds 0x3ff6a09e into [½, 1).
  const split = fromBits(0x3ff6a09f00000000n);
  for (let e = -1074; e <= 1023; e += 13) {
    const p = 2 ** e;
    v.push(...around(p, 1), ...around(p * 1.4142135623730951, 1), ...around(p * split, 2));
  }
  // softplus computes log1p(exp(−|x|)): the |x| where exp(−|x|) crosses log1p's cut-offs (its middle
  // range's upper end √2 − 1, and 2^-54 below which it returns its argument).
  for (const c of [0.41421356237309503, 5.551115123125783e-17]) {
    const w = -Math.log(c);
    v.push(...around(w, 24), ...around(-w, 24));
  }
  return v;
}

function sweep(): number[] {
  const v: number[] = [];
  // Dense across [−750, 750]: a grid and uniform randoms.
  for (let i = 0; i <= 50000; i++) v.push(-750 + (1500 * i) / 50000);
  for (let i = 0; i < 50000; i++) v.push(-750 + 1500 * rand());
  // Denser where the functions curve: [−30, 30].
  for (let i = 0; i < 30000; i++) v.push(-30 + 60 * rand());
  // Around 0 at the spread of a network's pre-activations: the float32 gelu takes a shortcut where all
  // four lanes have |x| < 1; here quads of all-small, mixed and all-large lanes alternate at random.
  for (let i = 0; i < 30000; i++) v.push((rand() < 0.5 ? 0.5 : 2.5) * (2 * rand() - 1));
  // Log-spaced magnitudes 1e−320 … 1e308, both signs.
  const lo = Math.log(1e-320);
  const hi = Math.log(1e308);
  for (let i = 0; i < 20000; i++) {
    const m = Math.exp(lo + (hi - lo) * rand());
    v.push(m, -m);
  }
  return v;
}

const SPECIAL = specialValues();
const SWEEP = sweep();

// ---------------------------------------------------------------------------------------------------------
// Comparison

/** The element's bits as a string (float64: 16 hex digits, float32: 8). */
function hex(a: Storage, i: number): string {
  if (a instanceof Float64Array) return bits(a[i]).toString(16).padStart(16, '0');
  return new Uint32Array(a.buffer, a.byteOffset, a.length)[i].toString(16).padStart(8, '0');
}

/** Bit-for-bit equality through integer views; any NaN matches any NaN. Reports the first few differences. */
function assertBits(got: Storage, want: Storage, x: Storage, what: string): void {
  assert.equal(got.length, want.length);
  const wide = got instanceof Float64Array;
  const g = wide ? new BigInt64Array(got.buffer, got.byteOffset, got.length) : new Int32Array(got.buffer);
  const w = wide ? new BigInt64Array(want.buffer, want.byteOffset, want.length) : new Int32Array(want.buffer);
  const bad: string[] = [];
  let count = 0;
  for (let i = 0; i < want.length; i++) {
    if (g[i] === w[i] || (Number.isNaN(got[i]) && Number.isNaN(want[i]))) continue;
    count++;
    if (bad.length < 5)
      bad.push(`x=${x[i]} (${hex(x, i)}): got ${got[i]} (${hex(got, i)}), want ${want[i]} (${hex(want, i)})`);
  }
  if (count > 0) assert.fail(`${what}: ${count} of ${want.length} differ\n  ${bad.join('\n  ')}`);
}

/** Incoming gradients: randoms of both signs with a few specials mixed in. */
function gradients(Array: Float32ArrayConstructor | Float64ArrayConstructor, n: number): Storage {
  const g = new Array(n);
  const specials = [NaN, Infinity, -Infinity, 0, -0, 1e-300, 1e300];
  for (let i = 0; i < n; i++) g[i] = i % 97 < specials.length ? specials[i % 97] : (rand() - 0.5) * 4;
  return g;
}

function check(k: Kernels, op: UnaryOp, p0: number, x: Storage, what: string): void {
  const Array = x instanceof Float64Array ? Float64Array : Float32Array;
  const n = x.length;
  const want = new Array(n);
  referenceKernels.unary(op, x, want, p0, 0);
  const got = new Array(n).fill(7);
  k.unary(op, x, got, p0, 0);
  assertBits(got, want, x, `${op}(p0=${p0}) ${what}`);
  const g = gradients(Array, n);
  const wantGrad = new Array(n);
  referenceKernels.unaryGrad(op, x, want, g, wantGrad, p0, 0);
  const gotGrad = new Array(n).fill(7);
  k.unaryGrad(op, x, want, g, gotGrad, p0, 0);
  assertBits(gotGrad, wantGrad, x, `${op}(p0=${p0}) gradient ${what}`);
}

describe('wasm libm: transcendental elementwise ops match the reference bit for bit', () => {
  test('these ops and their derivatives have wasm versions', () => {
    for (const { op } of CASES) {
      assert.ok(UNARY[op].forward, `${op} forward`);
      assert.ok(UNARY[op].grad, `${op} gradient`);
    }
  });

  for (const [name, Array] of [
    ['float64', Float64Array],
    ['float32', Float32Array],
  ] as const) {
    for (const { op, p0 } of CASES) {
      test(`${name}: ${op} over the sweep, the special values and awkward lengths`, () => {
        const special = new Array(SPECIAL);
        const dense = new Array(SWEEP);
        for (const p of p0) {
          check(wasm, op, p, special, 'special values');
          check(wasm, op, p, dense, 'sweep');
          // Every offset of the special values in short arrays: each lands in every SIMD lane and tail slot.
          for (const n of [1, 3, 17, 255, 257]) {
            for (let start = 0; start + n <= special.length; start += n === 1 ? 1 : Math.max(1, n >> 2)) {
              check(wasm, op, p, special.slice(start, start + n), `n=${n} from ${start}`);
            }
          }
        }
      });
    }
  }
});
