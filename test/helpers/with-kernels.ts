// Run code on a given kernel set and put the previous one back afterwards, even when it throws.
import { setKernels, type Kernels } from '../../src/index.js';

/** `fn()` with `k` as the active kernel set; the previous set is restored afterwards. */
export function withSet<T>(k: Kernels, fn: () => T): T {
  const prev = setKernels(k);
  try {
    return fn();
  } finally {
    setKernels(prev);
  }
}

/** `withSet` for an async `fn`: the set stays active until its promise settles. */
export async function withSetAsync<T>(k: Kernels, fn: () => Promise<T>): Promise<T> {
  const prev = setKernels(k);
  try {
    return await fn();
  } finally {
    setKernels(prev);
  }
}
