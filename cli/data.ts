// --data: a CSV path or a built-in dataset name, resolved to tables. A file that exists wins over a
// built-in of the same name, so a user's 'iris' file is never shadowed.
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Table } from '../src/index.js';
import { readCsv } from './csv.js';
import { BUILTIN_NAMES, loadBuiltin } from './datasets.js';
import { UserError } from './errors.js';
import { kindOf } from './fsutil.js';
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

/** A folder, FIFO or device named as --data: say what it is rather than "no such file". */
function refuseNonFile(path: string, name: string): void {
  const s = existsSync(path) ? statSync(path) : null;
  if (s && !s.isFile()) throw new UserError(`--data '${name}': it is ${kindOf(s)}, not a CSV file`);
}

/** Resolve `--data` to tables. */
export async function loadData(
  name: string,
  cwd: string,
  options: GeneratorOptions = {},
): Promise<LoadedData> {
  const path = resolve(cwd, name);
  if (existsSync(path) && statSync(path).isFile())
    return { train: await readCsv(path, name), name, builtin: false };
  refuseNonFile(path, name);
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
