// The messages between the Images page and its training worker. Every message to the page carries the
// `run` id of the `init` it belongs to, so frames of a replaced run are dropped.
import type { playground } from './lib.js';

/** What the page asks the worker. */
export type ImagesToWorker =
  /** Build a run (step 0): a built-in set is fetched from the page's assets, a folder's set comes along. */
  | { type: 'init'; run: number; config: playground.ImageConfig; set: playground.ImageSet | null }
  | { type: 'play' }
  | { type: 'pause' }
  /** Pause and train exactly one batch. */
  | { type: 'step' }
  /** Open this image up (C·H·W values in [0, 1]) against `label` (null: the predicted class), now and in every frame. */
  | { type: 'inspect'; image: Float64Array; label: number | null }
  | { type: 'export'; format: 'chainrule' | 'onnx' };

/** What the page draws at one moment. */
export interface ImagesFrame {
  steps: number;
  epoch: number;
  playing: boolean;
  /** Batch losses since the previous frame. */
  losses: number[];
  /** Test scores since the previous frame. */
  evaluations: playground.ImageEvaluation[];
  /** The current image opened up (null until the page sends one). */
  inspection: playground.Inspection | null;
}

/** What the worker tells the page. */
export type ImagesFromWorker =
  | { type: 'kernels'; name: string }
  | {
      type: 'ready';
      run: number;
      shape: [number, number, number];
      maxValue: number;
      classes: string[];
      /** The test images, for the page's "test image" button. */
      test: playground.ImageSplit;
      trainCount: number;
      batchesPerEpoch: number;
      source: string;
      frame: ImagesFrame;
    }
  | { type: 'frame'; run: number; frame: ImagesFrame }
  | {
      type: 'exported';
      run: number;
      filename: string;
      data: string | Uint8Array;
      format: 'chainrule' | 'onnx';
    }
  | { type: 'error'; run: number; message: string; fatal: boolean };

/** How long a playing worker trains between frames (ms). */
export const IMAGES_SLICE_MS = 60;
