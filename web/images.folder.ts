// A folder of images (picked or dropped) as an image set: each file decoded by the browser, made grey and
// resized to 28×28 by the library's pixel steps, labelled by its sub-folder; the split is the library's.
import { playground, resizeImage, rgbaToPlanes } from './lib.js';

const IMAGE_FILE = /\.(png|jpe?g|gif|bmp|webp)$/i;

async function decode(file: File, path: string): Promise<playground.FolderImage> {
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch {
    throw new Error(`${path}: not an image this browser can decode`);
  }
  const canvas = document.createElement('canvas');
  canvas.width = bitmap.width;
  canvas.height = bitmap.height;
  const ctx = canvas.getContext('2d') as CanvasRenderingContext2D;
  ctx.drawImage(bitmap, 0, 0);
  const rgba = new Uint8Array(ctx.getImageData(0, 0, bitmap.width, bitmap.height).data.buffer);
  const [, h, w] = playground.FOLDER_IMAGE_SHAPE;
  const grey = rgbaToPlanes(rgba, bitmap.width, bitmap.height, 1);
  const parts = path.split('/').filter((p) => p !== '');
  return {
    path,
    label: parts[parts.length - 2] ?? '',
    pixels: resizeImage(grey, 1, bitmap.height, bitmap.width, h, w),
  };
}

async function toSet(entries: { file: File; path: string }[]): Promise<playground.ImageSet> {
  const images = entries.filter((e) => IMAGE_FILE.test(e.path));
  if (images.length === 0)
    throw new Error(
      'No PNG or JPEG images in what was loaded: expected a folder with one sub-folder per class.',
    );
  const name = images[0].path.split('/').filter((p) => p !== '')[0] ?? 'folder';
  return playground.folderImageSet(name, await Promise.all(images.map((e) => decode(e.file, e.path))));
}

/** The files of an `<input webkitdirectory>`, their paths relative to the picked folder's parent. */
export function readFolder(files: FileList): Promise<playground.ImageSet> {
  return toSet(Array.from(files, (file) => ({ file, path: file.webkitRelativePath || file.name })));
}

/** A dropped folder, walked through the entries API. */
export async function readDroppedFolder(transfer: DataTransfer): Promise<playground.ImageSet> {
  const out: { file: File; path: string }[] = [];
  const walk = async (entry: FileSystemEntry): Promise<void> => {
    if (entry.isFile) {
      const file = await new Promise<File>((ok, fail) => (entry as FileSystemFileEntry).file(ok, fail));
      out.push({ file, path: entry.fullPath });
    } else if (entry.isDirectory) {
      const reader = (entry as FileSystemDirectoryEntry).createReader();
      for (;;) {
        const batch = await new Promise<FileSystemEntry[]>((ok, fail) => reader.readEntries(ok, fail));
        if (batch.length === 0) break;
        for (const e of batch) await walk(e);
      }
    }
  };
  const roots = Array.from(transfer.items, (i) => i.webkitGetAsEntry()).filter(
    (e): e is FileSystemEntry => e !== null,
  );
  for (const r of roots) await walk(r);
  return toSet(out);
}
