/**
 * The active kernel set. Ops call `kernels()` on every use, so swapping the set (e.g. for WebAssembly) takes
 * effect at once without touching tensors already made.
 */
import { referenceKernels } from './reference.js';
import type { Kernels } from './types.js';

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

export { referenceKernels };
export type { Kernels, Storage, UnaryOp, BinaryOp, BroadcastPlan } from './types.js';
