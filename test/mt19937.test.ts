// MT19937 against numpy's legacy np.random: fixture streams bit for bit, plus state handling.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MT19937, type MT19937State } from '../src/mt19937.js';
import { fixture as load } from './helpers/fixtures.js';

interface Stream {
  seed: number;
  rand12: number[];
  randn12: number[];
  rand_2x2_then_2x1: [number[][], number[][]];
  permutation10: number[];
}

const fixture = load<{ streams: Stream[] }>('numpy-random.json');

test('fixture has streams', () => {
  assert.ok(fixture.streams.length > 0);
});

for (const s of fixture.streams) {
  test(`seed ${s.seed}: rand(12) bit for bit`, () => {
    const rng = new MT19937(s.seed);
    for (const [i, want] of s.rand12.entries()) assert.equal(rng.random(), want, `rand12[${i}]`);
  });

  test(`seed ${s.seed}: randn(12) within 1e-15 relative`, () => {
    const rng = new MT19937(s.seed);
    for (const [i, want] of s.randn12.entries()) {
      const got = rng.gauss();
      assert.ok(Math.abs(got - want) <= 1e-15 * Math.abs(want), `randn12[${i}]: got ${got}, want ${want}`);
    }
  });

  test(`seed ${s.seed}: rand(2,2) then rand(2,1)`, () => {
    const rng = new MT19937(s.seed);
    const first = new Float64Array(4);
    const second = new Float64Array(2);
    rng.fillRandom(first);
    rng.fillRandom(second);
    const [a, b] = s.rand_2x2_then_2x1;
    assert.deepEqual(Array.from(first), a.flat());
    assert.deepEqual(Array.from(second), b.flat());
  });

  test(`seed ${s.seed}: permutation(10)`, () => {
    const rng = new MT19937(s.seed);
    assert.deepEqual(Array.from(rng.permutation(10)), s.permutation10);
  });

  test(`seed ${s.seed}: shuffle of a plain array matches permutation`, () => {
    const a = Array.from({ length: 10 }, (_, i) => i);
    new MT19937(s.seed).shuffle(a);
    assert.deepEqual(a, s.permutation10);
  });

  test(`seed ${s.seed}: reseeding restarts the stream and drops a cached gauss`, () => {
    const rng = new MT19937(12345);
    rng.gauss(); // leaves the second deviate of the pair cached
    rng.seed(s.seed);
    assert.equal(rng.random(), s.rand12[0]);
    rng.seed(s.seed);
    assert.ok(Math.abs(rng.gauss() - s.randn12[0]!) <= 1e-15 * Math.abs(s.randn12[0]!));
  });
}

test('reference MT19937 outputs for the default seed 5489', () => {
  const rng = new MT19937();
  // First output of mt19937ar.c's init_genrand(5489), and the 10000th, which C++ [rand.predef] fixes.
  assert.equal(rng.nextUint32(), 3499211612);
  for (let i = 2; i < 10000; i++) rng.nextUint32();
  assert.equal(rng.nextUint32(), 4123659995);
});

test('getState/setState resumes the identical stream, pending gauss included', () => {
  const rng = new MT19937(7);
  for (let i = 0; i < 700; i++) rng.random(); // cross a twist so pos is mid-buffer
  rng.gauss(); // leaves one deviate cached
  const state = rng.getState();
  assert.equal(state.hasGauss, true);
  const roundTripped = JSON.parse(JSON.stringify(state)) as MT19937State;

  const expected = [rng.gauss(), rng.gauss(), rng.random(), rng.nextUint32(), rng.intBelow(1000)];
  const other = new MT19937(99);
  other.setState(roundTripped);
  assert.deepEqual(
    [other.gauss(), other.gauss(), other.random(), other.nextUint32(), other.intBelow(1000)],
    expected,
  );

  const copy = rng.clone();
  assert.deepEqual(
    Array.from({ length: 5 }, () => copy.gauss()),
    Array.from({ length: 5 }, () => rng.gauss()),
  );
});

test('getState of a freshly seeded generator is numpy-shaped', () => {
  const state = new MT19937(0).getState();
  assert.equal(state.key.length, 624);
  assert.equal(state.key[0], 0);
  assert.equal(state.key[1], 1);
  assert.equal(state.pos, 624);
  assert.equal(state.hasGauss, false);
  assert.equal(state.gauss, 0);
});

test('seed rejects values outside [0, 2**32) and non-integers, naming the value', () => {
  const rng = new MT19937();
  for (const bad of [-1, 2 ** 32, 1.5, Number.NaN, Infinity]) {
    assert.throws(
      () => rng.seed(bad),
      (e: unknown) => e instanceof RangeError && e.message.includes(String(bad)),
    );
  }
  assert.throws(() => new MT19937(-3), RangeError);
  rng.seed(2 ** 32 - 1); // the largest valid seed
});

test('setState rejects malformed states and leaves the generator untouched', () => {
  const rng = new MT19937(3);
  const good = rng.getState();
  const want = rng.clone().random();
  const bad: unknown[] = [
    null,
    { ...good, key: good.key.slice(1) },
    { ...good, key: [...good.key.slice(0, 623), 2 ** 32] },
    { ...good, key: [...good.key.slice(0, 623), -1] },
    { ...good, key: new Array<number>(624).fill(0) },
    { ...good, pos: 625 },
    { ...good, pos: 1.5 },
    { ...good, hasGauss: 1 },
    { ...good, hasGauss: true, gauss: Number.NaN },
  ];
  for (const s of bad) assert.throws(() => rng.setState(s as MT19937State), Error);
  assert.equal(rng.random(), want);
});

test('intBelow stays within [0, max] and reaches both ends', () => {
  const rng = new MT19937(1);
  assert.equal(rng.intBelow(0), 0);
  for (const max of [1, 2, 3, 5, 7, 8, 9, 100, 2 ** 31 - 1, 2 ** 31, 2 ** 31 + 1, 2 ** 32 - 1]) {
    for (let i = 0; i < 2000; i++) {
      const v = rng.intBelow(max);
      assert.ok(Number.isInteger(v) && v >= 0 && v <= max, `intBelow(${max}) gave ${v}`);
    }
  }
  const seen = new Set<number>();
  for (let i = 0; i < 1000; i++) seen.add(rng.intBelow(4));
  assert.deepEqual([...seen].sort(), [0, 1, 2, 3, 4]);
  assert.throws(() => rng.intBelow(-1), RangeError);
  assert.throws(() => rng.intBelow(2 ** 32), RangeError);
});

test('uniform, normal and the fill helpers', () => {
  const rng = new MT19937(42);
  const ref = rng.clone();
  assert.equal(rng.uniform(-2, 3), -2 + 5 * ref.random());
  assert.equal(rng.normal(1, 0.5), 1 + 0.5 * ref.gauss());
  assert.throws(() => rng.normal(0, -1), RangeError);
  assert.throws(() => rng.uniform(-Infinity, 0), RangeError);

  const f32 = new Float32Array(5);
  const again = rng.clone();
  rng.fillGauss(f32);
  assert.deepEqual(
    Array.from(f32),
    Array.from({ length: 5 }, () => Math.fround(again.gauss())),
  );
  const values = new Float64Array(1000);
  rng.fillRandom(values);
  assert.ok(values.every((v) => v >= 0 && v < 1));
});

test('permutation validates n and handles the trivial sizes', () => {
  const rng = new MT19937(0);
  assert.deepEqual(Array.from(rng.permutation(0)), []);
  assert.deepEqual(Array.from(rng.permutation(1)), [0]);
  const p = rng.permutation(1000);
  assert.deepEqual(
    Array.from(p).sort((a, b) => a - b),
    Array.from({ length: 1000 }, (_, i) => i),
  );
  assert.throws(() => rng.permutation(-1), RangeError);
  assert.throws(() => rng.permutation(2.5), RangeError);
});
