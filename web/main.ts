// The page's wiring: state ↔ URL, controls → worker, worker frames → drawing (once per animation frame).
import { Controls } from './controls.js';
import { CsvPanel, type CsvChoice } from './csv.js';
import { drawChart } from './draw/chart.js';
import { Heatmap } from './draw/heatmap.js';
import { NetworkView } from './draw/network.js';
import { Inspector, type Naming } from './inspector.js';
import { mountNav } from './nav.js';
import { download } from './page.js';
import { playground } from './lib.js';
import { UNIT_DENSITY, type ExportFormat, type Frame, type FromWorker, type ToWorker } from './protocol.js';
import {
  DEFAULT_STATE,
  configOf,
  normalize,
  sameRun,
  stateFromHash,
  stateToHash,
  type PageState,
} from './state.js';

const byId = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const randomSeed = () => Math.floor(Math.random() * 100_000);

const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
const post = (message: ToWorker) => worker.postMessage(message);

const parsed = stateFromHash(location.hash, randomSeed());
let state: PageState = parsed.state;
let runId = 0;
let playing = false;
let history: playground.EpochStats[] = [];
let frame: Frame | null = null;
let data: { train: playground.Points; test: playground.Points } | null = null;
let csv: { choice: CsvChoice; points: playground.TablePoints } | null = null;
let drawQueued = false;
/** The kernel set the worker trains on, once it says (`kernels().name` there). */
let kernelSet: string | null = null;

function status(text: string): void {
  byId('status').textContent = text;
}

/** Names of units and inputs: the notebook's for the seed network, systematic otherwise (as the trace). */
function naming(s: PageState): Naming {
  const seedShaped =
    s.dataset === 'seed' && s.features.length === 2 && s.hidden.join() === '2' && s.activation === 'sigmoid';
  const last = s.hidden.length;
  const labels = s.features.map((f) => playground.FEATURE_LABELS[f]);
  if (seedShaped)
    return {
      unitName: (layer, unit) => (layer === last ? 'output' : `h${unit + 1}`),
      inputName: (i) => `x${i + 1}`,
      inputLegend: '',
    };
  return {
    unitName: (layer, unit) => (layer === last ? `out_${unit}` : `h${layer + 1}_${unit}`),
    inputName: (i) => labels[i],
    inputLegend: labels.map((l, i) => `x_${i} = ${l}`).join(', '),
  };
}

mountNav(byId('pages'), 'index.html');

const heatmap = new Heatmap(byId('heatmap'), playground.DOMAIN);
const chart = byId<HTMLCanvasElement>('chart');
const inspector = new Inspector(
  {
    editParameter: (layer, kind, index, value) => post({ type: 'setParameter', layer, kind, index, value }),
    explain: (sample) => post({ type: 'explain', sample }),
  },
  naming(state),
);
const network = new NetworkView(byId('network'), byId('card'), {
  toggleFeature: (f) => {
    const on = state.features.includes(f);
    if (on && state.features.length === 1) return status('The network needs at least one feature.');
    const features = playground.FEATURE_NAMES.filter((g) => (g === f ? !on : state.features.includes(g)));
    setState({ ...state, features });
  },
  select: (s) => {
    network.setSelection(s);
    inspector.select(s);
  },
  editParameter: (layer, kind, index, value) => post({ type: 'setParameter', layer, kind, index, value }),
});
const controls = new Controls({
  change: (patch) => change(patch),
  pickDataset: (d) => pickDataset(d),
  play: () => {
    playing = !playing;
    post({ type: playing ? 'play' : 'pause' });
    controls.setPlaying(playing);
  },
  step: () => {
    playing = false;
    controls.setPlaying(false);
    post({ type: 'step' });
  },
  reset: () => restart(),
  regenerate: () => setState({ ...state, seed: randomSeed() }),
});
const csvPanel = new CsvPanel({
  chosen: (choice) => useCsv(choice, state.dataset === 'csv' && !csv ? state.problem : undefined),
  error: (message) => status(message),
});

function useCsv(choice: CsvChoice, problem?: playground.ProblemType): void {
  try {
    const points = playground.pointsFromTable(choice.table, choice.columns, problem);
    csv = { choice, points };
    const c = choice.columns;
    status(
      `${choice.table.source}: ${points.reason}${points.classes ? `; ${points.classes[0]} is −1, ${points.classes[1]} is +1` : ''}`,
    );
    setState(
      { ...state, dataset: 'csv', problem: points.problem, csvX1: c.x1, csvX2: c.x2, csvLabel: c.label },
      true,
    );
  } catch (e) {
    status((e as Error).message);
  }
}

function pickDataset(d: playground.DatasetName): void {
  if (d === 'seed') return setState({ ...state, ...playground.presetFor('seed') });
  if (d === 'csv') {
    if (csv) setState({ ...state, dataset: 'csv', problem: csv.points.problem });
    else byId('csv-file').click();
    return;
  }
  // Leaving the seed preset goes back to TensorFlow Playground's settings.
  const base = state.dataset === 'seed' ? { ...DEFAULT_STATE, seed: state.seed } : state;
  setState({
    ...base,
    dataset: d,
    discretize: state.discretize,
    showTestData: state.showTestData,
    showGradients: state.showGradients,
  });
}

function change(patch: Partial<PageState>): void {
  const next = { ...state, ...patch };
  if (patch.problem && patch.problem !== state.problem) {
    if (next.dataset === 'csv' && csv) return useCsv(csv.choice, patch.problem);
    const own = playground.DATASETS[next.dataset].problem;
    if (own !== patch.problem) next.dataset = patch.problem === 'classification' ? 'circle' : 'plane';
  }
  setState(next);
}

/** Take a new state: into the URL and the controls; a different run restarts the worker. */
function setState(next: PageState, force = false): void {
  next = normalize(next);
  const restartNeeded = force || !sameRun(state, next) || frame === null;
  state = next;
  writeUrl();
  controls.render(state, csv !== null);
  if (restartNeeded) restart();
  else queueDraw();
}

function writeUrl(): void {
  window.history.replaceState(null, '', stateToHash(state));
}

/** Start the run the state describes from epoch 0, paused. */
function restart(): void {
  runId++;
  playing = false;
  controls.setPlaying(false);
  history = [];
  frame = null;
  data = null;
  heatmap.setPoints(null, state.showTestData);
  buildDiagram();
  network.setSelection(null);
  inspector.select(null);
  const points = state.dataset === 'csv' ? (csv?.points.points ?? null) : null;
  post({ type: 'init', run: runId, config: configOf(state), csv: points });
}

const featurePictures = playground.featureGrids(UNIT_DENSITY, playground.FEATURE_NAMES);

/** Lay out the network diagram for the state's features and layers (and the window's width). */
function buildDiagram(): void {
  const names = naming(state);
  network.build({
    features: playground.FEATURE_NAMES,
    active: state.features,
    labels: playground.FEATURE_LABELS,
    hidden: state.hidden,
    unitName: names.unitName,
    inputName: names.inputName,
  });
  network.paintFeatures(featurePictures, UNIT_DENSITY);
}

let resizing: ReturnType<typeof setTimeout> | null = null;
window.addEventListener('resize', () => {
  if (resizing !== null) clearTimeout(resizing);
  resizing = setTimeout(() => {
    controls.render(state, csv !== null);
    buildDiagram();
    queueDraw();
  }, 150);
});

function take(f: Frame): void {
  if (f.restated && history.length > 0) history.pop();
  history.push(...f.stats);
  frame = f;
  if (!f.playing && playing) {
    playing = false;
    controls.setPlaying(false);
  }
  queueDraw();
}

function queueDraw(): void {
  if (drawQueued) return;
  drawQueued = true;
  requestAnimationFrame(draw);
}

/** Draw the latest frame: one per animation frame however fast the worker trains. */
function draw(): void {
  drawQueued = false;
  if (!frame) return;
  const last = history[history.length - 1];
  controls.setEpoch(frame.epoch);
  controls.setLosses(last ?? null);
  heatmap.drawValues(frame.grids.output, frame.grids.density, state.discretize);
  heatmap.setPoints(data, state.showTestData);
  network.update(frame, { discretize: state.discretize, showGradients: state.showGradients });
  inspector.update(frame.parameters);
  drawChart(chart, history);
}

function exportModel(format: ExportFormat): void {
  post({ type: 'export', format });
}

/** Show the worker's kernel set in the footer: its name, and what it means on hover. */
function showKernels(name: string): void {
  kernelSet = name;
  const el = byId('kernels');
  el.textContent = `Kernels: ${name}`;
  const threads = /-threads(\d+)$/.exec(name)?.[1];
  el.title = name.startsWith('wasm-simd')
    ? `WebAssembly SIMD${threads ? `, up to ${threads} threads for large products` : ''}: the same bits as the reference kernels for this page's float64 networks.`
    : 'The reference TypeScript kernels (WebAssembly SIMD is unavailable here).';
}

worker.onmessage = (event: MessageEvent<FromWorker>) => {
  const m = event.data;
  if (m.type === 'kernels') return showKernels(m.name);
  if (m.run !== runId) return;
  switch (m.type) {
    case 'ready':
      data = { train: m.train, test: m.test };
      inspector.reset(naming(state), m.train.y.length);
      take(m.frame);
      return;
    case 'frame':
      take(m.frame);
      return;
    case 'explanation':
      inspector.explain(m.explanation);
      return;
    case 'exported':
      download(m);
      return;
    case 'error':
      status(m.message);
      if (m.fatal) {
        frame = null;
        playing = false;
        controls.setPlaying(false);
      }
      return;
    default:
      m satisfies never;
  }
};
worker.onerror = (e) => status(`The training worker failed: ${e.message}`);

byId('export-chainrule').addEventListener('click', () => exportModel('chainrule'));
byId('export-onnx').addEventListener('click', () => exportModel('onnx'));
byId('isolation').textContent = window.crossOriginIsolated
  ? 'Cross-origin isolated: worker threads can share memory.'
  : 'Not cross-origin isolated (served without COOP/COEP headers): training still runs in a worker.';

/** For tests and the curious: read-only views of the page's state. */
Object.assign(window, {
  chainrulePlayground: {
    state: () => structuredClone(state),
    history: () => history.map((s) => ({ ...s })),
    epoch: () => frame?.epoch ?? null,
    playing: () => playing,
    run: () => runId,
    kernels: () => kernelSet,
  },
});

// A link pasted into the address bar of an open page changes only the hash: take it as a new state.
window.addEventListener('hashchange', () => {
  if (location.hash === stateToHash(state)) return;
  const next = stateFromHash(location.hash, state.seed);
  if (next.ignored.length) status(`Ignored in the URL: ${next.ignored.join(', ')}`);
  setState(next.state);
});

if (parsed.ignored.length) status(`Ignored in the URL: ${parsed.ignored.join(', ')}`);
if (state.dataset === 'csv') {
  const columns = { x1: state.csvX1, x2: state.csvX2, label: state.csvLabel };
  // A reload finds the file of this session; a link opened elsewhere cannot, so it says so.
  if (!csvPanel.restore(columns)) {
    status('This link trained on a CSV file that this browser session does not have: load it again.');
    state = normalize({ ...state, dataset: state.problem === 'regression' ? 'plane' : 'circle' });
  }
}
if (!csv) setState(state, true);
