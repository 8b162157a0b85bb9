/**
 * Building the kernels' WebAssembly module and finding out what the runtime supports. The module is
 * assembled from the TypeScript in this folder on first use (about 75 KB; 40 ms to assemble the first
 * time in a process, 15–20 ms after that; compiling is lazy: under 1 ms synchronously, 10–25 ms
 * asynchronously; measured on 2 cores, Node 20), so there is no binary in the repository and no build
 * step. The bytes are kept per process (in memory, never in a file), so a second kernel set with the same
 * features and memory costs no second assembly.
 */
import { addAdd32 } from './add32.js';
import { ModuleBuilder, type Func } from './asm.js';
import { addAttention } from './attention.js';
import { addConv } from './conv.js';
import { addElementwise } from './elementwise.js';
import { addGemm } from './gemm.js';
import { addNorm } from './norm.js';
import { addOptim } from './optim.js';
import { addPooling } from './pooling.js';
import { addRecurrent } from './recurrent.js';
import { addReduce } from './reduce.js';

/** What the module is built to use. */
export interface WasmFeatures {
  /** Relaxed SIMD's fused multiply-add instead of a multiply and an add, in float32 products. */
  relaxed: boolean;
  /** The same in float64 products. */
  relaxed64?: boolean;
}

/** Whether the runtime validates a one-function module built by `body` (false without WebAssembly). */
function validates(body: (f: Func) => void): boolean {
  if (typeof WebAssembly !== 'object' || typeof WebAssembly.validate !== 'function') return false;
  const mod = new ModuleBuilder();
  mod.func('probe', [], ['v128'], body);
  try {
    return WebAssembly.validate(mod.build());
  } catch {
    return false;
  }
}

let simd: boolean | undefined;
let relaxed: boolean | undefined;

/** Whether fixed-width SIMD (v128) is available: every current browser and Node ≥ 16. */
export function simdSupported(): boolean {
  simd ??= validates((f) => f.zero128().zero128().op('f32x4.add'));
  return simd;
}

/**
 * Whether relaxed SIMD is available: Chrome ≥ 114, Node ≥ 22; Node 20 only with
 * `--experimental-wasm-relaxed-simd`.
 */
export function relaxedSimdSupported(): boolean {
  relaxed ??= simdSupported() && validates((f) => f.zero128().zero128().zero128().op('f32x4.relaxed_madd'));
  return relaxed;
}

/**
 * The kernels' module for the given features. `memory` describes the imported memory: a pool of threads
 * needs a shared one, which must declare its maximum (the default is a plain memory of at least one page).
 * The same bytes are returned for the same arguments: read them, never write.
 */
export function buildKernelModule(
  features: WasmFeatures,
  memory?: { minPages: number; maxPages: number; shared: true },
): Uint8Array<ArrayBuffer> {
  const key = JSON.stringify([features.relaxed, features.relaxed64 ?? false, memory ?? null]);
  let bytes = built.get(key);
  if (!bytes) {
    bytes = assemble(features, memory);
    built.set(key, bytes);
  }
  return bytes;
}

/** The modules built so far in this process, by features and memory (a handful at most). */
const built = new Map<string, Uint8Array<ArrayBuffer>>();

/** Assemble the module (what {@link buildKernelModule} keeps). */
function assemble(
  features: WasmFeatures,
  memory?: { minPages: number; maxPages: number; shared: true },
): Uint8Array<ArrayBuffer> {
  const mod = new ModuleBuilder();
  const g32 = addGemm(mod, 'f32', { relaxed: features.relaxed });
  const g64 = addGemm(mod, 'f64', { relaxed: features.relaxed64 ?? false });
  addConv(mod, 'f32', g32);
  addConv(mod, 'f64', g64);
  addAttention(mod, 'f32', g32.gemm);
  addAttention(mod, 'f64', g64.gemm);
  addElementwise(mod, 'f32');
  addElementwise(mod, 'f64');
  addOptim(mod, 'f32');
  addOptim(mod, 'f64');
  addReduce(mod, 'f32');
  addReduce(mod, 'f64');
  addPooling(mod, 'f32');
  addPooling(mod, 'f64');
  addRecurrent(mod, 'f32');
  addRecurrent(mod, 'f64');
  addNorm(mod, 'f32');
  addNorm(mod, 'f64');
  addAdd32(mod);
  return mod.build(memory);
}
