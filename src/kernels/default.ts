/**
 * The default kernel set: the WebAssembly SIMD kernels wherever the runtime can run them, chosen on the
 * first `kernels()` call if nothing was chosen before. In order:
 *
 * 1. a set chosen explicitly (`setKernels`, `useWasmKernels`, `ready(options)`) — then nothing compiles;
 * 2. in Node, `CHAINRULE_KERNELS=reference` selects the reference set (`wasm`, or unset: go on);
 * 3. where this thread may compile synchronously (Node, Deno, Bun; a Web Worker) the WebAssembly set,
 *    compiled and instantiated on the spot, with worker threads for large products: in Node
 *    `CHAINRULE_THREADS` (a positive integer or 'auto') or else 'auto', every core; in a Web Worker
 *    'auto' where the page is cross-origin isolated, else one thread;
 * 4. on a browser's main thread (which refuses large synchronous compiles) the reference set, until
 *    `await ready()` has compiled the WebAssembly one asynchronously;
 * 5. wherever WebAssembly SIMD is missing or compiling fails: the reference set, silently.
 *
 * `kernels().name` says which set runs. Nothing here names Node's types or imports Node modules: the
 * environment is read through `globalThis`.
 */
import { referenceKernels } from './reference.js';
import { selection } from './state.js';
import type { Kernels } from './types.js';
import {
  loadWasmKernels,
  loadWasmKernelsSync,
  useWasmKernels,
  type WasmKernelOptions,
} from './wasm/index.js';

/** The globals the choice reads; all optional, since any may be missing. */
interface MaybeGlobals {
  process?: { versions?: { node?: string }; env?: Record<string, string | undefined> };
  WorkerGlobalScope?: unknown;
  crossOriginIsolated?: boolean;
}

const g = globalThis as unknown as MaybeGlobals;

function isNode(): boolean {
  return typeof g.process?.versions?.node === 'string';
}

/** Whether this code runs in a Web Worker (dedicated, shared or service), detected without DOM types. */
function inWorker(): boolean {
  const scope = g.WorkerGlobalScope;
  return typeof scope === 'function' && globalThis instanceof (scope as new () => unknown);
}

/** Whether this thread may compile the module synchronously: Node, Web Workers; not a browser's main thread. */
function syncCompileAllowed(): boolean {
  return isNode() || inWorker();
}

/** The environment variables the default reads (Node only), parsed; a bad value is named and ignored. */
interface KernelEnv {
  kernels?: 'reference' | 'wasm';
  threads?: number | 'auto';
}

/**
 * `CHAINRULE_KERNELS` ('reference' or 'wasm') and `CHAINRULE_THREADS` (a positive integer or 'auto'), with
 * the command line's rules (it rejects what is ignored here, with exit status 2). Empty means unset.
 */
function readEnv(): KernelEnv {
  const env = g.process?.env;
  if (!env) return {};
  const out: KernelEnv = {};
  const k = env.CHAINRULE_KERNELS;
  if (k === 'reference' || k === 'wasm') out.kernels = k;
  else if (k) ignored('CHAINRULE_KERNELS', k, "'wasm' or 'reference'");
  const t = env.CHAINRULE_THREADS;
  if (t === 'auto') out.threads = 'auto';
  else if (t) {
    const n = Number(t);
    if (Number.isInteger(n) && n >= 1) out.threads = n;
    else ignored('CHAINRULE_THREADS', t, "a positive integer or 'auto'");
  }
  return out;
}

/** Variables already warned about, so each bad value is named once per process. */
const warned = new Set<string>();

/** Say once on stderr that a variable's value was not understood (the default is used instead). */
function ignored(name: string, value: string, expected: string): void {
  if (warned.has(`${name}=${value}`)) return;
  warned.add(`${name}=${value}`);
  console.warn(`chainrule: ignoring ${name}='${value}': it must be ${expected}`);
}

/** The options the default WebAssembly set is built with on this thread. */
function defaultOptions(env: KernelEnv): WasmKernelOptions {
  if (isNode()) return { threads: env.threads ?? 'auto' };
  // Threads need shared memory, which a page has only when cross-origin isolated, and a thread that may
  // block in Atomics.wait, which a browser's main thread may not.
  if (inWorker()) return { threads: g.crossOriginIsolated === true ? 'auto' : 1 };
  return { threads: 1 };
}

/**
 * Choose the default set (steps 2–5 above) and keep it in `selection.fallback`; `kernels()` calls this
 * once, on first use, when nothing was chosen explicitly.
 */
export function chooseDefault(): Kernels {
  const env = readEnv();
  let chosen: Kernels = referenceKernels;
  let final = true;
  if (env.kernels !== 'reference') {
    if (syncCompileAllowed()) {
      try {
        chosen = loadWasmKernelsSync(defaultOptions(env)) ?? referenceKernels;
      } catch {
        // The runtime refused to compile (a Content Security Policy without 'wasm-unsafe-eval', …).
      }
    } else final = false;
  }
  selection.fallback = chosen;
  selection.final = final;
  return chosen;
}

/** The main thread's asynchronous compile, once. */
let compiling: Promise<void> | null = null;

/**
 * Resolve to the kernel set ops will run on, once the fast one is ready. In Node and in Web Workers the
 * WebAssembly SIMD kernels are the default without any call (compiled synchronously on first use), so this
 * resolves at once to the active set. On a browser's main thread, which refuses large synchronous
 * compiles, ops run on the reference kernels until this has compiled the WebAssembly set asynchronously
 * and made it the default (unless a set was chosen with `setKernels` meanwhile); call it once at start-up.
 * Where WebAssembly SIMD is missing or refused, it resolves to the reference set, which stays active.
 *
 * With `options`, it compiles a WebAssembly set with them — `threads` defaults to 'auto' in Node (or
 * `CHAINRULE_THREADS`) and in cross-origin isolated Web Workers, else 1 — and makes it active, as
 * `useWasmKernels` does.
 *
 * @example
 * ```ts
 * import { ready, kernels } from 'chainrule';
 * await ready();
 * console.log(kernels().name); // 'wasm-simd-relaxed32' in Chromium's main thread
 * ```
 */
export async function ready(options?: WasmKernelOptions): Promise<Kernels> {
  if (options !== undefined) {
    await useWasmKernels({ ...defaultOptions(readEnv()), ...options });
    return selection.active ?? selection.fallback ?? chooseDefault();
  }
  if (selection.active) return selection.active;
  const k = selection.fallback ?? chooseDefault();
  if (selection.final) return k;
  compiling ??= loadWasmKernels(defaultOptions({})).then(
    (wasm) => {
      if (wasm) selection.fallback = wasm;
      selection.final = true;
    },
    () => {
      selection.final = true;
    },
  );
  await compiling;
  return selection.active ?? selection.fallback ?? chooseDefault();
}
