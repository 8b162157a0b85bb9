// erf/erfc against Python's math module (test/fixtures/erf.json, made by gen-erf.py) and their identities.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { erf, erfc } from '../src/special.js';
import { fixture as load } from './helpers/fixtures.js';

const fixture = load<{ points: [number, number, number][] }>('erf.json');

test('fixture is present and spans the real line', () => {
  const xs = fixture.points.map((p) => p[0]);
  assert.ok(fixture.points.length > 300);
  assert.ok(Math.min(...xs) <= -30 && Math.max(...xs) >= 30);
});

// CPython's math.erf/erfc are the C library's (glibc: fdlibm's rational approximations, within an ulp).
// Ours are our own polynomials (src/special.ts), so the bits differ at about a fifth of the points;
// the bounds are the largest differences over the fixture and mpmath sweeps: erf 1 ulp, erfc 3 ulp.
const ULP1 = 2 ** -52; // an ulp relative to the value, at most

test('erf matches math.erf within 1 ulp', () => {
  for (const [x, want] of fixture.points) {
    const got = erf(x);
    if (Math.abs(want) < 1e-300) assert.equal(got, want, `erf(${x})`);
    else assert.ok(Math.abs(got - want) <= ULP1 * Math.abs(want), `erf(${x}) = ${got}, want ${want}`);
  }
});

test('erfc matches math.erfc within 3 ulp relative, far tail included', () => {
  let checked = 0;
  for (const [x, , want] of fixture.points) {
    const got = erfc(x);
    if (want > 1e-300) {
      assert.ok(Math.abs(got - want) <= 3 * ULP1 * want, `erfc(${x}) = ${got}, want ${want}`);
      checked++;
    } else {
      // Subnormal or zero: only absolute agreement is meaningful.
      assert.ok(got >= 0 && Math.abs(got - want) <= 1e-300, `erfc(${x}) = ${got}, want ${want}`);
    }
  }
  assert.ok(checked > 300);
});

test('erfc keeps relative accuracy where 1 − erf could not', () => {
  const row = fixture.points.find((p) => p[0] === 10);
  assert.ok(row, 'fixture has x = 10');
  assert.ok(Math.abs(erfc(10) - row[2]) <= 1e-14 * row[2]);
  assert.ok(erfc(10) > 2.08e-45 && erfc(10) < 2.09e-45);
});

test('special values', () => {
  assert.equal(erf(Infinity), 1);
  assert.equal(erf(-Infinity), -1);
  assert.equal(erfc(Infinity), 0);
  assert.equal(erfc(-Infinity), 2);
  assert.ok(Number.isNaN(erf(Number.NaN)));
  assert.ok(Number.isNaN(erfc(Number.NaN)));
  assert.ok(Object.is(erf(0), 0));
  assert.ok(Object.is(erf(-0), -0));
  assert.equal(erfc(0), 1);
  assert.equal(erfc(-0), 1);
  assert.equal(erf(5e-324), 5e-324); // 2/√π·2⁻¹⁰⁷⁴ rounds back to the smallest subnormal
  assert.equal(erf(Number.MAX_VALUE), 1);
  assert.equal(erfc(-Number.MAX_VALUE), 2);
  assert.equal(erfc(Number.MAX_VALUE), 0);
});

test('odd symmetry, erfc(−x) = 2 − erfc(x), and erf + erfc = 1', () => {
  for (let i = -1200; i <= 1200; i++) {
    const x = i / 100 + 0.003;
    assert.equal(erf(-x), -erf(x));
    assert.ok(Math.abs(erfc(-x) - (2 - erfc(x))) <= 4.5e-16, `erfc(${-x})`);
    assert.ok(Math.abs(erf(x) + erfc(x) - 1) <= 4.5e-16, `erf + erfc at ${x}`);
  }
});

test('no jumps where the method changes', () => {
  // The branch points of src/special.ts (at 28 both sides are exactly 0 or 1). One ulp below each,
  // the value must differ from the value at it by the slope times the step, to a few ulp; a seam
  // between two methods would show here.
  const slope = (x: number) => (2 / Math.sqrt(Math.PI)) * Math.exp(-x * x);
  for (const b of [0.25, 0.84375]) {
    const below = b - b * 2 ** -53;
    for (const [f, sign] of [
      [erf, 1],
      [erfc, -1],
    ] as const) {
      const predicted = f(b) - sign * slope(b) * (b - below);
      const got = f(below);
      assert.ok(
        Math.abs(got - predicted) <= 4 * 2 ** -52 * Math.abs(got),
        `${f.name} at ${b}: ${got} vs ${predicted}`,
      );
    }
  }
});

test('monotone on a fine grid', () => {
  let prevErf = -1;
  let prevErfc = 2;
  for (let i = -8000; i <= 8000; i++) {
    const x = i / 1000;
    const e = erf(x);
    const c = erfc(x);
    assert.ok(e >= prevErf, `erf not increasing at ${x}`);
    assert.ok(c <= prevErfc, `erfc not decreasing at ${x}`);
    prevErf = e;
    prevErfc = c;
  }
});
