// --data: a CSV path, a folder of images, an image file, or a built-in dataset name (mnist and
// fashion-mnist also as name:DIR, their idx files in DIR), resolved to tables. A file that exists wins over
// a built-in of the same name, so a user's 'iris' file is never shadowed.
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { CsvError, type CsvOptions, type Table } from '../src/index.js';
import { readCsv } from './csv.js';
import { BUILTIN_NAMES, loadBuiltin } from './datasets.js';
import { UserError } from './errors.js';
import { kindOf } from './fsutil.js';
import { suggest } from './args.js';
import { isImageFile, readImageFile, readImageFolder, type ImageReadOptions } from './images.js';

/** Loaded data: training rows, a predefined test split when the dataset has one, and how to name it. */
export interface LoadedData {
  train: Table;
  test?: Table;
  /** What --data said. */
  name: string;
  builtin: boolean;
  description?: string;
}

/** Options that shape the generated built-in datasets. */
export interface GeneratorOptions {
  size?: number;
  noise?: number;
  seed?: number;
}

/** Options of {@link loadData}. */
export interface LoadDataOptions extends GeneratorOptions {
  /**
   * How image files are read (train: from its flags; predict and eval: from the model); without it, a
   * folder or image file is refused, since the model was not trained on images.
   */
  images?: ImageReadOptions;
  /** Whether a folder of images must have class subfolders (train: yes). */
  labels?: boolean;
  /** How a CSV file is read: its delimiter, and column kinds chosen by flags or by the model. */
  csv?: CsvOptions;
}

/** The --delimiter flag's value as one character: 'tab' or '\t' mean a tab. */
export function delimiterFlag(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const d = value === 'tab' || value === '\\t' ? '\t' : value;
  if (d.length !== 1 || d === '"')
    throw new UserError(`--delimiter: expected one character other than '"' (or 'tab'), got '${value}'`);
  return d;
}

/** `mnist:DIR` or `fashion-mnist:DIR`: an idx data set's name and the folder of its files. */
const IDX_IN_FOLDER = /^(mnist|fashion-mnist):(.+)$/;

/** A FIFO, device or socket named as --data: say what it is (reading it could block or never end). */
function refuseSpecial(path: string, name: string): void {
  const s = statSync(path);
  if (!s.isFile() && !s.isDirectory())
    throw new UserError(`--data '${name}': it is ${kindOf(s)}, not a CSV file or a folder of images`);
}

/** Resolve `--data` to tables. */
export async function loadData(
  name: string,
  cwd: string,
  options: LoadDataOptions = {},
): Promise<LoadedData> {
  const { images, labels = false, csv = {}, ...generator } = options;
  const path = resolve(cwd, name);
  if (existsSync(path)) {
    refuseSpecial(path, name);
    const folder = statSync(path).isDirectory();
    if (folder || (await isImageFile(path))) {
      if (!images)
        throw new UserError(
          `--data ${name}: ${folder ? 'a folder of images' : 'an image file'}, but the model was not trained on images`,
        );
      const train = folder
        ? await readImageFolder(path, name, { ...images, labels })
        : await readImageFile(path, name, images);
      return { train, name, builtin: false };
    }
    try {
      return { train: await readCsv(path, name, csv), name, builtin: false };
    } catch (e) {
      // A file read with the wrong delimiter: say which flag reads it right.
      if (e instanceof CsvError && e.likelyDelimiter !== undefined)
        throw new UserError(e.message, {
          hint: `read it with --delimiter ${e.likelyDelimiter === '\t' ? 'tab' : `'${e.likelyDelimiter}'`}`,
        });
      throw e;
    }
  }
  const builtins = Object.keys(BUILTIN_NAMES);
  const inFolder = IDX_IN_FOLDER.exec(name);
  if (builtins.includes(name) || inFolder) {
    const dataset = inFolder ? inFolder[1] : name;
    const directory = inFolder ? resolve(cwd, inFolder[2]) : undefined;
    if (directory && !existsSync(directory))
      throw new UserError(`--data ${name}: no folder '${inFolder![2]}' with ${dataset}'s idx files`);
    try {
      const d = await loadBuiltin(dataset, { ...generator, ...(directory ? { directory } : {}) });
      return {
        train: d.train,
        ...(d.test ? { test: d.test } : {}),
        name,
        builtin: true,
        description: d.description,
      };
    } catch (e) {
      throw new UserError(`--data ${name}: ${(e as Error).message}`);
    }
  }
  const looksLikeFile = /[./\\]/.test(name);
  const s = suggest(name, builtins);
  throw new UserError(
    looksLikeFile
      ? `--data: cannot read '${name}': no such file or folder`
      : `--data: '${name}' is neither a file nor a built-in dataset${s ? ` (did you mean '${s}'?)` : ''}`,
    { hint: `built-in datasets: ${builtins.join(', ')}; or a CSV file, or a folder of images` },
  );
}
