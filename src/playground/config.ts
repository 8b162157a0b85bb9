/**
 * What a playground run is made of, as one plain typed object: the data, the input features, the network,
 * the training settings and the seed. The page keeps it in its URL; `createRun` builds exactly the same
 * model, data and optimizer from it in a browser worker and in Node.
 */
import { ACTIVATION_OPS, activationInfo, type ActivationOp } from '../kernels/unary.js';
import { OPTIMIZER_NAMES, type OptimizerName } from '../optim/byname.js';

/** The datasets: TensorFlow Playground's six, the seed notebook's one sample, and an uploaded CSV. */
export type DatasetName = 'circle' | 'xor' | 'gauss' | 'spiral' | 'plane' | 'multi-gaussian' | 'seed' | 'csv';

/** Classification (two classes, labels −1 and +1) or regression (a number). */
export type ProblemType = 'classification' | 'regression';

/** The input features a network can be given, computed from the point (x1, x2). */
export type FeatureName = 'x1' | 'x2' | 'x1Squared' | 'x2Squared' | 'x1x2' | 'sinX1' | 'sinX2';

/**
 * The activation of the hidden layers: TensorFlow Playground's four (its `linear` is no activation) and
 * every other activation of the library's op table.
 */
export type HiddenActivation = 'linear' | ActivationOp;

/** The optimizer: any of the library's named optimizers (plain SGD, SGD with momentum 0.9, Adam, …). */
export type OptimizerChoice = OptimizerName;

/** The loss: ½·(o − y)² averaged over the batch, or binary cross-entropy on a logit (classification). */
export type LossChoice = 'squared' | 'crossEntropy';

/** Weight penalty added to the loss: none, rate·Σ|w| or rate·½·Σw² (weights only, not biases). */
export type RegularizationChoice = 'none' | 'L1' | 'L2';

/** Everything that decides a run. Display settings (discretize, show test data…) are not part of it. */
export interface PlaygroundConfig {
  dataset: DatasetName;
  /** Must match the dataset: its own problem for built-in sets; either for a CSV whose label allows it. */
  problem: ProblemType;
  /** Noise in percent, 0–50 (TensorFlow Playground's slider); ignored by `seed` and `csv`. */
  noise: number;
  /** Share of the points used for training, in percent (10–90; 100 for the one-sample `seed` set). */
  trainRatio: number;
  /** Points per optimizer step, 1–30. */
  batchSize: number;
  /** The input features, in FEATURE_NAMES order, at least one. */
  features: FeatureName[];
  /** Neurons per hidden layer: 0–6 layers of 1–8 neurons. */
  hidden: number[];
  activation: HiddenActivation;
  learningRate: number;
  regularization: RegularizationChoice;
  regularizationRate: number;
  optimizer: OptimizerChoice;
  loss: LossChoice;
  /** Seeds the data, the initial weights and the shuffling; an integer in [0, 2³²). */
  seed: number;
}

/** Every feature with how the page labels it. */
export const FEATURE_LABELS: { readonly [F in FeatureName]: string } = {
  x1: 'x₁',
  x2: 'x₂',
  x1Squared: 'x₁²',
  x2Squared: 'x₂²',
  x1x2: 'x₁x₂',
  sinX1: 'sin(x₁)',
  sinX2: 'sin(x₂)',
};

/** The features in the order they enter the network. */
export const FEATURE_NAMES = Object.keys(FEATURE_LABELS) as readonly FeatureName[];

/** Each dataset's problem type and size (`csv`: whatever the file has). */
export const DATASETS: {
  readonly [D in DatasetName]: {
    readonly problem: ProblemType | null;
    readonly size: number;
    readonly label: string;
  };
} = {
  circle: { problem: 'classification', size: 500, label: 'Circle' },
  xor: { problem: 'classification', size: 500, label: 'Exclusive or' },
  gauss: { problem: 'classification', size: 500, label: 'Gaussian' },
  spiral: { problem: 'classification', size: 500, label: 'Spiral' },
  plane: { problem: 'regression', size: 1200, label: 'Plane' },
  'multi-gaussian': { problem: 'regression', size: 1200, label: 'Multi Gaussian' },
  seed: { problem: 'regression', size: 1, label: "The seed notebook's sample" },
  csv: { problem: null, size: 0, label: 'Your CSV' },
};

/** The dataset names, in the order the page shows them. */
export const DATASET_NAMES = Object.keys(DATASETS) as readonly DatasetName[];

/** TensorFlow Playground's activations, in its order: the page lists them first. */
const TF_PLAYGROUND_ACTIVATIONS: readonly HiddenActivation[] = ['tanh', 'relu', 'sigmoid', 'linear'];

/** How the page names each hidden activation: the module's name (`SiLU`), `Linear` for none. */
export const ACTIVATION_LABELS: { readonly [A in HiddenActivation]: string } = {
  linear: 'Linear',
  ...(Object.fromEntries(ACTIVATION_OPS.map((op) => [op, activationInfo(op).module])) as {
    [A in ActivationOp]: string;
  }),
};

/** The choices the page offers for each setting (TensorFlow Playground's lists, plus ours). */
export const CHOICES = {
  activation: [
    ...TF_PLAYGROUND_ACTIVATIONS,
    ...ACTIVATION_OPS.filter((op) => !TF_PLAYGROUND_ACTIVATIONS.includes(op)),
  ] as readonly HiddenActivation[],
  optimizer: OPTIMIZER_NAMES,
  loss: ['squared', 'crossEntropy'] as readonly LossChoice[],
  regularization: ['none', 'L1', 'L2'] as readonly RegularizationChoice[],
  problem: ['classification', 'regression'] as readonly ProblemType[],
  learningRate: [0.00001, 0.0001, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3, 10] as readonly number[],
  regularizationRate: [0, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3, 10] as readonly number[],
};

/** The bounds of the network and of the sliders. */
export const LIMITS = {
  maxLayers: 6,
  maxNeurons: 8,
  maxNoise: 50,
  minTrainRatio: 10,
  maxTrainRatio: 90,
  maxBatchSize: 30,
  maxSeed: 2 ** 32 - 1,
} as const;

/** TensorFlow Playground's defaults: circle, x₁ and x₂, two hidden layers of 4 and 2 tanh neurons. */
export const DEFAULT_CONFIG: Readonly<PlaygroundConfig> = {
  dataset: 'circle',
  problem: 'classification',
  noise: 0,
  trainRatio: 50,
  batchSize: 10,
  features: ['x1', 'x2'],
  hidden: [4, 2],
  activation: 'tanh',
  learningRate: 0.03,
  regularization: 'none',
  regularizationRate: 0,
  optimizer: 'sgd',
  loss: 'squared',
  seed: 1,
};

/**
 * The seed notebook's setup: its one sample, x₁ and x₂, one hidden layer of 2 sigmoid neurons, SGD with
 * learning rate 0.1, ½·(o − y)², seed 42. `createRun` builds the notebook's network from it: weights
 * `rand` (uniform [0, 1)) from `RandomState(42)`, zero biases, a sigmoid output.
 */
export const SEED_PRESET: Readonly<PlaygroundConfig> = {
  dataset: 'seed',
  problem: 'regression',
  noise: 0,
  trainRatio: 100,
  batchSize: 1,
  features: ['x1', 'x2'],
  hidden: [2],
  activation: 'sigmoid',
  learningRate: 0.1,
  regularization: 'none',
  regularizationRate: 0,
  optimizer: 'sgd',
  loss: 'squared',
  seed: 42,
};

/**
 * The configuration a link naming only `dataset` stands for: a preset is given whole, so `#dataset=seed`
 * is the notebook's 2-2-1 sigmoid network with its learning rate, batch and seed ({@link SEED_PRESET}),
 * not the default 4-2 tanh network on the notebook's sample; any other dataset gets TensorFlow
 * Playground's defaults with the dataset's own problem type.
 */
export function presetFor(dataset: DatasetName): PlaygroundConfig {
  const base = dataset === 'seed' ? SEED_PRESET : DEFAULT_CONFIG;
  const problem = DATASETS[dataset]?.problem ?? base.problem;
  return { ...base, dataset, problem, features: [...base.features], hidden: [...base.hidden] };
}

/** Whether a dataset's preset fixes the seed too (the notebook's 42): a link without a seed then keeps it. */
export function presetFixesSeed(dataset: DatasetName): boolean {
  return dataset === 'seed';
}

/** A configuration that cannot be run, with what was expected and what came. */
export class PlaygroundConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PlaygroundConfigError';
  }
}

function check(ok: boolean, field: string, expected: string, got: unknown): void {
  if (!ok)
    throw new PlaygroundConfigError(`playground: ${field}: expected ${expected}, got ${JSON.stringify(got)}`);
}

const isInt = (v: unknown, lo: number, hi: number): boolean =>
  typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi;

/**
 * Check every field of `config` and return it typed; throws a `PlaygroundConfigError` naming the first bad
 * field. Built-in datasets must come with their own problem type, and cross-entropy needs classification.
 */
export function checkConfig(config: PlaygroundConfig): PlaygroundConfig {
  const c = config;
  check(Object.hasOwn(DATASETS, c.dataset), 'dataset', `one of ${DATASET_NAMES.join(', ')}`, c.dataset);
  check(CHOICES.problem.includes(c.problem), 'problem', 'classification or regression', c.problem);
  const own = DATASETS[c.dataset].problem;
  check(own === null || own === c.problem, 'problem', `${own} for the dataset ${c.dataset}`, c.problem);
  check(isInt(c.noise, 0, LIMITS.maxNoise), 'noise', `an integer percentage 0–${LIMITS.maxNoise}`, c.noise);
  const maxRatio = c.dataset === 'seed' ? 100 : LIMITS.maxTrainRatio;
  check(
    isInt(c.trainRatio, LIMITS.minTrainRatio, maxRatio),
    'trainRatio',
    `a percentage 10–${maxRatio}`,
    c.trainRatio,
  );
  check(
    isInt(c.batchSize, 1, LIMITS.maxBatchSize),
    'batchSize',
    `an integer 1–${LIMITS.maxBatchSize}`,
    c.batchSize,
  );
  check(
    Array.isArray(c.features) && c.features.length > 0 && c.features.every((f) => FEATURE_NAMES.includes(f)),
    'features',
    `a non-empty list of ${FEATURE_NAMES.join(', ')}`,
    c.features,
  );
  check(new Set(c.features).size === c.features.length, 'features', 'each feature once', c.features);
  check(
    Array.isArray(c.hidden) &&
      c.hidden.length <= LIMITS.maxLayers &&
      c.hidden.every((n) => isInt(n, 1, LIMITS.maxNeurons)),
    'hidden',
    `at most ${LIMITS.maxLayers} layers of 1–${LIMITS.maxNeurons} neurons`,
    c.hidden,
  );
  check(CHOICES.activation.includes(c.activation), 'activation', CHOICES.activation.join(', '), c.activation);
  check(
    c.learningRate > 0 && Number.isFinite(c.learningRate),
    'learningRate',
    'a positive number',
    c.learningRate,
  );
  check(
    CHOICES.regularization.includes(c.regularization),
    'regularization',
    'none, L1 or L2',
    c.regularization,
  );
  check(
    c.regularizationRate >= 0 && Number.isFinite(c.regularizationRate),
    'regularizationRate',
    'a number ≥ 0',
    c.regularizationRate,
  );
  check(CHOICES.optimizer.includes(c.optimizer), 'optimizer', CHOICES.optimizer.join(', '), c.optimizer);
  check(CHOICES.loss.includes(c.loss), 'loss', 'squared or crossEntropy', c.loss);
  check(
    c.loss !== 'crossEntropy' || c.problem === 'classification',
    'loss',
    'squared for a regression problem (cross-entropy needs two classes)',
    c.loss,
  );
  check(isInt(c.seed, 0, LIMITS.maxSeed), 'seed', 'an integer in [0, 2³²)', c.seed);
  return c;
}

/**
 * What the network's output is, which fixes its last layer and the targets: `tanh` for classification
 * with squared error (targets −1 and +1, as TensorFlow Playground), `logit` for cross-entropy (a sigmoid
 * inside the loss, targets 0 and 1), `identity` for regression, `sigmoid` for the seed notebook's sample.
 */
export type OutputKind = 'tanh' | 'logit' | 'identity' | 'sigmoid';

/** The output kind of a configuration (see {@link OutputKind}). */
export function outputKind(config: PlaygroundConfig): OutputKind {
  if (config.dataset === 'seed') return 'sigmoid';
  if (config.problem === 'regression') return 'identity';
  return config.loss === 'crossEntropy' ? 'logit' : 'tanh';
}
