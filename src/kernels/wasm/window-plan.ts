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
  cpg: number;
  opg: number;
  khw: number;
  /** Taps per group: cpg·kH·kW. */
  k: number;
  /** Positions per image: OH·OW. */
  p: number;
  /** Whether windows reach outside the image, so it is copied into a zero-bordered buffer first. */
  padded: boolean;
  /** That buffer's height and width (the image's own without one). */
  padH: number;
  padW: number;
  /** opg and k rounded up to whole register-tile rows. */
  opgR: number;
  kR: number;
  /** Tap rows per column block of the input gradient. */
  blockRows: number;
  /** Multiply-adds of one of the three products. */
  macs: number;
}

/** A plan to fill in (the runtime keeps one, so a call allocates none). */
export function emptyConvPlan(): ConvPlan {
  return {
    cpg: 0,
    opg: 0,
    khw: 0,
    k: 0,
    p: 0,
    padded: false,
    padH: 0,
    padW: 0,
    opgR: 0,
    kR: 0,
    blockRows: 0,
    macs: 0,
  };
}

/** Round up to a multiple of m. */
function roundUp(v: number, m: number): number {
  return Math.ceil(v / m) * m;
}

/** What `g` implies for element type `dt`, written into `plan`. */
export function convPlan(g: Conv2dGeometry, dt: WasmDType, plan: ConvPlan = emptyConvPlan()): ConvPlan {
  const { mr } = GEMM_SHAPES[dt];
  const S = ELEMENT_BYTES[dt];
  plan.cpg = g.channels / g.groups;
  plan.opg = g.outChannels / g.groups;
  plan.khw = g.kH * g.kW;
  plan.k = plan.cpg * plan.khw;
  plan.p = g.outH * g.outW;
  // The last row and column any window reads, counted from the first padding row and column.
  const lastRow = (g.outH - 1) * g.strideH + (g.kH - 1) * g.dilationH;
  const lastCol = (g.outW - 1) * g.strideW + (g.kW - 1) * g.dilationW;
  plan.padded = g.padH > 0 || g.padW > 0 || lastRow >= g.inH || lastCol >= g.inW;
  plan.padH = plan.padded ? Math.max(g.padH + g.inH, lastRow + 1) : g.inH;
  plan.padW = plan.padded ? Math.max(g.padW + g.inW, lastCol + 1) : g.inW;
  plan.opgR = roundUp(plan.opg, mr);
  plan.kR = roundUp(plan.k, mr);
  const fit = Math.floor(COL_BLOCK_BYTES / (plan.p * S) / mr) * mr;
  plan.blockRows = Math.min(plan.kR, Math.max(mr, fit));
  plan.macs = g.batch * g.outChannels * plan.p * plan.k;
  return plan;
}

/** The tap table at i32 index `t`: tap (ci, kh, kw) of a group's (padded) image at this byte offset, row-major. */
export function fillTaps(out: Int32Array, t: number, g: Window2d, plan: ConvPlan, S: number): void {
  for (let ci = 0; ci < plan.cpg; ci++)
    for (let kh = 0; kh < g.kH; kh++)
      for (let kw = 0; kw < g.kW; kw++)
        out[t++] = (ci * plan.padH * plan.padW + kh * g.dilationH * plan.padW + kw * g.dilationW) * S;
  out.fill(0, t, t + TABLE_SLACK);
}

/** The position table at i32 index `i`: output (oh, ow)'s window starts at this byte offset of a (padded) channel. */
export function fillPositions(out: Int32Array, i: number, g: Window2d, plan: ConvPlan, S: number): void {
  for (let oh = 0; oh < g.outH; oh++)
    for (let ow = 0; ow < g.outW; ow++) out[i++] = (oh * g.strideH * plan.padW + ow * g.strideW) * S;
  out.fill(0, i, i + TABLE_SLACK);
}

/** Each field's i32 index in the parameter block. */
const FIELD = Object.fromEntries(CONV_FIELDS.map((f, i) => [f, i])) as Record<ConvField, number>;

/** Write the parameter block at i32 index `at` (addresses in bytes; 0 for what the driver does not read). */
export function writeConvFields(
  I: Int32Array,
  at: number,
  g: Conv2dGeometry,
  plan: ConvPlan,
  x: number,
  packed: number,
  bias: number,
  out: number,
  gout: number,
  taps: number,
  pos: number,
): void {
  I[at + FIELD.x] = x;
  I[at + FIELD.packed] = packed;
  I[at + FIELD.bias] = bias;
  I[at + FIELD.out] = out;
  I[at + FIELD.gout] = gout;
  I[at + FIELD.taps] = taps;
  I[at + FIELD.pos] = pos;
  I[at + FIELD.channels] = g.channels;
  I[at + FIELD.inH] = g.inH;
  I[at + FIELD.inW] = g.inW;
  I[at + FIELD.outChannels] = g.outChannels;
  I[at + FIELD.groups] = g.groups;
  I[at + FIELD.cpg] = plan.cpg;
  I[at + FIELD.opg] = plan.opg;
  I[at + FIELD.k] = plan.k;
  I[at + FIELD.p] = plan.p;
  I[at + FIELD.khw] = plan.khw;
  I[at + FIELD.batch] = g.batch;
  I[at + FIELD.padded] = plan.padded ? 1 : 0;
  I[at + FIELD.padH] = plan.padH;
  I[at + FIELD.padW] = plan.padW;
  I[at + FIELD.top] = g.padH;
  I[at + FIELD.left] = g.padW;
  I[at + FIELD.opgR] = plan.opgR;
  I[at + FIELD.kR] = plan.kR;
  I[at + FIELD.blockRows] = plan.blockRows;
  I[at + FIELD.run] = g.strideW === 1 ? g.outW : 0;
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

/**
 * Write a pooling call's tables into the kernels' memory and return the range of outputs colA..colB of a
 * row whose windows' columns all lie inside the image: per output row the first and one past the last
 * window row inside the image (`rows`, 2 i32 each, at i32 index `rowsAt`), and PyTorch's average-pooling
 * divisor split into a row and a column factor (`rowF`, `colF`, float64 at f64 indices `rowFAt`,
 * `colFAt`: `../window.ts`'s `divisor` is their product). Average pooling has no dilation. `out` receives
 * [colA, colB] (no allocation per call).
 */
export function writePoolTables(
  g: Window2d,
  avg: boolean,
  countIncludePad: boolean,
  i32: Int32Array,
  rowsAt: number,
  f64: Float64Array,
  rowFAt: number,
  colFAt: number,
  out: [number, number],
): void {
  const dH = avg ? 1 : g.dilationH;
  const dW = avg ? 1 : g.dilationW;
  for (let oh = 0; oh < g.outH; oh++) {
    const h0 = oh * g.strideH - g.padH;
    // The window's rows inside [0, inH): from ⌈−h0/d⌉ to ⌊(inH − 1 − h0)/d⌋, within [0, kH).
    const lo = Math.min(g.kH, Math.max(0, Math.ceil(-h0 / dH)));
    i32[rowsAt + 2 * oh] = lo;
    i32[rowsAt + 2 * oh + 1] = Math.max(lo, Math.min(g.kH, Math.floor((g.inH - 1 - h0) / dH) + 1));
    f64[rowFAt + oh] = divisorFactor(h0, g.kH, g.inH, g.padH, countIncludePad);
  }
  for (let ow = 0; ow < g.outW; ow++)
    f64[colFAt + ow] = divisorFactor(ow * g.strideW - g.padW, g.kW, g.inW, g.padW, countIncludePad);
  const colA = Math.min(g.outW, Math.ceil(g.padW / g.strideW));
  const last = g.inW - 1 - (g.kW - 1) * dW + g.padW;
  out[0] = colA;
  out[1] = Math.max(colA, Math.min(g.outW, last < 0 ? 0 : Math.floor(last / g.strideW) + 1));
}

/** PyTorch's average-pooling divisor along one axis for a window starting at `start` (see ../window.ts). */
function divisorFactor(
  start: number,
  k: number,
  size: number,
  pad: number,
  countIncludePad: boolean,
): number {
  const end = Math.min(start + k, size + pad);
  return countIncludePad ? end - start : Math.min(end, size) - Math.max(start, 0);
}
