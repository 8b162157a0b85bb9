/**
 * The Images page's configuration and data: which image set, which convolutional network (one line of the
 * `--arch` grammar), the optimizer, learning rate, batch size and seed — everything a URL carries — and the
 * one binary form an image set travels in (the page's assets, built by web/build.ts from the same files the
 * command line reads, and a dropped folder), so the page's worker and the Node tests decode the same bytes.
 */
import { parseArch, type ParsedArch } from '../nn/arch.js';
import { OPTIMIZER_NAMES, type OptimizerName } from '../optim/byname.js';
import { resizeImage } from '../data/image.js';

/**
 * The image sets: scikit-learn's 8×8 digits (1,797 images: the first 1,437 train, the last 360 test), a
 * page-sized MNIST (the first 20,000 training images and the first 2,000 test images of the original
 * split), or the learner's own folder (one sub-folder per class; every fifth image, in path order, tests).
 */
export type ImageDatasetName = 'digits' | 'mnist' | 'folder';

/** Everything that decides an Images run; the page keeps it in its URL. */
export interface ImageConfig {
  dataset: ImageDatasetName;
  /** The network after the input image, in the `--arch` grammar (`conv 8 3 relu, maxpool 2, …, linear`). */
  arch: string;
  optimizer: OptimizerName;
  learningRate: number;
  /** Images per optimizer step, 1–{@link IMAGE_LIMITS}.maxBatchSize. */
  batchSize: number;
  /** Seeds the initial weights (`RandomState(seed)`) and the shuffling (`RandomState(seed + 1)`). */
  seed: number;
}

/**
 * Each built-in set's split and where its asset lies (relative to the page): {@link encodeImageSet}'s bytes,
 * gzipped (MNIST's 17.3 MB become 3.5 MB); `folder` has no asset.
 */
export const IMAGE_DATASETS: {
  readonly [D in ImageDatasetName]: {
    readonly label: string;
    readonly asset: string | null;
    readonly split: string;
  };
} = {
  digits: {
    label: '8×8 digits',
    asset: 'images/digits.bin.gz',
    split: '1,437 train (the first rows) / 360 test (the last rows) of scikit-learn’s 1,797',
  },
  mnist: {
    label: 'MNIST (22k)',
    asset: 'images/mnist.bin.gz',
    split: 'the first 20,000 of MNIST’s 60,000 training images / the first 2,000 of its 10,000 test images',
  },
  folder: {
    label: 'Your folder',
    asset: null,
    split: 'every fifth image (in path order) tests, the rest train; resized to 28×28 grey',
  },
};

/** The image set names, in the order the page lists them. */
export const IMAGE_DATASET_NAMES = Object.keys(IMAGE_DATASETS) as readonly ImageDatasetName[];

/** Bounds of the settings. */
export const IMAGE_LIMITS = { maxBatchSize: 512, maxSeed: 2 ** 32 - 1, maxArchLength: 300 } as const;

/** The learning rates the page offers. */
export const IMAGE_LEARNING_RATES: readonly number[] = [0.0001, 0.0003, 0.001, 0.002, 0.003, 0.01, 0.03, 0.1];

/**
 * Each set's preset (seed aside): a link naming only the dataset gets it whole. MNIST's is the network
 * the README's 60-second target was measured with.
 */
export const IMAGE_PRESETS: { readonly [D in ImageDatasetName]: Readonly<Omit<ImageConfig, 'seed'>> } = {
  digits: {
    dataset: 'digits',
    arch: 'conv 8 3 relu, maxpool 2, flatten, linear',
    optimizer: 'adam',
    learningRate: 0.01,
    batchSize: 32,
  },
  mnist: {
    dataset: 'mnist',
    arch: 'conv 8 3 relu, maxpool 2, conv 16 3 relu, maxpool 2, flatten, linear',
    optimizer: 'adam',
    learningRate: 0.002,
    batchSize: 32,
  },
  folder: {
    dataset: 'folder',
    arch: 'conv 8 3 relu, maxpool 2, conv 16 3 relu, maxpool 2, flatten, linear',
    optimizer: 'adam',
    learningRate: 0.002,
    batchSize: 16,
  },
};

/** The Images page's default run: the 8×8 digits (small enough to train in seconds), seed 1. */
export const DEFAULT_IMAGE_CONFIG: Readonly<ImageConfig> = { ...IMAGE_PRESETS.digits, seed: 1 };

/** The shape every folder image is resized to: one grey channel, 28×28 (as MNIST). */
export const FOLDER_IMAGE_SHAPE: readonly [number, number, number] = [1, 28, 28];

/** A configuration or image set that cannot be used, with what was expected and what came. */
export class ImageConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ImageConfigError';
  }
}

function expect(ok: boolean, field: string, expected: string, got: unknown): void {
  if (!ok) throw new ImageConfigError(`images: ${field}: expected ${expected}, got ${JSON.stringify(got)}`);
}

/**
 * Check every field (the architecture against the set's image shape and classes) and return the parsed
 * network; throws an {@link ImageConfigError} naming the first bad field.
 */
export function checkImageConfig(config: ImageConfig, shape: readonly number[], classes: number): ParsedArch {
  const c = config;
  expect(IMAGE_DATASET_NAMES.includes(c.dataset), 'dataset', IMAGE_DATASET_NAMES.join(', '), c.dataset);
  expect(OPTIMIZER_NAMES.includes(c.optimizer), 'optimizer', OPTIMIZER_NAMES.join(', '), c.optimizer);
  expect(
    typeof c.learningRate === 'number' && c.learningRate > 0 && Number.isFinite(c.learningRate),
    'learningRate',
    'a positive number',
    c.learningRate,
  );
  expect(
    Number.isInteger(c.batchSize) && c.batchSize >= 1 && c.batchSize <= IMAGE_LIMITS.maxBatchSize,
    'batchSize',
    `an integer 1–${IMAGE_LIMITS.maxBatchSize}`,
    c.batchSize,
  );
  expect(
    Number.isInteger(c.seed) && c.seed >= 0 && c.seed <= IMAGE_LIMITS.maxSeed,
    'seed',
    'an integer in [0, 2³²)',
    c.seed,
  );
  expect(
    typeof c.arch === 'string' && c.arch.length <= IMAGE_LIMITS.maxArchLength,
    'arch',
    `a line of at most ${IMAGE_LIMITS.maxArchLength} characters`,
    c.arch,
  );
  try {
    return parseArch(c.arch, { shape, image: true, outputs: classes });
  } catch (e) {
    throw new ImageConfigError(`images: arch: ${(e as Error).message}`);
  }
}

/** One split of an image set: `count` images of C·H·W bytes each, channel-major, and their class indices. */
export interface ImageSplit {
  count: number;
  pixels: Uint8Array;
  labels: Uint8Array;
}

/** An image set as the page and the tests hold it. */
export interface ImageSet {
  /** What it is, for the page (`mnist`, or the folder's name). */
  name: string;
  /** [C, H, W] of every image. */
  shape: [number, number, number];
  /** The largest pixel value (16 for digits, 255 otherwise): inputs are pixel / maxValue, in [0, 1]. */
  maxValue: number;
  /** Class names by index. */
  classes: string[];
  train: ImageSplit;
  test: ImageSplit;
  /** Where the images come from and under what terms. */
  source: string;
}

/** The first bytes of an encoded image set. */
const MAGIC = [0x43, 0x52, 0x49, 0x4d]; // "CRIM"

/** The JSON header of an encoded image set. */
interface Header {
  version: 1;
  name: string;
  shape: [number, number, number];
  maxValue: number;
  classes: string[];
  train: number;
  test: number;
  source: string;
}

/**
 * An image set as bytes: "CRIM", the header's length (u32, little-endian), the JSON header, then the
 * pixels (train then test) and the labels (train then test), one byte each.
 */
export function encodeImageSet(set: ImageSet): Uint8Array {
  const header: Header = {
    version: 1,
    name: set.name,
    shape: set.shape,
    maxValue: set.maxValue,
    classes: set.classes,
    train: set.train.count,
    test: set.test.count,
    source: set.source,
  };
  const json = new TextEncoder().encode(JSON.stringify(header));
  const size = set.shape[0] * set.shape[1] * set.shape[2];
  const n = set.train.count + set.test.count;
  const out = new Uint8Array(8 + json.length + n * size + n);
  out.set(MAGIC, 0);
  new DataView(out.buffer).setUint32(4, json.length, true);
  out.set(json, 8);
  let at = 8 + json.length;
  out.set(set.train.pixels, at);
  out.set(set.test.pixels, (at += set.train.pixels.length));
  out.set(set.train.labels, (at += set.test.pixels.length));
  out.set(set.test.labels, at + set.train.labels.length);
  return out;
}

/** Read what {@link encodeImageSet} wrote; throws an {@link ImageConfigError} naming `source` and the problem. */
export function decodeImageSet(bytes: Uint8Array, source = 'image set'): ImageSet {
  const bad = (what: string) => new ImageConfigError(`${source}: ${what}`);
  if (bytes.length < 8 || MAGIC.some((b, i) => bytes[i] !== b))
    throw bad('not an encoded image set (expected the bytes "CRIM" first)');
  const length = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(4, true);
  if (8 + length > bytes.length)
    throw bad(`a header of ${length} bytes, but only ${bytes.length} bytes in all`);
  let h: Header;
  try {
    h = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length))) as Header;
  } catch (e) {
    throw bad(`the header is not JSON (${(e as Error).message})`);
  }
  if (h.version !== 1 || !Array.isArray(h.shape) || h.shape.length !== 3 || !Array.isArray(h.classes))
    throw bad(`expected a version 1 header with a [C, H, W] shape and classes, got ${JSON.stringify(h)}`);
  const size = h.shape[0] * h.shape[1] * h.shape[2];
  const n = h.train + h.test;
  const at = 8 + length;
  if (bytes.length !== at + n * size + n)
    throw bad(
      `${n} images of ${size} bytes and ${n} labels need ${at + n * size + n} bytes, got ${bytes.length}`,
    );
  const labels = bytes.subarray(at + n * size);
  const worst = labels.reduce((m, v) => Math.max(m, v), 0);
  if (n > 0 && worst >= h.classes.length) throw bad(`a label ${worst} for ${h.classes.length} classes`);
  const split = (from: number, count: number): ImageSplit => ({
    count,
    pixels: bytes.slice(at + from * size, at + (from + count) * size),
    labels: labels.slice(from, from + count),
  });
  return {
    name: h.name,
    shape: h.shape,
    maxValue: h.maxValue,
    classes: h.classes,
    train: split(0, h.train),
    test: split(h.train, h.test),
    source: h.source,
  };
}

/** One labelled image of a folder: its path (for messages and order), class name and pixels. */
export interface FolderImage {
  path: string;
  label: string;
  /** Grey planes of {@link FOLDER_IMAGE_SHAPE} (already resized). */
  pixels: Uint8Array;
}

/**
 * A dropped folder as an image set: classes are the sorted class names, images sorted by path, every fifth
 * (index 4, 9, …) a test image. Needs two classes and ten images at least.
 */
export function folderImageSet(name: string, images: readonly FolderImage[]): ImageSet {
  const size = FOLDER_IMAGE_SHAPE[0] * FOLDER_IMAGE_SHAPE[1] * FOLDER_IMAGE_SHAPE[2];
  const classes = [...new Set(images.map((i) => i.label))].sort();
  if (classes.length < 2)
    throw new ImageConfigError(
      `${name}: expected images in two sub-folders or more (one per class), got ${classes.length === 0 ? 'no images' : `only '${classes[0]}'`}`,
    );
  if (images.length < 10)
    throw new ImageConfigError(`${name}: expected at least 10 images, got ${images.length}`);
  const sorted = [...images].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const parts = { train: [] as FolderImage[], test: [] as FolderImage[] };
  sorted.forEach((im, i) => (i % 5 === 4 ? parts.test : parts.train).push(im));
  const split = (list: FolderImage[]): ImageSplit => {
    const pixels = new Uint8Array(list.length * size);
    list.forEach((im, i) => {
      if (im.pixels.length !== size)
        throw new ImageConfigError(`${im.path}: expected ${size} grey pixels, got ${im.pixels.length}`);
      pixels.set(im.pixels, i * size);
    });
    return { count: list.length, pixels, labels: Uint8Array.from(list, (im) => classes.indexOf(im.label)) };
  };
  return {
    name,
    shape: [...FOLDER_IMAGE_SHAPE],
    maxValue: 255,
    classes,
    train: split(parts.train),
    test: split(parts.test),
    source: `your folder ${name}`,
  };
}

/**
 * A drawing (grey bytes, `width` × `height`, ink bright on black) as a network input of `shape` ([1, H, W],
 * values in [0, 1]), prepared as MNIST's digits were: the ink's bounding box scaled (PIL's bilinear filter,
 * aspect kept) to fit a box of 20/28 of the image for 28×28 and larger, the whole image for smaller ones
 * (the 8×8 digits fill their frame), then placed with its centre of mass at the image's centre (28×28 and
 * larger) or its box centred. An empty drawing is all zeros.
 */
export function drawingToImage(
  grey: Uint8Array,
  width: number,
  height: number,
  shape: readonly [number, number, number],
): Float64Array {
  const [, h, w] = shape;
  const out = new Float64Array(h * w);
  let top = height;
  let left = width;
  let bottom = -1;
  let right = -1;
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      if (grey[y * width + x] > 0) {
        top = Math.min(top, y);
        bottom = Math.max(bottom, y);
        left = Math.min(left, x);
        right = Math.max(right, x);
      }
  if (bottom < 0) return out;
  const ch = bottom - top + 1;
  const cw = right - left + 1;
  const crop = new Uint8Array(ch * cw);
  for (let y = 0; y < ch; y++)
    crop.set(grey.subarray((top + y) * width + left, (top + y) * width + left + cw), y * cw);
  const mnistLike = h >= 20;
  const box = mnistLike ? Math.round((h * 20) / 28) : h;
  const scale = box / Math.max(ch, cw);
  const nh = Math.max(1, Math.min(h, Math.round(ch * scale)));
  const nw = Math.max(1, Math.min(w, Math.round(cw * scale)));
  const small = resizeImage(crop, 1, ch, cw, nh, nw);
  let oy = Math.floor((h - nh) / 2);
  let ox = Math.floor((w - nw) / 2);
  if (mnistLike) {
    let mass = 0;
    let my = 0;
    let mx = 0;
    for (let y = 0; y < nh; y++)
      for (let x = 0; x < nw; x++) {
        const v = small[y * nw + x];
        mass += v;
        my += v * y;
        mx += v * x;
      }
    if (mass > 0) {
      oy = Math.min(h - nh, Math.max(0, Math.round(h / 2 - 0.5 - my / mass)));
      ox = Math.min(w - nw, Math.max(0, Math.round(w / 2 - 0.5 - mx / mass)));
    }
  }
  for (let y = 0; y < nh; y++)
    for (let x = 0; x < nw; x++) out[(oy + y) * w + ox + x] = small[y * nw + x] / 255;
  return out;
}
