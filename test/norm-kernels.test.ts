// The normalization kernels (moments, normalize, normalizeGrad) on the WebAssembly set against the
// reference loops: the same bits in float32 and float64, for LayerNorm-like ([1, rows, features]) and
// BatchNorm-like ([N, C, positions]) geometries, affine or not, odd sizes (remainder groups and elements),
// scale and shift gradients wanted or not, batch or fixed statistics, operands copied in or resident in
// the set's memory, and in a two-thread set too (the kernels run on the calling thread there as well).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { referenceKernels } from '../src/kernels/reference.js';
import type { Kernels, NormGeometry, Storage } from '../src/kernels/types.js';
import { loadWasmKernels } from '../src/kernels/wasm/index.js';
import { RandomState } from '../src/random.js';

type Ctor = Float32ArrayConstructor | Float64ArrayConstructor;

/** Bit patterns, so −0 and 0 differ and every NaN is one value. */
function bits(a: Storage): string[] {
  return Array.from(a, (x) => (Number.isNaN(x) ? 'NaN' : Object.is(x, -0) ? '-0' : String(x)));
}

function same(wasm: Storage | null, ref: Storage | null, what: string): void {
  if (wasm === null || ref === null) return assert.equal(wasm, ref, what);
  assert.deepEqual(bits(wasm), bits(ref), what);
}

function randomArray(C: Ctor, n: number, rng: RandomState, mean = 0): Storage {
  const a = new C(n);
  rng.fillNormal(a, mean, 2);
  return a;
}

/** [outer, groups, inner] of both layouts, odd and even, remainder groups and elements. */
const GEOMETRIES: [number, number, number, 'group' | 'inner'][] = [
  [1, 1, 5, 'inner'],
  [1, 3, 7, 'inner'],
  [1, 8, 128, 'inner'],
  [1, 19, 33, 'inner'],
  [1, 37, 2, 'inner'],
  [1, 64, 1, 'inner'],
  [3, 5, 6, 'inner'],
  [2, 11, 9, 'group'],
  [4, 3, 25, 'group'],
  [16, 8, 1, 'group'],
  [5, 17, 4, 'group'],
  [2, 9, 49, 'group'],
  [1, 2, 40, 'group'],
];
// And seeded random ones of each layout.
{
  const rng = new RandomState(10);
  const size = (most: number) => 1 + Math.floor(rng.random() * most);
  for (let k = 0; k < 12; k++)
    GEOMETRIES.push(k % 2 ? [size(5), size(20), size(30), 'group'] : [1, size(40), size(40), 'inner']);
}

describe('normalization kernels on the WebAssembly set', async () => {
  // Every size runs in wasm (from 4 elements); the second set has two threads.
  const sets = [
    (await loadWasmKernels({ minElements: 1 })) as Kernels,
    (await loadWasmKernels({ minElements: 1, threads: 2, minThreadWork: 1 })) as Kernels,
  ];
  for (const C of [Float32Array, Float64Array])
    test(`${C.name}: moments, normalize and normalizeGrad give the reference's bits`, () => {
      const rng = new RandomState(11);
      for (const wasm of sets)
        for (const [outer, groups, inner, affine] of GEOMETRIES)
          for (const withScale of [false, true])
            for (const withShift of [false, true]) {
              const g: NormGeometry = { outer, groups, inner, affine, eps: 1e-5 };
              const n = outer * groups * inner;
              const per = affine === 'group' ? groups : inner;
              const what = `${wasm.name} [${outer}, ${groups}, ${inner}] ${affine} scale ${withScale} shift ${withShift}`;
              // A large mean: the variance's two passes must match exactly too.
              const x = randomArray(C, n, rng, withShift ? 100 : 0);
              if (n > 3) x[3] = -0;
              const mean = [new C(groups), new C(groups)];
              const variance = [new C(groups), new C(groups)];
              referenceKernels.moments(x, g, mean[0], variance[0]);
              wasm.moments(x, g, mean[1], variance[1]);
              same(mean[1], mean[0], `${what}: mean`);
              same(variance[1], variance[0], `${what}: variance`);

              const scale = withScale ? randomArray(C, per, rng) : null;
              const shift = withShift ? randomArray(C, per, rng) : null;
              const out = [new C(n), new C(n)];
              referenceKernels.normalize(x, g, mean[0], variance[0], scale, shift, out[0]);
              wasm.normalize(x, g, mean[0], variance[0], scale, shift, out[1]);
              same(out[1], out[0], `${what}: normalize`);

              const gOut = randomArray(C, n, rng);
              if (n > 2) gOut[2] = -0;
              for (const batchStats of [true, false])
                for (const wanted of [7, 1, 6, 2]) {
                  const grads = [0, 1].map(() => ({
                    gx: wanted & 1 ? new C(n).fill(NaN) : null,
                    gScale: wanted & 2 && withScale ? new C(per).fill(NaN) : null,
                    gShift: wanted & 4 && withShift ? new C(per).fill(NaN) : null,
                  }));
                  const [r, w] = grads;
                  referenceKernels.normalizeGrad(
                    gOut,
                    x,
                    g,
                    mean[0],
                    variance[0],
                    scale,
                    batchStats,
                    r.gx,
                    r.gScale,
                    r.gShift,
                  );
                  wasm.normalizeGrad(
                    gOut,
                    x,
                    g,
                    mean[0],
                    variance[0],
                    scale,
                    batchStats,
                    w.gx,
                    w.gScale,
                    w.gShift,
                  );
                  const how = `${what} batchStats ${batchStats} wanted ${wanted}`;
                  same(w.gx, r.gx, `${how}: gx`);
                  same(w.gScale, r.gScale, `${how}: gScale`);
                  same(w.gShift, r.gShift, `${how}: gShift`);
                }
            }
    });

  test('resident operands are used in place, with the same bits', () => {
    const wasm = sets[0];
    const rng = new RandomState(12);
    const g: NormGeometry = { outer: 1, groups: 21, inner: 30, affine: 'inner', eps: 1e-5 };
    const n = g.groups * g.inner;
    const resident = (a: Storage): Storage => {
      const r = wasm.alloc?.('float32', a.length);
      assert.ok(r, 'the wasm set hands out resident storage here');
      r.set(a);
      return r;
    };
    const x = randomArray(Float32Array, n, rng);
    const gOut = randomArray(Float32Array, n, rng);
    const scale = randomArray(Float32Array, g.inner, rng);
    const mean = [new Float32Array(g.groups), resident(new Float32Array(g.groups))];
    const variance = [new Float32Array(g.groups), resident(new Float32Array(g.groups))];
    referenceKernels.moments(x, g, mean[0], variance[0]);
    wasm.moments(resident(x), g, mean[1], variance[1]);
    same(mean[1], mean[0], 'mean');
    same(variance[1], variance[0], 'variance');
    const out = [new Float32Array(n), resident(new Float32Array(n))];
    referenceKernels.normalize(x, g, mean[0], variance[0], scale, null, out[0]);
    wasm.normalize(resident(x), g, mean[1], variance[1], resident(scale), null, out[1]);
    same(out[1], out[0], 'normalize');
    const gx = [new Float32Array(n), resident(new Float32Array(n))];
    const gs = [new Float32Array(g.inner), resident(new Float32Array(g.inner).fill(3))];
    referenceKernels.normalizeGrad(gOut, x, g, mean[0], variance[0], scale, true, gx[0], gs[0], null);
    wasm.normalizeGrad(resident(gOut), resident(x), g, mean[1], variance[1], scale, true, gx[1], gs[1], null);
    same(gx[1], gx[0], 'gx');
    same(gs[1], gs[0], 'gScale');
  });
});
