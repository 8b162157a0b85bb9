// Fused scaled dot-product attention (src/ops-attention.ts, kernels in src/kernels/attention.ts and
// src/kernels/wasm/attention.ts): in float64 the output and every gradient are the composed path's bits
// (reshape, swap, ÷√D, matmulTransposed, causal bias, softmax, matmul) on the reference set and on the
// WebAssembly set with one thread and with two; MultiheadAttention's fused path (needWeights false) gives
// the bits of its composed path (needWeights true); gradCheck; float32 within tolerance of the composed
// path (and the reference set's float32 bits). PyTorch's values: test/sequence-layers.test.ts (MHA) and
// test/transformer.test.ts (the tiny GPT) run through the fused path.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  add,
  div,
  gradCheck,
  matmul,
  narrow,
  nn,
  random,
  referenceKernels,
  reshape,
  softmax,
  split,
  swapAxes,
  Tensor,
  type DType,
  type Kernels,
} from '../src/index.js';
import { matmulTransposed } from '../src/ops.js';
import { attentionOfColumns, scaledDotProductAttention } from '../src/ops-attention.js';
import { loadWasmKernels } from '../src/kernels/wasm/index.js';
import { assertClose } from './helpers/close.js';
import { firstDifference } from './helpers/window-cases.js';
import { withSet } from './helpers/with-kernels.js';

const wasm = await loadWasmKernels({ relaxed: false });
const wasm2 = await loadWasmKernels({ relaxed: false, threads: 2, minThreadWork: 1 });
const SETS: Kernels[] = [referenceKernels, wasm, wasm2].filter((k): k is Kernels => k !== null);

function randn(shape: readonly number[], seed: number, dtype: DType = 'float64', scale = 1): Tensor {
  const rng = new random.RandomState(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const d = new Float64Array(n);
  rng.fillNormal(d, 0, scale);
  const t = new Tensor(d, shape, true);
  return dtype === 'float64' ? t : new Tensor(Float32Array.from(d), shape, true);
}

/** MultiheadAttention's composed arithmetic over [B, L, E] q and [B, S, E] k, v. */
function composed(q: Tensor, k: Tensor, v: Tensor, H: number, causal: boolean): Tensor {
  const [B, L, E] = q.shape;
  const S = k.shape[1];
  const D = E / H;
  const byHead = (t: Tensor, n: number) => swapAxes(reshape(t, [B, n, H, D]), 1, 2);
  let scores = matmulTransposed(div(byHead(q, L), Math.sqrt(D)), byHead(k, S));
  if (causal) {
    const bias = new Tensor(q.dtype === 'float64' ? new Float64Array(L * S) : new Float32Array(L * S), [
      L,
      S,
    ]);
    for (let t = 0; t < L; t++) for (let s = t + 1; s < S; s++) bias.data[t * S + s] = -Infinity;
    scores = add(scores, bias);
  }
  const ctx = matmul(softmax(scores, -1), byHead(v, S));
  return reshape(swapAxes(ctx, 1, 2), [B, L, E]);
}

/** Output and gradients of `fn` over fresh copies of `inputs`, the output weighted by a fixed random tensor. */
function run(fn: (...xs: Tensor[]) => Tensor, inputs: Tensor[]): Float64Array[] | Float32Array[] {
  const xs = inputs.map((t) => new Tensor(t.data.slice(), t.shape, true));
  const y = fn(...xs);
  const w = randn(y.shape, 99, y.dtype);
  y.mul(new Tensor(w.data, w.shape)).sum().backward();
  return [y.data, ...xs.map((x) => (x.grad as Tensor).data)] as Float64Array[];
}

function assertSameBits(got: ArrayLike<number>[], want: ArrayLike<number>[], what: string): void {
  const names = ['output', 'grad 1', 'grad 2', 'grad 3'];
  for (let i = 0; i < want.length; i++) {
    const at = firstDifference(got[i], want[i]);
    assert.equal(at, -1, `${what}: ${names[i]} differs at ${at}: ${got[i][at]} vs ${want[i][at]}`);
  }
}

const CASES = [
  { B: 2, L: 5, S: 5, E: 6, H: 2, causal: true },
  { B: 2, L: 5, S: 5, E: 6, H: 2, causal: false },
  { B: 1, L: 3, S: 7, E: 4, H: 1, causal: false },
  { B: 2, L: 7, S: 4, E: 8, H: 2, causal: true },
  { B: 2, L: 37, S: 37, E: 48, H: 3, causal: true },
  { B: 3, L: 20, S: 33, E: 40, H: 4, causal: false },
  { B: 2, L: 24, S: 24, E: 30, H: 2, causal: true }, // odd D: the two-lane passes' last element
];

describe('float64: the composed path’s bits', () => {
  for (const k of SETS)
    for (const c of CASES) {
      const what = `${k.name}: B ${c.B}, L ${c.L}, S ${c.S}, E ${c.E}, H ${c.H}${c.causal ? ', causal' : ''}`;
      test(`${what}, three tensors`, () => {
        const inputs = [randn([c.B, c.L, c.E], 1), randn([c.B, c.S, c.E], 2), randn([c.B, c.S, c.E], 3)];
        const opts = { heads: c.H, isCausal: c.causal };
        const want = withSet(k, () => run((q, kk, v) => composed(q, kk, v, c.H, c.causal), inputs));
        const got = withSet(k, () => run((q, kk, v) => scaledDotProductAttention(q, kk, v, opts), inputs));
        assertSameBits(got, want, what);
      });
      if (c.L === c.S)
        test(`${what}, packed [B, L, 3E]`, () => {
          const E = c.E;
          const inputs = [randn([c.B, c.L, 3 * E], 4)];
          const want = withSet(k, () =>
            run((qkv) => {
              const [q, kk, v] = split(qkv, E, 2);
              return composed(q, kk, v, c.H, c.causal);
            }, inputs),
          );
          const got = withSet(k, () =>
            run(
              (qkv) =>
                attentionOfColumns(
                  { tensor: qkv, column: 0 },
                  { tensor: qkv, column: E },
                  { tensor: qkv, column: 2 * E },
                  E,
                  {
                    heads: c.H,
                    isCausal: c.causal,
                  },
                ),
              inputs,
            ),
          );
          assertSameBits(got, want, what);
        });
    }
});

describe('column blocks of a wider tensor: the unused columns get a zero gradient', () => {
  for (const k of SETS)
    test(k.name, () => {
      const [B, L, E, H] = [2, 24, 32, 2];
      // q at 0, k at 3E, v at E of [B, L, 4E]: columns 2E…3E are read by nothing.
      const inputs = [randn([B, L, 4 * E], 31)];
      const at = [0, 3 * E, E];
      const want = withSet(k, () =>
        run((x) => {
          const [q, kk, v] = at.map((c) => narrow(x, 2, c, E));
          return composed(q, kk, v, H, true);
        }, inputs),
      );
      const got = withSet(k, () =>
        run(
          (x) =>
            attentionOfColumns(
              { tensor: x, column: at[0] },
              { tensor: x, column: at[1] },
              { tensor: x, column: at[2] },
              E,
              { heads: H, isCausal: true },
            ),
          inputs,
        ),
      );
      assertSameBits(got, want, k.name);
    });
});

describe('MultiheadAttention: the fused path (needWeights false) gives the composed path’s bits', () => {
  const layouts = [
    { name: 'self-attention, batch first', batchFirst: true, kind: 'self' },
    { name: 'self-attention, sequence first', batchFirst: false, kind: 'self' },
    { name: 'key = value, another query', batchFirst: true, kind: 'kv' },
    { name: 'three inputs', batchFirst: false, kind: 'three' },
    { name: 'unbatched self-attention', batchFirst: false, kind: 'unbatched' },
  ] as const;
  for (const k of SETS)
    for (const l of layouts)
      for (const causal of [true, false])
        test(`${k.name}: ${l.name}${causal ? ', causal' : ''}`, () => {
          const E = 12;
          const grads = (needWeights: boolean) =>
            withSet(k, () => {
              const m = new nn.MultiheadAttention(E, 3, {
                batchFirst: l.batchFirst,
                dtype: 'float64',
                rng: new random.RandomState(5),
              });
              const shape = l.kind === 'unbatched' ? [6, E] : l.batchFirst ? [2, 6, E] : [6, 2, E];
              const x = randn(shape, 7, 'float64', 0.5);
              const y = l.kind === 'self' || l.kind === 'unbatched' ? x : randn(shape, 8, 'float64', 0.5);
              const z = l.kind === 'three' ? randn(shape, 9, 'float64', 0.5) : y;
              const r = m.attend(x, y, z, { isCausal: causal, needWeights });
              r.output.mul(randn(r.output.shape, 10).detach()).sum().backward();
              const params = m.parameters().map((p) => (p.grad as Tensor).data);
              return [r.output.data, ...params, ...[x, y, z].map((t) => (t.grad as Tensor).data)];
            });
          const want = grads(true);
          const got = grads(false);
          for (let i = 0; i < want.length; i++)
            assert.equal(firstDifference(got[i], want[i]), -1, `array ${i} differs`);
        });
});

describe('gradCheck', () => {
  for (const k of SETS)
    for (const causal of [true, false]) {
      test(`${k.name}: three tensors${causal ? ', causal' : ''}`, () => {
        const inputs = [randn([2, 4, 6], 11), randn([2, 4, 6], 12), randn([2, 4, 6], 13)];
        const r = withSet(k, () =>
          gradCheck(
            (q, kk, v) => scaledDotProductAttention(q, kk, v, { heads: 2, isCausal: causal }),
            inputs,
          ),
        );
        assert.ok(r.ok, JSON.stringify(r.inputs));
      });
      test(`${k.name}: one tensor as query, key and value (the gradients add)${causal ? ', causal' : ''}`, () => {
        const r = withSet(k, () =>
          gradCheck(
            (x) => scaledDotProductAttention(x, x, x, { heads: 3, isCausal: causal }),
            [randn([2, 5, 6], 14)],
          ),
        );
        assert.ok(r.ok, JSON.stringify(r.inputs));
      });
    }
});

describe('float32', () => {
  const c = { B: 2, L: 37, S: 37, E: 48, H: 3 };
  const inputs = [randn([c.B, c.L, 3 * c.E], 21, 'float32')];
  const fused = (qkv: Tensor) =>
    attentionOfColumns(
      { tensor: qkv, column: 0 },
      { tensor: qkv, column: c.E },
      { tensor: qkv, column: 2 * c.E },
      c.E,
      { heads: c.H, isCausal: true },
    );
  const reference = withSet(referenceKernels, () =>
    run((qkv) => {
      const [q, k, v] = split(qkv, c.E, 2);
      return composed(q, k, v, c.H, true);
    }, inputs),
  );
  test('the reference set: the composed path’s float32 bits', () => {
    assertSameBits(
      withSet(referenceKernels, () => run(fused, inputs)),
      reference,
      'reference float32',
    );
  });
  for (const k of [wasm, wasm2].filter((k): k is Kernels => k !== null))
    test(`${k.name}: within 1e-5 of the composed path (products sum in float32 lanes)`, () => {
      const got = withSet(k, () => run(fused, inputs));
      for (let i = 0; i < got.length; i++)
        assertClose(got[i], reference[i], { rel: 1e-4, abs: 1e-5, what: `array ${i}` });
    });
  if (wasm && wasm2)
    test('the same float32 bits on one thread and two', () => {
      assertSameBits(
        withSet(wasm2, () => run(fused, inputs)),
        withSet(wasm, () => run(fused, inputs)),
        'threads',
      );
    });
});

test('operands that need no gradient: the others get the composed path’s bits', () => {
  const c = { B: 2, L: 5, E: 6, H: 2 };
  for (const k of SETS) {
    // q frozen: only k's and v's gradients, each written past a shared scratch for q.
    const q0 = randn([c.B, c.L, c.E], 1);
    const kv = [randn([c.B, c.L, c.E], 2), randn([c.B, c.L, c.E], 3)];
    const go = (fn: (q: Tensor, k: Tensor, v: Tensor) => Tensor) =>
      withSet(k, () => {
        const q = new Tensor(q0.data.slice(), q0.shape, false);
        const [kk, v] = kv.map((t) => new Tensor(t.data.slice(), t.shape, true));
        const y = fn(q, kk, v);
        y.mul(new Tensor(randn(y.shape, 99).data, y.shape))
          .sum()
          .backward();
        assert.equal(q.grad, null);
        return [y.data, (kk.grad as Tensor).data, (v.grad as Tensor).data];
      });
    const want = go((q, kk, v) => composed(q, kk, v, c.H, true));
    const got = go((q, kk, v) => scaledDotProductAttention(q, kk, v, { heads: c.H, isCausal: true }));
    assertSameBits(got, want, `${k.name}: q frozen`);
  }
});

test('shapes are checked with the op named', () => {
  const q = randn([2, 4, 6], 1);
  assert.throws(
    () => scaledDotProductAttention(q, randn([2, 5, 6], 2), randn([2, 4, 6], 3), { heads: 2 }),
    /value has shape \[2, 4, 6\], expected \[2, 5, 6\]/,
  );
  assert.throws(() => scaledDotProductAttention(q, q, q, { heads: 4 }), /not divisible by heads 4/);
  // A key or value wider than the query is refused, not read in its first columns.
  assert.throws(
    () => scaledDotProductAttention(q, randn([2, 5, 8], 4), randn([2, 5, 6], 5), { heads: 2 }),
    /key has shape \[2, 5, 8\], expected \[batch, S, 6\]/,
  );
  assert.throws(
    () => scaledDotProductAttention(q, randn([2, 5, 6], 6), randn([2, 5, 9], 7), { heads: 2 }),
    /value has shape \[2, 5, 9\], expected \[batch, S, 6\]/,
  );
});
