// The training worker: holds the run, trains in slices of about FRAME_INTERVAL_MS so it can hear 'pause'
// between them, and sends a frame after each slice. All the math is the library's `createRun`.
import { playground } from './lib.js';
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

scope.onmessage = (event) => handle(event.data);
