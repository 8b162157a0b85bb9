// The tests' closeness assertion itself: every fixture and op test leans on it, so a bound it failed to
// enforce would weaken all of them at once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tensor } from '../src/index.js';
import { assertClose } from './helpers/close.js';

test('rel is relative to the expected value, abs is a floor; either one suffices', () => {
  assertClose(100.5, 100, { rel: 0.005 });
  assert.throws(() => assertClose(100.5, 100, { rel: 0.004 }), /value: got 100\.5, expected 100, error 0\.5/);
  // Relative to |expected|, not to the larger of the two.
  assert.throws(() => assertClose(2, 1, { rel: 0.6 }));
  assertClose(1e-20, 0, { rel: 1e-3, abs: 1e-19 });
  assert.throws(() => assertClose(1e-20, 0, { rel: 1e-3 }));
  assertClose([1, 2.1], [1, 2], { abs: [0, 0.1 + 1e-15] });
  assert.throws(() => assertClose([1.05, 2], [1, 2], { abs: [0, 0.1] }), /\[0\]/);
});

test('with no tolerance only equal values pass; NaN matches NaN, infinities match only themselves', () => {
  assertClose([0, NaN, Infinity, -Infinity], [-0, NaN, Infinity, -Infinity]);
  assert.throws(() => assertClose(1 + 2 ** -52, 1));
  assert.throws(() => assertClose(NaN, 1, { abs: 1 }));
  assert.throws(() => assertClose(1e300, Infinity, { rel: 1 }), /error/);
  assert.throws(() => assertClose(Infinity, 1e300, { rel: 1 }));
});

test('shapes must agree; Tensors, typed and nested arrays are all accepted', () => {
  const t = tensor(
    [
      [1, 2],
      [3, 4],
    ],
    { dtype: 'float64' },
  );
  assertClose(t, [
    [1, 2],
    [3, 4],
  ]);
  assertClose(t.data, new Float64Array([1, 2, 3, 4]));
  assert.throws(() => assertClose(t, [1, 2, 3, 4], { what: 'w' }), /w: shape \[2,2\], expected \[4\]/);
  assert.throws(() => assertClose([1, 2], [1, 2, 3]), /shape/);
  assert.throws(() => assertClose(tensor(5), [5]), /shape/);
  assert.throws(() => assertClose([[1, 2], [3]], [1, 2, 3]), /ragged/);
  assert.throws(
    () =>
      assertClose(
        t,
        [
          [1, 2],
          [3, 4.5],
        ],
        { rel: 0.1, what: 'W' },
      ),
    /W\[3\]: got 4, expected 4\.5, error 0\.5 \(relative 0\.111\d*\) > 0\.45/,
  );
});
