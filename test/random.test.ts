// The random wrapper against numpy's legacy np.random (numpy-random.json): the default stream and
// RandomState instances, state save/restore, and shape validation.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { random } from '../src/index.js';
import { assertClose } from './helpers/close.js';
import { fixture } from './helpers/fixtures.js';

interface Stream {
  seed: number;
  rand12: number[];
  randn12: number[];
  rand_2x2_then_2x1: [number[][], number[][]];
  permutation10: number[];
}

const { streams } = fixture<{ streams: Stream[] }>('numpy-random.json');

describe('the default stream matches numpy after np.random.seed(s)', () => {
  test('the fixture has the four seeds', () => {
    assert.deepEqual(
      streams.map((s) => s.seed),
      [0, 42, 2024, 4294967295],
    );
  });

  for (const s of streams) {
    test(`seed ${s.seed}: rand(12) bit for bit, float64`, () => {
      random.seed(s.seed);
      const t = random.rand(12);
      assert.equal(t.dtype, 'float64');
      assert.deepEqual(t.shape, [12]);
      assert.deepEqual(Array.from(t.data), s.rand12);
    });

    test(`seed ${s.seed}: randn(12) within 1e-15 relative`, () => {
      random.seed(s.seed);
      const t = random.randn(12);
      assert.equal(t.dtype, 'float64');
      assertClose(t.data, s.randn12, { rel: 1e-15, what: 'randn12' });
    });

    test(`seed ${s.seed}: rand(2, 2) then rand(2, 1), with shapes`, () => {
      random.seed(s.seed);
      const a = random.rand(2, 2);
      const b = random.rand([2, 1]);
      assert.deepEqual(a.shape, [2, 2]);
      assert.deepEqual(b.shape, [2, 1]);
      assert.deepEqual([a.toArray(), b.toArray()], s.rand_2x2_then_2x1);
    });

    test(`seed ${s.seed}: permutation(10)`, () => {
      random.seed(s.seed);
      const p = random.permutation(10);
      assert.ok(p instanceof Int32Array);
      assert.deepEqual(Array.from(p), s.permutation10);
    });

    test(`seed ${s.seed}: RandomState(seed) gives the same streams`, () => {
      const r = new random.RandomState(s.seed);
      assert.deepEqual(Array.from(r.rand(3, 4).data), s.rand12);
      r.seed(s.seed);
      assertClose(r.randn(2, 6).data, s.randn12, { rel: 1e-15, what: 'randn12' });
      r.seed(s.seed);
      assert.deepEqual(Array.from(r.permutation(10)), s.permutation10);
    });
  }

  test('randn fills C order across calls: randn(5) then randn(7) is randn(12)', () => {
    const s = streams[1];
    random.seed(s.seed);
    const joined = [...random.randn(5).data, ...random.randn(7).data];
    assertClose(joined, s.randn12, { rel: 1e-15, what: 'randn 5 + 7' });
  });

  test('reseeding restarts the stream', () => {
    random.seed(0);
    random.randn(3); // leaves a cached deviate
    random.seed(0);
    assertClose(random.randn(12).data, streams[0].randn12, { rel: 1e-15, what: 'after reseed' });
  });

  test('an unseeded RandomState is seed 0', () => {
    assert.deepEqual(Array.from(new random.RandomState().rand(12).data), streams[0].rand12);
  });
});

describe('RandomState instances are independent of the default stream', () => {
  test('drawing from an instance does not move the default stream, and vice versa', () => {
    const [s0, s42] = streams;
    random.seed(0);
    const r = new random.RandomState(42);
    const a = random.rand(6);
    const x = r.rand(6);
    r.randn(3);
    r.permutation(50);
    const b = random.rand(6);
    assert.deepEqual([...a.data, ...b.data], s0.rand12);
    const r2 = new random.RandomState(42);
    r2.rand(6);
    random.rand(100);
    assert.deepEqual([...x.data, ...r2.rand(6).data], s42.rand12);
  });

  test('two instances with the same seed agree; different seeds differ', () => {
    const a = new random.RandomState(7);
    const b = new random.RandomState(7);
    assert.deepEqual(a.randn(20).data, b.randn(20).data);
    assert.notDeepEqual(new random.RandomState(8).rand(5).data, new random.RandomState(7).rand(5).data);
  });
});

describe('state save and restore', () => {
  test('RandomState: getState/setState through JSON, with a cached normal pending', () => {
    const r = new random.RandomState(5);
    r.rand(700); // past one twist
    r.randn(3); // odd: a second deviate is cached
    const state = r.getState();
    assert.equal(state.hasGauss, true);
    const saved = JSON.stringify(state);
    const want = [...r.randn(5).data, ...r.rand(5).data, ...r.permutation(20)];
    const other = new random.RandomState(123);
    other.setState(JSON.parse(saved) as random.RandomStateSnapshot);
    assert.deepEqual([...other.randn(5).data, ...other.rand(5).data, ...other.permutation(20)], want);
    // The same instance rewinds too.
    r.setState(JSON.parse(saved) as random.RandomStateSnapshot);
    assert.deepEqual([...r.randn(5).data, ...r.rand(5).data, ...r.permutation(20)], want);
  });

  test('the default stream: random.getState/setState', () => {
    random.seed(2024);
    random.randn(1);
    const saved = JSON.stringify(random.getState());
    const want = Array.from(random.randn(11).data);
    random.seed(1);
    random.setState(JSON.parse(saved) as random.RandomStateSnapshot);
    const resumed = Array.from(random.randn(11).data);
    assert.deepEqual(resumed, want);
    assertClose(resumed, streams[2].randn12.slice(1), { rel: 1e-15, what: 'resumed' });
  });

  test('a malformed state is rejected and leaves the stream as it was', () => {
    const r = new random.RandomState(3);
    const before = JSON.stringify(r.getState());
    assert.throws(() => r.setState({ ...r.getState(), pos: 625 }), /pos must be an integer in \[0, 624\]/);
    assert.throws(() => r.setState({ ...r.getState(), key: [1, 2] }), /key must be an array of 624 integers/);
    assert.equal(JSON.stringify(r.getState()), before);
  });
});

describe('shapes and validation', () => {
  test('shapes as arguments or one array; sizes of 0; a scalar', () => {
    const r = new random.RandomState(0);
    assert.deepEqual(r.rand(2, 3, 4).shape, [2, 3, 4]);
    assert.deepEqual(r.randn([3, 2]).shape, [3, 2]);
    assert.equal(r.rand(0, 5).size, 0);
    assert.deepEqual(r.permutation(0), new Int32Array(0));
    const before = JSON.stringify(r.getState());
    r.rand(3, 0);
    assert.equal(JSON.stringify(r.getState()), before, 'an empty draw consumes nothing');
    const s = r.rand();
    assert.deepEqual(s.shape, []);
    assert.equal(s.size, 1);
  });

  test('bad sizes are rejected with the offending value', () => {
    assert.throws(() => random.rand(-1), /random: shape sizes must be non-negative integers, got -1/);
    assert.throws(() => random.randn(2, 1.5), /got 1\.5/);
    assert.throws(() => random.rand([2, NaN]), /got NaN/);
    assert.throws(() => new random.RandomState(0).randn([3, -2]), /got -2/);
    assert.throws(() => random.permutation(-1), /permutation: n must be a non-negative integer, got -1/);
    assert.throws(() => random.permutation(2.5), /got 2\.5/);
  });

  test('seeds must be integers in [0, 2³²)', () => {
    assert.throws(() => random.seed(-1), RangeError);
    assert.throws(() => random.seed(2 ** 32), RangeError);
    assert.throws(() => random.seed(1.5), RangeError);
    assert.throws(() => new random.RandomState(-3), RangeError);
  });

  test('fillUniform and fillNormal draw in order from the stream', () => {
    const r = new random.RandomState(42);
    const u = new Float64Array(4);
    r.fillUniform(u, -2, 2);
    assert.deepEqual(
      Array.from(u),
      streams[1].rand12.slice(0, 4).map((v) => -2 + 4 * v),
    );
    const n = new Float64Array(12);
    new random.RandomState(42).fillNormal(n, 1, 0.5);
    assertClose(
      n,
      streams[1].randn12.map((v) => 1 + 0.5 * v),
      { rel: 1e-15, what: 'normal(1, 0.5)' },
    );
    assert.throws(() => r.fillNormal(n, 0, -1), /std must be >= 0/);
  });
});

describe('fillMask (dropout masks)', () => {
  test('the draws and values of the loop `random() < p ? 0 : keep`, across twists, and the stream after', () => {
    for (const [p, n] of [
      [0.1, 1000],
      [0.5, 1249],
      [0, 7],
      [1, 630],
      [0.25, 0],
    ] as const) {
      for (const Ctor of [Float32Array, Float64Array]) {
        const a = new random.RandomState(11);
        const b = new random.RandomState(11);
        // Start mid-block, so the mask crosses the 624-word regeneration at an odd place.
        a.random();
        b.random();
        const keep = p === 1 ? 0 : 1 / (1 - p);
        const got = new Ctor(n);
        const want = new Ctor(n);
        a.fillMask(got, p, keep);
        for (let i = 0; i < n; i++) want[i] = b.random() < p ? 0 : keep;
        assert.deepEqual(Array.from(got), Array.from(want), `p ${p}, n ${n}, ${Ctor.name}`);
        assert.equal(a.random(), b.random(), 'the stream continues in step');
      }
    }
  });
});
