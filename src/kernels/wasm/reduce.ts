/**
 * Reductions in WebAssembly, with the reference's bits.
 *
 * Over leading axes (out[j] = Σ_r x[r·cols + j], or the max: the bias gradient of every Linear layer and
 * any reduction that keeps the trailing axes) the reference adds row after row into `out`, each sum
 * rounded to the element type as it is stored; these loops do the same additions in the same order, two
 * columns per f64x2 (float32 promoted, each partial sum rounded back).
 *
 * Along the last axis (out[r] = Σ_j x[r·cols + j], or the max: softmax's row max and row sum) each output
 * is one sequential sum in a double, stored once; SIMD within a row would change its order, so these loops
 * run four rows side by side instead, each its own sequential chain (four independent additions in flight
 * where the reference has one).
 */
import type { Func, ModuleBuilder } from './asm.js';
import { ELEMENT_BYTES, type WasmDType } from './gemm.js';

/** Export names, shared with the runtime that calls them. */
export const reduceNames = {
  cols: (dt: WasmDType, op: 'sum' | 'max') => `${dt}_reduce_cols_${op}`,
  rows: (dt: WasmDType, op: 'sum' | 'max') => `${dt}_reduce_rows_${op}`,
  into: (dt: WasmDType, op: 'sum' | 'max') => `${dt}_reduce_into_${op}`,
};

/** Rows reduced side by side in `rows`. */
const LANES = 4;

/**
 * `rows(x, out, rows, cols)`: out[r] = op over j of x[r·cols + j], from 0 (sum) or −∞ (max), accumulated
 * in a double and stored once, as the reference's last-axis loop.
 */
function addRows(mod: ModuleBuilder, dt: WasmDType, op: 'sum' | 'max'): void {
  const S = ELEMENT_BYTES[dt];
  const load = (f: Func) => (dt === 'f64' ? f.mem('f64.load') : f.mem('f32.load').op('f64.promote_f32'));
  mod.func(reduceNames.rows(dt, op), ['i32', 'i32', 'i32', 'i32'], [], (f: Func) => {
    const [x, out, rows, cols] = f.params;
    const r = f.local('i32');
    const j = f.local('i32');
    const rowBytes = f.local('i32');
    const p = Array.from({ length: LANES }, () => f.local('i32'));
    const acc = Array.from({ length: LANES }, () => f.local('f64'));
    const v = f.local('f64');
    const start = op === 'sum' ? 0 : -Infinity;
    f.get(cols).i32(S).op('i32.mul').set(rowBytes);
    // One row (lanes = 1) or LANES rows at a time; `combine` folds v into acc[l].
    const combine = (l: number) => {
      if (op === 'sum') f.get(acc[l]).get(v).op('f64.add').set(acc[l]);
      else {
        // v > acc || v ≠ v ? v : acc
        f.get(v).get(acc[l]);
        f.get(v).get(acc[l]).op('f64.gt').get(v).get(v).op('f64.ne', 'i32.or', 'select').set(acc[l]);
      }
    };
    const block = (lanes: number) => {
      for (let l = 0; l < lanes; l++) {
        f.get(x).get(r).i32(l).op('i32.add').get(rowBytes).op('i32.mul', 'i32.add').set(p[l]);
        f.f64(start).set(acc[l]);
      }
      f.for(j, 0, cols, 1, () => {
        for (let l = 0; l < lanes; l++) {
          f.get(p[l]);
          load(f);
          f.set(v);
          combine(l);
          f.inc(p[l], S);
        }
      });
      for (let l = 0; l < lanes; l++) {
        f.get(out).get(r).i32(l).op('i32.add').i32(S).op('i32.mul', 'i32.add').get(acc[l]);
        if (dt === 'f64') f.mem('f64.store');
        else f.op('f32.demote_f64').mem('f32.store');
      }
    };
    // r steps by LANES while a whole block fits, then by one.
    f.i32(0).set(r);
    f.block((done) => {
      f.loop((top) => {
        f.get(r).i32(LANES).op('i32.add').get(rows).op('i32.gt_s').brIf(done);
        block(LANES);
        f.inc(r, LANES).br(top);
      });
    });
    f.block((done) => {
      f.loop((top) => {
        f.get(r).get(rows).op('i32.ge_s').brIf(done);
        block(1);
        f.inc(r, 1).br(top);
      });
    });
  });
}

/** `cols(x, out, rows, cols)`: out (already holding 0 or −∞) combined with every row of x. */
function addCols(mod: ModuleBuilder, dt: WasmDType, op: 'sum' | 'max'): void {
  const S = ELEMENT_BYTES[dt];
  mod.func(reduceNames.cols(dt, op), ['i32', 'i32', 'i32', 'i32'], [], (f: Func) => {
    const [x, out, rows, cols] = f.params;
    const r = f.local('i32');
    const j = f.local('i32');
    const xp = f.local('i32');
    const op_ = f.local('i32');
    const X = f.local('v128');
    const O = f.local('v128');
    f.get(x).set(xp);
    f.for(r, 0, rows, 1, () => {
      f.get(out).set(op_);
      f.for(j, 0, cols, 2, () => {
        if (dt === 'f64') {
          f.get(xp).mem('v128.load').set(X);
          f.get(op_).mem('v128.load').set(O);
        } else {
          f.get(xp).mem('v128.load64_zero').op('f64x2.promote_low_f32x4').set(X);
          f.get(op_).mem('v128.load64_zero').op('f64x2.promote_low_f32x4').set(O);
        }
        f.get(op_);
        if (op === 'sum') f.get(O).get(X).op('f64x2.add');
        else {
          // v > o || v ≠ v ? v : o, as the reference's comparison (NaN wins and stays).
          f.get(X).get(O);
          f.get(X).get(O).op('f64x2.gt').get(X).get(X).op('f64x2.ne', 'v128.or', 'v128.bitselect');
        }
        if (dt === 'f64') f.mem('v128.store');
        else f.op('f32x4.demote_f64x2_zero').store64Lane(0);
        f.inc(xp, 2 * S).inc(op_, 2 * S);
      });
      // Rows are `cols` apart; the loop may have stepped one element past the row's end.
      f.get(x).get(r).i32(1).op('i32.add').get(cols).op('i32.mul').i32(S).op('i32.mul', 'i32.add').set(xp);
    });
  });
}

/**
 * `into(x, out, outer, outs, per, cols)`: the reduction that keeps a middle block of axes (a convolution's
 * bias gradient, [N, C, H·W] → [C]): x is [outer, outs, per, cols] and each row of `cols` is combined into
 * out[o] (already holding 0 or −∞), rows in x's order, as the reference does it: the running value read from
 * out, the row accumulated in a double, stored back (rounded to the element type) after every row. Four
 * entries of out side by side, each its own chain.
 */
function addInto(mod: ModuleBuilder, dt: WasmDType, op: 'sum' | 'max'): void {
  const S = ELEMENT_BYTES[dt];
  const load = (f: Func) => (dt === 'f64' ? f.mem('f64.load') : f.mem('f32.load').op('f64.promote_f32'));
  const store = (f: Func) => (dt === 'f64' ? f.mem('f64.store') : f.op('f32.demote_f64').mem('f32.store'));
  mod.func(reduceNames.into(dt, op), ['i32', 'i32', 'i32', 'i32', 'i32', 'i32'], [], (f: Func) => {
    const [x, out, outer, outs, per, cols] = f.params;
    const o = f.local('i32');
    const r = f.local('i32');
    const h = f.local('i32');
    const j = f.local('i32');
    const block = f.local('i32');
    const rowBytes = f.local('i32');
    const p = Array.from({ length: LANES }, () => f.local('i32'));
    const acc = Array.from({ length: LANES }, () => f.local('f64'));
    const v = f.local('f64');
    f.get(cols).i32(S).op('i32.mul').set(rowBytes);
    const combine = (l: number) => {
      if (op === 'sum') f.get(acc[l]).get(v).op('f64.add').set(acc[l]);
      else {
        f.get(v).get(acc[l]);
        f.get(v).get(acc[l]).op('f64.gt').get(v).get(v).op('f64.ne', 'i32.or', 'select').set(acc[l]);
      }
    };
    // Entries r..r+lanes of out, for outer block o: their `per` rows each, in order.
    const entries = (lanes: number) => {
      f.for(h, 0, per, 1, () => {
        for (let l = 0; l < lanes; l++) {
          // p[l] = x + ((block + r + l)·per + h)·cols·S
          f.get(block).get(r).op('i32.add').i32(l).op('i32.add').get(per).op('i32.mul').get(h).op('i32.add');
          f.get(rowBytes).op('i32.mul').get(x).op('i32.add').set(p[l]);
          load(f.get(out).get(r).i32(l).op('i32.add').i32(S).op('i32.mul', 'i32.add'));
          f.set(acc[l]);
        }
        f.for(j, 0, cols, 1, () => {
          for (let l = 0; l < lanes; l++) {
            load(f.get(p[l]));
            f.set(v);
            combine(l);
            f.inc(p[l], S);
          }
        });
        for (let l = 0; l < lanes; l++) {
          f.get(out).get(r).i32(l).op('i32.add').i32(S).op('i32.mul', 'i32.add').get(acc[l]);
          store(f);
        }
      });
    };
    f.for(o, 0, outer, 1, () => {
      f.get(o).get(outs).op('i32.mul').set(block);
      f.i32(0).set(r);
      f.block((done) => {
        f.loop((top) => {
          f.get(r).i32(LANES).op('i32.add').get(outs).op('i32.gt_s').brIf(done);
          entries(LANES);
          f.inc(r, LANES).br(top);
        });
      });
      f.block((done) => {
        f.loop((top) => {
          f.get(r).get(outs).op('i32.ge_s').brIf(done);
          entries(1);
          f.inc(r, 1).br(top);
        });
      });
    });
  });
}

/** Add the reductions for one element type. */
export function addReduce(mod: ModuleBuilder, dt: WasmDType): void {
  addCols(mod, dt, 'sum');
  addCols(mod, dt, 'max');
  addRows(mod, dt, 'sum');
  addRows(mod, dt, 'max');
  addInto(mod, dt, 'sum');
  addInto(mod, dt, 'max');
}
