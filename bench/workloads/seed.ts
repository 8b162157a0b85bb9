/**
 * Workload 1, the seed notebook's network: 2 inputs → 2 sigmoid → 1 sigmoid, one sample X = [[0.5, 0.6]],
 * y = [[0.8]], loss ½·Σ(o − y)², plain SGD with lr 0.1, float64. Reported in optimizer steps per second.
 *
 * Every timed call starts again from the same initial weights, so each run does identical arithmetic.
 */
import type { Scalar } from '@tensorflow/tfjs';
import { fit, losses, nn, optim, random, tensor, type Tensor } from '../../src/index.js';
import { measure, median, progress, type Figure } from '../harness.js';
import { loadBrain } from '../peers/brain.js';
import { loadTf, type TfBackend } from '../peers/tfjs.js';
import type { BenchConfig, NotApplicable, PeerName, Row } from '../types.js';

const X = [[0.5, 0.6]];
const Y = [[0.8]];
const LR = 0.1;

function seedModel(): { model: nn.Sequential; init: Record<string, Tensor> } {
  const rng = new random.RandomState(42);
  const opts = { dtype: 'float64', init: 'rand', rng } as const;
  const model = new nn.Sequential(
    new nn.Linear(2, 2, opts),
    new nn.Sigmoid(),
    new nn.Linear(2, 1, opts),
    new nn.Sigmoid(),
  );
  return { model, init: model.stateDict() };
}

function checkSteps(what: string, got: number, want: number): void {
  if (got !== want) throw new Error(`seed: ${what} ran ${got} steps, expected ${want}`);
}

/** chainrule, the explicit public-API loop: zeroGrad, forward, loss, backward, step. */
async function oursLoop(cfg: BenchConfig, steps: number): Promise<Figure> {
  const { model, init } = seedModel();
  const optimizer = new optim.SGD(model.parameters(), { lr: LR });
  const x = tensor(X, { dtype: 'float64' });
  const y = tensor(Y, { dtype: 'float64' });
  const train = (n: number) => {
    model.loadStateDict(init);
    const before = optimizer.stepCount;
    for (let i = 0; i < n; i++) {
      optimizer.zeroGrad();
      const o = model.forward(x);
      const loss = losses.mse(o, y, { reduction: 'sum' }).mul(0.5);
      loss.backward();
      optimizer.step();
    }
    checkSteps('the explicit loop', optimizer.stepCount - before, n);
  };
  return measure({
    label: `chainrule loop (${steps.toLocaleString('en-US')} steps/call)`,
    work: steps,
    call: () => train(steps),
    warmupSeconds: 0,
    reps: cfg.reps,
    minReps: cfg.minReps,
    maxSeconds: cfg.quick ? 2 : 12,
  });
}

/** A call of `fit` on the seed network for `epochs` epochs, from the same initial weights every time. */
function fitSeed(): (epochs: number) => Promise<void> {
  const { model, init } = seedModel();
  const optimizer = new optim.SGD(model.parameters(), { lr: LR });
  const x = tensor(X, { dtype: 'float64' });
  const y = tensor(Y, { dtype: 'float64' });
  return async (epochs: number) => {
    model.loadStateDict(init);
    const before = optimizer.stepCount;
    await fit(model, { x, y }, { loss: 'mseHalfSum', optimizer, epochs, batchSize: 1, shuffle: false });
    checkSteps('fit', optimizer.stepCount - before, epochs);
  };
}

/** chainrule through `fit`: one epoch per step (batchSize 1, one sample). */
async function oursFit(cfg: BenchConfig, steps: number): Promise<Figure> {
  const train = fitSeed();
  return measure({
    label: `chainrule fit (${steps.toLocaleString('en-US')} epochs/call)`,
    work: steps,
    call: () => train(steps),
    warmupSeconds: 0,
    reps: cfg.reps,
    minReps: cfg.minReps,
    maxSeconds: cfg.quick ? 2 : 15,
  });
}

/**
 * `fit` and brain.js by CPU time: this process's user + system time (`process.cpuUsage`) per step, the two
 * alternating run by run. On shared cores the wall-clock rates swing with the other work there (and one
 * measured after the other meets a different load); the CPU time a step takes does much less.
 */
async function cpuTimeSeed(cfg: BenchConfig, steps: number): Promise<{ fit: Figure; brain: Figure }> {
  const train = fitSeed();
  const brainRun = await brainCall();
  const calls = cfg.quick ? 2 : 10;
  const cpu = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  };
  const rate = async (call: () => unknown): Promise<number> => {
    const t = cpu();
    for (let c = 0; c < calls; c++) await call();
    return (steps * calls) / (cpu() - t);
  };
  for (let w = 0; w < 3; w++) {
    await train(steps);
    brainRun(steps);
  }
  const ours: number[] = [];
  const theirs: number[] = [];
  for (let r = 0; r < cfg.reps; r++) {
    ours.push(await rate(() => train(steps)));
    theirs.push(await rate(() => brainRun(steps)));
  }
  const figure = (rates: number[]): Figure => ({
    median: median(rates),
    runs: rates.length,
    callsPerRun: calls,
    rates,
  });
  const result = { fit: figure(ours), brain: figure(theirs) };
  progress(
    `  CPU time, alternating: fit ${Math.round(result.fit.median).toLocaleString('en-US')} steps/s, ` +
      `brain.js ${Math.round(result.brain.median).toLocaleString('en-US')} (medians of ${cfg.reps} runs of ${calls} calls)`,
  );
  return result;
}

/** One brain.js training call of `iterations` on the seed sample; returns the iterations it ran. */
async function brainCall(): Promise<(iterations: number) => number> {
  const { brain } = await loadBrain();
  const data = [{ input: X[0], output: Y[0] }];
  return (iterations: number): number => {
    const net = new brain.NeuralNetwork({ hiddenLayers: [2] });
    const status = net.train(data, {
      iterations,
      learningRate: LR,
      momentum: 1e-12,
      errorThresh: Number.MIN_VALUE,
      log: false,
    });
    return status.iterations;
  };
}

/**
 * brain.js: NeuralNetwork with one hidden layer of 2 (sigmoid), same sample. brain.js rejects momentum 0
 * and errorThresh 0 (both must lie in (0, 1)); its update always computes lr·δ·x + momentum·Δprev, so a
 * momentum of 1e-12 does the same work as 0 and changes nothing visible. errorThresh is the smallest
 * positive double, so training stops early only if the error becomes exactly 0 (1e-12 is reached within
 * 100k iterations from some of its random initial weights); the rate counts the iterations it reports.
 * brain.js also computes the training error on every iteration (its default errorCheckInterval of 1),
 * part of its normal cost.
 */
async function brainSeed(cfg: BenchConfig, steps: number): Promise<Figure> {
  const run = await brainCall();
  let short = 0;
  const train = (iterations: number): number => {
    const ran = run(iterations);
    if (ran !== iterations) short++;
    return ran;
  };
  return measure({
    label: `brain.js (${steps.toLocaleString('en-US')} iterations/call)`,
    work: steps,
    call: () => train(steps),
    warmupSeconds: 0,
    reps: cfg.reps,
    minReps: cfg.minReps,
    maxSeconds: cfg.quick ? 1 : 5,
  }).then((figure) => {
    if (short > 0) {
      figure.note = `${short} brain.js call(s) stopped early at zero error; rates count the iterations run`;
      progress(`  note: ${figure.note}`);
    }
    return figure;
  });
}

/**
 * tfjs: tf.variable weights and tf.train.sgd(0.1).minimize over the same forward pass and loss, each step
 * in tf.tidy. tfjs has no float64, so this runs in float32 (same operation count).
 */
async function tfSeed(cfg: BenchConfig, backend: TfBackend, steps: number): Promise<Figure> {
  const peer = await loadTf();
  await peer.use(backend);
  const { tf } = peer;
  const { init } = seedModel();
  const w1Init = tf.tensor2d(Float32Array.from(init['0.weight'].data), [2, 2]);
  const b1Init = tf.tensor1d(Float32Array.from(init['0.bias'].data));
  const w2Init = tf.tensor2d(Float32Array.from(init['2.weight'].data), [2, 1]);
  const b2Init = tf.tensor1d(Float32Array.from(init['2.bias'].data));
  const w1 = tf.variable(w1Init);
  const b1 = tf.variable(b1Init);
  const w2 = tf.variable(w2Init);
  const b2 = tf.variable(b2Init);
  const x = tf.tensor2d(X);
  const y = tf.tensor2d(Y);
  const sgd = tf.train.sgd(LR);
  const lossFn = () => {
    const h = tf.sigmoid(tf.add(tf.matMul(x, w1), b1));
    const o = tf.sigmoid(tf.add(tf.matMul(h, w2), b2));
    return tf.mul(tf.sum(tf.square(tf.sub(o, y))), 0.5) as Scalar;
  };
  const train = (n: number) => {
    w1.assign(w1Init);
    b1.assign(b1Init);
    w2.assign(w2Init);
    b2.assign(b2Init);
    for (let i = 0; i < n; i++) tf.tidy(() => void sgd.minimize(lossFn, false, [w1, b1, w2, b2]));
    w2.dataSync();
  };
  const tensorsBefore = tf.memory().numTensors;
  const figure = await measure({
    label: `tfjs ${backend} (${steps.toLocaleString('en-US')} steps/call)`,
    work: steps,
    call: () => train(steps),
    warmupSeconds: 0.5,
    reps: cfg.reps,
    minReps: cfg.minReps,
    maxSeconds: cfg.quick ? 2 : 10,
  });
  const leaked = tf.memory().numTensors - tensorsBefore;
  if (leaked !== 0) progress(`  warning: tfjs ${backend} seed loop leaked ${leaked} tensors`);
  tf.dispose([w1, b1, w2, b2, w1Init, b1Init, w2Init, b2Init, x, y]);
  sgd.dispose();
  return figure;
}

export async function seedWorkload(cfg: BenchConfig): Promise<Row[]> {
  const steps = cfg.quick ? 10_000 : 100_000;
  const tfSteps = cfg.quick ? 200 : 2_000;
  progress(`seed 2-2-1: chainrule and brain.js ${steps} steps per call, tfjs ${tfSteps}`);
  const loop = await oursLoop(cfg, steps);
  const viaFit = await oursFit(cfg, steps);
  const peers: Record<PeerName, Figure | NotApplicable> = {
    'brain.js': await brainSeed(cfg, steps),
    'tfjs-cpu': await tfSeed(cfg, 'cpu', tfSteps),
    'tfjs-wasm': await tfSeed(cfg, 'wasm', tfSteps),
  };
  const cpu = await cpuTimeSeed(cfg, steps);
  const unit = 'steps/s';
  const none = { na: 'measured by wall clock only' };
  return [
    { workload: 'seed', name: 'seed 2-2-1, explicit loop', unit, ours: loop, peers },
    { workload: 'seed', name: 'seed 2-2-1, fit()', unit, ours: viaFit, peers },
    {
      workload: 'seed',
      name: 'seed 2-2-1, fit, by CPU time (alternating with brain.js)',
      unit: 'steps per CPU-s',
      ours: cpu.fit,
      peers: { 'brain.js': cpu.brain, 'tfjs-cpu': none, 'tfjs-wasm': none },
    },
  ];
}
