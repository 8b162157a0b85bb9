/**
 * The arithmetic the runtime does in JavaScript before a sliding-window kernel runs in wasm: what a
 * convolution's geometry implies (taps, positions, the padded image, the tables of where each tap and
 * position lands), and how a call is cut into parts for threads. Plain numbers; nothing here touches
 * memory.
 */
import type { Conv2dGeometry, Window2d } from '../types.js';
import { CONV_FIELDS, type ConvField } from './conv.js';
import { ELEMENT_BYTES, GEMM_SHAPES, type WasmDType } from './gemm.js';

/** Extra table entries past the end: the packers read a panel's last entry before knowing it is whole. */
export const TABLE_SLACK = 16;

/** Bytes a column block of the input gradient aims at (it stays in L2 while col2im adds it into gx). */
const COL_BLOCK_BYTES = 256 * 1024;

/** What a convolution's geometry implies, for one element type. */
export interface ConvPlan {
  readonly cpg: number;
  readonly opg: number;
  readonly khw: number;
  /** Taps per group: cpg·kH·kW. */
  readonly k: number;
  /** Positions per image: OH·OW. */
  readonly p: number;
  /** Whether windows reach outside the image, so it is copied into a zero-bordered buffer first. */
  readonly padded: boolean;
  /** That buffer's height and width (the image's own without one). */
  readonly padH: number;
  readonly padW: number;
  /** opg and k rounded up to whole register-tile rows. */
  readonly opgR: number;
  readonly kR: number;
  /** Tap rows per column block of the input gradient. */
  readonly blockRows: number;
  /** Multiply-adds of one of the three products. */
  readonly macs: number;
}

/** Round up to a multiple of m. */
function roundUp(v: number, m: number): number {
  return Math.ceil(v / m) * m;
}

/** What `g` implies for element type `dt`. */
export function convPlan(g: Conv2dGeometry, dt: WasmDType): ConvPlan {
  const { mr } = GEMM_SHAPES[dt];
  const S = ELEMENT_BYTES[dt];
  const cpg = g.channels / g.groups;
  const opg = g.outChannels / g.groups;
  const khw = g.kH * g.kW;
  const k = cpg * khw;
  const p = g.outH * g.outW;
  // The last row and column any window reads, counted from the first padding row and column.
  const lastRow = (g.outH - 1) * g.strideH + (g.kH - 1) * g.dilationH;
  const lastCol = (g.outW - 1) * g.strideW + (g.kW - 1) * g.dilationW;
  const padded = g.padH > 0 || g.padW > 0 || lastRow >= g.inH || lastCol >= g.inW;
  const padH = padded ? Math.max(g.padH + g.inH, lastRow + 1) : g.inH;
  const padW = padded ? Math.max(g.padW + g.inW, lastCol + 1) : g.inW;
  const kR = roundUp(k, mr);
  const fit = Math.floor(COL_BLOCK_BYTES / (p * S) / mr) * mr;
  return {
    cpg,
    opg,
    khw,
    k,
    p,
    padded,
    padH,
    padW,
    opgR: roundUp(opg, mr),
    kR,
    blockRows: Math.min(kR, Math.max(mr, fit)),
    macs: g.batch * g.outChannels * p * k,
  };
}

/** The tap table: tap (ci, kh, kw) of a group's (padded) image at this byte offset, in row-major order. */
export function fillTaps(out: Int32Array, g: Window2d, plan: ConvPlan, S: number): void {
  let t = 0;
  for (let ci = 0; ci < plan.cpg; ci++)
    for (let kh = 0; kh < g.kH; kh++)
      for (let kw = 0; kw < g.kW; kw++)
        out[t++] = (ci * plan.padH * plan.padW + kh * g.dilationH * plan.padW + kw * g.dilationW) * S;
  out.fill(0, t, t + TABLE_SLACK);
}

/** The position table: output (oh, ow)'s window starts at this byte offset of a (padded) channel. */
export function fillPositions(out: Int32Array, g: Window2d, plan: ConvPlan, S: number): void {
  let i = 0;
  for (let oh = 0; oh < g.outH; oh++)
    for (let ow = 0; ow < g.outW; ow++) out[i++] = (oh * g.strideH * plan.padW + ow * g.strideW) * S;
  out.fill(0, i, i + TABLE_SLACK);
}

/** The parameter block's values, in {@link CONV_FIELDS} order. */
export function convFieldValues(
  g: Conv2dGeometry,
  plan: ConvPlan,
  at: Partial<Record<'x' | 'packed' | 'bias' | 'out' | 'gout' | 'taps' | 'pos', number>>,
): number[] {
  const v: Record<ConvField, number> = {
    x: at.x ?? 0,
    packed: at.packed ?? 0,
    bias: at.bias ?? 0,
    out: at.out ?? 0,
    gout: at.gout ?? 0,
    taps: at.taps ?? 0,
    pos: at.pos ?? 0,
    channels: g.channels,
    inH: g.inH,
    inW: g.inW,
    outChannels: g.outChannels,
    groups: g.groups,
    cpg: plan.cpg,
    opg: plan.opg,
    k: plan.k,
    p: plan.p,
    khw: plan.khw,
    batch: g.batch,
    padded: plan.padded ? 1 : 0,
    padH: plan.padH,
    padW: plan.padW,
    top: g.padH,
    left: g.padW,
    opgR: plan.opgR,
    kR: plan.kR,
    blockRows: plan.blockRows,
    run: g.strideW === 1 ? g.outW : 0,
  };
  return CONV_FIELDS.map((name) => v[name]);
}

/**
 * Cut `count` units into at most `parts` contiguous ranges as even as whole steps of `step` allow (the
 * last may end on a partial step); never an empty one.
 */
export function splitRange(count: number, parts: number, step = 1): [number, number][] {
  const steps = Math.ceil(count / step);
  const n = Math.max(1, Math.min(parts, steps));
  const out: [number, number][] = [];
  for (let i = 0; i < n; i++)
    out.push([
      Math.min(count, Math.round((i * steps) / n) * step),
      Math.min(count, Math.round(((i + 1) * steps) / n) * step),
    ]);
  return out;
}

/** Greatest common divisor. */
export function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** The tables and column range a pooling call's kernels read (see `pooling.ts`). */
export interface PoolPlan {
  /** Per output row: the first and one past the last window row inside the image. */
  readonly rows: Int32Array;
  /** Outputs colA..colB of a row have every window column inside the image. */
  readonly colA: number;
  readonly colB: number;
  /** Average pooling's divisor of output (oh, ow) is rowF[oh]·colF[ow]. */
  readonly rowF: Float64Array;
  readonly colF: Float64Array;
  /** Window taps in all: the work a call does. */
  readonly taps: number;
}

/**
 * The window rows inside the image per output row, the outputs whose windows' columns all are, and
 * PyTorch's average-pooling divisor split into a row and a column factor (`../window.ts`'s `divisor` is
 * their product). Average pooling has no dilation.
 */
export function poolPlan(g: Window2d, avg: boolean, countIncludePad: boolean): PoolPlan {
  const dH = avg ? 1 : g.dilationH;
  const dW = avg ? 1 : g.dilationW;
  const rows = new Int32Array(2 * g.outH);
  const rowF = new Float64Array(g.outH);
  const colF = new Float64Array(g.outW);
  // The window's taps inside [0, size): from ⌈−start/d⌉ to ⌊(size − 1 − start)/d⌋, within [0, k).
  const inside = (start: number, d: number, k: number, size: number): [number, number] => {
    const lo = Math.min(k, Math.max(0, Math.ceil(-start / d)));
    const hi = Math.max(lo, Math.min(k, Math.floor((size - 1 - start) / d) + 1));
    return [lo, hi];
  };
  // PyTorch's divisor along one axis (see `divisor` in ../window.ts).
  const factor = (start: number, k: number, size: number, pad: number): number => {
    const end = Math.min(start + k, size + pad);
    return countIncludePad ? end - start : Math.min(end, size) - Math.max(start, 0);
  };
  for (let oh = 0; oh < g.outH; oh++) {
    const h0 = oh * g.strideH - g.padH;
    [rows[2 * oh], rows[2 * oh + 1]] = inside(h0, dH, g.kH, g.inH);
    rowF[oh] = factor(h0, g.kH, g.inH, g.padH);
  }
  for (let ow = 0; ow < g.outW; ow++) colF[ow] = factor(ow * g.strideW - g.padW, g.kW, g.inW, g.padW);
  const colA = Math.min(g.outW, Math.ceil(g.padW / g.strideW));
  const last = g.inW - 1 - (g.kW - 1) * dW + g.padW;
  const colB = Math.max(colA, Math.min(g.outW, last < 0 ? 0 : Math.floor(last / g.strideW) + 1));
  return { rows, colA, colB, rowF, colF, taps: g.batch * g.channels * g.outH * g.outW * g.kH * g.kW };
}
