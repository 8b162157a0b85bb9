/**
 * A persistent pool of worker threads that share the kernels' `WebAssembly.Memory` and split large matrix
 * products, convolutions and poolings with the calling thread. Each worker instantiates the same compiled module on the same shared
 * memory and owns a work area there (packing buffers and scratch tile) that no other thread touches.
 *
 * The `Kernels` interface is synchronous, so the calling thread hands out parts of C through a control
 * block in shared memory, computes its own part, and blocks in `Atomics.wait` until the workers are done.
 * That needs a thread allowed to block: Node's main thread and workers are; a browser's main thread is not,
 * so there (and where `SharedArrayBuffer` is missing, i.e. a page that is not cross-origin isolated)
 * {@link threadSupport} answers null and the kernels stay single-threaded.
 *
 * Nothing here imports Node modules statically: Node's `worker_threads` and `os` are obtained only when the
 * runtime is Node, through `process.getBuiltinModule` (synchronous; Node ≥ 20.16) reached from
 * `globalThis`, or else a dynamic import, so browsers and bundlers never see them. Workers run generated JavaScript
 * (an eval worker in Node, a Blob URL in browsers), so no worker file has to be found next to this one,
 * whether it runs from TypeScript sources under tsx or from the built `dist/`.
 */

/**
 * Int32 slots of the control block's header: the job generation, a counter bumped (and notified) by each
 * finished part, then one ready flag per worker.
 */
const GEN = 0;
const DONE = 1;
const READY = 2;
/**
 * Int32s per worker slot: the generation it is assigned to, the function to run (an index into the names
 * the pool was made with), its arguments (up to {@link MAX_ARGS}), then the generation it last finished,
 * that part's outcome (0: done; 1: the function threw), and who holds the part (0: assigned, nobody yet;
 * 1: the worker took it and runs it; 2: the caller took it back, the worker must leave it alone).
 */
const MAX_ARGS = 16;
const SLOT_INTS = MAX_ARGS + 5;
const FINISHED = MAX_ARGS + 2;
const FAILED = MAX_ARGS + 3;
const CLAIM = MAX_ARGS + 4;
/** Header size in int32s; also bounds the number of threads (ready flags live in the header). */
const HEADER_INTS = 64;

/** Most threads a pool may have (the caller included). */
export const MAX_THREADS = HEADER_INTS - READY;

/** Bytes of the control block for a pool of `threads` threads. */
export function controlBytes(threads: number): number {
  return (HEADER_INTS + Math.max(0, threads - 1) * SLOT_INTS) * 4;
}

/**
 * How long a worker polls for the next part before it sleeps in `Atomics.wait` (ms, after its last part or
 * wake-up), and how many polls the caller makes before it sleeps waiting for the workers' parts. Waking a
 * sleeping thread costs tens of microseconds on an idle machine and milliseconds on a busy one, while a
 * training step's products, convolutions and poolings come a fraction of a millisecond apart (other ops
 * run between them): polling through those gaps keeps the worker ready for the next one. Training W4 (the
 * MNIST-shaped CNN, issue #12) on 2 busy cores: 14 ms a step with polls for 0.1 ms, 12 with 2, 11.4 with 5;
 * the 784-128-10 MLP ran as fast with 5 ms as with 1 (and faster than with 0.1). OpenMP runtimes poll for
 * 200 ms by default.
 */
const WORKER_SPIN_MS = 5;
const CALLER_SPIN = 20000;

/** How long the first large product waits for Node workers to start before it runs without them. */
const NODE_START_TIMEOUT_MS = 3000;

/**
 * How long the caller waits for a worker's part beyond the time its own part took, at least: a worker
 * that has not even taken its part by then is taken for dead (killed, or starved of CPU), the part is taken
 * back and computed by the caller, and the worker gets no more work. A worker that has taken its part is
 * waited for (it is running; on a busy machine it may be slow), up to {@link WORKER_RUNNING_LIMIT_MS}:
 * redoing a part that a worker may still be writing would let its late writes land on memory the caller
 * has moved on from (a product that adds to C would add twice).
 */
const WORKER_TIMEOUT_MS = 10_000;
/** How long a part a worker is running may take before the call fails rather than wait on. */
const WORKER_RUNNING_LIMIT_MS = 600_000;

/** A started worker, reduced to what the pool uses of Node's and the browser's `Worker`. */
interface PoolWorker {
  postMessage(message: unknown): void;
  terminate(): unknown;
}

/** Starts workers running the given JavaScript source. */
export interface Spawner {
  /** Start one worker; it must not keep a Node process alive. */
  spawn(source: string): PoolWorker;
  /** Whether the calling thread may block until workers start (Node: yes; browsers: they may need our event loop). */
  waitForStart: boolean;
}

/** The part of Node's `worker_threads` the pool uses (declared here: the library builds without Node's types). */
interface NodeWorkerThreads {
  Worker: new (
    source: string,
    options: { eval: true },
  ) => PoolWorker & { unref(): void; on(event: 'error', f: (e: unknown) => void): unknown };
}

/** The part of Node's `os` used for `threads: 'auto'`. */
interface NodeOs {
  availableParallelism?: () => number;
  cpus(): unknown[];
}

/** The globals feature detection reads; all optional, since any may be missing. */
interface MaybeGlobals {
  process?: { versions?: { node?: string }; getBuiltinModule?: (id: string) => unknown };
  navigator?: { hardwareConcurrency?: number };
  crossOriginIsolated?: boolean;
  Worker?: new (url: string) => PoolWorker;
  Blob?: typeof Blob;
  URL?: { createObjectURL?: (blob: Blob) => string };
}

const g = globalThis as unknown as MaybeGlobals;

function isNode(): boolean {
  return typeof g.process?.versions?.node === 'string';
}

/**
 * A dynamic import that bundlers leave alone: the specifier is a variable (so neither TypeScript nor a
 * bundler tries to resolve it) and the comments tell webpack and Vite not to.
 */
async function importNode<T>(specifier: string): Promise<T> {
  return (await import(/* webpackIgnore: true */ /* @vite-ignore */ specifier)) as T;
}

/** A Node built-in module obtained synchronously (`process.getBuiltinModule`, Node ≥ 20.16), else null. */
function nodeBuiltin<T>(specifier: string): T | null {
  try {
    return (g.process?.getBuiltinModule?.(specifier) as T | undefined) ?? null;
  } catch {
    return null;
  }
}

/** A Node built-in module: synchronously where the runtime allows, else by dynamic import. */
async function loadNodeBuiltin<T>(specifier: string): Promise<T> {
  return nodeBuiltin<T>(specifier) ?? (await importNode<T>(specifier));
}

/** Whether this thread may block in `Atomics.wait` (false on a browser's main thread, where it throws). */
function canBlock(): boolean {
  if (typeof SharedArrayBuffer !== 'function' || typeof Atomics !== 'object') return false;
  try {
    // Waiting for a value the cell does not hold returns at once where waiting is allowed.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
    return true;
  } catch {
    return false;
  }
}

/** Starts Node workers from `worker_threads`. */
function nodeSpawner(wt: NodeWorkerThreads): Spawner {
  return {
    waitForStart: true,
    spawn(source) {
      const w = new wt.Worker(source, { eval: true });
      // A worker spends its life blocked in Atomics.wait; unref lets the process exit around it.
      w.unref();
      // A worker that fails to start never reports ready and simply gets no work.
      w.on('error', () => {});
      return w;
    },
  };
}

/** Starts browser Workers from Blob URLs, or null where the runtime has no Workers. */
function browserSpawner(): Spawner | null {
  const { Worker, Blob: BlobCtor, URL: Url } = g;
  if (
    typeof Worker !== 'function' ||
    typeof BlobCtor !== 'function' ||
    typeof Url?.createObjectURL !== 'function'
  )
    return null;
  const createUrl = Url.createObjectURL;
  return {
    waitForStart: false,
    spawn(source) {
      return new Worker(createUrl(new BlobCtor([source], { type: 'text/javascript' })));
    },
  };
}

/** Whether a pool could work on this thread at all: shared memory, a blocking wait, cross-origin isolation. */
function poolPossible(): boolean {
  return canBlock() && g.crossOriginIsolated !== false;
}

/**
 * How to start workers on this runtime, or null where a pool cannot work: no shared memory, no blocking
 * wait on this thread, or no workers.
 */
export async function threadSupport(): Promise<Spawner | null> {
  if (!poolPossible()) return null;
  if (isNode()) {
    try {
      return nodeSpawner(await loadNodeBuiltin<NodeWorkerThreads>('node:worker_threads'));
    } catch {
      return null;
    }
  }
  return browserSpawner();
}

/**
 * {@link threadSupport} without waiting: also null in a Node too old for `process.getBuiltinModule`
 * (before 20.16), where `worker_threads` could only be imported asynchronously.
 */
export function threadSupportSync(): Spawner | null {
  if (!poolPossible()) return null;
  if (isNode()) {
    const wt = nodeBuiltin<NodeWorkerThreads>('node:worker_threads');
    return wt ? nodeSpawner(wt) : null;
  }
  return browserSpawner();
}

/** The cores `os` reports this process may use. */
function nodeCores(os: NodeOs): number {
  return os.availableParallelism?.() ?? os.cpus().length;
}

/** The thread count `threads: 'auto'` means: the cores this process may use. */
export async function autoThreads(): Promise<number> {
  if (isNode()) {
    try {
      return nodeCores(await loadNodeBuiltin<NodeOs>('node:os'));
    } catch {
      return 1;
    }
  }
  return g.navigator?.hardwareConcurrency ?? 1;
}

/** {@link autoThreads} without waiting (1 in a Node without `process.getBuiltinModule`). */
export function autoThreadsSync(): number {
  if (isNode()) {
    const os = nodeBuiltin<NodeOs>('node:os');
    try {
      return os ? nodeCores(os) : 1;
    } catch {
      return 1;
    }
  }
  return g.navigator?.hardwareConcurrency ?? 1;
}

/**
 * The worker's program. It instantiates the module on the shared memory, raises its ready flag, then
 * loops: sleep until the generation changes, and if its slot is assigned to that generation, run the
 * slot's function with the slot's arguments and count itself done. The slot's generation is written after its arguments
 * and before the generation is bumped, so a worker never runs a half-written job or one meant for later.
 */
function workerSource(node: boolean): string {
  const body = `
const start = (d) => {
  const x = new WebAssembly.Instance(d.module, { env: { memory: d.memory } }).exports;
  const fns = d.names.map((name) => x[name]);
  const I = new Int32Array(d.memory.buffer, d.control, ${HEADER_INTS} + d.slots * ${SLOT_INTS});
  const s = ${HEADER_INTS} + (d.index - 1) * ${SLOT_INTS};
  let gen = Atomics.load(I, ${GEN});
  Atomics.store(I, ${READY} + d.index, 1);
  Atomics.notify(I, ${READY} + d.index);
  for (;;) {
    // Poll a while before sleeping (see WORKER_SPIN_MS), reading the clock every thousand polls.
    const until = performance.now() + ${WORKER_SPIN_MS};
    while (Atomics.load(I, ${GEN}) === gen && performance.now() < until)
      for (let i = 0; i < 1000 && Atomics.load(I, ${GEN}) === gen; i++);
    Atomics.wait(I, ${GEN}, gen);
    gen = Atomics.load(I, ${GEN});
    if (Atomics.load(I, s) !== gen) continue;
    // Take the part, unless the caller gave up waiting and took it back.
    if (Atomics.compareExchange(I, s + ${CLAIM}, 0, 1) !== 0) continue;
    let failed = 0;
    try {
      fns[I[s + 1]](${Array.from({ length: MAX_ARGS }, (_, i) => `I[s + ${i + 2}]`).join(', ')});
    } catch {
      failed = 1;
    }
    Atomics.store(I, s + ${FAILED}, failed);
    Atomics.store(I, s + ${FINISHED}, gen);
    Atomics.add(I, ${DONE}, 1);
    Atomics.notify(I, ${DONE});
  }
};
`;
  // Node: a dynamic import, which both module kinds allow; an eval worker inherits the parent's flags, so
  // its source runs as an ES module where the parent has --input-type=module (no require there).
  return node
    ? `${body}import('node:worker_threads').then((m) => m.parentPort.once('message', start));\n`
    : `${body}self.onmessage = (e) => start(e.data);\n`;
}

/** One rectangle of C: rows i0..i1, columns j0..j1. */
export interface Part {
  i0: number;
  i1: number;
  j0: number;
  j1: number;
}

/**
 * Cut an m×n product into at most `parts` rectangles along the axis with more register tiles (rows in
 * steps of mr, columns in steps of nr), as evenly as whole tiles allow; never an empty one.
 */
export function splitProduct(m: number, n: number, mr: number, nr: number, parts: number): Part[] {
  const rowTiles = Math.ceil(m / mr);
  const colTiles = Math.ceil(n / nr);
  const byCols = colTiles >= rowTiles;
  const tiles = byCols ? colTiles : rowTiles;
  const step = byCols ? nr : mr;
  const end = byCols ? n : m;
  const count = Math.max(1, Math.min(parts, tiles));
  const out: Part[] = [];
  for (let t = 0; t < count; t++) {
    const lo = Math.min(end, Math.round((t * tiles) / count) * step);
    const hi = Math.min(end, Math.round(((t + 1) * tiles) / count) * step);
    out.push(byCols ? { i0: 0, i1: m, j0: lo, j1: hi } : { i0: lo, i1: hi, j0: 0, j1: n });
  }
  return out;
}

/**
 * Products run on workers so far in this process, and parts the caller had to redo because a worker
 * failed or timed out (for tests that check the pool did the work, or survived a lost worker).
 */
export const poolStats = { jobs: 0, workerParts: 0, redoneParts: 0 };

/**
 * The workers of one kernel set, started on first use. `run` hands the parts of one call to the calling
 * thread and every worker that has started; the kernels are cut so that every output element is computed
 * the same way whichever thread computes it, so the result does not depend on how many took part.
 */
export class KernelPool {
  private control: Int32Array | null = null;
  private readonly workers: (PoolWorker | null)[] = [];
  /** Workers taken out of service (failed, timed out, or the pool disposed). */
  private readonly retired = new Set<number>();

  constructor(
    private readonly spawner: Spawner,
    private readonly module: WebAssembly.Module,
    private readonly memory: WebAssembly.Memory,
    /** Byte address of the control block ({@link controlBytes}). */
    private readonly controlPtr: number,
    /** Threads including the caller. */
    readonly threads: number,
    /** The exported functions workers may be asked to run, by index. */
    private readonly names: readonly string[],
    /** Byte address of thread t's work area. */
    private readonly workArea: (t: number) => number,
    /**
     * Called when a part was taken back from a worker that never started it. That worker skips the part,
     * so nothing is written late; moving later operands past the memory used so far is a second guard,
     * paid only when a worker is taken out of service, never for one that was merely slow.
     */
    private readonly onLostWorker: () => void,
    /** Least time to wait for a worker's part (ms); tests shorten it. */
    private readonly timeoutMs = WORKER_TIMEOUT_MS,
  ) {}

  /** Workers still in service. */
  get liveWorkers(): number {
    return this.control ? this.threads - 1 - this.retired.size : this.threads - 1;
  }

  /**
   * Wake sleeping workers now, ahead of a call about to be split, so their wake-up (tens of microseconds
   * on an idle machine, far more on a busy one) overlaps the caller's copying of operands: a new
   * generation with no part assigned sends each worker back to spinning, where the call's parts find it.
   */
  wake(): void {
    if (!this.control || this.liveWorkers === 0) return;
    Atomics.add(this.control, GEN, 1);
    Atomics.notify(this.control, GEN);
  }

  /**
   * Start the workers (on the first product large enough to need them); in Node, wait a bounded time for
   * them to be ready so the first product already uses them.
   */
  private start(): Int32Array {
    if (this.control) return this.control;
    const slots = this.threads - 1;
    // A view of a shared buffer stays valid when the memory grows (only its length is fixed).
    const I = new Int32Array(this.memory.buffer, this.controlPtr, HEADER_INTS + slots * SLOT_INTS);
    this.control = I;
    const source = workerSource(isNode());
    const spawned: number[] = [];
    this.workers.push(null);
    for (let w = 1; w <= slots; w++) {
      try {
        const worker = this.spawner.spawn(source);
        worker.postMessage({
          module: this.module,
          memory: this.memory,
          control: this.controlPtr,
          slots,
          index: w,
          names: this.names,
          work: this.workArea(w),
        });
        this.workers.push(worker);
        spawned.push(w);
      } catch {
        // A worker that cannot start (a permission model, a strict Content Security Policy) leaves its
        // share to the others.
        this.workers.push(null);
      }
    }
    if (this.spawner.waitForStart) {
      const deadline = Date.now() + NODE_START_TIMEOUT_MS;
      for (const w of spawned) {
        const left = deadline - Date.now();
        if (left <= 0) break;
        Atomics.wait(I, READY + w, 0, left);
      }
    }
    return I;
  }

  /** Take worker w out of service and stop it. */
  private retire(w: number): void {
    this.retired.add(w);
    try {
      this.workers[w]?.terminate();
    } catch {
      // Already gone.
    }
    this.workers[w] = null;
  }

  /** Stop every worker; later products run on the calling thread alone. */
  dispose(): void {
    this.start();
    for (let w = 1; w < this.threads; w++) this.retire(w);
  }

  /**
   * Run the parts of one call: part 0 on the calling thread (`local`), the others on workers that are ready
   * (parts beyond them run on the calling thread too). `fn` indexes the names the pool was made with; each
   * part is its argument list, to which the running thread's work area is appended as the last argument
   * (at most {@link MAX_ARGS} in all). A part whose worker fails, or has not taken it in time, is computed
   * by the caller; a part a worker is running is waited for (see {@link WORKER_TIMEOUT_MS}). The result is
   * the same bits either way, and no worker writes to memory after the call returns.
   */
  run(
    fn: number,
    parts: readonly (readonly number[])[],
    local: (args: readonly number[], work: number) => void,
  ): void {
    const I = this.start();
    const ready: number[] = [];
    for (let w = 1; w < this.threads && ready.length + 1 < parts.length; w++)
      if (!this.retired.has(w) && Atomics.load(I, READY + w) === 1) ready.push(w);
    const helpers = ready.length;
    const gen = (Atomics.load(I, GEN) + 1) | 0;
    if (helpers > 0) {
      for (let h = 0; h < helpers; h++) {
        const s = HEADER_INTS + (ready[h] - 1) * SLOT_INTS;
        const args = parts[h + 1];
        if (args.length >= MAX_ARGS)
          throw new Error(`pool: ${args.length} arguments, at most ${MAX_ARGS - 1}`);
        I[s + 1] = fn;
        for (let i = 0; i < args.length; i++) I[s + 2 + i] = args[i];
        I[s + 2 + args.length] = this.workArea(ready[h]);
        Atomics.store(I, s + CLAIM, 0);
        Atomics.store(I, s, gen);
      }
      Atomics.store(I, GEN, gen);
      Atomics.notify(I, GEN);
      poolStats.jobs++;
      poolStats.workerParts += helpers;
    }
    const started = Date.now();
    const own = this.workArea(0);
    local(parts[0], own);
    for (let p = helpers + 1; p < parts.length; p++) local(parts[p], own);
    if (helpers === 0) return;
    const finished = (h: number) =>
      Atomics.load(I, HEADER_INTS + (ready[h] - 1) * SLOT_INTS + FINISHED) === gen;
    const allFinished = () => {
      for (let h = 0; h < helpers; h++) if (!finished(h)) return false;
      return true;
    };
    for (let i = 0; i < CALLER_SPIN && !allFinished(); i++);
    // Wait on the counter each finished part bumps, with a deadline: parts are about equal, so a worker
    // far slower than the caller's own part (and at least timeoutMs) is looked at below.
    const deadline = Date.now() + Math.max(this.timeoutMs, 20 * (Date.now() - started));
    while (!allFinished()) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      Atomics.wait(I, DONE, Atomics.load(I, DONE), Math.min(left, 100));
    }
    // Only a part taken back counts as lost: a worker that was slow but ran its part is not.
    let lost = false;
    for (let h = 0; h < helpers; h++) {
      const w = ready[h];
      const slot = HEADER_INTS + (w - 1) * SLOT_INTS;
      if (!finished(h)) {
        // Not done in time. A part nobody took is taken back (the worker will skip it); a part the worker
        // is running is waited for, so no late write can land after this call returns.
        if (Atomics.compareExchange(I, slot + CLAIM, 0, 2) === 0) {
          lost = true;
          this.retire(w);
          poolStats.redoneParts++;
          local(parts[h + 1], own);
          continue;
        }
        const limit = Date.now() + WORKER_RUNNING_LIMIT_MS;
        while (!finished(h)) {
          const left = limit - Date.now();
          if (left <= 0)
            throw new Error(
              `pool: worker ${w} has run its part of ${this.names[fn]} for over ${WORKER_RUNNING_LIMIT_MS / 1000} s; ` +
                'its result cannot be trusted',
            );
          Atomics.wait(I, DONE, Atomics.load(I, DONE), Math.min(left, 100));
        }
      }
      if (Atomics.load(I, slot + FAILED) === 0) continue;
      // The function threw on the worker: redo its part here, and give it no more work.
      this.retire(w);
      poolStats.redoneParts++;
      local(parts[h + 1], own);
    }
    if (lost) this.onLostWorker();
  }
}
