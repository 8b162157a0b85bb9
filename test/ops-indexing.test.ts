// The sequence primitives (src/ops-indexing.ts): gradCheck in float64 on every differentiable one, values
// against naive loops or hand-written results, and the selections without gradient (argmax, topK's
// positions, multinomial) against their stated rules.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { assertClose } from './helpers/close.js';
import {
  Tensor,
  tensor,
  ones,
  gradCheck,
  random,
  matmul,
  concat,
  stack,
  narrow,
  split,
  unbind,
  chunk,
  swapAxes,
  indexSelect,
  embedding,
  gather,
  scatterAdd,
  where,
  maskedFill,
  triu,
  tril,
  argmax,
  topK,
  multinomial,
  type NestedArray,
} from '../src/index.js';

/** Standard normal float64 samples from their own seeded stream. */
function randn(seed: number, shape: number[]): Tensor {
  return new random.RandomState(seed).randn(shape);
}

const f64 = (x: NestedArray, requiresGrad = false): Tensor => tensor(x, { dtype: 'float64', requiresGrad });

/** gradCheck must pass, 50× tighter than its default (as test/ops.test.ts). */
function assertGrad(name: string, fn: (...xs: Tensor[]) => Tensor, inputs: Tensor[], tol = 2e-8): void {
  const r = gradCheck(fn, inputs, { tol });
  assert.ok(
    r.ok,
    `${name}: ${r.inputs.map((x, i) => `input ${i}: abs ${x.maxAbsError}, rel ${x.maxRelError} at ${x.worstIndex}`).join('; ')}`,
  );
}

/** The element of `t` at a multi-index, by stride arithmetic: the naive oracle. */
function at(t: Tensor, idx: number[]): number {
  let o = 0;
  for (let d = 0; d < t.ndim; d++) o = o * t.shape[d] + idx[d];
  return t.data[o];
}

/** Every multi-index of a shape, row-major. */
function* indices(shape: readonly number[]): Generator<number[]> {
  const n = shape.reduce((a, b) => a * b, 1);
  for (let i = 0; i < n; i++) {
    const idx: number[] = [];
    let r = i;
    for (let d = shape.length - 1; d >= 0; d--) {
      idx[d] = r % shape[d];
      r = Math.floor(r / shape[d]);
    }
    yield idx;
  }
}

describe('joining and cutting', () => {
  test('concat equals a naive copy on every axis, and its gradient checks', () => {
    for (const axis of [0, 1, 2, -1]) {
      const ax = (axis + 3) % 3;
      const shapes = [0, 1, 2].map((i) => [2, 3, 4].map((d, j) => (j === ax ? d + i : d)));
      const xs = shapes.map((s, i) => randn(10 + i, s));
      const y = concat(xs, axis);
      for (const idx of indices(y.shape)) {
        let k = idx[ax];
        let p = 0;
        while (k >= xs[p].shape[ax]) k -= xs[p++].shape[ax];
        const src = [...idx];
        src[ax] = k;
        assert.equal(at(y, idx), at(xs[p], src));
      }
      assertGrad(`concat axis ${axis}`, (...ts) => concat(ts, axis), xs);
    }
  });

  test('concat promotes to float64 and rejects mismatched shapes', () => {
    const y = concat([ones([1, 2]), ones([1, 2], { dtype: 'float64' })]);
    assert.equal(y.dtype, 'float64');
    assert.throws(() => concat([ones([2, 3]), ones([2, 4])], 0), /may differ only along axis 0/);
    assert.throws(() => concat([]), /non-empty/);
  });

  test('stack on every axis: shapes, values, gradient', () => {
    const xs = [randn(1, [2, 3]), randn(2, [2, 3]), randn(3, [2, 3])];
    for (const axis of [0, 1, 2]) {
      const y = stack(xs, axis);
      const shape = [2, 3];
      shape.splice(axis, 0, 3);
      assert.deepEqual(y.shape, shape);
      for (const idx of indices(y.shape)) {
        const i = idx[axis];
        const rest = idx.filter((_, d) => d !== axis);
        assert.equal(at(y, idx), at(xs[i], rest));
      }
      assertGrad(`stack axis ${axis}`, (...ts) => stack(ts, axis), xs);
    }
    assert.throws(() => stack([ones([2]), ones([3])]), /tensor 1 has shape \[3\]/);
  });

  test('narrow, split and chunk: values, gradients, errors', () => {
    const x = randn(4, [3, 7, 2]);
    const n = narrow(x, 1, 2, 3);
    assert.deepEqual(n.shape, [3, 3, 2]);
    for (const idx of indices(n.shape)) assert.equal(at(n, idx), at(x, [idx[0], idx[1] + 2, idx[2]]));
    assertGrad('narrow', (t) => narrow(t, 1, 2, 3), [x]);
    assertGrad('narrow axis -1', (t) => narrow(t, -1, 1, 1), [x]);
    assert.throws(() => narrow(x, 1, 5, 3), /not within axis 1/);
    assert.deepEqual(
      split(x, 3, 1).map((t) => t.shape[1]),
      [3, 3, 1],
    );
    assert.deepEqual(
      split(x, [1, 0, 6], 1).map((t) => t.shape[1]),
      [1, 0, 6],
    );
    assert.throws(() => split(x, [1, 2], 1), /adding up to 7/);
    assert.deepEqual(
      chunk(x, 3, 1).map((t) => t.shape[1]),
      [3, 3, 1],
    );
    // Pieces used together: each piece's gradient lands in its own entries.
    assertGrad(
      'split pieces recombined',
      (t) => {
        const [a, b, c] = split(t, [2, 4, 1], 1);
        return concat([c.mul(a.sum(1, { keepDims: true })), b.tanh()], 1);
      },
      [x],
    );
  });

  test("split's one gradient buffer: some pieces unused, a piece used twice, a retained graph run twice", () => {
    const x = randn(21, [5, 3]);
    assertGrad(
      'split, pieces 0 and 2 only, piece 2 twice',
      (t) => {
        const [a, , c] = split(t, [2, 1, 2], 0);
        return concat([a.mul(a), c.tanh(), c.mul(3)], 0);
      },
      [x],
    );
    assertGrad('unbind', (t) => stack(unbind(t, 1).reverse(), 0), [x]);
    assert.deepEqual(unbind(x, 0)[4].shape, [3]);
    const t = new Tensor(x.data.slice(), x.shape, true);
    const [a, b] = split(t, [4, 1], 0);
    const y = a.sum().add(b.mul(2).sum());
    y.backward(undefined, { retainGraph: true });
    const once = Array.from(t.grad!.data);
    y.backward();
    assert.deepEqual(
      Array.from(t.grad!.data),
      once.map((v) => 2 * v),
    );
    assert.deepEqual(once, [...Array(12).fill(1), 2, 2, 2]);
  });

  test('swapAxes is a permutation; batched matmul over heads checks', () => {
    const x = randn(5, [2, 3, 4]);
    const y = swapAxes(x, 0, 2);
    assert.deepEqual(y.shape, [4, 3, 2]);
    for (const idx of indices(y.shape)) assert.equal(at(y, idx), at(x, [idx[2], idx[1], idx[0]]));
    assertGrad('swapAxes', (t) => swapAxes(t, 1, -1), [x]);
    // Attention's shapes: [B, heads, L, D] @ [B, heads, D, S].
    assertGrad('batched matmul', matmul, [randn(6, [2, 2, 3, 4]), randn(7, [2, 2, 4, 3])]);
  });
});

describe('selecting along an axis', () => {
  test('indexSelect: any axis, index shape kept, repeated indices add up', () => {
    const x = randn(8, [3, 5, 2]);
    const idx = f64([
      [4, 0],
      [4, 4],
    ]);
    const y = indexSelect(x, 1, idx);
    assert.deepEqual(y.shape, [3, 2, 2, 2]);
    for (const i of indices(y.shape)) assert.equal(at(y, i), at(x, [i[0], at(idx, [i[1], i[2]]), i[3]]));
    assertGrad('indexSelect', (t) => indexSelect(t, 1, idx), [x]);
    // Σ of rows picked 3 times has gradient 3 there.
    const w = f64([[1], [2], [3]], true);
    indexSelect(w, 0, [2, 0, 2, 2]).sum().backward();
    assert.deepEqual(Array.from(w.grad!.data), [1, 0, 3]);
    assert.throws(() => indexSelect(x, 1, [5]), /index 5 at position 0 is outside 0…4/);
    assert.throws(() => indexSelect(x, 0, [1.5]), /index 1.5/);
  });

  test('embedding: rows per index, paddingIdx gets no gradient', () => {
    const w = randn(9, [5, 3]);
    const ids = f64([
      [1, 0, 1],
      [4, 1, 0],
    ]);
    const y = embedding(ids, w);
    assert.deepEqual(y.shape, [2, 3, 3]);
    assertGrad('embedding', (t) => embedding(ids, t), [w]);
    const wg = new Tensor(w.data.slice(), w.shape, true);
    embedding(ids, wg, { paddingIdx: 0 }).sum().backward();
    assert.deepEqual(Array.from(wg.grad!.data.subarray(0, 3)), [0, 0, 0]);
    assert.deepEqual(Array.from(wg.grad!.data.subarray(3, 6)), [3, 3, 3]);
  });

  test('gather and scatterAdd: PyTorch semantics, gradients', () => {
    const x = randn(11, [2, 4, 3]);
    const index = f64([
      [
        [0, 3, 3],
        [2, 2, 0],
      ],
      [
        [1, 1, 1],
        [3, 0, 2],
      ],
    ]); // [2, 2, 3] along axis 1
    const y = gather(x, 1, index);
    assert.deepEqual(y.shape, [2, 2, 3]);
    for (const i of indices(y.shape)) assert.equal(at(y, i), at(x, [i[0], at(index, i), i[2]]));
    assertGrad('gather', (t) => gather(t, 1, index), [x]);
    const src = randn(12, [2, 2, 3]);
    const s = scatterAdd(x, 1, index, src);
    const want = x.data.slice();
    for (const i of indices(index.shape)) want[(i[0] * 4 + at(index, i)) * 3 + i[2]] += at(src, i);
    assertClose(s.data, want, { rel: 1e-15 });
    assertGrad('scatterAdd', (a, b) => scatterAdd(a, 1, index, b), [x, src]);
    assert.throws(
      () => gather(x, 1, f64([[[0, 1, 2]]])),
      /must have the shape \[2, 4, 3\] except along axis 1/,
    );
  });
});

describe('elementwise choice', () => {
  test('where broadcasts condition and both sides; each side gets the gradient where chosen', () => {
    const cond = f64([[1], [0], [1]]); // [3, 1]
    const a = randn(13, [3, 4]);
    const b = randn(14, [4]);
    const y = where(cond, a, b);
    assert.deepEqual(y.shape, [3, 4]);
    for (const [r, c] of indices([3, 4]))
      assert.equal(at(y, [r, c]), cond.data[r] ? at(a, [r, c]) : b.data[c]);
    assertGrad('where', (p, q) => where(cond, p, q), [a, b]);
    assertGrad('where with a number', (p) => where(cond, 2, p), [a]);
  });

  test('maskedFill puts the value where the mask is set, even −∞, and passes the gradient elsewhere', () => {
    const x = f64([[1, 2, 3]], true);
    const m = f64([0, 1, 0]);
    const y = maskedFill(x, m, -Infinity);
    assert.deepEqual(Array.from(y.data), [1, -Infinity, 3]);
    y.softmax(-1).sum().backward();
    assert.ok(Array.from(x.grad!.data).every(Number.isFinite));
    assert.equal(x.grad!.data[1], 0);
    assertGrad('maskedFill', (t) => maskedFill(t, m, 3), [randn(15, [2, 3])]);
  });

  test('triu and tril match PyTorch on rectangles and batches for several diagonals', () => {
    const x = randn(16, [2, 3, 4]);
    for (const k of [-1, 0, 1, 2]) {
      const u = triu(x, k);
      const l = tril(x, k);
      for (const i of indices(x.shape)) {
        const d = i[2] - i[1];
        assert.equal(at(u, i), d >= k ? at(x, i) : 0);
        assert.equal(at(l, i), d <= k ? at(x, i) : 0);
      }
      assertGrad(`triu ${k}`, (t) => triu(t, k), [x]);
      assertGrad(`tril ${k}`, (t) => tril(t, k), [x]);
    }
    assert.deepEqual(triu(ones([3, 3]), 1).toArray(), [
      [0, 1, 1],
      [0, 0, 1],
      [0, 0, 0],
    ]);
  });
});

describe('selections without gradient', () => {
  test('argmax: first maximum, NaN largest, over an axis or everything', () => {
    const x = f64([
      [1, 5, 5, 2],
      [7, NaN, 9, NaN],
      [-1, -3, -1, -2],
    ]);
    assert.deepEqual(Array.from(argmax(x, 1).data), [1, 1, 0]);
    assert.deepEqual(argmax(x, 1, { keepDims: true }).shape, [3, 1]);
    assert.deepEqual(Array.from(argmax(x, 0).data), [1, 1, 1, 1]);
    assert.equal(argmax(x).item(), 5);
    assert.equal(argmax(f64([[3, 9, 9]])).item(), 1);
  });

  test('topK: largest first, ties by position, values differentiable', () => {
    const x = f64([
      [3, 1, 4, 1, 5, 9, 2, 6],
      [2, 7, 1, 8, 2, 8, 1, 8],
    ]);
    const { values, indices: pos } = topK(x, 3);
    assert.deepEqual(values.toArray(), [
      [9, 6, 5],
      [8, 8, 8],
    ]);
    assert.deepEqual(pos.toArray(), [
      [5, 7, 4],
      [3, 5, 7],
    ]);
    const col = topK(x, 1, 0);
    assert.deepEqual(col.indices.toArray(), [[0, 1, 0, 1, 0, 0, 0, 1]]);
    assert.equal(topK(x, 0).values.size, 0);
    assert.throws(() => topK(x, 9), /k = 9/);
    const r = randn(17, [3, 6]);
    assertGrad('topK values', (t) => topK(t, 4, -1).values, [r]);
    assertGrad('topK values, axis 0', (t) => topK(t, 2, 0).values, [r]);
  });

  test('multinomial: reproducible by seed, never draws a zero weight, without replacement draws each once', () => {
    const p = f64([
      [0.1, 0, 0.6, 0.3],
      [0, 0, 1, 0],
    ]);
    const draw = (seed: number, n: number, replacement: boolean) =>
      Array.from(multinomial(p, n, { replacement, rng: new random.RandomState(seed) }).data);
    const a = draw(3, 500, true);
    assert.deepEqual(a, draw(3, 500, true));
    assert.notDeepEqual(a, draw(4, 500, true));
    assert.ok(a.slice(0, 500).every((c) => c !== 1));
    assert.ok(a.slice(500).every((c) => c === 2));
    // Frequencies near 0.1 / 0.6 / 0.3 (500 draws: 4 standard deviations is ±0.09 at worst).
    const freq = [0, 2, 3].map((c) => a.slice(0, 500).filter((v) => v === c).length / 500);
    assertClose(freq, [0.1, 0.6, 0.3], { abs: 0.09 });
    // The rule itself: u = random()·total, the first category whose running sum exceeds u.
    const rng = new random.RandomState(5);
    const u = rng.random();
    const want = u < 0.1 ? 0 : u < 0.7 ? 2 : 3;
    assert.equal(multinomial(p.reshape([2, 4]), 1, { rng: new random.RandomState(5) }).data[0], want);
    const q = f64([[0.2, 0.5, 0.3, 0]]);
    const noRep = Array.from(multinomial(q, 3, { rng: new random.RandomState(1) }).data).sort();
    assert.deepEqual(noRep, [0, 1, 2]);
    assert.throws(() => multinomial(q, 4), /row 0 has no category with positive weight left/);
    assert.throws(() => multinomial(f64([0.5, -1])), /weight -1 at row 0, category 1/);
    assert.deepEqual(multinomial(f64([1, 2]), 3, { replacement: true }).shape, [3]);
  });
});
