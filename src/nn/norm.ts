/**
 * Normalization layers with PyTorch's names, defaults and state-dict keys: BatchNorm1d/2d (weight, bias and
 * the buffers running_mean, running_var, num_batches_tracked) and LayerNorm (weight, bias).
 */
import * as ops from '../ops.js';
import { fmt } from '../shape.js';
import { full, Tensor, zeros, type DType } from '../tensor.js';
import { Module } from './module.js';

/** Options of {@link BatchNorm1d} and {@link BatchNorm2d}: PyTorch's arguments and defaults. */
export interface BatchNormOptions {
  /** Added to the variance under the square root (default 1e-5). */
  eps?: number;
  /**
   * Weight of each training batch's statistics in the running ones (default 0.1); null: a plain average
   * over the batches so far (PyTorch's `momentum=None`).
   */
  momentum?: number | null;
  /** Learn a scale `weight` (ones) and shift `bias` (zeros) per channel (default true). */
  affine?: boolean;
  /**
   * Keep running statistics for evaluation (default true); without them the layer normalizes by the
   * batch's own statistics in evaluation too.
   */
  trackRunningStats?: boolean;
  /** Element type of the parameters and buffers (default float32). */
  dtype?: DType;
}

/**
 * Batch normalization over the channels (axis 1): in training by the batch's statistics, moving the
 * running ones towards them; in evaluation by the running ones. PyTorch's `_BatchNorm`; the subclasses
 * check the input's rank.
 */
export abstract class BatchNorm extends Module {
  /** Scale per channel [numFeatures] (ones at first), or null without `affine`. */
  weight: Tensor | null;
  /** Shift per channel [numFeatures] (zeros at first), or null without `affine`. */
  bias: Tensor | null;
  /** Buffer: the running mean per channel (zeros at first), or null without `trackRunningStats`. */
  running_mean: Tensor | null;
  /** Buffer: the running unbiased variance per channel (ones at first), or null without `trackRunningStats`. */
  running_var: Tensor | null;
  /** Buffer: training batches seen (a scalar), or null without `trackRunningStats`. */
  num_batches_tracked: Tensor | null;
  /** Added to the variance under the square root. */
  readonly eps: number;
  /** Weight of a batch's statistics in the running ones; null: a plain average over the batches. */
  readonly momentum: number | null;
  /** Whether there are `weight` and `bias`. */
  readonly affine: boolean;
  /** Whether there are running statistics. */
  readonly trackRunningStats: boolean;

  constructor(
    readonly numFeatures: number,
    options: BatchNormOptions = {},
  ) {
    super();
    const name = this.constructor.name;
    if (!Number.isInteger(numFeatures) || numFeatures < 1)
      throw new RangeError(`${name}: numFeatures must be a positive integer, got ${numFeatures}`);
    this.eps = options.eps ?? 1e-5;
    this.momentum = options.momentum === undefined ? 0.1 : options.momentum;
    if (!(this.eps >= 0)) throw new RangeError(`${name}: eps must be ≥ 0, got ${this.eps}`);
    if (this.momentum !== null && !(this.momentum >= 0 && this.momentum <= 1))
      throw new RangeError(`${name}: momentum must be in [0, 1] or null, got ${this.momentum}`);
    this.affine = options.affine ?? true;
    this.trackRunningStats = options.trackRunningStats ?? true;
    const dtype = options.dtype ?? 'float32';
    this.weight = this.affine ? full([numFeatures], 1, { dtype, requiresGrad: true }) : null;
    this.bias = this.affine ? zeros([numFeatures], { dtype, requiresGrad: true }) : null;
    const track = this.trackRunningStats;
    this.running_mean = this.registerBuffer('running_mean', track ? zeros([numFeatures], { dtype }) : null);
    this.running_var = this.registerBuffer('running_var', track ? full([numFeatures], 1, { dtype }) : null);
    this.num_batches_tracked = this.registerBuffer(
      'num_batches_tracked',
      track ? zeros([], { dtype }) : null,
    );
  }

  /** Throws unless `x` has the rank this layer takes. */
  protected abstract checkInput(x: Tensor): void;

  forward(x: Tensor): Tensor {
    this.checkInput(x);
    const counter = this.training ? this.num_batches_tracked : null;
    const seen = counter ? counter.data[0] + 1 : 0;
    // PyTorch's exponential_average_factor: momentum, or 1/batches seen for a plain average.
    const factor = this.momentum ?? (seen > 0 ? 1 / seen : 0);
    const y = ops.batchNorm(x, {
      runningMean: this.running_mean,
      runningVar: this.running_var,
      weight: this.weight,
      bias: this.bias,
      training: this.training || this.running_mean === null,
      momentum: factor,
      eps: this.eps,
    });
    // Counted once the batch went through (a batch the op refused changes nothing).
    if (counter) counter.data[0] = seen;
    return y;
  }

  override describe(): string {
    return (
      `${this.numFeatures}` +
      (this.eps !== 1e-5 ? `, eps: ${this.eps}` : '') +
      (this.momentum !== 0.1 ? `, momentum: ${this.momentum}` : '') +
      (this.affine ? '' : ', affine: false') +
      (this.trackRunningStats ? '' : ', trackRunningStats: false')
    );
  }
}

/** Batch normalization of [N, C] or [N, C, L] over N (and L) per channel C, PyTorch's `nn.BatchNorm1d`. */
export class BatchNorm1d extends BatchNorm {
  protected checkInput(x: Tensor): void {
    if (x.ndim !== 2 && x.ndim !== 3)
      throw new Error(
        `BatchNorm1d(${this.numFeatures}): input has shape ${fmt(x.shape)}, expected [N, C] or [N, C, L]`,
      );
  }
}

/** Batch normalization of [N, C, H, W] over N, H and W per channel C, PyTorch's `nn.BatchNorm2d`. */
export class BatchNorm2d extends BatchNorm {
  protected checkInput(x: Tensor): void {
    if (x.ndim !== 4)
      throw new Error(
        `BatchNorm2d(${this.numFeatures}): input has shape ${fmt(x.shape)}, expected [N, C, H, W]`,
      );
  }
}

/** Options of {@link LayerNorm}: PyTorch's arguments and defaults. */
export interface LayerNormOptions {
  /** Added to the variance under the square root (default 1e-5). */
  eps?: number;
  /** Learn a scale `weight` (ones) and shift `bias` (zeros) of the normalized shape (default true). */
  elementwiseAffine?: boolean;
  /** Element type of the parameters (default float32). */
  dtype?: DType;
}

/**
 * Layer normalization, PyTorch's `nn.LayerNorm`: each sample's last axes (`normalizedShape`) normalized by
 * their own mean and variance, in training and evaluation alike, then scaled and shifted elementwise.
 */
export class LayerNorm extends Module {
  /** Scale of the normalized shape (ones at first), or null without `elementwiseAffine`. */
  weight: Tensor | null;
  /** Shift of the normalized shape (zeros at first), or null without `elementwiseAffine`. */
  bias: Tensor | null;
  /** The trailing axes normalized together. */
  readonly normalizedShape: readonly number[];
  /** Added to the variance under the square root. */
  readonly eps: number;
  /** Whether there are `weight` and `bias`. */
  readonly elementwiseAffine: boolean;

  constructor(normalizedShape: number | readonly number[], options: LayerNormOptions = {}) {
    super();
    const shape = typeof normalizedShape === 'number' ? [normalizedShape] : [...normalizedShape];
    if (shape.length === 0 || !shape.every((d) => Number.isInteger(d) && d >= 1))
      throw new RangeError(
        `LayerNorm: normalizedShape must be positive integers, got ${JSON.stringify(normalizedShape)}`,
      );
    this.normalizedShape = shape;
    this.eps = options.eps ?? 1e-5;
    if (!(this.eps >= 0)) throw new RangeError(`LayerNorm: eps must be ≥ 0, got ${this.eps}`);
    this.elementwiseAffine = options.elementwiseAffine ?? true;
    const dtype = options.dtype ?? 'float32';
    this.weight = this.elementwiseAffine ? full(shape, 1, { dtype, requiresGrad: true }) : null;
    this.bias = this.elementwiseAffine ? zeros(shape, { dtype, requiresGrad: true }) : null;
  }

  forward(x: Tensor): Tensor {
    return ops.layerNorm(x, this.normalizedShape, { weight: this.weight, bias: this.bias, eps: this.eps });
  }

  override describe(): string {
    return (
      fmt(this.normalizedShape) +
      (this.eps !== 1e-5 ? `, eps: ${this.eps}` : '') +
      (this.elementwiseAffine ? '' : ', elementwiseAffine: false')
    );
  }
}
