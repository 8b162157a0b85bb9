// The Images page's wiring: state ↔ URL, controls → worker, the drawing → the worker's inspection, and the
// worker's frames → the prediction, the scores and the layers' pictures (once per animation frame).
import { LayersView } from './images.view.js';
import { readFolder, readDroppedFolder } from './images.folder.js';
import type { ImagesFrame, ImagesFromWorker, ImagesToWorker } from './images.protocol.js';
import {
  imageConfigOf,
  imagesStateFromHash,
  imagesStateToHash,
  presetState,
  sameImageRun,
  type ImagesState,
} from './images.state.js';
import { playground } from './lib.js';
import { mountNav } from './nav.js';
import { download } from './page.js';

const byId = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const randomSeed = () => Math.floor(Math.random() * 100_000);

const worker = new Worker(new URL('./images.worker.js', import.meta.url), { type: 'module' });
const post = (m: ImagesToWorker) => worker.postMessage(m);

const parsed = imagesStateFromHash(location.hash, randomSeed());
let state: ImagesState = parsed.state;
let runId = 0;
let playing = false;
let folderSet: playground.ImageSet | null = null;
/** What the worker said about the current run's data. */
let data: Extract<ImagesFromWorker, { type: 'ready' }> | null = null;
let steps = 0;
let epoch = 0;
const losses: number[] = [];
const evaluations: playground.ImageEvaluation[] = [];
let inspection: playground.Inspection | null = null;
let testIndex = -1;
let kernelSet: string | null = null;
let drawQueued = false;

const view = new LayersView(byId('layers'), byId('cell-card'));
mountNav(byId('pages'), 'images.html');

function status(text: string): void {
  byId('status').textContent = text;
}

// ---- controls ----
const selects = {
  dataset: byId<HTMLSelectElement>('dataset'),
  optimizer: byId<HTMLSelectElement>('optimizer'),
  learningRate: byId<HTMLSelectElement>('learningRate'),
  label: byId<HTMLSelectElement>('label'),
};
const inputs = {
  batchSize: byId<HTMLInputElement>('batchSize'),
  seed: byId<HTMLInputElement>('seed'),
  arch: byId<HTMLInputElement>('arch'),
  showGradients: byId<HTMLInputElement>('showGradients'),
};

function options(
  select: HTMLSelectElement,
  values: readonly (string | number)[],
  label = (v: string) => v,
): void {
  select.replaceChildren(
    ...values.map((v) => {
      const o = document.createElement('option');
      o.value = String(v);
      o.textContent = label(String(v));
      return o;
    }),
  );
}

function renderControls(): void {
  options(
    selects.dataset,
    playground.IMAGE_DATASET_NAMES,
    (d) => playground.IMAGE_DATASETS[d as playground.ImageDatasetName].label,
  );
  options(selects.optimizer, playground.CHOICES.optimizer);
  const rates = [...new Set([...playground.IMAGE_LEARNING_RATES, state.learningRate])].sort((a, b) => a - b);
  options(selects.learningRate, rates);
  selects.dataset.value = state.dataset;
  selects.optimizer.value = state.optimizer;
  selects.learningRate.value = String(state.learningRate);
  inputs.batchSize.value = String(state.batchSize);
  inputs.seed.value = String(state.seed);
  inputs.arch.value = state.arch;
  inputs.showGradients.checked = state.showGradients;
}

function setPlaying(on: boolean): void {
  playing = on;
  const b = byId('play');
  b.classList.toggle('playing', on);
  b.setAttribute('aria-pressed', String(on));
  b.setAttribute('aria-label', on ? 'Pause' : 'Play');
}

/** Take a new state: into the URL and the controls; a different run restarts the worker. */
function setState(next: ImagesState, force = false): void {
  const restartNeeded = force || !sameImageRun(state, next) || data === null;
  state = next;
  history.replaceState(null, '', imagesStateToHash(state));
  renderControls();
  if (restartNeeded) restart();
  else queueDraw();
}

function restart(): void {
  runId++;
  setPlaying(false);
  data = null;
  steps = 0;
  epoch = 0;
  losses.length = 0;
  evaluations.length = 0;
  inspection = null;
  view.update(null, state.showGradients);
  status('');
  post({
    type: 'init',
    run: runId,
    config: imageConfigOf(state),
    set: state.dataset === 'folder' ? folderSet : null,
  });
}

selects.dataset.addEventListener('change', () => {
  const d = selects.dataset.value as playground.ImageDatasetName;
  if (d === 'folder' && !folderSet) {
    selects.dataset.value = state.dataset;
    byId('folder-file').click();
    return;
  }
  // A dataset comes with its preset, whole; the seed stays.
  setState({ ...presetState(d, state.seed), showGradients: state.showGradients });
});
selects.optimizer.addEventListener('change', () =>
  setState({ ...state, optimizer: selects.optimizer.value as playground.OptimizerChoice }),
);
selects.learningRate.addEventListener('change', () =>
  setState({ ...state, learningRate: Number(selects.learningRate.value) }),
);
for (const [key, input] of [
  ['batchSize', inputs.batchSize],
  ['seed', inputs.seed],
] as const)
  input.addEventListener('change', () => {
    const v = Number(input.value);
    const max = key === 'seed' ? playground.IMAGE_LIMITS.maxSeed : playground.IMAGE_LIMITS.maxBatchSize;
    if (!Number.isInteger(v) || v < (key === 'seed' ? 0 : 1) || v > max) {
      status(`${key}: expected an integer ${key === 'seed' ? 0 : 1}–${max}, got '${input.value}'`);
      input.value = String(state[key]);
      return;
    }
    setState({ ...state, [key]: v });
  });
inputs.arch.addEventListener('change', () => setState({ ...state, arch: inputs.arch.value.trim() }));
inputs.showGradients.addEventListener('change', () =>
  setState({ ...state, showGradients: inputs.showGradients.checked }),
);
selects.label.addEventListener('change', () => sendImage());

byId('play').addEventListener('click', () => {
  if (!data) return;
  setPlaying(!playing);
  post({ type: playing ? 'play' : 'pause' });
});
byId('step').addEventListener('click', () => {
  setPlaying(false);
  post({ type: 'step' });
});
byId('reset').addEventListener('click', () => restart());
byId('export-chainrule').addEventListener('click', () => post({ type: 'export', format: 'chainrule' }));
byId('export-onnx').addEventListener('click', () => post({ type: 'export', format: 'onnx' }));

// ---- the image: drawn, or one of the test set ----
const pad = byId<HTMLCanvasElement>('draw');
const pen = pad.getContext('2d', { willReadFrequently: true }) as CanvasRenderingContext2D;
let image: Float64Array | null = null;

function clearPad(): void {
  pen.fillStyle = 'black';
  pen.fillRect(0, 0, pad.width, pad.height);
}

function labelChoice(): number | null {
  return selects.label.value === '' ? null : Number(selects.label.value);
}

function sendImage(): void {
  if (image) post({ type: 'inspect', image: image.slice(), label: labelChoice() });
}

/** The drawing as the network's input, through the library's MNIST-style preparation. */
function takeDrawing(): void {
  if (!data) return;
  const rgba = pen.getImageData(0, 0, pad.width, pad.height).data;
  const grey = new Uint8Array(pad.width * pad.height);
  for (let i = 0; i < grey.length; i++) grey[i] = rgba[4 * i];
  const [c, h, w] = data.shape;
  const one = playground.drawingToImage(grey, pad.width, pad.height, [1, h, w]);
  image = new Float64Array(c * h * w);
  for (let k = 0; k < c; k++) image.set(one, k * h * w);
  byId('image-info').textContent = `Your drawing, as ${w}×${h} pixels.`;
  sendImage();
}

function showTestImage(index: number): void {
  if (!data) return;
  const [c, h, w] = data.shape;
  const size = c * h * w;
  testIndex = index % data.test.count;
  const pixels = data.test.pixels.subarray(testIndex * size, (testIndex + 1) * size);
  image = Float64Array.from(pixels, (v) => v / data!.maxValue);
  // Shown on the pad, enlarged (the first channel).
  const small = document.createElement('canvas');
  small.width = w;
  small.height = h;
  const sctx = small.getContext('2d') as CanvasRenderingContext2D;
  const img = sctx.createImageData(w, h);
  for (let i = 0; i < h * w; i++) {
    const g = Math.round(255 * image[i]);
    img.data.set([g, g, g, 255], 4 * i);
  }
  sctx.putImageData(img, 0, 0);
  pen.imageSmoothingEnabled = false;
  pen.drawImage(small, 0, 0, pad.width, pad.height);
  const label = data.test.labels[testIndex];
  selects.label.value = String(label);
  byId('image-info').textContent = `Test image #${testIndex}, labelled ${data.classes[label]}.`;
  sendImage();
}

let drawing = false;
let fresh = true;
pad.addEventListener('pointerdown', (e) => {
  if (testIndex >= 0 || fresh) {
    clearPad();
    testIndex = -1;
    fresh = false;
    selects.label.value = '';
  }
  drawing = true;
  pad.setPointerCapture(e.pointerId);
  const r = pad.getBoundingClientRect();
  pen.beginPath();
  pen.moveTo(((e.clientX - r.left) * pad.width) / r.width, ((e.clientY - r.top) * pad.height) / r.height);
});
pad.addEventListener('pointermove', (e) => {
  if (!drawing) return;
  const r = pad.getBoundingClientRect();
  pen.lineTo(((e.clientX - r.left) * pad.width) / r.width, ((e.clientY - r.top) * pad.height) / r.height);
  pen.strokeStyle = 'white';
  pen.lineWidth = 22;
  pen.lineCap = 'round';
  pen.lineJoin = 'round';
  pen.stroke();
});
const endStroke = () => {
  if (!drawing) return;
  drawing = false;
  takeDrawing();
};
pad.addEventListener('pointerup', endStroke);
pad.addEventListener('pointercancel', endStroke);
byId('clear').addEventListener('click', () => {
  clearPad();
  testIndex = -1;
  fresh = true;
  image = null;
  byId('image-info').textContent = 'Draw a digit.';
});
byId('test-image').addEventListener('click', () => showTestImage(testIndex + 1));

// ---- a folder of images ----
async function useFolder(read: Promise<playground.ImageSet>): Promise<void> {
  try {
    status('Reading the images…');
    const set = await read;
    folderSet = set;
    setState({ ...presetState('folder', state.seed), showGradients: state.showGradients }, true);
    status(
      `${set.name}: ${set.train.count} training and ${set.test.count} test images, classes ${set.classes.join(', ')}`,
    );
  } catch (e) {
    status((e as Error).message);
  }
}
byId('folder-pick').addEventListener('click', () => byId('folder-file').click());
byId<HTMLInputElement>('folder-file').addEventListener('change', (e) => {
  const files = (e.target as HTMLInputElement).files;
  if (files && files.length) void useFolder(readFolder(files));
});
document.body.addEventListener('dragover', (e) => {
  e.preventDefault();
  document.body.classList.add('dragging');
});
document.body.addEventListener('dragleave', () => document.body.classList.remove('dragging'));
document.body.addEventListener('drop', (e) => {
  e.preventDefault();
  document.body.classList.remove('dragging');
  if (e.dataTransfer) void useFolder(readDroppedFolder(e.dataTransfer));
});

// ---- frames ----
function take(f: ImagesFrame): void {
  steps = f.steps;
  epoch = f.epoch;
  losses.push(...f.losses);
  evaluations.push(...f.evaluations);
  if (f.inspection) inspection = f.inspection;
  if (!f.playing && playing) setPlaying(false);
  queueDraw();
}

function queueDraw(): void {
  if (drawQueued) return;
  drawQueued = true;
  requestAnimationFrame(draw);
}

/** What the pictures show now. */
const shown: { inspection: playground.Inspection | null; gradients: boolean } = {
  inspection: null,
  gradients: true,
};

const percent = (v: number) => `${(v * 100).toFixed(2)}%`;

function draw(): void {
  drawQueued = false;
  byId('counter').textContent = `${epoch} · ${steps}`;
  const e = evaluations[evaluations.length - 1];
  byId('test-accuracy').textContent = e ? percent(e.testAccuracy) : '–';
  byId('test-loss').textContent = e ? e.testLoss.toFixed(4) : '–';
  byId('batch-loss').textContent = losses.length ? losses[losses.length - 1].toFixed(4) : '–';
  drawChart();
  // The pictures only change with a new inspection (a few times a second while playing).
  if (inspection === shown.inspection && state.showGradients === shown.gradients) return;
  shown.inspection = inspection;
  shown.gradients = state.showGradients;
  view.update(inspection, state.showGradients);
  const list = byId('probabilities');
  if (!inspection || !data) return list.replaceChildren();
  const i = inspection;
  const classes = data.classes;
  // Built once per set of classes, then updated: a hovered or focused row stays where it is.
  if (list.children.length !== classes.length)
    list.replaceChildren(
      ...classes.map((c, k) => {
        const li = document.createElement('li');
        const name = document.createElement('span');
        name.textContent = c;
        const bar = document.createElement('span');
        bar.className = 'bar';
        const text = document.createElement('output');
        text.id = `prob-${k}`;
        li.append(name, bar, text);
        li.tabIndex = 0;
        view.attach(li, { of: 'probability', index: k });
        return li;
      }),
    );
  i.probabilities.forEach((p, k) => {
    const li = list.children[k] as HTMLElement;
    li.classList.toggle('predicted', k === i.predicted);
    li.setAttribute('aria-label', `class ${classes[k]}: ${percent(p)}`);
    (li.children[1] as HTMLElement).style.width = `${(p * 100).toFixed(1)}%`;
    li.children[2].textContent = percent(p);
  });
}

function drawChart(): void {
  const canvas = byId<HTMLCanvasElement>('chart');
  const ctx = canvas.getContext('2d') as CanvasRenderingContext2D;
  const { width, height } = canvas;
  ctx.clearRect(0, 0, width, height);
  if (losses.length < 2) return;
  // Batch losses averaged per pixel column, on a scale from 0 to the first loss.
  const top = Math.max(...losses.slice(0, 20), 1e-9);
  ctx.strokeStyle = '#999';
  ctx.beginPath();
  for (let x = 0; x < width; x++) {
    const from = Math.floor((x * losses.length) / width);
    const to = Math.max(from + 1, Math.floor(((x + 1) * losses.length) / width));
    let s = 0;
    for (let k = from; k < to; k++) s += losses[k];
    const y = height - (Math.min(top, s / (to - from)) / top) * height;
    if (x === 0) ctx.moveTo(x, y);
    else ctx.lineTo(x, y);
  }
  ctx.stroke();
  ctx.fillStyle = 'rgb(8, 119, 189)';
  for (const e of evaluations)
    ctx.fillRect((e.step / Math.max(1, steps)) * (width - 3), height - e.testAccuracy * height, 3, 3);
}

worker.onmessage = (event: MessageEvent<ImagesFromWorker>) => {
  const m = event.data;
  if (m.type === 'kernels') {
    kernelSet = m.name;
    byId('kernels').textContent =
      `Kernels: ${m.name}${crossOriginIsolated ? ' (cross-origin isolated)' : ''}`;
    return;
  }
  if (m.run !== runId) return;
  switch (m.type) {
    case 'ready': {
      data = m;
      options(selects.label, ['', ...m.classes.map((_, k) => k)], (v) =>
        v === '' ? 'the predicted class' : m.classes[Number(v)],
      );
      byId('source').textContent = `Data: ${playground.IMAGE_DATASETS[state.dataset].split}. ${m.source}.`;
      take(m.frame);
      // Something to look at from the start: the first test image.
      if (image && image.length === m.shape[0] * m.shape[1] * m.shape[2] && testIndex < 0) sendImage();
      else showTestImage(Math.max(0, testIndex));
      return;
    }
    case 'frame':
      take(m.frame);
      return;
    case 'exported':
      download(m);
      return;
    case 'error':
      status(m.message);
      if (m.fatal) setPlaying(false);
      return;
    default:
      m satisfies never;
  }
};
worker.onerror = (e) => status(`The training worker failed: ${e.message}`);

/** For tests and the curious: read-only views of the page. */
Object.assign(window, {
  chainrulePlaygroundImages: {
    state: () => structuredClone(state),
    steps: () => (data ? steps : null),
    epoch: () => epoch,
    evaluations: () => evaluations.map((e) => ({ ...e })),
    losses: () => [...losses],
    inspection: () => inspection,
    image: () => (image ? Array.from(image) : null),
    playing: () => playing,
    run: () => runId,
    kernels: () => kernelSet,
  },
});

window.addEventListener('hashchange', () => {
  if (location.hash === imagesStateToHash(state)) return;
  const next = imagesStateFromHash(location.hash, state.seed);
  if (next.ignored.length) status(`Ignored in the URL: ${next.ignored.join(', ')}`);
  setState(next.state);
});

clearPad();
if (parsed.ignored.length) status(`Ignored in the URL: ${parsed.ignored.join(', ')}`);
if (state.dataset === 'folder') {
  status('This link trained on a folder of images that this page does not have: load it again.');
  state = { ...presetState('digits', state.seed), showGradients: state.showGradients };
}
setState(state, true);
