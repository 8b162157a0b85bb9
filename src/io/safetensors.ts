/**
 * Weights in the safetensors format (huggingface/safetensors), with PyTorch's names and layouts, so a
 * chainrule `Sequential` and the matching `torch.nn.Sequential` can trade weights:
 * `model.load_state_dict(safetensors.torch.load_file('w.safetensors'))` in Python, and
 * `fromSafetensors` / `loadSafetensors` here.
 *
 * The format: 8 bytes, the header length N as a little-endian u64; N bytes of UTF-8 JSON mapping each
 * tensor name to `{ dtype, shape, data_offsets: [begin, end] }` (plus an optional `__metadata__` map of
 * strings); then the data, every tensor's little-endian bytes, offsets relative to the data's start.
 * Names are the state-dict keys (`'0.weight'`, `'1.running_mean'`); a Linear's weight is stored [out, in],
 * PyTorch's layout, i.e. transposed from chainrule's [in, out]; a convolution's weight is [out, in/groups,
 * …kernel] in both; BatchNorm's `num_batches_tracked` is an I64 scalar, as PyTorch keeps it (chainrule
 * holds it in the model's float dtype, exact up to 2⁵³). Files come from anywhere, so the reader checks
 * every field, offset and size before it reads a value, and names the tensor at fault.
 */
import { Linear, Sequential } from '../nn/layers.js';
import type { Module } from '../nn/module.js';
import { BatchNorm } from '../nn/norm.js';
import {
  ACTIVATIONS,
  ACTIVATION_NAMES,
  fromSpec,
  validateSpec,
  type ActivationName,
  type ActivationSpec,
  type LayerSpec,
  type ModelSpec,
} from '../nn/spec.js';
import { noGrad, type DType, type Tensor } from '../tensor.js';
import { bytesToFloats, floatsToBytes } from './base64.js';
import {
  jsonDepth,
  MAX_JSON_DEPTH,
  MAX_PARAMETERS,
  ModelFileError,
  specAllocationBound,
} from './modelfile.js';

/** A safetensors element type (`'F32'`, `'F64'`, `'BF16'`...). */
export type SafetensorsDType =
  | 'BOOL'
  | 'U8'
  | 'I8'
  | 'F8_E5M2'
  | 'F8_E4M3'
  | 'I16'
  | 'U16'
  | 'F16'
  | 'BF16'
  | 'I32'
  | 'U32'
  | 'F32'
  | 'I64'
  | 'U64'
  | 'F64';

/** Element types of the format and their sizes in bytes. */
const DTYPE_SIZES: Readonly<Record<SafetensorsDType, number>> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  I64: 8,
  U64: 8,
  F64: 8,
};

/** The element types chainrule can read into a float model. */
const FLOAT_DTYPES: readonly SafetensorsDType[] = ['F64', 'F32', 'F16', 'BF16'];

/** The integer element types a counter (BatchNorm's `num_batches_tracked`) may come in. */
const INT_DTYPES: readonly SafetensorsDType[] = ['I64', 'I32', 'I16', 'I8', 'U64', 'U32', 'U16', 'U8'];

/** The largest header accepted, as the reference implementation (100 MB): a guard against a bad length. */
export const SAFETENSORS_MAX_HEADER_SIZE = 100_000_000;

/** One tensor of a safetensors file: its element type, shape and raw little-endian bytes. */
export interface SafetensorsTensor {
  dtype: SafetensorsDType;
  shape: number[];
  /** A view into the file's bytes. */
  data: Uint8Array;
}

/** A parsed safetensors file. */
export interface SafetensorsFile {
  /** The tensors by name, in the order of their data in the file. */
  tensors: Map<string, SafetensorsTensor>;
  /** The `__metadata__` strings (empty when absent). */
  metadata: Record<string, string>;
}

/**
 * A safetensors file that cannot be read, or weights that do not fit the model. A `ModelFileError`
 * (message `source: problem`), so whatever treats a bad model file as bad input treats this one so too.
 */
export class SafetensorsError extends ModelFileError {
  constructor(source: string, problem: string) {
    super(source, problem);
    this.name = 'SafetensorsError';
  }
}

const fmtShape = (s: readonly number[]) => `[${s.join(', ')}]`;
const product = (s: readonly number[]) => s.reduce((n, d) => n * d, 1);

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function show(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

// ---------------------------------------------------------------------------------------------------------
// Reading.

/**
 * Parse and check a safetensors file: the header length (at most {@link SAFETENSORS_MAX_HEADER_SIZE}, within the
 * file), the header (UTF-8 JSON object starting with `{`), each tensor's dtype, shape and offsets (its
 * byte count must match its shape and dtype), and the data section (tensors must cover it exactly, with
 * no gaps or overlaps, as the reference implementation requires). Errors start with `source`.
 */
export function parseSafetensors(bytes: Uint8Array, source = 'safetensors file'): SafetensorsFile {
  const fail = (problem: string): never => {
    throw new SafetensorsError(source, problem);
  };
  if (bytes.length < 8)
    fail(
      `${bytes.length} bytes is too short for a safetensors file (it starts with an 8-byte header length)`,
    );
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const low = view.getUint32(0, true);
  const high = view.getUint32(4, true);
  const headerSize = high * 2 ** 32 + low;
  if (high !== 0 || headerSize > SAFETENSORS_MAX_HEADER_SIZE)
    fail(
      `header length ${headerSize} is over the limit of ${SAFETENSORS_MAX_HEADER_SIZE} bytes (not a safetensors file?)`,
    );
  if (8 + headerSize > bytes.length)
    fail(`header length ${headerSize} runs past the end of the file (${bytes.length} bytes; truncated?)`);
  const headerBytes = bytes.subarray(8, 8 + headerSize);
  if (headerBytes[0] !== 0x7b) fail("the header does not start with '{' (not a safetensors file?)");
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch (e) {
    return fail(`the header is not valid UTF-8 JSON: ${(e as Error).message}`);
  }
  if (!isRecord(header)) return fail('the header is not a JSON object');
  if (jsonDepth(header, MAX_JSON_DEPTH) > MAX_JSON_DEPTH)
    fail(`the header nests arrays and objects more than ${MAX_JSON_DEPTH} levels deep`);

  const metadata: Record<string, string> = {};
  if ('__metadata__' in header) {
    const m = header.__metadata__;
    if (!isRecord(m)) fail(`__metadata__: expected an object of strings, got ${show(m)}`);
    for (const [k, v] of Object.entries(m as Record<string, unknown>)) {
      if (typeof v !== 'string') fail(`__metadata__.${k}: expected a string, got ${show(v)}`);
      metadata[k] = v as string;
    }
  }

  const data = bytes.subarray(8 + headerSize);
  const entries: { name: string; dtype: SafetensorsDType; shape: number[]; begin: number; end: number }[] =
    [];
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const at = `tensor '${name}'`;
    if (!isRecord(info)) return fail(`${at}: expected { dtype, shape, data_offsets }, got ${show(info)}`);
    const { dtype, shape, data_offsets: offsets } = info;
    if (typeof dtype !== 'string' || !Object.hasOwn(DTYPE_SIZES, dtype))
      fail(`${at}: unknown dtype ${show(dtype)}; expected one of ${Object.keys(DTYPE_SIZES).join(', ')}`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0))
      fail(`${at}: shape must be a list of non-negative integers, got ${show(shape)}`);
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && (o as number) >= 0) ||
      (offsets[0] as number) > (offsets[1] as number)
    )
      fail(`${at}: data_offsets must be [begin, end] with 0 ≤ begin ≤ end, got ${show(offsets)}`);
    const [begin, end] = offsets as [number, number];
    const dims = shape as number[];
    const expected = product(dims) * DTYPE_SIZES[dtype as SafetensorsDType];
    if (end - begin !== expected)
      fail(
        `${at}: data_offsets [${begin}, ${end}] hold ${end - begin} bytes, but shape ${fmtShape(dims)} of ` +
          `${dtype} needs ${expected}`,
      );
    if (end > data.length)
      fail(`${at}: data_offsets [${begin}, ${end}] run past the data's ${data.length} bytes (truncated?)`);
    entries.push({ name, dtype: dtype as SafetensorsDType, shape: dims, begin, end });
  }
  // The data must be tiled exactly: no byte unaccounted for (a hole could hide anything) and no overlap.
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  for (const e of entries) {
    if (e.begin !== covered)
      fail(
        e.begin < covered
          ? `tensor '${e.name}': its data [${e.begin}, ${e.end}] overlaps the previous tensor's, which ends at ${covered}`
          : `tensor '${e.name}': its data starts at ${e.begin}, but the previous tensor ends at ${covered} (a gap)`,
      );
    covered = e.end;
  }
  if (covered !== data.length)
    fail(`the tensors cover ${covered} bytes of data, but the file has ${data.length} after the header`);
  const tensors = new Map<string, SafetensorsTensor>();
  for (const e of entries)
    tensors.set(e.name, { dtype: e.dtype, shape: e.shape, data: data.subarray(e.begin, e.end) });
  return { tensors, metadata };
}

/** Half-precision bits → number (exact). */
function halfToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** The values of a float tensor as float64 (exact for every float dtype), or null for other dtypes. */
function tensorValues(t: SafetensorsTensor): Float64Array | Float32Array | null {
  switch (t.dtype) {
    case 'F64':
      return bytesToFloats(t.data, 'float64');
    case 'F32':
      return bytesToFloats(t.data, 'float32');
    case 'F16':
    case 'BF16': {
      const n = t.data.length / 2;
      const view = new DataView(t.data.buffer, t.data.byteOffset, t.data.byteLength);
      const out = new Float32Array(n);
      if (t.dtype === 'F16') for (let i = 0; i < n; i++) out[i] = halfToNumber(view.getUint16(i * 2, true));
      else {
        // bfloat16 is the top half of a float32.
        const bits = new Uint32Array(out.buffer);
        for (let i = 0; i < n; i++) bits[i] = view.getUint16(i * 2, true) << 16;
      }
      return out;
    }
    default:
      return null;
  }
}

/**
 * How a tensor of `model` is stored where it differs from chainrule's own layout: a Linear's weight
 * transposed ([out, in]), BatchNorm's batch counter as an I64 scalar.
 */
function storedLayouts(model: Module): Map<Tensor, 'linear' | 'counter'> {
  const out = new Map<Tensor, 'linear' | 'counter'>();
  const visit = (m: Module) => {
    if (m instanceof Linear) out.set(m.weight, 'linear');
    if (m instanceof BatchNorm && m.num_batches_tracked) out.set(m.num_batches_tracked, 'counter');
    for (const [, child] of m.namedChildren()) visit(child);
  };
  visit(model);
  return out;
}

/** The values of an integer tensor as numbers, or null when one is beyond 2⁵³ (or the dtype not an integer). */
function integerValues(t: SafetensorsTensor): number[] | null {
  const size = DTYPE_SIZES[t.dtype];
  if (!INT_DTYPES.includes(t.dtype)) return null;
  const view = new DataView(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  const signed = t.dtype.startsWith('I');
  const out: number[] = [];
  for (let at = 0; at < t.data.length; at += size) {
    let v: number;
    if (size === 8) {
      const big = signed ? view.getBigInt64(at, true) : view.getBigUint64(at, true);
      if (big > BigInt(Number.MAX_SAFE_INTEGER) || big < -BigInt(Number.MAX_SAFE_INTEGER)) return null;
      v = Number(big);
    } else if (size === 4) v = signed ? view.getInt32(at, true) : view.getUint32(at, true);
    else if (size === 2) v = signed ? view.getInt16(at, true) : view.getUint16(at, true);
    else v = signed ? view.getInt8(at) : view.getUint8(at);
    out.push(v);
  }
  return out;
}

/** [rows, cols] row-major → [cols, rows] row-major. */
function transposed(
  src: ArrayLike<number>,
  rows: number,
  cols: number,
  out: Float32Array | Float64Array,
): void {
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = src[r * cols + c];
}

/**
 * How the file's tensor names become the model's: a function, or prefixes to replace, the longest that
 * matches winning (`{ 'lstm.': '0.', 'head.': '2.' }`; `''` matches every name, so `{ '': '0.' }` reads a
 * bare `nn.LSTM`'s `weight_ih_l0` as layer 0's). A name no prefix matches stays as it is.
 */
export type SafetensorsRename = ((name: string) => string) | Readonly<Record<string, string>>;

/** Options of {@link loadSafetensors}. */
export interface LoadSafetensorsOptions {
  /** Name of the file for messages (default `'safetensors file'`). */
  source?: string;
  /** The file's names → the model's (see {@link SafetensorsRename}); default: the same names. */
  rename?: SafetensorsRename;
}

/**
 * The file with its tensors under the model's names, and each new name's name in the file (for messages);
 * two tensors that would get one name are refused.
 */
function renamed(
  file: SafetensorsFile,
  rename: SafetensorsRename | undefined,
  fail: (problem: string) => never,
): { file: SafetensorsFile; inFile: Map<string, string> } {
  const inFile = new Map<string, string>();
  if (rename === undefined) return { file, inFile };
  const prefixes =
    typeof rename === 'function' ? [] : Object.keys(rename).sort((a, b) => b.length - a.length);
  const map = (name: string): string => {
    if (typeof rename === 'function') return rename(name);
    const from = prefixes.find((p) => name.startsWith(p));
    return from === undefined ? name : rename[from] + name.slice(from.length);
  };
  const tensors = new Map<string, SafetensorsTensor>();
  for (const [name, t] of file.tensors) {
    const to = map(name);
    if (typeof to !== 'string' || to === '') fail(`renaming tensor '${name}' gave ${show(to)}, not a name`);
    const before = inFile.get(to);
    if (before !== undefined) fail(`tensors '${before}' and '${name}' are both renamed '${to}'`);
    inFile.set(to, name);
    tensors.set(to, t);
  }
  return { file: { tensors, metadata: file.metadata }, inFile };
}

/**
 * Load safetensors weights into `model` in place (optimizers over its parameters keep working): any
 * module, so a PyTorch `nn.LSTM`, `nn.GRU` or `nn.MultiheadAttention` file loads into `nn.LSTM`, `nn.GRU`
 * or `nn.MultiheadAttention` as it is (their names, layouts and gate orders are PyTorch's), and a model
 * whose names differ with `rename` (a flat one-block GPT's `ln1.weight` as `blocks.0.ln1.weight`). The
 * file must hold exactly the model's state-dict keys (a missing or unexpected one is named), each with
 * the PyTorch shape (a Linear's weight [out, in], transposed here), in a float dtype (F64, F32, F16 or BF16; converted to the model's dtype,
 * so a float32 file loads into a float64 model exactly). Everything is checked before anything is
 * written: a failed load leaves the model as it was. `bytes` may also be an already parsed file.
 */
export function loadSafetensors(
  model: Module,
  bytes: Uint8Array | SafetensorsFile,
  options: LoadSafetensorsOptions = {},
): void {
  const source = options.source ?? 'safetensors file';
  const fail = (problem: string): never => {
    throw new SafetensorsError(source, problem);
  };
  const parsed = bytes instanceof Uint8Array ? parseSafetensors(bytes, source) : bytes;
  const { file, inFile } = renamed(parsed, options.rename, fail);
  // A renamed tensor is named as the file has it, and as the model reads it.
  const called = (n: string): string => {
    const original = inFile.get(n);
    return original === undefined || original === n ? `'${n}'` : `'${original}' (read as '${n}')`;
  };
  const own = model.namedTensors();
  const names = new Set(own.map(([n]) => n));
  const missing = own.filter(([n]) => !file.tensors.has(n)).map(([n]) => `'${n}'`);
  const unexpected = [...file.tensors.keys()].filter((n) => !names.has(n)).map(called);
  if (missing.length > 0 || unexpected.length > 0)
    fail(
      'the tensors do not match the model: ' +
        [
          missing.length > 0 ? `missing ${missing.join(', ')}` : '',
          unexpected.length > 0 ? `unexpected ${unexpected.join(', ')}` : '',
        ]
          .filter(Boolean)
          .join('; ') +
        ` (the model has ${own.map(([n]) => `'${n}'`).join(', ') || 'no tensors'})`,
    );
  const layouts = storedLayouts(model);
  const updates: [Tensor, Float32Array | Float64Array][] = [];
  for (const [name, target] of own) {
    const t = file.tensors.get(name)!;
    const layout = layouts.get(target);
    const isWeight = layout === 'linear';
    const expected = isWeight ? [target.shape[1], target.shape[0]] : [...target.shape];
    if (t.shape.length !== expected.length || t.shape.some((d, i) => d !== expected[i]))
      fail(
        `tensor ${called(name)} has shape ${fmtShape(t.shape)}, but the model expects ${fmtShape(expected)}` +
          (isWeight ? ` (a Linear(${target.shape[0]} → ${target.shape[1]}) weight, stored [out, in])` : ''),
      );
    let values: ArrayLike<number> | null = tensorValues(t);
    if (!values && layout === 'counter') {
      values = integerValues(t);
      if (!values && INT_DTYPES.includes(t.dtype))
        fail(
          `tensor '${name}' (a batch counter) holds a value beyond 2^53, which a float cannot count exactly`,
        );
    }
    if (!values)
      return fail(
        `tensor '${name}' has dtype ${t.dtype}; chainrule loads float tensors (${FLOAT_DTYPES.join(', ')})` +
          (layout === 'counter' ? `, or integers for a batch counter (${INT_DTYPES.join(', ')})` : ''),
      );
    const out = target.dtype === 'float64' ? new Float64Array(target.size) : new Float32Array(target.size);
    if (isWeight) transposed(values, expected[0], expected[1], out);
    else out.set(values);
    if (layout === 'counter' && out.some((v) => !Number.isInteger(v) || v < 0))
      fail(`tensor '${name}' (a batch counter) must hold a whole number ≥ 0, got ${out[0]}`);
    updates.push([target, out]);
  }
  noGrad(() => {
    for (const [target, values] of updates) target.data.set(values);
  });
}

/** Options of {@link fromSafetensors}. */
export interface FromSafetensorsOptions {
  /**
   * The architecture. Without it, it is inferred from the tensors of a flat `nn.Sequential` of Linear
   * layers with one parameterless module (the activation) between each two: keys `0.*`, `2.*`, `4.*`...
   * A CNN needs it: its file has no trace of pooling, activations, Flatten, strides or paddings (a file
   * with convolution weights or batch-norm statistics and no spec is refused, saying so).
   */
  spec?: ModelSpec;
  /** When inferring: the expected hidden sizes (e.g. [16, 8]), checked against the tensors. */
  layers?: readonly number[];
  /**
   * When inferring: the activation after each hidden Linear, one for all or one per hidden layer
   * (default `'relu'`); a name (PyTorch's default parameters) or a full activation spec.
   */
  activation?: ActivationName | ActivationSpec | readonly (ActivationName | ActivationSpec)[];
  /** The model's dtype (default: float64 when every tensor is F64, else float32). */
  dtype?: DType;
  /** Name of the file for messages. */
  source?: string;
  /** The file's names → the model's (see {@link SafetensorsRename}), applied before anything is inferred. */
  rename?: SafetensorsRename;
}

function activationSpec(a: ActivationName | ActivationSpec, fail: (p: string) => never): ActivationSpec {
  if (typeof a === 'string') {
    if (!Object.hasOwn(ACTIVATIONS, a))
      fail(`unknown activation ${show(a)}; expected one of ${ACTIVATION_NAMES.join(', ')}`);
    return ACTIVATIONS[a];
  }
  return a;
}

/** The spec of a flat PyTorch MLP from its tensor names and shapes. */
function inferSpec(
  file: SafetensorsFile,
  options: FromSafetensorsOptions,
  fail: (p: string) => never,
): ModelSpec {
  // A CNN's file holds its convolutions and norms, but not what has no tensors (activations, pooling,
  // Flatten) nor a convolution's stride and padding: nothing to infer from, so say what is needed.
  for (const [name, t] of file.tensors) {
    const image = /\.weight$/.test(name) && t.shape.length > 2;
    if (image || /\.(running_mean|running_var|num_batches_tracked)$/.test(name))
      fail(
        `cannot infer the architecture: tensor '${name}' (${t.dtype} ${fmtShape(t.shape)}) belongs to a ` +
          `${image ? 'convolution' : 'batch norm'}, and a network with one does not record its pooling, ` +
          'activations, strides or paddings; pass the architecture (spec) instead',
      );
  }
  const found = new Map<number, { weight?: SafetensorsTensor; bias: boolean }>();
  for (const [name, t] of file.tensors) {
    const m = /^(0|[1-9]\d*)\.(weight|bias)$/.exec(name);
    if (!m)
      return fail(
        `cannot infer the architecture: tensor '${name}' is not a '<index>.weight' or '<index>.bias' of a flat ` +
          'nn.Sequential; pass the architecture (spec) instead',
      );
    const index = Number(m[1]);
    const entry = found.get(index) ?? { bias: false };
    if (m[2] === 'bias') entry.bias = true;
    else if (t.shape.length !== 2)
      fail(`tensor '${name}' has shape ${fmtShape(t.shape)}; a Linear weight is 2-D [out, in]`);
    else entry.weight = t;
    found.set(index, entry);
  }
  const indices = [...found.keys()].sort((a, b) => a - b);
  const linears = new Map<number, { weight: SafetensorsTensor; bias: boolean }>();
  for (const i of indices) {
    const { weight, bias } = found.get(i)!;
    if (!weight) return fail(`tensor '${i}.bias' has no '${i}.weight' beside it`);
    linears.set(i, { weight, bias });
  }
  if (indices.length === 0) fail('no tensors: nothing to infer an architecture from');
  if (indices[0] !== 0)
    fail(`the first Linear is '${indices[0]}.weight', not '0.weight'; pass the architecture (spec) instead`);
  for (let k = 1; k < indices.length; k++)
    if (indices[k] - indices[k - 1] !== 2)
      fail(
        `'${indices[k - 1]}.weight' and '${indices[k]}.weight' have ${indices[k] - indices[k - 1] - 1} modules ` +
          'between them; only one (the activation) can be inferred: pass the architecture (spec) instead',
      );
  const sizes = [linears.get(0)!.weight.shape[1]];
  for (const i of indices) {
    const [out, inp] = linears.get(i)!.weight.shape;
    if (inp !== sizes[sizes.length - 1])
      fail(
        `tensor '${i}.weight' has shape ${fmtShape([out, inp])}: it takes ${inp} inputs, but the layer ` +
          `before gives ${sizes[sizes.length - 1]}`,
      );
    sizes.push(out);
  }
  const hidden = sizes.slice(1, -1);
  if (
    options.layers &&
    (options.layers.length !== hidden.length || options.layers.some((s, i) => s !== hidden[i]))
  )
    fail(
      `the hidden sizes were given as ${options.layers.join(',') || '(none)'}, but the tensors have ` +
        `${hidden.join(',') || 'none'} (layers ${sizes.join(' → ')})`,
    );
  const given = options.activation ?? 'relu';
  const list = (Array.isArray(given) ? given : [given]) as (ActivationName | ActivationSpec)[];
  if (list.length !== 1 && list.length !== hidden.length)
    fail(
      `${list.length} activations given for ${hidden.length} hidden layers; give one, or one per hidden layer`,
    );
  const acts = list.map((a) => activationSpec(a, fail));
  const layers: LayerSpec[] = [];
  indices.forEach((i, k) => {
    layers.push({ type: 'linear', in: sizes[k], out: sizes[k + 1], bias: linears.get(i)!.bias });
    if (k + 1 < indices.length) layers.push({ ...acts[acts.length === 1 ? 0 : k] });
  });
  try {
    return validateSpec({ type: 'sequential', layers });
  } catch (e) {
    return fail((e as Error).message);
  }
}

/**
 * Build a `Sequential` from safetensors weights (in evaluation mode, ready to predict). With `spec`, the
 * architecture is that spec; without, it is inferred from the tensors of a flat PyTorch MLP (see
 * {@link FromSafetensorsOptions}), checked against `layers` when given. The weights are loaded with
 * {@link loadSafetensors}'s checks. `bytes` may also be an already parsed file.
 */
export function fromSafetensors(
  bytes: Uint8Array | SafetensorsFile,
  options: FromSafetensorsOptions = {},
): Sequential {
  const source = options.source ?? 'safetensors file';
  const fail = (problem: string): never => {
    throw new SafetensorsError(source, problem);
  };
  const parsed = bytes instanceof Uint8Array ? parseSafetensors(bytes, source) : bytes;
  const file = renamed(parsed, options.rename, fail).file;
  let spec: ModelSpec;
  if (options.spec) {
    try {
      spec = validateSpec(options.spec, 'spec');
    } catch (e) {
      return fail((e as Error).message);
    }
  } else spec = inferSpec(file, options, fail);
  // Before building: what the architecture allocates, against the limit and the values the file holds.
  const claimed = specAllocationBound(spec);
  let present = 0;
  for (const t of file.tensors.values()) present += t.data.length / DTYPE_SIZES[t.dtype];
  if (claimed > MAX_PARAMETERS || claimed > 64 * present + 4096)
    fail(
      `the architecture describes about ${claimed} parameters, but the file holds ${present} values` +
        (claimed > MAX_PARAMETERS ? ` (and the limit is ${MAX_PARAMETERS})` : ''),
    );
  // Integer tensors (batch counters) say nothing about the model's dtype.
  const floats = [...file.tensors.values()].filter((t) => !INT_DTYPES.includes(t.dtype));
  const all64 = floats.length > 0 && floats.every((t) => t.dtype === 'F64');
  const dtype = options.dtype ?? (all64 ? 'float64' : 'float32');
  // Zeros, not random: every weight is overwritten, and drawing them would move the default stream.
  const model = fromSpec(spec, { dtype, init: 'zeros' });
  loadSafetensors(model, parsed, { source, rename: options.rename });
  return model.eval();
}

// ---------------------------------------------------------------------------------------------------------
// Writing.

/** A tensor to write: its data is written as F32, F64 or I64 by its array type. */
export interface SafetensorsInput {
  shape: readonly number[];
  data: Float32Array | Float64Array | BigInt64Array;
}

/** An array's little-endian bytes. */
function littleEndian(data: Float32Array | Float64Array | BigInt64Array): Uint8Array {
  if (!(data instanceof BigInt64Array)) return floatsToBytes(data);
  const out = new Uint8Array(data.byteLength);
  const view = new DataView(out.buffer);
  data.forEach((v, i) => view.setBigInt64(i * 8, v, true));
  return out;
}

/**
 * Encode named float tensors as a safetensors file: tensors in name order (header and data alike),
 * `__metadata__` first when given, and the header padded with spaces so the data starts on an 8-byte
 * boundary, as the reference writer does.
 */
export function encodeSafetensors(
  tensors: Record<string, SafetensorsInput>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const names = Object.keys(tensors).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  // No prototype: a tensor named "__proto__" must become a key, not replace the prototype.
  const header = Object.create(null) as Record<string, unknown>;
  if (Object.keys(metadata).length > 0) header.__metadata__ = { ...metadata };
  let offset = 0;
  for (const name of names) {
    if (name === '__metadata__') throw new Error("encodeSafetensors: '__metadata__' cannot name a tensor");
    const t = tensors[name];
    if (product(t.shape) !== t.data.length)
      throw new Error(
        `encodeSafetensors: '${name}' has ${t.data.length} values but shape ${fmtShape(t.shape)}`,
      );
    header[name] = {
      dtype: t.data instanceof Float64Array ? 'F64' : t.data instanceof BigInt64Array ? 'I64' : 'F32',
      shape: [...t.shape],
      data_offsets: [offset, offset + t.data.byteLength],
    };
    offset += t.data.byteLength;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerSize = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerSize + offset);
  const view = new DataView(out.buffer);
  view.setUint32(0, headerSize % 2 ** 32, true);
  view.setUint32(4, Math.floor(headerSize / 2 ** 32), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerSize);
  let at = 8 + headerSize;
  for (const name of names) {
    const bytes = littleEndian(tensors[name].data);
    out.set(bytes, at);
    at += bytes.length;
  }
  return out;
}

/** Options of {@link toSafetensors}. */
export interface ToSafetensorsOptions {
  /** Extra `__metadata__` strings (`format: 'pt'` is always written, as `safetensors.torch` does). */
  metadata?: Record<string, string>;
}

/**
 * The model's weights and buffers as a safetensors file that `torch.nn.Sequential.load_state_dict`
 * accepts: every tensor under its state-dict name (`'0.weight'`, `'1.running_var'`), in its own dtype
 * (F32 or F64), each Linear's weight transposed to PyTorch's [out, in], BatchNorm's `num_batches_tracked`
 * as the I64 scalar PyTorch keeps. Values are written bit for bit, so `loadSafetensors` restores them
 * exactly.
 */
export function toSafetensors(model: Module, options: ToSafetensorsOptions = {}): Uint8Array {
  const layouts = storedLayouts(model);
  const tensors: Record<string, SafetensorsInput> = {};
  for (const [name, t] of model.namedTensors()) {
    const layout = layouts.get(t);
    if (layout === 'counter') {
      if (t.size !== 1 || !Number.isSafeInteger(t.data[0]) || t.data[0] < 0)
        throw new Error(
          `toSafetensors: '${name}' should be a whole number of batches, got ${Array.from(t.data)}`,
        );
      tensors[name] = { shape: [], data: BigInt64Array.of(BigInt(t.data[0])) };
    } else if (layout === 'linear') {
      const [inp, out] = t.shape;
      const data = t.dtype === 'float64' ? new Float64Array(t.size) : new Float32Array(t.size);
      transposed(t.data, inp, out, data);
      tensors[name] = { shape: [out, inp], data };
    } else tensors[name] = { shape: t.shape, data: t.data };
  }
  return encodeSafetensors(tensors, { format: 'pt', ...options.metadata });
}
