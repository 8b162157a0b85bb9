/**
 * Model specs: a `Sequential` described as plain JSON (layer types and sizes, no weights), so a model file
 * or a command line can say which network to build. `toSpec` describes a model, `fromSpec` builds one and
 * checks every field first, because specs arrive from files and flags. Validation follows each sample's
 * shape from layer to layer where it is known (from an `unflatten` layer or a Linear on), so a kernel that
 * cannot fit the image or a Linear that does not take what a Flatten gives fails before any training.
 */
import { RandomState } from '../random.js';
import { type DType } from '../tensor.js';
import { INITS, type Init } from './init.js';
import {
  ACTIVATION_OPS,
  activationInfo,
  defaultParam,
  type ActivationOp,
  type ActivationParams,
} from '../kernels/unary.js';
import { pair2d, type Size2d } from '../ops.js';
import { fmt, sizeOf } from '../shape.js';
import {
  AdaptiveAvgPool2d,
  AvgPool2d,
  Conv1d,
  Conv2d,
  Flatten,
  MaxPool1d,
  MaxPool2d,
  Unflatten,
} from './conv.js';
import { Activation, ACTIVATION_MODULES, Dropout, Identity, Linear, Sequential, Softmax } from './layers.js';
import type { Module } from './module.js';
import { BatchNorm, BatchNorm1d, BatchNorm2d, LayerNorm } from './norm.js';
import { Embedding, GRU, LastStep, LSTM, RecurrentBase, RNN } from './recurrent.js';
import { GPT } from './transformer.js';

/**
 * An elementwise activation layer as JSON: its op from the unary op table and, for the ones that take one,
 * its parameter under the table's name (`{ type: 'leakyRelu', slope: 0.01 }`, `{ type: 'elu', alpha: 1 }`).
 */
export type ElementwiseSpec = {
  [K in ActivationOp]: { type: K } & (ActivationParams[K] extends string
    ? { [P in ActivationParams[K]]: number }
    : unknown);
}[ActivationOp];

/**
 * One layer of a `Sequential`, as JSON. Each variant maps to exactly one layer class, with that class's
 * arguments under short names (every field is required; `toSpec` writes them all). Window sizes, strides,
 * paddings and dilations are one number for both axes or [height, width].
 */
export type LayerSpec =
  | { type: 'linear'; in: number; out: number; bias: boolean }
  | ElementwiseSpec
  | { type: 'identity' }
  | { type: 'softmax'; axis: number }
  | { type: 'dropout'; p: number }
  /** `Conv2d(in, out, kernel, {stride, padding, dilation, groups, bias})`. */
  | {
      type: 'conv2d';
      in: number;
      out: number;
      kernel: Size2d;
      stride: Size2d;
      padding: Size2d | 'same' | 'valid';
      dilation: Size2d;
      groups: number;
      bias: boolean;
    }
  /** `Conv1d(in, out, kernel, {stride, padding, dilation, groups, bias})`. */
  | {
      type: 'conv1d';
      in: number;
      out: number;
      kernel: number;
      stride: number;
      padding: number | 'same' | 'valid';
      dilation: number;
      groups: number;
      bias: boolean;
    }
  /** `MaxPool2d(kernel, {stride, padding, dilation, ceilMode})`. */
  | {
      type: 'maxPool2d';
      kernel: Size2d;
      stride: Size2d;
      padding: Size2d;
      dilation: Size2d;
      ceilMode: boolean;
    }
  /** `MaxPool1d(kernel, {stride, padding, dilation, ceilMode})`. */
  | {
      type: 'maxPool1d';
      kernel: number;
      stride: number;
      padding: number;
      dilation: number;
      ceilMode: boolean;
    }
  /** `AvgPool2d(kernel, {stride, padding, ceilMode, countIncludePad})`. */
  | {
      type: 'avgPool2d';
      kernel: Size2d;
      stride: Size2d;
      padding: Size2d;
      ceilMode: boolean;
      countIncludePad: boolean;
    }
  /** `AdaptiveAvgPool2d(1)`: the global average (the only size for now). */
  | { type: 'adaptiveAvgPool2d'; size: 1 }
  /** `Flatten()`: [N, …] → [N, features]. */
  | { type: 'flatten' }
  /** `Unflatten(1, shape)`: flat rows [N, F] → [N, …shape], e.g. [1, 28, 28] images from a dataset's rows. */
  | { type: 'unflatten'; shape: number[] }
  /** `BatchNorm1d(features, {eps, momentum, affine, trackRunningStats})`. */
  | {
      type: 'batchNorm1d';
      features: number;
      eps: number;
      momentum: number | null;
      affine: boolean;
      trackRunningStats: boolean;
    }
  /** `BatchNorm2d(features, {eps, momentum, affine, trackRunningStats})`. */
  | {
      type: 'batchNorm2d';
      features: number;
      eps: number;
      momentum: number | null;
      affine: boolean;
      trackRunningStats: boolean;
    }
  /** `LayerNorm(shape, {eps, elementwiseAffine})`. */
  | { type: 'layerNorm'; shape: number[]; eps: number; elementwiseAffine: boolean }
  | SequenceLayerSpec;

/** A whole model as JSON: for now always a `Sequential`; the `type` leaves room for other containers. */
export interface ModelSpec {
  type: 'sequential';
  layers: LayerSpec[];
}

/** The layer types of a spec. */
export type LayerType = LayerSpec['type'];

/** The layer specs that are activations (elementwise or softmax): what `mlpSpec` puts between layers. */
export type ActivationSpec = Extract<LayerSpec, { type: ActivationOp | 'identity' | 'softmax' }>;

/** An activation by name, as a command-line flag gives it. */
export type ActivationName = ActivationSpec['type'];

/** The spec of an activation op with the given parameter (ignored by an op without one). */
export function elementwiseSpec(op: ActivationOp, param: number): ElementwiseSpec {
  const p = activationInfo(op).param;
  return (p ? { type: op, [p.name]: param } : { type: op }) as ElementwiseSpec;
}

/** The op and parameter of an elementwise activation spec, or null for any other layer. */
export function elementwiseOf(spec: LayerSpec): { op: ActivationOp; param: number } | null {
  if (!isActivationOp(spec.type)) return null;
  const p = activationInfo(spec.type).param;
  return { op: spec.type, param: p ? (spec as unknown as Record<string, number>)[p.name] : 0 };
}

/**
 * The op and parameter of an elementwise activation module, or null for any other module. Exact classes
 * only (as `describeLayer`): a subclass may change `forward`. What the fused step, the trace and ONNX
 * export read a model's activations through.
 */
export function activationOfModule(m: Module): { op: ActivationOp; param: number } | null {
  return m instanceof Activation && m.constructor === ACTIVATION_MODULES[m.op]
    ? { op: m.op, param: m.param }
    : null;
}

function isActivationOp(type: string): type is ActivationOp {
  return (ACTIVATION_OPS as readonly string[]).includes(type);
}

/**
 * Each activation name with the spec it stands for: parameters get PyTorch's defaults (leaky slope 0.01,
 * ELU alpha 1, softmax over the last axis). The one table that maps names to activations, so the CLI and
 * `mlpSpec` cannot disagree; the elementwise ones come from the unary op table.
 */
export const ACTIVATIONS = {
  ...Object.fromEntries(ACTIVATION_OPS.map((op) => [op, elementwiseSpec(op, defaultParam(op))])),
  identity: { type: 'identity' },
  softmax: { type: 'softmax', axis: -1 },
  // Built from the op table, so the compiler cannot see that every name has its spec: it has.
} as unknown as { readonly [N in ActivationName]: ActivationSpec & { type: N } };

/** Every activation name, for validating user input and listing choices. */
export const ACTIVATION_NAMES = Object.keys(ACTIVATIONS) as readonly ActivationName[];

/** A field's check: null when the value is fine, else what was expected (for the message). */
type FieldCheck = (v: unknown) => string | null;
const positiveInt: FieldCheck = (v) =>
  typeof v === 'number' && Number.isInteger(v) && v >= 1 ? null : 'a positive integer';
const finite: FieldCheck = (v) => (typeof v === 'number' && Number.isFinite(v) ? null : 'a finite number');
const boolean: FieldCheck = (v) => (typeof v === 'boolean' ? null : 'true or false');
const integer: FieldCheck = (v) => (typeof v === 'number' && Number.isInteger(v) ? null : 'an integer');
// p = 1 is allowed, as PyTorch's Dropout (and ours) allows it.
const probability: FieldCheck = (v) =>
  typeof v === 'number' && v >= 0 && v <= 1 ? null : 'a number in [0, 1]';
const isInt = (v: unknown, min: number): boolean => typeof v === 'number' && Number.isInteger(v) && v >= min;
const isPair = (v: unknown, min: number): boolean =>
  isInt(v, min) || (Array.isArray(v) && v.length === 2 && v.every((d) => isInt(d, min)));
const nonNegativeInt: FieldCheck = (v) => (isInt(v, 0) ? null : 'an integer ≥ 0');
const size2d: FieldCheck = (v) => (isPair(v, 1) ? null : 'a positive integer or [height, width] of them');
const padding2d: FieldCheck = (v) => (isPair(v, 0) ? null : 'an integer ≥ 0 or [height, width] of them');
const convPadding2d: FieldCheck = (v) =>
  v === 'same' || v === 'valid' || isPair(v, 0)
    ? null
    : `an integer ≥ 0, [height, width] of them, "same" or "valid"`;
const convPadding1d: FieldCheck = (v) =>
  v === 'same' || v === 'valid' || isInt(v, 0) ? null : 'an integer ≥ 0, "same" or "valid"';
const nonNegative: FieldCheck = (v) =>
  typeof v === 'number' && v >= 0 && Number.isFinite(v) ? null : 'a number ≥ 0';
const momentum: FieldCheck = (v) =>
  v === null || (typeof v === 'number' && v >= 0 && v <= 1) ? null : 'a number in [0, 1] or null';
const shapeList: FieldCheck = (v) =>
  Array.isArray(v) && v.length > 0 && v.every((d) => isInt(d, 1))
    ? null
    : 'a non-empty array of positive integers';
const one: FieldCheck = (v) => (v === 1 ? null : '1 (only the global average is supported)');
const batchNormFields = {
  features: positiveInt,
  eps: nonNegative,
  momentum,
  affine: boolean,
  trackRunningStats: boolean,
};

// ---- Sequence layers (embedding, recurrent layers, last step): their spec types, fields, shapes, modules.

/**
 * The sequence layers as JSON. A recurrent layer in a spec is always batch-first ([N, T, features], as a
 * Sequential's samples come first) and gives every step's output; `lastStep` keeps the last step.
 */
export type SequenceLayerSpec =
  /** `Embedding(num, dim)`: ids [N, T] → [N, T, dim]. */
  | { type: 'embedding'; num: number; dim: number }
  /** `LSTM(in, hidden, {numLayers: layers, bias, bidirectional, dropout, batchFirst: true})`. */
  | ({ type: 'lstm' } & RecurrentSpecFields)
  /** `GRU(in, hidden, {…})`, as LSTM. */
  | ({ type: 'gru' } & RecurrentSpecFields)
  /** `RNN(in, hidden, {…, nonlinearity})`. */
  | ({ type: 'rnn'; nonlinearity: 'tanh' | 'relu' } & RecurrentSpecFields)
  /** `LastStep()`: [N, T, F] → [N, F], PyTorch's `x[:, -1]`. */
  | { type: 'lastStep' }
  /**
   * `GPT({vocabSize: vocab, contextLength: context, embedDim: width, numHeads: heads, numLayers: blocks,
   * dropout})`: ids [N, T] (T ≤ context) → logits [N, T, vocab]; pre-norm causal blocks with a 4·width MLP.
   */
  | {
      type: 'gpt';
      vocab: number;
      context: number;
      width: number;
      heads: number;
      blocks: number;
      dropout: number;
    };

/** The fields every recurrent layer's spec has. */
export interface RecurrentSpecFields {
  in: number;
  hidden: number;
  layers: number;
  bias: boolean;
  bidirectional: boolean;
  dropout: number;
}

const recurrentFields = {
  in: positiveInt,
  hidden: positiveInt,
  layers: positiveInt,
  bias: boolean,
  bidirectional: boolean,
  dropout: probability,
};
const SEQUENCE_FIELDS: { readonly [T in SequenceLayerSpec['type']]: Readonly<Record<string, FieldCheck>> } = {
  embedding: { num: positiveInt, dim: positiveInt },
  lstm: recurrentFields,
  gru: recurrentFields,
  rnn: {
    ...recurrentFields,
    nonlinearity: (v) => (v === 'tanh' || v === 'relu' ? null : '"tanh" or "relu"'),
  },
  lastStep: {},
  gpt: {
    vocab: positiveInt,
    context: positiveInt,
    width: positiveInt,
    heads: positiveInt,
    blocks: positiveInt,
    dropout: probability,
  },
};

/**
 * A sample's shape after a sequence layer, given the shape before (null: unknown); throws naming the layer
 * when it does not take that shape. An embedding starts a known shape: [T] ids → [T, dim], T unknown (−1).
 */
function sequenceShape(
  l: SequenceLayerSpec,
  shape: number[] | null,
  fail: (message: string) => never,
  given: () => string,
  lp: string,
): number[] | null {
  switch (l.type) {
    case 'embedding':
      if (shape !== null && shape.length !== 1) fail(`takes [T] ids per sample, but ${given()}`);
      return [shape ? shape[0] : -1, l.dim];
    case 'lstm':
    case 'gru':
    case 'rnn': {
      if (shape === null) return [-1, (l.bidirectional ? 2 : 1) * l.hidden];
      if (shape.length !== 2) fail(`takes [T, features] per sample, but ${given()}`);
      if (shape[1] !== -1 && shape[1] !== l.in)
        throw new Error(`${lp}.in: expected ${shape[1]} (the features ${given()}), got ${l.in}`);
      return [shape[0], (l.bidirectional ? 2 : 1) * l.hidden];
    }
    case 'lastStep':
      if (shape === null) return null;
      if (shape.length !== 2) fail(`takes [T, features] per sample, but ${given()}`);
      return [shape[1]];
    case 'gpt': {
      if (l.width % l.heads !== 0)
        throw new Error(`${lp}.heads: expected a divisor of width ${l.width}, got ${l.heads}`);
      if (shape !== null && shape.length !== 1) fail(`takes [T] ids per sample, but ${given()}`);
      const T = shape ? shape[0] : -1;
      if (T > l.context) fail(`takes at most ${l.context} ids (its context), but ${given()}`);
      return [T, l.vocab];
    }
    default:
      return l satisfies never;
  }
}

function buildSequenceLayer(l: SequenceLayerSpec, options: FromSpecOptions): Module {
  const dtype = options.dtype ?? 'float32';
  // These layers draw their own initial values (PyTorch's schemes, not `init`'s). A model being loaded
  // (init 'zeros') must move no caller's stream: they draw from a scratch one, which a stacked recurrent
  // layer's dropout between layers then uses too.
  const rng =
    options.init === 'zeros' ? { rng: new RandomState(0) } : options.rng ? { rng: options.rng } : {};
  switch (l.type) {
    case 'embedding':
      return new Embedding(l.num, l.dim, { dtype, ...rng });
    case 'lstm':
    case 'gru':
    case 'rnn': {
      const o = {
        numLayers: l.layers,
        bias: l.bias,
        bidirectional: l.bidirectional,
        dropout: l.dropout,
        batchFirst: true,
        dtype,
        ...rng,
      };
      if (l.type === 'rnn') return new RNN(l.in, l.hidden, { ...o, nonlinearity: l.nonlinearity });
      return l.type === 'lstm' ? new LSTM(l.in, l.hidden, o) : new GRU(l.in, l.hidden, o);
    }
    case 'lastStep':
      return new LastStep();
    case 'gpt': {
      // A GPT being loaded with dropout must draw its masks from the caller's stream (a checkpoint's, set
      // after loading), and its dropout layers take the stream its initial values come from: it draws its
      // discarded initial values from that stream too. Without dropout it draws from the scratch one.
      const own = options.init === 'zeros' && l.dropout > 0 && options.rng ? { rng: options.rng } : rng;
      return new GPT({
        vocabSize: l.vocab,
        contextLength: l.context,
        embedDim: l.width,
        numHeads: l.heads,
        numLayers: l.blocks,
        dropout: l.dropout,
        dtype,
        ...own,
      });
    }
    default:
      return l satisfies never;
  }
}

/** The spec of a sequence module, or null (a recurrent layer that is not batch-first has none). */
function describeSequenceLayer(m: Module): SequenceLayerSpec | null {
  switch (m.constructor) {
    case Embedding: {
      const e = m as Embedding;
      if (e.paddingIdx !== null) return null;
      checkWeight(e.weight, [e.numEmbeddings, e.embeddingDim], 'Embedding');
      return { type: 'embedding', num: e.numEmbeddings, dim: e.embeddingDim };
    }
    case LSTM:
    case GRU:
    case RNN: {
      const r = m as RecurrentBase;
      if (!r.batchFirst) return null;
      const common = {
        in: r.inputSize,
        hidden: r.hiddenSize,
        layers: r.numLayers,
        bias: r.bias,
        bidirectional: r.bidirectional,
        dropout: r.dropout,
      };
      if (m instanceof RNN) return { type: 'rnn', ...common, nonlinearity: m.nonlinearity };
      return { type: m instanceof LSTM ? 'lstm' : 'gru', ...common };
    }
    case LastStep:
      return { type: 'lastStep' };
    case GPT: {
      const g = m as GPT;
      const b = g.blocks[0];
      // Only what the spec builds: the 4·width MLP, causal blocks, PyTorch's LayerNorm eps, one dropout.
      const plain = g.blocks.every(
        (k) =>
          k.causal &&
          k.numHeads === b.numHeads &&
          k.fc.outFeatures === 4 * g.embedDim &&
          k.ln1.eps === 1e-5 &&
          k.ln2.eps === 1e-5 &&
          k.attn.dropout === g.drop.p &&
          k.attnDrop.p === g.drop.p &&
          k.mlpDrop.p === g.drop.p,
      );
      if (!b || !plain || g.lnf.eps !== 1e-5) return null;
      checkWeight(g.tok.weight, [g.vocabSize, g.embedDim], 'GPT');
      return {
        type: 'gpt',
        vocab: g.vocabSize,
        context: g.contextLength,
        width: g.embedDim,
        heads: b.numHeads,
        blocks: g.blocks.length,
        dropout: g.drop.p,
      };
    }
    default:
      return null;
  }
}

/** Sizes of {@link recurrentLanguageModelSpec}. */
export interface LanguageModelSpecOptions {
  /** Width of the character embedding (default 32). */
  embed?: number;
  /** Hidden size of the recurrent layer (default 128). */
  hidden?: number;
  /** Stacked recurrent layers (default 1). */
  layers?: number;
  /** Which recurrent layer (default 'lstm'). */
  cell?: 'lstm' | 'gru' | 'rnn';
}

/**
 * A character-level language model: Embedding(vocab, embed) → LSTM (or GRU, RNN) → Linear(hidden, vocab),
 * giving next-character logits at every position: ids [N, T] → [N, T, vocab].
 */
export function recurrentLanguageModelSpec(vocab: number, options: LanguageModelSpecOptions = {}): ModelSpec {
  const { embed = 32, hidden = 128, layers = 1, cell = 'lstm' } = options;
  const common = { in: embed, hidden, layers, bias: true, bidirectional: false, dropout: 0 };
  const rec: SequenceLayerSpec =
    cell === 'rnn' ? { type: 'rnn', ...common, nonlinearity: 'tanh' } : { type: cell, ...common };
  return validateSpec({
    type: 'sequential',
    layers: [
      { type: 'embedding', num: vocab, dim: embed },
      rec,
      { type: 'linear', in: hidden, out: vocab, bias: true },
    ],
  });
}

/**
 * A forecaster over windows of one series: LSTM (or GRU, RNN) → last step → Linear(hidden, 1): [N, T, 1] →
 * [N, 1] (brain.js's LSTMTimeStep, PyTorch's usual `lstm(x)[0][:, -1]` + head).
 */
export function recurrentForecasterSpec(
  options: Omit<LanguageModelSpecOptions, 'embed'> & { inputs?: number } = {},
): ModelSpec {
  const { hidden = 64, layers = 1, cell = 'lstm', inputs = 1 } = options;
  const common = { in: inputs, hidden, layers, bias: true, bidirectional: false, dropout: 0 };
  const rec: SequenceLayerSpec =
    cell === 'rnn' ? { type: 'rnn', ...common, nonlinearity: 'tanh' } : { type: cell, ...common };
  return validateSpec({
    type: 'sequential',
    layers: [rec, { type: 'lastStep' }, { type: 'linear', in: hidden, out: 1, bias: true }],
  });
}

/** Sizes of {@link gptLanguageModelSpec}. */
export interface GPTSpecOptions {
  /** Longest window the model reads (rows of the position embedding). */
  context: number;
  /** Width of the residual stream (default 128). */
  width?: number;
  /** Attention heads per block, dividing width (default 4). */
  heads?: number;
  /** Transformer blocks (default 4). */
  blocks?: number;
  /** Dropout in training mode (default 0). */
  dropout?: number;
}

/**
 * A character-level GPT as a one-layer Sequential: ids [N, T] → next-character logits [N, T, vocab]. Its
 * state keys are the GPT's own under the Sequential's index: `0.tok.weight`, `0.blocks.0.attn.in_proj_weight`, ….
 */
export function gptLanguageModelSpec(vocab: number, options: GPTSpecOptions): ModelSpec {
  const { context, width = 128, heads = 4, blocks = 4, dropout = 0 } = options;
  return validateSpec({
    type: 'sequential',
    layers: [{ type: 'gpt', vocab, context, width, heads, blocks, dropout }],
  });
}

// ---- End of the sequence layers' block.

/** The fields of each layer type besides `type`, the activations' aside (their table names theirs). */
const FIELDS: { readonly [T in Exclude<LayerType, ActivationOp>]: Readonly<Record<string, FieldCheck>> } = {
  linear: { in: positiveInt, out: positiveInt, bias: boolean },
  identity: {},
  softmax: { axis: integer },
  dropout: { p: probability },
  conv2d: {
    in: positiveInt,
    out: positiveInt,
    kernel: size2d,
    stride: size2d,
    padding: convPadding2d,
    dilation: size2d,
    groups: positiveInt,
    bias: boolean,
  },
  conv1d: {
    in: positiveInt,
    out: positiveInt,
    kernel: positiveInt,
    stride: positiveInt,
    padding: convPadding1d,
    dilation: positiveInt,
    groups: positiveInt,
    bias: boolean,
  },
  maxPool2d: { kernel: size2d, stride: size2d, padding: padding2d, dilation: size2d, ceilMode: boolean },
  maxPool1d: {
    kernel: positiveInt,
    stride: positiveInt,
    padding: nonNegativeInt,
    dilation: positiveInt,
    ceilMode: boolean,
  },
  avgPool2d: {
    kernel: size2d,
    stride: size2d,
    padding: padding2d,
    ceilMode: boolean,
    countIncludePad: boolean,
  },
  adaptiveAvgPool2d: { size: one },
  flatten: {},
  unflatten: { shape: shapeList },
  batchNorm1d: batchNormFields,
  batchNorm2d: batchNormFields,
  layerNorm: { shape: shapeList, eps: nonNegative, elementwiseAffine: boolean },
  ...SEQUENCE_FIELDS,
};

/** The fields a layer type has besides `type`. */
function fieldsOf(type: LayerType): Readonly<Record<string, FieldCheck>> {
  if (!isActivationOp(type)) return FIELDS[type];
  const p = activationInfo(type).param;
  return p ? { [p.name]: finite } : {};
}

/** Every layer type, in the order messages list them: linear, the activations, then the others. */
const LAYER_TYPES = [
  'linear',
  ...ACTIVATION_OPS,
  ...Object.keys(FIELDS).filter((t) => t !== 'linear'),
] as readonly LayerType[];

/** A value as an error message shows it: JSON where possible, short. */
function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  // JSON.stringify turns NaN and ±Infinity into null, which would hide what came.
  if (typeof v === 'number' && !Number.isFinite(v)) s = String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Check that `value` is a valid `ModelSpec` and return it typed. Errors name the field by its path
 * (`layers[2].out: expected a positive integer, got "x"`), prefixed with `path` when given (a model file
 * passes `'architecture'`). Each layer must take what the one before gives where that is known (see
 * {@link specShapes}): a Linear's `in`, a convolution's or batch norm's channels, a kernel that fits the
 * padded input; so a spec that validates also builds, and runs on inputs of the shape it declares.
 */
export function validateSpec(value: unknown, path = ''): ModelSpec {
  const at = (p: string) => (path ? `${path}.${p}` : p);
  const fail = (p: string, expected: string, got: unknown): never => {
    throw new Error(`${p}: expected ${expected}, got ${show(got)}`);
  };
  if (!isRecord(value)) fail(path || 'spec', 'an object', value);
  const spec = value as Record<string, unknown>;
  if (spec.type !== 'sequential') fail(at('type'), '"sequential"', spec.type);
  if (!Array.isArray(spec.layers)) fail(at('layers'), 'an array of layers', spec.layers);
  for (const key of Object.keys(spec))
    if (key !== 'type' && key !== 'layers') throw new Error(`${path || 'spec'}: unexpected field '${key}'`);
  const layers = (spec.layers as unknown[]).map((layer, i) => validateLayer(layer, at(`layers[${i}]`)));
  walkShapes(layers, (i) => at(`layers[${i}]`));
  return value as ModelSpec;
}

/**
 * A sample's shape (without the batch axis) after each layer of a valid spec, as far as the spec tells:
 * −1 for a size that depends on the input, null where not even the number of axes is known. Shapes become
 * known at an `unflatten` layer (a CNN on flat rows starts with one) or a Linear (its output is [out]), so
 * a model that takes [N, C, H, W] tensors directly has −1 for H and W. What `chainrule info` tabulates.
 */
export function specShapes(spec: ModelSpec): (number[] | null)[] {
  validateSpec(spec);
  return walkShapes(spec.layers, (i) => `layers[${i}]`);
}

/**
 * Follow a sample's shape through the layers, checking that each takes what the one before gives; throws
 * naming the layer (by `at`), the shapes and what was expected.
 */
function walkShapes(layers: readonly LayerSpec[], at: (i: number) => string): (number[] | null)[] {
  let shape: number[] | null = null;
  let from = -1;
  return layers.map((l, i) => {
    const lp = at(i);
    const source = () => `layers[${from}]`;
    const given = () => `${source()} gives ${fmt(shape as number[])}`;
    const fail = (message: string): never => {
      throw new Error(`${lp} (${l.type}): ${message}`);
    };
    // The input must have `rank` axes; returns it (with −1 for unknown sizes) or null when unknown.
    const takes = (rank: number, layout: string): number[] | null => {
      if (shape === null) return null;
      if (shape.length !== rank) fail(`takes ${layout} per sample, but ${given()}`);
      return shape;
    };
    const channels = (s: number[] | null, field: 'in' | 'features', want: number) => {
      if (s !== null && s[0] !== -1 && s[0] !== want)
        throw new Error(`${lp}.${field}: expected ${s[0]} (the channels ${given()}), got ${want}`);
    };
    const spatial = (
      s: number[] | null,
      k: readonly number[],
      stride: readonly number[],
      pad: readonly number[],
      dilation: readonly number[],
      ceil: boolean,
    ): number[] => {
      const sizes = s ? s.slice(1) : k.map(() => -1);
      return sizes.map((size, d) => {
        if (size === -1) return -1;
        const out = windowSize(size, k[d], pad[d], stride[d], dilation[d], ceil);
        if (out < 1) {
          const span = k.map((kk, j) => dilation[j] * (kk - 1) + 1);
          fail(
            `the kernel ${by(k)}${span.some((v, j) => v !== k[j]) ? ` (dilated to ${by(span)})` : ''} does not fit ` +
              `the input: ${given()}${pad.some((p) => p > 0) ? `, padded to ${by(sizes.map((v, j) => v + 2 * pad[j]))}` : ''}`,
          );
        }
        return out;
      });
    };
    const checkPoolPadding = (pad: readonly number[], k: readonly number[]) => {
      if (pad.some((p, d) => p > Math.floor(k[d] / 2)))
        throw new Error(`${lp}.padding: expected at most half the kernel ${by(k)}, got ${by(pad)}`);
    };
    const checkGroups = (c: { in: number; out: number; groups: number }) => {
      if (c.in % c.groups !== 0 || c.out % c.groups !== 0)
        throw new Error(`${lp}.groups: expected a divisor of in ${c.in} and out ${c.out}, got ${c.groups}`);
    };
    let out: number[] | null;
    switch (l.type) {
      case 'linear': {
        const last = shape === null ? -1 : shape[shape.length - 1];
        if (last !== -1 && last !== l.in)
          throw new Error(
            `${lp}.in: expected ${last} (the output size of ${source()}${shape!.length > 1 ? `, ${fmt(shape!)}` : ''}), got ${l.in}`,
          );
        out = shape === null ? [l.out] : [...shape.slice(0, -1), l.out];
        break;
      }
      case 'conv2d': {
        checkGroups(l);
        const k = pair2d(l.kernel, 1, 1, lp, 'kernel');
        const stride = pair2d(l.stride, 1, 1, lp, 'stride');
        const dilation = pair2d(l.dilation, 1, 1, lp, 'dilation');
        const s = takes(3, '[C, H, W]');
        channels(s, 'in', l.in);
        if (l.padding === 'same') {
          if (stride[0] !== 1 || stride[1] !== 1)
            throw new Error(`${lp}.padding: "same" needs stride 1 (as PyTorch), got stride ${by(stride)}`);
          out = [l.out, ...(s ? s.slice(1) : [-1, -1])];
        } else {
          const pad = l.padding === 'valid' ? [0, 0] : pair2d(l.padding, 0, 0, lp, 'padding');
          out = [l.out, ...spatial(s, k, stride, pad, dilation, false)];
        }
        break;
      }
      case 'conv1d': {
        checkGroups(l);
        const s = takes(2, '[C, L]');
        channels(s, 'in', l.in);
        if (l.padding === 'same') {
          if (l.stride !== 1)
            throw new Error(`${lp}.padding: "same" needs stride 1 (as PyTorch), got stride ${l.stride}`);
          out = [l.out, s ? s[1] : -1];
        } else {
          const pad = l.padding === 'valid' ? 0 : l.padding;
          out = [l.out, ...spatial(s, [l.kernel], [l.stride], [pad], [l.dilation], false)];
        }
        break;
      }
      case 'maxPool2d':
      case 'avgPool2d': {
        const k = pair2d(l.kernel, 1, 1, lp, 'kernel');
        const pad = pair2d(l.padding, 0, 0, lp, 'padding');
        checkPoolPadding(pad, k);
        const dilation = l.type === 'maxPool2d' ? pair2d(l.dilation, 1, 1, lp, 'dilation') : [1, 1];
        const s = takes(3, '[C, H, W]');
        out = [
          s ? s[0] : -1,
          ...spatial(s, k, pair2d(l.stride, 1, 1, lp, 'stride'), pad, dilation, l.ceilMode),
        ];
        break;
      }
      case 'maxPool1d': {
        checkPoolPadding([l.padding], [l.kernel]);
        const s = takes(2, '[C, L]');
        out = [s ? s[0] : -1, ...spatial(s, [l.kernel], [l.stride], [l.padding], [l.dilation], l.ceilMode)];
        break;
      }
      case 'adaptiveAvgPool2d': {
        const s = takes(3, '[C, H, W]');
        out = [s ? s[0] : -1, 1, 1];
        break;
      }
      case 'flatten':
        out = shape === null || shape.includes(-1) ? [-1] : [sizeOf(shape)];
        break;
      case 'unflatten': {
        const want = sizeOf(l.shape);
        if (shape !== null && shape[0] !== -1 && shape[0] !== want)
          throw new Error(
            `${lp}.shape: ${l.shape.join('·')} = ${want} elements, but ${given()} (${shape[0]} to unflatten)`,
          );
        out = [...l.shape, ...(shape === null ? [] : shape.slice(1))];
        break;
      }
      case 'batchNorm1d': {
        if (shape !== null && shape.length !== 1 && shape.length !== 2)
          fail(`takes [C] or [C, L] per sample, but ${given()}`);
        channels(shape, 'features', l.features);
        out = shape;
        break;
      }
      case 'batchNorm2d': {
        const s = takes(3, '[C, H, W]');
        channels(s, 'features', l.features);
        out = s ?? [l.features, -1, -1];
        break;
      }
      case 'layerNorm': {
        if (shape !== null) {
          const tail = shape.slice(Math.max(0, shape.length - l.shape.length));
          if (tail.length !== l.shape.length || tail.some((d, j) => d !== -1 && d !== l.shape[j]))
            throw new Error(`${lp}.shape: expected the last axes of what ${given()}, got ${fmt(l.shape)}`);
        }
        out = shape;
        break;
      }
      case 'embedding':
      case 'lstm':
      case 'gru':
      case 'rnn':
      case 'lastStep':
      case 'gpt':
        out = sequenceShape(l, shape, fail, given, lp);
        break;
      default:
        // Activations, identity, softmax and dropout keep the shape.
        out = shape;
    }
    if (out !== shape) from = i;
    shape = out;
    return out && [...out];
  });
}

/** `a×b`: window sizes as messages show them. */
const by = (hw: readonly number[]): string => hw.join('×');

/** A window's output size along one axis (PyTorch's formula, as the ops), or < 1 when it does not fit. */
function windowSize(
  size: number,
  k: number,
  pad: number,
  stride: number,
  dilation: number,
  ceil: boolean,
): number {
  const span = dilation * (k - 1) + 1;
  if (size + 2 * pad < span) return 0;
  let out = Math.floor((size + 2 * pad - span + (ceil ? stride - 1 : 0)) / stride) + 1;
  if (ceil && (out - 1) * stride >= size + pad) out--;
  return out;
}

/** Check one layer spec; `lp` is its path for messages. */
function validateLayer(layer: unknown, lp: string): LayerSpec {
  if (!isRecord(layer)) throw new Error(`${lp}: expected an object with a "type", got ${show(layer)}`);
  if (typeof layer.type !== 'string' || !(LAYER_TYPES as readonly string[]).includes(layer.type))
    throw new Error(`${lp}.type: expected one of ${LAYER_TYPES.join(', ')}, got ${show(layer.type)}`);
  const fields = fieldsOf(layer.type as LayerType);
  for (const [name, check] of Object.entries(fields)) {
    const expected = check(layer[name]);
    if (expected) throw new Error(`${lp}.${name}: expected ${expected}, got ${show(layer[name])}`);
  }
  for (const key of Object.keys(layer))
    if (key !== 'type' && !Object.hasOwn(fields, key))
      throw new Error(`${lp}: unexpected field '${key}' for a layer of type '${layer.type}'`);
  return layer as LayerSpec;
}

/** Options of `fromSpec`. */
export interface FromSpecOptions {
  /** Element type of the parameters (default float32). */
  dtype?: DType;
  /** Stream for the initial weights and for dropout masks (default: the library's default stream). */
  rng?: RandomState;
  /** Initialisation of the linear and convolution layers (default `'default'`, PyTorch's). */
  init?: Init;
}

/** Build the layer of one (already validated) spec: a switch the compiler checks for completeness. */
function buildLayer(l: LayerSpec, options: FromSpecOptions): Module {
  const rng = options.rng ? { rng: options.rng } : {};
  const act = elementwiseOf(l);
  if (act) return new ACTIVATION_MODULES[act.op](act.param);
  switch (l.type) {
    case 'linear':
      return new Linear(l.in, l.out, {
        bias: l.bias,
        dtype: options.dtype ?? 'float32',
        init: options.init,
        ...rng,
      });
    case 'identity':
      return new Identity();
    case 'softmax':
      return new Softmax(l.axis);
    case 'dropout':
      return new Dropout(l.p, rng);
    case 'conv2d':
    case 'conv1d': {
      const { in: inC, out, kernel, stride, padding, dilation, groups, bias } = l;
      const params = { bias, dtype: options.dtype ?? 'float32', init: options.init, ...rng };
      return l.type === 'conv2d'
        ? new Conv2d(inC, out, kernel, { stride, padding, dilation, groups, ...params })
        : new Conv1d(inC, out, l.kernel, {
            stride: l.stride,
            padding: l.padding,
            dilation: l.dilation,
            groups,
            ...params,
          });
    }
    case 'maxPool2d':
      return new MaxPool2d(l.kernel, {
        stride: l.stride,
        padding: l.padding,
        dilation: l.dilation,
        ceilMode: l.ceilMode,
      });
    case 'maxPool1d':
      return new MaxPool1d(l.kernel, {
        stride: l.stride,
        padding: l.padding,
        dilation: l.dilation,
        ceilMode: l.ceilMode,
      });
    case 'avgPool2d':
      return new AvgPool2d(l.kernel, {
        stride: l.stride,
        padding: l.padding,
        ceilMode: l.ceilMode,
        countIncludePad: l.countIncludePad,
      });
    case 'adaptiveAvgPool2d':
      return new AdaptiveAvgPool2d(l.size);
    case 'flatten':
      return new Flatten();
    case 'unflatten':
      return new Unflatten(1, l.shape);
    case 'batchNorm1d':
    case 'batchNorm2d': {
      const Norm = l.type === 'batchNorm1d' ? BatchNorm1d : BatchNorm2d;
      return new Norm(l.features, {
        eps: l.eps,
        momentum: l.momentum,
        affine: l.affine,
        trackRunningStats: l.trackRunningStats,
        dtype: options.dtype ?? 'float32',
      });
    }
    case 'layerNorm':
      return new LayerNorm(l.shape, {
        eps: l.eps,
        elementwiseAffine: l.elementwiseAffine,
        dtype: options.dtype ?? 'float32',
      });
    case 'embedding':
    case 'lstm':
    case 'gru':
    case 'rnn':
    case 'lastStep':
    case 'gpt':
      return buildSequenceLayer(l, options);
    default:
      throw new Error(`fromSpec: unknown layer ${show(l)}`);
  }
}

/**
 * Build the `Sequential` a spec describes, with freshly initialised weights (drawn from `rng`, layer by
 * layer, as the hand-written model would draw them). The spec is validated first, so a spec read from a
 * file fails with the path of the bad field rather than somewhere inside a layer.
 */
export function fromSpec(spec: ModelSpec, options: FromSpecOptions = {}): Sequential {
  validateSpec(spec);
  if (options.init !== undefined && !INITS.includes(options.init))
    throw new Error(`fromSpec: unknown init ${show(options.init)}; expected one of ${INITS.join(', ')}`);
  return new Sequential(...spec.layers.map((l) => buildLayer(l, options)));
}

/**
 * The spec of one module of a Sequential, or null for a module no spec can describe. Exact classes only: a
 * subclass may change `forward`, and describing it as its parent would be wrong. The fused step, the
 * trace and `toSpec` all read modules through this one table.
 */
export function describeLayer(m: Module): LayerSpec | null {
  if (m instanceof Activation) {
    const act = activationOfModule(m);
    return act ? elementwiseSpec(act.op, act.param) : null;
  }
  switch (m.constructor) {
    case Linear: {
      const l = m as Linear;
      // Someone may have replaced the weight tensor; the spec would then build a different shape.
      const ws = l.weight.shape;
      if (ws.length !== 2 || ws[0] !== l.inFeatures || ws[1] !== l.outFeatures)
        throw new Error(
          `Linear: weight has shape [${ws.join(', ')}], not [${l.inFeatures}, ${l.outFeatures}]`,
        );
      return { type: 'linear', in: l.inFeatures, out: l.outFeatures, bias: l.bias !== null };
    }
    case Identity:
      return { type: 'identity' };
    case Softmax:
      return { type: 'softmax', axis: (m as Softmax).axis };
    case Dropout:
      return { type: 'dropout', p: (m as Dropout).p };
    case Conv2d: {
      const c = m as Conv2d;
      checkWeight(c.weight, [c.outChannels, c.inChannels / c.groups, ...c.kernelSize], 'Conv2d');
      return {
        type: 'conv2d',
        in: c.inChannels,
        out: c.outChannels,
        kernel: compact(c.kernelSize),
        stride: compact(c.stride),
        padding: typeof c.padding === 'string' ? c.padding : compact(c.padding),
        dilation: compact(c.dilation),
        groups: c.groups,
        bias: c.bias !== null,
      };
    }
    case Conv1d: {
      const c = m as Conv1d;
      checkWeight(c.weight, [c.outChannels, c.inChannels / c.groups, c.kernelSize], 'Conv1d');
      return {
        type: 'conv1d',
        in: c.inChannels,
        out: c.outChannels,
        kernel: c.kernelSize,
        stride: c.stride,
        padding: c.padding,
        dilation: c.dilation,
        groups: c.groups,
        bias: c.bias !== null,
      };
    }
    case MaxPool2d: {
      const p = m as MaxPool2d;
      return {
        type: 'maxPool2d',
        kernel: compact(p.kernelSize),
        stride: compact(p.stride),
        padding: compact(p.padding),
        dilation: compact(p.dilation),
        ceilMode: p.ceilMode,
      };
    }
    case MaxPool1d: {
      const p = m as MaxPool1d;
      return {
        type: 'maxPool1d',
        kernel: p.kernelSize,
        stride: p.stride,
        padding: p.padding,
        dilation: p.dilation,
        ceilMode: p.ceilMode,
      };
    }
    case AvgPool2d: {
      const p = m as AvgPool2d;
      return {
        type: 'avgPool2d',
        kernel: compact(p.kernelSize),
        stride: compact(p.stride),
        padding: compact(p.padding),
        ceilMode: p.ceilMode,
        countIncludePad: p.countIncludePad,
      };
    }
    case AdaptiveAvgPool2d:
      return { type: 'adaptiveAvgPool2d', size: 1 };
    case Flatten: {
      const f = m as Flatten;
      // A spec's flatten is PyTorch's default, one row per sample; other axes have no spec.
      return f.startDim === 1 && f.endDim === -1 ? { type: 'flatten' } : null;
    }
    case Unflatten: {
      const u = m as Unflatten;
      return u.dim === 1 ? { type: 'unflatten', shape: [...u.sizes] } : null;
    }
    case BatchNorm1d:
    case BatchNorm2d: {
      const b = m as BatchNorm;
      return {
        type: m.constructor === BatchNorm1d ? 'batchNorm1d' : 'batchNorm2d',
        features: b.numFeatures,
        eps: b.eps,
        momentum: b.momentum,
        affine: b.affine,
        trackRunningStats: b.trackRunningStats,
      };
    }
    case LayerNorm: {
      const n = m as LayerNorm;
      return {
        type: 'layerNorm',
        shape: [...n.normalizedShape],
        eps: n.eps,
        elementwiseAffine: n.elementwiseAffine,
      };
    }
    default:
      return describeSequenceLayer(m);
  }
}

/** A pair as a spec writes it: one number when both axes agree. */
function compact(p: readonly [number, number]): Size2d {
  return p[0] === p[1] ? p[0] : [p[0], p[1]];
}

/** Someone may have replaced a weight tensor; the spec would then build a different shape. */
function checkWeight(w: { shape: readonly number[] }, want: readonly number[], layer: string): void {
  if (w.shape.length !== want.length || w.shape.some((d, i) => d !== want[i]))
    throw new Error(`${layer}: weight has shape ${fmt(w.shape)}, not ${fmt(want)}`);
}

/** The module classes a spec can describe, for messages. */
export const SPEC_MODULES = [
  'Linear',
  ...ACTIVATION_OPS.map((op) => activationInfo(op).module),
  'Softmax',
  'Identity',
  'Dropout',
  'Conv1d',
  'Conv2d',
  'MaxPool1d',
  'MaxPool2d',
  'AvgPool2d',
  'AdaptiveAvgPool2d(1)',
  'Flatten()',
  'Unflatten(1, …)',
  'BatchNorm1d',
  'BatchNorm2d',
  'LayerNorm',
  'Embedding',
  'LSTM/GRU/RNN (batchFirst)',
  'LastStep',
  'GPT',
].join(', ');

/** The spec of a Sequential; throws, naming the layer, for a module no spec can describe. */
export function toSpec(model: Sequential): ModelSpec {
  if (!(model instanceof Sequential))
    throw new Error(`toSpec: expected a Sequential, got ${describeValue(model)}`);
  const layers = model.layers.map((m, i): LayerSpec => {
    const where = `toSpec: layer ${i} (${m.constructor.name})`;
    let spec: LayerSpec | null;
    try {
      spec = describeLayer(m);
    } catch (e) {
      throw new Error(`${where}: ${(e as Error).message.replace(/^(Linear|Conv[12]d): /, '')}`, { cause: e });
    }
    if (!spec)
      throw new Error(`${where} cannot be described in a model spec; supported layers: ${SPEC_MODULES}`);
    return spec;
  });
  const spec: ModelSpec = { type: 'sequential', layers };
  // A hand-built model can chain mismatched Linear sizes; it would fail at its first forward anyway.
  try {
    validateSpec(spec);
  } catch (e) {
    throw new Error(`toSpec: the model is inconsistent: ${(e as Error).message}`, { cause: e });
  }
  return spec;
}

function describeValue(v: unknown): string {
  if (typeof v === 'object' && v !== null) return v.constructor?.name ?? 'an object';
  return show(v);
}

/** Options of `mlpSpec`. */
export interface MlpSpecOptions {
  /** Activation after the last linear layer (default none: raw outputs, e.g. logits). */
  outputActivation?: ActivationName | ActivationSpec | null;
  /** Give the linear layers a bias (default true). */
  bias?: boolean;
  /** Dropout probability after each hidden activation (default 0: no dropout layers). */
  dropout?: number;
}

/**
 * The spec of a multilayer perceptron: `sizes = [2, 4, 1]` gives Linear(2→4), activation, Linear(4→1)
 * and then the output activation, if any. `activation` is a name (with PyTorch's default parameters) or a
 * full activation spec such as `{ type: 'leakyRelu', slope: 0.2 }`.
 */
export function mlpSpec(
  sizes: readonly number[],
  activation: ActivationName | ActivationSpec,
  options: MlpSpecOptions = {},
): ModelSpec {
  if (!Array.isArray(sizes) || sizes.length < 2)
    throw new Error(`mlpSpec: sizes needs at least an input and an output size, got ${show(sizes)}`);
  sizes.forEach((s, i) => {
    if (positiveInt(s)) throw new Error(`mlpSpec: sizes[${i}]: expected a positive integer, got ${show(s)}`);
  });
  const act = activationSpec(activation, 'activation');
  const out =
    options.outputActivation == null ? null : activationSpec(options.outputActivation, 'outputActivation');
  const p = options.dropout ?? 0;
  if (probability(p)) throw new Error(`mlpSpec: dropout: expected a number in [0, 1], got ${show(p)}`);
  const bias = options.bias ?? true;
  const layers: LayerSpec[] = [];
  for (let i = 0; i + 1 < sizes.length; i++) {
    layers.push({ type: 'linear', in: sizes[i], out: sizes[i + 1], bias });
    const hidden = i + 2 < sizes.length;
    if (hidden) {
      layers.push({ ...act });
      if (p > 0) layers.push({ type: 'dropout', p });
    } else if (out) layers.push({ ...out });
  }
  return validateSpec({ type: 'sequential', layers });
}

function activationSpec(a: ActivationName | ActivationSpec, what: string): ActivationSpec {
  if (typeof a === 'string') {
    if (!Object.hasOwn(ACTIVATIONS, a))
      throw new Error(`mlpSpec: ${what}: expected one of ${ACTIVATION_NAMES.join(', ')}, got ${show(a)}`);
    return ACTIVATIONS[a];
  }
  if (!isRecord(a) || typeof a.type !== 'string' || !Object.hasOwn(ACTIVATIONS, a.type))
    throw new Error(`mlpSpec: ${what}: expected an activation name or spec, got ${show(a)}`);
  // Check its fields the same way a spec from a file is checked.
  return validateLayer(a, `mlpSpec: ${what}`) as ActivationSpec;
}
