/**
 * Small loops the sliding-window kernels share, emitted inline into the function being built: copying
 * and zeroing byte ranges, clamping a block to what is left, and shuffle lane patterns.
 */
import type { Func, Local } from './asm.js';
import { ELEMENT_BYTES, type WasmDType } from './gemm.js';

/** Shuffle lanes (indices into the 2·lanes lanes of two vectors) as the 16 byte indices `shuffle` takes. */
export function byteLanes(lanes: readonly number[], size: number): number[] {
  return lanes.flatMap((l) => Array.from({ length: size }, (_, b) => l * size + b));
}

/** dst = min(cap, hi − lo) */
export function clampTo(f: Func, dst: Local, cap: number | Local, hi: Local, lo: Local): void {
  const push = () => (typeof cap === 'number' ? f.i32(cap) : f.get(cap));
  f.get(hi).get(lo).op('i32.sub').set(dst);
  push();
  f.get(dst).get(dst);
  push();
  f.op('i32.gt_s', 'select').set(dst);
}

/** Copy `bytes` (a multiple of the element size) from `src` to `dst`, whole vectors first; clobbers all three. */
export function copyBytes(f: Func, dt: WasmDType, src: Local, dst: Local, bytes: Local): void {
  const S = ELEMENT_BYTES[dt];
  f.block((done) => {
    f.loop((top) => {
      f.get(bytes).i32(16).op('i32.lt_s').brIf(done);
      f.get(dst).get(src).mem('v128.load').mem('v128.store');
      f.inc(src, 16).inc(dst, 16).inc(bytes, -16);
      f.br(top);
    });
  });
  f.block((done) => {
    f.loop((top) => {
      f.get(bytes).i32(0).op('i32.le_s').brIf(done);
      f.get(dst)
        .get(src)
        .mem(dt === 'f64' ? 'f64.load' : 'f32.load')
        .mem(dt === 'f64' ? 'f64.store' : 'f32.store');
      f.inc(src, S).inc(dst, S).inc(bytes, -S);
      f.br(top);
    });
  });
}

/** Zero `bytes` (a multiple of the element size) from `dst`; clobbers both. */
export function zeroBytes(f: Func, dt: WasmDType, dst: Local, bytes: Local): void {
  const S = ELEMENT_BYTES[dt];
  f.block((done) => {
    f.loop((top) => {
      f.get(bytes).i32(16).op('i32.lt_s').brIf(done);
      f.get(dst).zero128().mem('v128.store');
      f.inc(dst, 16).inc(bytes, -16);
      f.br(top);
    });
  });
  f.block((done) => {
    f.loop((top) => {
      f.get(bytes).i32(0).op('i32.le_s').brIf(done);
      if (dt === 'f64') f.get(dst).f64(0).mem('f64.store');
      else f.get(dst).f32(0).mem('f32.store');
      f.inc(dst, S).inc(bytes, -S);
      f.br(top);
    });
  });
}
