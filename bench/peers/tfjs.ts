/**
 * TensorFlow.js, pure-JS `cpu` backend and WebAssembly `wasm` backend, loaded once and switched between.
 *
 * - The cpu backend prints a "looks like you are running TensorFlow.js in Node.js … install tfjs-node"
 *   banner through console.warn on its first tensor; prod mode (which only silences tfjs's own warnings)
 *   turns it off, and console.warn is also muted around the import.
 * - In Node the wasm backend needs the path of its .wasm files: a plain directory path ending in '/'
 *   works (so does a file:// URL). It picks the SIMD build when the runtime has SIMD; tfjs never enables
 *   its multithreaded build under Node (WASM_HAS_MULTITHREAD_SUPPORT is hard-wired false there, tfjs
 *   issue #3830), so wasm runs on one thread.
 */
import { createRequire } from 'node:module';
import path from 'node:path';

type TF = typeof import('@tensorflow/tfjs');
type WasmModule = typeof import('@tensorflow/tfjs-backend-wasm');

export type TfBackend = 'cpu' | 'wasm';

/** The loaded library and facts about the wasm backend, for the table's footer. */
export interface TfPeer {
  tf: TF;
  version: string;
  wasmSimd: boolean;
  wasmThreads: number;
  wasmMultithreadSupported: boolean;
  /** Switch backends; throws if the backend did not become active. */
  use(backend: TfBackend): Promise<void>;
}

let loaded: Promise<TfPeer> | null = null;

/** Import tfjs and its wasm backend (once). */
export function loadTf(): Promise<TfPeer> {
  loaded ??= load();
  return loaded;
}

async function load(): Promise<TfPeer> {
  const warn = console.warn;
  let tf: TF;
  let wasm: WasmModule;
  try {
    console.warn = () => {};
    tf = await import('@tensorflow/tfjs');
    wasm = await import('@tensorflow/tfjs-backend-wasm');
  } finally {
    console.warn = warn;
  }
  tf.enableProdMode();
  // Resolve the package the way Node does, so this works wherever node_modules is.
  const require = createRequire(import.meta.url);
  const wasmDist = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm')) + path.sep;
  wasm.setWasmPaths(wasmDist);

  const use = async (backend: TfBackend): Promise<void> => {
    const ok = await tf.setBackend(backend);
    await tf.ready();
    if (!ok || tf.getBackend() !== backend)
      throw new Error(`tfjs: could not switch to the ${backend} backend (active: ${tf.getBackend()})`);
  };
  await use('wasm');
  const wasmSimd = (await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) as boolean;
  const wasmMultithreadSupported = (await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT')) as boolean;
  const wasmThreads = wasm.getThreadsCount();
  await use('cpu');
  return { tf, version: tf.version.tfjs, wasmSimd, wasmThreads, wasmMultithreadSupported, use };
}
