// ops.linear (src/ops.ts, kernels in src/kernels/linear.ts and the WebAssembly set's `linear`,
// `linearBackward`): one graph node whose output and gradients are the bits of the composed path
// (matmul or matmulTransposed, then add) on the reference set and on the WebAssembly set with one thread,
// with two, and with relaxed SIMD where the runtime has it; float32 and float64, with and without bias,
// x of rank 2 and 3, shapes on both sides of the sets' size thresholds; resident operands; gradCheck;
// nn.Linear and attention's projections as one `linear` node.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  add,
  gradCheck,
  linear,
  matmul,
  nn,
  random,
  referenceKernels,
  stepGraph,
  Tensor,
  type DType,
  type Kernels,
} from '../src/index.js';
import { matmulTransposed } from '../src/ops.js';
import { loadWasmKernels } from '../src/kernels/wasm/index.js';
import { relaxedSimdSupported } from '../src/kernels/wasm/module.js';
import { withSet } from './helpers/with-kernels.js';

const wasm = await loadWasmKernels({ relaxed: false });
const wasm2 = await loadWasmKernels({ relaxed: false, threads: 2, minThreadWork: 1 });
// Where the runtime has no relaxed SIMD (Node 20) this set would be wasm2 again: left out then.
const relaxed2 = relaxedSimdSupported()
  ? await loadWasmKernels({ relaxed: true, threads: 2, minThreadWork: 1 })
  : null;
const SETS: Kernels[] = [referenceKernels, wasm, wasm2, relaxed2].filter((k): k is Kernels => k !== null);

function randn(shape: readonly number[], seed: number, dtype: DType): Tensor {
  const rng = new random.RandomState(seed);
  const d = new Float64Array(shape.reduce((a, b) => a * b, 1));
  rng.fillNormal(d, 0, 1);
  return new Tensor(dtype === 'float64' ? d : Float32Array.from(d), shape, true);
}

/** Output and every input's gradient, the output weighted by a fixed random tensor. */
function run(fn: (...xs: Tensor[]) => Tensor, inputs: Tensor[], grads: boolean[]) {
  const xs = inputs.map((t, i) => new Tensor(t.data.slice(), t.shape, grads[i]));
  const y = fn(...xs);
  const w = randn(y.shape, 99, y.dtype);
  y.mul(new Tensor(w.data, w.shape)).sum().backward();
  return { y, out: [y.data, ...xs.map((x) => x.grad?.data ?? null)] };
}

function sameBits(a: ArrayLike<number> | null, b: ArrayLike<number> | null, what: string): void {
  if (a === null || b === null) return assert.equal(a, b, what);
  const bytes = (s: ArrayLike<number>) => new Uint8Array((s as Float64Array).buffer.slice(0));
  const [x, y] = [a as Float64Array, b as Float64Array];
  assert.equal(x.length, y.length, what);
  assert.ok(Buffer.from(bytes(x.slice())).equals(Buffer.from(bytes(y.slice()))), `${what}: bits differ`);
}

// [x shape, in, out]: small (reference products inside the wasm set), mid, and the GPT's sizes.
const SHAPES: [number[], number, number][] = [
  [[3, 2], 2, 1],
  [[1, 5], 5, 4],
  [[4, 3], 3, 5],
  [[2, 7, 16], 16, 24],
  [[3, 33, 40], 40, 17],
  [[8, 16, 128], 128, 384],
];

describe('ops.linear: the composed path’s bits, one graph node', () => {
  for (const K of SETS)
    for (const dtype of ['float64', 'float32'] as const)
      test(`${K.name}, ${dtype}`, () => {
        let seed = 1;
        for (const [xs, inF, outF] of SHAPES)
          for (const transposed of [false, true])
            for (const bias of [true, false])
              for (const grads of [
                [true, true, true],
                [false, true, true],
                [true, false, false],
                [false, false, true],
              ]) {
                if (!bias && !grads[0] && !grads[1]) continue;
                const x = randn(xs, seed++, dtype);
                const w = randn(transposed ? [outF, inF] : [inF, outF], seed++, dtype);
                const b = randn([outF], seed++, dtype);
                const inputs = bias ? [x, w, b] : [x, w];
                const what = `${K.name} ${dtype} ${JSON.stringify(xs)} ${inF}→${outF} T=${transposed} bias=${bias} grads=${grads}`;
                const fused = withSet(K, () =>
                  run((x, w, b) => linear(x, w, b ?? null, { transposed }), inputs, grads),
                );
                const composed = withSet(K, () =>
                  run(
                    (x, w, b) => {
                      const y = transposed ? matmulTransposed(x, w) : matmul(x, w);
                      return b ? add(y, b) : y;
                    },
                    inputs,
                    grads,
                  ),
                );
                assert.equal(fused.y._node?.op, 'linear', what);
                assert.deepEqual(fused.y.shape, composed.y.shape, what);
                fused.out.forEach((o, i) => sameBits(o, composed.out[i], `${what} [${i}]`));
              }
      });
});

describe('ops.linear: resident operands, gradCheck, the layers', () => {
  test('operands and outputs in the WebAssembly memory (Kernels.alloc) give the same bits', (t) => {
    const K = wasm2;
    if (!K?.alloc || K.alloc('float32', 1) === null) return t.skip('no shared memory');
    for (const transposed of [false, true]) {
      const x = randn([4, 9, 32], 5, 'float32');
      const w = randn(transposed ? [48, 32] : [32, 48], 6, 'float32');
      const b = randn([48], 7, 'float32');
      const resident = (s: Tensor) => {
        const d = K.alloc!('float32', s.size)!;
        d.set(s.data);
        return new Tensor(d, s.shape, true);
      };
      const plain = withSet(K, () =>
        run((x, w, b) => linear(x, w, b, { transposed }), [x, w, b], [true, true, true]),
      );
      const inMemory = withSet(K, () => {
        const xs = [x, w, b].map(resident);
        const y = linear(xs[0], xs[1], xs[2], { transposed });
        const g = randn(y.shape, 99, 'float32');
        y.mul(new Tensor(g.data, g.shape)).sum().backward();
        return [y.data, ...xs.map((v) => v.grad!.data)];
      });
      plain.out.forEach((o, i) => sameBits(o, inMemory[i], `resident T=${transposed} [${i}]`));
    }
  });

  test('Kernels.linear and linearBackward write resident outputs in place, the same bits', (t) => {
    const K = wasm2;
    if (!K?.alloc || K.alloc('float32', 1) === null) return t.skip('no shared memory');
    const [rows, k, n] = [40, 24, 36];
    const x = randn([rows, k], 21, 'float32').data;
    const w = randn([k, n], 22, 'float32').data;
    const b = randn([n], 23, 'float32').data;
    const g = randn([rows, n], 24, 'float32').data;
    const outputs = (make: (n: number) => Float32Array) => {
      const o = [make(rows * n), make(rows * k), make(k * n), make(n)];
      K.linear(x, w, b, o[0], rows, k, n, false);
      K.linearBackward(g, x, w, o[1], o[2], o[3], rows, k, n, false);
      return o;
    };
    const plain = outputs((m) => new Float32Array(m));
    const resident = outputs((m) => K.alloc!('float32', m) as Float32Array);
    plain.forEach((o, i) => sameBits(o, resident[i], `resident output [${i}]`));
  });

  test('a set made from the reference one with its own matmul runs that matmul for a Linear', () => {
    let calls = 0;
    const mine: Kernels = {
      ...referenceKernels,
      matmul(...args: Parameters<Kernels['matmul']>) {
        calls++;
        return referenceKernels.matmul(...args);
      },
    };
    const layer = new nn.Linear(3, 2);
    const x = new Tensor(new Float32Array(12).fill(1), [4, 3], true);
    withSet(mine, () => layer.forward(x).sum().backward());
    // One product forward, two backward (x's and the weight's gradients).
    assert.equal(calls, 3);
  });

  test('gradCheck, transposed or not, with and without bias, x of rank 3', () => {
    for (const K of SETS)
      withSet(K, () => {
        for (const transposed of [false, true]) {
          const x = randn([2, 3, 4], 11, 'float64');
          const w = randn(transposed ? [5, 4] : [4, 5], 12, 'float64');
          const b = randn([5], 13, 'float64');
          const r = gradCheck((x, w, b) => linear(x, w, b, { transposed }), [x, w, b]);
          assert.ok(r.ok, `${K.name} T=${transposed}: ${JSON.stringify(r.inputs)}`);
          const r2 = gradCheck((x, w) => linear(x, w, null, { transposed }), [x, w]);
          assert.ok(r2.ok, `${K.name} T=${transposed}, no bias`);
        }
      });
  });

  test('x with one axis takes the composed path; a mismatched weight is matmul’s error', () => {
    const x = randn([4], 1, 'float64');
    const w = randn([4, 3], 2, 'float64');
    const y = linear(x, w, randn([3], 3, 'float64'));
    assert.deepEqual(y.shape, [3]);
    assert.equal(y._node?.op, 'add');
    assert.throws(() => linear(randn([2, 5], 4, 'float64'), w), /inner sizes 5 and 4 differ/);
  });

  test('nn.Linear and MultiheadAttention’s projections are one linear node each', () => {
    const lin = new nn.Linear(3, 2, { dtype: 'float64' });
    const y = lin.forward(randn([4, 3], 1, 'float64'));
    assert.equal(y._node?.op, 'linear');
    assert.deepEqual(y._node?.inputs.slice(1), [lin.weight, lin.bias]);
    const mha = new nn.MultiheadAttention(4, 2, { batchFirst: true, dtype: 'float64' });
    const out = mha.forward(randn([1, 3, 4], 2, 'float64'));
    const o = Array.isArray(out) ? out[0] : out;
    assert.equal((o as Tensor)._node?.op, 'linear');
  });

  test('stepGraph shows a Linear as one node labelled linear with the layer’s name (z1, out)', () => {
    const model = new nn.Sequential(
      new nn.Linear(2, 3, { dtype: 'float64' }),
      new nn.Sigmoid(),
      new nn.Linear(3, 1, { dtype: 'float64' }),
    );
    const g = stepGraph(model, [[0.5, -1]], [[1]], { loss: 'mse' });
    const ops = g.nodes.filter((n) => n.kind === 'op').map((n) => `${n.op}: ${n.name}`);
    assert.deepEqual(ops.slice(0, 3), [
      'linear: z1 [z1_0, z1_1, z1_2]',
      'sigmoid: h1 [h1_0, h1_1, h1_2]',
      'linear: out [out_0]',
    ]);
  });
});
