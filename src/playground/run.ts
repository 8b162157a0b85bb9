/**
 * A playground run: the model, optimizer and data a configuration describes, trained one epoch at a time.
 * The page's worker and the Node tests call the same `createRun` and `trainEpoch`, so a URL gives the same
 * weights in a browser and in Node (to the last bit where the engines' Math functions agree; they differ in
 * the last bit of exp, log, sin… for some arguments).
 *
 * Random streams, all from `config.seed`: the points from `new RandomState(seed)` (inside the generator),
 * the initial weights from another `new RandomState(seed)` (layer by layer, weight then bias, so seed 42
 * and the seed preset give the notebook's `rand(2, 2)`, `rand(2, 1)`), and the shuffling of every epoch
 * from `new RandomState(seed + 1 mod 2³²)`.
 */
import * as losses from '../losses.js';
import { modelToJSON } from '../io/modelfile.js';
import { toOnnx } from '../io/onnx.js';
import { ACTIVATION_MODULES, Identity, Linear, Sequential, Sigmoid, Tanh } from '../nn/layers.js';
import type { Module } from '../nn/module.js';
import * as ops from '../ops.js';
import type { Optimizer } from '../optim/optimizer.js';
import { makeOptimizer } from '../optim/byname.js';
import { RandomState } from '../random.js';
import { noGrad, Tensor } from '../tensor.js';
import { MetricSums } from '../metrics.js';
import { Trainer } from '../train/index.js';
import {
  checkConfig,
  outputKind,
  type FeatureName,
  type HiddenActivation,
  type OutputKind,
  type PlaygroundConfig,
} from './config.js';
import { playgroundData, type PlaygroundData, type Points } from './data.js';
import { featureMatrix } from './features.js';
import { penalty } from './regularization.js';

/** The square of the plane the page draws: x₁ and x₂ from −6 to 6, as TensorFlow Playground. */
export const DOMAIN: readonly [number, number] = [-6, 6];

/**
 * Losses after an epoch, on all training points and all test points, without the penalty; and for a
 * classification, the share of points on the right side of the boundary.
 */
export interface EpochStats {
  epoch: number;
  trainLoss: number;
  /** null when there are no test points (the seed notebook's sample). */
  testLoss: number | null;
  /** Accuracy on the training points (classification only; null otherwise). */
  trainAccuracy: number | null;
  /** Accuracy on the test points (null for a regression or without test points). */
  testAccuracy: number | null;
}

/** One Linear layer's parameters and the gradients of the last step (null before the first). */
export interface LayerParameters {
  inFeatures: number;
  outFeatures: number;
  /** [in, out], row-major: the weight from unit i to unit j is `weight[i * outFeatures + j]`. */
  weight: Float64Array;
  bias: Float64Array;
  weightGrad: Float64Array | null;
  biasGrad: Float64Array | null;
}

/** Values over a density × density grid of the domain, row by row from the top (x₂ = 6) down. */
export interface Grids {
  /** Cells per side of `output`. */
  density: number;
  /** What the model says at each point, in [−1, 1] terms (see `displayOutput`). */
  output: Float32Array;
  /** Cells per side of `units` and `features`. */
  unitDensity: number;
  /** Per layer (hidden layers, then the output), its units' values: unit j at `[j * d² + cell]`. */
  units: Float32Array[];
  /** Per feature, its value divided by its largest magnitude on the grid: `[f * d² + cell]`. */
  features: Float32Array;
}

/** The grid's points: cell centres, rows from the top. */
export function gridPoints(density: number): { x1: Float64Array; x2: Float64Array } {
  const [lo, hi] = DOMAIN;
  const step = (hi - lo) / density;
  const x1 = new Float64Array(density * density);
  const x2 = new Float64Array(density * density);
  for (let r = 0; r < density; r++)
    for (let c = 0; c < density; c++) {
      x1[r * density + c] = lo + (c + 0.5) * step;
      x2[r * density + c] = hi - (r + 0.5) * step;
    }
  return { x1, x2 };
}

/**
 * Each of `features` over a density² grid of the domain, divided by its largest magnitude there, so its
 * picture spans the colour scale: feature f at `[f * d² + cell]`.
 */
export function featureGrids(density: number, features: readonly FeatureName[]): Float32Array {
  const { x1, x2 } = gridPoints(density);
  const cells = density * density;
  const x = featureMatrix(x1, x2, features);
  const k = features.length;
  const out = new Float32Array(k * cells);
  for (let f = 0; f < k; f++) {
    let max = 0;
    for (let c = 0; c < cells; c++) max = Math.max(max, Math.abs(x.data[c * k + f]));
    for (let c = 0; c < cells; c++) out[f * cells + c] = max > 0 ? x.data[c * k + f] / max : 0;
  }
  return out;
}

/** A hidden activation's module: TensorFlow Playground's `linear` is Identity, the rest the table's. */
function hiddenActivation(a: HiddenActivation): Module {
  return a === 'linear' ? new Identity() : new ACTIVATION_MODULES[a]();
}

const OUTPUT: { readonly [K in OutputKind]: (() => Module) | null } = {
  tanh: () => new Tanh(),
  sigmoid: () => new Sigmoid(),
  identity: null,
  logit: null,
};

/**
 * The network of a configuration, float64: Linear(features → hidden₁), activation, …, Linear(→ 1) and the
 * output activation. Weights are PyTorch's default initialisation, or the notebook's `rand` for the seed.
 */
export function buildModel(config: PlaygroundConfig, rng: RandomState): Sequential {
  const sizes = [config.features.length, ...config.hidden, 1];
  const init = config.dataset === 'seed' ? 'rand' : 'default';
  const layers: Module[] = [];
  for (let i = 0; i + 1 < sizes.length; i++) {
    layers.push(new Linear(sizes[i], sizes[i + 1], { dtype: 'float64', init, rng }));
    const activation =
      i + 2 < sizes.length ? hiddenActivation(config.activation) : OUTPUT[outputKind(config)]?.();
    if (activation) layers.push(activation);
  }
  return new Sequential(...layers);
}

/** A trainable playground: build it with {@link createRun}. */
export class PlaygroundRun {
  /** Epochs trained so far. */
  epoch = 0;
  /** The losses at epoch 0 and after every epoch since. */
  readonly history: EpochStats[] = [];
  readonly kind: OutputKind;
  private readonly inputs: { train: Tensor; test: Tensor };
  private readonly targets: { train: Tensor; test: Tensor };
  /** Trains the epochs (made at the first, so a run without training points never needs one). */
  private trainer: Trainer | null = null;

  constructor(
    readonly config: PlaygroundConfig,
    readonly data: PlaygroundData,
    readonly model: Sequential,
    readonly optimizer: Optimizer,
    /** The stream that shuffles every epoch. */
    readonly shuffle: RandomState,
  ) {
    this.kind = outputKind(config);
    const input = (p: Points) => featureMatrix(p.x1, p.x2, config.features);
    // Cross-entropy takes classes as 0 and 1; squared error the points' own −1/+1 or values.
    const target = (p: Points) =>
      new Tensor(this.kind === 'logit' ? p.y.map((v) => (v + 1) / 2) : p.y.slice(), [p.y.length, 1]);
    this.inputs = { train: input(data.train), test: input(data.test) };
    this.targets = { train: target(data.train), test: target(data.test) };
    this.history.push({ epoch: 0, ...this.losses() });
  }

  /** The Linear layers, first to last. */
  get linears(): Linear[] {
    return this.model.layers.filter((m): m is Linear => m instanceof Linear);
  }

  /** The loss of a batch without the penalty: ½·mean (o − y)², or binary cross-entropy on the logit. */
  dataLoss(pred: Tensor, target: Tensor): Tensor {
    return this.kind === 'logit'
      ? losses.bceWithLogits(pred, target)
      : ops.mul(losses.mse(pred, target), 0.5);
  }

  /** What one batch is trained on: the data loss plus the weight penalty, if any. */
  batchLoss(pred: Tensor, target: Tensor): Tensor {
    const c = this.config;
    const extra = penalty(
      this.linears.map((l) => l.weight),
      c.regularization,
      c.regularizationRate,
    );
    const loss = this.dataLoss(pred, target);
    return extra ? ops.add(loss, extra) : loss;
  }

  /**
   * One epoch through the library's `Trainer`, as `fit` runs one: the training points in a fresh
   * permutation from the shuffle stream, in batches of `batchSize`; each batch zeroes the gradients, runs
   * forward, adds the penalty, runs backward and steps. A NaN or infinite loss puts back the last weights
   * that gave a finite loss and throws a `TrainingDivergedError`.
   */
  trainEpoch(): EpochStats {
    if (this.inputs.train.shape[0] > 0) {
      this.trainer ??= new Trainer(
        this.model,
        { x: this.inputs.train, y: this.targets.train, labels: false },
        {
          loss: (pred, target) => this.batchLoss(pred, target),
          optimizer: this.optimizer,
          batchSize: this.config.batchSize,
          shuffle: true,
          rng: this.shuffle,
          metrics: [],
          threshold: 0.5,
          fused: false,
        },
      );
      this.trainer.epoch(this.epoch + 1);
    }
    this.epoch++;
    const stats = { epoch: this.epoch, ...this.losses() };
    this.history.push(stats);
    return stats;
  }

  /**
   * The data loss over all training points and all test points at the current weights, and for a
   * classification the accuracy: an output above 0 (a tanh output or a logit) says +1.
   */
  losses(): Omit<EpochStats, 'epoch'> {
    const classification = this.data.problem === 'classification';
    const accuracy = new MetricSums(['accuracy'], 0);
    return noGrad(() => {
      const of = (x: Tensor, y: Tensor) => {
        if (x.shape[0] === 0) return { loss: null, accuracy: null };
        const out = this.model.forward(x);
        const loss = this.dataLoss(out, y).item();
        if (!classification) return { loss, accuracy: null };
        accuracy.reset();
        // Targets are −1/+1 (squared error) or 0/1 (cross-entropy): above 0.5 is class 1 for both.
        accuracy.add(out.data, y.data, x.shape[0], false);
        return { loss, accuracy: accuracy.result().accuracy as number };
      };
      const train = of(this.inputs.train, this.targets.train);
      const test = of(this.inputs.test, this.targets.test);
      return {
        trainLoss: train.loss as number,
        testLoss: test.loss,
        trainAccuracy: train.accuracy,
        testAccuracy: test.accuracy,
      };
    });
  }

  /** Copies of every layer's weights and biases, with the gradients of the last step. */
  parameters(): LayerParameters[] {
    return this.linears.map((l) => {
      const bias = l.bias as Tensor;
      return {
        inFeatures: l.inFeatures,
        outFeatures: l.outFeatures,
        weight: Float64Array.from(l.weight.data),
        bias: Float64Array.from(bias.data),
        weightGrad: l.weight.grad ? Float64Array.from(l.weight.grad.data) : null,
        biasGrad: bias.grad ? Float64Array.from(bias.grad.data) : null,
      };
    });
  }

  /**
   * Set one parameter: `layer` counts Linear layers from 0; a weight's `index` is `i * outFeatures + j`
   * (from unit i to unit j), a bias's is its unit. The run continues from the edited weights.
   */
  setParameter(layer: number, kind: 'weight' | 'bias', index: number, value: number): void {
    const l = this.linears[layer];
    const t = kind === 'weight' ? l?.weight : l?.bias;
    if (!t || !Number.isInteger(index) || index < 0 || index >= t.size)
      throw new RangeError(`setParameter: no ${kind} ${index} in layer ${layer}`);
    if (!Number.isFinite(value)) throw new RangeError(`setParameter: expected a finite number, got ${value}`);
    t.data[index] = value;
    const last = this.history[this.history.length - 1];
    Object.assign(last, this.losses());
  }

  /** The output shown for raw outputs `out`: a logit as 2σ(z) − 1 (= tanh(z/2)), in [−1, 1]; others as are. */
  displayOutput(out: Tensor): Tensor {
    return this.kind === 'logit' ? ops.sub(ops.mul(ops.sigmoid(out), 2), 1) : out;
  }

  /** The model's values over the domain: the output at `outputDensity`², every unit at `unitDensity`². */
  grids(outputDensity: number, unitDensity: number): Grids {
    return noGrad(() => {
      const out = this.atGrid(outputDensity);
      const small = this.atGrid(unitDensity);
      return {
        density: outputDensity,
        unitDensity,
        output: Float32Array.from(out.output.data),
        units: small.units,
        features: small.features,
      };
    });
  }

  private atGrid(density: number): { output: Tensor; units: Float32Array[]; features: Float32Array } {
    const { x1, x2 } = gridPoints(density);
    const cells = density * density;
    const x = featureMatrix(x1, x2, this.config.features);
    const units: Float32Array[] = [];
    // Unit-major layout: the values of one unit over the grid lie together.
    const transpose = (t: Tensor): Float32Array => {
      const k = t.shape[1];
      const out = new Float32Array(k * cells);
      for (let c = 0; c < cells; c++) for (let j = 0; j < k; j++) out[j * cells + c] = t.data[c * k + j];
      return out;
    };
    let h = x;
    const layers = this.model.layers;
    layers.forEach((m, i) => {
      h = m.forward(h);
      // A layer's units are what leaves its activation (or the Linear itself when none follows).
      const next = layers[i + 1];
      if (next === undefined || next instanceof Linear)
        units.push(transpose(i === layers.length - 1 ? this.displayOutput(h) : h));
    });
    return { output: this.displayOutput(h), units, features: featureGrids(density, this.config.features) };
  }

  /** The model's predictions at the given points, shown as on the heatmap. */
  predictPoints(x1: ArrayLike<number>, x2: ArrayLike<number>): Float64Array {
    return noGrad(() => {
      const out = this.displayOutput(this.model.forward(featureMatrix(x1, x2, this.config.features)));
      return Float64Array.from(out.data);
    });
  }

  /** The facts a model file records about this run. */
  private training() {
    const last = this.history[this.history.length - 1];
    return {
      source: 'chainrule playground',
      config: this.config,
      epochs: this.epoch,
      features: this.config.features,
      output: this.kind,
      final: { loss: last.trainLoss, testLoss: last.testLoss },
    };
  }

  /** The trained model as a chainrule model file (no preprocessing: inputs are the feature values). */
  toModelFile(created?: Date): string {
    const task = this.data.problem;
    return modelToJSON(this.model, { task, training: this.training(), ...(created ? { created } : {}) });
  }

  /** The trained model as ONNX bytes: input [batch, features], output the raw network output. */
  toOnnx(): Uint8Array {
    const features = this.config.features.join(', ');
    return toOnnx(this.model, {
      docString: `chainrule playground model; inputs: ${features}; output: ${this.kind}`,
    });
  }
}

/**
 * Build the run a configuration describes (checked first): its points, model, optimizer and shuffle
 * stream. `csvPoints` are the points of an uploaded table, needed when `config.dataset` is `'csv'`.
 */
export function createRun(config: PlaygroundConfig, csvPoints?: Points): PlaygroundRun {
  checkConfig(config);
  const data = playgroundData(config, csvPoints);
  const model = buildModel(config, new RandomState(config.seed));
  const optimizer = makeOptimizer(config.optimizer, model.parameters(), config.learningRate);
  const shuffle = new RandomState((config.seed + 1) % 2 ** 32);
  return new PlaygroundRun(config, data, model, optimizer, shuffle);
}
