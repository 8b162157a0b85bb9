// Fast paths against the general loops they stand in for, bit for bit. Float32 additions in f32x4 lanes
// (src/kernels/wasm/add32.ts: the plain and bias adds, accumulate, the sum over leading axes) against the
// reference, which adds in doubles and rounds once, on random bit patterns (subnormals, ±0, ±∞, NaN among
// them), odd lengths and rows; and the reference's broadcast of a value per row ([rows, cols] op
// [rows, 1]) against the same op on b expanded to [rows, cols].
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { referenceKernels } from '../src/kernels/reference.js';
import type { Kernels, Storage } from '../src/kernels/types.js';
import { loadWasmKernels } from '../src/kernels/wasm/index.js';
import { RandomState } from '../src/random.js';
import { broadcastPlan } from '../src/shape.js';

/** Bit patterns, so −0 and 0 differ and every NaN is one value. */
function bits(a: Storage): string[] {
  return Array.from(a, (x) => (Number.isNaN(x) ? 'NaN' : Object.is(x, -0) ? '-0' : String(x)));
}

/** Random float32 bit patterns: a third with small exponents (subnormals and their neighbours). */
function randomBits(n: number, rng: RandomState): Float32Array {
  const u = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const w = Math.floor(rng.random() * 2 ** 32) >>> 0;
    u[i] = i % 3 === 0 ? w & 0x80ffffff : w;
  }
  return new Float32Array(u.buffer);
}

test('float32 adds in f32x4 lanes give the reference bits', async () => {
  const wasm = (await loadWasmKernels({ minElements: 1 })) as Kernels;
  const rng = new RandomState(5);
  for (const [rows, cols] of [
    [1, 1],
    [3, 7],
    [5, 8],
    [17, 9],
    [64, 33],
    [2, 1000],
  ]) {
    const n = rows * cols;
    const what = `[${rows}, ${cols}]`;
    const a = randomBits(n, rng);
    const b = randomBits(n, rng);
    const row = randomBits(cols, rng);
    for (const [bb, plan] of [
      [b, broadcastPlan([rows, cols], [rows, cols], 'add')],
      [row, broadcastPlan([rows, cols], [cols], 'add')],
    ] as const) {
      const want = new Float32Array(n);
      const got = new Float32Array(n).fill(7);
      referenceKernels.binary('add', a, bb, want, plan);
      wasm.binary('add', a, bb, got, plan);
      assert.deepEqual(bits(got), bits(want), `${what} add ${plan.kind}`);
    }
    const acc = [a.slice(), a.slice()];
    referenceKernels.accumulate(acc[0], b);
    wasm.accumulate(acc[1], b);
    assert.deepEqual(bits(acc[1]), bits(acc[0]), `${what} accumulate`);
    if (rows > 1) {
      const sums = [new Float32Array(cols), new Float32Array(cols)];
      referenceKernels.reduce('sum', a, [rows, cols], sums[0], [1, cols]);
      wasm.reduce('sum', a, [rows, cols], sums[1], [1, cols]);
      assert.deepEqual(bits(sums[1]), bits(sums[0]), `${what} sum over rows`);
    }
  }
});

test('a value per row ([rows, cols] op [rows, 1]) gives the bits of the same op on b expanded', () => {
  const rng = new RandomState(6);
  for (const C of [Float32Array, Float64Array])
    for (const [rows, cols] of [
      [3, 1],
      [5, 7],
      [64, 65],
    ]) {
      const a = C.from(randomBits(rows * cols, rng));
      const b = C.from(randomBits(rows, rng));
      const expanded = new C(rows * cols).map((_, i) => b[Math.floor(i / cols)]);
      const plan = broadcastPlan([rows, cols], [rows, 1], 'test');
      const same = broadcastPlan([rows, cols], [rows, cols], 'test');
      assert.equal(plan.kind, cols === 1 ? 'same' : 'general');
      for (const op of ['add', 'sub', 'mul', 'div', 'maximum', 'eqMask'] as const) {
        const want = new C(rows * cols);
        const got = new C(rows * cols);
        referenceKernels.binary(op, a, expanded, want, same);
        referenceKernels.binary(op, a, b, got, plan);
        assert.deepEqual(bits(got), bits(want), `${C.name} [${rows}, ${cols}] ${op}`);
      }
    }
});
