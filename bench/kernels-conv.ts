/**
 * The sliding-window kernels at the W4 network's shapes (issue #12: `conv 16@5×5, relu, maxpool 2,
 * conv 32@5×5, relu, maxpool 2, flatten, linear 10`, batch 64, float32): each kernel one training step
 * calls, timed alone, on the reference kernels and on the WebAssembly set with 1 and 2 threads, with
 * operands in ordinary typed arrays (copied in and out of wasm memory) and in the set's own memory
 * (`Kernels.alloc`, used in place). Medians of the runs; the sum is the kernels' share of a step.
 *
 *   npx tsx bench/kernels-conv.ts            all of it (the reference takes ~2 s a step)
 *   npx tsx bench/kernels-conv.ts --quick    fewer runs, no reference
 *
 * A micro-benchmark for tuning the kernels; `npm run bench` measures whole training steps against peers.
 */
import { loadWasmKernels, referenceKernels, type Kernels, type Storage } from '../src/index.js';

type Conv2dGeometry = Parameters<Kernels['conv2d']>[4];
type Window2d = Parameters<Kernels['maxPool2d']>[3];

const quick = process.argv.includes('--quick');

/** A valid 'k×k' convolution, stride 1, no padding. */
function conv(batch: number, channels: number, size: number, outChannels: number, k: number): Conv2dGeometry {
  const out = size - k + 1;
  return {
    batch,
    channels,
    inH: size,
    inW: size,
    outH: out,
    outW: out,
    kH: k,
    kW: k,
    strideH: 1,
    strideW: 1,
    padH: 0,
    padW: 0,
    dilationH: 1,
    dilationW: 1,
    outChannels,
    groups: 1,
  };
}

/** Max pooling 2, stride 2. */
function pool2(batch: number, channels: number, size: number): Window2d {
  return {
    batch,
    channels,
    inH: size,
    inW: size,
    outH: size / 2,
    outW: size / 2,
    kH: 2,
    kW: 2,
    strideH: 2,
    strideW: 2,
    padH: 0,
    padW: 0,
    dilationH: 1,
    dilationW: 1,
  };
}

const CONV1 = conv(64, 1, 28, 16, 5);
const POOL1 = pool2(64, 16, 24);
const CONV2 = conv(64, 16, 12, 32, 5);
const POOL2 = pool2(64, 32, 8);

/** Median of the times (ms) of `reps` calls after two warm-up calls. */
function median(fn: () => void, reps: number): number {
  fn();
  fn();
  const t: number[] = [];
  for (let r = 0; r < reps; r++) {
    const s = performance.now();
    fn();
    t.push(performance.now() - s);
  }
  t.sort((a, b) => a - b);
  return t[reps >> 1];
}

/** One step's sliding-window calls on `k`, as named closures over arrays made by `make`. */
function stepCalls(k: Kernels, make: (n: number) => Storage): [string, () => void][] {
  const size = (g: Conv2dGeometry | Window2d, side: 'in' | 'out') =>
    g.batch *
    ('outChannels' in g && side === 'out' ? g.outChannels : g.channels) *
    (side === 'in' ? g.inH * g.inW : g.outH * g.outW);
  const x1 = make(size(CONV1, 'in'));
  const w1 = make(16 * 25);
  const b1 = make(16);
  const y1 = make(size(CONV1, 'out'));
  const gw1 = make(w1.length);
  const p1 = make(size(POOL1, 'out'));
  const a1 = new Int32Array(p1.length);
  const gy1 = make(y1.length);
  const w2 = make(32 * 16 * 25);
  const b2 = make(32);
  const y2 = make(size(CONV2, 'out'));
  const gx2 = make(p1.length);
  const gw2 = make(w2.length);
  const p2 = make(size(POOL2, 'out'));
  const a2 = new Int32Array(p2.length);
  const gy2 = make(y2.length);
  return [
    ['conv1 forward', () => k.conv2d(x1, w1, b1, y1, CONV1)],
    ['maxpool1 forward', () => k.maxPool2d(y1, p1, a1, POOL1)],
    ['conv2 forward', () => k.conv2d(p1, w2, b2, y2, CONV2)],
    ['maxpool2 forward', () => k.maxPool2d(y2, p2, a2, POOL2)],
    ['maxpool2 gradient', () => k.maxPool2dGrad(p2, a2, gy2, POOL2)],
    ['conv2 input gradient', () => k.conv2dInputGrad(gy2, w2, gx2, CONV2)],
    ['conv2 weight gradient', () => k.conv2dWeightGrad(p1, gy2, gw2, CONV2)],
    ['maxpool1 gradient', () => k.maxPool2dGrad(gx2, a1, gy1, POOL1)],
    ['conv1 weight gradient', () => k.conv2dWeightGrad(x1, gy1, gw1, CONV1)],
  ];
}

/** Arrays of uniform values in [−1, 1): plain, or from the set's own memory. */
function maker(k: Kernels, resident: boolean): (n: number) => Storage {
  return (n) => {
    const a = (resident ? k.alloc?.('float32', n) : null) ?? new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = Math.random() * 2 - 1;
    return a;
  };
}

const columns: { name: string; times: number[] }[] = [];
let names: string[] = [];
const sets: [string, Kernels, boolean][] = [];
if (!quick) sets.push(['reference', referenceKernels, false]);
for (const threads of [1, 2]) {
  const k = await loadWasmKernels({ threads });
  if (!k) throw new Error('no WebAssembly SIMD here');
  sets.push([`${k.name} copied`, k, false], [`${k.name} in place`, k, true]);
}
for (const [name, k, resident] of sets) {
  const calls = stepCalls(k, maker(k, resident));
  names = calls.map(([n]) => n);
  const reps = k === referenceKernels ? 3 : quick ? 15 : 41;
  columns.push({ name, times: calls.map(([, fn]) => median(fn, reps)) });
  process.stderr.write(`[bench] ${name} done\n`);
}
const pad = Math.max(...names.map((n) => n.length), 'kernels of one step'.length);
const width = Math.max(...columns.map((c) => c.name.length)) + 2;
console.log('ms (median)'.padEnd(pad) + columns.map((c) => c.name.padStart(width)).join(''));
names.forEach((n, i) =>
  console.log(n.padEnd(pad) + columns.map((c) => c.times[i].toFixed(3).padStart(width)).join('')),
);
console.log(
  'kernels of one step'.padEnd(pad) +
    columns
      .map((c) =>
        c.times
          .reduce((s, t) => s + t, 0)
          .toFixed(2)
          .padStart(width),
      )
      .join(''),
);
for (const [, k] of sets) k.dispose?.();
