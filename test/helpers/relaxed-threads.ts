// Run by test/threads.test.ts in a child process with `--experimental-wasm-relaxed-simd` where the runtime
// has relaxed SIMD only behind that flag (Node 20): the relaxed set's product must give the same bits on
// two threads as on one. Prints what it checked; exits non-zero (an assertion) otherwise.
import assert from 'node:assert/strict';
import { random, type Kernels } from '../../src/index.js';
import { loadWasmKernels } from '../../src/kernels/wasm/index.js';
import { relaxedSimdSupported } from '../../src/kernels/wasm/module.js';

assert.ok(relaxedSimdSupported(), 'relaxed SIMD is not available even with the flag');
const load = async (threads: number) =>
  (await loadWasmKernels({ relaxed: true, threads, minThreadWork: 1 })) as Kernels;
const [one, two] = [await load(1), await load(2)];
assert.match(two.name, /relaxed/);
const rng = new random.RandomState(8);
const [m, k, n] = [130, 520, 300];
const a = new Float32Array(m * k).map(() => rng.random() * 2 - 1);
const b = new Float32Array(k * n).map(() => rng.random() * 2 - 1);
const c1 = new Float32Array(m * n);
const c2 = new Float32Array(m * n);
one.matmul(a, 0, b, 0, c1, 0, m, k, n, false, true);
two.matmul(a, 0, b, 0, c2, 0, m, k, n, false, true);
const i1 = new Int32Array(c1.buffer);
const i2 = new Int32Array(c2.buffer);
const first = i1.findIndex((v, i) => v !== i2[i]);
assert.equal(first, -1, `element ${first} differs: ${c1[first]} vs ${c2[first]}`);
two.dispose?.();
console.log(`relaxed SIMD (${two.name}), ${m}×${k}×${n}: two threads give one thread's bits`);
