/** Shape arithmetic shared by ops: sizes, broadcasting, axis normalisation. Pure functions, no storage. */
import type { BroadcastPlan } from './kernels/types.js';

/** A tensor's shape: one non-negative integer per axis, `[]` for a scalar. */
export type Shape = readonly number[];

/** Number of elements in a shape. */
export function sizeOf(shape: Shape): number {
  let n = 1;
  for (let i = 0; i < shape.length; i++) n *= shape[i];
  return n;
}

/** `[2,3]` as written in error messages. */
export function fmt(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

/** Whether two shapes are equal axis by axis. */
export function sameShape(a: Shape, b: Shape): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Normalise a possibly negative axis against `ndim`, naming the op when it is out of range. */
export function normAxis(axis: number, ndim: number, op: string): number {
  if (!Number.isInteger(axis) || axis < -ndim || axis >= Math.max(ndim, 1))
    throw new RangeError(`${op}: axis ${axis} is out of range for a tensor with ${ndim} dimension(s)`);
  return axis < 0 ? axis + ndim : axis;
}

/** Left-pad a shape with 1s to `ndim` axes. */
export function padShape(shape: Shape, ndim: number): number[] {
  const out = new Array<number>(ndim).fill(1);
  for (let i = 0; i < shape.length; i++) out[ndim - shape.length + i] = shape[i];
  return out;
}

/** numpy's broadcasting rule; the error names the op and both shapes. */
export function broadcastShapes(a: Shape, b: Shape, op: string): number[] {
  const nd = Math.max(a.length, b.length);
  const out = new Array<number>(nd);
  for (let i = 0; i < nd; i++) {
    const da = i < nd - a.length ? 1 : a[i - (nd - a.length)];
    const db = i < nd - b.length ? 1 : b[i - (nd - b.length)];
    if (da !== db && da !== 1 && db !== 1)
      throw new Error(
        `${op}: shapes ${fmt(a)} and ${fmt(b)} cannot be broadcast together (axis ${i}: ${da} vs ${db})`,
      );
    out[i] = da === 1 ? db : da;
  }
  return out;
}

function stridesFor(shape: Shape, outShape: Shape): number[] {
  const nd = outShape.length;
  const padded = padShape(shape, nd);
  const s = new Array<number>(nd);
  let acc = 1;
  for (let d = nd - 1; d >= 0; d--) {
    s[d] = padded[d] === 1 && outShape[d] !== 1 ? 0 : acc;
    acc *= padded[d];
  }
  return s;
}

/**
 * Whether `b`, its leading 1s dropped, is the trailing axes of `shape`: then `b` repeats over the leading
 * axes, and an operand of `shape` is [rows, R] with b one row of R (a bias [n] on [batch, L, n], GPT's
 * positions [L, E] on [B, L, E], a causal bias [L, S] on scores [B, H, L, S]).
 */
function endsWith(shape: Shape, b: Shape): boolean {
  let first = 0;
  while (first < b.length && b[first] === 1) first++;
  const tail = b.length - first;
  if (tail > shape.length) return false;
  for (let i = 0; i < tail; i++) if (b[first + i] !== shape[shape.length - tail + i]) return false;
  return true;
}

/**
 * The broadcast plan of a binary op, with the fast path it qualifies for: `rowB` wherever a has the
 * output's shape and b is its trailing axes (see {@link endsWith}), whatever the number of leading axes.
 */
export function broadcastPlan(a: Shape, b: Shape, op: string): BroadcastPlan {
  if (sameShape(a, b)) {
    const size = sizeOf(a);
    return { shape: a, size, aStrides: [], bStrides: [], kind: 'same' };
  }
  const shape = broadcastShapes(a, b, op);
  const size = sizeOf(shape);
  const aSize = sizeOf(a);
  const bSize = sizeOf(b);
  if (bSize === 1 && aSize === size) return { shape, size, aStrides: [], bStrides: [], kind: 'scalarB' };
  if (aSize === 1 && bSize === size) return { shape, size, aStrides: [], bStrides: [], kind: 'scalarA' };
  if (aSize === size && sameShape(padShape(a, shape.length), shape) && endsWith(shape, b))
    return { shape, size, aStrides: [], bStrides: [], kind: 'rowB' };
  return { shape, size, aStrides: stridesFor(a, shape), bStrides: stridesFor(b, shape), kind: 'general' };
}
