// Deterministic libm (src/libm.ts) against V8's Math.* (≤ 1 ulp from the truth) and known values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cos, exp, expm1, log, log1p, pow, sin, tanh } from '../src/libm.js';
import { xorshift32 } from './helpers/xorshift.js';

const f64 = new Float64Array(1);
const i64 = new BigInt64Array(f64.buffer);
/** Monotone integer image of a double, so ulp distance is a difference. */
function ord(x: number): bigint {
  f64[0] = x;
  const b = i64[0]!;
  return b < 0n ? -(b & 0x7fffffffffffffffn) : b;
}
function ulps(a: number, b: number): number {
  if (Object.is(a, b) || (a !== a && b !== b)) return 0;
  if (a !== a || b !== b) return Infinity;
  const d = ord(a) - ord(b);
  return Number(d < 0n ? -d : d);
}

/** The sweep's randoms, the same every run. */
const rand = xorshift32(0x9e3779b9);

type Gen = () => number;
const uniform =
  (lo: number, hi: number): Gen =>
  () =>
    lo + rand() * (hi - lo);
const logUniform =
  (lo: number, hi: number, sign = 1): Gen =>
  () =>
    sign * Math.exp(Math.log(lo) + rand() * (Math.log(hi) - Math.log(lo)));

function sweep(
  name: string,
  ours: (x: number) => number,
  ref: (x: number) => number,
  gen: Gen,
  n: number,
): void {
  const hist = [0, 0, 0];
  let worst = 0;
  let worstX = 0;
  for (let i = 0; i < n; i++) {
    const x = gen();
    const u = ulps(ours(x), ref(x));
    if (u > worst) {
      worst = u;
      worstX = x;
    }
    if (u <= 2) hist[u]!++;
  }
  console.log(`${name}: ulp 0/1/2 = ${hist.join('/')} (n=${n}, worst ${worst})`);
  assert.ok(worst <= 2, `${name}: ${worst} ulp at x=${worstX}`);
}

const N = 20000;

test('exp sweeps', () => {
  sweep('exp [-745, 709.78]', exp, Math.exp, uniform(-745, 709.78), N);
  sweep('exp [-1, 1]', exp, Math.exp, uniform(-1, 1), N);
  sweep('exp subnormal [-745, -708]', exp, Math.exp, uniform(-745.13, -708), N);
  sweep('exp tiny', exp, Math.exp, logUniform(1e-20, 1e-3, rand() < 0.5 ? 1 : -1), N);
});

test('log sweeps', () => {
  sweep('log [5e-324, 1e300]', log, Math.log, logUniform(5e-324, 1e300), N);
  sweep('log near 1', log, Math.log, uniform(0.5, 2), N);
  sweep('log 1±tiny', log, Math.log, () => 1 + (rand() - 0.5) * 1e-6, N);
});

test('log1p sweeps', () => {
  sweep('log1p (-1, 3]', log1p, Math.log1p, uniform(-0.9999999, 3), N);
  sweep('log1p tiny +', log1p, Math.log1p, logUniform(1e-300, 1e-2), N);
  sweep('log1p tiny -', log1p, Math.log1p, logUniform(1e-300, 1e-2, -1), N);
  sweep('log1p large', log1p, Math.log1p, logUniform(3, 1e300), N / 4);
});

test('expm1 sweeps', () => {
  sweep('expm1 [-40, 709]', expm1, Math.expm1, uniform(-40, 709), N);
  sweep('expm1 [-3, 3]', expm1, Math.expm1, uniform(-3, 3), N);
  sweep('expm1 tiny', expm1, Math.expm1, logUniform(1e-300, 1e-2, -1), N / 2);
  sweep('expm1 tiny +', expm1, Math.expm1, logUniform(1e-300, 1e-2), N / 2);
});

test('tanh sweeps', () => {
  sweep('tanh [-25, 25]', tanh, Math.tanh, uniform(-25, 25), N);
  sweep('tanh [-1, 1]', tanh, Math.tanh, uniform(-1, 1), N);
  sweep('tanh tiny', tanh, Math.tanh, logUniform(1e-300, 1e-3), N / 4);
});

test('sin/cos sweeps', () => {
  sweep('sin [-20, 20]', sin, Math.sin, uniform(-20, 20), N);
  sweep('cos [-20, 20]', cos, Math.cos, uniform(-20, 20), N);
  sweep('sin ±1e5', sin, Math.sin, uniform(-1e5, 1e5), N);
  sweep('cos ±1e5', cos, Math.cos, uniform(-1e5, 1e5), N);
  sweep('sin tiny', sin, Math.sin, logUniform(1e-300, 1e-2), N / 4);
  sweep('cos tiny', cos, Math.cos, logUniform(1e-300, 1e-2), N / 4);
  // Near multiples of π/2, where the reduction cancels most bits.
  const nearPio2 = (): number => Math.round((rand() - 0.5) * 2e5) * (Math.PI / 2);
  sweep('sin near kπ/2', sin, Math.sin, nearPio2, N / 4);
  sweep('cos near kπ/2', cos, Math.cos, nearPio2, N / 4);
});

test('pow sweeps', () => {
  for (const beta of [0.9, 0.999, 0.99]) {
    const hist = [0, 0, 0];
    for (let t = 1; t <= 20000; t++) {
      const u = ulps(pow(beta, t), Math.pow(beta, t));
      assert.ok(u <= 2, `pow(${beta}, ${t}): ${u} ulp`);
      hist[u]!++;
    }
    console.log(`pow(${beta}, 1..20000): ulp 0/1/2 = ${hist.join('/')}`);
  }
  const g1 = (): number => rand() * 100;
  const xs: number[] = [];
  const ys: number[] = [];
  const general = (lx: Gen, ly: Gen) => {
    xs.length = 0;
    ys.length = 0;
    return () => {
      const x = lx();
      const y = ly();
      xs.push(x);
      ys.push(y);
      return xs.length - 1;
    };
  };
  const gen = general(g1, uniform(-30, 30));
  sweep(
    'pow x∈[0,100], y∈[-30,30]',
    (i) => pow(xs[i]!, ys[i]!),
    (i) => Math.pow(xs[i]!, ys[i]!),
    gen,
    N,
  );
  const gen2 = general(logUniform(1e-300, 1e300), uniform(-1, 1));
  sweep(
    'pow x∈[1e-300,1e300], y∈[-1,1]',
    (i) => pow(xs[i]!, ys[i]!),
    (i) => Math.pow(xs[i]!, ys[i]!),
    gen2,
    N,
  );
  const gen3 = general(uniform(-50, 50), () => Math.round((rand() - 0.5) * 60));
  sweep(
    'pow x∈[-50,50], integer y∈[-30,30]',
    (i) => pow(xs[i]!, ys[i]!),
    (i) => Math.pow(xs[i]!, ys[i]!),
    gen3,
    N,
  );
  const gen4 = general(uniform(0.999, 1.001), uniform(-5e5, 5e5));
  sweep(
    'pow x≈1, |y|≤5e5',
    (i) => pow(xs[i]!, ys[i]!),
    (i) => Math.pow(xs[i]!, ys[i]!),
    gen4,
    N / 2,
  );
});

test('exactly known values', () => {
  assert.equal(exp(0), 1);
  assert.equal(exp(1), Math.E);
  assert.equal(exp(-0), 1);
  assert.equal(log(1), 0);
  assert.equal(log(Math.E), 1);
  assert.equal(log(2), Math.LN2);
  assert.equal(log(10), Math.LN10);
  assert.equal(log(1024), 10 * Math.LN2);
  assert.equal(log1p(0), 0);
  assert.equal(log1p(1), Math.LN2);
  assert.equal(expm1(0), 0);
  assert.equal(sin(0), 0);
  assert.equal(cos(0), 1);
  assert.equal(sin(Math.PI / 6), 0.49999999999999994); // π/6 rounded down: sin < ½
  assert.equal(cos(Math.PI / 3), 0.5000000000000001);
  assert.equal(sin(Math.PI), 1.2246467991473532e-16); // π − fl(π)
  assert.equal(cos(Math.PI), -1);
  assert.equal(tanh(0), 0);
  assert.equal(pow(2, 10), 1024);
  assert.equal(pow(2, -1074), 5e-324);
  assert.equal(pow(3, 3), 27);
  assert.equal(pow(4, 0.5), 2);
  assert.equal(pow(10, 22), 1e22);
  assert.equal(pow(0.5, 1023), 2 ** -1023);
  assert.equal(exp(709.782712893384), 1.7976931348622732e308);
  assert.equal(exp(-745.1332191019411), 5e-324);
});

test('special values match Math', () => {
  const specials = [
    NaN,
    Infinity,
    -Infinity,
    0,
    -0,
    1,
    -1,
    5e-324,
    -5e-324,
    2.2250738585072014e-308,
    1.7976931348623157e308,
    -1.7976931348623157e308,
    0.5,
    -0.5,
    2,
    -2,
    710,
    -710,
    746,
    -746,
    1e-20,
    -1e-20,
    23,
    -23,
    1e300,
    -1e300,
  ];
  const fns: [string, (x: number) => number, (x: number) => number][] = [
    ['exp', exp, Math.exp],
    ['expm1', expm1, Math.expm1],
    ['log', log, Math.log],
    ['log1p', log1p, Math.log1p],
    ['tanh', tanh, Math.tanh],
    ['sin', sin, Math.sin],
    ['cos', cos, Math.cos],
  ];
  for (const [name, f, g] of fns) {
    for (const x of specials) {
      if (Math.abs(x) > 2e6 && (name === 'sin' || name === 'cos')) continue; // documented range
      const a = f(x);
      const b = g(x);
      if (!Number.isFinite(b) || b === 0 || !Number.isFinite(a))
        assert.ok(Object.is(a, b), `${name}(${x}) = ${a}, Math gives ${b}`);
      else assert.ok(ulps(a, b) <= 1, `${name}(${x}) = ${a}, Math gives ${b}`);
    }
  }
  for (const x of specials) {
    for (const y of [...specials, 3, -3, 0.5, -0.5, 1.5, 1075, -1075]) {
      const a = pow(x, y);
      const b = Math.pow(x, y);
      if (!Number.isFinite(b) || b === 0 || !Number.isFinite(a))
        assert.ok(Object.is(a, b), `pow(${x}, ${y}) = ${a}, Math gives ${b}`);
      else assert.ok(ulps(a, b) <= 2, `pow(${x}, ${y}) = ${a}, Math gives ${b}`);
    }
  }
});
