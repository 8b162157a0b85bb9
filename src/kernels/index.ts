/**
 * The active kernel set. Ops call `kernels()` on every use, so swapping the set (e.g. for WebAssembly) takes
 * effect at once without touching tensors already made. Until a set is chosen explicitly, the first use
 * chooses the default (`default.ts`: the WebAssembly SIMD kernels wherever the runtime can compile them
 * then, the reference kernels elsewhere).
 */
import { chooseDefault } from './default.js';
import { referenceKernels } from './reference.js';
import { selection } from './state.js';
import type { Kernels, Storage } from './types.js';

/**
 * The kernel set ops currently run on: the one chosen with `setKernels` (or `useWasmKernels`), else the
 * default, chosen on the first call. The default is the WebAssembly SIMD set in Node (compiled then,
 * synchronously, with worker threads for large products) and in Web Workers; on a browser's main thread,
 * the reference set until `await ready()`; the reference set wherever WebAssembly SIMD is missing or
 * refused, or where Node's `CHAINRULE_KERNELS=reference` asks for it. Its `name` says which it is.
 */
export function kernels(): Kernels {
  return selection.active ?? selection.fallback ?? chooseDefault();
}

/** The default set, whichever it is (chosen now if it was not yet). */
function defaultSet(): Kernels {
  return selection.fallback ?? chooseDefault();
}

/**
 * Stands for "the default set": what `setKernels` returns before the default is settled (nothing ran yet,
 * or a browser's main thread before `ready()`), so that handing it back restores the default without
 * choosing it early. Used as a kernel set, it forwards to the default.
 */
const DEFAULT: Kernels = new Proxy({} as Kernels, {
  get: (_t, key) => Reflect.get(defaultSet(), key),
  has: (_t, key) => Reflect.has(defaultSet(), key),
  ownKeys: () => Reflect.ownKeys(defaultSet()),
  getOwnPropertyDescriptor: (_t, key) => {
    const d = Reflect.getOwnPropertyDescriptor(defaultSet(), key);
    return d && { ...d, configurable: true };
  },
});

/**
 * Replace the kernel set; returns the previous one, so callers can restore it. Called before the first
 * kernel runs, it wins over the default, which is then never compiled (what it returns then stands for the
 * default: handing it back restores the default, still unchosen). `setKernels(referenceKernels)` selects
 * the pure TypeScript kernels.
 */
export function setKernels(k: Kernels): Kernels {
  const prev = selection.active ?? (selection.final ? selection.fallback : null) ?? DEFAULT;
  selection.active = k === DEFAULT ? null : k;
  return prev;
}

/**
 * Zeroed storage for `n` elements that the active kernel set works on where it lies when it can
 * (`Kernels.alloc`: the WebAssembly set on a shared memory), else a plain typed array. For buffers that
 * kernels read and write on every step: gradients, optimizer state, the fused step's activations.
 */
export function kernelStorage(dtype: 'float32' | 'float64', n: number): Storage {
  return kernels().alloc?.(dtype, n) ?? (dtype === 'float32' ? new Float32Array(n) : new Float64Array(n));
}

export { ready } from './default.js';
export { referenceKernels };
export type { Kernels, Storage, UnaryOp, BinaryOp, BroadcastPlan } from './types.js';
