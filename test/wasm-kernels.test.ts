// The optimizer updates and reductions on the WebAssembly kernels against the reference kernels: the same
// bits for every SGD, Adam, RMSprop and Adagrad variant and every leading-axis, last-axis and middle-block reduction, both dtypes, awkward lengths and
// special values (NaN, ±Infinity, −0, subnormals); the updates over several steps, so the state they store
// and re-read is exercised too.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { referenceKernels } from '../src/kernels/reference.js';
import type { Kernels, Storage } from '../src/kernels/types.js';
import { loadWasmKernels } from '../src/kernels/wasm/index.js';
import { RandomState } from '../src/random.js';

const LENGTHS = [1, 3, 17, 64, 255, 257];
const SPECIAL = [NaN, Infinity, -Infinity, -0, 0, 5e-324, -1e-310, 1e-40, 3.4e38, -3.4e38, 1e300];

type Ctor = Float32ArrayConstructor | Float64ArrayConstructor;

function randomArray(C: Ctor, n: number, rng: RandomState, special: boolean): Storage {
  const a = new C(n);
  rng.fillNormal(a, 0, 2);
  if (special) for (let i = 0; i < n; i += 7) a[i] = SPECIAL[(i / 7) % SPECIAL.length];
  return a;
}

/** Bit patterns, so −0 and 0 differ and every NaN is one value. */
function bits(a: Storage): string[] {
  return Array.from(a, (x) => (Number.isNaN(x) ? 'NaN' : Object.is(x, -0) ? '-0' : String(x)));
}

function same(wasm: Storage[], ref: Storage[], what: string) {
  wasm.forEach((w, i) => assert.deepEqual(bits(w), bits(ref[i]), `${what}: array ${i}`));
}

describe('optimizer updates on the WebAssembly kernels', async () => {
  // minElements 1: every length runs in wasm.
  const wasm = (await loadWasmKernels({ minElements: 1 })) as Kernels;
  /** A copy of `a` in the kernels' own memory (used in place, not copied in and out). */
  const resident = (a: Storage): Storage => {
    const r = wasm.alloc?.(a instanceof Float32Array ? 'float32' : 'float64', a.length);
    assert.ok(r, 'the wasm set hands out resident storage here');
    r.set(a);
    return r;
  };

  for (const C of [Float32Array, Float64Array])
    test(`${C.name}: SGD, every variant, the reference's bits`, () => {
      const rng = new RandomState(1);
      for (const n of LENGTHS)
        for (const special of [false, true])
          for (const [mu, dampening, wd, nesterov] of [
            [0, 0, 0, false],
            [0, 0, 0.01, false],
            [0.9, 0, 0, false],
            [0.9, 0.1, 0.05, false],
            [0.9, 0, 0.05, true],
            [0.5, 0, 0, true],
          ] as const) {
            const p = randomArray(C, n, rng, special);
            const buf = mu === 0 ? null : new C(n);
            const state = [p, buf].filter((a): a is Storage => a !== null);
            const copies = state.map((a) => a.slice());
            for (let step = 0; step < 3; step++) {
              const g = randomArray(C, n, rng, special);
              const h = { lr: 0.1, momentum: mu, dampening, weightDecay: wd, nesterov, first: step === 0 };
              referenceKernels.sgd(state[0], g, state[1] ?? null, h);
              wasm.sgd(copies[0], g, copies[1] ?? null, h);
              same(copies, state, `n=${n} mu=${mu} wd=${wd} nesterov=${nesterov} step ${step}`);
            }
          }
    });

  for (const C of [Float32Array, Float64Array])
    test(`${C.name}: Adam and AdamW, with and without AMSGrad, the reference's bits`, () => {
      const rng = new RandomState(2);
      for (const n of LENGTHS)
        for (const special of [false, true])
          for (const [wd, decay, amsgrad] of [
            [0, 1, false],
            [0, 1, true],
            [0.01, 1, false],
            [0.01, 1, true],
            [0, 1 - 0.001 * 0.01, false],
            [0, 1 - 0.001 * 0.01, true],
          ] as const) {
            const state = [
              randomArray(C, n, rng, special),
              new C(n),
              new C(n),
              ...(amsgrad ? [new C(n)] : []),
            ];
            const copies = state.map((a) => a.slice());
            const homed = state.map((a) => resident(a));
            for (let step = 1; step <= 3; step++) {
              const g = randomArray(C, n, rng, special);
              const bc1 = 1 - 0.9 ** step;
              const h = {
                stepSize: 0.001 / bc1,
                beta1: 0.9,
                beta2: 0.999,
                bc2Sqrt: Math.sqrt(1 - 0.999 ** step),
                eps: 1e-8,
                weightDecay: wd,
                decay,
              };
              const [p, m, v, vmax] = state;
              referenceKernels.adam(p, g, m, v, vmax ?? null, h);
              const [cp, cm, cv, cvmax] = copies;
              wasm.adam(cp, g, cm, cv, cvmax ?? null, h);
              same(copies, state, `n=${n} wd=${wd} decay=${decay} amsgrad=${amsgrad} step ${step}`);
              const [hp, hm, hv, hvmax] = homed;
              wasm.adam(hp, resident(g), hm, hv, hvmax ?? null, h);
              same(homed, state, `resident: n=${n} wd=${wd} decay=${decay} amsgrad=${amsgrad} step ${step}`);
            }
          }
    });

  for (const C of [Float32Array, Float64Array])
    test(`${C.name}: RMSprop (centered, momentum, weight decay) and Adagrad, the reference's bits`, () => {
      const rng = new RandomState(4);
      for (const n of LENGTHS)
        for (const special of [false, true]) {
          for (const [wd, centered, momentum] of [
            [0, false, 0],
            [0.01, false, 0],
            [0, true, 0],
            [0, false, 0.9],
            [0.01, true, 0.9],
          ] as const) {
            const state = [
              randomArray(C, n, rng, special),
              new C(n),
              ...(centered ? [new C(n)] : []),
              ...(momentum ? [new C(n)] : []),
            ];
            const copies = state.map((a) => a.slice());
            const homed = state.map((a) => resident(a));
            const run = (k: Kernels, arrays: Storage[], g: Storage) => {
              const [p, sq, ...rest] = arrays;
              const ga = centered ? rest[0] : null;
              const buf = momentum ? rest[centered ? 1 : 0] : null;
              k.rmsprop(p, g, sq, ga, buf, { lr: 0.01, alpha: 0.99, eps: 1e-8, weightDecay: wd, momentum });
            };
            for (let step = 0; step < 3; step++) {
              const g = randomArray(C, n, rng, special);
              run(referenceKernels, state, g);
              run(wasm, copies, g);
              run(wasm, homed, resident(g));
              same(copies, state, `rmsprop n=${n} wd=${wd} centered=${centered} momentum=${momentum}`);
              same(
                homed,
                state,
                `rmsprop resident n=${n} wd=${wd} centered=${centered} momentum=${momentum}`,
              );
            }
          }
          for (const wd of [0, 0.01]) {
            const state = [randomArray(C, n, rng, special), new C(n).fill(0.1)];
            const copies = state.map((a) => a.slice());
            const homed = state.map((a) => resident(a));
            for (let step = 1; step <= 3; step++) {
              const g = randomArray(C, n, rng, special);
              const h = { clr: 0.01 / (1 + (step - 1) * 0.001), eps: 1e-10, weightDecay: wd };
              referenceKernels.adagrad(state[0], g, state[1], h);
              wasm.adagrad(copies[0], g, copies[1], h);
              wasm.adagrad(homed[0], resident(g), homed[1], h);
              same(copies, state, `adagrad n=${n} wd=${wd} step ${step}`);
              same(homed, state, `adagrad resident n=${n} wd=${wd} step ${step}`);
            }
          }
        }
    });

  for (const C of [Float32Array, Float64Array])
    test(`${C.name}: sums and maxima over leading axes and along the last, the reference's bits; other axes still right`, () => {
      const rng = new RandomState(3);
      const cases: [number[], number[]][] = [
        [
          [64, 128],
          [1, 128],
        ],
        [
          [3, 17],
          [1, 17],
        ],
        [
          [257, 3],
          [1, 3],
        ],
        [
          [1, 255],
          [1, 255],
        ],
        [
          [4, 5, 6],
          [1, 5, 6],
        ],
        [
          [4, 5, 6],
          [1, 1, 6],
        ],
        [
          [5, 7],
          [5, 1],
        ],
        [
          [4, 5, 6],
          [4, 1, 6],
        ],
        [[33], [1]],
        // A middle block kept (a convolution's bias gradient), with reduced axes before and after it.
        [
          [7, 5, 19],
          [1, 5, 1],
        ],
        [
          [3, 6, 4, 9],
          [1, 6, 1, 1],
        ],
        [
          [3, 2, 3, 5],
          [1, 2, 3, 1],
        ],
        [
          [2, 9, 1, 33],
          [2, 9, 1, 1],
        ],
      ];
      for (const [xs, os] of cases)
        for (const special of [false, true])
          for (const op of ['sum', 'max'] as const) {
            const x = randomArray(
              C,
              xs.reduce((a, b) => a * b),
              rng,
              special,
            );
            const want = new C(os.reduce((a, b) => a * b));
            const got = new C(want.length).fill(7);
            referenceKernels.reduce(op, x, xs, want, os);
            wasm.reduce(op, x, xs, got, os);
            assert.deepEqual(bits(got), bits(want), `${op} ${xs} → ${os} special=${special}`);
          }
    });
});
