/**
 * Reductions over leading axes in WebAssembly SIMD: out[j] = Σ_r x[r·cols + j] (or the max), the bias
 * gradient of every Linear layer and any reduction that keeps the trailing axes.
 *
 * The reference adds row after row into `out`, each sum rounded to the element type as it is stored;
 * these loops do the same additions in the same order, two columns per f64x2 (float32 promoted, each
 * partial sum rounded back), so they give its bits. Reductions along the last axis stay in the reference:
 * there each output is one sequential sum, whose order SIMD would change.
 */
import type { Func, ModuleBuilder } from './asm.js';
import { ELEMENT_BYTES, type WasmDType } from './gemm.js';

/** Export names, shared with the runtime that calls them. */
export const reduceNames = {
  cols: (dt: WasmDType, op: 'sum' | 'max') => `${dt}_reduce_cols_${op}`,
};

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

/** Add the reductions for one element type. */
export function addReduce(mod: ModuleBuilder, dt: WasmDType): void {
  addCols(mod, dt, 'sum');
  addCols(mod, dt, 'max');
}
