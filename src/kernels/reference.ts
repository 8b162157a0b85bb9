/**
 * The reference kernel set: plain TypeScript over typed arrays. It is the oracle faster kernel sets are
 * tested against and the fallback where they cannot load. Loops take their fast path by layout first and
 * never allocate per element.
 */
import type {
  AdagradHyper,
  AdamHyper,
  BinaryOp,
  BroadcastPlan,
  Kernels,
  RmspropHyper,
  SgdHyper,
  Storage,
} from './types.js';
import { UNARY, type UnaryOp } from './unary.js';
import * as attention from './attention.js';
import * as indexing from './indexing.js';
import { linearBackwardComposed, linearComposed } from './linear.js';
import * as norm from './norm.js';
import * as recurrent from './recurrent.js';
import * as window from './window.js';

function unary(op: UnaryOp, x: Storage, out: Storage, p0: number, p1: number): void {
  UNARY[op].forward(x, out, p0, p1);
}

function unaryGrad(
  op: UnaryOp,
  x: Storage,
  y: Storage,
  g: Storage,
  out: Storage,
  p0: number,
  p1: number,
): void {
  UNARY[op].grad(x, y, g, out, p0, p1);
}

function apply(op: BinaryOp, a: number, b: number): number {
  switch (op) {
    case 'add':
      return a + b;
    case 'sub':
      return a - b;
    case 'mul':
      return a * b;
    case 'div':
      return a / b;
    case 'maximum':
      // NaN in either operand gives NaN, as PyTorch.
      return a !== a || b !== b ? NaN : a > b ? a : b;
    case 'maximumMaskA':
      return a > b ? 1 : a === b ? 0.5 : 0;
    case 'eqMask':
      return a === b ? 1 : 0;
    default:
      return op satisfies never;
  }
}

function binary(op: BinaryOp, a: Storage, b: Storage, out: Storage, plan: BroadcastPlan): void {
  const n = plan.size;
  switch (plan.kind) {
    case 'same':
      switch (op) {
        case 'add':
          for (let i = 0; i < n; i++) out[i] = a[i] + b[i];
          return;
        case 'sub':
          for (let i = 0; i < n; i++) out[i] = a[i] - b[i];
          return;
        case 'mul':
          for (let i = 0; i < n; i++) out[i] = a[i] * b[i];
          return;
        case 'div':
          for (let i = 0; i < n; i++) out[i] = a[i] / b[i];
          return;
        default:
          for (let i = 0; i < n; i++) out[i] = apply(op, a[i], b[i]);
          return;
      }
    case 'scalarB': {
      const s = b[0];
      for (let i = 0; i < n; i++) out[i] = apply(op, a[i], s);
      return;
    }
    case 'scalarA': {
      const s = a[0];
      for (let i = 0; i < n; i++) out[i] = apply(op, s, b[i]);
      return;
    }
    case 'rowB': {
      // a is [rows, cols], b is one row repeated: the bias add of every Linear layer.
      const cols = b.length;
      if (op === 'add') {
        for (let o = 0; o < n; o += cols) for (let j = 0; j < cols; j++) out[o + j] = a[o + j] + b[j];
      } else {
        for (let o = 0; o < n; o += cols)
          for (let j = 0; j < cols; j++) out[o + j] = apply(op, a[o + j], b[j]);
      }
      return;
    }
    case 'general':
      binaryGeneral(op, a, b, out, plan);
      return;
    default:
      plan.kind satisfies never;
  }
}

function binaryGeneral(op: BinaryOp, a: Storage, b: Storage, out: Storage, plan: BroadcastPlan): void {
  const { shape, aStrides: as, bStrides: bs } = plan;
  const nd = shape.length;
  if (plan.size === 0) return;
  const inner = shape[nd - 1];
  const ia = as[nd - 1];
  const ib = bs[nd - 1];
  const idx = new Int32Array(nd);
  let ao = 0;
  let bo = 0;
  for (let o = 0; o < plan.size;) {
    let pa = ao;
    let pb = bo;
    if (ib === 0 && ia === 1) {
      // b constant along the row (x − rowMax in softmax cross-entropy): the op chosen once per row, not
      // per element (about 10× faster; the same operations).
      const s = b[pb];
      const end = o + inner;
      switch (op) {
        case 'add':
          while (o < end) out[o++] = a[pa++] + s;
          break;
        case 'sub':
          while (o < end) out[o++] = a[pa++] - s;
          break;
        case 'mul':
          while (o < end) out[o++] = a[pa++] * s;
          break;
        case 'div':
          while (o < end) out[o++] = a[pa++] / s;
          break;
        default:
          while (o < end) out[o++] = apply(op, a[pa++], s);
      }
    } else for (let j = 0; j < inner; j++, pa += ia, pb += ib) out[o++] = apply(op, a[pa], b[pb]);
    for (let d = nd - 2; d >= 0; d--) {
      ao += as[d];
      bo += bs[d];
      if (++idx[d] < shape[d]) break;
      ao -= as[d] * shape[d];
      bo -= bs[d] * shape[d];
      idx[d] = 0;
    }
  }
}

/** Row-major strides, with 0 wherever `shape` has size 1 (so the axis broadcasts). */
function broadcastStrides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    s[d] = shape[d] === 1 ? 0 : acc;
    acc *= shape[d];
  }
  return s;
}

function reduce(
  op: 'sum' | 'max',
  x: Storage,
  xShape: readonly number[],
  out: Storage,
  outShape: readonly number[],
): void {
  const isSum = op === 'sum';
  out.fill(isSum ? 0 : -Infinity);
  const n = x.length;
  if (n === 0) return;
  const nd = xShape.length;
  if (out.length === 1) {
    let acc = isSum ? 0 : -Infinity;
    if (isSum) for (let i = 0; i < n; i++) acc += x[i];
    else
      for (let i = 0; i < n; i++) {
        const v = x[i];
        if (v > acc || v !== v) acc = v;
        if (acc !== acc) break;
      }
    out[0] = acc;
    return;
  }
  const os = broadcastStrides(outShape);
  const inner = xShape[nd - 1];
  const io = os[nd - 1];
  const idx = new Int32Array(nd);
  let oo = 0;
  for (let i = 0; i < n;) {
    if (io === 0) {
      // Reducing the last axis: accumulate a row in a double, store once.
      let acc = out[oo];
      if (isSum) for (let j = 0; j < inner; j++) acc += x[i++];
      else
        for (let j = 0; j < inner; j++) {
          const v = x[i++];
          if (v > acc || v !== v) acc = v;
        }
      out[oo] = acc;
    } else if (isSum) {
      for (let j = 0; j < inner; j++) out[oo + j] += x[i++];
    } else {
      for (let j = 0; j < inner; j++) {
        const v = x[i++];
        if (v > out[oo + j] || v !== v) out[oo + j] = v;
      }
    }
    for (let d = nd - 2; d >= 0; d--) {
      oo += os[d];
      if (++idx[d] < xShape[d]) break;
      oo -= os[d] * xShape[d];
      idx[d] = 0;
    }
  }
}

function expand(x: Storage, xShape: readonly number[], out: Storage, outShape: readonly number[]): void {
  const n = out.length;
  if (n === 0) return;
  if (x.length === 1) {
    out.fill(x[0]);
    return;
  }
  const nd = outShape.length;
  const xs = broadcastStrides(xShape);
  const inner = outShape[nd - 1];
  const ix = xs[nd - 1];
  const idx = new Int32Array(nd);
  let xo = 0;
  for (let o = 0; o < n;) {
    if (ix === 0) {
      const v = x[xo];
      for (let j = 0; j < inner; j++) out[o++] = v;
    } else for (let j = 0; j < inner; j++) out[o++] = x[xo + j];
    for (let d = nd - 2; d >= 0; d--) {
      xo += xs[d];
      if (++idx[d] < outShape[d]) break;
      xo -= xs[d] * outShape[d];
      idx[d] = 0;
    }
  }
}

function permute(x: Storage, xShape: readonly number[], perm: readonly number[], out: Storage): void {
  const nd = xShape.length;
  const n = x.length;
  if (n === 0) return;
  if (nd === 0) {
    // A scalar has no inner axis for the loop below to advance along.
    out[0] = x[0];
    return;
  }
  const xStride = new Array<number>(nd);
  let acc = 1;
  for (let d = nd - 1; d >= 0; d--) {
    xStride[d] = acc;
    acc *= xShape[d];
  }
  const shape = perm.map((p) => xShape[p]);
  const st = perm.map((p) => xStride[p]);
  if (nd === 2) {
    // The common case, a matrix transpose.
    const [r, c] = shape;
    const [s0, s1] = st;
    let o = 0;
    for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[o++] = x[i * s0 + j * s1];
    return;
  }
  const inner = shape[nd - 1];
  const is = st[nd - 1];
  const idx = new Int32Array(nd);
  let xo = 0;
  for (let o = 0; o < n;) {
    for (let j = 0, p = xo; j < inner; j++, p += is) out[o++] = x[p];
    for (let d = nd - 2; d >= 0; d--) {
      xo += st[d];
      if (++idx[d] < shape[d]) break;
      xo -= st[d] * shape[d];
      idx[d] = 0;
    }
  }
}

/**
 * One kernel for all four layouts: A(i, p) and B(p, j) are read through strides, so Aᵀ and Bᵀ cost no
 * copy. The body computes a 4×4 tile of C in sixteen local sums over p (16 multiply-adds per 8 loads,
 * about 4× a plain row-times-row loop here), then writes it once; float32 inputs accumulate in float64.
 */
function matmul(
  a: Storage,
  ao: number,
  b: Storage,
  bo: number,
  c: Storage,
  co: number,
  m: number,
  k: number,
  n: number,
  transA: boolean,
  transB: boolean,
): void {
  const ai = transA ? 1 : k;
  const ap = transA ? m : 1;
  const bp = transB ? 1 : n;
  const bj = transB ? k : 1;
  let i = 0;
  for (; i + 3 < m; i += 4) {
    const a0 = ao + i * ai;
    const a1 = a0 + ai;
    const a2 = a1 + ai;
    const a3 = a2 + ai;
    let j = 0;
    for (; j + 3 < n; j += 4) {
      const b0 = bo + j * bj;
      const b1 = b0 + bj;
      const b2 = b1 + bj;
      const b3 = b2 + bj;
      let c00 = 0,
        c01 = 0,
        c02 = 0,
        c03 = 0,
        c10 = 0,
        c11 = 0,
        c12 = 0,
        c13 = 0;
      let c20 = 0,
        c21 = 0,
        c22 = 0,
        c23 = 0,
        c30 = 0,
        c31 = 0,
        c32 = 0,
        c33 = 0;
      for (let p = 0; p < k; p++) {
        const pa = p * ap;
        const pb = p * bp;
        const x0 = a[a0 + pa];
        const x1 = a[a1 + pa];
        const x2 = a[a2 + pa];
        const x3 = a[a3 + pa];
        const y0 = b[b0 + pb];
        const y1 = b[b1 + pb];
        const y2 = b[b2 + pb];
        const y3 = b[b3 + pb];
        c00 += x0 * y0;
        c01 += x0 * y1;
        c02 += x0 * y2;
        c03 += x0 * y3;
        c10 += x1 * y0;
        c11 += x1 * y1;
        c12 += x1 * y2;
        c13 += x1 * y3;
        c20 += x2 * y0;
        c21 += x2 * y1;
        c22 += x2 * y2;
        c23 += x2 * y3;
        c30 += x3 * y0;
        c31 += x3 * y1;
        c32 += x3 * y2;
        c33 += x3 * y3;
      }
      let o = co + i * n + j;
      c[o] = c00;
      c[o + 1] = c01;
      c[o + 2] = c02;
      c[o + 3] = c03;
      o += n;
      c[o] = c10;
      c[o + 1] = c11;
      c[o + 2] = c12;
      c[o + 3] = c13;
      o += n;
      c[o] = c20;
      c[o + 1] = c21;
      c[o + 2] = c22;
      c[o + 3] = c23;
      o += n;
      c[o] = c30;
      c[o + 1] = c31;
      c[o + 2] = c32;
      c[o + 3] = c33;
    }
    for (let r = 0; r < 4; r++) dotEdge(a, ao, b, bo, c, co, i + r, j, n, k, ai, ap, bp, bj);
  }
  for (; i < m; i++) dotEdge(a, ao, b, bo, c, co, i, 0, n, k, ai, ap, bp, bj);
}

/** C(i, j) for j in [from, n) by plain dot products: the edges the 4×4 tiles leave. */
function dotEdge(
  a: Storage,
  ao: number,
  b: Storage,
  bo: number,
  c: Storage,
  co: number,
  i: number,
  from: number,
  n: number,
  k: number,
  ai: number,
  ap: number,
  bp: number,
  bj: number,
): void {
  const ar = ao + i * ai;
  for (let j = from; j < n; j++) {
    const bc = bo + j * bj;
    let s = 0;
    for (let p = 0; p < k; p++) s += a[ar + p * ap] * b[bc + p * bp];
    c[co + i * n + j] = s;
  }
}

function gather(x: Storage, cols: number, index: Int32Array, out: Storage): void {
  for (let r = 0; r < index.length; r++) out[r] = x[r * cols + index[r]];
}

function scatterAdd(g: Storage, cols: number, index: Int32Array, out: Storage): void {
  for (let r = 0; r < index.length; r++) out[r * cols + index[r]] += g[r];
}

function accumulate(acc: Storage, x: Storage): void {
  for (let i = 0; i < acc.length; i++) acc[i] += x[i];
}

function sgd(p: Storage, g: Storage, buf: Storage | null, h: Readonly<SgdHyper>): void {
  const { lr, momentum: mu, dampening, weightDecay: wd, nesterov, first } = h;
  const n = p.length;
  if (buf === null) {
    if (wd === 0) for (let j = 0; j < n; j++) p[j] = p[j] + -lr * g[j];
    else
      for (let j = 0; j < n; j++) {
        const d = g[j] + wd * p[j];
        p[j] = p[j] + -lr * d;
      }
    return;
  }
  for (let j = 0; j < n; j++) {
    let d = wd === 0 ? g[j] : g[j] + wd * p[j];
    // The first step copies the gradient into the buffer (no dampening), as PyTorch.
    buf[j] = first ? d : buf[j] * mu + (1 - dampening) * d;
    d = nesterov ? d + mu * buf[j] : buf[j];
    p[j] = p[j] + -lr * d;
  }
}

function adam(
  p: Storage,
  g: Storage,
  m: Storage,
  v: Storage,
  vmax: Storage | null,
  h: Readonly<AdamHyper>,
): void {
  const { stepSize, beta1, beta2, bc2Sqrt, eps, weightDecay: wd, decay } = h;
  const n = p.length;
  if (decay !== 1) for (let j = 0; j < n; j++) p[j] = p[j] * decay;
  for (let j = 0; j < n; j++) {
    const gj = wd !== 0 ? g[j] + wd * p[j] : g[j];
    m[j] = m[j] * beta1 + (1 - beta1) * gj;
    v[j] = v[j] * beta2 + (1 - beta2) * gj * gj;
    let s = v[j];
    if (vmax) {
      if (s > vmax[j]) vmax[j] = s;
      s = vmax[j];
    }
    const denom = Math.sqrt(s) / bc2Sqrt + eps;
    p[j] = p[j] + -stepSize * (m[j] / denom);
  }
}

function rmsprop(
  p: Storage,
  g: Storage,
  sq: Storage,
  ga: Storage | null,
  buf: Storage | null,
  h: Readonly<RmspropHyper>,
): void {
  const { lr, alpha, eps, weightDecay: wd, momentum } = h;
  for (let j = 0; j < p.length; j++) {
    const gj = wd !== 0 ? g[j] + wd * p[j] : g[j];
    sq[j] = sq[j] * alpha + (1 - alpha) * gj * gj;
    let avg: number;
    if (ga) {
      ga[j] = ga[j] * alpha + (1 - alpha) * gj;
      avg = Math.sqrt(sq[j] + -1 * ga[j] * ga[j]) + eps;
    } else avg = Math.sqrt(sq[j]) + eps;
    if (buf) {
      buf[j] = buf[j] * momentum + gj / avg;
      p[j] = p[j] + -lr * buf[j];
    } else p[j] = p[j] + -lr * (gj / avg);
  }
}

function adagrad(p: Storage, g: Storage, sum: Storage, h: Readonly<AdagradHyper>): void {
  const { clr, eps, weightDecay: wd } = h;
  for (let j = 0; j < p.length; j++) {
    const gj = wd !== 0 ? g[j] + wd * p[j] : g[j];
    sum[j] = sum[j] + gj * gj;
    const std = Math.sqrt(sum[j]) + eps;
    p[j] = p[j] + -clr * (gj / std);
  }
}

/** Kernels.matmulBatched: the products one by one. */
function matmulBatched(
  a: Storage,
  aOffsets: Int32Array,
  b: Storage,
  bOffsets: Int32Array,
  out: Storage,
  m: number,
  k: number,
  n: number,
  transA: boolean,
  transB: boolean,
): void {
  for (let t = 0; t < aOffsets.length; t++)
    matmul(a, aOffsets[t], b, bOffsets[t], out, t * m * n, m, k, n, transA, transB);
}

/** The reference kernel set. */
export const referenceKernels: Kernels = {
  name: 'reference',
  referenceMatmulBelow: Infinity,
  referenceElementsBelow: Infinity,
  unary,
  unaryGrad,
  binary,
  reduce,
  expand,
  permute,
  matmul,
  matmulBatched,
  gather,
  scatterAdd,
  copyBlocks: indexing.copyBlocks,
  take: indexing.take,
  takeGrad: indexing.takeGrad,
  gatherAxis: indexing.gatherAxis,
  scatterAddAxis: indexing.scatterAddAxis,
  select: indexing.select,
  topK: indexing.topK,
  accumulate,
  sgd,
  adam,
  rmsprop,
  adagrad,
  conv2d: window.conv2d,
  conv2dInputGrad: window.conv2dInputGrad,
  conv2dWeightGrad: window.conv2dWeightGrad,
  maxPool2d: window.maxPool2d,
  maxPool2dGrad: window.maxPool2dGrad,
  avgPool2d: window.avgPool2d,
  avgPool2dGrad: window.avgPool2dGrad,
  moments: norm.moments,
  normalize: norm.normalize,
  normalizeGrad: norm.normalizeGrad,
  cellForward: recurrent.cellForward,
  cellBackward: recurrent.cellBackward,
  attentionScores: attention.attentionScores,
  attentionContext: attention.attentionContext,
  attentionBackward: attention.attentionBackward,
  // Methods over `this`: a set made as { ...referenceKernels, matmul: mine } runs its own products here.
  linear(x, w, bias, out, rows, k, n, transW) {
    linearComposed(this, x, w, bias, out, rows, k, n, transW);
  },
  linearBackward(g, x, w, gx, gw, gb, rows, k, n, transW) {
    linearBackwardComposed(this, g, x, w, gx, gw, gb, rows, k, n, transW);
  },
};
