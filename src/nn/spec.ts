/**
 * Model specs: a `Sequential` described as plain JSON (layer types and sizes, no weights), so a model file
 * or a command line can say which network to build. `toSpec` describes a model, `fromSpec` builds one and
 * checks every field first, because specs arrive from files and flags.
 */
import { type RandomState } from '../random.js';
import { type DType } from '../tensor.js';
import { INITS, type Init } from './init.js';
import {
  ACTIVATION_OPS,
  activationInfo,
  defaultParam,
  type ActivationOp,
  type ActivationParams,
} from '../kernels/unary.js';
import { Activation, ACTIVATION_MODULES, Dropout, Identity, Linear, Sequential, Softmax } from './layers.js';
import type { Module } from './module.js';

/**
 * An elementwise activation layer as JSON: its op from the unary op table and, for the ones that take one,
 * its parameter under the table's name (`{ type: 'leakyRelu', slope: 0.01 }`, `{ type: 'elu', alpha: 1 }`).
 */
export type ElementwiseSpec = {
  [K in ActivationOp]: { type: K } & (ActivationParams[K] extends string
    ? { [P in ActivationParams[K]]: number }
    : unknown);
}[ActivationOp];

/** One layer of a `Sequential`, as JSON. Each variant maps to exactly one layer class. */
export type LayerSpec =
  | { type: 'linear'; in: number; out: number; bias: boolean }
  | ElementwiseSpec
  | { type: 'identity' }
  | { type: 'softmax'; axis: number }
  | { type: 'dropout'; p: number };

/** A whole model as JSON: for now always a `Sequential`; the `type` leaves room for other containers. */
export interface ModelSpec {
  type: 'sequential';
  layers: LayerSpec[];
}

/** The layer types of a spec. */
export type LayerType = LayerSpec['type'];

/** The layer specs that are activations (elementwise or softmax): what `mlpSpec` puts between layers. */
export type ActivationSpec = Exclude<LayerSpec, { type: 'linear' } | { type: 'dropout' }>;

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

/** The fields of each layer type besides `type`, the activations' aside (their table names theirs). */
const FIELDS: { readonly [T in Exclude<LayerType, ActivationOp>]: Readonly<Record<string, FieldCheck>> } = {
  linear: { in: positiveInt, out: positiveInt, bias: boolean },
  identity: {},
  softmax: { axis: integer },
  dropout: { p: probability },
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
 * passes `'architecture'`). Consecutive linear layers must agree on sizes (every other layer keeps the
 * width), so a spec that validates also builds and runs.
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
  const layers = spec.layers as unknown[];
  let width: { size: number; from: number } | null = null;
  layers.forEach((layer, i) => {
    const lp = at(`layers[${i}]`);
    const l = validateLayer(layer, lp);
    if (l.type === 'linear') {
      if (width && l.in !== width.size)
        throw new Error(
          `${lp}.in: expected ${width.size} (the output size of layers[${width.from}]), got ${l.in}`,
        );
      width = { size: l.out, from: i };
    }
  });
  return value as ModelSpec;
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
  /** Initialisation of the linear layers (default `'default'`, PyTorch's). */
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
    default:
      return null;
  }
}

/** The module classes a spec can describe, for messages. */
export const SPEC_MODULES = [
  'Linear',
  ...ACTIVATION_OPS.map((op) => activationInfo(op).module),
  'Softmax',
  'Identity',
  'Dropout',
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
      throw new Error(`${where}: ${(e as Error).message.replace(/^Linear: /, '')}`, { cause: e });
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
