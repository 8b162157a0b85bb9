/**
 * The fused recurrent cells in WebAssembly SIMD: one LSTM or GRU step's gate arithmetic forward and
 * backward (`Kernels.cellForward`/`cellBackward`; the reference loops, their formulas and order are
 * `../recurrent.ts`). Like the elementwise kernels they compute in f64x2 lanes (float32 data promoted on
 * load, rounded once on store), σ and tanh through the wasm port of `src/libm.ts`, in the reference's
 * order of operations, reusing a value computed in the step as the unrounded double as the reference does:
 * so they give the reference's bits in float64 and float32 alike. Two hidden units a trip; an odd last
 * unit goes through the same body with one-element loads and stores, so nothing past a row is touched.
 * The caller passes each buffer's address at step t.
 */
import type { Func, Local, ModuleBuilder } from './asm.js';
import { ELEMENT_BYTES, type WasmDType } from './gemm.js';
import { pushExp, pushTanh } from './libm.js';

/** Export names, shared with the runtime that calls them. */
export const recurrentNames = {
  lstmForward: (dt: WasmDType) => `${dt}_lstm_fwd`,
  lstmBackward: (dt: WasmDType) => `${dt}_lstm_bwd`,
  gruForward: (dt: WasmDType) => `${dt}_gru_fwd`,
  gruBackward: (dt: WasmDType) => `${dt}_gru_bwd`,
};

/** A buffer the body reads or writes: its address local (the row's start) and its gate blocks per row. */
interface Buf {
  ptr: Local;
  /** Hidden-size blocks per row (the row stride in blocks); 0 for the bias, which has no rows. */
  blocks: number;
}

/** Loads and stores of gate block `k` of a buffer at the current unit(s), as f64x2. */
interface Access {
  ld(b: Buf, k?: number): void;
  st(b: Buf, k: number, value: Local): void;
}

/**
 * The row loop and unit loop shared by the four functions: `bufs` advance by their row stride per row;
 * `body` runs for units j, j + 1 (pairs), then once more for a single last unit when H is odd.
 */
function rowsAndUnits(
  f: Func,
  dt: WasmDType,
  bufs: readonly Buf[],
  rows: Local,
  H: Local,
  body: (a: Access) => void,
): void {
  const S = ELEMENT_BYTES[dt];
  const hb = f.local('i32'); // bytes per gate block
  f.get(H).i32(S).op('i32.mul').set(hb);
  const blockAt: Local[] = [];
  for (let k = 0; k <= 5; k++) {
    const l = f.local('i32');
    f.get(hb).i32(k).op('i32.mul').set(l);
    blockAt.push(l);
  }
  const jb = f.local('i32');
  const even = f.local('i32');
  f.get(H).i32(-2).op('i32.and').set(even);
  const addr = (b: Buf, k: number) => {
    f.get(b.ptr).get(jb).op('i32.add');
    if (k > 0) f.get(blockAt[k]).op('i32.add');
  };
  const pair: Access = {
    ld(b, k = 0) {
      addr(b, k);
      if (dt === 'f64') f.mem('v128.load');
      else f.mem('v128.load64_zero').op('f64x2.promote_low_f32x4');
    },
    st(b, k, v) {
      addr(b, k);
      f.get(v);
      if (dt === 'f64') f.mem('v128.store');
      else f.op('f32x4.demote_f64x2_zero').store64Lane(0);
    },
  };
  const single: Access = {
    ld(b, k = 0) {
      addr(b, k);
      if (dt === 'f64') f.mem('f64.load');
      else f.mem('f32.load').op('f64.promote_f32');
      f.op('f64x2.splat');
    },
    st(b, k, v) {
      addr(b, k);
      f.get(v).lane('f64x2.extract_lane', 0);
      if (dt === 'f64') f.mem('f64.store');
      else f.op('f32.demote_f64').mem('f32.store');
    },
  };
  const r = f.local('i32');
  const j = f.local('i32');
  f.for(r, 0, rows, 1, () => {
    f.for(j, 0, even, 2, () => {
      f.get(j).i32(S).op('i32.mul').set(jb);
      body(pair);
    });
    f.get(even).get(H).op('i32.lt_s');
    f.if(() => {
      f.get(even).i32(S).op('i32.mul').set(jb);
      body(single);
    });
    for (const b of bufs) if (b.blocks > 0) f.inc(b.ptr, blockAt[b.blocks]);
  });
}

/** A new v128 local holding what `push` pushes. */
function keep(f: Func, push: () => void): Local {
  const l = f.local('v128');
  push();
  f.set(l);
  return l;
}

const one = (f: Func) => f.f64x2(1, 1);

/** σ(x) = 1 / (1 + exp(−x)), as the reference sigmoid. */
function sigmoid(f: Func, x: Local): Local {
  const t = keep(f, () => f.get(x).op('f64x2.neg'));
  return keep(f, () => {
    one(f);
    one(f);
    pushExp(f, t);
    f.op('f64x2.add', 'f64x2.div');
  });
}

/** (hh_k + b_k) + pre_k of gate k. */
function gateInput(f: Func, a: Access, hh: Buf, bias: Buf, pre: Buf, k: number): Local {
  return keep(f, () => {
    a.ld(hh, k);
    a.ld(bias, k);
    f.op('f64x2.add');
    a.ld(pre, k);
    f.op('f64x2.add');
  });
}

/** Add the four cell functions of one element type. */
export function addRecurrent(mod: ModuleBuilder, dt: WasmDType): void {
  const i32 = (n: number) => new Array<'i32'>(n).fill('i32');

  if (dt === 'f32') addFloat32Forward(mod);
  // lstm_fwd(pre, hh, bias, saved, cPrev, cNext, hNext, rows, H)
  if (dt === 'f64')
    mod.func(recurrentNames.lstmForward(dt), i32(9), [], (f) => {
      const [pre, hh, bias, saved, cPrev, cNext, hNext, rows, H] = f.params;
      const P: Buf = { ptr: pre, blocks: 4 };
      const Q: Buf = { ptr: hh, blocks: 4 };
      const Bb: Buf = { ptr: bias, blocks: 0 };
      const Sv: Buf = { ptr: saved, blocks: 5 };
      const Cp: Buf = { ptr: cPrev, blocks: 1 };
      const Cn: Buf = { ptr: cNext, blocks: 1 };
      const Hn: Buf = { ptr: hNext, blocks: 1 };
      rowsAndUnits(f, dt, [P, Q, Sv, Cp, Cn, Hn], rows, H, (a) => {
        const I = sigmoid(f, gateInput(f, a, Q, Bb, P, 0));
        const F = sigmoid(f, gateInput(f, a, Q, Bb, P, 1));
        const gIn = gateInput(f, a, Q, Bb, P, 2);
        const G = keep(f, () => pushTanh(f, gIn));
        const O = sigmoid(f, gateInput(f, a, Q, Bb, P, 3));
        // c' = f·c + i·g
        const C = keep(f, () => {
          f.get(F);
          a.ld(Cp);
          f.op('f64x2.mul').get(I).get(G).op('f64x2.mul', 'f64x2.add');
        });
        const T = keep(f, () => pushTanh(f, C));
        a.st(Sv, 0, I);
        a.st(Sv, 1, F);
        a.st(Sv, 2, G);
        a.st(Sv, 3, O);
        a.st(Sv, 4, T);
        a.st(Cn, 0, C);
        a.st(
          Hn,
          0,
          keep(f, () => f.get(O).get(T).op('f64x2.mul')),
        );
      });
    });

  // lstm_bwd(saved, cPrev, gOut, dhRec, carry, dPre, rows, H)
  mod.func(recurrentNames.lstmBackward(dt), i32(8), [], (f) => {
    const [saved, cPrev, gOut, dhRec, carry, dPre, rows, H] = f.params;
    const Sv: Buf = { ptr: saved, blocks: 5 };
    const Cp: Buf = { ptr: cPrev, blocks: 1 };
    const Go: Buf = { ptr: gOut, blocks: 1 };
    const Dr: Buf = { ptr: dhRec, blocks: 1 };
    const Ca: Buf = { ptr: carry, blocks: 1 };
    const Dp: Buf = { ptr: dPre, blocks: 4 };
    rowsAndUnits(f, dt, [Sv, Cp, Go, Dr, Ca, Dp], rows, H, (a) => {
      const [I, F, G, O, T] = [0, 1, 2, 3, 4].map((k) => keep(f, () => a.ld(Sv, k)));
      const DH = keep(f, () => {
        a.ld(Go);
        a.ld(Dr);
        f.op('f64x2.add');
      });
      // dc = carry + (dh·o)·(1 − τ·τ)
      const DC = keep(f, () => {
        a.ld(Ca);
        f.get(DH).get(O).op('f64x2.mul');
        one(f).get(T).get(T).op('f64x2.mul', 'f64x2.sub', 'f64x2.mul', 'f64x2.add');
      });
      // ((x·y)·(1 − s))·s
      const gated = (x: Local, y: () => void, s: Local) =>
        keep(f, () => {
          f.get(x);
          y();
          f.op('f64x2.mul');
          one(f).get(s).op('f64x2.sub', 'f64x2.mul').get(s).op('f64x2.mul');
        });
      a.st(
        Dp,
        0,
        gated(DC, () => f.get(G), I),
      );
      a.st(
        Dp,
        1,
        gated(DC, () => a.ld(Cp), F),
      );
      a.st(
        Dp,
        2,
        keep(f, () => {
          f.get(DC).get(I).op('f64x2.mul');
          one(f).get(G).get(G).op('f64x2.mul', 'f64x2.sub', 'f64x2.mul');
        }),
      );
      a.st(
        Dp,
        3,
        gated(DH, () => f.get(T), O),
      );
      a.st(
        Ca,
        0,
        keep(f, () => f.get(DC).get(F).op('f64x2.mul')),
      );
    });
  });

  // gru_fwd(pre, hh, bias, saved, hPrev, hNext, rows, H)
  if (dt === 'f64')
    mod.func(recurrentNames.gruForward(dt), i32(8), [], (f) => {
      const [pre, hh, bias, saved, hPrev, hNext, rows, H] = f.params;
      const P: Buf = { ptr: pre, blocks: 3 };
      const Q: Buf = { ptr: hh, blocks: 3 };
      const Bb: Buf = { ptr: bias, blocks: 0 };
      const Sv: Buf = { ptr: saved, blocks: 4 };
      const Hp: Buf = { ptr: hPrev, blocks: 1 };
      const Hn: Buf = { ptr: hNext, blocks: 1 };
      rowsAndUnits(f, dt, [P, Q, Sv, Hp, Hn], rows, H, (a) => {
        const R = sigmoid(f, gateInput(f, a, Q, Bb, P, 0));
        const Z = sigmoid(f, gateInput(f, a, Q, Bb, P, 1));
        const M = keep(f, () => {
          a.ld(Q, 2);
          a.ld(Bb, 2);
          f.op('f64x2.add');
        });
        const nIn = keep(f, () => {
          a.ld(P, 2);
          f.get(R).get(M).op('f64x2.mul', 'f64x2.add');
        });
        const N = keep(f, () => pushTanh(f, nIn));
        a.st(Sv, 0, R);
        a.st(Sv, 1, Z);
        a.st(Sv, 2, N);
        a.st(Sv, 3, M);
        // h' = (h − n)·z + n
        a.st(
          Hn,
          0,
          keep(f, () => {
            a.ld(Hp);
            f.get(N).op('f64x2.sub').get(Z).op('f64x2.mul').get(N).op('f64x2.add');
          }),
        );
      });
    });

  // gru_bwd(saved, hPrev, gOut, dhRec, carry, dPre, dHh, rows, H)
  mod.func(recurrentNames.gruBackward(dt), i32(9), [], (f) => {
    const [saved, hPrev, gOut, dhRec, carry, dPre, dHh, rows, H] = f.params;
    const Sv: Buf = { ptr: saved, blocks: 4 };
    const Hp: Buf = { ptr: hPrev, blocks: 1 };
    const Go: Buf = { ptr: gOut, blocks: 1 };
    const Dr: Buf = { ptr: dhRec, blocks: 1 };
    const Ca: Buf = { ptr: carry, blocks: 1 };
    const Dp: Buf = { ptr: dPre, blocks: 3 };
    const Dq: Buf = { ptr: dHh, blocks: 3 };
    rowsAndUnits(f, dt, [Sv, Hp, Go, Dr, Ca, Dp, Dq], rows, H, (a) => {
      const [R, Z, N, M] = [0, 1, 2, 3].map((k) => keep(f, () => a.ld(Sv, k)));
      // dh = (gOut + dhRec) + carry
      const DH = keep(f, () => {
        a.ld(Go);
        a.ld(Dr);
        f.op('f64x2.add');
        a.ld(Ca);
        f.op('f64x2.add');
      });
      // dn = (dh·(1 − z))·(1 − n·n)
      const DN = keep(f, () => {
        f.get(DH);
        one(f).get(Z).op('f64x2.sub', 'f64x2.mul');
        one(f).get(N).get(N).op('f64x2.mul', 'f64x2.sub', 'f64x2.mul');
      });
      // dz = ((dh·(h − n))·(1 − z))·z
      const DZ = keep(f, () => {
        f.get(DH);
        a.ld(Hp);
        f.get(N).op('f64x2.sub', 'f64x2.mul');
        one(f).get(Z).op('f64x2.sub', 'f64x2.mul').get(Z).op('f64x2.mul');
      });
      // dr = ((dn·m)·(1 − r))·r
      const DR = keep(f, () => {
        f.get(DN).get(M).op('f64x2.mul');
        one(f).get(R).op('f64x2.sub', 'f64x2.mul').get(R).op('f64x2.mul');
      });
      a.st(Dp, 0, DR);
      a.st(Dp, 1, DZ);
      a.st(Dp, 2, DN);
      a.st(Dq, 0, DR);
      a.st(Dq, 1, DZ);
      a.st(
        Dq,
        2,
        keep(f, () => f.get(DN).get(R).op('f64x2.mul')),
      );
      a.st(
        Ca,
        0,
        keep(f, () => f.get(DH).get(Z).op('f64x2.mul')),
      );
    });
  });
}

// ---------------------------------------------------------------------------------------------------------
// float32 forward in f32x4 lanes

/**
 * The row and unit loops of the float32 forward functions: four units a trip in f32x4 lanes, then the
 * units left over (H mod 4) one at a time through the same body with one-element loads and stores.
 */
function rowsAndQuads(f: Func, bufs: readonly Buf[], rows: Local, H: Local, body: (a: Access) => void): void {
  const hb = f.local('i32');
  f.get(H).i32(4).op('i32.mul').set(hb);
  const blockAt: Local[] = [];
  for (let k = 0; k <= 5; k++) {
    const l = f.local('i32');
    f.get(hb).i32(k).op('i32.mul').set(l);
    blockAt.push(l);
  }
  const jb = f.local('i32');
  const quads = f.local('i32');
  f.get(H).i32(-4).op('i32.and').set(quads);
  const addr = (b: Buf, k: number) => {
    f.get(b.ptr).get(jb).op('i32.add');
    if (k > 0) f.get(blockAt[k]).op('i32.add');
  };
  const quad: Access = {
    ld(b, k = 0) {
      addr(b, k);
      f.mem('v128.load');
    },
    st(b, k, v) {
      addr(b, k);
      f.get(v).mem('v128.store');
    },
  };
  const single: Access = {
    ld(b, k = 0) {
      addr(b, k);
      f.mem('f32.load').op('f32x4.splat');
    },
    st(b, k, v) {
      addr(b, k);
      f.get(v).lane('f32x4.extract_lane', 0).mem('f32.store');
    },
  };
  const r = f.local('i32');
  const j = f.local('i32');
  f.for(r, 0, rows, 1, () => {
    f.for(j, 0, quads, 4, () => {
      f.get(j).i32(4).op('i32.mul').set(jb);
      body(quad);
    });
    f.for(j, quads, H, 1, () => {
      f.get(j).i32(4).op('i32.mul').set(jb);
      body(single);
    });
    for (const b of bufs) if (b.blocks > 0) f.inc(b.ptr, blockAt[b.blocks]);
  });
}

const splat4 = (f: Func, c: number) => f.f32(c).op('f32x4.splat');

/**
 * e^x in f32x4 lanes (Cephes' expf: x clamped to [−87, 88], Cody–Waite reduction by ln 2, a degree-6
 * polynomial, 2^k from the exponent bits; within 2 float32 ulps).
 */
function exp4(f: Func, x: Local): Local {
  const xc = keep(f, () => {
    f.get(x);
    splat4(f, -87);
    f.op('f32x4.max');
    splat4(f, 88);
    f.op('f32x4.min');
  });
  const k = keep(f, () => {
    f.get(xc);
    splat4(f, Math.LOG2E);
    f.op('f32x4.mul', 'f32x4.nearest');
  });
  const r = keep(f, () => {
    f.get(xc).get(k);
    splat4(f, 0.693359375);
    f.op('f32x4.mul', 'f32x4.sub').get(k);
    splat4(f, -2.1219444e-4);
    f.op('f32x4.mul', 'f32x4.sub');
  });
  const c = [
    1.98756915e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1,
  ];
  return keep(f, () => {
    // 1 + r + r²·P(r), then · 2^k
    splat4(f, c[0]);
    for (let i = 1; i < c.length; i++) {
      f.get(r).op('f32x4.mul');
      splat4(f, c[i]);
      f.op('f32x4.add');
    }
    f.get(r).get(r).op('f32x4.mul', 'f32x4.mul').get(r).op('f32x4.add');
    splat4(f, 1);
    f.op('f32x4.add');
    f.get(k).op('i32x4.trunc_sat_f32x4_s');
    f.i32(127).op('i32x4.splat', 'i32x4.add').i32(23).op('i32x4.shl', 'f32x4.mul');
  });
}

/** σ(x) = 1 / (1 + e^−x) in f32x4 lanes. */
function sigmoid4(f: Func, x: Local): Local {
  const t = keep(f, () => f.get(x).op('f32x4.neg'));
  const e = exp4(f, t);
  return keep(f, () => {
    splat4(f, 1);
    splat4(f, 1);
    f.get(e).op('f32x4.add', 'f32x4.div');
  });
}

/**
 * tanh x in f32x4 lanes (Cephes' tanhf): below |x| = 0.625 an odd polynomial, above 1 − 2/(e^{2|x|} + 1)
 * with the sign of x (1 once e^{2|x|} saturates).
 */
function tanh4(f: Func, x: Local): Local {
  const ax = keep(f, () => f.get(x).op('f32x4.abs'));
  const e = exp4(
    f,
    keep(f, () => f.get(ax).get(ax).op('f32x4.add')),
  );
  const big = keep(f, () => {
    splat4(f, 1);
    splat4(f, 2);
    f.get(e);
    splat4(f, 1);
    f.op('f32x4.add', 'f32x4.div', 'f32x4.sub');
    // the sign bit of x
    f.get(x)
      .i32(0x80000000 | 0)
      .op('i32x4.splat', 'v128.and', 'v128.or');
  });
  const z = keep(f, () => f.get(x).get(x).op('f32x4.mul'));
  const p = [-5.70498872745e-3, 2.06390887954e-2, -5.37397155531e-2, 1.33314422036e-1, -3.33332819422e-1];
  const small = keep(f, () => {
    splat4(f, p[0]);
    for (let i = 1; i < p.length; i++) {
      f.get(z).op('f32x4.mul');
      splat4(f, p[i]);
      f.op('f32x4.add');
    }
    f.get(z).op('f32x4.mul').get(x).op('f32x4.mul').get(x).op('f32x4.add');
  });
  return keep(f, () => {
    f.get(small).get(big).get(ax);
    splat4(f, 0.625);
    f.op('f32x4.lt', 'v128.bitselect');
  });
}

/** (hh_k + b_k) + pre_k of gate k, in f32x4 lanes. */
function gateInput4(f: Func, a: Access, hh: Buf, bias: Buf, pre: Buf, k: number): Local {
  return keep(f, () => {
    a.ld(hh, k);
    a.ld(bias, k);
    f.op('f32x4.add');
    a.ld(pre, k);
    f.op('f32x4.add');
  });
}

/**
 * The float32 forward steps in f32x4 lanes: the reference's formulas and order, each operation rounded
 * to float32, σ and tanh by `exp4`/`tanh4` (not libm's): within a few float32 ulps of the reference,
 * not its bits. Four times the lanes, and polynomials of float32 length instead of float64 ones.
 */
function addFloat32Forward(mod: ModuleBuilder): void {
  const i32 = (n: number) => new Array<'i32'>(n).fill('i32');
  mod.func(recurrentNames.lstmForward('f32'), i32(9), [], (f) => {
    const [pre, hh, bias, saved, cPrev, cNext, hNext, rows, H] = f.params;
    const P: Buf = { ptr: pre, blocks: 4 };
    const Q: Buf = { ptr: hh, blocks: 4 };
    const Bb: Buf = { ptr: bias, blocks: 0 };
    const Sv: Buf = { ptr: saved, blocks: 5 };
    const Cp: Buf = { ptr: cPrev, blocks: 1 };
    const Cn: Buf = { ptr: cNext, blocks: 1 };
    const Hn: Buf = { ptr: hNext, blocks: 1 };
    rowsAndQuads(f, [P, Q, Sv, Cp, Cn, Hn], rows, H, (a) => {
      const I = sigmoid4(f, gateInput4(f, a, Q, Bb, P, 0));
      const F = sigmoid4(f, gateInput4(f, a, Q, Bb, P, 1));
      const G = tanh4(f, gateInput4(f, a, Q, Bb, P, 2));
      const O = sigmoid4(f, gateInput4(f, a, Q, Bb, P, 3));
      const C = keep(f, () => {
        f.get(F);
        a.ld(Cp);
        f.op('f32x4.mul').get(I).get(G).op('f32x4.mul', 'f32x4.add');
      });
      const T = tanh4(f, C);
      a.st(Sv, 0, I);
      a.st(Sv, 1, F);
      a.st(Sv, 2, G);
      a.st(Sv, 3, O);
      a.st(Sv, 4, T);
      a.st(Cn, 0, C);
      a.st(
        Hn,
        0,
        keep(f, () => f.get(O).get(T).op('f32x4.mul')),
      );
    });
  });
  mod.func(recurrentNames.gruForward('f32'), i32(8), [], (f) => {
    const [pre, hh, bias, saved, hPrev, hNext, rows, H] = f.params;
    const P: Buf = { ptr: pre, blocks: 3 };
    const Q: Buf = { ptr: hh, blocks: 3 };
    const Bb: Buf = { ptr: bias, blocks: 0 };
    const Sv: Buf = { ptr: saved, blocks: 4 };
    const Hp: Buf = { ptr: hPrev, blocks: 1 };
    const Hn: Buf = { ptr: hNext, blocks: 1 };
    rowsAndQuads(f, [P, Q, Sv, Hp, Hn], rows, H, (a) => {
      const R = sigmoid4(f, gateInput4(f, a, Q, Bb, P, 0));
      const Z = sigmoid4(f, gateInput4(f, a, Q, Bb, P, 1));
      const M = keep(f, () => {
        a.ld(Q, 2);
        a.ld(Bb, 2);
        f.op('f32x4.add');
      });
      const N = tanh4(
        f,
        keep(f, () => {
          a.ld(P, 2);
          f.get(R).get(M).op('f32x4.mul', 'f32x4.add');
        }),
      );
      a.st(Sv, 0, R);
      a.st(Sv, 1, Z);
      a.st(Sv, 2, N);
      a.st(Sv, 3, M);
      a.st(
        Hn,
        0,
        keep(f, () => {
          a.ld(Hp);
          f.get(N).op('f32x4.sub').get(Z).op('f32x4.mul').get(N).op('f32x4.add');
        }),
      );
    });
  });
}
