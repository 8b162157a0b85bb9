/**
 * Workload W6: LSTM(1 → 64) over 32 time steps, then Linear(64 → 1) on the last step, trained with Adam
 * (lr 1e-3) on mean squared error, batch 32, float32, on seeded noisy sine windows (32 values in, the
 * next value out), in training sequences per second. chainrule runs `fit` for one epoch per call over
 * nn.LSTM (batch first), nn.LastStep, nn.Linear; tfjs the same model as tf.layers.lstm (units 64) and
 * dense(1) with model.fit; brain.js its `recurrent.LSTMTimeStep` (hidden [64]) on the same windows as
 * 33-value sequences (it trains one sequence at a time with its own RMSprop-style update and a loss on
 * every step: the same data shape, not the same arithmetic).
 */
import { fit, kernels, loadWasmKernels, nn, optim, random, setKernels, Tensor } from '../../src/index.js';
import { measure, progress, type Figure } from '../harness.js';
import { loadBrain } from '../peers/brain.js';
import { loadTf, type TfBackend } from '../peers/tfjs.js';
import type { BenchConfig, NotApplicable, PeerName, Row } from '../types.js';

/**
 * Sequences per CPU-second (user + system time of the whole process, every thread): on cores shared with
 * other work, wall-clock rates follow the load, CPU time much less. Calls `call` until it has used
 * `cpuSeconds`, after `measure` (so warm).
 */
async function perCpuSecond(call: () => unknown, work: number, cpuSeconds: number): Promise<number> {
  const c0 = process.cpuUsage();
  let done = 0;
  let used: number;
  do {
    await call();
    done += work;
    const c = process.cpuUsage(c0);
    used = (c.user + c.system) / 1e6;
  } while (used < cpuSeconds);
  return done / used;
}

/** `measure`, then the rate per CPU-second added to the figure's note. */
async function measured(spec: Parameters<typeof measure>[0], cpuSeconds: number): Promise<Figure> {
  const figure = await measure(spec);
  const rate = await perCpuSecond(spec.call, spec.work, cpuSeconds);
  progress(`  ${spec.label}: ${Math.round(rate).toLocaleString('en-US')} per CPU-second`);
  const cpu = `${Math.round(rate)} sequences per CPU-second`;
  figure.note = figure.note ? `${figure.note}; ${cpu}` : cpu;
  return figure;
}

const STEPS = 32;
const HIDDEN = 64;
const BATCH = 32;
const LR = 1e-3;

interface Windows {
  n: number;
  /** [n, STEPS] inputs, then the next value of each window. */
  x: Float32Array;
  y: Float32Array;
}

/** n windows of a noisy sine with random phases and frequencies (seeded). */
function sineWindows(n: number): Windows {
  const rng = new random.RandomState(6);
  const x = new Float32Array(n * STEPS);
  const y = new Float32Array(n);
  for (let s = 0; s < n; s++) {
    const phase = rng.random() * 2 * Math.PI;
    const freq = 0.1 + rng.random() * 0.3;
    for (let t = 0; t <= STEPS; t++) {
      const v = Math.sin(phase + freq * t) + 0.05 * (rng.random() - 0.5);
      if (t < STEPS) x[s * STEPS + t] = v;
      else y[s] = v;
    }
  }
  return { n, x, y };
}

async function ours(cfg: BenchConfig, data: Windows): Promise<Figure> {
  const rng = new random.RandomState(7);
  const model = new nn.Sequential(
    new nn.LSTM(1, HIDDEN, { batchFirst: true, rng }),
    new nn.LastStep(),
    new nn.Linear(HIDDEN, 1, { rng }),
  );
  const optimizer = new optim.Adam(model.parameters(), { lr: LR });
  const x = new Tensor(data.x, [data.n, STEPS, 1]);
  const y = new Tensor(data.y, [data.n, 1]);
  return measured(
    {
      label: `chainrule fit (${kernels().name} kernels)`,
      work: data.n,
      call: async () => {
        const h = await fit(
          model,
          { x, y },
          { loss: 'mse', optimizer, epochs: 1, batchSize: BATCH, shuffle: true, rng },
        );
        if (!Number.isFinite(h.epochs[0]?.loss)) throw new Error('lstm: chainrule loss is not finite');
      },
      warmupSeconds: cfg.quick ? 0 : 1,
      reps: cfg.reps,
      minReps: cfg.minReps,
      maxSeconds: cfg.quick ? 3 : 20,
    },
    cfg.quick ? 0.5 : 2,
  );
}

async function tfjs(cfg: BenchConfig, backend: TfBackend, data: Windows): Promise<Figure | NotApplicable> {
  const peer = await loadTf();
  await peer.use(backend);
  const { tf } = peer;
  const model = tf.sequential({
    layers: [tf.layers.lstm({ units: HIDDEN, inputShape: [STEPS, 1] }), tf.layers.dense({ units: 1 })],
  });
  const adam = tf.train.adam(LR);
  model.compile({ optimizer: adam, loss: 'meanSquaredError' });
  const xs = tf.tensor3d(data.x, [data.n, STEPS, 1]);
  const ys = tf.tensor2d(data.y, [data.n, 1]);
  try {
    try {
      await model.fit(xs.slice(0, BATCH), ys.slice(0, BATCH), { batchSize: BATCH, epochs: 1, verbose: 0 });
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      progress(`  tfjs ${backend} cannot train the LSTM: ${why}`);
      return { na: `cannot train: ${why}` };
    }
    return await measured(
      {
        label: `tfjs ${backend} model.fit`,
        work: data.n,
        call: async () => {
          const h = await model.fit(xs, ys, { batchSize: BATCH, epochs: 1, shuffle: true, verbose: 0 });
          if (!Number.isFinite(h.history.loss[0] as number))
            throw new Error(`lstm: tfjs ${backend} loss is not finite`);
        },
        warmup: async () => {},
        warmupSeconds: 0,
        reps: cfg.reps,
        minReps: cfg.minReps,
        maxSeconds: cfg.quick ? 3 : 20,
      },
      cfg.quick ? 0.5 : 2,
    );
  } finally {
    tf.dispose([xs, ys]);
    model.dispose();
    adam.dispose();
  }
}

async function brainjs(cfg: BenchConfig, data: Windows): Promise<Figure> {
  const { brain } = await loadBrain();
  const net = new brain.recurrent.LSTMTimeStep({ inputSize: 1, hiddenLayers: [HIDDEN], outputSize: 1 });
  const seqs: number[][] = [];
  for (let s = 0; s < data.n; s++) seqs.push([...data.x.subarray(s * STEPS, (s + 1) * STEPS), data.y[s]]);
  return measured(
    {
      label: 'brain.js LSTMTimeStep.train',
      work: data.n,
      call: () => {
        const r = net.train(seqs, { iterations: 1, errorThresh: 0, log: false });
        if (!Number.isFinite(r.error)) throw new Error('lstm: brain.js error is not finite');
      },
      warmupSeconds: 0,
      reps: cfg.reps,
      minReps: cfg.minReps,
      maxSeconds: cfg.quick ? 3 : 20,
    },
    cfg.quick ? 0.5 : 2,
  );
}

export async function lstmWorkload(cfg: BenchConfig): Promise<Row[]> {
  const n = cfg.quick ? 256 : 1024;
  // The peers train at a few hundred sequences per second at best: a smaller set per timed call.
  const small = cfg.quick ? 64 : 128;
  progress(
    `lstm W6: LSTM(1→${HIDDEN}) × ${STEPS} steps + Linear, ${n} sequences (peers: ${small}), batch ${BATCH}`,
  );
  const data = sineWindows(n);
  const few = { n: small, x: data.x.subarray(0, small * STEPS), y: data.y.subarray(0, small) };
  const figure = await ours(cfg, data);
  // The same on the WebAssembly set with one thread: what one core does (the default splits W_hh's
  // gradient product over a worker, which on loaded shared cores can cost more than it saves).
  const one = await loadWasmKernels({ threads: 1 });
  let single: Figure | null = null;
  let singleName = '';
  if (one) {
    const prev = setKernels(one);
    try {
      single = await ours(cfg, data);
      singleName = kernels().name;
    } finally {
      setKernels(prev);
    }
  }
  const peers: Record<PeerName, Figure | NotApplicable> = {
    'brain.js': await brainjs(cfg, few),
    'tfjs-cpu': await tfjs(cfg, 'cpu', few),
    'tfjs-wasm': await tfjs(cfg, 'wasm', few),
  };
  const name = (set: string) =>
    `LSTM W6 (LSTM 1→${HIDDEN}, ${STEPS} steps, linear 1 on the last), batch ${BATCH}, Adam, MSE, float32 (${set} kernels)`;
  const rows: Row[] = [
    { workload: 'lstm', name: name(kernels().name), unit: 'sequences/s', ours: figure, peers },
  ];
  if (single)
    rows.push({ workload: 'lstm', name: name(singleName), unit: 'sequences/s', ours: single, peers });
  return rows;
}
