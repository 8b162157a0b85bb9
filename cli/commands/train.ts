// chainrule train: data in, a trained model file out, with progress, checkpoints and resume.
import { isDeepStrictEqual } from 'node:util';
import { resolve } from 'node:path';
import {
  ACTIVATION_OPS,
  checkPreprocessing,
  chooseFeatures,
  DataError,
  dropMissing,
  evaluate,
  fit,
  fitImagePreprocessing,
  fitPreprocessing,
  IMAGE_SCALINGS,
  fromSpec,
  inferTask,
  kernels,
  losses,
  MISSING_POLICIES,
  toSpec,
  optim,
  parseCheckpoint,
  random,
  selectRows,
  serializeModel,
  snapshotCheckpoint,
  decodePartialEpoch,
  type PartialEpoch,
  decodeFloats,
  MAX_PARAMETERS,
  TrainingDivergedError,
  transformFeatures,
  transformTarget,
  type ActivationOp,
  type EarlyStoppingState,
  type EpochLog,
  type ImageScaling,
  type MetricName,
  type MissingPolicy,
  type ModelFile,
  type Preprocessing,
  PreprocessError,
  type Scaling,
  type Table,
} from '../../src/index.js';
import { parseCommand, type CommandSpec, type Flags } from '../args.js';
import { checkedModelText, CheckpointWriter } from '../checkpoint.js';
import { columnsSummary } from '../columns.js';
import {
  ARCH_FLAGS,
  ARCH_HELP,
  checkArchFlags,
  dryRunTable,
  networkDescription,
  networkSpec,
} from '../arch.js';
import { delimiterFlag, loadData } from '../data.js';
import { TrainingFailure, UserError } from '../errors.js';
import { duration, int, num, pct } from '../format.js';
import {
  checkOutputPath,
  checkWritable,
  readTextFile,
  removeStaleTemps,
  writeFileAtomic,
} from '../fsutil.js';
import { parseNumbers, parseResize } from '../images.js';
import type { IO } from '../io.js';
import { checkScaling } from '../inputcheck.js';
import { lossPlotSvg } from '../plot.js';
import { Progress, type ProgressMode } from '../progress.js';
import { GPT_FLAGS, isSequenceTask, SEQUENCE_MODELS, trainSequence } from './sequence.js';

type OptimizerName = optim.OptimizerName;
const LOSSES = ['cross-entropy', 'mse', 'mae', 'huber'] as const;
type LossFlag = (typeof LOSSES)[number];

/** The train command's flags and help. */
export const trainSpec: CommandSpec = {
  name: 'train',
  summary: 'Train a network on a CSV file or a built-in dataset and save it as a model file.',
  usage: 'chainrule train --data <file.csv | built-in> [flags]',
  flags: [
    {
      name: 'data',
      type: 'string',
      placeholder: 'file|name',
      description:
        'CSV file with a header row, a folder of images (one subfolder per class), or a built-in dataset',
    },
    {
      name: 'target',
      type: 'string',
      placeholder: 'column',
      description: 'Column to predict',
      defaultText: 'the last column',
    },
    {
      name: 'task',
      type: 'string',
      choices: ['classification', 'regression', 'language-model', 'forecast'],
      description:
        'Override the inferred task; language-model: next character of a text file; forecast: next value of a CSV column',
    },
    {
      name: 'features',
      type: 'names',
      placeholder: 'a,b,…',
      description: 'Input columns',
      defaultText: 'every column but the target and an id column',
    },
    {
      name: 'drop',
      type: 'names',
      placeholder: 'a,b,…',
      description: 'Columns to leave out of the features',
    },
    {
      name: 'categorical',
      type: 'names',
      placeholder: 'a,b,…',
      description: 'Columns read as categories (one-hot) even when they hold numbers',
    },
    {
      name: 'numeric',
      type: 'names',
      placeholder: 'a,b,…',
      description: 'Columns read as numbers even when words outnumber them',
    },
    {
      name: 'missing',
      type: 'string',
      choices: MISSING_POLICIES,
      description:
        'Missing values (empty, NA, N/A, NaN, null, ?): refuse them, drop their rows, or fill in the mean or the most frequent value',
      defaultText: 'error',
    },
    {
      name: 'delimiter',
      type: 'string',
      placeholder: 'char',
      description: "Field separator of the CSV ('tab' for tabs)",
      defaultText: ',',
    },
    {
      name: 'layers',
      type: 'list',
      placeholder: 'n,n,…',
      description: 'Hidden layer sizes',
      defaultText: '64,32',
    },
    {
      name: 'activation',
      type: 'string',
      choices: ACTIVATION_OPS,
      description: 'Hidden activation',
      defaultText: 'relu',
    },
    ...ARCH_FLAGS,
    {
      name: 'loss',
      type: 'string',
      choices: LOSSES,
      description: 'Loss',
      defaultText: 'cross-entropy for classification, mse for regression',
    },
    {
      name: 'optimizer',
      type: 'string',
      choices: optim.OPTIMIZER_NAMES,
      description: 'Optimizer (momentum = SGD with momentum 0.9)',
      defaultText: 'adam; adamw at lr 0.002 for --model gpt',
    },
    {
      name: 'lr',
      type: 'number',
      min: 0,
      exclusiveMin: true,
      description: 'Learning rate',
      defaultText: optim.OPTIMIZER_NAMES.map((o) => `${o} ${optim.OPTIMIZERS[o].defaultLr}`).join(', '),
    },
    {
      name: 'scale',
      type: 'string',
      choices: IMAGE_SCALINGS,
      description:
        'How numeric features are scaled (saved in the model file); for images also unit (÷ 255 → [0, 1]) or channel (each channel standardized)',
      defaultText: 'standard; unit for image folders; minmax for mnist, fashion-mnist and digits',
    },
    {
      name: 'resize',
      type: 'string',
      placeholder: 'WxH',
      description: "Resize every image to W×H pixels (PIL's bilinear filter, antialiased)",
      defaultText: 'none: all images must have one size',
    },
    {
      name: 'grayscale',
      type: 'boolean',
      description: 'Read images as one grey channel (else RGB, 3 channels)',
    },
    {
      name: 'mean',
      type: 'string',
      placeholder: 'm,…',
      description: 'Per-channel means subtracted after scaling images to [0, 1] (e.g. 0.485,0.456,0.406)',
    },
    {
      name: 'std',
      type: 'string',
      placeholder: 's,…',
      description: 'Per-channel deviations divided by after --mean (e.g. 0.229,0.224,0.225)',
    },
    {
      name: 'epochs',
      type: 'integer',
      min: 1,
      description: 'Epochs to train (in total, when resuming)',
      defaultText: '50',
    },
    { name: 'batch-size', type: 'integer', min: 1, description: 'Samples per step', defaultText: '32' },
    {
      name: 'val',
      type: 'number',
      min: 0,
      max: 0.9,
      placeholder: 'fraction',
      description: 'Fraction held out for validation (0 = none)',
      defaultText: '0.2',
    },
    {
      name: 'patience',
      type: 'integer',
      min: 0,
      description:
        "Early stopping: stop after N epochs without a lower validation loss; either way keep the best epoch's weights (0 = off: train every epoch, keep the last)",
      defaultText: '10 when there is a validation split',
    },
    {
      name: 'until-loss',
      type: 'number',
      min: 0,
      exclusiveMin: true,
      placeholder: 'x',
      description: 'Stop once the training loss is below x',
    },
    {
      name: 'seed',
      type: 'integer',
      min: 0,
      max: 2 ** 32 - 1,
      description: 'Seed for the split, initialisation and shuffling',
      defaultText: '0',
    },
    {
      name: 'dtype',
      type: 'string',
      choices: ['float32', 'float64'],
      description: 'Number type',
      defaultText: 'float32',
    },
    {
      name: 'out',
      type: 'string',
      placeholder: 'model.json',
      description: 'Where to save the model',
      defaultText: 'model.json',
    },
    {
      name: 'checkpoint-every',
      type: 'integer',
      min: 1,
      placeholder: 'N',
      description: 'Save a resumable checkpoint every N epochs (<out>.ckpt.json)',
    },
    {
      name: 'resume',
      type: 'string',
      placeholder: 'checkpoint',
      description: 'Continue from a checkpoint exactly where it stopped',
    },
    { name: 'plot', type: 'string', placeholder: 'loss.svg', description: 'Write the loss curves as an SVG' },
    {
      name: 'size',
      type: 'integer',
      min: 1,
      max: 10_000_000,
      description: 'Samples for generated datasets (circle, spiral, …)',
      defaultText: '500',
    },
    { name: 'noise', type: 'number', min: 0, description: 'Noise for generated datasets', defaultText: '0' },
    // Sequence tasks (--task language-model | forecast, cli/commands/sequence.ts).
    {
      name: 'model',
      type: 'string',
      choices: SEQUENCE_MODELS,
      description: 'Sequence model: a recurrent layer, or a GPT (decoder-only transformer; language models)',
      defaultText: 'lstm',
    },
    ...GPT_FLAGS,
    {
      name: 'context',
      type: 'integer',
      min: 1,
      description: 'Language model: characters per training window (a GPT reads at most this many)',
      defaultText: '64; 32 for --model gpt',
    },
    {
      name: 'window',
      type: 'integer',
      min: 1,
      description: 'Forecast: steps read to predict the next one',
      defaultText: '32',
    },
    {
      name: 'embed',
      type: 'integer',
      min: 1,
      description: 'Language model: embedding width',
      defaultText: '32',
    },
    {
      name: 'hidden',
      type: 'integer',
      min: 1,
      description: 'Sequence model: hidden size of the recurrent layer',
      defaultText: '128 for a language model, 64 for a forecast',
    },
    {
      name: 'depth',
      type: 'integer',
      min: 1,
      description: 'Sequence model: stacked recurrent layers',
      defaultText: '1',
    },
    {
      name: 'steps',
      type: 'integer',
      min: 1,
      description: 'Language model: steps per epoch (each a batch of freshly drawn windows)',
      defaultText: '200',
    },
    { name: 'json', type: 'boolean', description: 'One JSON object per epoch on stdout' },
    { name: 'quiet', type: 'boolean', short: 'q', description: 'No progress output' },
  ],
  details:
    'The task is inferred from the target column (text or few integer values: classification; otherwise regression)\n' +
    'and stated. A column is numeric when more of its values are numbers than words (missing values not counted),\n' +
    'otherwise categorical; --categorical and --numeric override that, and a word in a numeric column is an error\n' +
    'naming its line. Numeric features are standardized and categorical ones one-hot encoded; all of it, with the\n' +
    'values that fill missing ones, is saved in the model file, so `chainrule predict` takes raw rows like the\n' +
    'training CSV. A folder of images (PNG, JPEG) has one subfolder per class; its images are read as RGB (or\n' +
    '--grayscale), resized with --resize, scaled to [0, 1], and predict reads image files the same way. With a\n' +
    'validation split (--val) training stops early once the validation loss has not improved for --patience\n' +
    'epochs and keeps the best epoch. Ctrl-C stops after the current batch and saves a checkpoint to resume from.\n\n' +
    ARCH_HELP,
  examples: [
    'chainrule train --data iris',
    'chainrule train --data houses.csv --target price --layers 32,16 --epochs 200 --out price.json',
    'chainrule train --data survey.csv --target answer --drop name --categorical zip --missing mean',
    'chainrule train --data mnist --layers 256 --epochs 8 --batch-size 64 --lr 0.001 --out mnist.json',
    'chainrule train --data mnist --arch "conv 32 3 relu, maxpool 2, flatten, linear 128 relu, linear" --dry-run',
    'chainrule train --data spiral --noise 0.1 --layers 16,16 --activation tanh --plot loss.svg',
    'chainrule train --data photos/ --resize 32x32 --layers 128 --epochs 20 --out photos.json',
    'chainrule train --data fashion-mnist --layers 256 --epochs 10 --batch-size 64',
    'chainrule train --resume model.ckpt.json',
    'chainrule train --data book.txt --task language-model --context 64 --epochs 10 --out book.json',
    'chainrule train --data names --task language-model --context 16 --out names.json',
    'chainrule train --data names --task language-model --model gpt --width 64 --heads 4 --blocks 2 --out gpt.json',
    'chainrule train --data series.csv --target load --task forecast --window 32 --out load.json',
  ],
};

function lossName(
  task: 'classification' | 'regression',
  flag: LossFlag | undefined,
): 'crossEntropy' | 'mse' | 'mae' | 'huber' {
  if (task === 'classification') {
    if (flag && flag !== 'cross-entropy')
      throw new UserError(
        `train: --loss ${flag} is for regression; a classification target uses cross-entropy`,
      );
    return 'crossEntropy';
  }
  if (flag === 'cross-entropy')
    throw new UserError('train: --loss cross-entropy needs a classification target (see --task)');
  return flag ?? 'mse';
}

/** Everything about a run that a checkpoint must carry to be resumed with the same meaning. */
interface RunSettings {
  data: string;
  target: string;
  task: 'classification' | 'regression';
  /** The MLP's hidden sizes and activation (without --arch). */
  layers?: number[];
  activation?: ActivationOp;
  /** The --arch line or spec file. */
  arch?: string;
  loss: 'crossEntropy' | 'mse' | 'mae' | 'huber';
  optimizer: OptimizerName;
  lr: number;
  epochs: number;
  batchSize: number;
  val: number;
  patience?: number;
  untilLoss?: number;
  seed: number;
  dtype: 'float32' | 'float64';
  scale?: ImageScaling;
  /** Images resized to [height, width]. */
  resize?: [number, number];
  grayscale?: boolean;
  mean?: number[];
  std?: number[];
  size?: number;
  noise?: number;
  features?: string[];
  drop?: string[];
  categorical?: string[];
  numeric?: string[];
  missing?: MissingPolicy;
  delimiter?: string;
}

function settingsFrom(
  flags: Flags,
  previous: RunSettings | null,
): Omit<RunSettings, 'target' | 'task' | 'loss'> & {
  target?: string;
  task?: 'classification' | 'regression';
  lossFlag?: LossFlag;
} {
  const p = previous;
  const optimizer = (flags.optimizer as OptimizerName | undefined) ?? p?.optimizer ?? 'adam';
  const data = (flags.data as string | undefined) ?? p?.data;
  if (!data)
    throw new UserError('train: --data is required (a CSV file or a built-in dataset)', {
      hint: "see 'chainrule train --help'",
    });
  const size = (flags.size as number | undefined) ?? p?.size;
  const noise = (flags.noise as number | undefined) ?? p?.noise;
  // Early stopping is on by default; a checkpoint from before that default kept its own setting.
  const patience = (flags.patience as number | undefined) ?? (p ? (p.patience ?? 0) : 10);
  const names = (flag: string, kept: string[] | undefined) => (flags[flag] as string[] | undefined) ?? kept;
  const features = names('features', p?.features);
  const drop = names('drop', p?.drop);
  const categorical = names('categorical', p?.categorical);
  const numeric = names('numeric', p?.numeric);
  const missing = (flags.missing as MissingPolicy | undefined) ?? p?.missing;
  const delimiter = delimiterFlag(flags.delimiter as string | undefined) ?? p?.delimiter;
  const untilLoss = (flags['until-loss'] as number | undefined) ?? p?.untilLoss;
  const target = (flags.target as string | undefined) ?? p?.target;
  const scale = (flags.scale as ImageScaling | undefined) ?? p?.scale;
  const resize = flags.resize ? parseResize(flags.resize as string, 'train: --resize') : p?.resize;
  const grayscale = (flags.grayscale as boolean | undefined) || p?.grayscale;
  const mean = flags.mean ? parseNumbers(flags.mean as string, 'train: --mean') : p?.mean;
  const std = flags.std ? parseNumbers(flags.std as string, 'train: --std') : p?.std;
  const task = (flags.task as RunSettings['task'] | undefined) ?? p?.task;
  const lossFlag = (flags.loss as LossFlag | undefined) ?? (p ? losses.LOSS_SPELLINGS[p.loss] : undefined);
  checkArchFlags(flags);
  const arch = (flags.arch as string | undefined) ?? (flags.layers === undefined ? p?.arch : undefined);
  return {
    data,
    ...(arch !== undefined
      ? { arch }
      : {
          layers: (flags.layers as number[] | undefined) ?? p?.layers ?? [64, 32],
          activation: (flags.activation as ActivationOp | undefined) ?? p?.activation ?? 'relu',
        }),
    optimizer,
    lr: (flags.lr as number | undefined) ?? p?.lr ?? optim.OPTIMIZERS[optimizer].defaultLr,
    epochs: (flags.epochs as number | undefined) ?? p?.epochs ?? 50,
    batchSize: (flags['batch-size'] as number | undefined) ?? p?.batchSize ?? 32,
    val: (flags.val as number | undefined) ?? p?.val ?? 0.2,
    seed: (flags.seed as number | undefined) ?? p?.seed ?? 0,
    dtype: (flags.dtype as RunSettings['dtype'] | undefined) ?? p?.dtype ?? 'float32',
    ...(scale !== undefined ? { scale } : {}),
    ...(resize !== undefined ? { resize } : {}),
    ...(grayscale ? { grayscale } : {}),
    ...(mean !== undefined ? { mean } : {}),
    ...(std !== undefined ? { std } : {}),
    ...(size !== undefined ? { size } : {}),
    ...(noise !== undefined ? { noise } : {}),
    patience,
    ...(features !== undefined ? { features } : {}),
    ...(drop !== undefined ? { drop } : {}),
    ...(categorical !== undefined ? { categorical } : {}),
    ...(numeric !== undefined ? { numeric } : {}),
    ...(missing !== undefined ? { missing } : {}),
    ...(delimiter !== undefined ? { delimiter } : {}),
    ...(untilLoss !== undefined ? { untilLoss } : {}),
    ...(target !== undefined ? { target } : {}),
    ...(task !== undefined ? { task } : {}),
    ...(lossFlag !== undefined ? { lossFlag } : {}),
  };
}

/** Image flags need image data, and the image scalings need images: say which flag does not fit. */
function checkImageFlags(
  s: Omit<RunSettings, 'target' | 'task' | 'loss'>,
  scale: ImageScaling,
  table: Table,
  builtin: boolean,
): void {
  const given = [s.resize && '--resize', s.grayscale && '--grayscale'].filter(Boolean);
  if (given.length > 0 && (!table.image || builtin))
    throw new UserError(
      `train: ${given.join(' and ')} ${given.length > 1 ? 'apply' : 'applies'} to a folder of images, not to ${table.source}`,
    );
  if (!table.image && (scale === 'unit' || scale === 'channel'))
    throw new UserError(
      `train: --scale ${scale} applies to images (a folder of images, mnist, fashion-mnist, digits), not to ${table.source}`,
    );
  for (const flag of ['mean', 'std'] as const)
    if (s[flag] !== undefined && (!table.image || scale !== 'unit'))
      throw new UserError(`train: --${flag} applies to images scaled to [0, 1] (--scale unit)`);
}

/** The preprocessing of an image table; a --mean or --std that does not fit the channels is named. */
function imagePreprocessing(table: Table, settings: RunSettings): Preprocessing {
  try {
    return fitImagePreprocessing(table, {
      target: settings.target,
      task: settings.task,
      scaling: settings.scale,
      ...(settings.mean ? { mean: settings.mean } : {}),
      ...(settings.std ? { std: settings.std } : {}),
    });
  } catch (e) {
    if (e instanceof PreprocessError && (settings.mean || settings.std))
      throw new UserError(`train: --mean/--std: ${e.message}`);
    throw e;
  }
}

/** One phrase saying how the inputs are scaled. */
function scalingText(scale: ImageScaling, table: Table, normalized: boolean): string {
  const what = table.image ? 'pixels' : 'numeric features';
  switch (scale) {
    case 'standard':
      return `${what} standardized`;
    case 'minmax':
      return `${what} scaled to [0, 1] (per ${table.image ? 'pixel' : 'column'})`;
    case 'none':
      return `${what} not scaled`;
    case 'unit':
      return `pixels ÷ ${table.image?.maxValue ?? 255} → [0, 1]${normalized ? ', then (x − mean) / std per channel' : ''}`;
    case 'channel':
      return 'each channel standardized';
    default:
      return scale satisfies never;
  }
}

/** Split rows into training and validation by a seeded permutation (the first draw of the run's stream). */
function split(table: Table, fraction: number, rng: random.RandomState): { train: Table; val: Table | null } {
  const n = table.numRows;
  const perm = rng.permutation(n);
  const nVal = fraction > 0 ? Math.max(1, Math.round(n * fraction)) : 0;
  if (nVal > 0 && n - nVal < 1)
    throw new UserError(`train: --val ${fraction} leaves no training rows out of ${n}`);
  return {
    train: selectRows(table, perm.subarray(nVal)),
    val: nVal > 0 ? selectRows(table, perm.subarray(0, nVal)) : null,
  };
}

function dataset(pre: Preprocessing, table: Table, dtype: RunSettings['dtype']) {
  const x = transformFeatures(pre, table, dtype);
  const t = transformTarget(pre, table, dtype);
  return { x, y: t.kind === 'classes' ? t.labels : t.y };
}

/** The flag of each run setting (loss has its own names: crossEntropy is --loss cross-entropy). */
const SETTING_FLAGS: Record<Exclude<keyof RunSettings, 'loss' | ImageSetting>, string> = {
  data: 'data',
  target: 'target',
  task: 'task',
  layers: 'layers',
  activation: 'activation',
  arch: 'arch',
  optimizer: 'optimizer',
  lr: 'lr',
  epochs: 'epochs',
  batchSize: 'batch-size',
  val: 'val',
  patience: 'patience',
  untilLoss: 'until-loss',
  seed: 'seed',
  dtype: 'dtype',
  scale: 'scale',
  size: 'size',
  noise: 'noise',
  features: 'features',
  drop: 'drop',
  categorical: 'categorical',
  numeric: 'numeric',
  missing: 'missing',
  delimiter: 'delimiter',
};
const OPTIONAL_SETTINGS = new Set([
  // An --arch run has no MLP sizes; an MLP run has no --arch.
  'layers',
  'activation',
  'arch',
  'patience',
  'untilLoss',
  'scale',
  'size',
  'noise',
  'features',
  'drop',
  'categorical',
  'numeric',
  'missing',
  'delimiter',
]);

/** The image settings, stored parsed (a [width, height] pair, number lists), checked on their own. */
type ImageSetting = 'resize' | 'grayscale' | 'mean' | 'std';

/** The image settings of a checkpoint: the shapes their flags parse into, sizes within reason. */
function checkImageSettings(v: Record<string, unknown>, at: string): void {
  const fail = (key: string, what: string) =>
    new UserError(`${at}.${key}: expected ${what}, got ${JSON.stringify(v[key])?.slice(0, 60)}`);
  const r = v.resize;
  if (
    r !== undefined &&
    r !== null &&
    !(Array.isArray(r) && r.length === 2 && r.every((d) => Number.isInteger(d) && d >= 1 && d <= 16384))
  )
    throw fail('resize', 'a [width, height] pair of integers from 1 to 16384');
  if (v.grayscale !== undefined && v.grayscale !== null && typeof v.grayscale !== 'boolean')
    throw fail('grayscale', 'true or false');
  for (const key of ['mean', 'std'] as const) {
    const x = v[key];
    if (x === undefined || x === null) continue;
    if (
      !Array.isArray(x) ||
      x.length === 0 ||
      x.length > 4 ||
      !x.every((n) => typeof n === 'number' && Number.isFinite(n) && (key === 'mean' || n > 0))
    )
      throw fail(key, `1 to 4 ${key === 'std' ? 'positive' : 'finite'} numbers, one per channel`);
  }
}

/**
 * Check a checkpoint's run settings with the rules of the flags they stand for (a batch size of 0, a
 * negative seed or learning rate are as wrong in a file as on the command line), naming the field.
 */
function checkSettings(value: unknown, source: string): asserts value is RunSettings {
  const at = `${source}: training.settings`;
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new UserError(`${at}: expected an object`);
  const v = value as Record<string, unknown>;
  for (const [key, flag] of Object.entries(SETTING_FLAGS)) {
    const x = v[key];
    if (x === undefined || x === null) {
      if (OPTIONAL_SETTINGS.has(key)) continue;
      throw new UserError(`${at}.${key}: missing`);
    }
    const spec = trainSpec.flags.find((f) => f.name === flag);
    if (!spec) continue;
    const fail = (what: string) => new UserError(`${at}.${key}: ${what}`);
    let raw: string;
    if (spec.type === 'list') {
      if (!Array.isArray(x) || !x.every((n) => typeof n === 'number'))
        throw fail(`expected an array of positive integers, got ${JSON.stringify(x)?.slice(0, 60)}`);
      raw = x.join(',');
    } else if (spec.type === 'names') {
      if (!Array.isArray(x) || !x.every((n) => typeof n === 'string'))
        throw fail(`expected an array of column names, got ${JSON.stringify(x)?.slice(0, 60)}`);
      raw = x.join(',');
    } else if (spec.type === 'number' || spec.type === 'integer') {
      if (typeof x !== 'number') throw fail(`expected a number, got ${JSON.stringify(x)?.slice(0, 60)}`);
      raw = String(x);
    } else {
      if (typeof x !== 'string') throw fail(`expected a string, got ${JSON.stringify(x)?.slice(0, 60)}`);
      raw = x;
    }
    try {
      parseCommand(trainSpec, [`--${flag}=${raw}`]);
    } catch (e) {
      throw fail((e as Error).message.replace(/^train: --[\w-]+: /, ''));
    }
  }
  checkImageSettings(v, at);
  if (!['crossEntropy', 'mse', 'mae', 'huber'].includes(v.loss as string))
    throw new UserError(
      `${at}.loss: expected one of crossEntropy, mse, mae, huber, got ${JSON.stringify(v.loss)?.slice(0, 60)}`,
    );
}

/** Check --out, its checkpoint and --plot can be written before any training (nothing but regular files). */
async function checkOutputs(outPath: string, out: string, flags: Flags, cwd: string): Promise<void> {
  await checkOutputPath(outPath, '--out', out);
  await checkOutputPath(checkpointPath(outPath), '--out (its checkpoint)', checkpointPath(out));
  const plot = flags.plot as string | undefined;
  if (plot) await checkOutputPath(resolve(cwd, plot), '--plot', plot);
}

/** Refuse a network over the parameter limit before allocating it, naming the sizes. */
function checkNetworkSize(sizes: number[], flags: Flags): void {
  let params = 0;
  for (let i = 1; i < sizes.length; i++) params += sizes[i - 1] * sizes[i] + sizes[i];
  if (params > MAX_PARAMETERS)
    throw new UserError(
      `train: ${flags.layers ? `--layers ${(flags.layers as number[]).join(',')}` : 'the network'} ` +
        `(${sizes.join('-')}) has ${params.toExponential(2)} parameters; the limit is ${MAX_PARAMETERS} (${(MAX_PARAMETERS * 4) / 2 ** 20} MiB as float32)`,
    );
}

/**
 * Write the trained model: a write that fails now (a full disk, a folder gone read-only) is a failed run,
 * exit 1, like a failed checkpoint write, and says which checkpoint is left to resume from.
 */
async function writeAfterTraining(
  path: string,
  text: string,
  what: string,
  checkpointEpoch: number,
  out: string,
): Promise<void> {
  try {
    await writeFileAtomic(path, text, { what });
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    throw new UserError(
      e.message +
        (checkpointEpoch >= 0
          ? `; the checkpoint of epoch ${checkpointEpoch} is in ${checkpointPath(out)}`
          : '; nothing was saved'),
      { exitCode: 1 },
    );
  }
}

/**
 * A value the data layer let through but training refused (a `DataError`: NaN or infinite after scaling),
 * as the cell of the file it came from: file:line, column, the raw value and what the scaling made of it.
 */
function badValue(e: DataError, pre: Preprocessing, table: Table | null): string {
  let feature: Preprocessing['features'][number] | Preprocessing['target'] | undefined = pre.target;
  if (e.tensor === 'x') {
    let start = 0;
    feature = pre.features.find((f) => {
      start += f.kind === 'numeric' ? 1 : f.categories.length;
      return e.index < start;
    });
  }
  const column = table?.columns.find((c) => c.name === feature?.name);
  if (!table || !feature || !column) return `train: ${e.message}`;
  const line = table.lineOf?.(e.sample);
  const scaling = feature.kind === 'numeric' ? ` (mean ${feature.mean}, deviation ${feature.std})` : '';
  return (
    `${table.source}${line === undefined ? '' : `:${line}`}: column '${column.name}' holds ${String(column.values[e.sample])}, ` +
    `which its scaling${scaling} turns into ${e.value}: the column's values are too large to scale; ` +
    'divide the column by a power of ten (bad input, not a learning-rate problem)'
  );
}

/**
 * Run a preprocessing step; its usual problems get the flag that solves them as a hint (the library's
 * message names the file, line and column but knows no flags).
 */
function withHint<T>(step: () => T): T {
  try {
    return step();
  } catch (e) {
    if (!(e instanceof PreprocessError) || e.problem === undefined) throw e;
    const column = /^[\w.-]+$/.test(e.column ?? '') ? e.column : `'${e.column}'`;
    const hint = {
      missing: '--missing drop leaves such rows out; --missing mean or --missing mode fills the values in',
      'not-a-number': `fix that value, or read the column as categories: --categorical ${column}`,
      identifier: `leave it out: --drop ${column}`,
    }[e.problem];
    throw new UserError(e.message, { hint });
  }
}

/** Path of the checkpoint next to a model path: model.json → model.ckpt.json. */
export function checkpointPath(out: string): string {
  return out.endsWith('.json') ? `${out.slice(0, -'.json'.length)}.ckpt.json` : `${out}.ckpt.json`;
}

/** Run `chainrule train`; returns the exit code. */
export async function train(flags: Flags, io: IO, options: { save?: boolean } = {}): Promise<number> {
  const mode: ProgressMode = flags.json ? 'json' : flags.quiet ? 'quiet' : io.isTTY ? 'tty' : 'plain';
  const say = (line: string) => {
    if (mode !== 'quiet') io.err(line + '\n');
  };

  // A checkpoint carries the settings, the weights, the optimizer and the random stream.
  let resumed: ReturnType<typeof parseCheckpoint> | null = null;
  const resumePath = flags.resume as string | undefined;
  if (resumePath) {
    const abs = resolve(io.cwd, resumePath);
    resumed = parseCheckpoint(await readTextFile(abs, 'checkpoint', resumePath), resumePath);
  }
  const previous = (resumed?.file.training as { settings?: RunSettings } | null)?.settings ?? null;
  // Sequence tasks (text, time series) train in cli/commands/sequence.ts.
  const sequenceTask = flags.task ?? (previous as { task?: string } | null)?.task;
  if (isSequenceTask(sequenceTask)) return trainSequence(flags, io, sequenceTask, resumed, resumePath);
  for (const f of [
    'model',
    'context',
    'window',
    'embed',
    'hidden',
    'depth',
    'steps',
    ...GPT_FLAGS.map((g) => g.name),
  ])
    if (flags[f] !== undefined) throw new UserError(`train: --${f} is for --task language-model or forecast`);
  if (resumed && !previous)
    throw new UserError(`${resumePath}: this checkpoint has no training settings to resume with`);
  if (previous) checkSettings(previous, resumePath as string);
  const s = settingsFrom(flags, previous);
  const out =
    (flags.out as string | undefined) ??
    (resumePath ? resumePath.replace(/\.ckpt\.json$/, '.json') : 'model.json');
  const outPath = resolve(io.cwd, out);
  const ckptPath = checkpointPath(outPath);
  // Before the data and the training, not after them: a folder that is missing now will be missing then.
  await checkWritable(outPath, { what: 'model file' });
  if (flags.plot) await checkWritable(resolve(io.cwd, flags.plot as string), { what: 'plot' });
  await checkOutputs(outPath, out, flags, io.cwd);

  const kinds: Record<string, 'numeric' | 'text'> = {};
  for (const name of s.numeric ?? []) kinds[name] = 'numeric';
  for (const name of s.categorical ?? []) kinds[name] = 'text';
  const data = await loadData(s.data, io.cwd, {
    ...(s.size ? { size: s.size } : {}),
    ...(s.noise !== undefined ? { noise: s.noise } : {}),
    seed: s.seed,
    images: {
      channels: s.grayscale ? 1 : 3,
      size: s.resize ?? null,
      resize: s.resize ? 'bilinear' : null,
      maxValue: 255,
    },
    labels: true,
    csv: { ...(s.delimiter ? { delimiter: s.delimiter } : {}), kinds },
  });
  const table = data.train;
  const target = s.target ?? table.columns[table.columns.length - 1]?.name;
  const targetColumn = table.columns.find((c) => c.name === target);
  if (!targetColumn)
    throw new UserError(
      `train: --target '${target}' is not a column of ${table.source}; columns: ${table.columns.map((c) => c.name).join(', ')}`,
    );
  if (table.columns.length < 2)
    throw new UserError(`train: ${table.source} needs at least one feature column besides the target`);
  const inferred = inferTask(targetColumn);
  const task = s.task ?? inferred.task;
  const loss = lossName(task, s.lossFlag);
  // Pixels are bounded: scaled to [0, 1], where standardizing would blow rare pixels up (the built-in image
  // sets keep per-pixel min-max, with which the README's MNIST figures were measured).
  const scale: ImageScaling = s.scale ?? (table.image ? (data.builtin ? 'minmax' : 'unit') : 'standard');
  checkImageFlags(s, scale, table, data.builtin);
  const settings: RunSettings = { ...s, target: target as string, task, loss, scale };

  // Fitted on every row the missing-value policy keeps, so a class or category that happens to fall only
  // in the validation rows is still known; its means and deviations then include the validation rows (a
  // mild, deliberate leak).
  const pre: Preprocessing = resumed
    ? checkPreprocessing(resumed.file.preprocessing, `${resumePath}: preprocessing`)
    : table.image
      ? imagePreprocessing(table, settings)
      : withHint(() =>
          fitPreprocessing(table, {
            target: settings.target,
            task,
            scaling: scale as Scaling,
            ...(settings.features ? { features: settings.features } : {}),
            ...(settings.drop ? { drop: settings.drop } : {}),
            ...(settings.categorical ? { categorical: settings.categorical } : {}),
            ...(settings.numeric ? { numeric: settings.numeric } : {}),
            ...(settings.missing ? { missing: settings.missing } : {}),
          }),
        );
  const { table: usable, dropped } = dropMissing(pre, table, { target: true });

  // One stream per run: the split is its first draw, then initialisation, shuffling and dropout. A resumed
  // run redoes the split from the seed and continues with the stream saved at the checkpoint.
  const seeded = new random.RandomState(settings.seed);
  const { train: trainTable, val: valTable } = split(usable, settings.val, seeded);
  const rng = resumed ? resumed.rng : seeded;
  if (!resumed && !table.image) checkScaling(pre, table);
  const trainData = withHint(() => dataset(pre, trainTable, settings.dtype));
  const valData = valTable ? withHint(() => dataset(pre, valTable, settings.dtype)) : null;
  const outputs = pre.target.kind === 'classes' ? pre.target.classes.length : 1;

  say(
    `data: ${data.builtin ? `built-in '${data.name}'` : table.source}, ${int(table.numRows)} ${table.image ? `images ${table.image.shape.join('×')} (C×H×W)` : 'rows'}; ` +
      `${task} (${s.task ? 'set by --task' : inferred.reason}); ${scalingText(scale, table, Boolean(settings.mean || settings.std))}; ` +
      `${int(trainTable.numRows)} for training${valTable ? `, ${int(valTable.numRows)} for validation` : ''}`,
  );
  if (!table.image)
    say(
      columnsSummary(pre, {
        left: chooseFeatures(table, settings).left,
        categorical: settings.categorical ?? [],
        numeric: settings.numeric ?? [],
        dropped,
      }),
    );

  // Built and checked against the data before anything trains or is written (an --arch checkpoint carries
  // its network; an MLP's settings must describe the checkpoint's).
  if (settings.arch === undefined) checkNetworkSize([pre.inputSize, ...settings.layers!, outputs], flags);
  // A resumed run keeps the checkpoint's network: an --arch given now must build the same one (however
  // it is spelled), else it is refused rather than ignored.
  const network =
    resumed && settings.arch !== undefined && flags.arch === undefined
      ? null
      : await networkSpec(settings, pre, outputs, io.cwd);
  if (resumed && network && !sameSpec(toSpec(resumed.model), network.spec)) {
    const was =
      previous?.arch !== undefined
        ? `--arch ${JSON.stringify(previous.arch)}`
        : `--layers ${previous?.layers?.join(',')} --activation ${previous?.activation}`;
    throw new UserError(
      flags.arch !== undefined
        ? `train: --arch cannot change the network of a resumed run; ${resumePath} was trained with ${was}`
        : `${resumePath}: training.settings (layers ${settings.layers?.join(',')}, ${settings.activation}) do not describe the checkpoint's architecture`,
    );
  }
  const model = resumed ? resumed.model : fromSpec(network!.spec, { dtype: settings.dtype, rng });
  const optimizer = optim.makeOptimizer(settings.optimizer, model.parameters(), settings.lr);
  let initialEpoch = 0;
  const history: EpochLog[] = [];
  // Early stopping's record lives here, so every snapshot carries it and a resumed run stops as the whole would.
  const esState: EarlyStoppingState = { best: Infinity, bestEpoch: 0, sinceBest: 0, bestState: null };
  if (resumed) {
    const c = resumed.checkpoint;
    try {
      optimizer.loadStateDict(c.optimizer as optim.OptimizerState);
    } catch (e) {
      throw new UserError(`${resumePath}: ${(e as Error).message}`);
    }
    // The checkpoint's optimizer state carries its learning rate; an --lr given now replaces it.
    if (flags.lr !== undefined) optimizer.lr = settings.lr;
    initialEpoch = c.epoch;
    history.push(...((c.history as EpochLog[] | null) ?? []));
    const es = c.earlyStopping;
    if (es) {
      esState.best = es.best ?? Infinity;
      esState.bestEpoch = es.bestEpoch;
      esState.sinceBest = es.sinceBest;
      if (es.bestWeights) {
        const best = model.stateDict();
        for (const [name, t] of Object.entries(best))
          t.data.set(decodeFloats(es.bestWeights[name].data, settings.dtype));
        esState.bestState = best;
      }
    }
  }
  const earlyStopping = settings.patience && valData;
  // A checkpoint of the epoch where the run stopped (written, then killed before the model was) resumes
  // to saving the model, not to more epochs.
  const stoppedBefore = resumed
    ? earlyStopping && esState.sinceBest >= (settings.patience as number)
      ? ('earlyStopping' as const)
      : settings.untilLoss !== undefined && (history.at(-1)?.loss ?? Infinity) < settings.untilLoss
        ? ('until' as const)
        : initialEpoch >= settings.epochs && flags.epochs === undefined
          ? ('completed' as const)
          : null
    : null;
  const remaining = stoppedBefore ? 0 : settings.epochs - initialEpoch;
  if (remaining <= 0 && !stoppedBefore)
    throw new UserError(
      `train: the checkpoint has already trained ${initialEpoch} epochs; pass --epochs larger than that to continue`,
    );
  say(
    `model: ${networkDescription(settings, pre, outputs)}, ${int(model.numParameters())} parameters, ` +
      `${losses.LOSS_SPELLINGS[loss]} loss, ${settings.optimizer} lr ${settings.lr}, ` +
      `${settings.epochs} epochs${resumed ? ` (resuming after epoch ${initialEpoch})` : ''}, batch ${settings.batchSize}, seed ${settings.seed}; ${kernels().name} kernels`,
  );

  if (flags['dry-run']) {
    io.out(dryRunTable(model, pre));
    return 0;
  }

  const metrics: MetricName[] = task === 'classification' ? ['accuracy'] : ['mae'];
  const meta = (epochsDone: number, extra: Record<string, unknown> = {}) => ({
    task,
    preprocessing: pre,
    training: {
      settings,
      data: data.name,
      epochs: epochsDone,
      // float32 sums round differently on different kernel sets: part of what a rerun must match.
      kernels: kernels().name,
      date: new Date().toISOString(),
      final: history.at(-1) ?? null,
      ...extra,
    },
  });
  // One moment of the run, copied now (weights, optimizer, stream, epoch, history, early stopping).
  const snapshot = (epoch: number, partialEpoch?: PartialEpoch) =>
    snapshotCheckpoint(model, {
      optimizer,
      rng,
      epoch,
      history,
      ...(partialEpoch ? { partialEpoch } : {}),
      ...(earlyStopping ? { earlyStopping: { ...esState } } : {}),
      ...meta(epoch),
    });

  const progress = new Progress(io, mode, settings.epochs);
  const started = performance.now();
  const abort = new AbortController();
  const onAbort = () => abort.abort();
  io.signal?.addEventListener('abort', onAbort);
  const writer = new CheckpointWriter(ckptPath, checkpointPath(out), () => abort.abort());
  await removeStaleTemps(ckptPath);
  await removeStaleTemps(outPath);
  const every = flags['checkpoint-every'] as number | undefined;
  let result: {
    stopReason: 'completed' | 'until' | 'earlyStopping' | 'aborted';
    bestEpoch?: number;
    partial?: PartialEpoch;
  } = {
    stopReason: stoppedBefore ?? 'completed',
  };
  if (stoppedBefore === 'earlyStopping') {
    result.bestEpoch = esState.bestEpoch;
    if (esState.bestState) model.loadStateDict(esState.bestState);
  }
  try {
    if (remaining > 0)
      result = await fit(
        model,
        { x: trainData.x, y: trainData.y },
        {
          loss,
          optimizer,
          epochs: remaining,
          initialEpoch,
          batchSize: settings.batchSize,
          rng,
          metrics,
          ...(valData ? { validationData: valData } : {}),
          ...(earlyStopping
            ? { earlyStopping: { patience: settings.patience as number, restoreBest: true, state: esState } }
            : {}),
          ...(settings.untilLoss ? { until: { loss: settings.untilLoss } } : {}),
          // An epoch interrupted part way continues at its next batch, in its order.
          ...(resumed?.checkpoint.partialEpoch
            ? { resumeEpoch: decodePartialEpoch(resumed.checkpoint.partialEpoch) }
            : {}),
          // The exploding-loss rule measures from the first epoch, also across a resume.
          ...(history[0]?.epoch === 1 ? { divergence: { referenceLoss: history[0].loss } } : {}),
          signal: abort.signal,
          onBatchEnd: (b) => progress.batch(b),
          onEpochEnd: (log) => {
            history.push(log);
            progress.epoch(log);
            // Copied now, at the boundary; turned into text and written behind training.
            if (every && log.epoch % every === 0) writer.offer(snapshot(log.epoch));
          },
        },
      );
  } catch (e) {
    progress.clear();
    // A checkpoint's partial epoch that does not fit the data (the order of another data set).
    if (e instanceof Error && /^(resumeEpoch|metrics state|fit: resumeEpoch)/.test(e.message))
      throw new UserError(
        `${resumePath}: checkpoint.partialEpoch: ${e.message.replace(/^resumeEpoch: /, '')}`,
      );
    if (e instanceof TrainingDivergedError) {
      await writer.flush().catch(() => {});
      throw new TrainingFailure(
        `train: ${e.message}` +
          (writer.written >= 0
            ? `\n  the checkpoint of epoch ${writer.written} is in ${checkpointPath(out)}`
            : ''),
      );
    }
    if (e instanceof DataError)
      throw new UserError(badValue(e, pre, e.dataset === 'validationData' ? valTable : trainTable));
    throw e;
  } finally {
    io.signal?.removeEventListener('abort', onAbort);
  }
  if (writer.error) {
    progress.clear();
    throw writer.error;
  }
  const epochsDone = history.at(-1)?.epoch ?? initialEpoch;
  const seconds = (performance.now() - started) / 1000;

  if (result.stopReason === 'aborted') {
    progress.clear();
    // The moment it stopped, part way through an epoch (the batches done are kept), else the boundary.
    const p = result.partial;
    const done = history.at(-1)?.epoch ?? initialEpoch;
    writer.offer(p ? snapshot(p.epoch - 1, p) : snapshot(done));
    await writer.flush();
    const batches = Math.ceil(trainTable.numRows / Math.min(settings.batchSize, trainTable.numRows));
    say(
      p
        ? `interrupted in epoch ${p.epoch} after batch ${p.batch} of ${batches}; saved that moment to ${checkpointPath(out)}`
        : `interrupted at the end of epoch ${done}; saved the state to ${checkpointPath(out)}`,
    );
    say(`continue with: chainrule train --resume ${checkpointPath(out)}`);
    return 130;
  }
  await writer.flush();

  const took = duration(seconds);
  const kept = (why: string) =>
    earlyStopping && result.bestEpoch !== undefined && result.bestEpoch !== epochsDone
      ? `; kept epoch ${result.bestEpoch}${why}`
      : '';
  say(
    {
      completed: `trained ${epochsDone} epochs in ${took}${kept(', the lowest validation loss')}`,
      until: `stopped at epoch ${epochsDone} in ${took}: training loss below ${settings.untilLoss}`,
      earlyStopping: `stopped at epoch ${epochsDone} in ${took}: no validation improvement for ${settings.patience} epochs${kept('')}`,
      aborted: '',
    }[result.stopReason],
  );

  let test: { loss: number; accuracy?: number; mae?: number; rows: number } | null = null;
  if (data.test) {
    const td = dataset(pre, data.test, settings.dtype);
    const r = evaluate(model, td, { loss, metrics });
    test = { loss: r.loss, rows: data.test.numRows, ...r.metrics };
    say(
      `test (${int(data.test.numRows)} held-out rows of '${data.name}'): loss ${num(r.loss)}` +
        (r.metrics.accuracy !== undefined ? `, accuracy ${pct(r.metrics.accuracy)}` : '') +
        (r.metrics.mae !== undefined ? `, mae ${num(r.metrics.mae)}` : ''),
    );
  }

  if (options.save === false) return 0;
  const file: ModelFile = serializeModel(
    model,
    meta(epochsDone, { stopReason: result.stopReason, seconds, test, history }),
  );
  await writeAfterTraining(outPath, checkedModelText(file, out), 'model file', writer.written, out);
  say(`saved ${out}`);
  if (flags.plot) {
    const plotPath = resolve(io.cwd, flags.plot as string);
    await writeFileAtomic(plotPath, lossPlotSvg(history, `chainrule train --data ${data.name}`), {
      what: 'plot',
    });
    say(`wrote ${flags.plot}`);
  }
  return 0;
}

/** Whether two model specs describe the same network (as JSON, whatever the order of their keys). */
function sameSpec(a: unknown, b: unknown): boolean {
  const plain = (x: unknown): unknown => JSON.parse(JSON.stringify(x));
  return isDeepStrictEqual(plain(a), plain(b));
}
