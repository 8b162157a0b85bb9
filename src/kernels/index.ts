/**
 * The active kernel set. Ops call `kernels()` on every use, so swapping the set (e.g. for WebAssembly) takes
 * effect at once without touching tensors already made.
 */
import { referenceKernels } from './reference.js';
import type { Kernels, Storage } from './types.js';

let active: Kernels = referenceKernels;

/** The kernel set ops currently run on. */
export function kernels(): Kernels {
  return active;
}

/** Replace the kernel set (returns the previous one, so callers can restore it). */
export function setKernels(k: Kernels): Kernels {
  const prev = active;
  active = k;
  return prev;
}

/**
 * Zeroed storage for `n` elements that the active kernel set works on where it lies when it can
 * (`Kernels.alloc`: the WebAssembly set on a shared memory), else a plain typed array. For buffers that
 * kernels read and write on every step: gradients, optimizer state, the fused step's activations.
 */
export function kernelStorage(dtype: 'float32' | 'float64', n: number): Storage {
  return active.alloc?.(dtype, n) ?? (dtype === 'float32' ? new Float32Array(n) : new Float64Array(n));
}

export { referenceKernels };
export type { Kernels, Storage, UnaryOp, BinaryOp, BroadcastPlan } from './types.js';
