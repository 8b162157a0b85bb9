// The Images page's library side in Node: the image sets' bytes, runs trained a batch or a time slice at a
// time, the inspection of one image (every hover formula recomputes the library's number; the input
// gradient is the finite difference), exports, the drawing's preparation, folders, the URL state — and the
// dense page's fix: a link naming the seed dataset gets the notebook's preset whole.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { modelFromJSON, noGrad, softmax, Tensor } from '../src/index.js';
import * as pg from '../src/playground/index.js';
import { assertClose } from './helpers/close.js';
import { runCli } from './helpers/cli.js';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { mnistDirectory, readIdx } from '../cli/datasets.js';
import { digitsImageSet, DIGITS_TRAIN, mnistImageSet, MNIST_SUBSET } from '../web/images.assets.js';
import {
  DEFAULT_IMAGES_STATE,
  imageConfigOf,
  imagesStateFromHash,
  imagesStateToHash,
  presetState,
} from '../web/images.state.js';
import { configOf, stateFromHash } from '../web/state.js';

const digits = await digitsImageSet();
const weights = (run: pg.ImageRun) => run.model.parameters().map((p) => Array.from(p.data));
const testImage = (set: pg.ImageSet, k: number) => {
  const size = set.shape[0] * set.shape[1] * set.shape[2];
  return Array.from(set.test.pixels.subarray(k * size, (k + 1) * size), (v) => v / set.maxValue);
};

/** A small MNIST-shaped set from the digits, so strided and padded networks meet a 28×28 image in Node quickly. */
function upscaled(set: pg.ImageSet, train: number, testCount: number): pg.ImageSet {
  const grow = (split: pg.ImageSplit, count: number): pg.ImageSplit => {
    const pixels = new Uint8Array(count * 784);
    for (let i = 0; i < count; i++)
      for (let y = 0; y < 28; y++)
        for (let x = 0; x < 28; x++)
          pixels[i * 784 + y * 28 + x] =
            split.pixels[i * 64 + Math.floor((y * 8) / 28) * 8 + Math.floor((x * 8) / 28)] * 15;
    return { count, pixels, labels: split.labels.slice(0, count) };
  };
  return {
    ...set,
    shape: [1, 28, 28],
    maxValue: 255,
    train: grow(set.train, train),
    test: grow(set.test, testCount),
  };
}

describe('image sets', () => {
  test('encode and decode to the same set; bad bytes name the source and the problem', () => {
    const bytes = pg.encodeImageSet(digits);
    const back = pg.decodeImageSet(bytes, 'digits.bin');
    assert.deepEqual(back, digits);
    assert.deepEqual([back.train.count, back.test.count, DIGITS_TRAIN], [1437, 360, 1437]);
    assert.throws(
      () => pg.decodeImageSet(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]), 'x.bin'),
      /x\.bin: not an encoded image set/,
    );
    assert.throws(
      () => pg.decodeImageSet(bytes.subarray(0, bytes.length - 1), 'y.bin'),
      /y\.bin: 1797 images of 64 bytes and 1797 labels need/,
    );
  });

  test("MNIST: the first 20,000 training and 2,000 test images, with the preset the README's 97% was measured with", async () => {
    assert.deepEqual(MNIST_SUBSET, { train: 20_000, test: 2_000 });
    const set = await mnistImageSet();
    const dir = mnistDirectory();
    for (const [split, file, count] of [
      [set.train, 'train', 20_000],
      [set.test, 't10k', 2_000],
    ] as const) {
      assert.equal(split.count, count);
      const images = await readIdx(join(dir, `${file}-images-idx3-ubyte`));
      const labels = await readIdx(join(dir, `${file}-labels-idx1-ubyte`));
      assert.deepEqual(split.pixels, images.data.subarray(0, count * 784), `${file} pixels`);
      assert.deepEqual(split.labels, labels.data.subarray(0, count), `${file} labels`);
    }
    assert.equal(pg.IMAGE_DATASETS.mnist.label, 'MNIST (22k)');
    assert.match(pg.IMAGE_DATASETS.mnist.split, /^the first 20,000 of .* the first 2,000 of/);
    assert.deepEqual(pg.IMAGE_PRESETS.mnist, {
      dataset: 'mnist',
      arch: 'conv 8 3 relu, maxpool 2, conv 16 3 relu, maxpool 2, flatten, linear',
      optimizer: 'adam',
      learningRate: 0.002,
      batchSize: 32,
    });
  });

  test('a folder: sorted classes, every fifth image in path order tests, errors say what was expected', () => {
    const image = (path: string, label: string, v: number) => ({
      path,
      label,
      pixels: new Uint8Array(784).fill(v),
    });
    const images = Array.from({ length: 12 }, (_, i) =>
      image(`shapes/${i % 2 ? 'b' : 'a'}/${String(i).padStart(2, '0')}.png`, i % 2 ? 'b' : 'a', i),
    );
    const set = pg.folderImageSet('shapes', images.reverse());
    assert.deepEqual(set.classes, ['a', 'b']);
    assert.deepEqual([set.train.count, set.test.count], [10, 2]);
    // Sorted by path (a/00, a/02, … a/10, b/01, … b/11): the 5th and 10th, a/08 and b/07, test.
    assert.deepEqual([set.test.pixels[0], set.test.pixels[784], ...set.test.labels], [8, 7, 0, 1]);
    assert.throws(
      () =>
        pg.folderImageSet(
          'one',
          images.filter((i) => i.label === 'a'),
        ),
      /two sub-folders or more.*only 'a'/,
    );
    assert.throws(() => pg.folderImageSet('few', images.slice(0, 4)), /at least 10 images, got 4/);
  });

  test('a drawing becomes an input as MNIST prepared its digits: 20-pixel box, centre of mass in the middle', () => {
    const grey = new Uint8Array(280 * 280);
    assert.ok(pg.drawingToImage(grey, 280, 280, [1, 28, 28]).every((v) => v === 0));
    // A bar 40 wide and 200 tall, off to the top left.
    for (let y = 10; y < 210; y++) for (let x = 5; x < 45; x++) grey[y * 280 + x] = 255;
    const img = pg.drawingToImage(grey, 280, 280, [1, 28, 28]);
    const rows = Array.from({ length: 28 }, (_, y) => img.subarray(y * 28, y * 28 + 28).some((v) => v > 0));
    const cols = Array.from({ length: 28 }, (_, x) => rows.some((_, y) => img[y * 28 + x] > 0));
    assert.deepEqual([rows.indexOf(true), rows.lastIndexOf(true)], [4, 23]);
    assert.deepEqual([cols.indexOf(true), cols.lastIndexOf(true)], [12, 15]);
    assert.equal(Math.max(...img), 1);
    // 8×8: the box fills the frame's height.
    const small = pg.drawingToImage(grey, 280, 280, [1, 8, 8]);
    assert.ok(small[3] > 0 && small[7 * 8 + 3] > 0);
  });
});

describe('an Images run', () => {
  test('is deterministic; batches one at a time give the bits of time slices; another seed differs', () => {
    const config = { ...pg.IMAGE_PRESETS.digits, seed: 5 };
    const a = pg.createImageRun(config, digits);
    const b = pg.createImageRun(config, digits);
    // Slices of time stop after whatever batch passes the deadline: the same steps one at a time agree.
    while (b.steps < a.batchesPerEpoch + 3) b.train(performance.now() + 5, true);
    while (a.steps < b.steps) a.step();
    assert.deepEqual(weights(a), weights(b));
    assert.deepEqual(a.losses, b.losses);
    assert.deepEqual([a.epoch, a.evaluations.length], [b.epoch, b.epoch + 1]);
    assert.deepEqual(a.evaluations, b.evaluations);
    const c = pg.createImageRun({ ...config, seed: 6 }, digits);
    assert.notDeepEqual(weights(c), weights(pg.createImageRun(config, digits)));
  });

  test('learns the 8×8 digits: above 85% test accuracy after two epochs', () => {
    const run = pg.createImageRun({ ...pg.IMAGE_PRESETS.digits, seed: 1 }, digits);
    for (let i = 0; i < 2 * run.batchesPerEpoch; i++) run.step();
    const last = run.evaluations[run.evaluations.length - 1];
    assert.equal(last.epoch, 2);
    assert.ok(last.testAccuracy > 0.85, `test accuracy ${last.testAccuracy}`);
  });

  for (const [what, arch, set] of [
    ['digits preset', pg.IMAGE_PRESETS.digits.arch, digits],
    [
      '28×28, stride, padding, two convolutions, a hidden Linear',
      'conv 3 3 relu padding=1, maxpool 2, conv 4 3 tanh stride=2, maxpool 2 stride=1, flatten, linear 12 sigmoid, linear',
      upscaled(digits, 64, 4),
    ],
  ] as const)
    test(`inspect (${what}): every cell's formula recomputes the library's number`, () => {
      const run = pg.createImageRun({ ...pg.IMAGE_PRESETS.digits, arch, seed: 3 }, set);
      for (let i = 0; i < 3; i++) run.step();
      const ins = run.inspect(testImage(set, 1), set.test.labels[1]);
      let checked = 0;
      const check = (place: pg.CellPlace) => {
        const e = pg.explainCell(ins, place);
        assert.ok(e.title && e.formula, JSON.stringify(place));
        if (Number.isNaN(e.recomputed)) return;
        checked++;
        assertClose(e.recomputed, e.value, { rel: 1e-12, abs: 1e-15, what: `${e.title}: ${e.formula}` });
      };
      ins.input.values.forEach(
        (_, i) => (check({ of: 'input', index: i }), check({ of: 'inputGrad', index: i })),
      );
      ins.probabilities.forEach((_, i) => check({ of: 'probability', index: i }));
      ins.layers.forEach((l, k) => {
        l.values.forEach(
          (_, i) => (check({ of: 'value', layer: k, index: i }), check({ of: 'grad', layer: k, index: i })),
        );
        l.weight?.values.forEach(
          (_, i) => (
            check({ of: 'weight', layer: k, index: i }),
            check({ of: 'weightGrad', layer: k, index: i })
          ),
        );
        l.bias?.values.forEach((_, i) => check({ of: 'biasGrad', layer: k, index: i }));
      });
      assert.ok(checked > 1000, `${checked} cells checked`);
    });

  test('inspect is one step on the image without taking it: autograd, finite differences, routes', () => {
    const run = pg.createImageRun({ ...pg.IMAGE_PRESETS.digits, seed: 2 }, digits);
    for (let i = 0; i < 5; i++) run.step();
    const before = weights(run);
    const grads = run.model.parameters().map((p) => (p.grad ? Array.from(p.grad.data) : null));
    const optimizerState = JSON.stringify(run.optimizer.stateDict());
    const image = testImage(digits, 0);
    const ins = run.inspect(image, 3);
    assert.deepEqual(weights(run), before);
    assert.deepEqual(
      run.model.parameters().map((p) => (p.grad ? Array.from(p.grad.data) : null)),
      grads,
    );
    assert.equal(JSON.stringify(run.optimizer.stateDict()), optimizerState);
    // The loss and the probabilities are the model's, in evaluation mode.
    const logits = noGrad(() => run.model.forward(new Tensor(Float64Array.from(image), [1, 64])));
    assert.deepEqual(Array.from(ins.probabilities), Array.from(softmax(logits, -1).data));
    assertClose(ins.loss, -Math.log(ins.probabilities[3]), { rel: 1e-12 });
    // ∂L/∂x against central differences.
    const loss = (x: number[]) => -Math.log(run.inspect(x, 3).probabilities[3]);
    for (const p of [19, 27, 36, 44]) {
      const h = 1e-6;
      const up = image.slice();
      const down = image.slice();
      up[p] += h;
      down[p] -= h;
      assertClose(ins.input.grad[p], (loss(up) - loss(down)) / (2 * h), {
        rel: 1e-5,
        abs: 1e-9,
        what: `∂L/∂x[${p}]`,
      });
    }
    // Every max-pool output came from its route, the largest value of its window.
    const k = ins.layers.findIndex((l) => l.spec.type === 'maxPool2d');
    const pool = ins.layers[k];
    const input = ins.layers[k - 1];
    pool.values.forEach((v, o) => {
      const r = (pool.routes as Int32Array)[o];
      assert.equal(input.values[r], v);
      const [c, i, j] = [Math.floor(o / 9), Math.floor((o % 9) / 3), o % 3];
      for (const [u, w] of [
        [0, 0],
        [0, 1],
        [1, 0],
        [1, 1],
      ])
        assert.ok(input.values[(c * 6 + 2 * i + u) * 6 + 2 * j + w] <= v);
    });
    assert.throws(() => run.inspect(image.slice(1), 0), /expected 1×8×8 = 64 values, got 63/);
    assert.throws(() => run.inspect(image, 10), /expected a label 0–9, got 10/);
  });

  test('exports a model file that loads and predicts as the run does, and ONNX that onnxruntime runs to the run’s predictions', async () => {
    const run = pg.createImageRun({ ...pg.IMAGE_PRESETS.digits, seed: 4 }, digits);
    for (let i = 0; i < 10; i++) run.step();
    const { model, file } = modelFromJSON(run.toModelFile(), 'export');
    assert.equal(file.dtype, 'float64');
    const image = testImage(digits, 2);
    const logits = noGrad(() => model.forward(new Tensor(Float64Array.from(image), [1, 64])));
    assert.deepEqual(Array.from(softmax(logits, -1).data), Array.from(run.predict(image)));
    // predict is inspect's forward without its backward: the same probabilities.
    assert.deepEqual(Array.from(run.predict(image)), Array.from(run.inspect(image, 3).probabilities));

    // The page's ONNX (the bytes the browser test downloads) in the real runtime: eight test images in,
    // the float64 run's logits out to float32 rounding (the weights are cast: onnxruntime has no double Conv).
    const session = await ort.InferenceSession.create(run.toOnnx());
    assert.deepEqual([[...session.inputNames], [...session.outputNames]], [['input'], ['output']]);
    const images = Array.from({ length: 8 }, (_, k) => testImage(digits, k));
    const out = (
      await session.run({ input: new ort.Tensor('float32', Float32Array.from(images.flat()), [8, 64]) })
    ).output;
    assert.equal(out.type, 'float32');
    assert.deepEqual([...out.dims], [8, 10]);
    const want = noGrad(() => run.model.forward(new Tensor(Float64Array.from(images.flat()), [8, 64])));
    assertClose(Array.from(out.data as Float32Array), want.data, {
      rel: 1e-4,
      abs: 1e-5,
      what: 'ONNX logits',
    });
    // And so the page's probabilities and predicted classes.
    const probabilities = softmax(new Tensor(Float64Array.from(out.data as Float32Array), [8, 10]), -1).data;
    images.forEach((im, k) => {
      const p = probabilities.subarray(k * 10, (k + 1) * 10);
      assertClose(Array.from(p), run.predict(im), { rel: 1e-4, abs: 1e-6, what: `image ${k}` });
      assert.equal(pg.predictedClass(p), pg.predictedClass(run.predict(im)), `image ${k}'s class`);
    });

    // The same outputs as `chainrule export --onnx --float32` gives from the page's model file.
    const dir = mkdtempSync(join(tmpdir(), 'chainrule-images-onnx-'));
    try {
      writeFileSync(join(dir, 'digits.json'), run.toModelFile());
      const e = await runCli(['export', 'digits.json', '--onnx', 'digits.onnx', '--float32'], dir);
      assert.equal(e.code, 0, e.err);
      const cli = await ort.InferenceSession.create(readFileSync(join(dir, 'digits.onnx')));
      const cliOut = await cli.run({
        [cli.inputNames[0]]: new ort.Tensor('float32', Float32Array.from(images.flat()), [8, 64]),
      });
      assert.deepEqual(
        Array.from(cliOut[cli.outputNames[0]].data as Float32Array),
        Array.from(out.data as Float32Array),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('checkImageConfig names the field and what it expected', () => {
    const ok = { ...pg.IMAGE_PRESETS.digits, seed: 1 };
    assert.throws(
      () => pg.checkImageConfig({ ...ok, arch: 'conv 8 9, flatten, linear' }, [1, 8, 8], 10),
      /images: arch: .*item 1/,
    );
    assert.throws(
      () => pg.checkImageConfig({ ...ok, arch: 'flatten, linear 5' }, [1, 8, 8], 10),
      /images: arch: .*needs \[10\]/,
    );
    assert.throws(
      () => pg.checkImageConfig({ ...ok, batchSize: 0 }, [1, 8, 8], 10),
      /batchSize: expected an integer 1–512, got 0/,
    );
    assert.throws(
      () => pg.checkImageConfig({ ...ok, learningRate: -1 }, [1, 8, 8], 10),
      /learningRate: expected a positive number/,
    );
  });
});

describe('the URL states', () => {
  test('Images: every field round-trips; a link naming a dataset gets its preset whole', () => {
    const state = {
      ...presetState('mnist', 77),
      optimizer: 'rmsprop' as const,
      learningRate: 0.0003,
      batchSize: 64,
      showGradients: false,
    };
    assert.deepEqual(imagesStateFromHash(imagesStateToHash(state)), { state, ignored: [] });
    assert.deepEqual(imagesStateFromHash('#dataset=mnist', 9).state, presetState('mnist', 9));
    assert.deepEqual(imagesStateFromHash('', 1).state, DEFAULT_IMAGES_STATE);
    const bad = imagesStateFromHash('#dataset=digits&batchSize=0&optimizer=nope&seed=3');
    assert.deepEqual(bad.ignored, ['optimizer=nope', 'batchSize=0']);
    assert.equal(bad.state.seed, 3);
    assert.deepEqual(imageConfigOf(bad.state), { ...pg.IMAGE_PRESETS.digits, seed: 3 });
  });

  test("dense: '#dataset=seed' alone is the seed notebook's preset whole (2-2-1 sigmoid, lr 0.1, batch 1, seed 42)", () => {
    const { state, ignored } = stateFromHash('#dataset=seed', 1234);
    assert.deepEqual(ignored, []);
    assert.deepEqual(configOf(state), { ...pg.SEED_PRESET, features: ['x1', 'x2'], hidden: [2] });
    assert.deepEqual(pg.presetFor('seed'), { ...pg.SEED_PRESET, features: ['x1', 'x2'], hidden: [2] });
    // Fields the link names still win over the preset's.
    assert.deepEqual(stateFromHash('#dataset=seed&learningRate=0.3&seed=5').state.learningRate, 0.3);
    assert.equal(stateFromHash('#dataset=seed&seed=5').state.seed, 5);
    // Other datasets keep TensorFlow Playground's defaults and the random seed the page passes.
    const plane = stateFromHash('#dataset=plane', 1234).state;
    assert.deepEqual(
      [plane.hidden, plane.activation, plane.problem, plane.seed],
      [[4, 2], 'tanh', 'regression', 1234],
    );
  });
});
