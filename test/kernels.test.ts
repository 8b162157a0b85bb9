// Every kernel set against one oracle: the same suite runs on the reference kernels and on each
// WebAssembly set this runtime can load (plain SIMD always; relaxed SIMD where it validates, e.g.
// `node --experimental-wasm-relaxed-simd --import tsx --test test/kernels.test.ts` on Node 20).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  gradCheck,
  kernels,
  losses,
  matmul,
  random,
  referenceKernels,
  setKernels,
  tensor,
  transpose,
  type Kernels,
  type Storage,
  type Tensor,
} from '../src/index.js';
import { ModuleBuilder } from '../src/kernels/wasm/asm.js';
import { GEMM_SHAPES } from '../src/kernels/wasm/gemm.js';
import { broadcastPlan } from '../src/shape.js';
import { relaxedSimdSupported } from '../src/kernels/wasm/module.js';
import {
  BINARY_OPS,
  DTYPES,
  LAYOUTS,
  PLANS,
  randomArray,
  SHAPES,
  specialArray,
  UNARY_CASES,
} from './helpers/kernel-cases.js';
import { loadWasmKernels, useWasmKernels, wasmKernelsAvailable } from '../src/kernels/wasm/index.js';
import { assertClose } from './helpers/close.js';
import { buildMlp, fixture, flat, linearParams, type MlpCase } from './helpers/fixtures.js';

const wasmPlain = await loadWasmKernels({ relaxed: false });
const wasmRelaxed = relaxedSimdSupported() ? await loadWasmKernels({ relaxed: true }) : null;
// Two threads on every product, however small, so the whole suite (edges, offsets, NaN) runs split.
const wasmThreads = await loadWasmKernels({ relaxed: false, threads: 2, minThreadWork: 1 });
const SETS: Kernels[] = [referenceKernels, wasmPlain, wasmRelaxed, wasmThreads].filter(
  (k): k is Kernels => k !== null,
);

/** The backprop layouts, and both operands transposed (batched matmul's backward can ask for it). */
const ALL_LAYOUTS = [...LAYOUTS, { name: 'Aᵀ·Bᵀ', transA: true, transB: true }] as const;

/**
 * The oracle: C = op(A)·op(B) by naive float64 sums, and Σₚ|a||b| per element, the scale a sum's rounding
 * error is proportional to (a result that is a tiny difference of large terms has no more digits than that).
 */
function oracle(
  a: Storage,
  ao: number,
  b: Storage,
  bo: number,
  m: number,
  k: number,
  n: number,
  transA: boolean,
  transB: boolean,
): { c: Float64Array; scale: Float64Array } {
  const c = new Float64Array(m * n);
  const scale = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      let t = 0;
      for (let p = 0; p < k; p++) {
        const x = a[ao + (transA ? p * m + i : i * k + p)];
        const y = b[bo + (transB ? j * k + p : p * n + j)];
        s += x * y;
        t += Math.abs(x * y);
      }
      c[i * n + j] = s;
      scale[i * n + j] = t;
    }
  return { c, scale };
}

/** A product's tolerance: `tol` relative to |want| or to the oracle's scale, whichever is larger. */
function productTol(scale: Float64Array, tol: number, what: string) {
  return { rel: tol, abs: scale.map((t) => tol * t), what };
}

test('the matmul shapes cross every block boundary of the wasm kernels', () => {
  for (const s of Object.values(GEMM_SHAPES)) {
    assert.ok(SHAPES.some(([m]) => m > s.mc));
    assert.ok(SHAPES.some(([, k]) => k > s.kc));
    assert.ok(SHAPES.some(([, , n]) => n > s.nc));
  }
});

for (const k of SETS) {
  describe(`matmul kernel: ${k.name}`, () => {
    for (const dt of DTYPES) {
      test(`${dt.name}: every layout and shape agrees with the float64 oracle and the reference`, () => {
        const rng = new random.RandomState(11);
        for (const [m, kk, n] of SHAPES) {
          const a = randomArray(rng, dt.Array, m * kk);
          const b = randomArray(rng, dt.Array, kk * n);
          for (const l of ALL_LAYOUTS) {
            const what = `${m}×${kk}×${n} ${l.name}`;
            const out = new dt.Array(m * n).fill(NaN); // C is overwritten, never accumulated into
            k.matmul(a, 0, b, 0, out, 0, m, kk, n, l.transA, l.transB);
            const want = oracle(a, 0, b, 0, m, kk, n, l.transA, l.transB);
            assertClose(out, want.c, productTol(want.scale, dt.tol, `${what} vs oracle`));
            const ref = new dt.Array(m * n);
            referenceKernels.matmul(a, 0, b, 0, ref, 0, m, kk, n, l.transA, l.transB);
            assertClose(out, ref, productTol(want.scale, dt.tol, `${what} vs reference`));
          }
        }
      });

      test(`${dt.name}: one matrix of a batch through offsets, leaving its neighbours alone`, () => {
        const rng = new random.RandomState(12);
        const [m, kk, n] = [19, 33, 21];
        const [ao, bo, co] = [3 * m * kk + 1, 2 * kk * n + 5, m * n + 7];
        const a = randomArray(rng, dt.Array, ao + m * kk + 9);
        const b = randomArray(rng, dt.Array, bo + kk * n + 2);
        for (const l of ALL_LAYOUTS) {
          const out = new dt.Array(co + m * n + 11).fill(-7);
          k.matmul(a, ao, b, bo, out, co, m, kk, n, l.transA, l.transB);
          const want = oracle(a, ao, b, bo, m, kk, n, l.transA, l.transB);
          assertClose(out.subarray(co, co + m * n), want.c, productTol(want.scale, dt.tol, l.name));
          assert.ok(
            out.subarray(0, co).every((v) => v === -7),
            `${l.name}: wrote before outOffset`,
          );
          assert.ok(
            out.subarray(co + m * n).every((v) => v === -7),
            `${l.name}: wrote past the matrix`,
          );
        }
      });

      test(`${dt.name}: NaN and ±Infinity propagate as in exact arithmetic`, () => {
        const rng = new random.RandomState(13);
        for (const [m, kk, n] of [
          [9, 10, 11],
          [130, 260, 20],
        ]) {
          const a = randomArray(rng, dt.Array, m * kk);
          const b = randomArray(rng, dt.Array, kk * n);
          a[2 * kk + 3] = NaN; // A(2, 3) in the untransposed layout: row 2 of C is NaN
          a[5 * kk + 1] = Infinity; // A(5, 1): row 5 is ±Infinity …
          a[5 * kk + 4] = -Infinity; // … or NaN where ∞ − ∞ meets
          a[7 * kk + 6] = 0;
          b[6 * n + 4] = Infinity; // B(6, 4) with A(7, 6) = 0: C(7, 4) is 0·∞ = NaN
          for (const l of ALL_LAYOUTS) {
            const out = new dt.Array(m * n);
            k.matmul(a, 0, b, 0, out, 0, m, kk, n, l.transA, l.transB);
            const want = oracle(a, 0, b, 0, m, kk, n, l.transA, l.transB);
            assert.ok(
              want.c.some((v) => Number.isNaN(v)) && want.c.some((v) => v === Infinity || v === -Infinity),
            );
            assertClose(out, want.c, productTol(want.scale, dt.tol, `${m}×${kk}×${n} ${l.name}`));
          }
        }
      });

      test(`${dt.name}: an empty inner axis gives zeros; empty outputs are fine`, () => {
        const out = new dt.Array(12).fill(5);
        k.matmul(new dt.Array(0), 0, new dt.Array(0), 0, out, 0, 3, 0, 4, false, false);
        assert.deepEqual(Array.from(out), new Array(12).fill(0));
        k.matmul(new dt.Array(0), 0, new dt.Array(12), 0, new dt.Array(0), 0, 0, 3, 4, false, true);
      });
    }

    // A set with relaxed SIMD in float64 too (`relaxed: true`) fuses its multiply-adds: not these bits.
    const fusedF64 = /^wasm-simd-relaxed(-|$)/.test(k.name);
    test('float64: every layout and shape has the reference bits, at any depth', { skip: fusedF64 }, () => {
      // Past a depth block the sums continue from C in order, so they are the reference's sequential sums.
      const rng = new random.RandomState(15);
      for (const [m, kk, n] of [...SHAPES, [9, 1100, 13] as [number, number, number]]) {
        const a = randomArray(rng, Float64Array, m * kk);
        const b = randomArray(rng, Float64Array, kk * n);
        for (const l of ALL_LAYOUTS) {
          const out = new Float64Array(m * n);
          k.matmul(a, 0, b, 0, out, 0, m, kk, n, l.transA, l.transB);
          const ref = new Float64Array(m * n);
          referenceKernels.matmul(a, 0, b, 0, ref, 0, m, kk, n, l.transA, l.transB);
          assert.deepEqual(out, ref, `${m}×${kk}×${n} ${l.name}`);
        }
      }
    });

    test('operands of mixed element types still multiply (through the reference)', () => {
      const rng = new random.RandomState(14);
      const a = randomArray(rng, Float32Array, 20 * 30);
      const b = randomArray(rng, Float64Array, 30 * 10);
      const out = new Float64Array(200);
      k.matmul(a, 0, b, 0, out, 0, 20, 30, 10, false, false);
      const want = oracle(a, 0, b, 0, 20, 30, 10, false, false);
      assertClose(out, want.c, productTol(want.scale, 1e-12, 'mixed'));
    });
  });
}

// ---------------------------------------------------------------------------------------------------------
// Elementwise kernels. Every set computes these as the reference does (in doubles, rounded once on store),
// so they must agree bit for bit, NaN where NaN and the sign of zero included.

/** Object.is, except that any NaN equals any NaN. */
function assertSame(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++)
    if (!Object.is(got[i], want[i]) && !(Number.isNaN(got[i]) && Number.isNaN(want[i])))
      assert.fail(`${what}[${i}]: got ${got[i]}, expected ${want[i]}`);
}

/** Special values first (NaN, ±∞, ±0, the clamp bounds, ties), then signed randoms; odd lengths. */
for (const k of SETS) {
  describe(`elementwise kernels: ${k.name}`, () => {
    for (const dt of DTYPES) {
      test(`${dt.name}: unary ops and their derivatives, large and tiny arrays, match the reference`, () => {
        const rng = new random.RandomState(21);
        for (const n of [1001, 5]) {
          const x = specialArray(rng, dt.Array, n);
          const g = randomArray(rng, dt.Array, n);
          g[1] = NaN;
          for (const { op, p0, p1 } of UNARY_CASES) {
            const what = `${op}(p0 = ${p0}) n=${n}`;
            const want = new dt.Array(n);
            referenceKernels.unary(op, x, want, p0, p1);
            const got = new dt.Array(n).fill(7);
            k.unary(op, x, got, p0, p1);
            assertSame(got, want, what);
            const wantGrad = new dt.Array(n);
            referenceKernels.unaryGrad(op, x, want, g, wantGrad, p0, p1);
            const gotGrad = new dt.Array(n).fill(7);
            k.unaryGrad(op, x, want, g, gotGrad, p0, p1);
            assertSame(gotGrad, wantGrad, `${what} gradient`);
          }
          // In place, as ops.ts does for neg: out may be the input.
          const inPlace = x.slice();
          k.unary('neg', inPlace, inPlace, 0, 0);
          assertSame(
            inPlace,
            Array.from(x, (v) => -v),
            'neg in place',
          );
        }
      });

      test(`${dt.name}: binary ops under every broadcast plan, and accumulate, match the reference`, () => {
        const rng = new random.RandomState(22);
        for (const { kind, a: aShape, b: bShape } of PLANS) {
          const plan = broadcastPlan(aShape, bShape, 'test');
          assert.equal(plan.kind, kind);
          const a = specialArray(
            rng,
            dt.Array,
            aShape.reduce((x, y) => x * y, 1),
          );
          const b = specialArray(
            rng,
            dt.Array,
            bShape.reduce((x, y) => x * y, 1),
          ).reverse();
          if (kind === 'same') for (let i = 20; i < 40; i++) b[i] = a[i]; // ties for the masks
          for (const op of BINARY_OPS) {
            const want = new dt.Array(plan.size);
            referenceKernels.binary(op, a, b, want, plan);
            const got = new dt.Array(plan.size).fill(7);
            k.binary(op, a, b, got, plan);
            assertSame(got, want, `${op} ${kind}`);
          }
        }
        for (const n of [1001, 5]) {
          const acc = randomArray(rng, dt.Array, n);
          const x = specialArray(rng, dt.Array, n);
          const want = acc.slice();
          referenceKernels.accumulate(want, x);
          k.accumulate(acc, x);
          assertSame(acc, want, `accumulate n=${n}`);
        }
      });
    }
  });
}

describe('WebAssembly kernels: loading', () => {
  test('SIMD is available on this runtime and the set loads', () => {
    assert.equal(wasmKernelsAvailable(), true);
    assert.ok(wasmPlain);
    assert.equal(wasmPlain.name, 'wasm-simd');
  });

  test('useWasmKernels makes a WebAssembly set active; setKernels restores the previous one', async () => {
    const before = kernels();
    assert.equal(await useWasmKernels(), true);
    try {
      assert.match(kernels().name, /^wasm-simd/);
    } finally {
      setKernels(before);
    }
    assert.equal(kernels(), before);
  });

  test('the assembler encodes i32 constants (signed LEB128) at every width', async () => {
    const values = [0, 1, -1, 63, 64, -64, -65, 8191, 8192, -8193, 2 ** 31 - 1, -(2 ** 31), 123456789];
    const mod = new ModuleBuilder();
    values.forEach((v, i) => mod.func(`c${i}`, [], ['i32'], (f) => f.i32(v)));
    const memory = new WebAssembly.Memory({ initial: 1 });
    const { instance } = await WebAssembly.instantiate(mod.build(), { env: { memory } });
    values.forEach((v, i) => assert.equal((instance.exports[`c${i}`] as () => number)(), v));
  });
});

describe('ops on WebAssembly kernels', async () => {
  // Every product in wasm, however small: the fixtures' layers are a few units wide.
  const wasm = (await loadWasmKernels({ relaxed: false, minMatmulWork: 0 })) as Kernels;

  /** Run `fn` with the WebAssembly kernels active. */
  function withWasm<T>(fn: () => T): T {
    const prev = setKernels(wasm);
    try {
      return fn();
    } finally {
      setKernels(prev);
    }
  }

  test('matmul gradients pass gradCheck in every layout the backward uses', () => {
    const rng = new random.RandomState(15);
    const a = rng.randn([9, 13]);
    const b = rng.randn([13, 7]);
    const r = withWasm(() => gradCheck((x: Tensor, y: Tensor) => matmul(transpose(matmul(x, y)), x), [a, b]));
    assert.ok(r.ok, JSON.stringify(r.inputs));
  });

  const mlp = fixture<{ cases: MlpCase[] }>('mlp-gradients.json');
  for (const c of mlp.cases) {
    test(`float64 MLP matches PyTorch within 1e-10: ${c.name}`, () => {
      withWasm(() => {
        const model = buildMlp(c, 'float64');
        const out = model.forward(tensor(c.x, { dtype: 'float64' }));
        const loss =
          c.loss === 'crossEntropy'
            ? losses.crossEntropy(out, c.y as number[])
            : losses.byName[c.loss](out, tensor(c.y as number[][], { dtype: 'float64' }));
        loss.backward();
        const { weights, biases } = linearParams(model);
        assertClose(out.data, flat(c.output), { rel: 1e-10, what: 'output' });
        assertClose(loss.item(), c.lossValue, { rel: 1e-10, what: 'loss' });
        c.gradWeights.forEach((g, i) =>
          assertClose(weights[i].grad!.data, flat(g), { rel: 1e-10, abs: 1e-15, what: `dW${i + 1}` }),
        );
        c.gradBiases.forEach((g, i) =>
          assertClose(biases[i].grad!.data, flat(g), { rel: 1e-10, abs: 1e-15, what: `db${i + 1}` }),
        );
      });
    });
  }
});
