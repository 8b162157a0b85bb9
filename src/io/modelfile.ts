/**
 * The model file: one versioned JSON document with the architecture (a `ModelSpec`), the weights (base64
 * of their little-endian bytes, so a reload is bit-identical) and what the data layer and the trainer want
 * to remember. A checkpoint is the same document plus the optimizer, scheduler and random-stream state
 * needed to continue training exactly where it stopped.
 *
 * Files come from disk and from people, so every reader checks everything and says what is wrong and
 * where, starting with the `source` it was given (a file path), ready to print as is.
 */
import type { Task } from '../data/preprocess.js';
import { Sequential } from '../nn/layers.js';
import type { Module } from '../nn/module.js';
import { fromSpec, validateSpec, toSpec, type ModelSpec } from '../nn/spec.js';
import type { Optimizer, OptimizerState } from '../optim/optimizer.js';
import type { LRScheduler, SchedulerState } from '../optim/schedulers.js';
import { RandomState, type RandomStateSnapshot } from '../random.js';
import type { EarlyStoppingState } from '../train/fit.js';
import type { DType, Tensor } from '../tensor.js';
import { base64ToBytes, bytesPerElement, bytesToFloats, encodeFloats } from './base64.js';

/** The library's version, written into every model file (keep it equal to package.json's). */
export const VERSION = '0.1.0';

/** The `format` field that marks a chainrule model file. */
export const MODEL_FORMAT = 'chainrule-model';

/** The file-format version this library writes. */
export const MODEL_FILE_VERSION = 1;

/** The file-format versions this library reads. */
export const SUPPORTED_VERSIONS: readonly number[] = [1];

/** What a model was trained for; the CLI picks losses, metrics and output formats by it. */
export type { Task };

/** One tensor of a model file: its shape and its values as base64 of little-endian bytes of the dtype. */
export interface WeightEntry {
  shape: number[];
  data: string;
}

/** What a checkpoint adds to a model file: everything `fit` needs to continue as if never stopped. */
export interface CheckpointState {
  /** Epochs completed; resume with `fit(..., { initialEpoch: epoch })`. */
  epoch: number;
  /** `optimizer.stateDict()`: buffers as plain number arrays, which JSON round-trips exactly. */
  optimizer: OptimizerState;
  /** `scheduler.stateDict()`, or null without a scheduler. */
  scheduler: SchedulerState | null;
  /** The state of the stream used for shuffling and dropout. */
  rng: RandomStateSnapshot;
  /** The training history so far (opaque JSON), or null. */
  history: unknown;
  /** Early stopping's record, when the run stops early (absent or null otherwise). */
  earlyStopping?: SavedEarlyStopping | null;
}

/** Early stopping's record as a checkpoint holds it (see `EarlyStoppingState`). */
export interface SavedEarlyStopping {
  /** The lowest monitored loss so far; null before the first epoch (JSON has no Infinity). */
  best: number | null;
  /** The epoch that gave it. */
  bestEpoch: number;
  /** Epochs since it without an improvement. */
  sinceBest: number;
  /** The best epoch's weights, as `weights` holds the current ones; null when not kept. */
  bestWeights: Record<string, WeightEntry> | null;
}

/** A model file as a JSON document. */
export interface ModelFile {
  format: typeof MODEL_FORMAT;
  version: number;
  /** Version of the chainrule that wrote it. */
  chainrule: string;
  /** When it was written, ISO 8601. */
  created: string;
  dtype: DType;
  task: Task | null;
  architecture: ModelSpec;
  /** Opaque JSON owned by the data layer (how raw rows become inputs), stored and returned as is. */
  preprocessing: unknown;
  /** Opaque JSON about the training run (seed, epochs, metrics...), stored and returned as is. */
  training: unknown;
  /** Present in checkpoints only. */
  checkpoint?: CheckpointState;
  /** Every tensor of the model's state dict, by its key (`'0.weight'`). */
  weights: Record<string, WeightEntry>;
}

/** A checkpoint document: a model file with the `checkpoint` field. */
export type CheckpointFile = ModelFile & { checkpoint: CheckpointState };

/** What a model file records besides the model itself. */
export interface ModelMeta {
  /** Classification or regression (default null: not recorded). */
  task?: Task | null;
  /** The data layer's preprocessing, as JSON (default null). */
  preprocessing?: unknown;
  /** Facts about the training run, as JSON (default null). */
  training?: unknown;
  /** Time stamp to record (default now); fixed in tests that compare files. */
  created?: Date;
}

/** What `serializeCheckpoint` records on top of `ModelMeta`. */
export interface CheckpointOptions extends ModelMeta {
  /** The optimizer, over exactly `model.parameters()` in order. */
  optimizer: Optimizer;
  /** The learning-rate scheduler, if any. */
  scheduler?: LRScheduler;
  /** The stream used for shuffling (and dropout). */
  rng: RandomState;
  /** Epochs completed. */
  epoch: number;
  /** The history so far (opaque JSON). */
  history?: unknown;
  /** Early stopping's record (the object passed to `fit` as `earlyStopping.state`), if any. */
  earlyStopping?: EarlyStoppingState | null;
}

/** Options of the readers that build a model. */
export interface LoadOptions {
  /** The stream the model's dropout layers draw from (default: the library's default stream). */
  rng?: RandomState;
}

/** A loaded model with the document it came from. */
export interface LoadedModel {
  model: Sequential;
  file: ModelFile;
}

/** A loaded checkpoint: the model, the saved training state and a stream restored to the saved state. */
export interface LoadedCheckpoint {
  /** The model, in training mode; its dropout layers draw from `rng`. */
  model: Sequential;
  file: CheckpointFile;
  checkpoint: CheckpointState;
  /** A stream at the saved state: pass it to `fit` as `rng` to shuffle as the uninterrupted run would. */
  rng: RandomState;
  /** Early stopping's record, to pass to `fit` as `earlyStopping.state`; null when none was saved. */
  earlyStopping: EarlyStoppingState | null;
}

/**
 * A model file or checkpoint that cannot be read: bad JSON, a wrong field, weights that do not fit the
 * architecture. The message starts with the source (the file path), ready to show to a user as is; a
 * separate class so a command line can tell bad input from a bug.
 */
export class ModelFileError extends Error {
  constructor(
    /** The file path or other name the document came from. */
    readonly source: string,
    /** What is wrong, without the source (the full message has both). */
    readonly problem: string,
    options?: { cause?: unknown },
  ) {
    super(`${source}: ${problem}`, options);
    this.name = 'ModelFileError';
  }
}

/** Copy opaque metadata through JSON now, so a value JSON cannot hold fails here, with its name. */
function plainJSON(value: unknown, what: string): unknown {
  if (value === undefined || value === null) return null;
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (e) {
    throw new Error(`serializeModel: ${what} cannot be written as JSON: ${(e as Error).message}`, {
      cause: e,
    });
  }
  if (text === undefined) throw new Error(`serializeModel: ${what} cannot be written as JSON`);
  return JSON.parse(text) as unknown;
}

/** The one dtype of all of a model's tensors. */
function modelDType(model: Module): DType {
  const tensors = model.namedTensors();
  if (tensors.length === 0)
    throw new Error('serializeModel: the model has no tensors, so there is nothing to save');
  const [firstName, first] = tensors[0];
  for (const [name, t] of tensors)
    if (t.dtype !== first.dtype)
      throw new Error(
        `serializeModel: all tensors must share one dtype, but '${firstName}' is ${first.dtype} and '${name}' is ${t.dtype}`,
      );
  return first.dtype;
}

/** Index and value of the first NaN or ±Infinity, or null. */
function firstNonFinite(data: ArrayLike<number>): [number, number] | null {
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) return [i, data[i]];
  return null;
}

/**
 * The model file of a `Sequential`: architecture, weights and metadata. Throws for layers a spec cannot
 * describe, for mixed dtypes, and for NaN or infinite weights (a file that could not be loaded back is
 * better refused when it is written).
 */
export function serializeModel(model: Sequential, meta: ModelMeta = {}): ModelFile {
  const architecture = toSpec(model);
  const dtype = modelDType(model);
  const weights: Record<string, WeightEntry> = {};
  for (const [name, t] of model.namedTensors()) {
    const bad = firstNonFinite(t.data);
    if (bad)
      throw new Error(`serializeModel: '${name}' has a non-finite value (${bad[1]}) at index ${bad[0]}`);
    weights[name] = { shape: [...t.shape], data: encodeFloats(t.data) };
  }
  return {
    format: MODEL_FORMAT,
    version: MODEL_FILE_VERSION,
    chainrule: VERSION,
    created: (meta.created ?? new Date()).toISOString(),
    dtype,
    task: meta.task ?? null,
    architecture,
    preprocessing: plainJSON(meta.preprocessing, 'preprocessing'),
    training: plainJSON(meta.training, 'training'),
    weights,
  };
}

/**
 * A model file as text: indented for people to read, but arrays of numbers (shapes, optimizer buffers,
 * the random state) stay on one line each, so a checkpoint is not a million lines of one number.
 */
export function stringifyModelFile(file: ModelFile): string {
  return `${formatJSON(file, '')}\n`;
}

function formatJSON(v: unknown, indent: string): string {
  const inner = `${indent}  `;
  if (Array.isArray(v)) {
    if (v.every((x) => x === null || typeof x !== 'object')) return JSON.stringify(v);
    return `[\n${v.map((x) => inner + formatJSON(x, inner)).join(',\n')}\n${indent}]`;
  }
  if (v !== null && typeof v === 'object') {
    const entries = Object.entries(v).filter(([, x]) => x !== undefined && typeof x !== 'function');
    if (entries.length === 0) return '{}';
    const lines = entries.map(([k, x]) => `${inner}${JSON.stringify(k)}: ${formatJSON(x, inner)}`);
    return `{\n${lines.join(',\n')}\n${indent}}`;
  }
  // As JSON.stringify: NaN and ±Infinity become null (ReduceLROnPlateau's initial best is one).
  return JSON.stringify(v) ?? 'null';
}

/** `serializeModel` then `stringifyModelFile`: the text of a model file. */
export function modelToJSON(model: Sequential, meta: ModelMeta = {}): string {
  return stringifyModelFile(serializeModel(model, meta));
}

/**
 * The checkpoint document of a model in training: the model file plus the optimizer, scheduler and
 * random-stream state. The optimizer must be over exactly `model.parameters()`, in order, because that is
 * how its per-parameter buffers are matched up again when restored.
 */
export function serializeCheckpoint(model: Sequential, options: CheckpointOptions): CheckpointFile {
  const { optimizer, scheduler, rng, epoch } = options;
  const params = model.parameters();
  if (optimizer.params.length !== params.length || optimizer.params.some((p, i) => p !== params[i]))
    throw new Error(
      `serializeCheckpoint: the optimizer holds ${optimizer.params.length} tensors that are not the model's ` +
        `${params.length} parameters in order; a checkpoint restores an optimizer over model.parameters()`,
    );
  if (scheduler && scheduler.optimizer !== optimizer)
    throw new Error('serializeCheckpoint: the scheduler belongs to a different optimizer');
  if (!Number.isInteger(epoch) || epoch < 0)
    throw new Error(`serializeCheckpoint: epoch must be a non-negative integer, got ${epoch}`);
  const file = serializeModel(model, options);
  const checkpoint: CheckpointState = {
    epoch,
    optimizer: optimizer.stateDict(),
    scheduler: scheduler ? scheduler.stateDict() : null,
    rng: rng.getState(),
    history: plainJSON(options.history, 'history'),
  };
  const es = options.earlyStopping;
  if (es)
    checkpoint.earlyStopping = {
      best: Number.isFinite(es.best) ? es.best : null,
      bestEpoch: es.bestEpoch,
      sinceBest: es.sinceBest,
      bestWeights: es.bestState
        ? Object.fromEntries(
            Object.entries(es.bestState).map(([k, t]) => [
              k,
              { shape: [...t.shape], data: encodeFloats(t.data) },
            ]),
          )
        : null,
    };
  // Weights last: the small fields stay at the top, where `head` shows them.
  const { weights, ...rest } = file;
  return { ...rest, checkpoint, weights };
}

/** `serializeCheckpoint` then `stringifyModelFile`: the text of a checkpoint. */
export function checkpointToJSON(model: Sequential, options: CheckpointOptions): string {
  return stringifyModelFile(serializeCheckpoint(model, options));
}

// ---------------------------------------------------------------------------------------------------
// Reading

/** A value as an error message shows it: JSON where possible, short. */
function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  if (Array.isArray(v) && (v.length > 8 || v.some((x) => typeof x === 'object' && x !== null)))
    return `an array of ${v.length}`;
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) return 'an object';
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A JSON key as a path segment: `weights['0.weight']`. */
const keyPath = (parent: string, key: string) => `${parent}[${JSON.stringify(key).replace(/^"|"$/g, "'")}]`;

/** Where in the text a JSON.parse error happened, as "line L, column C", if the message says. */
function jsonPosition(message: string, text: string): string {
  const m = /position (\d+)/.exec(message);
  if (!m) return '';
  const pos = Number(m[1]);
  const before = text.slice(0, pos);
  const line = before.split('\n').length;
  const column = pos - before.lastIndexOf('\n');
  return ` (line ${line}, column ${column})`;
}

/** Parse JSON text, turning syntax errors into a message that names the source and the position. */
function parseJSON(text: string, source: string, what: string): unknown {
  // A byte-order mark is invisible in editors and legal in UTF-8 files; JSON.parse rejects it.
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  if (body.trim() === '') throw new ModelFileError(source, `the file is empty; expected a ${what} (JSON)`);
  try {
    return JSON.parse(body) as unknown;
  } catch (e) {
    const message = (e as Error).message;
    throw new ModelFileError(source, `not valid JSON${jsonPosition(message, body)}: ${message}`, {
      cause: e,
    });
  }
}

/**
 * Check a parsed document's structure: format name, version, every field and its type, the architecture,
 * and the shape and data fields of each weight. Weights are matched against the architecture and decoded
 * by `loadModel`.
 */
export function validateModelFile(doc: unknown, source = 'model file'): ModelFile {
  const fail = (message: string): never => {
    throw new ModelFileError(source, message);
  };
  if (!isRecord(doc))
    fail(`expected a chainrule model (a JSON object), got ${Array.isArray(doc) ? 'an array' : show(doc)}`);
  const d = doc as Record<string, unknown>;
  if (!('format' in d)) fail(`not a chainrule model file: it has no "format" field`);
  if (d.format !== MODEL_FORMAT)
    fail(`not a chainrule model file: "format" is ${show(d.format)}, expected "${MODEL_FORMAT}"`);
  if (!('version' in d)) fail('missing field "version"');
  if (!SUPPORTED_VERSIONS.includes(d.version as number)) {
    const by = typeof d.chainrule === 'string' ? ` (written by chainrule ${d.chainrule})` : '';
    fail(
      `unsupported model file version ${show(d.version)}${by}; chainrule ${VERSION} reads version ` +
        `${SUPPORTED_VERSIONS.join(', ')}${typeof d.version === 'number' && d.version > MODEL_FILE_VERSION ? ': upgrade chainrule to read it' : ''}`,
    );
  }
  for (const field of [
    'chainrule',
    'created',
    'dtype',
    'task',
    'architecture',
    'preprocessing',
    'training',
    'weights',
  ])
    if (!(field in d)) fail(`missing field "${field}"`);
  for (const field of ['chainrule', 'created'])
    if (typeof d[field] !== 'string') fail(`${field}: expected a string, got ${show(d[field])}`);
  if (d.dtype !== 'float32' && d.dtype !== 'float64')
    fail(`dtype: expected "float32" or "float64", got ${show(d.dtype)}`);
  if (d.task !== null && d.task !== 'classification' && d.task !== 'regression')
    fail(`task: expected "classification", "regression" or null, got ${show(d.task)}`);
  try {
    validateSpec(d.architecture, 'architecture');
  } catch (e) {
    fail((e as Error).message);
  }
  if (!isRecord(d.weights)) fail(`weights: expected an object of tensors by name, got ${show(d.weights)}`);
  for (const [key, entry] of Object.entries(d.weights as Record<string, unknown>)) {
    const at = keyPath('weights', key);
    if (!isRecord(entry)) fail(`${at}: expected an object with "shape" and "data", got ${show(entry)}`);
    const { shape, data } = entry as Record<string, unknown>;
    if (!Array.isArray(shape) || !shape.every((s) => Number.isInteger(s) && (s as number) >= 0))
      fail(`${at}.shape: expected an array of non-negative integers, got ${show(shape)}`);
    if (typeof data !== 'string') fail(`${at}.data: expected a base64 string, got ${show(data)}`);
  }
  return d as unknown as ModelFile;
}

/**
 * Read the text of a model file (or checkpoint) and check its structure (see `validateModelFile`).
 * Every error message starts with `source`, e.g. the file path.
 */
export function parseModelFile(text: string, source = 'model file'): ModelFile {
  return validateModelFile(parseJSON(text, source, 'chainrule model'), source);
}

const fmtShape = (s: readonly number[]) => `[${s.join(', ')}]`;

/**
 * Build the model a model file describes and load its weights, after the checks of `validateModelFile`:
 * every key of the architecture must be there with the architecture's shape, no other key may be, and
 * each tensor's data must decode to exactly its number of finite values. The model comes back in
 * evaluation mode, ready to predict; its dropout layers (for further training) draw from `options.rng`.
 */
export function loadModel(file: ModelFile, source = 'model file', options: LoadOptions = {}): LoadedModel {
  const fail = (message: string): never => {
    throw new ModelFileError(source, message);
  };
  // Cheap next to decoding, and a document built in code gets the same checks as one read from a file.
  validateModelFile(file, source);
  // Zeros, not random: the weights are overwritten, and drawing them would move someone's random stream.
  const model = fromSpec(file.architecture, {
    dtype: file.dtype,
    init: 'zeros',
    ...(options.rng ? { rng: options.rng } : {}),
  });
  const own = model.namedTensors();
  const missing = own.filter(([name]) => !Object.hasOwn(file.weights, name)).map(([n]) => `'${n}'`);
  const names = new Set(own.map(([n]) => n));
  const unexpected = Object.keys(file.weights)
    .filter((k) => !names.has(k))
    .map((k) => `'${k}'`);
  if (missing.length > 0 || unexpected.length > 0)
    fail(
      `weights do not match the architecture: ` +
        [
          missing.length > 0 ? `missing ${missing.join(', ')}` : '',
          unexpected.length > 0 ? `unexpected ${unexpected.join(', ')}` : '',
        ]
          .filter(Boolean)
          .join('; ') +
        ` (the architecture has ${own.map(([n]) => `'${n}'`).join(', ')})`,
    );
  const decoded: [Tensor, Float32Array | Float64Array][] = [];
  for (const [name, t] of own) {
    const at = keyPath('weights', name);
    const entry = file.weights[name];
    if (entry.shape.length !== t.shape.length || entry.shape.some((s, i) => s !== t.shape[i]))
      fail(`${at}: shape ${fmtShape(entry.shape)} does not match the architecture's ${fmtShape(t.shape)}`);
    let bytes: Uint8Array;
    try {
      bytes = base64ToBytes(entry.data);
    } catch (e) {
      return fail(`${at}.data: corrupt base64: ${(e as Error).message}`);
    }
    const expected = t.size * bytesPerElement(file.dtype);
    if (bytes.length !== expected)
      fail(
        `${at}.data: expected ${expected} bytes (${t.size} ${file.dtype} values), got ${bytes.length}` +
          (bytes.length < expected ? ' (truncated?)' : ''),
      );
    const values = bytesToFloats(bytes, file.dtype);
    const bad = firstNonFinite(values);
    if (bad) fail(`${at}: non-finite value (${bad[1]}) at index ${bad[0]}`);
    decoded.push([t, values]);
  }
  // Every tensor checked before any is written, although the model is ours and thrown away on failure.
  for (const [t, values] of decoded) t.data.set(values);
  model.eval();
  return { model, file };
}

/** `parseModelFile` then `loadModel`: a model from the text of its file. */
export function modelFromJSON(text: string, source = 'model file', options: LoadOptions = {}): LoadedModel {
  return loadModel(parseModelFile(text, source), source, options);
}

/** Check the checkpoint field against the model it belongs to; `fail` prefixes the source. */
function validateCheckpoint(
  value: unknown,
  model: Sequential,
  fail: (message: string) => never,
): CheckpointState {
  if (!isRecord(value)) return fail(`checkpoint: expected an object, got ${show(value)}`);
  for (const field of ['epoch', 'optimizer', 'scheduler', 'rng'])
    if (!(field in value)) fail(`checkpoint: missing field "${field}"`);
  const { epoch, optimizer, scheduler, rng } = value;
  if (typeof epoch !== 'number' || !Number.isInteger(epoch) || epoch < 0)
    fail(`checkpoint.epoch: expected a non-negative integer, got ${show(epoch)}`);

  const params = model.parameters();
  if (!isRecord(optimizer)) return fail(`checkpoint.optimizer: expected an object, got ${show(optimizer)}`);
  const o = optimizer;
  if (typeof o.type !== 'string') fail(`checkpoint.optimizer.type: expected a string, got ${show(o.type)}`);
  if (typeof o.lr !== 'number' || !Number.isFinite(o.lr) || o.lr < 0)
    fail(`checkpoint.optimizer.lr: expected a finite number ≥ 0, got ${show(o.lr)}`);
  if (typeof o.step !== 'number' || !Number.isInteger(o.step) || o.step < 0)
    fail(`checkpoint.optimizer.step: expected a non-negative integer, got ${show(o.step)}`);
  if (
    !Array.isArray(o.paramSteps) ||
    o.paramSteps.length !== params.length ||
    !o.paramSteps.every((s) => Number.isInteger(s) && (s as number) >= 0)
  )
    fail(
      `checkpoint.optimizer.paramSteps: expected ${params.length} non-negative integers (one per parameter), got ${show(o.paramSteps)}`,
    );
  if (!isRecord(o.buffers))
    return fail(`checkpoint.optimizer.buffers: expected an object, got ${show(o.buffers)}`);
  for (const [name, list] of Object.entries(o.buffers)) {
    const at = keyPath('checkpoint.optimizer.buffers', name);
    if (!Array.isArray(list) || list.length !== params.length)
      fail(`${at}: expected ${params.length} entries (one per parameter), got ${show(list)}`);
    (list as unknown[]).forEach((b, i) => {
      if (b === null) return;
      if (!Array.isArray(b) || b.length !== params[i].size)
        fail(`${at}[${i}]: expected null or ${params[i].size} numbers (parameter ${i}), got ${show(b)}`);
      const arr = b as unknown[];
      for (let j = 0; j < arr.length; j++)
        if (typeof arr[j] !== 'number' || !Number.isFinite(arr[j]))
          fail(`${at}[${i}][${j}]: expected a finite number, got ${show(arr[j])}`);
    });
  }

  if (scheduler !== null) {
    if (!isRecord(scheduler))
      fail(`checkpoint.scheduler: expected an object or null, got ${show(scheduler)}`);
    const s = scheduler as Record<string, unknown>;
    for (const [k, v] of Object.entries(s))
      // null stands for ±Infinity, which JSON cannot hold (ReduceLROnPlateau's best before any epoch).
      if (v !== null && typeof v !== 'number')
        fail(`checkpoint.scheduler.${k}: expected a number, got ${show(v)}`);
    if (!Number.isInteger(s.lastEpoch) || (s.lastEpoch as number) < 0)
      fail(`checkpoint.scheduler.lastEpoch: expected a non-negative integer, got ${show(s.lastEpoch)}`);
  }

  try {
    // setState checks every word and field (and refuses the all-zero key) before changing anything.
    new RandomState().setState(rng as RandomStateSnapshot);
  } catch (e) {
    fail(`checkpoint.rng: ${(e as Error).message.replace(/^MT19937\.setState: /, '')}`);
  }
  const es = value.earlyStopping;
  if (es !== undefined && es !== null) {
    if (!isRecord(es)) fail(`checkpoint.earlyStopping: expected an object or null, got ${show(es)}`);
    const e = es as Record<string, unknown>;
    if (e.best !== null && (typeof e.best !== 'number' || !Number.isFinite(e.best)))
      fail(`checkpoint.earlyStopping.best: expected a finite number or null, got ${show(e.best)}`);
    for (const k of ['bestEpoch', 'sinceBest'])
      if (!Number.isInteger(e[k]) || (e[k] as number) < 0)
        fail(`checkpoint.earlyStopping.${k}: expected a non-negative integer, got ${show(e[k])}`);
    if (e.bestWeights !== null && !isRecord(e.bestWeights))
      fail(`checkpoint.earlyStopping.bestWeights: expected an object or null, got ${show(e.bestWeights)}`);
  }
  return { ...(value as unknown as CheckpointState), history: value.history ?? null };
}

/**
 * Read a checkpoint: the model (in training mode) with its weights, the saved training state, checked
 * against the model (one optimizer buffer entry per parameter, each of the parameter's size), and a
 * stream restored to the saved state that the model's dropout layers also draw from. Deep checks of the
 * optimizer's and scheduler's own fields happen in their `loadStateDict`, at restore time.
 */
export function parseCheckpoint(text: string, source = 'checkpoint'): LoadedCheckpoint {
  const file = parseModelFile(text, source);
  if (!('checkpoint' in file))
    throw new ModelFileError(source, 'this is a model file, not a checkpoint: it has no "checkpoint" field');
  const rng = new RandomState();
  const { model } = loadModel(file, source, { rng });
  const checkpoint = validateCheckpoint(file.checkpoint, model, (m) => {
    throw new ModelFileError(source, m);
  });
  rng.setState(checkpoint.rng);
  model.train();
  let earlyStopping: EarlyStoppingState | null = null;
  const es = checkpoint.earlyStopping;
  if (es) {
    // The best weights are a second set of the model's tensors: loadModel checks them the same way.
    const bestState = es.bestWeights
      ? loadModel(
          { ...file, weights: es.bestWeights },
          `${source}: checkpoint.earlyStopping.bestWeights`,
        ).model.stateDict()
      : null;
    earlyStopping = {
      best: es.best ?? Infinity,
      bestEpoch: es.bestEpoch,
      sinceBest: es.sinceBest,
      bestState,
    };
  }
  return { model, file: file as CheckpointFile, checkpoint, rng, earlyStopping };
}
