// The fused recurrent layers (src/ops-recurrent.ts): gradCheck of the one-node LSTM and GRU sequence op
// on every kernel set, and the WebAssembly cell kernels against the reference loops (same bits in
// float64 and float32, odd widths included). The layers against PyTorch are test/sequence-layers.test.ts.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { gradCheck, random, referenceKernels, setKernels, Tensor, type Kernels } from '../src/index.js';
import { GATES } from '../src/kernels/recurrent.js';
import { loadWasmKernels } from '../src/kernels/wasm/index.js';
import { recurrentSequence } from '../src/ops-recurrent.js';

const wasm = await loadWasmKernels({ relaxed: false });
const SETS: Kernels[] = [referenceKernels, wasm].filter((k): k is Kernels => k !== null);

function randn(shape: number[], seed: number, scale = 0.5): Tensor {
  const rng = new random.RandomState(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const d = new Float64Array(n);
  rng.fillNormal(d, 0, scale);
  return new Tensor(d, shape, true);
}

function withSet<T>(k: Kernels, fn: () => T): T {
  const prev = setKernels(k);
  try {
    return fn();
  } finally {
    setKernels(prev);
  }
}

describe('recurrentSequence passes gradCheck', () => {
  for (const k of SETS)
    for (const cell of ['lstm', 'gru'] as const)
      for (const [withBias, withState] of [
        [true, true],
        [false, false],
      ])
        test(`${k.name}: ${cell}, ${withBias ? 'bias and initial states' : 'no bias, zero states'}`, () => {
          const T = 4;
          const B = 2;
          const H = 3;
          const G = GATES[cell];
          const inputs = [randn([T, B, G * H], 1, 1), randn([G * H, H], 2)];
          if (withBias) inputs.push(randn([G * H], 3));
          if (withState) inputs.push(randn([B, H], 4));
          if (withState && cell === 'lstm') inputs.push(randn([B, H], 5));
          const r = withSet(k, () =>
            gradCheck((...xs: Tensor[]) => {
              const [pre, w, ...rest] = xs;
              const b = withBias ? (rest.shift() as Tensor) : null;
              const h0 = withState ? (rest.shift() as Tensor) : null;
              const c0 = withState && cell === 'lstm' ? (rest.shift() as Tensor) : null;
              return recurrentSequence(cell, pre, w, b, h0, c0);
            }, inputs),
          );
          assert.ok(r.ok, JSON.stringify(r.inputs));
        });
});
