/**
 * The network side of the teaching views: which dense layers a model is made of, a private copy of it
 * (float64 by default) whose intermediates are named and keep their gradients, the loss, and the names a
 * learner reads: the seed notebook's (w1…w6, h1, output) or systematic ones (L1.W[0][1], h1_3).
 *
 * Internal to `trace`, `stepGraph` and `compareNotebookOrder`; the copy means a trace never touches the
 * model's own `.grad` or the default random stream.
 */
import * as losses from '../losses.js';
import { Dropout, Identity, Linear, Sequential, Softmax } from '../nn/layers.js';
import { ACTIVATION_OPS, activationInfo, type ActivationOp } from '../kernels/unary.js';
import { activationOfModule } from '../nn/spec.js';
import type { Module } from '../nn/module.js';
import { RandomState } from '../random.js';
import { fmt } from '../shape.js';
import { tensor, Tensor, type DType, type NestedArray } from '../tensor.js';

/** The losses a trace can explain: each has a closed-form derivative the views spell out. */
export type TraceLoss = 'mseHalfSum' | 'mse' | 'crossEntropy' | 'bce';

/** Every loss `trace` accepts, for validating input and listing choices. */
export const TRACE_LOSSES: readonly TraceLoss[] = ['mseHalfSum', 'mse', 'crossEntropy', 'bce'];

/** A trace's loss in either spelling (`'crossEntropy'` or `'cross-entropy'`; see `losses.LOSS_SPELLINGS`). */
export type TraceLossSpelling = TraceLoss | (typeof losses.LOSS_SPELLINGS)[TraceLoss];

/** The trace loss `name` spells, or a `TraceError` from `op` listing the losses a trace explains. */
export function traceLoss(name: TraceLossSpelling | undefined, op: string): TraceLoss {
  const loss = losses.lossName(name ?? 'mseHalfSum');
  if (loss !== undefined && (TRACE_LOSSES as readonly string[]).includes(loss)) return loss as TraceLoss;
  throw new TraceError(
    `${op}: the loss ${JSON.stringify(name)} is not supported; a trace explains ${TRACE_LOSSES.join(', ')}`,
  );
}

/**
 * The elementwise activations a trace can explain: every activation of the unary op table (a Linear
 * layer without one has `'identity'`).
 */
export type TraceActivation = 'identity' | ActivationOp;

/** Which names a trace uses: the seed notebook's (its 2‑2‑1 sigmoid network only) or systematic ones. */
export type Notation = 'seed' | 'systematic';

/**
 * A model, loss or input that a trace cannot explain (a Softmax or Dropout layer, an unsupported loss,
 * a target of the wrong shape). A class of its own so a command line can report it as bad input.
 */
export class TraceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TraceError';
  }
}

/** A Linear layer with the elementwise activation that follows it (none: identity). */
export interface Dense {
  source: Linear;
  /** Index of the Linear in the Sequential: its state keys are `${key}.weight` and `${key}.bias`. */
  key: string;
  activation: TraceActivation;
  /** The activation module, reused on the copy (activations hold no tensors). */
  module: Module | null;
  /** LeakyReLU's slope or ELU's alpha; 0 otherwise. */
  param: number;
}

/** The activation a module stands for, or null when a trace cannot explain it. */
function activationOf(m: Module): { name: TraceActivation; param: number } | null {
  if (m.constructor === Identity) return { name: 'identity', param: 0 };
  const act = activationOfModule(m);
  return act ? { name: act.op, param: act.param } : null;
}

function refusal(m: Module, i: number): string {
  if (m instanceof Softmax)
    return (
      `trace: layer ${i} is Softmax, which mixes the units of a row; a trace explains elementwise ` +
      "activations only. Drop the Softmax and use the loss 'crossEntropy' on the logits (it applies the softmax)"
    );
  if (m instanceof Dropout)
    return (
      `trace: layer ${i} is Dropout, which makes a training step random; a trace explains deterministic ` +
      'steps, so build the model without Dropout to explain it'
    );
  return (
    `trace: layer ${i} (${m.constructor.name}) is not supported; a trace takes Linear layers and the ` +
    `activations ${ACTIVATION_OPS.map((op) => activationInfo(op).module).join(', ')} and Identity`
  );
}

/** Split a Sequential into Linear layers with their activations, refusing what a trace cannot explain. */
export function denseLayers(model: unknown): Dense[] {
  if (!(model instanceof Sequential))
    throw new TraceError(
      `trace: expected an nn.Sequential of Linear layers and activations, got ${
        model === null || typeof model !== 'object' ? String(model) : model.constructor.name
      }`,
    );
  const out: Dense[] = [];
  model.layers.forEach((m, i) => {
    if (m instanceof Linear) {
      out.push({ source: m, key: String(i), activation: 'identity', module: null, param: 0 });
      return;
    }
    const act = activationOf(m);
    if (act === null) throw new TraceError(refusal(m, i));
    // Identity changes nothing wherever it stands.
    if (act.name === 'identity') return;
    const last = out.at(-1);
    if (!last)
      throw new TraceError(
        `trace: layer ${i} (${m.constructor.name}) comes before any Linear layer; a trace explains Linear ` +
          'layers each followed by at most one activation',
      );
    if (last.module !== null)
      throw new TraceError(
        `trace: layers ${i - 1} and ${i} are two activations in a row; a trace explains Linear layers each ` +
          'followed by at most one activation',
      );
    last.activation = act.name;
    last.module = m;
    last.param = act.param;
  });
  if (out.length === 0) throw new TraceError('trace: the model has no Linear layer, so nothing to train');
  return out;
}

/** Whether layers and loss are the seed notebook's: 2‑2‑1, sigmoid after both layers, ½·Σ(o − y)². */
export function isSeedShaped(layers: readonly Dense[], loss: TraceLoss): boolean {
  return (
    loss === 'mseHalfSum' &&
    layers.length === 2 &&
    layers[0].source.inFeatures === 2 &&
    layers[0].source.outFeatures === 2 &&
    layers[1].source.outFeatures === 1 &&
    layers.every((d) => d.activation === 'sigmoid' && d.source.bias !== null)
  );
}

/** The private copy a trace runs on: one Linear per dense layer, parameters as fresh leaves. */
export interface Net {
  layers: Dense[];
  linears: Linear[];
  dtype: DType;
}

/** Copy the layers' parameters into new Linear modules of `dtype`. */
export function copyNet(layers: Dense[], dtype: DType): Net {
  // Zeros draw nothing; a stream of its own keeps the default stream untouched all the same.
  const rng = new RandomState(0);
  const linears = layers.map((d) => {
    const src = d.source;
    const l = new Linear(src.inFeatures, src.outFeatures, {
      bias: src.bias !== null,
      dtype,
      init: 'zeros',
      rng,
    });
    l.weight.data.set(src.weight.data);
    if (l.bias && src.bias) l.bias.data.set(src.bias.data);
    return l;
  });
  return { layers, linears, dtype };
}

/** The target of a step: values shaped like the output, or one class index per row (cross-entropy). */
export type Target = { kind: 'values'; y: Tensor } | { kind: 'labels'; labels: Int32Array };

/** Inputs as a [rows, in] tensor of `dtype` (a single row may be given flat). */
export function inputTensor(x: Tensor | NestedArray, inFeatures: number, dtype: DType): Tensor {
  let t: Tensor;
  try {
    t = tensor(x instanceof Tensor ? x : (x as NestedArray[]), { dtype });
  } catch (e) {
    throw new TraceError(`trace: x: ${(e as Error).message}`);
  }
  if (t.ndim === 1) t = t.reshape(1, t.size);
  if (t.ndim !== 2 || t.shape[1] !== inFeatures || t.shape[0] < 1)
    throw new TraceError(`trace: x has shape ${fmt(t.shape)}; expected [rows, ${inFeatures}]`);
  return t;
}

/**
 * The target for `loss`: cross-entropy takes one class index per row (a flat list) or a probability
 * row per row ([rows, classes]); the other losses take values of the output's shape.
 */
export function targetOf(
  y: Tensor | NestedArray | ArrayLike<number>,
  loss: TraceLoss,
  rows: number,
  outputs: number,
  dtype: DType,
): Target {
  const flat = !(y instanceof Tensor) && !Array.isArray(y) && typeof y === 'object';
  if (loss === 'crossEntropy') {
    const isLabels =
      flat || (y instanceof Tensor ? y.ndim <= 1 : Array.isArray(y) && !y.some((v) => Array.isArray(v)));
    if (isLabels) {
      const values = y instanceof Tensor ? y.data : typeof y === 'number' ? [y] : (y as ArrayLike<number>);
      if (values.length !== rows)
        throw new TraceError(`trace: ${values.length} class labels for ${rows} rows of x`);
      const labels = new Int32Array(rows);
      for (let r = 0; r < rows; r++) {
        const v = values[r];
        if (!Number.isInteger(v) || v < 0 || v >= outputs)
          throw new TraceError(
            `trace: class label ${v} of row ${r} is not an integer in [0, ${outputs}) (the model has ${outputs} outputs)`,
          );
        labels[r] = v;
      }
      return { kind: 'labels', labels };
    }
  }
  let t: Tensor;
  try {
    t = tensor(flat ? Array.from(y as ArrayLike<number>) : (y as Tensor | NestedArray[]), { dtype });
  } catch (e) {
    throw new TraceError(`trace: y: ${(e as Error).message}`);
  }
  if (t.size !== rows * outputs)
    throw new TraceError(
      `trace: y has shape ${fmt(t.shape)}; expected [${rows}, ${outputs}] (one value per output of each row)`,
    );
  return { kind: 'values', y: t.reshape(rows, outputs) };
}

/** One forward pass and its loss, with every layer's pre-activation z and activation a. */
export interface Pass {
  zs: Tensor[];
  as: Tensor[];
  out: Tensor;
  loss: Tensor;
}

/**
 * The loss of `out` against `target`, through the library's own loss functions in their composed form,
 * so the step's graph shows every op of the loss too.
 */
export function lossValue(name: TraceLoss, out: Tensor, target: Target): Tensor {
  if (target.kind === 'labels') return losses.composed.crossEntropy(out, target.labels);
  if (name === 'mse' || name === 'mseHalfSum') return losses.composed[name](out, target.y);
  return losses.byName[name](out, target.y);
}

/** Run the copy forward; with `names`, label every tensor and keep the gradients of z and a. */
export function forward(net: Net, x: Tensor, target: Target, loss: TraceLoss, names?: Names): Pass {
  const zs: Tensor[] = [];
  const as: Tensor[] = [];
  let a = x;
  net.layers.forEach((d, l) => {
    const z = net.linears[l].forward(a);
    a = d.module && d.activation !== 'identity' ? d.module.forward(z) : z;
    if (names) {
      z.name = names.zTensor[l];
      a.name = names.aTensor[l];
      z.retainGrad();
      a.retainGrad();
    }
    zs.push(z);
    as.push(a);
  });
  const out = as[as.length - 1];
  const value = lossValue(loss, out, target);
  if (names) value.name = 'loss';
  return { zs, as, out, loss: value };
}

/** Every name a view shows, per layer l (0-based here) and unit. */
export interface Names {
  notation: Notation;
  input: string[];
  target: string[];
  /** Pre-activations and activations per layer and unit. */
  z: string[][];
  a: string[][];
  weight: (l: number, i: number, j: number) => string;
  bias: (l: number, j: number) => string;
  /** What each parameter is, in words ('weight from x1 to h1'). */
  weightRole: (l: number, i: number, j: number) => string;
  biasRole: (l: number, j: number) => string;
  /** Whole-tensor labels for graph views. */
  weightTensor: string[];
  biasTensor: string[];
  zTensor: string[];
  aTensor: string[];
  inputTensor: string;
  targetTensor: string;
}

const list = (names: string[]): string => `[${names.join(', ')}]`;

/** The seed notebook's names, and its variable names for whole tensors. */
function seedNames(): Names {
  const weight = (l: number, i: number, j: number) => (l === 0 ? `w${1 + i + 2 * j}` : `w${5 + i}`);
  const bias = (l: number, j: number) => `b${l === 0 ? 1 + j : 3}`;
  const input = ['x1', 'x2'];
  const a = [['h1', 'h2'], ['output']];
  return {
    notation: 'seed',
    input,
    target: ['y'],
    z: [['z_h1', 'z_h2'], ['z_output']],
    a,
    weight,
    bias,
    weightRole: (l, i, j) => `weight from ${l === 0 ? input[i] : a[0][i]} to ${a[l][j]}`,
    biasRole: (l, j) => `bias for ${a[l][j]}`,
    weightTensor: ['weights_input_hidden = [[w1, w3], [w2, w4]]', 'weights_hidden_output = [[w5], [w6]]'],
    biasTensor: ['bias_hidden = [b1, b2]', 'bias_output = [b3]'],
    zTensor: ['hidden_input = [z_h1, z_h2]', 'output_input = [z_output]'],
    aTensor: ['hidden_output = [h1, h2]', 'predicted_output = [output]'],
    inputTensor: 'X = [x1, x2]',
    targetTensor: 'y',
  };
}

/** Systematic names: L1.W[i][j], L1.b[j], x_i, z1_j, h1_j, out_j (layers from 1, units from 0). */
function systematicNames(layers: readonly Dense[]): Names {
  const L = layers.length;
  const units = (n: number, f: (j: number) => string) => Array.from({ length: n }, (_, j) => f(j));
  const input = units(layers[0].source.inFeatures, (i) => `x_${i}`);
  const outputs = layers[L - 1].source.outFeatures;
  const z = layers.map((d, l) => units(d.source.outFeatures, (j) => `z${l + 1}_${j}`));
  const a = layers.map((d, l) =>
    units(d.source.outFeatures, (j) => (l === L - 1 ? `out_${j}` : `h${l + 1}_${j}`)),
  );
  const inputsOf = (l: number) => (l === 0 ? input : a[l - 1]);
  const short = (names: string[]) => (names.length <= 4 ? list(names) : '');
  return {
    notation: 'systematic',
    input,
    target: units(outputs, (j) => `y_${j}`),
    z,
    a,
    weight: (l, i, j) => `L${l + 1}.W[${i}][${j}]`,
    bias: (l, j) => `L${l + 1}.b[${j}]`,
    weightRole: (l, i, j) => `weight from ${inputsOf(l)[i]} to ${a[l][j]}`,
    biasRole: (l, j) => `bias of ${a[l][j]}`,
    weightTensor: layers.map((_, l) => `L${l + 1}.W`),
    biasTensor: layers.map((_, l) => `L${l + 1}.b`),
    zTensor: z.map((n, l) => `z${l + 1} ${short(n)}`.trim()),
    aTensor: a.map((n, l) => `${l === L - 1 ? 'out' : `h${l + 1}`} ${short(n)}`.trim()),
    inputTensor: `x ${short(input)}`.trim(),
    targetTensor: 'y',
  };
}

/** The names for `notation` ('auto': the seed's when the network and loss are the seed's). */
export function namesFor(layers: readonly Dense[], loss: TraceLoss, notation: Notation | 'auto'): Names {
  const seed = isSeedShaped(layers, loss);
  if (notation === 'seed' && !seed)
    throw new TraceError(
      "trace: the notebook's names (w1…w6, h1, output) fit only its 2-2-1 network with sigmoid after both " +
        "layers and the loss 'mseHalfSum'; use notation 'systematic' (or 'auto') for this model",
    );
  return notation === 'seed' || (notation === 'auto' && seed) ? seedNames() : systematicNames(layers);
}

/** The rows of a [rows, cols] tensor as plain arrays. */
export function rowsOf(t: Tensor | null, rows: number, cols: number): number[][] {
  return Array.from({ length: rows }, (_, r) =>
    Array.from({ length: cols }, (_, j) => (t ? t.data[r * cols + j] : 0)),
  );
}

/**
 * Whether `trace` can explain `model` unit by unit: an `nn.Sequential` of Linear layers each followed by
 * at most one elementwise activation. Other models (convolution, normalization, sequence layers, Softmax,
 * Dropout) are explained layer by layer with `traceModel`.
 */
export function isDenseNetwork(model: unknown): boolean {
  try {
    denseLayers(model);
    return true;
  } catch (e) {
    if (e instanceof TraceError) return false;
    throw e;
  }
}
