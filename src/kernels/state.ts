/**
 * Which kernel set is active, kept apart from `index.ts` so that the WebAssembly loaders can switch sets
 * without importing the module that chooses the default (which imports them).
 */
import type { Kernels } from './types.js';

/** The selection ops read through `kernels()`. */
export const selection: {
  /** The set chosen explicitly (`setKernels`, `useWasmKernels`, `ready(options)`); null: the default. */
  active: Kernels | null;
  /** The default set, once chosen (`default.ts`); null until the first use. */
  fallback: Kernels | null;
  /**
   * Whether {@link fallback} is final. Not on a browser's main thread before `ready()`: the reference set
   * stands in there until the WebAssembly one has compiled asynchronously.
   */
  final: boolean;
} = { active: null, fallback: null, final: false };
