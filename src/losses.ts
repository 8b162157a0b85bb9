/**
 * Loss functions, composed from primitives (their gradients come from the ops'). Names, reductions and
 * numerics follow PyTorch's `torch.nn.functional`.
 */
import * as ops from './ops.js';
import { fmt, sameShape } from './shape.js';
import { noGrad, tensor, Tensor } from './tensor.js';
import { SOFTMAX_CROSS_ENTROPY, SQUARED_ERROR_HALF_SUM, SQUARED_ERROR_MEAN } from './loss-kernels.js';

/** How per-element losses are combined. */
export type Reduction = 'mean' | 'sum' | 'none';

/** Options shared by the losses. */
export interface LossOptions {
  /** `'mean'` (default), `'sum'`, or `'none'` for the per-element losses. */
  reduction?: Reduction;
}

function reduce(x: Tensor, reduction: Reduction | undefined, op: string): Tensor {
  switch (reduction ?? 'mean') {
    case 'mean':
      return ops.mean(x);
    case 'sum':
      return ops.sum(x);
    case 'none':
      return x;
    default:
      throw new Error(`${op}: reduction must be 'mean', 'sum' or 'none', got ${JSON.stringify(reduction)}`);
  }
}

function sameShapes(pred: Tensor, target: Tensor, op: string): void {
  if (!(pred instanceof Tensor) || !(target instanceof Tensor))
    throw new TypeError(`${op}: expected two Tensors`);
  if (!sameShape(pred.shape, target.shape))
    throw new Error(`${op}: prediction ${fmt(pred.shape)} and target ${fmt(target.shape)} differ in shape`);
}

/**
 * Whether a squared error can run as one loss-kernel op: the kernel gives the prediction alone a gradient,
 * and computes in the prediction's dtype (the composed form promotes a float32 prediction against a
 * float64 target).
 */
function fusable(pred: Tensor, target: Tensor): boolean {
  return !target.requiresGrad && pred.dtype === target.dtype;
}

/** Squared error (pred − target)². The seed notebook's loss is `mse(o, y, { reduction: 'sum' }).mul(0.5)`. */
export function mse(pred: Tensor, target: Tensor, options: LossOptions = {}): Tensor {
  sameShapes(pred, target, 'mse');
  // The mean as one op with the composed form's bits (loss-kernels.ts), unless the target needs a gradient.
  if ((options.reduction ?? 'mean') === 'mean' && fusable(pred, target))
    return ops.kernelLoss('mse', SQUARED_ERROR_MEAN, pred, target, 1, pred.size);
  return reduce(squaredErrors(pred, target), options.reduction, 'mse');
}

/** ½·Σ(pred − target)², the seed notebook's loss (one op, with the bits of `mse(…, 'sum').mul(0.5)`). */
export function mseHalfSum(pred: Tensor, target: Tensor): Tensor {
  sameShapes(pred, target, 'mseHalfSum');
  if (fusable(pred, target))
    return ops.kernelLoss('mseHalfSum', SQUARED_ERROR_HALF_SUM, pred, target, 1, pred.size);
  return halfSum(pred, target);
}

/** (pred − target)² elementwise, as sub and pow. */
function squaredErrors(pred: Tensor, target: Tensor): Tensor {
  return ops.pow(ops.sub(pred, target), 2);
}

/** ½·Σ(pred − target)² composed: sub, pow, sum, ×½. */
function halfSum(pred: Tensor, target: Tensor): Tensor {
  return ops.mul(ops.sum(squaredErrors(pred, target)), 0.5);
}

/** Absolute error |pred − target| (L1). */
export function mae(pred: Tensor, target: Tensor, options: LossOptions = {}): Tensor {
  sameShapes(pred, target, 'mae');
  return reduce(ops.abs(ops.sub(pred, target)), options.reduction, 'mae');
}

/**
 * log x clamped at −100, as PyTorch's BCE. At x = 0 (1 − σ(z) is 0 in float32 from z ≈ 17) the clamp
 * zeroes the gradient, but the log's own backward would still compute 0/0 = NaN; so the log sees x floored
 * at the smallest normal number, whose reciprocal is finite, and the gradient below it is 0.
 */
function clampedLog(x: Tensor): Tensor {
  const floor = x.dtype === 'float64' ? 2 ** -1022 : 2 ** -126;
  const safe = ops.clamp(ops.log(ops.clamp(x, floor)), -100);
  // Below the floor the float32 value would be log 2⁻¹²⁶ = −87.3, not PyTorch's: add the difference as a
  // constant (0 at or above the floor; exact below, by Sterbenz's lemma, both values being in [−100, −87]).
  const fix = noGrad(() => ops.sub(ops.clamp(ops.log(x), -100), safe));
  return ops.add(safe, fix);
}

/**
 * Binary cross-entropy on probabilities: −(y·log p + (1−y)·log(1−p)), with each log clamped at −100 as
 * PyTorch does so p = 0 or 1 gives a large finite loss (and a finite gradient) instead of infinity.
 */
export function bce(prob: Tensor, target: Tensor, options: LossOptions = {}): Tensor {
  sameShapes(prob, target, 'bce');
  const logP = clampedLog(prob);
  const log1mP = clampedLog(ops.sub(1, prob));
  const ll = ops.add(ops.mul(target, logP), ops.mul(ops.sub(1, target), log1mP));
  return reduce(ops.neg(ll), options.reduction, 'bce');
}

/**
 * Binary cross-entropy on logits, stable and accurate for any logit: (1−y)·softplus(z) + y·softplus(−z),
 * whose gradient is σ(z) − y.
 */
export function bceWithLogits(logits: Tensor, target: Tensor, options: LossOptions = {}): Tensor {
  sameShapes(logits, target, 'bceWithLogits');
  // Equal to softplus(z) − y·z, but a sum of non-negative terms: the difference form cancels to 0 for
  // y = 1 and large z, where the loss is e^−z (log_sigmoid-based PyTorch is accurate there too).
  const pos = ops.mul(ops.sub(1, target), ops.softplus(logits));
  const neg = ops.mul(target, ops.softplus(ops.neg(logits)));
  return reduce(ops.add(pos, neg), options.reduction, 'bceWithLogits');
}

/**
 * Softmax cross-entropy on logits [N, C]. `target` is either the class index of each row (an array or
 * tensor of N integers) or a probability distribution per row (a tensor [N, C]). Stable for large logits
 * (it works through logSoftmax).
 */
export function crossEntropy(
  logits: Tensor,
  target: Tensor | ArrayLike<number>,
  options: LossOptions = {},
): Tensor {
  if (!(logits instanceof Tensor)) throw new TypeError('crossEntropy: logits must be a Tensor');
  if (logits.ndim < 1) throw new Error('crossEntropy: logits need a class axis');
  if (target instanceof Tensor && target.ndim === logits.ndim) {
    sameShapes(logits, target, 'crossEntropy');
    const logp = ops.logSoftmax(logits, -1);
    return reduce(ops.neg(ops.sum(ops.mul(target, logp), -1)), options.reduction, 'crossEntropy');
  }
  return onLabels(logits, target, options.reduction, true);
}

/**
 * Cross-entropy against one class index per row. Averaged over [rows, classes] logits it is one loss-kernel
 * op (with the composed form's bits) unless `kernel` is false; otherwise logSoftmax, pick and reduce.
 */
function onLabels(
  logits: Tensor,
  target: Tensor | ArrayLike<number>,
  reduction: Reduction | undefined,
  kernel: boolean,
): Tensor {
  const classes = logits.shape[logits.ndim - 1];
  const rows = logits.size / Math.max(classes, 1);
  if (kernel && (reduction ?? 'mean') === 'mean' && logits.ndim === 2 && rows > 0) {
    const t = target instanceof Tensor ? target : tensor(Float64Array.from(target));
    if (t.size === rows)
      return ops.kernelLoss('crossEntropy', SOFTMAX_CROSS_ENTROPY, logits, t, rows, classes);
  }
  const labels = ops.toIndex(target, rows, classes, 'crossEntropy');
  return reduce(ops.neg(ops.pick(ops.logSoftmax(logits, -1), labels)), reduction, 'crossEntropy');
}

/**
 * Huber loss: ½d² where |d| < delta, else delta·(|d| − ½delta), d = pred − target (PyTorch's
 * `huber_loss`, delta 1 by default).
 */
export function huber(pred: Tensor, target: Tensor, options: LossOptions & { delta?: number } = {}): Tensor {
  sameShapes(pred, target, 'huber');
  const delta = options.delta ?? 1;
  if (!(delta > 0)) throw new RangeError(`huber: delta must be positive, got ${delta}`);
  const a = ops.abs(ops.sub(pred, target));
  // q = min(|d|, delta): ½q² + delta·(|d| − q) is both branches at once, with the right gradient in each.
  const q = ops.clamp(a, undefined, delta);
  const l = ops.add(ops.mul(ops.pow(q, 2), 0.5), ops.mul(ops.sub(a, q), delta));
  return reduce(l, options.reduction, 'huber');
}

/** A loss by name, as the library writes it (`fit` and the command line accept {@link LossSpelling}s). */
export type LossName = 'mse' | 'mseHalfSum' | 'mae' | 'bce' | 'bceWithLogits' | 'crossEntropy' | 'huber';

/**
 * Every loss's name in its two spellings, the library's camelCase and the command line's kebab-case: one
 * table, so `fit`, `evaluate`, `trace`, `stepGraph` and every `--loss` flag accept both.
 */
export const LOSS_SPELLINGS = {
  mse: 'mse',
  mseHalfSum: 'mse-half-sum',
  mae: 'mae',
  bce: 'bce',
  bceWithLogits: 'bce-with-logits',
  crossEntropy: 'cross-entropy',
  huber: 'huber',
} as const satisfies Record<LossName, string>;

/** A loss's name in either spelling: `'crossEntropy'` or `'cross-entropy'`. */
export type LossSpelling = LossName | (typeof LOSS_SPELLINGS)[LossName];

/** The loss `name` spells, in either spelling (`'cross-entropy'` → `'crossEntropy'`); undefined if none. */
export function lossName(name: unknown): LossName | undefined {
  if (typeof name !== 'string') return undefined;
  for (const [camel, kebab] of Object.entries(LOSS_SPELLINGS))
    if (name === camel || name === kebab) return camel as LossName;
  return undefined;
}

/** A loss function: prediction and target in, scalar tensor out. */
export type LossFn = (pred: Tensor, target: Tensor) => Tensor;

/**
 * The losses that run as one loss-kernel op (`mse`, `mseHalfSum`, `crossEntropy` on labels), composed
 * from primitives instead: the same values and gradients to the bit, with every op in the graph. The
 * teaching views draw these, and the tests hold the kernels to them.
 */
export const composed = {
  /** `mse` with the mean reduction, as sub, pow, sum and a division. */
  mse: (pred: Tensor, target: Tensor): Tensor => {
    sameShapes(pred, target, 'mse');
    return ops.mean(squaredErrors(pred, target));
  },
  /** ½·Σ(pred − target)², as sub, pow, sum and ×½. */
  mseHalfSum: (pred: Tensor, target: Tensor): Tensor => {
    sameShapes(pred, target, 'mseHalfSum');
    return halfSum(pred, target);
  },
  /** Mean cross-entropy on class labels, through logSoftmax, pick and mean. */
  crossEntropy: (logits: Tensor, target: Tensor | ArrayLike<number>): Tensor => {
    if (!(logits instanceof Tensor) || logits.ndim < 1)
      throw new TypeError('crossEntropy: logits must be a Tensor with a class axis');
    return onLabels(logits, target, 'mean', false);
  },
};

/** The losses by name. `mseHalfSum` is the seed notebook's ½·Σ(o − y)². */
export const byName: { [K in LossName]: LossFn } = {
  mse: (p, t) => mse(p, t),
  mseHalfSum: (p, t) => mseHalfSum(p, t),
  mae: (p, t) => mae(p, t),
  bce: (p, t) => bce(p, t),
  bceWithLogits: (p, t) => bceWithLogits(p, t),
  crossEntropy: (p, t) => crossEntropy(p, t),
  huber: (p, t) => huber(p, t),
};
