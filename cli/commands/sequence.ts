// chainrule train --task language-model | forecast: sequence models on a text file (or built-in corpus) and
// on a CSV column. The table tasks stay in train.ts; this file is what train.ts hands a sequence task to.
import { resolve } from 'node:path';
import {
  charCorpus,
  checkSeriesScaling,
  decodePartialEpoch,
  fit,
  fromSpec,
  gptLanguageModelSpec,
  kernels,
  losses,
  optim,
  random,
  randomStarts,
  recurrentForecasterSpec,
  recurrentLanguageModelSpec,
  reshape,
  serializeCheckpoint,
  serializeModel,
  stringifyModelFile,
  tiledStarts,
  TextDataError,
  TrainingDivergedError,
  windowsAt,
  fitSeriesScaling,
  seriesWindows,
  lastWindow,
  noGrad,
  summarize,
  summaryTable,
  unscale,
  type EpochLog,
  type ModelSpec,
  type PartialEpoch,
  type nn,
  type parseCheckpoint,
  type SeriesScaling,
  type Tensor,
  type Vocabulary,
} from '../../src/index.js';
import type { Flags, FlagSpec } from '../args.js';
import { TrainingFailure, UserError } from '../errors.js';
import { duration, int, num } from '../format.js';
import { writeFileAtomic } from '../fsutil.js';
import type { IO } from '../io.js';
import { Progress, type ProgressMode } from '../progress.js';
import { writeCsv } from '../csv.js';
import type { ModelDocument } from '../model.js';
import { loadText, readSeries } from '../sequence-data.js';
import { checkpointPath } from './train.js';

/** The tasks train.ts hands over to this file. */
export const SEQUENCE_TASKS = ['language-model', 'forecast'] as const;
/** A sequence task. */
export type SequenceTask = (typeof SEQUENCE_TASKS)[number];

/** Whether a --task (or a checkpoint's task) is a sequence task. */
export function isSequenceTask(task: unknown): task is SequenceTask {
  return (SEQUENCE_TASKS as readonly unknown[]).includes(task);
}

/** The sequence models --model names: a recurrent layer, or a GPT (language models only). */
export const SEQUENCE_MODELS = ['lstm', 'gru', 'rnn', 'gpt'] as const;
type SequenceModel = (typeof SEQUENCE_MODELS)[number];

/** The sizes of a GPT's defaults: small enough to learn names in minutes on two cores. */
const GPT_DEFAULTS = { width: 64, heads: 4, blocks: 2, dropout: 0, context: 32, lr: 0.002 };
/** The GPT's gradient clipping (global norm), as nanoGPT. */
const GPT_CLIP = 1;

/** The GPT's flags, for train's flag table. */
export const GPT_FLAGS: FlagSpec[] = [
  {
    name: 'width',
    type: 'integer',
    min: 1,
    description: 'GPT: width of the residual stream (embeddings, attention)',
    defaultText: String(GPT_DEFAULTS.width),
  },
  {
    name: 'heads',
    type: 'integer',
    min: 1,
    description: 'GPT: attention heads per block (must divide --width)',
    defaultText: String(GPT_DEFAULTS.heads),
  },
  {
    name: 'blocks',
    type: 'integer',
    min: 1,
    description: 'GPT: transformer blocks',
    defaultText: String(GPT_DEFAULTS.blocks),
  },
  {
    name: 'dropout',
    type: 'number',
    min: 0,
    max: 0.9,
    description: 'GPT: dropout while training (embeddings, attention weights, each branch)',
    defaultText: String(GPT_DEFAULTS.dropout),
  },
];
const GPT_ONLY = GPT_FLAGS.map((f) => f.name);
const RECURRENT_ONLY = ['embed', 'hidden', 'depth'];

/** What a text model file keeps to turn a prompt into ids and ids into text. */
export interface TextPreprocessing {
  kind: 'text';
  vocab: Vocabulary;
  /** The window the model was trained on: generation reads at most this many characters back. */
  context: number;
}

/** Everything a sequence run's checkpoint carries to be resumed with the same meaning. */
interface SequenceSettings {
  task: SequenceTask;
  data: string;
  target?: string;
  model: SequenceModel;
  embed: number;
  hidden: number;
  depth: number;
  /** The GPT's sizes (absent in checkpoints of recurrent runs written before the GPT). */
  width?: number;
  heads?: number;
  blocks?: number;
  dropout?: number;
  context: number;
  window: number;
  steps: number;
  optimizer: optim.OptimizerName;
  lr: number;
  epochs: number;
  batchSize: number;
  val: number;
  seed: number;
  dtype: 'float32' | 'float64';
}

function settingsFrom(flags: Flags, task: SequenceTask, p: SequenceSettings | null): SequenceSettings {
  const data = (flags.data as string | undefined) ?? p?.data;
  if (!data)
    throw new UserError(
      `train: --data is required (${task === 'forecast' ? 'a CSV file' : 'a text file or a built-in corpus: sotu, names'})`,
    );
  const model = (flags.model as string | undefined) ?? p?.model ?? 'lstm';
  if (!(SEQUENCE_MODELS as readonly string[]).includes(model))
    throw new UserError(`train: --model ${model}: expected one of ${SEQUENCE_MODELS.join(', ')}`);
  const gpt = model === 'gpt';
  if (gpt && task === 'forecast')
    throw new UserError('train: --model gpt is a language model; a forecast takes --model lstm, gru or rnn');
  for (const f of gpt ? RECURRENT_ONLY : GPT_ONLY)
    if (flags[f] !== undefined)
      throw new UserError(
        gpt
          ? `train: --${f} sizes a recurrent model; a GPT has --width, --heads, --blocks (and --context)`
          : `train: --${f} is for --model gpt, not --model ${model}`,
      );
  const optimizer =
    (flags.optimizer as optim.OptimizerName | undefined) ?? p?.optimizer ?? (gpt ? 'adamw' : 'adam');
  const target = (flags.target as string | undefined) ?? p?.target;
  const sizes = gpt
    ? {
        width: (flags.width as number | undefined) ?? p?.width ?? GPT_DEFAULTS.width,
        heads: (flags.heads as number | undefined) ?? p?.heads ?? GPT_DEFAULTS.heads,
        blocks: (flags.blocks as number | undefined) ?? p?.blocks ?? GPT_DEFAULTS.blocks,
        dropout: (flags.dropout as number | undefined) ?? p?.dropout ?? GPT_DEFAULTS.dropout,
      }
    : {};
  if (sizes.width !== undefined && sizes.width % (sizes.heads as number) !== 0)
    throw new UserError(
      `train: --heads ${sizes.heads} does not divide --width ${sizes.width}: each head takes width/heads channels`,
    );
  return {
    task,
    data,
    ...(target !== undefined ? { target } : {}),
    model: model as SequenceModel,
    embed: (flags.embed as number | undefined) ?? p?.embed ?? 32,
    hidden: (flags.hidden as number | undefined) ?? p?.hidden ?? (task === 'forecast' ? 64 : 128),
    depth: (flags.depth as number | undefined) ?? p?.depth ?? 1,
    ...sizes,
    context: (flags.context as number | undefined) ?? p?.context ?? (gpt ? GPT_DEFAULTS.context : 64),
    window: (flags.window as number | undefined) ?? p?.window ?? 32,
    steps: (flags.steps as number | undefined) ?? p?.steps ?? 200,
    optimizer,
    lr:
      (flags.lr as number | undefined) ??
      p?.lr ??
      (gpt && optimizer === 'adamw'
        ? GPT_DEFAULTS.lr
        : optimizer === 'adam'
          ? 0.002
          : optim.OPTIMIZERS[optimizer].defaultLr),
    epochs: (flags.epochs as number | undefined) ?? p?.epochs ?? (task === 'forecast' ? 50 : 10),
    batchSize: (flags['batch-size'] as number | undefined) ?? p?.batchSize ?? 32,
    val: (flags.val as number | undefined) ?? p?.val ?? (task === 'forecast' ? 0.2 : 0.1),
    seed: (flags.seed as number | undefined) ?? p?.seed ?? 0,
    dtype: (flags.dtype as SequenceSettings['dtype'] | undefined) ?? p?.dtype ?? 'float32',
  };
}

/** Flags of the table tasks that mean nothing here: named rather than ignored. */
const TABLE_ONLY = [
  'arch',
  'layers',
  'activation',
  'loss',
  'scale',
  'resize',
  'grayscale',
  'mean',
  'std',
  'size',
  'noise',
];

/** Cross-entropy of [N, T, V] logits against [N, T] next ids: one row per position. */
function nextTokenLoss(vocab: number): (pred: Tensor, target: Tensor) => Tensor {
  return (pred: Tensor, target: Tensor) =>
    losses.crossEntropy(reshape(pred, [-1, vocab]), reshape(target, [-1]));
}

/**
 * Train a sequence model (`--task language-model` or `forecast`); returns the exit code. A checkpoint
 * (`--checkpoint-every`, Ctrl-C) carries the settings, weights, optimizer and random stream, so `--resume`
 * continues exactly: the windows of each epoch are drawn from the saved stream.
 */
export async function trainSequence(
  flags: Flags,
  io: IO,
  task: SequenceTask,
  resumed: ReturnType<typeof parseCheckpoint> | null,
  resumePath: string | undefined,
): Promise<number> {
  const mode: ProgressMode = flags.json ? 'json' : flags.quiet ? 'quiet' : io.isTTY ? 'tty' : 'plain';
  const say = (line: string) => {
    if (mode !== 'quiet') io.err(line + '\n');
  };
  for (const f of TABLE_ONLY)
    if (flags[f] !== undefined)
      throw new UserError(`train: --${f} applies to table data, not to --task ${task}`);
  const previous = (resumed?.file.training as { settings?: SequenceSettings } | null)?.settings ?? null;
  const s = settingsFrom(flags, task, previous);
  if (task === 'language-model' && flags.window !== undefined)
    throw new UserError('train: --window is for --task forecast; a language model has --context');
  if (task === 'forecast' && (flags.context !== undefined || flags.embed !== undefined))
    throw new UserError(
      `train: --${flags.context !== undefined ? 'context' : 'embed'} is for --task language-model; a forecast has --window`,
    );
  const out =
    (flags.out as string | undefined) ??
    (resumePath ? resumePath.replace(/\.ckpt\.json$/, '.json') : 'model.json');
  const outPath = resolve(io.cwd, out);
  const ckptPath = checkpointPath(outPath);

  const seeded = new random.RandomState(s.seed);
  const rng = resumed ? resumed.rng : seeded;

  // The data, as a way to draw each epoch's training windows (or take them back from a checkpoint of an
  // interrupted epoch) plus a fixed validation set.
  let epochData: (saved?: Int32Array) => { x: Tensor; y: Tensor; starts?: Int32Array };
  let valData: { x: Tensor; y: Tensor } | null;
  let spec: ModelSpec;
  let loss: ((pred: Tensor, target: Tensor) => Tensor) | 'mse';
  let preprocessing: TextPreprocessing | SeriesScaling;
  let perSample: number;
  if (task === 'language-model') {
    const text = await loadText(s.data, io.cwd);
    let corpus;
    try {
      corpus = charCorpus(text.text, s.context, s.val, text.source);
    } catch (e) {
      if (e instanceof TextDataError) throw new UserError(e.message);
      throw e;
    }
    if (resumed) {
      const saved = (resumed.file.preprocessing as TextPreprocessing | null)?.vocab?.chars ?? [];
      if (saved.join('') !== corpus.vocab.chars.join(''))
        throw new UserError(`${resumePath}: the checkpoint's vocabulary is not that of ${text.source}`);
    }
    const V = corpus.vocab.chars.length;
    const n = corpus.ids.length;
    say(
      `data: ${text.builtin ? `built-in '${text.name}' (${text.description})` : text.source}, ${int(n)} characters, ` +
        `vocabulary ${V}; ${int(corpus.trainEnd)} for training${n > corpus.trainEnd ? `, the last ${int(n - corpus.trainEnd)} for validation` : ''}; ` +
        `windows of ${s.context} characters`,
    );
    epochData = (saved) => {
      const starts = saved ?? randomStarts(0, corpus.trainEnd, s.context, s.steps * s.batchSize, rng);
      return { ...windowsAt(corpus.ids, starts, s.context, s.dtype), starts };
    };
    const valStarts = tiledStarts(corpus.trainEnd, n, s.context, 256);
    valData = valStarts.length > 0 ? windowsAt(corpus.ids, valStarts, s.context, s.dtype) : null;
    spec =
      s.model === 'gpt'
        ? gptLanguageModelSpec(V, {
            context: s.context,
            width: s.width as number,
            heads: s.heads as number,
            blocks: s.blocks as number,
            dropout: s.dropout as number,
          })
        : recurrentLanguageModelSpec(V, {
            embed: s.embed,
            hidden: s.hidden,
            layers: s.depth,
            cell: s.model,
          });
    loss = nextTokenLoss(V);
    preprocessing = { kind: 'text', vocab: corpus.vocab, context: s.context };
    perSample = s.context;
  } else {
    const series = await readSeries(s.data, io.cwd, s.target);
    s.target = series.column;
    const n = series.values.length;
    const windows = n - s.window;
    if (windows < 2)
      throw new UserError(
        `${series.source}: ${n} values in '${series.column}' are too few for --window ${s.window}: ` +
          `training needs at least ${s.window + 2} (a window and the value after it, twice)`,
      );
    const nVal = s.val > 0 ? Math.max(1, Math.round(windows * s.val)) : 0;
    const nTrain = windows - nVal;
    if (nTrain < 1) throw new UserError(`train: --val ${s.val} leaves no training windows out of ${windows}`);
    // Scaled by the values the training windows see, so validation tells how it does on later data.
    const scaling = resumed
      ? checkSeriesScaling(resumed.file.preprocessing, `${resumePath}: preprocessing`)
      : fitSeriesScaling(series.values.subarray(0, nTrain + s.window), series.column, s.window);
    const train = seriesWindows(series.values.subarray(0, nTrain + s.window), scaling, s.dtype);
    valData = nVal > 0 ? seriesWindows(series.values.subarray(nTrain), scaling, s.dtype) : null;
    say(
      `data: ${series.source}, column '${series.column}', ${int(n)} values standardized (mean ${num(scaling.mean)}, ` +
        `std ${num(scaling.std)}); windows of ${s.window} → the next value: ${int(nTrain)} for training` +
        (nVal > 0 ? `, the last ${int(nVal)} for validation` : ''),
    );
    epochData = () => train;
    spec = recurrentForecasterSpec({ hidden: s.hidden, layers: s.depth, cell: s.model as 'lstm' });
    loss = 'mse';
    preprocessing = scaling;
    perSample = 1;
  }

  const model: nn.Sequential = resumed ? resumed.model : fromSpec(spec, { dtype: s.dtype, rng });
  const optimizer = optim.makeOptimizer(s.optimizer, model.parameters(), s.lr);
  const gpt = s.model === 'gpt';
  // A GPT's rate warms up linearly, then follows a cosine down to a tenth over every step of the run
  // (nanoGPT's schedule), stepped after each batch.
  const totalSteps = s.epochs * s.steps;
  const warmup = Math.min(100, Math.floor(totalSteps / 10));
  const scheduler = gpt
    ? new optim.CosineAnnealingLR(optimizer, {
        tMax: Math.max(1, totalSteps - warmup),
        etaMin: s.lr / 10,
        warmup,
      })
    : null;
  let initialEpoch = 0;
  const history: EpochLog[] = [];
  let resumeEpoch: PartialEpoch | undefined;
  let resumeStarts: Int32Array | undefined;
  if (resumed) {
    try {
      optimizer.loadStateDict(resumed.checkpoint.optimizer as optim.OptimizerState);
      const saved = resumed.checkpoint.scheduler;
      if (scheduler && saved) scheduler.loadStateDict(saved);
    } catch (e) {
      throw new UserError(`${resumePath}: ${(e as Error).message}`);
    }
    if (flags.lr !== undefined) optimizer.lr = s.lr;
    initialEpoch = resumed.checkpoint.epoch;
    history.push(...((resumed.checkpoint.history as EpochLog[] | null) ?? []));
    // An epoch interrupted part way continues with its own windows, at its next batch, in its order.
    const partial = resumed.checkpoint.partialEpoch;
    const starts = (resumed.file.training as { windows?: unknown } | null)?.windows;
    if (partial) {
      if (!Array.isArray(starts) || starts.length !== s.steps * s.batchSize)
        throw new UserError(
          `${resumePath}: training.windows: expected the ${s.steps * s.batchSize} window starts of the interrupted epoch`,
        );
      resumeStarts = Int32Array.from(starts as number[]);
      resumeEpoch = decodePartialEpoch(partial);
    }
  }
  if (s.epochs - initialEpoch <= 0)
    throw new UserError(
      `train: the checkpoint has already trained ${initialEpoch} epochs; pass --epochs larger than that to continue`,
    );
  const sizes = gpt
    ? `GPT: width ${s.width}, ${s.heads} heads, ${s.blocks} block${s.blocks === 1 ? '' : 's'}, context ${s.context}${s.dropout ? `, dropout ${s.dropout}` : ''}, vocabulary ${(preprocessing as TextPreprocessing).vocab.chars.length}`
    : task === 'language-model'
      ? `embedding ${s.embed}, ${s.model.toUpperCase()} ${s.hidden}${s.depth > 1 ? ` × ${s.depth} layers` : ''}, linear → ${(preprocessing as TextPreprocessing).vocab.chars.length}`
      : `${s.model.toUpperCase()} ${s.hidden}${s.depth > 1 ? ` × ${s.depth} layers` : ''}, last step, linear → 1`;
  say(
    `model: ${sizes}; ${int(model.numParameters())} parameters, ${task === 'language-model' ? 'cross-entropy per character' : 'mse'}, ` +
      `${s.optimizer} lr ${s.lr}${scheduler ? ` (warm-up ${warmup} steps, cosine to ${num(s.lr / 10)}; gradient norm clipped to ${GPT_CLIP})` : ''}, ${s.epochs} epochs${task === 'language-model' ? ` of ${s.steps} steps` : ''}` +
      `${resumed ? ` (resuming after epoch ${initialEpoch})` : ''}, batch ${s.batchSize}, seed ${s.seed}; ${kernels().name} kernels`,
  );

  const meta = (epochsDone: number, extra: Record<string, unknown> = {}) => ({
    task: task === 'language-model' ? ('classification' as const) : ('regression' as const),
    preprocessing,
    training: {
      settings: s,
      data: s.data,
      epochs: epochsDone,
      kernels: kernels().name,
      date: new Date().toISOString(),
      final: history.at(-1) ?? null,
      ...extra,
    },
  });
  if (flags['dry-run']) {
    io.out(summaryTable(summarize(model, [perSample])) + '\n');
    return 0;
  }

  const saveCheckpoint = async (epoch: number, partial?: { epoch: PartialEpoch; starts: Int32Array }) => {
    const doc = serializeCheckpoint(model, {
      optimizer,
      ...(scheduler ? { scheduler } : {}),
      rng,
      epoch,
      history,
      ...(partial ? { partialEpoch: partial.epoch } : {}),
      ...meta(epoch, partial ? { windows: Array.from(partial.starts) } : {}),
    });
    await writeFileAtomic(ckptPath, stringifyModelFile(doc), { what: 'checkpoint' });
  };

  const progress = new Progress(io, mode, s.epochs, {
    name: perSample > 1 ? 'tokens' : 'samples',
    perSample,
  });
  const started = performance.now();
  const abort = new AbortController();
  const onAbort = () => abort.abort();
  io.signal?.addEventListener('abort', onAbort);
  let aborted = false;
  let interrupted: { epoch: PartialEpoch; starts: Int32Array } | undefined;
  try {
    // One fit call per epoch, so a language model sees freshly drawn windows every epoch.
    for (let epoch = initialEpoch; epoch < s.epochs && !aborted; epoch++) {
      const data = epochData(epoch === initialEpoch ? resumeStarts : undefined);
      progress.epochSamples = data.x.shape[0];
      const result = await fit(
        model,
        { x: data.x, y: data.y },
        {
          loss,
          optimizer,
          epochs: 1,
          initialEpoch: epoch,
          batchSize: s.batchSize,
          rng,
          metrics: task === 'forecast' ? ['mae'] : [],
          ...(valData ? { validationData: valData } : {}),
          ...(gpt ? { clipGradNorm: GPT_CLIP } : {}),
          // Its loss is a function of ours (next-token cross-entropy) that keeps nothing between steps.
          tidy: true,
          ...(epoch === initialEpoch && resumeEpoch ? { resumeEpoch } : {}),
          // The exploding-loss rule measures from the first epoch, in every epoch's fit and across a resume.
          ...(history[0]?.epoch === 1 ? { divergence: { referenceLoss: history[0].loss } } : {}),
          signal: abort.signal,
          onBatchEnd: (b) => {
            scheduler?.step();
            progress.batch(b);
          },
          onEpochEnd: (log) => {
            history.push(log);
            progress.epoch(log);
          },
        },
      );
      aborted = result.stopReason === 'aborted';
      if (aborted && result.partial && data.starts)
        interrupted = { epoch: result.partial, starts: data.starts };
      const every = flags['checkpoint-every'] as number | undefined;
      if (!aborted && every && (epoch + 1) % every === 0) await saveCheckpoint(epoch + 1);
    }
  } catch (e) {
    progress.clear();
    if (e instanceof TrainingDivergedError) throw new TrainingFailure(`train: ${e.message}`);
    throw e;
  } finally {
    io.signal?.removeEventListener('abort', onAbort);
  }
  const epochsDone = history.at(-1)?.epoch ?? initialEpoch;
  const seconds = (performance.now() - started) / 1000;
  if (aborted) {
    progress.clear();
    // The moment it stopped: part way through an epoch (its windows kept to continue it), else the boundary.
    const p = interrupted?.epoch;
    await saveCheckpoint(p ? p.epoch - 1 : epochsDone, interrupted);
    say(
      p
        ? `interrupted in epoch ${p.epoch} after batch ${p.batch} of ${s.steps}; saved that moment to ${ckptPath}`
        : `interrupted after epoch ${epochsDone}; saved ${ckptPath}`,
    );
    say(`continue with: chainrule train --resume ${checkpointPath(out)}`);
    return 130;
  }
  const last = history.at(-1);
  say(
    `trained ${epochsDone} epochs in ${duration(seconds)}` +
      (last?.valLoss !== undefined
        ? `; validation loss ${num(last.valLoss)}${task === 'language-model' ? ' nats/character' : ' (standardized units)'}`
        : ''),
  );
  const file = serializeModel(model, meta(epochsDone, { seconds, history }));
  await writeFileAtomic(outPath, stringifyModelFile(file), { what: 'model file' });
  say(`saved ${out}`);
  if (task === 'language-model') say(`generate with: chainrule generate --model ${out} --prompt "…"`);
  return 0;
}

/**
 * `chainrule predict` with a forecast model: the CSV column it was trained on, each value from the window
 * before it (one step ahead), then `--steps` values past the end, each fed back as the next input. CSV out.
 */
export async function forecastCommand(flags: Flags, io: IO, doc: ModelDocument): Promise<number> {
  const scaling = (() => {
    try {
      return checkSeriesScaling(doc.file.preprocessing, `${doc.path}: preprocessing`);
    } catch (e) {
      throw new UserError((e as Error).message);
    }
  })();
  const dataName = flags.data as string | undefined;
  if (!dataName) throw new UserError('predict: --data is required (the CSV with the series)');
  const series = await readSeries(dataName, io.cwd, scaling.column);
  const values = series.values;
  const w = scaling.window;
  if (values.length < w)
    throw new UserError(
      `${series.source}: ${values.length} values in '${scaling.column}', but the model reads windows of ${w}`,
    );
  const model = doc.model.eval();
  const dtype = model.parameters()[0]?.dtype ?? 'float32';
  const steps = (flags.steps as number | undefined) ?? 0;
  const rows: string[][] = [];
  const col = scaling.column;
  if (values.length > w) {
    const { x } = seriesWindows(values, scaling, dtype);
    const out = noGrad(() => model.forward(x));
    for (let k = 0; k < out.size; k++)
      rows.push([String(k + w + 1), String(values[k + w]), String(unscale(scaling, out.data[k]))]);
  }
  const history = Array.from(values);
  for (let i = 0; i < steps; i++) {
    const next = unscale(scaling, noGrad(() => model.forward(lastWindow(history, scaling, dtype))).data[0]);
    history.push(next);
    rows.push([String(history.length), '', String(next)]);
  }
  const csv = writeCsv(rows, ['row', col, `predicted_${col}`]);
  if (flags.out) {
    await writeFileAtomic(resolve(io.cwd, flags.out as string), csv);
    io.err(`wrote ${rows.length} predictions to ${flags.out as string}\n`);
  } else io.out(csv);
  return 0;
}
