// Image files for --data: a folder with one subfolder per class (or, for predict, image files directly in
// it), or one image file. PNG and JPEG are decoded by pngjs and jpeg-js (pure JavaScript); the pixel work
// after decoding (channels, resizing, the table) is the library's, so the browser can do the same.
import { open, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import {
  imageTable,
  resizeImage,
  rgbaToPlanes,
  type Column,
  type ImageInput,
  type Resample,
  type Table,
} from '../src/index.js';
import { UserError } from './errors.js';

/** How image files become rows: from train's flags, or from a model's `preprocessing.image`. */
export interface ImageReadOptions {
  /** 1: grey (luma), 3: red, green, blue. */
  channels: 1 | 3;
  /** [height, width] every image is resized to (with `resize`) or must have; null: the first image's size. */
  size: [number, number] | null;
  /** The filter that resizes images of another size; null: every image must have the same size. */
  resize: Resample | null;
  /** The raw value of full intensity in the model's data (255; 16 for digits): 8-bit files are scaled to it. */
  maxValue: number;
}

/** How a model trained on images reads image files. */
export function readOptionsOf(image: ImageInput): ImageReadOptions {
  const [c, h, w] = image.shape;
  if (c !== 1 && c !== 3)
    throw new UserError(`the model takes images of ${c} channels; image files give 1 (grey) or 3 (RGB)`);
  return { channels: c, size: [h, w], resize: image.resize, maxValue: image.maxValue };
}

/** Parse `--resize WIDTHxHEIGHT` (as image sizes are written: 640x480 is 640 wide) to [height, width]. */
export function parseResize(text: string, where: string): [number, number] {
  const m = /^\s*(\d+)\s*[x×]\s*(\d+)\s*$/i.exec(text);
  const w = m ? Number(m[1]) : NaN;
  const h = m ? Number(m[2]) : NaN;
  if (!(w >= 1 && h >= 1 && w <= 4096 && h <= 4096))
    throw new UserError(`${where}: expected WIDTHxHEIGHT in pixels, each 1–4096 (e.g. 32x32), got '${text}'`);
  return [h, w];
}

/** Parse a comma-separated list of numbers (`--mean 0.485,0.456,0.406`). */
export function parseNumbers(text: string, where: string): number[] {
  const parts = text.split(',').map((p) => p.trim());
  const values = parts.map(Number);
  if (parts.some((p) => p === '') || values.some((v) => !Number.isFinite(v)))
    throw new UserError(`${where}: expected numbers separated by commas (e.g. 0.5,0.5,0.5), got '${text}'`);
  return values;
}

/** The kinds of image file read, told by their first bytes (not their names). */
type ImageKind = 'PNG' | 'JPEG';

function sniff(bytes: Uint8Array): ImageKind | null {
  if (bytes.length >= 8 && [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a].every((b, i) => bytes[i] === b))
    return 'PNG';
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'JPEG';
  return null;
}

/** Whether a file's first bytes are those of a PNG or JPEG image (reads only those). */
export async function isImageFile(path: string): Promise<boolean> {
  const handle = await open(path, 'r');
  try {
    const head = new Uint8Array(8);
    const { bytesRead } = await handle.read(head, 0, 8, 0);
    return sniff(head.subarray(0, bytesRead)) !== null;
  } finally {
    await handle.close();
  }
}

/** A decoded image: RGBA bytes, row after row. */
interface Decoded {
  width: number;
  height: number;
  data: Uint8Array;
}

/** Decode a PNG or JPEG file's bytes; anything else, or a corrupt file, is a UserError naming `shown`. */
function decode(bytes: Uint8Array, shown: string): Decoded {
  const kind = sniff(bytes);
  if (kind === null) {
    const head = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
    throw new UserError(
      `${shown}: not a PNG or JPEG image (${bytes.length === 0 ? 'an empty file' : `it starts with bytes ${head}`}); ` +
        'image folders hold PNG and JPEG files only',
    );
  }
  try {
    if (kind === 'PNG') {
      // pngjs expands palettes, grey and 16-bit samples to 8-bit RGBA.
      const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      return { width: png.width, height: png.height, data: new Uint8Array(png.data) };
    }
    const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true });
    return img;
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new UserError(`${shown}: not a readable ${kind} image (corrupt or truncated: ${why})`);
  }
}

/** One image file to read, with its class when it has one. */
interface ImageFile {
  path: string;
  /** As messages and the table's `file` column show it. */
  shown: string;
  label?: string;
}

/**
 * Read image files into an image table: the pixels, `file` (as shown) and, when every file has a class,
 * `label`. Images are converted to `channels`, then resized (when `resize` is set) or checked against the
 * size: the first image's when `size` is null.
 */
export async function readImages(
  files: readonly ImageFile[],
  source: string,
  options: ImageReadOptions,
): Promise<Table> {
  const { channels, resize, maxValue } = options;
  let size = options.size;
  let sizeFrom = size ? null : files[0]?.shown;
  let rows: Uint8Array | null = null;
  for (const [i, file] of files.entries()) {
    let bytes: Uint8Array;
    try {
      bytes = await readFile(file.path);
    } catch (e) {
      throw new UserError(`${file.shown}: cannot read: ${(e as Error).message}`);
    }
    const img = decode(bytes, file.shown);
    let planes = rgbaToPlanes(img.data, img.width, img.height, channels);
    if (size === null) {
      size = [img.height, img.width];
      sizeFrom = file.shown;
    }
    const [h, w] = size;
    if (img.height !== h || img.width !== w) {
      if (resize === null)
        throw new UserError(
          `${file.shown}: ${img.width}×${img.height} pixels, but ` +
            (sizeFrom
              ? `${sizeFrom} is ${w}×${h}; images of mixed sizes need --resize WIDTHxHEIGHT`
              : `the model takes ${w}×${h} images (it was trained without --resize)`),
        );
      planes = resizeImage(planes, channels, img.height, img.width, h, w, resize);
    }
    rows ??= new Uint8Array(files.length * planes.length);
    rows.set(planes, i * planes.length);
  }
  if (rows === null || size === null) throw new UserError(`${source}: no images`);
  const image: ImageInput = { shape: [channels, size[0], size[1]], maxValue, resize };
  // 8-bit files for a model whose pixels run to another maximum (digits: 16) are scaled to it.
  const pixels = maxValue === 255 ? rows : Float32Array.from(rows, (v) => (v * maxValue) / 255);
  const extra: Column[] = [{ name: 'file', values: files.map((f) => f.shown) }];
  if (files.every((f) => f.label !== undefined))
    extra.push({ name: 'label', values: files.map((f) => f.label as string) });
  return imageTable(source, pixels, image, extra);
}

/** Entries of a folder, sorted by name (UTF-16 code units: the same on every machine), without hidden ones. */
async function entries(
  dir: string,
  shown: string,
): Promise<{ name: string; path: string; folder: boolean }[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    throw new UserError(`${shown}: cannot read the folder: ${(e as Error).message}`);
  }
  names = names.filter((n) => !n.startsWith('.')).sort();
  return Promise.all(
    names.map(async (name) => {
      const path = join(dir, name);
      return { name, path, folder: (await stat(path)).isDirectory() };
    }),
  );
}

/**
 * The image files of a folder: one subfolder per class (its name is the class, folders in sorted order,
 * files sorted within each), or — when `labels` is not required — image files directly in it. Hidden
 * files are skipped; an empty class folder, a folder inside a class folder, or a mix of files and class
 * folders is an error naming it.
 */
export async function imageFolderFiles(
  dir: string,
  shown: string,
  options: { labels: boolean },
): Promise<ImageFile[]> {
  const top = await entries(dir, shown);
  const folders = top.filter((e) => e.folder);
  const files = top.filter((e) => !e.folder);
  const at = (...parts: string[]) => join(shown, ...parts);
  if (folders.length === 0) {
    if (options.labels)
      throw new UserError(
        `${shown}: ${files.length === 0 ? 'an empty folder' : 'image files but no class folders'}; ` +
          'training needs one subfolder per class, named after it (e.g. photos/cat/1.png, photos/dog/2.jpg)',
      );
    if (files.length === 0) throw new UserError(`${shown}: an empty folder; expected image files`);
    return files.map((f) => ({ path: f.path, shown: at(f.name) }));
  }
  if (files.length > 0)
    throw new UserError(
      `${at(files[0].name)}: a file next to the class folders (${folders.map((f) => f.name).join(', ')}); ` +
        'put every image in the folder of its class',
    );
  const out: ImageFile[] = [];
  for (const folder of folders) {
    const inside = await entries(folder.path, at(folder.name));
    if (inside.length === 0)
      throw new UserError(`${at(folder.name)}: an empty class folder; every class needs at least one image`);
    const nested = inside.find((e) => e.folder);
    if (nested)
      throw new UserError(
        `${at(folder.name, nested.name)}: a folder inside the class folder '${folder.name}'; ` +
          'a class folder holds image files only',
      );
    for (const e of inside) out.push({ path: e.path, shown: at(folder.name, e.name), label: folder.name });
  }
  return out;
}

/** Read a folder of images (see {@link imageFolderFiles}) into an image table. */
export async function readImageFolder(
  dir: string,
  shown: string,
  options: ImageReadOptions & { labels: boolean },
): Promise<Table> {
  return readImages(await imageFolderFiles(dir, shown, options), shown, options);
}

/** Read one image file into a one-row image table (no label). */
export async function readImageFile(path: string, shown: string, options: ImageReadOptions): Promise<Table> {
  return readImages([{ path, shown }], shown, options);
}
