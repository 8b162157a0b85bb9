/** Layers: Linear, the activations as modules, Dropout, Identity and Sequential. */
import { activationInfo, defaultParam, type ActivationOp } from '../kernels/unary.js';
import * as ops from '../ops.js';
import { defaultStream, type RandomState } from '../random.js';
import { fmt } from '../shape.js';
import { allocStorage, Tensor, type DType } from '../tensor.js';
import { initLinear, type Init } from './init.js';
import { Module } from './module.js';

/** Options of `Linear`. */
export interface LinearOptions {
  /** Add a bias (default true). */
  bias?: boolean;
  /** Initialisation scheme (default `'default'`, PyTorch's). */
  init?: Init;
  /** Element type of the parameters (default float32). */
  dtype?: DType;
  /** Stream to draw the initial values from (default: the library's default stream). */
  rng?: RandomState;
}

/** y = x·W + b with `weight` of shape [in, out] (the seed notebook's layout) and `bias` of shape [out]. */
export class Linear extends Module {
  /** [inFeatures, outFeatures]. */
  weight: Tensor;
  /** [outFeatures], or null without bias. */
  bias: Tensor | null;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    options: LinearOptions = {},
  ) {
    super();
    for (const [name, v] of [
      ['inFeatures', inFeatures],
      ['outFeatures', outFeatures],
    ] as const)
      if (!Number.isInteger(v) || v < 1)
        throw new RangeError(`Linear: ${name} must be a positive integer, got ${v}`);
    const dtype = options.dtype ?? 'float32';
    const w = allocStorage(dtype, inFeatures * outFeatures);
    const b = options.bias === false ? null : allocStorage(dtype, outFeatures);
    initLinear(options.init ?? 'default', w, b, inFeatures, outFeatures, options.rng ?? defaultStream);
    this.weight = new Tensor(w, [inFeatures, outFeatures], true);
    this.bias = b ? new Tensor(b, [outFeatures], true) : null;
  }

  forward(x: Tensor): Tensor {
    if (x.shape[x.ndim - 1] !== this.inFeatures)
      throw new Error(
        `Linear(${this.inFeatures} → ${this.outFeatures}): input has shape ${fmt(x.shape)}, expected [..., ${this.inFeatures}]`,
      );
    return ops.linear(x, this.weight, this.bias);
  }

  override describe(): string {
    return `${this.inFeatures} → ${this.outFeatures}${this.bias ? '' : ', bias: false'}`;
  }
}

/**
 * An elementwise activation as a module: its op and parameter come from the unary op table
 * (`src/kernels/unary.ts`), which also tells specs, ONNX export, the fused step and the trace about it.
 */
export abstract class Activation extends Module {
  /** The op in the unary op table. */
  abstract readonly op: ActivationOp;

  /** The parameter passed to the op (LeakyReLU's slope, ELU's alpha); 0 for an activation without one. */
  get param(): number {
    return 0;
  }

  forward(x: Tensor): Tensor {
    return ops.activation(x, this.op, this.param);
  }

  override describe(): string {
    return activationInfo(this.op).param ? `${this.param}` : '';
  }
}

/** Logistic sigmoid, 1 / (1 + e⁻ˣ), as a module. */
export class Sigmoid extends Activation {
  readonly op = 'sigmoid';
}

/** tanh as a module. */
export class Tanh extends Activation {
  readonly op = 'tanh';
}

/** ReLU, max(x, 0), as a module. */
export class ReLU extends Activation {
  readonly op = 'relu';
}

/** Leaky ReLU as a module, negative slope 0.01 by default (PyTorch's). */
export class LeakyReLU extends Activation {
  readonly op = 'leakyRelu';
  constructor(readonly slope = defaultParam('leakyRelu')) {
    super();
  }
  override get param(): number {
    return this.slope;
  }
}

/** Exact (erf) GELU, x · Φ(x), as a module. */
export class GELU extends Activation {
  readonly op = 'gelu';
}

/** Softplus, log(1 + eˣ), as a module. */
export class Softplus extends Activation {
  readonly op = 'softplus';
}

/** ELU as a module, alpha 1 by default. */
export class ELU extends Activation {
  readonly op = 'elu';
  constructor(readonly alpha = defaultParam('elu')) {
    super();
  }
  override get param(): number {
    return this.alpha;
  }
}

/** SiLU (swish), x · σ(x), as a module (PyTorch's `nn.SiLU`). */
export class SiLU extends Activation {
  readonly op = 'silu';
}

/**
 * The module class of each activation, typed over the op table's activations so none can be missed;
 * constructed with its parameter (PyTorch's default when omitted).
 */
export const ACTIVATION_MODULES: { readonly [K in ActivationOp]: new (param?: number) => Activation } = {
  sigmoid: Sigmoid,
  tanh: Tanh,
  relu: ReLU,
  leakyRelu: LeakyReLU,
  gelu: GELU,
  softplus: Softplus,
  elu: ELU,
  silu: SiLU,
};

/** Softmax along an axis (default the last) as a module. */
export class Softmax extends Module {
  constructor(readonly axis = -1) {
    super();
  }
  forward(x: Tensor): Tensor {
    return ops.softmax(x, this.axis);
  }
  override describe(): string {
    return `axis: ${this.axis}`;
  }
}

/** Passes its input through. */
export class Identity extends Module {
  forward(x: Tensor): Tensor {
    return x;
  }
}

/**
 * Inverted dropout: in training, zeroes each element with probability `p` (in [0, 1], as PyTorch) and
 * scales the rest by 1/(1−p); in evaluation mode it is the identity. The mask draws from `rng` (default
 * stream otherwise).
 */
export class Dropout extends Module {
  private readonly _rng: RandomState | undefined;

  constructor(
    readonly p = 0.5,
    options: { rng?: RandomState } = {},
  ) {
    super();
    // p = 1 is allowed, as PyTorch: every draw is below 1, so the mask is all zeros and 1/(1−p) unused.
    if (!(p >= 0 && p <= 1)) throw new RangeError(`Dropout: p must be in [0, 1], got ${p}`);
    this._rng = options.rng;
  }

  forward(x: Tensor): Tensor {
    if (!this.training || this.p === 0) return x;
    const rng = this._rng ?? defaultStream;
    const mask = allocStorage(x.dtype, x.size);
    const keep = 1 / (1 - this.p);
    rng.fillMask(mask, this.p, keep);
    return ops.mul(x, new Tensor(mask, x.shape));
  }

  override describe(): string {
    return `p: ${this.p}`;
  }
}

/** Modules applied in order; state keys are the indices (`'0.weight'`), as PyTorch's `nn.Sequential`. */
export class Sequential extends Module {
  readonly layers: Module[];

  constructor(...layers: Module[]) {
    super();
    layers.forEach((m, i) => {
      if (!(m instanceof Module)) throw new TypeError(`Sequential: argument ${i} is not a Module`);
    });
    this.layers = layers;
  }

  /** Add a module at the end. */
  append(module: Module): this {
    this.layers.push(module);
    return this;
  }

  override namedChildren(): [string, Module][] {
    return this.layers.map((m, i) => [String(i), m]);
  }

  forward(x: Tensor): Tensor {
    for (const layer of this.layers) x = layer.forward(x);
    return x;
  }
}
