/**
 * Workload W4: an MNIST-shaped CNN — conv 16@5×5, ReLU, max-pool 2, conv 32@5×5, ReLU, max-pool 2,
 * flatten, linear 10 — trained with Adam (lr 1e-3) on softmax cross-entropy, batch 64, float32, on
 * synthetic 28×28 images (seeded uniform [0, 1) pixels, uniform labels 0..9), in training samples per
 * second. chainrule runs `fit` for one epoch per call; tfjs runs the same network as tf.layers with
 * model.fit. tfjs's wasm backend has no gradient kernels for convolutions and cannot train it: the row
 * says so with tfjs's own message. brain.js has no convolutions.
 */
import { fit, kernels, nn, optim, random, Tensor } from '../../src/index.js';
import { measure, progress, type Figure } from '../harness.js';
import { loadTf, type TfBackend } from '../peers/tfjs.js';
import type { BenchConfig, NotApplicable, PeerName, Row } from '../types.js';

const SIDE = 28;
const CLASSES = 10;
const BATCH = 64;
const LR = 1e-3;

interface Images {
  n: number;
  x: Float32Array;
  labels: Int32Array;
}

function syntheticImages(n: number): Images {
  const rng = new random.RandomState(4321);
  const x = new Float32Array(n * SIDE * SIDE);
  rng.mt.fillRandom(x);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) labels[i] = Math.floor(rng.random() * CLASSES);
  return { n, x, labels };
}

/** The W4 network in chainrule's layers. */
export function chainruleCnn(rng: random.RandomState): nn.Sequential {
  return new nn.Sequential(
    new nn.Conv2d(1, 16, 5, { rng }),
    new nn.ReLU(),
    new nn.MaxPool2d(2),
    new nn.Conv2d(16, 32, 5, { rng }),
    new nn.ReLU(),
    new nn.MaxPool2d(2),
    new nn.Flatten(),
    new nn.Linear(32 * 4 * 4, CLASSES, { rng }),
  );
}

async function ours(cfg: BenchConfig, data: Images): Promise<Figure> {
  const rng = new random.RandomState(7);
  const model = chainruleCnn(rng);
  const optimizer = new optim.Adam(model.parameters(), { lr: LR });
  const x = new Tensor(data.x, [data.n, 1, SIDE, SIDE]);
  return measure({
    label: `chainrule fit (${kernels().name} kernels)`,
    work: data.n,
    call: async () => {
      const h = await fit(
        model,
        { x, y: data.labels },
        { loss: 'crossEntropy', optimizer, epochs: 1, batchSize: BATCH, shuffle: true, rng },
      );
      if (!Number.isFinite(h.epochs[0]?.loss)) throw new Error('cnn: chainrule loss is not finite');
    },
    warmupSeconds: cfg.quick ? 0 : 1,
    reps: cfg.reps,
    minReps: cfg.minReps,
    maxSeconds: cfg.quick ? 3 : 30,
  });
}

/** tfjs: the same layers (channels-last, as tfjs wants), Adam, categorical cross-entropy on one-hot labels. */
async function tfjs(cfg: BenchConfig, backend: TfBackend, data: Images): Promise<Figure | NotApplicable> {
  const peer = await loadTf();
  await peer.use(backend);
  const { tf } = peer;
  const model = tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [SIDE, SIDE, 1], filters: 16, kernelSize: 5, activation: 'relu' }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.conv2d({ filters: 32, kernelSize: 5, activation: 'relu' }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.flatten(),
      tf.layers.dense({ units: CLASSES, activation: 'softmax' }),
    ],
  });
  const adam = tf.train.adam(LR);
  model.compile({ optimizer: adam, loss: 'categoricalCrossentropy' });
  const xs = tf.tensor4d(data.x, [data.n, SIDE, SIDE, 1]);
  const ys = tf.tidy(() => tf.oneHot(tf.tensor1d(data.labels, 'int32'), CLASSES).toFloat());
  const epoch = async () => {
    const h = await model.fit(xs, ys, { batchSize: BATCH, epochs: 1, shuffle: true, verbose: 0 });
    if (!Number.isFinite(h.history.loss[0] as number))
      throw new Error(`cnn: tfjs ${backend} loss is not finite`);
  };
  try {
    // One step first: a backend without the gradient kernels fails here, and the row says why.
    try {
      await model.fit(xs.slice(0, BATCH), ys.slice(0, BATCH), { batchSize: BATCH, epochs: 1, verbose: 0 });
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      progress(`  tfjs ${backend} cannot train the CNN: ${why}`);
      return { na: `cannot train: ${why}` };
    }
    return await measure({
      label: `tfjs ${backend} model.fit`,
      work: data.n,
      call: epoch,
      warmup: async () => {},
      warmupSeconds: 0,
      reps: cfg.reps,
      minReps: cfg.minReps,
      maxSeconds: cfg.quick ? 3 : 30,
    });
  } finally {
    tf.dispose([xs, ys]);
    model.dispose();
    adam.dispose();
  }
}

export async function cnnWorkload(cfg: BenchConfig): Promise<Row[]> {
  // tfjs-cpu trains this network at a few samples per second: it gets one batch per timed call.
  const n = cfg.quick ? 256 : 1280;
  progress(`cnn W4: ${n} samples (tfjs: ${BATCH}), batch ${BATCH}`);
  const data = syntheticImages(n);
  const small = {
    n: BATCH,
    x: data.x.subarray(0, BATCH * SIDE * SIDE),
    labels: data.labels.subarray(0, BATCH),
  };
  const figure = await ours(cfg, data);
  const peers: Record<PeerName, Figure | NotApplicable> = {
    'brain.js': { na: 'brain.js has no convolutions' },
    'tfjs-cpu': await tfjs(cfg, 'cpu', small),
    'tfjs-wasm': await tfjs(cfg, 'wasm', small),
  };
  return [
    {
      workload: 'cnn',
      name: `CNN W4 (conv16@5 relu pool2 conv32@5 relu pool2 linear10), batch ${BATCH}, Adam, float32 (${kernels().name} kernels)`,
      unit: 'samples/s',
      ours: figure,
      peers,
    },
  ];
}
