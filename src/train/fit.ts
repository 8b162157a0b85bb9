/**
 * `fit` runs epochs of a {@link Trainer} with validation, metrics, early stopping, the seed notebook's
 * "until the loss is below X", schedulers, callbacks and cancellation; `evaluate` and `predict` run a
 * model without gradients.
 */
import { lossName, type LossFn, type LossSpelling } from '../losses.js';
import { MetricSums, NO_METRICS, type MetricName, type Metrics } from '../metrics.js';
import type { Module } from '../nn/module.js';
import type { Optimizer } from '../optim/optimizer.js';
import type { LRScheduler } from '../optim/schedulers.js';
import { ReduceLROnPlateau } from '../optim/schedulers.js';
import { defaultStream, type RandomState } from '../random.js';
import { allocStorage, noGrad, Tensor } from '../tensor.js';
import { tidy } from '../tidy.js';
import { rows, toSplit, type Dataset, type Split } from './data.js';
import { EpochColumns, type BatchLog, type EpochLog, type History } from './history.js';
import { checkLoss, PAUSED, resolveLoss, Trainer, type PartialEpoch } from './step.js';

/** Early-stopping settings. */
export interface EarlyStopping {
  /** Epochs without improvement before stopping. */
  patience: number;
  /** Smallest decrease that counts as an improvement (default 0). */
  minDelta?: number;
  /**
   * When training ends — stopped early or after its last epoch — put back the weights of the best epoch
   * (default false). Not when aborted (a checkpoint then continues from the current weights) or stopped
   * by `until`.
   */
  restoreBest?: boolean;
  /** What to watch: `'valLoss'` when there is validation data (default), else `'loss'`. */
  monitor?: 'loss' | 'valLoss';
  /**
   * Where the bookkeeping lives: `fit` starts from it and updates it in place after every epoch, before
   * `onEpochEnd` (so a checkpoint taken there can carry it and a resumed run stops where the whole would).
   */
  state?: EarlyStoppingState;
}

/** Where early stopping stands: the best monitored loss, its epoch and weights, and the epochs since. */
export interface EarlyStoppingState {
  /** The lowest monitored loss so far (Infinity before the first epoch). */
  best: number;
  /** The epoch that gave it (0 before the first). */
  bestEpoch: number;
  /** Epochs since it without an improvement. */
  sinceBest: number;
  /** A copy of the weights of the best epoch (with `restoreBest`; else null). */
  bestState: Record<string, Tensor> | null;
}

/** A fresh early-stopping record: nothing seen yet. */
export function earlyStoppingState(): EarlyStoppingState {
  return { best: Infinity, bestEpoch: 0, sinceBest: 0, bestState: null };
}

/** Options of `fit`. */
export interface FitOptions {
  /** Loss function or its name, in either spelling (`'crossEntropy'` or `'cross-entropy'`). */
  loss: LossFn | LossSpelling;
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
  /**
   * Clip the gradients' total 2-norm to this before every optimizer step (`optim.clipGradNorm`, PyTorch's
   * `clip_grad_norm_`); default: no clipping. A model that clips takes the general path, not the fused step.
   */
  clipGradNorm?: number;
  /**
   * Run each step inside `tidy` (op results and gradients in the kernel set's memory, reused by the next
   * step). Default: when every module, the loss and the optimizer are the library's own (`tidySafe`); a
   * custom module or loss that keeps nothing made by ops between steps may pass true.
   */
  tidy?: boolean;
  /** Called after every epoch. */
  onEpochEnd?: (log: EpochLog) => void;
  /** Called after every batch. */
  onBatchEnd?: (log: BatchLog) => void;
  /** Abort to stop after the current batch; the history so far is returned. */
  signal?: AbortSignal;
  /** Epochs already done (when resuming a checkpoint): numbering continues from here. */
  initialEpoch?: number;
  /**
   * Divergence: a step whose loss is NaN or infinite, or above `factor` × max(1, reference) (an exploding
   * loss), stops training with a `TrainingDivergedError`, the weights put back to before that step. The
   * reference is the first epoch's mean training loss (during the first epoch: its first step's loss);
   * a resumed run passes the first epoch's loss as `referenceLoss` to apply the same limit. `factor`
   * defaults to 1e6; Infinity checks for non-finite losses only.
   */
  divergence?: { factor?: number; referenceLoss?: number };
  /**
   * Continue an epoch stopped part way (`history.partial` of an aborted run, with its weights, optimizer
   * and stream): it must be epoch `initialEpoch + 1`.
   */
  resumeEpoch?: PartialEpoch;
  /**
   * Take the fused step (no graph, preallocated buffers) when the model is a plain MLP and the loss a
   * squared error or cross-entropy on class labels (default true). Its results are bit-identical to the
   * general path's. On a kernel set with its own memory (the WebAssembly set) the parameters' values live
   * there during the run: `param.data` is then another array until `fit` returns, when the original
   * arrays hold the trained values again (read parameters through the tensor, not a saved array).
   */
  fused?: boolean;
}

const EXAMPLE = ', e.g. { loss: "mse", optimizer: new optim.Adam(model.parameters()), epochs: 100 }';

/** What a plain-JavaScript caller may pass as `options.optimizer` by mistake, answered in words. */
function checkOptimizer(optimizer: unknown): asserts optimizer is Optimizer {
  if (
    optimizer !== null &&
    typeof optimizer === 'object' &&
    typeof (optimizer as Optimizer).step === 'function'
  )
    return;
  const got =
    optimizer === undefined
      ? 'options.optimizer is missing'
      : typeof optimizer === 'string'
        ? `options.optimizer is the string ${JSON.stringify(optimizer)}, not an optimizer`
        : typeof optimizer === 'function'
          ? `options.optimizer is the class ${optimizer.name || '(anonymous)'}, not an optimizer made from it`
          : `options.optimizer is ${String(optimizer)}, not an optimizer`;
  throw new TypeError(`fit: ${got}; make one over the model's parameters${EXAMPLE}`);
}

/** The decision threshold for a single output's accuracy: 0 for logits, 0.5 for probabilities. */
function thresholdOf(loss: LossFn | LossSpelling): number {
  return typeof loss === 'string' && lossName(loss) === 'bceWithLogits' ? 0 : 0.5;
}

// setImmediate where it exists (Node); a macrotask elsewhere. Not a microtask: those would starve timers.
const immediate = (globalThis as { setImmediate?: (cb: () => void) => unknown }).setImmediate;
const yieldToEventLoop = (): Promise<void> =>
  new Promise((resolve) => (immediate ? immediate(resolve) : setTimeout(resolve, 0)));

/** Most epochs one call of the trainer's SGD lane runs (the clock is read at most every 4096 epochs). */
const LANE = 4096;

/** Milliseconds between yields to the event loop, so abort signals, timers and UIs stay live. */
const YIELD_MS = 20;

/**
 * Epochs shorter than this (ms) share clock readings: the clock is read every k epochs, k doubling while
 * k epochs take less than this, and those epochs' seconds are the elapsed time shared evenly.
 */
const CLOCK_MS = 0.05;

/**
 * Train `model` on `data`. Each batch: forward, loss, backward, optimizer step, with the model in training
 * mode (dropout, batch statistics) and in evaluation mode for validation; afterwards every module is back
 * in the mode it had. Returns the per-epoch history. A NaN or infinite loss stops training with a `TrainingDivergedError`, leaving the model with its
 * last weights that gave a finite loss.
 */
export async function fit(model: Module, data: Dataset, options: FitOptions): Promise<History> {
  // Plain JavaScript reaches here without a type checker: say what is missing, not "cannot read 'loss'".
  if (options === null || typeof options !== 'object')
    throw new TypeError(
      `fit: options are required: fit(model, { x, y }, { loss, optimizer, epochs })${EXAMPLE}`,
    );
  const loss = checkLoss(options.loss, 'fit');
  checkOptimizer(options.optimizer);
  const { optimizer } = options;
  const epochs = options.epochs ?? 1;
  if (!Number.isInteger(epochs) || epochs < 0)
    throw new RangeError(`fit: epochs must be a non-negative integer, got ${epochs}`);
  const metrics = options.metrics ?? [];
  const threshold = thresholdOf(loss);

  // Training and validation sets.
  const all = toSplit(data, 'fit');
  let train: Split = all;
  let val: Split | null = null;
  if (options.validationData) val = toSplit(options.validationData, 'fit', 'validationData');
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

  const trainer = new Trainer(model, train, {
    loss,
    optimizer,
    batchSize: options.batchSize ?? 32,
    shuffle: options.shuffle ?? true,
    rng: options.rng ?? defaultStream,
    metrics,
    threshold,
    fused: options.fused !== false && options.clipGradNorm === undefined,
    ...(options.clipGradNorm !== undefined ? { clipGradNorm: options.clipGradNorm } : {}),
    ...(options.tidy !== undefined ? { tidy: options.tidy } : {}),
    explodeFactor: options.divergence?.factor ?? 1e6,
    ...(options.divergence?.referenceLoss !== undefined
      ? { referenceLoss: options.divergence.referenceLoss }
      : {}),
  });
  if (options.resumeEpoch) {
    const p = options.resumeEpoch;
    if (p.epoch !== (options.initialEpoch ?? 0) + 1)
      throw new Error(
        `fit: resumeEpoch is epoch ${p.epoch}, but the run continues with epoch ${(options.initialEpoch ?? 0) + 1}`,
      );
    trainer.resumeEpoch(p);
  }
  const run = new Epochs(model, trainer, options, val, monitor, threshold);
  const restoreModes = modesOf(model);
  model.train();
  try {
    // Epochs run in synchronous stretches of about YIELD_MS, and fit yields to the event loop between
    // them, so abort signals, timers and UIs stay live without a yield per tiny epoch.
    while (!run.stretch()) await yieldToEventLoop();
  } finally {
    run.finish();
    restoreModes();
    trainer.release();
  }
  const history = run.history;
  if (es) {
    const { bestEpoch, bestState } = run.es;
    history.bestEpoch = bestEpoch;
    const ended = history.stopReason === 'earlyStopping' || history.stopReason === 'completed';
    if (es.restoreBest && bestState && ended) model.loadStateDict(bestState);
  }
  return history;
}

/**
 * The epochs of one `fit`: each runs the trainer, records the epoch (as plain numbers when nothing else
 * is asked for), validates, steps the scheduler and decides whether to stop.
 */
class Epochs {
  readonly history: History;
  /** The plain-number record, when the run keeps nothing but losses (else null: `history.epochs`). */
  private readonly columns: EpochColumns | null;
  private readonly hooks: { signal?: AbortSignal; onBatchEnd?: (log: BatchLog) => void; history: History };
  private epoch: number;
  private readonly end: number;
  private readonly batchSize: number;
  /** Plain-number epochs read the clock every `every` epochs (see CLOCK_MS); recorded ones every epoch. */
  private every = 1;
  private unclocked = 0;
  private clock = performance.now();
  /** Milliseconds the epoch in progress ran in earlier stretches (an epoch longer than one stretch). */
  private carried = 0;
  /** Early stopping's record: the caller's `earlyStopping.state`, or a fresh one. */
  readonly es: EarlyStoppingState;
  /** Deadline of the current stretch (performance.now() milliseconds). */
  private until = 0;
  /**
   * Whether nothing but the trainer runs between epochs (plain-number record, no scheduler, early
   * stopping or batch callback), so runs of them may go through the trainer's SGD lane; and its losses.
   */
  private readonly laneFits: boolean;
  private readonly laneLosses: Float64Array;

  constructor(
    private readonly model: Module,
    private readonly trainer: Trainer,
    private readonly options: FitOptions,
    private readonly val: Split | null,
    private readonly monitor: 'loss' | 'valLoss',
    private readonly threshold: number,
  ) {
    this.epoch = (options.initialEpoch ?? 0) + 1;
    this.end = this.epoch + (options.epochs ?? 1);
    this.batchSize = Math.min(options.batchSize ?? 32, trainer.samples);
    // Epochs with nothing but a loss, and no callback to hand a record to, are kept as numbers and become
    // EpochLog objects when the history is read.
    const plain = !val && (options.metrics ?? []).length === 0 && !options.onEpochEnd;
    this.columns = plain ? new EpochColumns(this.epoch) : null;
    this.history = this.columns ? this.columns.history : { epochs: [], stopReason: 'completed' };
    this.hooks = { signal: options.signal, onBatchEnd: options.onBatchEnd, history: this.history };
    this.es = options.earlyStopping?.state ?? earlyStoppingState();
    this.laneFits = plain && !options.scheduler && !options.earlyStopping && !options.onBatchEnd;
    this.laneLosses = new Float64Array(this.laneFits ? LANE : 0);
  }

  /** Run epochs for about YIELD_MS; true once training is over (the stop reason is in the history). */
  stretch(): boolean {
    // Time spent away (yielding) belongs to no epoch.
    this.clock = performance.now();
    const until = this.clock + YIELD_MS;
    this.until = until;
    // No other code runs during a stretch, so a signal not aborted now stays so until it ends.
    const lane = this.laneFits && !this.options.signal?.aborted && this.trainer.sgdLane();
    while (this.epoch < this.end) {
      // The first epoch sets the exploding-loss reference from its mean: that one goes through `one`.
      if (lane && this.epoch !== 1) {
        if (this.laneEpochs()) return true;
        if (this.unclocked === 0 && this.clock > until) return this.epoch >= this.end;
        continue;
      }
      const done = this.one();
      // An epoch paused at the deadline continues in the next stretch; its time so far is kept.
      if (done === PAUSED) {
        this.carried += performance.now() - this.clock;
        return false;
      }
      if (done) return true;
      this.epoch++;
      // The clock is fresh after every recorded epoch and after every `every` plain ones.
      if (this.unclocked === 0 && this.clock > until) return this.epoch >= this.end;
    }
    return true;
  }

  /** One epoch (or the part of it before the stretch's deadline); true when training stops after it. */
  private one(): boolean | typeof PAUSED {
    const { options, trainer, history, columns } = this;
    const epoch = this.epoch;
    const lr = options.optimizer.lr;
    const loss = trainer.run(epoch, this.hooks, this.until);
    if (loss === PAUSED) return PAUSED;
    if (loss === null) {
      history.stopReason = 'aborted';
      const partial = trainer.partial();
      if (partial) history.partial = partial;
      return true;
    }
    // The exploding-loss limit is measured from the run's first epoch.
    if (epoch === 1) trainer.setReferenceLoss(loss);
    let watched = loss;
    let log: EpochLog | null = null;
    if (columns) {
      columns.push(loss, lr);
      if (++this.unclocked === this.every) this.readClock();
    } else {
      log = { epoch, loss, metrics: trainer.metrics(), lr, seconds: 0 };
      if (this.val) {
        const r = evaluate(
          this.model,
          { x: this.val.x, y: this.val.y },
          {
            loss: options.loss,
            metrics: options.metrics,
            batchSize: Math.max(this.batchSize, 256),
            threshold: this.threshold,
          },
        );
        log.valLoss = r.loss;
        log.valMetrics = r.metrics;
      }
      const now = performance.now();
      log.seconds = (now - this.clock + this.carried) / 1000;
      this.clock = now;
      this.carried = 0;
      history.epochs.push(log);
      if (this.monitor === 'valLoss') watched = log.valLoss as number;
    }

    const scheduler = options.scheduler;
    if (scheduler instanceof ReduceLROnPlateau) scheduler.step(watched);
    else scheduler?.step();
    // Every piece of state is updated before the callback, so what it sees (or saves) is one moment.
    const es = options.earlyStopping;
    let stop = false;
    if (es) {
      const s = this.es;
      if (watched < s.best - (es.minDelta ?? 0)) {
        s.best = watched;
        s.bestEpoch = epoch;
        s.sinceBest = 0;
        if (es.restoreBest) s.bestState = this.model.stateDict();
      } else if (++s.sinceBest >= es.patience) {
        history.stopReason = 'earlyStopping';
        stop = true;
      }
    }
    if (options.until && loss < options.until.loss) {
      history.stopReason = 'until';
      stop = true;
    }
    if (log) options.onEpochEnd?.(log);
    return stop;
  }

  /**
   * Epochs through the trainer's SGD lane up to the next clock reading: what `one` does for each of them
   * when nothing else is recorded or called; true when training stops after them.
   */
  private laneEpochs(): boolean {
    const columns = this.columns as EpochColumns;
    const losses = this.laneLosses;
    const want = Math.min(this.end - this.epoch, this.every - this.unclocked, LANE);
    const until = this.options.until?.loss ?? -Infinity;
    const done = this.trainer.sgdEpochs(want, losses, until);
    columns.pushLosses(losses, done, this.options.optimizer.lr);
    const epoch = this.epoch + done;
    this.epoch = epoch;
    this.unclocked += done;
    if (this.unclocked === this.every) this.readClock();
    if (done > 0 && losses[done - 1] < until) {
      this.history.stopReason = 'until';
      return true;
    }
    // Else the epoch after the last one recorded diverged (`finish` then clocks those before it).
    if (done < want) throw this.trainer.sgdDiverged(epoch, this.history);
    return false;
  }

  /** Share the time since the last reading among the plain epochs since; adapt how often to read. */
  private readClock(): void {
    const now = performance.now();
    const elapsed = now - this.clock + this.carried;
    this.carried = 0;
    (this.columns as EpochColumns).spreadSeconds(this.unclocked, elapsed / 1000);
    if (elapsed < CLOCK_MS && this.every < 4096) this.every *= 2;
    else if (elapsed > 4 * CLOCK_MS && this.every > 1) this.every >>= 1;
    this.clock = now;
    this.unclocked = 0;
  }

  /** The epochs since the last clock reading get the time since it. */
  finish(): void {
    if (this.columns && this.unclocked > 0) this.readClock();
  }
}

/** Options of `evaluate`. */
export interface EvaluateOptions {
  /** Loss function or its name, in either spelling. */
  loss: LossFn | LossSpelling;
  metrics?: MetricName[];
  batchSize?: number;
  /** Decision threshold for single-output accuracy (default 0.5; 0 for logits). */
  threshold?: number;
  /**
   * Run each batch inside `tidy` (default false). Without gradients the garbage collector frees each
   * intermediate result as soon as the next op has used it, while inside `tidy` a batch's results all stay
   * until it ends: faster, but for large evaluation batches much more memory (a width-128, 4-block GPT's
   * 256-window batch took resident memory from ~380 to ~930 MiB).
   */
  tidy?: boolean;
}

/**
 * Every module's training flag now, and a function that puts each back: `fit`, `evaluate` and `predict`
 * switch the whole model and then restore what the caller had, module by module (a BatchNorm the caller
 * froze in evaluation mode stays so).
 */
function modesOf(model: Module): () => void {
  const modules = model.modules();
  const modes = modules.map((m) => m.training);
  return () => modules.forEach((m, i) => (m.training = modes[i]));
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
  const restoreModes = modesOf(model);
  const scratch = options.tidy ?? false;
  model.eval();
  try {
    return noGrad(() => {
      let lossSum = 0;
      for (let from = 0; from < n; from += bs) {
        const to = Math.min(n, from + bs);
        const xb = rows(t.x, null, from, to);
        const yb = rows(t.y, null, from, to);
        const batch = () => {
          const pred = model.forward(xb);
          lossSum += lossFn(pred, yb).item() * (to - from);
          sums.add(pred.data, yb.data, to - from, t.labels);
        };
        if (scratch) tidy(batch);
        else batch();
      }
      return { loss: lossSum / n, metrics: n > 0 ? sums.result() : NO_METRICS };
    });
  } finally {
    restoreModes();
  }
}

/** The model's outputs for `x`, in batches, without gradients, in evaluation mode. */
export function predict(model: Module, x: Tensor, options: { batchSize?: number } = {}): Tensor {
  const n = x.shape[0];
  const bs = options.batchSize ?? 1024;
  const restoreModes = modesOf(model);
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
    restoreModes();
  }
}
