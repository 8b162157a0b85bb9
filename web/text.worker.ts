// The Text page's training worker: holds the run, trains in slices of about TEXT_FRAME_MS so it hears
// 'pause' between them, and sends a frame after each slice; about every two seconds it samples text and
// recomputes the prompt's attention and embedding gradients. All the math is the library's `TextRun`, on
// the WebAssembly SIMD kernels (`loadWorkerKernels`; the reference kernels where SIMD is missing).
import { playground } from './lib.js';
import { loadWorkerKernels } from './worker-kernels.js';
import {
  SAMPLE_EVERY_MS,
  SAMPLE_LENGTH,
  TEXT_FRAME_MS,
  sampleSeed,
  type FromTextWorker,
  type Inspection,
  type TextFrame,
  type ToTextWorker,
} from './text.protocol.js';

interface WorkerScope {
  crossOriginIsolated?: boolean;
  onmessage: ((event: MessageEvent<ToTextWorker>) => void) | null;
  postMessage(message: FromTextWorker): void;
}

const scope = globalThis as unknown as WorkerScope;

let run: playground.TextRun | null = null;
let runId = 0;
let playing = false;
let prompt = '';
let sent = 0;
let lastSample = 0;
let timer: ReturnType<typeof setTimeout> | null = null;

const post = (m: FromTextWorker) => scope.postMessage(m);
const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** The prompt's attention and gradients at the current weights. */
function inspect(current: playground.TextRun): Inspection {
  const out: Inspection = { prompt, attention: null, gradients: null, note: null };
  try {
    if (current.config.model === 'gpt' && prompt.length > 0) out.attention = current.attention(prompt);
    out.gradients = current.embeddingGradients(prompt);
  } catch (e) {
    out.note = message(e);
  }
  return out;
}

function frame(current: playground.TextRun, extras: boolean): TextFrame {
  const stats = current.history.slice(sent);
  sent = current.history.length;
  if (extras) lastSample = performance.now();
  return {
    step: current.step,
    playing,
    stats,
    sample: extras ? current.sample(SAMPLE_LENGTH, { seed: sampleSeed(current.config, current.step) }) : null,
    inspection: extras ? inspect(current) : null,
    digest: playing ? null : current.parameterDigest(),
  };
}

function sendFrame(extras = true): void {
  if (run) post({ type: 'frame', run: runId, frame: frame(run, extras) });
}

function fail(e: unknown): void {
  playing = false;
  post({ type: 'error', run: runId, message: message(e), fatal: false });
  sendFrame();
}

function loop(): void {
  timer = null;
  if (!playing || !run) return;
  const started = performance.now();
  try {
    do run.trainStep();
    while (performance.now() - started < TEXT_FRAME_MS);
  } catch (e) {
    fail(e);
    return;
  }
  sendFrame(performance.now() - lastSample >= SAMPLE_EVERY_MS);
  timer = setTimeout(loop, 0);
}

function stop(): void {
  playing = false;
  if (timer !== null) clearTimeout(timer);
  timer = null;
}

function handle(msg: ToTextWorker): void {
  switch (msg.type) {
    case 'init': {
      stop();
      runId = msg.run;
      run = null;
      prompt = msg.prompt;
      try {
        run = playground.createTextRun(msg.config, msg.text, msg.source);
      } catch (e) {
        post({ type: 'error', run: runId, message: message(e), fatal: true });
        return;
      }
      sent = 0;
      post({
        type: 'ready',
        run: runId,
        vocabulary: run.corpus.vocab.chars,
        characters: run.corpus.ids.length,
        trainCharacters: run.corpus.trainEnd,
        parameters: run.model.numParameters(),
        frame: frame(run, true),
      });
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
        run.trainStep();
      } catch (e) {
        fail(e);
        return;
      }
      sendFrame();
      return;
    case 'prompt':
      prompt = msg.prompt;
      if (run && !playing) sendFrame();
      return;
    case 'export': {
      if (!run) return;
      try {
        const onnx = msg.format === 'onnx';
        const data = onnx ? run.toOnnx() : run.toModelFile();
        const filename = `playground-text-${run.config.model}-step${run.step}.${onnx ? 'onnx' : 'json'}`;
        post({ type: 'exported', run: runId, filename, data, format: msg.format });
      } catch (e) {
        post({ type: 'error', run: runId, message: message(e), fatal: false });
      }
      return;
    }
    default:
      msg satisfies never;
  }
}

/** The WebAssembly SIMD kernels (threads where cross-origin isolated), as every playground worker. */
async function loadKernels(): Promise<void> {
  post({ type: 'kernels', name: await loadWorkerKernels(scope.crossOriginIsolated === true) });
}

const kernelsReady = loadKernels();
// Messages wait for the kernels (a few milliseconds, once); promise callbacks keep their order.
scope.onmessage = (event) => void kernelsReady.then(() => handle(event.data));
