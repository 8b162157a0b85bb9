// --data: a CSV path or a built-in dataset name, resolved to tables. A file that exists wins over a
// built-in of the same name, so a user's 'iris' file is never shadowed.
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { CsvError, type CsvOptions, type Table } from '../src/index.js';
import { readCsv } from './csv.js';
import { BUILTIN_NAMES, loadBuiltin } from './datasets.js';
import { UserError } from './errors.js';
import { suggest } from './args.js';

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

/** The --delimiter flag's value as one character: 'tab' or '\t' mean a tab. */
export function delimiterFlag(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const d = value === 'tab' || value === '\\t' ? '\t' : value;
  if (d.length !== 1 || d === '"')
    throw new UserError(`--delimiter: expected one character other than '"' (or 'tab'), got '${value}'`);
  return d;
}

/** Resolve `--data` to tables; `csv` says how to read a CSV file (delimiter, column kinds). */
export async function loadData(
  name: string,
  cwd: string,
  options: GeneratorOptions = {},
  csv: CsvOptions = {},
): Promise<LoadedData> {
  const path = resolve(cwd, name);
  if (existsSync(path) && statSync(path).isFile()) {
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
  if (builtins.includes(name)) {
    try {
      const d = await loadBuiltin(name, options);
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
      ? `--data: cannot read CSV '${name}': no such file`
      : `--data: '${name}' is neither a file nor a built-in dataset${s ? ` (did you mean '${s}'?)` : ''}`,
    { hint: `built-in datasets: ${builtins.join(', ')}` },
  );
}
