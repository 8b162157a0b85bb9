/**
 * Float32 additions in f32x4 lanes: the plain sum of two arrays (and `accumulate`, a += b), the bias add
 * (a row added to every row) and the sum over leading axes (the bias gradient).
 *
 * The other float32 kernels compute in f64x2 lanes (promote, operate, round back) so that every op has the
 * reference's bits, which computes in doubles and rounds once when it stores. For an addition that is the
 * same as adding in float32: a double's 53 bits are at least 2·24 + 2, so rounding the double sum of two
 * floats to float32 gives the correctly rounded float32 sum (Figueroa, "When is double rounding
 * innocuous?", 1995), subnormals, ±0 and ±∞ included; NaN stays NaN. So these loops give the reference's
 * bits with four lanes instead of two and no conversions. Whole vectors first, then single elements: no
 * loop writes past the end of a row.
 */
import type { Func, Local, ModuleBuilder } from './asm.js';

/** Export names, shared with the runtime that calls them. */
export const add32Names = {
  /** `(a, b, out, n)`: out[i] = a[i] + b[i]. */
  same: 'f32_add4_same',
  /** `(a, b, out, rows, cols)`: out[r·cols + j] = a[r·cols + j] + b[j]. */
  rowB: 'f32_add4_rowB',
  /** `(x, out, rows, cols)`: out[j] += x[r·cols + j] for r in order (out already holds its start). */
  cols: 'f32_add4_cols',
};

/**
 * out[k] = a[k] + b[k] for k < n, the three pointers left past them: two vectors a trip, then one element
 * at a time.
 */
function addRun(f: Func, a: Local, b: Local, out: Local, n: Local, k: Local): void {
  f.i32(0).set(k);
  f.block((done) =>
    f.loop((top) => {
      f.get(k).i32(8).op('i32.add').get(n).op('i32.gt_s').brIf(done);
      for (const off of [0, 16]) {
        f.get(out);
        f.get(a).mem('v128.load', off);
        f.get(b).mem('v128.load', off);
        f.op('f32x4.add').mem('v128.store', off);
      }
      f.inc(a, 32).inc(b, 32).inc(out, 32).inc(k, 8).br(top);
    }),
  );
  f.block((done) =>
    f.loop((top) => {
      f.get(k).get(n).op('i32.ge_s').brIf(done);
      f.get(out).get(a).mem('f32.load').get(b).mem('f32.load').op('f32.add').mem('f32.store');
      f.inc(a, 4).inc(b, 4).inc(out, 4).inc(k, 1).br(top);
    }),
  );
}

/** Add the float32 addition kernels. */
export function addAdd32(mod: ModuleBuilder): void {
  mod.func(add32Names.same, ['i32', 'i32', 'i32', 'i32'], [], (f) => {
    const [a, b, out, n] = f.params;
    addRun(f, a, b, out, n, f.local('i32'));
  });
  mod.func(add32Names.rowB, ['i32', 'i32', 'i32', 'i32', 'i32'], [], (f) => {
    const [a, b, out, rows, cols] = f.params;
    const [r, k, bp] = [f.local('i32'), f.local('i32'), f.local('i32')];
    // a and out move on row by row (each run leaves them at the next row); b starts again each row.
    f.for(r, 0, rows, 1, () => {
      f.get(b).set(bp);
      addRun(f, a, bp, out, cols, k);
    });
  });
  mod.func(add32Names.cols, ['i32', 'i32', 'i32', 'i32'], [], (f) => {
    const [x, out, rows, cols] = f.params;
    const [r, k, op, dst] = [f.local('i32'), f.local('i32'), f.local('i32'), f.local('i32')];
    // Row after row into out: out[j] = out[j] + x[r·cols + j], each sum rounded as the reference's store.
    f.for(r, 0, rows, 1, () => {
      f.get(out).set(op).get(out).set(dst);
      addRun(f, op, x, dst, cols, k);
    });
  });
}
