/**
 * Elementwise kernels in WebAssembly SIMD: the unary ops, their derivatives and the binary ops whose
 * reference versions are plain IEEE arithmetic and comparisons. Ops built on exp, log1p or erfc (exp, log,
 * sigmoid's forward, tanh, gelu, softplus, elu, general powers) stay in the reference kernels: wasm has no
 * transcendental functions, and our own would not round as Math's do.
 *
 * Every op computes in float64 lanes, float32 data included (promoted on load, rounded once on store),
 * exactly as the reference computes `out[i] = f(x[i])` in doubles and stores into a Float32Array; so the
 * results are bit-for-bit the reference's. Loops take four elements a trip and may read and write up to
 * three elements past the end: the caller pads every region.
 */
import type { BinaryOp, UnaryOp } from '../types.js';
import type { Func, Local, ModuleBuilder } from './asm.js';
import { ELEMENT_BYTES, type WasmDType } from './gemm.js';

/** Operand values in f64x2 locals; a body pushes its result (one f64x2). */
type Env = Record<string, Local>;
type Body = (f: Func, e: Env) => void;

/** Pushes the f64x2 `c`, `c`. */
const splat = (f: Func, c: number) => f.f64x2(c, c);

/** bitselect(then, otherwise, mask): lanes of `then` where `mask` is all ones. */
function select(f: Func, then: () => void, otherwise: () => void, mask: () => void): void {
  then();
  otherwise();
  mask();
  f.op('v128.bitselect');
}

/** A unary op in wasm: its body over `x` (and the splatted parameters `p0`, `p1`). */
interface UnaryRule {
  body: Body;
  /** Parameters this version handles (the rest go to the reference): pow runs in wasm only as a square. */
  when?: (p0: number, p1: number) => boolean;
}

/**
 * Forward ops. Each mirrors the reference's expression, comparisons included, so NaN and −0 come out the
 * same (relu keeps NaN, sends −0 to +0).
 */
export const UNARY: { [K in UnaryOp]: UnaryRule | null } = {
  neg: { body: (f, e) => f.get(e.x).op('f64x2.neg') },
  exp: null,
  log: null,
  sqrt: { body: (f, e) => f.get(e.x).op('f64x2.sqrt') },
  abs: { body: (f, e) => f.get(e.x).op('f64x2.abs') },
  sigmoid: null,
  tanh: null,
  relu: {
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
  leakyRelu: {
    body: (f, e) =>
      select(
        f,
        () => f.get(e.x),
        () => f.get(e.x).get(e.p0).op('f64x2.mul'),
        () => splat(f.get(e.x), 0).op('f64x2.gt'),
      ),
  },
  gelu: null,
  softplus: null,
  elu: null,
  pow: { body: (f, e) => f.get(e.x).get(e.x).op('f64x2.mul'), when: (p0) => p0 === 2 },
  clamp: {
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
  addScalar: { body: (f, e) => f.get(e.x).get(e.p0).op('f64x2.add') },
  mulScalar: { body: (f, e) => f.get(e.x).get(e.p0).op('f64x2.mul') },
  divScalar: { body: (f, e) => f.get(e.x).get(e.p0).op('f64x2.div') },
  rsubScalar: { body: (f, e) => f.get(e.p0).get(e.x).op('f64x2.sub') },
  rdivScalar: { body: (f, e) => f.get(e.p0).get(e.x).op('f64x2.div') },
};

/** Which of x (input), y (forward output) and g (incoming gradient) a derivative reads. */
export type GradInput = 'x' | 'y' | 'g';

/** A derivative in wasm: the arrays it reads, in the order its function takes them, and its body. */
interface GradRule extends UnaryRule {
  inputs: readonly GradInput[];
}

/** Derivatives, each the reference's expression in the same order of operations. */
export const UNARY_GRAD: { [K in UnaryOp]: GradRule | null } = {
  neg: { inputs: ['g'], body: (f, e) => f.get(e.g).op('f64x2.neg') },
  exp: { inputs: ['g', 'y'], body: (f, e) => f.get(e.g).get(e.y).op('f64x2.mul') },
  log: { inputs: ['g', 'x'], body: (f, e) => f.get(e.g).get(e.x).op('f64x2.div') },
  sqrt: {
    inputs: ['g', 'y'],
    body: (f, e) => {
      f.get(e.g);
      splat(f, 2).get(e.y).op('f64x2.mul', 'f64x2.div');
    },
  },
  abs: {
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
  sigmoid: {
    // g · (1 − y) · y
    inputs: ['g', 'y'],
    body: (f, e) => {
      f.get(e.g);
      splat(f, 1).get(e.y).op('f64x2.sub', 'f64x2.mul').get(e.y).op('f64x2.mul');
    },
  },
  tanh: {
    // g · (1 − y·y)
    inputs: ['g', 'y'],
    body: (f, e) => {
      f.get(e.g);
      splat(f, 1).get(e.y).get(e.y).op('f64x2.mul', 'f64x2.sub', 'f64x2.mul');
    },
  },
  relu: {
    // y > 0 ? g : 0, as a mask
    inputs: ['g', 'y'],
    body: (f, e) => {
      f.get(e.g).get(e.y);
      splat(f, 0).op('f64x2.gt', 'v128.and');
    },
  },
  leakyRelu: {
    inputs: ['g', 'x'],
    body: (f, e) =>
      select(
        f,
        () => f.get(e.g),
        () => f.get(e.g).get(e.p0).op('f64x2.mul'),
        () => splat(f.get(e.x), 0).op('f64x2.gt'),
      ),
  },
  gelu: null,
  softplus: null,
  elu: null,
  pow: {
    // g · 2 · x, for the square only
    inputs: ['g', 'x'],
    body: (f, e) => {
      f.get(e.g);
      splat(f, 2).op('f64x2.mul').get(e.x).op('f64x2.mul');
    },
    when: (p0) => p0 === 2,
  },
  clamp: {
    // p0 ≤ x ≤ p1 ? g : 0, as a mask
    inputs: ['g', 'x'],
    body: (f, e) => {
      f.get(e.g);
      f.get(e.x).get(e.p0).op('f64x2.ge');
      f.get(e.x).get(e.p1).op('f64x2.le', 'v128.and', 'v128.and');
    },
  },
  addScalar: null, // a copy of g: the reference's `set` is already a memcpy
  mulScalar: { inputs: ['g'], body: (f, e) => f.get(e.g).get(e.p0).op('f64x2.mul') },
  divScalar: { inputs: ['g'], body: (f, e) => f.get(e.g).get(e.p0).op('f64x2.div') },
  rsubScalar: { inputs: ['g'], body: (f, e) => f.get(e.g).op('f64x2.neg') },
  rdivScalar: {
    // (−g · y) / x
    inputs: ['g', 'y', 'x'],
    body: (f, e) => f.get(e.g).op('f64x2.neg').get(e.y).op('f64x2.mul').get(e.x).op('f64x2.div'),
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
    f.for(i, 0, n, 4, () => {
      for (let half = 0; half < 2; half++) {
        arrays.forEach((a, j) => {
          loadPair(f, dt, ptrs[j], half * 2 * S);
          f.set(env[a]);
        });
        f.get(out);
        body(f, env);
        storePair(f, dt, half * 2 * S);
      }
      for (const p of [...ptrs, out]) f.inc(p, 4 * S);
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
function addRowB(mod: ModuleBuilder, name: string, dt: WasmDType, body: Body): void {
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
          body(f, env);
          storePair(f, dt, half * 2 * S);
        }
        for (const p of [ap, bp, op]) f.inc(p, 4 * S);
      });
    });
  });
}

/** Add every elementwise function for one element type. */
export function addElementwise(mod: ModuleBuilder, dt: WasmDType): void {
  for (const op of Object.keys(UNARY) as UnaryOp[]) {
    const rule = UNARY[op];
    if (rule) addMap(mod, names.unary(dt, op), dt, ['x'], ['p0', 'p1'], rule.body);
  }
  for (const op of Object.keys(UNARY_GRAD) as UnaryOp[]) {
    const rule = UNARY_GRAD[op];
    if (rule) addMap(mod, names.grad(dt, op), dt, rule.inputs, ['p0', 'p1'], rule.body);
  }
  for (const op of Object.keys(BINARY) as BinaryOp[]) {
    const body = BINARY[op];
    addMap(mod, names.binary(dt, op, 'same'), dt, ['a', 'b'], [], body);
    addMap(mod, names.binary(dt, op, 'scalarA'), dt, ['b'], ['a'], body);
    addMap(mod, names.binary(dt, op, 'scalarB'), dt, ['a'], ['b'], body);
    addRowB(mod, names.binary(dt, op, 'rowB'), dt, body);
  }
}
