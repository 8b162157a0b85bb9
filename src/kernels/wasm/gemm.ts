/**
 * The matrix product in WebAssembly SIMD, generated with the assembler in `asm.ts`. The structure is
 * BLIS's (Van Zee and van de Geijn, 2015): the caller cuts C = op(A)·op(B) into blocks; `pack*` copies a
 * block of op(A) or op(B) into micro-panels, MR rows or NR columns wide and stored k-step by k-step, so
 * the micro-kernel reads both operands contiguously whatever the layout was; `macro` walks one packed
 * block of A against one packed block of B, and `micro` keeps an MR×NR tile of C in SIMD registers over
 * the whole depth of the block. Transposes cost only a different packing, so no layout is a slow path.
 */
import type { Func, Local, MemOp, ModuleBuilder, Op, ValType } from './asm.js';

/** Element type of a kernel set's matrices. */
export type WasmDType = 'f32' | 'f64';

/** Bytes per element. */
export const ELEMENT_BYTES: Record<WasmDType, number> = { f32: 4, f64: 8 };

/** Tile and block sizes of one element type. */
export interface GemmShape {
  /** Rows of the register tile (micro-panel width of packed A). */
  readonly mr: number;
  /** Columns of the register tile (micro-panel width of packed B); a multiple of the lanes per v128. */
  readonly nr: number;
  /** Depth of a block: a kc×nr micro-panel of B stays in L1 while A's micro-panels stream past it. */
  readonly kc: number;
  /** Rows of a packed A block (kept in L2); a multiple of mr. */
  readonly mc: number;
  /** Columns of a packed B block; a multiple of nr. */
  readonly nc: number;
}

/**
 * Tiles: 4×8 float32 is 8 accumulators + 2 B vectors + 1 broadcast A, which fits x64's 16 xmm registers
 * with room for the products of plain SIMD's separate multiply and add (V8 keeps one as scratch). Measured
 * on V8 (Node 20, x64) with the micro-kernel alone: 4×8 runs at 42 GFLOP/s plain and 50 relaxed, 6×8 at
 * 32 and 39, 8×8 at 27 and 32 (they spill); unrolling the k loop made every tile slower. Float64 has half
 * the lanes, so the same registers hold 4×4 (21 GFLOP/s; 6×4 16, 8×4 14).
 *
 * Blocks: both keep a kc×nr micro-panel of B within L1 (8 KiB float32, 16 KiB float64), an mc×kc block
 * of A within L2, and a kc×nc block of B at 1 MiB. Float64's deeper kc halves the passes over C, which
 * made n = 1024 about 10% faster; float32 measured the same for kc 256 and 512 within noise.
 */
export const GEMM_SHAPES: Record<WasmDType, GemmShape> = {
  f32: { mr: 4, nr: 8, kc: 256, mc: 128, nc: 1024 },
  f64: { mr: 4, nr: 4, kc: 512, mc: 96, nc: 256 },
};

/** Bytes of the scratch tile the macro-kernel computes edge tiles into (one per thread). */
export const SCRATCH_BYTES = 1024;

/** Round up to a multiple of 64 bytes: buffers and operands start on a cache line. */
export function align64(bytes: number): number {
  return Math.ceil(bytes / 64) * 64;
}

/** Byte offset of the packed-A buffer inside a thread's work area (the scratch tile comes first). */
export const PACK_A_OFFSET = SCRATCH_BYTES;

/** Byte offset of the packed-B buffer inside a thread's work area. */
export const PACK_B_OFFSET = align64(
  PACK_A_OFFSET +
    Math.max(
      ...(['f32', 'f64'] as const).map((d) => GEMM_SHAPES[d].mc * GEMM_SHAPES[d].kc * ELEMENT_BYTES[d]),
    ),
);

/**
 * Bytes of one thread's work area: scratch tile, packed A, packed B. Every thread of a pool has its own, so
 * threads share only the operands, and those they only read (A, B) or write disjointly (C).
 */
export const WORK_BYTES = align64(
  PACK_B_OFFSET +
    Math.max(
      ...(['f32', 'f64'] as const).map((d) => GEMM_SHAPES[d].kc * GEMM_SHAPES[d].nc * ELEMENT_BYTES[d]),
    ),
);

interface DTypeOps {
  size: number;
  lanes: number;
  load: MemOp;
  store: MemOp;
  splat: MemOp;
  add: Op;
  mul: Op;
  madd: Op;
  zero: (f: Func) => Func;
}

const DTYPES: Record<WasmDType, DTypeOps> = {
  f32: {
    size: 4,
    lanes: 4,
    load: 'f32.load',
    store: 'f32.store',
    splat: 'v128.load32_splat',
    add: 'f32x4.add',
    mul: 'f32x4.mul',
    madd: 'f32x4.relaxed_madd',
    zero: (f) => f.f32(0),
  },
  f64: {
    size: 8,
    lanes: 2,
    load: 'f64.load',
    store: 'f64.store',
    splat: 'v128.load64_splat',
    add: 'f64x2.add',
    mul: 'f64x2.mul',
    madd: 'f64x2.relaxed_madd',
    zero: (f) => f.f64(0),
  },
};

/** Options of the generated code. */
export interface GemmOptions {
  /** Use relaxed SIMD's fused multiply-add (only where the runtime validates it). */
  relaxed: boolean;
  /** k-steps per trip of the micro-kernel's loop (default 1: 2 and 4 measured slower on V8 x64; kept to re-measure on other engines). */
  unroll?: number;
}

/**
 * Add `${dt}_packA`, `${dt}_packB`, `${dt}_macro` and `${dt}_gemm` for one element type to the module.
 * The exports' signatures:
 *
 *   pack(src, sw, sk, len, kc, dst): `len` rows (or columns) of width-`w` micro-panels, element (q, p) at
 *     src + (q·sw + p·sk)·size bytes, padded with zeros to a multiple of w.
 *   macro(aPack, bPack, c, ldc, mc, nc, kc, accumulate, scratch): C[mc×nc] (row stride ldc elements) =
 *     (or +=) packed A · packed B; edge tiles go through the scratch tile at `scratch`. Accumulating, each
 *     element's sum starts from C's value and adds the products in order, so a product cut into depth
 *     blocks sums exactly as one sequential loop over the whole depth (the reference's order).
 *   gemm(a, b, c, aI, aP, bJ, bP, ldc, k, i0, i1, j0, j1, work): rows i0..i1 and columns j0..j1 of
 *     C = op(A)·op(B), op(A)(i, p) at a + (i·aI + p·aP)·size, op(B)(p, j) at b + (j·bJ + p·bP)·size, C's
 *     row stride ldc; `work` is the caller's work area ({@link WORK_BYTES}). Every element of C gets the
 *     same sequence of operations whatever rectangle it falls in (the depth blocks do not depend on it), so
 *     cutting C into rectangles for threads gives the same bits as one call over all of C.
 *   gemm_batched(a, b, c, aOff, bOff, aI, aP, bJ, bP, n, k, m, t0, t1, work): products t0..t1 − 1 of a
 *     batch, each a whole m×n `gemm` of op(A) at a + aOff[t]·size and op(B) at b + bOff[t]·size (aOff, bOff:
 *     int32 arrays at those addresses) into C at c + t·m·n·size: a batch in one call, cut by products
 *     for threads, each product computed as one `gemm` call would.
 */
export function addGemm(
  mod: ModuleBuilder,
  dt: WasmDType,
  opts: GemmOptions,
  shape: GemmShape = GEMM_SHAPES[dt],
): GemmFuncs {
  const t = DTYPES[dt];
  const packA = addPack(mod, `${dt}_packA`, t, shape.mr);
  const packB = addPack(mod, `${dt}_packB`, t, shape.nr);
  const micro = addMicro(mod, dt, t, shape, opts);
  const macro = addMacro(mod, dt, t, shape, micro);
  const gemm = addDriver(mod, dt, t, shape, packA, packB, macro);
  addBatchedDriver(mod, dt, t, gemm);
  return { packA, packB, macro, gemm };
}

/** Indices of the functions {@link addGemm} added that other drivers (convolution) call. */
export interface GemmFuncs {
  /** pack(src, sw, sk, len, kc, dst) into mr-row micro-panels. */
  packA: number;
  /** pack(src, sw, sk, len, kc, dst) into nr-column micro-panels. */
  packB: number;
  /** macro(aPack, bPack, c, ldc, mc, nc, kc, accumulate, scratch). */
  macro: number;
  /** gemm(a, b, c, aI, aP, bJ, bP, ldc, k, i0, i1, j0, j1, work): the whole driver (attention's products). */
  gemm: number;
}

/**
 * The BLIS loop nest over one rectangle of C. It lives in wasm rather than in JavaScript so the calling
 * thread and the pool's workers run literally the same code: a worker only reads its arguments from shared
 * memory and calls this.
 */
function addDriver(
  mod: ModuleBuilder,
  dt: WasmDType,
  t: DTypeOps,
  s: GemmShape,
  packA: number,
  packB: number,
  macro: number,
): number {
  const S = t.size;
  const params: ValType[] = new Array<ValType>(14).fill('i32');
  return mod.func(`${dt}_gemm`, params, [], (f) => {
    const [a, b, c, aI, aP, bJ, bP, ldc, k, i0, i1, j0, j1, work] = f.params;
    const jc = f.local('i32');
    const pc = f.local('i32');
    const ic = f.local('i32');
    const nc = f.local('i32');
    const kc = f.local('i32');
    const mc = f.local('i32');
    const pa = f.local('i32');
    const pb = f.local('i32');
    /** dst = min(cap, hi − lo) */
    const clamp = (dst: Local, cap: number, hi: Local, lo: Local) => {
      f.get(hi).get(lo).op('i32.sub').set(dst);
      f.i32(cap).get(dst).get(dst).i32(cap).op('i32.gt_s', 'select').set(dst);
    };
    f.get(work).i32(PACK_A_OFFSET).op('i32.add').set(pa);
    f.get(work).i32(PACK_B_OFFSET).op('i32.add').set(pb);
    // BLIS's loop order: a kc×nc block of B is packed once per depth block and reused by every mc-row
    // block of A; the first depth block writes C, later ones add to it.
    f.for(jc, j0, j1, s.nc, () => {
      clamp(nc, s.nc, j1, jc);
      f.for(pc, 0, k, s.kc, () => {
        clamp(kc, s.kc, k, pc);
        // packB(b + (jc·bJ + pc·bP)·S, bJ, bP, nc, kc, pb)
        f.get(jc).get(bJ).op('i32.mul').get(pc).get(bP).op('i32.mul', 'i32.add').i32(S).op('i32.mul');
        f.get(b).op('i32.add').get(bJ).get(bP).get(nc).get(kc).get(pb).call(packB);
        f.for(ic, i0, i1, s.mc, () => {
          clamp(mc, s.mc, i1, ic);
          f.get(ic).get(aI).op('i32.mul').get(pc).get(aP).op('i32.mul', 'i32.add').i32(S).op('i32.mul');
          f.get(a).op('i32.add').get(aI).get(aP).get(mc).get(kc).get(pa).call(packA);
          // macro(pa, pb, c + (ic·ldc + jc)·S, ldc, mc, nc, kc, pc > 0, work)
          f.get(pa).get(pb);
          f.get(ic).get(ldc).op('i32.mul').get(jc).op('i32.add').i32(S).op('i32.mul').get(c).op('i32.add');
          f.get(ldc).get(mc).get(nc).get(kc).get(pc).i32(0).op('i32.gt_s').get(work).call(macro);
        });
      });
    });
  });
}

function addPack(mod: ModuleBuilder, name: string, t: DTypeOps, w: number): number {
  const S = t.size;
  return mod.func(name, ['i32', 'i32', 'i32', 'i32', 'i32', 'i32'], [], (f) => {
    const [src, sw, sk, len, kc, dst] = f.params;
    const q = f.local('i32');
    const p = f.local('i32');
    const r = f.local('i32');
    const rows = f.local('i32');
    const col = f.local('i32');
    const ptr = f.local('i32');
    const swB = f.local('i32');
    const skB = f.local('i32');
    f.get(sw).i32(S).op('i32.mul').set(swB);
    f.get(sk).i32(S).op('i32.mul').set(skB);
    f.for(q, 0, len, w, () => {
      // rows = min(w, len − q); col = src + q·sw·size
      f.get(len).get(q).op('i32.sub').set(rows);
      f.i32(w).get(rows).get(rows).i32(w).op('i32.gt_s', 'select').set(rows);
      f.get(q).get(swB).op('i32.mul').get(src).op('i32.add').set(col);
      f.get(rows).i32(w).op('i32.eq').get(sw).i32(1).op('i32.eq', 'i32.and');
      f.if(
        () => {
          // A full panel read along contiguous memory: whole vectors.
          f.for(p, 0, kc, 1, () => {
            for (let v = 0; v < (w * S) / 16; v++)
              f.get(dst)
                .get(col)
                .mem('v128.load', v * 16)
                .mem('v128.store', v * 16);
            f.inc(dst, w * S).inc(col, skB);
          });
        },
        () => {
          f.get(rows).i32(w).op('i32.eq');
          f.if(
            () => {
              // A full panel across rows of the source (a transposed read): w strided loads per step.
              f.for(p, 0, kc, 1, () => {
                f.get(col).set(ptr);
                for (let e = 0; e < w; e++) {
                  f.get(dst)
                    .get(ptr)
                    .mem(t.load)
                    .mem(t.store, e * S);
                  if (e + 1 < w) f.inc(ptr, swB);
                }
                f.inc(dst, w * S).inc(col, skB);
              });
            },
            () => {
              // The last, partial panel: zeros past the edge so the micro-kernel needs no edge cases.
              f.for(p, 0, kc, 1, () => {
                for (let e = 0; e < w; e++) t.zero(f.get(dst)).mem(t.store, e * S);
                f.get(col).set(ptr);
                f.for(r, 0, rows, 1, () => {
                  f.get(dst).get(r).i32(S).op('i32.mul', 'i32.add');
                  f.get(ptr).mem(t.load).mem(t.store);
                  f.inc(ptr, swB);
                });
                f.inc(dst, w * S).inc(col, skB);
              });
            },
          );
        },
      );
    });
  });
}

/**
 * micro(a, b, c, ldcBytes, kc, accumulate): the mr×nr tile at c = (or +=, continuing C's sums) Σₚ a[p]ᵀ·b[p] over packed
 * micro-panels. Each k-step loads nr/lanes vectors of B and broadcasts each of mr values of A into a
 * register, so the loop does mr·nr/lanes multiply-adds per mr + nr/lanes loads.
 */
function addMicro(mod: ModuleBuilder, dt: WasmDType, t: DTypeOps, s: GemmShape, opts: GemmOptions): number {
  const S = t.size;
  const nv = s.nr / t.lanes;
  return mod.func(`${dt}_micro`, ['i32', 'i32', 'i32', 'i32', 'i32', 'i32'], [], (f) => {
    const [a, b, c, ldc, kc, accumulate] = f.params;
    const acc: Local[][] = [];
    for (let r = 0; r < s.mr; r++) {
      acc.push([]);
      for (let v = 0; v < nv; v++) acc[r].push(f.local('v128'));
    }
    const bv: Local[] = [];
    for (let v = 0; v < nv; v++) bv.push(f.local('v128'));
    const av = f.local('v128');
    const cr = f.local('i32');
    const rem = f.local('i32');
    // Accumulating, the sums start from C and continue in order (a later depth block carries on from
    // where the earlier one stopped, so a float64 sum has the sequential loop's bits at any depth);
    // otherwise from zero.
    f.get(accumulate).if(
      () => {
        f.get(c).set(cr);
        for (let r = 0; r < s.mr; r++) {
          for (let v = 0; v < nv; v++)
            f.get(cr)
              .mem('v128.load', v * 16)
              .set(acc[r][v]);
          f.inc(cr, ldc);
        }
      },
      () => {
        for (let r = 0; r < s.mr; r++) for (let v = 0; v < nv; v++) f.zero128().set(acc[r][v]);
      },
    );
    const step = (u: number) => {
      for (let v = 0; v < nv; v++)
        f.get(b)
          .mem('v128.load', (u * s.nr + v * t.lanes) * S)
          .set(bv[v]);
      for (let r = 0; r < s.mr; r++) {
        f.get(a)
          .mem(t.splat, (u * s.mr + r) * S)
          .set(av);
        for (let v = 0; v < nv; v++) {
          if (opts.relaxed) f.get(av).get(bv[v]).get(acc[r][v]).op(t.madd);
          else f.get(acc[r][v]).get(av).get(bv[v]).op(t.mul, t.add);
          f.set(acc[r][v]);
        }
      }
    };
    const unroll = opts.unroll ?? 1;
    if (unroll > 1) {
      // rem = kc mod unroll steps run one at a time after the unrolled loop.
      f.get(kc)
        .i32(unroll - 1)
        .op('i32.and')
        .set(rem);
      f.get(kc).i32(Math.log2(unroll)).op('i32.shr_u').tee(kc);
      f.if(() => {
        f.loop((top) => {
          for (let u = 0; u < unroll; u++) step(u);
          f.inc(a, unroll * s.mr * S).inc(b, unroll * s.nr * S);
          f.get(kc).i32(1).op('i32.sub').tee(kc).brIf(top);
        });
      });
      f.get(rem).set(kc);
    }
    f.get(kc).if(() => {
      f.loop((top) => {
        step(0);
        f.inc(a, s.mr * S).inc(b, s.nr * S);
        f.get(kc).i32(1).op('i32.sub').tee(kc).brIf(top);
      });
    });
    for (let r = 0; r < s.mr; r++) {
      for (let v = 0; v < nv; v++)
        f.get(c)
          .get(acc[r][v])
          .mem('v128.store', v * 16);
      f.inc(c, ldc);
    }
  });
}

function addMacro(mod: ModuleBuilder, dt: WasmDType, t: DTypeOps, s: GemmShape, micro: number): number {
  const S = t.size;
  const params: ValType[] = new Array<ValType>(9).fill('i32');
  return mod.func(`${dt}_macro`, params, [], (f) => {
    const [aPack, bPack, c, ldc, mc, nc, kc, accumulate, scratch] = f.params;
    const jr = f.local('i32');
    const ir = f.local('i32');
    const ap = f.local('i32');
    const bp = f.local('i32');
    const cp = f.local('i32');
    const rows = f.local('i32');
    const cols = f.local('i32');
    const r = f.local('i32');
    const j = f.local('i32');
    const ldcB = f.local('i32');
    const panelA = f.local('i32');
    const panelB = f.local('i32');
    const src = f.local('i32');
    const dst = f.local('i32');
    f.get(ldc).i32(S).op('i32.mul').set(ldcB);
    f.get(kc)
      .i32(s.mr * S)
      .op('i32.mul')
      .set(panelA);
    f.get(kc)
      .i32(s.nr * S)
      .op('i32.mul')
      .set(panelB);
    f.get(bPack).set(bp);
    f.for(jr, 0, nc, s.nr, () => {
      f.get(nc).get(jr).op('i32.sub').set(cols);
      f.i32(s.nr).get(cols).get(cols).i32(s.nr).op('i32.gt_s', 'select').set(cols);
      f.get(aPack).set(ap);
      f.get(jr).i32(S).op('i32.mul').get(c).op('i32.add').set(cp);
      f.for(ir, 0, mc, s.mr, () => {
        f.get(mc).get(ir).op('i32.sub').set(rows);
        f.i32(s.mr).get(rows).get(rows).i32(s.mr).op('i32.gt_s', 'select').set(rows);
        f.get(rows).i32(s.mr).op('i32.eq').get(cols).i32(s.nr).op('i32.eq', 'i32.and');
        f.if(
          () => {
            f.get(ap).get(bp).get(cp).get(ldcB).get(kc).get(accumulate).call(micro);
          },
          () => {
            // An edge tile: the part inside C goes into the scratch tile (when accumulating), the whole
            // tile is computed there, and the part inside C is copied back.
            const copy = (toScratch: boolean) =>
              f.for(r, 0, rows, 1, () => {
                f.get(r).get(ldcB).op('i32.mul').get(cp).op('i32.add').set(dst);
                f.get(r)
                  .i32(s.nr * S)
                  .op('i32.mul')
                  .get(scratch)
                  .op('i32.add')
                  .set(src);
                f.for(j, 0, cols, 1, () => {
                  if (toScratch) f.get(src).get(dst).mem(t.load).mem(t.store);
                  else f.get(dst).get(src).mem(t.load).mem(t.store);
                  f.inc(dst, S).inc(src, S);
                });
              });
            f.get(accumulate).if(() => copy(true));
            f.get(ap)
              .get(bp)
              .get(scratch)
              .i32(s.nr * S)
              .get(kc)
              .get(accumulate)
              .call(micro);
            copy(false);
          },
        );
        f.inc(ap, panelA);
        f.get(ldcB).i32(s.mr).op('i32.mul').get(cp).op('i32.add').set(cp);
      });
      f.inc(bp, panelB);
    });
  });
}

/** `${dt}_gemm_batched`: a loop of whole-matrix `gemm` calls, offsets read from two int32 tables. */
function addBatchedDriver(mod: ModuleBuilder, dt: WasmDType, t: DTypeOps, gemm: number): void {
  const S = t.size;
  const params: ValType[] = new Array<ValType>(15).fill('i32');
  mod.func(`${dt}_gemm_batched`, params, [], (f) => {
    const [a, b, c, aOff, bOff, aI, aP, bJ, bP, n, k, m, t0, t1, work] = f.params;
    const i = f.local('i32');
    f.for(i, t0, t1, 1, () => {
      // gemm(a + aOff[i]·S, b + bOff[i]·S, c + i·m·n·S, aI, aP, bJ, bP, n, k, 0, m, 0, n, work)
      f.get(aOff)
        .get(i)
        .i32(4)
        .op('i32.mul', 'i32.add')
        .mem('i32.load')
        .i32(S)
        .op('i32.mul')
        .get(a)
        .op('i32.add');
      f.get(bOff)
        .get(i)
        .i32(4)
        .op('i32.mul', 'i32.add')
        .mem('i32.load')
        .i32(S)
        .op('i32.mul')
        .get(b)
        .op('i32.add');
      f.get(i).get(m).op('i32.mul').get(n).op('i32.mul').i32(S).op('i32.mul').get(c).op('i32.add');
      f.get(aI).get(aP).get(bJ).get(bP).get(n).get(k).i32(0).get(m).i32(0).get(n).get(work).call(gemm);
    });
  });
}
