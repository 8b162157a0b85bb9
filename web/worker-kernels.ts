// The kernel set every playground worker trains on, loaded the same way in each.
import { kernels, useWasmKernels } from './lib.js';
import { kernelThreads } from './protocol.js';

/**
 * Switch to the WebAssembly SIMD kernels with {@link kernelThreads} threads (more than one only where the
 * page is cross-origin isolated) and return the name of the set that runs. A worker would get the
 * WebAssembly set without this call (it is the default where a thread may compile synchronously); the
 * explicit call caps the threads, which bounds the shared memory reserved up front. Where WebAssembly SIMD
 * is missing or refused the reference kernels stay: the same bits, slower.
 */
export async function loadWorkerKernels(crossOriginIsolated: boolean): Promise<string> {
  try {
    await useWasmKernels({ threads: kernelThreads(navigator.hardwareConcurrency, crossOriginIsolated) });
  } catch {
    // The reference kernels stay active: nothing to report but their name.
  }
  return kernels().name;
}
