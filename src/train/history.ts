/**
 * What `fit` records: one `EpochLog` per epoch, kept as plain numbers while a run has nothing else to
 * record (a tiny network's epoch is one step, and an object per step would cost more than the step).
 */
import { NO_METRICS, type Metrics } from '../metrics.js';
import type { PartialEpoch } from './step.js';

/** One epoch's record. */
export interface EpochLog {
  /** 1-based epoch number. */
  epoch: number;
  /** Mean training loss over the epoch's samples (each batch's loss at the weights it was computed with). */
  loss: number;
  /** Loss on the validation data after the epoch. */
  valLoss?: number;
  /** Training metrics, averaged over the epoch's batches by sample count. */
  metrics: Metrics;
  /** Validation metrics after the epoch. */
  valMetrics?: Metrics;
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
  /** When aborted part way through an epoch: where (pass it to `fit` as `resumeEpoch` to continue). */
  partial?: PartialEpoch;
}

/** Losses per chunk of the plain-number record: chunks are kept, never copied into bigger arrays. */
const CHUNK = 4096;

/**
 * Per-epoch losses, learning rates and times as numbers, for a run whose records have nothing else: its
 * `history.epochs` is built from them on first read (and is a plain array from then on). Losses go into
 * fixed chunks; learning rates are kept where they change, and times per clock reading, so an epoch adds
 * one number.
 */
export class EpochColumns {
  private readonly losses: Float64Array[] = [];
  private chunk = new Float64Array(0);
  private fill = 0;
  private count = 0;
  /** The epoch index where each learning rate starts. */
  private readonly lrFrom: number[] = [];
  private readonly lrValue: number[] = [];
  /** The epoch index where each run of evenly shared seconds starts, and its seconds per epoch. */
  private readonly secondsFrom: number[] = [];
  private readonly secondsEach: number[] = [];
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

  /** Record an epoch's loss and learning rate (its time comes with `spreadSeconds`). */
  push(loss: number, lr: number): void {
    if (this.built) {
      this.built.push({ epoch: this.first + this.count++, loss, metrics: NO_METRICS, lr, seconds: 0 });
      return;
    }
    this.noteLr(lr);
    this.room()[this.fill++] = loss;
    this.count++;
  }

  /** Record `count` epochs' losses from `losses`, all at learning rate `lr` (as `push` of each). */
  pushLosses(losses: Float64Array, count: number, lr: number): void {
    if (count === 0) return;
    if (this.built) {
      for (let i = 0; i < count; i++) this.push(losses[i], lr);
      return;
    }
    this.noteLr(lr);
    for (let from = 0; from < count;) {
      const chunk = this.room();
      const take = Math.min(count - from, CHUNK - this.fill);
      chunk.set(losses.subarray(from, from + take), this.fill);
      this.fill += take;
      from += take;
    }
    this.count += count;
  }

  /** The chunk the next loss goes into: the current one, or a new one when it is full. */
  private room(): Float64Array {
    if (this.fill === this.chunk.length) {
      this.chunk = new Float64Array(CHUNK);
      this.losses.push(this.chunk);
      this.fill = 0;
    }
    return this.chunk;
  }

  /** A new learning-rate run from the next epoch, unless `lr` continues the last one. */
  private noteLr(lr: number): void {
    const last = this.lrValue.length - 1;
    if (last < 0 || !Object.is(this.lrValue[last], lr)) {
      this.lrFrom.push(this.count);
      this.lrValue.push(lr);
    }
  }

  /** Give the last `n` epochs' seconds as `total` shared evenly (their clock was read once for all). */
  spreadSeconds(n: number, total: number): void {
    const each = total / n;
    if (this.built) for (let i = this.count - n; i < this.count; i++) this.built[i].seconds = each;
    else {
      this.secondsFrom.push(this.count - n);
      this.secondsEach.push(each);
    }
  }

  private build(): EpochLog[] {
    if (!this.built) {
      const logs: EpochLog[] = new Array<EpochLog>(this.count);
      let lr = 0;
      let seconds = 0;
      for (let i = 0, l = 0, t = 0; i < this.count; i++) {
        if (l < this.lrFrom.length && this.lrFrom[l] === i) lr = this.lrValue[l++];
        if (t < this.secondsFrom.length && this.secondsFrom[t] === i) seconds = this.secondsEach[t++];
        logs[i] = {
          epoch: this.first + i,
          loss: this.losses[Math.floor(i / CHUNK)][i % CHUNK],
          metrics: NO_METRICS,
          lr,
          seconds,
        };
      }
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
