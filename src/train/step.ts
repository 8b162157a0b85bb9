/**
 * The one training step, and epochs of it: every batch zeroes the gradients, runs forward and the loss,
 * checks the loss is finite, runs backward and lets the optimizer step. `fit`, the playground's epochs and
 * the command line (through `fit`) all train through a `Trainer`, so they cannot drift apart.
 *
 * For a plain MLP with a loss the fused step knows, the forward, loss and backward are the fused step's
 * (same bits, no graph, buffers kept between batches, parameters in the kernels' own memory); otherwise
 * (convolutions, normalization, dropout, anything else) autograd's. The model is in whatever mode its
 * caller set: `fit` puts it in training mode.
 */
import { kernels } from '../kernels/index.js';
import type { Kernels, Storage } from '../kernels/types.js';
import {
  byName,
  LOSS_SPELLINGS,
  lossName,
  type LossFn,
  type LossName,
  type LossSpelling,
} from '../losses.js';
import { MetricSums, type MetricName, type Metrics } from '../metrics.js';
import type { Module } from '../nn/module.js';
import { clipGradNorm } from '../optim/clip.js';
import type { Optimizer } from '../optim/optimizer.js';
import { SGD } from '../optim/optimizers.js';
import type { RandomState } from '../random.js';
import { allocStorage, Tensor } from '../tensor.js';
import { tidy, tidySafe } from '../tidy.js';
import { rows, type Split } from './data.js';
import { FusedStep, type TinyStep } from './fused.js';
import type { BatchLog, History } from './history.js';

/**
 * Thrown when the loss becomes NaN or infinite, or explodes past the trainer's `lossLimit`; the model keeps
 * its last weights that gave an acceptable loss.
 */
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

/**
 * A loss option checked: a function as it is, a name in either spelling as the library's name; `op` names
 * the caller in the message for anything else.
 */
export function checkLoss(loss: LossFn | LossSpelling, op: string): LossFn | LossName {
  if (typeof loss === 'function') return loss;
  const name = lossName(loss);
  if (name) return name;
  const names = Object.entries(LOSS_SPELLINGS).map(([camel, kebab]) =>
    camel === kebab ? camel : `${camel} (${kebab})`,
  );
  throw new Error(
    `${op}: ${loss === undefined ? 'options.loss is missing' : `unknown loss ${JSON.stringify(loss)}`}; ` +
      `expected a loss function or one of ${names.join(', ')}`,
  );
}

/** A loss given by name (either spelling) or as a function, as a function; `op` names the caller. */
export function resolveLoss(loss: LossFn | LossSpelling, op: string): LossFn {
  const checked = checkLoss(loss, op);
  return typeof checked === 'function' ? checked : byName[checked];
}

/**
 * An epoch stopped part way (Ctrl-C): everything needed to continue it with the bits of an uninterrupted
 * one, given the weights, optimizer and random stream of that moment. `Trainer.partial` gives it,
 * `Trainer.resumeEpoch` (or `fit`'s `resumeEpoch`) takes it back.
 */
export interface PartialEpoch {
  /** The epoch's number (1-based, as in the history). */
  epoch: number;
  /** Batches of it already trained. */
  batch: number;
  /** Their summed loss (each batch's mean × its size). */
  lossSum: number;
  /** The epoch's sample order (null when not shuffling). */
  order: Int32Array | null;
  /** The metrics' running sums (`MetricSums.saveState`). */
  metrics: number[];
  /** The exploding-loss rule's reference, when it had one. */
  reference: number | null;
}

/** What `Trainer.run` returns when it stopped at its deadline in the middle of an epoch. */
export const PAUSED: unique symbol = Symbol('paused');

/** How a {@link Trainer} trains. */
export interface TrainerOptions {
  /** Loss function or its name in either spelling (a name lets a plain MLP take the fused step). */
  loss: LossFn | LossSpelling;
  optimizer: Optimizer;
  /** Samples per step (the whole set when it is smaller). */
  batchSize: number;
  /** Shuffle the samples every epoch (from `rng`), or take them in order. */
  shuffle: boolean;
  rng: RandomState;
  /** Metrics to sum over each epoch's batches. */
  metrics: readonly MetricName[];
  /** Decision threshold of a single output for accuracy (0.5 for probabilities, 0 for logits). */
  threshold: number;
  /** Allow the fused step where the model and loss permit it. */
  fused: boolean;
  /** Clip the gradients' total 2-norm to this before each optimizer step (general path only). */
  clipGradNorm?: number;
  /**
   * A loss above this × max(1, reference) counts as diverged (default Infinity: only NaN and ±Infinity
   * do). The reference is `referenceLoss`, else the first step's loss until `setReferenceLoss` is called.
   */
  explodeFactor?: number;
  /** The reference loss of the exploding-loss rule, when known from the start (a resumed run). */
  referenceLoss?: number;
  /**
   * Run each general-path step (with its metrics) inside `tidy`; default: when the model's modules, the
   * loss and the optimizer are all the library's own (`tidySafe`). The fused step never needs it.
   */
  tidy?: boolean;
}

/** dst.set(src), by hand for short arrays, where `set`'s call costs more than the copy. */
function copyInto(dst: Storage, src: Storage): void {
  const n = src.length;
  if (n > 16) dst.set(src);
  else for (let i = 0; i < n; i++) dst[i] = src[i];
}

/**
 * Training of one model on one split, an epoch at a time. Make it, call `epoch` as often as wanted, then
 * `release` (which gives the parameters back their own arrays, with the trained values).
 */
export class Trainer {
  readonly batches: number;
  private readonly lossFn: LossFn;
  private readonly params: Tensor[];
  /**
   * Last weights that gave a finite loss, restored if the loss blows up: one array for the parameters'
   * block when they are in one, else one per parameter.
   */
  private readonly backup: Storage[];
  /**
   * The model's buffers (BatchNorm's running statistics, updated by each forward in training) and their
   * values after the last step with a finite loss, put back with the weights.
   */
  private readonly buffers: Tensor[];
  private readonly bufferBackup: Storage[];
  private haveBackup = false;
  private readonly fused: FusedStep | null;
  /** Whether the fused step writes every parameter's gradient (so nothing needs zeroing first). */
  private readonly fusedOwnsGrads: boolean;
  private readonly owner: Kernels;
  /** The parameters and gradients in one block each (fused path), or null. */
  private readonly blocks: ParamBlocks | null;
  /** Whether the optimizer updates the blocks in one call (see `Optimizer.flatten`). */
  private readonly flat: boolean;
  private readonly batchX: Map<number, Tensor> | undefined;
  private readonly batchY: Map<number, Tensor> | undefined;
  /** The epoch's sample order, shuffled in place (a permutation without a new array each epoch). */
  private readonly order: Int32Array | null;
  private readonly sums: MetricSums;
  private readonly batchSize: number;
  /**
   * Whether `sgdEpochs` can serve this run: one batch an epoch (the same samples every epoch), the fused
   * step writing every gradient into the block, no model buffers, and plain SGD (no momentum, no decay).
   */
  private readonly sgdLaneFits: boolean;
  /** The loss that stopped `sgdEpochs` as unacceptable (see `sgdDiverged`). */
  private laneValue = NaN;
  /** Whether each general-path step runs inside `tidy`. */
  private readonly tidy: boolean;

  constructor(
    private readonly model: Module,
    private readonly data: Split,
    private readonly options: TrainerOptions,
  ) {
    const n = data.x.shape[0];
    if (n === 0) throw new Error('fit: no training samples');
    const batchSize = Math.min(options.batchSize, n);
    if (!Number.isInteger(batchSize) || batchSize < 1)
      throw new RangeError(`fit: batchSize must be a positive integer, got ${options.batchSize}`);
    this.batchSize = batchSize;
    this.batches = Math.ceil(n / batchSize);
    const loss = checkLoss(options.loss, 'fit');
    this.lossFn = typeof loss === 'function' ? loss : byName[loss];
    this.params = options.optimizer.params;

    this.sums = new MetricSums(options.metrics, options.threshold);
    this.order = options.shuffle ? new Int32Array(n) : null;

    const fused = options.fused ? FusedStep.plan(model, loss) : null;
    this.fused = fused !== null && fused.accepts(data.x, data.y) ? fused : null;
    this.fusedOwnsGrads = this.fused !== null && this.fused.covers(this.params);
    this.owner = kernels();
    // On the fused path the parameters' values and gradients move into one block each, in storage the
    // kernel set works on in place (its own memory, where it has one), for as long as the trainer lives:
    // the products read and write them without copies, the optimizer updates the block with one call a
    // step, and the last finite weights are one copy. `release` gives the original arrays the values back.
    this.blocks = this.fused ? ParamBlocks.move(this.params, this.owner) : null;
    this.flat = this.blocks !== null && options.optimizer.flatten(this.blocks.params, this.blocks.grads);
    this.backup = this.blocks
      ? [allocStorage(this.params[0].dtype, this.blocks.params.length)]
      : this.params.map((p) => allocStorage(p.dtype, p.size));
    this.buffers = model.buffers();
    this.bufferBackup = this.buffers.map((b) => allocStorage(b.dtype, b.size));
    this.tidy = this.fused === null && (options.tidy ?? tidySafe(model, options.loss, options.optimizer));
    this.batchX = this.fused ? new Map() : undefined;
    this.batchY = this.fused ? new Map() : undefined;
    if (options.referenceLoss !== undefined) this.setReferenceLoss(options.referenceLoss);
    const opt = options.optimizer;
    this.sgdLaneFits =
      this.flat &&
      this.fusedOwnsGrads &&
      this.buffers.length === 0 &&
      this.batches === 1 &&
      (this.order === null || n === 1) &&
      opt.constructor === SGD &&
      (opt as SGD).momentum === 0 &&
      (opt as SGD).weightDecay === 0;
  }

  /**
   * @internal Whether `sgdEpochs` may run now: the run fits it (see `sgdLaneFits`), no epoch is part way,
   * the parameters and gradients are still their blocks' views, and the kernel set would hand the
   * optimizer's update of the block to the reference (whose arithmetic `sgdEpochs` repeats). Checked
   * before each stretch of epochs: between stretches other code may run.
   */
  sgdLane(): boolean {
    const open =
      this.sgdLaneFits &&
      this.cursor.epoch === -1 &&
      (this.blocks as ParamBlocks).intact() &&
      (this.blocks as ParamBlocks).params.length < (kernels().referenceElementsBelow ?? 0);
    // The tiny step holds this moment's arrays: made again for every stretch.
    this.tiny = open ? (this.fused as FusedStep).tiny(this.data.x.shape[0]) : null;
    return open;
  }

  /** The tiny step of the current stretch's lane, when the network is that small (see `sgdLane`). */
  private tiny: TinyStep | null = null;

  /**
   * @internal Up to `count` whole epochs of one batch each (only when `sgdLane()`), their mean losses into
   * `losses`; returns how many ran. The seed network's epoch is one step of a few hundred nanoseconds, so
   * the step's own work is all an epoch may cost: the fused step, then SGD's update p + (−lr)·g (the
   * reference kernel's arithmetic) over the block in the same loop that keeps the weights it starts from
   * as the last ones with an acceptable loss, the optimizer's counts advanced once at the end. Stops
   * after an epoch whose loss is below `untilLoss`, or before one whose loss is unacceptable
   * (`sgdDiverged` then throws for it); same bits, same weights and counts as `run` epoch by epoch.
   */
  sgdEpochs(count: number, losses: Float64Array, untilLoss: number): number {
    const fused = this.fused as FusedStep;
    const { x, y } = this.data;
    const n = x.shape[0];
    const blocks = this.blocks as ParamBlocks;
    const p = blocks.params;
    const g = blocks.grads;
    const backup = this.backup[0];
    const size = p.length;
    const lr = this.options.optimizer.lr;
    const tiny = this.tiny;
    const xs = x.data;
    const ys = y.data;
    let done = 0;
    while (done < count) {
      const value = tiny !== null ? tiny.run(xs, ys) : fused.run(x, y, true);
      if (this.unacceptable(value)) {
        this.laneValue = value;
        break;
      }
      if (!this.haveReference) this.setReferenceLoss(value);
      for (let j = 0; j < size; j++) {
        const w = p[j];
        backup[j] = w;
        p[j] = w + -lr * g[j];
      }
      // The epoch's mean as `run` computes it, (0 + value·n) / n: for one sample, exactly 0 + value.
      const loss = n === 1 ? 0 + value : (0 + value * n) / n;
      losses[done++] = loss;
      if (loss < untilLoss) break;
    }
    if (done > 0) this.haveBackup = true;
    this.options.optimizer.countSteps(done);
    return done;
  }

  /** @internal The error for the epoch at which `sgdEpochs` stopped on an unacceptable loss. */
  sgdDiverged(epoch: number, history: History): TrainingDivergedError {
    return this.diverged(this.laneValue, epoch, 0, history);
  }

  /** Training samples. */
  get samples(): number {
    return this.data.x.shape[0];
  }

  /**
   * One pass over the data. Returns the epoch's mean loss (its metrics are then `metrics()`), or null when
   * `signal` was aborted before a batch (the batches before it stay trained). A NaN or infinite loss, or
   * one above `lossLimit`, puts back the last weights that gave an acceptable loss and throws a
   * {@link TrainingDivergedError} carrying `history`.
   */
  epoch(
    epoch: number,
    hooks: { signal?: AbortSignal; onBatchEnd?: (log: BatchLog) => void; history?: History } = {},
  ): number | null {
    return this.run(epoch, hooks, Infinity) as number | null;
  }

  /**
   * Like `epoch`, but returns {@link PAUSED} once `performance.now()` passes `until` after a batch; the
   * next call with the same `epoch` continues with the next batch, in the same order, so an epoch split
   * across calls gives the bits of one in a single call. (A caller yields to the event loop in between, so
   * signals and timers are served within a batch even when an epoch takes minutes.)
   */
  run(
    epoch: number,
    hooks: { signal?: AbortSignal; onBatchEnd?: (log: BatchLog) => void; history?: History },
    until: number,
  ): number | null | typeof PAUSED {
    const { x, y, labels } = this.data;
    const n = x.shape[0];
    const order = this.order;
    const metrics = this.sums;
    if (this.cursor.epoch !== epoch) {
      if (order) {
        for (let i = 0; i < n; i++) order[i] = i;
        this.options.rng.shuffle(order);
      }
      if (metrics.names.length > 0) metrics.reset();
      this.cursor.epoch = epoch;
      this.cursor.batch = 0;
      this.cursor.lossSum = 0;
    }
    const batches = this.batches;
    // One batch of every sample in order is the data itself.
    const whole = batches === 1 && order === null;
    let lossSum = this.cursor.lossSum;
    for (let b = this.cursor.batch; b < batches; b++) {
      if (hooks.signal?.aborted) {
        // Kept, so `partial()` can say where the epoch stopped (and `run` could continue it).
        this.cursor.batch = b;
        this.cursor.lossSum = lossSum;
        return null;
      }
      const from = b * this.batchSize;
      const to = Math.min(n, from + this.batchSize);
      const xb = whole ? x : rows(x, order, from, to, this.batchX);
      const yb = whole ? y : rows(y, order, from, to, this.batchY);
      const value = this.tidy
        ? tidy(() => this.stepAndCount(xb, yb, to - from, labels))
        : this.stepAndCount(xb, yb, to - from, labels);
      if (this.unacceptable(value)) {
        this.cursor.epoch = -1;
        throw this.diverged(value, epoch, b, hooks.history);
      }
      if (!this.haveReference) this.setReferenceLoss(value);
      lossSum += value * (to - from);
      hooks.onBatchEnd?.({ epoch, batch: b, batches, size: to - from, loss: value });
      if (b + 1 < batches && until !== Infinity && performance.now() > until) {
        this.cursor.batch = b + 1;
        this.cursor.lossSum = lossSum;
        return PAUSED;
      }
    }
    this.cursor.epoch = -1;
    return lossSum / n;
  }

  /** Where a paused epoch continues: its number (-1: none paused), next batch and loss so far. */
  private readonly cursor = { epoch: -1, batch: 0, lossSum: 0 };

  /**
   * The largest loss a step may have before training counts as diverged (see `explodeFactor`); a loss
   * above it is handled like a NaN.
   */
  lossLimit = Infinity;
  private haveReference = false;
  private reference: number | null = null;

  /** Set the exploding-loss rule's reference: the limit becomes explodeFactor × max(1, loss). */
  setReferenceLoss(loss: number): void {
    const factor = this.options.explodeFactor ?? Infinity;
    if (!Number.isFinite(loss) || factor === Infinity) return;
    this.lossLimit = factor * Math.max(1, loss);
    this.haveReference = true;
    this.reference = loss;
  }

  /** Where the current epoch stopped, if it stopped part way (after an abort or a pause); else null. */
  partial(): PartialEpoch | null {
    const c = this.cursor;
    if (c.epoch < 0) return null;
    return {
      epoch: c.epoch,
      batch: c.batch,
      lossSum: c.lossSum,
      order: this.order ? this.order.slice() : null,
      metrics: this.sums.saveState(),
      reference: this.reference,
    };
  }

  /**
   * Continue an epoch that stopped part way (`partial()` of an earlier trainer, on the same data): the
   * next `run` of that epoch starts at its next batch, in its order, with its sums. Throws, changing
   * nothing, when it cannot belong to this trainer's data.
   */
  resumeEpoch(p: PartialEpoch): void {
    const n = this.data.x.shape[0];
    const fail = (why: string): never => {
      throw new Error(`resumeEpoch: ${why}`);
    };
    if (!Number.isInteger(p.epoch) || p.epoch < 1) fail(`epoch must be a positive integer, got ${p.epoch}`);
    if (!Number.isInteger(p.batch) || p.batch < 0 || p.batch >= this.batches)
      fail(`batch must be an integer in [0, ${this.batches}), got ${p.batch}`);
    if (!Number.isFinite(p.lossSum)) fail(`lossSum must be finite, got ${p.lossSum}`);
    if ((p.order === null) !== (this.order === null))
      fail(
        this.order ? 'the epoch order is missing' : 'an order was given, but this trainer does not shuffle',
      );
    if (p.order) {
      if (p.order.length !== n) fail(`the order has ${p.order.length} entries for ${n} samples`);
      const seen = new Uint8Array(n);
      for (let i = 0; i < n; i++) {
        const k = p.order[i];
        if (!(k >= 0 && k < n) || seen[k]) fail('the order is not a permutation of the samples');
        seen[k] = 1;
      }
    }
    if (p.reference !== null && !Number.isFinite(p.reference)) fail('the reference loss must be finite');
    this.sums.restoreState(p.metrics);
    if (p.order && this.order) this.order.set(p.order);
    this.cursor.epoch = p.epoch;
    this.cursor.batch = p.batch;
    this.cursor.lossSum = p.lossSum;
    if (p.reference !== null) this.setReferenceLoss(p.reference);
  }

  /** The last epoch's metrics, averaged over its samples. */
  metrics(): Metrics {
    return this.sums.result();
  }

  /** The general path's predictions for the last batch (null on the fused path: ask the fused step). */
  private lastOutput: Tensor | null = null;

  /** `step`, then (when its loss is acceptable) the batch's metrics: one unit, so `tidy` can hold both. */
  private stepAndCount(xb: Tensor, yb: Tensor, size: number, labels: Split['labels']): number {
    const value = this.step(xb, yb);
    const metrics = this.sums;
    if (metrics.names.length > 0 && !this.unacceptable(value)) {
      const pred = this.lastOutput ?? (this.fused as FusedStep).output(size);
      metrics.add(pred.data, yb.data, size, labels);
    }
    // Inside `tidy` the predictions' storage is given back after this.
    this.lastOutput = null;
    return value;
  }

  /**
   * One step on one batch; returns the loss, leaving the weights untouched when it is not finite. The
   * fused step overwrites the gradients (as zeroing and accumulating would leave them).
   */
  private step(xb: Tensor, yb: Tensor): number {
    const { optimizer } = this.options;
    if (!this.fusedOwnsGrads) optimizer.zeroGrad();
    let value: number;
    if (this.fused) value = this.fused.run(xb, yb, this.fusedOwnsGrads);
    else {
      const pred = this.model.forward(xb);
      const loss = this.lossFn(pred, yb);
      value = loss.item();
      if (this.unacceptable(value)) return value;
      if (this.sums.names.length > 0) this.lastOutput = pred;
      loss.backward();
      if (this.options.clipGradNorm !== undefined) clipGradNorm(this.params, this.options.clipGradNorm);
    }
    if (this.unacceptable(value)) return value;
    if (this.blocks) copyInto(this.backup[0], this.blocks.params);
    else for (let i = 0; i < this.params.length; i++) copyInto(this.backup[i], this.params[i].data);
    for (let i = 0; i < this.buffers.length; i++) copyInto(this.bufferBackup[i], this.buffers[i].data);
    this.haveBackup = true;
    optimizer.step();
    return value;
  }

  /** Whether a step's loss means divergence: NaN, infinite, or above `lossLimit`. */
  private unacceptable(value: number): boolean {
    return !Number.isFinite(value) || value > this.lossLimit;
  }

  /** Put back the last finite weights; the error that says so (built out of line: `epoch` is hot). */
  private diverged(value: number, epoch: number, b: number, history?: History): TrainingDivergedError {
    this.restore();
    const what = Number.isFinite(value)
      ? `the loss exploded to ${value} (above ${this.lossLimit}, 10⁶ × the starting loss or 1)`
      : `the loss became ${value}`;
    return new TrainingDivergedError(
      `training diverged: ${what} at epoch ${epoch}, batch ${b + 1} of ${this.batches}. ` +
        `The model keeps its last weights that gave ${Number.isFinite(value) ? 'an acceptable' : 'a finite'} loss. Try a smaller learning rate (it is ${this.options.optimizer.lr}).`,
      history ?? { epochs: [], stopReason: 'completed' },
    );
  }

  /** Put back the last weights that gave a finite loss (none yet: leave them). */
  private restore(): void {
    if (!this.haveBackup) return;
    if (this.blocks) this.blocks.params.set(this.backup[0]);
    else this.params.forEach((p, i) => p.data.set(this.backup[i]));
    this.buffers.forEach((b, i) => b.data.set(this.bufferBackup[i]));
  }

  /**
   * Give the kernel set back what the trainer took: the fused step's and the batches' buffers, and the
   * parameters' original arrays (holding the trained values). The trainer must not be used afterwards.
   */
  release(): void {
    this.fused?.release();
    if (this.flat) this.options.optimizer.unflatten();
    this.blocks?.restore();
    for (const t of [...(this.batchX?.values() ?? []), ...(this.batchY?.values() ?? [])])
      this.owner.free?.(t.data);
  }
}

/**
 * A run's parameters moved into one block and their gradients into another (views of them, back to back
 * in the optimizer's order), in the kernel set's own memory where it has one (so its kernels use them in
 * place). `restore` gives every parameter its own arrays back, holding the trained values.
 */
class ParamBlocks {
  private constructor(
    private readonly tensors: Tensor[],
    readonly params: Storage,
    readonly grads: Storage,
    private readonly data: Storage[],
    private readonly gradTensors: (Tensor | null)[],
    private readonly owner: Kernels,
    private readonly views: Storage[],
    private readonly gradViews: Storage[],
  ) {}

  /** Whether every parameter's values and gradient are still its views of the blocks. */
  intact(): boolean {
    const t = this.tensors;
    for (let i = 0; i < t.length; i++)
      if (t[i].data !== this.views[i] || t[i].grad?.data !== this.gradViews[i]) return false;
    return true;
  }

  /** Move `params` (one dtype, each once) into blocks; null when they are not so. */
  static move(params: Tensor[], k: Kernels): ParamBlocks | null {
    const dtype = params[0].dtype;
    if (params.some((p, i) => p.dtype !== dtype || params.indexOf(p) !== i)) return null;
    const total = params.reduce((n, p) => n + p.size, 0);
    const block = () => k.alloc?.(dtype, total) ?? allocStorage(dtype, total);
    const values = block();
    const grads = block();
    const data: Storage[] = [];
    const gradTensors: (Tensor | null)[] = [];
    const views: Storage[] = [];
    const gradViews: Storage[] = [];
    let at = 0;
    for (const p of params) {
      const view = values.subarray(at, at + p.size);
      view.set(p.data);
      data.push(p.data);
      (p as { data: Storage }).data = view;
      const g = grads.subarray(at, at + p.size);
      if (p.grad) g.set(p.grad.data);
      gradTensors.push(p.grad);
      p.grad = new Tensor(g, p.shape);
      views.push(view);
      gradViews.push(g);
      at += p.size;
    }
    return new ParamBlocks(params, values, grads, data, gradTensors, k, views, gradViews);
  }

  /** Give each parameter its own arrays back: its values, and its gradient's (a new one if it had none). */
  restore(): void {
    this.tensors.forEach((p, i) => {
      const original = this.data[i];
      original.set(p.data);
      (p as { data: Storage }).data = original;
      // (A gradient set to null during the run stays null.)
      const g = p.grad?.data;
      const had = this.gradTensors[i];
      if (!g) return;
      if (had) {
        had.data.set(g);
        p.grad = had;
      } else p.grad = new Tensor(g.slice(), p.shape);
    });
    this.owner.free?.(this.params);
    this.owner.free?.(this.grads);
  }
}
