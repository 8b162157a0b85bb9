/**
 * The recurrent workloads, one shape for three cells: a recurrent layer (1 → 64) over 32 time steps, then
 * Linear(64 → 1) on the last step, trained with Adam (lr 1e-3) on mean squared error, batch 32, float32, on
 * seeded noisy sine windows (32 values in, the next value out), in training sequences per second.
 *
 * - `lstm` is W6 (issue #13, with its speed bar): LSTM; `gru` the same with a GRU, `rnn` with a plain
 *   (Elman) RNN, tanh (no bars: they answer "how do GRU and RNN compare").
 * - chainrule runs `fit` for one epoch per call over nn.LSTM / nn.GRU / nn.RNN (batch first), nn.LastStep,
 *   nn.Linear, on its default kernels and again on the one-thread WebAssembly set.
 * - tfjs runs the same model as tf.layers.lstm / gru / simpleRNN (units 64, tfjs's defaults: hard-sigmoid
 *   gates, a GRU with the reset gate before the recurrent product, where PyTorch's and chainrule's apply it
 *   after) and dense(1) with model.fit.
 * - brain.js runs its `recurrent.LSTMTimeStep` / `GRUTimeStep` / `RNNTimeStep` (hidden [64]) on the same
 *   windows as 33-value sequences (it trains one sequence at a time with its own RMSprop-style update and a
 *   loss on every step: the same data shape, not the same arithmetic). Its RNN cell is ReLU, hard-wired in
 *   brain.js 1.6 (`RNN.getEquation`; the `activation` training option is stored but never read), so the
 *   `rnn` row's brain.js figure is a ReLU RNN's, trained at the workload's rate 1e-3 (at brain.js's default
 *   0.01 that RNN gives NaN in its first pass over these windows).
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

/** The recurrent cells benchmarked, each an `--only` workload of the same name. */
export type CellName = 'lstm' | 'gru' | 'rnn';

type TF = Awaited<ReturnType<typeof loadTf>>['tf'];
type Brain = Awaited<ReturnType<typeof loadBrain>>['brain'];

/** What differs between the cells: the layer in each library and the words in rows and progress lines. */
interface Cell {
  /** The row's title (W6 for the LSTM, the name for it). */
  title: string;
  /** The layer, as the row names it. */
  layer: string;
  /** chainrule's layer, batch first. */
  ours(rng: random.RandomState): nn.Module;
  /** tfjs's layer over [STEPS, 1] inputs. */
  tf(tf: TF): ReturnType<TF['layers']['lstm']>;
  /** brain.js's time-step network class, its name for labels, and its learning rate where not its default. */
  brain(brain: Brain): { Net: Brain['recurrent']['RNNTimeStep']; label: string; learningRate?: number };
}

const CELLS: Record<CellName, Cell> = {
  lstm: {
    title: 'LSTM W6',
    layer: 'LSTM',
    ours: (rng) => new nn.LSTM(1, HIDDEN, { batchFirst: true, rng }),
    tf: (tf) => tf.layers.lstm({ units: HIDDEN, inputShape: [STEPS, 1] }),
    brain: (brain) => ({ Net: brain.recurrent.LSTMTimeStep, label: 'LSTMTimeStep' }),
  },
  gru: {
    title: 'GRU as W6',
    layer: 'GRU',
    ours: (rng) => new nn.GRU(1, HIDDEN, { batchFirst: true, rng }),
    tf: (tf) => tf.layers.gru({ units: HIDDEN, inputShape: [STEPS, 1] }),
    brain: (brain) => ({ Net: brain.recurrent.GRUTimeStep, label: 'GRUTimeStep' }),
  },
  rnn: {
    title: 'RNN as W6',
    layer: 'RNN tanh',
    ours: (rng) => new nn.RNN(1, HIDDEN, { batchFirst: true, nonlinearity: 'tanh', rng }),
    tf: (tf) => tf.layers.simpleRNN({ units: HIDDEN, inputShape: [STEPS, 1], activation: 'tanh' }),
    // brain.js's RNN cell is ReLU whatever the options say (see the header). At brain.js's default rate
    // (0.01) it gives NaN within the first pass over these windows; at the workload's 1e-3 it trains.
    brain: (brain) => ({
      Net: brain.recurrent.RNNTimeStep,
      label: 'RNNTimeStep (ReLU, learning rate 1e-3)',
      learningRate: LR,
    }),
  },
};

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

async function ours(cfg: BenchConfig, name: CellName, data: Windows): Promise<Figure> {
  const rng = new random.RandomState(7);
  const model = new nn.Sequential(
    CELLS[name].ours(rng),
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
        if (!Number.isFinite(h.epochs[0]?.loss)) throw new Error(`${name}: chainrule loss is not finite`);
      },
      warmupSeconds: cfg.quick ? 0 : 1,
      reps: cfg.reps,
      minReps: cfg.minReps,
      maxSeconds: cfg.quick ? 3 : 20,
    },
    cfg.quick ? 0.5 : 2,
  );
}

async function tfjs(
  cfg: BenchConfig,
  name: CellName,
  backend: TfBackend,
  data: Windows,
): Promise<Figure | NotApplicable> {
  const peer = await loadTf();
  await peer.use(backend);
  const { tf } = peer;
  const model = tf.sequential({
    layers: [CELLS[name].tf(tf), tf.layers.dense({ units: 1 })],
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
      progress(`  tfjs ${backend} cannot train the ${CELLS[name].layer}: ${why}`);
      return { na: `cannot train: ${why}` };
    }
    return await measured(
      {
        label: `tfjs ${backend} model.fit`,
        work: data.n,
        call: async () => {
          const h = await model.fit(xs, ys, { batchSize: BATCH, epochs: 1, shuffle: true, verbose: 0 });
          if (!Number.isFinite(h.history.loss[0] as number))
            throw new Error(`${name}: tfjs ${backend} loss is not finite`);
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

async function brainjs(cfg: BenchConfig, name: CellName, data: Windows): Promise<Figure | NotApplicable> {
  const { brain } = await loadBrain();
  const { Net, label, learningRate } = CELLS[name].brain(brain);
  const net = new Net({ inputSize: 1, hiddenLayers: [HIDDEN], outputSize: 1 });
  const seqs: number[][] = [];
  for (let s = 0; s < data.n; s++) seqs.push([...data.x.subarray(s * STEPS, (s + 1) * STEPS), data.y[s]]);
  const options = { iterations: 1, errorThresh: 0, log: false, ...(learningRate ? { learningRate } : {}) };
  try {
    return await measured(
      {
        label: `brain.js ${label}.train`,
        work: data.n,
        call: () => {
          // brain.js itself throws on a NaN error ("network error rate is unexpected NaN").
          const r = net.train(seqs, options);
          if (!Number.isFinite(r.error)) throw new Error(`${name}: brain.js error is not finite`);
        },
        warmupSeconds: 0,
        reps: cfg.reps,
        minReps: cfg.minReps,
        maxSeconds: cfg.quick ? 3 : 20,
      },
      cfg.quick ? 0.5 : 2,
    );
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    progress(`  brain.js cannot train the ${CELLS[name].layer}: ${why}`);
    return { na: `cannot train: ${why}` };
  }
}

/** The workload of one cell (`--only lstm`, `gru`, `rnn`): its default-kernel row and its one-thread row. */
export function recurrentWorkload(cell: CellName): (cfg: BenchConfig) => Promise<Row[]> {
  return async (cfg) => {
    const { title, layer } = CELLS[cell];
    const n = cfg.quick ? 256 : 1024;
    // The peers train at a few hundred sequences per second at best: a smaller set per timed call.
    const small = cfg.quick ? 64 : 128;
    progress(
      `${cell}${cell === 'lstm' ? ' W6' : ''}: ${layer}(1→${HIDDEN}) × ${STEPS} steps + Linear, ` +
        `${n} sequences (peers: ${small}), batch ${BATCH}`,
    );
    const data = sineWindows(n);
    const few = { n: small, x: data.x.subarray(0, small * STEPS), y: data.y.subarray(0, small) };
    const figure = await ours(cfg, cell, data);
    // The same on the WebAssembly set with one thread: what one core does (the default splits W_hh's
    // gradient product over a worker, which on loaded shared cores can cost more than it saves).
    const one = await loadWasmKernels({ threads: 1 });
    let single: Figure | null = null;
    let singleName = '';
    if (one) {
      const prev = setKernels(one);
      try {
        single = await ours(cfg, cell, data);
        singleName = kernels().name;
      } finally {
        setKernels(prev);
      }
    }
    const peers: Record<PeerName, Figure | NotApplicable> = {
      'brain.js': await brainjs(cfg, cell, few),
      'tfjs-cpu': await tfjs(cfg, cell, 'cpu', few),
      'tfjs-wasm': await tfjs(cfg, cell, 'wasm', few),
    };
    const name = (set: string) =>
      `${title} (${layer} 1→${HIDDEN}, ${STEPS} steps, linear 1 on the last), batch ${BATCH}, Adam, MSE, float32 (${set} kernels)`;
    const rows: Row[] = [
      { workload: cell, name: name(kernels().name), unit: 'sequences/s', ours: figure, peers },
    ];
    if (single)
      rows.push({ workload: cell, name: name(singleName), unit: 'sequences/s', ours: single, peers });
    return rows;
  };
}
