/**
 * `fit` runs epochs of a {@link Trainer} with validation, metrics, early stopping, the seed notebook's
 * "until the loss is below X", schedulers, callbacks and cancellation; `evaluate` and `predict` run a
 * model without gradients.
 */
import type { LossFn, LossName } from '../losses.js';
import { MetricSums, NO_METRICS, type MetricName, type Metrics } from '../metrics.js';
import type { Module } from '../nn/module.js';
import type { Optimizer } from '../optim/optimizer.js';
import type { LRScheduler } from '../optim/schedulers.js';
import { ReduceLROnPlateau } from '../optim/schedulers.js';
import { defaultStream, type RandomState } from '../random.js';
import { allocStorage, noGrad, Tensor } from '../tensor.js';
import { rows, toSplit, type Dataset, type Split } from './data.js';
import { EpochColumns, type BatchLog, type EpochLog, type History } from './history.js';
import { resolveLoss, Trainer } from './step.js';

/** Early-stopping settings. */
export interface EarlyStopping {
  /** Epochs without improvement before stopping. */
  patience: number;
  /** Smallest decrease that counts as an improvement (default 0). */
  minDelta?: number;
  /** Put back the weights of the best epoch when stopping (default false). */
  restoreBest?: boolean;
  /** What to watch: `'valLoss'` when there is validation data (default), else `'loss'`. */
  monitor?: 'loss' | 'valLoss';
}

/** Options of `fit`. */
export interface FitOptions {
  /** Loss function or its name. */
  loss: LossFn | LossName;
  /** Optimizer over the model's parameters. */
  optimizer: Optimizer;
  /** Number of passes over the data (default 1). */
  epochs?: number;
  /** Samples per step (default 32; the whole set when it is smaller). */
  batchSize?: number;
  /** Shuffle the training samples every epoch (default true). */
  shuffle?: boolean;
  /** Stream for shuffling (default: the library's default stream). */
  rng?: RandomState;
  /** Hold out this fraction of the samples, taken from the end before any shuffling, for validation. */
  validationSplit?: number;
  /** Separate validation data (instead of `validationSplit`). */
  validationData?: Dataset;
  /** Metrics to report for training and validation. */
  metrics?: MetricName[];
  /** Stop when the monitored loss stops improving. */
  earlyStopping?: EarlyStopping;
  /** Stop once the epoch's training loss falls below `loss`: the seed's "until the training converges". */
  until?: { loss: number };
  /** Stepped once per epoch (ReduceLROnPlateau with the monitored loss). */
  scheduler?: LRScheduler;
  /** Called after every epoch. */
  onEpochEnd?: (log: EpochLog) => void;
  /** Called after every batch. */
  onBatchEnd?: (log: BatchLog) => void;
  /** Abort to stop after the current batch; the history so far is returned. */
  signal?: AbortSignal;
  /** Epochs already done (when resuming a checkpoint): numbering continues from here. */
  initialEpoch?: number;
  /**
   * Take the fused step (no graph, preallocated buffers) when the model is a plain MLP and the loss a
   * squared error or cross-entropy on class labels (default true). Its results are bit-identical to the
   * general path's. On a kernel set with its own memory (the WebAssembly set) the parameters' values live
   * there during the run: `param.data` is then another array until `fit` returns, when the original
   * arrays hold the trained values again (read parameters through the tensor, not a saved array).
   */
  fused?: boolean;
}

/** The decision threshold for a single output's accuracy: 0 for logits, 0.5 for probabilities. */
function thresholdOf(loss: LossFn | LossName): number {
  return loss === 'bceWithLogits' ? 0 : 0.5;
}

// setImmediate where it exists (Node); a macrotask elsewhere. Not a microtask: those would starve timers.
const immediate = (globalThis as { setImmediate?: (cb: () => void) => unknown }).setImmediate;
const yieldToEventLoop = (): Promise<void> =>
  new Promise((resolve) => (immediate ? immediate(resolve) : setTimeout(resolve, 0)));

/** Milliseconds between yields to the event loop, so abort signals, timers and UIs stay live. */
const YIELD_MS = 20;

/**
 * Epochs shorter than this (ms) share clock readings: the clock is read every k epochs, k doubling while
 * k epochs take less than this, and those epochs' seconds are the elapsed time shared evenly.
 */
const CLOCK_MS = 0.05;

/**
 * Train `model` on `data`. Each batch: forward, loss, backward, optimizer step. Returns the per-epoch
 * history. A NaN or infinite loss stops training with a `TrainingDivergedError`, leaving the model with its
 * last weights that gave a finite loss.
 */
export async function fit(model: Module, data: Dataset, options: FitOptions): Promise<History> {
  resolveLoss(options.loss, 'fit');
  const { optimizer, scheduler, signal } = options;
  if (!optimizer || typeof optimizer.step !== 'function')
    throw new TypeError(
      'fit: options.optimizer must be an optimizer (e.g. new optim.Adam(model.parameters()))',
    );
  const epochs = options.epochs ?? 1;
  if (!Number.isInteger(epochs) || epochs < 0)
    throw new RangeError(`fit: epochs must be a non-negative integer, got ${epochs}`);
  const metrics = options.metrics ?? [];
  const threshold = thresholdOf(options.loss);

  // Training and validation sets.
  const all = toSplit(data, 'fit');
  let train: Split = all;
  let val: Split | null = null;
  if (options.validationData) val = toSplit(options.validationData, 'fit: validationData');
  else if (options.validationSplit) {
    const f = options.validationSplit;
    if (!(f > 0 && f < 1)) throw new RangeError(`fit: validationSplit must be in (0, 1), got ${f}`);
    const n = all.x.shape[0];
    const nTrain = n - Math.max(1, Math.round(n * f));
    if (nTrain < 1) throw new Error(`fit: validationSplit ${f} leaves no training samples out of ${n}`);
    val = { x: rows(all.x, null, nTrain, n), y: rows(all.y, null, nTrain, n), labels: all.labels };
    train = { x: rows(all.x, null, 0, nTrain), y: rows(all.y, null, 0, nTrain), labels: all.labels };
  }

  const es = options.earlyStopping;
  const monitor = es?.monitor ?? (val ? 'valLoss' : 'loss');
  if (monitor === 'valLoss' && es && !val)
    throw new Error("fit: earlyStopping monitors 'valLoss' but there is no validation data");
  let best = Infinity;
  let bestEpoch = 0;
  let bestState: Record<string, Tensor> | null = null;
  let sinceBest = 0;

  const trainer = new Trainer(model, train, {
    loss: options.loss,
    optimizer,
    batchSize: options.batchSize ?? 32,
    shuffle: options.shuffle ?? true,
    rng: options.rng ?? defaultStream,
    metrics,
    threshold,
    fused: options.fused !== false,
  });
  const batchSize = Math.min(options.batchSize ?? 32, train.x.shape[0]);
  const firstEpoch = (options.initialEpoch ?? 0) + 1;
  // Epochs with nothing but a loss, and no callback to hand a record to, are kept as numbers and become
  // EpochLog objects when the history is read.
  const columns = !val && metrics.length === 0 && !options.onEpochEnd ? new EpochColumns(firstEpoch) : null;
  const history: History = columns ? columns.history : { epochs: [], stopReason: 'completed' };
  const hooks = { signal, onBatchEnd: options.onBatchEnd, history };
  // Plain-number epochs read the clock every `every` epochs (see CLOCK_MS); recorded ones every epoch.
  let every = 1;
  let unclocked = 0;
  let clock = performance.now();
  let lastYield = clock;
  const wasTraining = model.training;
  model.train();
  try {
    for (let epoch = firstEpoch; epoch < firstEpoch + epochs; epoch++) {
      const lr = optimizer.lr;
      const result = trainer.epoch(epoch, hooks);
      if (result === null) {
        history.stopReason = 'aborted';
        break;
      }
      const epochLoss = result.loss;
      let watched = epochLoss;
      let log: EpochLog | null = null;
      if (columns) {
        columns.push(epochLoss, lr, 0);
        if (++unclocked === every) {
          const now = performance.now();
          columns.spreadSeconds(unclocked, (now - clock) / 1000);
          if (now - clock < CLOCK_MS && every < 4096) every *= 2;
          else if (now - clock > 4 * CLOCK_MS && every > 1) every >>= 1;
          clock = now;
          unclocked = 0;
        }
      } else {
        log = { epoch, loss: epochLoss, metrics: result.metrics, lr, seconds: 0 };
        if (val) {
          const r = evaluate(
            model,
            { x: val.x, y: val.y },
            { loss: options.loss, metrics, batchSize: Math.max(batchSize, 256), threshold },
          );
          log.valLoss = r.loss;
          log.valMetrics = r.metrics;
        }
        const now = performance.now();
        log.seconds = (now - clock) / 1000;
        clock = now;
        history.epochs.push(log);
        if (monitor === 'valLoss') watched = log.valLoss as number;
      }

      if (scheduler instanceof ReduceLROnPlateau) scheduler.step(watched);
      else scheduler?.step();
      if (log) options.onEpochEnd?.(log);

      if (options.until && epochLoss < options.until.loss) {
        history.stopReason = 'until';
        break;
      }
      if (es) {
        if (watched < best - (es.minDelta ?? 0)) {
          best = watched;
          bestEpoch = epoch;
          sinceBest = 0;
          if (es.restoreBest) bestState = model.stateDict();
        } else if (++sinceBest >= es.patience) {
          history.stopReason = 'earlyStopping';
          break;
        }
      }
      // Let timers, I/O and abort handlers run now and then without paying for it on every tiny epoch.
      if (unclocked === 0 && clock - lastYield > YIELD_MS) {
        await yieldToEventLoop();
        clock = lastYield = performance.now();
      }
    }
  } finally {
    // Epochs since the last clock reading get the time since it.
    if (columns && unclocked > 0) columns.spreadSeconds(unclocked, (performance.now() - clock) / 1000);
    model.train(wasTraining);
    trainer.release();
  }
  if (es) {
    history.bestEpoch = bestEpoch;
    if (es.restoreBest && bestState && history.stopReason === 'earlyStopping') model.loadStateDict(bestState);
  }
  return history;
}

/** Options of `evaluate`. */
export interface EvaluateOptions {
  loss: LossFn | LossName;
  metrics?: MetricName[];
  batchSize?: number;
  /** Decision threshold for single-output accuracy (default 0.5; 0 for logits). */
  threshold?: number;
}

/** Loss and metrics of `model` on `data`, without gradients, in evaluation mode. */
export function evaluate(
  model: Module,
  data: Dataset,
  options: EvaluateOptions,
): { loss: number; metrics: Metrics } {
  const lossFn = resolveLoss(options.loss, 'evaluate');
  const t = toSplit(data, 'evaluate');
  const n = t.x.shape[0];
  const bs = Math.min(options.batchSize ?? 256, Math.max(n, 1));
  const sums = new MetricSums(options.metrics ?? [], options.threshold ?? thresholdOf(options.loss));
  const wasTraining = model.training;
  model.eval();
  try {
    return noGrad(() => {
      let lossSum = 0;
      for (let from = 0; from < n; from += bs) {
        const to = Math.min(n, from + bs);
        const xb = rows(t.x, null, from, to);
        const yb = rows(t.y, null, from, to);
        const pred = model.forward(xb);
        lossSum += lossFn(pred, yb).item() * (to - from);
        sums.add(pred.data, yb.data, to - from, t.labels);
      }
      return { loss: lossSum / n, metrics: n > 0 ? sums.result() : NO_METRICS };
    });
  } finally {
    model.train(wasTraining);
  }
}

/** The model's outputs for `x`, in batches, without gradients, in evaluation mode. */
export function predict(model: Module, x: Tensor, options: { batchSize?: number } = {}): Tensor {
  const n = x.shape[0];
  const bs = options.batchSize ?? 1024;
  const wasTraining = model.training;
  model.eval();
  try {
    return noGrad(() => {
      if (n <= bs) return model.forward(x);
      const parts: Tensor[] = [];
      for (let from = 0; from < n; from += bs)
        parts.push(model.forward(rows(x, null, from, Math.min(n, from + bs))));
      const width = parts[0].size / parts[0].shape[0];
      const out = allocStorage(parts[0].dtype, n * width);
      let o = 0;
      for (const p of parts) {
        out.set(p.data, o);
        o += p.size;
      }
      return new Tensor(out, [n, ...parts[0].shape.slice(1)]);
    });
  } finally {
    model.train(wasTraining);
  }
}
