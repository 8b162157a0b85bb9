// chainrule train: data in, a trained model file out, with progress, checkpoints and resume.
import { resolve } from 'node:path';
import {
  ACTIVATION_OPS,
  checkPreprocessing,
  evaluate,
  fit,
  fitImagePreprocessing,
  fitPreprocessing,
  IMAGE_SCALINGS,
  fromSpec,
  inferTask,
  kernels,
  optim,
  parseCheckpoint,
  random,
  selectRows,
  serializeCheckpoint,
  serializeModel,
  stringifyModelFile,
  TrainingDivergedError,
  transformFeatures,
  transformTarget,
  type ActivationOp,
  type EpochLog,
  type ImageScaling,
  type MetricName,
  type ModelFile,
  type Preprocessing,
  PreprocessError,
  type Scaling,
  type Table,
} from '../../src/index.js';
import type { CommandSpec, Flags } from '../args.js';
import {
  ARCH_FLAGS,
  ARCH_HELP,
  checkArchFlags,
  dryRunTable,
  networkDescription,
  networkSpec,
} from '../arch.js';
import { loadData } from '../data.js';
import { TrainingFailure, UserError } from '../errors.js';
import { duration, int, num, pct } from '../format.js';
import { readTextFile, writeFileAtomic } from '../fsutil.js';
import { parseNumbers, parseResize } from '../images.js';
import type { IO } from '../io.js';
import { lossPlotSvg } from '../plot.js';
import { Progress, type ProgressMode } from '../progress.js';

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
      choices: ['classification', 'regression'],
      description: 'Override the inferred task',
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
      defaultText: 'adam',
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
      min: 1,
      description: 'Stop after N epochs without validation improvement, keeping the best weights',
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
      description: 'Samples for generated datasets (circle, spiral, …)',
      defaultText: '500',
    },
    { name: 'noise', type: 'number', min: 0, description: 'Noise for generated datasets', defaultText: '0' },
    { name: 'json', type: 'boolean', description: 'One JSON object per epoch on stdout' },
    { name: 'quiet', type: 'boolean', short: 'q', description: 'No progress output' },
  ],
  details:
    'The task is inferred from the target column (text or few integer values: classification; otherwise regression)\n' +
    'and stated. Numeric features are standardized and text features one-hot encoded; all of it is saved in the\n' +
    'model file, so `chainrule predict` takes raw rows like the training CSV. A folder of images (PNG, JPEG) has\n' +
    'one subfolder per class; its images are read as RGB (or --grayscale), resized with --resize, scaled to [0, 1],\n' +
    'and predict reads image files the same way. Ctrl-C stops after the current batch and saves a checkpoint to\n' +
    'resume from.\n\n' +
    ARCH_HELP,
  examples: [
    'chainrule train --data iris',
    'chainrule train --data houses.csv --target price --layers 32,16 --epochs 200 --out price.json',
    'chainrule train --data mnist --layers 256 --epochs 8 --batch-size 64 --lr 0.001 --out mnist.json',
    'chainrule train --data mnist --arch "conv 32 3 relu, maxpool 2, flatten, linear 128 relu, linear" --dry-run',
    'chainrule train --data spiral --noise 0.1 --layers 16,16 --activation tanh --plot loss.svg',
    'chainrule train --data photos/ --resize 32x32 --layers 128 --epochs 20 --out photos.json',
    'chainrule train --data fashion-mnist --layers 256 --epochs 10 --batch-size 64',
    'chainrule train --resume model.ckpt.json',
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
  const patience = (flags.patience as number | undefined) ?? p?.patience;
  const untilLoss = (flags['until-loss'] as number | undefined) ?? p?.untilLoss;
  const target = (flags.target as string | undefined) ?? p?.target;
  const scale = (flags.scale as ImageScaling | undefined) ?? p?.scale;
  const resize = flags.resize ? parseResize(flags.resize as string, 'train: --resize') : p?.resize;
  const grayscale = (flags.grayscale as boolean | undefined) || p?.grayscale;
  const mean = flags.mean ? parseNumbers(flags.mean as string, 'train: --mean') : p?.mean;
  const std = flags.std ? parseNumbers(flags.std as string, 'train: --std') : p?.std;
  const task = (flags.task as RunSettings['task'] | undefined) ?? p?.task;
  const lossFlag =
    (flags.loss as LossFlag | undefined) ??
    (p ? (p.loss === 'crossEntropy' ? 'cross-entropy' : p.loss) : undefined);
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
    ...(patience !== undefined ? { patience } : {}),
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
  if (resumed && !previous)
    throw new UserError(`${resumePath}: this checkpoint has no training settings to resume with`);
  const s = settingsFrom(flags, previous);
  const out =
    (flags.out as string | undefined) ??
    (resumePath ? resumePath.replace(/\.ckpt\.json$/, '.json') : 'model.json');
  const outPath = resolve(io.cwd, out);
  const ckptPath = checkpointPath(outPath);

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

  // One stream per run: the split is its first draw, then initialisation, shuffling and dropout. A resumed
  // run redoes the split from the seed and continues with the stream saved at the checkpoint.
  const seeded = new random.RandomState(settings.seed);
  const { train: trainTable, val: valTable } = split(table, settings.val, seeded);
  const rng = resumed ? resumed.rng : seeded;
  // Fitted on every row, so a class or category that happens to fall only in the validation rows is
  // still known; its means and deviations then include the validation rows (a mild, deliberate leak).
  const pre: Preprocessing = resumed
    ? checkPreprocessing(resumed.file.preprocessing, `${resumePath}: preprocessing`)
    : table.image
      ? imagePreprocessing(table, settings)
      : fitPreprocessing(table, { target: settings.target, task, scaling: scale as Scaling });
  const trainData = dataset(pre, trainTable, settings.dtype);
  const valData = valTable ? dataset(pre, valTable, settings.dtype) : null;
  const outputs = pre.target.kind === 'classes' ? pre.target.classes.length : 1;

  say(
    `data: ${data.builtin ? `built-in '${data.name}'` : table.source}, ${int(table.numRows)} ${table.image ? `images ${table.image.shape.join('×')} (C×H×W)` : 'rows'}; ` +
      `${task} (${s.task ? 'set by --task' : inferred.reason}); ${scalingText(scale, table, Boolean(settings.mean || settings.std))}; ` +
      `${int(trainTable.numRows)} for training${valTable ? `, ${int(valTable.numRows)} for validation` : ''}`,
  );

  // Built and checked against the data before anything trains or is written.
  const network = resumed ? null : await networkSpec(settings, pre, outputs, io.cwd);
  const model = network ? fromSpec(network.spec, { dtype: settings.dtype, rng }) : resumed!.model;
  const optimizer = optim.makeOptimizer(settings.optimizer, model.parameters(), settings.lr);
  let initialEpoch = 0;
  const history: EpochLog[] = [];
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
  }
  const remaining = settings.epochs - initialEpoch;
  if (remaining <= 0)
    throw new UserError(
      `train: the checkpoint has already trained ${initialEpoch} epochs; pass --epochs larger than that to continue`,
    );
  say(
    `model: ${networkDescription(settings, pre, outputs)}, ${int(model.numParameters())} parameters, ` +
      `${loss === 'crossEntropy' ? 'cross-entropy' : loss} loss, ${settings.optimizer} lr ${settings.lr}, ` +
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
  const saveCheckpoint = async (epoch: number) => {
    const doc = serializeCheckpoint(model, { optimizer, rng, epoch, history, ...meta(epoch) });
    await writeFileAtomic(ckptPath, stringifyModelFile(doc), { what: 'checkpoint' });
  };

  const progress = new Progress(io, mode, settings.epochs);
  const started = performance.now();
  const abort = new AbortController();
  const onAbort = () => abort.abort();
  io.signal?.addEventListener('abort', onAbort);
  let pendingCheckpoint: Promise<void> = Promise.resolve();
  let result;
  try {
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
        ...(settings.patience && valData
          ? { earlyStopping: { patience: settings.patience, restoreBest: true } }
          : {}),
        ...(settings.untilLoss ? { until: { loss: settings.untilLoss } } : {}),
        signal: abort.signal,
        onBatchEnd: (b) => progress.batch(b),
        onEpochEnd: (log) => {
          history.push(log);
          progress.epoch(log);
          const every = flags['checkpoint-every'] as number | undefined;
          if (every && log.epoch % every === 0)
            pendingCheckpoint = pendingCheckpoint.then(() => saveCheckpoint(log.epoch));
        },
      },
    );
  } catch (e) {
    progress.clear();
    if (e instanceof TrainingDivergedError) throw new TrainingFailure(`train: ${e.message}`);
    throw e;
  } finally {
    io.signal?.removeEventListener('abort', onAbort);
  }
  await pendingCheckpoint;
  const epochsDone = history.at(-1)?.epoch ?? initialEpoch;
  const seconds = (performance.now() - started) / 1000;

  if (result.stopReason === 'aborted') {
    progress.clear();
    await saveCheckpoint(epochsDone);
    say(`interrupted after epoch ${epochsDone}; saved ${ckptPath}`);
    say(`continue with: chainrule train --resume ${checkpointPath(out)}`);
    return 130;
  }

  const why = {
    completed: `trained ${epochsDone} epochs`,
    until: `stopped at epoch ${epochsDone}: training loss below ${settings.untilLoss}`,
    earlyStopping: `stopped at epoch ${epochsDone}: no validation improvement for ${settings.patience} epochs; kept epoch ${result.bestEpoch}`,
    aborted: '',
  }[result.stopReason];
  say(`${why} in ${duration(seconds)}`);

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
  await writeFileAtomic(outPath, stringifyModelFile(file), { what: 'model file' });
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
