/**
 * ONNX export: a `Sequential` (and, optionally, the model file's preprocessing) as an ONNX model that any
 * ONNX runtime can run. IR version 8, opset 17 of the default domain only (no `ai.onnx.ml`), a symbolic
 * batch dimension named `batch`. The protobuf is written by hand (`protobuf.ts`): the library stays free
 * of dependencies and runs in browsers.
 *
 * Field numbers are those of onnx/onnx.proto (ModelProto, GraphProto, NodeProto, AttributeProto,
 * TensorProto, ValueInfoProto, TypeProto, TensorShapeProto, OperatorSetIdProto).
 */
import { checkPreprocessing, type Preprocessing } from '../data/preprocess.js';
import { checkSeriesScaling, type SeriesScaling } from '../data/series.js';
import { checkVocabulary, type Vocabulary } from '../data/text.js';
import { ACTIVATION_OPS, activationInfo, type OnnxNodes } from '../kernels/unary.js';
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
import { Dropout, Identity, Linear, Sequential, Softmax } from '../nn/layers.js';
import type { Module } from '../nn/module.js';
import { BatchNorm, BatchNorm1d, BatchNorm2d, LayerNorm } from '../nn/norm.js';
import { MultiheadAttention } from '../nn/attention.js';
import { Embedding, GRU, LastStep, LSTM, RecurrentBase, RNN, type CellParameters } from '../nn/recurrent.js';
import { GPT, TransformerBlock } from '../nn/transformer.js';
import { activationOfModule } from '../nn/spec.js';
import { windowOut } from '../ops.js';
import { sizeOf } from '../shape.js';
import type { DType, Tensor } from '../tensor.js';
import { floatsToBytes } from './base64.js';
import { VERSION } from './modelfile.js';
import { ProtoWriter } from './protobuf.js';

/** The ONNX IR version written (IR 8: onnx 1.10+, every current runtime). */
export const ONNX_IR_VERSION = 8;

/** The opset of the default domain the graph uses. */
export const ONNX_OPSET = 17;

/** Element types of the exported graph's inputs and outputs. */
export type OnnxElementType = 'float32' | 'float64' | 'int64';

/** One input or output of an exported graph, as `toOnnx` writes it and `chainrule export` prints it. */
export interface OnnxValue {
  /** The name to feed or fetch it by. */
  name: string;
  /** Its element type (float32 models have float32 inputs and outputs, float64 models float64). */
  type: OnnxElementType;
  /**
   * Its shape; a string is a symbolic dimension: `'batch'`, a size the first layer does not fix
   * (`'features'`, `'height'`, `'width'`, `'length'`, `'channels'`), or `'?'` for a size that follows
   * from a symbolic one (written as an unnamed dimension).
   */
  shape: (number | string)[];
  /** What it holds, in one line. */
  description: string;
}

/** The inputs and outputs of an exported graph. */
export interface OnnxSignature {
  inputs: OnnxValue[];
  outputs: OnnxValue[];
}

/** Options of {@link toOnnx}. */
export interface OnnxOptions {
  /**
   * The model file's preprocessing: with it the graph takes raw columns and gives answers (see
   * {@link toOnnx}); without it (default) the graph is the bare network, `input` → `output`. A value
   * read from JSON is checked first.
   */
  preprocessing?: Preprocessing | OnnxSequencePreprocessing | null;
  /**
   * The shape of one input sample, without the batch axis (e.g. [1, 28, 28]); only without
   * `preprocessing`. Default: what the first layer that fixes it takes, with symbolic sizes where it does
   * not say (a Conv2d(3, …) takes [3, 'height', 'width'], a Linear(4, …) [4]). Giving it fixes every size
   * in the graph and lets a Flatten that keeps trailing axes, or an Unflatten after several, be written.
   */
  inputShape?: readonly number[];
  /** Add the `label` output (ArgMax) to a classifier (default true). */
  label?: boolean;
  /** Free text stored as the model's doc string. */
  docString?: string;
}

/** A language model's preprocessing, as `chainrule train --task language-model` stores it. */
export interface OnnxTextPreprocessing {
  kind: 'text';
  /** The characters, in id order. */
  vocab: Vocabulary;
  /** The context the model was trained on (kept in the metadata; the graph takes any length). */
  context?: number;
}

/**
 * A sequence model's preprocessing: a language model's vocabulary (the graph takes character ids and gives
 * logits) or a forecaster's scaling (raw window in, the next value out, in the series' units).
 */
export type OnnxSequencePreprocessing = OnnxTextPreprocessing | SeriesScaling;

/** A model that ONNX export refuses, with the module at fault in the message. */
export class OnnxExportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OnnxExportError';
  }
}

// ---------------------------------------------------------------------------------------------------------
// Field numbers and enums of onnx.proto.

/** TensorProto.DataType. */
const ELEM = { float32: 1, int64: 7, float64: 11 } as const satisfies Record<OnnxElementType, number>;

/** TensorProto.DataType of bool (Where's condition), which no graph input or constant here has. */
const ELEM_BOOL = 9;

/** AttributeProto.AttributeType. */
const ATTR_FLOAT = 1;
const ATTR_INT = 2;
const ATTR_STRING = 3;
const ATTR_INTS = 7;
const ATTR_STRINGS = 8;

// Field numbers of the messages written: ModelProto, OperatorSetIdProto, StringStringEntryProto, GraphProto,
// NodeProto, AttributeProto, TensorProto, ValueInfoProto, TypeProto, TypeProto.Tensor, TensorShapeProto and
// its Dimension; only the fields this exporter writes.
const MODEL = {
  irVersion: 1,
  producerName: 2,
  producerVersion: 3,
  docString: 6,
  graph: 7,
  opsetImport: 8,
  metadataProps: 14,
} as const;
const OPSET = { domain: 1, version: 2 } as const;
const ENTRY = { key: 1, value: 2 } as const;
const GRAPH = { node: 1, name: 2, initializer: 5, input: 11, output: 12 } as const;
const NODE = { input: 1, output: 2, name: 3, opType: 4, attribute: 5 } as const;
const ATTRIBUTE = { name: 1, f: 2, i: 3, s: 4, ints: 8, strings: 9, type: 20 } as const;
const TENSOR = { dims: 1, dataType: 2, int64Data: 7, name: 8, rawData: 9 } as const;
const VALUE_INFO = { name: 1, type: 2, docString: 3 } as const;
const TYPE = { tensorType: 1 } as const;
const TENSOR_TYPE = { elemType: 1, shape: 2 } as const;
const SHAPE = { dim: 1 } as const;
const DIM = { value: 1, param: 2 } as const;

// ---------------------------------------------------------------------------------------------------------
// The graph under construction.

type Attribute =
  | { name: string; float: number }
  | { name: string; int: number }
  | { name: string; ints: number[] }
  | { name: string; string: string }
  | { name: string; strings: string[] };

interface NodeSpec {
  op: string;
  inputs: string[];
  outputs: string[];
  name: string;
  attributes: Attribute[];
}

interface Initializer {
  name: string;
  type: OnnxElementType;
  dims: number[];
  /** Floats for float32/float64 initializers, integers for int64 ones. */
  values: ArrayLike<number>;
}

/** Nodes, constants and the names in use, in topological order as they are added. */
class Graph {
  readonly nodes: NodeSpec[] = [];
  readonly initializers: Initializer[] = [];
  private readonly used = new Set<string>();
  private readonly scalars = new Map<string, string>();

  constructor(readonly dtype: DType) {}

  /** Reserve a name (graph inputs, outputs); two values may never share one. */
  claim(name: string): string {
    if (this.used.has(name)) throw new OnnxExportError(`toOnnx: the name '${name}' is used twice`);
    this.used.add(name);
    return name;
  }

  /** A fresh name starting with `base`. */
  fresh(base: string): string {
    let name = base;
    for (let i = 1; this.used.has(name); i++) name = `${base}_${i}`;
    return this.claim(name);
  }

  /** A constant tensor; float constants take the model's dtype unless `type` says otherwise. */
  constant(base: string, values: ArrayLike<number>, dims: number[], type?: OnnxElementType): string {
    const name = this.fresh(base);
    this.initializers.push({ name, type: type ?? this.dtype, dims, values });
    return name;
  }

  /** A float scalar of the model's dtype, shared by every node that needs the same value. */
  scalar(value: number): string {
    const key = Object.is(value, -0) ? '-0' : String(value);
    let name = this.scalars.get(key);
    if (name === undefined) {
      name = this.constant(`/const/${key}`, [value], []);
      this.scalars.set(key, name);
    }
    return name;
  }

  /**
   * Add a node with one output; returns the output's name. Names follow PyTorch's exporter: the node is
   * `<scope>/<Op>` and its output `<scope>/<Op>_output` (with a number when the scope has two of an op).
   */
  node(op: string, inputs: string[], scope: string, attributes: Attribute[] = []): string {
    const output = this.fresh(`${scope}/${op}_output`);
    this.nodes.push({ op, inputs, outputs: [output], name: this.fresh(`${scope}/${op}`), attributes });
    return output;
  }

  /**
   * Give the value `from` the graph output name `to`: rename the output of the node that makes it, or,
   * for a graph input passed straight through, add an Identity.
   */
  rename(from: string, to: string): void {
    this.claim(to);
    const maker = this.nodes.find((n) => n.outputs.includes(from));
    const usedElsewhere = this.nodes.some((n) => n.inputs.includes(from));
    if (maker && !usedElsewhere) maker.outputs[maker.outputs.indexOf(from)] = to;
    else
      this.nodes.push({
        op: 'Identity',
        inputs: [from],
        outputs: [to],
        name: `${to}/Identity`,
        attributes: [],
      });
  }
}

// ---------------------------------------------------------------------------------------------------------
// The network.

/** The module classes ONNX export knows, for the message that refuses the others. */
const SUPPORTED = [
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
  'AdaptiveAvgPool2d',
  'Flatten',
  'Unflatten',
  'BatchNorm1d',
  'BatchNorm2d',
  'LayerNorm',
  'Embedding',
  'RNN',
  'LSTM',
  'GRU',
  'LastStep',
  'MultiheadAttention',
  'TransformerBlock',
  'GPT',
  'Sequential',
].join(', ');

/** A module with its dotted path in the model ('' for the root, '2' for layer 2, '1.0' nested). */
function where(path: string, m: Module): string {
  return `${path === '' ? 'the model' : `layer ${path}`} (${m.constructor.name})`;
}

/**
 * One axis of a sample (the batch axis aside) as the export follows it: a size, a symbolic name given to
 * the graph's input (`'height'`), or {@link UNKNOWN} for a size that depends on a symbolic one.
 */
type Dim = number | string;

/** A size the export does not work out (it depends on a symbolic input size); an unnamed ONNX dimension. */
const UNKNOWN = '?';

/** The value being built, and the shape of one sample of it (without the batch axis). */
interface Walk {
  value: string;
  shape: Dim[];
  /** The value holds token ids (int64), which only an Embedding (or a GPT) takes. */
  ids?: boolean;
}

const showShape = (s: readonly Dim[]): string => `[batch, ${s.join(', ')}]`;

/** The number of features of a [batch, F] value, or null for another rank or an unknown F. */
function widthOf(shape: readonly Dim[]): number | null {
  return shape.length === 1 && typeof shape[0] === 'number' ? shape[0] : null;
}

/** The size after a window along one axis (PyTorch's rule); throws naming the layer when it does not fit. */
function windowDim(
  size: Dim,
  k: number,
  pad: number,
  stride: number,
  dilation: number,
  ceil: boolean,
  fail: (message: string) => never,
): Dim {
  if (typeof size !== 'number') return UNKNOWN;
  const out = windowOut(size, k, pad, stride, dilation, ceil);
  if (out < 1)
    fail(`its window of ${k} (dilation ${dilation}) does not fit an input of ${size} padded by ${pad}`);
  return out;
}

/** The sliding-window layers, as the export sees them: 1-D ones as a height-less 2-D one. */
interface Window {
  op: 'Conv' | 'MaxPool' | 'AveragePool';
  /** Spatial axes: 1 or 2. */
  rank: number;
  kernel: number[];
  stride: number[];
  /** Zeros (or −∞) before and after each axis. */
  before: number[];
  after: number[];
  dilation: number[];
  ceil: boolean;
}

/**
 * The ceil_mode attribute to write. ONNX's rule rounds up without PyTorch's correction (a last window that
 * would start in the right padding is dropped); where the correction applies, PyTorch's output is floor
 * mode's, so floor mode is written. With a symbolic size the rule cannot be checked and ceil is written.
 */
function onnxCeil(w: Window, sizes: readonly Dim[]): boolean {
  if (!w.ceil) return false;
  return sizes.every((size, d) => {
    if (typeof size !== 'number') return true;
    const span = w.dilation[d] * (w.kernel[d] - 1) + 1;
    const floor = Math.floor((size + w.before[d] + w.after[d] - span) / w.stride[d]) + 1;
    return windowOut(size, w.kernel[d], w.before[d], w.stride[d], w.dilation[d], true) !== floor;
  });
}

/** The window's node attributes (kernel_shape, strides, pads, dilations, ceil_mode as the op takes them). */
function windowAttributes(w: Window, sizes: readonly Dim[]): Attribute[] {
  const attrs: Attribute[] = [
    { name: 'kernel_shape', ints: w.kernel },
    { name: 'strides', ints: w.stride },
    { name: 'pads', ints: [...w.before, ...w.after] },
  ];
  // AveragePool has no dilations before opset 19 (PyTorch's AvgPool2d has none either).
  if (w.op !== 'AveragePool') attrs.push({ name: 'dilations', ints: w.dilation });
  if (w.op !== 'Conv') attrs.push({ name: 'ceil_mode', int: onnxCeil(w, sizes) ? 1 : 0 });
  return attrs;
}

/** The window of a convolution or pooling layer, or null for another module. */
function windowOf(m: Module): Window | null {
  switch (m.constructor) {
    case Conv2d: {
      const c = m as Conv2d;
      const k = [...c.kernelSize];
      const dilation = [...c.dilation];
      let before: number[];
      let after: number[];
      if (c.padding === 'same') {
        // PyTorch: the total is dilation·(k − 1); an odd one leaves its extra zero after.
        const total = k.map((kk, d) => dilation[d] * (kk - 1));
        before = total.map((t) => Math.floor(t / 2));
        after = total.map((t, d) => t - before[d]);
      } else before = after = c.padding === 'valid' ? [0, 0] : [...c.padding];
      return { op: 'Conv', rank: 2, kernel: k, stride: [...c.stride], before, after, dilation, ceil: false };
    }
    case Conv1d: {
      const c = m as Conv1d;
      let before: number;
      let after: number;
      if (c.padding === 'same') {
        const total = c.dilation * (c.kernelSize - 1);
        before = Math.floor(total / 2);
        after = total - before;
      } else before = after = c.padding === 'valid' ? 0 : c.padding;
      return {
        op: 'Conv',
        rank: 1,
        kernel: [c.kernelSize],
        stride: [c.stride],
        before: [before],
        after: [after],
        dilation: [c.dilation],
        ceil: false,
      };
    }
    case MaxPool2d:
    case AvgPool2d: {
      const p = m as MaxPool2d | AvgPool2d;
      return {
        op: p instanceof MaxPool2d ? 'MaxPool' : 'AveragePool',
        rank: 2,
        kernel: [...p.kernelSize],
        stride: [...p.stride],
        before: [...p.padding],
        after: [...p.padding],
        dilation: p instanceof MaxPool2d ? [...p.dilation] : [1, 1],
        ceil: p.ceilMode,
      };
    }
    case MaxPool1d: {
      const p = m as MaxPool1d;
      return {
        op: 'MaxPool',
        rank: 1,
        kernel: [p.kernelSize],
        stride: [p.stride],
        before: [p.padding],
        after: [p.padding],
        dilation: [p.dilation],
        ceil: p.ceilMode,
      };
    }
    default:
      return null;
  }
}

/**
 * A float constant of `values` shaped [C, 1, …] (one 1 per axis after the channels), so that it broadcasts
 * over a [batch, C, …] value.
 */
function perChannel(g: Graph, name: string, t: Tensor, rank: number): string {
  checkDType(g, t, name);
  return g.constant(name, t.data, [t.size, ...new Array<number>(rank - 1).fill(1)]);
}

/** Emit the nodes of module `m` (at `path`) applied to `at`; returns the new value and its shape. */
function emitModule(g: Graph, m: Module, path: string, at: Walk): Walk {
  const base = path === '' ? '/network' : `/${path.replace(/\./g, '/')}`;
  const prefix = path === '' ? '' : `${path}.`;
  const fail = (message: string): never => {
    throw new OnnxExportError(`toOnnx: ${where(path, m)} ${message}`);
  };
  const param = (t: Tensor, name: string, dims: readonly number[] = t.shape): string => {
    checkDType(g, t, `${prefix}${name}`);
    return g.constant(`${prefix}${name}`, t.data, [...dims]);
  };
  if (at.ids && !TAKES_IDS.has(m.constructor))
    fail(`takes floats, but receives the graph's token ids (int64); an Embedding reads them`);
  // Exact classes, as toSpec: a subclass may change forward, and exporting it as its parent would be wrong.
  const act = activationOfModule(m);
  if (act)
    return { value: activationInfo(act.op).onnx(scoped(g, base), at.value, act.param), shape: at.shape };
  const window = windowOf(m);
  if (window) {
    const { rank } = window;
    if (at.shape.length !== rank + 1)
      fail(`takes ${rank === 2 ? '[batch, C, H, W]' : '[batch, C, L]'}, but receives ${showShape(at.shape)}`);
    const sizes = at.shape.slice(1);
    const out = sizes.map((s, d) =>
      windowDim(
        s,
        window.kernel[d],
        // Sizes use the total padding; PyTorch's formula pads both sides alike, so halve the sum.
        (window.before[d] + window.after[d]) / 2,
        window.stride[d],
        window.dilation[d],
        window.ceil,
        fail,
      ),
    );
    const attributes = windowAttributes(window, sizes);
    if (window.op !== 'Conv') {
      if (window.op === 'AveragePool')
        attributes.push({ name: 'count_include_pad', int: (m as AvgPool2d).countIncludePad ? 1 : 0 });
      return { value: g.node(window.op, [at.value], base, attributes), shape: [at.shape[0], ...out] };
    }
    const c = m as Conv2d | Conv1d;
    if (typeof at.shape[0] === 'number' && at.shape[0] !== c.inChannels)
      fail(`takes ${c.inChannels} channels but receives ${showShape(at.shape)}`);
    attributes.push({ name: 'group', int: c.groups });
    const inputs = [at.value, param(c.weight, 'weight')];
    if (c.bias) inputs.push(param(c.bias, 'bias'));
    return { value: g.node('Conv', inputs, base, attributes), shape: [c.outChannels, ...out] };
  }
  switch (m.constructor) {
    case Sequential: {
      const s = m as Sequential;
      let cur = at;
      s.layers.forEach((layer, i) => {
        cur = emitModule(g, layer, `${prefix}${i}`, cur);
      });
      return cur;
    }
    case Linear: {
      const l = m as Linear;
      const last = at.shape[at.shape.length - 1];
      if (typeof last === 'number' && last !== l.inFeatures)
        fail(`takes ${l.inFeatures} features but receives ${last}`);
      const w = param(l.weight, 'weight', [l.inFeatures, l.outFeatures]);
      const b = l.bias ? param(l.bias, 'bias', [l.outFeatures]) : null;
      const shape = [...at.shape.slice(0, -1), l.outFeatures];
      // Gemm with the weight as stored: y = x·W + b, our [in, out] layout, no transpose attribute. Gemm
      // takes [batch, features] only; other ranks multiply over the last axis and broadcast the bias.
      if (at.shape.length === 1)
        return { value: g.node(b ? 'Gemm' : 'MatMul', b ? [at.value, w, b] : [at.value, w], base), shape };
      const product = g.node('MatMul', [at.value, w], base);
      return { value: b ? g.node('Add', [product, b], base) : product, shape };
    }
    case Softmax: {
      const axis = (m as Softmax).axis;
      const rank = at.shape.length + 1;
      // chainrule's softmax would fail on an axis the value does not have too.
      if (!Number.isInteger(axis) || axis < -rank || axis >= rank)
        fail(`has axis ${axis}, but its input is ${showShape(at.shape)} (axis ${-rank}…${rank - 1})`);
      return { value: g.node('Softmax', [at.value], base, [{ name: 'axis', int: axis }]), shape: at.shape };
    }
    case Identity:
    case Dropout:
      // The export is for inference: dropout is the identity in evaluation mode.
      return at;
    case AdaptiveAvgPool2d: {
      if (at.shape.length !== 3) fail(`takes [batch, C, H, W], but receives ${showShape(at.shape)}`);
      return { value: g.node('GlobalAveragePool', [at.value], base), shape: [at.shape[0], 1, 1] };
    }
    case Flatten: {
      const f = m as Flatten;
      const rank = at.shape.length + 1;
      const norm = (d: number) => (d < 0 ? d + rank : d);
      const [s, e] = [norm(f.startDim), norm(f.endDim)];
      if (s < 1 || e >= rank || s > e)
        fail(
          `flattens axes ${f.startDim}…${f.endDim}, which ${showShape(at.shape)} does not have` +
            (s === 0 ? ' (or merges the batch axis)' : ''),
        );
      const full = [0, ...at.shape]; // the batch axis as a placeholder
      const merged = full.slice(s, e + 1);
      const size: Dim = merged.every((d) => typeof d === 'number')
        ? (merged as number[]).reduce((a, b) => a * b, 1)
        : UNKNOWN;
      if (s === 1 && e === rank - 1)
        // PyTorch's default, one row per sample: ONNX's Flatten at axis 1.
        return {
          value: g.node('Flatten', [at.value], base, [{ name: 'axis', int: 1 }]),
          shape: [size],
        };
      const after = full.slice(e + 1);
      return reshapeTo(g, at, base, prefix, s, after, fail, [size]);
    }
    case Unflatten: {
      const u = m as Unflatten;
      const rank = at.shape.length + 1;
      const d = u.dim < 0 ? u.dim + rank : u.dim;
      if (d < 1 || d >= rank)
        fail(`splits axis ${u.dim}, which ${showShape(at.shape)} does not have (or is the batch axis)`);
      const size = at.shape[d - 1];
      const want = u.sizes.reduce((a, b) => a * b, 1);
      if (typeof size === 'number' && size !== want)
        fail(`splits axis ${u.dim} into ${u.sizes.join('·')} = ${want}, but receives ${showShape(at.shape)}`);
      return reshapeTo(g, at, base, prefix, d, at.shape.slice(d), fail, [...u.sizes]);
    }
    case BatchNorm1d:
    case BatchNorm2d:
      return emitBatchNorm(g, m as BatchNorm, at, base, prefix, param, fail);
    case Embedding: {
      const e = m as Embedding;
      if (!at.ids)
        fail(
          `takes token ids, which only the graph's input holds, but receives floats ${showShape(at.shape)}`,
        );
      const value = g.node('Gather', [param(e.weight, 'weight'), at.value], base, [{ name: 'axis', int: 0 }]);
      return { value, shape: [...at.shape, e.embeddingDim] };
    }
    case RNN:
    case LSTM:
    case GRU:
      return emitRecurrent(g, m as RecurrentBase, at, base, prefix, fail);
    case LastStep: {
      if (at.shape.length !== 2) fail(`takes [batch, time, features], but receives ${showShape(at.shape)}`);
      // x[:, -1]: Gather with a scalar index drops the time axis.
      const last = g.constant(`${prefix}last`, [-1], [], 'int64');
      return {
        value: g.node('Gather', [at.value, last], base, [{ name: 'axis', int: 1 }]),
        shape: [at.shape[1]],
      };
    }
    case MultiheadAttention:
      return emitAttention(g, m as MultiheadAttention, at, base, prefix, false, fail);
    case TransformerBlock:
      return emitBlock(g, m as TransformerBlock, at, path, fail);
    case GPT:
      return emitGpt(g, m as GPT, at, path, base, prefix, fail);
    case LayerNorm: {
      const n = m as LayerNorm;
      const k = n.normalizedShape.length;
      const tail = at.shape.slice(-k);
      if (tail.length !== k || tail.some((dim, i) => typeof dim === 'number' && dim !== n.normalizedShape[i]))
        fail(
          `normalizes the last axes [${n.normalizedShape.join(', ')}], but receives ${showShape(at.shape)}`,
        );
      const scale = n.weight
        ? param(n.weight, 'weight')
        : g.constant(`${prefix}weight`, new Array<number>(sizeOf(n.normalizedShape)).fill(1), [
            ...n.normalizedShape,
          ]);
      const inputs = [at.value, scale];
      if (n.bias) inputs.push(param(n.bias, 'bias'));
      const value = g.node('LayerNormalization', inputs, base, [
        { name: 'axis', int: -k },
        { name: 'epsilon', float: n.eps },
      ]);
      return { value, shape: at.shape };
    }
    default:
      return fail(`cannot be expressed in ONNX; supported modules: ${SUPPORTED}`);
  }
}

/** The modules that take token ids (the graph's int64 input), and those that pass a value through untouched. */
const TAKES_IDS = new Set<unknown>([Embedding, GPT, Sequential, Identity, Dropout]);

/** Where ONNX's gate blocks come from in PyTorch's: LSTM i, o, f, c from i, f, g, o; GRU z, r, h from r, z, n. */
const GATE_ORDER: Readonly<Record<RecurrentBase['mode'], readonly number[]>> = {
  RNN_TANH: [0],
  RNN_RELU: [0],
  LSTM: [0, 3, 1, 2],
  GRU: [1, 0, 2],
};

/**
 * RNN, LSTM and GRU as ONNX's own ops, one node per layer (both directions in one node): the graph stays
 * the same size for any sequence length, which may stay symbolic, and runtimes run their fused kernels.
 * PyTorch's weights are repacked: gate blocks reordered ({@link GATE_ORDER}), directions stacked, the two
 * biases concatenated; GRU with `linear_before_reset` = 1, PyTorch's r ⊙ (W_hn h + b_hn). The ops take
 * [time, batch, features] (onnxruntime implements no `layout` = 1), so a batch-first layer is transposed
 * in and out; Y [time, directions, batch, hidden] becomes [time, batch, directions·hidden] for the next
 * layer, forward direction first, as chainrule concatenates them.
 */
function emitRecurrent(
  g: Graph,
  r: RecurrentBase,
  at: Walk,
  base: string,
  prefix: string,
  fail: (message: string) => never,
): Walk {
  if (at.shape.length !== 2)
    fail(
      `takes ${r.batchFirst ? '[batch, time, features]' : '[time, batch, features]'}, but receives ${showShape(at.shape)}`,
    );
  const width = at.shape[1];
  if (typeof width === 'number' && width !== r.inputSize)
    fail(`takes ${r.inputSize} features per step but receives ${showShape(at.shape)}`);
  const H = r.hiddenSize;
  const dirs = r.bidirectional ? 2 : 1;
  const order = GATE_ORDER[r.mode];
  const rows = order.length * H;
  const perm = (ints: number[]): Attribute[] => [{ name: 'perm', ints }];
  let x = r.batchFirst ? g.node('Transpose', [at.value], base, perm([1, 0, 2])) : at.value;
  for (let l = 0; l < r.numLayers; l++) {
    const cells = Array.from({ length: dirs }, (_, d) => r.cellParameters(l, d === 1));
    const stacked = (pick: (c: CellParameters) => Tensor | null, name: string): number[] => {
      const out: number[] = [];
      for (const c of cells) {
        const t = pick(c) as Tensor;
        checkDType(g, t, `${prefix}${name}`);
        const cols = t.size / rows;
        for (const block of order) for (let i = 0; i < H * cols; i++) out.push(t.data[block * H * cols + i]);
      }
      return out;
    };
    const sfx = `_l${l}`;
    const inW = l === 0 ? r.inputSize : H * dirs;
    const inputs = [
      x,
      g.constant(
        `${prefix}W${sfx}`,
        stacked((c) => c.weightIh, `weight_ih${sfx}`),
        [dirs, rows, inW],
      ),
      g.constant(
        `${prefix}R${sfx}`,
        stacked((c) => c.weightHh, `weight_hh${sfx}`),
        [dirs, rows, H],
      ),
    ];
    if (r.bias) {
      // [dirs, 2·rows]: each direction's input bias, then its hidden bias.
      const bi = stacked((c) => c.biasIh, `bias_ih${sfx}`);
      const bh = stacked((c) => c.biasHh, `bias_hh${sfx}`);
      const b: number[] = [];
      for (let d = 0; d < dirs; d++)
        b.push(...bi.slice(d * rows, (d + 1) * rows), ...bh.slice(d * rows, (d + 1) * rows));
      inputs.push(g.constant(`${prefix}B${sfx}`, b, [dirs, 2 * rows]));
    }
    const attributes: Attribute[] = [
      { name: 'hidden_size', int: H },
      { name: 'direction', string: dirs === 2 ? 'bidirectional' : 'forward' },
    ];
    if (r.mode === 'GRU') attributes.push({ name: 'linear_before_reset', int: 1 });
    if (r.mode === 'RNN_TANH' || r.mode === 'RNN_RELU')
      attributes.push({
        name: 'activations',
        strings: new Array<string>(dirs).fill(r.mode === 'RNN_TANH' ? 'Tanh' : 'Relu'),
      });
    const op = r.mode === 'LSTM' ? 'LSTM' : r.mode === 'GRU' ? 'GRU' : 'RNN';
    const y = g.node(op, inputs, base, attributes); // [time, dirs, batch, H]
    x =
      dirs === 1
        ? g.node('Squeeze', [y, g.constant(`${prefix}axes`, [1], [1], 'int64')], base)
        : g.node(
            'Reshape',
            [
              g.node('Transpose', [y], base, perm([0, 2, 1, 3])),
              g.constant(`${prefix}shape`, [0, 0, -1], [3], 'int64'),
            ],
            base,
          );
  }
  if (r.batchFirst) x = g.node('Transpose', [x], base, perm([1, 0, 2]));
  return { value: x, shape: [at.shape[0], dirs * H] };
}

/**
 * Self-attention of `at` ([batch, L, E] batch-first, else [L, batch, E]) as PyTorch 1.13 computes it: the
 * q, k and v projections (rows of `in_proj_weight`, transposed to MatMul's [in, out]), heads by Reshape
 * and Transpose, q / √headDim, q·kᵀ, with `causal` the positions after each query set to −∞ (Where on a
 * Trilu of ones, so L may stay symbolic), Softmax, ·v, heads merged, `out_proj`.
 */
function emitAttention(
  g: Graph,
  a: MultiheadAttention,
  at: Walk,
  base: string,
  prefix: string,
  causal: boolean,
  fail: (message: string) => never,
): Walk {
  const E = a.embedDim;
  const heads = a.numHeads;
  const D = a.headDim;
  if (at.shape.length !== 2 || (typeof at.shape[1] === 'number' && at.shape[1] !== E))
    fail(
      `takes ${a.batchFirst ? '[batch, sequence' : '[sequence, batch'}, ${E}], but receives ${showShape(at.shape)}`,
    );
  const perm = (ints: number[]): Attribute[] => [{ name: 'perm', ints }];
  const W = a.in_proj_weight;
  const bias = a.in_proj_bias;
  checkDType(g, W, `${prefix}in_proj_weight`);
  if (bias) checkDType(g, bias, `${prefix}in_proj_bias`);
  /** Rows [from, from + n) of an [rows, cols] matrix, transposed to [cols, n]. */
  const transposedRows = (t: Tensor, from: number, n: number): number[] => {
    const cols = t.shape[1];
    const out = new Array<number>(n * cols);
    for (let r = 0; r < n; r++) for (let c = 0; c < cols; c++) out[c * n + r] = t.data[(from + r) * cols + c];
    return out;
  };
  const linear = (x: string, name: string, w: number[], b: ArrayLike<number> | null): string => {
    const y = g.node('MatMul', [x, g.constant(`${prefix}${name}_weight`, w, [E, E])], base);
    return b ? g.node('Add', [y, g.constant(`${prefix}${name}_bias`, b, [E])], base) : y;
  };
  const x = a.batchFirst ? at.value : g.node('Transpose', [at.value], base, perm([1, 0, 2]));
  const [q, k, v] = ['q', 'k', 'v'].map((name, i) =>
    linear(x, name, transposedRows(W, i * E, E), bias ? bias.data.subarray(i * E, (i + 1) * E) : null),
  );
  const split = g.constant(`${prefix}heads_shape`, [0, 0, heads, D], [4], 'int64');
  const byHead = (t: string, p: number[]) =>
    g.node('Transpose', [g.node('Reshape', [t, split], base)], base, perm(p));
  const qh = g.node('Div', [byHead(q, [0, 2, 1, 3]), g.scalar(Math.sqrt(D))], base);
  let scores = g.node('MatMul', [qh, byHead(k, [0, 2, 3, 1])], base); // [batch, heads, L, L]
  if (causal) {
    // [L, L] ones from the input's length, its strict upper triangle (the later keys) → −∞.
    const length = g.node('Shape', [x], base, [
      { name: 'start', int: 1 },
      { name: 'end', int: 2 },
    ]);
    const square = g.node('Concat', [length, length], base, [{ name: 'axis', int: 0 }]);
    const ones = g.node('Expand', [g.scalar(1), square], base);
    const later = g.node('Trilu', [ones, g.constant(`${prefix}diagonal`, [1], [], 'int64')], base, [
      { name: 'upper', int: 1 },
    ]);
    const blocked = g.node('Cast', [later], base, [{ name: 'to', int: ELEM_BOOL }]);
    scores = g.node('Where', [blocked, g.scalar(-Infinity), scores], base);
  }
  const weights = g.node('Softmax', [scores], base, [{ name: 'axis', int: -1 }]);
  const context = g.node('MatMul', [weights, byHead(v, [0, 2, 1, 3])], base); // [batch, heads, L, D]
  const merged = g.node(
    'Reshape',
    [
      g.node('Transpose', [context], base, perm([0, 2, 1, 3])),
      g.constant(`${prefix}merged_shape`, [0, 0, E], [3], 'int64'),
    ],
    base,
  );
  const o = a.out_proj;
  checkDType(g, o.weight, `${prefix}out_proj.weight`);
  let out = g.node(
    'MatMul',
    [merged, g.constant(`${prefix}out_proj.weight`, transposedRows(o.weight, 0, E), [E, E])],
    base,
  );
  if (o.bias) out = g.node('Add', [out, weightConstant(g, o.bias, `${prefix}out_proj.bias`)], base);
  if (!a.batchFirst) out = g.node('Transpose', [out], base, perm([1, 0, 2]));
  return { value: out, shape: at.shape };
}

/** A tensor as a constant under its state-dict name, its dtype checked. */
function weightConstant(g: Graph, t: Tensor, name: string): string {
  checkDType(g, t, name);
  return g.constant(name, t.data, [...t.shape]);
}

/**
 * A pre-norm TransformerBlock: ln1, attention (causal if the block is), residual add; ln2, fc, GELU, proj,
 * residual add. Dropout is left out (inference). Its parts go through {@link emitModule} under their paths.
 */
function emitBlock(
  g: Graph,
  b: TransformerBlock,
  at: Walk,
  path: string,
  fail: (message: string) => never,
): Walk {
  if (!b.attn.batchFirst) fail('has an attention that is not batch-first, which a block never builds');
  const p = path === '' ? '' : `${path}.`;
  const scope = (name: string) => `/${`${p}${name}`.replace(/\./g, '/')}`;
  const h = emitModule(g, b.ln1, `${p}ln1`, at);
  const a = emitAttention(g, b.attn, h, scope('attn'), `${p}attn.`, b.causal, fail);
  const x = { value: g.node('Add', [at.value, a.value], scope('add1')), shape: at.shape };
  let m = emitModule(g, b.ln2, `${p}ln2`, x);
  m = emitModule(g, b.fc, `${p}fc`, m);
  m = emitModule(g, b.act, `${p}act`, m);
  m = emitModule(g, b.proj, `${p}proj`, m);
  return { value: g.node('Add', [x.value, m.value], scope('add2')), shape: at.shape };
}

/**
 * A GPT on token ids [batch, L]: tok (Gather) plus the first L rows of pos (Slice to the input's length),
 * the blocks, lnf, head → logits [batch, L, vocab]. A length over the context gives fewer position rows
 * than tokens, which the Add refuses at run time (chainrule refuses it too).
 */
function emitGpt(
  g: Graph,
  m: GPT,
  at: Walk,
  path: string,
  base: string,
  prefix: string,
  fail: (message: string) => never,
): Walk {
  if (!at.ids || at.shape.length !== 1)
    fail(`takes token ids [batch, sequence], the graph's input, but receives ${showShape(at.shape)}`);
  const L = at.shape[0];
  if (typeof L === 'number' && L > m.contextLength)
    fail(`takes at most ${m.contextLength} tokens (its context), but receives ${L}`);
  const tok = g.node('Gather', [weightConstant(g, m.tok.weight, `${prefix}tok.weight`), at.value], base, [
    { name: 'axis', int: 0 },
  ]);
  const length = g.node('Shape', [at.value], base, [
    { name: 'start', int: 1 },
    { name: 'end', int: 2 },
  ]);
  const zero = g.constant(`${prefix}pos_start`, [0], [1], 'int64');
  const pos = g.node(
    'Slice',
    [weightConstant(g, m.pos.weight, `${prefix}pos.weight`), zero, length, zero],
    base,
  );
  let h: Walk = { value: g.node('Add', [tok, pos], base), shape: [L, m.embedDim] };
  m.blocks.forEach((b, i) => {
    h = emitBlock(g, b, h, `${prefix}blocks.${i}`, fail);
  });
  h = emitModule(g, m.lnf, `${prefix}lnf`, h);
  return emitModule(g, m.head, `${prefix}head`, h);
}

/**
 * A Reshape that keeps the first `keep` axes (batch included) of `at`, puts `middle` after them and then
 * the axes `after` (sizes of the input's trailing axes): the target shape holds 0 (copy) for the kept axes,
 * and the sizes, of which at most one may be unknown (−1).
 */
function reshapeTo(
  g: Graph,
  at: Walk,
  base: string,
  prefix: string,
  keep: number,
  after: readonly Dim[],
  fail: (message: string) => never,
  middle: Dim[],
): Walk {
  const tail = [...middle, ...after];
  const unknown = tail.filter((d) => typeof d !== 'number').length;
  if (unknown > 1)
    fail(`needs the sizes of ${showShape(at.shape)}, which depend on the input's; give toOnnx an inputShape`);
  const target = [...new Array<number>(keep).fill(0), ...tail.map((d) => (typeof d === 'number' ? d : -1))];
  const shape = g.constant(`${prefix}shape`, target, [target.length], 'int64');
  return {
    value: g.node('Reshape', [at.value, shape], base),
    shape: [...at.shape.slice(0, keep - 1), ...tail],
  };
}

/**
 * BatchNorm for inference: with running statistics, ONNX's BatchNormalization on them (evaluation mode,
 * whatever mode the module is in); without (`trackRunningStats: false`, which normalizes by the batch in
 * evaluation too), the batch's mean and biased variance over every axis but the channels, as nodes.
 */
function emitBatchNorm(
  g: Graph,
  b: BatchNorm,
  at: Walk,
  base: string,
  prefix: string,
  param: (t: Tensor, name: string, dims?: readonly number[]) => string,
  fail: (message: string) => never,
): Walk {
  const is2d = b instanceof BatchNorm2d;
  if (is2d ? at.shape.length !== 3 : at.shape.length !== 1 && at.shape.length !== 2)
    fail(
      `takes ${is2d ? '[batch, C, H, W]' : '[batch, C] or [batch, C, L]'}, but receives ${showShape(at.shape)}`,
    );
  if (typeof at.shape[0] === 'number' && at.shape[0] !== b.numFeatures)
    fail(`normalizes ${b.numFeatures} channels but receives ${showShape(at.shape)}`);
  const c = b.numFeatures;
  const rank = at.shape.length;
  if (b.running_mean && b.running_var) {
    const ones = () => g.constant(`${prefix}weight`, new Array<number>(c).fill(1), [c]);
    const zeros = () => g.constant(`${prefix}bias`, new Array<number>(c).fill(0), [c]);
    const inputs = [
      at.value,
      b.weight ? param(b.weight, 'weight') : ones(),
      b.bias ? param(b.bias, 'bias') : zeros(),
      param(b.running_mean, 'running_mean'),
      param(b.running_var, 'running_var'),
    ];
    const value = g.node('BatchNormalization', inputs, base, [{ name: 'epsilon', float: b.eps }]);
    return { value, shape: at.shape };
  }
  // Every axis but the channels (axis 1): the batch and the spatial ones.
  const axes = [0, ...Array.from({ length: rank - 1 }, (_, i) => i + 2)];
  const reduce = (x: string) =>
    g.node('ReduceMean', [x], base, [
      { name: 'axes', ints: axes },
      { name: 'keepdims', int: 1 },
    ]);
  const centred = g.node('Sub', [at.value, reduce(at.value)], base);
  const variance = reduce(g.node('Mul', [centred, centred], base));
  const std = g.node('Sqrt', [g.node('Add', [variance, g.scalar(b.eps)], base)], base);
  let value = g.node('Div', [centred, std], base);
  if (b.weight) value = g.node('Mul', [value, perChannel(g, `${prefix}weight`, b.weight, rank)], base);
  if (b.bias) value = g.node('Add', [value, perChannel(g, `${prefix}bias`, b.bias, rank)], base);
  return { value, shape: at.shape };
}

function checkDType(g: Graph, t: Tensor, name: string): void {
  if (t.dtype !== g.dtype)
    throw new OnnxExportError(
      `toOnnx: '${name}' is ${t.dtype} but the model's first tensor is ${g.dtype}; ` +
        'ONNX export needs one dtype throughout (cast the model first)',
    );
}

/** The graph as an activation's table entry sees it: nodes named under the layer's scope. */
function scoped(g: Graph, base: string): OnnxNodes {
  return {
    dtype: g.dtype,
    node: (op, inputs, attributes = []) => g.node(op, inputs, base, attributes),
    scalar: (value) => g.scalar(value),
    cast: (x, to) => g.node('Cast', [x], base, [{ name: 'to', int: ELEM[to] }]),
  };
}

// ---------------------------------------------------------------------------------------------------------
// Preprocessing and answers.

/** What the graph's input is, from the first layer that fixes it (see {@link inferInput}). */
interface InputGuess {
  /** One sample's shape. */
  shape: Dim[];
  /** Token ids (int64), for a model that starts with an Embedding or is a GPT. */
  ids: boolean;
  /** The name of axis 0: `'batch'`, or `'time'` before a recurrent or attention layer that is not batch-first. */
  leading: string;
}

/**
 * The shape of one input sample, from the first layer that fixes it: a Linear takes [in], a convolution
 * [in, 'height', 'width'] or [in, 'length'], a pooling layer ['channels', 'height', 'width'], BatchNorm2d
 * [C, 'height', 'width'], BatchNorm1d [C], LayerNorm its normalized shape, Unflatten(1, s) [s₁·s₂·…];
 * an Embedding or a GPT token ids ['length']; a batch-first recurrent layer ['length', in], an attention
 * layer or block ['length', E] (not batch-first: axis 0 is time, ['sequences', in]).
 * Layers that take any shape (activations, dropout, Flatten) are passed over; with none that fixes it,
 * ['features'].
 */
function inferInput(model: Module): InputGuess {
  // A BatchNorm1d takes [C] or [C, L]: the next layer that fixes the rank says which.
  let channels: number | null = null;
  const plain = (shape: Dim[]): InputGuess => ({ shape, ids: false, leading: 'batch' });
  const sequence = (batchFirst: boolean, width: number): InputGuess =>
    batchFirst ? plain(['length', width]) : { shape: ['sequences', width], ids: false, leading: 'time' };
  const visit = (m: Module): InputGuess | null => {
    switch (m.constructor) {
      case Sequential:
        for (const layer of (m as Sequential).layers) {
          const s = visit(layer);
          if (s) return s;
        }
        return null;
      case Linear:
        return plain([channels ?? (m as Linear).inFeatures]);
      case Conv2d:
        return plain([(m as Conv2d).inChannels, 'height', 'width']);
      case Conv1d:
        return plain([(m as Conv1d).inChannels, 'length']);
      case BatchNorm2d:
        return plain([(m as BatchNorm).numFeatures, 'height', 'width']);
      case BatchNorm1d:
        channels ??= (m as BatchNorm).numFeatures;
        return null;
      case MaxPool2d:
      case AvgPool2d:
      case AdaptiveAvgPool2d:
        return plain(['channels', 'height', 'width']);
      case MaxPool1d:
        return plain([channels ?? 'channels', 'length']);
      case Unflatten: {
        const u = m as Unflatten;
        return u.dim === 1 ? plain([sizeOf(u.sizes)]) : null;
      }
      case LayerNorm:
        return plain([...(m as LayerNorm).normalizedShape]);
      case Embedding:
      case GPT:
        return { shape: ['length'], ids: true, leading: 'batch' };
      case RNN:
      case LSTM:
      case GRU:
        return sequence((m as RecurrentBase).batchFirst, (m as RecurrentBase).inputSize);
      case MultiheadAttention:
        return sequence((m as MultiheadAttention).batchFirst, (m as MultiheadAttention).embedDim);
      case TransformerBlock:
        return plain(['length', (m as TransformerBlock).embedDim]);
      default:
        return null;
    }
  };
  return visit(model) ?? plain([channels ?? 'features']);
}

/** The model's one dtype (float32 for a model without tensors). */
function modelDType(model: Module): DType {
  const tensors = model.namedTensors();
  if (tensors.length === 0) return 'float32';
  const [firstName, first] = tensors[0];
  for (const [name, t] of tensors)
    if (t.dtype !== first.dtype)
      throw new OnnxExportError(
        `toOnnx: all tensors must share one dtype, but '${firstName}' is ${first.dtype} and '${name}' is ${t.dtype}`,
      );
  return first.dtype;
}

/** "a, b, c" with at most `max` items. */
function listed(items: readonly string[], max = 10): string {
  return items.length <= max ? items.join(', ') : `${items.slice(0, max).join(', ')}, …`;
}

/**
 * The preprocessing as graph nodes: `features` (numeric columns) minus mean, over std; each column of
 * `categories` one-hot; concatenated, then put back in the model file's feature order.
 */
function emitPreprocessing(g: Graph, pre: Preprocessing, signature: OnnxSignature): string {
  const numeric = pre.features.filter((f) => f.kind === 'numeric');
  const categorical = pre.features.filter((f) => f.kind === 'categorical');
  const blocks: string[] = [];
  // Column of the concatenation that each model input comes from, filled in feature order.
  const source = new Array<number>(pre.inputSize);
  let column = 0;
  if (numeric.length > 0) {
    const input = g.claim('features');
    signature.inputs.push({
      name: input,
      type: g.dtype,
      shape: ['batch', numeric.length],
      description:
        `numeric columns, raw values (standardized in the graph): ${listed(numeric.map((f) => f.name))}` +
        (numeric.some((f) => f.fill !== undefined)
          ? `; NaN for a missing value, filled in the graph: ${listed(numeric.filter((f) => f.fill !== undefined).map((f) => `${f.name} → ${f.fill}`))}`
          : ''),
    });
    // A missing value arrives as NaN: a feature with a fill takes it (the others keep NaN, as chainrule
    // refuses them).
    let raw = input;
    if (numeric.some((f) => f.fill !== undefined)) {
      const fill = g.constant(
        'preprocessing.fill',
        numeric.map((f) => f.fill ?? NaN),
        [numeric.length],
      );
      raw = g.node('Where', [g.node('IsNaN', [input], '/preprocessing'), fill, input], '/preprocessing');
    }
    const mean = g.constant(
      'preprocessing.mean',
      numeric.map((f) => f.mean),
      [numeric.length],
    );
    const std = g.constant(
      'preprocessing.std',
      numeric.map((f) => f.std),
      [numeric.length],
    );
    const centred = g.node('Sub', [raw, mean], '/preprocessing');
    blocks.push(g.node('Div', [centred, std], '/preprocessing'));
    column = numeric.length;
  }
  if (categorical.length > 0) {
    const input = g.claim('categories');
    signature.inputs.push({
      name: input,
      type: 'int64',
      shape: ['batch', categorical.length],
      description:
        'category index per text column (0-based, in the listed order): ' +
        categorical
          .map(
            (f) =>
              `${f.name} (${listed(f.categories.map((c, i) => `${i}=${c}`))}` +
              (f.fill !== undefined
                ? `; -1 for a missing value, filled with ${f.categories.indexOf(f.fill)}`
                : '') +
              ')',
          )
          .join('; '),
    });
    const offOn = g.constant('preprocessing.one_hot_values', [0, 1], [2], 'float32');
    categorical.forEach((f, j) => {
      const b = `/preprocessing/${j}`;
      const index = g.constant(`preprocessing.column_${j}`, [j], [], 'int64');
      const depth = g.constant(`preprocessing.depth_${j}`, [f.categories.length], [], 'int64');
      let picked = g.node('Gather', [input, index], b, [{ name: 'axis', int: 1 }]);
      if (f.fill !== undefined) {
        // -1 marks a missing value: the fill's index replaces it (OneHot would count -1 from the end).
        const zero = g.constant(`preprocessing.zero_${j}`, [0], [], 'int64');
        const fill = g.constant(`preprocessing.fill_${j}`, [f.categories.indexOf(f.fill)], [], 'int64');
        picked = g.node('Where', [g.node('Less', [picked, zero], b), fill, picked], b);
      }
      // onnxruntime's OneHot writes float (not double) from int64 indices; the cast is exact for 0 and 1.
      let oneHot = g.node('OneHot', [picked, depth, offOn], b, [{ name: 'axis', int: -1 }]);
      if (g.dtype === 'float64') oneHot = g.node('Cast', [oneHot], b, [{ name: 'to', int: ELEM.float64 }]);
      blocks.push(oneHot);
    });
  }
  // Where each feature's inputs sit in the concatenation [numeric..., one-hot of each text column...].
  let numericIndex = 0;
  let categoricalStart = column;
  let at = 0;
  for (const f of pre.features) {
    if (f.kind === 'numeric') source[at++] = numericIndex++;
    else {
      for (let i = 0; i < f.categories.length; i++) source[at++] = categoricalStart + i;
      categoricalStart += f.categories.length;
    }
  }
  let x =
    blocks.length === 1 ? blocks[0] : g.node('Concat', blocks, '/preprocessing', [{ name: 'axis', int: 1 }]);
  if (source.some((s, i) => s !== i)) {
    const order = g.constant('preprocessing.order', source, [source.length], 'int64');
    x = g.node('Gather', [x, order], '/preprocessing', [{ name: 'axis', int: 1 }]);
  }
  return x;
}

// ---------------------------------------------------------------------------------------------------------
// Building and encoding.

interface Built {
  graph: Graph;
  signature: OnnxSignature;
  /** The preprocessing to store in the metadata, checked. */
  pre: Preprocessing | OnnxSequencePreprocessing | null;
}

/** The preprocessing of options, checked, sorted by kind. */
function checkedPreprocessing(value: OnnxOptions['preprocessing']): {
  table: Preprocessing | null;
  sequence: OnnxSequencePreprocessing | null;
} {
  if (value == null) return { table: null, sequence: null };
  const kind = (value as { kind?: unknown }).kind;
  try {
    if (kind === 'series') return { table: null, sequence: checkSeriesScaling(value, 'preprocessing') };
    if (kind === 'text') {
      const t = value as Partial<OnnxTextPreprocessing>;
      return {
        table: null,
        sequence: {
          kind: 'text',
          vocab: checkVocabulary(t.vocab, 'preprocessing.vocab'),
          context: t.context,
        },
      };
    }
  } catch (e) {
    throw new OnnxExportError(`toOnnx: ${(e as Error).message}`);
  }
  return { table: checkPreprocessing(value as Preprocessing), sequence: null };
}

function build(model: Module, options: OnnxOptions): Built {
  const dtype = modelDType(model);
  const g = new Graph(dtype);
  const signature: OnnxSignature = { inputs: [], outputs: [] };
  const { table: pre, sequence } = checkedPreprocessing(options.preprocessing);
  const given = options.inputShape;
  if (given !== undefined && (!Array.isArray(given) || !given.every((d) => Number.isInteger(d) && d >= 1)))
    throw new OnnxExportError(
      `toOnnx: inputShape must be the sizes of one sample (positive integers), got ${JSON.stringify(given)}`,
    );
  const guess = inferInput(model);
  const expected = given ? [...given] : guess.shape;
  let walk: Walk;
  if ((pre || sequence) && given)
    throw new OnnxExportError('toOnnx: give inputShape or preprocessing, not both');
  if (pre) {
    const width = widthOf(expected);
    if (guess.ids || expected.length !== 1 || (width !== null && width !== pre.inputSize))
      throw new OnnxExportError(
        `toOnnx: the preprocessing makes ${pre.inputSize} inputs but the network takes ` +
          (guess.ids ? 'token ids' : width === null ? showShape(expected) : width),
      );
    walk = { value: emitPreprocessing(g, pre, signature), shape: [pre.inputSize] };
  } else if (sequence?.kind === 'text') {
    if (!guess.ids)
      throw new OnnxExportError(
        "toOnnx: a language model's preprocessing (a vocabulary) needs a network that starts with an Embedding",
      );
    const input = g.claim('ids');
    signature.inputs.push({
      name: input,
      type: 'int64',
      shape: ['batch', 'length'],
      description:
        `character ids, each character's index in the vocabulary of ${sequence.vocab.chars.length} ` +
        `(${listed(sequence.vocab.chars.map((c, i) => `${i}=${JSON.stringify(c)}`))})`,
    });
    walk = { value: input, shape: ['length'], ids: true };
  } else if (sequence?.kind === 'series') {
    const w = sequence.window;
    if (guess.ids || expected.length !== 2 || (typeof expected[1] === 'number' && expected[1] !== 1))
      throw new OnnxExportError(
        `toOnnx: a forecast's preprocessing gives windows [batch, ${w}, 1] but the network takes ` +
          (guess.ids ? 'token ids' : showShape(expected)),
      );
    const input = g.claim('window');
    signature.inputs.push({
      name: input,
      type: dtype,
      shape: ['batch', w, 1],
      description: `the last ${w} values of ${sequence.column}, oldest first, raw (standardized in the graph)`,
    });
    const centred = g.node('Sub', [input, g.scalar(sequence.mean)], '/preprocessing');
    walk = { value: g.node('Div', [centred, g.scalar(sequence.std)], '/preprocessing'), shape: [w, 1] };
  } else {
    const input = g.claim('input');
    signature.inputs.push({
      name: input,
      type: guess.ids ? 'int64' : dtype,
      shape: [guess.leading, ...expected],
      description: guess.ids
        ? "token ids (integers below the embedding's size)"
        : guess.leading === 'time'
          ? 'the network input, time first (its first sequence layer is not batch-first)'
          : 'the network input',
    });
    walk = { value: input, shape: expected, ids: guess.ids };
  }
  // The network's own names ('0.weight') cannot clash with the ones above; its values start with '/'.
  const out = emitModule(g, model, '', walk);
  const width = widthOf(out.shape);
  const t = pre?.target;
  if (t?.kind === 'classes') {
    if (width !== t.classes.length)
      throw new OnnxExportError(
        `toOnnx: the target has ${t.classes.length} classes but the network ` +
          (width === null ? `gives ${showShape(out.shape)}` : `has ${width} outputs`),
      );
    const probabilities = g.node('Softmax', [out.value], '/answer', [{ name: 'axis', int: -1 }]);
    g.rename(probabilities, 'probabilities');
    signature.outputs.push({
      name: 'probabilities',
      type: dtype,
      shape: ['batch', width],
      description: `softmax over the classes: ${listed(t.classes)}`,
    });
    if (options.label ?? true) {
      const label = g.node('ArgMax', [out.value], '/answer', [
        { name: 'axis', int: 1 },
        { name: 'keepdims', int: 0 },
      ]);
      g.rename(label, 'label');
      signature.outputs.push({
        name: 'label',
        type: 'int64',
        shape: ['batch'],
        description: 'index of the most probable class (the first on ties)',
      });
    }
  } else if (t?.kind === 'numeric') {
    if (width !== 1)
      throw new OnnxExportError(
        `toOnnx: a regression model should have 1 output but the network ` +
          (width === null ? `gives ${showShape(out.shape)}` : `has ${width}`),
      );
    const scaled = g.node('Mul', [out.value, g.scalar(t.std)], '/answer');
    g.rename(g.node('Add', [scaled, g.scalar(t.mean)], '/answer'), 'prediction');
    signature.outputs.push({
      name: 'prediction',
      type: dtype,
      shape: ['batch', 1],
      description: `${t.name}, in its own units`,
    });
  } else if (sequence?.kind === 'text') {
    const vocab = sequence.vocab.chars.length;
    if (out.shape.length !== 2 || out.shape[1] !== vocab)
      throw new OnnxExportError(
        `toOnnx: the vocabulary has ${vocab} characters but the network gives ${showShape(out.shape)}, ` +
          `not [batch, length, ${vocab}]`,
      );
    g.rename(out.value, 'logits');
    signature.outputs.push({
      name: 'logits',
      type: dtype,
      shape: ['batch', 'length', vocab],
      description: "the next character's logits after each position (softmax for its probabilities)",
    });
  } else if (sequence?.kind === 'series') {
    if (widthOf(out.shape) !== 1)
      throw new OnnxExportError(
        `toOnnx: a forecaster should give one value per window but the network gives ${showShape(out.shape)}`,
      );
    const scaled = g.node('Mul', [out.value, g.scalar(sequence.std)], '/answer');
    g.rename(g.node('Add', [scaled, g.scalar(sequence.mean)], '/answer'), 'prediction');
    signature.outputs.push({
      name: 'prediction',
      type: dtype,
      shape: ['batch', 1],
      description: `the next value of ${sequence.column}, in its own units`,
    });
  } else {
    g.rename(out.value, 'output');
    signature.outputs.push({
      name: 'output',
      type: dtype,
      shape: [guess.leading, ...out.shape],
      description: 'the network output',
    });
  }
  return { graph: g, signature, pre: pre ?? sequence };
}

function encodeTensor(t: Initializer): ProtoWriter {
  const w = new ProtoWriter();
  for (const d of t.dims) w.int(TENSOR.dims, d);
  w.int(TENSOR.dataType, ELEM[t.type]).string(TENSOR.name, t.name);
  if (t.type === 'int64') return w.packedInts(TENSOR.int64Data, t.values);
  const values = t.type === 'float64' ? Float64Array.from(t.values) : Float32Array.from(t.values);
  return w.bytes(TENSOR.rawData, floatsToBytes(values));
}

function encodeAttribute(a: Attribute): ProtoWriter {
  const w = new ProtoWriter().string(ATTRIBUTE.name, a.name);
  if ('float' in a) return w.float(ATTRIBUTE.f, a.float).int(ATTRIBUTE.type, ATTR_FLOAT);
  if ('ints' in a) {
    // Unpacked, as onnx.proto (proto2) declares the field; every parser reads that form.
    for (const v of a.ints) w.int(ATTRIBUTE.ints, v);
    return w.int(ATTRIBUTE.type, ATTR_INTS);
  }
  if ('string' in a) return w.string(ATTRIBUTE.s, a.string).int(ATTRIBUTE.type, ATTR_STRING);
  if ('strings' in a) {
    for (const v of a.strings) w.string(ATTRIBUTE.strings, v);
    return w.int(ATTRIBUTE.type, ATTR_STRINGS);
  }
  return w.int(ATTRIBUTE.i, a.int).int(ATTRIBUTE.type, ATTR_INT);
}

function encodeNode(n: NodeSpec): ProtoWriter {
  const w = new ProtoWriter();
  for (const i of n.inputs) w.string(NODE.input, i);
  for (const o of n.outputs) w.string(NODE.output, o);
  w.string(NODE.name, n.name).string(NODE.opType, n.op);
  for (const a of n.attributes) w.message(NODE.attribute, encodeAttribute(a));
  return w;
}

function encodeValueInfo(v: OnnxValue): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of v.shape)
    shape.message(
      SHAPE.dim,
      typeof d === 'number'
        ? new ProtoWriter().int(DIM.value, d)
        : d === UNKNOWN
          ? new ProtoWriter()
          : new ProtoWriter().string(DIM.param, d),
    );
  const tensorType = new ProtoWriter()
    .int(TENSOR_TYPE.elemType, ELEM[v.type])
    .message(TENSOR_TYPE.shape, shape);
  return new ProtoWriter()
    .string(VALUE_INFO.name, v.name)
    .message(VALUE_INFO.type, new ProtoWriter().message(TYPE.tensorType, tensorType))
    .string(VALUE_INFO.docString, v.description);
}

/**
 * The interface of the graph {@link toOnnx} would write for `model` with `options`: input and output
 * names, element types, shapes and what each holds. Throws what `toOnnx` throws.
 */
export function onnxSignature(model: Module, options: OnnxOptions = {}): OnnxSignature {
  return build(model, options).signature;
}

/**
 * Export a model as ONNX (IR 8, opset 17, default domain only); the bytes of a `.onnx` file. Inference
 * only: Dropout and Identity are left out. Linear is `Gemm` (`MatMul` without bias) on the [in, out]
 * weight; activations map to their ONNX ops, GELU to 0.5·x·(1 + Erf(x/√2)) since Gelu is opset 20. A
 * float32 model has float32 inputs, weights and outputs; a float64 model float64 ones (LeakyReLU, ELU and
 * Softplus are then composed from ops that onnxruntime runs in double).
 *
 * The image layers: Conv1d/Conv2d are `Conv` (the weight as stored, [out, in/groups, …kernel]; strides,
 * dilations, group, and explicit pads, so PyTorch's asymmetric `'same'` puts its extra zero after);
 * MaxPool1d/2d `MaxPool`; AvgPool2d `AveragePool` (count_include_pad, ceil_mode; where PyTorch drops a
 * last window that would start in the padding and the sizes are known, floor mode, which gives the same
 * windows); AdaptiveAvgPool2d(1) `GlobalAveragePool`; Flatten() `Flatten` (other axes and Unflatten:
 * `Reshape`); LayerNorm `LayerNormalization` (opset 17). BatchNorm is `BatchNormalization` on the running
 * statistics: the graph is for inference, evaluation mode, whatever mode the model is in (without running
 * statistics, the batch's own mean and variance, as ReduceMean nodes, as chainrule evaluates it). ONNX
 * defines all of these for double, but onnxruntime (1.30) has no double kernel for Conv, AveragePool and
 * GlobalAveragePool: a float64 CNN exports, and runs elsewhere, but onnxruntime refuses to load it.
 *
 * The sequence layers: Embedding is `Gather` on the graph's int64 input (an Embedding elsewhere is
 * refused); RNN, LSTM and GRU are ONNX's own ops, one node per layer, PyTorch's weights repacked to
 * ONNX's gate orders (LSTM i, o, f, c; GRU z, r, h with `linear_before_reset` = 1), batch-first layers
 * transposed in and out, stacked and bidirectional layers as chainrule runs them; LastStep `Gather` of
 * index −1 on the time axis; MultiheadAttention (self-attention, as `forward`), TransformerBlock (its
 * causal mask by `Trilu` and `Where`, so the length may stay symbolic) and GPT (position rows sliced to
 * the input's length) from MatMul, Reshape, Transpose, Softmax and LayerNormalization. Sequence lengths
 * stay symbolic (`'length'`). onnxruntime (1.30) runs RNN, LSTM and GRU in float32 only.
 *
 * Without `preprocessing`: input `input` [batch, …sample] (see {@link OnnxOptions.inputShape}), output
 * `output` [batch, …], the network as is.
 *
 * With `preprocessing` (a model from `chainrule train`) the graph takes the same raw values as
 * `chainrule predict`:
 * - `features` [batch, numeric columns], the model's dtype: the numeric columns' raw values, in the order
 *   the preprocessing lists them; the graph subtracts their mean and divides by their std.
 * - `categories` [batch, text columns], int64: for each text column, in order, the 0-based index of the
 *   value in that column's `categories` list; the graph one-hot encodes it (an index outside the list
 *   gives all zeros, ONNX's OneHot rule, where `chainrule predict` would stop with an error).
 * Each input is present only when there are such columns. Outputs: a classifier gives `probabilities`
 * [batch, classes] (softmax of the logits, classes in the preprocessing's order) and `label` [batch]
 * int64 (ArgMax, unless `label: false`); a regressor gives `prediction` [batch, 1] in the target's units.
 * A sequence model's preprocessing ({@link OnnxSequencePreprocessing}): a language model's vocabulary
 * gives input `ids` [batch, length] int64 and output `logits` [batch, length, vocab]; a forecaster's
 * scaling gives input `window` [batch, window, 1] (raw values, standardized in the graph) and output
 * `prediction` [batch, 1] in the series' units.
 * The preprocessing is also stored as JSON in the model's metadata (`chainrule.preprocessing`).
 *
 * Throws {@link OnnxExportError} naming the module for layers ONNX cannot express (custom modules,
 * subclasses, a softmax over an axis the graph does not have), for layers whose input does not fit
 * (rank, channels, a window larger than the input) and for mixed dtypes; a preprocessing that does not
 * fit the network (input width, number of classes) is refused too.
 */
export function toOnnx(model: Module, options: OnnxOptions = {}): Uint8Array {
  const { graph: g, signature, pre } = build(model, options);
  const graph = new ProtoWriter();
  for (const n of g.nodes) graph.message(GRAPH.node, encodeNode(n));
  graph.string(GRAPH.name, 'chainrule');
  for (const t of g.initializers) graph.message(GRAPH.initializer, encodeTensor(t));
  for (const v of signature.inputs) graph.message(GRAPH.input, encodeValueInfo(v));
  for (const v of signature.outputs) graph.message(GRAPH.output, encodeValueInfo(v));

  const out = new ProtoWriter()
    .int(MODEL.irVersion, ONNX_IR_VERSION)
    .string(MODEL.producerName, 'chainrule')
    .string(MODEL.producerVersion, VERSION);
  if (options.docString) out.string(MODEL.docString, options.docString);
  out.message(MODEL.graph, graph);
  out.message(MODEL.opsetImport, new ProtoWriter().string(OPSET.domain, '').int(OPSET.version, ONNX_OPSET));
  if (pre)
    out.message(
      MODEL.metadataProps,
      new ProtoWriter().string(ENTRY.key, 'chainrule.preprocessing').string(ENTRY.value, JSON.stringify(pre)),
    );
  return out.finish();
}
