/**
 * Memory check: resident set size (process.memoryUsage().rss) sampled after each of 20 epochs of the
 * 784-128-10 MLP run of the mlp workload (batch 64, SGD, 10,000 synthetic samples), first against last.
 * A steady RSS after the first epochs means training allocates nothing it keeps; no assertion, since the
 * garbage collector decides when memory returns.
 *
 *   npx tsx bench/memory.ts                       the default kernels (Node: wasm, all cores), 20 epochs
 *   npx tsx bench/memory.ts --kernels reference   the reference kernels
 *   npx tsx bench/memory.ts --kernels wasm        the WebAssembly kernels on one thread (wasm-threads: all cores)
 *   npx tsx bench/memory.ts --epochs 5 --samples 2000
 */
import {
  fit,
  kernels,
  loadWasmKernels,
  optim,
  random,
  referenceKernels,
  setKernels,
  Tensor,
} from '../src/index.js';
import { chainruleMlp, syntheticData } from './workloads/mlp.js';

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const epochs = Number(flag('--epochs', '20'));
const samples = Number(flag('--samples', '10000'));
const which = flag('--kernels', 'default');
if (which === 'reference') setKernels(referenceKernels);
else if (which !== 'default') {
  const k = await loadWasmKernels(which === 'wasm-threads' ? { threads: 'auto' } : {});
  if (!k) throw new Error('WebAssembly SIMD kernels unavailable');
  setKernels(k);
}

const mib = (b: number) => (b / 2 ** 20).toFixed(1);
const data = syntheticData(samples);
const rng = new random.RandomState(7);
const model = chainruleMlp([128], rng);
const optimizer = new optim.SGD(model.parameters(), { lr: 0.01 });
const x = new Tensor(data.x, [data.n, 784]);
const rss: number[] = [];
const start = process.memoryUsage().rss;
const t0 = performance.now();
await fit(
  model,
  { x, y: data.labels },
  {
    loss: 'crossEntropy',
    optimizer,
    epochs,
    batchSize: 64,
    shuffle: true,
    rng,
    onEpochEnd: (log) => {
      rss.push(process.memoryUsage().rss);
      process.stderr.write(
        `epoch ${log.epoch}: loss ${log.loss.toFixed(4)}, rss ${mib(rss[rss.length - 1])} MiB\n`,
      );
    },
  },
);
const seconds = (performance.now() - t0) / 1000;
const first = rss[0];
const last = rss[rss.length - 1];
console.log(
  `resident memory over ${epochs} epochs of MLP 784-128-10 (${kernels().name} kernels, ${samples} samples, ` +
    `${seconds.toFixed(1)} s): before ${mib(start)} MiB, after epoch 1 ${mib(first)} MiB, after epoch ` +
    `${epochs} ${mib(last)} MiB (${last >= first ? '+' : ''}${mib(last - first)} MiB), max ${mib(Math.max(...rss))} MiB`,
);
