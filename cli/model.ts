// Reading a model file for eval, predict and info: every problem becomes a message naming the file.
import { resolve } from 'node:path';
import {
  checkPreprocessing,
  dropMissing,
  columnKinds,
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
  const pre = file.preprocessing ? checkPreprocessing(file.preprocessing, `${path}: preprocessing`) : null;
  return { model, file, pre, path };
}

/** Load and validate `--model` for a command that needs its preprocessing (eval, predict). */
export async function readModel(
  path: string | undefined,
  cwd: string,
  command: string,
): Promise<LoadedModel> {
  if (!path)
    throw new UserError(`${command}: --model is required`, { hint: `see 'chainrule ${command} --help'` });
  const doc = await readModelFile(path, cwd);
  if (!doc.pre)
    throw new UserError(
      `${path}: has no preprocessing (imported weights?); ${command} needs a model from 'chainrule train'`,
    );
  return { ...doc, pre: doc.pre };
}

/** A model run on `--data`: the model, the data (its test split when it has one) and the raw outputs. */
export interface ModelRun extends LoadedModel {
  data: LoadedData;
  table: Table;
  outputs: Tensor;
  /** Rows left out for missing values (labelled data only, as the model's policy says). */
  dropped: number;
}

/**
 * Load `--model` and `--data` and run the model on every row (eval and predict share this). With
 * `labelled`, rows the model's missing-value policy leaves out of training are left out here too.
 */
export async function runModelOnData(
  flags: Flags,
  cwd: string,
  command: string,
  options: { labelled?: boolean } = {},
): Promise<ModelRun> {
  const loaded = await readModel(flags.model as string | undefined, cwd, command);
  const dataName = flags.data as string | undefined;
  if (!dataName)
    throw new UserError(`${command}: --data is required`, { hint: `see 'chainrule ${command} --help'` });
  // A CSV is read the way the model reads its columns: a numeric feature as numbers (a word in it is then
  // named), a categorical one as text, keeping spellings such as '007'.
  const delimiter = delimiterFlag(flags.delimiter as string | undefined);
  const data = await loadData(
    dataName,
    cwd,
    {},
    { kinds: columnKinds(loaded.pre), ...(delimiter ? { delimiter } : {}) },
  );
  const all = data.test ?? data.train;
  const { table, dropped } = options.labelled
    ? dropMissing(loaded.pre, all, { target: true })
    : { table: all, dropped: 0 };
  const outputs = tableOutputs(loaded.model, loaded.pre, table);
  return { ...loaded, data, table, outputs, dropped };
}
