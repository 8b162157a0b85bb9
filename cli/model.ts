// Reading a model file for eval, predict and info: every problem becomes a message naming the file.
import { resolve } from 'node:path';
import { checkPreprocessing, type Preprocessing } from '../src/data/preprocess.js';
import { loadModel, parseModelFile, type ModelFile } from '../src/io/modelfile.js';
import { noGrad, type nn, type Tensor } from '../src/index.js';
import { transformFeatures } from '../src/data/preprocess.js';
import type { Table } from '../src/data/table.js';
import type { Flags } from './args.js';
import { loadData, type LoadedData } from './data.js';
import { UserError } from './errors.js';
import { readTextFile } from './fsutil.js';

/** A loaded model with its document and preprocessing. */
export interface LoadedModel {
  model: nn.Sequential;
  file: ModelFile;
  pre: Preprocessing;
  path: string;
}

/** Load and validate `--model`. */
export async function readModel(
  path: string | undefined,
  cwd: string,
  command: string,
): Promise<LoadedModel> {
  if (!path)
    throw new UserError(`${command}: --model is required`, { hint: `see 'chainrule ${command} --help'` });
  const text = await readTextFile(resolve(cwd, path), 'model file');
  const file = parseModelFile(text, path);
  const { model } = loadModel(file, path);
  if (!file.preprocessing)
    throw new UserError(`${path}: has no preprocessing section; it was not written by 'chainrule train'`);
  return { model, file, pre: checkPreprocessing(file.preprocessing, `${path}: preprocessing`), path };
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
  const data = await loadData(dataName, cwd);
  const table = data.test ?? data.train;
  const x = transformFeatures(loaded.pre, table, loaded.model.parameters()[0].dtype);
  const outputs = noGrad(() => loaded.model.eval().forward(x));
  return { ...loaded, data, table, outputs };
}
