/**
 * Normalization (BatchNorm, LayerNorm) in WebAssembly SIMD, with the reference's bits: each group's
 * moments, the normalization with its scale and shift, and its gradients, over x viewed as [outer, groups,
 * inner] (`NormGeometry`; the reference loops and their order are `../norm.ts`).
 *
 * The reference accumulates in doubles, float32 data included, and each group's sums run from zero over o,
 * then i, in order. SIMD along a row would change that order, so the sums run groups side by side instead:
 * two rows (groups) per f64x2, row j in lane 0 and row j + 1 in lane 1, each lane its own sequential chain.
 * Two elements of each row are loaded at a time and the 2×2 block transposed by shuffles, so no gather is
 * needed; a block of such vectors keeps several chains in flight. What does not sum (the
 * normalization, the input gradient) runs along the row, two elements per f64x2, with the group's numbers
 * splatted. Float32 is promoted on load and rounded once per store; the LayerNorm scale's and shift's
 * gradients, which the reference accumulates in place across rows (row after row, rounded to the element
 * type at every step), are accumulated the same way, rows of a block in order.
 *
 * A null scale or shift is passed as ones or zeros (x·1 and x + 0 are what the reference computes there),
 * and gradients that are not wanted go to scratch, so no loop tests a flag per element.
 */
import type { Func, Local, ModuleBuilder } from './asm.js';
import { ELEMENT_BYTES, type WasmDType } from './gemm.js';
import { byteLanes } from './loops.js';

/** Export names, shared with the runtime that calls them. */
export const normNames = {
  moments: (dt: WasmDType) => `${dt}_norm_moments`,
  normalize: (dt: WasmDType) => `${dt}_norm_normalize`,
  gradGroup: (dt: WasmDType) => `${dt}_norm_grad_group`,
  gradInner: (dt: WasmDType) => `${dt}_norm_grad_inner`,
};

/** Flags of the gradient functions. */
export const NORM_GRAD_FLAGS = {
  /** The statistics are x's own (`batchStats`): gx has the Σĝ and Σĝx̂ terms. */
  batchStats: 1,
  /** gx is wanted. */
  gx: 2,
  /** Rows may run side by side (LayerNorm's scale gradient with outer > 1 must take one group at a time). */
  pairs: 4,
} as const;

/**
 * Pairs of groups summed side by side (2·pairs chains in flight), per function: the moments' loop is short
 * and latency-bound; the gradients' loops have enough work per element that more pairs only spill registers.
 */
const PAIRS = { moments: 4, gradGroup: 2, gradInner: 1 };

/** Most pairs of any gradient function. */
const MAX_GRAD_PAIRS = Math.max(PAIRS.gradGroup, PAIRS.gradInner);

/** Bytes of scratch the gradient functions need: each group's Σĝ and Σĝx̂ for one block (doubles). */
export const NORM_SCRATCH_BYTES = 2 * 2 * MAX_GRAD_PAIRS * 8;

/** Lane 0 of both operands, and lane 1 of both: a 2×2 transpose of two rows' element pairs. */
const LO = byteLanes([0, 2], 8);
const HI = byteLanes([1, 3], 8);

/** What every function here shares: the element type's loads, stores and rounding. */
class Emit {
  readonly S: number;
  constructor(
    readonly f: Func,
    readonly dt: WasmDType,
  ) {
    this.S = ELEMENT_BYTES[dt];
  }

  /** Two elements at the address on the stack, as an f64x2. */
  load2(): void {
    if (this.dt === 'f64') this.f.mem('v128.load');
    else this.f.mem('v128.load64_zero').op('f64x2.promote_low_f32x4');
  }

  /** One element at the address on the stack, in both lanes. */
  load1(): void {
    if (this.dt === 'f64') this.f.mem('v128.load64_splat');
    else this.f.mem('v128.load32_splat').op('f64x2.promote_low_f32x4');
  }

  /** Store both lanes (address, then value on the stack). */
  store2(): void {
    if (this.dt === 'f64') this.f.mem('v128.store');
    else this.f.op('f32x4.demote_f64x2_zero').store64Lane(0);
  }

  /** Store lane 0 only. */
  store1(): void {
    if (this.dt === 'f64') this.f.store64Lane(0);
    else this.f.op('f32x4.demote_f64x2_zero').lane('f32x4.extract_lane', 0).mem('f32.store');
  }

  /** Round the f64x2 on the stack to the element type, as storing and reloading it would. */
  round(): void {
    if (this.dt === 'f32') this.f.op('f32x4.demote_f64x2_zero', 'f64x2.promote_low_f32x4');
  }

  /** Push `base + index·S`. */
  at(base: Local, index: Local | number): this {
    this.f.get(base);
    if (typeof index === 'number') this.f.i32(index * this.S);
    else this.f.get(index).i32(this.S).op('i32.mul');
    this.f.op('i32.add');
    return this;
  }

  /** Push 1 / √(variance[j] + eps) in both lanes (`two`: groups j and j + 1, one per lane). */
  rstd(variance: Local, j: Local, EPS: Local, two: boolean): void {
    const f = this.f;
    f.f64x2(1, 1);
    this.at(variance, j);
    if (two) this.load2();
    else this.load1();
    f.get(EPS).op('f64x2.add', 'f64x2.sqrt', 'f64x2.div');
  }
}

/**
 * Loop `j` over the groups a block at a time: blocks of 2·most groups while they fit (and `pairs` allows),
 * then of 2, then of one group. `body(P, single)` emits a block of P pairs; `single`: one group, read as
 * both rows of a pair (lane 1 a copy of lane 0, never stored).
 */
function groupBlocks(
  f: Func,
  j: Local,
  groups: Local,
  most: number,
  pairs: Local | null,
  body: (P: number, single: boolean) => void,
): void {
  const run = (width: number, P: number, single: boolean) =>
    f.block((done) =>
      f.loop((top) => {
        f.get(j).i32(width).op('i32.add').get(groups).op('i32.gt_s').brIf(done);
        body(P, single);
        f.inc(j, width).br(top);
      }),
    );
  f.i32(0).set(j);
  const paired = () => {
    run(2 * most, most, false);
    run(2, 1, false);
  };
  if (pairs === null) paired();
  else f.get(pairs).if(paired);
  run(1, 1, true);
}

/**
 * Loop over the elements of one row pair, two at a time and then the odd one: `step(tail)` emits one trip
 * (tail: one element, loads splatted); `advance` moves the row pointers on by two elements.
 */
function alongRow(f: Func, i: Local, inner: Local, step: (tail: boolean) => void, advance: () => void): void {
  f.i32(0).set(i);
  f.block((done) =>
    f.loop((top) => {
      f.get(i).i32(2).op('i32.add').get(inner).op('i32.gt_s').brIf(done);
      step(false);
      advance();
      f.inc(i, 2).br(top);
    }),
  );
  f.get(i).get(inner).op('i32.lt_s');
  f.if(() => step(true));
}

/** Row offsets within a block of `most` pairs: rb[k] = k·rowBytes; rb[0] is unused. */
function rowOffsets(f: Func, rowBytes: Local, most: number): Local[] {
  const rb = [rowBytes];
  for (let k = 1; k < 2 * most; k++) {
    const l = f.local('i32');
    f.get(rowBytes).i32(k).op('i32.mul').set(l);
    rb.push(l);
  }
  return rb;
}

/** Push the address of row k of a block whose first row is at q (row 0: q itself). */
function rowAt(f: Func, q: Local, rb: Local[], k: number): void {
  f.get(q);
  if (k > 0) f.get(rb[k]).op('i32.add');
}

/** q = base + ((o·groups + j)·rowBytes): the first row of block j in outer block o. */
function rowStart(f: Func, q: Local, base: Local, o: Local, groups: Local, j: Local, rowBytes: Local): void {
  f.get(base)
    .get(o)
    .get(groups)
    .op('i32.mul')
    .get(j)
    .op('i32.add')
    .get(rowBytes)
    .op('i32.mul', 'i32.add')
    .set(q);
}

/** `moments(x, mean, variance, outer, groups, inner)`: `Kernels.moments`. */
function addMoments(mod: ModuleBuilder, dt: WasmDType): void {
  const most = PAIRS.moments;
  mod.func(normNames.moments(dt), ['i32', 'i32', 'i32', 'i32', 'i32', 'i32'], [], (f) => {
    const e = new Emit(f, dt);
    const [x, mean, variance, outer, groups, inner] = f.params;
    const [j, o, i, q, rowBytes] = [1, 2, 3, 4, 5].map(() => f.local('i32'));
    const count = f.local('v128');
    const A = f.local('v128');
    const B = f.local('v128');
    const D = f.local('v128');
    const acc = Array.from({ length: most }, () => f.local('v128'));
    const M = Array.from({ length: most }, () => f.local('v128'));
    f.get(inner).i32(e.S).op('i32.mul').set(rowBytes);
    const rb = rowOffsets(f, rowBytes, most);
    f.get(outer).get(inner).op('i32.mul', 'f64.convert_i32_s', 'f64x2.splat').set(count);

    // One sweep over the block's rows: `add(p, value)` folds the group-lane vector `value` into pair p.
    const sweep = (P: number, single: boolean, add: (p: number, value: () => void) => void) =>
      f.for(o, 0, outer, 1, () => {
        rowStart(f, q, x, o, groups, j, rowBytes);
        alongRow(
          f,
          i,
          inner,
          (tail) => {
            for (let p = 0; p < P; p++) {
              rowAt(f, q, rb, 2 * p);
              if (tail) e.load1();
              else e.load2();
              f.set(A);
              if (!single) {
                rowAt(f, q, rb, 2 * p + 1);
                if (tail) e.load1();
                else e.load2();
                f.set(B);
              }
              const b = single ? A : B;
              add(p, () => f.get(A).get(b).shuffle(LO));
              if (!tail) add(p, () => f.get(A).get(b).shuffle(HI));
            }
          },
          () => f.inc(q, 2 * e.S),
        );
      });
    const store = (P: number, single: boolean, out: Local, value: (p: number) => void) => {
      for (let p = 0; p < P; p++) {
        e.at(out, j);
        if (p > 0) f.i32(2 * p * e.S).op('i32.add');
        value(p);
        if (single) e.store1();
        else e.store2();
      }
    };

    groupBlocks(f, j, groups, most, null, (P, single) => {
      for (let p = 0; p < P; p++) f.zero128().set(acc[p]);
      sweep(P, single, (p, value) => {
        f.get(acc[p]);
        value();
        f.op('f64x2.add').set(acc[p]);
      });
      for (let p = 0; p < P; p++) {
        f.get(acc[p]).get(count).op('f64x2.div').set(M[p]);
        f.zero128().set(acc[p]);
      }
      // mean stored rounded; the second pass subtracts the unrounded one, as the reference's local m.
      store(P, single, mean, (p) => f.get(M[p]));
      sweep(P, single, (p, value) => {
        f.get(acc[p]);
        value();
        f.get(M[p]).op('f64x2.sub').tee(D).get(D).op('f64x2.mul', 'f64x2.add').set(acc[p]);
      });
      store(P, single, variance, (p) => f.get(acc[p]).get(count).op('f64x2.div'));
    });
  });
}

/**
 * `normalize(x, mean, variance, scale, shift, out, outer, groups, inner, byGroup, eps)`: `Kernels.normalize`,
 * scale and shift never null (ones, zeros), each of `groups` entries (byGroup ≠ 0) or `inner`.
 */
function addNormalize(mod: ModuleBuilder, dt: WasmDType): void {
  const params = ['i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'f64'] as const;
  mod.func(normNames.normalize(dt), params, [], (f) => {
    const e = new Emit(f, dt);
    const [x, mean, variance, scale, shift, out, outer, groups, inner, byGroup, eps] = f.params;
    const [j, o, i, qx, qo, qs, qt, rowBytes] = [1, 2, 3, 4, 5, 6, 7, 8].map(() => f.local('i32'));
    const EPS = f.local('v128');
    const m = f.local('v128');
    const r = f.local('v128');
    const a = f.local('v128');
    const t = f.local('v128');
    f.get(inner).i32(e.S).op('i32.mul').set(rowBytes);
    f.get(eps).op('f64x2.splat').set(EPS);
    // Every row of group j: `value(tail)` pushes the output for the element(s) at qx (and qs, qt).
    const rows = (inScale: boolean, value: (tail: boolean) => void) =>
      f.for(o, 0, outer, 1, () => {
        rowStart(f, qx, x, o, groups, j, rowBytes);
        rowStart(f, qo, out, o, groups, j, rowBytes);
        if (inScale) f.get(scale).set(qs).get(shift).set(qt);
        alongRow(
          f,
          i,
          inner,
          (tail) => {
            f.get(qo);
            value(tail);
            if (tail) e.store1();
            else e.store2();
          },
          () => {
            f.inc(qx, 2 * e.S).inc(qo, 2 * e.S);
            if (inScale) f.inc(qs, 2 * e.S).inc(qt, 2 * e.S);
          },
        );
      });
    const load = (q: Local, tail: boolean) => {
      f.get(q);
      if (tail) e.load1();
      else e.load2();
    };
    f.for(j, 0, groups, 1, () => {
      e.at(mean, j);
      e.load1();
      f.set(m);
      e.rstd(variance, j, EPS, false);
      f.set(r);
      f.get(byGroup).if(
        () => {
          // (x − m)·(r·scale[j]) + shift[j]
          f.get(r);
          e.at(scale, j);
          e.load1();
          f.op('f64x2.mul').set(a);
          e.at(shift, j);
          e.load1();
          f.set(t);
          rows(false, (tail) => {
            load(qx, tail);
            f.get(m).op('f64x2.sub').get(a).op('f64x2.mul').get(t).op('f64x2.add');
          });
        },
        () =>
          // (x − m)·r·scale[i] + shift[i]
          rows(true, (tail) => {
            load(qx, tail);
            f.get(m).op('f64x2.sub').get(r).op('f64x2.mul');
            load(qs, tail);
            f.op('f64x2.mul');
            load(qt, tail);
            f.op('f64x2.add');
          }),
      );
    });
  });
}

/**
 * The gradient functions, `grad_group` (BatchNorm: scale and shift per group) and `grad_inner` (LayerNorm:
 * per inner position): (gOut, x, mean, variance, scale, gx, gScale, gShift, scratch, outer, groups, inner,
 * flags, eps). Scale never null (ones); gScale and gShift always written (scratch where unwanted); by inner
 * position they must hold zeros on entry. gx only with the `gx` flag.
 */
function addGrad(mod: ModuleBuilder, dt: WasmDType, byGroup: boolean): void {
  const params = [...new Array<'i32'>(13).fill('i32'), 'f64'] as const;
  const name = byGroup ? normNames.gradGroup(dt) : normNames.gradInner(dt);
  mod.func(name, params, [], (f) => {
    const e = new Emit(f, dt);
    const [gOut, x, mean, variance, scale, gx, gScale, gShift, scratch, outer, groups, inner, flags, eps] =
      f.params;
    const [j, jj, o, i, qg, qx, qs, qd, rowBytes, pairs, end] = Array.from({ length: 11 }, () =>
      f.local('i32'),
    );
    const v = () => f.local('v128');
    const [EPS, count, GS, GH, SC] = [v(), v(), v(), v(), v()];
    const [G0, X0, H0, D0, P0, G1, X1, H1, D1, P1] = [v(), v(), v(), v(), v(), v(), v(), v(), v(), v()];
    const most = byGroup ? PAIRS.gradGroup : PAIRS.gradInner;
    const sg = Array.from({ length: most }, v);
    const sgx = Array.from({ length: most }, v);
    // By group: each pair's mean and r (group lanes). By inner position: each row's, splatted.
    const M = Array.from({ length: 2 * most }, v);
    const R = Array.from({ length: 2 * most }, v);
    f.get(inner).i32(e.S).op('i32.mul').set(rowBytes);
    const rb = rowOffsets(f, rowBytes, most);
    f.get(outer).get(inner).op('i32.mul', 'f64.convert_i32_s', 'f64x2.splat').set(count);
    f.get(eps).op('f64x2.splat').set(EPS);
    f.get(flags).i32(NORM_GRAD_FLAGS.pairs).op('i32.and').set(pairs);
    const load = (q: Local, k: number, tail: boolean) => {
      rowAt(f, q, rb, k);
      if (tail) e.load1();
      else e.load2();
    };
    // Fold pair p's group-lane values into the sums: rows A (lane 0) and B (lane 1) of each, element pair
    // transposed, then the second element of each row (unless tail).
    const fold = (acc: Local, a: Local, b: Local, tail: boolean) => {
      f.get(acc).get(a).get(b).shuffle(LO).op('f64x2.add').set(acc);
      if (!tail) f.get(acc).get(a).get(b).shuffle(HI).op('f64x2.add').set(acc);
    };

    // Pass 1 over block j (P pairs): the sums, and the scale's and shift's gradients.
    const sums = (P: number, single: boolean) => {
      for (let p = 0; p < P; p++) {
        f.zero128().set(sg[p]).zero128().set(sgx[p]);
        if (byGroup) {
          e.at(mean, j);
          if (p > 0) f.i32(2 * p * e.S).op('i32.add');
          if (single) e.load1();
          else e.load2();
          f.set(M[p]);
          f.get(j)
            .i32(2 * p)
            .op('i32.add')
            .set(jj);
          e.rstd(variance, jj, EPS, !single);
          f.set(R[p]);
        } else
          for (let k = 0; k < (single ? 1 : 2); k++) {
            f.get(j)
              .i32(2 * p + k)
              .op('i32.add')
              .set(jj);
            e.at(mean, jj);
            e.load1();
            f.set(M[2 * p + k]);
            e.rstd(variance, jj, EPS, false);
            f.set(R[2 * p + k]);
          }
      }
      f.for(o, 0, outer, 1, () => {
        rowStart(f, qg, gOut, o, groups, j, rowBytes);
        rowStart(f, qx, x, o, groups, j, rowBytes);
        if (!byGroup) f.get(scale).set(qs).get(gScale).set(qd);
        alongRow(
          f,
          i,
          inner,
          (tail) => {
            const loadAt = (q: Local) => {
              f.get(q);
              if (tail) e.load1();
              else e.load2();
            };
            if (!byGroup) {
              loadAt(qs);
              f.set(SC);
              loadAt(qd);
              f.set(GS);
              f.get(qd).get(gShift).get(gScale).op('i32.sub', 'i32.add');
              if (tail) e.load1();
              else e.load2();
              f.set(GH);
            }
            for (let p = 0; p < P; p++) {
              const rowsOf = single ? 1 : 2;
              for (let k = 0; k < rowsOf; k++) {
                const [G, X, H, D] = k === 0 ? [G0, X0, H0, D0] : [G1, X1, H1, D1];
                load(qg, 2 * p + k, tail);
                f.set(G);
                load(qx, 2 * p + k, tail);
                f.set(X);
                if (!byGroup) {
                  // Along the row: x̂ = (x − m)·r; gScale += gOut·x̂, gShift += gOut (rounded each time);
                  // ĝ = gOut·scale[i] and ĝ·x̂ for the sums.
                  const P_ = k === 0 ? P0 : P1;
                  f.get(X)
                    .get(M[2 * p + k])
                    .op('f64x2.sub')
                    .get(R[2 * p + k])
                    .op('f64x2.mul')
                    .set(D);
                  f.get(GS).get(G).get(D).op('f64x2.mul', 'f64x2.add');
                  e.round();
                  f.set(GS);
                  f.get(GH).get(G).op('f64x2.add');
                  e.round();
                  f.set(GH);
                  f.get(G).get(SC).op('f64x2.mul').tee(H).get(D).op('f64x2.mul').set(P_);
                }
              }
              if (byGroup) {
                // Group lanes: ΣgOut and ΣgOut·((x − m)·r).
                const B = single ? G0 : G1;
                const XB = single ? X0 : X1;
                f.get(sg[p]).get(G0).get(B).shuffle(LO).op('f64x2.add').set(sg[p]);
                f.get(sgx[p]).get(G0).get(B).shuffle(LO);
                f.get(X0).get(XB).shuffle(LO).get(M[p]).op('f64x2.sub').get(R[p]).op('f64x2.mul');
                f.op('f64x2.mul', 'f64x2.add').set(sgx[p]);
                if (!tail) {
                  f.get(sg[p]).get(G0).get(B).shuffle(HI).op('f64x2.add').set(sg[p]);
                  f.get(sgx[p]).get(G0).get(B).shuffle(HI);
                  f.get(X0).get(XB).shuffle(HI).get(M[p]).op('f64x2.sub').get(R[p]).op('f64x2.mul');
                  f.op('f64x2.mul', 'f64x2.add').set(sgx[p]);
                }
              } else {
                fold(sg[p], H0, single ? H0 : H1, tail);
                fold(sgx[p], P0, single ? P0 : P1, tail);
              }
            }
            if (!byGroup) {
              f.get(qd).get(GS);
              if (tail) e.store1();
              else e.store2();
              f.get(qd).get(gShift).get(gScale).op('i32.sub', 'i32.add').get(GH);
              if (tail) e.store1();
              else e.store2();
            }
          },
          () => {
            f.inc(qg, 2 * e.S).inc(qx, 2 * e.S);
            if (!byGroup) f.inc(qs, 2 * e.S).inc(qd, 2 * e.S);
          },
        );
      });
      for (let p = 0; p < P; p++) {
        if (byGroup) {
          // gScale[j] = Σ gOut·x̂, gShift[j] = Σ gOut; then both times scale[j] for gx.
          const storeAt = (out: Local, value: Local) => {
            e.at(out, j);
            if (p > 0) f.i32(2 * p * e.S).op('i32.add');
            f.get(value);
            if (single) e.store1();
            else e.store2();
          };
          storeAt(gScale, sgx[p]);
          storeAt(gShift, sg[p]);
          e.at(scale, j);
          if (p > 0) f.i32(2 * p * e.S).op('i32.add');
          if (single) e.load1();
          else e.load2();
          f.set(SC);
          f.get(sg[p]).get(SC).op('f64x2.mul').set(sg[p]);
          f.get(sgx[p]).get(SC).op('f64x2.mul').set(sgx[p]);
        }
        // The block's sums to scratch: Σĝ of row k at scratch + 8k, Σĝx̂ at scratch + 8·(2·MAX_GRAD_PAIRS + k).
        f.get(scratch)
          .get(sg[p])
          .mem('v128.store', 16 * p);
        f.get(scratch)
          .get(sgx[p])
          .mem('v128.store', 16 * (MAX_GRAD_PAIRS + p));
      }
    };

    // Pass 2 over the rows of groups j..end: gx = r·(ĝ − Σĝ/count − (x − m)·r·(Σĝx̂/count)), or r·ĝ.
    const [m, r, a, b, s] = [M[0], R[0], sg[0], sgx[0], SC];
    const inputGrad = (batchStats: boolean) =>
      f.for(jj, j, end, 1, () => {
        e.at(mean, jj);
        e.load1();
        f.set(m);
        e.rstd(variance, jj, EPS, false);
        f.set(r);
        if (batchStats) {
          f.get(jj).get(j).op('i32.sub').i32(8).op('i32.mul').get(scratch).op('i32.add').tee(qs);
          f.mem('v128.load64_splat').get(count).op('f64x2.div').set(a);
          f.get(qs)
            .mem('v128.load64_splat', 16 * MAX_GRAD_PAIRS)
            .get(count)
            .op('f64x2.div')
            .set(b);
        }
        if (byGroup) {
          e.at(scale, jj);
          e.load1();
          f.set(s);
        }
        f.for(o, 0, outer, 1, () => {
          rowStart(f, qg, gOut, o, groups, jj, rowBytes);
          rowStart(f, qx, x, o, groups, jj, rowBytes);
          rowStart(f, qd, gx, o, groups, jj, rowBytes);
          if (!byGroup) f.get(scale).set(qs);
          alongRow(
            f,
            i,
            inner,
            (tail) => {
              const loadAt = (q: Local) => {
                f.get(q);
                if (tail) e.load1();
                else e.load2();
              };
              f.get(qd).get(r);
              loadAt(qg);
              if (byGroup) f.get(s);
              else loadAt(qs);
              f.op('f64x2.mul');
              if (batchStats) {
                f.get(a).op('f64x2.sub');
                loadAt(qx);
                f.get(m).op('f64x2.sub').get(r).op('f64x2.mul').get(b).op('f64x2.mul', 'f64x2.sub');
              }
              f.op('f64x2.mul');
              if (tail) e.store1();
              else e.store2();
            },
            () => {
              f.inc(qg, 2 * e.S)
                .inc(qx, 2 * e.S)
                .inc(qd, 2 * e.S);
              if (!byGroup) f.inc(qs, 2 * e.S);
            },
          );
        });
      });

    groupBlocks(f, j, groups, most, pairs, (P, single) => {
      sums(P, single);
      f.get(flags).i32(NORM_GRAD_FLAGS.gx).op('i32.and');
      f.if(() => {
        f.get(j)
          .i32(single ? 1 : 2 * P)
          .op('i32.add')
          .set(end);
        f.get(flags).i32(NORM_GRAD_FLAGS.batchStats).op('i32.and');
        f.if(
          () => inputGrad(true),
          () => inputGrad(false),
        );
      });
    });
  });
}

/** Add the normalization kernels for one element type. */
export function addNorm(mod: ModuleBuilder, dt: WasmDType): void {
  addMoments(mod, dt);
  addNormalize(mod, dt);
  addGrad(mod, dt, true);
  addGrad(mod, dt, false);
}
