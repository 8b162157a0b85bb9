// The tests' one closeness assertion, so every tolerance reads the same way: `rel` is relative to the
// expected value (as numpy's assert_allclose and torch.testing), `abs` is a floor for values near zero,
// and an element passes when it is within either.
import assert from 'node:assert/strict';
import { Tensor } from '../../src/index.js';

/** Nested arrays of numbers, read-only so fixture types fit too. */
export type Nested = number | readonly Nested[];

/** What {@link assertClose} compares: a number, a flat, nested or typed array, or a Tensor. */
export type Values = Nested | ArrayLike<number> | Tensor;

export interface CloseOptions {
  /** Allowed error relative to |expected|. Default 0. */
  rel?: number;
  /** Allowed absolute error: one bound for every element, or one per element. Default 0. */
  abs?: number | ArrayLike<number>;
  /** Names the values in a failure message. */
  what?: string;
}

/** Shape and flat elements; a Tensor's own shape, a typed array is 1-D, a number has shape []. */
function unpack(x: Values, side: string, what: string): { shape: number[]; data: ArrayLike<number> } {
  if (x instanceof Tensor) return { shape: [...x.shape], data: x.data };
  if (typeof x === 'number') return { shape: [], data: [x] };
  if (!Array.isArray(x)) return { shape: [(x as ArrayLike<number>).length], data: x as ArrayLike<number> };
  const shape: number[] = [];
  for (let v: unknown = x; Array.isArray(v); v = v[0]) shape.push(v.length);
  const data = (x as unknown[]).flat(Infinity as 1) as number[];
  // A ragged array has no shape; comparing its flat elements could hide a misplaced row.
  if (data.length !== shape.reduce((n, s) => n * s, 1)) assert.fail(`${what}: ${side} is a ragged array`);
  return { shape, data };
}

/**
 * Assert that `actual` equals `expected` within tolerance, elementwise: |a − e| ≤ rel·|e| or ≤ abs.
 * Shapes must agree (a Tensor or nested array has its shape, a typed array is 1-D). NaN matches NaN and ±∞
 * must match exactly; with no tolerance given, only equal values pass (0 and −0 count as equal).
 */
export function assertClose(actual: Values, expected: Values, options: CloseOptions = {}): void {
  const { rel = 0, abs = 0, what = 'value' } = options;
  const a = unpack(actual, 'actual', what);
  const e = unpack(expected, 'expected', what);
  assert.deepEqual(a.shape, e.shape, `${what}: shape [${a.shape}], expected [${e.shape}]`);
  if (typeof abs !== 'number')
    assert.equal(
      abs.length,
      e.data.length,
      `${what}: ${abs.length} absolute bounds for ${e.data.length} values`,
    );
  for (let i = 0; i < e.data.length; i++) {
    const got = a.data[i];
    const want = e.data[i];
    if (Object.is(got, want) || (Number.isNaN(got) && Number.isNaN(want))) continue;
    const err = Math.abs(got - want);
    const bound = Math.max(rel * Math.abs(want), typeof abs === 'number' ? abs : abs[i]);
    // Finite only: rel·|∞| would let any number pass for an infinite expected value.
    if (Number.isFinite(got) && Number.isFinite(want) && err <= bound) continue;
    const at = e.shape.length === 0 ? '' : `[${i}]`;
    assert.fail(
      `${what}${at}: got ${got}, expected ${want}, error ${err} (relative ${err / Math.abs(want)}) > ${bound}` +
        ` (rel ${rel}, abs ${typeof abs === 'number' ? abs : abs[i]})`,
    );
  }
}
