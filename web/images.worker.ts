// The Images page's training worker: fetches the image set, holds the run, trains in slices of
// IMAGES_SLICE_MS so it hears 'pause' between them, and after each slice sends a frame with the current
// image opened up. All the math is the library's (`createImageRun`, `inspect`), on the WebAssembly kernels.
import { playground } from './lib.js';
import { loadWorkerKernels } from './worker-kernels.js';
import {
  IMAGES_SLICE_MS,
  type ImagesFrame,
  type ImagesFromWorker,
  type ImagesToWorker,
} from './images.protocol.js';

interface WorkerScope {
  crossOriginIsolated?: boolean;
  onmessage: ((event: MessageEvent<ImagesToWorker>) => void) | null;
  postMessage(message: ImagesFromWorker, transfer?: Transferable[]): void;
}
const scope = globalThis as unknown as WorkerScope;

let run: playground.ImageRun | null = null;
let runId = 0;
let playing = false;
let timer: ReturnType<typeof setTimeout> | null = null;
let sentLosses = 0;
let sentEvaluations = 0;
let image: { values: Float64Array; label: number | null } | null = null;
/** Built-in sets, fetched once each. */
const sets = new Map<string, Promise<playground.ImageSet>>();

const post = (m: ImagesFromWorker, transfer: Transferable[] = []) => scope.postMessage(m, transfer);
const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** While playing, the image is opened up at most this often (ms): drawing it costs the page's cores too. */
const INSPECT_EVERY_MS = 250;
let inspectedAt = -Infinity;

function frame(r: playground.ImageRun): ImagesFrame {
  const f: ImagesFrame = {
    steps: r.steps,
    epoch: r.epoch,
    playing,
    losses: r.losses.slice(sentLosses),
    evaluations: r.evaluations.slice(sentEvaluations),
    inspection: null,
  };
  sentLosses = r.losses.length;
  sentEvaluations = r.evaluations.length;
  // An image of another set's shape (sent for the run before) waits for the page's next one.
  const due = !playing || performance.now() - inspectedAt >= INSPECT_EVERY_MS;
  if (image && due && image.values.length === r.trainX.shape[1]) {
    inspectedAt = performance.now();
    // A drawn image has no label: the step is opened up against the class the network predicts.
    const label = image.label ?? playground.predictedClass(r.predict(image.values));
    f.inspection = r.inspect(image.values, label);
  }
  return f;
}

function sendFrame(): void {
  if (!run) return;
  try {
    post({ type: 'frame', run: runId, frame: frame(run) });
  } catch (e) {
    post({ type: 'error', run: runId, message: message(e), fatal: false });
  }
}

function stop(): void {
  playing = false;
  if (timer !== null) clearTimeout(timer);
  timer = null;
}

function loop(): void {
  timer = null;
  if (!playing || !run) return;
  try {
    run.train(performance.now() + IMAGES_SLICE_MS);
  } catch (e) {
    stop();
    post({ type: 'error', run: runId, message: message(e), fatal: false });
  }
  sendFrame();
  if (playing) timer = setTimeout(loop, 0);
}

function builtin(name: playground.ImageDatasetName): Promise<playground.ImageSet> {
  const asset = playground.IMAGE_DATASETS[name].asset;
  if (!asset) return Promise.reject(new Error(`images: the ${name} set has no asset; load a folder`));
  let p = sets.get(asset);
  if (!p) {
    p = fetch(new URL(asset, new URL('.', location.href))).then(async (response) => {
      if (!response.ok) throw new Error(`images: ${asset}: HTTP ${response.status}`);
      // Gzipped bytes, sent as they are (no Content-Encoding): the stream unpacks them.
      const unpacked = new Response(response.body!.pipeThrough(new DecompressionStream('gzip')));
      return playground.decodeImageSet(new Uint8Array(await unpacked.arrayBuffer()), asset);
    });
    sets.set(asset, p);
  }
  return p;
}

async function init(msg: Extract<ImagesToWorker, { type: 'init' }>): Promise<void> {
  stop();
  runId = msg.run;
  run = null;
  image = null;
  sentLosses = 0;
  sentEvaluations = 0;
  try {
    const set = msg.set ?? (await builtin(msg.config.dataset));
    if (msg.run !== runId) return;
    run = playground.createImageRun(msg.config, set);
    const f = frame(run);
    post({
      type: 'ready',
      run: runId,
      shape: set.shape,
      maxValue: set.maxValue,
      classes: set.classes,
      test: set.test,
      trainCount: set.train.count,
      batchesPerEpoch: run.batchesPerEpoch,
      source: set.source,
      frame: f,
    });
  } catch (e) {
    if (msg.run === runId) post({ type: 'error', run: runId, message: message(e), fatal: true });
  }
}

function handle(msg: ImagesToWorker): void {
  switch (msg.type) {
    case 'init':
      void init(msg);
      return;
    case 'play':
      if (!run || playing) return;
      playing = true;
      loop();
      return;
    case 'pause':
      stop();
      // Scored where it stopped, too (epochs end only every few hundred steps on MNIST).
      if (run && run.evaluations[run.evaluations.length - 1]?.step !== run.steps) run.evaluate();
      sendFrame();
      return;
    case 'step':
      if (!run) return;
      stop();
      try {
        run.step();
      } catch (e) {
        post({ type: 'error', run: runId, message: message(e), fatal: false });
      }
      sendFrame();
      return;
    case 'inspect':
      image = { values: msg.image, label: msg.label };
      if (!playing) sendFrame();
      return;
    case 'export': {
      if (!run) return;
      try {
        const data = msg.format === 'onnx' ? run.toOnnx() : run.toModelFile();
        const filename = `playground-images-${run.config.dataset}-step${run.steps}.${msg.format === 'onnx' ? 'onnx' : 'json'}`;
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
scope.onmessage = (event) => void kernelsReady.then(() => handle(event.data));
