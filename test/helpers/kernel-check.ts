// The browser side of test/browser-kernels.test.ts: the test bundles this file with esbuild into the
// folder it serves the built playground from (never into dist/web), imports it in the page, and the page
// starts it again as a module worker for the threaded checks (a browser's main thread may not block in
// Atomics.wait, so threads only work in a worker). Both return plain reports; the test asserts on them.
import { loadWasmKernels, random, referenceKernels, type Kernels, type Storage } from '../../src/index.js';
import { relaxedSimdSupported } from '../../src/kernels/wasm/module.js';
import {
  BINARY_OPS,
  DTYPES,
  LAYOUTS,
  PLANS,
  randomArray,
  SHAPES,
  specialArray,
  UNARY_CASES,
} from './kernel-cases.js';
import { poolStats } from '../../src/kernels/wasm/pool.js';
import { checkWindowKernels, type WindowReport } from './window-cases.js';
import { broadcastPlan } from '../../src/shape.js';

/**
 * The playground's products (float64): batches of up to 30 rows, 7 features, 8 neurons, and the 80×80
 * heatmap grid, in every layout. Depths stay ≤ 30.
 */
const PLAYGROUND_SHAPES: [number, number, number][] = [
  [1, 2, 2],
  [30, 7, 8],
  [30, 8, 8],
  [30, 8, 1],
  [7, 30, 8],
  [8, 30, 8],
  [250, 7, 8],
  [6400, 7, 8],
  [6400, 8, 8],
  [6400, 8, 1],
];

/** m × k × n of at least 2²² multiply-adds (the default minThreadWork), ragged, across the depth blocks. */
const THREAD_SHAPES: [number, number, number][] = [
  [257, 255, 129],
  [67, 1031, 131],
  [130, 260, 257],
];

/** One matrix product checked against the reference. */
export interface MatmulCheck {
  /** `float32 17×257×1 A·Bᵀ`. */
  what: string;
  /** max |wasm − reference| / max(|reference|, Σₚ|a·b|) over C: the error relative to the product's scale. */
  error: number;
  /** The error allowed for the element type. */
  tol: number;
  /** Whether every element has the reference's bits. */
  sameBits: boolean;
}

/** What {@link checkInPage} found. */
export interface PageReport {
  /** `crossOriginIsolated` of the page. */
  isolated: boolean;
  /** Whether this browser has relaxed SIMD (then float32 products use its fused multiply-add by default). */
  relaxed: boolean;
  /** Names of the sets loaded: with default options, with every call forced into wasm, and with threads: 2. */
  names: { defaults: string; forced: string; threadsOnMainThread: string };
  /** Every shape and layout, both element types, on the set that runs every product in wasm. */
  matmul: MatmulCheck[];
  /** One matrix of a batch through offsets: failures (writes outside C, or errors beyond the tolerance). */
  offsets: string[];
  /** The playground's float64 products on the default set, which must have the reference's bits. */
  playground: MatmulCheck[];
  /** Elementwise calls compared bit for bit (unary, unaryGrad, binary, accumulate). */
  elementwiseCases: number;
  /** The elementwise calls whose result differs from the reference, with the first differing element. */
  elementwiseMismatches: string[];
  /** The sliding-window kernels (convolution, pooling) on the set that runs every call in wasm. */
  windows: WindowReport;
}

/** One product of the threaded set against the one-thread set. */
export interface ThreadCheck {
  what: string;
  /** Parts of C the pool's workers computed in this product (0: the caller did it all). */
  workerParts: number;
  /** Whether every byte of C equals the one-thread set's. */
  sameBits: boolean;
  /** max |threaded − reference| / max(|reference|, Σₚ|a·b|) over C, as {@link MatmulCheck.error}. */
  error: number;
  tol: number;
}

/** What {@link checkThreads} found (in a worker). */
export interface WorkerReport {
  isolated: boolean;
  /** Names of the threaded and the one-thread set. */
  names: { threaded: string; single: string };
  /** Milliseconds until the pool's workers first took part in a product. */
  startMs: number;
  products: ThreadCheck[];
  /** The sliding-window kernels on two threads (every call split) against one thread and the reference. */
  windows: WindowReport;
  /** Parts of those calls the pool's workers computed. */
  windowWorkerParts: number;
}

/** Uniform in [−1, 1): signed, so sums cancel as in real products. */
/** Σₚ |op(A)(i, p)·op(B)(p, j)| for every element of C: the scale a dot product's rounding error is relative to. */
function productScale(
  a: Storage,
  ao: number,
  b: Storage,
  bo: number,
  m: number,
  k: number,
  n: number,
  transA: boolean,
  transB: boolean,
): Float64Array {
  const scale = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let t = 0;
      for (let p = 0; p < k; p++)
        t += Math.abs(a[ao + (transA ? p * m + i : i * k + p)] * b[bo + (transB ? j * k + p : p * n + j)]);
      scale[i * n + j] = t;
    }
  return scale;
}

/** The largest |got − want| / max(|want|, scale), or Infinity where they disagree on a non-finite value. */
function relativeError(got: ArrayLike<number>, want: ArrayLike<number>, scale: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    const g = got[i];
    const w = want[i];
    if (!Number.isFinite(g) || !Number.isFinite(w)) {
      if (!Object.is(g, w) && !(Number.isNaN(g) && Number.isNaN(w))) return Infinity;
      continue;
    }
    const d = Math.abs(g - w);
    if (d > 0) worst = Math.max(worst, d / Math.max(Math.abs(w), scale[i]));
  }
  return worst;
}

/** Whether two arrays hold the same bytes. */
function sameBytes(x: Storage, y: Storage): boolean {
  const a = new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
  const b = new Uint8Array(y.buffer, y.byteOffset, y.byteLength);
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The first element where two results differ as JavaScript values (Object.is: the sign of zero counts;
 * any NaN equals any NaN, since engines may differ in NaN payloads), or −1.
 */
function firstDifference(got: ArrayLike<number>, want: ArrayLike<number>): number {
  if (got.length !== want.length) return Math.min(got.length, want.length);
  for (let i = 0; i < want.length; i++)
    if (!Object.is(got[i], want[i]) && !(Number.isNaN(got[i]) && Number.isNaN(want[i]))) return i;
  return -1;
}

/** Compare one product of `k` with the reference's. */
function checkProduct(
  k: Kernels,
  rng: random.RandomState,
  dt: (typeof DTYPES)[number],
  [m, kk, n]: [number, number, number],
  l: (typeof LAYOUTS)[number],
): MatmulCheck {
  const a = randomArray(rng, dt.Array, m * kk);
  const b = randomArray(rng, dt.Array, kk * n);
  const got = new dt.Array(m * n).fill(NaN); // C is overwritten, never accumulated into
  k.matmul(a, 0, b, 0, got, 0, m, kk, n, l.transA, l.transB);
  const want = new dt.Array(m * n);
  referenceKernels.matmul(a, 0, b, 0, want, 0, m, kk, n, l.transA, l.transB);
  const scale = productScale(a, 0, b, 0, m, kk, n, l.transA, l.transB);
  return {
    what: `${dt.name} ${m}×${kk}×${n} ${l.name}`,
    error: relativeError(got, want, scale),
    tol: dt.tol,
    sameBits: firstDifference(got, want) === -1,
  };
}

/** One matrix of a batch, through offsets: the neighbours of C must stay untouched. */
function checkOffsets(k: Kernels): string[] {
  const failures: string[] = [];
  const rng = new random.RandomState(12);
  const [m, kk, n] = [19, 33, 21];
  const [ao, bo, co] = [3 * m * kk + 1, 2 * kk * n + 5, m * n + 7];
  for (const dt of DTYPES) {
    const a = randomArray(rng, dt.Array, ao + m * kk + 9);
    const b = randomArray(rng, dt.Array, bo + kk * n + 2);
    for (const l of LAYOUTS) {
      const what = `${dt.name} ${l.name} with offsets`;
      const out = new dt.Array(co + m * n + 11).fill(-7);
      k.matmul(a, ao, b, bo, out, co, m, kk, n, l.transA, l.transB);
      const want = new dt.Array(m * n);
      referenceKernels.matmul(a, ao, b, bo, want, 0, m, kk, n, l.transA, l.transB);
      const scale = productScale(a, ao, b, bo, m, kk, n, l.transA, l.transB);
      const error = relativeError(out.subarray(co, co + m * n), want, scale);
      if (!(error <= dt.tol)) failures.push(`${what}: error ${error}`);
      if (!out.subarray(0, co).every((v) => v === -7)) failures.push(`${what}: wrote before the offset`);
      if (!out.subarray(co + m * n).every((v) => v === -7)) failures.push(`${what}: wrote past C`);
    }
  }
  return failures;
}

/** Special values first (NaN, ±∞, ±0, ties, the clamp bounds), then signed randoms, some past ±20. */
/** Unary ops, their derivatives, binary ops under every plan and accumulate, against the reference. */
function checkElementwise(k: Kernels): { cases: number; mismatches: string[] } {
  const mismatches: string[] = [];
  let cases = 0;
  const compare = (got: Storage, want: Storage, what: string) => {
    cases++;
    const i = firstDifference(got, want);
    if (i >= 0) mismatches.push(`${k.name} ${what}[${i}]: got ${got[i]}, expected ${want[i]}`);
  };
  const rng = new random.RandomState(21);
  for (const dt of DTYPES) {
    for (const n of [1001, 64, 5]) {
      const x = specialArray(rng, dt.Array, n);
      const g = randomArray(rng, dt.Array, n);
      g[1] = NaN;
      for (const { op, p0, p1 } of UNARY_CASES) {
        const what = `${dt.name} ${op}(p0 = ${p0}) n=${n}`;
        const want = new dt.Array(n);
        referenceKernels.unary(op, x, want, p0, p1);
        const got = new dt.Array(n).fill(7);
        k.unary(op, x, got, p0, p1);
        compare(got, want, what);
        const wantGrad = new dt.Array(n);
        referenceKernels.unaryGrad(op, x, want, g, wantGrad, p0, p1);
        const gotGrad = new dt.Array(n).fill(7);
        k.unaryGrad(op, x, want, g, gotGrad, p0, p1);
        compare(gotGrad, wantGrad, `${what} gradient`);
      }
    }
    for (const { kind, a: aShape, b: bShape } of PLANS) {
      const plan = broadcastPlan(aShape, bShape, 'browser-kernels');
      if (plan.kind !== kind) mismatches.push(`${aShape} with ${bShape}: plan ${plan.kind}, not ${kind}`);
      const size = (s: number[]) => s.reduce((p, q) => p * q, 1);
      const a = specialArray(rng, dt.Array, size(aShape));
      const b = specialArray(rng, dt.Array, size(bShape)).reverse();
      for (const op of BINARY_OPS) {
        const want = new dt.Array(plan.size);
        referenceKernels.binary(op, a, b, want, plan);
        const got = new dt.Array(plan.size).fill(7);
        k.binary(op, a, b, got, plan);
        compare(got, want, `${dt.name} ${op} ${kind}`);
      }
    }
    const acc = specialArray(rng, dt.Array, 999);
    const add = randomArray(rng, dt.Array, 999);
    const want = acc.slice();
    referenceKernels.accumulate(want, add);
    const got = acc.slice();
    k.accumulate(got, add);
    compare(got, want, `${dt.name} accumulate`);
  }
  return { cases, mismatches };
}

/** Whether this browser has relaxed SIMD: the kernels' names say `relaxed32` then. */
export function relaxedHere(): boolean {
  return relaxedSimdSupported();
}

function mustLoad(k: Kernels | null, what: string): Kernels {
  if (!k) throw new Error(`${what}: loadWasmKernels resolved null (no WebAssembly SIMD here)`);
  return k;
}

/**
 * The checks on the page's main thread: load the wasm kernels with the playground's options and with
 * every call forced into wasm (thresholds of 1), then compare them with the reference kernels.
 */
export async function checkInPage(): Promise<PageReport> {
  const defaults = mustLoad(await loadWasmKernels(), 'defaults');
  const forced = mustLoad(await loadWasmKernels({ minMatmulWork: 1, minElements: 1 }), 'forced');
  const onMain = mustLoad(await loadWasmKernels({ threads: 2 }), 'threads: 2');
  const matmul: MatmulCheck[] = [];
  const rng = new random.RandomState(11);
  for (const dt of DTYPES)
    for (const shape of SHAPES) for (const l of LAYOUTS) matmul.push(checkProduct(forced, rng, dt, shape, l));
  const playground: MatmulCheck[] = [];
  for (const shape of PLAYGROUND_SHAPES)
    for (const l of LAYOUTS) playground.push(checkProduct(defaults, rng, DTYPES[1], shape, l));
  const elementwise = [checkElementwise(defaults), checkElementwise(forced)];
  return {
    isolated: globalThis.crossOriginIsolated === true,
    relaxed: relaxedSimdSupported(),
    names: { defaults: defaults.name, forced: forced.name, threadsOnMainThread: onMain.name },
    matmul,
    offsets: checkOffsets(forced),
    playground,
    elementwiseCases: elementwise.reduce((s, e) => s + e.cases, 0),
    elementwiseMismatches: elementwise.flatMap((e) => e.mismatches),
    windows: checkWindowKernels(forced),
  };
}

const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));

/**
 * The checks in a worker: two threads (the default minThreadWork, 2²² multiply-adds) against one on
 * products large enough to be split, every layout and element type. A browser's pool starts its workers
 * in the background, so the first products may run on the calling thread alone: wait until the workers
 * take part, then check that they took part in every product.
 */
export async function checkThreads(): Promise<WorkerReport> {
  const threaded = mustLoad(await loadWasmKernels({ threads: 2 }), 'threads: 2');
  const single = mustLoad(await loadWasmKernels({ threads: 1 }), 'threads: 1');
  const rng = new random.RandomState(31);
  const started = performance.now();
  {
    const [m, k, n] = THREAD_SHAPES[0];
    const a = randomArray(rng, Float32Array, m * k);
    const b = randomArray(rng, Float32Array, k * n);
    const c = new Float32Array(m * n);
    for (;;) {
      const before = poolStats.workerParts;
      threaded.matmul(a, 0, b, 0, c, 0, m, k, n, false, false);
      if (poolStats.workerParts > before) break;
      if (performance.now() - started > 10_000) throw new Error('the pool never started its workers');
      await sleep(10);
    }
  }
  const startMs = performance.now() - started;
  const products: ThreadCheck[] = [];
  for (const dt of DTYPES)
    for (const [m, k, n] of THREAD_SHAPES)
      for (const l of LAYOUTS) {
        const a = randomArray(rng, dt.Array, m * k);
        const b = randomArray(rng, dt.Array, k * n);
        const before = poolStats.workerParts;
        const got = new dt.Array(m * n).fill(NaN);
        threaded.matmul(a, 0, b, 0, got, 0, m, k, n, l.transA, l.transB);
        const workerParts = poolStats.workerParts - before;
        const one = new dt.Array(m * n).fill(NaN);
        single.matmul(a, 0, b, 0, one, 0, m, k, n, l.transA, l.transB);
        const want = new dt.Array(m * n);
        referenceKernels.matmul(a, 0, b, 0, want, 0, m, k, n, l.transA, l.transB);
        products.push({
          what: `${dt.name} ${m}×${k}×${n} ${l.name}`,
          workerParts,
          sameBits: sameBytes(got, one),
          error: relativeError(got, want, productScale(a, 0, b, 0, m, k, n, l.transA, l.transB)),
          tol: dt.tol,
        });
      }
  // The sliding-window kernels with every call split: a set of their own, whose pool starts anew.
  const every = { minMatmulWork: 1, minElements: 1 };
  const split = mustLoad(await loadWasmKernels({ ...every, threads: 2, minThreadWork: 1 }), 'split');
  const one = mustLoad(await loadWasmKernels(every), 'one thread');
  for (;;) {
    const before = poolStats.workerParts;
    split.matmul(
      new Float32Array(64),
      0,
      new Float32Array(64),
      0,
      new Float32Array(64),
      0,
      8,
      8,
      8,
      false,
      false,
    );
    if (poolStats.workerParts > before) break;
    if (performance.now() - started > 20_000) throw new Error('the second pool never started its workers');
    await sleep(10);
  }
  const before = poolStats.workerParts;
  const windows = checkWindowKernels(split, one);
  return {
    isolated: globalThis.crossOriginIsolated === true,
    names: { threaded: threaded.name, single: single.name },
    startMs,
    products,
    windows,
    windowWorkerParts: poolStats.workerParts - before,
  };
}

/** The page's way to {@link checkThreads}: start this module as a module worker and wait for its report. */
export function checkThreadsInWorker(): Promise<WorkerReport> {
  return new Promise((done, fail) => {
    const worker = new Worker(import.meta.url, { type: 'module' });
    worker.onmessage = (e: MessageEvent<{ report?: WorkerReport; error?: string }>) => {
      worker.terminate();
      if (e.data.report) done(e.data.report);
      else fail(new Error(`in the worker: ${e.data.error}`));
    };
    worker.onerror = (e) => {
      worker.terminate();
      fail(new Error(`the check worker failed: ${e.message}`));
    };
    worker.postMessage('threads');
  });
}

/** The part of a dedicated worker's global scope used here (the DOM lib describes a window). */
interface WorkerScope {
  onmessage: ((e: MessageEvent<unknown>) => void) | null;
  postMessage(message: unknown): void;
}

// Loaded as a worker (no document): answer the page's request with the threaded checks.
if (typeof document === 'undefined') {
  const scope = globalThis as unknown as WorkerScope;
  scope.onmessage = () => {
    checkThreads().then(
      (report) => scope.postMessage({ report }),
      (e: unknown) => scope.postMessage({ error: e instanceof Error ? (e.stack ?? e.message) : String(e) }),
    );
  };
}
