/**
 * The training loop: `fit` runs epochs of mini-batch SGD-style training (forward, loss, backward, step)
 * with validation, metrics, early stopping, the seed notebook's "until the loss is below X", schedulers,
 * callbacks and cancellation; `evaluate` and `predict` run a model without gradients.
 */
import type { Module } from './nn/module.js';
import { byName, type LossFn, type LossName } from './losses.js';
import type { Optimizer } from './optim/optimizer.js';
import type { LRScheduler } from './optim/schedulers.js';
import { ReduceLROnPlateau } from './optim/schedulers.js';
import { defaultStream, type RandomState } from './random.js';
import { fmt } from './shape.js';
import { allocStorage, noGrad, Tensor } from './tensor.js';
import type { Kernels, Storage } from './kernels/types.js';
import { FusedStep } from './fused.js';
import { kernels, kernelStorage } from './kernels/index.js';

/** Inputs and targets: `x` is [N, features]; `y` is [N, outputs] or N class indices. */
export interface Dataset {
  x: Tensor;
  y: Tensor | ArrayLike<number>;
}

/** A metric by name: `accuracy` (classification), `mae` and `mse` (regression). */
export type MetricName = 'accuracy' | 'mae' | 'mse';

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

/** One epoch's record. */
export interface EpochLog {
  /** 1-based epoch number. */
  epoch: number;
  /** Mean training loss over the epoch's samples (each batch's loss at the weights it was computed with). */
  loss: number;
  /** Loss on the validation data after the epoch. */
  valLoss?: number;
  /** Training metrics, averaged over the epoch's batches by sample count. */
  metrics: Partial<Record<MetricName, number>>;
  /** Validation metrics after the epoch. */
  valMetrics?: Partial<Record<MetricName, number>>;
  /** Learning rate used during the epoch. */
  lr: number;
  /** Wall time of the epoch in seconds. */
  seconds: number;
}

/** One batch's record, for progress displays. */
export interface BatchLog {
  epoch: number;
  /** 0-based batch index within the epoch. */
  batch: number;
  batches: number;
  /** Samples in this batch. */
  size: number;
  loss: number;
}

/** Why training stopped. */
export type StopReason = 'completed' | 'until' | 'earlyStopping' | 'aborted';

/** What `fit` returns. */
export interface History {
  /** One record per epoch run. */
  epochs: EpochLog[];
  /** Why it stopped. */
  stopReason: StopReason;
  /** Epoch with the best monitored value, when early stopping was on. */
  bestEpoch?: number;
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

/** Thrown when the loss becomes NaN or infinite; the model keeps its last weights with a finite loss. */
export class TrainingDivergedError extends Error {
  constructor(
    message: string,
    /** The epochs completed before it happened. */
    readonly history: History,
  ) {
    super(message);
    this.name = 'TrainingDivergedError';
  }
}

interface Split {
  x: Tensor;
  y: Tensor;
  labels: boolean;
}

function toTargets(y: Tensor | ArrayLike<number>, n: number): { y: Tensor; labels: boolean } {
  if (y instanceof Tensor) {
    if (y.shape[0] !== n)
      throw new Error(`fit: x has ${n} samples but y has ${y.shape[0]} (y shape ${fmt(y.shape)})`);
    return { y, labels: y.ndim === 1 && isIntegral(y.data) };
  }
  if (y.length !== n) throw new Error(`fit: x has ${n} samples but y has ${y.length} labels`);
  const s = new Float64Array(n);
  for (let i = 0; i < n; i++) s[i] = y[i];
  return { y: new Tensor(s, [n]), labels: true };
}

function isIntegral(a: Storage): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isInteger(a[i])) return false;
  return true;
}

/**
 * Rows `idx[from..to)` of `t` as a new tensor (or `t` itself when that is every row in order). With
 * `reuse`, the rows go into a tensor kept there per row count, overwritten by the next call: the fused
 * path, which holds no reference to its inputs, takes its batches that way without allocating.
 */
function rows(
  t: Tensor,
  idx: Int32Array | null,
  from: number,
  to: number,
  reuse?: Map<number, Tensor>,
): Tensor {
  const n = t.shape[0];
  if (from === 0 && to === n && (idx === null || isIdentity(idx))) return t;
  const width = t.size / Math.max(n, 1);
  let kept = reuse?.get(to - from);
  if (reuse && !kept) {
    kept = new Tensor(kernelStorage(t.dtype, (to - from) * width), [to - from, ...t.shape.slice(1)]);
    reuse.set(to - from, kept);
  }
  const out = kept ? kept.data : allocStorage(t.dtype, (to - from) * width);
  if (idx === null) out.set(t.data.subarray(from * width, to * width));
  else
    for (let r = from; r < to; r++) {
      const src = idx[r] * width;
      out.set(t.data.subarray(src, src + width), (r - from) * width);
    }
  return kept ?? new Tensor(out, [to - from, ...t.shape.slice(1)]);
}

/** A parameter's storage as `fit` found it, while its values live in kernel storage. */
type Moved = Storage | null;

/** Give `p` a copy of its values in `k`'s own storage; returns its original array (null: left as it was). */
function moveIn(p: Tensor, k: Kernels): Moved {
  const home = k.alloc?.(p.dtype, p.size) ?? null;
  if (!home) return null;
  home.set(p.data);
  const original = p.data;
  (p as { data: Storage }).data = home;
  return original;
}

/** Copy `p`'s values back into its original array, give that back to `p`, and free the kernel storage. */
function moveOut(p: Tensor, original: Moved, k: Kernels): void {
  if (!original) return;
  const home = p.data;
  original.set(home);
  (p as { data: Storage }).data = original;
  k.free?.(home);
}

/**
 * Per-epoch losses, learning rates and times as numbers, for a run whose records have nothing else: its
 * `history.epochs` is built from them on first read (and is a plain array from then on).
 */
class EpochColumns {
  private loss = new Float64Array(64);
  private lr = new Float64Array(64);
  private seconds = new Float64Array(64);
  private count = 0;
  private built: EpochLog[] | null = null;
  readonly history: History;

  constructor(private readonly first: number) {
    const history = {} as History;
    Object.defineProperty(history, 'epochs', {
      enumerable: true,
      configurable: true,
      get: () => this.build(),
    });
    history.stopReason = 'completed';
    this.history = history;
  }

  push(loss: number, lr: number, seconds: number): void {
    if (this.built) {
      this.built.push({ epoch: this.first + this.count++, loss, metrics: NO_METRICS, lr, seconds });
      return;
    }
    if (this.count === this.loss.length) {
      const grow = (a: Float64Array) => {
        const b = new Float64Array(a.length * 2);
        b.set(a);
        return b;
      };
      this.loss = grow(this.loss);
      this.lr = grow(this.lr);
      this.seconds = grow(this.seconds);
    }
    const i = this.count++;
    this.loss[i] = loss;
    this.lr[i] = lr;
    this.seconds[i] = seconds;
  }

  private build(): EpochLog[] {
    if (!this.built) {
      const logs: EpochLog[] = new Array<EpochLog>(this.count);
      for (let i = 0; i < this.count; i++)
        logs[i] = {
          epoch: this.first + i,
          loss: this.loss[i],
          metrics: NO_METRICS,
          lr: this.lr[i],
          seconds: this.seconds[i],
        };
      this.built = logs;
      Object.defineProperty(this.history, 'epochs', {
        value: logs,
        writable: true,
        enumerable: true,
        configurable: true,
      });
    }
    return this.built;
  }
}

/** dst.set(src), by hand for short arrays, where `set`'s call costs more than the copy. */
function copyInto(dst: Storage, src: Storage): void {
  const n = src.length;
  if (n > 16) dst.set(src);
  else for (let i = 0; i < n; i++) dst[i] = src[i];
}

function isIdentity(idx: Int32Array): boolean {
  for (let i = 0; i < idx.length; i++) if (idx[i] !== i) return false;
  return true;
}

function resolveLoss(loss: LossFn | LossName): LossFn {
  if (typeof loss === 'function') return loss;
  const fn = (byName as Record<string, LossFn | undefined>)[loss];
  if (!fn)
    throw new Error(
      `fit: unknown loss ${JSON.stringify(loss)}; expected one of ${Object.keys(byName).join(', ')}`,
    );
  return fn;
}

/** Class predicted for each row: argmax over outputs, or a threshold for a single output. */
function predictedClasses(pred: Tensor, threshold: number): Int32Array {
  const n = pred.shape[0];
  const c = pred.size / Math.max(n, 1);
  const out = new Int32Array(n);
  const d = pred.data;
  for (let r = 0; r < n; r++) {
    if (c === 1) {
      out[r] = d[r] > threshold ? 1 : 0;
      continue;
    }
    let best = 0;
    for (let j = 1; j < c; j++) if (d[r * c + j] > d[r * c + best]) best = j;
    out[r] = best;
  }
  return out;
}

/** The metrics of an epoch without metrics: one shared frozen object, not one per epoch. */
const NO_METRICS: Partial<Record<MetricName, number>> = Object.freeze({});

/** Sums of each metric over a batch (divided by the sample count later). */
function metricSums(names: MetricName[], pred: Tensor, y: Tensor, labels: boolean, threshold: number) {
  const sums: Partial<Record<MetricName, number>> = {};
  const n = pred.shape[0];
  for (const name of names) {
    if (name === 'accuracy') {
      const p = predictedClasses(pred, threshold);
      const t = labels ? null : predictedClasses(y, 0.5);
      let hit = 0;
      for (let r = 0; r < n; r++) if (p[r] === (t ? t[r] : y.data[r])) hit++;
      sums.accuracy = hit;
    } else {
      let s = 0;
      const w = pred.size / Math.max(n, 1);
      for (let i = 0; i < pred.size; i++) {
        const e = pred.data[i] - y.data[i];
        s += name === 'mae' ? Math.abs(e) : e * e;
      }
      sums[name] = s / w;
    }
  }
  return sums;
}

function addSums(acc: Partial<Record<MetricName, number>>, s: Partial<Record<MetricName, number>>) {
  for (const [k, v] of Object.entries(s)) acc[k as MetricName] = (acc[k as MetricName] ?? 0) + v;
}

function divide(acc: Partial<Record<MetricName, number>>, n: number): Partial<Record<MetricName, number>> {
  const out: Partial<Record<MetricName, number>> = {};
  for (const [k, v] of Object.entries(acc)) out[k as MetricName] = v / n;
  return out;
}

// setImmediate where it exists (Node); a macrotask elsewhere. Not a microtask: those would starve timers.
const immediate = (globalThis as { setImmediate?: (cb: () => void) => unknown }).setImmediate;
const yieldToEventLoop = (): Promise<void> =>
  new Promise((resolve) => (immediate ? immediate(resolve) : setTimeout(resolve, 0)));

/**
 * Train `model` on `data`. Each batch: forward, loss, backward, optimizer step. Returns the per-epoch
 * history. A NaN or infinite loss stops training with a `TrainingDivergedError`, leaving the model with its
 * last weights that gave a finite loss.
 */
export async function fit(model: Module, data: Dataset, options: FitOptions): Promise<History> {
  const lossFn = resolveLoss(options.loss);
  const { optimizer, scheduler, signal } = options;
  const epochs = options.epochs ?? 1;
  if (!Number.isInteger(epochs) || epochs < 0)
    throw new RangeError(`fit: epochs must be a non-negative integer, got ${epochs}`);
  const rng = options.rng ?? defaultStream;
  const metrics = options.metrics ?? [];
  const threshold = options.loss === 'bceWithLogits' ? 0 : 0.5;
  if (!(data.x instanceof Tensor) || data.x.ndim < 1)
    throw new Error('fit: data.x must be a Tensor with a sample axis');

  // Training and validation sets.
  const all = toTargets(data.y, data.x.shape[0]);
  let train: Split = { x: data.x, y: all.y, labels: all.labels };
  let val: Split | null = null;
  if (options.validationData) {
    const v = options.validationData;
    const t = toTargets(v.y, v.x.shape[0]);
    val = { x: v.x, y: t.y, labels: t.labels };
  } else if (options.validationSplit) {
    const f = options.validationSplit;
    if (!(f > 0 && f < 1)) throw new RangeError(`fit: validationSplit must be in (0, 1), got ${f}`);
    const n = data.x.shape[0];
    const nTrain = n - Math.max(1, Math.round(n * f));
    if (nTrain < 1) throw new Error(`fit: validationSplit ${f} leaves no training samples out of ${n}`);
    val = { x: rows(data.x, null, nTrain, n), y: rows(all.y, null, nTrain, n), labels: all.labels };
    train = { x: rows(data.x, null, 0, nTrain), y: rows(all.y, null, 0, nTrain), labels: all.labels };
  }
  const n = train.x.shape[0];
  if (n === 0) throw new Error('fit: no training samples');
  const batchSize = Math.min(options.batchSize ?? 32, n);
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new RangeError(`fit: batchSize must be a positive integer, got ${options.batchSize}`);
  const batches = Math.ceil(n / batchSize);
  const shuffle = options.shuffle ?? true;

  const es = options.earlyStopping;
  const monitor = es?.monitor ?? (val ? 'valLoss' : 'loss');
  if (monitor === 'valLoss' && es && !val)
    throw new Error("fit: earlyStopping monitors 'valLoss' but there is no validation data");
  let best = Infinity;
  let bestEpoch = 0;
  let bestState: Record<string, Tensor> | null = null;
  let sinceBest = 0;

  // Last weights that gave a finite loss, restored if the loss blows up.
  const params = optimizer.params;
  const backup = params.map((p) => allocStorage(p.dtype, p.size));
  let haveBackup = false;

  const fused = options.fused === false ? null : FusedStep.plan(model, options.loss);
  const useFused = fused !== null && fused.accepts(train.x, train.y);
  // When the fused step computes the gradient of every parameter the optimizer holds, it writes them
  // directly instead of fit zeroing them first.
  const fusedOwnsGrads = useFused && fused.covers(params);
  const batchOwner = kernels();
  // On the fused path each parameter's values move into storage the kernel set works on in place (its
  // own memory, where it has one), for the length of the run: the products and the optimizer then read
  // and write them without copies. The original arrays get the final values back when fit returns.
  const moved = useFused
    ? params.map((p, i) => (params.indexOf(p) === i ? moveIn(p, batchOwner) : null))
    : [];
  const batchX = useFused ? new Map<number, Tensor>() : undefined;
  const batchY = useFused ? new Map<number, Tensor>() : undefined;

  const firstEpoch = (options.initialEpoch ?? 0) + 1;
  // Epochs with nothing but a loss, and no callback to hand a record to, are kept as numbers and become
  // EpochLog objects when the history is read: a tiny network's epoch is one step, and a kept object per
  // step costs more (garbage-collector work) than the step.
  const columns = !val && metrics.length === 0 && !options.onEpochEnd ? new EpochColumns(firstEpoch) : null;
  const history: History = columns ? columns.history : { epochs: [], stopReason: 'completed' };
  // One clock reading per epoch: an epoch starts when the previous one ended.
  let clock = performance.now();
  let lastYield = clock;
  const wasTraining = model.training;
  model.train();
  try {
    for (let epoch = firstEpoch; epoch < firstEpoch + epochs; epoch++) {
      const started = clock;
      const order = shuffle ? rng.permutation(n) : null;
      const lr = optimizer.lr;
      let lossSum = 0;
      const sums: Partial<Record<MetricName, number>> = {};
      for (let b = 0; b < batches; b++) {
        if (signal?.aborted) {
          history.stopReason = 'aborted';
          return history;
        }
        const from = b * batchSize;
        const to = Math.min(n, from + batchSize);
        const xb = rows(train.x, order, from, to, batchX);
        const yb = rows(train.y, order, from, to, batchY);
        // The fused step overwrites the gradients (as zeroing and accumulating would leave them).
        if (!fusedOwnsGrads) optimizer.zeroGrad();
        let pred: Tensor | null = null;
        let loss: Tensor | null = null;
        let value: number;
        if (useFused) value = fused.run(xb, yb, fusedOwnsGrads);
        else {
          pred = model.forward(xb);
          loss = lossFn(pred, yb);
          value = loss.item();
        }
        if (!Number.isFinite(value)) {
          if (haveBackup) params.forEach((p, i) => p.data.set(backup[i]));
          throw new TrainingDivergedError(
            `training diverged: the loss became ${value} at epoch ${epoch}, batch ${b + 1} of ${batches}. ` +
              `The model keeps its last weights that gave a finite loss. Try a smaller learning rate (it is ${optimizer.lr}).`,
            history,
          );
        }
        loss?.backward();
        for (let i = 0; i < params.length; i++) copyInto(backup[i], params[i].data);
        haveBackup = true;
        optimizer.step();
        lossSum += value * (to - from);
        if (metrics.length > 0)
          addSums(sums, metricSums(metrics, pred ?? fused!.output(to - from), yb, train.labels, threshold));
        options.onBatchEnd?.({ epoch, batch: b, batches, size: to - from, loss: value });
      }
      const epochLoss = lossSum / n;
      let watched = epochLoss;
      let log: EpochLog | null = null;
      if (columns) {
        clock = performance.now();
        columns.push(epochLoss, lr, (clock - started) / 1000);
      } else {
        log = {
          epoch,
          loss: epochLoss,
          metrics: metrics.length > 0 ? divide(sums, n) : NO_METRICS,
          lr,
          seconds: 0,
        };
        if (val) {
          const r = evaluate(
            model,
            { x: val.x, y: val.y },
            { loss: lossFn, metrics, batchSize: Math.max(batchSize, 256), threshold },
          );
          log.valLoss = r.loss;
          log.valMetrics = r.metrics;
        }
        clock = performance.now();
        log.seconds = (clock - started) / 1000;
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
      if (clock - lastYield > 20) {
        await yieldToEventLoop();
        clock = lastYield = performance.now();
      }
    }
  } finally {
    model.train(wasTraining);
    // The fused step's buffers and the batch buffers go back to the kernel set that made them.
    fused?.release();
    params.forEach((p, i) => moveOut(p, moved[i] ?? null, batchOwner));
    for (const t of [...(batchX?.values() ?? []), ...(batchY?.values() ?? [])]) batchOwner.free?.(t.data);
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
): { loss: number; metrics: Partial<Record<MetricName, number>> } {
  const lossFn = resolveLoss(options.loss);
  const t = toTargets(data.y, data.x.shape[0]);
  const n = data.x.shape[0];
  const bs = Math.min(options.batchSize ?? 256, Math.max(n, 1));
  const threshold = options.threshold ?? (options.loss === 'bceWithLogits' ? 0 : 0.5);
  const wasTraining = model.training;
  model.eval();
  try {
    return noGrad(() => {
      let lossSum = 0;
      const sums: Partial<Record<MetricName, number>> = {};
      for (let from = 0; from < n; from += bs) {
        const to = Math.min(n, from + bs);
        const xb = rows(data.x, null, from, to);
        const yb = rows(t.y, null, from, to);
        const pred = model.forward(xb);
        lossSum += lossFn(pred, yb).item() * (to - from);
        addSums(sums, metricSums(options.metrics ?? [], pred, yb, t.labels, threshold));
      }
      return { loss: lossSum / n, metrics: divide(sums, n) };
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
