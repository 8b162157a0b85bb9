/**
 * SGD, Adam, AdamW, RMSprop and Adagrad. Each update follows the arithmetic of PyTorch's single-tensor
 * implementation operation by operation (`add_(x, alpha=a)` is `p + a·x`), so float64 trajectories agree
 * with PyTorch's to the last few ulps. The elementwise loops are kernels (`Kernels.sgd`, `adam`, `rmsprop`,
 * `adagrad`), so the WebAssembly set runs them; what is per parameter (bias corrections, decayed rates,
 * buffers) is here. Each optimizer hands its kernel one hyper-parameter object, made once and updated in
 * place before every call, so a step allocates nothing (the seed network's `fit` runs millions a second).
 */
import type { AdagradHyper, AdamHyper, Kernels, RmspropHyper, SgdHyper, Storage } from '../kernels/types.js';
import type { Tensor } from '../tensor.js';
import { checkNonNegative, Optimizer } from './optimizer.js';
import { pow } from '../libm.js';

/** Options of `SGD`. */
export interface SGDOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  nesterov?: boolean;
  weightDecay?: number;
}

/** Stochastic gradient descent with optional momentum, dampening, Nesterov momentum and L2 weight decay. */
export class SGD extends Optimizer {
  protected override readonly elementwise = true;
  readonly momentum: number;
  readonly dampening: number;
  readonly nesterov: boolean;
  readonly weightDecay: number;
  private readonly hyper: SgdHyper;

  constructor(params: Iterable<Tensor>, options: SGDOptions) {
    super(params, options.lr);
    this.momentum = options.momentum ?? 0;
    this.dampening = options.dampening ?? 0;
    this.nesterov = options.nesterov ?? false;
    this.weightDecay = options.weightDecay ?? 0;
    checkNonNegative('SGD', 'momentum', this.momentum);
    checkNonNegative('SGD', 'weightDecay', this.weightDecay);
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0))
      throw new RangeError('SGD: nesterov needs momentum > 0 and dampening 0');
    const { lr, momentum, dampening, weightDecay, nesterov } = this;
    this.hyper = { lr, momentum, dampening, weightDecay, nesterov, first: false };
  }

  protected update(i: number, p: Storage, g: Storage, K: Kernels): void {
    const h = this.hyper;
    const mu = this.momentum;
    h.lr = this.lr;
    h.first = mu !== 0 && !this.hasBuffer('momentum_buffer', i);
    const buf = mu === 0 ? null : this.buffer('momentum_buffer', i);
    K.sgd(p, g, buf, h);
  }
}

/** Options of `Adam` and `AdamW`. */
export interface AdamOptions {
  lr?: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
  amsgrad?: boolean;
}

/** Adam (Kingma & Ba), with weight decay as an L2 term in the gradient (PyTorch's `Adam`). */
export class Adam extends Optimizer {
  protected override readonly elementwise = true;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  readonly amsgrad: boolean;
  /** AdamW applies weight decay to the parameter directly instead. */
  protected readonly decoupled: boolean = false;
  private readonly hyper: AdamHyper;

  constructor(params: Iterable<Tensor>, options: AdamOptions = {}, defaultWeightDecay = 0) {
    super(params, options.lr ?? 1e-3);
    [this.beta1, this.beta2] = options.betas ?? [0.9, 0.999];
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? defaultWeightDecay;
    this.amsgrad = options.amsgrad ?? false;
    const name = this.constructor.name;
    for (const [k, v] of [
      ['betas[0]', this.beta1],
      ['betas[1]', this.beta2],
    ] as const)
      if (!(v >= 0 && v < 1)) throw new RangeError(`${name}: ${k} must be in [0, 1), got ${v}`);
    checkNonNegative(name, 'eps', this.eps);
    checkNonNegative(name, 'weightDecay', this.weightDecay);
    // The per-step fields are set in update: `decoupled` is AdamW's field, not set yet while this runs.
    const { beta1, beta2, eps } = this;
    this.hyper = { stepSize: 0, beta1, beta2, bc2Sqrt: 1, eps, weightDecay: 0, decay: 1 };
  }

  protected update(i: number, p: Storage, g: Storage, K: Kernels): void {
    const { lr, beta1, beta2, weightDecay: wd, amsgrad, decoupled, hyper: h } = this;
    const m = this.buffer('exp_avg', i);
    const v = this.buffer('exp_avg_sq', i);
    const vmax = amsgrad ? this.buffer('max_exp_avg_sq', i) : null;
    const step = this.paramStep(i);
    const bc1 = 1 - pow(beta1, step);
    const bc2 = 1 - pow(beta2, step);
    h.stepSize = lr / bc1;
    h.bc2Sqrt = Math.sqrt(bc2);
    h.weightDecay = decoupled ? 0 : wd;
    h.decay = decoupled && wd !== 0 ? 1 - lr * wd : 1;
    K.adam(p, g, m, v, vmax, h);
  }
}

/** AdamW (Loshchilov & Hutter): Adam with decoupled weight decay, default 0.01 as PyTorch. */
export class AdamW extends Adam {
  protected override readonly decoupled: boolean = true;

  constructor(params: Iterable<Tensor>, options: AdamOptions = {}) {
    super(params, options, 0.01);
  }
}

/** Options of `RMSprop`. */
export interface RMSpropOptions {
  lr?: number;
  alpha?: number;
  eps?: number;
  weightDecay?: number;
  momentum?: number;
  centered?: boolean;
}

/** RMSprop (PyTorch's: eps added outside the square root). */
export class RMSprop extends Optimizer {
  protected override readonly elementwise = true;
  readonly alpha: number;
  readonly eps: number;
  readonly weightDecay: number;
  readonly momentum: number;
  readonly centered: boolean;
  private readonly hyper: RmspropHyper;

  constructor(params: Iterable<Tensor>, options: RMSpropOptions = {}) {
    super(params, options.lr ?? 1e-2);
    this.alpha = options.alpha ?? 0.99;
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0;
    this.momentum = options.momentum ?? 0;
    this.centered = options.centered ?? false;
    for (const k of ['alpha', 'eps', 'weightDecay', 'momentum'] as const)
      checkNonNegative('RMSprop', k, this[k]);
    const { lr, alpha, eps, weightDecay, momentum } = this;
    this.hyper = { lr, alpha, eps, weightDecay, momentum };
  }

  protected update(i: number, p: Storage, g: Storage, K: Kernels): void {
    const h = this.hyper;
    h.lr = this.lr;
    const sq = this.buffer('square_avg', i);
    const ga = this.centered ? this.buffer('grad_avg', i) : null;
    const buf = this.momentum > 0 ? this.buffer('momentum_buffer', i) : null;
    K.rmsprop(p, g, sq, ga, buf, h);
  }
}

/** Options of `Adagrad`. */
export interface AdagradOptions {
  lr?: number;
  eps?: number;
  weightDecay?: number;
  lrDecay?: number;
  initialAccumulatorValue?: number;
}

/** Adagrad (PyTorch's, eps added outside the square root). */
export class Adagrad extends Optimizer {
  protected override readonly elementwise = true;
  readonly eps: number;
  readonly weightDecay: number;
  readonly lrDecay: number;
  readonly initialAccumulatorValue: number;
  private readonly hyper: AdagradHyper;

  constructor(params: Iterable<Tensor>, options: AdagradOptions = {}) {
    super(params, options.lr ?? 1e-2);
    this.eps = options.eps ?? 1e-10;
    this.weightDecay = options.weightDecay ?? 0;
    this.lrDecay = options.lrDecay ?? 0;
    this.initialAccumulatorValue = options.initialAccumulatorValue ?? 0;
    for (const k of ['eps', 'weightDecay', 'lrDecay', 'initialAccumulatorValue'] as const)
      checkNonNegative('Adagrad', k, this[k]);
    this.hyper = { clr: this.lr, eps: this.eps, weightDecay: this.weightDecay };
  }

  protected update(i: number, p: Storage, g: Storage, K: Kernels): void {
    const h = this.hyper;
    const fresh = !this.hasBuffer('sum', i);
    const sum = this.buffer('sum', i);
    if (fresh && this.initialAccumulatorValue !== 0) sum.fill(this.initialAccumulatorValue);
    h.clr = this.lr / (1 + (this.paramStep(i) - 1) * this.lrDecay);
    K.adagrad(p, g, sum, h);
  }
}
