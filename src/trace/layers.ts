/**
 * The chain rule of each layer type, written out by hand: given a layer's forward values (its input, its
 * parameters) and the gradient arriving at its output (δ = d_loss/d_output), the gradient of every
 * parameter and of the input, computed with plain loops over the layer's own formulas — not with the ops'
 * backward code, so comparing the two with autograd is a real check. Each tracer also names the terms of
 * one element's gradient (`conv.weight[o][c][i][j] = Σ x·δ`) and the intermediate values a learner reads
 * (BatchNorm's batch mean and variance, an LSTM's gates, attention's softmax per head).
 *
 * Internal to `traceLayer` and `traceModel` (`./model.ts`).
 */
import { activationInfo } from '../kernels/unary.js';
import { MultiheadAttention } from '../nn/attention.js';
import {
  AdaptiveAvgPool2d,
  AvgPool2d,
  Conv1d,
  Conv2d,
  Flatten,
  MaxPool1d,
  MaxPool2d,
  Unflatten,
} from '../nn/conv.js';
import { Dropout, Identity, Linear, Softmax } from '../nn/layers.js';
import type { Module } from '../nn/module.js';
import { BatchNorm, LayerNorm } from '../nn/norm.js';
import { Embedding, GRU, LastStep, LSTM, RecurrentBase, RNN } from '../nn/recurrent.js';
import { activationOfModule } from '../nn/spec.js';
import type { Tensor } from '../tensor.js';
import { localDerivative } from './calculus.js';
import { TraceError } from './network.js';

/** One term of a sum: its factors by name and value, and their product. */
export interface Term {
  /** The factors' names multiplied (`x[0][0][1][2] · δ[0][3][0][1]`). */
  label: string;
  /** The factors' values, in the label's order. */
  factors: number[];
  /** Their product (for a single-factor term, the value itself). */
  value: number;
}

/** The gradient of one element spelt out as a sum of terms. */
export interface Derivation {
  /** Which gradient (`d_loss/d_weight[0][0][1][1]`). */
  target: string;
  /** The layer's rule for it, in symbols (`Σ_{n,oy,ox} x[n][c][oy+i][ox+j] · δ[n][o][oy][ox]`). */
  rule: string;
  /** The local tensor name (`weight`, `input`) and flat index the derivation is about. */
  tensor: string;
  index: number;
  /** Every term of the sum (all of them; a view shows the first few). */
  terms: Term[];
  /** The sum of the terms (what the trace computed for this element). */
  value: number;
  /** Autograd's value of the same element (filled in by the trace driver). */
  autograd: number;
}

/** Named intermediate values of a layer (batch mean, gates, softmax probabilities…). */
export interface Quantity {
  name: string;
  /** What it is, in words and symbols. */
  note: string;
  shape: number[];
  values: number[];
}

/** What a tracer returns: gradients by local name ('input' for the input), derivations, quantities. */
export interface LocalTrace {
  /** `Conv2d(1 → 4, 3×3, stride 1, padding 1)`. */
  title: string;
  /** The layer's chain rule in a few sentences. */
  story: string;
  grads: Map<string, Float64Array>;
  derivations: Derivation[];
  quantities: Quantity[];
}

/** A layer's forward values and the gradient arriving at its output, as the tracers read them. */
export interface LayerValues {
  x: Tensor;
  y: Tensor;
  /** d_loss/d_y, same size as y. */
  delta: Float64Array;
  /** The layer's parameters by local name (`weight`, `weight_ih_l0`, `out_proj.weight`), float64. */
  params: Map<string, Tensor>;
  /** For MultiheadAttention: whether the causal mask was applied. */
  causal: boolean;
  /** Whether the layer ran in training mode (BatchNorm's batch statistics). */
  training: boolean;
}

const f64 = (t: Tensor): Float64Array =>
  t.data instanceof Float64Array ? t.data : Float64Array.from(t.data);

/** `[a][b][c]` for flat index k of `shape`. */
export function indexOf(shape: readonly number[], k: number): number[] {
  const out = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    out[d] = k % shape[d];
    k = Math.floor(k / shape[d]);
  }
  return out;
}
const at = (name: string, idx: readonly number[]) => `${name}${idx.map((i) => `[${i}]`).join('')}`;
const atFlat = (name: string, shape: readonly number[], k: number) => at(name, indexOf(shape, k));

/** The flat index of the largest |value| (the element whose derivation is shown), 0 for an empty array. */
export function largest(a: ArrayLike<number>): number {
  let best = 0;
  for (let k = 1; k < a.length; k++) if (Math.abs(a[k]) > Math.abs(a[best])) best = k;
  return best;
}

const term = (label: string, factors: number[]): Term => ({
  label,
  factors,
  value: factors.reduce((p, f) => p * f, 1),
});

function derivation(target: string, rule: string, tensor: string, index: number, terms: Term[]): Derivation {
  let value = 0;
  for (const t of terms) value += t.value;
  return { target, rule, tensor, index, terms, value, autograd: NaN };
}

const shapeStr = (s: readonly number[]) => s.join('×');
const param = (v: LayerValues, name: string): Tensor => {
  const p = v.params.get(name);
  if (!p) throw new TraceError(`trace: the layer has no parameter '${name}'`);
  return p;
};

// ------------------------------------------------------------------------------------------------------
// Linear and the elementwise layers.

function linear(m: Linear, v: LayerValues): LocalTrace {
  const I = m.inFeatures;
  const O = m.outFeatures;
  const x = f64(v.x);
  const d = v.delta;
  const W = f64(param(v, 'weight'));
  const R = x.length / I;
  const gW = new Float64Array(I * O);
  const gb = new Float64Array(O);
  const gx = new Float64Array(R * I);
  for (let r = 0; r < R; r++)
    for (let j = 0; j < O; j++) {
      const dj = d[r * O + j];
      gb[j] += dj;
      for (let i = 0; i < I; i++) {
        gW[i * O + j] += x[r * I + i] * dj;
        gx[r * I + i] += dj * W[i * O + j];
      }
    }
  const grads = new Map([['weight', gW]]);
  if (m.bias) grads.set('bias', gb);
  grads.set('input', gx);
  const k = largest(gW);
  const [i, j] = [Math.floor(k / O), k % O];
  const derivations = [
    derivation(
      `d_loss/d_weight[${i}][${j}]`,
      `Σ_rows x[r][${i}] · δ[r][${j}]  (y = x·W + b, W stored [in, out])`,
      'weight',
      k,
      Array.from({ length: R }, (_, r) =>
        term(`x[${r}][${i}] · δ[${r}][${j}]`, [x[r * I + i], d[r * O + j]]),
      ),
    ),
  ];
  return {
    title: `Linear(${I} → ${O})`,
    story:
      'y = x·W + b. Each weight W[i][j] multiplies input i into output j, so its gradient sums input × ' +
      'upstream gradient over the rows; the bias gets Σ δ; the input gets δ·Wᵀ.',
    grads,
    derivations,
    quantities: [],
  };
}

function elementwise(m: Module, v: LayerValues): LocalTrace {
  const act = activationOfModule(m);
  if (!act) throw new TraceError(`trace: ${m.constructor.name} is not an elementwise activation`);
  const z = f64(v.x);
  const a = f64(v.y);
  const gx = new Float64Array(z.length);
  for (let k = 0; k < z.length; k++) gx[k] = v.delta[k] * localDerivative(act.op, act.param, z[k], a[k]);
  const k = largest(gx);
  const info = activationInfo(act.op);
  const s = v.x.shape;
  return {
    title: `${info.module}${info.param ? `(${act.param})` : ''}`,
    story: `a = ${act.op}(z) elementwise, so d_loss/d_z = δ · ${act.op}'(z) = δ · ${info.trace.formula('z', 'a', act.param)}, element by element.`,
    grads: new Map([['input', gx]]),
    derivations: [
      derivation(atFlat('d_loss/d_z', s, k), `δ · ${info.trace.formula('z', 'a', act.param)}`, 'input', k, [
        term(`${atFlat('δ', s, k)} · ${act.op}'(${atFlat('z', s, k)})`, [
          v.delta[k],
          localDerivative(act.op, act.param, z[k], a[k]),
        ]),
      ]),
    ],
    quantities: [],
  };
}

function passThrough(title: string, story: string, v: LayerValues): LocalTrace {
  return {
    title,
    story,
    grads: new Map([['input', Float64Array.from(v.delta)]]),
    derivations: [],
    quantities: [],
  };
}

function softmaxLayer(m: Softmax, v: LayerValues): LocalTrace {
  const s = v.x.shape;
  const axis = m.axis < 0 ? s.length + m.axis : m.axis;
  const n = s[axis];
  const inner = s.slice(axis + 1).reduce((a, b) => a * b, 1);
  const outer = v.x.size / (n * inner);
  const p = f64(v.y);
  const gx = new Float64Array(p.length);
  for (let o = 0; o < outer; o++)
    for (let q = 0; q < inner; q++) {
      let dot = 0;
      for (let t = 0; t < n; t++) {
        const k = (o * n + t) * inner + q;
        dot += p[k] * v.delta[k];
      }
      for (let t = 0; t < n; t++) {
        const k = (o * n + t) * inner + q;
        gx[k] = p[k] * (v.delta[k] - dot);
      }
    }
  return {
    title: `Softmax(axis ${m.axis})`,
    story: 'p = softmax(z); its Jacobian is diag(p) − p·pᵀ, so d_loss/d_z = p ⊙ (δ − Σ_k p_k·δ_k).',
    grads: new Map([['input', gx]]),
    derivations: [],
    quantities: [],
  };
}

// ------------------------------------------------------------------------------------------------------
// Convolution and pooling: everything as 2-D windows over [N, C, H, W] (a 1-D layer has H = 1).

interface Geometry {
  N: number;
  C: number;
  H: number;
  W: number;
  OH: number;
  OW: number;
  kH: number;
  kW: number;
  sH: number;
  sW: number;
  pH: number;
  pW: number;
  dH: number;
  dW: number;
}

function convGeometry(m: Conv2d | Conv1d, v: LayerValues): Geometry {
  const one = m instanceof Conv1d;
  const xs = v.x.shape;
  const ys = v.y.shape;
  const [N, C] = xs;
  const H = one ? 1 : xs[2];
  const W = one ? xs[2] : xs[3];
  const OH = one ? 1 : ys[2];
  const OW = one ? ys[2] : ys[3];
  const k = one ? [1, (m as Conv1d).kernelSize] : [...(m as Conv2d).kernelSize];
  const s = one ? [1, (m as Conv1d).stride] : [...(m as Conv2d).stride];
  const d = one ? [1, (m as Conv1d).dilation] : [...(m as Conv2d).dilation];
  const padding = m.padding;
  const p =
    padding === 'valid'
      ? [0, 0]
      : padding === 'same'
        ? [Math.floor((d[0] * (k[0] - 1)) / 2), Math.floor((d[1] * (k[1] - 1)) / 2)]
        : typeof padding === 'number'
          ? [0, padding]
          : [...padding];
  return {
    N,
    C,
    H,
    W,
    OH,
    OW,
    kH: k[0],
    kW: k[1],
    sH: s[0],
    sW: s[1],
    pH: p[0],
    pW: p[1],
    dH: d[0],
    dW: d[1],
  };
}

function conv(m: Conv2d | Conv1d, v: LayerValues): LocalTrace {
  const g = convGeometry(m, v);
  const one = m instanceof Conv1d;
  const O = m.outChannels;
  const groups = m.groups;
  const Cg = g.C / groups;
  const Og = O / groups;
  const x = f64(v.x);
  const w = f64(param(v, 'weight'));
  const d = v.delta;
  const gw = new Float64Array(w.length);
  const gb = new Float64Array(O);
  const gx = new Float64Array(x.length);
  const X = (n: number, c: number, y: number, xx: number) => ((n * g.C + c) * g.H + y) * g.W + xx;
  const D = (n: number, o: number, oy: number, ox: number) => ((n * O + o) * g.OH + oy) * g.OW + ox;
  const Wi = (o: number, c: number, i: number, j: number) => ((o * Cg + c) * g.kH + i) * g.kW + j;
  // The weight: Σ over output positions of the input element the tap saw × δ there. The bias: Σ δ.
  for (let n = 0; n < g.N; n++)
    for (let o = 0; o < O; o++) {
      const c0 = Math.floor(o / Og) * Cg;
      for (let oy = 0; oy < g.OH; oy++)
        for (let ox = 0; ox < g.OW; ox++) {
          const dv = d[D(n, o, oy, ox)];
          gb[o] += dv;
          for (let c = 0; c < Cg; c++)
            for (let i = 0; i < g.kH; i++) {
              const iy = oy * g.sH - g.pH + i * g.dH;
              if (iy < 0 || iy >= g.H) continue;
              for (let j = 0; j < g.kW; j++) {
                const ix = ox * g.sW - g.pW + j * g.dW;
                if (ix < 0 || ix >= g.W) continue;
                gw[Wi(o, c, i, j)] += x[X(n, c0 + c, iy, ix)] * dv;
              }
            }
        }
    }
  // The input: for each input element, every (output channel, tap) whose window put it under that tap —
  // the correlation of the zero-padded δ with the kernel flipped (for stride 1), computed as a gather.
  for (let n = 0; n < g.N; n++)
    for (let ci = 0; ci < g.C; ci++) {
      const grp = Math.floor(ci / Cg);
      const c = ci - grp * Cg;
      for (let iy = 0; iy < g.H; iy++)
        for (let ix = 0; ix < g.W; ix++) {
          let s = 0;
          for (let o = grp * Og; o < (grp + 1) * Og; o++)
            for (let i = 0; i < g.kH; i++) {
              const ty = iy + g.pH - i * g.dH;
              if (ty < 0 || ty % g.sH !== 0 || ty / g.sH >= g.OH) continue;
              for (let j = 0; j < g.kW; j++) {
                const tx = ix + g.pW - j * g.dW;
                if (tx < 0 || tx % g.sW !== 0 || tx / g.sW >= g.OW) continue;
                s += w[Wi(o, c, i, j)] * d[D(n, o, ty / g.sH, tx / g.sW)];
              }
            }
          gx[X(n, ci, iy, ix)] = s;
        }
    }
  // Names as the layer's own layout: [N, C, L] and [O, C/g, k] for Conv1d.
  const xi = (n: number, c: number, y: number, xx: number) => (one ? [n, c, xx] : [n, c, y, xx]);
  const wk = largest(gw);
  const [wo, wc, wi, wj] = [
    Math.floor(wk / (Cg * g.kH * g.kW)),
    Math.floor(wk / (g.kH * g.kW)) % Cg,
    Math.floor(wk / g.kW) % g.kH,
    wk % g.kW,
  ];
  const wTerms: Term[] = [];
  const wc0 = Math.floor(wo / Og) * Cg + wc;
  for (let n = 0; n < g.N; n++)
    for (let oy = 0; oy < g.OH; oy++)
      for (let ox = 0; ox < g.OW; ox++) {
        const iy = oy * g.sH - g.pH + wi * g.dH;
        const ix = ox * g.sW - g.pW + wj * g.dW;
        if (iy < 0 || iy >= g.H || ix < 0 || ix >= g.W) continue;
        wTerms.push(
          term(`${at('x', xi(n, wc0, iy, ix))} · ${at('δ', xi(n, wo, oy, ox))}`, [
            x[X(n, wc0, iy, ix)],
            d[D(n, wo, oy, ox)],
          ]),
        );
      }
  const wName = one ? at('weight', [wo, wc, wj]) : at('weight', [wo, wc, wi, wj]);
  const pos = one ? 'ox' : 'oy,ox';
  // The input position a tap reads at output position o: o·stride − padding + tap·dilation.
  const tap = (o: string, st: number, p: number, t: number) => {
    const off = t - p;
    return `[${o}${st > 1 ? `·${st}` : ''}${off > 0 ? `+${off}` : off < 0 ? `−${-off}` : ''}]`;
  };
  const tapY = one ? '' : tap('oy', g.sH, g.pH, wi * g.dH);
  const tapX = tap('ox', g.sW, g.pW, wj * g.dW);
  const derivations = [
    derivation(
      `d_loss/d_${wName}`,
      `Σ_{n,${pos}} x[n][${wc0}]${tapY}${tapX} · δ[n][${wo}]${one ? '' : '[oy]'}[ox]  (input patch × upstream gradient, over every output position)`,
      'weight',
      wk,
      wTerms,
    ),
  ];
  if (m.bias) {
    const bk = largest(gb);
    const bTerms: Term[] = [];
    for (let n = 0; n < g.N; n++)
      for (let oy = 0; oy < g.OH; oy++)
        for (let ox = 0; ox < g.OW; ox++)
          bTerms.push(term(at('δ', xi(n, bk, oy, ox)), [d[D(n, bk, oy, ox)]]));
    derivations.push(
      derivation(
        `d_loss/d_bias[${bk}]`,
        `Σ_{n,${pos}} δ[n][${bk}]${one ? '' : '[oy]'}[ox]`,
        'bias',
        bk,
        bTerms,
      ),
    );
  }
  const xk = largest(gx);
  const [xn, xcI, xy, xx] = indexOf([g.N, g.C, g.H, g.W], xk);
  const xTerms: Term[] = [];
  {
    const grp = Math.floor(xcI / Cg);
    const c = xcI - grp * Cg;
    for (let o = grp * Og; o < (grp + 1) * Og; o++)
      for (let i = 0; i < g.kH; i++) {
        const ty = xy + g.pH - i * g.dH;
        if (ty < 0 || ty % g.sH !== 0 || ty / g.sH >= g.OH) continue;
        for (let j = 0; j < g.kW; j++) {
          const tx = xx + g.pW - j * g.dW;
          if (tx < 0 || tx % g.sW !== 0 || tx / g.sW >= g.OW) continue;
          xTerms.push(
            term(
              `${at('weight', one ? [o, c, j] : [o, c, i, j])} · ${at('δ', xi(xn, o, ty / g.sH, tx / g.sW))}`,
              [w[Wi(o, c, i, j)], d[D(xn, o, ty / g.sH, tx / g.sW)]],
            ),
          );
        }
      }
  }
  derivations.push(
    derivation(
      `d_loss/d_${at('x', xi(xn, xcI, xy, xx))}`,
      'Σ over output channels and taps whose window covers this element: weight · δ at that output (the full correlation of δ with the flipped kernel)',
      'input',
      xk,
      xTerms,
    ),
  );
  const grads = new Map([['weight', gw]]);
  if (m.bias) grads.set('bias', gb);
  grads.set('input', gx);
  const kernel = one ? `${g.kW}` : `${g.kH}×${g.kW}`;
  return {
    title: `${one ? 'Conv1d' : 'Conv2d'}(${g.C} → ${O}, kernel ${kernel}, stride ${one ? g.sW : `${g.sH}×${g.sW}`}, padding ${one ? g.pW : `${g.pH}×${g.pW}`}${groups > 1 ? `, groups ${groups}` : ''})`,
    story:
      'y[n][o] = b[o] + Σ_c Σ_taps weight[o][c][tap] · x[n][c][position + tap]: every weight is used at every ' +
      'output position, so its gradient is the sum over output positions of the input element it saw × δ ' +
      "there; the bias's gradient is Σ δ over positions; an input element's gradient collects weight × δ from " +
      'every output whose window covered it — a correlation of δ with the flipped kernel.',
    grads,
    derivations,
    quantities: [],
  };
}

interface PoolGeometry extends Geometry {
  oneD: boolean;
}

function poolGeometry(m: MaxPool2d | MaxPool1d | AvgPool2d, v: LayerValues): PoolGeometry {
  const oneD = m instanceof MaxPool1d;
  const xs = v.x.shape;
  const ys = v.y.shape;
  const pair = (a: number | readonly number[], b: number): [number, number] =>
    typeof a === 'number' ? [b, a] : [a[0], a[1]];
  const k = oneD ? pair(m.kernelSize, 1) : pair(m.kernelSize, 0);
  const s = oneD ? pair(m.stride, 1) : pair(m.stride, 0);
  const p = oneD ? pair(m.padding, 0) : pair(m.padding, 0);
  const d =
    m instanceof AvgPool2d ? ([1, 1] as [number, number]) : oneD ? pair(m.dilation, 1) : pair(m.dilation, 0);
  return {
    oneD,
    N: xs[0],
    C: xs[1],
    H: oneD ? 1 : xs[2],
    W: oneD ? xs[2] : xs[3],
    OH: oneD ? 1 : ys[2],
    OW: oneD ? ys[2] : ys[3],
    kH: k[0],
    kW: k[1],
    sH: s[0],
    sW: s[1],
    pH: p[0],
    pW: p[1],
    dH: d[0],
    dW: d[1],
  };
}

function maxPool(m: MaxPool2d | MaxPool1d, v: LayerValues): LocalTrace {
  const g = poolGeometry(m, v);
  const x = f64(v.x);
  const gx = new Float64Array(x.length);
  const planes = g.N * g.C;
  const winner = new Float64Array(planes * g.OH * g.OW);
  const name = (plane: number, y: number, xx: number) => {
    const [n, c] = [Math.floor(plane / g.C), plane % g.C];
    return g.oneD ? [n, c, xx] : [n, c, y, xx];
  };
  const routes: Term[] = [];
  for (let pl = 0; pl < planes; pl++)
    for (let oy = 0; oy < g.OH; oy++)
      for (let ox = 0; ox < g.OW; ox++) {
        let best = -Infinity;
        let by = -1;
        let bx = -1;
        for (let i = 0; i < g.kH; i++) {
          const iy = oy * g.sH - g.pH + i * g.dH;
          if (iy < 0 || iy >= g.H) continue;
          for (let j = 0; j < g.kW; j++) {
            const ix = ox * g.sW - g.pW + j * g.dW;
            if (ix < 0 || ix >= g.W) continue;
            const val = x[(pl * g.H + iy) * g.W + ix];
            if (val > best || Number.isNaN(val) || by < 0) {
              best = val;
              by = iy;
              bx = ix;
            }
          }
        }
        const o = (pl * g.OH + oy) * g.OW + ox;
        const src = (pl * g.H + by) * g.W + bx;
        winner[o] = src;
        gx[src] += v.delta[o];
        routes.push(
          term(`${at('δ', name(pl, oy, ox))} → ${at('x', name(pl, by, bx))} (max ${best})`, [v.delta[o]]),
        );
      }
  const k = largest(gx);
  const kTerms = routes.filter((_, o) => winner[o] === k);
  const outShape = g.oneD ? [g.N, g.C, g.OW] : [g.N, g.C, g.OH, g.OW];
  return {
    title: `MaxPool${g.oneD ? '1d' : '2d'}(kernel ${g.oneD ? g.kW : `${g.kH}×${g.kW}`}, stride ${g.oneD ? g.sW : `${g.sH}×${g.sW}`}, padding ${g.oneD ? g.pW : `${g.pH}×${g.pW}`})`,
    story:
      'Each output is the largest input of its window, so its derivative is 1 for the input that won and 0 for ' +
      'the others: the gradient is routed, whole, to the winner of each window (an input that wins several ' +
      'windows sums their δ; one that wins none gets 0).',
    grads: new Map([['input', gx]]),
    derivations: [
      derivation(
        atFlat('d_loss/d_x', v.x.shape, k),
        'Σ of δ over the windows this input won',
        'input',
        k,
        kTerms,
      ),
      {
        target: 'routing',
        rule: 'every window: δ of the output → the input that won it',
        tensor: 'routing',
        index: -1,
        terms: routes,
        value: NaN,
        autograd: NaN,
      },
    ],
    quantities: [
      {
        name: 'winner',
        note: 'flat index in the input of the element that won each window',
        shape: outShape,
        values: Array.from(winner),
      },
    ],
  };
}

function avgPool(m: AvgPool2d, v: LayerValues): LocalTrace {
  const g = poolGeometry(m, v);
  const gx = new Float64Array(v.x.size);
  const planes = g.N * g.C;
  const divisors: number[] = [];
  const spread: Term[][] = [];
  for (let k = 0; k < gx.length; k++) spread.push([]);
  for (let pl = 0; pl < planes; pl++)
    for (let oy = 0; oy < g.OH; oy++)
      for (let ox = 0; ox < g.OW; ox++) {
        // PyTorch's divisor: the window clipped to the padded input (count_include_pad) or to the input.
        let y0 = oy * g.sH - g.pH;
        let x0 = ox * g.sW - g.pW;
        let y1 = Math.min(y0 + g.kH, g.H + g.pH);
        let x1 = Math.min(x0 + g.kW, g.W + g.pW);
        const padded = (y1 - y0) * (x1 - x0);
        y0 = Math.max(y0, 0);
        x0 = Math.max(x0, 0);
        y1 = Math.min(y1, g.H);
        x1 = Math.min(x1, g.W);
        const div = m.countIncludePad ? padded : (y1 - y0) * (x1 - x0);
        const o = (pl * g.OH + oy) * g.OW + ox;
        divisors.push(div);
        for (let iy = y0; iy < y1; iy++)
          for (let ix = x0; ix < x1; ix++) {
            const src = (pl * g.H + iy) * g.W + ix;
            gx[src] += v.delta[o] / div;
            spread[src].push({
              label: `${atFlat('δ', v.y.shape, o)} / ${div}`,
              factors: [v.delta[o], 1 / div],
              value: v.delta[o] / div,
            });
          }
      }
  const k = largest(gx);
  return {
    title: `AvgPool2d(kernel ${g.kH}×${g.kW}, stride ${g.sH}×${g.sW}, padding ${g.pH}×${g.pW})`,
    story:
      'Each output is the mean of its window, so every input of the window gets δ / k² (k² = the number it was ' +
      `divided by${m.countIncludePad ? ', padding counted' : ''}); an input in several windows sums their shares.`,
    grads: new Map([['input', gx]]),
    derivations: [
      derivation(
        atFlat('d_loss/d_x', v.x.shape, k),
        'Σ over the windows covering it of δ / (window size)',
        'input',
        k,
        spread[k],
      ),
    ],
    quantities: [
      { name: 'divisor', note: 'what each window was divided by', shape: [...v.y.shape], values: divisors },
    ],
  };
}

function adaptiveAvg(v: LayerValues): LocalTrace {
  const [N, C, H, W] = v.x.shape;
  const gx = new Float64Array(v.x.size);
  for (let pl = 0; pl < N * C; pl++)
    for (let q = 0; q < H * W; q++) gx[pl * H * W + q] = v.delta[pl] / (H * W);
  return {
    title: 'AdaptiveAvgPool2d(1)',
    story: `The global average of each ${H}×${W} plane: every element gets δ / ${H * W}.`,
    grads: new Map([['input', gx]]),
    derivations: [],
    quantities: [],
  };
}

function lastStep(v: LayerValues): LocalTrace {
  const [N, T, F] = v.x.shape;
  const gx = new Float64Array(v.x.size);
  for (let n = 0; n < N; n++) for (let f = 0; f < F; f++) gx[(n * T + T - 1) * F + f] = v.delta[n * F + f];
  return {
    title: 'LastStep',
    story: `Keeps step ${T - 1} of each sequence: δ goes to the last step, every earlier step gets 0 from here.`,
    grads: new Map([['input', gx]]),
    derivations: [],
    quantities: [],
  };
}

// ------------------------------------------------------------------------------------------------------
// Normalization: x seen as [outer, groups, inner]; statistics per group (BatchNorm: per channel over the
// batch and positions) or per row (LayerNorm: over the normalized features).

function norm(m: BatchNorm | LayerNorm, v: LayerValues): LocalTrace {
  const x = f64(v.x);
  const d = v.delta;
  const s = v.x.shape;
  const isBN = m instanceof BatchNorm;
  const F = isBN ? s[1] : m.normalizedShape.reduce((a, b) => a * b, 1);
  // BatchNorm: [N, C, inner], statistics per channel c; LayerNorm: [rows, F], statistics per row.
  const inner = isBN ? s.slice(2).reduce((a, b) => a * b, 1) : 1;
  const outer = isBN ? s[0] : x.length / F;
  const groups = isBN ? F : outer;
  const M = isBN ? outer * inner : F;
  const members = (gi: number): number[] => {
    const out: number[] = [];
    if (isBN)
      for (let n = 0; n < outer; n++) for (let q = 0; q < inner; q++) out.push((n * F + gi) * inner + q);
    else for (let f = 0; f < F; f++) out.push(gi * F + f);
    return out;
  };
  const feature = (k: number) => (isBN ? Math.floor(k / inner) % F : k % F);
  const gamma = v.params.get('weight') ? f64(param(v, 'weight')) : null;
  const eps = m.eps;
  const batchStats = !isBN || v.training || !m.trackRunningStats || !m.running_mean;
  const mean = new Float64Array(groups);
  const variance = new Float64Array(groups);
  for (let gi = 0; gi < groups; gi++) {
    if (!batchStats && isBN) {
      mean[gi] = (m.running_mean as Tensor).data[gi];
      variance[gi] = (m.running_var as Tensor).data[gi];
      continue;
    }
    const idx = members(gi);
    let mu = 0;
    for (const k of idx) mu += x[k];
    mu /= M;
    let vs = 0;
    for (const k of idx) vs += (x[k] - mu) ** 2;
    mean[gi] = mu;
    variance[gi] = vs / M;
  }
  const groupOf = (k: number) => (isBN ? feature(k) : Math.floor(k / F));
  const xhat = new Float64Array(x.length);
  for (let k = 0; k < x.length; k++) {
    const gi = groupOf(k);
    xhat[k] = (x[k] - mean[gi]) / Math.sqrt(variance[gi] + eps);
  }
  const gGamma = new Float64Array(F);
  const gBeta = new Float64Array(F);
  for (let k = 0; k < x.length; k++) {
    gGamma[feature(k)] += d[k] * xhat[k];
    gBeta[feature(k)] += d[k];
  }
  // The three paths into x: through x̂ directly, through the mean, through the variance.
  const direct = new Float64Array(x.length);
  const viaMean = new Float64Array(x.length);
  const viaVar = new Float64Array(x.length);
  const dMean = new Float64Array(groups);
  const dVar = new Float64Array(groups);
  for (let gi = 0; gi < groups; gi++) {
    const inv = 1 / Math.sqrt(variance[gi] + eps);
    let sDx = 0;
    let sDxC = 0;
    for (const k of members(gi)) {
      const dxh = d[k] * (gamma ? gamma[feature(k)] : 1);
      direct[k] = dxh * inv;
      sDx += dxh;
      sDxC += dxh * (x[k] - mean[gi]);
    }
    dMean[gi] = -sDx * inv;
    dVar[gi] = -0.5 * sDxC * inv ** 3;
    if (!batchStats) continue;
    for (const k of members(gi)) {
      viaMean[k] = dMean[gi] / M;
      viaVar[k] = (dVar[gi] * 2 * (x[k] - mean[gi])) / M;
    }
  }
  const gx = new Float64Array(x.length);
  for (let k = 0; k < x.length; k++) gx[k] = direct[k] + viaMean[k] + viaVar[k];
  const grads = new Map<string, Float64Array>();
  if (gamma) {
    grads.set('weight', gGamma);
    grads.set('bias', gBeta);
  }
  grads.set('input', gx);
  const k = largest(gx);
  const gi = groupOf(k);
  const inv = 1 / Math.sqrt(variance[gi] + eps);
  const xName = atFlat('x', s, k);
  const over = isBN ? `channel ${gi}` : `row ${gi}`;
  const derivations: Derivation[] = [
    derivation(
      `d_loss/d_${xName}`,
      batchStats
        ? `through x̂ directly + through the ${over} mean + through the ${over} variance`
        : 'through x̂ only: the running statistics are constants here (evaluation mode)',
      'input',
      k,
      [
        term('direct: δ·γ · 1/√(σ² + ε)', [d[k] * (gamma ? gamma[feature(k)] : 1), inv]),
        ...(batchStats
          ? [
              term(`via mean: d_loss/d_μ · 1/${M}`, [dMean[gi], 1 / M]),
              term(`via variance: d_loss/d_σ² · 2(x − μ)/${M}`, [dVar[gi], (2 * (x[k] - mean[gi])) / M]),
            ]
          : []),
      ],
    ),
  ];
  if (gamma) {
    const f = largest(gGamma);
    const idx: number[] = [];
    for (let q = 0; q < x.length; q++) if (feature(q) === f) idx.push(q);
    derivations.push(
      derivation(
        `d_loss/d_weight[${f}]`,
        `Σ δ · x̂ over every element of ${isBN ? 'channel' : 'feature'} ${f}`,
        'weight',
        f,
        idx.map((q) => term(`${atFlat('δ', s, q)} · ${atFlat('x̂', s, q)}`, [d[q], xhat[q]])),
      ),
    );
  }
  const name = isBN ? m.constructor.name : 'LayerNorm';
  return {
    title: `${name}(${F}${isBN ? (batchStats ? ', training mode: batch statistics' : ', evaluation mode: running statistics') : ''})`,
    story: batchStats
      ? `x̂ = (x − μ) / √(σ² + ε) with μ and σ² the mean and (biased) variance of each ${isBN ? 'channel over the batch and positions' : 'row over its features'}, then y = γ·x̂ + β. ` +
        'x reaches the loss three ways — through its own x̂, through μ (which every x̂ of the group subtracts), ' +
        'and through σ² (which scales them all) — so its gradient is the sum of three paths: ' +
        'δ·γ/√(σ²+ε) + (d_loss/d_μ)/M + (d_loss/d_σ²)·2(x − μ)/M. γ gets Σ δ·x̂, β gets Σ δ.'
      : 'In evaluation mode μ and σ² are the running statistics, constants of the step: d_loss/d_x = δ·γ/√(σ²+ε); γ gets Σ δ·x̂, β gets Σ δ.',
    grads,
    derivations,
    quantities: [
      { name: 'mean', note: `μ per ${isBN ? 'channel' : 'row'}`, shape: [groups], values: Array.from(mean) },
      {
        name: 'variance',
        note: `σ² per ${isBN ? 'channel' : 'row'} (biased)`,
        shape: [groups],
        values: Array.from(variance),
      },
      { name: 'x̂', note: 'the normalized input', shape: [...s], values: Array.from(xhat) },
      {
        name: 'via mean',
        note: 'the path through μ, per element',
        shape: [...s],
        values: Array.from(viaMean),
      },
      {
        name: 'via variance',
        note: 'the path through σ², per element',
        shape: [...s],
        values: Array.from(viaVar),
      },
    ],
  };
}

// ------------------------------------------------------------------------------------------------------
// Embedding.

function embedding(m: Embedding, v: LayerValues): LocalTrace {
  const D = m.embeddingDim;
  const ids = v.x.data;
  const gW = new Float64Array(m.numEmbeddings * D);
  const where = new Map<number, number[]>();
  for (let p = 0; p < ids.length; p++) {
    const id = ids[p];
    if (m.paddingIdx !== null && id === m.paddingIdx) continue;
    where.set(id, [...(where.get(id) ?? []), p]);
    for (let e = 0; e < D; e++) gW[id * D + e] += v.delta[p * D + e];
  }
  // The token seen most often, its largest component.
  let row = ids.length > 0 ? ids[0] : 0;
  for (const [id, ps] of where) if (ps.length > (where.get(row)?.length ?? 0)) row = id;
  let e = 0;
  for (let q = 1; q < D; q++) if (Math.abs(gW[row * D + q]) > Math.abs(gW[row * D + e])) e = q;
  const ps = where.get(row) ?? [];
  return {
    title: `Embedding(${m.numEmbeddings}, ${D})`,
    story:
      "The output at each position is the row of its token id, so a row's gradient gathers (sums) δ from every " +
      'position where that token occurs; rows of tokens absent from the batch get 0.',
    grads: new Map([['weight', gW]]),
    derivations: [
      derivation(
        `d_loss/d_weight[${row}][${e}]`,
        `Σ over the ${ps.length} position(s) holding token ${row}: δ[position][${e}]`,
        'weight',
        row * D + e,
        ps.map((p) => term(`${atFlat('δ', v.x.shape, p)}[${e}]`, [v.delta[p * D + e]])),
      ),
    ],
    quantities: [],
  };
}

// ------------------------------------------------------------------------------------------------------
// Recurrent layers: the forward recomputed step by step, then backpropagation through time by hand.

const sig = (z: number) => 1 / (1 + Math.exp(-z));

function recurrent(m: RecurrentBase, v: LayerValues): LocalTrace {
  const lstm = m instanceof LSTM;
  const gru = m instanceof GRU;
  const relu = m.mode === 'RNN_RELU';
  const G = lstm ? 4 : gru ? 3 : 1;
  const H = m.hiddenSize;
  const dirs = m.bidirectional ? 2 : 1;
  if (!m.batchFirst || v.x.ndim !== 3)
    throw new TraceError(
      `trace: ${m.constructor.name} is traced batch first on [batch, time, features] only`,
    );
  const [N, T] = v.x.shape;
  const grads = new Map<string, Float64Array>();
  // Forward, layer by layer: per layer and direction, gate activations and states per step.
  interface Run {
    sfx: string;
    reverse: boolean;
    inW: number;
    input: Float64Array; // [N, T, inW]
    gates: Float64Array; // [N, T, G·H] activations (GRU: r, z, n)
    hn: Float64Array; // GRU: W_hn·h + b_hn per step [N, T, H]
    h: Float64Array; // [N, T+1, H] (index 0 = initial)
    c: Float64Array; // [N, T+1, H]
  }
  const runs: Run[][] = [];
  let input = f64(v.x);
  let inW = m.inputSize;
  for (let l = 0; l < m.numLayers; l++) {
    const layerRuns: Run[] = [];
    const out = new Float64Array(N * T * H * dirs);
    for (let dir = 0; dir < dirs; dir++) {
      const sfx = `_l${l}${dir === 1 ? '_reverse' : ''}`;
      const Wih = f64(param(v, `weight_ih${sfx}`));
      const Whh = f64(param(v, `weight_hh${sfx}`));
      const bih = v.params.get(`bias_ih${sfx}`);
      const bhh = v.params.get(`bias_hh${sfx}`);
      const bi = bih ? f64(bih) : new Float64Array(G * H);
      const bh = bhh ? f64(bhh) : new Float64Array(G * H);
      const run: Run = {
        sfx,
        reverse: dir === 1,
        inW,
        input,
        gates: new Float64Array(N * T * G * H),
        hn: new Float64Array(N * T * H),
        h: new Float64Array(N * (T + 1) * H),
        c: new Float64Array(N * (T + 1) * H),
      };
      const ai = new Float64Array(G * H);
      const ah = new Float64Array(G * H);
      for (let n = 0; n < N; n++)
        for (let s = 0; s < T; s++) {
          const t = dir === 1 ? T - 1 - s : s;
          const prev = (n * (T + 1) + s) * H;
          const next = prev + H;
          for (let r = 0; r < G * H; r++) {
            let a = bi[r];
            for (let q = 0; q < inW; q++) a += Wih[r * inW + q] * input[(n * T + t) * inW + q];
            let b = bh[r];
            for (let q = 0; q < H; q++) b += Whh[r * H + q] * run.h[prev + q];
            ai[r] = a;
            ah[r] = b;
          }
          const gt = (n * T + t) * G * H;
          for (let u = 0; u < H; u++) {
            let hNew: number;
            if (lstm) {
              const i = sig(ai[u] + ah[u]);
              const f = sig(ai[H + u] + ah[H + u]);
              const gg = Math.tanh(ai[2 * H + u] + ah[2 * H + u]);
              const o = sig(ai[3 * H + u] + ah[3 * H + u]);
              const c = f * run.c[prev + u] + i * gg;
              run.c[next + u] = c;
              hNew = o * Math.tanh(c);
              run.gates[gt + u] = i;
              run.gates[gt + H + u] = f;
              run.gates[gt + 2 * H + u] = gg;
              run.gates[gt + 3 * H + u] = o;
            } else if (gru) {
              const r = sig(ai[u] + ah[u]);
              const z = sig(ai[H + u] + ah[H + u]);
              const nn = Math.tanh(ai[2 * H + u] + r * ah[2 * H + u]);
              run.hn[(n * T + t) * H + u] = ah[2 * H + u];
              hNew = (1 - z) * nn + z * run.h[prev + u];
              run.gates[gt + u] = r;
              run.gates[gt + H + u] = z;
              run.gates[gt + 2 * H + u] = nn;
            } else {
              const a = ai[u] + ah[u];
              hNew = relu ? Math.max(0, a) : Math.tanh(a);
              run.gates[gt + u] = hNew;
            }
            run.h[next + u] = hNew;
            out[(n * T + t) * H * dirs + dir * H + u] = hNew;
          }
        }
      layerRuns.push(run);
    }
    runs.push(layerRuns);
    input = out;
    inW = H * dirs;
  }
  // Backward through time, from the top layer down; dOut is d_loss/d_output of the current layer.
  let dOut = Float64Array.from(v.delta);
  const dhSteps = new Float64Array(N * T * H); // the first layer's forward direction: d_loss/d_h_t
  const dcSteps = new Float64Array(N * T * H);
  const dGates0 = new Float64Array(N * T * G * H); // layer 0, forward direction: d_loss/d(hidden part of the gates)
  let dx = new Float64Array(0);
  for (let l = m.numLayers - 1; l >= 0; l--) {
    const first = runs[l][0];
    dx = new Float64Array(N * T * first.inW);
    for (let dir = 0; dir < dirs; dir++) {
      const run = runs[l][dir];
      const Wih = f64(param(v, `weight_ih${run.sfx}`));
      const Whh = f64(param(v, `weight_hh${run.sfx}`));
      const gWih = new Float64Array(Wih.length);
      const gWhh = new Float64Array(Whh.length);
      const gbih = new Float64Array(G * H);
      const gbhh = new Float64Array(G * H);
      const daI = new Float64Array(G * H); // d_loss/d(input part of the gates)
      const daH = new Float64Array(G * H); // d_loss/d(hidden part of the gates)
      for (let n = 0; n < N; n++) {
        const dhNext = new Float64Array(H);
        const dcNext = new Float64Array(H);
        for (let s = T - 1; s >= 0; s--) {
          const t = run.reverse ? T - 1 - s : s;
          const prev = (n * (T + 1) + s) * H;
          const next = prev + H;
          const gt = (n * T + t) * G * H;
          for (let u = 0; u < H; u++) {
            const dh = dOut[(n * T + t) * H * dirs + dir * H + u] + dhNext[u];
            if (l === 0 && dir === 0) dhSteps[(n * T + t) * H + u] = dh;
            if (lstm) {
              const [i, f, gg, o] = [
                run.gates[gt + u],
                run.gates[gt + H + u],
                run.gates[gt + 2 * H + u],
                run.gates[gt + 3 * H + u],
              ];
              const tc = Math.tanh(run.c[next + u]);
              const dc = dcNext[u] + dh * o * (1 - tc * tc);
              if (l === 0 && dir === 0) dcSteps[(n * T + t) * H + u] = dc;
              daI[u] = dc * gg * i * (1 - i);
              daI[H + u] = dc * run.c[prev + u] * f * (1 - f);
              daI[2 * H + u] = dc * i * (1 - gg * gg);
              daI[3 * H + u] = dh * tc * o * (1 - o);
              for (let q = 0; q < 4; q++) daH[q * H + u] = daI[q * H + u];
              dcNext[u] = dc * f;
            } else if (gru) {
              const [r, z, nn] = [run.gates[gt + u], run.gates[gt + H + u], run.gates[gt + 2 * H + u]];
              const dn = dh * (1 - z);
              const dan = dn * (1 - nn * nn);
              const hn = run.hn[(n * T + t) * H + u];
              daI[u] = dan * hn * r * (1 - r);
              daI[H + u] = dh * (run.h[prev + u] - nn) * z * (1 - z);
              daI[2 * H + u] = dan;
              daH[u] = daI[u];
              daH[H + u] = daI[H + u];
              daH[2 * H + u] = dan * r;
            } else {
              const hv = run.gates[gt + u];
              daI[u] = dh * (relu ? (hv > 0 ? 1 : 0) : 1 - hv * hv);
              daH[u] = daI[u];
            }
          }
          if (l === 0 && dir === 0) dGates0.set(daH, gt);
          // GRU's h' = (1 − z)·n + z·h also reaches h directly.
          for (let u = 0; u < H; u++)
            dhNext[u] = gru
              ? (dOut[(n * T + t) * H * dirs + dir * H + u] + dhNext[u]) * run.gates[gt + H + u]
              : 0;
          for (let r = 0; r < G * H; r++) {
            gbih[r] += daI[r];
            gbhh[r] += daH[r];
            for (let q = 0; q < run.inW; q++) {
              gWih[r * run.inW + q] += daI[r] * run.input[(n * T + t) * run.inW + q];
              dx[(n * T + t) * run.inW + q] += daI[r] * Wih[r * run.inW + q];
            }
            for (let q = 0; q < H; q++) {
              gWhh[r * H + q] += daH[r] * run.h[prev + q];
              dhNext[q] += daH[r] * Whh[r * H + q];
            }
          }
        }
      }
      grads.set(`weight_ih${run.sfx}`, gWih);
      grads.set(`weight_hh${run.sfx}`, gWhh);
      if (v.params.has(`bias_ih${run.sfx}`)) {
        grads.set(`bias_ih${run.sfx}`, gbih);
        grads.set(`bias_hh${run.sfx}`, gbhh);
      }
    }
    dOut = dx;
  }
  grads.set('input', dx);
  // Sort the parameters in the layer's own order.
  const ordered = new Map<string, Float64Array>();
  for (const name of v.params.keys()) ordered.set(name, grads.get(name) as Float64Array);
  ordered.set('input', dx);
  const gateNames = lstm ? ['i', 'f', 'g', 'o'] : gru ? ['r', 'z', 'n'] : ['h'];
  const r0 = runs[0][0];
  const quantities: Quantity[] = [
    {
      name: 'gates',
      note: `layer 0, row 0: ${lstm ? 'i, f, g, o' : gru ? 'r, z, n' : 'h'} per step (${G}·${H} values a step, gate by gate)`,
      shape: [T, G * H],
      values: Array.from(r0.gates.subarray(0, T * G * H)),
    },
    {
      name: 'd_loss/d_h_t',
      note: "layer 0, row 0: the gradient at each step's hidden state, what the output gives plus what the next step sends back",
      shape: [T, H],
      values: Array.from(dhSteps.subarray(0, T * H)),
    },
  ];
  if (lstm)
    quantities.push(
      {
        name: 'c_t',
        note: 'layer 0, row 0: the cell state per step',
        shape: [T, H],
        values: Array.from(r0.c.subarray(H, (T + 1) * H)),
      },
      {
        name: 'd_loss/d_c_t',
        note: "layer 0, row 0: the gradient at each step's cell state (carried back through f)",
        shape: [T, H],
        values: Array.from(dcSteps.subarray(0, T * H)),
      },
    );
  const wName = `weight_hh_l0`;
  const gW = ordered.get(wName) as Float64Array;
  const k = largest(gW);
  const [row, col] = [Math.floor(k / H), k % H];
  const gate = gateNames[Math.floor(row / H)];
  const kTerms: Term[] = [];
  for (let n = 0; n < N; n++)
    for (let t = 0; t < T; t++)
      kTerms.push(
        term(
          `d_a${gate}[${n}][${t}][${row % H}] · ${t === 0 ? `h_init[${n}]` : `h[${n}][${t - 1}]`}[${col}]`,
          [dGates0[(n * T + t) * G * H + row], r0.h[(n * (T + 1) + t) * H + col]],
        ),
      );
  return {
    title: `${m.constructor.name}(${m.inputSize} → ${H}${m.numLayers > 1 ? `, ${m.numLayers} layers` : ''}${dirs > 1 ? ', bidirectional' : ''})`,
    story: lstm
      ? 'Each step: i = σ(·), f = σ(·), g = tanh(·), o = σ(·) of x_t·W_ihᵀ + h_{t−1}·W_hhᵀ + biases; c_t = f·c_{t−1} + i·g; ' +
        'h_t = o·tanh(c_t). Backward through time: d_loss/d_h_t = δ_t + what step t+1 sends back through W_hh; ' +
        "d_loss/d_c_t = d_loss/d_h_t·o·(1 − tanh²c_t) + d_loss/d_c_{t+1}·f_{t+1}; each gate's pre-activation gets " +
        'that times its local derivative, and the weights sum (gate gradient × x_t or h_{t−1}) over steps.'
      : gru
        ? 'Each step: r = σ(·), z = σ(·), n = tanh(x_t·W_inᵀ + b_in + r·(h_{t−1}·W_hnᵀ + b_hn)), h_t = (1 − z)·n + z·h_{t−1}. ' +
          'Backward through time: d_loss/d_h_t = δ_t + what step t+1 sends back (through z directly and through ' +
          'the gates via W_hh); the weights sum gate gradient × x_t or h_{t−1} over steps.'
        : `Each step: h_t = ${relu ? 'relu' : 'tanh'}(x_t·W_ihᵀ + b_ih + h_{t−1}·W_hhᵀ + b_hh). Backward through time: ` +
          "d_loss/d_h_t = δ_t + what step t+1 sends back through W_hh; times the activation's derivative it is the " +
          "pre-activation's gradient, which the weights sum × x_t or h_{t−1} over steps.",
    grads: ordered,
    derivations: [
      derivation(
        `d_loss/d_${wName}[${row}][${col}]`,
        `Σ over rows and steps of d_loss/d(gate ${gate} pre-activation)[${row % H}] · h_{t−1}[${col}]`,
        wName,
        k,
        kTerms,
      ),
    ],
    quantities,
  };
}

// ------------------------------------------------------------------------------------------------------
// Multi-head attention (self-attention, batch first or [L, E] unbatched).

function attention(m: MultiheadAttention, v: LayerValues): LocalTrace {
  const E = m.embedDim;
  const heads = m.numHeads;
  const D = m.headDim;
  let xs = v.x.shape;
  if (xs.length === 2) xs = [1, ...xs];
  if (!m.batchFirst && v.x.ndim === 3)
    throw new TraceError('trace: MultiheadAttention is traced batch first (batchFirst: true) only');
  const [B, L] = xs;
  const x = f64(v.x);
  const Win = f64(param(v, 'in_proj_weight'));
  const bin = v.params.has('in_proj_bias') ? f64(param(v, 'in_proj_bias')) : new Float64Array(3 * E);
  const Wo = f64(param(v, 'out_proj.weight'));
  const qkv = new Float64Array(B * L * 3 * E);
  for (let r = 0; r < B * L; r++)
    for (let o = 0; o < 3 * E; o++) {
      let s = bin[o];
      for (let e = 0; e < E; e++) s += x[r * E + e] * Win[o * E + e];
      qkv[r * 3 * E + o] = s;
    }
  const Q = (b: number, h: number, i: number, e: number) => qkv[(b * L + i) * 3 * E + h * D + e];
  const K = (b: number, h: number, j: number, e: number) => qkv[(b * L + j) * 3 * E + E + h * D + e];
  const V = (b: number, h: number, j: number, e: number) => qkv[(b * L + j) * 3 * E + 2 * E + h * D + e];
  const scale = 1 / Math.sqrt(D);
  const P = new Float64Array(B * heads * L * L);
  const S = new Float64Array(B * heads * L * L);
  const ctx = new Float64Array(B * L * E);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < heads; h++)
      for (let i = 0; i < L; i++) {
        const row = ((b * heads + h) * L + i) * L;
        let top = -Infinity;
        for (let j = 0; j < L; j++) {
          let s = 0;
          for (let e = 0; e < D; e++) s += Q(b, h, i, e) * scale * K(b, h, j, e);
          S[row + j] = v.causal && j > i ? -Infinity : s;
          top = Math.max(top, S[row + j]);
        }
        let total = 0;
        for (let j = 0; j < L; j++) total += P[row + j] = Math.exp(S[row + j] - top);
        for (let j = 0; j < L; j++) P[row + j] /= total;
        for (let e = 0; e < D; e++) {
          let s = 0;
          for (let j = 0; j < L; j++) s += P[row + j] * V(b, h, j, e);
          ctx[(b * L + i) * E + h * D + e] = s;
        }
      }
  const d = v.delta;
  // Output projection: out = ctx·W_oᵀ + b_o.
  const gWo = new Float64Array(E * E);
  const gbo = new Float64Array(E);
  const dctx = new Float64Array(B * L * E);
  for (let r = 0; r < B * L; r++)
    for (let o = 0; o < E; o++) {
      const dv = d[r * E + o];
      gbo[o] += dv;
      for (let e = 0; e < E; e++) {
        gWo[o * E + e] += dv * ctx[r * E + e];
        dctx[r * E + e] += dv * Wo[o * E + e];
      }
    }
  // Per head: dP = dctx·Vᵀ, dV = Pᵀ·dctx, dS = (diag(p) − p·pᵀ)·dP row by row, dQ = dS·K/√D, dK = dSᵀ·Q/√D.
  const dqkv = new Float64Array(B * L * 3 * E);
  const dP = new Float64Array(P.length);
  const dS = new Float64Array(P.length);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < heads; h++)
      for (let i = 0; i < L; i++) {
        const row = ((b * heads + h) * L + i) * L;
        for (let j = 0; j < L; j++) {
          let s = 0;
          for (let e = 0; e < D; e++) s += dctx[(b * L + i) * E + h * D + e] * V(b, h, j, e);
          dP[row + j] = s;
          for (let e = 0; e < D; e++)
            dqkv[(b * L + j) * 3 * E + 2 * E + h * D + e] += P[row + j] * dctx[(b * L + i) * E + h * D + e];
        }
        for (let j = 0; j < L; j++) {
          // Row j of the Jacobian diag(p) − p·pᵀ applied to dP.
          let s = 0;
          for (let k = 0; k < L; k++)
            s += ((j === k ? P[row + j] : 0) - P[row + j] * P[row + k]) * dP[row + k];
          dS[row + j] = s;
          for (let e = 0; e < D; e++) {
            dqkv[(b * L + i) * 3 * E + h * D + e] += s * K(b, h, j, e) * scale;
            dqkv[(b * L + j) * 3 * E + E + h * D + e] += s * Q(b, h, i, e) * scale;
          }
        }
      }
  const gWin = new Float64Array(3 * E * E);
  const gbin = new Float64Array(3 * E);
  const gx = new Float64Array(B * L * E);
  for (let r = 0; r < B * L; r++)
    for (let o = 0; o < 3 * E; o++) {
      const dv = dqkv[r * 3 * E + o];
      gbin[o] += dv;
      for (let e = 0; e < E; e++) {
        gWin[o * E + e] += dv * x[r * E + e];
        gx[r * E + e] += dv * Win[o * E + e];
      }
    }
  const grads = new Map<string, Float64Array>([['in_proj_weight', gWin]]);
  if (v.params.has('in_proj_bias')) grads.set('in_proj_bias', gbin);
  grads.set('out_proj.weight', gWo);
  if (v.params.has('out_proj.bias')) grads.set('out_proj.bias', gbo);
  grads.set('input', gx);
  // The softmax Jacobian for one query of head 0, batch 0: the last row, which sees every key.
  const i = L - 1;
  const derivations: Derivation[] = [];
  for (let h = 0; h < heads; h++) {
    const r0 = (h * L + i) * L;
    let j = 0;
    for (let q = 1; q < L; q++) if (Math.abs(dS[r0 + q]) > Math.abs(dS[r0 + j])) j = q;
    // The value is the terms' sum, which the test holds to the dS computed above as P·(dP − Σ dP·P).
    derivations.push(
      derivation(
        `head ${h}: d_loss/d_score[${i}][${j}]`,
        `Σ_k (diag(p) − p·pᵀ)[${j}][k] · d_loss/d_p[${i}][k]  (the softmax Jacobian of query ${i}'s row applied to the upstream gradient)`,
        `scores.${h}`,
        j,
        Array.from({ length: L }, (_, k) =>
          term(`(${j === k ? `p${j}` : '0'} − p${j}·p${k}) · d_loss/d_p${k}`, [
            (j === k ? P[r0 + j] : 0) - P[r0 + j] * P[r0 + k],
            dP[r0 + k],
          ]),
        ),
      ),
    );
  }
  const perHead = (a: Float64Array) => Array.from(a.subarray(0, heads * L * L));
  return {
    title: `MultiheadAttention(${E}, ${heads} heads${v.causal ? ', causal' : ''})`,
    story:
      'q, k, v = x·W_inᵀ + b_in, split into heads; per head, scores = q·kᵀ/√d, p = softmax(scores) row by row' +
      `${v.causal ? ' (later positions masked to −∞, so p = 0 there)' : ''}, context = p·v; out = context·W_outᵀ + b_out. ` +
      'Backward: d_loss/d_context = δ·W_out; per head d_loss/d_p = d_loss/d_context·vᵀ and d_loss/d_v = pᵀ·d_loss/d_context; ' +
      'the softmax Jacobian diag(p) − p·pᵀ turns d_loss/d_p into d_loss/d_scores; then d_loss/d_q = d_scores·k/√d, ' +
      'd_loss/d_k = d_scoresᵀ·q/√d, and through W_in back to x (x feeds q, k and v, so its three parts add).',
    grads,
    derivations,
    quantities: [
      {
        name: 'scores',
        note: 'batch 0: q·kᵀ/√d per head [heads, query, key]',
        shape: [heads, L, L],
        values: Array.from(S.subarray(0, heads * L * L)),
      },
      {
        name: 'p',
        note: 'batch 0: softmax of the scores per head',
        shape: [heads, L, L],
        values: perHead(P),
      },
      {
        name: 'd_loss/d_p',
        note: 'batch 0: the gradient at the attention weights',
        shape: [heads, L, L],
        values: perHead(dP),
      },
      {
        name: 'd_loss/d_scores',
        note: 'batch 0: after the softmax Jacobian',
        shape: [heads, L, L],
        values: perHead(dS),
      },
    ],
  };
}

/**
 * The tracer of a module, or null when the layer cannot be traced. Dropout is traced only when inactive
 * (evaluation mode or p = 0): a trace explains deterministic steps.
 */
export function traceLocal(m: Module, v: LayerValues): LocalTrace {
  if (m instanceof Linear) return linear(m, v);
  if (m instanceof Conv2d || m instanceof Conv1d) return conv(m, v);
  if (m instanceof MaxPool2d || m instanceof MaxPool1d) return maxPool(m, v);
  if (m instanceof AvgPool2d) return avgPool(m, v);
  if (m instanceof AdaptiveAvgPool2d) return adaptiveAvg(v);
  if (m instanceof BatchNorm || m instanceof LayerNorm) return norm(m, v);
  if (m instanceof Embedding) return embedding(m, v);
  if (m instanceof LSTM || m instanceof GRU || m instanceof RNN) return recurrent(m, v);
  if (m instanceof MultiheadAttention) return attention(m, v);
  if (m instanceof LastStep) return lastStep(v);
  if (m instanceof Softmax) return softmaxLayer(m, v);
  if (m instanceof Flatten)
    return passThrough(
      `Flatten`,
      `Only the shape changes (${shapeStr(v.x.shape)} → ${shapeStr(v.y.shape)}): δ is reshaped back.`,
      v,
    );
  if (m instanceof Unflatten)
    return passThrough(
      `Unflatten`,
      `Only the shape changes (${shapeStr(v.x.shape)} → ${shapeStr(v.y.shape)}): δ is reshaped back.`,
      v,
    );
  if (m instanceof Identity) return passThrough('Identity', 'y = x: δ passes unchanged.', v);
  if (m instanceof Dropout)
    return passThrough(
      'Dropout (inactive)',
      'Inactive in this step (evaluation mode or p = 0): y = x, δ passes unchanged.',
      v,
    );
  if (activationOfModule(m)) return elementwise(m, v);
  throw new TraceError(`trace: a ${m.constructor.name} layer cannot be traced`);
}
