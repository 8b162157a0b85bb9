/**
 * Elementwise kernels in WebAssembly SIMD: the unary ops, their derivatives and the binary ops. The ops
 * built on transcendental functions (exp, log, sigmoid, tanh, elu, softplus, gelu and the derivatives that
 * need exp or erfc) run our own libm (`src/libm.ts`, `src/special.ts`), which is IEEE basic operations
 * only; `libm.ts` in this folder emits the same operations in the same order over f64x2 lanes, branches
 * turned into lane masks, so they too match the reference bit for bit (test/wasm-libm.test.ts). Only
 * general powers (`pow` with an exponent other than 2) stay in the reference: libm's pow branches on its
 * exponent into a data-dependent squaring loop and a double-double log, which has not been mirrored yet.
 *
 * Every op computes in float64 lanes, float32 data included (promoted on load, rounded once on store),
 * exactly as the reference computes `out[i] = f(x[i])` in doubles and stores into a Float32Array; so the
 * results are bit-for-bit the reference's. The exceptions are the float32 transcendental ops (exp, log,
 * sigmoid, tanh, and gelu, silu, softplus and elu with their derivatives): for float32 data they compute `src/libm32.ts`'s
 * float32 formulas in f32x4 lanes (`libm32.ts` in this folder), four lanes a trip and float32-length
 * polynomials instead of two lanes of float64 libm, and the reference computes the same formulas with
 * `Math.fround`, so they too are the reference's bits. Loops take four elements a trip (two for the long
 * float64 transcendental bodies) and may read and write up to three elements past the end: the caller pads
 * every region.
 */
import type { BinaryOp, UnaryOp } from '../types.js';
import type { Func, Local, ModuleBuilder } from './asm.js';
import { ELEMENT_BYTES, type WasmDType } from './gemm.js';
import { pushErfc, pushExp, pushExpm1, pushLog, pushLog1p, pushTanh } from './libm.js';
import {
  pushElu32,
  pushEluGrad32,
  pushExp32,
  pushGelu32,
  pushGeluGrad32,
  pushLog32,
  pushSigmoid32,
  pushSilu32,
  pushSiluGrad32,
  pushSoftplus32,
  pushSoftplusGrad32,
  pushTanh32,
} from './libm32.js';

/** Operand values in f64x2 locals; a body pushes its result (one f64x2). */
type Env = Record<string, Local>;
type Body = (f: Func, e: Env, lib: Helpers) => void;

/** Functions of the module that bodies call (indices for `Func.call`), added once per module. */
interface Helpers {
  /** (v128) → v128: erfc of both f64 lanes (gelu's forward and derivative share one copy of it). */
  erfc: number;
}

const helpers = new WeakMap<ModuleBuilder, Helpers>();

/** The module's helper functions, added on first use. */
function helpersOf(mod: ModuleBuilder): Helpers {
  let h = helpers.get(mod);
  if (!h) {
    h = { erfc: mod.func('libm_erfc', ['v128'], ['v128'], (f) => pushErfc(f, f.params[0])) };
    helpers.set(mod, h);
  }
  return h;
}

/** Pushes the f64x2 `c`, `c`. */
const splat = (f: Func, c: number) => f.f64x2(c, c);

/** bitselect(then, otherwise, mask): lanes of `then` where `mask` is all ones. */
function select(f: Func, then: () => void, otherwise: () => void, mask: () => void): void {
  then();
  otherwise();
  mask();
  f.op('v128.bitselect');
}

/** Run `push` (which pushes one f64x2) and keep its value in a new local. */
function temp(f: Func, push: () => void): Local {
  const l = f.local('v128');
  push();
  f.set(l);
  return l;
}

/** −x into a new local. */
const negated = (f: Func, x: Local) => temp(f, () => f.get(x).op('f64x2.neg'));

/** Mask of x > 0. */
const positive = (f: Func, x: Local) => splat(f.get(x), 0).op('f64x2.gt');

const SQRT1_2 = Math.SQRT1_2;
const INV_SQRT_2PI = 0.3989422804014327; // 1/√(2π), as the reference

/** erfc(−x/√2) into a new local: 2Φ(x), gelu's CDF term. */
const erfcOfMinusXOverSqrt2 = (f: Func, x: Local, lib: Helpers) =>
  temp(f, () => f.get(x).op('f64x2.neg').f64x2(SQRT1_2, SQRT1_2).op('f64x2.mul').call(lib.erfc));

/** A unary op in wasm: its body over `x` (and the splatted parameters `p0`, `p1`). */
interface UnaryRule {
  body: Body;
  /** Parameters this version handles (the rest go to the reference): pow runs in wasm only as a square. */
  when?: (p0: number, p1: number) => boolean;
  /** One f64x2 per loop trip instead of two: the body is long, and a second copy would only add code. */
  long?: boolean;
  /**
   * The float32 version, where it is not the float64 body on promoted lanes: a body over f32x4 locals (four
   * elements a trip) computing `src/libm32.ts`'s float32 formula, which the reference then computes too.
   */
  f32?: (f: Func, e: Env) => void;
}

/** Which of x (input), y (forward output) and g (incoming gradient) a derivative reads. */
export type GradInput = 'x' | 'y' | 'g';

/** A derivative in wasm: the arrays it reads, in the order its function takes them, and its body. */
interface GradRule extends UnaryRule {
  inputs: readonly GradInput[];
}

/**
 * Every unary op in wasm: the forward and, right below it, the derivative, each mirroring the reference's
 * expression (`../unary.ts`) in the same order of operations, comparisons included, so NaN and −0 come out
 * the same (relu keeps NaN, sends −0 to +0). null: that direction stays in the reference.
 */
export const UNARY: { [K in UnaryOp]: { forward: UnaryRule | null; grad: GradRule | null } } = {
  neg: {
    forward: { body: (f, e) => f.get(e.x).op('f64x2.neg') },
    grad: { inputs: ['g'], body: (f, e) => f.get(e.g).op('f64x2.neg') },
  },
  exp: {
    forward: { body: (f, e) => pushExp(f, e.x), long: true, f32: (f, e) => pushExp32(f, e.x) },
    grad: { inputs: ['g', 'y'], body: (f, e) => f.get(e.g).get(e.y).op('f64x2.mul') },
  },
  log: {
    forward: { body: (f, e) => pushLog(f, e.x), long: true, f32: (f, e) => pushLog32(f, e.x) },
    grad: { inputs: ['g', 'x'], body: (f, e) => f.get(e.g).get(e.x).op('f64x2.div') },
  },
  sqrt: {
    forward: { body: (f, e) => f.get(e.x).op('f64x2.sqrt') },
    grad: {
      inputs: ['g', 'y'],
      body: (f, e) => {
        f.get(e.g);
        splat(f, 2).get(e.y).op('f64x2.mul', 'f64x2.div');
      },
    },
  },
  abs: {
    forward: { body: (f, e) => f.get(e.x).op('f64x2.abs') },
    grad: {
      // x > 0 ? g : x < 0 ? −g : 0
      inputs: ['g', 'x'],
      body: (f, e) =>
        select(
          f,
          () => f.get(e.g),
          () =>
            select(
              f,
              () => f.get(e.g).op('f64x2.neg'),
              () => splat(f, 0),
              () => splat(f.get(e.x), 0).op('f64x2.lt'),
            ),
          () => splat(f.get(e.x), 0).op('f64x2.gt'),
        ),
    },
  },
  sigmoid: {
    forward: {
      // 1 / (1 + exp(−x))
      long: true,
      body: (f, e) => {
        const t = negated(f, e.x);
        splat(f, 1);
        splat(f, 1);
        pushExp(f, t);
        f.op('f64x2.add', 'f64x2.div');
      },
      f32: (f, e) => pushSigmoid32(f, e.x),
    },
    grad: {
      // g · (1 − y) · y
      inputs: ['g', 'y'],
      body: (f, e) => {
        f.get(e.g);
        splat(f, 1).get(e.y).op('f64x2.sub', 'f64x2.mul').get(e.y).op('f64x2.mul');
      },
    },
  },
  tanh: {
    forward: { body: (f, e) => pushTanh(f, e.x), long: true, f32: (f, e) => pushTanh32(f, e.x) },
    grad: {
      // g · (1 − y·y)
      inputs: ['g', 'y'],
      body: (f, e) => {
        f.get(e.g);
        splat(f, 1).get(e.y).get(e.y).op('f64x2.mul', 'f64x2.sub', 'f64x2.mul');
      },
    },
  },
  relu: {
    forward: {
      body: (f, e) =>
        select(
          f,
          () => f.get(e.x),
          () => splat(f, 0),
          () => {
            f.get(e.x);
            splat(f, 0).op('f64x2.gt');
            f.get(e.x).get(e.x).op('f64x2.ne', 'v128.or');
          },
        ),
    },
    grad: {
      // y > 0 ? g : 0, as a mask
      inputs: ['g', 'y'],
      body: (f, e) => {
        f.get(e.g).get(e.y);
        splat(f, 0).op('f64x2.gt', 'v128.and');
      },
    },
  },
  leakyRelu: {
    forward: {
      body: (f, e) =>
        select(
          f,
          () => f.get(e.x),
          () => f.get(e.x).get(e.p0).op('f64x2.mul'),
          () => splat(f.get(e.x), 0).op('f64x2.gt'),
        ),
    },
    grad: {
      inputs: ['g', 'x'],
      body: (f, e) =>
        select(
          f,
          () => f.get(e.g),
          () => f.get(e.g).get(e.p0).op('f64x2.mul'),
          () => splat(f.get(e.x), 0).op('f64x2.gt'),
        ),
    },
  },
  gelu: {
    forward: {
      // x · 0.5 · erfc(−x/√2)
      long: true,
      body: (f, e, lib) => {
        const c = erfcOfMinusXOverSqrt2(f, e.x, lib);
        f.get(e.x);
        splat(f, 0.5).op('f64x2.mul').get(c).op('f64x2.mul');
      },
      f32: (f, e) => pushGelu32(f, e.x),
    },
    grad: {
      // g · (cdf + x · pdf), cdf = 0.5 · erfc(−x/√2), pdf = exp(−0.5 · x · x) · 1/√(2π)
      long: true,
      inputs: ['g', 'x'],
      body: (f, e, lib) => {
        const c = erfcOfMinusXOverSqrt2(f, e.x, lib);
        const sq = temp(f, () => {
          splat(f, -0.5).get(e.x).op('f64x2.mul').get(e.x).op('f64x2.mul');
        });
        const ex = temp(f, () => pushExp(f, sq));
        f.get(e.g);
        splat(f, 0.5).get(c).op('f64x2.mul');
        f.get(e.x).get(ex);
        splat(f, INV_SQRT_2PI).op('f64x2.mul', 'f64x2.mul', 'f64x2.add', 'f64x2.mul');
      },
      // g · gelu'(x)
      f32: (f, e) => {
        f.get(e.g);
        pushGeluGrad32(f, e.x);
        f.op('f32x4.mul');
      },
    },
  },
  softplus: {
    forward: {
      // x > 0 ? x + log1p(exp(−x)) : log1p(exp(x)): one exp and one log1p of the lane's argument
      long: true,
      body: (f, e) => {
        const pos = temp(f, () => positive(f, e.x));
        const w = temp(f, () =>
          select(
            f,
            () => f.get(e.x).op('f64x2.neg'),
            () => f.get(e.x),
            () => f.get(pos),
          ),
        );
        const ex = temp(f, () => pushExp(f, w));
        const t = temp(f, () => pushLog1p(f, ex));
        select(
          f,
          () => f.get(e.x).get(t).op('f64x2.add'),
          () => f.get(t),
          () => f.get(pos),
        );
      },
      f32: (f, e) => pushSoftplus32(f, e.x),
    },
    grad: {
      // x ≥ 0 ? g / (1 + exp(−x)) : (g · e) / (1 + e) with e = exp(x)
      long: true,
      inputs: ['g', 'x'],
      body: (f, e) => {
        const nonNeg = temp(f, () => splat(f.get(e.x), 0).op('f64x2.ge'));
        const w = temp(f, () =>
          select(
            f,
            () => f.get(e.x).op('f64x2.neg'),
            () => f.get(e.x),
            () => f.get(nonNeg),
          ),
        );
        const ex = temp(f, () => pushExp(f, w));
        select(
          f,
          () => {
            f.get(e.g);
            splat(f, 1).get(ex).op('f64x2.add', 'f64x2.div');
          },
          () => {
            f.get(e.g).get(ex).op('f64x2.mul');
            splat(f, 1).get(ex).op('f64x2.add', 'f64x2.div');
          },
          () => f.get(nonNeg),
        );
      },
      f32: (f, e) => pushSoftplusGrad32(f, e.x, e.g),
    },
  },
  elu: {
    forward: {
      // x > 0 ? x : p0 · expm1(x); expm1's x > 40 arm is never selected
      long: true,
      body: (f, e) => {
        const m = temp(f, () => pushExpm1(f, e.x, false));
        select(
          f,
          () => f.get(e.x),
          () => f.get(e.p0).get(m).op('f64x2.mul'),
          () => positive(f, e.x),
        );
      },
      f32: (f, e) => pushElu32(f, e.x, e.p0),
    },
    grad: {
      // x > 0 ? g : g · p0 · exp(x)
      long: true,
      inputs: ['g', 'x'],
      body: (f, e) => {
        const ex = temp(f, () => pushExp(f, e.x));
        select(
          f,
          () => f.get(e.g),
          () => f.get(e.g).get(e.p0).op('f64x2.mul').get(ex).op('f64x2.mul'),
          () => positive(f, e.x),
        );
      },
      f32: (f, e) => pushEluGrad32(f, e.x, e.g, e.p0),
    },
  },
  silu: {
    forward: {
      // x / (1 + exp(−x))
      long: true,
      body: (f, e) => {
        const t = negated(f, e.x);
        f.get(e.x);
        splat(f, 1);
        pushExp(f, t);
        f.op('f64x2.add', 'f64x2.div');
      },
      f32: (f, e) => pushSilu32(f, e.x),
    },
    grad: {
      // g · s · (1 + x · (1 − s)), s = 1 / (1 + exp(−x))
      long: true,
      inputs: ['g', 'x'],
      body: (f, e) => {
        const t = negated(f, e.x);
        const s = temp(f, () => {
          splat(f, 1);
          splat(f, 1);
          pushExp(f, t);
          f.op('f64x2.add', 'f64x2.div');
        });
        f.get(e.g).get(s).op('f64x2.mul');
        splat(f, 1).get(e.x);
        splat(f, 1).get(s).op('f64x2.sub', 'f64x2.mul', 'f64x2.add', 'f64x2.mul');
      },
      f32: (f, e) => pushSiluGrad32(f, e.x, e.g),
    },
  },
  pow: {
    forward: { body: (f, e) => f.get(e.x).get(e.x).op('f64x2.mul'), when: (p0) => p0 === 2 },
    grad: {
      // g · 2 · x, for the square only
      inputs: ['g', 'x'],
      body: (f, e) => {
        f.get(e.g);
        splat(f, 2).op('f64x2.mul').get(e.x).op('f64x2.mul');
      },
      when: (p0) => p0 === 2,
    },
  },
  clamp: {
    forward: {
      // v < p0 ? p0 : v > p1 ? p1 : v
      body: (f, e) =>
        select(
          f,
          () => f.get(e.p0),
          () =>
            select(
              f,
              () => f.get(e.p1),
              () => f.get(e.x),
              () => f.get(e.x).get(e.p1).op('f64x2.gt'),
            ),
          () => f.get(e.x).get(e.p0).op('f64x2.lt'),
        ),
    },
    grad: {
      // p0 ≤ x ≤ p1 ? g : 0, as a mask
      inputs: ['g', 'x'],
      body: (f, e) => {
        f.get(e.g);
        f.get(e.x).get(e.p0).op('f64x2.ge');
        f.get(e.x).get(e.p1).op('f64x2.le', 'v128.and', 'v128.and');
      },
    },
  },
  addScalar: {
    forward: { body: (f, e) => f.get(e.x).get(e.p0).op('f64x2.add') },
    grad: null, // a copy of g: the reference's `set` is already a memcpy
  },
  mulScalar: {
    forward: { body: (f, e) => f.get(e.x).get(e.p0).op('f64x2.mul') },
    grad: { inputs: ['g'], body: (f, e) => f.get(e.g).get(e.p0).op('f64x2.mul') },
  },
  divScalar: {
    forward: { body: (f, e) => f.get(e.x).get(e.p0).op('f64x2.div') },
    grad: { inputs: ['g'], body: (f, e) => f.get(e.g).get(e.p0).op('f64x2.div') },
  },
  rsubScalar: {
    forward: { body: (f, e) => f.get(e.p0).get(e.x).op('f64x2.sub') },
    grad: { inputs: ['g'], body: (f, e) => f.get(e.g).op('f64x2.neg') },
  },
  rdivScalar: {
    forward: { body: (f, e) => f.get(e.p0).get(e.x).op('f64x2.div') },
    grad: {
      // (−g · y) / x
      inputs: ['g', 'y', 'x'],
      body: (f, e) => f.get(e.g).op('f64x2.neg').get(e.y).op('f64x2.mul').get(e.x).op('f64x2.div'),
    },
  },
};

/** Binary ops over a and b. */
export const BINARY: { [K in BinaryOp]: Body } = {
  add: (f, e) => f.get(e.a).get(e.b).op('f64x2.add'),
  sub: (f, e) => f.get(e.a).get(e.b).op('f64x2.sub'),
  mul: (f, e) => f.get(e.a).get(e.b).op('f64x2.mul'),
  div: (f, e) => f.get(e.a).get(e.b).op('f64x2.div'),
  // NaN in either operand gives NaN, as the reference (and PyTorch).
  maximum: (f, e) =>
    select(
      f,
      () => splat(f, NaN),
      () =>
        select(
          f,
          () => f.get(e.a),
          () => f.get(e.b),
          () => f.get(e.a).get(e.b).op('f64x2.gt'),
        ),
      () => f.get(e.a).get(e.a).op('f64x2.ne').get(e.b).get(e.b).op('f64x2.ne', 'v128.or'),
    ),
  // a > b ? 1 : a === b ? 0.5 : 0
  maximumMaskA: (f, e) =>
    select(
      f,
      () => splat(f, 1),
      () => splat(f, 0.5).get(e.a).get(e.b).op('f64x2.eq', 'v128.and'),
      () => f.get(e.a).get(e.b).op('f64x2.gt'),
    ),
  eqMask: (f, e) => splat(f, 1).get(e.a).get(e.b).op('f64x2.eq', 'v128.and'),
};

/** How a binary op's operands are laid out (the broadcast plans the reference has fast paths for). */
export type BinaryLayout = 'same' | 'scalarA' | 'scalarB' | 'rowB';

/** Export names, shared with the runtime that calls them. */
export const names = {
  unary: (dt: WasmDType, op: UnaryOp) => `${dt}_unary_${op}`,
  grad: (dt: WasmDType, op: UnaryOp) => `${dt}_grad_${op}`,
  binary: (dt: WasmDType, op: BinaryOp, layout: BinaryLayout) => `${dt}_binary_${op}_${layout}`,
};

/**
 * One elementwise function: `name(arrays…, out, n, scalars…)`, where each array operand is a byte address
 * and each scalar an f64 that the body sees splatted into both lanes.
 */
function addMap(
  mod: ModuleBuilder,
  name: string,
  dt: WasmDType,
  arrays: readonly string[],
  scalars: readonly string[],
  body: Body,
  lib: Helpers,
  pairs: 1 | 2 = 2,
): void {
  const S = ELEMENT_BYTES[dt];
  const params: ('i32' | 'f64')[] = [...arrays.map(() => 'i32' as const), 'i32', 'i32'];
  for (const _ of scalars) params.push('f64');
  mod.func(name, params, [], (f) => {
    const ptrs = f.params.slice(0, arrays.length);
    const [out, n] = f.params.slice(arrays.length, arrays.length + 2);
    const env: Env = {};
    scalars.forEach((s, i) => {
      env[s] = f.local('v128');
      f.get(f.params[arrays.length + 2 + i])
        .op('f64x2.splat')
        .set(env[s]);
    });
    for (const a of arrays) env[a] = f.local('v128');
    const i = f.local('i32');
    f.for(i, 0, n, 2 * pairs, () => {
      for (let half = 0; half < pairs; half++) {
        arrays.forEach((a, j) => {
          loadPair(f, dt, ptrs[j], half * 2 * S);
          f.set(env[a]);
        });
        f.get(out);
        body(f, env, lib);
        storePair(f, dt, half * 2 * S);
      }
      for (const p of [...ptrs, out]) f.inc(p, 2 * pairs * S);
    });
  });
}

/**
 * One float32 elementwise function in f32x4 lanes, four elements a trip: `name(arrays…, out, n, p0, p1)`,
 * the same signature as `addMap`'s; the body sees p0 rounded to float32 in all four lanes (elu's alpha,
 * which the reference rounds the same way).
 */
function addQuadMap(
  mod: ModuleBuilder,
  name: string,
  arrays: readonly string[],
  body: (f: Func, e: Env) => void,
): void {
  const params: ('i32' | 'f64')[] = [...arrays.map(() => 'i32' as const), 'i32', 'i32', 'f64', 'f64'];
  mod.func(name, params, [], (f) => {
    const ptrs = f.params.slice(0, arrays.length);
    const [out, n] = f.params.slice(arrays.length, arrays.length + 2);
    const env: Env = { p0: f.local('v128') };
    f.get(f.params[arrays.length + 2])
      .op('f32.demote_f64', 'f32x4.splat')
      .set(env.p0);
    for (const a of arrays) env[a] = f.local('v128');
    const i = f.local('i32');
    f.for(i, 0, n, 4, () => {
      arrays.forEach((a, j) => {
        f.get(ptrs[j]).mem('v128.load');
        f.set(env[a]);
      });
      f.get(out);
      body(f, env);
      f.mem('v128.store');
      for (const p of [...ptrs, out]) f.inc(p, 16);
    });
  });
}

/** Push two elements at ptr + offset as f64x2 (float32 ones promoted exactly). */
function loadPair(f: Func, dt: WasmDType, ptr: Local, offset: number): void {
  if (dt === 'f64') f.get(ptr).mem('v128.load', offset);
  else f.get(ptr).mem('v128.load64_zero', offset).op('f64x2.promote_low_f32x4');
}

/** Store the f64x2 on the stack at (address below it) + offset (float32: rounded to nearest). */
function storePair(f: Func, dt: WasmDType, offset: number): void {
  if (dt === 'f64') f.mem('v128.store', offset);
  else f.op('f32x4.demote_f64x2_zero').store64Lane(0, offset);
}

/**
 * rowB: out[r·cols + j] = op(a[r·cols + j], b[j]), the bias add of every Linear layer. A row's last trip
 * may spill up to three elements into the next row; that row then overwrites them.
 */
function addRowB(mod: ModuleBuilder, name: string, dt: WasmDType, body: Body, lib: Helpers): void {
  const S = ELEMENT_BYTES[dt];
  mod.func(name, ['i32', 'i32', 'i32', 'i32', 'i32'], [], (f) => {
    const [a, b, out, rows, cols] = f.params;
    const env: Env = { a: f.local('v128'), b: f.local('v128') };
    const r = f.local('i32');
    const j = f.local('i32');
    const ap = f.local('i32');
    const bp = f.local('i32');
    const op = f.local('i32');
    const rowBytes = f.local('i32');
    f.get(cols).i32(S).op('i32.mul').set(rowBytes);
    f.for(r, 0, rows, 1, () => {
      f.get(r).get(rowBytes).op('i32.mul').get(a).op('i32.add').set(ap);
      f.get(r).get(rowBytes).op('i32.mul').get(out).op('i32.add').set(op);
      f.get(b).set(bp);
      f.for(j, 0, cols, 4, () => {
        for (let half = 0; half < 2; half++) {
          loadPair(f, dt, ap, half * 2 * S);
          f.set(env.a);
          loadPair(f, dt, bp, half * 2 * S);
          f.set(env.b);
          f.get(op);
          body(f, env, lib);
          storePair(f, dt, half * 2 * S);
        }
        for (const p of [ap, bp, op]) f.inc(p, 4 * S);
      });
    });
  });
}

/** Add every elementwise function for one element type. */
export function addElementwise(mod: ModuleBuilder, dt: WasmDType): void {
  const lib = helpersOf(mod);
  for (const op of Object.keys(UNARY) as UnaryOp[]) {
    const { forward, grad } = UNARY[op];
    if (forward?.f32 && dt === 'f32') addQuadMap(mod, names.unary(dt, op), ['x'], forward.f32);
    else if (forward)
      addMap(mod, names.unary(dt, op), dt, ['x'], ['p0', 'p1'], forward.body, lib, forward.long ? 1 : 2);
    if (grad?.f32 && dt === 'f32') addQuadMap(mod, names.grad(dt, op), grad.inputs, grad.f32);
    else if (grad)
      addMap(mod, names.grad(dt, op), dt, grad.inputs, ['p0', 'p1'], grad.body, lib, grad.long ? 1 : 2);
  }
  for (const op of Object.keys(BINARY) as BinaryOp[]) {
    const body = BINARY[op];
    addMap(mod, names.binary(dt, op, 'same'), dt, ['a', 'b'], [], body, lib);
    addMap(mod, names.binary(dt, op, 'scalarA'), dt, ['b'], ['a'], body, lib);
    addMap(mod, names.binary(dt, op, 'scalarB'), dt, ['a'], ['b'], body, lib);
    addRowB(mod, names.binary(dt, op, 'rowB'), dt, body, lib);
  }
}
