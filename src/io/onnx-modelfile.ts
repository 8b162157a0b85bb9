/**
 * A model as a model file holds it — network and preprocessing — exported as ONNX, the one path that
 * `chainrule export --onnx` and the playground's Text page both take: the file's preprocessing picked by
 * kind (a language model's vocabulary, a forecaster's scaling, a table's columns), and on request the
 * weights cast to another dtype first (onnxruntime runs LSTM, GRU, RNN and Conv in float32 only).
 */
import { checkPreprocessing, type Preprocessing } from '../data/preprocess.js';
import type { Sequential } from '../nn/layers.js';
import { fromSpec, toSpec } from '../nn/spec.js';
import { RandomState } from '../random.js';
import type { DType } from '../tensor.js';
import { onnxSignature, toOnnx, type OnnxSequencePreprocessing, type OnnxSignature } from './onnx.js';

/** Options of {@link modelFileOnnx}. */
export interface ModelFileOnnxOptions {
  /** Leave the preprocessing out: the bare network, `input` → `output` (default false). */
  bare?: boolean;
  /** Cast the weights to this dtype before exporting (default: the model's own). */
  dtype?: DType;
  /** Free text stored as the ONNX model's doc string. */
  docString?: string;
  /** Where the preprocessing came from, for messages (default 'preprocessing'). */
  source?: string;
}

/** What {@link modelFileOnnx} wrote. */
export interface ModelFileOnnx {
  /** The `.onnx` file's bytes. */
  bytes: Uint8Array;
  /** The graph's inputs and outputs. */
  signature: OnnxSignature;
  /** The preprocessing built into the graph (null: bare). */
  preprocessing: Preprocessing | OnnxSequencePreprocessing | null;
  /** The dtype of the graph's weights and float inputs and outputs. */
  dtype: DType;
}

/**
 * The ONNX preprocessing of a model file's `preprocessing` value: a sequence model's (`kind` 'text' or
 * 'series') as it is — `toOnnx` checks it and names what is wrong — a table's checked here; null for none.
 */
export function onnxPreprocessingOf(
  value: unknown,
  where = 'preprocessing',
): Preprocessing | OnnxSequencePreprocessing | null {
  if (value == null) return null;
  const kind = (value as { kind?: unknown }).kind;
  return kind === 'text' || kind === 'series'
    ? (value as OnnxSequencePreprocessing)
    : checkPreprocessing(value, where);
}

/**
 * A copy of `model` with every tensor cast to `dtype` (the model itself when it has that dtype already):
 * the same layers built from its spec, its state dict loaded into them. Throws what `toSpec` throws for a
 * model that no spec describes.
 */
export function castModel(model: Sequential, dtype: DType): Sequential {
  if (model.namedTensors().every(([, t]) => t.dtype === dtype)) return model;
  // The initial weights are overwritten; their own stream leaves the library's default one alone.
  const copy = fromSpec(toSpec(model), { dtype, rng: new RandomState(0) });
  copy.loadStateDict(model.stateDict());
  return model.training ? copy : copy.eval();
}

/**
 * Export `model` with a model file's `preprocessing` as ONNX (see `toOnnx` for the graph): a language
 * model's vocabulary gives ids [batch, length] int64 → logits [batch, length, vocab]. Throws
 * `OnnxExportError` for what ONNX cannot express, and the preprocessing check's error for a bad table.
 */
export function modelFileOnnx(
  model: Sequential,
  preprocessing: unknown,
  options: ModelFileOnnxOptions = {},
): ModelFileOnnx {
  const pre = options.bare ? null : onnxPreprocessingOf(preprocessing, options.source ?? 'preprocessing');
  const m = options.dtype ? castModel(model, options.dtype) : model;
  const bytes = toOnnx(m, { preprocessing: pre, docString: options.docString });
  const signature = onnxSignature(m, { preprocessing: pre });
  const dtype = m.namedTensors()[0]?.[1].dtype ?? 'float32';
  return { bytes, signature, preprocessing: pre, dtype };
}
