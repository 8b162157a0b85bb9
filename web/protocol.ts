// The messages between the page and its training worker. Every message to the page carries the `run` id
// of the `init` it belongs to, so frames of a run that was replaced are dropped.
import type { playground } from './lib.js';

/** What the page asks the worker. */
export type ToWorker =
  /** Build a new run (epoch 0) from a configuration; `csv` holds the points when the dataset is csv. */
  | { type: 'init'; run: number; config: playground.PlaygroundConfig; csv: playground.Points | null }
  /** Train until paused, sending frames as it goes. */
  | { type: 'play' }
  | { type: 'pause' }
  /** Pause and train exactly one epoch. */
  | { type: 'step' }
  /** Change one weight or bias of the current run (layer counts Linear layers from 0). */
  | { type: 'setParameter'; layer: number; kind: 'weight' | 'bias'; index: number; value: number }
  /** Explain one SGD step on training point `sample`, without taking it. */
  | { type: 'explain'; sample: number }
  /** The trained model as a file. */
  | { type: 'export'; format: ExportFormat };

/** The export formats: a chainrule model file, or ONNX. */
export type ExportFormat = 'chainrule' | 'onnx';

/** What the page needs to draw the run at one moment. */
export interface Frame {
  epoch: number;
  playing: boolean;
  /** The losses of the epochs since the previous frame (all of them since epoch 0 in the first). */
  stats: playground.EpochStats[];
  /** Replace the last entry of the page's history instead of appending (after an edited weight). */
  restated: boolean;
  parameters: playground.LayerParameters[];
  grids: playground.Grids;
}

/** What the worker tells the page. */
export type FromWorker =
  /** Sent once, before anything else: the kernel set the worker trains on (`kernels().name`). */
  | { type: 'kernels'; name: string }
  /** A run was built: its points (drawn on the heatmap) and its first frame. */
  | {
      type: 'ready';
      run: number;
      problem: playground.ProblemType;
      train: playground.Points;
      test: playground.Points;
      frame: Frame;
    }
  | { type: 'frame'; run: number; frame: Frame }
  | { type: 'explanation'; run: number; explanation: playground.PlaygroundExplanation }
  | { type: 'exported'; run: number; format: ExportFormat; filename: string; data: string | Uint8Array }
  /** Something failed; training is paused. `fatal`: there is no run to show (a bad configuration). */
  | { type: 'error'; run: number; message: string; fatal: boolean };

/**
 * Most threads the training worker asks the WebAssembly kernels for. The playground's products (at most
 * 6400×8 by 8×8) stay far below the 2²² multiply-adds that wake the pool, so its workers never start for
 * them; the cap only bounds the shared memory reserved up front (a work area of about 1.4 MiB per thread).
 */
export const MAX_KERNEL_THREADS = 4;

/**
 * The `threads` option the training worker loads the WebAssembly kernels with: the cores the browser
 * reports, up to {@link MAX_KERNEL_THREADS}, where the page is cross-origin isolated (threads share a
 * `SharedArrayBuffer`, and a worker may block in `Atomics.wait`); one thread elsewhere.
 */
export function kernelThreads(hardwareConcurrency: number | undefined, crossOriginIsolated: boolean): number {
  if (!crossOriginIsolated) return 1;
  return Math.max(1, Math.min(MAX_KERNEL_THREADS, Math.floor(hardwareConcurrency ?? 1) || 1));
}

/** How often a playing worker sends a frame, at most (ms), and how long it trains between frames. */
export const FRAME_INTERVAL_MS = 40;

/** The heatmap's resolution and the neurons' thumbnails' (cells per side). */
export const OUTPUT_DENSITY = 80;
export const UNIT_DENSITY = 20;

/** The buffers of a frame, to transfer instead of copy. */
export function frameBuffers(frame: Frame): ArrayBuffer[] {
  const out: ArrayBuffer[] = [
    frame.grids.output.buffer as ArrayBuffer,
    frame.grids.features.buffer as ArrayBuffer,
  ];
  for (const u of frame.grids.units) out.push(u.buffer as ArrayBuffer);
  for (const p of frame.parameters) {
    out.push(p.weight.buffer as ArrayBuffer, p.bias.buffer as ArrayBuffer);
    if (p.weightGrad) out.push(p.weightGrad.buffer as ArrayBuffer);
    if (p.biasGrad) out.push(p.biasGrad.buffer as ArrayBuffer);
  }
  return out;
}
