// Reading a model file for eval, predict and info: every problem becomes a message naming the file.
import { resolve } from 'node:path';
import {
  checkPreprocessing,
  columnKinds,
  dropMissing,
  isNumeric,
  loadModel,
  parseModelFile,
  tableOutputs,
  type ModelFile,
  type nn,
  type Preprocessing,
  type Table,
  type Tensor,
} from '../src/index.js';
import type { Flags } from './args.js';
import { delimiterFlag, loadData, type LoadedData } from './data.js';
import { UserError } from './errors.js';
import { readTextFile } from './fsutil.js';
import { readOptionsOf } from './images.js';

/** A loaded model with its document and preprocessing. */
export interface LoadedModel {
  model: nn.Sequential;
  file: ModelFile;
  pre: Preprocessing;
  path: string;
}

/** A model file's document and network, with preprocessing when it has any (imported weights have none). */
export interface ModelDocument {
  model: nn.Sequential;
  file: ModelFile;
  pre: Preprocessing | null;
  path: string;
}

/** Load and validate a model file, with or without preprocessing. */
export async function readModelFile(path: string, cwd: string): Promise<ModelDocument> {
  const text = await readTextFile(resolve(cwd, path), 'model file', path);
  const file = parseModelFile(text, path);
  const { model } = loadModel(file, path);
  // A sequence model's preprocessing (a vocabulary, a series' scaling) is read by generate and predict.
  const pre =
    file.preprocessing && !sequenceKind(file)
      ? checkPreprocessing(file.preprocessing, `${path}: preprocessing`)
      : null;
  return { model, file, pre, path };
}

/** 'text' (a language model) or 'series' (a forecaster) when the model file is a sequence model's. */
export function sequenceKind(file: ModelFile): 'text' | 'series' | null {
  const kind = (file.preprocessing as { kind?: unknown } | null)?.kind;
  return kind === 'text' || kind === 'series' ? kind : null;
}

/** Load and validate `--model` for a command that needs its preprocessing (eval, explain). */
export async function readModel(
  path: string | undefined,
  cwd: string,
  command: string,
): Promise<LoadedModel> {
  const doc = await readModelDocument(path, cwd, command);
  if (!doc.pre)
    throw new UserError(
      `${doc.path}: has no preprocessing (imported weights?); ${command} needs a model from 'chainrule train'`,
      { hint: 'chainrule predict runs such a model on a CSV of its raw inputs' },
    );
  return { ...doc, pre: doc.pre };
}

/**
 * `--model` for a command that runs a model on rows (eval, predict, explain): required, and not a language
 * model (those only `generate` runs).
 */
export async function readModelDocument(
  path: string | undefined,
  cwd: string,
  command: string,
): Promise<ModelDocument> {
  if (!path)
    throw new UserError(`${command}: --model is required`, { hint: `see 'chainrule ${command} --help'` });
  const doc = await readModelFile(path, cwd);
  if (sequenceKind(doc.file) === 'text')
    throw new UserError(`${doc.path}: a language model; use 'chainrule generate --model ${doc.path}'`);
  return doc;
}

/**
 * The preprocessing of a model that has none (imported weights): the table's columns, but an `id` column,
 * fed to the network as they are, in the table's order. They must be numbers, as many as the network's
 * inputs.
 */
export function rawInputs(doc: ModelDocument, table: Table, command: string): Preprocessing {
  const first = doc.file.architecture.layers.find((l) => l.type === 'linear');
  const inputs = first?.type === 'linear' ? first.in : undefined;
  const columns = table.columns.filter((c) => c.name.toLowerCase() !== 'id');
  const text = columns.filter((c) => !isNumeric(c)).map((c) => c.name);
  const fix =
    `${doc.path} has no preprocessing (imported weights), so ${command} feeds the network the columns of ` +
    `${table.source} as they are (all but an 'id' column)`;
  if (inputs !== undefined && columns.length !== inputs)
    throw new UserError(
      `${fix}: the network takes ${inputs} inputs, the file has ${columns.length} columns (${columns.map((c) => c.name).join(', ')})`,
      { hint: `keep exactly the ${inputs} input columns, in the order the network expects` },
    );
  if (text.length > 0)
    throw new UserError(
      `${fix}: they must be numbers; ${text.length > 1 ? `columns ${text.join(', ')} hold` : `column ${text[0]} holds`} text`,
    );
  return {
    features: columns.map((c) => ({ name: c.name, kind: 'numeric', mean: 0, std: 1 })),
    target: { name: 'output', kind: 'numeric', mean: 0, std: 1 },
    inputSize: columns.length,
  };
}

/** A model and `--data`, ready to run: the model, the data (its test split when it has one), the rows. */
export interface ModelData extends LoadedModel {
  data: LoadedData;
  table: Table;
  /** True when the model has no preprocessing of its own and took the columns as they are (`rawInputs`). */
  raw: boolean;
  /** Rows left out for missing values (labelled data only, as the model's policy says). */
  dropped: number;
}

/** A model run on `--data`: {@link ModelData} and the raw outputs for every row. */
export interface ModelRun extends ModelData {
  outputs: Tensor;
}

/** How eval and predict load `--model` and `--data` (see {@link loadModelData}). */
export interface ModelDataOptions {
  /** Take a model without preprocessing (imported weights) on the data's columns as they are. */
  raw?: boolean;
  /** Leave out the rows the model's missing-value policy leaves out of training. */
  labelled?: boolean;
  /** The model file, already read. */
  doc?: ModelDocument;
}

/**
 * Load `--model` and `--data` and run the model on every row (eval and predict share this). With
 * `raw: true` a model without preprocessing (imported weights) takes the data's columns as they are. With
 * `labelled`, rows the model's missing-value policy leaves out of training are left out here too.
 */
export async function runModelOnData(
  flags: Flags,
  cwd: string,
  command: string,
  options: ModelDataOptions = {},
): Promise<ModelRun> {
  const loaded = await loadModelData(flags, cwd, command, options);
  return { ...loaded, outputs: tableOutputs(loaded.model, loaded.pre, loaded.table) };
}

/**
 * {@link runModelOnData} without the run: the model and the rows it would take, for a command that runs
 * them a block at a time (predict streams its answers).
 */
export async function loadModelData(
  flags: Flags,
  cwd: string,
  command: string,
  options: ModelDataOptions = {},
): Promise<ModelData> {
  const path = flags.model as string | undefined;
  const doc =
    options.doc ??
    (options.raw ? await readModelDocument(path, cwd, command) : await readModel(path, cwd, command));
  const dataName = flags.data as string | undefined;
  if (!dataName)
    throw new UserError(`${command}: --data is required`, { hint: `see 'chainrule ${command} --help'` });
  const image = doc.pre?.image;
  // A CSV is read the way the model reads its columns: a numeric feature as numbers (a word in it is then
  // named), a categorical one as text, keeping spellings such as '007'.
  const delimiter = delimiterFlag(flags.delimiter as string | undefined);
  const csv = { ...(doc.pre ? { kinds: columnKinds(doc.pre) } : {}), ...(delimiter ? { delimiter } : {}) };
  const data = await loadData(dataName, cwd, { ...(image ? { images: readOptionsOf(image) } : {}), csv });
  const all = data.test ?? data.train;
  const pre = doc.pre ?? rawInputs(doc, all, command);
  const { table, dropped } =
    options.labelled && doc.pre ? dropMissing(pre, all, { target: true }) : { table: all, dropped: 0 };
  return { ...doc, pre, data, table, raw: doc.pre === null, dropped };
}
