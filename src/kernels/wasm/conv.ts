/**
 * Convolution in WebAssembly: the forward pass and both gradients as products through the packed GEMM's
 * macro-kernel (`gemm.ts`), with im2col and col2im folded into the packing and a pass after it, so no
 * column matrix is ever written whole.
 *
 * - Forward, per image and group: out (opg × P) = W (opg × K) · cols (K × P), K = C/groups·kH·kW taps and
 *   P = OH·OW positions. W is packed once per call (by the runtime, before the threads start); the columns
 *   are packed straight from the image, nr positions by kc taps at a time.
 * - Input gradient, per image and group: cols (K × P) = Wᵀ · gOut, a block of tap rows at a time into a
 *   scratch buffer, then added into gx tap by tap (col2im); Wᵀ is packed once per call.
 * - Weight gradient, per group: gw (opg × K) = Σ over images of gOut (opg × P) · colsᵀ (P × K): both
 *   operands are packed transposed (lanes × lanes blocks turned by shuffles), and every image continues
 *   the sums in C where the previous one stopped.
 *
 * The macro-kernel continues C's sums in order, so however the depth is cut into blocks each output is one
 * sequential sum, the order the reference loops in `../window.ts` state: float64 results have their bits.
 * Padding is materialised: an image whose windows reach outside it is first copied into a zero-bordered
 * buffer (col2im adds into such a buffer and copies its inside out), so every tap reads memory and the
 * padding's products are w·0, as the reference's are. Where a tap lands is one table lookup: TAPS[k] is
 * tap k's byte offset in the (padded) image of one group, POS[p] position p's; the runtime fills both.
 */
import type { Func, Local, ModuleBuilder } from './asm.js';
import { byteLanes, clampTo, copyBytes, zeroBytes } from './loops.js';
import {
  ELEMENT_BYTES,
  GEMM_SHAPES,
  PACK_A_OFFSET,
  PACK_B_OFFSET,
  type GemmFuncs,
  type WasmDType,
} from './gemm.js';

/**
 * The fields of a convolution's parameter block, an i32 each at 4·index bytes: what the runtime writes
 * once per call and every part of the call reads. Addresses are bytes; sizes are elements.
 */
export const CONV_FIELDS = [
  /** The input x [N, C, H, W] (forward, weight gradient). */
  'x',
  /** The packed weights: W for the forward pass, Wᵀ for the input gradient. */
  'packed',
  /** The bias [CO], or 0 for none (forward). */
  'bias',
  /** The result: out, gx or gw. */
  'out',
  /** The output gradient gOut [N, CO, OH, OW] (gradients). */
  'gout',
  /** The tap table: K byte offsets within one group's (padded) image. */
  'taps',
  /** The position table: P byte offsets within a (padded) channel. */
  'pos',
  'channels',
  'inH',
  'inW',
  'outChannels',
  'groups',
  /** Channels per group. */
  'cpg',
  /** Output channels per group. */
  'opg',
  /** Taps per group: cpg·kH·kW. */
  'k',
  /** Positions per image: OH·OW. */
  'p',
  /** kH·kW. */
  'khw',
  /** N, the images. */
  'batch',
  /** 1 where the image is copied into a zero-bordered buffer first (padding, or windows past the edge). */
  'padded',
  /** Height and width of that buffer (inH and inW without one). */
  'padH',
  'padW',
  /** Rows and columns of zeros before the image in it. */
  'top',
  'left',
  /** opg rounded up to whole mr-row panels (the packed W's row count). */
  'opgR',
  /** k rounded up to whole mr-row panels (the packed Wᵀ's row count). */
  'kR',
  /** Tap rows per col2im block of the input gradient (a multiple of mr). */
  'blockRows',
  /** OW where the positions of an output row lie side by side (stride 1 along the row), else 0. */
  'run',
] as const;

/** A field of {@link CONV_FIELDS}. */
export type ConvField = (typeof CONV_FIELDS)[number];

/** Byte offset of a field in the parameter block. */
export function convField(name: ConvField): number {
  return CONV_FIELDS.indexOf(name) * 4;
}

/** Bytes of the parameter block. */
export const CONV_PARAM_BYTES = 64 * Math.ceil((CONV_FIELDS.length * 4) / 64);

/** Export names of the drivers, shared with the runtime that calls them. */
export const convNames = {
  forward: (dt: WasmDType) => `${dt}_conv_forward`,
  inputGrad: (dt: WasmDType) => `${dt}_conv_input_grad`,
  weightGrad: (dt: WasmDType) => `${dt}_conv_weight_grad`,
};

/**
 * Turn `rows` (L vectors of L lanes: L consecutive depth steps of L rows) into L vectors each holding one
 * depth step of the L rows, written to `out` (locals, may not alias `rows`).
 */
function transpose(f: Func, dt: WasmDType, rows: Local[], out: Local[], tmp: Local[]): void {
  const S = ELEMENT_BYTES[dt];
  if (dt === 'f64') {
    f.get(rows[0])
      .get(rows[1])
      .shuffle(byteLanes([0, 2], S))
      .set(out[0]);
    f.get(rows[0])
      .get(rows[1])
      .shuffle(byteLanes([1, 3], S))
      .set(out[1]);
    return;
  }
  const lo = byteLanes([0, 4, 1, 5], S);
  const hi = byteLanes([2, 6, 3, 7], S);
  f.get(rows[0]).get(rows[1]).shuffle(lo).set(tmp[0]);
  f.get(rows[0]).get(rows[1]).shuffle(hi).set(tmp[1]);
  f.get(rows[2]).get(rows[3]).shuffle(lo).set(tmp[2]);
  f.get(rows[2]).get(rows[3]).shuffle(hi).set(tmp[3]);
  const first = byteLanes([0, 1, 4, 5], S);
  const second = byteLanes([2, 3, 6, 7], S);
  f.get(tmp[0]).get(tmp[2]).shuffle(first).set(out[0]);
  f.get(tmp[0]).get(tmp[2]).shuffle(second).set(out[1]);
  f.get(tmp[1]).get(tmp[3]).shuffle(first).set(out[2]);
  f.get(tmp[1]).get(tmp[3]).shuffle(second).set(out[3]);
}

/** The parameter block's fields as locals, loaded once at a driver's entry. */
type Fields = Record<ConvField, Local>;

function loadFields(f: Func, geo: Local): Fields {
  const out = {} as Fields;
  for (const name of CONV_FIELDS) {
    const l = f.local('i32');
    f.get(geo).mem('i32.load', convField(name)).set(l);
    out[name] = l;
  }
  return out;
}

/**
 * `${dt}_conv_pad(geo, src, dst, c0, c1)`: copy channels c0..c1 of one image at `src` (inH × inW each)
 * into the zero-bordered buffer at `dst` (padH × padW each, the image at row `top`, column `left`); the
 * borders are not touched (the caller zeroed the buffer once).
 */
function addPadCopy(mod: ModuleBuilder, dt: WasmDType): number {
  const S = ELEMENT_BYTES[dt];
  return mod.func(`${dt}_conv_pad`, ['i32', 'i32', 'i32', 'i32', 'i32'], [], (f) => {
    const [geo, src, dst, c0, c1] = f.params;
    const g = loadFields(f, geo);
    const c = f.local('i32');
    const h = f.local('i32');
    const s = f.local('i32');
    const d = f.local('i32');
    const n = f.local('i32');
    const rowOut = f.local('i32');
    const planeOut = f.local('i32');
    f.get(g.padW).i32(S).op('i32.mul').set(rowOut);
    f.get(g.padH).get(rowOut).op('i32.mul').set(planeOut);
    // dst += (c0·padH·padW + top·padW + left)·S; src += c0·inH·inW·S
    f.get(dst).get(c0).get(planeOut).op('i32.mul', 'i32.add');
    f.get(g.top).get(rowOut).op('i32.mul', 'i32.add');
    f.get(g.left).i32(S).op('i32.mul', 'i32.add').set(dst);
    f.get(src)
      .get(c0)
      .get(g.inH)
      .op('i32.mul')
      .get(g.inW)
      .op('i32.mul')
      .i32(S)
      .op('i32.mul', 'i32.add')
      .set(src);
    f.for(c, c0, c1, 1, () => {
      f.for(h, 0, g.inH, 1, () => {
        f.get(h).get(rowOut).op('i32.mul').get(dst).op('i32.add').set(d);
        f.get(src).set(s);
        f.get(g.inW).i32(S).op('i32.mul').set(n);
        copyBytes(f, dt, s, d, n);
        f.get(g.inW).i32(S).op('i32.mul').get(src).op('i32.add').set(src);
      });
      f.inc(dst, planeOut);
    });
  });
}

/**
 * `${dt}_conv_pack_cols(geo, src, k0, kc, j0, nc, dst)`: the packed B block of the forward product: taps
 * k0..k0+kc by positions j0..j0+nc of the (padded) group image at `src`, in nr-position micro-panels,
 * each kc taps deep. A panel of nr positions side by side in memory (one output row, stride 1) is copied
 * a vector at a time; others gather element by element. Lanes past the last position repeat it: the
 * macro-kernel never stores those columns.
 */
function addPackCols(mod: ModuleBuilder, dt: WasmDType): number {
  const S = ELEMENT_BYTES[dt];
  const { nr } = GEMM_SHAPES[dt];
  const load = dt === 'f64' ? 'f64.load' : 'f32.load';
  const store = dt === 'f64' ? 'f64.store' : 'f32.store';
  return mod.func(`${dt}_conv_pack_cols`, new Array(7).fill('i32'), [], (f) => {
    const [geo, src, k0, kc, j0, nc, dst] = f.params;
    const taps = f.local('i32');
    const pos = f.local('i32');
    const j = f.local('i32');
    const j1 = f.local('i32');
    const cols = f.local('i32');
    const base = f.local('i32');
    const tp = f.local('i32');
    const tEnd = f.local('i32');
    const l = f.local('i32');
    const d = f.local('i32');
    const at = f.local('i32');
    f.get(geo).mem('i32.load', convField('taps')).get(k0).i32(4).op('i32.mul', 'i32.add').set(taps);
    f.get(geo).mem('i32.load', convField('pos')).set(pos);
    f.get(taps).get(kc).i32(4).op('i32.mul', 'i32.add').set(tEnd);
    f.get(j0).get(nc).op('i32.add').set(j1);
    f.for(j, j0, j1, nr, () => {
      clampTo(f, cols, nr, j1, j);
      // base = src + POS[j]
      f.get(pos).get(j).i32(4).op('i32.mul', 'i32.add').mem('i32.load').get(src).op('i32.add').set(base);
      // Contiguous: a whole panel whose last position lies (nr − 1) elements past its first.
      f.get(cols).i32(nr).op('i32.eq');
      f.get(pos)
        .get(j)
        .i32(4)
        .op('i32.mul', 'i32.add')
        .mem('i32.load', (nr - 1) * 4);
      f.get(pos).get(j).i32(4).op('i32.mul', 'i32.add').mem('i32.load');
      f.op('i32.sub')
        .i32((nr - 1) * S)
        .op('i32.eq', 'i32.and');
      f.if(
        () => {
          f.get(taps).set(tp);
          f.loop((top) => {
            f.get(tp).mem('i32.load').get(base).op('i32.add').set(at);
            for (let v = 0; v < (nr * S) / 16; v++)
              f.get(dst)
                .get(at)
                .mem('v128.load', v * 16)
                .mem('v128.store', v * 16);
            f.inc(dst, nr * S).inc(tp, 4);
            f.get(tp).get(tEnd).op('i32.lt_u').brIf(top);
          });
        },
        () => {
          f.for(l, 0, nr, 1, () => {
            // The lane's position (the panel's last one past its end), its column of the panel.
            f.get(pos);
            f.get(j).get(l).get(cols).i32(1).op('i32.sub').get(l).get(cols).op('i32.lt_s', 'select');
            f.op('i32.add').i32(4).op('i32.mul', 'i32.add').mem('i32.load').get(src).op('i32.add').set(base);
            f.get(dst).get(l).i32(S).op('i32.mul', 'i32.add').set(d);
            f.get(taps).set(tp);
            f.loop((top) => {
              f.get(d).get(tp).mem('i32.load').get(base).op('i32.add').mem(load).mem(store);
              f.inc(d, nr * S).inc(tp, 4);
              f.get(tp).get(tEnd).op('i32.lt_u').brIf(top);
            });
          });
          f.get(kc)
            .i32(nr * S)
            .op('i32.mul')
            .get(dst)
            .op('i32.add')
            .set(dst);
        },
      );
    });
  });
}

/**
 * `${dt}_conv_pack_colsT(geo, src, j0, nc, p0, kc, dst)`: the packed B block of the weight gradient:
 * taps j0..j0+nc (nr-tap micro-panels) by positions p0..p0+kc (the depth) of the group image at `src`.
 * Where `lanes` positions lie side by side each tap's values are one vector load, turned into depth steps
 * by a transpose; elsewhere element by element. Lanes past the last tap repeat it.
 */
function addPackColsT(mod: ModuleBuilder, dt: WasmDType): number {
  const S = ELEMENT_BYTES[dt];
  const L = 16 / S;
  const { nr } = GEMM_SHAPES[dt];
  const load = dt === 'f64' ? 'f64.load' : 'f32.load';
  const store = dt === 'f64' ? 'f64.store' : 'f32.store';
  return mod.func(`${dt}_conv_pack_colsT`, new Array(7).fill('i32'), [], (f) => {
    const [geo, src, j0, nc, p0, kc, dst] = f.params;
    const taps = f.local('i32');
    const pos = f.local('i32');
    const j = f.local('i32');
    const j1 = f.local('i32');
    const cols = f.local('i32');
    const p = f.local('i32');
    const pEnd = f.local('i32');
    const o = f.local('i32');
    const t = Array.from({ length: nr }, () => f.local('i32'));
    const rows = Array.from({ length: nr }, () => f.local('v128'));
    const out = Array.from({ length: L }, () => f.local('v128'));
    const tmp = Array.from({ length: 4 }, () => f.local('v128'));
    f.get(geo).mem('i32.load', convField('taps')).set(taps);
    f.get(geo).mem('i32.load', convField('pos')).set(pos);
    f.get(j0).get(nc).op('i32.add').set(j1);
    f.get(p0).get(kc).op('i32.add').set(pEnd);
    f.for(j, j0, j1, nr, () => {
      clampTo(f, cols, nr, j1, j);
      // t[l] = src + TAPS[min(j + l, j + cols − 1)]
      for (let l = 0; l < nr; l++) {
        f.get(taps);
        f.get(j).i32(l).op('i32.add');
        f.get(j).get(cols).op('i32.add').i32(1).op('i32.sub');
        f.get(cols).i32(l).op('i32.gt_s', 'select');
        f.i32(4).op('i32.mul', 'i32.add').mem('i32.load').get(src).op('i32.add').set(t[l]);
      }
      f.get(p0).set(p);
      f.block((done) => {
        f.loop((top) => {
          f.get(p).get(pEnd).op('i32.ge_s').brIf(done);
          // o = POS[p]; a whole vector when L positions remain and lie side by side.
          f.get(pos).get(p).i32(4).op('i32.mul', 'i32.add').mem('i32.load').set(o);
          f.get(p).i32(L).op('i32.add').get(pEnd).op('i32.le_s');
          f.get(pos)
            .get(p)
            .i32(4)
            .op('i32.mul', 'i32.add')
            .mem('i32.load', (L - 1) * 4);
          f.get(o)
            .op('i32.sub')
            .i32((L - 1) * S)
            .op('i32.eq', 'i32.and');
          f.if(
            () => {
              for (let l = 0; l < nr; l++) f.get(t[l]).get(o).op('i32.add').mem('v128.load').set(rows[l]);
              for (let q = 0; q < nr / L; q++) {
                transpose(f, dt, rows.slice(q * L, q * L + L), out, tmp);
                for (let s = 0; s < L; s++)
                  f.get(dst)
                    .get(out[s])
                    .mem('v128.store', s * nr * S + q * 16);
              }
              f.inc(dst, L * nr * S).inc(p, L);
            },
            () => {
              for (let l = 0; l < nr; l++)
                f.get(dst)
                  .get(t[l])
                  .get(o)
                  .op('i32.add')
                  .mem(load)
                  .mem(store, l * S);
              f.inc(dst, nr * S).inc(p, 1);
            },
          );
          f.br(top);
        });
      });
    });
  });
}

/**
 * `${dt}_conv_pack_rowsT(src, stride, rows, kc, dst)`: the packed A block of the weight gradient: `rows`
 * rows of gOut (row r at src + r·stride bytes, its kc depth steps side by side) in mr-row micro-panels,
 * turned by lanes × lanes transposes. Rows past the last repeat it.
 */
function addPackRowsT(mod: ModuleBuilder, dt: WasmDType): number {
  const S = ELEMENT_BYTES[dt];
  const L = 16 / S;
  const { mr } = GEMM_SHAPES[dt];
  const load = dt === 'f64' ? 'f64.load' : 'f32.load';
  const store = dt === 'f64' ? 'f64.store' : 'f32.store';
  return mod.func(`${dt}_conv_pack_rowsT`, new Array(5).fill('i32'), [], (f) => {
    const [src, stride, rows, kc, dst] = f.params;
    const i = f.local('i32');
    const p = f.local('i32');
    const whole = f.local('i32');
    const r = Array.from({ length: mr }, () => f.local('i32'));
    const vin = Array.from({ length: mr }, () => f.local('v128'));
    const out = Array.from({ length: L }, () => f.local('v128'));
    const tmp = Array.from({ length: 4 }, () => f.local('v128'));
    // whole = kc rounded down to a multiple of L
    f.get(kc).i32(-L).op('i32.and').set(whole);
    f.for(i, 0, rows, mr, () => {
      for (let l = 0; l < mr; l++) {
        // r[l] = src + min(i + l, rows − 1)·stride
        f.get(i).i32(l).op('i32.add');
        f.get(rows).i32(1).op('i32.sub');
        f.get(rows).get(i).op('i32.sub').i32(l).op('i32.gt_s', 'select');
        f.get(stride).op('i32.mul').get(src).op('i32.add').set(r[l]);
      }
      f.for(p, 0, whole, L, () => {
        for (let l = 0; l < mr; l++) f.get(r[l]).mem('v128.load').set(vin[l]);
        for (let q = 0; q < mr / L; q++) {
          transpose(f, dt, vin.slice(q * L, q * L + L), out, tmp);
          for (let s = 0; s < L; s++)
            f.get(dst)
              .get(out[s])
              .mem('v128.store', s * mr * S + q * 16);
        }
        for (let l = 0; l < mr; l++) f.inc(r[l], 16);
        f.inc(dst, L * mr * S);
      });
      f.for(p, whole, kc, 1, () => {
        for (let l = 0; l < mr; l++)
          f.get(dst)
            .get(r[l])
            .mem(load)
            .mem(store, l * S);
        for (let l = 0; l < mr; l++) f.inc(r[l], S);
        f.inc(dst, mr * S);
      });
    });
  });
}

/**
 * `${dt}_conv_forward(geo, n0, n1, j0, j1, scratch, work)`: images n0..n1, positions j0..j1 of out. With
 * padding, `scratch` holds this part's zero-bordered image (C·padH·padW elements).
 */
function addForward(mod: ModuleBuilder, dt: WasmDType, gemm: GemmFuncs, pad: number, packCols: number): void {
  const S = ELEMENT_BYTES[dt];
  const s = GEMM_SHAPES[dt];
  mod.func(convNames.forward(dt), new Array(7).fill('i32'), [], (f) => {
    const [geo, n0, n1, j0, j1, scratch, work] = f.params;
    const g = loadFields(f, geo);
    const n = f.local('i32');
    const grp = f.local('i32');
    const img = f.local('i32');
    const srcG = f.local('i32');
    const jc = f.local('i32');
    const pc = f.local('i32');
    const ic = f.local('i32');
    const ncb = f.local('i32');
    const kcb = f.local('i32');
    const mcb = f.local('i32');
    const co = f.local('i32');
    const groupPlane = f.local('i32');
    const row = f.local('i32');
    const b = f.local('v128');
    const bs = f.local(dt);
    const e = f.local('i32');
    const pb = f.local('i32');
    f.get(work).i32(PACK_B_OFFSET).op('i32.add').set(pb);
    // Bytes of one group's channels in the image the taps read.
    f.get(g.cpg).get(g.padH).op('i32.mul').get(g.padW).op('i32.mul').i32(S).op('i32.mul').set(groupPlane);
    f.get(g.padded).if(() => {
      f.get(g.channels).get(g.padH).op('i32.mul').get(g.padW).op('i32.mul').i32(S).op('i32.mul').set(e);
      f.get(scratch).set(img);
      zeroBytes(f, dt, img, e);
    });
    f.for(n, n0, n1, 1, () => {
      // img = x + n·C·H·W·S, or its padded copy
      f.get(n).get(g.channels).op('i32.mul').get(g.inH).op('i32.mul').get(g.inW).op('i32.mul');
      f.i32(S).op('i32.mul').get(g.x).op('i32.add').set(img);
      f.get(g.padded).if(() => {
        f.get(geo).get(img).get(scratch).i32(0).get(g.channels).call(pad);
        f.get(scratch).set(img);
      });
      f.for(grp, 0, g.groups, 1, () => {
        f.get(grp).get(groupPlane).op('i32.mul').get(img).op('i32.add').set(srcG);
        f.for(jc, j0, j1, s.nc, () => {
          clampTo(f, ncb, s.nc, j1, jc);
          f.for(pc, 0, g.k, s.kc, () => {
            clampTo(f, kcb, s.kc, g.k, pc);
            f.get(geo).get(srcG).get(pc).get(kcb).get(jc).get(ncb).get(pb).call(packCols);
            f.for(ic, 0, g.opg, s.mc, () => {
              clampTo(f, mcb, s.mc, g.opg, ic);
              // A: packed + (grp·k·opgR + pc·opgR + ic·kcb)·S
              f.get(grp).get(g.k).op('i32.mul').get(g.opgR).op('i32.mul');
              f.get(pc).get(g.opgR).op('i32.mul', 'i32.add');
              f.get(ic).get(kcb).op('i32.mul', 'i32.add').i32(S).op('i32.mul').get(g.packed).op('i32.add');
              f.get(pb);
              // C: out + ((n·CO + grp·opg + ic)·P + jc)·S
              f.get(n).get(g.outChannels).op('i32.mul').get(grp).get(g.opg).op('i32.mul', 'i32.add');
              f.get(ic).op('i32.add').get(g.p).op('i32.mul').get(jc).op('i32.add').i32(S).op('i32.mul');
              f.get(g.out).op('i32.add');
              f.get(g.p).get(mcb).get(ncb).get(kcb).get(pc).i32(0).op('i32.gt_s').get(work).call(gemm.macro);
            });
          });
          // + bias, after each output's whole sum.
          f.get(g.bias).if(() => {
            f.get(grp).get(g.opg).op('i32.mul').set(co);
            f.get(co).get(g.opg).op('i32.add').set(e);
            f.for(co, co, e, 1, () => {
              f.get(g.bias)
                .get(co)
                .i32(S)
                .op('i32.mul', 'i32.add')
                .mem(dt === 'f64' ? 'f64.load' : 'f32.load')
                .tee(bs);
              f.op(dt === 'f64' ? 'f64x2.splat' : 'f32x4.splat').set(b);
              f.get(n).get(g.outChannels).op('i32.mul').get(co).op('i32.add').get(g.p).op('i32.mul');
              f.get(jc).op('i32.add').i32(S).op('i32.mul').get(g.out).op('i32.add').set(row);
              addToRow(f, dt, row, ncb, b, bs);
            });
          });
        });
      });
    });
  });
}

/** row[0..len) += x (`v` is x splatted), vectors first; clobbers `row`. */
function addToRow(f: Func, dt: WasmDType, row: Local, len: Local, v: Local, x: Local): void {
  const S = ELEMENT_BYTES[dt];
  const L = 16 / S;
  const end = f.local('i32');
  const vend = f.local('i32');
  const add = dt === 'f64' ? 'f64x2.add' : 'f32x4.add';
  f.get(len).i32(S).op('i32.mul').get(row).op('i32.add').set(end);
  f.get(len).i32(-L).op('i32.and').i32(S).op('i32.mul').get(row).op('i32.add').set(vend);
  f.block((done) => {
    f.loop((top) => {
      f.get(row).get(vend).op('i32.ge_u').brIf(done);
      f.get(row).get(row).mem('v128.load').get(v).op(add).mem('v128.store');
      f.inc(row, 16).br(top);
    });
  });
  f.block((done) => {
    f.loop((top) => {
      f.get(row).get(end).op('i32.ge_u').brIf(done);
      if (dt === 'f64') f.get(row).get(row).mem('f64.load').get(x).op('f64.add').mem('f64.store');
      else f.get(row).get(row).mem('f32.load').get(x).op('f32.add').mem('f32.store');
      f.inc(row, S).br(top);
    });
  });
}

/**
 * `${dt}_conv_col2im(geo, cols, t0, count, dst)`: add tap rows t0..t0+count of the column block at `cols`
 * (count × P, row-major) into the group image at `dst` (padded or not: the tables say where each tap of
 * each position lands), tap by tap, positions in order: the reference's order of additions into gx.
 */
function addCol2im(mod: ModuleBuilder, dt: WasmDType): number {
  const S = ELEMENT_BYTES[dt];
  const L = 16 / S;
  const load = dt === 'f64' ? 'f64.load' : 'f32.load';
  const store = dt === 'f64' ? 'f64.store' : 'f32.store';
  const add = dt === 'f64' ? 'f64.add' : 'f32.add';
  const vadd = dt === 'f64' ? 'f64x2.add' : 'f32x4.add';
  return mod.func(`${dt}_conv_col2im`, new Array(5).fill('i32'), [], (f) => {
    const [geo, cols, t0, count, dst] = f.params;
    const taps = f.local('i32');
    const pos = f.local('i32');
    const np = f.local('i32');
    const t = f.local('i32');
    const t1 = f.local('i32');
    const base = f.local('i32');
    const c = f.local('i32');
    const p = f.local('i32');
    const o = f.local('i32');
    const at = f.local('i32');
    const run = f.local('i32');
    const end = f.local('i32');
    f.get(geo).mem('i32.load', convField('taps')).set(taps);
    f.get(geo).mem('i32.load', convField('pos')).set(pos);
    f.get(geo).mem('i32.load', convField('p')).set(np);
    f.get(t0).get(count).op('i32.add').set(t1);
    f.get(cols).set(c);
    f.get(geo).mem('i32.load', convField('run')).set(run);
    f.for(t, t0, t1, 1, () => {
      f.get(taps).get(t).i32(4).op('i32.mul', 'i32.add').mem('i32.load').get(dst).op('i32.add').set(base);
      f.i32(0).set(p);
      // Output rows whose positions lie side by side: a run of gx per row, a vector at a time.
      f.get(run).if(() => {
        f.for(p, 0, np, 0, () => {
          f.get(pos).get(p).i32(4).op('i32.mul', 'i32.add').mem('i32.load').get(base).op('i32.add').set(at);
          f.get(run).i32(S).op('i32.mul').get(c).op('i32.add').set(end);
          f.get(end)
            .i32(16 - S)
            .op('i32.sub')
            .set(o);
          f.block((vdone) => {
            f.loop((vtop) => {
              f.get(c).get(o).op('i32.ge_u').brIf(vdone);
              f.get(at).get(at).mem('v128.load').get(c).mem('v128.load').op(vadd).mem('v128.store');
              f.inc(c, 16).inc(at, 16).br(vtop);
            });
          });
          f.block((sdone) => {
            f.loop((stop) => {
              f.get(c).get(end).op('i32.ge_u').brIf(sdone);
              f.get(at).get(at).mem(load).get(c).mem(load).op(add).mem(store);
              f.inc(c, S).inc(at, S).br(stop);
            });
          });
          f.inc(p, run);
        });
      });
      f.block((done) => {
        f.loop((top) => {
          f.get(p).get(np).op('i32.ge_s').brIf(done);
          f.get(pos).get(p).i32(4).op('i32.mul', 'i32.add').mem('i32.load').set(o);
          f.get(o).get(base).op('i32.add').set(at);
          // L positions side by side: one vector.
          f.get(p).i32(L).op('i32.add').get(np).op('i32.le_s');
          f.get(pos)
            .get(p)
            .i32(4)
            .op('i32.mul', 'i32.add')
            .mem('i32.load', (L - 1) * 4);
          f.get(o)
            .op('i32.sub')
            .i32((L - 1) * S)
            .op('i32.eq', 'i32.and');
          f.if(
            () => {
              f.get(at).get(at).mem('v128.load').get(c).mem('v128.load').op(vadd).mem('v128.store');
              f.inc(c, 16).inc(p, L);
            },
            () => {
              f.get(at).get(at).mem(load).get(c).mem(load).op(add).mem(store);
              f.inc(c, S).inc(p, 1);
            },
          );
          f.br(top);
        });
      });
    });
  });
}

/**
 * `${dt}_conv_input_grad(geo, n0, n1, c0, c1, scratch, work)`: images n0..n1, and of each group the input
 * channels c0..c1 (whose first tap row c0·kH·kW is a multiple of mr). `scratch` holds the column block
 * (blockRows × P) and, with padding, a zero-bordered gradient image of one group.
 */
function addInputGrad(mod: ModuleBuilder, dt: WasmDType, gemm: GemmFuncs, col2im: number): void {
  const S = ELEMENT_BYTES[dt];
  const s = GEMM_SHAPES[dt];
  mod.func(convNames.inputGrad(dt), new Array(7).fill('i32'), [], (f) => {
    const [geo, n0, n1, c0, c1, scratch, work] = f.params;
    const g = loadFields(f, geo);
    const n = f.local('i32');
    const grp = f.local('i32');
    const gout = f.local('i32');
    const target = f.local('i32');
    const padBuf = f.local('i32');
    const r0 = f.local('i32');
    const r1 = f.local('i32');
    const c = f.local('i32');
    const h = f.local('i32');
    const ic = f.local('i32');
    const jc = f.local('i32');
    const pc = f.local('i32');
    const mcb = f.local('i32');
    const ncb = f.local('i32');
    const kcb = f.local('i32');
    const a = f.local('i32');
    const d = f.local('i32');
    const e = f.local('i32');
    const pb = f.local('i32');
    const planeIn = f.local('i32');
    const planeT = f.local('i32');
    f.get(work).i32(PACK_B_OFFSET).op('i32.add').set(pb);
    // The padded gradient image follows the column block.
    f.get(g.blockRows).get(g.p).op('i32.mul').i32(S).op('i32.mul').get(scratch).op('i32.add').set(padBuf);
    // The tap rows of channels c0..c1.
    f.get(c0).get(g.khw).op('i32.mul').set(r0);
    f.get(c1).get(g.khw).op('i32.mul').set(r1);
    f.get(g.inH).get(g.inW).op('i32.mul').i32(S).op('i32.mul').set(planeIn);
    f.get(g.padH).get(g.padW).op('i32.mul').i32(S).op('i32.mul').set(planeT);
    f.for(n, n0, n1, 1, () => {
      f.for(grp, 0, g.groups, 1, () => {
        // gout = gOut + (n·CO + grp·opg)·P·S; the target: gx's group image, or the padded buffer.
        f.get(n).get(g.outChannels).op('i32.mul').get(grp).get(g.opg).op('i32.mul', 'i32.add');
        f.get(g.p).op('i32.mul').i32(S).op('i32.mul').get(g.gout).op('i32.add').set(gout);
        f.get(g.padded).if(
          () => f.get(padBuf).set(target),
          () => {
            f.get(n).get(g.channels).op('i32.mul').get(grp).get(g.cpg).op('i32.mul', 'i32.add');
            f.get(planeIn).op('i32.mul').get(g.out).op('i32.add').set(target);
          },
        );
        // Zero this part's channels of the target.
        f.get(c0).get(planeT).op('i32.mul').get(target).op('i32.add').set(d);
        f.get(c1).get(c0).op('i32.sub').get(planeT).op('i32.mul').set(e);
        zeroBytes(f, dt, d, e);
        f.for(ic, r0, r1, 0, () => {
          clampTo(f, mcb, g.blockRows, r1, ic);
          f.for(jc, 0, g.p, s.nc, () => {
            clampTo(f, ncb, s.nc, g.p, jc);
            f.for(pc, 0, g.opg, s.kc, () => {
              clampTo(f, kcb, s.kc, g.opg, pc);
              // packB(gout + (pc·P + jc)·S, 1, P, ncb, kcb, pb)
              f.get(pc)
                .get(g.p)
                .op('i32.mul')
                .get(jc)
                .op('i32.add')
                .i32(S)
                .op('i32.mul')
                .get(gout)
                .op('i32.add');
              f.i32(1).get(g.p).get(ncb).get(kcb).get(pb).call(gemm.packB);
              // A: packed + (grp·opg·kR + pc·kR + ic·kcb)·S
              f.get(grp).get(g.opg).op('i32.mul').get(g.kR).op('i32.mul');
              f.get(pc).get(g.kR).op('i32.mul', 'i32.add');
              f.get(ic)
                .get(kcb)
                .op('i32.mul', 'i32.add')
                .i32(S)
                .op('i32.mul')
                .get(g.packed)
                .op('i32.add')
                .set(a);
              f.get(a).get(pb).get(jc).i32(S).op('i32.mul').get(scratch).op('i32.add');
              f.get(g.p).get(mcb).get(ncb).get(kcb).get(pc).i32(0).op('i32.gt_s').get(work).call(gemm.macro);
            });
          });
          f.get(geo).get(scratch).get(ic).get(mcb).get(target).call(col2im);
          f.inc(ic, mcb);
        });
        // With padding, the inside of the buffer is this part's gradient.
        f.get(g.padded).if(() => {
          f.for(c, c0, c1, 1, () => {
            f.for(h, 0, g.inH, 1, () => {
              // from padBuf + (c·padH·padW + (h + top)·padW + left)·S
              f.get(c).get(planeT).op('i32.mul');
              f.get(h).get(g.top).op('i32.add').get(g.padW).op('i32.mul').get(g.left).op('i32.add');
              f.i32(S).op('i32.mul', 'i32.add').get(padBuf).op('i32.add').set(a);
              // to gx + ((n·C + grp·cpg + c)·H + h)·W·S
              f.get(n).get(g.channels).op('i32.mul').get(grp).get(g.cpg).op('i32.mul', 'i32.add');
              f.get(c).op('i32.add').get(g.inH).op('i32.mul').get(h).op('i32.add').get(g.inW).op('i32.mul');
              f.i32(S).op('i32.mul').get(g.out).op('i32.add').set(d);
              f.get(g.inW).i32(S).op('i32.mul').set(e);
              copyBytes(f, dt, a, d, e);
            });
          });
        });
      });
    });
  });
}

/**
 * `${dt}_conv_weight_grad(geo, i0, i1, j0, j1, scratch, work)`: rows i0..i1 (output channels within a
 * group) and columns j0..j1 (taps) of every group's gw. With padding, `scratch` holds the zero-bordered
 * image.
 */
function addWeightGrad(
  mod: ModuleBuilder,
  dt: WasmDType,
  gemm: GemmFuncs,
  pad: number,
  packColsT: number,
  packRowsT: number,
): void {
  const S = ELEMENT_BYTES[dt];
  const s = GEMM_SHAPES[dt];
  mod.func(convNames.weightGrad(dt), new Array(7).fill('i32'), [], (f) => {
    const [geo, i0, i1, j0, j1, scratch, work] = f.params;
    const g = loadFields(f, geo);
    const n = f.local('i32');
    const batch = f.local('i32');
    const grp = f.local('i32');
    const img = f.local('i32');
    const srcG = f.local('i32');
    const gout = f.local('i32');
    const jc = f.local('i32');
    const pc = f.local('i32');
    const ic = f.local('i32');
    const ncb = f.local('i32');
    const kcb = f.local('i32');
    const mcb = f.local('i32');
    const e = f.local('i32');
    const pa = f.local('i32');
    const pb = f.local('i32');
    const groupPlane = f.local('i32');
    f.get(work).i32(PACK_A_OFFSET).op('i32.add').set(pa);
    f.get(work).i32(PACK_B_OFFSET).op('i32.add').set(pb);
    f.get(g.cpg).get(g.padH).op('i32.mul').get(g.padW).op('i32.mul').i32(S).op('i32.mul').set(groupPlane);
    f.get(g.batch).set(batch);
    f.get(g.padded).if(() => {
      f.get(g.channels).get(g.padH).op('i32.mul').get(g.padW).op('i32.mul').i32(S).op('i32.mul').set(e);
      f.get(scratch).set(img);
      zeroBytes(f, dt, img, e);
    });
    f.for(n, 0, batch, 1, () => {
      f.get(n).get(g.channels).op('i32.mul').get(g.inH).op('i32.mul').get(g.inW).op('i32.mul');
      f.i32(S).op('i32.mul').get(g.x).op('i32.add').set(img);
      f.get(g.padded).if(() => {
        f.get(geo).get(img).get(scratch).i32(0).get(g.channels).call(pad);
        f.get(scratch).set(img);
      });
      f.for(grp, 0, g.groups, 1, () => {
        f.get(grp).get(groupPlane).op('i32.mul').get(img).op('i32.add').set(srcG);
        f.get(n).get(g.outChannels).op('i32.mul').get(grp).get(g.opg).op('i32.mul', 'i32.add');
        f.get(g.p).op('i32.mul').i32(S).op('i32.mul').get(g.gout).op('i32.add').set(gout);
        f.for(jc, j0, j1, s.nc, () => {
          clampTo(f, ncb, s.nc, j1, jc);
          f.for(pc, 0, g.p, s.kc, () => {
            clampTo(f, kcb, s.kc, g.p, pc);
            f.get(geo).get(srcG).get(jc).get(ncb).get(pc).get(kcb).get(pb).call(packColsT);
            f.for(ic, i0, i1, s.mc, () => {
              clampTo(f, mcb, s.mc, i1, ic);
              // packRowsT(gout + (ic·P + pc)·S, P·S, mcb, kcb, pa)
              f.get(ic)
                .get(g.p)
                .op('i32.mul')
                .get(pc)
                .op('i32.add')
                .i32(S)
                .op('i32.mul')
                .get(gout)
                .op('i32.add');
              f.get(g.p).i32(S).op('i32.mul').get(mcb).get(kcb).get(pa).call(packRowsT);
              // C: gw + ((grp·opg + ic)·k + jc)·S; the first block of the first image starts the sums.
              f.get(pa).get(pb);
              f.get(grp)
                .get(g.opg)
                .op('i32.mul')
                .get(ic)
                .op('i32.add')
                .get(g.k)
                .op('i32.mul')
                .get(jc)
                .op('i32.add');
              f.i32(S).op('i32.mul').get(g.out).op('i32.add');
              f.get(g.k).get(mcb).get(ncb).get(kcb);
              f.get(n).get(pc).op('i32.or').i32(0).op('i32.ne');
              f.get(work).call(gemm.macro);
            });
          });
        });
      });
    });
  });
}

/** Add the convolution drivers (and their packing helpers) for one element type. */
export function addConv(mod: ModuleBuilder, dt: WasmDType, gemm: GemmFuncs): void {
  const pad = addPadCopy(mod, dt);
  const packCols = addPackCols(mod, dt);
  const packColsT = addPackColsT(mod, dt);
  const packRowsT = addPackRowsT(mod, dt);
  const col2im = addCol2im(mod, dt);
  addForward(mod, dt, gemm, pad, packCols);
  addInputGrad(mod, dt, gemm, col2im);
  addWeightGrad(mod, dt, gemm, pad, packColsT, packRowsT);
}
