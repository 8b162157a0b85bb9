/**
 * The optimizer updates in WebAssembly SIMD: SGD (plain, weight decay, momentum with dampening and
 * Nesterov), Adam/AdamW (L2 or decoupled decay, AMSGrad), RMSprop (centered, momentum) and Adagrad, in
 * place over the parameter, its gradient and the optimizer's state.
 *
 * Like the elementwise kernels, they compute in float64 lanes (float32 data promoted on load and rounded
 * once per store) and perform the reference's operations in its order, re-reading every stored state
 * value at its stored precision as the reference does; so they give the reference's bits. Each variant of
 * the flags (momentum, weight decay, first step, …) is a function of its own, so no lane tests a flag.
 * Loops take two elements a trip and may read and write one element past the end: the caller pads.
 */
import type { Func, Local, ModuleBuilder } from './asm.js';
import { ELEMENT_BYTES, type WasmDType } from './gemm.js';

/** The flags that pick an SGD function. */
export interface SgdVariant {
  momentum: boolean;
  weightDecay: boolean;
  nesterov: boolean;
  first: boolean;
}

/** The flags that pick an Adam function. */
export interface AdamVariant {
  /** Decoupled decay (AdamW): p·decay before the update. */
  decay: boolean;
  /** Adam's L2 term: g + weightDecay·p. */
  weightDecay: boolean;
  amsgrad: boolean;
}

/** The flags that pick an RMSprop function. */
export interface RmspropVariant {
  weightDecay: boolean;
  centered: boolean;
  momentum: boolean;
}

const bit = (b: boolean) => (b ? '1' : '0');

/** Export names, shared with the runtime that calls them. */
export const optimNames = {
  sgd: (dt: WasmDType, v: SgdVariant) =>
    `${dt}_sgd_${bit(v.momentum)}${bit(v.weightDecay)}${bit(v.nesterov)}${bit(v.first)}`,
  adam: (dt: WasmDType, v: AdamVariant) => `${dt}_adam_${bit(v.decay)}${bit(v.weightDecay)}${bit(v.amsgrad)}`,
  rmsprop: (dt: WasmDType, v: RmspropVariant) =>
    `${dt}_rmsprop_${bit(v.weightDecay)}${bit(v.centered)}${bit(v.momentum)}`,
  adagrad: (dt: WasmDType, weightDecay: boolean) => `${dt}_adagrad_${bit(weightDecay)}`,
};

/** Every RMSprop variant. */
export const RMSPROP_VARIANTS: readonly RmspropVariant[] = [false, true].flatMap((weightDecay) =>
  [false, true].flatMap((centered) => [false, true].map((momentum) => ({ weightDecay, centered, momentum }))),
);

/** Where an SGD variant's function sits in a table of 16 (its flags as bits), so calls build no names. */
export function sgdIndex(momentum: boolean, weightDecay: boolean, nesterov: boolean, first: boolean): number {
  return (momentum ? 8 : 0) | (weightDecay ? 4 : 0) | (nesterov ? 2 : 0) | (first ? 1 : 0);
}

/** Where an Adam variant's function sits in a table of 8. */
export function adamIndex(decay: boolean, weightDecay: boolean, amsgrad: boolean): number {
  return (decay ? 4 : 0) | (weightDecay ? 2 : 0) | (amsgrad ? 1 : 0);
}

/** Where an RMSprop variant's function sits in a table of 8. */
export function rmspropIndex(weightDecay: boolean, centered: boolean, momentum: boolean): number {
  return (weightDecay ? 4 : 0) | (centered ? 2 : 0) | (momentum ? 1 : 0);
}

/** Every SGD variant: without momentum, Nesterov and the first step mean nothing. */
export const SGD_VARIANTS: readonly SgdVariant[] = [false, true].flatMap((momentum) =>
  [false, true].flatMap((weightDecay) =>
    (momentum ? [false, true] : [false]).flatMap((nesterov) =>
      (momentum ? [false, true] : [false]).map((first) => ({ momentum, weightDecay, nesterov, first })),
    ),
  ),
);

/** Every Adam variant (AdamW's decoupled decay and Adam's L2 term never come together). */
export const ADAM_VARIANTS: readonly AdamVariant[] = [
  [false, false],
  [true, false],
  [false, true],
].flatMap(([decay, weightDecay]) => [false, true].map((amsgrad) => ({ decay, weightDecay, amsgrad })));

/** Push the two elements at ptr as f64x2 (float32 promoted exactly). */
function load(f: Func, dt: WasmDType, ptr: Local): void {
  if (dt === 'f64') f.get(ptr).mem('v128.load');
  else f.get(ptr).mem('v128.load64_zero').op('f64x2.promote_low_f32x4');
}

/** Store the f64x2 in `value` at ptr (float32: rounded to nearest). */
function store(f: Func, dt: WasmDType, ptr: Local, value: Local): void {
  f.get(ptr).get(value);
  if (dt === 'f64') f.mem('v128.store');
  else f.op('f32x4.demote_f64x2_zero').store64Lane(0);
}

/** Replace the f64x2 in `value` by what storing and re-reading it gives (float32: rounded). */
function stored(f: Func, dt: WasmDType, value: Local): void {
  if (dt === 'f32') f.get(value).op('f32x4.demote_f64x2_zero', 'f64x2.promote_low_f32x4').set(value);
}

/** Splat f64 parameters into v128 locals. */
function splats(f: Func, params: readonly Local[]): Local[] {
  return params.map((p) => {
    const l = f.local('v128');
    f.get(p).op('f64x2.splat').set(l);
    return l;
  });
}

/** A loop over n elements two at a time, advancing each pointer by two elements per trip. */
function pairs(f: Func, dt: WasmDType, n: Local, ptrs: readonly Local[], body: () => void): void {
  const i = f.local('i32');
  f.for(i, 0, n, 2, () => {
    body();
    for (const p of ptrs) f.inc(p, 2 * ELEMENT_BYTES[dt]);
  });
}

/** `sgd(p, g, buf, n, −lr, momentum, 1 − dampening, weightDecay)`. */
function addSgd(mod: ModuleBuilder, dt: WasmDType, v: SgdVariant): void {
  const params = ['i32', 'i32', 'i32', 'i32', 'f64', 'f64', 'f64', 'f64'] as const;
  mod.func(optimNames.sgd(dt, v), [...params], [], (f) => {
    const [p, g, buf, n] = f.params;
    const [negLr, mu, keep, wd] = splats(f, f.params.slice(4));
    const P = f.local('v128');
    const D = f.local('v128');
    const B = f.local('v128');
    pairs(f, dt, n, v.momentum ? [p, g, buf] : [p, g], () => {
      load(f, dt, p);
      f.set(P);
      // d = g (+ wd·p)
      load(f, dt, g);
      if (v.weightDecay) f.get(wd).get(P).op('f64x2.mul', 'f64x2.add');
      f.set(D);
      if (v.momentum) {
        // buf = d on the first step, else buf·μ + (1 − dampening)·d; then d = buf or d + μ·buf.
        if (v.first) f.get(D).set(B);
        else {
          load(f, dt, buf);
          f.get(mu).op('f64x2.mul').get(keep).get(D).op('f64x2.mul', 'f64x2.add').set(B);
        }
        store(f, dt, buf, B);
        stored(f, dt, B);
        if (v.nesterov) f.get(D).get(mu).get(B).op('f64x2.mul', 'f64x2.add').set(D);
        else f.get(B).set(D);
      }
      // p = p + (−lr)·d
      f.get(P).get(negLr).get(D).op('f64x2.mul', 'f64x2.add').set(P);
      store(f, dt, p, P);
    });
  });
}

/** `adam(p, g, m, v, vmax, n, −stepSize, β1, 1 − β1, β2, 1 − β2, bc2Sqrt, eps, weightDecay, decay)`. */
function addAdam(mod: ModuleBuilder, dt: WasmDType, v: AdamVariant): void {
  const params = ['i32', 'i32', 'i32', 'i32', 'i32', 'i32', ...new Array<'f64'>(9).fill('f64')] as const;
  mod.func(optimNames.adam(dt, v), [...params], [], (f) => {
    const [p, g, m, vs, vmax, n] = f.params;
    const [negStep, b1, c1, b2, c2, bc2, eps, wd, decay] = splats(f, f.params.slice(6));
    const P = f.local('v128');
    const G = f.local('v128');
    const M = f.local('v128');
    const S = f.local('v128');
    const X = f.local('v128');
    pairs(f, dt, n, v.amsgrad ? [p, g, m, vs, vmax] : [p, g, m, vs], () => {
      load(f, dt, p);
      f.set(P);
      if (v.decay) {
        f.get(P).get(decay).op('f64x2.mul').set(P);
        stored(f, dt, P);
      }
      load(f, dt, g);
      if (v.weightDecay) f.get(wd).get(P).op('f64x2.mul', 'f64x2.add');
      f.set(G);
      // m = m·β1 + (1 − β1)·g
      load(f, dt, m);
      f.get(b1).op('f64x2.mul').get(c1).get(G).op('f64x2.mul', 'f64x2.add').set(M);
      store(f, dt, m, M);
      stored(f, dt, M);
      // v = v·β2 + (1 − β2)·g·g
      load(f, dt, vs);
      f.get(b2).op('f64x2.mul').get(c2).get(G).op('f64x2.mul').get(G).op('f64x2.mul', 'f64x2.add').set(S);
      store(f, dt, vs, S);
      stored(f, dt, S);
      if (v.amsgrad) {
        // vmax = s > vmax ? s : vmax (NaN keeps vmax); s = vmax
        load(f, dt, vmax);
        f.set(X);
        f.get(S).get(X).get(S).get(X).op('f64x2.gt', 'v128.bitselect').set(S);
        store(f, dt, vmax, S);
      }
      // p = p + (−stepSize)·(m / (√s / bc2Sqrt + eps))
      f.get(P).get(negStep).get(M);
      f.get(S).op('f64x2.sqrt').get(bc2).op('f64x2.div').get(eps).op('f64x2.add');
      f.op('f64x2.div', 'f64x2.mul', 'f64x2.add').set(P);
      store(f, dt, p, P);
    });
  });
}

/** `rmsprop(p, g, sq, ga, buf, n, −lr, α, 1 − α, eps, weightDecay, momentum)`. */
function addRmsprop(mod: ModuleBuilder, dt: WasmDType, v: RmspropVariant): void {
  const params = ['i32', 'i32', 'i32', 'i32', 'i32', 'i32', ...new Array<'f64'>(6).fill('f64')] as const;
  mod.func(optimNames.rmsprop(dt, v), [...params], [], (f) => {
    const [p, g, sq, ga, buf, n] = f.params;
    const [negLr, alpha, keep, eps, wd, mu] = splats(f, f.params.slice(6));
    const P = f.local('v128');
    const G = f.local('v128');
    const S = f.local('v128');
    const A = f.local('v128');
    const B = f.local('v128');
    const ptrs = [p, g, sq, ...(v.centered ? [ga] : []), ...(v.momentum ? [buf] : [])];
    pairs(f, dt, n, ptrs, () => {
      load(f, dt, p);
      f.set(P);
      load(f, dt, g);
      if (v.weightDecay) f.get(wd).get(P).op('f64x2.mul', 'f64x2.add');
      f.set(G);
      // sq = sq·α + (1 − α)·g·g
      load(f, dt, sq);
      f.get(alpha)
        .op('f64x2.mul')
        .get(keep)
        .get(G)
        .op('f64x2.mul')
        .get(G)
        .op('f64x2.mul', 'f64x2.add')
        .set(S);
      store(f, dt, sq, S);
      stored(f, dt, S);
      if (v.centered) {
        // ga = ga·α + (1 − α)·g; avg = √(sq + (−1·ga)·ga) + eps
        load(f, dt, ga);
        f.get(alpha).op('f64x2.mul').get(keep).get(G).op('f64x2.mul', 'f64x2.add').set(A);
        store(f, dt, ga, A);
        stored(f, dt, A);
        f.get(S).f64x2(-1, -1).get(A).op('f64x2.mul').get(A).op('f64x2.mul', 'f64x2.add');
      } else f.get(S);
      f.op('f64x2.sqrt').get(eps).op('f64x2.add').set(A);
      if (v.momentum) {
        // buf = buf·momentum + g/avg; p = p + (−lr)·buf
        load(f, dt, buf);
        f.get(mu).op('f64x2.mul').get(G).get(A).op('f64x2.div', 'f64x2.add').set(B);
        store(f, dt, buf, B);
        stored(f, dt, B);
        f.get(P).get(negLr).get(B).op('f64x2.mul', 'f64x2.add').set(P);
      } else f.get(P).get(negLr).get(G).get(A).op('f64x2.div', 'f64x2.mul', 'f64x2.add').set(P);
      store(f, dt, p, P);
    });
  });
}

/** `adagrad(p, g, sum, n, −clr, eps, weightDecay)`. */
function addAdagrad(mod: ModuleBuilder, dt: WasmDType, weightDecay: boolean): void {
  const params = ['i32', 'i32', 'i32', 'i32', 'f64', 'f64', 'f64'] as const;
  mod.func(optimNames.adagrad(dt, weightDecay), [...params], [], (f) => {
    const [p, g, sum, n] = f.params;
    const [negLr, eps, wd] = splats(f, f.params.slice(4));
    const P = f.local('v128');
    const G = f.local('v128');
    const S = f.local('v128');
    pairs(f, dt, n, [p, g, sum], () => {
      load(f, dt, p);
      f.set(P);
      load(f, dt, g);
      if (weightDecay) f.get(wd).get(P).op('f64x2.mul', 'f64x2.add');
      f.set(G);
      // sum = sum + g·g; p = p + (−clr)·(g / (√sum + eps))
      load(f, dt, sum);
      f.get(G).get(G).op('f64x2.mul', 'f64x2.add').set(S);
      store(f, dt, sum, S);
      stored(f, dt, S);
      f.get(P).get(negLr).get(G);
      f.get(S).op('f64x2.sqrt').get(eps).op('f64x2.add', 'f64x2.div', 'f64x2.mul', 'f64x2.add').set(P);
      store(f, dt, p, P);
    });
  });
}

/** Add every optimizer function for one element type. */
export function addOptim(mod: ModuleBuilder, dt: WasmDType): void {
  for (const v of SGD_VARIANTS) addSgd(mod, dt, v);
  for (const v of ADAM_VARIANTS) addAdam(mod, dt, v);
  for (const v of RMSPROP_VARIANTS) addRmsprop(mod, dt, v);
  for (const wd of [false, true]) addAdagrad(mod, dt, wd);
}
