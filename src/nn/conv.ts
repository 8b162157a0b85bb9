/**
 * Layers over images and sequences in PyTorch's NCHW / NCL layouts: convolutions, pooling, and the
 * reshapes between them and dense layers (Flatten, Unflatten). Names, arguments, defaults, weight layouts
 * and state-dict keys are PyTorch's; the arithmetic is the ops' (`src/ops.ts`).
 */
import * as ops from '../ops.js';
import { defaultStream, type RandomState } from '../random.js';
import { fmt, sizeOf } from '../shape.js';
import { allocStorage, Tensor, type DType } from '../tensor.js';
import { initLinear, type Init } from './init.js';
import { Module } from './module.js';

/** Options of {@link Conv2d}: the op's (stride, padding, dilation, groups) and the parameters'. */
export interface Conv2dOptions extends ops.Conv2dOptions {
  /** Add a bias per output channel (default true). */
  bias?: boolean;
  /**
   * Initialisation (default `'default'`, PyTorch's: weight and bias uniform in ±1/√fanIn, fanIn =
   * inChannels/groups · kH · kW).
   */
  init?: Init;
  /** Element type of the parameters (default float32). */
  dtype?: DType;
  /** Stream to draw the initial values from (default: the library's default stream). */
  rng?: RandomState;
}

/** Options of {@link Conv1d}: the op's (stride, padding, dilation, groups) and the parameters'. */
export interface Conv1dOptions extends ops.Conv1dOptions {
  /** Add a bias per output channel (default true). */
  bias?: boolean;
  /** Initialisation (default `'default'`, PyTorch's: uniform in ±1/√fanIn, fanIn = inChannels/groups · k). */
  init?: Init;
  /** Element type of the parameters (default float32). */
  dtype?: DType;
  /** Stream to draw the initial values from (default: the library's default stream). */
  rng?: RandomState;
}

function positive(v: number, what: string, layer: string): void {
  if (!Number.isInteger(v) || v < 1)
    throw new RangeError(`${layer}: ${what} must be a positive integer, got ${v}`);
}

/** The weight [out, in/groups, …kernel] and bias [out] of a convolution, drawn as PyTorch's init does. */
function convParameters(
  layer: string,
  inChannels: number,
  outChannels: number,
  kernel: readonly number[],
  groups: number,
  options: { bias?: boolean; init?: Init; dtype?: DType; rng?: RandomState },
): { weight: Tensor; bias: Tensor | null } {
  positive(inChannels, 'inChannels', layer);
  positive(outChannels, 'outChannels', layer);
  positive(groups, 'groups', layer);
  if (inChannels % groups !== 0 || outChannels % groups !== 0)
    throw new RangeError(
      `${layer}: groups ${groups} must divide inChannels ${inChannels} and outChannels ${outChannels}`,
    );
  const dtype = options.dtype ?? 'float32';
  const shape = [outChannels, inChannels / groups, ...kernel];
  const receptive = sizeOf(kernel);
  const w = allocStorage(dtype, sizeOf(shape));
  const b = options.bias === false ? null : allocStorage(dtype, outChannels);
  // PyTorch's fans: fanIn = (in/groups)·receptive field, fanOut = out·receptive field.
  const fanIn = (inChannels / groups) * receptive;
  initLinear(options.init ?? 'default', w, b, fanIn, outChannels * receptive, options.rng ?? defaultStream);
  return { weight: new Tensor(w, shape, true), bias: b ? new Tensor(b, [outChannels], true) : null };
}

/** A padding as `describe()` shows it. */
function showPadding(p: readonly number[] | 'same' | 'valid'): string {
  return typeof p === 'string' ? `'${p}'` : String(p[0] === p[1] ? p[0] : `[${p.join(', ')}]`);
}

const showPair = (p: readonly number[]): string => (p[0] === p[1] ? String(p[0]) : `[${p.join(', ')}]`);

/**
 * 2-D convolution, PyTorch's `nn.Conv2d`: [N, inChannels, H, W] → [N, outChannels, OH, OW], `weight`
 * [outChannels, inChannels/groups, kH, kW] and `bias` [outChannels] (state keys `weight`, `bias`).
 */
export class Conv2d extends Module {
  /** [outChannels, inChannels/groups, kH, kW]. */
  weight: Tensor;
  /** [outChannels], or null without bias. */
  bias: Tensor | null;
  /** [kH, kW]. */
  readonly kernelSize: readonly [number, number];
  /** [rows, columns] between windows. */
  readonly stride: readonly [number, number];
  /** Zeros before each axis as [rows, columns], or `'same'` / `'valid'`. */
  readonly padding: readonly [number, number] | 'same' | 'valid';
  /** Spacing of the kernel's taps, [rows, columns]. */
  readonly dilation: readonly [number, number];
  /** Channel groups. */
  readonly groups: number;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    kernelSize: ops.Size2d,
    options: Conv2dOptions = {},
  ) {
    super();
    this.kernelSize = ops.pair2d(kernelSize, 1, 1, 'Conv2d', 'kernelSize');
    this.stride = ops.pair2d(options.stride, 1, 1, 'Conv2d', 'stride');
    this.dilation = ops.pair2d(options.dilation, 1, 1, 'Conv2d', 'dilation');
    const p = options.padding ?? 0;
    this.padding =
      p === 'same' || p === 'valid' ? p : ops.pair2d(p, 0, 0, 'Conv2d', "padding (or 'same' or 'valid')");
    if (p === 'same' && (this.stride[0] !== 1 || this.stride[1] !== 1))
      throw new RangeError(
        `Conv2d: padding 'same' needs stride 1 (as PyTorch), got stride ${showPair(this.stride)}`,
      );
    this.groups = options.groups ?? 1;
    const { weight, bias } = convParameters(
      'Conv2d',
      inChannels,
      outChannels,
      this.kernelSize,
      this.groups,
      options,
    );
    this.weight = weight;
    this.bias = bias;
  }

  forward(x: Tensor): Tensor {
    return ops.conv2d(x, this.weight, this.bias, {
      stride: this.stride,
      padding: this.padding,
      dilation: this.dilation,
      groups: this.groups,
    });
  }

  override describe(): string {
    return (
      `${this.inChannels} → ${this.outChannels}, kernel ${showPair(this.kernelSize)}` +
      (this.stride[0] !== 1 || this.stride[1] !== 1 ? `, stride ${showPair(this.stride)}` : '') +
      (this.padding === 'valid' ||
      (typeof this.padding !== 'string' && this.padding[0] === 0 && this.padding[1] === 0)
        ? ''
        : `, padding ${showPadding(this.padding)}`) +
      (this.dilation[0] !== 1 || this.dilation[1] !== 1 ? `, dilation ${showPair(this.dilation)}` : '') +
      (this.groups !== 1 ? `, groups ${this.groups}` : '') +
      (this.bias ? '' : ', bias: false')
    );
  }
}

/**
 * 1-D convolution, PyTorch's `nn.Conv1d`: [N, inChannels, L] → [N, outChannels, L'], `weight`
 * [outChannels, inChannels/groups, k] and `bias` [outChannels].
 */
export class Conv1d extends Module {
  /** [outChannels, inChannels/groups, k]. */
  weight: Tensor;
  /** [outChannels], or null without bias. */
  bias: Tensor | null;
  /** Positions between windows. */
  readonly stride: number;
  /** Zeros on both ends, or `'same'` / `'valid'`. */
  readonly padding: number | 'same' | 'valid';
  /** Spacing of the kernel's taps. */
  readonly dilation: number;
  /** Channel groups. */
  readonly groups: number;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernelSize: number,
    options: Conv1dOptions = {},
  ) {
    super();
    ops.size1d(kernelSize, 1, 1, 'Conv1d', 'kernelSize');
    this.stride = ops.size1d(options.stride, 1, 1, 'Conv1d', 'stride');
    this.dilation = ops.size1d(options.dilation, 1, 1, 'Conv1d', 'dilation');
    const p = options.padding ?? 0;
    this.padding =
      p === 'same' || p === 'valid' ? p : ops.size1d(p, 0, 0, 'Conv1d', "padding (or 'same' or 'valid')");
    if (p === 'same' && this.stride !== 1)
      throw new RangeError(`Conv1d: padding 'same' needs stride 1 (as PyTorch), got stride ${this.stride}`);
    this.groups = options.groups ?? 1;
    const { weight, bias } = convParameters(
      'Conv1d',
      inChannels,
      outChannels,
      [kernelSize],
      this.groups,
      options,
    );
    this.weight = weight;
    this.bias = bias;
  }

  forward(x: Tensor): Tensor {
    return ops.conv1d(x, this.weight, this.bias, {
      stride: this.stride,
      padding: this.padding,
      dilation: this.dilation,
      groups: this.groups,
    });
  }

  override describe(): string {
    return (
      `${this.inChannels} → ${this.outChannels}, kernel ${this.kernelSize}` +
      (this.stride !== 1 ? `, stride ${this.stride}` : '') +
      (this.padding === 0 || this.padding === 'valid'
        ? ''
        : `, padding ${typeof this.padding === 'string' ? `'${this.padding}'` : this.padding}`) +
      (this.dilation !== 1 ? `, dilation ${this.dilation}` : '') +
      (this.groups !== 1 ? `, groups ${this.groups}` : '') +
      (this.bias ? '' : ', bias: false')
    );
  }
}

/** PyTorch's pooling rule, checked when the layer is made: padding at most half the kernel size. */
function checkPoolPadding(pad: readonly number[], k: readonly number[], layer: string): void {
  if (pad.some((p, i) => p > Math.floor(k[i] / 2)))
    throw new RangeError(
      `${layer}: padding ${showPair(pad)} must be at most half the kernel size ${showPair(k)} (as PyTorch)`,
    );
}

/** 2-D max pooling, PyTorch's `nn.MaxPool2d`: [N, C, H, W] → [N, C, OH, OW]; stride defaults to the kernel. */
export class MaxPool2d extends Module {
  /** [kH, kW]. */
  readonly kernelSize: readonly [number, number];
  /** [rows, columns] between windows. */
  readonly stride: readonly [number, number];
  /** Implicit −∞ before and after each axis, [rows, columns]. */
  readonly padding: readonly [number, number];
  /** Spacing of the window's taps. */
  readonly dilation: readonly [number, number];
  /** Round the output size up. */
  readonly ceilMode: boolean;

  constructor(kernelSize: ops.Size2d, options: ops.MaxPool2dOptions = {}) {
    super();
    this.kernelSize = ops.pair2d(kernelSize, 1, 1, 'MaxPool2d', 'kernelSize');
    this.stride = ops.pair2d(options.stride, this.kernelSize, 1, 'MaxPool2d', 'stride');
    this.padding = ops.pair2d(options.padding, 0, 0, 'MaxPool2d', 'padding');
    this.dilation = ops.pair2d(options.dilation, 1, 1, 'MaxPool2d', 'dilation');
    this.ceilMode = options.ceilMode ?? false;
    checkPoolPadding(this.padding, this.kernelSize, 'MaxPool2d');
  }

  forward(x: Tensor): Tensor {
    return ops.maxPool2d(x, this.kernelSize, {
      stride: this.stride,
      padding: this.padding,
      dilation: this.dilation,
      ceilMode: this.ceilMode,
    });
  }

  override describe(): string {
    return poolDescription(this.kernelSize, this.stride, this.padding, this.dilation, this.ceilMode);
  }
}

function poolDescription(
  k: readonly number[],
  stride: readonly number[],
  pad: readonly number[],
  dilation: readonly number[] | null,
  ceil: boolean,
): string {
  return (
    `kernel ${showPair(k)}` +
    (stride[0] !== k[0] || stride[1] !== k[1] ? `, stride ${showPair(stride)}` : '') +
    (pad[0] !== 0 || pad[1] !== 0 ? `, padding ${showPair(pad)}` : '') +
    (dilation && (dilation[0] !== 1 || dilation[1] !== 1) ? `, dilation ${showPair(dilation)}` : '') +
    (ceil ? ', ceilMode' : '')
  );
}

/** 1-D max pooling, PyTorch's `nn.MaxPool1d`: [N, C, L] → [N, C, L']; stride defaults to the kernel. */
export class MaxPool1d extends Module {
  /** Positions between windows. */
  readonly stride: number;
  /** Implicit −∞ on both ends. */
  readonly padding: number;
  /** Spacing of the window's taps. */
  readonly dilation: number;
  /** Round the output size up. */
  readonly ceilMode: boolean;

  constructor(
    readonly kernelSize: number,
    options: ops.MaxPool1dOptions = {},
  ) {
    super();
    ops.size1d(kernelSize, 1, 1, 'MaxPool1d', 'kernelSize');
    this.stride = ops.size1d(options.stride, kernelSize, 1, 'MaxPool1d', 'stride');
    this.padding = ops.size1d(options.padding, 0, 0, 'MaxPool1d', 'padding');
    this.dilation = ops.size1d(options.dilation, 1, 1, 'MaxPool1d', 'dilation');
    this.ceilMode = options.ceilMode ?? false;
    checkPoolPadding([this.padding], [kernelSize], 'MaxPool1d');
  }

  forward(x: Tensor): Tensor {
    return ops.maxPool1d(x, this.kernelSize, {
      stride: this.stride,
      padding: this.padding,
      dilation: this.dilation,
      ceilMode: this.ceilMode,
    });
  }

  override describe(): string {
    const one = (v: number) => [v, v];
    return poolDescription(
      one(this.kernelSize),
      one(this.stride),
      one(this.padding),
      one(this.dilation),
      this.ceilMode,
    );
  }
}

/**
 * 2-D average pooling, PyTorch's `nn.AvgPool2d`: [N, C, H, W] → [N, C, OH, OW]; stride defaults to the
 * kernel, and the padding's zeros count in the divisor unless `countIncludePad` is false.
 */
export class AvgPool2d extends Module {
  /** [kH, kW]. */
  readonly kernelSize: readonly [number, number];
  /** [rows, columns] between windows. */
  readonly stride: readonly [number, number];
  /** Zeros before and after each axis, [rows, columns]. */
  readonly padding: readonly [number, number];
  /** Round the output size up. */
  readonly ceilMode: boolean;
  /** Count the padding in each window's divisor. */
  readonly countIncludePad: boolean;

  constructor(kernelSize: ops.Size2d, options: ops.AvgPool2dOptions = {}) {
    super();
    this.kernelSize = ops.pair2d(kernelSize, 1, 1, 'AvgPool2d', 'kernelSize');
    this.stride = ops.pair2d(options.stride, this.kernelSize, 1, 'AvgPool2d', 'stride');
    this.padding = ops.pair2d(options.padding, 0, 0, 'AvgPool2d', 'padding');
    this.ceilMode = options.ceilMode ?? false;
    this.countIncludePad = options.countIncludePad ?? true;
    checkPoolPadding(this.padding, this.kernelSize, 'AvgPool2d');
  }

  forward(x: Tensor): Tensor {
    return ops.avgPool2d(x, this.kernelSize, {
      stride: this.stride,
      padding: this.padding,
      ceilMode: this.ceilMode,
      countIncludePad: this.countIncludePad,
    });
  }

  override describe(): string {
    return (
      poolDescription(this.kernelSize, this.stride, this.padding, null, this.ceilMode) +
      (this.countIncludePad ? '' : ', countIncludePad: false')
    );
  }
}

/** Adaptive average pooling, PyTorch's `nn.AdaptiveAvgPool2d`; output size 1 only: [N, C, H, W] → [N, C, 1, 1]. */
export class AdaptiveAvgPool2d extends Module {
  constructor(readonly outputSize: ops.Size2d = 1) {
    super();
    const s = ops.pair2d(outputSize, 1, 1, 'AdaptiveAvgPool2d', 'outputSize');
    if (s[0] !== 1 || s[1] !== 1)
      throw new RangeError(
        `AdaptiveAvgPool2d: only output size 1 (a global average) is supported, got ${JSON.stringify(outputSize)}`,
      );
  }

  forward(x: Tensor): Tensor {
    return ops.adaptiveAvgPool2d(x, this.outputSize);
  }

  override describe(): string {
    return showPair(ops.pair2d(this.outputSize, 1, 1, 'AdaptiveAvgPool2d', 'outputSize'));
  }
}

/** Merges axes `startDim`…`endDim` into one, PyTorch's `nn.Flatten` (default: [N, …] → [N, features]). */
export class Flatten extends Module {
  constructor(
    readonly startDim = 1,
    readonly endDim = -1,
  ) {
    super();
    for (const [what, v] of [
      ['startDim', startDim],
      ['endDim', endDim],
    ] as const)
      if (!Number.isInteger(v)) throw new RangeError(`Flatten: ${what} must be an integer, got ${v}`);
  }

  forward(x: Tensor): Tensor {
    return ops.flatten(x, this.startDim, this.endDim);
  }

  override describe(): string {
    return this.startDim === 1 && this.endDim === -1 ? '' : `${this.startDim}, ${this.endDim}`;
  }
}

/**
 * Splits axis `dim` into `sizes`, PyTorch's `nn.Unflatten`: `new Unflatten(1, [1, 28, 28])` turns flat
 * rows [N, 784] into images [N, 1, 28, 28], so a CNN takes the rows a dataset holds.
 */
export class Unflatten extends Module {
  /** The sizes axis `dim` becomes. */
  readonly sizes: readonly number[];

  constructor(
    readonly dim: number,
    sizes: readonly number[],
  ) {
    super();
    if (!Number.isInteger(dim)) throw new RangeError(`Unflatten: dim must be an integer, got ${dim}`);
    if (!Array.isArray(sizes) || sizes.length === 0 || !sizes.every((s) => Number.isInteger(s) && s >= 1))
      throw new RangeError(`Unflatten: sizes must be positive integers, got ${JSON.stringify(sizes)}`);
    this.sizes = [...sizes];
  }

  forward(x: Tensor): Tensor {
    const d = this.dim < 0 ? this.dim + x.ndim : this.dim;
    const want = sizeOf(this.sizes);
    if (d < 0 || d >= x.ndim || x.shape[d] !== want)
      throw new Error(
        `Unflatten(${this.dim}, ${fmt(this.sizes)}): input has shape ${fmt(x.shape)}, expected axis ${this.dim} of ` +
          `${this.sizes.join('·')} = ${want} elements`,
      );
    return ops.reshape(x, [...x.shape.slice(0, d), ...this.sizes, ...x.shape.slice(d + 1)]);
  }

  override describe(): string {
    return `${this.dim}, ${fmt(this.sizes)}`;
  }
}
