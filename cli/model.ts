// Reading a model file for eval, predict and info: every problem becomes a message naming the file.
import { resolve } from 'node:path';
import {
  checkPreprocessing,
  loadModel,
  noGrad,
  parseModelFile,
  transformFeatures,
  type ModelFile,
  type nn,
  type Preprocessing,
  type Table,
  type Tensor,
} from '../src/index.js';
import type { Flags } from './args.js';
import { loadData, type LoadedData } from './data.js';
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

/** Load and validate `--model` for a command that needs its preprocessing (eval, predict). */
export async function readModel(
  path: string | undefined,
  cwd: string,
  command: string,
): Promise<LoadedModel> {
  if (!path)
    throw new UserError(`${command}: --model is required`, { hint: `see 'chainrule ${command} --help'` });
  const doc = await readModelFile(path, cwd);
  if (sequenceKind(doc.file) === 'text')
    throw new UserError(`${path}: a language model; use 'chainrule generate --model ${path}'`);
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
}

/** Load `--model` and `--data` and run the model on every row (eval and predict share this). */
export async function runModelOnData(flags: Flags, cwd: string, command: string): Promise<ModelRun> {
  const loaded = await readModel(flags.model as string | undefined, cwd, command);
  const dataName = flags.data as string | undefined;
  if (!dataName)
    throw new UserError(`${command}: --data is required`, { hint: `see 'chainrule ${command} --help'` });
  const image = loaded.pre.image;
  const data = await loadData(dataName, cwd, image ? { images: readOptionsOf(image) } : {});
  const table = data.test ?? data.train;
  const x = transformFeatures(loaded.pre, table, loaded.model.parameters()[0].dtype);
  const outputs = noGrad(() => loaded.model.eval().forward(x));
  return { ...loaded, data, table, outputs };
}
