/**
 * Workload 2: MLP 784 → 128 (ReLU) → 10, softmax cross-entropy, SGD lr 0.01 without momentum, batch 64,
 * float32, on 10,000 synthetic samples (seeded uniform [0, 1) inputs, uniform labels 0..9), shuffled every
 * epoch. Reported in training samples per second over one epoch, after a warm-up epoch.
 */
import { fit, kernels, nn, optim, random, setKernels, Tensor } from '../../src/index.js';
import { loadWasmKernels } from '../../src/kernels/wasm/index.js';
import { measure, progress, type Figure } from '../harness.js';
import { loadTf, type TfBackend } from '../peers/tfjs.js';
import type { BenchConfig, NotApplicable, PeerName, Row } from '../types.js';

const IN = 784;
const HIDDEN = 128;
const CLASSES = 10;
const BATCH = 64;
const LR = 0.01;

interface Data {
  n: number;
  x: Float32Array;
  labels: Int32Array;
}

function syntheticData(n: number): Data {
  const rng = new random.RandomState(1234);
  const x = new Float32Array(n * IN);
  rng.mt.fillRandom(x);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) labels[i] = Math.floor(rng.random() * CLASSES);
  return { n, x, labels };
}

/** chainrule: `fit` with the 'crossEntropy' loss (logSoftmax + pick on the logits). */
async function ours(cfg: BenchConfig, data: Data): Promise<Figure> {
  const rng = new random.RandomState(7);
  const model = new nn.Sequential(
    new nn.Linear(IN, HIDDEN, { rng }),
    new nn.ReLU(),
    new nn.Linear(HIDDEN, CLASSES, { rng }),
  );
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
    warmupSeconds: 0,
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
async function tfjs(cfg: BenchConfig, backend: TfBackend, data: Data): Promise<Figure> {
  const peer = await loadTf();
  await peer.use(backend);
  const { tf } = peer;
  const tensorsBefore = tf.memory().numTensors;
  const model = tf.sequential({
    layers: [
      tf.layers.dense({ inputShape: [IN], units: HIDDEN, activation: 'relu' }),
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
    warmupSeconds: 0,
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

export async function mlpWorkload(cfg: BenchConfig): Promise<Row[]> {
  const n = cfg.quick ? 2_000 : 10_000;
  progress(`mlp 784-128-10: ${n} samples, batch ${BATCH}`);
  const data = syntheticData(n);
  const figure = await ours(cfg, data);
  // The same run on the WebAssembly SIMD kernels, the previous set restored afterwards.
  const wasm = await loadWasmKernels();
  let wasmFigure: Figure | null = null;
  if (wasm) {
    const prev = setKernels(wasm);
    try {
      wasmFigure = await ours(cfg, data);
    } finally {
      setKernels(prev);
    }
  }
  const peers: Record<PeerName, Figure | NotApplicable> = {
    'brain.js': { na: 'brain.js has no softmax cross-entropy' },
    'tfjs-cpu': await tfjs(cfg, 'cpu', data),
    'tfjs-wasm': await tfjs(cfg, 'wasm', data),
  };
  const rows: Row[] = [
    { workload: 'mlp', name: 'MLP 784-128-10, batch 64', unit: 'samples/s', ours: figure, peers },
  ];
  if (wasm && wasmFigure)
    rows.push({
      workload: 'mlp',
      name: `MLP 784-128-10, batch 64 (${wasm.name} kernels)`,
      unit: 'samples/s',
      ours: wasmFigure,
      peers,
    });
  return rows;
}
