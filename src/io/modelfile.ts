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
import { noGrad, zeros, type DType, type Tensor } from '../tensor.js';
import { base64ToBytes, bytesPerElement, bytesToBase64, bytesToFloats, encodeFloats } from './base64.js';
import type { PartialEpoch } from '../train/step.js';
import { sha256 } from './sha256.js';

/** The library's version, written into every model file (keep it equal to package.json's). */
export const VERSION = '0.1.0';

/** The `format` field that marks a chainrule model file. */
export const MODEL_FORMAT = 'chainrule-model';

/** The file-format version this library writes. */
export const MODEL_FILE_VERSION = 1;

/** The file-format versions this library reads. */
export const SUPPORTED_VERSIONS: readonly number[] = [1];

/**
 * The most parameters (values of all tensors together) a model file or checkpoint may describe, and the
 * most the command line builds: 2²⁷ (512 MiB as float32, four times that with Adam's buffers and the
 * gradients). Readers check a file against it, and against the bytes the file holds, before building
 * anything, so a small file cannot claim a huge model.
 */
export const MAX_PARAMETERS = 2 ** 27;

/** The deepest nesting of arrays and objects a model file may have (the format itself needs about 6). */
export const MAX_JSON_DEPTH = 64;

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
  /** Early stopping's record at that moment, when the run stops early (absent: none). */
  earlyStopping?: EarlyStoppingRecord;
  /**
   * When the run was interrupted part way through epoch `epoch + 1`: where (the weights, optimizer and
   * stream are then of that moment, not of the boundary). Absent: at the boundary.
   */
  partialEpoch?: PartialEpochRecord;
}

/** A partly trained epoch in a checkpoint (`PartialEpoch`, its order as base64 of little-endian int32). */
export interface PartialEpochRecord {
  epoch: number;
  batch: number;
  lossSum: number;
  order: string | null;
  metrics: number[];
  reference: number | null;
}

/** Early stopping's record in a checkpoint (see `fit`'s `EarlyStoppingState`). */
export interface EarlyStoppingRecord {
  /** Best monitored loss so far (null: none yet, i.e. Infinity). */
  best: number | null;
  bestEpoch: number;
  sinceBest: number;
  /** The best epoch's weights, when they are to be restored at the end (else null). */
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
  /**
   * The integrity digest, written last by `stringifyModelFile`: the SHA-256 (hex) of each other top-level
   * field's JSON text, by field name. Readers verify it when present, so a changed byte is named.
   */
  sha256?: Record<string, string>;
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
  /** Where an interrupted epoch stopped (the state is then of that moment). */
  partialEpoch?: PartialEpoch;
  /** Early stopping's record, when the run stops early. */
  earlyStopping?: {
    best: number;
    bestEpoch: number;
    sinceBest: number;
    bestState: Record<string, Tensor> | null;
  };
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

/** Named tensors as weight entries; NaN or infinite values are refused (`op` names the caller). */
function encodeWeights(
  named: readonly (readonly [string, { shape: readonly number[]; data: Float32Array | Float64Array }])[],
  op: string,
): Record<string, WeightEntry> {
  const weights: Record<string, WeightEntry> = {};
  for (const [name, t] of named) {
    const bad = firstNonFinite(t.data);
    if (bad) throw new Error(`${op}: '${name}' has a non-finite value (${bad[1]}) at index ${bad[0]}`);
    weights[name] = { shape: [...t.shape], data: encodeFloats(t.data) };
  }
  return weights;
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
  const weights = encodeWeights(model.namedTensors(), 'serializeModel');
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
  const { sha256: _old, ...rest } = file;
  return `${formatJSON({ ...rest, sha256: digests(rest) }, '')}\n`;
}

/** The SHA-256 of each top-level field's JSON text (what `sha256` holds). */
function digests(doc: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(doc)) {
    if (k === 'sha256' || v === undefined || typeof v === 'function') continue;
    out[k] = sha256(JSON.stringify(v) ?? 'null');
  }
  return out;
}

/**
 * Check a document's `sha256` digests, when it has them: a field whose JSON text no longer has its
 * digest was changed after chainrule wrote the file, by a bad disk, a bad copy or an edit.
 */
function verifyDigests(file: ModelFile, source: string): void {
  const recorded = file.sha256;
  if (recorded === undefined) return;
  const fields = Object.keys(file).filter((k) => k !== 'sha256');
  const missing = fields.filter((k) => !Object.hasOwn(recorded, k));
  const extra = Object.keys(recorded).filter((k) => !Object.hasOwn(file, k) || k === 'sha256');
  const actual = digests(file as unknown as Record<string, unknown>);
  const changed = fields.filter((k) => Object.hasOwn(recorded, k) && recorded[k] !== actual[k]);
  if (changed.length + missing.length + extra.length === 0) return;
  const what = [
    changed.length > 0 ? `${changed.map((k) => `"${k}"`).join(', ')} changed` : '',
    missing.length > 0 ? `no digest for ${missing.map((k) => `"${k}"`).join(', ')}` : '',
    extra.length > 0 ? `a digest for missing ${extra.map((k) => `"${k}"`).join(', ')}` : '',
  ]
    .filter(Boolean)
    .join('; ');
  throw new ModelFileError(
    source,
    `the file is corrupt: ${what} since chainrule wrote it (the SHA-256 digests in "sha256" do not match); ` +
      'restore it from a copy or write it again',
  );
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
 * One moment of a run, copied: everything a checkpoint holds, taken synchronously (a few array copies)
 * so training can go on while it is turned into text and written. See `snapshotCheckpoint`.
 */
export interface CheckpointSnapshot {
  architecture: ModelSpec;
  dtype: DType;
  tensors: [string, { shape: number[]; data: Float32Array | Float64Array }][];
  meta: ModelMeta;
  optimizer: OptimizerState;
  scheduler: SchedulerState | null;
  rng: RandomStateSnapshot;
  epoch: number;
  history: unknown;
  earlyStopping: CheckpointOptions['earlyStopping'] | null;
  partialEpoch: PartialEpoch | null;
}

/**
 * Copy the state of a run at one moment (weights, optimizer, scheduler, random stream, epoch, history,
 * early stopping): what `checkpointFromSnapshot` turns into a checkpoint document later, whatever the
 * run has done since. The optimizer must be over exactly `model.parameters()`, in order, because that
 * is how its per-parameter buffers are matched up again when restored. `history`, when an array, is
 * copied (its entries are kept as they are).
 */
export function snapshotCheckpoint(model: Sequential, options: CheckpointOptions): CheckpointSnapshot {
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
  const es = options.earlyStopping;
  return {
    architecture: toSpec(model),
    dtype: modelDType(model),
    tensors: model.namedTensors().map(([name, t]) => [name, { shape: [...t.shape], data: t.data.slice() }]),
    meta: {
      task: options.task ?? null,
      preprocessing: options.preprocessing,
      training: options.training,
      created: options.created ?? new Date(),
    },
    optimizer: optimizer.stateDict(),
    scheduler: scheduler ? scheduler.stateDict() : null,
    rng: rng.getState(),
    epoch,
    history: Array.isArray(options.history) ? options.history.slice() : options.history,
    earlyStopping: es ? { ...es } : null,
    partialEpoch: options.partialEpoch
      ? {
          ...options.partialEpoch,
          order: options.partialEpoch.order?.slice() ?? null,
          metrics: [...options.partialEpoch.metrics],
        }
      : null,
  };
}

/** The checkpoint document of a snapshot (see `snapshotCheckpoint`). */
export function checkpointFromSnapshot(snap: CheckpointSnapshot): CheckpointFile {
  const { meta } = snap;
  const weights = encodeWeights(snap.tensors, 'serializeCheckpoint');
  const es = snap.earlyStopping;
  const checkpoint: CheckpointState = {
    epoch: snap.epoch,
    optimizer: snap.optimizer,
    scheduler: snap.scheduler,
    rng: snap.rng,
    history: plainJSON(snap.history, 'history'),
    ...(es
      ? {
          earlyStopping: {
            best: Number.isFinite(es.best) ? es.best : null,
            bestEpoch: es.bestEpoch,
            sinceBest: es.sinceBest,
            bestWeights: es.bestState
              ? encodeWeights(Object.entries(es.bestState), 'serializeCheckpoint')
              : null,
          },
        }
      : {}),
    ...(snap.partialEpoch ? { partialEpoch: encodePartial(snap.partialEpoch) } : {}),
  };
  // Weights last: the small fields stay at the top, where `head` shows them.
  return {
    format: MODEL_FORMAT,
    version: MODEL_FILE_VERSION,
    chainrule: VERSION,
    created: (meta.created ?? new Date()).toISOString(),
    dtype: snap.dtype,
    task: meta.task ?? null,
    architecture: snap.architecture,
    preprocessing: plainJSON(meta.preprocessing, 'preprocessing'),
    training: plainJSON(meta.training, 'training'),
    checkpoint,
    weights,
  };
}

/** A partial epoch as JSON: the order as base64 of its little-endian int32 bytes. */
function encodePartial(p: PartialEpoch): PartialEpochRecord {
  let order: string | null = null;
  if (p.order) {
    const bytes = new Uint8Array(p.order.length * 4);
    const view = new DataView(bytes.buffer);
    p.order.forEach((v, i) => view.setInt32(i * 4, v, true));
    order = bytesToBase64(bytes);
  }
  return {
    epoch: p.epoch,
    batch: p.batch,
    lossSum: p.lossSum,
    order,
    metrics: p.metrics,
    reference: p.reference,
  };
}

/** A checkpoint's partial epoch back as a `PartialEpoch` for `fit` (already checked by `parseCheckpoint`). */
export function decodePartialEpoch(r: PartialEpochRecord): PartialEpoch {
  let order: Int32Array | null = null;
  if (r.order !== null) {
    const bytes = base64ToBytes(r.order);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    order = new Int32Array(bytes.length / 4);
    for (let i = 0; i < order.length; i++) order[i] = view.getInt32(i * 4, true);
  }
  return {
    epoch: r.epoch,
    batch: r.batch,
    lossSum: r.lossSum,
    order,
    metrics: [...r.metrics],
    reference: r.reference,
  };
}

/**
 * The checkpoint document of a model in training: the model file plus the optimizer, scheduler and
 * random-stream state (`checkpointFromSnapshot(snapshotCheckpoint(model, options))`).
 */
export function serializeCheckpoint(model: Sequential, options: CheckpointOptions): CheckpointFile {
  return checkpointFromSnapshot(snapshotCheckpoint(model, options));
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
  let doc: unknown;
  try {
    doc = JSON.parse(body) as unknown;
  } catch (e) {
    const message = (e as Error).message;
    throw new ModelFileError(source, `not valid JSON${jsonPosition(message, body)}: ${message}`, {
      cause: e,
    });
  }
  const depth = jsonDepth(doc, MAX_JSON_DEPTH);
  if (depth > MAX_JSON_DEPTH)
    throw new ModelFileError(
      source,
      `arrays and objects are nested more than ${MAX_JSON_DEPTH} levels deep; a ${what} is not`,
    );
  return doc;
}

/**
 * How deeply arrays and objects nest in `value` (a number or string: 0), counting no further than
 * `limit` + 1. Readers check it right after `JSON.parse`, before any recursive code sees the value.
 */
export function jsonDepth(value: unknown, limit: number): number {
  // Iterative, so a document nested a million levels deep is measured, not a stack overflow.
  let max = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, d] = stack.pop() as [unknown, number];
    if (typeof v !== 'object' || v === null) continue;
    const depth = d + 1;
    if (depth > max) max = depth;
    if (max > limit) return max;
    for (const child of Array.isArray(v) ? v : Object.values(v))
      if (typeof child === 'object' && child !== null) stack.push([child, depth]);
  }
  return max;
}

/**
 * How many values building `spec` allocates, at most: exact for linear layers; for a layer type this
 * reader does not size, the product of its integer fields (each at least 1), doubled, which bounds any
 * parameter count that is a sum of products of them. Used to refuse a file before building anything.
 */
export function specAllocationBound(spec: ModelSpec): number {
  let total = 0;
  for (const layer of spec.layers) {
    const l = layer as unknown as Record<string, unknown>;
    if (l.type === 'linear') {
      total += (l.in as number) * (l.out as number) + (l.bias ? (l.out as number) : 0);
      continue;
    }
    let product = 1;
    let any = false;
    for (const [k, v] of Object.entries(l))
      if (k !== 'type' && typeof v === 'number' && Number.isInteger(v)) {
        product *= Math.max(1, Math.abs(v));
        any = true;
      }
    if (any) total += 2 * product;
  }
  return total;
}

/** The top-level fields of a model file or checkpoint. */
const KNOWN_FIELDS = [
  'format',
  'version',
  'chainrule',
  'created',
  'dtype',
  'task',
  'architecture',
  'preprocessing',
  'training',
  'checkpoint',
  'weights',
  'sha256',
];

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
  for (const field of Object.keys(d))
    if (!KNOWN_FIELDS.includes(field))
      fail(`unknown field ${JSON.stringify(field)} (a model file has ${KNOWN_FIELDS.join(', ')})`);
  if ('sha256' in d) {
    const dg = d.sha256;
    if (!isRecord(dg) || !Object.values(dg).every((v) => typeof v === 'string' && /^[0-9a-f]{64}$/.test(v)))
      fail(`sha256: expected an object of SHA-256 digests (64 hex digits) by field name, got ${show(dg)}`);
  }
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
  const loaded = loadUnverified(file, source, options);
  verifyDigests(file, source);
  return loaded;
}

/** `loadModel` without the digest check (a checkpoint checks its own fields first, then the digests). */
function loadUnverified(file: ModelFile, source: string, options: LoadOptions): LoadedModel {
  const fail = (message: string): never => {
    throw new ModelFileError(source, message);
  };
  // Cheap next to decoding, and a document built in code gets the same checks as one read from a file.
  validateModelFile(file, source);
  checkSizes(file, fail);
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
  dryRun(model, file.architecture, fail);
  return { model, file };
}

/** Bytes of data a standard base64 string of this length decodes to (its padding counted off). */
function base64Bytes(text: string): number {
  const len = text.length;
  const pad = len > 0 && text.endsWith('==') ? 2 : len > 0 && text.endsWith('=') ? 1 : 0;
  return Math.floor(len / 4) * 3 - pad;
}

/**
 * Before anything is built: each weight's shape against the bytes its data holds, and what the
 * architecture would allocate against `MAX_PARAMETERS` and against the values the file holds, so a
 * small file that claims a huge model fails here, having allocated nothing.
 */
function checkSizes(file: ModelFile, fail: (message: string) => never): void {
  // Values the file holds: its weights' data, whatever their shapes claim (those are checked later).
  let bytes = 0;
  for (const entry of Object.values(file.weights)) bytes += base64Bytes(entry.data);
  const present = Math.floor(bytes / bytesPerElement(file.dtype));
  const claimed = specAllocationBound(file.architecture);
  if (claimed > MAX_PARAMETERS)
    fail(
      `architecture: describes about ${claimed} parameters, over the limit of ${MAX_PARAMETERS}; ` +
        'the file is corrupt or not a model chainrule can hold',
    );
  if (claimed > 64 * present + 4096)
    fail(
      `architecture: describes about ${claimed} parameters, but the weights hold only ${present} values ` +
        '(the architecture or the weights are corrupt)',
    );
}

/**
 * Run the model once on a row of zeros when its input width is known (a first linear layer), so an
 * architecture that validates field by field but cannot run (a softmax over an axis the data does not
 * have) is refused here, naming the file, rather than failing later as if it were a bug.
 */
function dryRun(model: Sequential, spec: ModelSpec, fail: (message: string) => never): void {
  const first = spec.layers[0] as unknown as Record<string, unknown> | undefined;
  if (first?.type !== 'linear') return;
  const width = first.in as number;
  try {
    noGrad(() => model.forward(zeros([1, width], { dtype: model.parameters()[0]?.dtype ?? 'float32' })));
  } catch (e) {
    fail(`architecture: the model cannot run: ${(e as Error).message}`);
  }
}

/** `parseModelFile` then `loadModel`: a model from the text of its file. */
export function modelFromJSON(text: string, source = 'model file', options: LoadOptions = {}): LoadedModel {
  return loadModel(parseModelFile(text, source), source, options);
}

/** Check the checkpoint field against the model it belongs to; `fail` prefixes the source. */
function validateCheckpoint(
  value: unknown,
  model: Sequential,
  dtype: DType,
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

  if ('earlyStopping' in value) validateEarlyStopping(value.earlyStopping, model, dtype, fail);
  if ('partialEpoch' in value) validatePartial(value.partialEpoch, epoch as number, fail);

  try {
    // setState checks every word and field (and refuses the all-zero key) before changing anything.
    new RandomState().setState(rng as RandomStateSnapshot);
  } catch (e) {
    fail(`checkpoint.rng: ${(e as Error).message.replace(/^MT19937\.setState: /, '')}`);
  }
  return { ...(value as unknown as CheckpointState), history: value.history ?? null };
}

/** Check a checkpoint's partial epoch (its order's permutation is checked against the data on resume). */
function validatePartial(value: unknown, epoch: number, fail: (message: string) => never): void {
  const at = 'checkpoint.partialEpoch';
  if (!isRecord(value)) return fail(`${at}: expected an object, got ${show(value)}`);
  const { batch, lossSum, order, metrics, reference } = value;
  if (value.epoch !== epoch + 1)
    fail(`${at}.epoch: expected ${epoch + 1} (the epoch after checkpoint.epoch), got ${show(value.epoch)}`);
  if (typeof batch !== 'number' || !Number.isInteger(batch) || batch < 0)
    fail(`${at}.batch: expected a non-negative integer, got ${show(batch)}`);
  if (typeof lossSum !== 'number' || !Number.isFinite(lossSum))
    fail(`${at}.lossSum: expected a finite number, got ${show(lossSum)}`);
  if (reference !== null && (typeof reference !== 'number' || !Number.isFinite(reference)))
    fail(`${at}.reference: expected a finite number or null, got ${show(reference)}`);
  if (!Array.isArray(metrics) || !metrics.every((m) => typeof m === 'number' && Number.isFinite(m)))
    fail(`${at}.metrics: expected an array of finite numbers, got ${show(metrics)}`);
  if (order !== null) {
    if (typeof order !== 'string')
      return fail(`${at}.order: expected base64 text or null, got ${show(order)}`);
    let bytes: Uint8Array;
    try {
      bytes = base64ToBytes(order);
    } catch (e) {
      return fail(`${at}.order: corrupt base64: ${(e as Error).message}`);
    }
    if (bytes.length % 4 !== 0) fail(`${at}.order: ${bytes.length} bytes are not whole int32 values`);
  }
}

/** Check a checkpoint's early-stopping record, best weights included, against the model. */
function validateEarlyStopping(
  value: unknown,
  model: Sequential,
  dtype: DType,
  fail: (message: string) => never,
): void {
  const at = 'checkpoint.earlyStopping';
  if (!isRecord(value)) return fail(`${at}: expected an object, got ${show(value)}`);
  const { best, bestEpoch, sinceBest, bestWeights } = value;
  if (best !== null && (typeof best !== 'number' || !Number.isFinite(best)))
    fail(`${at}.best: expected a finite number or null, got ${show(best)}`);
  for (const [k, v] of [
    ['bestEpoch', bestEpoch],
    ['sinceBest', sinceBest],
  ] as const)
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0)
      fail(`${at}.${k}: expected a non-negative integer, got ${show(v)}`);
  if (bestWeights === null) return;
  if (!isRecord(bestWeights))
    return fail(`${at}.bestWeights: expected an object or null, got ${show(bestWeights)}`);
  const own = model.namedTensors();
  const keys = Object.keys(bestWeights);
  if (keys.length !== own.length || own.some(([n]) => !Object.hasOwn(bestWeights, n)))
    fail(
      `${at}.bestWeights: expected the tensors ${own.map(([n]) => `'${n}'`).join(', ')}, got ${keys.map((k) => `'${k}'`).join(', ')}`,
    );
  for (const [name, t] of own) {
    const e = bestWeights[name];
    const p = keyPath(`${at}.bestWeights`, name);
    if (!isRecord(e) || !Array.isArray(e.shape) || typeof e.data !== 'string')
      return fail(`${p}: expected an object with "shape" and "data", got ${show(e)}`);
    if (e.shape.length !== t.shape.length || e.shape.some((s, i) => s !== t.shape[i]))
      fail(`${p}: shape ${show(e.shape)} does not match the model's ${fmtShape(t.shape)}`);
    if (base64Bytes(e.data) !== t.size * bytesPerElement(dtype))
      fail(`${p}.data: expected ${t.size * bytesPerElement(dtype)} bytes, got ${base64Bytes(e.data)}`);
    let values: Float32Array | Float64Array;
    try {
      values = bytesToFloats(base64ToBytes(e.data), dtype);
    } catch (err) {
      return fail(`${p}.data: corrupt base64: ${(err as Error).message}`);
    }
    const bad = firstNonFinite(values);
    if (bad) fail(`${p}: non-finite value (${bad[1]}) at index ${bad[0]}`);
  }
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
  const { model } = loadUnverified(file, source, { rng });
  const checkpoint = validateCheckpoint(file.checkpoint, model, file.dtype, (m) => {
    throw new ModelFileError(source, m);
  });
  verifyDigests(file, source);
  rng.setState(checkpoint.rng);
  model.train();
  return { model, file: file as CheckpointFile, checkpoint, rng };
}
