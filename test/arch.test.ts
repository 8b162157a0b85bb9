// The --arch grammar (src/nn/arch.ts): every layer word gives the spec it documents, sizes follow the
// input, and every mistake names the item and what was expected there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ACTIVATION_NAMES,
  ArchError,
  checkSpecFits,
  fromSpec,
  parseArch,
  summarize,
  summaryTable,
  type LayerSpec,
} from '../src/index.js';

const image = { shape: [1, 8, 8], image: true, outputs: 10 };
const flat = { shape: [4], image: false, outputs: 3 };
/** The layers an architecture line gives, without the added unflatten. */
const layersOf = (text: string, input = image): LayerSpec[] =>
  parseArch(text, input).spec.layers.filter((l, i) => !(i === 0 && l.type === 'unflatten' && input.image));
const fails = (text: string, message: RegExp, input = image) =>
  assert.throws(
    () => parseArch(text, input),
    (e: unknown) => e instanceof ArchError && message.test(e.message),
  );

test('the README line: an unflatten first, channels and features filled in, the last linear sized to the task', () => {
  const { spec, items } = parseArch(
    'conv 32 3 relu, maxpool 2, conv 64 3 relu, maxpool 2, flatten, linear 128 relu, dropout 0.5, linear',
    { shape: [1, 28, 28], image: true, outputs: 10 },
  );
  assert.deepEqual(spec.layers[0], { type: 'unflatten', shape: [1, 28, 28] });
  assert.deepEqual(spec.layers[1], {
    type: 'conv2d',
    in: 1,
    out: 32,
    groups: 1,
    bias: true,
    kernel: 3,
    stride: 1,
    padding: 0,
    dilation: 1,
  });
  assert.equal((spec.layers[4] as { in: number }).in, 32);
  assert.deepEqual(spec.layers[8], { type: 'linear', in: 64 * 5 * 5, out: 128, bias: true });
  assert.deepEqual(spec.layers.at(-1), { type: 'linear', in: 128, out: 10, bias: true });
  assert.deepEqual(items, [0, 1, 1, 2, 3, 3, 4, 5, 6, 6, 7, 8]);
  assert.equal(fromSpec(spec).numParameters(), 320 + 18496 + 1600 * 128 + 128 + 1290);
});

test('conv settings: stride, padding (number, HxW, same, valid), dilation, groups, bias; sizes as HxW', () => {
  const [c] = layersOf('conv 4 3x5 stride=1x2 padding=1x2 dilation=1 bias=false, flatten, linear');
  assert.deepEqual(c, {
    type: 'conv2d',
    in: 1,
    out: 4,
    groups: 1,
    bias: false,
    kernel: [3, 5],
    stride: [1, 2],
    padding: [1, 2],
    dilation: 1,
  });
  assert.equal(
    (layersOf('conv 4 3 padding=same, flatten, linear')[0] as { padding: string }).padding,
    'same',
  );
  assert.equal(
    (layersOf('conv 4 3 padding=valid, flatten, linear')[0] as { padding: string }).padding,
    'valid',
  );
  const grouped = layersOf('conv 4 3, conv 8 3 groups=2 dilation=2, flatten, linear')[1];
  assert.deepEqual([grouped.type, (grouped as { in: number }).in], ['conv2d', 4]);
  assert.equal((grouped as { groups: number }).groups, 2);
  assert.equal(layersOf('conv2d 4 3, flatten, linear')[0].type, 'conv2d');
});

test('conv1d and maxpool after it are 1-D', () => {
  const ls = layersOf('unflatten 2x8, conv1d 4 3 relu padding=1, maxpool 2, flatten, linear', {
    shape: [16],
    image: false,
    outputs: 2,
  });
  assert.deepEqual(
    ls.map((l) => l.type),
    ['unflatten', 'conv1d', 'relu', 'maxPool1d', 'flatten', 'linear'],
  );
  assert.equal((ls[1] as { in: number }).in, 2);
  assert.equal((ls[5] as { in: number }).in, 16);
});

test('pooling: strides default to the kernel; avgpool settings; gap', () => {
  assert.deepEqual(layersOf('maxpool 2 stride=1 padding=1 ceil=true, flatten, linear')[0], {
    type: 'maxPool2d',
    kernel: 2,
    stride: 1,
    padding: 1,
    dilation: 1,
    ceilMode: true,
  });
  assert.deepEqual(layersOf('avgpool 2 countpad=false, flatten, linear')[0], {
    type: 'avgPool2d',
    kernel: 2,
    stride: 2,
    padding: 0,
    ceilMode: false,
    countIncludePad: false,
  });
  assert.deepEqual(layersOf('gap, flatten, linear')[0], { type: 'adaptiveAvgPool2d', size: 1 });
});

test('batchnorm is 2-D on images and 1-D on features; layernorm covers the whole sample', () => {
  const ls = layersOf(
    'conv 4 3, batchnorm momentum=0.2, layernorm eps=0.001, flatten, linear 16, batchnorm affine=false, linear',
  );
  assert.deepEqual(ls[1], {
    type: 'batchNorm2d',
    features: 4,
    eps: 1e-5,
    momentum: 0.2,
    affine: true,
    trackRunningStats: true,
  });
  assert.deepEqual(ls[2], { type: 'layerNorm', shape: [4, 6, 6], eps: 0.001, elementwiseAffine: true });
  assert.equal(ls[5].type, 'batchNorm1d');
  assert.equal((ls[5] as { features: number }).features, 16);
  assert.equal((ls[5] as { affine: boolean }).affine, false);
});

test('every activation by name (any case), with its parameter; linear with an output activation; dropout', () => {
  for (const name of ACTIVATION_NAMES) {
    const ls = layersOf(`linear 8, ${name.toUpperCase()}, linear`, flat);
    assert.equal(ls[1].type, name);
  }
  assert.deepEqual(layersOf('linear 8 leakyRelu, leakyrelu 0.2, elu 0.5, linear', flat).slice(1, 4), [
    { type: 'leakyRelu', slope: 0.01 },
    { type: 'leakyRelu', slope: 0.2 },
    { type: 'elu', alpha: 0.5 },
  ]);
  assert.deepEqual(layersOf('linear 8 bias=false, dropout 0.25, linear sigmoid', flat), [
    { type: 'linear', in: 4, out: 8, bias: false },
    { type: 'dropout', p: 0.25 },
    { type: 'linear', in: 8, out: 3, bias: true },
    { type: 'sigmoid' },
  ]);
});

test('a linear on the image itself is an MLP on the flat pixels: no unflatten', () => {
  const { spec } = parseArch('linear 32 relu, linear', image);
  assert.deepEqual(spec.layers[0], { type: 'linear', in: 64, out: 32, bias: true });
});

test('errors name the item and what was expected', () => {
  fails('', /expected layers separated by commas/);
  fails('linear 8,, linear', /item 2 is empty: expected a layer/);
  fails('cnov 8 3, flatten, linear', /item 1 'cnov 8 3': unknown layer 'cnov'; expected one of conv, /);
  fails('conv 8', /item 1 'conv 8': expected the kernel size KERNEL \(a positive integer\), got nothing/);
  fails('conv x 3', /item 1 'conv x 3': expected the output channels OUT \(a positive integer\), got 'x'/);
  fails('conv 8 x', /expected the kernel size KERNEL \(a positive integer\), got 'x'/);
  fails('conv 8 3 tanhh', /item 1 'conv 8 3 tanhh': expected an activation \(.*\), got 'tanhh'/);
  fails(
    'conv 8 3 pad=1',
    /item 1 'conv 8 3 pad=1': unknown setting 'pad' for conv; expected stride=, padding=/,
  );
  fails('conv 8 3 stride=1 stride=2', /'stride' is set twice/);
  fails('conv 8 3 bias=no', /expected bias=true or bias=false, got 'no'/);
  fails('maxpool 2 3', /item 1 'maxpool 2 3': unexpected '3' \(maxpool KERNEL/);
  fails(
    'dropout 1.5',
    /item 1 'dropout 1.5': expected the probability P \(a number in \[0, 1\]\), got '1.5'/,
  );
  fails('dropout', /expected the probability P \(a number in \[0, 1\]\), got nothing/);
  fails('unflatten', /expected the shape \(e.g. 1x28x28\), got nothing/);
  fails('linear, linear', /item 1 'linear': expected the output size OUT .* only the last linear/);
  fails('leakyrelu x, linear', /expected the slope \(a number\), got 'x'/);
  fails('relu 2, linear', /item 1 'relu 2': unexpected '2' \(relu\)/);
  fails('gap x, linear', /item 1 'gap x': unexpected 'x' \(gap\)/);
});

test('shape errors name the item, its text and the shapes, from the spec validator', () => {
  fails(
    'conv 8 9, flatten, linear',
    /item 1 'conv 8 9' \(conv2d\): the kernel 9×9 does not fit the input: the input image gives \[1, 8, 8\]/,
  );
  fails(
    'conv 8 3, maxpool 2, conv 8 5, flatten, linear',
    /item 3 'conv 8 5' \(conv2d\): the kernel 5×5 does not fit the input: item 2 'maxpool 2' gives \[8, 3, 3\]/,
  );
  fails(
    'conv 8 3, linear',
    /item 2 'linear': a linear layer takes flat features, but the layer before gives \[8, 6, 6\]; put 'flatten' before it/,
  );
  fails(
    'conv 8 3, flatten',
    /the last layer, item 2 'flatten', gives \[288\] per sample, but the task needs \[10\]/,
  );
  fails('linear 5', /the last layer, item 1 'linear 5', gives \[5\] per sample, but the task needs \[10\]/);
  fails(
    'conv 8 3, flatten, linear',
    /item 1 'conv 8 3' \(conv2d\): takes \[C, H, W\] per sample, but the input gives \[4\]: the data are flat rows, not images/,
    flat,
  );
  fails(
    'flatten, conv 8 3, flatten, linear',
    /item 2 'conv 8 3' \(conv2d\): takes \[C, H, W\] per sample, but item 1 'flatten' gives \[64\]/,
  );
  fails(
    'conv 6 3 groups=4, flatten, linear',
    /item 1 'conv 6 3 groups=4' \(groups\): expected a divisor of in 1 and out 6, got 4/,
  );
});

test('checkSpecFits: a spec file that does not take the rows or give the outputs is named', () => {
  const spec = parseArch('linear 8 relu, linear', flat).spec;
  checkSpecFits(spec, { shape: [4], outputs: 3 });
  assert.throws(
    () => checkSpecFits(spec, { shape: [5], outputs: 3 }),
    /layers\[0\]\.in: expected 5 .*the input.*got 4/,
  );
  assert.throws(
    () => checkSpecFits(spec, { shape: [4], outputs: 2 }),
    /the last layer, layers\[2\], gives \[3\] per sample, but the task needs \[2\]/,
  );
});

test('summarize: per-layer shapes, parameters equal to the model, BatchNorm buffers counted', () => {
  const { spec } = parseArch('conv 4 3, batchnorm, relu, maxpool 2, flatten, linear', image);
  const model = fromSpec(spec);
  const s = summarize(model, [64]);
  assert.deepEqual(
    s.layers.map((l) => l.output),
    [[1, 8, 8], [4, 6, 6], [4, 6, 6], [4, 6, 6], [4, 3, 3], [36], [10]],
  );
  assert.deepEqual(
    s.layers.map((l) => l.parameters),
    model.layers.map((m) => m.numParameters()),
  );
  assert.equal(s.parameters, model.numParameters());
  assert.equal(s.trainable, model.numParameters());
  assert.equal(s.layers[2].buffers, 4 + 4 + 1); // running mean, running var, batches tracked
  const table = summaryTable(s);
  assert.match(table, /Conv2d\(1 → 4, kernel 3\) +\[4, 6, 6\] +40/);
  assert.match(table, new RegExp(`total parameters: ${model.numParameters()} \\(trainable`));
});
