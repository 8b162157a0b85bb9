// Images as tables (src/data/image.ts): the pixel layout, RGBA → planes, PIL's bilinear resize (values
// derived by hand below), the image preprocessing and its record in the model file's preprocessing.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  fitImagePreprocessing,
  imageTable,
  inputShape,
  resizeImage,
  rgbaToPlanes,
} from '../src/data/image.js';
import { checkPreprocessing, fitPreprocessing, transformFeatures } from '../src/data/preprocess.js';
import { makeTable, selectRows, type ImageInput } from '../src/data/table.js';
import { assertClose } from './helpers/close.js';

const rgb = (h: number, w: number): ImageInput => ({ shape: [3, h, w], maxValue: 255, resize: null });

/** Two 3×2×2 images whose value at (c, y, x) is 100·image + 10·c + 2·y + x, and their labels. */
function tiny() {
  const pixels = new Uint8Array(24);
  for (let n = 0; n < 2; n++)
    for (let c = 0; c < 3; c++)
      for (let y = 0; y < 2; y++)
        for (let x = 0; x < 2; x++) pixels[n * 12 + (c * 2 + y) * 2 + x] = 100 * n + 10 * c + 2 * y + x;
  return imageTable('tiny', pixels, rgb(2, 2), [{ name: 'label', values: ['a', 'b'] }]);
}

describe('image tables', () => {
  test('pixel (c, y, x) of image n is column px{(c·H + y)·W + x}, row n; the table carries the shape', () => {
    const t = tiny();
    assert.equal(t.numRows, 2);
    assert.deepEqual(
      t.columns.map((c) => c.name),
      [...Array.from({ length: 12 }, (_, i) => `px${i}`), 'label'],
    );
    // c = 2, y = 1, x = 0 → column (2·2 + 1)·2 + 0 = 10.
    assert.deepEqual(Array.from(t.columns[10].values as Uint8Array), [22, 122]);
    assert.ok(t.columns[0].values instanceof Uint8Array);
    assert.deepEqual(t.image, rgb(2, 2));
    assert.deepEqual(selectRows(t, [1]).image, rgb(2, 2));
    assert.deepEqual(Array.from(selectRows(t, [1]).columns[10].values as Uint8Array), [122]);
  });

  test('values that are not whole images are refused', () => {
    assert.throws(
      () => imageTable('x', new Uint8Array(13), rgb(2, 2)),
      /13 values are not whole images of 3×2×2/,
    );
  });

  test('RGBA → grey as PIL convert("L"), or RGB planes; alpha dropped', () => {
    // Two pixels: pure red (alpha 0) and (10, 200, 30).
    const rgba = new Uint8Array([255, 0, 0, 0, 10, 200, 30, 255]);
    assert.deepEqual(Array.from(rgbaToPlanes(rgba, 2, 1, 3)), [255, 10, 0, 200, 0, 30]);
    // (19595·255 + 32768) >> 16 = 76; (19595·10 + 38470·200 + 7471·30 + 32768) >> 16 = 124.
    assert.deepEqual(Array.from(rgbaToPlanes(rgba, 2, 1, 1)), [76, 124]);
    assert.throws(() => rgbaToPlanes(rgba, 3, 1, 1), /8 bytes are not 3×1 RGBA pixels/);
  });
});

describe("resizeImage: PIL's bilinear filter", () => {
  test('the same size is a copy; a constant image stays constant at any size', () => {
    const src = Uint8Array.from({ length: 12 }, (_, i) => i * 20);
    const same = resizeImage(src, 3, 2, 2, 2, 2);
    assert.deepEqual(same, src);
    assert.notEqual(same, src);
    const flat = new Uint8Array(2 * 7 * 5).fill(93);
    for (const [h, w] of [
      [3, 2],
      [14, 11],
      [1, 1],
      [7, 5],
    ])
      assert.ok(resizeImage(flat, 2, 7, 5, h, w).every((v) => v === 93));
  });

  test('shrinking 4 → 2 is antialiased: a triangle of radius 2, renormalized at the border', () => {
    // Output 0 is centred at input 1 (pixel centres at i + 0.5): inputs 0, 1, 2 weigh 0.75, 0.75, 0.25
    // (1 − |i + 0.5 − 1| / 2), so 255·(1/7) = 36.4 → 36; output 1 mirrors it: 255·(6/7) = 218.6 → 219.
    assert.deepEqual(Array.from(resizeImage(new Uint8Array([0, 0, 255, 255]), 1, 1, 4, 1, 2)), [36, 219]);
    // Both axes at once, each plane alone.
    const src = new Uint8Array([0, 0, 255, 255, 0, 0, 255, 255, 9, 9, 9, 9, 9, 9, 9, 9]);
    assert.deepEqual(Array.from(resizeImage(src, 2, 2, 4, 1, 2)), [36, 219, 9, 9]);
  });

  test('growing 2 → 4 is plain bilinear with half-pixel centres (torch align_corners=False)', () => {
    // Outputs centred at 0.25, 0.75, 1.25, 1.75 in input coordinates: 0, 255/4, 3·255/4, 255.
    assert.deepEqual(Array.from(resizeImage(new Uint8Array([0, 255]), 1, 1, 2, 1, 4)), [0, 64, 191, 255]);
    assert.deepEqual(Array.from(resizeImage(new Uint8Array([0, 255]), 1, 2, 1, 4, 1)), [0, 64, 191, 255]);
  });

  test('bad sizes are refused', () => {
    assert.throws(() => resizeImage(new Uint8Array(5), 1, 2, 2, 1, 1), /5 values are not 1×2×2/);
    assert.throws(() => resizeImage(new Uint8Array(4), 1, 2, 2, 0, 1), /at least 1×1; got 1×0/);
  });
});

describe('image preprocessing', () => {
  test("'unit' divides by the full intensity; mean and std are per channel on that scale", () => {
    const t = tiny();
    let pre = fitImagePreprocessing(t);
    assert.deepEqual(pre.image, rgb(2, 2));
    assert.deepEqual(inputShape(pre), [3, 2, 2]);
    assert.equal(pre.inputSize, 12);
    assert.deepEqual(pre.target, { name: 'label', kind: 'classes', classes: ['a', 'b'] });
    assert.ok(pre.features.every((f) => f.kind === 'numeric' && f.mean === 0 && f.std === 255));
    const x = transformFeatures(pre, t, 'float64');
    assert.deepEqual(x.shape, [2, 12]);
    assertClose(
      x.data,
      Array.from(x.data, (_, i) => [...tinyRow(0), ...tinyRow(1)][i] / 255),
      {
        rel: 1e-15,
        what: 'x / 255',
      },
    );
    pre = fitImagePreprocessing(t, { mean: [0.5, 0.25, 0], std: [0.5, 0.5, 2] });
    const f = pre.features as { mean: number; std: number }[];
    // Channel c fills features 4c … 4c + 3.
    assert.deepEqual(
      [f[0], f[3], f[4], f[11]].map((g) => [g.mean, g.std]),
      [
        [127.5, 127.5],
        [127.5, 127.5],
        [63.75, 127.5],
        [0, 510],
      ],
    );
  });

  test("'channel' fits each channel's mean and deviation over every image and pixel", () => {
    const pre = fitImagePreprocessing(tiny(), { scaling: 'channel' });
    // Channel 0 holds 0, 1, 2, 3, 100, 101, 102, 103: mean 51.5, population variance 50² + 1.25 (the spread of 0…3).
    const f0 = pre.features[0] as { mean: number; std: number };
    assertClose([f0.mean, f0.std], [51.5, Math.sqrt(2501.25)], { rel: 1e-14, what: 'channel 0' });
    const f8 = pre.features[8] as { mean: number; std: number };
    assertClose([f8.mean, f8.std], [71.5, Math.sqrt(2501.25)], { rel: 1e-14, what: 'channel 2' });
  });

  test('per-pixel scalings work as for any numeric column', () => {
    const t = tiny();
    const pre = fitImagePreprocessing(t, { scaling: 'minmax' });
    const plain = fitPreprocessing(t, {
      target: 'label',
      scaling: 'minmax',
      features: t.columns.slice(0, 12).map((c) => c.name),
    });
    assert.deepEqual(pre.features, plain.features);
    assert.deepEqual(pre.image, rgb(2, 2));
  });

  test('mean/std that do not fit, and tables that are not images, are refused', () => {
    const t = tiny();
    assert.throws(
      () => fitImagePreprocessing(t, { mean: [0.5] }),
      /tiny: 1 mean value for images of 3 channels; give one per channel/,
    );
    assert.throws(
      () => fitImagePreprocessing(t, { std: [1, 0, 1] }),
      /std values must be finite and positive/,
    );
    assert.throws(
      () => fitImagePreprocessing(t, { scaling: 'channel', mean: [0, 0, 0] }),
      /a per-channel mean applies to 'unit' scaling, not 'channel'/,
    );
    const csv = makeTable('rows.csv', [
      { name: 'a', values: [1, 2] },
      { name: 'label', values: ['x', 'y'] },
    ]);
    assert.throws(() => fitImagePreprocessing(csv), /rows.csv: not a table of images/);
  });

  test('the record survives JSON and checkPreprocessing; a wrong shape or filter is named', () => {
    const pre = fitImagePreprocessing(tiny());
    const back = checkPreprocessing(
      JSON.parse(JSON.stringify({ ...pre, image: { ...pre.image, resize: 'bilinear' } })),
    );
    assert.deepEqual(back.image, { shape: [3, 2, 2], maxValue: 255, resize: 'bilinear' });
    const withImage = (image: unknown) => checkPreprocessing(JSON.parse(JSON.stringify({ ...pre, image })));
    assert.throws(
      () => withImage({ shape: [3, 2, 3], maxValue: 255, resize: null }),
      /preprocessing.image.shape: expected a shape whose 12 pixels are the features px0 … px11/,
    );
    assert.throws(
      () => withImage({ shape: [3, 4], maxValue: 255, resize: null }),
      /\[channels, height, width\] of positive integers/,
    );
    assert.throws(
      () => withImage({ shape: [3, 2, 2], maxValue: 0, resize: null }),
      /image.maxValue: expected a positive number, got 0/,
    );
    assert.throws(
      () => withImage({ shape: [3, 2, 2], maxValue: 255, resize: 'cubic' }),
      /image.resize: expected null or one of 'bilinear', got "cubic"/,
    );
    // A model without images reads back without the field.
    assert.equal(
      checkPreprocessing(JSON.parse(JSON.stringify({ ...pre, image: undefined }))).image,
      undefined,
    );
    assert.deepEqual(inputShape({ ...pre, image: undefined }), [12]);
  });
});

function tinyRow(n: number): number[] {
  return Array.from({ length: 12 }, (_, i) => {
    const c = Math.floor(i / 4);
    const y = Math.floor((i % 4) / 2);
    const x = i % 2;
    return 100 * n + 10 * c + 2 * y + x;
  });
}
