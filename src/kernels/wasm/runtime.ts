/**
 * One instantiated kernel module: its memory, the copies of operands in and out of it, and the loops
 * that drive the exported functions. Everything here takes the element type already checked; choosing
 * between wasm and the reference kernels is `index.ts`'s job.
 */
import type { BinaryOp, Conv2dGeometry, NormGeometry, Storage, UnaryOp, Window2d } from '../types.js';
import { add32Names } from './add32.js';
import { CONV_PARAM_BYTES, convNames } from './conv.js';
import { POOL_FIELDS, POOL_PARAM_BYTES, poolNames } from './pooling.js';
import { BINARY, names, UNARY, type BinaryLayout, type GradInput } from './elementwise.js';
import { ELEMENT_BYTES, GEMM_SHAPES, WORK_BYTES, type WasmDType } from './gemm.js';
import {
  convPlan,
  emptyConvPlan,
  fillPositions,
  fillTaps,
  gcd,
  writePoolTables,
  splitRange,
  TABLE_SLACK,
  writeConvFields,
} from './window-plan.js';
import { buildKernelModule, type WasmFeatures } from './module.js';
import { NORM_GRAD_FLAGS, NORM_SCRATCH_BYTES, normNames } from './norm.js';
import { reduceNames } from './reduce.js';
import { recurrentNames } from './recurrent.js';
import {
  ADAM_VARIANTS,
  adamIndex,
  optimNames,
  RMSPROP_VARIANTS,
  rmspropIndex,
  SGD_VARIANTS,
  sgdIndex,
} from './optim.js';
import type {
  AdagradHyper,
  AdamHyper,
  AttentionGeometry,
  CellBuffers,
  RmspropHyper,
  SgdHyper,
} from '../types.js';
import { Heap } from './heap.js';
import { packedScores } from '../attention.js';
import { ATTN_FIELDS, ATTN_PARAM_BYTES, ATTN_SQRT_AT, attentionNames } from './attention.js';
import {
  controlBytes,
  KernelPool,
  splitProduct,
  threadSupport,
  threadSupportSync,
  type Spawner,
} from './pool.js';

type Fn = (...args: number[]) => void;

const PAGE = 65536;

/** Round up to a multiple of 64 bytes: operands start on a cache line. */
function align(bytes: number): number {
  return Math.ceil(bytes / 64) * 64;
}

/** Pages a shared memory may grow to (it must declare a maximum); tried in order, largest first. */
const SHARED_MAX_PAGES = [65535, 32768, 16384];

/** Bytes for an n-element operand of an elementwise op: its loops may run up to 3 elements past the end. */
function region(n: number, size: number): number {
  return align((n + 4) * size);
}

/**
 * Memory layout: one work area per thread (scratch tile and packing buffers, `WORK_BYTES` each; the calling
 * thread's first), the pool's control block, the heap of resident arrays, then the operands of the current
 * call (which move up as the heap grows).
 */
function operandsAt(threads: number): number {
  return align(threads * WORK_BYTES + (threads > 1 ? controlBytes(threads) : 0));
}

/** Whether this runtime may make a shared memory (Node; browser pages that are cross-origin isolated). */
function sharedMemorySupported(): boolean {
  return (
    typeof SharedArrayBuffer === 'function' &&
    (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated !== false
  );
}

/** The array a derivative's rule names. */
function gradArray(name: GradInput, x: Storage, y: Storage, g: Storage): Storage {
  return name === 'x' ? x : name === 'y' ? y : g;
}

/**
 * The elementwise ops a pool splits among its threads, by ranges of elements, from
 * {@link MIN_THREAD_ELEMENTS} elements up: the transcendental ones (tens of ns an element; GELU's forward
 * and derivative were a sixth of a GPT step), and only those without parameters, since a worker passes
 * integer arguments only. Each element's arithmetic is the same on any thread: the same bits.
 */
const THREADED_UNARY: readonly UnaryOp[] = ['exp', 'log', 'sigmoid', 'tanh', 'gelu', 'softplus', 'silu'];
const MIN_THREAD_ELEMENTS = 1 << 15;

/** The exported functions the pool's workers may run (a part names one by its index here). */
const POOL_FUNCTIONS: readonly string[] = [
  'f32_gemm',
  'f64_gemm',
  ...(['f32', 'f64'] as const).flatMap((dt) => [
    convNames.forward(dt),
    convNames.inputGrad(dt),
    convNames.weightGrad(dt),
    poolNames.max(dt),
    poolNames.maxGrad(dt),
    poolNames.avg(dt),
    poolNames.avgGrad(dt),
  ]),
  'f32_gemm_batched',
  'f64_gemm_batched',
  ...(['f32', 'f64'] as const).flatMap((dt) => [
    attentionNames.scores(dt),
    attentionNames.context(dt),
    attentionNames.backward(dt),
  ]),
  ...(['f32', 'f64'] as const).flatMap((dt) =>
    THREADED_UNARY.flatMap((op) => [names.unary(dt, op), names.grad(dt, op)]),
  ),
];

/** Each pool function's index (a map, so a call looks its function up without searching the list). */
const POOL_INDEX = new Map(POOL_FUNCTIONS.map((name, i) => [name, i]));
const poolIndex = (name: string): number => POOL_INDEX.get(name) ?? -1;

/** The pooling kernels' export names per element type (made once: calls build no strings). */
const POOL_NAMES = {
  f32: {
    max: poolNames.max('f32'),
    maxGrad: poolNames.maxGrad('f32'),
    avg: poolNames.avg('f32'),
    avgGrad: poolNames.avgGrad('f32'),
  },
  f64: {
    max: poolNames.max('f64'),
    maxGrad: poolNames.maxGrad('f64'),
    avg: poolNames.avg('f64'),
    avgGrad: poolNames.avgGrad('f64'),
  },
};

/** The convolution drivers' export names per element type. */
const CONV_NAMES = {
  f32: {
    forward: convNames.forward('f32'),
    inputGrad: convNames.inputGrad('f32'),
    weightGrad: convNames.weightGrad('f32'),
  },
  f64: {
    forward: convNames.forward('f64'),
    inputGrad: convNames.inputGrad('f64'),
    weightGrad: convNames.weightGrad('f64'),
  },
};

/** Each pooling field's i32 index in the parameter block. */
const POOL = Object.fromEntries(POOL_FIELDS.map((f, i) => [f, i])) as Record<
  (typeof POOL_FIELDS)[number],
  number
>;

/** Each attention field's i32 index in the parameter block. */
const ATTN = Object.fromEntries(ATTN_FIELDS.map((f, i) => [f, i])) as Record<
  (typeof ATTN_FIELDS)[number],
  number
>;

/** A pooling tap costs about this many multiply-adds of a product (for `minThreadWork`). */
const POOL_TAP_WORK = 16;

/** Lays out one call's regions one after another from a start address, each on a cache line. */
class Frame {
  constructor(public end: number) {}

  /** Start again at `end` (the runtime keeps one frame, so a call allocates none). */
  reset(end: number): this {
    this.end = end;
    return this;
  }

  /** The address of the next `bytes` bytes. */
  take(bytes: number): number {
    const at = this.end;
    this.end = align(at + bytes);
    return at;
  }
}

/** wasm32 addresses stop at 4 GiB; a call needing more is left to the reference. */
const MAX_BYTES = 2 ** 32 - PAGE;

/** Options of {@link WasmRuntime.create}. */
export interface RuntimeOptions extends WasmFeatures {
  /** Threads for large products, the caller included (1: no pool, a plain memory). */
  threads: number;
  /** Products of fewer multiply-adds than this stay on the calling thread. */
  minThreadWork: number;
  /** Least time to wait for a worker's part before taking it for lost (ms; tests shorten it). */
  workerTimeoutMs?: number;
}

/** What {@link WasmRuntime.create} compiles and instantiates: the memory, module bytes and threads. */
interface RuntimePlan {
  features: WasmFeatures;
  memory: WebAssembly.Memory;
  bytes: Uint8Array<ArrayBuffer>;
  /** Threads the memory has work areas for (1 without a pool). */
  threads: number;
  shared: boolean;
  /** How to start the pool's workers; null for one thread. */
  spawner: Spawner | null;
}

/** The exported functions of one element type, looked up once so calls build no strings. */
interface DTypeFns {
  gemm: Fn;
  gemmBatched: Fn;
  packA: Fn;
  unary: Partial<Record<UnaryOp, Fn>>;
  grad: Partial<Record<UnaryOp, Fn>>;
  binary: Record<BinaryLayout, Partial<Record<BinaryOp, Fn>>>;
  reduceCols: Record<'sum' | 'max', Fn>;
  reduceRows: Record<'sum' | 'max', Fn>;
  reduceInto: Record<'sum' | 'max', Fn>;
  /** The optimizer variants by `sgdIndex`, `adamIndex`, `rmspropIndex`, and weight decay (Adagrad). */
  sgd: Fn[];
  adam: Fn[];
  rmsprop: Fn[];
  adagrad: Fn[];
}

/** One instantiated kernel module and, with threads, the pool that shares its memory. */
export class WasmRuntime {
  private f32 = new Float32Array(0);
  private f64 = new Float64Array(0);
  private i32 = new Int32Array(0);
  /** The one frame calls lay out their regions with, and the pooling tables' column range. */
  private readonly frame = new Frame(0);
  private readonly cols: [number, number] = [0, 0];
  /** The plan of the convolution being called (filled in per call). */
  private readonly plan = emptyConvPlan();
  private readonly fns: Record<WasmDType, DTypeFns>;
  /** The fused recurrent cells' functions (`recurrent.ts`). */
  private readonly cellFns: Record<
    WasmDType,
    Record<'lstmForward' | 'lstmBackward' | 'gruForward' | 'gruBackward', Fn>
  >;

  /** The normalization kernels' functions (`norm.ts`). */
  private readonly normFns: Record<WasmDType, Record<keyof typeof normNames, Fn>>;

  /** Lowest address the operands may use: past the work areas, raised when a worker is lost. */
  private operandsFloor: number;
  /** The pool for large products, or null for a single thread (or once disposed). */
  private pool: KernelPool | null = null;
  /** Resident arrays (shared memory only: views of a plain memory would detach when it grows). */
  private readonly heap: Heap | null;
  /** Byte address of each resident array's first element. */
  private readonly resident = new WeakMap<Storage, number>();
  /** Frees a resident array's block once its view is garbage-collected (unless freed before). */
  private readonly reclaim: FinalizationRegistry<number> | null;

  private constructor(
    /** What the module was built to use. */
    readonly features: WasmFeatures,
    private readonly memory: WebAssembly.Memory,
    private readonly exports: WebAssembly.Exports,
    threads: number,
    private readonly minThreadWork: number,
    shared: boolean,
  ) {
    this.operandsFloor = operandsAt(threads);
    this.heap = shared ? new Heap(this.operandsFloor) : null;
    this.reclaim =
      shared && typeof FinalizationRegistry === 'function'
        ? new FinalizationRegistry((at: number) => this.heap?.release(at))
        : null;
    const fn = (name: string) => exports[name] as Fn;
    const table = (dt: WasmDType): DTypeFns => {
      const t: DTypeFns = {
        gemm: fn(`${dt}_gemm`),
        gemmBatched: fn(`${dt}_gemm_batched`),
        packA: fn(`${dt}_packA`),
        unary: {},
        grad: {},
        binary: { same: {}, scalarA: {}, scalarB: {}, rowB: {} },
        reduceCols: { sum: fn(reduceNames.cols(dt, 'sum')), max: fn(reduceNames.cols(dt, 'max')) },
        reduceRows: { sum: fn(reduceNames.rows(dt, 'sum')), max: fn(reduceNames.rows(dt, 'max')) },
        reduceInto: { sum: fn(reduceNames.into(dt, 'sum')), max: fn(reduceNames.into(dt, 'max')) },
        sgd: [],
        adam: [],
        rmsprop: [],
        adagrad: [fn(optimNames.adagrad(dt, false)), fn(optimNames.adagrad(dt, true))],
      };
      for (const v of SGD_VARIANTS)
        t.sgd[sgdIndex(v.momentum, v.weightDecay, v.nesterov, v.first)] = fn(optimNames.sgd(dt, v));
      for (const v of ADAM_VARIANTS)
        t.adam[adamIndex(v.decay, v.weightDecay, v.amsgrad)] = fn(optimNames.adam(dt, v));
      for (const v of RMSPROP_VARIANTS)
        t.rmsprop[rmspropIndex(v.weightDecay, v.centered, v.momentum)] = fn(optimNames.rmsprop(dt, v));
      for (const op of Object.keys(UNARY) as UnaryOp[]) {
        if (UNARY[op].forward) t.unary[op] = fn(names.unary(dt, op));
        if (UNARY[op].grad) t.grad[op] = fn(names.grad(dt, op));
      }
      for (const op of Object.keys(BINARY) as BinaryOp[])
        for (const layout of Object.keys(t.binary) as BinaryLayout[])
          t.binary[layout][op] = fn(names.binary(dt, op, layout));
      if (dt === 'f32') {
        // Float32 additions in f32x4 lanes, the same bits (add32.ts).
        t.binary.same.add = fn(add32Names.same);
        t.binary.rowB.add = fn(add32Names.rowB);
        t.reduceCols.sum = fn(add32Names.cols);
      }
      return t;
    };
    this.fns = { f32: table('f32'), f64: table('f64') };
    const cells = (dt: WasmDType) => ({
      lstmForward: fn(recurrentNames.lstmForward(dt)),
      lstmBackward: fn(recurrentNames.lstmBackward(dt)),
      gruForward: fn(recurrentNames.gruForward(dt)),
      gruBackward: fn(recurrentNames.gruBackward(dt)),
    });
    this.cellFns = { f32: cells('f32'), f64: cells('f64') };
    const norms = (dt: WasmDType) => ({
      moments: fn(normNames.moments(dt)),
      normalize: fn(normNames.normalize(dt)),
      gradGroup: fn(normNames.gradGroup(dt)),
      gradInner: fn(normNames.gradInner(dt)),
    });
    this.normFns = { f32: norms('f32'), f64: norms('f64') };
    this.refreshViews();
  }

  /**
   * Compile and instantiate asynchronously (what browsers' main threads require: they refuse large
   * synchronous compiles). With more than one thread the memory is shared and a pool is prepared (its
   * workers start on the first large product); where this runtime cannot run one (see `threadSupport`),
   * the runtime is single-threaded.
   */
  static async create(options: RuntimeOptions): Promise<WasmRuntime> {
    const plan = WasmRuntime.plan(options, options.threads > 1 ? await threadSupport() : null);
    const module = await WebAssembly.compile(plan.bytes);
    const instance = await WebAssembly.instantiate(module, { env: { memory: plan.memory } });
    return WasmRuntime.finish(plan, module, instance, options);
  }

  /**
   * {@link create} synchronously: for Node and Web Workers, which allow large synchronous compiles (a
   * browser's main thread throws). Throws where the runtime refuses to compile.
   */
  static createSync(options: RuntimeOptions): WasmRuntime {
    const plan = WasmRuntime.plan(options, options.threads > 1 ? threadSupportSync() : null);
    const module = new WebAssembly.Module(plan.bytes);
    const instance = new WebAssembly.Instance(module, { env: { memory: plan.memory } });
    return WasmRuntime.finish(plan, module, instance, options);
  }

  /**
   * The memory and module bytes for `options`. A shared memory (where the runtime allows one: Node,
   * cross-origin isolated pages) never detaches its views when it grows, so arrays can live in it; a pool
   * needs one anyway. Without one, a plain memory and one thread.
   */
  private static plan(options: RuntimeOptions, spawner: Spawner | null): RuntimePlan {
    const features: WasmFeatures = { relaxed: options.relaxed, relaxed64: options.relaxed64 ?? false };
    if (spawner || sharedMemorySupported()) {
      const threads = spawner ? options.threads : 1;
      const minPages = Math.ceil(operandsAt(threads) / PAGE) + 1;
      for (const maxPages of SHARED_MAX_PAGES) {
        let memory: WebAssembly.Memory;
        try {
          memory = new WebAssembly.Memory({ initial: minPages, maximum: maxPages, shared: true });
        } catch {
          // The engine could not reserve that much address space: try a smaller maximum.
          continue;
        }
        const bytes = buildKernelModule(features, { minPages, maxPages, shared: true });
        return { features, memory, bytes, threads, shared: true, spawner };
      }
    }
    const memory = new WebAssembly.Memory({ initial: Math.ceil(operandsAt(1) / PAGE) + 1 });
    return { features, memory, bytes: buildKernelModule(features), threads: 1, shared: false, spawner: null };
  }

  /** The runtime over an instance of the planned module, and its pool where the plan has threads. */
  private static finish(
    plan: RuntimePlan,
    module: WebAssembly.Module,
    instance: WebAssembly.Instance,
    options: RuntimeOptions,
  ): WasmRuntime {
    const { memory, threads, shared, spawner } = plan;
    const rt = new WasmRuntime(
      plan.features,
      memory,
      instance.exports,
      threads,
      options.minThreadWork,
      shared,
    );
    if (spawner && threads > 1)
      // The control block sits right after the work areas (see operandsAt).
      rt.pool = new KernelPool(
        spawner,
        module,
        memory,
        threads * WORK_BYTES,
        threads,
        POOL_FUNCTIONS,
        (t) => t * WORK_BYTES,
        () => rt.abandonOperands(),
        options.workerTimeoutMs,
      );
    return rt;
  }

  /** Threads large products run on (1 without a pool). */
  get threads(): number {
    return this.pool?.threads ?? 1;
  }

  /**
   * A worker that timed out may still write into the operands of the call it was given: later calls put
   * their operands past all the memory used so far, which that worker never touches.
   */
  private abandonOperands(): void {
    this.operandsFloor = align(this.memory.buffer.byteLength);
    this.heap?.skipTo(this.operandsFloor);
  }

  /** Where the operands of a call start: above the heap of resident arrays and the floor. */
  private get operands(): number {
    return this.heap ? Math.max(this.operandsFloor, align(this.heap.end)) : this.operandsFloor;
  }

  /**
   * An array of `n` elements that lives in this runtime's memory, so kernel calls use it in place instead
   * of copying it in and out; null where the memory is not shared (its views would detach as it grows) or
   * cannot grow. Its block returns to the heap on `free` or once the array is garbage-collected; a
   * `scratch` array (tidy's) is not zeroed and returns only on `free`.
   */
  alloc(dt: WasmDType, n: number, scratch = false): Storage | null {
    if (!this.heap) return null;
    const size = ELEMENT_BYTES[dt];
    // Padded like every operand: the loops may write up to three elements past the end.
    const at = this.heap.alloc(region(n, size));
    if (!this.reserve(this.operands)) {
      this.heap.release(at);
      return null;
    }
    const view =
      dt === 'f32'
        ? new Float32Array(this.memory.buffer, at, n)
        : new Float64Array(this.memory.buffer, at, n);
    this.resident.set(view, at);
    if (!scratch) {
      view.fill(0);
      this.reclaim?.register(view, at, view);
    }
    return view;
  }

  /** Give back a resident array's block now (the array must not be used again); others are ignored. */
  free(view: Storage): void {
    const at = this.resident.get(view);
    if (at === undefined) return;
    this.resident.delete(view);
    this.reclaim?.unregister(view);
    this.heap?.release(at);
  }

  /** Stop the pool's workers; products then run on the calling thread. */
  dispose(): void {
    this.pool?.dispose();
    this.pool = null;
  }

  /**
   * Make the memory at least `bytes` long; false where it cannot grow that far (the caller falls back).
   * The memory never shrinks: it stays as large as the largest call so far, so later calls reuse it.
   */
  private reserve(bytes: number): boolean {
    const have = this.memory.buffer.byteLength;
    if (bytes <= have) return true;
    if (bytes > MAX_BYTES) return false;
    try {
      this.memory.grow(Math.ceil((bytes - have) / PAGE));
    } catch {
      return false;
    }
    this.refreshViews();
    return true;
  }

  /** Views over the memory; growing it detaches the old buffer, so they are remade then. */
  private refreshViews(): void {
    this.f32 = new Float32Array(this.memory.buffer);
    this.f64 = new Float64Array(this.memory.buffer);
    this.i32 = new Int32Array(this.memory.buffer);
  }

  /**
   * The address of `len` elements of `src` from `offset`: where they are if `src` is resident, else at
   * `ptr`, copied there.
   */
  private put(dt: WasmDType, src: Storage, offset: number, len: number, ptr: number): number {
    const home = this.resident.get(src);
    if (home !== undefined) return home + offset * ELEMENT_BYTES[dt];
    const view = dt === 'f32' ? this.f32 : this.f64;
    const at = ptr / ELEMENT_BYTES[dt];
    if (offset === 0 && src.length === len) view.set(src, at);
    else view.set(src.subarray(offset, offset + len), at);
    return ptr;
  }

  /** Where a result for `dst` from `offset` is written: in place if `dst` is resident, else at `ptr`. */
  private target(dt: WasmDType, dst: Storage, offset: number, ptr: number): number {
    const home = this.resident.get(dst);
    return home !== undefined ? home + offset * ELEMENT_BYTES[dt] : ptr;
  }

  /** Copy `len` elements from byte address `ptr` into `dst` at `offset`, unless `ptr` is already there. */
  private take(dt: WasmDType, ptr: number, len: number, dst: Storage, offset: number): void {
    if (this.target(dt, dst, offset, -1) === ptr) return;
    const view = dt === 'f32' ? this.f32 : this.f64;
    const at = ptr / ELEMENT_BYTES[dt];
    dst.set(view.subarray(at, at + len), offset);
  }

  /** C = op(A)·op(B) as the `Kernels.matmul` contract says; false if it did not fit in memory. */
  matmul(
    dt: WasmDType,
    a: Storage,
    ao: number,
    b: Storage,
    bo: number,
    c: Storage,
    co: number,
    m: number,
    k: number,
    n: number,
    transA: boolean,
    transB: boolean,
  ): boolean {
    const size = ELEMENT_BYTES[dt];
    const fr = this.frame.reset(this.operands);
    const aAt = fr.take(m * k * size);
    const bAt = fr.take(k * n * size);
    const cAt = fr.take(m * n * size);
    if (!this.reserve(fr.end)) return false;
    const aPtr = this.put(dt, a, ao, m * k, aAt);
    const bPtr = this.put(dt, b, bo, k * n, bAt);
    // C in place when resident, unless it is also an operand.
    const cPtr = c === a || c === b ? cAt : this.target(dt, c, co, cAt);
    this.gemmAt(dt, aPtr, bPtr, cPtr, m, k, n, transA, transB);
    this.take(dt, cPtr, m * n, c, co);
    return true;
  }

  /**
   * C = op(A)·op(B) on operands already in memory, at byte addresses: the blocked loops in wasm (`gemm`),
   * over all of C here or over one rectangle per thread from `minThreadWork` multiply-adds up. Each element
   * of C is computed by one thread in the same order: the same bits for any thread count.
   */
  private gemmAt(
    dt: WasmDType,
    aPtr: number,
    bPtr: number,
    cPtr: number,
    m: number,
    k: number,
    n: number,
    transA: boolean,
    transB: boolean,
  ): void {
    const s = GEMM_SHAPES[dt];
    const { gemm } = this.fns[dt];
    // Element strides of op(A)(i, p) along i and p, and of op(B)(p, j) along j and p: a transposed
    // operand is only packed differently.
    const aI = transA ? 1 : k;
    const aP = transA ? m : 1;
    const bJ = transB ? k : 1;
    const bP = transB ? 1 : n;
    if (this.pool && m * k * n >= this.minThreadWork) {
      const parts = splitProduct(m, n, s.mr, s.nr, this.pool.threads).map((p) => [
        aPtr,
        bPtr,
        cPtr,
        aI,
        aP,
        bJ,
        bP,
        n,
        k,
        p.i0,
        p.i1,
        p.j0,
        p.j1,
      ]);
      this.pool.run(poolIndex(`${dt}_gemm`), parts, (a, work) =>
        gemm(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], work),
      );
    } else gemm(aPtr, bPtr, cPtr, aI, aP, bJ, bP, n, k, 0, m, 0, n, 0);
  }

  /**
   * `Kernels.linear`: x, W and the bias copied in (unless resident), the product kept in memory and the
   * bias added to each row by the binary add's own `rowB` loop, the result copied out once; false if it
   * did not fit. The caller sends a bias only with n ≥ 2 (the `rowB` layout).
   */
  linear(
    dt: WasmDType,
    x: Storage,
    w: Storage,
    bias: Storage | null,
    out: Storage,
    rows: number,
    k: number,
    n: number,
    transW: boolean,
  ): boolean {
    const size = ELEMENT_BYTES[dt];
    const fr = this.frame.reset(this.operands);
    const xAt = fr.take(region(rows * k, size));
    const wAt = fr.take(region(k * n, size));
    const bAt = bias ? fr.take(region(n, size)) : 0;
    const yAt = bias ? fr.take(region(rows * n, size)) : 0;
    const oAt = fr.take(region(rows * n, size));
    if (!this.reserve(fr.end)) return false;
    const xPtr = this.put(dt, x, 0, rows * k, xAt);
    const wPtr = this.put(dt, w, 0, k * n, wAt);
    const inputs = out === x || out === w || out === bias;
    const o = inputs ? oAt : this.target(dt, out, 0, oAt);
    if (bias === null) this.gemmAt(dt, xPtr, wPtr, o, rows, k, n, false, transW);
    else {
      const bPtr = this.put(dt, bias, 0, n, bAt);
      this.gemmAt(dt, xPtr, wPtr, yAt, rows, k, n, false, transW);
      (this.fns[dt].binary.rowB.add as Fn)(yAt, bPtr, o, rows, n);
    }
    this.take(dt, o, rows * n, out, 0);
    return true;
  }

  /**
   * `Kernels.linearBackward`: g copied in once (unless resident) for the two products and the bias
   * gradient (`reduceCols`' sum, as `reduce` runs it), x and W as the products need them, each gradient
   * copied out once; a null gradient is skipped. False if it did not fit.
   */
  linearBackward(
    dt: WasmDType,
    g: Storage,
    x: Storage,
    w: Storage,
    gx: Storage | null,
    gw: Storage | null,
    gb: Storage | null,
    rows: number,
    k: number,
    n: number,
    transW: boolean,
  ): boolean {
    const size = ELEMENT_BYTES[dt];
    const fr = this.frame.reset(this.operands);
    const gAt = fr.take(region(rows * n, size));
    const xAt = gw ? fr.take(region(rows * k, size)) : 0;
    const wAt = gx ? fr.take(region(k * n, size)) : 0;
    const gxAt = gx ? fr.take(region(rows * k, size)) : 0;
    const gwAt = gw ? fr.take(region(k * n, size)) : 0;
    const gbAt = gb ? fr.take(region(n, size)) : 0;
    if (!this.reserve(fr.end)) return false;
    const gPtr = this.put(dt, g, 0, rows * n, gAt);
    // An output in place when resident, unless it is also an operand.
    const at = (d: Storage, scratch: number) =>
      d === g || d === x || d === w ? scratch : this.target(dt, d, 0, scratch);
    if (gx !== null) {
      const wPtr = this.put(dt, w, 0, k * n, wAt);
      const o = at(gx, gxAt);
      this.gemmAt(dt, gPtr, wPtr, o, rows, n, k, false, !transW);
      this.take(dt, o, rows * k, gx, 0);
    }
    if (gw !== null) {
      const xPtr = this.put(dt, x, 0, rows * k, xAt);
      const o = at(gw, gwAt);
      if (transW) this.gemmAt(dt, gPtr, xPtr, o, n, rows, k, true, false);
      else this.gemmAt(dt, xPtr, gPtr, o, k, rows, n, true, false);
      this.take(dt, o, k * n, gw, 0);
    }
    if (gb !== null) {
      const o = at(gb, gbAt);
      this.reduceColsAt(dt, 'sum', gPtr, o, rows, n);
      this.take(dt, o, n, gb, 0);
    }
    return true;
  }

  /**
   * `Kernels.matmulBatched`: A and B copied in once (unless resident), every product of the batch in one
   * wasm call (or one per thread, each a range of whole products), C copied out once; false if it did not
   * fit in memory.
   */
  matmulBatched(
    dt: WasmDType,
    a: Storage,
    aOffsets: Int32Array,
    b: Storage,
    bOffsets: Int32Array,
    c: Storage,
    m: number,
    k: number,
    n: number,
    transA: boolean,
    transB: boolean,
  ): boolean {
    const size = ELEMENT_BYTES[dt];
    const count = aOffsets.length;
    const fr = this.frame.reset(this.operands);
    const aAt = fr.take(a.length * size);
    const bAt = fr.take(b.length * size);
    const cAt = fr.take(count * m * n * size);
    const aOffAt = fr.take(count * 4);
    const bOffAt = fr.take(count * 4);
    if (!this.reserve(fr.end)) return false;
    const aPtr = this.put(dt, a, 0, a.length, aAt);
    const bPtr = this.put(dt, b, 0, b.length, bAt);
    const cPtr = c === a || c === b ? cAt : this.target(dt, c, 0, cAt);
    this.i32.set(aOffsets, aOffAt / 4);
    this.i32.set(bOffsets, bOffAt / 4);
    const args = [aPtr, bPtr, cPtr, aOffAt, bOffAt];
    // Strides as in `matmul`.
    args.push(transA ? 1 : k, transA ? m : 1, transB ? k : 1, transB ? 1 : n, n, k, m);
    const { gemmBatched } = this.fns[dt];
    const threads = Math.min(count, this.threadsFor(count * m * k * n));
    if (this.pool && threads > 1) {
      const parts = Array.from({ length: threads }, (_, p) => [
        ...args,
        Math.floor((p * count) / threads),
        Math.floor(((p + 1) * count) / threads),
      ]);
      this.pool.run(poolIndex(`${dt}_gemm_batched`), parts, (x, work) => gemmBatched(...x, work));
    } else gemmBatched(...args, 0, count, 0);
    this.take(dt, cPtr, count * m * n, c, 0);
    return true;
  }

  /** Threads a call of `macs` multiply-adds may use. */
  private threadsFor(macs: number): number {
    return this.pool && macs >= this.minThreadWork ? this.pool.threads : 1;
  }

  /**
   * Run the parts of one call of the exported function `name`, each its argument list (the work area is
   * appended): on the pool where there is more than one part, else here.
   */
  private runParts(name: string, parts: number[][]): void {
    const fn = this.exports[name] as Fn;
    const local = (a: readonly number[], work: number) => fn(...a, work);
    if (this.pool && parts.length > 1) this.pool.run(poolIndex(name), parts, local);
    else for (const a of parts) local(a, 0);
  }

  /** `Kernels.conv2d` in wasm; false if it did not fit. */
  conv2d(
    dt: WasmDType,
    x: Storage,
    w: Storage,
    bias: Storage | null,
    out: Storage,
    g: Conv2dGeometry,
  ): boolean {
    return this.conv('forward', dt, g, x, w, bias, out);
  }

  /** `Kernels.conv2dInputGrad` in wasm; false if it did not fit. */
  conv2dInputGrad(dt: WasmDType, gOut: Storage, w: Storage, gx: Storage, g: Conv2dGeometry): boolean {
    return this.conv('inputGrad', dt, g, gOut, w, null, gx);
  }

  /** `Kernels.conv2dWeightGrad` in wasm; false if it did not fit. */
  conv2dWeightGrad(dt: WasmDType, x: Storage, gOut: Storage, gw: Storage, g: Conv2dGeometry): boolean {
    return this.conv('weightGrad', dt, g, x, gOut, null, gw);
  }

  /**
   * One convolution call (`conv.ts` has the drivers): lay out the parameter block, the tap and position
   * tables, the packed weights (forward: W; input gradient: Wᵀ; packed once for every part), the operands
   * and each part's scratch; copy in what is not resident; run the parts; copy out. `a`, `b` are x and w
   * (forward), gOut and w (input gradient), x and gOut (weight gradient).
   */
  private conv(
    kind: 'forward' | 'inputGrad' | 'weightGrad',
    dt: WasmDType,
    g: Conv2dGeometry,
    a: Storage,
    b: Storage,
    bias: Storage | null,
    out: Storage,
  ): boolean {
    const S = ELEMENT_BYTES[dt];
    const s = GEMM_SHAPES[dt];
    const plan = convPlan(g, dt, this.plan);
    const fr = this.frame.reset(this.operands);
    const geo = fr.take(CONV_PARAM_BYTES);
    const taps = fr.take((plan.k + TABLE_SLACK) * 4);
    const pos = fr.take((plan.p + TABLE_SLACK) * 4);
    const packed = fr.take(
      kind === 'forward'
        ? g.groups * plan.k * plan.opgR * S
        : kind === 'inputGrad'
          ? g.groups * plan.opg * plan.kR * S
          : 0,
    );
    const aAt = fr.take(region(a.length, S));
    const bAt = fr.take(region(b.length, S));
    const biasAt = bias ? fr.take(region(bias.length, S)) : 0;
    const oAt = fr.take(region(out.length, S));
    // Each part's scratch: the zero-bordered image (forward, weight gradient), or the column block and a
    // zero-bordered gradient image of one group (input gradient).
    const image = plan.padded ? plan.padH * plan.padW * S : 0;
    const scratchBytes = align(
      kind === 'inputGrad' ? plan.blockRows * plan.p * S + plan.cpg * image : g.channels * image,
    );
    const threads = this.threadsFor(plan.macs);
    const scratch = fr.take(scratchBytes * threads);
    if (!this.reserve(fr.end)) return false;
    if (threads > 1) this.pool?.wake();
    const I = this.i32;
    fillTaps(I, taps / 4, g, plan, S);
    fillPositions(I, pos / 4, g, plan, S);
    const aPtr = this.put(dt, a, 0, a.length, aAt);
    const bPtr = this.put(dt, b, 0, b.length, bAt);
    const biasPtr = bias ? this.put(dt, bias, 0, bias.length, biasAt) : 0;
    const oPtr = out === a || out === b || out === bias ? oAt : this.target(dt, out, 0, oAt);
    const packA = this.fns[dt].packA;
    if (kind === 'forward')
      // W: per group, per depth block, mr-row panels over all of opg.
      for (let grp = 0; grp < g.groups; grp++)
        for (let pc = 0; pc < plan.k; pc += s.kc) {
          const src = bPtr + (grp * plan.opg * plan.k + pc) * S;
          const dst = packed + (grp * plan.k * plan.opgR + pc * plan.opgR) * S;
          packA(src, plan.k, 1, plan.opg, Math.min(s.kc, plan.k - pc), dst);
        }
    else if (kind === 'inputGrad')
      // Wᵀ: per group, per depth block of output channels, mr-tap panels over all taps.
      for (let grp = 0; grp < g.groups; grp++)
        for (let pc = 0; pc < plan.opg; pc += s.kc) {
          const src = bPtr + (grp * plan.opg + pc) * plan.k * S;
          const dst = packed + (grp * plan.opg * plan.kR + pc * plan.kR) * S;
          packA(src, 1, plan.k, plan.k, Math.min(s.kc, plan.opg - pc), dst);
        }
    const x = kind === 'inputGrad' ? 0 : aPtr;
    const gout = kind === 'forward' ? 0 : kind === 'inputGrad' ? aPtr : bPtr;
    writeConvFields(I, geo / 4, g, plan, x, packed, biasPtr, oPtr, gout, taps, pos);
    const name = CONV_NAMES[dt][kind];
    // The whole call: images and positions (forward), images and channels (input gradient), or the rows
    // and columns of gw (weight gradient).
    const whole: [number, number, number, number] =
      kind === 'forward'
        ? [0, g.batch, 0, plan.p]
        : kind === 'inputGrad'
          ? [0, g.batch, 0, plan.cpg]
          : [0, plan.opg, 0, plan.k];
    if (threads === 1) (this.exports[name] as Fn)(geo, ...whole, scratch, 0);
    else {
      // Images to threads where there are enough; else positions (forward), channels in steps whose first
      // tap row starts a packed panel of Wᵀ (input gradient); gw in rectangles (weight gradient).
      const ranges =
        kind === 'weightGrad'
          ? splitProduct(plan.opg, plan.k, s.mr, s.nr, threads).map((r) => [r.i0, r.i1, r.j0, r.j1])
          : g.batch >= threads
            ? splitRange(g.batch, threads).map(([n0, n1]) => [n0, n1, whole[2], whole[3]])
            : kind === 'forward'
              ? splitRange(plan.p, threads, s.nr).map(([j0, j1]) => [0, g.batch, j0, j1])
              : splitRange(plan.cpg, threads, s.mr / gcd(s.mr, plan.khw)).map(([c0, c1]) => [
                  0,
                  g.batch,
                  c0,
                  c1,
                ]);
      this.runParts(
        name,
        ranges.map((r, i) => [geo, ...r, scratch + i * scratchBytes]),
      );
    }
    this.take(dt, oPtr, out.length, out, 0);
    return true;
  }

  /**
   * A pooling call: lay out the parameter block, tables and operands, copy in what is not resident, run
   * `name` over the (n, c) planes (split among threads when the taps are many), copy out. `input` is x
   * (forward) or gOut (gradients), `out` the output or gx; `argmax` is read (`argmaxIn`) or written.
   */
  private pool2d(
    dt: WasmDType,
    name: string,
    g: Window2d,
    avg: boolean,
    countIncludePad: boolean,
    input: Storage,
    out: Storage,
    argmax: Int32Array | null,
    argmaxIn: boolean,
  ): boolean {
    const S = ELEMENT_BYTES[dt];
    const fr = this.frame.reset(this.operands);
    const geo = fr.take(POOL_PARAM_BYTES);
    const rows = fr.take(g.outH * 8);
    const rowF = fr.take(g.outH * 8);
    const colF = fr.take(g.outW * 8);
    const inAt = fr.take(region(input.length, S));
    const oAt = fr.take(region(out.length, S));
    const aAt = argmax ? fr.take(argmax.length * 4 + 16) : 0;
    if (!this.reserve(fr.end)) return false;
    const planes = g.batch * g.channels;
    const threads = this.threadsFor(planes * g.outH * g.outW * g.kH * g.kW * POOL_TAP_WORK);
    if (threads > 1) this.pool?.wake();
    const I = this.i32;
    const cols = this.cols;
    writePoolTables(g, avg, countIncludePad, I, rows / 4, this.f64, rowF / 8, colF / 8, cols);
    const inPtr = this.put(dt, input, 0, input.length, inAt);
    const oPtr = out === input ? oAt : this.target(dt, out, 0, oAt);
    if (argmax && argmaxIn) I.set(argmax, aAt / 4);
    const at = geo / 4;
    I.fill(0, at, at + POOL_PARAM_BYTES / 4);
    I[at + POOL.x] = inPtr;
    I[at + POOL.gout] = inPtr;
    I[at + POOL.out] = oPtr;
    I[at + POOL.argmax] = aAt;
    I[at + POOL.inH] = g.inH;
    I[at + POOL.inW] = g.inW;
    I[at + POOL.outH] = g.outH;
    I[at + POOL.outW] = g.outW;
    I[at + POOL.kH] = g.kH;
    I[at + POOL.kW] = g.kW;
    I[at + POOL.strideH] = g.strideH;
    I[at + POOL.strideW] = g.strideW;
    I[at + POOL.padH] = g.padH;
    I[at + POOL.padW] = g.padW;
    I[at + POOL.dilationH] = g.dilationH;
    I[at + POOL.dilationW] = g.dilationW;
    I[at + POOL.rows] = rows;
    I[at + POOL.colA] = cols[0];
    I[at + POOL.colB] = cols[1];
    I[at + POOL.rowF] = rowF;
    I[at + POOL.colF] = colF;
    if (threads === 1) (this.exports[name] as Fn)(geo, 0, planes, 0);
    else
      this.runParts(
        name,
        splitRange(planes, threads).map(([p0, p1]) => [geo, p0, p1]),
      );
    this.take(dt, oPtr, out.length, out, 0);
    if (argmax && !argmaxIn) argmax.set(I.subarray(aAt / 4, aAt / 4 + argmax.length));
    return true;
  }

  /** `Kernels.maxPool2d` in wasm; false if it did not fit. */
  maxPool2d(dt: WasmDType, x: Storage, out: Storage, argmax: Int32Array, g: Window2d): boolean {
    return this.pool2d(dt, POOL_NAMES[dt].max, g, false, false, x, out, argmax, false);
  }

  /** `Kernels.maxPool2dGrad` in wasm; false if it did not fit. */
  maxPool2dGrad(dt: WasmDType, gOut: Storage, argmax: Int32Array, gx: Storage, g: Window2d): boolean {
    return this.pool2d(dt, POOL_NAMES[dt].maxGrad, g, false, false, gOut, gx, argmax, true);
  }

  /** `Kernels.avgPool2d` in wasm; false if it did not fit. */
  avgPool2d(dt: WasmDType, x: Storage, out: Storage, g: Window2d, countIncludePad: boolean): boolean {
    return this.pool2d(dt, POOL_NAMES[dt].avg, g, true, countIncludePad, x, out, null, false);
  }

  /** `Kernels.avgPool2dGrad` in wasm; false if it did not fit. */
  avgPool2dGrad(dt: WasmDType, gOut: Storage, gx: Storage, g: Window2d, countIncludePad: boolean): boolean {
    return this.pool2d(dt, POOL_NAMES[dt].avgGrad, g, true, countIncludePad, gOut, gx, null, false);
  }

  /** out = op(x) where UNARY has the op; false if it did not fit. */
  unary(dt: WasmDType, op: UnaryOp, x: Storage, out: Storage, p0: number, p1: number): boolean {
    const n = x.length;
    const size = ELEMENT_BYTES[dt];
    const xAt = this.operands;
    const oAt = xAt + region(n, size);
    if (!this.reserve(oAt + region(n, size))) return false;
    const xPtr = this.put(dt, x, 0, n, xAt);
    const oPtr = this.target(dt, out, 0, oAt);
    const fn = this.fns[dt].unary[op] as Fn;
    const parts = this.elementParts(op, n);
    if (parts && this.pool)
      this.pool.run(
        poolIndex(names.unary(dt, op)),
        parts.map(([s, len]) => [xPtr + s * size, oPtr + s * size, len]),
        (a) => fn(a[0], a[1], a[2], p0, p1),
      );
    else fn(xPtr, oPtr, n, p0, p1);
    this.take(dt, oPtr, n, out, 0);
    return true;
  }

  /**
   * [start, length] of each thread's part of an elementwise op over n elements, or null to run it here.
   * Parts start at multiples of 4, so no loop but the last one's runs past its part (they take up to four
   * elements a trip; the last may run into the region's padding, as one call would).
   */
  private elementParts(op: UnaryOp, n: number): [number, number][] | null {
    if (!this.pool || n < MIN_THREAD_ELEMENTS || !THREADED_UNARY.includes(op)) return null;
    const threads = this.pool.threads;
    const chunk = Math.ceil(n / threads / 4) * 4;
    const parts: [number, number][] = [];
    for (let s = 0; s < n; s += chunk) parts.push([s, Math.min(chunk, n - s)]);
    return parts;
  }

  /** out = g · op'(x) where UNARY has its derivative; `inputs` are its rule's arrays, in order. */
  unaryGrad(
    dt: WasmDType,
    op: UnaryOp,
    inputs: readonly GradInput[],
    x: Storage,
    y: Storage,
    g: Storage,
    out: Storage,
    p0: number,
    p1: number,
  ): boolean {
    const n = g.length;
    const size = ELEMENT_BYTES[dt];
    const r = region(n, size);
    if (!this.reserve(this.operands + (inputs.length + 1) * r)) return false;
    const at = this.operands;
    const a0 = this.put(dt, gradArray(inputs[0], x, y, g), 0, n, at);
    const a1 = inputs.length > 1 ? this.put(dt, gradArray(inputs[1], x, y, g), 0, n, at + r) : 0;
    const a2 = inputs.length > 2 ? this.put(dt, gradArray(inputs[2], x, y, g), 0, n, at + 2 * r) : 0;
    const fn = this.fns[dt].grad[op] as Fn;
    const o = this.target(dt, out, 0, at + inputs.length * r);
    const call = (a0: number, a1: number, a2: number, o: number, n: number) => {
      if (inputs.length === 1) fn(a0, o, n, p0, p1);
      else if (inputs.length === 2) fn(a0, a1, o, n, p0, p1);
      else fn(a0, a1, a2, o, n, p0, p1);
    };
    const parts = this.elementParts(op, n);
    if (parts && this.pool) {
      const ptrs = [a0, a1, a2].slice(0, inputs.length);
      this.pool.run(
        poolIndex(names.grad(dt, op)),
        parts.map(([s, len]) => [...ptrs.map((p) => p + s * size), o + s * size, len]),
        (a) =>
          inputs.length === 1
            ? call(a[0], 0, 0, a[1], a[2])
            : inputs.length === 2
              ? call(a[0], a[1], 0, a[2], a[3])
              : call(a[0], a[1], a[2], a[3], a[4]),
      );
    } else call(a0, a1, a2, o, n);
    this.take(dt, o, n, out, 0);
    return true;
  }

  /**
   * Room for `count` padded regions of `n` elements above the operands' start: the region size in bytes,
   * or −1 if the memory cannot grow that far. Region i starts at operands + i·size.
   */
  private regions(dt: WasmDType, n: number, count: number): number {
    const r = region(n, ELEMENT_BYTES[dt]);
    return this.reserve(this.operands + count * r) ? r : -1;
  }

  /**
   * `Kernels.reduce` over leading axes: out[j] = op over r of x[r·cols + j], out starting at 0 (sum) or
   * −∞ (max); false if it did not fit.
   */
  reduceCols(
    dt: WasmDType,
    op: 'sum' | 'max',
    x: Storage,
    out: Storage,
    rows: number,
    cols: number,
  ): boolean {
    const size = ELEMENT_BYTES[dt];
    const xAt = this.operands;
    const oAt = xAt + region(x.length, size);
    if (!this.reserve(oAt + region(cols, size))) return false;
    const xPtr = this.put(dt, x, 0, x.length, xAt);
    const oPtr = this.target(dt, out, 0, oAt);
    this.reduceColsAt(dt, op, xPtr, oPtr, rows, cols);
    this.take(dt, oPtr, cols, out, 0);
    return true;
  }

  /**
   * {@link reduceCols} on operands already in memory, at byte addresses (a Linear layer's bias gradient
   * shares it): out starts at 0 (sum) or −∞ (max), then takes the rows in order.
   */
  private reduceColsAt(
    dt: WasmDType,
    op: 'sum' | 'max',
    xPtr: number,
    oPtr: number,
    rows: number,
    cols: number,
  ): void {
    const at = oPtr / ELEMENT_BYTES[dt];
    (dt === 'f32' ? this.f32 : this.f64).fill(op === 'sum' ? 0 : -Infinity, at, at + cols);
    this.fns[dt].reduceCols[op](xPtr, oPtr, rows, cols);
  }

  /**
   * `Kernels.reduce` keeping a middle block of axes: x viewed as [outer, outs, per, cols], out [outs], each
   * row of cols combined into its entry in x's order (see reduce.ts); false if it did not fit.
   */
  reduceInto(
    dt: WasmDType,
    op: 'sum' | 'max',
    x: Storage,
    out: Storage,
    outer: number,
    per: number,
    cols: number,
  ): boolean {
    const size = ELEMENT_BYTES[dt];
    const xAt = this.operands;
    const oAt = xAt + region(x.length, size);
    if (!this.reserve(oAt + region(out.length, size))) return false;
    const xPtr = this.put(dt, x, 0, x.length, xAt);
    const oPtr = this.target(dt, out, 0, oAt);
    const view = dt === 'f32' ? this.f32 : this.f64;
    const at = oPtr / size;
    view.fill(op === 'sum' ? 0 : -Infinity, at, at + out.length);
    this.fns[dt].reduceInto[op](xPtr, oPtr, outer, out.length, per, cols);
    this.take(dt, oPtr, out.length, out, 0);
    return true;
  }

  /** `Kernels.reduce` along the last axis: out[r] = op over j of x[r·cols + j]; false if it did not fit. */
  reduceRows(
    dt: WasmDType,
    op: 'sum' | 'max',
    x: Storage,
    out: Storage,
    rows: number,
    cols: number,
  ): boolean {
    const size = ELEMENT_BYTES[dt];
    const xAt = this.operands;
    const oAt = xAt + region(x.length, size);
    if (!this.reserve(oAt + region(rows, size))) return false;
    const xPtr = this.put(dt, x, 0, x.length, xAt);
    const oPtr = this.target(dt, out, 0, oAt);
    this.fns[dt].reduceRows[op](xPtr, oPtr, rows, cols);
    this.take(dt, oPtr, rows, out, 0);
    return true;
  }

  // Fused attention (`attention.ts`): the operands are copied in once per call (each distinct storage
  // once: a packed projection is q, k and v), the probabilities are usually resident (the op allocates
  // them with `alloc`), and the (batch, head) pairs are split among the threads.

  /** `Kernels.attentionScores` in wasm; false if it did not fit. */
  attentionScores(dt: WasmDType, q: Storage, k: Storage, s: Storage, g: AttentionGeometry): boolean {
    return this.attention('scores', dt, g, [q, k], { q, k, s }, [s]);
  }

  /** `Kernels.attentionContext` in wasm; false if it did not fit. */
  attentionContext(
    dt: WasmDType,
    e: Storage,
    v: Storage,
    p: Storage,
    out: Storage,
    g: AttentionGeometry,
  ): boolean {
    return this.attention('context', dt, g, [e, v], { s: e, v, p, out }, [p, out]);
  }

  /** `Kernels.attentionBackward` in wasm; false if it did not fit. */
  attentionBackward(
    dt: WasmDType,
    gOut: Storage,
    q: Storage,
    k: Storage,
    v: Storage,
    p: Storage,
    gq: Storage,
    gk: Storage,
    gv: Storage,
    g: AttentionGeometry,
  ): boolean {
    // A gradient storage whose rows these columns do not cover keeps its other values: copied in first.
    const written = [gq, gk, gv].filter((x, i, all) => all.indexOf(x) === i);
    const partial = written.filter((x) => !attentionCovers(x, g, { q: gq, k: gk, v: gv }));
    return this.attention(
      'backward',
      dt,
      g,
      [gOut, q, k, v, p, ...partial],
      { q, k, v, p, out: gOut, gq, gk, gv },
      written,
    );
  }

  /**
   * One attention call: the parameter block, each distinct storage once (copied in if it is read, and
   * not resident), each part's scratch; the pairs split among the threads; the written storages copied
   * out (unless resident).
   */
  private attention(
    kind: 'scores' | 'context' | 'backward',
    dt: WasmDType,
    g: AttentionGeometry,
    read: Storage[],
    named: Partial<Record<(typeof ATTN_FIELDS)[number], Storage>>,
    written: Storage[],
  ): boolean {
    const SZ = ELEMENT_BYTES[dt];
    const { batch: B, heads: H, headDim: D, queries: L, keys: S } = g;
    const fr = this.frame.reset(this.operands);
    const prm = fr.take(ATTN_PARAM_BYTES);
    const storages: Storage[] = [];
    for (const x of [...read, ...written]) if (!storages.includes(x)) storages.push(x);
    const at = storages.map((x) => (this.resident.has(x) ? -1 : fr.take(region(x.length, SZ))));
    const pairs = B * H;
    const threads = Math.min(pairs, this.threadsFor(pairs * L * S * D));
    const scratchBytes = kind === 'context' ? 0 : align(L * D * SZ) + L * S * SZ;
    const scratch = fr.take(align(scratchBytes) * threads);
    if (!this.reserve(fr.end)) return false;
    const ptr = storages.map((x, i) =>
      read.includes(x) ? this.put(dt, x, 0, x.length, at[i]) : this.target(dt, x, 0, at[i]),
    );
    const I = this.i32;
    const base = prm / 4;
    const offsets = { q: g.qOffset, k: g.kOffset, v: g.vOffset, gq: g.qOffset, gk: g.kOffset, gv: g.vOffset };
    ATTN_FIELDS.forEach((name, i) => {
      const x = named[name as keyof typeof named];
      if (x !== undefined)
        I[base + i] = ptr[storages.indexOf(x)] + (offsets[name as keyof typeof offsets] ?? 0) * SZ;
    });
    I[base + ATTN.qStride] = g.qStride;
    I[base + ATTN.kStride] = g.kStride;
    I[base + ATTN.vStride] = g.vStride;
    I[base + ATTN.L] = L;
    I[base + ATTN.S] = S;
    I[base + ATTN.D] = D;
    I[base + ATTN.H] = H;
    I[base + ATTN.causal] = g.causal ? 1 : 0;
    I[base + ATTN.T] = packedScores(g);
    this.f64[(prm + ATTN_SQRT_AT) / 8] = Math.sqrt(D);
    const parts = Array.from({ length: threads }, (_, t) => [
      prm,
      Math.floor((t * pairs) / threads),
      Math.floor(((t + 1) * pairs) / threads),
      scratch + t * align(scratchBytes),
    ]);
    this.runParts(attentionNames[kind](dt), parts);
    for (const x of written) this.take(dt, ptr[storages.indexOf(x)], x.length, x, 0);
    return true;
  }

  // The fused recurrent cells work on resident buffers only (the op allocates them with `alloc`): a step
  // touches a slice of sequence-long buffers, which copying in and out per step would cost T times over.

  /** The byte address of element `offset` of a resident array, or −1 where it is not resident. */
  private residentAt(dt: WasmDType, a: Storage, offset: number): number {
    const home = this.resident.get(a);
    return home === undefined ? -1 : home + offset * ELEMENT_BYTES[dt];
  }

  /** `Kernels.cellForward` in wasm; false where a buffer is not resident. */
  cellForward(dt: WasmDType, b: CellBuffers, t: number): boolean {
    const { rows, hidden: H } = b;
    const G = b.cell === 'lstm' ? 4 : 3;
    const at = t * rows;
    const pre = this.residentAt(dt, b.pre, at * G * H);
    const hh = this.residentAt(dt, b.hh, 0);
    const bias = this.residentAt(dt, b.bias, 0);
    const saved = this.residentAt(dt, b.saved, at * (G + 1) * H);
    const hPrev = this.residentAt(dt, b.h, at * H);
    const hNext = this.residentAt(dt, b.h, (at + rows) * H);
    if (pre < 0 || hh < 0 || bias < 0 || saved < 0 || hPrev < 0) return false;
    if (b.c === null) {
      this.cellFns[dt].gruForward(pre, hh, bias, saved, hPrev, hNext, rows, H);
      return true;
    }
    const cPrev = this.residentAt(dt, b.c, at * H);
    if (cPrev < 0) return false;
    const cNext = cPrev + rows * H * ELEMENT_BYTES[dt];
    this.cellFns[dt].lstmForward(pre, hh, bias, saved, cPrev, cNext, hNext, rows, H);
    return true;
  }

  /** `Kernels.cellBackward` in wasm; false where a buffer is not resident. */
  cellBackward(dt: WasmDType, b: CellBuffers, t: number): boolean {
    const { rows, hidden: H } = b;
    const G = b.cell === 'lstm' ? 4 : 3;
    const at = t * rows;
    const saved = this.residentAt(dt, b.saved, at * (G + 1) * H);
    const gOut = this.residentAt(dt, b.gOut, at * H);
    const dhRec = this.residentAt(dt, b.dhRec, 0);
    const carry = this.residentAt(dt, b.carry, 0);
    const dPre = this.residentAt(dt, b.dPre, at * G * H);
    if (saved < 0 || gOut < 0 || dhRec < 0 || carry < 0 || dPre < 0) return false;
    if (b.c === null) {
      const hPrev = this.residentAt(dt, b.h, at * H);
      const dHh = this.residentAt(dt, b.dHh, at * G * H);
      if (hPrev < 0 || dHh < 0) return false;
      this.cellFns[dt].gruBackward(saved, hPrev, gOut, dhRec, carry, dPre, dHh, rows, H);
      return true;
    }
    const cPrev = this.residentAt(dt, b.c, at * H);
    if (cPrev < 0) return false;
    this.cellFns[dt].lstmBackward(saved, cPrev, gOut, dhRec, carry, dPre, rows, H);
    return true;
  }

  // The optimizer updates: state copied in (unless resident), updated in place, copied back (unless
  // resident); the gradient is only read. The one place the wasm side reads the hyper-parameters by name:
  // each becomes the f64 argument optim.ts's function takes (negated, or as 1 − x, where it says so).

  /** `Kernels.sgd` in wasm; false if it did not fit. */
  sgd(dt: WasmDType, p: Storage, g: Storage, buf: Storage | null, h: Readonly<SgdHyper>): boolean {
    const { lr, momentum: mu, dampening, weightDecay: wd, nesterov, first } = h;
    const n = p.length;
    const r = this.regions(dt, n, 3);
    if (r < 0) return false;
    const at = this.operands;
    const pp = this.put(dt, p, 0, n, at);
    const gp = this.put(dt, g, 0, n, at + r);
    const bp = buf ? this.put(dt, buf, 0, n, at + 2 * r) : 0;
    const i = buf ? sgdIndex(true, wd !== 0, nesterov, first) : sgdIndex(false, wd !== 0, false, false);
    this.fns[dt].sgd[i](pp, gp, bp, n, -lr, mu, 1 - dampening, wd);
    this.take(dt, pp, n, p, 0);
    if (buf) this.take(dt, bp, n, buf, 0);
    return true;
  }

  /** `Kernels.adam` in wasm; false if it did not fit (or asked for both kinds of weight decay). */
  adam(
    dt: WasmDType,
    p: Storage,
    g: Storage,
    m: Storage,
    v: Storage,
    vmax: Storage | null,
    h: Readonly<AdamHyper>,
  ): boolean {
    const { stepSize, beta1, beta2, bc2Sqrt, eps, weightDecay: wd, decay } = h;
    if (decay !== 1 && wd !== 0) return false;
    const n = p.length;
    const r = this.regions(dt, n, 5);
    if (r < 0) return false;
    const at = this.operands;
    const pp = this.put(dt, p, 0, n, at);
    const gp = this.put(dt, g, 0, n, at + r);
    const mp = this.put(dt, m, 0, n, at + 2 * r);
    const vp = this.put(dt, v, 0, n, at + 3 * r);
    const xp = vmax ? this.put(dt, vmax, 0, n, at + 4 * r) : 0;
    const fn = this.fns[dt].adam[adamIndex(decay !== 1, wd !== 0, vmax !== null)];
    fn(pp, gp, mp, vp, xp, n, -stepSize, beta1, 1 - beta1, beta2, 1 - beta2, bc2Sqrt, eps, wd, decay);
    this.take(dt, pp, n, p, 0);
    this.take(dt, mp, n, m, 0);
    this.take(dt, vp, n, v, 0);
    if (vmax) this.take(dt, xp, n, vmax, 0);
    return true;
  }

  /** `Kernels.rmsprop` in wasm; false if it did not fit. */
  rmsprop(
    dt: WasmDType,
    p: Storage,
    g: Storage,
    sq: Storage,
    ga: Storage | null,
    buf: Storage | null,
    h: Readonly<RmspropHyper>,
  ): boolean {
    const { lr, alpha, eps, weightDecay: wd, momentum } = h;
    const n = p.length;
    const r = this.regions(dt, n, 5);
    if (r < 0) return false;
    const at = this.operands;
    const pp = this.put(dt, p, 0, n, at);
    const gp = this.put(dt, g, 0, n, at + r);
    const sp = this.put(dt, sq, 0, n, at + 2 * r);
    const ap = ga ? this.put(dt, ga, 0, n, at + 3 * r) : 0;
    const bp = buf ? this.put(dt, buf, 0, n, at + 4 * r) : 0;
    const fn = this.fns[dt].rmsprop[rmspropIndex(wd !== 0, ga !== null, buf !== null)];
    fn(pp, gp, sp, ap, bp, n, -lr, alpha, 1 - alpha, eps, wd, momentum);
    this.take(dt, pp, n, p, 0);
    this.take(dt, sp, n, sq, 0);
    if (ga) this.take(dt, ap, n, ga, 0);
    if (buf) this.take(dt, bp, n, buf, 0);
    return true;
  }

  /** `Kernels.adagrad` in wasm; false if it did not fit. */
  adagrad(dt: WasmDType, p: Storage, g: Storage, sum: Storage, h: Readonly<AdagradHyper>): boolean {
    const { clr, eps, weightDecay: wd } = h;
    const n = p.length;
    const r = this.regions(dt, n, 3);
    if (r < 0) return false;
    const at = this.operands;
    const pp = this.put(dt, p, 0, n, at);
    const gp = this.put(dt, g, 0, n, at + r);
    const sp = this.put(dt, sum, 0, n, at + 2 * r);
    this.fns[dt].adagrad[wd !== 0 ? 1 : 0](pp, gp, sp, n, -clr, eps, wd);
    this.take(dt, pp, n, p, 0);
    this.take(dt, sp, n, sum, 0);
    return true;
  }

  /** out = op(a, b) for the four layouts elementwise.ts generates. */
  binary(
    dt: WasmDType,
    op: BinaryOp,
    layout: BinaryLayout,
    a: Storage,
    b: Storage,
    out: Storage,
    n: number,
  ): boolean {
    const size = ELEMENT_BYTES[dt];
    const fn = this.fns[dt].binary[layout][op] as Fn;
    const p1 = this.operands;
    if (layout === 'scalarA' || layout === 'scalarB') {
      const arr = layout === 'scalarA' ? b : a;
      const s = layout === 'scalarA' ? a[0] : b[0];
      const oAt = p1 + region(n, size);
      if (!this.reserve(oAt + region(n, size))) return false;
      const x = this.put(dt, arr, 0, n, p1);
      const o = this.target(dt, out, 0, oAt);
      fn(x, o, n, s);
      this.take(dt, o, n, out, 0);
      return true;
    }
    const p2 = p1 + region(n, size);
    const oAt = p2 + region(n, size);
    if (!this.reserve(oAt + region(n, size))) return false;
    const x = this.put(dt, a, 0, n, p1);
    const y = this.put(dt, b, 0, b.length, p2);
    // rowB's last trip of a row spills into the next row, which must not be the input still to be read.
    const o = layout === 'rowB' && out === a ? oAt : this.target(dt, out, 0, oAt);
    if (layout === 'same') fn(x, y, o, n);
    else fn(x, y, o, n / b.length, b.length);
    this.take(dt, o, n, out, 0);
    return true;
  }

  // Normalization (norm.ts): operands copied in unless resident; a null scale or shift becomes ones or
  // zeros, an unwanted gradient a scratch region.

  /** The address of `len` elements of `src`, or of `len` copies of `fill` at `ptr` where `src` is null. */
  private putOr(dt: WasmDType, src: Storage | null, len: number, ptr: number, fill: number): number {
    if (src !== null) return this.put(dt, src, 0, len, ptr);
    const at = ptr / ELEMENT_BYTES[dt];
    (dt === 'f32' ? this.f32 : this.f64).fill(fill, at, at + len);
    return ptr;
  }

  /** `Kernels.moments` in wasm; false if it did not fit. */
  moments(dt: WasmDType, x: Storage, g: NormGeometry, mean: Storage, variance: Storage): boolean {
    const size = ELEMENT_BYTES[dt];
    const fr = this.frame.reset(this.operands);
    const xAt = fr.take(region(x.length, size));
    const mAt = fr.take(region(g.groups, size));
    const vAt = fr.take(region(g.groups, size));
    if (!this.reserve(fr.end)) return false;
    const xp = this.put(dt, x, 0, x.length, xAt);
    const mp = this.target(dt, mean, 0, mAt);
    const vp = this.target(dt, variance, 0, vAt);
    this.normFns[dt].moments(xp, mp, vp, g.outer, g.groups, g.inner);
    this.take(dt, mp, g.groups, mean, 0);
    this.take(dt, vp, g.groups, variance, 0);
    return true;
  }

  /** `Kernels.normalize` in wasm; false if it did not fit. */
  normalize(
    dt: WasmDType,
    x: Storage,
    g: NormGeometry,
    mean: Storage,
    variance: Storage,
    scale: Storage | null,
    shift: Storage | null,
    out: Storage,
  ): boolean {
    const size = ELEMENT_BYTES[dt];
    const per = g.affine === 'group' ? g.groups : g.inner;
    const fr = this.frame.reset(this.operands);
    const xAt = fr.take(region(x.length, size));
    const mAt = fr.take(region(g.groups, size));
    const vAt = fr.take(region(g.groups, size));
    const sAt = fr.take(region(per, size));
    const tAt = fr.take(region(per, size));
    const oAt = fr.take(region(x.length, size));
    if (!this.reserve(fr.end)) return false;
    const xp = this.put(dt, x, 0, x.length, xAt);
    const mp = this.put(dt, mean, 0, g.groups, mAt);
    const vp = this.put(dt, variance, 0, g.groups, vAt);
    const sp = this.putOr(dt, scale, per, sAt, 1);
    const tp = this.putOr(dt, shift, per, tAt, 0);
    // Elementwise: in place is safe, out === x included.
    const op = this.target(dt, out, 0, oAt);
    const byGroup = g.affine === 'group' ? 1 : 0;
    this.normFns[dt].normalize(xp, mp, vp, sp, tp, op, g.outer, g.groups, g.inner, byGroup, g.eps);
    this.take(dt, op, x.length, out, 0);
    return true;
  }

  /** `Kernels.normalizeGrad` in wasm; false if it did not fit. */
  normalizeGrad(
    dt: WasmDType,
    gOut: Storage,
    x: Storage,
    g: NormGeometry,
    mean: Storage,
    variance: Storage,
    scale: Storage | null,
    batchStats: boolean,
    gx: Storage | null,
    gScale: Storage | null,
    gShift: Storage | null,
  ): boolean {
    const size = ELEMENT_BYTES[dt];
    const n = x.length;
    const byGroup = g.affine === 'group';
    const per = byGroup ? g.groups : g.inner;
    const fr = this.frame.reset(this.operands);
    const gAt = fr.take(region(n, size));
    const xAt = fr.take(region(n, size));
    const mAt = fr.take(region(g.groups, size));
    const vAt = fr.take(region(g.groups, size));
    const sAt = fr.take(region(per, size));
    const dAt = fr.take(region(n, size));
    const wAt = fr.take(region(per, size));
    const bAt = fr.take(region(per, size));
    const scratch = fr.take(NORM_SCRATCH_BYTES);
    if (!this.reserve(fr.end)) return false;
    const gp = this.put(dt, gOut, 0, n, gAt);
    const xp = this.put(dt, x, 0, n, xAt);
    const mp = this.put(dt, mean, 0, g.groups, mAt);
    const vp = this.put(dt, variance, 0, g.groups, vAt);
    const sp = this.putOr(dt, scale, per, sAt, 1);
    // Each row of gx is written after its own reads: in place is safe, over gOut or x included.
    const dp = gx ? this.target(dt, gx, 0, dAt) : dAt;
    const wp = gScale ? this.target(dt, gScale, 0, wAt) : wAt;
    const bp = gShift ? this.target(dt, gShift, 0, bAt) : bAt;
    if (!byGroup) {
      // Accumulated in place from zero.
      const view = dt === 'f32' ? this.f32 : this.f64;
      view.fill(0, wp / size, wp / size + per);
      view.fill(0, bp / size, bp / size + per);
    }
    const flags =
      (batchStats ? NORM_GRAD_FLAGS.batchStats : 0) |
      (gx ? NORM_GRAD_FLAGS.gx : 0) |
      (byGroup || g.outer === 1 ? NORM_GRAD_FLAGS.pairs : 0);
    const fn = byGroup ? this.normFns[dt].gradGroup : this.normFns[dt].gradInner;
    fn(gp, xp, mp, vp, sp, dp, wp, bp, scratch, g.outer, g.groups, g.inner, flags, g.eps);
    if (gx) this.take(dt, dp, n, gx, 0);
    if (gScale) this.take(dt, wp, per, gScale, 0);
    if (gShift) this.take(dt, bp, per, gShift, 0);
    return true;
  }
}

/**
 * Whether q's, k's and v's columns that lie in storage `x` cover all of it (every element of every row),
 * so a backward call writes every element and need not copy `x` in first.
 */
function attentionCovers(
  x: Storage,
  g: AttentionGeometry,
  grads: { q: Storage; k: Storage; v: Storage },
): boolean {
  const E = g.heads * g.headDim;
  const blocks = (
    [
      [grads.q, g.qOffset, g.qStride, g.queries],
      [grads.k, g.kOffset, g.kStride, g.keys],
      [grads.v, g.vOffset, g.vStride, g.keys],
    ] as const
  ).filter(([s]) => s === x);
  const [, , stride, rows] = blocks[0];
  if (x.length !== g.batch * rows * stride) return false;
  const starts = blocks
    .map(([, off, st, n]) => (st === stride && n === rows ? off : -1))
    .sort((a, b) => a - b);
  let end = 0;
  for (const s of starts) {
    if (s < 0 || s > end) return false;
    end = Math.max(end, s + E);
  }
  return end >= stride;
}
