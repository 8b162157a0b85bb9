// The fused recurrent layers (src/ops-recurrent.ts): gradCheck of the one-node LSTM and GRU sequence op
// on every kernel set, and the WebAssembly cell kernels against the reference loops (same bits in
// float64 and float32, odd widths included). The layers against PyTorch are test/sequence-layers.test.ts.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { gradCheck, random, referenceKernels, Tensor, type Kernels } from '../src/index.js';
import type { CellBuffers, Storage } from '../src/kernels/types.js';
import { GATES, SAVED_PER_UNIT } from '../src/kernels/recurrent.js';
import { loadWasmKernels } from '../src/kernels/wasm/index.js';
import { assertClose } from './helpers/close.js';
import { recurrentSequence } from '../src/ops-recurrent.js';
import { withSet } from './helpers/with-kernels.js';

const wasm = await loadWasmKernels({ relaxed: false });
const SETS: Kernels[] = [referenceKernels, wasm].filter((k): k is Kernels => k !== null);

function randn(shape: number[], seed: number, scale = 0.5): Tensor {
  const rng = new random.RandomState(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const d = new Float64Array(n);
  rng.fillNormal(d, 0, scale);
  return new Tensor(d, shape, true);
}

describe('recurrentSequence passes gradCheck', () => {
  for (const k of SETS)
    for (const cell of ['lstm', 'gru'] as const)
      for (const [withBias, withState] of [
        [true, true],
        [false, false],
      ])
        test(`${k.name}: ${cell}, ${withBias ? 'bias and initial states' : 'no bias, zero states'}`, () => {
          const T = 4;
          const B = 2;
          const H = 3;
          const I = 2;
          const G = GATES[cell];
          const inputs = [randn([T, B, I], 1, 1), randn([G * H, I], 2), randn([G * H, H], 3)];
          if (withBias) inputs.push(randn([G * H], 4), randn([G * H], 5));
          if (withState) inputs.push(randn([B, H], 6));
          if (withState && cell === 'lstm') inputs.push(randn([B, H], 7));
          const r = withSet(k, () =>
            gradCheck((...xs: Tensor[]) => {
              const [x, weightIh, weightHh, ...rest] = xs;
              const biasIh = withBias ? (rest.shift() as Tensor) : null;
              const biasHh = withBias ? (rest.shift() as Tensor) : null;
              const h0 = withState ? (rest.shift() as Tensor) : null;
              const c0 = withState && cell === 'lstm' ? (rest.shift() as Tensor) : null;
              return recurrentSequence(cell, x, { weightIh, weightHh, biasIh, biasHh }, h0, c0);
            }, inputs),
          );
          assert.ok(r.ok, JSON.stringify(r.inputs));
        });
});

/** One set's buffers for a sequence, filled from a seeded stream (the same values for every set). */
function cellBuffers(
  k: Kernels,
  cell: 'lstm' | 'gru',
  dtype: 'float32' | 'float64',
  T: number,
  rows: number,
  H: number,
) {
  const rng = new random.RandomState(11);
  const G = GATES[cell];
  const make = (n: number, fill: boolean): Storage => {
    const s = k.alloc?.(dtype, n) ?? (dtype === 'float32' ? new Float32Array(n) : new Float64Array(n));
    if (fill) {
      const v = new Float64Array(n);
      rng.fillNormal(v, 0, 1);
      s.set(v);
    }
    return s;
  };
  const b: CellBuffers = {
    cell,
    rows,
    hidden: H,
    pre: make(T * rows * G * H, true),
    hh: make(rows * G * H, true),
    bias: make(G * H, true),
    saved: make(T * rows * SAVED_PER_UNIT[cell] * H, false),
    h: make((T + 1) * rows * H, true),
    c: cell === 'lstm' ? make((T + 1) * rows * H, true) : null,
    gOut: make(T * rows * H, true),
    dhRec: make(rows * H, true),
    carry: make(rows * H, true),
    dPre: make(T * rows * G * H, false),
    dHh: make(T * rows * G * H, false),
  };
  if (cell === 'lstm') b.dHh = b.dPre;
  return b;
}

// float64: the reference's bits. float32: the backward too, but the forward runs σ and tanh in f32x4 lanes
// (Cephes' float32 polynomials), so float32 results are held to float32 precision instead.
describe('the WebAssembly cell kernels against the reference loops', { skip: wasm === null }, () => {
  const specials = [0, -0, 1e-8, -1e-5, 0.3, -0.62, 0.63, 1, -2.5, 9, -9.5, 20, -40, 88, -100, 1e4];
  for (const dtype of ['float64', 'float32'] as const)
    for (const cell of ['lstm', 'gru'] as const)
      for (const H of [1, 4, 5, 11])
        test(`${cell}, ${dtype}, hidden ${H}: ${dtype === 'float64' ? 'same bits' : 'float32 precision'}`, () => {
          const w = wasm as Kernels;
          const T = 3;
          const rows = 3;
          const ref = cellBuffers(referenceKernels, cell, dtype, T, rows, H);
          const got = cellBuffers(w, cell, dtype, T, rows, H);
          // Large and tiny gate inputs too: saturation, the polynomial's range, exp's clamp.
          for (let i = 0; i < ref.pre.length; i += 3)
            ref.pre[i] = got.pre[i] = specials[(i / 3) % specials.length];
          assert.ok(got.saved !== ref.saved && w.alloc?.(dtype, 1) !== null, 'buffers in wasm memory');
          // The wasm set hands work it cannot do to the reference: make that fail here.
          const { cellForward, cellBackward } = referenceKernels;
          const fail = () => {
            throw new Error('fell back to the reference');
          };
          for (let t = 0; t < T; t++) referenceKernels.cellForward(ref, t);
          for (let t = T - 1; t >= 0; t--) referenceKernels.cellBackward(ref, t);
          Object.assign(referenceKernels, { cellForward: fail, cellBackward: fail });
          try {
            for (let t = 0; t < T; t++) w.cellForward(got, t);
            for (let t = T - 1; t >= 0; t--) w.cellBackward(got, t);
          } finally {
            Object.assign(referenceKernels, { cellForward, cellBackward });
          }
          for (const key of ['saved', 'h', 'c', 'carry', 'dPre', 'dHh'] as const) {
            const a = ref[key];
            const b = got[key];
            if (a === null || b === null) continue;
            if (dtype === 'float64')
              assert.deepEqual(
                Array.from(b, (v) => (Object.is(v, -0) ? '-0' : v)),
                Array.from(a, (v) => (Object.is(v, -0) ? '-0' : v)),
                key,
              );
            else assertClose(b, a, { rel: 1e-5, abs: 1e-6, what: key });
          }
        });
});

// The op keeps its buffers for later sequences; they come back only once autograd has released the node.
describe('recurrentSequence reuses its buffers only when no backward can read them', () => {
  for (const cell of ['lstm', 'gru'] as const)
    test(`${cell}: graphs alive side by side, retainGraph, and reuse after release give fresh results`, () => {
      const G = GATES[cell];
      const p = {
        weightIh: randn([G * 3, 2], 2),
        weightHh: randn([G * 3, 3], 3),
        biasIh: null,
        biasHh: randn([G * 3], 4),
      };
      const x1 = randn([4, 2, 2], 5);
      const x2 = randn([4, 2, 2], 6);
      const run = (x: Tensor) => ((y: Tensor) => y.mul(y).sum())(recurrentSequence(cell, x, p, null, null));
      const grads = () =>
        [x1, x2, p.weightIh, p.weightHh, p.biasHh].map((t) => Array.from(t.grad?.data ?? []));
      const zero = () => [x1, x2, p.weightIh, p.weightHh, p.biasHh].forEach((t) => (t.grad = null));
      // Fresh: one graph at a time.
      run(x1).backward();
      run(x2).backward();
      const fresh = grads();
      zero();
      // Both graphs made before either backward; the second backward after the first released its node.
      const l1 = run(x1);
      const l2 = run(x2);
      l2.backward();
      run(x2); // a third sequence, made after l2's node was released: it may take l2's buffers, not l1's
      l1.backward();
      assert.deepEqual(grads(), fresh);
      zero();
      // retainGraph: the second backward reads the same buffers again.
      const l3 = run(x1);
      l3.backward(undefined, { retainGraph: true });
      run(x2);
      l3.backward();
      const once = fresh[0].map((v) => 2 * v);
      assert.deepEqual(grads()[0], once);
    });
});
