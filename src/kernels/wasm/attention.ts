/**
 * Fused scaled dot-product attention in WebAssembly (`Kernels.attentionScores`, `attentionContext`,
 * `attentionBackward`; the reference loops and their order are `../attention.ts`). Each (batch, head)
 * pair is worked on whole by one thread, so pairs split among the pool's threads give the same bits for
 * any thread count. The products run through gemm.ts's blocked driver, which takes any row strides: the
 * heads are read where they lie in the packed projection (no copies per head) and the context and the
 * gradients are written straight into their [B, n, width] layouts. With the causal mask the products go
 * by blocks of {@link ATTN_BLOCK} query rows, each only as wide (or deep) as the keys its rows can see, so
 * fully masked blocks are never computed. The elementwise steps between (q ÷ √D, the row max and shift,
 * the float64 row sums, dS) are scalar loops in doubles, as the reference's; the exp between
 * `attentionScores` and `attentionContext` is the kernel set's own `unary('exp')`.
 *
 * Float64 products are plain multiply-adds in order from zero, so float64 results are the reference's bits;
 * float32 products sum in float32 lanes (as the gemm does), everything else as the reference.
 */
import type { Func, Local, ModuleBuilder } from './asm.js';
import { ELEMENT_BYTES, type WasmDType } from './gemm.js';

/** Export names, shared with the runtime that calls them. */
export const attentionNames = {
  scores: (dt: WasmDType) => `${dt}_attn_scores`,
  context: (dt: WasmDType) => `${dt}_attn_context`,
  backward: (dt: WasmDType) => `${dt}_attn_backward`,
};

/** Query rows per block of a causal product (a multiple of the gemm tile's 4 rows). */
export const ATTN_BLOCK = 16;

/**
 * The i32 fields of a call's parameter block (byte offset = index·4), then √D as an f64 at
 * {@link ATTN_SQRT_AT}. Pointers are byte addresses of each operand's first row (its offset included).
 */
export const ATTN_FIELDS = [
  'q',
  'k',
  'v',
  'p', // the probabilities [B, H, L, S]
  's', // the packed scores (exponentials, in the context)
  'T', // packed scores per pair
  'out', // the context (forward), or gOut (backward)
  'gq',
  'gk',
  'gv',
  'qStride',
  'kStride',
  'vStride',
  'L',
  'S',
  'D',
  'H',
  'causal',
] as const;

/** Byte offset of √D in the parameter block. */
export const ATTN_SQRT_AT = Math.ceil((ATTN_FIELDS.length * 4) / 8) * 8; // 8-aligned: written as an f64

/** Bytes of the parameter block. */
export const ATTN_PARAM_BYTES = ATTN_SQRT_AT + 8;

/**
 * Add the three functions for one element type, each `(params, t0, t1, scratch, work)`: pairs t0 … t1 − 1
 * (pair t is batch ⌊t / H⌋, head t mod H), `scratch` this part's own (scores and backward: L·D elements,
 * then L·S from the next 64-byte boundary), `work` the thread's gemm work area. `gemm` is the index of
 * gemm.ts's driver `gemm(a, b, c, aI, aP, bJ, bP, ldc, k, i0, i1, j0, j1, work)`. The causal mask assumes
 * L = S (the runtime hands other causal shapes to the reference).
 */
export function addAttention(mod: ModuleBuilder, dt: WasmDType, gemm: number): void {
  const SZ = ELEMENT_BYTES[dt];
  const ld = (f: Func, offset = 0) =>
    dt === 'f64' ? f.mem('f64.load', offset) : f.mem('f32.load', offset).op('f64.promote_f32');
  const st = (f: Func, offset = 0) =>
    dt === 'f64' ? f.mem('f64.store', offset) : f.op('f32.demote_f64').mem('f32.store', offset);

  /** Locals for the parameter block's fields, read at the start of a function. */
  const fields = (f: Func, prm: Local) => {
    const r = {} as Record<(typeof ATTN_FIELDS)[number], Local>;
    ATTN_FIELDS.forEach((name, i) => {
      r[name] = f.local('i32');
      f.get(prm)
        .mem('i32.load', i * 4)
        .set(r[name]);
    });
    const sqrtD = f.local('f64');
    const sqrtV = f.local('v128');
    f.get(prm).mem('f64.load', ATTN_SQRT_AT).tee(sqrtD).op('f64x2.splat').set(sqrtV);
    // Shared by the two-lane passes.
    const lim = f.local('i32');
    const cnt = f.local('i32');
    const vec = f.local('v128');
    return { ...r, sqrtD, sqrtV, lim, cnt, vec };
  };

  // The elementwise passes go two elements at a time as an f64x2 (float32 promoted, the result rounded
  // back), the odd last one alone: each element gets the scalar loop's operations, so the same bits.
  const ldv = (f: Func) =>
    dt === 'f64' ? f.mem('v128.load') : f.mem('v128.load64_zero').op('f64x2.promote_low_f32x4');
  const stv = (f: Func) =>
    dt === 'f64' ? f.mem('v128.store') : f.op('f32x4.demote_f64x2_zero').store64Lane(0);
  /** for j in 0…n: body(true) for two elements at a time, then body(false) for an odd last one. */
  const pass = (
    f: Func,
    p: { lim: Local },
    n: Local,
    j: Local,
    ptrs: Local[],
    body: (two: boolean) => void,
  ) => {
    f.get(n).i32(1).op('i32.sub').set(p.lim);
    f.for(j, 0, p.lim, 2, () => {
      body(true);
      for (const q of ptrs) f.inc(q, 2 * SZ);
    });
    f.get(j).get(n).op('i32.lt_s');
    f.if(() => {
      body(false);
      for (const q of ptrs) f.inc(q, SZ);
    });
  };
  /** Zeros at dst for `cnt` elements. */
  const zeros = (f: Func, p: { lim: Local; cnt: Local }, j: Local, dst: Local) =>
    pass(f, p, p.cnt, j, [dst], (two) => {
      if (two) {
        f.get(dst).zero128();
        if (dt === 'f64') f.mem('v128.store');
        else f.store64Lane(0);
      } else st(f.get(dst).f64(0));
    });
  /** dst[j] = src[j] ∘ the scalar (its splat in `sv`), op a division or subtraction. */
  const byScalar = (
    f: Func,
    p: { lim: Local },
    n: Local,
    j: Local,
    src: Local,
    dst: Local,
    x: Local,
    sv: Local,
    op: 'div' | 'sub',
  ) =>
    pass(f, p, n, j, src === dst ? [dst] : [src, dst], (two) => {
      f.get(dst);
      if (two)
        ldv(f.get(src))
          .get(sv)
          .op(op === 'div' ? 'f64x2.div' : 'f64x2.sub');
      else
        ld(f.get(src))
          .get(x)
          .op(op === 'div' ? 'f64.div' : 'f64.sub');
      if (two) stv(f);
      else st(f);
    });

  /** gemm(a, b, c, aI, aP, bJ, bP, ldc, k, i0, i1, j0, j1, work), each argument a local or a constant. */
  const callGemm = (f: Func, args: (Local | number)[]) => {
    for (const a of args)
      if (typeof a === 'number') f.i32(a);
      else f.get(a);
    f.call(gemm);
  };

  /** dst = base + x·y·SZ (element x·y of an array at byte address `base`). */
  const addr = (f: Func, dst: Local, base: Local, x: Local, y: Local) => {
    f.get(x).get(y).op('i32.mul').i32(SZ).op('i32.mul').get(base).op('i32.add').set(dst);
  };

  /** An operand's base for batch b, head h: x + (b·rows·stride + h·D)·SZ. */
  const pairBase = (
    f: Func,
    dst: Local,
    x: Local,
    b: Local,
    rows: Local,
    stride: Local,
    h: Local,
    D: Local,
  ) => {
    f.get(b).get(rows).op('i32.mul').get(stride).op('i32.mul');
    f.get(h).get(D).op('i32.mul', 'i32.add');
    f.i32(SZ).op('i32.mul').get(x).op('i32.add').set(dst);
  };

  /** qs[i·D + d] = q[i·qStride + d] / √D for the pair's queries (the composed path's division). */
  const scaledQuery = (
    f: Func,
    qB: Local,
    qs: Local,
    p: ReturnType<typeof fields>,
    i: Local,
    d: Local,
    src: Local,
    dst: Local,
  ) => {
    f.for(i, 0, p.L, 1, () => {
      addr(f, src, qB, i, p.qStride);
      addr(f, dst, qs, i, p.D);
      byScalar(f, p, p.D, d, src, dst, p.sqrtD, p.sqrtV, 'div');
    });
  };

  /** for (i0 = 0; i0 < L; i0 += ATTN_BLOCK) body with i1 = min(i0 + ATTN_BLOCK, L); or once over 0…L. */
  const blocks = (f: Func, p: ReturnType<typeof fields>, i0: Local, i1: Local, body: () => void) => {
    f.get(p.causal).if(
      () => {
        f.for(i0, 0, p.L, ATTN_BLOCK, () => {
          f.get(i0).i32(ATTN_BLOCK).op('i32.add').tee(i1).get(p.L).get(i1).get(p.L).op('i32.lt_s', 'select');
          f.set(i1);
          body();
        });
      },
      () => {
        f.i32(0).set(i0);
        f.get(p.L).set(i1);
        body();
      },
    );
  };

  /** n = keys row i sees: i + 1 (causal) or S. */
  const seen = (f: Func, p: ReturnType<typeof fields>, i: Local, n: Local) => {
    f.get(i).i32(1).op('i32.add').get(p.S).get(p.causal).op('select').set(n);
  };

  /** Pair loop: b, h from t; body runs per pair. */
  const pairs = (
    f: Func,
    p: ReturnType<typeof fields>,
    t0: Local,
    t1: Local,
    b: Local,
    h: Local,
    t: Local,
    body: () => void,
  ) => {
    f.for(t, t0, t1, 1, () => {
      f.get(t).get(p.H).op('i32.div_u').set(b);
      f.get(t).get(p.H).op('i32.rem_u').set(h);
      body();
    });
  };

  /** The pair's P block: p + t·L·S·SZ. */
  const pairP = (f: Func, dst: Local, p: ReturnType<typeof fields>, t: Local) => {
    f.get(t)
      .get(p.L)
      .op('i32.mul')
      .get(p.S)
      .op('i32.mul')
      .i32(SZ)
      .op('i32.mul')
      .get(p.p)
      .op('i32.add')
      .set(dst);
  };

  /** `cols` = i1 when causal (the block's last row sees keys up to there), else S. */
  const widthOf = (f: Func, p: ReturnType<typeof fields>, i1: Local, cols: Local) => {
    f.get(i1).get(p.S).get(p.causal).op('select').set(cols);
  };

  const PARAMS = ['i32', 'i32', 'i32', 'i32', 'i32'] as const;

  /** The pair's packed scores: s + t·T·SZ. */
  const pairS = (f: Func, dst: Local, p: ReturnType<typeof fields>, t: Local) => {
    f.get(t).get(p.T).op('i32.mul').i32(SZ).op('i32.mul').get(p.s).op('i32.add').set(dst);
  };

  mod.func(attentionNames.scores(dt), PARAMS, [], (f) => {
    const [prm, t0, t1, scratch, work] = f.params;
    const p = fields(f, prm);
    const [t, b, h, i, j, d, n, i0, i1, cols, qB, kB, sq, row, src, dst] = Array.from({ length: 16 }, () =>
      f.local('i32'),
    );
    const m = f.local('f64');
    const x = f.local('f64');
    // The square scores lie after qs, on a cache line.
    f.get(p.L).get(p.D).op('i32.mul').i32(SZ).op('i32.mul').i32(63).op('i32.add').i32(-64).op('i32.and');
    f.get(scratch).op('i32.add').set(sq);
    pairs(f, p, t0, t1, b, h, t, () => {
      pairBase(f, qB, p.q, b, p.L, p.qStride, h, p.D);
      pairBase(f, kB, p.k, b, p.S, p.kStride, h, p.D);
      pairS(f, dst, p, t);
      scaledQuery(f, qB, scratch, p, i, d, src, row);
      // x = qs·kᵀ into the square scratch, rows i0…i1 by keys 0…cols.
      blocks(f, p, i0, i1, () => {
        widthOf(f, p, i1, cols);
        callGemm(f, [scratch, kB, sq, p.D, 1, p.kStride, 1, p.S, p.D, i0, i1, 0, cols, work]);
      });
      // Per row: the max of the keys it sees (0 when not finite), then x − max packed into s.
      f.for(i, 0, p.L, 1, () => {
        addr(f, row, sq, i, p.S);
        seen(f, p, i, n);
        // The max is the same whichever order it is taken in (NaN never wins, as `x > m`).
        const keep = () => f.get(x).get(m).get(x).get(m).op('f64.gt', 'select').set(m);
        f.f64(-Infinity).tee(m).op('f64x2.splat').set(p.vec);
        f.get(row).set(src);
        pass(f, p, n, j, [src], (two) => {
          if (two) ldv(f.get(p.vec).get(src)).op('f64x2.pmax').set(p.vec);
          else {
            ld(f.get(src)).set(x);
            keep();
          }
        });
        for (const l of [0, 1]) {
          f.get(p.vec).lane('f64x2.extract_lane', l).set(x);
          keep();
        }
        f.get(m).get(m).op('f64.sub').tee(x).get(x).op('f64.ne');
        f.if(() => f.f64(0).set(m));
        f.get(m).op('f64x2.splat').set(p.vec);
        f.get(row).set(src);
        byScalar(f, p, n, j, src, dst, m, p.vec, 'sub');
      });
    });
  });

  mod.func(attentionNames.context(dt), PARAMS, [], (f) => {
    const [prm, t0, t1, , work] = f.params;
    const p = fields(f, prm);
    const [t, b, h, i, j, n, i0, i1, cols, vB, oB, pB, row, src, E, dst] = Array.from({ length: 16 }, () =>
      f.local('i32'),
    );
    const sum = f.local('f64');
    f.get(p.H).get(p.D).op('i32.mul').set(E);
    pairs(f, p, t0, t1, b, h, t, () => {
      pairBase(f, vB, p.v, b, p.S, p.vStride, h, p.D);
      pairBase(f, oB, p.out, b, p.L, E, h, p.D);
      pairP(f, pB, p, t);
      pairS(f, src, p, t);
      // Per row: the float64 sum of its exponentials, each divided by it into P; 0 where masked.
      f.for(i, 0, p.L, 1, () => {
        seen(f, p, i, n);
        f.f64(0).set(sum);
        f.get(src).set(row);
        f.for(j, 0, n, 1, () => {
          f.get(sum);
          ld(f.get(row)).op('f64.add').set(sum);
          f.inc(row, SZ);
        });
        addr(f, dst, pB, i, p.S);
        f.get(sum).op('f64x2.splat').set(p.vec);
        byScalar(f, p, n, j, src, dst, sum, p.vec, 'div');
        f.get(p.S).get(n).op('i32.sub').set(p.cnt);
        zeros(f, p, j, dst);
      });
      // out = P·v: rows i0…i1 over keys 0…cols.
      blocks(f, p, i0, i1, () => {
        widthOf(f, p, i1, cols);
        callGemm(f, [pB, vB, oB, p.S, 1, 1, p.vStride, E, cols, i0, i1, 0, p.D, work]);
      });
    });
  });

  mod.func(attentionNames.backward(dt), PARAMS, [], (f) => {
    const [prm, t0, t1, scratch, work] = f.params;
    const p = fields(f, prm);
    const L = Array.from({ length: 24 }, () => f.local('i32'));
    const [
      t,
      b,
      h,
      i,
      j,
      d,
      n,
      i0,
      i1,
      cols,
      E,
      qB,
      kB,
      vB,
      gB,
      pB,
      gqB,
      gkB,
      gvB,
      dS,
      row,
      src,
      dst,
      depth,
    ] = L;
    const dot = f.local('f64');
    f.get(p.H).get(p.D).op('i32.mul').set(E);
    // dS lies after qs, on a cache line.
    f.get(p.L).get(p.D).op('i32.mul').i32(SZ).op('i32.mul').i32(63).op('i32.add').i32(-64).op('i32.and');
    f.get(scratch).op('i32.add').set(dS);
    pairs(f, p, t0, t1, b, h, t, () => {
      pairBase(f, qB, p.q, b, p.L, p.qStride, h, p.D);
      pairBase(f, kB, p.k, b, p.S, p.kStride, h, p.D);
      pairBase(f, vB, p.v, b, p.S, p.vStride, h, p.D);
      pairBase(f, gB, p.out, b, p.L, E, h, p.D);
      pairBase(f, gqB, p.gq, b, p.L, p.qStride, h, p.D);
      pairBase(f, gkB, p.gk, b, p.S, p.kStride, h, p.D);
      pairBase(f, gvB, p.gv, b, p.S, p.vStride, h, p.D);
      pairP(f, pB, p, t);
      scaledQuery(f, qB, scratch, p, i, d, src, dst);
      blocks(f, p, i0, i1, () => {
        widthOf(f, p, i1, cols);
        // dP = gOut·vᵀ into dS's rows i0…i1, keys 0…cols.
        callGemm(f, [gB, vB, dS, E, 1, p.vStride, 1, p.S, p.D, i0, i1, 0, cols, work]);
        // Per row: dot = Σ dP·P over the keys it sees, dS = P·(dP − dot); 0 out to the block's width.
        f.for(i, i0, i1, 1, () => {
          seen(f, p, i, n);
          addr(f, row, dS, i, p.S);
          addr(f, dst, pB, i, p.S);
          f.f64(0).set(dot);
          f.get(row).set(src);
          f.for(j, 0, n, 1, () => {
            f.get(dot);
            ld(f.get(src));
            ld(f.get(dst)).op('f64.mul', 'f64.add').set(dot);
            f.inc(src, SZ).inc(dst, SZ);
          });
          f.get(row).set(src);
          addr(f, dst, pB, i, p.S);
          f.get(dot).op('f64x2.splat').set(p.vec);
          pass(f, p, n, j, [src, dst], (two) => {
            f.get(src);
            if (two) {
              ldv(f.get(dst));
              ldv(f.get(src)).get(p.vec).op('f64x2.sub', 'f64x2.mul');
              stv(f);
            } else {
              ld(f.get(dst));
              ld(f.get(src)).get(dot).op('f64.sub', 'f64.mul');
              st(f);
            }
          });
          f.get(cols).get(n).op('i32.sub').set(p.cnt);
          zeros(f, p, j, src);
        });
        // dq = (dS·k) ÷ √D: rows i0…i1 over keys 0…cols, stored, then divided.
        callGemm(f, [dS, kB, gqB, p.S, 1, 1, p.kStride, p.qStride, cols, i0, i1, 0, p.D, work]);
        f.for(i, i0, i1, 1, () => {
          addr(f, dst, gqB, i, p.qStride);
          byScalar(f, p, p.D, d, dst, dst, p.sqrtD, p.sqrtV, 'div');
        });
      });
      // dv = Pᵀ·gOut and dk = dSᵀ·qs: key rows j0…j1 (i0…i1 here) over the queries from the block's first
      // (causal: earlier queries do not see these keys) to L.
      blocks(f, p, i0, i1, () => {
        f.get(i0).i32(0).get(p.causal).op('select').set(row);
        f.get(p.L).get(row).op('i32.sub').set(depth);
        addr(f, src, pB, row, p.S);
        addr(f, dst, gB, row, E);
        f.get(p.causal).if(
          () => f.get(i1).set(cols),
          () => f.get(p.S).set(cols),
        );
        callGemm(f, [src, dst, gvB, 1, p.S, 1, E, p.vStride, depth, i0, cols, 0, p.D, work]);
        addr(f, src, dS, row, p.S);
        addr(f, dst, scratch, row, p.D);
        callGemm(f, [src, dst, gkB, 1, p.S, 1, p.D, p.kStride, depth, i0, cols, 0, p.D, work]);
      });
    });
  });
}
