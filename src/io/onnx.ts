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
import { ACTIVATION_OPS, activationInfo, type OnnxNodes } from '../kernels/unary.js';
import { Dropout, Identity, Linear, Sequential, Softmax } from '../nn/layers.js';
import { activationOfModule } from '../nn/spec.js';
import type { Module } from '../nn/module.js';
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
   * Its shape; a string is a symbolic dimension: `'batch'`, or `'features'` / `'outputs'` for a width that
   * a network without Linear layers does not fix.
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
  preprocessing?: Preprocessing | null;
  /** Add the `label` output (ArgMax) to a classifier (default true). */
  label?: boolean;
  /** Free text stored as the model's doc string. */
  docString?: string;
}

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

/** AttributeProto.AttributeType. */
const ATTR_FLOAT = 1;
const ATTR_INT = 2;

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
const ATTRIBUTE = { name: 1, f: 2, i: 3, type: 20 } as const;
const TENSOR = { dims: 1, dataType: 2, int64Data: 7, name: 8, rawData: 9 } as const;
const VALUE_INFO = { name: 1, type: 2, docString: 3 } as const;
const TYPE = { tensorType: 1 } as const;
const TENSOR_TYPE = { elemType: 1, shape: 2 } as const;
const SHAPE = { dim: 1 } as const;
const DIM = { value: 1, param: 2 } as const;

// ---------------------------------------------------------------------------------------------------------
// The graph under construction.

type Attribute = { name: string; float: number } | { name: string; int: number };

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

/**
 * The layer classes ONNX export knows, for the message that refuses the others (not yet the convolution,
 * pooling and normalization layers a spec can describe).
 */
const SUPPORTED = [
  'Linear',
  ...ACTIVATION_OPS.map((op) => activationInfo(op).module),
  'Softmax',
  'Identity',
  'Dropout',
  'Sequential',
].join(', ');

/** A module with its dotted path in the model ('' for the root, '2' for layer 2, '1.0' nested). */
function where(path: string, m: Module): string {
  return `${path === '' ? 'the model' : `layer ${path}`} (${m.constructor.name})`;
}

/** Width state while walking the layers: the number of features, or null when not yet known. */
interface Walk {
  value: string;
  width: number | null;
}

/** Emit the nodes of module `m` (at `path`) applied to `at`; returns the new value and its width. */
function emitModule(g: Graph, m: Module, path: string, at: Walk): Walk {
  const base = path === '' ? '/network' : `/${path.replace(/\./g, '/')}`;
  const prefix = path === '' ? '' : `${path}.`;
  // Exact classes, as toSpec: a subclass may change forward, and exporting it as its parent would be wrong.
  const act = activationOfModule(m);
  if (act)
    return { value: activationInfo(act.op).onnx(scoped(g, base), at.value, act.param), width: at.width };
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
      if (at.width !== null && at.width !== l.inFeatures)
        throw new OnnxExportError(
          `toOnnx: ${where(path, m)} takes ${l.inFeatures} features but receives ${at.width}`,
        );
      checkDType(g, l.weight, `${prefix}weight`);
      const w = g.constant(`${prefix}weight`, l.weight.data, [l.inFeatures, l.outFeatures]);
      let value: string;
      if (l.bias) {
        checkDType(g, l.bias, `${prefix}bias`);
        const b = g.constant(`${prefix}bias`, l.bias.data, [l.outFeatures]);
        // Gemm with the weight as stored: y = x·W + b, our [in, out] layout, no transpose attribute.
        value = g.node('Gemm', [at.value, w, b], base);
      } else value = g.node('MatMul', [at.value, w], base);
      return { value, width: l.outFeatures };
    }
    case Softmax: {
      const axis = (m as Softmax).axis;
      // The graph's values are [batch, features]; chainrule's softmax would fail on another axis too.
      if (!Number.isInteger(axis) || axis < -2 || axis > 1)
        throw new OnnxExportError(
          `toOnnx: ${where(path, m)} has axis ${axis}, but its input is [batch, features] (axis -2…1)`,
        );
      const value = g.node('Softmax', [at.value], base, [{ name: 'axis', int: axis }]);
      return { value, width: at.width };
    }
    case Identity:
    case Dropout:
      // The export is for inference: dropout is the identity in evaluation mode.
      return at;
    default:
      throw new OnnxExportError(
        `toOnnx: ${where(path, m)} cannot be expressed in ONNX; supported modules: ${SUPPORTED}`,
      );
  }
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

/** The network's input and output widths: from its first and last Linear (null without one). */
function widths(model: Module): { input: number | null; output: number | null } {
  const linears: Linear[] = [];
  const visit = (m: Module) => {
    if (m instanceof Linear) linears.push(m);
    for (const [, c] of m.namedChildren()) visit(c);
  };
  visit(model);
  return {
    input: linears.length ? linears[0].inFeatures : null,
    output: linears.length ? linears[linears.length - 1].outFeatures : null,
  };
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
      description: `numeric columns, raw values (standardized in the graph): ${listed(numeric.map((f) => f.name))}`,
    });
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
    const centred = g.node('Sub', [input, mean], '/preprocessing');
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
        categorical.map((f) => `${f.name} (${listed(f.categories.map((c, i) => `${i}=${c}`))})`).join('; '),
    });
    const offOn = g.constant('preprocessing.one_hot_values', [0, 1], [2], 'float32');
    categorical.forEach((f, j) => {
      const b = `/preprocessing/${j}`;
      const index = g.constant(`preprocessing.column_${j}`, [j], [], 'int64');
      const depth = g.constant(`preprocessing.depth_${j}`, [f.categories.length], [], 'int64');
      const picked = g.node('Gather', [input, index], b, [{ name: 'axis', int: 1 }]);
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
  pre: Preprocessing | null;
}

function build(model: Module, options: OnnxOptions): Built {
  const dtype = modelDType(model);
  const g = new Graph(dtype);
  const signature: OnnxSignature = { inputs: [], outputs: [] };
  const pre = options.preprocessing == null ? null : checkPreprocessing(options.preprocessing);
  const w = widths(model);
  let walk: Walk;
  if (pre) {
    if (w.input !== null && w.input !== pre.inputSize)
      throw new OnnxExportError(
        `toOnnx: the preprocessing makes ${pre.inputSize} inputs but the network takes ${w.input}`,
      );
    walk = { value: emitPreprocessing(g, pre, signature), width: pre.inputSize };
  } else {
    const input = g.claim('input');
    signature.inputs.push({
      name: input,
      type: dtype,
      shape: ['batch', w.input ?? 'features'],
      description: 'the network input',
    });
    walk = { value: input, width: w.input };
  }
  // The network's own names ('0.weight') cannot clash with the ones above; its values start with '/'.
  const out = emitModule(g, model, '', walk);
  const width = out.width;
  const t = pre?.target;
  if (t?.kind === 'classes') {
    if (width !== t.classes.length)
      throw new OnnxExportError(
        `toOnnx: the target has ${t.classes.length} classes but the network has ${width ?? 'an unknown number of'} outputs`,
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
        `toOnnx: a regression model should have 1 output but the network has ${width ?? 'an unknown number of'}`,
      );
    const scaled = g.node('Mul', [out.value, g.scalar(t.std)], '/answer');
    g.rename(g.node('Add', [scaled, g.scalar(t.mean)], '/answer'), 'prediction');
    signature.outputs.push({
      name: 'prediction',
      type: dtype,
      shape: ['batch', 1],
      description: `${t.name}, in its own units`,
    });
  } else {
    g.rename(out.value, 'output');
    signature.outputs.push({
      name: 'output',
      type: dtype,
      shape: ['batch', width ?? 'outputs'],
      description: 'the network output',
    });
  }
  return { graph: g, signature, pre };
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
      typeof d === 'number' ? new ProtoWriter().int(DIM.value, d) : new ProtoWriter().string(DIM.param, d),
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
 * Without `preprocessing`: input `input` [batch, in], output `output` [batch, out], the network as is.
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
 * The preprocessing is also stored as JSON in the model's metadata (`chainrule.preprocessing`).
 *
 * Throws {@link OnnxExportError} naming the module for layers ONNX cannot express (custom modules,
 * subclasses, a softmax over an axis the graph does not have) and for mixed dtypes; a preprocessing
 * that does not fit the network (input width, number of classes) is refused too.
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
