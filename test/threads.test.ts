// The threaded matrix product: a pool of workers on one shared WebAssembly memory must give the same bits
// as one thread, for every thread count, layout, element type and shape (edges and blocks included); a
// lost worker costs a wait, not a wrong result or a hang; dispose stops the workers.
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { random, type Kernels, type Storage } from '../src/index.js';
import { referenceKernels } from '../src/kernels/reference.js';
import { loadWasmKernels } from '../src/kernels/wasm/index.js';
import { relaxedSimdSupported } from '../src/kernels/wasm/module.js';
import { poolStats, splitProduct, type KernelPool } from '../src/kernels/wasm/pool.js';
import { WasmRuntime } from '../src/kernels/wasm/runtime.js';

type Ctor = Float32ArrayConstructor | Float64ArrayConstructor;

const LAYOUTS = [
  [false, false],
  [false, true],
  [true, false],
  [true, true],
] as const;

/** m × k × n: tiny, ragged, wider than tall and taller than wide, and across every f32 and f64 block. */
const SHAPES: [number, number, number][] = [
  [1, 1, 1],
  [3, 17, 5],
  [17, 257, 255],
  [257, 300, 17],
  [130, 520, 1100],
  [1, 600, 2100],
  [700, 64, 3],
];

function randomArray(rng: random.RandomState, Array: Ctor, n: number): Storage {
  const x = new Array(n);
  for (let i = 0; i < n; i++) x[i] = rng.random() * 2 - 1;
  return x;
}

/** Index of the first element whose bits differ (NaNs compared by value), or −1. */
function firstDifference(a: Storage, b: Storage): number {
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return i;
  return a.length === b.length ? -1 : a.length;
}

async function load(threads: number, relaxed = false): Promise<Kernels> {
  const k = await loadWasmKernels({ relaxed, threads, minThreadWork: 1 });
  assert.ok(k, 'the wasm kernels load');
  return k;
}

test('splitProduct covers every element of C exactly once, in whole register tiles', () => {
  for (const [m, n] of [
    [1, 1],
    [5, 3],
    [64, 1024],
    [1024, 10],
    [33, 33],
    [1000, 7],
  ])
    for (const parts of [1, 2, 3, 4, 7, 16]) {
      const owner = new Int32Array(m * n);
      const rects = splitProduct(m, n, 4, 8, parts);
      assert.ok(rects.length >= 1 && rects.length <= parts);
      for (const r of rects) {
        assert.ok(r.i0 < r.i1 && r.j0 < r.j1, 'no empty part');
        assert.ok((r.i0 % 4 === 0 || r.i0 === m) && (r.j0 % 8 === 0 || r.j0 === n), 'tile-aligned');
        for (let i = r.i0; i < r.i1; i++) for (let j = r.j0; j < r.j1; j++) owner[i * n + j]++;
      }
      assert.ok(
        owner.every((c) => c === 1),
        `m=${m} n=${n} parts=${parts}`,
      );
    }
});

test('the threaded product gives the same bits for 1, 2, 3 and 4 threads in every layout', async () => {
  const sets = [await load(1), await load(2), await load(3), await load(4)];
  assert.deepEqual(
    sets.map((k) => k.name),
    ['wasm-simd', 'wasm-simd-threads2', 'wasm-simd-threads3', 'wasm-simd-threads4'],
  );
  const before = poolStats.workerParts;
  const rng = new random.RandomState(7);
  for (const Array of [Float32Array, Float64Array])
    for (const [m, k, n] of SHAPES) {
      // A batch offset on every operand: the threads must use the same addresses as one thread.
      const a = randomArray(rng, Array, 3 + m * k);
      const b = randomArray(rng, Array, 5 + k * n);
      for (const [transA, transB] of LAYOUTS) {
        const outs = sets.map((set) => {
          const c = new Array(2 + m * n).fill(-7);
          set.matmul(a, 3, b, 5, c, 2, m, k, n, transA, transB);
          return c;
        });
        for (let t = 1; t < outs.length; t++) {
          const at = firstDifference(outs[0], outs[t]);
          assert.equal(
            at,
            -1,
            `${Array.name} ${m}×${k}×${n} tA=${transA} tB=${transB}: ${t + 1} threads differ`,
          );
        }
      }
    }
  assert.ok(poolStats.workerParts > before, 'the workers took part');
});

test('a batch of products in one call: the bits of the products one by one, for 1, 2 and 3 threads', async () => {
  const sets = [await load(1), await load(2), await load(3)];
  const rng = new random.RandomState(9);
  for (const Array of [Float32Array, Float64Array])
    for (const [m, k, n] of [
      [64, 32, 64],
      [5, 17, 3],
      [33, 70, 9],
    ]) {
      // 7 products; A broadcast along the batch (offset 0 twice), B's matrices in an odd order.
      const a = randomArray(rng, Array, 4 * m * k);
      const b = randomArray(rng, Array, 7 * k * n);
      const ao = Int32Array.from([0, 0, 1, 2, 3, 3, 1], (i) => i * m * k);
      const bo = Int32Array.from([6, 5, 4, 3, 2, 1, 0], (i) => i * k * n);
      for (const [transA, transB] of LAYOUTS) {
        const want = new Array(7 * m * n);
        for (let t = 0; t < 7; t++)
          sets[0].matmul(a, ao[t], b, bo[t], want, t * m * n, m, k, n, transA, transB);
        for (const set of sets) {
          const c = new Array(7 * m * n).fill(-7);
          set.matmulBatched(a, ao, b, bo, c, m, k, n, transA, transB);
          const at = firstDifference(want, c);
          assert.equal(
            at,
            -1,
            `${Array.name} ${m}×${k}×${n} tA=${transA} tB=${transB}: ${set.name} differs at ${at}`,
          );
        }
        if (Array === Float64Array) {
          // float64: the reference's bits too.
          const c = new Array(7 * m * n);
          referenceKernels.matmulBatched(a, ao, b, bo, c, m, k, n, transA, transB);
          assert.equal(firstDifference(want, c), -1, `reference ${m}×${k}×${n}`);
        }
      }
    }
});

test('transcendental elementwise ops split among threads give the same bits, forward and derivative', async () => {
  const sets = [await load(1), await load(2), await load(3)];
  const rng = new random.RandomState(10);
  const before = poolStats.workerParts;
  for (const Array of [Float32Array, Float64Array]) {
    const n = 100_003; // above the split's threshold, not a multiple of 4
    const x = randomArray(rng, Array, n).map((v) => 6 * v);
    const g = randomArray(rng, Array, n);
    for (const op of ['gelu', 'exp', 'tanh', 'sigmoid', 'silu'] as const) {
      const outs = sets.map((set) => {
        const y = new Array(n);
        set.unary(op, x, y, 0, 0);
        const dx = new Array(n);
        set.unaryGrad(op, x, y, g, dx, 0, 0);
        return [y, dx];
      });
      for (let t = 1; t < outs.length; t++)
        for (const d of [0, 1])
          assert.equal(
            firstDifference(outs[0][d], outs[t][d]),
            -1,
            `${Array.name} ${op} ${d ? 'derivative' : 'forward'}, ${t + 1} threads`,
          );
    }
  }
  assert.ok(poolStats.workerParts > before, 'the workers took part');
});

test('relaxed SIMD: threads give the same bits as one thread', async () => {
  if (relaxedSimdSupported()) {
    const one = await load(1, true);
    const two = await load(2, true);
    const rng = new random.RandomState(8);
    const [m, k, n] = [130, 520, 300];
    const a = randomArray(rng, Float32Array, m * k);
    const b = randomArray(rng, Float32Array, k * n);
    const c1 = new Float32Array(m * n);
    const c2 = new Float32Array(m * n);
    one.matmul(a, 0, b, 0, c1, 0, m, k, n, false, true);
    two.matmul(a, 0, b, 0, c2, 0, m, k, n, false, true);
    assert.equal(firstDifference(c1, c2), -1);
    return;
  }
  // Node 20 has relaxed SIMD behind a flag only (Chromium has it on): check in a child process with it.
  const r = spawnSync(
    process.execPath,
    ['--experimental-wasm-relaxed-simd', '--import', 'tsx', 'test/helpers/relaxed-threads.ts'],
    { encoding: 'utf8', timeout: 120_000 },
  );
  assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  assert.match(r.stdout, /two threads give one thread's bits/);
});

test('small products stay on the calling thread by default', async () => {
  const k = await loadWasmKernels({ threads: 2 });
  assert.ok(k);
  const before = poolStats.jobs;
  const a = new Float32Array(64 * 64).fill(1);
  const c = new Float32Array(64 * 64);
  k.matmul(a, 0, a, 0, c, 0, 64, 64, 64, false, false);
  assert.equal(c[0], 64);
  assert.equal(poolStats.jobs, before);
});

test("threads: 'auto' loads a set and results still match one thread", async () => {
  const auto = await loadWasmKernels({ threads: 'auto', minThreadWork: 1 });
  assert.ok(auto);
  assert.match(auto.name, /^wasm-simd(-relaxed32)?(-threads\d+)?$/);
  // The same relaxed-SIMD default as `auto` (FMA in float32 products where the runtime has it).
  const one = (await loadWasmKernels({ threads: 1 })) as Kernels;
  const rng = new random.RandomState(9);
  const a = randomArray(rng, Float32Array, 200 * 300);
  const b = randomArray(rng, Float32Array, 300 * 100);
  const c1 = new Float32Array(200 * 100);
  const c2 = new Float32Array(200 * 100);
  one.matmul(a, 0, b, 0, c1, 0, 200, 300, 100, false, false);
  auto.matmul(a, 0, b, 0, c2, 0, 200, 300, 100, false, false);
  assert.equal(firstDifference(c1, c2), -1);
});

/** A runtime with 3 threads (2 workers), every product split, and a short wait for lost workers. */
async function runtimeWithPool() {
  const rt = await WasmRuntime.create({ relaxed: false, threads: 3, minThreadWork: 1, workerTimeoutMs: 300 });
  // Test-only access to the pool inside (private in TypeScript only).
  const pool = (rt as unknown as { pool: KernelPool }).pool;
  const workers = (pool as unknown as { workers: ({ terminate(): Promise<number> } | null)[] }).workers;
  return { rt, pool, workers };
}

function product(rt: WasmRuntime, a: Storage, b: Storage, m: number, k: number, n: number): Float32Array {
  const c = new Float32Array(m * n);
  assert.ok(rt.matmul('f32', a, 0, b, 0, c, 0, m, k, n, false, false));
  return c;
}

test('a worker that dies is taken for lost: its part is redone, the bits are the same, later products go on', async () => {
  const rng = new random.RandomState(5);
  const [m, k, n] = [96, 200, 300];
  const a = randomArray(rng, Float32Array, m * k);
  const b = randomArray(rng, Float32Array, k * n);
  const one = await load(1);
  const want = new Float32Array(m * n);
  one.matmul(a, 0, b, 0, want, 0, m, k, n, false, false);

  const { rt, pool, workers } = await runtimeWithPool();
  assert.equal(firstDifference(product(rt, a, b, m, k, n), want), -1, 'all three threads');
  assert.equal(pool.liveWorkers, 2);
  // Kill one worker from outside, as a crash would.
  await workers[1]?.terminate();
  const redone = poolStats.redoneParts;
  assert.equal(firstDifference(product(rt, a, b, m, k, n), want), -1, 'with a dead worker');
  assert.equal(poolStats.redoneParts, redone + 1, 'the lost part was redone by the caller');
  assert.equal(pool.liveWorkers, 1);
  const before = poolStats.workerParts;
  const started = Date.now();
  assert.equal(firstDifference(product(rt, a, b, m, k, n), want), -1, 'after');
  assert.ok(Date.now() - started < 300, 'no more waiting for the dead worker');
  assert.equal(poolStats.workerParts, before + 1, 'the live worker still takes its part');
  rt.dispose();
});

test('dispose stops the workers; the set keeps working on the calling thread', async () => {
  const rng = new random.RandomState(6);
  const [m, k, n] = [64, 128, 256];
  const a = randomArray(rng, Float32Array, m * k);
  const b = randomArray(rng, Float32Array, k * n);
  const k3 = await load(3);
  const first = new Float32Array(m * n);
  k3.matmul(a, 0, b, 0, first, 0, m, k, n, false, false);
  k3.dispose?.();
  const before = poolStats.workerParts;
  const after = new Float32Array(m * n);
  k3.matmul(a, 0, b, 0, after, 0, m, k, n, false, false);
  assert.equal(firstDifference(after, first), -1);
  assert.equal(poolStats.workerParts, before, 'no worker took part');
});
