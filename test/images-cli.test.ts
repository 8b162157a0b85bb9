// A folder of images through the command line, on real PNG and JPEG files written here with the encoders of
// the libraries that decode them: train an MLP, info, eval, predict on a file and a folder; the image
// record in the model file; and the errors (corrupt file, mixed sizes, empty class folder, a file that is
// not an image), each naming the file, exit 2, no stack trace.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { imageFolderFiles, readImageFolder, readImages } from '../cli/images.js';
import { isNumeric, type Table } from '../src/data/table.js';
import { runCli, spawnCli } from './helpers/cli.js';

let dir = '';
const cli = (...args: string[]) => runCli(args, dir);

/** A seeded stream of integers 0…n−1 (a linear congruential generator: the test needs no more). */
function lcg(seed: number): (n: number) => number {
  let s = seed >>> 0;
  return (n) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % n;
  };
}

/** RGBA pixels of a width × height image: a base colour with a little noise. */
function rgba(width: number, height: number, base: [number, number, number], next: (n: number) => number) {
  const data = Buffer.alloc(width * height * 4);
  for (let i = 0; i < width * height; i++) {
    for (let c = 0; c < 3; c++) data[4 * i + c] = Math.min(255, Math.max(0, base[c] + next(41) - 20));
    data[4 * i + 3] = 255;
  }
  return { width, height, data };
}

function png(image: { width: number; height: number; data: Buffer }): Buffer {
  const p = new PNG({ width: image.width, height: image.height });
  image.data.copy(p.data);
  return PNG.sync.write(p);
}

/** The RGBA bytes written into each PNG, by path relative to `dir`, to compare with what is read back. */
const written = new Map<string, Buffer>();

/** photos/red and photos/blue, 12 images of 8×8 each, PNG and JPEG alternating (PNGs remembered). */
function writePhotos(folder: string, seed: number, size: [number, number] = [8, 8]): void {
  const next = lcg(seed);
  const colours: Record<string, [number, number, number]> = { blue: [30, 60, 210], red: [210, 40, 40] };
  for (const [name, base] of Object.entries(colours)) {
    mkdirSync(join(dir, folder, name), { recursive: true });
    for (let i = 0; i < 12; i++) {
      const image = rgba(size[0], size[1], base, next);
      const file = join(folder, name, `${String(i).padStart(2, '0')}.${i % 2 ? 'jpg' : 'png'}`);
      if (i % 2) writeFileSync(join(dir, file), jpeg.encode(image, 90).data);
      else {
        writeFileSync(join(dir, file), png(image));
        written.set(file, image.data);
      }
    }
  }
}

function column(table: Table, name: string) {
  const c = table.columns.find((col) => col.name === name);
  assert.ok(c, `no column ${name}`);
  return c.values;
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'chainrule-images-'));
  writePhotos('photos', 1);
  writePhotos('holiday', 2);
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('reading a folder of images', () => {
  test('classes in sorted folder order, files sorted; PNG pixels read back exactly, channel-major', async () => {
    const files = await imageFolderFiles(join(dir, 'photos'), 'photos', { labels: true });
    assert.equal(files.length, 24);
    assert.deepEqual(
      files.slice(0, 3).map((f) => [f.shown, f.label]),
      [
        [join('photos', 'blue', '00.png'), 'blue'],
        [join('photos', 'blue', '01.jpg'), 'blue'],
        [join('photos', 'blue', '02.png'), 'blue'],
      ],
    );
    assert.equal(files[12].label, 'red');
    const t = await readImageFolder(join(dir, 'photos'), 'photos', {
      channels: 3,
      size: null,
      resize: null,
      maxValue: 255,
      labels: true,
    });
    assert.deepEqual(t.image, { shape: [3, 8, 8], maxValue: 255, resize: null });
    assert.equal(t.numRows, 24);
    assert.deepEqual(
      t.columns.slice(-2).map((c) => c.name),
      ['file', 'label'],
    );
    const names = column(t, 'file') as string[];
    for (const [file, bytes] of written) {
      if (!file.startsWith('photos')) continue;
      const r = names.indexOf(file);
      // Pixel (c, y, x) is column (c·8 + y)·8 + x; the PNG holds it at byte 4(8y + x) + c.
      for (const [c, y, x] of [
        [0, 0, 0],
        [1, 3, 5],
        [2, 7, 7],
      ])
        assert.equal(
          t.columns[(c * 8 + y) * 8 + x].values[r],
          bytes[4 * (8 * y + x) + c],
          `${file} (${c},${y},${x})`,
        );
    }
  });

  test('grey and resized: PIL luma, then the bilinear filter; 8-bit files scaled for a model whose pixels run to 16', async () => {
    const files = [{ path: join(dir, 'photos', 'red', '00.png'), shown: 'red.png' }];
    const grey = await readImages(files, 'red.png', {
      channels: 1,
      size: [4, 2],
      resize: 'bilinear',
      maxValue: 255,
    });
    assert.deepEqual(grey.image, { shape: [1, 4, 2], maxValue: 255, resize: 'bilinear' });
    assert.equal(grey.columns.length, 8 + 1);
    const digitsLike = await readImages(files, 'red.png', {
      channels: 1,
      size: null,
      resize: null,
      maxValue: 16,
    });
    const bytes = written.get(join('photos', 'red', '00.png'))!;
    const luma = (19595 * bytes[0] + 38470 * bytes[1] + 7471 * bytes[2] + 0x8000) >>> 16;
    assert.ok(digitsLike.columns[0].values instanceof Float32Array);
    assert.equal(digitsLike.columns[0].values[0], Math.fround((luma * 16) / 255));
    assert.ok(isNumeric(digitsLike.columns[0]));
  });
});

describe('train, info, eval and predict on a folder of images', () => {
  test('an MLP learns red from blue; the model file records the image input', async () => {
    const r = await cli(
      'train',
      '--data',
      'photos',
      '--layers',
      '8',
      '--epochs',
      '40',
      '--val',
      '0',
      '--seed',
      '1',
      '--out',
      'photos.json',
    );
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /data: photos, 24 images 3×8×8 \(C×H×W\); classification .*pixels ÷ 255 → \[0, 1\]/);
    assert.match(r.err, /model: 192-8-2 relu/);
    const final = /epoch 40\/40 .*acc ([\d.]+)%/.exec(r.err);
    assert.ok(final && Number(final[1]) === 100, r.err.slice(-300));
    const doc = JSON.parse(readFileSync(join(dir, 'photos.json'), 'utf8'));
    assert.deepEqual(doc.preprocessing.image, { shape: [3, 8, 8], maxValue: 255, resize: null });
    assert.deepEqual(doc.preprocessing.target.classes, ['blue', 'red']);
    assert.equal(doc.preprocessing.inputSize, 192);
    assert.deepEqual(doc.preprocessing.features[191], { name: 'px191', kind: 'numeric', mean: 0, std: 255 });
  });

  test('info shows the image shape, how files are read and the scaling per channel', async () => {
    const r = await cli('info', 'photos.json');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /images 3×8×8 \(C×H×W; each row px0 … px191, channel after channel\)/);
    assert.match(r.out, /image files: read as RGB, 8×8 pixels required \(not resized\), full intensity 255/);
    assert.match(r.out, /channel 2 \(blue\): \(x − 0\) \/ 255/);
  });

  test('eval on another labelled folder; predict on a folder and on one file, named by file', async () => {
    const e = await cli('eval', '--model', 'photos.json', '--data', 'holiday');
    assert.equal(e.code, 0, e.err);
    assert.match(e.out, /accuracy 100\.0+%/);
    const p = await cli('predict', '--model', 'photos.json', '--data', 'holiday');
    assert.equal(p.code, 0, p.err);
    const lines = p.out.trim().split('\n');
    assert.equal(lines[0], 'file,predicted_label,p_blue,p_red');
    assert.equal(lines.length, 25);
    for (const line of lines.slice(1)) {
      const [file, predicted] = line.split(',');
      assert.equal(predicted, file.split('/')[1], line);
    }
    const one = await cli('predict', '--model', 'photos.json', '--data', join('holiday', 'red', '03.jpg'));
    assert.equal(one.code, 0, one.err);
    assert.match(one.out.split('\n')[1], /^holiday\/red\/03\.jpg,red,/);
    // A folder of images with no class folders is fine for predict.
    mkdirSync(join(dir, 'loose'));
    copyFileSync(join(dir, 'holiday', 'blue', '00.png'), join(dir, 'loose', 'a.png'));
    const loose = await cli('predict', '--model', 'photos.json', '--data', 'loose');
    assert.equal(loose.code, 0, loose.err);
    assert.match(loose.out, /\nloose\/a\.png,blue,/);
  });

  test('--resize and --grayscale: mixed sizes train, predict resizes as the model says', async () => {
    writePhotos('mixed', 3);
    writeFileSync(join(dir, 'mixed', 'red', 'big.png'), png(rgba(13, 9, [210, 40, 40], lcg(4))));
    const r = await cli(
      'train',
      '--data',
      'mixed',
      '--resize',
      '6x4',
      '--grayscale',
      '--layers',
      '4',
      '--epochs',
      '2',
      '--out',
      'grey.json',
      '--quiet',
    );
    assert.equal(r.code, 0, r.err);
    const doc = JSON.parse(readFileSync(join(dir, 'grey.json'), 'utf8'));
    assert.deepEqual(doc.preprocessing.image, { shape: [1, 4, 6], maxValue: 255, resize: 'bilinear' });
    assert.deepEqual(doc.training.settings.resize, [4, 6]);
    // A checkpoint carries the image flags: the resumed run reads the folder the same way.
    const c = await cli(
      'train',
      '--data',
      'mixed',
      '--resize',
      '6x4',
      '--grayscale',
      '--layers',
      '4',
      '--epochs',
      '2',
      '--checkpoint-every',
      '1',
      '--out',
      'grey2.json',
      '--quiet',
    );
    assert.equal(c.code, 0, c.err);
    const resumed = await cli('train', '--resume', 'grey2.ckpt.json', '--epochs', '3', '--quiet');
    assert.equal(resumed.code, 0, resumed.err);
    assert.deepEqual(
      JSON.parse(readFileSync(join(dir, 'grey2.json'), 'utf8')).preprocessing,
      doc.preprocessing,
    );
    const p = await cli('predict', '--model', 'grey.json', '--data', join('mixed', 'red', 'big.png'));
    assert.equal(p.code, 0, p.err);
    assert.match((await cli('info', 'grey.json')).out, /read as grey \(luma\), resized to 6×4 \(bilinear\)/);
  });

  test('per-channel mean and std are saved as each pixel feature’s mean and std', async () => {
    const r = await cli(
      'train',
      '--data',
      'photos',
      '--mean',
      '0.5,0.25,0',
      '--std',
      '0.5,0.5,2',
      '--epochs',
      '1',
      '--out',
      'norm.json',
      '--quiet',
    );
    assert.equal(r.code, 0, r.err);
    const f = JSON.parse(readFileSync(join(dir, 'norm.json'), 'utf8')).preprocessing.features;
    assert.deepEqual(
      [f[0], f[64], f[128]].map((g: { mean: number; std: number }) => [g.mean, g.std]),
      [
        [127.5, 127.5],
        [63.75, 127.5],
        [0, 510],
      ],
    );
    const bad = await cli('train', '--data', 'photos', '--mean', '0.5', '--epochs', '1');
    assert.equal(bad.code, 2);
    assert.match(bad.err, /--mean\/--std: photos: 1 mean value for images of 3 channels/);
  });
});

describe('built-in image sets', () => {
  test('a digits model predicts on an 8×8 PNG: grey, 8-bit values brought to its 0–16', async () => {
    const r = await cli(
      'train',
      '--data',
      'digits',
      '--layers',
      '16',
      '--epochs',
      '3',
      '--out',
      'digits.json',
      '--quiet',
    );
    assert.equal(r.code, 0, r.err);
    const doc = JSON.parse(readFileSync(join(dir, 'digits.json'), 'utf8'));
    assert.deepEqual(doc.preprocessing.image, { shape: [1, 8, 8], maxValue: 16, resize: null });
    writeFileSync(join(dir, 'digit.png'), png(rgba(8, 8, [128, 128, 128], lcg(9))));
    const p = await cli('predict', '--model', 'digits.json', '--data', 'digit.png');
    assert.equal(p.code, 0, p.err);
    assert.match(p.out, /^file,predicted_label,p_0,p_1,.*,p_9\ndigit\.png,\d,/);
    assert.match(
      (await cli('info', 'digits.json')).out,
      /images 1×8×8 .*\n.*read as grey \(luma\), 8×8 pixels required \(not resized\), full intensity 16/,
    );
  });
});

describe('idx data sets in a folder the user names', () => {
  test('--data fashion-mnist:DIR trains on its split and tests on t10k; a missing folder is named', async () => {
    const idx = (magic: number, dims: number[], values: number[]) => {
      const header = Buffer.alloc(4 + 4 * dims.length);
      header.writeUInt32BE(magic, 0);
      dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
      return gzipSync(Buffer.concat([header, Buffer.from(values)]));
    };
    mkdirSync(join(dir, 'idx'));
    for (const [split, n] of [
      ['train', 20],
      ['t10k', 4],
    ] as const) {
      const classes = Array.from({ length: n }, (_, i) => (i % 2 ? 8 : 1)); // Bag, Trouser
      const pixels = classes.flatMap((c) => new Array<number>(16).fill(c === 8 ? 200 : 20));
      writeFileSync(join(dir, 'idx', `${split}-images-idx3-ubyte.gz`), idx(0x803, [n, 4, 4], pixels));
      writeFileSync(join(dir, 'idx', `${split}-labels-idx1-ubyte.gz`), idx(0x801, [n], classes));
    }
    const r = await cli(
      'train',
      '--data',
      'fashion-mnist:idx',
      '--epochs',
      '1',
      '--val',
      '0',
      '--out',
      'f.json',
    );
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /data: built-in 'fashion-mnist:idx', 20 images 1×4×4 \(C×H×W\)/);
    assert.match(r.err, /target 'label' has 2 classes \(Bag, Trouser\)/);
    assert.match(r.err, /test \(4 held-out rows of 'fashion-mnist:idx'\)/);
    const missing = await cli('train', '--data', 'mnist:nowhere');
    assert.equal(missing.code, 2);
    assert.match(missing.err, /--data mnist:nowhere: no folder 'nowhere' with mnist's idx files/);
  });
});

describe('bad image data: a message naming the file, exit 2', () => {
  /** A copy of photos/ to break; returns its name. */
  function copyOfPhotos(name: string): string {
    writePhotos(name, 5);
    return name;
  }

  test('a corrupt PNG, through the real process: no stack trace, no model written', async () => {
    const d = copyOfPhotos('corrupt');
    const good = readFileSync(join(dir, d, 'red', '00.png'));
    writeFileSync(join(dir, d, 'red', '00.png'), good.subarray(0, good.length - 30));
    const r = await spawnCli(['train', '--data', d, '--out', 'corrupt.json'], dir);
    assert.equal(r.code, 2);
    assert.match(r.err, /corrupt\/red\/00\.png: not a readable PNG image \(corrupt or truncated/);
    assert.doesNotMatch(r.err, /\n\s+at /);
    assert.ok(!existsSync(join(dir, 'corrupt.json')));
  });

  test('a truncated JPEG', async () => {
    const d = copyOfPhotos('badjpeg');
    const good = readFileSync(join(dir, d, 'blue', '01.jpg'));
    writeFileSync(join(dir, d, 'blue', '01.jpg'), good.subarray(0, good.length >> 1));
    const r = await cli('train', '--data', d);
    assert.equal(r.code, 2);
    assert.match(r.err, /badjpeg\/blue\/01\.jpg: not a readable JPEG image/);
  });

  test('images of mixed sizes without --resize name both files', async () => {
    const d = copyOfPhotos('sizes');
    writeFileSync(join(dir, d, 'red', 'wide.png'), png(rgba(10, 8, [200, 0, 0], lcg(1))));
    const r = await cli('train', '--data', d);
    assert.equal(r.code, 2);
    assert.match(
      r.err,
      /sizes\/red\/wide\.png: 10×8 pixels, but sizes\/blue\/00\.png is 8×8; images of mixed sizes need --resize/,
    );
    const p = await cli('predict', '--model', 'photos.json', '--data', join(d, 'red', 'wide.png'));
    assert.equal(p.code, 2);
    assert.match(
      p.err,
      /wide\.png: 10×8 pixels, but the model takes 8×8 images \(it was trained without --resize\)/,
    );
  });

  test('an empty class folder, a file that is not an image, a folder without classes', async () => {
    let d = copyOfPhotos('empty');
    mkdirSync(join(dir, d, 'green'));
    let r = await cli('train', '--data', d);
    assert.equal(r.code, 2);
    assert.match(r.err, /empty\/green: an empty class folder; every class needs at least one image/);
    d = copyOfPhotos('notes');
    writeFileSync(join(dir, d, 'red', 'notes.txt'), 'taken in spring\n');
    r = await cli('train', '--data', d);
    assert.equal(r.code, 2);
    assert.match(
      r.err,
      /notes\/red\/notes\.txt: not a PNG or JPEG image \(it starts with bytes 74 61 6b 65\)/,
    );
    r = await cli('train', '--data', 'loose');
    assert.equal(r.code, 2);
    assert.match(r.err, /loose: image files but no class folders; training needs one subfolder per class/);
  });

  test('image flags on data that is not images, images for a model that is not an image model', async () => {
    writeFileSync(join(dir, 'rows.csv'), 'a,b,label\n1,2,x\n3,4,y\n5,6,x\n7,8,y\n');
    let r = await cli('train', '--data', 'rows.csv', '--resize', '8x8');
    assert.match(r.err, /train: --resize applies to a folder of images, not to rows\.csv/);
    r = await cli('train', '--data', 'rows.csv', '--scale', 'unit');
    assert.match(r.err, /--scale unit applies to images/);
    r = await cli('train', '--data', 'photos', '--resize', '8by8');
    assert.match(
      r.err,
      /--resize: expected WIDTHxHEIGHT in pixels, each 1–4096 \(e\.g\. 32x32\), got '8by8'/,
    );
    r = await cli('train', '--data', 'rows.csv', '--epochs', '1', '--out', 'rows.json', '--quiet');
    assert.equal(r.code, 0, r.err);
    r = await cli('predict', '--model', 'rows.json', '--data', 'photos');
    assert.equal(r.code, 2);
    assert.match(r.err, /--data photos: a folder of images, but the model was not trained on images/);
  });
});
