// Reading a model file for eval, predict and info: every problem becomes a message naming the file.
import { resolve } from 'node:path';
import { checkPreprocessing, type Preprocessing } from '../src/data/preprocess.js';
import { loadModel, parseModelFile, type ModelFile } from '../src/io/modelfile.js';
import type { nn } from '../src/index.js';
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
