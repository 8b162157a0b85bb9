// The sliding-window kernels (convolution forward, input and weight gradients; max and average pooling and
// their gradients): the reference loops against PyTorch's float64 values, and the WebAssembly set against
// the reference loops: float64 bit for bit, float32 pooling bit for bit, float32 convolution within
// F32_TOL of the sum's scale (it sums in float32 lanes, as float32 matmul does), two threads the same bits
// as one. Also: operands from the set's own memory are used in place, and memory stays flat over calls.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { referenceKernels, type Kernels, type Storage } from '../src/index.js';
import type { Conv2dGeometry, Window2d } from '../src/kernels/types.js';
import { loadWasmKernels } from '../src/kernels/wasm/index.js';
import { poolStats } from '../src/kernels/wasm/pool.js';
import { assertClose } from './helpers/close.js';
import { fixture, flat } from './helpers/fixtures.js';
import { checkWindowKernels, conv2d, F32_TOL, firstDifference, window2d } from './helpers/window-cases.js';

// Every call in wasm however small; the threaded set splits every call it can.
const wasm = (await loadWasmKernels({ relaxed: false, minMatmulWork: 1, minElements: 1 })) as Kernels;
const wasm2 = (await loadWasmKernels({
  relaxed: false,
  minMatmulWork: 1,
  minElements: 1,
  threads: 2,
  minThreadWork: 1,
})) as Kernels;

// ---------------------------------------------------------------------------------------------------------
// PyTorch's fixture: layer-gradients.json's Conv2d, Conv1d, MaxPool2d and AvgPool2d cases.

interface LayerCase {
  name: string;
  /** The module as constructed, e.g. `nn.Conv2d(2, 4, 3, stride=2, padding=1, dilation=1, groups=1, bias=True)`. */
  pytorch: string;
  input: unknown;
  params: Record<string, unknown>;
  output: unknown;
  upstream: unknown;
  grads: Record<string, unknown>;
}

/** Sizes of a nested array. */
function shapeOf(x: unknown): number[] {
  const s: number[] = [];
  for (let v = x; Array.isArray(v); v = v[0]) s.push(v.length);
  return s;
}

/** A constructor call's arguments: positional ones in order, keyword ones by name; ints or (a, b) pairs. */
function parseCall(call: string): { args: number[][]; kw: Record<string, number[] | boolean> } {
  const inner = /\((.*)\)/.exec(call)?.[1] ?? '';
  const parts = inner.match(/\w+=\([^)]*\)|\w+=\w+|\([^)]*\)|[^,\s]+/g) ?? [];
  const value = (v: string): number[] => v.replace(/[()]/g, '').split(',').map(Number);
  const out = { args: [] as number[][], kw: {} as Record<string, number[] | boolean> };
  for (const p of parts) {
    const eq = p.indexOf('=');
    if (eq < 0) out.args.push(value(p));
    else {
      const v = p.slice(eq + 1);
      out.kw[p.slice(0, eq)] = v === 'True' || v === 'False' ? v === 'True' : value(v);
    }
  }
  return out;
}

/** Both axes of a size given once (as PyTorch's int) or as a pair. */
const pair = (v: number[] | boolean | undefined, fallback: number[]): number[] =>
  Array.isArray(v) ? (v.length === 1 ? [v[0], v[0]] : v) : fallback;

/** The case's module as a geometry (Conv1d as H = 1), or null for a case of another layer. */
function geometryOf(c: LayerCase): { kind: 'conv' | 'max' | 'avg'; g: Conv2dGeometry } | null {
  const m = /^nn\.(Conv2d|Conv1d|MaxPool2d|AvgPool2d)\(/.exec(c.pytorch);
  if (!m) return null;
  const { args, kw } = parseCall(c.pytorch);
  const oneD = m[1] === 'Conv1d';
  const inShape = shapeOf(c.input);
  const [n, ch, h, w] = oneD ? [inShape[0], inShape[1], 1, inShape[2]] : inShape;
  if (m[1].endsWith('Pool2d')) {
    // MaxPool2d(kernel, stride, padding), AvgPool2d likewise; stride defaults to the kernel.
    const k = pair(args[0], [1, 1]);
    const s = pair(args[1] ?? kw.stride, k);
    const p = pair(args[2] ?? kw.padding, [0, 0]);
    const g = window2d(
      n,
      ch,
      { size: h, k: k[0], stride: s[0], pad: p[0] },
      { size: w, k: k[1], stride: s[1], pad: p[1] },
    );
    return { kind: m[1] === 'MaxPool2d' ? 'max' : 'avg', g: { ...g, outChannels: ch, groups: 1 } };
  }
  const k = oneD ? [1, args[2][0]] : pair(args[2], [1, 1]);
  const one = (v: number[] | boolean | undefined, d: number) =>
    oneD ? [d === 0 ? 0 : 1, pair(v, [d, d])[0]] : pair(v, [d, d]);
  const s = one(kw.stride, 1);
  const p = one(kw.padding, 0);
  const d = one(kw.dilation, 1);
  const groups = Array.isArray(kw.groups) ? kw.groups[0] : 1;
  return {
    kind: 'conv',
    g: conv2d(
      n,
      ch,
      args[1][0],
      { size: h, k: k[0], stride: s[0], pad: p[0], dilation: d[0] },
      { size: w, k: k[1], stride: s[1], pad: p[1], dilation: d[1] },
      groups,
    ),
  };
}

const CASES = fixture<{ cases: LayerCase[] }>('layer-gradients.json')
  .cases.map((c) => ({ c, geo: geometryOf(c) }))
  .filter((e): e is { c: LayerCase; geo: NonNullable<ReturnType<typeof geometryOf>> } => e.geo !== null);

/** The kernels' outputs for one fixture case on one set, as [name, values, PyTorch's values]. */
function runCase(
  k: Kernels,
  c: LayerCase,
  kind: 'conv' | 'max' | 'avg',
  g: Conv2dGeometry,
): [string, Storage, number[]][] {
  const x = Float64Array.from(flat(c.input));
  const up = Float64Array.from(flat(c.upstream));
  const out = new Float64Array(up.length);
  const gx = new Float64Array(x.length);
  if (kind === 'conv') {
    const w = Float64Array.from(flat(c.params.weight));
    const b = c.params.bias ? Float64Array.from(flat(c.params.bias)) : null;
    const gw = new Float64Array(w.length);
    k.conv2d(x, w, b, out, g);
    k.conv2dInputGrad(up, w, gx, g);
    k.conv2dWeightGrad(x, up, gw, g);
    return [
      ['output', out, flat(c.output)],
      ['input gradient', gx, flat(c.grads.input)],
      ['weight gradient', gw, flat(c.grads.weight)],
    ];
  }
  if (kind === 'max') {
    const argmax = new Int32Array(out.length);
    k.maxPool2d(x, out, argmax, g);
    k.maxPool2dGrad(up, argmax, gx, g);
  } else {
    // PyTorch's AvgPool2d counts the padding by default.
    k.avgPool2d(x, out, g, true);
    k.avgPool2dGrad(up, gx, g, true);
  }
  return [
    ['output', out, flat(c.output)],
    ['input gradient', gx, flat(c.grads.input)],
  ];
}

describe("sliding-window kernels against PyTorch's fixture", () => {
  test('the fixture has the conv and pooling cases this suite expects', () => {
    const kinds = CASES.map((e) => e.geo.kind);
    assert.deepEqual(
      {
        conv: kinds.filter((k) => k === 'conv').length,
        max: kinds.filter((k) => k === 'max').length,
        avg: kinds.filter((k) => k === 'avg').length,
      },
      { conv: 5, max: 3, avg: 3 },
    );
    // The parsed geometry reproduces PyTorch's output shape.
    for (const { c, geo } of CASES) {
      const s = shapeOf(c.output);
      assert.equal(
        geo.g.outH * geo.g.outW * geo.g.batch * (geo.kind === 'conv' ? geo.g.outChannels : geo.g.channels),
        flat(c.output).length,
        c.name,
      );
      assert.equal(s[0], geo.g.batch, c.name);
    }
  });

  for (const k of [referenceKernels, wasm, wasm2])
    test(`${k.name}: every case within 1e-10 of PyTorch, float64`, () => {
      for (const { c, geo } of CASES)
        for (const [what, got, want] of runCase(k, c, geo.kind, geo.g))
          assertClose(got, want, { rel: 1e-10, abs: 1e-13, what: `${c.name}: ${what}` });
    });

  test('the WebAssembly set has the reference bits on every case, on one thread and two', () => {
    for (const { c, geo } of CASES) {
      const want = runCase(referenceKernels, c, geo.kind, geo.g);
      for (const k of [wasm, wasm2])
        runCase(k, c, geo.kind, geo.g).forEach(([what, got], i) =>
          assert.equal(firstDifference(got, want[i][1]), -1, `${k.name} ${c.name}: ${what}`),
        );
    }
  });
});

// ---------------------------------------------------------------------------------------------------------
// Every path: named and random geometries, both element types, one thread and two.

describe('sliding-window kernels on WebAssembly against the reference', () => {
  test('float64 and float32 pooling bit for bit, float32 convolution within F32_TOL; two threads = one', () => {
    const before = poolStats.workerParts;
    const r = checkWindowKernels(wasm, wasm2);
    assert.deepEqual(r.mismatches, []);
    assert.ok(r.calls > 1200, `${r.calls} calls compared`);
    assert.ok(
      r.worstF32 > 0,
      'float32 convolutions with the reference bits everywhere: did wasm run at all?',
    );
    assert.ok(r.worstF32 <= F32_TOL);
    assert.ok(poolStats.workerParts > before, "the pool's worker took part");
  });

  test('the default thresholds hand tiny calls to the reference and large ones to wasm: same results', async () => {
    const defaults = (await loadWasmKernels({ relaxed: false })) as Kernels;
    const r = checkWindowKernels(defaults);
    assert.deepEqual(r.mismatches, []);
  });
});

describe('sliding-window kernels: memory', () => {
  const g = conv2d(4, 3, 8, { size: 12, k: 3, pad: 1 }, { size: 12, k: 3, pad: 1 });
  const pool: Window2d = window2d(4, 8, { size: 12, k: 2, stride: 2 }, { size: 12, k: 2, stride: 2 });
  const fill = (a: Storage, seed: number) => {
    for (let i = 0; i < a.length; i++) a[i] = Math.sin(i * 0.37 + seed);
    return a;
  };

  test('operands allocated by the set are used in place and give the bits of copied ones', () => {
    for (const dtype of ['float32', 'float64'] as const) {
      const C = dtype === 'float32' ? Float32Array : Float64Array;
      const make = (n: number, seed: number, own: boolean): Storage =>
        fill(own ? (wasm.alloc?.(dtype, n) ?? new C(n)) : new C(n), seed);
      const run = (own: boolean) => {
        const x = make(4 * 3 * 144, 1, own);
        const w = make(8 * 3 * 9, 2, own);
        const b = make(8, 3, own);
        const out = make(4 * 8 * 144, 4, own);
        const gx = make(x.length, 5, own);
        const gw = make(w.length, 6, own);
        const pooled = make(4 * 8 * 36, 7, own);
        const gp = make(out.length, 8, own);
        const argmax = new Int32Array(pooled.length);
        wasm.conv2d(x, w, b, out, g);
        wasm.maxPool2d(out, pooled, argmax, pool);
        wasm.maxPool2dGrad(pooled, argmax, gp, pool);
        wasm.conv2dInputGrad(gp, w, gx, g);
        wasm.conv2dWeightGrad(x, gp, gw, g);
        return [out, pooled, gp, gx, gw].map((a) => Array.from(a));
      };
      assert.ok(wasm.alloc?.(dtype, 1), 'the set hands out storage in its memory here');
      assert.deepEqual(run(true), run(false), dtype);
    }
  });

  test('memory stays flat over many calls', () => {
    const x = fill(new Float32Array(4 * 3 * 144), 1);
    const w = fill(new Float32Array(8 * 3 * 9), 2);
    const out = new Float32Array(4 * 8 * 144);
    const gx = new Float32Array(x.length);
    const gw = new Float32Array(w.length);
    const pooled = new Float32Array(4 * 8 * 36);
    const argmax = new Int32Array(pooled.length);
    const step = () => {
      wasm2.conv2d(x, w, null, out, g);
      wasm2.maxPool2d(out, pooled, argmax, pool);
      wasm2.maxPool2dGrad(pooled, argmax, out, pool);
      wasm2.conv2dInputGrad(out, w, gx, g);
      wasm2.conv2dWeightGrad(x, out, gw, g);
    };
    /** The memory's size now: a fresh view's buffer is the memory's current one. */
    const bytes = () => {
      const probe = wasm2.alloc?.('float32', 1);
      assert.ok(probe);
      const n = probe.buffer.byteLength;
      wasm2.free?.(probe);
      return n;
    };
    step();
    const first = bytes();
    for (let i = 0; i < 50; i++) step();
    assert.equal(bytes(), first);
  });
});
