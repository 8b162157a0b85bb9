/**
 * Learning-rate schedulers with PyTorch's semantics: call `step()` once per epoch, after the optimizer's
 * steps. They use PyTorch's recursive (chainable) formulas, so the learning rates match its digits.
 */
import type { Optimizer } from './optimizer.js';

/** Saved scheduler state, for checkpoints. */
export type SchedulerState = Record<string, number>;

/** Base of the schedulers: counts epochs and owns the optimizer's learning rate. */
export abstract class LRScheduler {
  /** Epochs stepped so far (PyTorch's `last_epoch`). */
  lastEpoch = 0;
  /** The learning rate the optimizer had when the scheduler was made. */
  readonly baseLr: number;

  constructor(readonly optimizer: Optimizer) {
    this.baseLr = optimizer.lr;
  }

  /** Advance one epoch (ReduceLROnPlateau takes the monitored metric). */
  abstract step(metric?: number): void;

  /** The learning rate now in force. */
  get lr(): number {
    return this.optimizer.lr;
  }

  /** Serializable state. */
  stateDict(): SchedulerState {
    // The base rate too, as PyTorch's base_lrs: a scheduler made after the optimizer's state was loaded
    // would otherwise take the loaded (already scheduled) rate as its base.
    return { lastEpoch: this.lastEpoch, baseLr: this.baseLr };
  }

  /** Restore `stateDict()` output. */
  loadStateDict(state: SchedulerState): void {
    Object.assign(this, state);
  }
}

/** Multiply the learning rate by `gamma` every `stepSize` epochs. */
export class StepLR extends LRScheduler {
  readonly stepSize: number;
  readonly gamma: number;

  constructor(optimizer: Optimizer, options: { stepSize: number; gamma?: number }) {
    super(optimizer);
    if (!Number.isInteger(options.stepSize) || options.stepSize < 1)
      throw new RangeError(`StepLR: stepSize must be a positive integer, got ${options.stepSize}`);
    this.stepSize = options.stepSize;
    this.gamma = options.gamma ?? 0.1;
  }

  step(): void {
    this.lastEpoch++;
    if (this.lastEpoch % this.stepSize === 0) this.optimizer.lr = this.optimizer.lr * this.gamma;
  }
}

/** Multiply the learning rate by `gamma` every epoch. */
export class ExponentialLR extends LRScheduler {
  constructor(
    optimizer: Optimizer,
    readonly options: { gamma: number },
  ) {
    super(optimizer);
  }

  step(): void {
    this.lastEpoch++;
    this.optimizer.lr = this.optimizer.lr * this.options.gamma;
  }
}

/** Options of {@link CosineAnnealingLR}. */
export interface CosineAnnealingOptions {
  /** Epochs of the cosine, after any warm-up: the rate reaches `etaMin` at epoch `warmup + tMax`. */
  tMax: number;
  /** The lowest rate (default 0). */
  etaMin?: number;
  /**
   * Epochs of linear warm-up before the cosine (default 0): the rate at epoch e < warmup is
   * base·(s + (1 − s)·e/warmup), s = `warmupStartFactor`, PyTorch's `LinearLR` ramp; at epoch `warmup`
   * it is the base rate and the cosine starts from there.
   */
  warmup?: number;
  /** The fraction of the base rate at epoch 0 of the warm-up (default 1/(warmup + 1), nanoGPT's ramp). */
  warmupStartFactor?: number;
}

/**
 * Cosine annealing from the base rate down to `etaMin` over `tMax` epochs (and back up, periodically),
 * optionally after a linear warm-up (which sets the optimizer's rate to its first value on construction,
 * as PyTorch's `LinearLR`). The cosine part is PyTorch's `CosineAnnealingLR`, shifted by the warm-up.
 */
export class CosineAnnealingLR extends LRScheduler {
  readonly tMax: number;
  readonly etaMin: number;
  /** Epochs of linear warm-up before the cosine. */
  readonly warmup: number;
  /** The fraction of the base rate at epoch 0 of the warm-up. */
  readonly warmupStartFactor: number;

  constructor(optimizer: Optimizer, options: CosineAnnealingOptions) {
    super(optimizer);
    if (!Number.isInteger(options.tMax) || options.tMax < 1)
      throw new RangeError(`CosineAnnealingLR: tMax must be a positive integer, got ${options.tMax}`);
    this.tMax = options.tMax;
    this.etaMin = options.etaMin ?? 0;
    const warmup = options.warmup ?? 0;
    if (!Number.isInteger(warmup) || warmup < 0)
      throw new RangeError(`CosineAnnealingLR: warmup must be a non-negative integer, got ${warmup}`);
    this.warmup = warmup;
    const s = options.warmupStartFactor ?? 1 / (warmup + 1);
    if (!(s > 0 && s <= 1))
      throw new RangeError(`CosineAnnealingLR: warmupStartFactor must be in (0, 1], got ${s}`);
    this.warmupStartFactor = s;
    if (warmup > 0) optimizer.lr = this.baseLr * s;
  }

  step(): void {
    this.lastEpoch++;
    const W = this.warmup;
    const base = this.baseLr;
    if (this.lastEpoch < W) {
      const s = this.warmupStartFactor;
      this.optimizer.lr = base * (s + ((1 - s) * this.lastEpoch) / W);
      return;
    }
    if (this.lastEpoch === W) {
      this.optimizer.lr = base;
      return;
    }
    const e = this.lastEpoch - W;
    const T = this.tMax;
    const lr = this.optimizer.lr;
    const etaMin = this.etaMin;
    if ((e - 1 - T) % (2 * T) === 0) {
      this.optimizer.lr = lr + ((base - etaMin) * (1 - Math.cos(Math.PI / T))) / 2;
    } else {
      this.optimizer.lr =
        ((1 + Math.cos((Math.PI * e) / T)) / (1 + Math.cos((Math.PI * (e - 1)) / T))) * (lr - etaMin) +
        etaMin;
    }
  }
}

/** Options of `ReduceLROnPlateau` (PyTorch's names and defaults). */
export interface ReduceLROnPlateauOptions {
  mode?: 'min' | 'max';
  factor?: number;
  patience?: number;
  threshold?: number;
  thresholdMode?: 'rel' | 'abs';
  cooldown?: number;
  minLr?: number;
  eps?: number;
}

/** Cut the learning rate by `factor` when the metric has not improved for `patience` epochs. */
export class ReduceLROnPlateau extends LRScheduler {
  readonly mode: 'min' | 'max';
  readonly factor: number;
  readonly patience: number;
  readonly threshold: number;
  readonly thresholdMode: 'rel' | 'abs';
  readonly cooldown: number;
  readonly minLr: number;
  readonly eps: number;
  best: number;
  numBadEpochs = 0;
  cooldownCounter = 0;

  constructor(optimizer: Optimizer, options: ReduceLROnPlateauOptions = {}) {
    super(optimizer);
    this.mode = options.mode ?? 'min';
    this.factor = options.factor ?? 0.1;
    if (!(this.factor < 1 && this.factor >= 0))
      throw new RangeError(`ReduceLROnPlateau: factor must be in [0, 1), got ${this.factor}`);
    this.patience = options.patience ?? 10;
    this.threshold = options.threshold ?? 1e-4;
    this.thresholdMode = options.thresholdMode ?? 'rel';
    this.cooldown = options.cooldown ?? 0;
    this.minLr = options.minLr ?? 0;
    this.eps = options.eps ?? 1e-8;
    this.best = this.mode === 'min' ? Infinity : -Infinity;
  }

  private isBetter(a: number): boolean {
    const { best, threshold } = this;
    if (this.mode === 'min')
      return this.thresholdMode === 'rel' ? a < best * (1 - threshold) : a < best - threshold;
    return this.thresholdMode === 'rel' ? a > best * (threshold + 1) : a > best + threshold;
  }

  step(metric?: number): void {
    if (typeof metric !== 'number') throw new TypeError('ReduceLROnPlateau.step: pass the monitored metric');
    this.lastEpoch++;
    if (this.isBetter(metric)) {
      this.best = metric;
      this.numBadEpochs = 0;
    } else this.numBadEpochs++;
    if (this.cooldownCounter > 0) {
      this.cooldownCounter--;
      this.numBadEpochs = 0;
    }
    if (this.numBadEpochs > this.patience) {
      const old = this.optimizer.lr;
      const next = Math.max(old * this.factor, this.minLr);
      if (old - next > this.eps) this.optimizer.lr = next;
      this.cooldownCounter = this.cooldown;
      this.numBadEpochs = 0;
    }
  }

  override stateDict(): SchedulerState {
    return {
      ...super.stateDict(),
      best: this.best,
      numBadEpochs: this.numBadEpochs,
      cooldownCounter: this.cooldownCounter,
    };
  }

  /** Restore `stateDict()` output, also after a JSON round trip. */
  override loadStateDict(state: SchedulerState): void {
    // JSON has no infinity: the best before any metric (±∞) comes back as null.
    const s = { ...state };
    if ((s.best as number | null) === null) s.best = this.mode === 'min' ? Infinity : -Infinity;
    super.loadStateDict(s);
  }
}
