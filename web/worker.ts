// The training worker: holds the run, trains in slices of about FRAME_INTERVAL_MS so it can hear 'pause'
// between them, and sends a frame after each slice. All the math is the library's `createRun`, on the
// WebAssembly SIMD kernels where the browser has them (the reference kernels elsewhere).
import { playground } from './lib.js';
import { loadWorkerKernels } from './worker-kernels.js';
import {
  FRAME_INTERVAL_MS,
  OUTPUT_DENSITY,
  UNIT_DENSITY,
  frameBuffers,
  type Frame,
  type FromWorker,
  type ToWorker,
} from './protocol.js';

/** The part of a dedicated worker's global scope this file uses (the DOM lib does not describe it). */
interface WorkerScope {
  crossOriginIsolated?: boolean;
  onmessage: ((event: MessageEvent<ToWorker>) => void) | null;
  postMessage(message: FromWorker, transfer?: Transferable[]): void;
}

const scope = globalThis as unknown as WorkerScope;

let run: playground.PlaygroundRun | null = null;
let runId = 0;
let playing = false;
/** History entries already sent to the page. */
let sent = 0;
let timer: ReturnType<typeof setTimeout> | null = null;

function post(message: FromWorker, transfer: Transferable[] = []): void {
  scope.postMessage(message, transfer);
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function frame(current: playground.PlaygroundRun, restated = false): Frame {
  const stats = current.history.slice(restated ? sent - 1 : sent);
  sent = current.history.length;
  return {
    epoch: current.epoch,
    playing,
    stats,
    restated,
    parameters: current.parameters(),
    grids: current.grids(OUTPUT_DENSITY, UNIT_DENSITY),
  };
}

function sendFrame(restated = false): void {
  if (!run) return;
  const f = frame(run, restated);
  post({ type: 'frame', run: runId, frame: f }, frameBuffers(f));
}

function fail(e: unknown): void {
  playing = false;
  post({ type: 'error', run: runId, message: message(e), fatal: false });
  sendFrame();
}

/** Train epochs for one slice, send a frame, and come back after the event loop had its turn. */
function loop(): void {
  timer = null;
  if (!playing || !run) return;
  const started = performance.now();
  try {
    do run.trainEpoch();
    while (performance.now() - started < FRAME_INTERVAL_MS);
  } catch (e) {
    fail(e);
    return;
  }
  sendFrame();
  timer = setTimeout(loop, 0);
}

function stop(): void {
  playing = false;
  if (timer !== null) clearTimeout(timer);
  timer = null;
}

function handle(msg: ToWorker): void {
  switch (msg.type) {
    case 'init': {
      stop();
      runId = msg.run;
      run = null;
      try {
        run = playground.createRun(msg.config, msg.csv ?? undefined);
      } catch (e) {
        post({ type: 'error', run: runId, message: message(e), fatal: true });
        return;
      }
      sent = 0;
      const f = frame(run);
      const { problem, train, test } = run.data;
      post({ type: 'ready', run: runId, problem, train, test, frame: f }, frameBuffers(f));
      return;
    }
    case 'play':
      if (!run || playing) return;
      playing = true;
      loop();
      return;
    case 'pause':
      stop();
      sendFrame();
      return;
    case 'step':
      if (!run) return;
      stop();
      try {
        run.trainEpoch();
      } catch (e) {
        fail(e);
        return;
      }
      sendFrame();
      return;
    case 'setParameter':
      if (!run) return;
      try {
        run.setParameter(msg.layer, msg.kind, msg.index, msg.value);
      } catch (e) {
        fail(e);
        return;
      }
      sendFrame(true);
      return;
    case 'explain':
      if (!run) return;
      try {
        post({ type: 'explanation', run: runId, explanation: playground.explainStep(run, msg.sample) });
      } catch (e) {
        post({ type: 'error', run: runId, message: message(e), fatal: false });
      }
      return;
    case 'export': {
      if (!run) return;
      const name = `playground-${run.config.dataset}-epoch${run.epoch}`;
      try {
        const data = msg.format === 'onnx' ? run.toOnnx() : run.toModelFile();
        const filename = `${name}.${msg.format === 'onnx' ? 'onnx' : 'json'}`;
        post({ type: 'exported', run: runId, format: msg.format, filename, data });
      } catch (e) {
        post({ type: 'error', run: runId, message: message(e), fatal: false });
      }
      return;
    }
    default:
      msg satisfies never;
  }
}

/**
 * Switch to the WebAssembly SIMD kernels, then tell the page which set runs. The promise "same URL, same
 * weights as in Node" holds on them: the playground trains in float64, the wasm elementwise ops are the
 * reference's IEEE operations, and a float64 product whose depth fits one of the wasm matmul's depth blocks
 * (512) adds its terms from zero in the reference's order, so it rounds the same; the playground's depths
 * are at most 30 (a batch, for weight gradients), 7 features or 8 neurons. Products under 128
 * multiply-adds and everything else (exp, tanh, reductions, …) run in the reference kernels anyway. A
 * float32 product would round differently, but nothing here is float32. test/playground.test.ts trains
 * URLs here and in Node (on Node's default kernels, the WebAssembly set too) and compares the weights bit
 * for bit; test/default-kernels.test.ts checks that a run on that set has the reference kernels' bits.
 *
 * Threads (where the page is cross-origin isolated; a worker may block in Atomics.wait) split only products
 * of 2²² multiply-adds or more, which the playground never reaches, and give the same bits for any count.
 * Where WebAssembly SIMD is missing or refused, `useWasmKernels` resolves false and the reference stays.
 */
async function loadKernels(): Promise<void> {
  post({ type: 'kernels', name: await loadWorkerKernels(scope.crossOriginIsolated === true) });
}

const kernelsReady = loadKernels();

// Messages wait for the kernels (a few milliseconds, once); promise callbacks keep their order.
scope.onmessage = (event) => void kernelsReady.then(() => handle(event.data));
