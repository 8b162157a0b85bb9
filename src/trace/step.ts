/**
 * `trace`: one training step of an MLP with every chain-rule term named, valued and checked.
 *
 * It runs the step on a private copy of the model (float64 by default) with the library's own
 * autograd, keeping the gradient of every pre-activation and activation; beside each parameter's
 * gradient it puts the chain of named factors a learner would derive by hand (computed from the forward
 * values, not from autograd), their product, and a central finite difference. For the seed notebook's
 * 2‑2‑1 sigmoid network the names are the notebook's (w1…w6, b1…b3, h1, output, d_output/d_h1…).
 */
import { noGrad, type DType, type NestedArray, type Tensor } from '../tensor.js';
import type { Sequential } from '../nn/layers.js';
import {
  activationFormula,
  localDerivative,
  localFormula,
  lossFormula,
  lossGradientFormula,
  lossGradients,
} from './calculus.js';
import {
  copyNet,
  denseLayers,
  forward,
  inputTensor,
  namesFor,
  rowsOf,
  targetOf,
  traceLoss,
  TraceError,
  type Names,
  type Notation,
  type Target,
  type TraceActivation,
  type TraceLoss,
  type TraceLossSpelling,
} from './network.js';

/** Options of `trace`. */
export interface TraceOptions {
  /** The loss (default `'mseHalfSum'`, the seed notebook's ½·Σ(o − y)²). */
  loss?: TraceLossSpelling;
  /** SGD learning rate of the update (default 0.1, the notebook's). */
  lr?: number;
  /** Precision of the step (default float64, whatever the model's dtype; finite differences need it). */
  dtype?: DType;
  /** Names: `'seed'`, `'systematic'`, or `'auto'` (default): the seed's for its network and loss. */
  notation?: Notation | 'auto';
  /**
   * Finite-difference checks: true (default) for every parameter, false for none, or a number n for at
   * most n elements of each weight matrix and bias vector, spread evenly over it.
   */
  check?: boolean | number;
  /** Finite-difference step, relative to max(1, |value|) (default 1e-3; the estimate is fourth-order). */
  eps?: number;
  /**
   * Write the updated values into the model (default true), so successive calls train it. A float32
   * model stores them rounded to float32.
   */
  update?: boolean;
}

/** One factor of a chain-rule product: `d_output/d_h1 = w5 * output * (1 - output) = 0.0512…`. */
export interface Factor {
  /** The partial derivative it is (`d_output/d_h1`). */
  name: string;
  /** How it is computed from the forward values (`w5 * output * (1 - output)`). */
  formula: string;
  value: number;
}

/** The chain rule for one parameter and one row: named factors and their product. */
export interface ChainTerm {
  /** Row of the batch (0-based). */
  row: number;
  factors: Factor[];
  /** The factors multiplied left to right. */
  product: number;
}

/** A parameter (one weight or bias) through the step. */
export interface ParameterTrace {
  /** `w1` in the notebook's notation, `L1.W[0][1]` or `L2.b[0]` otherwise. */
  name: string;
  /** What it connects, in words: `weight from x1 to h1`, `bias for output`. */
  role: string;
  /** Its tensor's state-dict key (`'0.weight'`) and its index in that tensor. */
  tensor: string;
  index: number[];
  /** Layer number, from 1. */
  layer: number;
  kind: 'weight' | 'bias';
  /** The value the step started from. */
  value: number;
  /** The chain rule, one term per row. */
  terms: ChainTerm[];
  /** d_loss/d_param by the chain rule: the sum of the terms' products. */
  chain: number;
  /** d_loss/d_param by the library's autograd. */
  grad: number;
  /**
   * Finite-difference estimate [8·(L(p+h) − L(p−h)) − (L(p+2h) − L(p−2h))] / 12h (central differences at
   * h and 2h, combined so their h² errors cancel), or null when not checked.
   */
  numeric: number | null;
  /** |grad − numeric| / max(|grad|, |numeric|) (0 when both are 0), or null when not checked. */
  relError: number | null;
  /** |grad − numeric|, or null when not checked. */
  absError: number | null;
  /** `value − lr · grad`: what SGD makes of it. */
  newValue: number;
}

/** One unit of a layer: its names and formulas. */
export interface UnitTrace {
  /** Pre-activation name and how it is computed (`z_h1 = w1*x1 + w2*x2 + b1`). */
  z: string;
  zFormula: string;
  /** Activation name and formula (`h1 = sigmoid(z_h1)`). */
  a: string;
  aFormula: string;
  /** The local derivative's name (`d_h1/d_z_h1`) and formula (`h1 * (1 - h1)`). */
  local: string;
  localFormula: string;
  /** Name of the gradient arriving at the activation (`d_loss/d_h1`). */
  upstream: string;
}

/** A Linear layer and its activation through the step; matrices are [rows][units]. */
export interface LayerTrace {
  /** Layer number, from 1. */
  index: number;
  inFeatures: number;
  outFeatures: number;
  activation: TraceActivation;
  /** LeakyReLU's slope or ELU's alpha (0 for the others). */
  activationParam: number;
  /** Names of the layer's inputs (x1, x2 or the previous layer's activations). */
  inputs: string[];
  units: UnitTrace[];
  input: number[][];
  /** Pre-activations z = input · W + b. */
  z: number[][];
  /** Activations σ(z). */
  a: number[][];
  /** Local derivatives dσ/dz, from the closed forms. */
  local: number[][];
  /** d_loss/d_a arriving from above, by autograd (kept with `retainGrad`). */
  upstream: number[][];
  /** d_loss/d_z = upstream · local, by autograd. */
  delta: number[][];
}

/** Everything about one training step, in the order a learner reads it. */
export interface StepTrace {
  notation: Notation;
  dtype: DType;
  rows: number;
  lr: number;
  loss: {
    name: TraceLoss;
    /** The loss in the names of the output and target (`0.5 * (output - y)^2`). */
    formula: string;
    value: number;
    /** The loss on the same rows after the update. */
    after: number;
  };
  input: { names: string[]; values: number[][] };
  /** Target values; for class labels, one-hot rows and the labels themselves. */
  target: { names: string[]; values: number[][]; labels: number[] | null };
  output: {
    names: string[];
    values: number[][];
    /** d_loss/d_output per unit: names, formulas and values from the closed form. */
    gradientNames: string[];
    gradientFormulas: string[];
    gradient: number[][];
  };
  layers: LayerTrace[];
  /** Every weight and bias, layer by layer (weights row-major, then biases). */
  parameters: ParameterTrace[];
  check: {
    /** Finite-difference step relative to max(1, |value|) (then rounded to a power of two). */
    eps: number;
    /** Parameters checked, of how many. */
    checked: number;
    total: number;
    /** Largest relative error among the checked, and whose. */
    maxRelError: number;
    worst: string | null;
    /**
     * Parameters whose autograd gradient and finite difference disagree: more than 1e-6 relative and
     * more than 1e-9 absolute per unit of loss (below that the difference is rounding in the loss).
     */
    disagreements: string[];
  };
}

/** Names and values of one parameter tensor on the copy, beside the model's own. */
interface ParamSlot {
  copy: Tensor;
  model: Tensor;
  layer: number;
  kind: 'weight' | 'bias';
  key: string;
}

function selection(size: number, check: boolean | number): (k: number) => boolean {
  if (check === true || (typeof check === 'number' && check >= size)) return () => true;
  if (check === false || check <= 0) return () => false;
  const chosen = new Set<number>();
  for (let t = 0; t < check; t++) chosen.add(Math.floor((t * size) / check));
  return (k) => chosen.has(k);
}

/**
 * Run one SGD training step of `model` on rows `x` with targets `y`, and record every chain-rule term.
 *
 * The model must be an `nn.Sequential` of `Linear` layers, each followed by at most one elementwise
 * activation (Sigmoid, Tanh, ReLU, LeakyReLU, GELU, Softplus, ELU, Identity); the loss one of
 * `mseHalfSum`, `mse`, `crossEntropy` (logits; `y` class indices or probability rows) and `bce`
 * (probabilities). Anything else throws a `TraceError` that says what is supported.
 */
export function trace(
  model: Sequential,
  x: Tensor | NestedArray,
  y: Tensor | NestedArray | ArrayLike<number>,
  options: TraceOptions = {},
): StepTrace {
  const lossName = traceLoss(options.loss, 'trace');
  const lr = options.lr ?? 0.1;
  if (!Number.isFinite(lr))
    throw new TraceError(`trace: the learning rate must be a finite number, got ${lr}`);
  const eps = options.eps ?? 1e-3;
  if (!(eps > 0)) throw new TraceError(`trace: eps must be positive, got ${eps}`);
  const dtype = options.dtype ?? 'float64';
  const layers = denseLayers(model);
  const L = layers.length;
  if (lossName === 'bce' && layers[L - 1].activation !== 'sigmoid')
    throw new TraceError(
      `trace: the loss 'bce' takes probabilities, but the last layer's activation is ${layers[L - 1].activation}, not sigmoid`,
    );
  const names = namesFor(layers, lossName, options.notation ?? 'auto');
  const net = copyNet(layers, dtype);
  const X = inputTensor(x, layers[0].source.inFeatures, dtype);
  const N = X.shape[0];
  const C = layers[L - 1].source.outFeatures;
  const target = targetOf(y, lossName, N, C, dtype);

  const pass = forward(net, X, target, lossName, names);
  pass.loss.backward();
  const lossNow = pass.loss.item();

  // Forward values as plain numbers, layer by layer; A[0] is the input.
  const A: number[][][] = [rowsOf(X, N, X.shape[1])];
  const Z: number[][][] = [];
  layers.forEach((d, l) => {
    const units = d.source.outFeatures;
    Z.push(rowsOf(pass.zs[l], N, units));
    A.push(rowsOf(pass.as[l], N, units));
  });
  const T = targetRows(target, N, C);
  const labels = target.kind === 'labels' ? Array.from(target.labels) : null;

  // The closed forms, from the output back: G = d_loss/d_a, S = da/dz, D = G·S = d_loss/d_z.
  const S = layers.map((d, l) =>
    Z[l].map((zr, r) => zr.map((z, j) => localDerivative(d.activation, d.param, z, A[l + 1][r][j]))),
  );
  const G: number[][][] = new Array<number[][]>(L);
  G[L - 1] = lossGradients(lossName, A[L], T);
  for (let l = L - 1; l > 0; l--) {
    const W = net.linears[l].weight;
    const out = layers[l].source.outFeatures;
    const inF = layers[l].source.inFeatures;
    G[l - 1] = G[l].map((g, r) =>
      Array.from({ length: inF }, (_, i) => {
        let s = 0;
        for (let k = 0; k < out; k++) s += g[k] * S[l][r][k] * W.data[i * out + k];
        return s;
      }),
    );
  }

  const layerTraces: LayerTrace[] = layers.map((d, l) => {
    const units = d.source.outFeatures;
    return {
      index: l + 1,
      inFeatures: d.source.inFeatures,
      outFeatures: units,
      activation: d.activation,
      activationParam: d.param,
      inputs: l === 0 ? names.input : names.a[l - 1],
      units: Array.from({ length: units }, (_, j) => unitTrace(names, layers, l, j)),
      input: A[l],
      z: Z[l],
      a: A[l + 1],
      local: S[l],
      upstream: rowsOf(pass.as[l].grad, N, units),
      delta: rowsOf(pass.zs[l].grad, N, units),
    };
  });

  // Parameters on the copy beside the model's own, layer by layer.
  const slots: ParamSlot[] = [];
  layers.forEach((d, l) => {
    slots.push({
      copy: net.linears[l].weight,
      model: d.source.weight,
      layer: l,
      kind: 'weight',
      key: `${d.key}.weight`,
    });
    const b = net.linears[l].bias;
    if (b && d.source.bias)
      slots.push({ copy: b, model: d.source.bias, layer: l, kind: 'bias', key: `${d.key}.bias` });
  });

  // The pattern of z > 0 at the kinks of ReLU-like activations, to notice a finite difference across one.
  const kinked = layers.map(
    (d) => d.activation === 'relu' || d.activation === 'leakyRelu' || d.activation === 'elu',
  );
  const signs = (zs: Tensor[]): string =>
    zs.map((z, l) => (kinked[l] ? Array.from(z.data, (v) => (v > 0 ? '1' : '0')).join('') : '')).join('|');
  const baseSigns = signs(pass.zs);
  let sameSigns = true;
  const lossAt = (): number =>
    noGrad(() => {
      const p = forward(net, X, target, lossName);
      if (signs(p.zs) !== baseSigns) sameSigns = false;
      return p.loss.item();
    });
  const kinks = {
    reset: () => void (sameSigns = true),
    crossed: () => !sameSigns,
  };
  const check = options.check ?? true;
  const parameters: ParameterTrace[] = [];
  let checked = 0;
  let maxRelError = 0;
  let worst: string | null = null;
  const disagreements: string[] = [];
  const absTol = 1e-9 * Math.max(1, Math.abs(lossNow));
  for (const s of slots) {
    const chosen = selection(s.copy.size, check);
    const out = layers[s.layer].source.outFeatures;
    for (let k = 0; k < s.copy.size; k++) {
      const i = Math.floor(k / out);
      const j = s.kind === 'weight' ? k % out : k;
      const name = s.kind === 'weight' ? names.weight(s.layer, i, j) : names.bias(s.layer, j);
      const value = s.copy.data[k];
      const grad = s.copy.grad ? s.copy.grad.data[k] : 0;
      const terms = Array.from({ length: N }, (_, r): ChainTerm => {
        const factors = chainFactors(names, layers, net, { A, G, S, T }, s.layer, s.kind, i, j, r, lossName);
        return {
          row: r,
          factors,
          product: factors.reduce((p, f, n) => (n === 0 ? f.value : p * f.value), 0),
        };
      });
      let numeric: number | null = null;
      let relError: number | null = null;
      let absError: number | null = null;
      if (chosen(k)) {
        numeric = finiteDifference(s.copy, k, eps, lossAt, kinks);
        absError = Math.abs(grad - numeric);
        const scale = Math.max(Math.abs(grad), Math.abs(numeric));
        relError = scale > 0 ? absError / scale : 0;
        checked++;
        if (worst === null || relError > maxRelError) {
          maxRelError = relError;
          worst = name;
        }
        if (!(relError <= 1e-6 || absError <= absTol)) disagreements.push(name);
      }
      parameters.push({
        name,
        role: s.kind === 'weight' ? names.weightRole(s.layer, i, j) : names.biasRole(s.layer, j),
        tensor: s.key,
        index: s.kind === 'weight' ? [i, j] : [j],
        layer: s.layer + 1,
        kind: s.kind,
        value,
        terms,
        chain: terms.reduce((sum, t) => sum + t.product, 0),
        grad,
        numeric,
        relError,
        absError,
        newValue: value - lr * grad,
      });
    }
  }

  // The update: on the copy to measure the loss after it, and on the model unless asked not to.
  let p = 0;
  for (const s of slots)
    for (let k = 0; k < s.copy.size; k++) {
      const v = parameters[p++].newValue;
      s.copy.data[k] = v;
      if (options.update ?? true) s.model.data[k] = v;
    }
  const after = lossAt();

  const outNames = names.a[L - 1];
  return {
    notation: names.notation,
    dtype,
    rows: N,
    lr,
    loss: {
      name: lossName,
      formula: lossFormula(lossName, names.notation, N, C, target.kind === 'labels' ? target.labels : null),
      value: lossNow,
      after,
    },
    input: { names: names.input, values: A[0] },
    target: { names: names.target, values: T, labels },
    output: {
      names: outNames,
      values: A[L],
      gradientNames: outNames.map((o) => `d_loss/d_${o}`),
      gradientFormulas: outNames.map((o, j) => lossGradientFormula(lossName, o, names.target[j], j, N, C)),
      gradient: G[L - 1],
    },
    layers: layerTraces,
    parameters,
    check: { eps, checked, total: parameters.length, maxRelError, worst, disagreements },
  };
}

/**
 * d_loss/d_p by central differences at h and 2h combined so their h² errors cancel (Richardson):
 * [8·(L(p+h) − L(p−h)) − (L(p+2h) − L(p−2h))] / 12h, error O(h⁴). A plain central difference would need
 * h so small that rounding in the loss swamps small gradients. h is eps·max(1, |p|) rounded to a power of
 * two, so p ± h is exact; when a step crosses a ReLU-like kink (a z changes sign) h shrinks a thousandfold,
 * up to twice, since across a kink the loss has no derivative to approximate.
 */
function finiteDifference(
  p: Tensor,
  k: number,
  eps: number,
  lossAt: () => number,
  kinks: { reset: () => void; crossed: () => boolean },
): number {
  const value = p.data[k];
  let h = 2 ** Math.round(Math.log2(eps * Math.max(1, Math.abs(value))));
  let estimate = NaN;
  for (let attempt = 0; attempt < 3; attempt++, h /= 1024) {
    kinks.reset();
    const at = (d: number) => {
      p.data[k] = value + d;
      return lossAt();
    };
    const near = at(h) - at(-h);
    const far = at(2 * h) - at(-2 * h);
    p.data[k] = value;
    estimate = (8 * near - far) / (12 * h);
    if (!kinks.crossed()) break;
  }
  return estimate;
}

/** Target rows: the values, or one-hot rows for class labels. */
function targetRows(target: Target, rows: number, outputs: number): number[][] {
  if (target.kind === 'values') return rowsOf(target.y, rows, outputs);
  return Array.from({ length: rows }, (_, r) =>
    Array.from({ length: outputs }, (_, j) => (target.labels[r] === j ? 1 : 0)),
  );
}

/** A unit's names and formulas. */
function unitTrace(names: Names, layers: ReturnType<typeof denseLayers>, l: number, j: number): UnitTrace {
  const d = layers[l];
  const inputs = l === 0 ? names.input : names.a[l - 1];
  const z = names.z[l][j];
  const a = names.a[l][j];
  const products = inputs.map((inp, i) =>
    names.notation === 'seed' ? `${names.weight(l, i, j)}*${inp}` : `${inp}*${names.weight(l, i, j)}`,
  );
  const bias = d.source.bias ? [names.bias(l, j)] : [];
  const zFormula =
    inputs.length <= 4
      ? [...products, ...bias].join(' + ')
      : [`Σ_i ${l === 0 ? 'x_i' : `h${l}_i`}*L${l + 1}.W[i][${j}]`, ...bias].join(' + ');
  return {
    z,
    zFormula,
    a,
    aFormula: activationFormula(d.activation, d.param, z),
    local: `d_${a}/d_${z}`,
    localFormula: localFormula(d.activation, d.param, z, a),
    upstream: `d_loss/d_${a}`,
  };
}

/** Forward values and closed-form derivatives, [layer][row][unit]. */
interface Values {
  A: number[][][];
  G: number[][][];
  S: number[][][];
  T: number[][];
}

/**
 * The chain rule for one parameter and row, as named factors computed from forward values only. The
 * seed notation factors as the notebook does (d_loss/d_output · d_output/d_h1 · d_h1/d_w1, the last
 * factor folding in the input); the systematic one as upstream · local derivative · input.
 */
function chainFactors(
  names: Names,
  layers: ReturnType<typeof denseLayers>,
  net: ReturnType<typeof copyNet>,
  v: Values,
  l: number,
  kind: 'weight' | 'bias',
  i: number,
  j: number,
  r: number,
  loss: TraceLoss,
): Factor[] {
  const L = layers.length;
  const param = kind === 'weight' ? names.weight(l, i, j) : names.bias(l, j);
  if (names.notation === 'seed') {
    const o = v.A[2][r][0];
    const dLoss: Factor = { name: 'd_loss/d_output', formula: 'output - y', value: v.G[1][r][0] };
    if (l === 1) {
      const h = names.a[0][i];
      return kind === 'weight'
        ? [
            dLoss,
            {
              name: `d_output/d_${param}`,
              formula: `${h} * output * (1 - output)`,
              value: v.A[1][r][i] * o * (1 - o),
            },
          ]
        : [dLoss, { name: `d_output/d_${param}`, formula: 'output * (1 - output)', value: o * (1 - o) }];
    }
    const h = names.a[0][j];
    const hv = v.A[1][r][j];
    const w = names.weight(1, j, 0);
    const dOut: Factor = {
      name: `d_output/d_${h}`,
      formula: `${w} * output * (1 - output)`,
      value: net.linears[1].weight.data[j] * o * (1 - o),
    };
    const last: Factor =
      kind === 'weight'
        ? {
            name: `d_${h}/d_${param}`,
            formula: `${names.input[i]} * ${h} * (1 - ${h})`,
            value: v.A[0][r][i] * hv * (1 - hv),
          }
        : { name: `d_${h}/d_${param}`, formula: `${h} * (1 - ${h})`, value: hv * (1 - hv) };
    return [dLoss, dOut, last];
  }
  const a = names.a[l][j];
  const z = names.z[l][j];
  const d = layers[l];
  const upstream: Factor = {
    name: `d_loss/d_${a}`,
    formula:
      l === L - 1
        ? lossGradientFormula(loss, a, names.target[j], j, v.A[0].length, d.source.outFeatures)
        : `Σ_k d_loss/d_z${l + 2}_k * L${l + 2}.W[${j}][k]`,
    value: v.G[l][r][j],
  };
  const local: Factor = {
    name: `d_${a}/d_${z}`,
    formula: localFormula(d.activation, d.param, z, a),
    value: v.S[l][r][j],
  };
  const input: Factor =
    kind === 'weight'
      ? {
          name: `d_${z}/d_${param}`,
          formula: (l === 0 ? names.input : names.a[l - 1])[i],
          value: v.A[l][r][i],
        }
      : { name: `d_${z}/d_${param}`, formula: '1', value: 1 };
  return [upstream, local, input];
}
