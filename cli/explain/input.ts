// What explain and graph run on: the seed notebook's network and sample by default, or a trained model
// file and one row of data (--model, --data, --row). Flags become typed values here; problems a user can
// cause become UserErrors that name the flag.
import {
  checkSeriesScaling,
  checkVocabulary,
  encodeText,
  seriesWindows,
  TextDataError,
  SEED_SETUP,
  seedData,
  seedNetwork,
  selectRows,
  TraceError,
  TRACE_LOSSES,
  losses,
  transformFeatures,
  transformTarget,
  tensor,
  windowsAt,
  type nn,
  type Preprocessing,
  type Tensor,
  type TraceLoss,
} from '../../src/index.js';
import type { Flags, FlagSpec } from '../args.js';
import { loadData } from '../data.js';
import { UserError } from '../errors.js';
import { readModel, readModelFile, sequenceKind } from '../model.js';
import { loadText, readSeries } from '../sequence-data.js';

/** The --loss choices, spelt as the command line spells losses (the library's one table), to the library's names. */
export const LOSS_FLAGS: Record<string, TraceLoss> = Object.fromEntries(
  TRACE_LOSSES.map((l) => [losses.LOSS_SPELLINGS[l], l]),
);

/** A loss's flag spelling, for messages and titles. */
export function lossFlag(loss: TraceLoss): string {
  return Object.entries(LOSS_FLAGS).find(([, v]) => v === loss)?.[0] ?? loss;
}

/** A model with one row (or the seed's sample) and the loss to explain it with. */
export interface StepInput {
  model: nn.Sequential;
  x: Tensor;
  /** Target values, or class indices for cross-entropy. */
  y: Tensor | Int32Array;
  loss: TraceLoss;
  /** True for the seed notebook's network and sample. */
  seed: boolean;
  /** One sentence on where the model and row come from. */
  source: string;
  /** What each systematic input name stands for (`x_0` → `sepal_length, standardized`). */
  legend: Map<string, string>;
  /** The model's own dtype (the trace runs in float64 whatever it is). */
  modelDType: string;
  /** For a language model: the characters of the window and of its targets, for the reader. */
  text?: { input: string; next: string };
}

/** A TraceError (a model or loss a trace cannot explain) as the command line's bad-input error. */
export function asUserError<T>(command: string, run: () => T): T {
  try {
    return run();
  } catch (e) {
    if (e instanceof TraceError) throw new UserError(`${command}: ${e.message.replace(/^\w+: /, '')}`);
    throw e;
  }
}

const tensorOf = (data: ArrayLike<number>, shape: number[]): Tensor =>
  tensor(Float64Array.from(data), { dtype: 'float64', shape });

function legendOf(pre: Preprocessing): Map<string, string> {
  const legend = new Map<string, string>();
  let i = 0;
  for (const f of pre.features) {
    if (f.kind === 'numeric') legend.set(`x_${i++}`, `${f.name}, scaled`);
    else for (const c of f.categories) legend.set(`x_${i++}`, `${f.name} = ${c} (one-hot)`);
  }
  return legend;
}

/** Resolve --model/--data/--row/--loss to a model, a row and a loss (the seed's without --model). */
export async function loadStepInput(flags: Flags, cwd: string, command: string): Promise<StepInput> {
  const modelPath = flags.model as string | undefined;
  const dataName = flags.data as string | undefined;
  const flagLoss = flags.loss === undefined ? undefined : LOSS_FLAGS[flags.loss as string];
  if (modelPath === undefined && dataName === undefined) {
    if (flags.row !== undefined)
      throw new UserError(`${command}: --row picks a row of --data; it needs --model and --data`);
    const { x, y } = seedData();
    return {
      model: seedNetwork(),
      x,
      y,
      loss: flagLoss ?? 'mseHalfSum',
      seed: true,
      source:
        `The seed notebook's network and sample: weights \`np.random.seed(${SEED_SETUP.seed}); rand(2, 2); ` +
        'rand(2, 1)`, zero biases, `X = [[0.5, 0.6]]`, `y = [[0.8]]`.',
      legend: new Map(),
      modelDType: 'float64',
    };
  }
  if (modelPath === undefined)
    throw new UserError(`${command}: --data needs --model (the model file to explain on that data)`, {
      hint: `see 'chainrule ${command} --help'`,
    });
  if (dataName === undefined)
    throw new UserError(
      `${command}: --model needs --data (a CSV with the target column, or a built-in dataset)`,
      {
        hint: `see 'chainrule ${command} --help'`,
      },
    );
  const doc = await readModelFile(modelPath, cwd);
  const kind = sequenceKind(doc.file);
  if (kind !== null)
    return sequenceInput(flags, cwd, command, modelPath, doc.model, doc.file, kind, flagLoss);
  const { model, file, pre } = await readModel(modelPath, cwd, command);
  const data = await loadData(dataName, cwd);
  const table = data.train;
  const row = (flags.row as number | undefined) ?? 1;
  if (row > table.numRows)
    throw new UserError(`${command}: --row ${row}: ${table.source} has ${table.numRows} rows`);
  if (!table.columns.some((c) => c.name === pre.target.name))
    throw new UserError(
      `${command}: ${table.source} has no target column '${pre.target.name}'; a training step needs the target`,
    );
  const one = selectRows(table, [row - 1]);
  const x = transformFeatures(pre, one, 'float64');
  const t = transformTarget(pre, one, 'float64');
  const trained = (file.training as { settings?: { loss?: string } } | null)?.settings?.loss;
  let loss: TraceLoss;
  if (flagLoss) loss = flagLoss;
  else if (trained === 'crossEntropy' || trained === 'mse') loss = trained;
  else if (trained !== undefined)
    throw new UserError(
      `${command}: ${modelPath} was trained with the loss '${trained}', which explain does not cover; ` +
        `pass --loss (${Object.keys(LOSS_FLAGS).join(', ')})`,
    );
  else loss = t.kind === 'classes' ? 'crossEntropy' : 'mse';
  if (t.kind === 'classes' && loss !== 'crossEntropy')
    throw new UserError(
      `${command}: ${modelPath} is a classifier (its outputs are logits); explain it with --loss cross-entropy`,
    );
  if (t.kind === 'numeric' && loss === 'crossEntropy')
    throw new UserError(`${command}: ${modelPath} predicts numbers; cross-entropy needs a classifier`);
  const target = pre.target;
  const raw = one.columns.find((c) => c.name === target.name)?.values[0];
  const what =
    target.kind === 'classes' && t.kind === 'classes'
      ? `target ${target.name} = ${target.classes[t.labels[0]]}, class ${t.labels[0]}`
      : `target ${target.name} = ${String(raw)}${t.kind === 'numeric' ? `, standardized ${t.y.data[0]}` : ''}`;
  return {
    model,
    x,
    y: t.kind === 'classes' ? t.labels : t.y,
    loss,
    seed: false,
    source: `Model ${modelPath}, row ${row} of ${data.builtin ? `the built-in '${data.name}'` : table.source} (${what}).`,
    legend: legendOf(pre),
    modelDType: file.dtype,
  };
}

/**
 * One window of a sequence model's data: `--row N` is the window starting at character N (a language
 * model: ids [1, context] → the next id at every position) or the N-th window of the series (a forecaster:
 * [1, window, 1] → the next value, scaled as in training).
 */
async function sequenceInput(
  flags: Flags,
  cwd: string,
  command: string,
  modelPath: string,
  model: nn.Sequential,
  file: { dtype: string; preprocessing: unknown },
  kind: 'text' | 'series',
  flagLoss: TraceLoss | undefined,
): Promise<StepInput> {
  const dataName = flags.data as string;
  const row = (flags.row as number | undefined) ?? 1;
  if (kind === 'text') {
    if (flagLoss !== undefined && flagLoss !== 'crossEntropy')
      throw new UserError(
        `${command}: ${modelPath} is a language model; its loss is cross-entropy, not --loss ${flags.loss as string}`,
      );
    const pre = file.preprocessing as { vocab: unknown; context: number };
    const vocab = checkVocabulary(pre.vocab, `${modelPath}: preprocessing.vocab`);
    const context = pre.context;
    const text = await loadText(dataName, cwd);
    let ids: Int32Array;
    try {
      ids = encodeText(vocab, text.text, text.source);
    } catch (e) {
      if (e instanceof TextDataError) throw new UserError(e.message);
      throw e;
    }
    const windows = ids.length - context;
    if (windows < 1)
      throw new UserError(
        `${command}: ${text.source} has ${ids.length} characters; a window needs ${context + 1}`,
      );
    if (row > windows)
      throw new UserError(
        `${command}: --row ${row}: ${text.source} has ${windows} windows of ${context + 1} characters`,
      );
    const w = windowsAt(ids, [row - 1], context, 'float64');
    const x = w.x.data;
    const y = Int32Array.from(w.y.data);
    const chars = (a: ArrayLike<number>) => Array.from(a, (i) => vocab.chars[i]).join('');
    return {
      model,
      x: w.x,
      y,
      loss: 'crossEntropy',
      seed: false,
      source: `Language model ${modelPath}, the ${context}-character window at character ${row} of ${text.builtin ? `the built-in '${text.name}'` : text.source}: ${JSON.stringify(chars(x))} → next characters ${JSON.stringify(chars(y))}.`,
      legend: new Map(),
      modelDType: file.dtype,
      text: { input: chars(x), next: chars(y) },
    };
  }
  if (flagLoss === 'crossEntropy')
    throw new UserError(`${command}: ${modelPath} forecasts numbers; cross-entropy needs a classifier`);
  const scaling = checkSeriesScaling(file.preprocessing, `${modelPath}: preprocessing`);
  const series = await readSeries(dataName, cwd, scaling.column);
  if (series.values.length <= scaling.window)
    throw new UserError(
      `${command}: ${series.source}: ${series.values.length} values in '${scaling.column}', but the model reads windows of ${scaling.window}`,
    );
  const { x, y } = seriesWindows(series.values, scaling, 'float64');
  const count = y.size;
  if (row > count)
    throw new UserError(
      `${command}: --row ${row}: ${series.source} has ${count} windows of ${scaling.window}`,
    );
  const w = scaling.window;
  return {
    model,
    x: tensorOf(x.data.slice((row - 1) * w, row * w), [1, w, 1]),
    y: tensorOf(y.data.slice(row - 1, row), [1, 1]),
    loss: flagLoss ?? 'mse',
    seed: false,
    source: `Forecaster ${modelPath}, window ${row} of column '${scaling.column}' of ${series.source} (${w} values → the next, standardized).`,
    legend: new Map(),
    modelDType: file.dtype,
  };
}

/** The flags that choose a step's model, row and loss; explain and graph both take them. */
export function stepInputFlags(lossDescription: string): FlagSpec[] {
  return [
    {
      name: 'model',
      type: 'string',
      placeholder: 'model.json',
      description: 'Model file from chainrule train',
    },
    {
      name: 'data',
      type: 'string',
      placeholder: 'file|name',
      description: 'Labelled CSV or built-in dataset to take the row from',
    },
    {
      name: 'row',
      type: 'integer',
      placeholder: 'N',
      min: 1,
      description: 'Row of --data (1 = first data row)',
      defaultText: '1',
    },
    {
      name: 'loss',
      type: 'string',
      placeholder: 'name',
      choices: Object.keys(LOSS_FLAGS),
      description: lossDescription,
    },
  ];
}
