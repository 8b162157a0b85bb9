/**
 * Tensors: a flat typed array, a shape, a dtype, and — when gradients are wanted — the node of the
 * define-by-run graph that made it. Memory is the garbage collector's; there is nothing to dispose.
 */
import type { Storage } from './kernels/types.js';
import { backwardFrom } from './autograd.js';
import * as ops from './ops.js';
import { fmt, sizeOf, type Shape } from './shape.js';

// The grad-mode switch lives with the engine; existing importers keep finding it here.
export { isGradEnabled, noGrad } from './autograd.js';

/** Element type of a tensor. */
export type DType = 'float32' | 'float64';

/** A nested array of numbers, as `tensor()` accepts and `toArray()` returns. */
export type NestedArray = number | NestedArray[];

/** Anything `tensor()` turns into a tensor. */
export type TensorData = number | NestedArray[] | ArrayLike<number> | Tensor;

/** Options of `tensor()`, `zeros()` and friends. */
export interface TensorOptions {
  /** Element type; default `'float32'` (or `'float64'` for a Float64Array or a float64 tensor). */
  dtype?: DType;
  /** Track operations on this tensor so `backward()` fills its `.grad`. */
  requiresGrad?: boolean;
  /** Shape to give flat data (a typed array or flat list); default: as the data is nested. */
  shape?: Shape;
}

/**
 * The link from a result back to its inputs: `backward` maps the gradient of the result to one gradient
 * (or null) per input. It is dropped once `backward()` has run, unless the graph is retained.
 */
export interface GradNode {
  /** The op's name, for graph views and error messages. */
  readonly op: string;
  /** The inputs, in the order `backward` returns their gradients. */
  inputs: readonly Tensor[];
  /** Gradient of each input given the result's gradient; null once the graph is released. */
  backward: ((g: Storage) => (Storage | null)[]) | null;
}

/** The typed-array constructor of a dtype. */
export function storageCtor(dtype: DType): Float32ArrayConstructor | Float64ArrayConstructor {
  return dtype === 'float64' ? Float64Array : Float32Array;
}

/** A zero-filled storage of `n` elements of `dtype`. */
export function allocStorage(dtype: DType, n: number): Storage {
  return dtype === 'float64' ? new Float64Array(n) : new Float32Array(n);
}

/** While `tidy` runs: where op results and gradients get their storage (null: `allocStorage`). */
let scratchSource: ((dtype: DType, n: number) => Storage | null) | null = null;
/** The storages `scratchSource` handed out in the running `tidy` (one set, emptied when it ends). */
const scratchTaken = new Set<Storage>();

/**
 * @internal Storage for an op's result or a gradient: from `tidy`'s scratch memory while it runs (kernels
 * then use it in place and it is reused by the next step), else as `allocStorage`. Zero-filled, unless
 * `overwritten`: the caller promises to write every element (then scratch memory keeps whatever the
 * previous step left there, and zeroing it would be work for nothing).
 */
export function scratchStorage(dtype: DType, n: number, overwritten = false): Storage {
  if (scratchSource !== null) {
    const s = scratchSource(dtype, n);
    if (s !== null) {
      scratchTaken.add(s);
      if (!overwritten) s.fill(0);
      return s;
    }
  }
  return allocStorage(dtype, n);
}

/** @internal Whether `s` is scratch memory that `tidy` gives back (so it must be copied to outlive it). */
export function isScratch(s: Storage): boolean {
  return scratchTaken.has(s);
}

/** @internal `tidy`'s start: op results and gradients come from `source` until `endScratch`. */
export function beginScratch(source: (dtype: DType, n: number) => Storage | null): void {
  scratchSource = source;
}

/** @internal `tidy`'s end: back to `allocStorage`; every storage the source handed out goes to `give`. */
export function endScratch(give: (s: Storage) => void): void {
  scratchSource = null;
  for (const s of scratchTaken) give(s);
  scratchTaken.clear();
}

/** An n-dimensional array of float32 or float64 numbers that can take part in reverse-mode autodiff. */
export class Tensor {
  /** Flat row-major elements. Shared with reshaped views of this tensor. */
  readonly data: Storage;
  /** Size of each axis. */
  readonly shape: readonly number[];
  /** Element type. */
  readonly dtype: DType;
  /** Whether `backward()` computes a gradient for this tensor. */
  requiresGrad: boolean;
  /** The accumulated gradient after `backward()`, for leaves and tensors marked with `retainGrad()`. */
  grad: Tensor | null = null;
  /** An optional label, shown by graph and teaching views. */
  name: string | undefined;
  /** @internal The graph node that made this tensor; null for leaves. */
  _node: GradNode | null;
  /** @internal Gradient being accumulated during one backward pass. */
  _g: Storage | null = null;
  /** @internal Whether `_g` may be shared with another tensor (copy before adding in place). */
  _gShared = false;
  /** @internal Keep `.grad` on this non-leaf tensor. */
  _retain = false;
  /** @internal Number of the backward pass that last visited this tensor (cheaper than a Set per pass). */
  _visit = 0;

  /** Low-level constructor over existing storage; use `tensor()`, `zeros()` etc. instead. */
  constructor(data: Storage, shape: readonly number[], requiresGrad = false, node: GradNode | null = null) {
    if (data.length !== sizeOf(shape))
      throw new Error(
        `Tensor: ${data.length} elements do not fill shape ${fmt(shape)} (${sizeOf(shape)} needed)`,
      );
    this.data = data;
    this.shape = shape;
    this.dtype = data instanceof Float64Array ? 'float64' : 'float32';
    this.requiresGrad = requiresGrad;
    this._node = node;
    this.name = undefined;
  }

  /** Number of elements. */
  get size(): number {
    return this.data.length;
  }

  /** Number of axes. */
  get ndim(): number {
    return this.shape.length;
  }

  /** True for tensors made by the user rather than by an op (parameters, inputs). */
  get isLeaf(): boolean {
    return this._node === null;
  }

  /** The value of a one-element tensor. */
  item(): number {
    if (this.size !== 1)
      throw new Error(`item: tensor of shape ${fmt(this.shape)} has ${this.size} elements, not 1`);
    return this.data[0];
  }

  /** The elements as nested arrays (a number for a scalar). */
  toArray(): NestedArray {
    if (this.shape.length === 0) return this.data[0];
    const build = (axis: number, offset: number): NestedArray[] => {
      const n = this.shape[axis];
      const out = new Array<NestedArray>(n);
      if (axis === this.shape.length - 1) {
        for (let i = 0; i < n; i++) out[i] = this.data[offset + i];
        return out;
      }
      const step = sizeOf(this.shape.slice(axis + 1));
      for (let i = 0; i < n; i++) out[i] = build(axis + 1, offset + i * step);
      return out;
    };
    return build(0, 0);
  }

  /** A copy with the other dtype (or this tensor itself when it already has it); differentiable. */
  to(dtype: DType): Tensor {
    return ops.cast(this, dtype);
  }

  /** A tensor sharing this one's data but cut from the graph. */
  detach(): Tensor {
    return new Tensor(this.data, this.shape, false);
  }

  /** A copy of the data, cut from the graph. */
  clone(): Tensor {
    return new Tensor(this.data.slice(), this.shape, false);
  }

  /** Keep `.grad` on this intermediate result after `backward()` (leaves always keep theirs). */
  retainGrad(): this {
    this._retain = true;
    return this;
  }

  /**
   * Reverse-mode differentiation from this tensor: accumulates (`+=`) into `.grad` of every leaf that
   * requires grad. A non-scalar needs the upstream `gradient`. The graph is released afterwards unless
   * `retainGraph` is set.
   */
  backward(gradient?: Tensor | ArrayLike<number> | number, options: { retainGraph?: boolean } = {}): void {
    backwardFrom(this, gradient, options.retainGraph ?? false);
  }

  /** Elementwise `this + other`, broadcasting. */
  add(other: Tensor | number): Tensor {
    return ops.add(this, other);
  }
  /** Elementwise `this - other`, broadcasting. */
  sub(other: Tensor | number): Tensor {
    return ops.sub(this, other);
  }
  /** Elementwise `this · other`, broadcasting. */
  mul(other: Tensor | number): Tensor {
    return ops.mul(this, other);
  }
  /** Elementwise `this / other`, broadcasting. */
  div(other: Tensor | number): Tensor {
    return ops.div(this, other);
  }
  /** Elementwise larger of `this` and `other` (ties split the gradient, as PyTorch). */
  maximum(other: Tensor | number): Tensor {
    return ops.maximum(this, other);
  }
  /** `-this`. */
  neg(): Tensor {
    return ops.neg(this);
  }
  /** `this ** exponent` for a scalar exponent. */
  pow(exponent: number): Tensor {
    return ops.pow(this, exponent);
  }
  /** eˣ. */
  exp(): Tensor {
    return ops.exp(this);
  }
  /** Natural logarithm. */
  log(): Tensor {
    return ops.log(this);
  }
  /** Square root. */
  sqrt(): Tensor {
    return ops.sqrt(this);
  }
  /** Absolute value. */
  abs(): Tensor {
    return ops.abs(this);
  }
  /** Limit to [min, max]; either bound may be omitted. */
  clamp(min?: number, max?: number): Tensor {
    return ops.clamp(this, min, max);
  }
  /** Logistic sigmoid 1 / (1 + e⁻ˣ). */
  sigmoid(): Tensor {
    return ops.sigmoid(this);
  }
  /** Hyperbolic tangent. */
  tanh(): Tensor {
    return ops.tanh(this);
  }
  /** max(x, 0). */
  relu(): Tensor {
    return ops.relu(this);
  }
  /** x for x > 0, else slope · x. */
  leakyRelu(slope = 0.01): Tensor {
    return ops.leakyRelu(this, slope);
  }
  /** Exact GELU, x · Φ(x), Φ the standard normal CDF. */
  gelu(): Tensor {
    return ops.gelu(this);
  }
  /** log(1 + eˣ). */
  softplus(): Tensor {
    return ops.softplus(this);
  }
  /** x for x > 0, else alpha · (eˣ − 1). */
  elu(alpha = 1): Tensor {
    return ops.elu(this, alpha);
  }
  /** SiLU (swish), x · σ(x). */
  silu(): Tensor {
    return ops.silu(this);
  }
  /** Matrix product; batched over leading axes with broadcasting. */
  matmul(other: Tensor): Tensor {
    return ops.matmul(this, other);
  }
  /** Reorder axes (default: reverse them, numpy's `transpose()`). */
  transpose(axes?: readonly number[]): Tensor {
    return ops.transpose(this, axes);
  }
  /** The transpose with all axes reversed. */
  get T(): Tensor {
    return ops.transpose(this);
  }
  /** Same data, new shape; one axis may be -1 to be inferred. */
  reshape(...shape: number[] | [readonly number[]]): Tensor {
    return ops.reshape(this, flatShapeArgs(shape));
  }
  /** Sum over `axis` (all axes when omitted). */
  sum(axis?: number | readonly number[], options?: { keepDims?: boolean }): Tensor {
    return ops.sum(this, axis, options);
  }
  /** Mean over `axis` (all axes when omitted). */
  mean(axis?: number | readonly number[], options?: { keepDims?: boolean }): Tensor {
    return ops.mean(this, axis, options);
  }
  /** Maximum over `axis` (all axes when omitted); ties share the gradient evenly, as PyTorch's amax. */
  max(axis?: number | readonly number[], options?: { keepDims?: boolean }): Tensor {
    return ops.max(this, axis, options);
  }
  /** Softmax along `axis` (default last). */
  softmax(axis = -1): Tensor {
    return ops.softmax(this, axis);
  }
  /** Log of softmax along `axis` (default last), computed stably. */
  logSoftmax(axis = -1): Tensor {
    return ops.logSoftmax(this, axis);
  }
  /** log Σ eˣ along `axis` (default last), computed stably. */
  logSumExp(axis = -1, options?: { keepDims?: boolean }): Tensor {
    return ops.logSumExp(this, axis, options);
  }
  /** For each row of the last axis, the element at the given class index (cross-entropy's pick). */
  pick(index: ArrayLike<number> | Tensor): Tensor {
    return ops.pick(this, index);
  }

  /** A short description with the values, for logs and the REPL. */
  toString(): string {
    const body = this.size <= 100 ? JSON.stringify(this.toArray()) : `<${this.size} elements>`;
    return `Tensor(${this.dtype} ${fmt(this.shape)}${this.requiresGrad ? ', requiresGrad' : ''}) ${body}`;
  }
}

function flatShapeArgs(shape: number[] | [readonly number[]]): number[] {
  return shape.length === 1 && Array.isArray(shape[0])
    ? [...(shape[0] as readonly number[])]
    : (shape as number[]);
}

/**
 * Make a tensor from a number, nested arrays, a typed array or another tensor (copied).
 * `tensor([[1, 2], [3, 4]])`, `tensor(new Float64Array(6), { shape: [2, 3] })`.
 */
export function tensor(data: TensorData, options: TensorOptions = {}): Tensor {
  let dtype = options.dtype;
  let flat: ArrayLike<number>;
  let shape: number[];
  if (data instanceof Tensor) {
    dtype ??= data.dtype;
    flat = data.data;
    shape = [...data.shape];
  } else if (typeof data === 'number') {
    flat = [data];
    shape = [];
  } else if (Array.isArray(data)) {
    shape = inferShape(data);
    flat = checkNumbers((data as unknown[]).flat(Infinity as 1));
  } else if (ArrayBuffer.isView(data)) {
    if (data instanceof Float64Array) dtype ??= 'float64';
    flat = data as unknown as ArrayLike<number>;
    shape = [flat.length];
  } else if (typeof data === 'object' && data !== null && typeof data.length === 'number') {
    // Checked like a nested array. `typeof 'object'` keeps strings out: they have a length too.
    flat = checkNumbers(Array.from(data as ArrayLike<unknown>));
    shape = [flat.length];
  } else {
    throw new TypeError(`tensor: cannot make a tensor from ${typeof data}`);
  }
  dtype ??= 'float32';
  if (dtype !== 'float32' && dtype !== 'float64')
    throw new TypeError(`tensor: dtype must be 'float32' or 'float64', got ${JSON.stringify(dtype)}`);
  if (options.shape) {
    checkShape(options.shape, 'tensor');
    if (sizeOf(options.shape) !== flat.length)
      throw new Error(`tensor: ${flat.length} elements do not fill shape ${fmt(options.shape)}`);
    shape = [...options.shape];
  }
  const storage = allocStorage(dtype, flat.length);
  for (let i = 0; i < flat.length; i++) storage[i] = flat[i];
  return new Tensor(storage, shape, options.requiresGrad ?? false);
}

function checkNumbers(flat: unknown[]): number[] {
  for (let i = 0; i < flat.length; i++)
    if (typeof flat[i] !== 'number')
      throw new TypeError(
        `tensor: element ${i} is ${typeof flat[i]} (${String(flat[i])}), expected a number`,
      );
  return flat as number[];
}

/** Throws unless every size is a non-negative integer (a negative pair would still multiply out right). */
function checkShape(shape: Shape, op: string): void {
  for (const d of shape)
    if (!Number.isInteger(d) || d < 0)
      throw new RangeError(`${op}: shape ${fmt(shape)}: sizes must be non-negative integers`);
}

function inferShape(data: NestedArray[]): number[] {
  const shape: number[] = [];
  let level: NestedArray = data;
  while (Array.isArray(level)) {
    shape.push(level.length);
    level = level[0];
  }
  // Walk every branch once to reject ragged input with the path to the offending row.
  const check = (node: NestedArray, depth: number, path: string): void => {
    if (depth === shape.length) {
      if (Array.isArray(node))
        throw new Error(`tensor: ragged nested array: ${path} is an array, expected a number`);
      return;
    }
    if (!Array.isArray(node) || node.length !== shape[depth])
      throw new Error(
        `tensor: ragged nested array: ${path || 'the top level'} has ${Array.isArray(node) ? `${node.length} entries` : 'a number'}, expected ${shape[depth]} entries`,
      );
    for (let i = 0; i < node.length; i++) check(node[i], depth + 1, `${path}[${i}]`);
  };
  check(data, 0, '');
  return shape;
}

function filled(shape: Shape, value: number, options: TensorOptions, op: string): Tensor {
  checkShape(shape, op);
  const s = allocStorage(options.dtype ?? 'float32', sizeOf(shape));
  if (value !== 0) s.fill(value);
  return new Tensor(s, [...shape], options.requiresGrad ?? false);
}

/** A tensor of zeros. */
export function zeros(shape: Shape, options: TensorOptions = {}): Tensor {
  return filled(shape, 0, options, 'zeros');
}

/** A tensor of ones. */
export function ones(shape: Shape, options: TensorOptions = {}): Tensor {
  return filled(shape, 1, options, 'ones');
}

/** A tensor with every element `value`. */
export function full(shape: Shape, value: number, options: TensorOptions = {}): Tensor {
  return filled(shape, value, options, 'full');
}

/** Evenly spaced values in [start, stop) (numpy's `arange`). */
export function arange(start: number, stop?: number, step = 1, options: TensorOptions = {}): Tensor {
  if (stop === undefined) [start, stop] = [0, start];
  // Otherwise a zero step asks for an Infinity-long array and a NaN bound silently gives an empty one.
  if (!Number.isFinite(start) || !Number.isFinite(stop) || !Number.isFinite(step) || step === 0)
    throw new RangeError(
      `arange: start ${start}, stop ${stop} and step ${step} must be finite, with step not 0`,
    );
  const n = Math.max(0, Math.ceil((stop - start) / step));
  const s = allocStorage(options.dtype ?? 'float32', n);
  for (let i = 0; i < n; i++) s[i] = start + i * step;
  return new Tensor(s, [n], options.requiresGrad ?? false);
}
