/**
 * What `fit` records: one `EpochLog` per epoch, kept as plain numbers while a run has nothing else to
 * record (a tiny network's epoch is one step, and an object per step would cost more than the step).
 */
import { NO_METRICS, type Metrics } from '../metrics.js';

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
}

/**
 * Per-epoch losses, learning rates and times as numbers, for a run whose records have nothing else: its
 * `history.epochs` is built from them on first read (and is a plain array from then on).
 */
export class EpochColumns {
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

  /** Epochs recorded so far. */
  get length(): number {
    return this.count;
  }

  push(loss: number, lr: number, seconds: number): void {
    if (this.built) {
      this.built.push({ epoch: this.first + this.count++, loss, metrics: NO_METRICS, lr, seconds });
      return;
    }
    if (this.count === this.loss.length) {
      this.loss = grow(this.loss);
      this.lr = grow(this.lr);
      this.seconds = grow(this.seconds);
    }
    const i = this.count++;
    this.loss[i] = loss;
    this.lr[i] = lr;
    this.seconds[i] = seconds;
  }

  /** Give the last `n` epochs' seconds as `total` shared evenly (their clock was read once for all). */
  spreadSeconds(n: number, total: number): void {
    const each = total / n;
    if (this.built) for (let i = this.count - n; i < this.count; i++) this.built[i].seconds = each;
    else this.seconds.fill(each, this.count - n, this.count);
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

function grow(a: Float64Array<ArrayBuffer>): Float64Array<ArrayBuffer> {
  const b = new Float64Array(a.length * 2);
  b.set(a);
  return b;
}
