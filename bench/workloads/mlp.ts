/**
 * Workload 2: MLP 784 → 128 (ReLU) → 10, softmax cross-entropy, SGD lr 0.01 without momentum, batch 64,
 * float32, on 10,000 synthetic samples (seeded uniform [0, 1) inputs, uniform labels 0..9), shuffled every
 * epoch. Reported in training samples per second over one epoch, after warm-up epochs for at least a
 * second (one in a --quick run): with worker threads chainrule's epochs got ~40% faster over the first
 * ~0.5 s (measured on 2 cores, Node 20: 75-84k samples/s for three epochs, then 112-121k), likely while
 * the engine tiers the WebAssembly code up with both cores busy; a single warm-up epoch left that in the
 * timed runs and made their medians bimodal.
 *
 * Workload 2b: the same with a wider, deeper net, 784 → 512 → 512 → 10 (ReLU), batch 256, on 2,560
 * samples (an epoch of the reference kernels stays a few seconds). Each has a row for the default kernels
 * (what `kernels()` gives a program that makes no opt-in call: in Node the WebAssembly set with a thread
 * per core), the reference kernels, and the WebAssembly kernels on one thread and on all cores.
 */
import {
  fit,
  kernels,
  loadWasmKernels,
  nn,
  optim,
  random,
  referenceKernels,
  setKernels,
  Tensor,
  type Kernels,
} from '../../src/index.js';
import { measure, progress, type Figure } from '../harness.js';
import { loadTf, type TfBackend } from '../peers/tfjs.js';
import type { BenchConfig, NotApplicable, PeerName, Row } from '../types.js';

const IN = 784;
const CLASSES = 10;
const LR = 0.01;

/** One network and run size of this workload. */
interface Arch {
  /** Widths of the hidden ReLU layers. */
  hidden: number[];
  batch: number;
  /** Samples per epoch (full run, quick run). */
  samples: number;
  quickSamples: number;
}

const SMALL: Arch = { hidden: [128], batch: 64, samples: 10_000, quickSamples: 2_000 };
const WIDE: Arch = { hidden: [512, 512], batch: 256, samples: 2_560, quickSamples: 512 };

/** "784-128-10" */
function archName(arch: Arch): string {
  return [IN, ...arch.hidden, CLASSES].join('-');
}

export interface Data {
  n: number;
  x: Float32Array;
  labels: Int32Array;
}

/** Seeded synthetic inputs and labels (the same for every library). */
export function syntheticData(n: number): Data {
  const rng = new random.RandomState(1234);
  const x = new Float32Array(n * IN);
  rng.mt.fillRandom(x);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) labels[i] = Math.floor(rng.random() * CLASSES);
  return { n, x, labels };
}

/** The chainrule model: Linear + ReLU per hidden width, then the output Linear. */
export function chainruleMlp(hidden: readonly number[], rng: random.RandomState): nn.Sequential {
  const layers: nn.Module[] = [];
  let width = IN;
  for (const h of hidden) {
    layers.push(new nn.Linear(width, h, { rng }), new nn.ReLU());
    width = h;
  }
  layers.push(new nn.Linear(width, CLASSES, { rng }));
  return new nn.Sequential(...layers);
}

/** chainrule: `fit` with the 'crossEntropy' loss (logSoftmax + pick on the logits). */
async function ours(cfg: BenchConfig, arch: Arch, data: Data): Promise<Figure> {
  const rng = new random.RandomState(7);
  const model = chainruleMlp(arch.hidden, rng);
  const BATCH = arch.batch;
  const optimizer = new optim.SGD(model.parameters(), { lr: LR });
  const x = new Tensor(data.x, [data.n, IN]);
  const epoch = async () => {
    const h = await fit(
      model,
      { x, y: data.labels },
      { loss: 'crossEntropy', optimizer, epochs: 1, batchSize: BATCH, shuffle: true, rng },
    );
    if (!Number.isFinite(h.epochs[0]?.loss)) throw new Error('mlp: chainrule loss is not finite');
  };
  return measure({
    label: `chainrule fit (${kernels().name} kernels)`,
    work: data.n,
    call: epoch,
    warmupSeconds: cfg.quick ? 0 : 1,
    reps: cfg.reps,
    minReps: cfg.minReps,
    maxSeconds: cfg.quick ? 3 : 30,
  });
}

/**
 * tfjs: tf.sequential of dense(128, relu) and dense(10, softmax), compiled with 'categoricalCrossentropy'
 * on one-hot targets and tf.train.sgd(0.01), model.fit with batchSize 64, epochs 1, shuffle true. This is
 * the usual tfjs formulation; its softmax + log in the loss is the same order of work as chainrule's
 * logSoftmax + pick (both negligible next to the two matmuls per layer and direction).
 */
async function tfjs(cfg: BenchConfig, arch: Arch, backend: TfBackend, data: Data): Promise<Figure> {
  const peer = await loadTf();
  await peer.use(backend);
  const { tf } = peer;
  const BATCH = arch.batch;
  const tensorsBefore = tf.memory().numTensors;
  const model = tf.sequential({
    layers: [
      ...arch.hidden.map((units, i) =>
        tf.layers.dense({ ...(i === 0 ? { inputShape: [IN] } : {}), units, activation: 'relu' }),
      ),
      tf.layers.dense({ units: CLASSES, activation: 'softmax' }),
    ],
  });
  const sgd = tf.train.sgd(LR);
  model.compile({ optimizer: sgd, loss: 'categoricalCrossentropy' });
  const xs = tf.tensor2d(data.x, [data.n, IN]);
  const ys = tf.tidy(() => tf.oneHot(tf.tensor1d(data.labels, 'int32'), CLASSES).toFloat());
  const epoch = async () => {
    const h = await model.fit(xs, ys, { batchSize: BATCH, epochs: 1, shuffle: true, verbose: 0 });
    const loss = h.history.loss[0] as number;
    if (!Number.isFinite(loss)) throw new Error(`mlp: tfjs ${backend} loss is not finite`);
  };
  const figure = await measure({
    label: `tfjs ${backend} model.fit`,
    work: data.n,
    call: epoch,
    warmupSeconds: cfg.quick ? 0 : 1,
    reps: cfg.reps,
    minReps: cfg.minReps,
    maxSeconds: cfg.quick ? 3 : 30,
  });
  tf.dispose([xs, ys]);
  model.dispose();
  sgd.dispose();
  const leaked = tf.memory().numTensors - tensorsBefore;
  if (leaked > 0) progress(`  warning: tfjs ${backend} MLP leaked ${leaked} tensors`);
  return figure;
}

/** Row name suffix of the default set's row (run.ts's bar for it matches on this). */
export const DEFAULT_ROW = 'default kernels';

/** `run` with kernel set `k` active, the previous set restored afterwards. */
async function withKernels<T>(k: Kernels, run: () => Promise<T>): Promise<T> {
  const prev = setKernels(k);
  try {
    return await run();
  } finally {
    setKernels(prev);
  }
}

/**
 * The rows of one architecture: the default kernels (no opt-in call: whatever `kernels()` gives; every
 * workload restores the set it swapped), the reference kernels, wasm on one thread, wasm on every core
 * where that differs, and tfjs.
 */
async function archRows(cfg: BenchConfig, arch: Arch): Promise<Row[]> {
  const n = cfg.quick ? arch.quickSamples : arch.samples;
  const title = `MLP ${archName(arch)}, batch ${arch.batch}`;
  progress(`mlp ${archName(arch)}: ${n} samples, batch ${arch.batch}`);
  const data = syntheticData(n);
  const byDefault = { name: `${DEFAULT_ROW}: ${kernels().name}`, figure: await ours(cfg, arch, data) };
  const reference = {
    name: 'reference kernels',
    figure: await withKernels(referenceKernels, () => ours(cfg, arch, data)),
  };
  // The WebAssembly SIMD kernels loaded explicitly: one thread, then all cores where that differs.
  const sets = [await loadWasmKernels()];
  sets.push(await loadWasmKernels({ threads: 'auto' }));
  const wasmFigures: { name: string; figure: Figure }[] = [];
  for (const wasm of sets) {
    if (!wasm || wasmFigures.some((f) => f.name === `${wasm.name} kernels`)) continue;
    wasmFigures.push({
      name: `${wasm.name} kernels`,
      figure: await withKernels(wasm, () => ours(cfg, arch, data)),
    });
  }
  const peers: Record<PeerName, Figure | NotApplicable> = {
    'brain.js': { na: 'brain.js has no softmax cross-entropy' },
    'tfjs-cpu': await tfjs(cfg, arch, 'cpu', data),
    'tfjs-wasm': await tfjs(cfg, arch, 'wasm', data),
  };
  return [byDefault, reference, ...wasmFigures].map((w) => ({
    workload: 'mlp',
    name: `${title} (${w.name})`,
    unit: 'samples/s',
    ours: w.figure,
    peers,
  }));
}

export async function mlpWorkload(cfg: BenchConfig): Promise<Row[]> {
  return [...(await archRows(cfg, SMALL)), ...(await archRows(cfg, WIDE))];
}
