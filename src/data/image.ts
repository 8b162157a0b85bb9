/**
 * Images as rows of a table, and the pure steps from decoded pixels to those rows. Decoding files is the
 * command line's (it has the decoders); everything here is plain arrays, so the browser can use it too.
 *
 * One representation: an image data set is an ordinary {@link Table} whose first C·H·W columns are the
 * pixels `px0 … px{C·H·W−1}` of one image per row, channel after channel, row after row (NCHW, flattened),
 * with `table.image` saying so ({@link ImageInput}). Preprocessing keeps that record as
 * `preprocessing.image`, so the feature tensor stays [N, C·H·W] (what an MLP takes) and a model that starts
 * with a convolution views it as [N, C, H, W] ({@link inputShape}); the model file carries it, and predict
 * reads image files the same way. How pixels are scaled lives where every column's scaling lives: in the
 * features' mean and std.
 */
import {
  fitPreprocessing,
  PreprocessError,
  type FeatureSpec,
  type Preprocessing,
  type Scaling,
  type Task,
} from './preprocess.js';
import { makeTable, pixelName, type Column, type ImageInput, type Resample, type Table } from './table.js';

/** C · H · W. */
export function imageSize(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * The shape of one input row as the network sees it: [C, H, W] for images, [inputSize] otherwise. The
 * feature tensor is always [N, inputSize]; a model that starts with a convolution views it as
 * [N, ...inputShape(pre)] (a reshape, which shares storage).
 */
export function inputShape(pre: Preprocessing): number[] {
  return pre.image ? [...pre.image.shape] : [pre.inputSize];
}

/**
 * An image table from the images' values one image after another (`pixels`: n rows of C·H·W values, each
 * image channel-major), plus further columns (labels, file names) after the pixels. The pixel columns are
 * views into one column-major buffer of the same type, so 60,000 MNIST images stay 47 MB.
 */
export function imageTable(
  source: string,
  pixels: Uint8Array | Float32Array,
  image: ImageInput,
  extra: Column[] = [],
): Table {
  const size = imageSize(image.shape);
  if (pixels.length % size !== 0)
    throw new Error(`imageTable: ${pixels.length} values are not whole images of ${image.shape.join('×')}`);
  const n = pixels.length / size;
  // Columns need each pixel's values together; one pass of a transposition.
  const columnMajor = new (pixels.constructor as typeof Uint8Array | typeof Float32Array)(n * size);
  for (let r = 0; r < n; r++) {
    const row = r * size;
    for (let p = 0; p < size; p++) columnMajor[p * n + r] = pixels[row + p];
  }
  const columns: Column[] = Array.from({ length: size }, (_, p) => ({
    name: pixelName(p),
    values: columnMajor.subarray(p * n, (p + 1) * n),
  }));
  return { ...makeTable(source, [...columns, ...extra]), image: copyImage(image) };
}

function copyImage(image: ImageInput): ImageInput {
  return { shape: [...image.shape], maxValue: image.maxValue, resize: image.resize };
}

/**
 * Decoded RGBA pixels (what PNG and JPEG decoders give: 4 bytes a pixel, row after row) as `channels`
 * planes: 1 = grey as PIL's `convert('L')` (ITU-R 601 luma, L = (19595 R + 38470 G + 7471 B + 2¹⁵) >> 16),
 * 3 = red, green, blue. Alpha is dropped, as PIL's `convert('RGB')` does.
 */
export function rgbaToPlanes(rgba: Uint8Array, width: number, height: number, channels: 1 | 3): Uint8Array {
  const n = width * height;
  if (rgba.length !== 4 * n)
    throw new Error(`rgbaToPlanes: ${rgba.length} bytes are not ${width}×${height} RGBA pixels`);
  const out = new Uint8Array(channels * n);
  if (channels === 1)
    for (let i = 0; i < n; i++)
      out[i] = (19595 * rgba[4 * i] + 38470 * rgba[4 * i + 1] + 7471 * rgba[4 * i + 2] + 0x8000) >>> 16;
  else
    for (let i = 0; i < n; i++) {
      out[i] = rgba[4 * i];
      out[n + i] = rgba[4 * i + 1];
      out[2 * n + i] = rgba[4 * i + 2];
    }
  return out;
}

/** Where one output pixel reads along an axis: the first input pixel and the weights of it and the next ones. */
interface Taps {
  start: Int32Array;
  count: Int32Array;
  /** `width` weights per output pixel (unused ones 0). */
  weights: Float64Array;
  width: number;
}

/**
 * PIL's bilinear resampling weights along one axis: a triangle of radius 1 around each output pixel's centre
 * in input coordinates, widened by the scale when shrinking (so every input pixel counts: antialiased),
 * normalized to sum 1. The same as PIL's `Image.resize(..., BILINEAR)` and torch's
 * `interpolate(mode='bilinear', antialias=True, align_corners=False)`.
 */
function bilinearTaps(inSize: number, outSize: number): Taps {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filterScale;
  const width = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Float64Array(outSize * width);
  for (let o = 0; o < outSize; o++) {
    const center = (o + 0.5) * scale;
    const lo = Math.max(0, Math.trunc(center - support + 0.5));
    const hi = Math.min(inSize, Math.trunc(center + support + 0.5));
    let total = 0;
    for (let i = lo; i < hi; i++) {
      const w = Math.max(0, 1 - Math.abs((i - center + 0.5) / filterScale));
      weights[o * width + i - lo] = w;
      total += w;
    }
    if (total > 0) for (let k = 0; k < hi - lo; k++) weights[o * width + k] /= total;
    start[o] = lo;
    count[o] = hi - lo;
  }
  return { start, count, weights, width };
}

/**
 * Resize planes of 8-bit values (`channels` planes of height × width, as {@link rgbaToPlanes} gives) to
 * outHeight × outWidth with PIL's bilinear filter (antialiased when shrinking): rows first, then columns,
 * in float64, rounded to 8 bits once at the end. The same size returns a copy.
 */
export function resizeImage(
  planes: Uint8Array,
  channels: number,
  height: number,
  width: number,
  outHeight: number,
  outWidth: number,
  method: Resample = 'bilinear',
): Uint8Array {
  if (planes.length !== channels * height * width)
    throw new Error(`resizeImage: ${planes.length} values are not ${channels}×${height}×${width}`);
  if (!(outHeight >= 1 && outWidth >= 1 && Number.isInteger(outHeight) && Number.isInteger(outWidth)))
    throw new Error(`resizeImage: the size must be whole pixels, at least 1×1; got ${outWidth}×${outHeight}`);
  if (method !== 'bilinear') throw new Error(`resizeImage: unknown filter '${method as string}'`);
  if (outHeight === height && outWidth === width) return planes.slice();
  const across = bilinearTaps(width, outWidth);
  const down = bilinearTaps(height, outHeight);
  // Horizontal pass: channels × height × outWidth.
  const mid = new Float64Array(channels * height * outWidth);
  for (let c = 0; c < channels; c++)
    for (let y = 0; y < height; y++) {
      const src = (c * height + y) * width;
      const dst = (c * height + y) * outWidth;
      for (let x = 0; x < outWidth; x++) {
        const s = src + across.start[x];
        const w = x * across.width;
        let v = 0;
        for (let k = 0; k < across.count[x]; k++) v += planes[s + k] * across.weights[w + k];
        mid[dst + x] = v;
      }
    }
  // Vertical pass, rounded to the nearest 8-bit value.
  const out = new Uint8Array(channels * outHeight * outWidth);
  for (let c = 0; c < channels; c++)
    for (let y = 0; y < outHeight; y++) {
      const w = y * down.width;
      const dst = (c * outHeight + y) * outWidth;
      for (let x = 0; x < outWidth; x++) {
        let v = 0;
        for (
          let k = 0, s = (c * height + down.start[y]) * outWidth + x;
          k < down.count[y];
          k++, s += outWidth
        )
          v += mid[s] * down.weights[w + k];
        out[dst + x] = Math.min(255, Math.max(0, Math.round(v)));
      }
    }
  return out;
}

/**
 * How an image table's pixels are scaled, stored as each pixel feature's (x − mean) / std:
 * `'unit'`: divided by `maxValue`, to [0, 1] (then, with `mean` and `std`, torchvision's Normalize:
 * (x/max − mean[c]) / std[c]); `'channel'`: (x/max − mean[c]) / std[c] with each channel's mean and
 * standard deviation over the training images; or a per-pixel {@link Scaling} as for any numeric column.
 */
export type ImageScaling = Scaling | 'unit' | 'channel';

/** The scalings of image tables. */
export const IMAGE_SCALINGS: readonly ImageScaling[] = ['unit', 'channel', 'standard', 'minmax', 'none'];

/** Options of {@link fitImagePreprocessing}. */
export interface ImagePreprocessingOptions {
  /** The target column (default `'label'`). */
  target?: string;
  /** Classification (default, as the table's target infers) or regression. */
  task?: Task;
  /** How pixels are scaled (default `'unit'`). */
  scaling?: ImageScaling;
  /** Per-channel means on the [0, 1] scale, subtracted after `'unit'` scaling (default 0). */
  mean?: readonly number[];
  /** Per-channel standard deviations on the [0, 1] scale, divided by after `'unit'` scaling (default 1). */
  std?: readonly number[];
}

/**
 * The preprocessing of an image table: its pixel columns are the features, in order, scaled as
 * `options.scaling` says, and `preprocessing.image` records the image shape.
 *
 * @throws PreprocessError when the table is not an image table, or `mean`/`std` do not fit the channels.
 */
export function fitImagePreprocessing(table: Table, options: ImagePreprocessingOptions = {}): Preprocessing {
  const { source, image } = table;
  if (!image) throw new PreprocessError(`${source}: not a table of images`, source);
  const [channels] = image.shape;
  const size = imageSize(image.shape);
  const scaling = options.scaling ?? 'unit';
  const target = options.target ?? 'label';
  for (const [what, values] of [
    ['mean', options.mean],
    ['std', options.std],
  ] as const) {
    if (values === undefined) continue;
    if (scaling !== 'unit')
      throw new PreprocessError(
        `${source}: a per-channel ${what} applies to 'unit' scaling, not '${scaling}'`,
        source,
      );
    if (values.length !== channels)
      throw new PreprocessError(
        `${source}: ${values.length} ${what} value${values.length === 1 ? '' : 's'} for images of ${channels} ` +
          `channel${channels === 1 ? '' : 's'}; give one per channel`,
        source,
      );
    if (values.some((v) => !Number.isFinite(v) || (what === 'std' && v <= 0)))
      throw new PreprocessError(
        `${source}: ${what} values must be finite${what === 'std' ? ' and positive' : ''}, got ${values.join(', ')}`,
        source,
      );
  }
  const names = Array.from({ length: size }, (_, i) => pixelName(i));
  const pre = fitPreprocessing(table, {
    target,
    features: names,
    scaling: scaling === 'unit' || scaling === 'channel' ? 'none' : scaling,
    ...(options.task ? { task: options.task } : {}),
  });
  let features: FeatureSpec[] = pre.features;
  if (scaling === 'unit' || scaling === 'channel') {
    const { mean, std } =
      scaling === 'channel'
        ? channelMoments(table, image)
        : {
            mean: options.mean ?? new Array<number>(channels).fill(0),
            std: options.std ?? new Array<number>(channels).fill(1),
          };
    const plane = size / channels;
    features = names.map((name, i) => {
      const c = Math.floor(i / plane);
      return { name, kind: 'numeric', mean: mean[c] * image.maxValue, std: std[c] * image.maxValue };
    });
  }
  return { ...pre, features, image: copyImage(image) };
}

/** Each channel's mean and population standard deviation over all images and pixels, on the [0, 1] scale. */
function channelMoments(table: Table, image: ImageInput): { mean: number[]; std: number[] } {
  const [channels] = image.shape;
  const plane = imageSize(image.shape) / channels;
  const mean: number[] = [];
  const std: number[] = [];
  for (let c = 0; c < channels; c++) {
    const columns = table.columns
      .slice(c * plane, (c + 1) * plane)
      .map((col) => col.values as ArrayLike<number>);
    let sum = 0;
    let count = 0;
    for (const v of columns) for (let r = 0; r < v.length; r++, count++) sum += v[r];
    const m = sum / count;
    let ss = 0;
    for (const v of columns) for (let r = 0; r < v.length; r++) ss += (v[r] - m) ** 2;
    const s = Math.sqrt(ss / count);
    mean.push(m / image.maxValue);
    std.push(s > 0 ? s / image.maxValue : 1);
  }
  return { mean, std };
}
