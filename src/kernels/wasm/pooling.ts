/**
 * Max and average pooling in WebAssembly, with the reference's bits in both element types.
 *
 * Forward passes run `lanes` outputs of a row side by side where every tap of their windows lies inside
 * the row (stride 1 is one vector load per tap, stride 2 two loads and a shuffle, others lane by lane),
 * each lane walking its window in the reference's row-major order; the outputs near the edges, whose
 * windows reach into the padding, go one at a time. Max pooling compares as the reference does (a NaN
 * always takes over, else only a strictly greater value; the first valid tap is taken whatever it is) and
 * keeps the winner's index in a vector beside the maximum. Average pooling sums in doubles (float32
 * promoted) from zero and divides by the divisor the runtime's tables give (rows times columns), so float32
 * results are rounded once, as the reference's. The gradients add each output's share into gx in output
 * order: max pooling to its winner, average pooling over its window.
 *
 * Which rows of a window lie inside the image depends only on the output row, and the runtime's table
 * says it; which outputs of a row have every column inside is the range colA..colB.
 */
import type { Func, Local, ModuleBuilder } from './asm.js';
import { ELEMENT_BYTES, type WasmDType } from './gemm.js';
import { byteLanes, zeroBytes } from './loops.js';

/** The fields of a pooling call's parameter block, an i32 each at 4·index bytes. */
export const POOL_FIELDS = [
  'x',
  'out',
  /** The winners' indices (max pooling), Int32. */
  'argmax',
  /** The output gradient (gradients; `out` is gx then). */
  'gout',
  'inH',
  'inW',
  'outH',
  'outW',
  'kH',
  'kW',
  'strideH',
  'strideW',
  'padH',
  'padW',
  'dilationH',
  'dilationW',
  /** Table: per output row, the first and one past the last window row inside the image (2 i32 each). */
  'rows',
  /** Outputs colA..colB of a row have every window column inside the image. */
  'colA',
  'colB',
  /** Average pooling's divisor as rows × columns: float64 tables per output row and column. */
  'rowF',
  'colF',
] as const;

/** A field of {@link POOL_FIELDS}. */
export type PoolField = (typeof POOL_FIELDS)[number];

/** Byte offset of a field in the parameter block. */
export function poolField(name: PoolField): number {
  return POOL_FIELDS.indexOf(name) * 4;
}

/** Bytes of the parameter block. */
export const POOL_PARAM_BYTES = 64 * Math.ceil((POOL_FIELDS.length * 4) / 64);

/** Export names, shared with the runtime. Each takes (geo, plane0, plane1): the (n, c) planes to do. */
export const poolNames = {
  max: (dt: WasmDType) => `${dt}_max_pool`,
  maxGrad: (dt: WasmDType) => `${dt}_max_pool_grad`,
  avg: (dt: WasmDType) => `${dt}_avg_pool`,
  avgGrad: (dt: WasmDType) => `${dt}_avg_pool_grad`,
};

type Fields = Record<PoolField, Local>;

function loadFields(f: Func, geo: Local): Fields {
  const out = {} as Fields;
  for (const name of POOL_FIELDS) {
    const l = f.local('i32');
    f.get(geo).mem('i32.load', poolField(name)).set(l);
    out[name] = l;
  }
  return out;
}

/** Element type ops: scalar load/store and the double a value is compared or summed as. */
function scalar(dt: WasmDType) {
  return dt === 'f64'
    ? ({ load: 'f64.load', store: 'f64.store', gt: 'f64.gt', ne: 'f64.ne' } as const)
    : ({ load: 'f32.load', store: 'f32.store', gt: 'f32.gt', ne: 'f32.ne' } as const);
}

/**
 * Set `out` to the values at addr, addr + sW, addr + 2·sW, … (sW in bytes) as one vector: `lanes` of the
 * element type, or with `widen` two float32 values as float64 lanes. `mode` is 1 for stride 1 (one load),
 * 2 for stride 2 (a load or two and a shuffle), 0 for any other (lane by lane).
 */
function gather(
  f: Func,
  dt: WasmDType,
  addr: Local,
  sWBytes: Local,
  mode: Local,
  widen: boolean,
  out: Local,
): void {
  const S = ELEMENT_BYTES[dt];
  const lanes = widen ? 2 : 16 / S;
  const replace = dt === 'f64' ? 'f64x2.replace_lane' : 'f32x4.replace_lane';
  const load = dt === 'f64' ? 'f64.load' : 'f32.load';
  f.get(mode).i32(1).op('i32.eq');
  f.if(
    () =>
      f
        .get(addr)
        .mem(widen ? 'v128.load64_zero' : 'v128.load')
        .set(out),
    () => {
      f.get(mode).i32(2).op('i32.eq');
      f.if(
        () => {
          // Even lanes of the 2·lanes elements from addr (a float32 pair needs only the first vector).
          f.get(addr).mem('v128.load');
          if (widen) f.get(addr).mem('v128.load');
          else f.get(addr).mem('v128.load', 16);
          f.shuffle(dt === 'f64' ? byteLanes([0, 2], 8) : byteLanes([0, 2, 4, 6], 4)).set(out);
        },
        () => {
          f.zero128();
          for (let l = 0; l < lanes; l++) {
            f.get(addr);
            if (l > 0) f.get(sWBytes).i32(l).op('i32.mul', 'i32.add');
            f.mem(load).lane(replace, l);
          }
          f.set(out);
        },
      );
    },
  );
  if (widen) f.get(out).op('f64x2.promote_low_f32x4').set(out);
}

/** mode = 1 for stride 1, 2 for stride 2, 0 for any other (see {@link gather}). */
function strideMode(f: Func, stride: Local, mode: Local): void {
  f.i32(1);
  f.i32(2).i32(0).get(stride).i32(2).op('i32.eq', 'select');
  f.get(stride).i32(1).op('i32.eq', 'select').set(mode);
}

/**
 * The loop over the (n, c) planes p0..p1 and output rows shared by the forward passes: `row` runs once
 * per output row with `khLo`, `khHi`, `ih0` set; `plane` is the plane's index.
 */
interface RowLoop {
  g: Fields;
  plane: Local;
  oh: Local;
  ih0: Local;
  khLo: Local;
  khHi: Local;
}

function planesAndRows(f: Func, g: Fields, p0: Local, p1: Local, row: (r: RowLoop) => void): void {
  const plane = f.local('i32');
  const oh = f.local('i32');
  const ih0 = f.local('i32');
  const khLo = f.local('i32');
  const khHi = f.local('i32');
  f.for(plane, p0, p1, 1, () => {
    f.for(oh, 0, g.outH, 1, () => {
      f.get(g.rows).get(oh).i32(8).op('i32.mul', 'i32.add').mem('i32.load').set(khLo);
      f.get(g.rows).get(oh).i32(8).op('i32.mul', 'i32.add').mem('i32.load', 4).set(khHi);
      f.get(oh).get(g.strideH).op('i32.mul').get(g.padH).op('i32.sub').set(ih0);
      row({ g, plane, oh, ih0, khLo, khHi });
    });
  });
}

/** `${dt}_max_pool(geo, p0, p1)`. */
function addMaxPool(mod: ModuleBuilder, dt: WasmDType): void {
  const S = ELEMENT_BYTES[dt];
  const L = 16 / S;
  const sc = scalar(dt);
  mod.func(poolNames.max(dt), ['i32', 'i32', 'i32'], [], (f) => {
    const [geo, p0, p1] = f.params;
    const g = loadFields(f, geo);
    const xb = f.local('i32');
    const ow = f.local('i32');
    const owEnd = f.local('i32');
    const kh = f.local('i32');
    const kw = f.local('i32');
    const ih = f.local('i32');
    const iw = f.local('i32');
    const iw0 = f.local('i32');
    const e = f.local('i32');
    const o = f.local('i32');
    const at = f.local('i32');
    const v = f.local(dt);
    const best = f.local(dt);
    const mode = f.local('i32');
    const sWBytes = f.local('i32');
    const addr = f.local('i32');
    const bestV = f.local('v128');
    const atV = f.local('v128');
    const vV = f.local('v128');
    const idxV = f.local('v128');
    const mask = f.local('v128');
    const step = f.local('v128');
    const odd = f.local('v128');
    const pairs = f.local('i32');
    f.get(g.strideW).i32(S).op('i32.mul').set(sWBytes);
    strideMode(f, g.strideW, mode);
    // Windows of two adjacent columns at stride 2: both taps from one pair of loads.
    f.get(g.kW).i32(2).op('i32.eq').get(g.dilationW).i32(1).op('i32.eq', 'i32.and').set(pairs);
    // Index steps between lanes: 0, sW, 2·sW, … (i32 lanes for float32, float64 lanes for float64).
    if (dt === 'f32') {
      f.zero128();
      for (let l = 0; l < L; l++) f.get(g.strideW).i32(l).op('i32.mul').lane('i32x4.replace_lane', l);
      f.set(step);
    } else {
      f.zero128().get(g.strideW).op('f64.convert_i32_s').lane('f64x2.replace_lane', 1).set(step);
    }
    // One output at a time (the reference's loop).
    const one = (r: RowLoop) => {
      f.get(ow).get(g.strideW).op('i32.mul').get(g.padW).op('i32.sub').set(iw0);
      if (dt === 'f64') f.f64(-Infinity).set(best);
      else f.f32(-Infinity).set(best);
      f.i32(-1).set(at);
      f.for(kh, r.khLo, r.khHi, 1, () => {
        f.get(r.ih0).get(kh).get(g.dilationH).op('i32.mul', 'i32.add').get(g.inW).op('i32.mul').set(ih);
        f.for(kw, 0, g.kW, 1, () => {
          f.get(iw0).get(kw).get(g.dilationW).op('i32.mul', 'i32.add').set(iw);
          f.get(iw).get(g.inW).op('i32.lt_u');
          f.if(() => {
            f.get(ih).get(iw).op('i32.add').set(e);
            f.get(e).i32(S).op('i32.mul').get(xb).op('i32.add').mem(sc.load).set(v);
            f.get(v).get(best).op(sc.gt);
            f.get(at).i32(-1).op('i32.eq', 'i32.or');
            f.get(v).get(v).op(sc.ne, 'i32.or');
            f.if(() => {
              f.get(v).set(best);
              f.get(e).set(at);
            });
          });
        });
      });
      f.get(o).i32(S).op('i32.mul').get(g.out).op('i32.add').get(best).mem(sc.store);
      f.get(o).i32(4).op('i32.mul').get(g.argmax).op('i32.add').get(at).mem('i32.store');
    };
    // L outputs side by side, every column of their windows inside the row. The first tap starts the
    // maximum and index; the loop then takes every tap in order, the first again (a no-op: it is neither
    // greater than itself nor, if NaN, any different when taken again).
    const gt = dt === 'f64' ? 'f64x2.gt' : 'f32x4.gt';
    const ne = dt === 'f64' ? 'f64x2.ne' : 'f32x4.ne';
    /** idxV = the lanes' element indices, e + 0, e + sW, … */
    const index = (at: Local) => {
      if (dt === 'f64') f.get(at).op('f64.convert_i32_s').op('f64x2.splat').get(step).op('f64x2.add');
      else f.get(at).op('i32x4.splat').get(step).op('i32x4.add');
      f.set(idxV);
    };
    /** Take vV (indices idxV) where it is greater than the maximum so far, or NaN. */
    const take = () => {
      f.get(vV).get(bestV).op(gt).get(vV).get(vV).op(ne, 'v128.or').set(mask);
      f.get(vV).get(bestV).get(mask).op('v128.bitselect').set(bestV);
      f.get(idxV).get(atV).get(mask).op('v128.bitselect').set(atV);
    };
    const evens = dt === 'f64' ? byteLanes([0, 2], 8) : byteLanes([0, 2, 4, 6], 4);
    const odds = dt === 'f64' ? byteLanes([1, 3], 8) : byteLanes([1, 3, 5, 7], 4);
    /** The taps of the rows khLo..khHi, the values loaded as `load` says (mode known outside the loop). */
    const taps = (r: RowLoop, load: 'one' | 'evens' | 'lanes' | 'pair') => {
      f.for(kh, r.khLo, r.khHi, 1, () => {
        f.get(r.ih0).get(kh).get(g.dilationH).op('i32.mul', 'i32.add').get(g.inW).op('i32.mul');
        f.get(iw0).op('i32.add').set(ih);
        if (load === 'pair') {
          // Stride 2, two adjacent taps: the even and odd lanes of the same 2·L elements.
          f.get(ih).i32(S).op('i32.mul').get(xb).op('i32.add').set(addr);
          f.get(addr).mem('v128.load').set(vV);
          f.get(addr).mem('v128.load', 16).set(mask);
          f.get(vV).get(mask).shuffle(odds).set(odd);
          f.get(vV).get(mask).shuffle(evens).set(vV);
          index(ih);
          take();
          f.get(odd).set(vV);
          f.get(ih).i32(1).op('i32.add').set(e);
          index(e);
          take();
          return;
        }
        f.for(kw, 0, g.kW, 1, () => {
          f.get(ih).get(kw).get(g.dilationW).op('i32.mul', 'i32.add').set(e);
          f.get(e).i32(S).op('i32.mul').get(xb).op('i32.add').set(addr);
          if (load === 'one') f.get(addr).mem('v128.load').set(vV);
          else if (load === 'evens')
            f.get(addr).mem('v128.load').get(addr).mem('v128.load', 16).shuffle(evens).set(vV);
          else gather(f, dt, addr, sWBytes, mode, false, vV);
          index(e);
          take();
        });
      });
    };
    const vec = (r: RowLoop) => {
      f.get(ow).get(g.strideW).op('i32.mul').get(g.padW).op('i32.sub').set(iw0);
      // The first tap: row khLo, column 0.
      f.get(r.ih0).get(r.khLo).get(g.dilationH).op('i32.mul', 'i32.add').get(g.inW).op('i32.mul');
      f.get(iw0).op('i32.add').set(e);
      f.get(e).i32(S).op('i32.mul').get(xb).op('i32.add').set(addr);
      gather(f, dt, addr, sWBytes, mode, false, bestV);
      index(e);
      f.get(idxV).set(atV);
      f.get(mode).i32(1).op('i32.eq');
      f.if(
        () => taps(r, 'one'),
        () => {
          f.get(mode).i32(2).op('i32.eq');
          f.if(
            () => {
              f.get(pairs);
              f.if(
                () => taps(r, 'pair'),
                () => taps(r, 'evens'),
              );
            },
            () => taps(r, 'lanes'),
          );
        },
      );
      f.get(o).i32(S).op('i32.mul').get(g.out).op('i32.add').get(bestV).mem('v128.store');
      if (dt === 'f32') f.get(o).i32(4).op('i32.mul').get(g.argmax).op('i32.add').get(atV).mem('v128.store');
      else
        for (let l = 0; l < L; l++)
          f.get(o)
            .i32(4)
            .op('i32.mul')
            .get(g.argmax)
            .op('i32.add')
            .get(atV)
            .lane('f64x2.extract_lane', l)
            .op('i32.trunc_f64_s')
            .mem('i32.store', 4 * l);
    };
    planesAndRows(f, g, p0, p1, (r) => {
      f.get(r.plane)
        .get(g.inH)
        .op('i32.mul')
        .get(g.inW)
        .op('i32.mul')
        .i32(S)
        .op('i32.mul')
        .get(g.x)
        .op('i32.add')
        .set(xb);
      // o: the output's index in out; outputs 0..colA one by one, then vectors, then the rest.
      f.get(r.plane).get(g.outH).op('i32.mul').get(r.oh).op('i32.add').get(g.outW).op('i32.mul').set(o);
      f.for(ow, 0, g.colA, 1, () => {
        one(r);
        f.inc(o, 1);
      });
      // Vectors start from a tap inside the image: none in a row whose windows lie in the padding.
      f.get(g.colB)
        .i32(L - 1)
        .op('i32.sub')
        .get(g.colA)
        .get(r.khLo)
        .get(r.khHi)
        .op('i32.lt_s', 'select')
        .set(owEnd);
      f.get(g.colA).set(ow);
      f.block((done) => {
        f.loop((top) => {
          f.get(ow).get(owEnd).op('i32.ge_s').brIf(done);
          vec(r);
          f.inc(ow, L).inc(o, L).br(top);
        });
      });
      f.for(ow, ow, g.outW, 1, () => {
        one(r);
        f.inc(o, 1);
      });
    });
  });
}

/** `${dt}_max_pool_grad(geo, p0, p1)`: gx's planes zeroed, then each output's gradient added to its winner. */
function addMaxPoolGrad(mod: ModuleBuilder, dt: WasmDType): void {
  const S = ELEMENT_BYTES[dt];
  const sc = scalar(dt);
  const add = dt === 'f64' ? 'f64.add' : 'f32.add';
  mod.func(poolNames.maxGrad(dt), ['i32', 'i32', 'i32'], [], (f) => {
    const [geo, p0, p1] = f.params;
    const g = loadFields(f, geo);
    const plane = f.local('i32');
    const d = f.local('i32');
    const bytes = f.local('i32');
    const gx = f.local('i32');
    const o = f.local('i32');
    const oEnd = f.local('i32');
    const a = f.local('i32');
    const at = f.local('i32');
    const outPlane = f.local('i32');
    f.get(g.outH).get(g.outW).op('i32.mul').set(outPlane);
    f.for(plane, p0, p1, 1, () => {
      f.get(plane)
        .get(g.inH)
        .op('i32.mul')
        .get(g.inW)
        .op('i32.mul')
        .i32(S)
        .op('i32.mul')
        .get(g.out)
        .op('i32.add')
        .set(gx);
      f.get(gx).set(d);
      f.get(g.inH).get(g.inW).op('i32.mul').i32(S).op('i32.mul').set(bytes);
      zeroBytes(f, dt, d, bytes);
      f.get(plane).get(outPlane).op('i32.mul').set(o);
      f.get(o).get(outPlane).op('i32.add').set(oEnd);
      f.for(o, o, oEnd, 1, () => {
        f.get(o).i32(4).op('i32.mul').get(g.argmax).op('i32.add').mem('i32.load').set(a);
        f.get(a).i32(0).op('i32.ge_s');
        f.if(() => {
          f.get(a).i32(S).op('i32.mul').get(gx).op('i32.add').set(at);
          f.get(at).get(at).mem(sc.load);
          f.get(o).i32(S).op('i32.mul').get(g.gout).op('i32.add').mem(sc.load);
          f.op(add).mem(sc.store);
        });
      });
    });
  });
}

/** Push the divisor of output (oh, ow), rowF[oh]·colF[ow], as a double. */
function divisor(f: Func, g: Fields, oh: Local, ow: Local): void {
  f.get(g.rowF).get(oh).i32(8).op('i32.mul', 'i32.add').mem('f64.load');
  f.get(g.colF).get(ow).i32(8).op('i32.mul', 'i32.add').mem('f64.load');
  f.op('f64.mul');
}

/** `${dt}_avg_pool(geo, p0, p1)`: sums in doubles, in the window's row-major order, then ÷ divisor. */
function addAvgPool(mod: ModuleBuilder, dt: WasmDType): void {
  const S = ELEMENT_BYTES[dt];
  const load = (f: Func) => (dt === 'f64' ? f.mem('f64.load') : f.mem('f32.load').op('f64.promote_f32'));
  mod.func(poolNames.avg(dt), ['i32', 'i32', 'i32'], [], (f) => {
    const [geo, p0, p1] = f.params;
    const g = loadFields(f, geo);
    const xb = f.local('i32');
    const ow = f.local('i32');
    const owEnd = f.local('i32');
    const kh = f.local('i32');
    const iw = f.local('i32');
    const ws = f.local('i32');
    const we = f.local('i32');
    const row = f.local('i32');
    const o = f.local('i32');
    const sum = f.local('f64');
    const mode = f.local('i32');
    const sWBytes = f.local('i32');
    const addr = f.local('i32');
    const sumV = f.local('v128');
    const vV = f.local('v128');
    const kw = f.local('i32');
    f.get(g.strideW).i32(S).op('i32.mul').set(sWBytes);
    strideMode(f, g.strideW, mode);
    const one = (r: RowLoop) => {
      // The window's columns clipped to the row: [max(w0, 0), min(w0 + kW, W)).
      f.get(ow).get(g.strideW).op('i32.mul').get(g.padW).op('i32.sub').set(ws);
      f.get(ws).get(g.kW).op('i32.add').set(we);
      f.get(we).get(g.inW).get(we).get(g.inW).op('i32.lt_s', 'select').set(we);
      f.get(ws).i32(0).get(ws).i32(0).op('i32.gt_s', 'select').set(ws);
      f.f64(0).set(sum);
      f.for(kh, r.khLo, r.khHi, 1, () => {
        f.get(r.ih0)
          .get(kh)
          .op('i32.add')
          .get(g.inW)
          .op('i32.mul')
          .i32(S)
          .op('i32.mul')
          .get(xb)
          .op('i32.add')
          .set(row);
        f.for(iw, ws, we, 1, () => {
          f.get(sum);
          load(f.get(iw).i32(S).op('i32.mul').get(row).op('i32.add'));
          f.op('f64.add').set(sum);
        });
      });
      f.get(o).i32(S).op('i32.mul').get(g.out).op('i32.add');
      f.get(sum);
      divisor(f, g, r.oh, ow);
      f.op('f64.div');
      if (dt === 'f32') f.op('f32.demote_f64').mem('f32.store');
      else f.mem('f64.store');
    };
    // Two outputs side by side (float64 lanes), every column of their windows inside the row.
    const vec = (r: RowLoop) => {
      f.zero128().set(sumV);
      f.for(kh, r.khLo, r.khHi, 1, () => {
        f.get(r.ih0).get(kh).op('i32.add').get(g.inW).op('i32.mul');
        f.get(ow).get(g.strideW).op('i32.mul').op('i32.add').get(g.padW).op('i32.sub');
        f.i32(S).op('i32.mul').get(xb).op('i32.add').set(row);
        f.for(kw, 0, g.kW, 1, () => {
          f.get(kw).i32(S).op('i32.mul').get(row).op('i32.add').set(addr);
          gather(f, dt, addr, sWBytes, mode, dt === 'f32', vV);
          f.get(sumV).get(vV).op('f64x2.add').set(sumV);
        });
      });
      f.get(o).i32(S).op('i32.mul').get(g.out).op('i32.add');
      f.get(sumV);
      f.get(g.rowF).get(r.oh).i32(8).op('i32.mul', 'i32.add').mem('v128.load64_splat');
      f.get(g.colF).get(ow).i32(8).op('i32.mul', 'i32.add').mem('v128.load');
      f.op('f64x2.mul', 'f64x2.div');
      if (dt === 'f32') f.op('f32x4.demote_f64x2_zero').store64Lane(0);
      else f.mem('v128.store');
    };
    planesAndRows(f, g, p0, p1, (r) => {
      f.get(r.plane)
        .get(g.inH)
        .op('i32.mul')
        .get(g.inW)
        .op('i32.mul')
        .i32(S)
        .op('i32.mul')
        .get(g.x)
        .op('i32.add')
        .set(xb);
      f.get(r.plane).get(g.outH).op('i32.mul').get(r.oh).op('i32.add').get(g.outW).op('i32.mul').set(o);
      f.for(ow, 0, g.colA, 1, () => {
        one(r);
        f.inc(o, 1);
      });
      f.get(g.colB).i32(1).op('i32.sub').set(owEnd);
      f.get(g.colA).set(ow);
      f.block((done) => {
        f.loop((top) => {
          f.get(ow).get(owEnd).op('i32.ge_s').brIf(done);
          vec(r);
          f.inc(ow, 2).inc(o, 2).br(top);
        });
      });
      f.for(ow, ow, g.outW, 1, () => {
        one(r);
        f.inc(o, 1);
      });
    });
  });
}

/**
 * `${dt}_avg_pool_grad(geo, p0, p1)`: gx's planes zeroed, then for each output in order its gradient ÷
 * divisor added (in doubles, rounded on store) to each input of its window, row-major; two at a time
 * along a window row.
 */
function addAvgPoolGrad(mod: ModuleBuilder, dt: WasmDType): void {
  const S = ELEMENT_BYTES[dt];
  mod.func(poolNames.avgGrad(dt), ['i32', 'i32', 'i32'], [], (f) => {
    const [geo, p0, p1] = f.params;
    const g = loadFields(f, geo);
    const plane = f.local('i32');
    const gx = f.local('i32');
    const d = f.local('i32');
    const bytes = f.local('i32');
    const oh = f.local('i32');
    const ow = f.local('i32');
    const o = f.local('i32');
    const kh = f.local('i32');
    const khLo = f.local('i32');
    const khHi = f.local('i32');
    const ih0 = f.local('i32');
    const ws = f.local('i32');
    const we = f.local('i32');
    const row = f.local('i32');
    const at = f.local('i32');
    const end = f.local('i32');
    const pairEnd = f.local('i32');
    const t = f.local('f64');
    const tV = f.local('v128');
    f.for(plane, p0, p1, 1, () => {
      f.get(plane)
        .get(g.inH)
        .op('i32.mul')
        .get(g.inW)
        .op('i32.mul')
        .i32(S)
        .op('i32.mul')
        .get(g.out)
        .op('i32.add')
        .set(gx);
      f.get(gx).set(d);
      f.get(g.inH).get(g.inW).op('i32.mul').i32(S).op('i32.mul').set(bytes);
      zeroBytes(f, dt, d, bytes);
      f.get(plane).get(g.outH).op('i32.mul').get(g.outW).op('i32.mul').set(o);
      f.for(oh, 0, g.outH, 1, () => {
        f.get(g.rows).get(oh).i32(8).op('i32.mul', 'i32.add').mem('i32.load').set(khLo);
        f.get(g.rows).get(oh).i32(8).op('i32.mul', 'i32.add').mem('i32.load', 4).set(khHi);
        f.get(oh).get(g.strideH).op('i32.mul').get(g.padH).op('i32.sub').set(ih0);
        f.for(ow, 0, g.outW, 1, () => {
          f.get(o).i32(S).op('i32.mul').get(g.gout).op('i32.add');
          if (dt === 'f64') f.mem('f64.load');
          else f.mem('f32.load').op('f64.promote_f32');
          divisor(f, g, oh, ow);
          f.op('f64.div').tee(t).op('f64x2.splat').set(tV);
          f.get(ow).get(g.strideW).op('i32.mul').get(g.padW).op('i32.sub').set(ws);
          f.get(ws).get(g.kW).op('i32.add').set(we);
          f.get(we).get(g.inW).get(we).get(g.inW).op('i32.lt_s', 'select').set(we);
          f.get(ws).i32(0).get(ws).i32(0).op('i32.gt_s', 'select').set(ws);
          f.for(kh, khLo, khHi, 1, () => {
            // The window row's inputs from ws to we: pairs, then the last one alone.
            f.get(ih0).get(kh).op('i32.add').get(g.inW).op('i32.mul').set(row);
            f.get(row).get(ws).op('i32.add').i32(S).op('i32.mul').get(gx).op('i32.add').set(at);
            f.get(row).get(we).op('i32.add').i32(S).op('i32.mul').get(gx).op('i32.add').set(end);
            f.get(end).i32(S).op('i32.sub').set(pairEnd);
            f.block((done) => {
              f.loop((top) => {
                f.get(at).get(pairEnd).op('i32.ge_u').brIf(done);
                f.get(at);
                if (dt === 'f64') f.get(at).mem('v128.load').get(tV).op('f64x2.add').mem('v128.store');
                else
                  f.get(at)
                    .mem('v128.load64_zero')
                    .op('f64x2.promote_low_f32x4')
                    .get(tV)
                    .op('f64x2.add', 'f32x4.demote_f64x2_zero')
                    .store64Lane(0);
                f.inc(at, 2 * S).br(top);
              });
            });
            f.get(at).get(end).op('i32.lt_u');
            f.if(() => {
              f.get(at);
              if (dt === 'f64') f.get(at).mem('f64.load').get(t).op('f64.add').mem('f64.store');
              else
                f.get(at)
                  .mem('f32.load')
                  .op('f64.promote_f32')
                  .get(t)
                  .op('f64.add', 'f32.demote_f64')
                  .mem('f32.store');
            });
          });
          f.inc(o, 1);
        });
      });
    });
  });
}

/** Add the pooling kernels for one element type. */
export function addPooling(mod: ModuleBuilder, dt: WasmDType): void {
  addMaxPool(mod, dt);
  addMaxPoolGrad(mod, dt);
  addAvgPool(mod, dt);
  addAvgPoolGrad(mod, dt);
}
