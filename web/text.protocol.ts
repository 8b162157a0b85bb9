// The messages between the Text page and its training worker. Every message to the page carries the `run`
// id of the `init` it belongs to, so frames of a run that was replaced are dropped.
import type { playground } from './lib.js';

/** What the page asks the worker. */
export type ToTextWorker =
  /** Build a new run (step 0) on `text`; `source` names it in messages. */
  | { type: 'init'; run: number; config: playground.TextConfig; text: string; source: string; prompt: string }
  /** Train until paused, sending frames as it goes. */
  | { type: 'play' }
  | { type: 'pause' }
  /** Pause and train exactly one step. */
  | { type: 'step' }
  /** The prompt whose attention and embedding gradients the frames carry. */
  | { type: 'prompt'; prompt: string }
  /** The trained model as a chainrule model file, or as ONNX (float32). */
  | { type: 'export'; format: 'chainrule' | 'onnx' };

/** The attention and embedding gradients for the current prompt, or why there are none. */
export interface Inspection {
  prompt: string;
  /** Null for the LSTM (it has no attention) or when the prompt does not fit the text. */
  attention: playground.AttentionMaps | null;
  /** Null when the prompt is shorter than two characters or does not fit the text. */
  gradients: playground.EmbeddingGradients | null;
  /** Why something is missing (a character not in the text, a prompt too short), or null. */
  note: string | null;
}

/** What the page draws of a run at one moment. */
export interface TextFrame {
  step: number;
  playing: boolean;
  /** The records of the steps since the previous frame (step 0's validation loss in the first). */
  stats: playground.TextStats[];
  /** Text sampled at this step (seeded by the step), when this frame has a new sample. */
  sample: string | null;
  inspection: Inspection | null;
  /** SHA-256 of the weights, in frames sent while paused (tests compare it with Node's). */
  digest: string | null;
}

/** What the worker tells the page. */
export type FromTextWorker =
  | { type: 'kernels'; name: string }
  | {
      type: 'ready';
      run: number;
      vocabulary: string[];
      characters: number;
      trainCharacters: number;
      parameters: number;
      frame: TextFrame;
    }
  | { type: 'frame'; run: number; frame: TextFrame }
  | {
      type: 'exported';
      run: number;
      filename: string;
      /** The model file's JSON, or the ONNX bytes. */
      data: string | Uint8Array;
      format: 'chainrule' | 'onnx';
    }
  /** Something failed; training is paused. `fatal`: there is no run (bad text or configuration). */
  | { type: 'error'; run: number; message: string; fatal: boolean };

/** How long a playing worker trains between frames (ms). */
export const TEXT_FRAME_MS = 100;

/** How often a playing worker samples text and recomputes the inspection (ms). */
export const SAMPLE_EVERY_MS = 2000;

/** Characters per sample. */
export const SAMPLE_LENGTH = 60;

/** The sampling seed of the sample taken at `step`: the same step, the same text, in Node and the page. */
export function sampleSeed(config: playground.TextConfig, step: number): number {
  return (config.seed * 100_003 + step) % 2 ** 32;
}
