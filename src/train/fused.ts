/**
 * A fused training step for plain MLPs (Linear layers and elementwise activations; squared-error or
 * softmax cross-entropy loss on class labels): forward, loss and backward over preallocated buffers, with
 * no tensors, no graph and no allocation per step. It issues exactly the kernel calls the general
 * autograd path issues, in the same arithmetic order, so its gradients — and the weights after any
 * number of steps — are bit-identical to the general path's (test/fused.test.ts). The general path stays
 * the reference; `fit` uses this one when the model and loss allow it.
 */
import { kernels, kernelStorage, referenceKernels } from '../kernels/index.js';
import type { BroadcastPlan, Kernels, Storage, UnaryOp } from '../kernels/types.js';
import { UNARY, type UnaryForward, type UnaryGrad } from '../kernels/unary.js';
import { Identity, Linear, Sequential } from '../nn/layers.js';
import { activationOfModule } from '../nn/spec.js';
import type { Module } from '../nn/module.js';
import {
  SOFTMAX_CROSS_ENTROPY,
  SQUARED_ERROR_HALF_SUM,
  SQUARED_ERROR_MEAN,
  type LossKernel,
} from '../loss-kernels.js';
import { broadcastPlan } from '../shape.js';
import { allocStorage, Tensor, type DType } from '../tensor.js';

/**
 * Losses the fused step computes: ½·Σ(o − y)² (the seed's), the mean squared error, and softmax
 * cross-entropy with one class index per row (mean over rows).
 */
export type FusedLoss = 'mseHalfSum' | 'mse' | 'crossEntropy';

/** Each fused loss's kernel: the one the general path's loss op runs, so their bits are the same. */
const LOSS_KERNELS: { readonly [L in FusedLoss]: LossKernel<unknown> } = {
  mseHalfSum: erased(SQUARED_ERROR_HALF_SUM),
  mse: erased(SQUARED_ERROR_MEAN),
  crossEntropy: erased(SOFTMAX_CROSS_ENTROPY),
};

/** A kernel whose scratch type is forgotten: a step hands each kernel only the scratch it made itself. */
function erased<B>(k: LossKernel<B>): LossKernel<unknown> {
  return k as unknown as LossKernel<unknown>;
}

const FUSED_LOSSES: readonly unknown[] = Object.keys(LOSS_KERNELS);

/**
 * Products of fewer multiply-adds than this (in every layer) are computed inline, when the kernel set
 * would hand them to the reference anyway: there a call costs more than the arithmetic, while larger
 * products need the reference's register-tiled loops (with every product inline, fitting 784-128-10 on
 * the reference kernels fell from 6.8k to 2.1k samples/s).
 */
const INLINE_PRODUCTS = 256;

/** A layer of the step: a Linear, or an elementwise activation of the op table with its parameter. */
type Layer = { kind: 'linear'; layer: Linear } | { kind: 'act'; op: UnaryOp; p0: number };

/** What a step op does: the run loop switches on it, so each case calls one known function. */
const LINEAR = 0;
const ACTIVATION = 1;
const ACTIVATION_GRAD = 2;
const LINEAR_GRAD = 3;

/**
 * One op of a compiled step: a layer's forward or backward, with everything it touches. Every op has
 * every field (unused ones empty), so the loop reads them all alike.
 */
interface StepOp {
  code: number;
  /** The layer's input; null: the batch itself. */
  input: Storage | null;
  /** Forward: the layer's output. Backward: the output the derivative may read. */
  out: Storage;
  /** Backward: the gradient arriving at the layer's output. */
  grad: Storage;
  /** Backward: the gradient it passes down (empty: none needed, the first layer). */
  gradBelow: Storage;
  weight: Tensor | null;
  bias: Tensor | null;
  /** The weight's and bias's gradient buffers (bias: null when the batch is one row, as sumTo). */
  weightGrad: Storage;
  biasGrad: Storage | null;
  plan: BroadcastPlan | null;
  shape: number[];
  biasShape: number[];
  op: UnaryOp;
  forward: UnaryForward;
  derivative: UnaryGrad;
  p0: number;
  m: number;
  k: number;
  n: number;
}

/** A step compiled for one batch size and one kernel set (see `FusedStep.compile`). */
interface Program {
  /** The set it was compiled for: another active set compiles again. */
  kernels: Kernels;
  /** The set the ops and the loss kernel run on: the reference itself when every array is short. */
  K: Kernels;
  /** Products inline (the reference's loops), and elementwise ops straight to the op table's loops. */
  small: boolean;
  direct: boolean;
  forward: StepOp[];
  /** Last layer first. */
  backward: StepOp[];
}

/** Per-batch-size buffers: each layer's output and the gradient arriving at it. */
interface Buffers {
  out: Storage[];
  grad: Storage[];
  /** Broadcast plans for each Linear's bias add. */
  biasPlan: BroadcastPlan[];
  biasGrad: (Storage | null)[];
  weightGrad: Storage[];
  /** The most multiply-adds of any one product of the step (m·in·out of the widest layer). */
  largestProduct: number;
  /** The most elements of any array the step's kernels see (buffers, parameters, the loss's scratch). */
  largestArray: number;
  /** The loss kernel's scratch. */
  loss: unknown;
  /** The step compiled for these buffers and the kernel set it was compiled for (see `compile`). */
  program: Program | null;
}

/** The fused step's view of an activation module (every elementwise op of the table), or null. */
function activationOf(m: Module): Layer | null {
  const act = activationOfModule(m);
  return act ? { kind: 'act', op: act.op, p0: act.param } : null;
}

/** A planned fused step for one model; `null` from `FusedStep.plan` when the model or loss is not plain. */
export class FusedStep {
  private readonly cache = new Map<number, Buffers>();
  private lastRows = -1;
  private last: Buffers | null = null;

  private constructor(
    private readonly layers: Layer[],
    private readonly loss: FusedLoss,
    private readonly dtype: DType,
    private readonly outFeatures: number,
  ) {}

  /**
   * A fused step for `model` and `loss`, or null when the model is not a Sequential of Linear layers and
   * elementwise activations sharing one dtype, or the loss is not one of {@link FusedLoss}.
   */
  static plan(model: Module, loss: unknown): FusedStep | null {
    if (!FUSED_LOSSES.includes(loss)) return null;
    if (!(model instanceof Sequential)) return null;
    const layers: Layer[] = [];
    let dtype: DType | null = null;
    let width = -1;
    for (const m of model.layers) {
      if (m instanceof Identity) continue;
      if (m instanceof Linear) {
        if (m.constructor !== Linear || !m.bias || (width !== -1 && width !== m.inFeatures)) return null;
        if (!m.weight.requiresGrad || !m.bias.requiresGrad) return null;
        if (dtype !== null && (m.weight.dtype !== dtype || m.bias.dtype !== dtype)) return null;
        dtype = m.weight.dtype;
        width = m.outFeatures;
        layers.push({ kind: 'linear', layer: m });
        continue;
      }
      const act = activationOf(m);
      if (!act) return null;
      layers.push(act);
    }
    if (dtype === null || layers[0]?.kind !== 'linear') return null;
    return new FusedStep(layers, loss as FusedLoss, dtype, width);
  }

  /** Every buffer this step made, and the kernel set that made them (to give them back to). */
  private readonly made: Storage[] = [];
  private maker: Kernels | null = null;

  /** A buffer the active kernel set works on in place where it can (see `Kernels.alloc`). */
  private alloc(n: number): Storage {
    this.maker ??= kernels();
    const s = this.maker.alloc?.(this.dtype, n) ?? allocStorage(this.dtype, n);
    this.made.push(s);
    return s;
  }

  /** Give the step's buffers back to the kernel set now (the step can still run: it makes new ones). */
  release(): void {
    for (const s of this.made) this.maker?.free?.(s);
    this.made.length = 0;
    this.maker = null;
    this.cache.clear();
    this.last = null;
  }

  private buffers(m: number): Buffers {
    // Most runs are one batch size, with a last smaller batch at most: keep the last one at hand.
    if (m === this.lastRows && this.last) return this.last;
    let b = this.cache.get(m);
    if (b) {
      this.lastRows = m;
      this.last = b;
      return b;
    }
    const out: Storage[] = [];
    const grad: Storage[] = [];
    const biasGrad: (Storage | null)[] = [];
    const weightGrad: Storage[] = [];
    for (const l of this.layers) {
      const width = l.kind === 'linear' ? l.layer.outFeatures : out[out.length - 1].length / m;
      out.push(this.alloc(m * width));
      grad.push(this.alloc(m * width));
      if (l.kind === 'linear') {
        // A one-row batch's bias gradient is the arriving gradient itself (no sum), as in sumTo.
        biasGrad.push(m > 1 ? this.alloc(width) : null);
        weightGrad.push(this.alloc(l.layer.inFeatures * width));
      }
    }
    b = {
      out,
      grad,
      biasPlan: this.layers.flatMap((l) =>
        l.kind === 'linear' ? [broadcastPlan([m, l.layer.outFeatures], [l.layer.outFeatures], 'add')] : [],
      ),
      biasGrad,
      weightGrad,
      largestProduct: Math.max(
        ...this.layers.map((l) => (l.kind === 'linear' ? m * l.layer.inFeatures * l.layer.outFeatures : 0)),
      ),
      // Every array is a layer's output or gradient, a weight or its gradient, the input, or the loss's
      // scratch (at most an output's size).
      largestArray: Math.max(
        m * (this.layers[0] as { layer: Linear }).layer.inFeatures,
        ...out.map((o) => o.length),
        ...weightGrad.map((w) => w.length),
      ),
      loss: LOSS_KERNELS[this.loss].buffers((n) => this.alloc(n), m, this.outFeatures),
      program: null,
    };
    this.cache.set(m, b);
    this.lastRows = m;
    this.last = b;
    return b;
  }

  /**
   * Whether `x` and `y` fit this step: matching dtype and input width, and targets of the output's shape
   * (squared errors) or one class index per row (cross-entropy; the indices are checked when it runs).
   */
  accepts(x: Tensor, y: Tensor): boolean {
    const first = this.layers[0] as { kind: 'linear'; layer: Linear };
    if (x.dtype !== this.dtype || x.ndim !== 2 || x.shape[1] !== first.layer.inFeatures) return false;
    if (this.loss === 'crossEntropy') return y.ndim === 1 && y.shape[0] === x.shape[0];
    return (
      y.dtype === this.dtype && y.ndim === 2 && y.shape[0] === x.shape[0] && y.shape[1] === this.outFeatures
    );
  }

  /**
   * Whether `params` are all among the parameters this step computes gradients for (so with `overwrite`
   * it leaves no stale gradient behind).
   */
  covers(params: readonly Tensor[]): boolean {
    const mine = new Set<Tensor>();
    for (const l of this.layers)
      if (l.kind === 'linear') mine.add(l.layer.weight).add(l.layer.bias as Tensor);
    return params.every((p) => mine.has(p));
  }

  /**
   * Forward, loss and backward for one batch; accumulates into each parameter's `.grad` as `backward()`
   * would (creating it on first use), or with `overwrite` sets `.grad` to what zeroing it and then
   * accumulating would give (0 + g, so −0 becomes +0). Returns the loss value; `output()` then holds the
   * predictions.
   */
  run(x: Tensor, y: Tensor, overwrite = false): number {
    const active = kernels();
    const m = x.shape[0];
    const kept = this.last;
    const b = kept !== null && m === this.lastRows ? kept : this.buffers(m);
    const p = b.program?.kernels === active ? b.program : (b.program = this.compile(b, m, active));
    execute(p, p.forward, x.data, overwrite);
    // The loss and its gradient with respect to the output: the loss kernel the general path's op runs.
    const kernel = LOSS_KERNELS[this.loss];
    const last = this.layers.length - 1;
    const value = kernel.forward(p.K, b.out[last], y.data, m, this.outFeatures, b.loss);
    if (!Number.isFinite(value)) return value;
    kernel.backward(p.K, 1, b.out[last], m, this.outFeatures, b.loss, b.grad[last]);
    execute(p, p.backward, x.data, overwrite);
    return value;
  }

  /**
   * The step for one batch size on kernel set `active`: per layer, its forward op, then (in reverse) its
   * backward op, which make exactly the kernel calls of the general path. Products too small for the set
   * to take anywhere but its reference path are computed inline by the same loops, and when every array
   * is too short for the set to take, elementwise ops call the op table's loops directly: in a network
   * this small (the seed's 2-2-1), dispatch would cost more than the arithmetic.
   */
  private compile(b: Buffers, m: number, active: Kernels): Program {
    const small = b.largestProduct < Math.min(INLINE_PRODUCTS, active.referenceMatmulBelow ?? 0);
    const direct = b.largestArray < (active.referenceElementsBelow ?? 0);
    const forward: StepOp[] = [];
    const backward: StepOp[] = [];
    const none = b.out[0].subarray(0, 0);
    let lin = 0;
    this.layers.forEach((l, i) => {
      const input = i > 0 ? b.out[i - 1] : null;
      const gradBelow = i > 0 ? b.grad[i - 1] : none;
      if (l.kind === 'act') {
        const { op, p0 } = l;
        const act = (code: number) =>
          stepOp(code, input, b.out[i], b.grad[i], gradBelow, null, null, none, null, null, op, p0, m, 0, 0);
        forward.push(act(ACTIVATION));
        backward.unshift(act(ACTIVATION_GRAD));
        return;
      }
      const { weight, bias, inFeatures: k, outFeatures: n } = l.layer;
      const linear = (code: number) =>
        stepOp(
          code,
          input,
          b.out[i],
          b.grad[i],
          gradBelow,
          weight,
          bias,
          b.weightGrad[lin],
          b.biasGrad[lin],
          b.biasPlan[lin],
          'neg',
          0,
          m,
          k,
          n,
        );
      forward.push(linear(LINEAR));
      backward.unshift(linear(LINEAR_GRAD));
      lin++;
    });
    return { kernels: active, K: direct ? referenceKernels : active, small, direct, forward, backward };
  }

  /**
   * The step for a batch of `m` rows as a {@link TinyStep}, when the active kernel set would hand every
   * product and elementwise op of it to the reference (see `compile`), and every parameter has a
   * gradient; else null. Its arrays are the parameters' and gradients' of this moment: use it only while
   * no other code can move them.
   */
  tiny(m: number): TinyStep | null {
    const b = this.buffers(m);
    const active = kernels();
    const p = b.program?.kernels === active ? b.program : (b.program = this.compile(b, m, active));
    if (!p.small || !p.direct) return null;
    const layers: TinyLayer[] = [];
    for (let i = 0; i < this.layers.length; i++) {
      const l = this.layers[i];
      const input = i > 0 ? b.out[i - 1] : null;
      const gradBelow = i > 0 ? b.grad[i - 1] : null;
      if (l.kind === 'act') {
        const { forward, grad } = UNARY[l.op];
        layers.push(
          tinyLayer(false, input, b.out[i], b.grad[i], gradBelow, null, forward, grad, l.p0, m, 0, 0),
        );
        continue;
      }
      const { weight, bias, inFeatures: k, outFeatures: n } = l.layer;
      const bt = bias as Tensor;
      if (!weight.grad || !bt.grad) return null;
      const arrays = { w: weight.data, b: bt.data, gw: weight.grad.data, gb: bt.grad.data };
      layers.push(tinyLayer(true, input, b.out[i], b.grad[i], gradBelow, arrays, null, null, 0, m, k, n));
    }
    const last = this.layers.length - 1;
    return new TinyStep(
      layers,
      m,
      this.outFeatures,
      LOSS_KERNELS[this.loss],
      b.loss,
      b.out[last],
      b.grad[last],
    );
  }

  /** The last batch's predictions (valid until the next `run`), as a tensor over the step's buffer. */
  output(m: number): Tensor {
    const b = this.buffers(m);
    return new Tensor(b.out[b.out.length - 1], [m, this.outFeatures]);
  }
}

/** A layer of a {@link TinyStep}: a Linear's arrays and sizes, or an activation's loops. */
interface TinyLayer {
  linear: boolean;
  /** The layer's input (null: the batch). */
  input: Storage | null;
  out: Storage;
  /** The gradient arriving at the output, and the one passed down (null: none, the first layer). */
  grad: Storage;
  gradBelow: Storage | null;
  /** A Linear's weight, bias and their gradients (empty for an activation). */
  w: Storage;
  b: Storage;
  gw: Storage;
  gb: Storage;
  /** A Linear's bias-gradient sum over rows (batches of more than one row). */
  shape: number[];
  biasShape: number[];
  forward: UnaryForward;
  derivative: UnaryGrad;
  p0: number;
  k: number;
  n: number;
}

const noForward: UnaryForward = () => {};
const noGrad: UnaryGrad = () => {};

/** A tiny layer; one constructor, so every layer has the same fields in the same order. */
function tinyLayer(
  linear: boolean,
  input: Storage | null,
  out: Storage,
  grad: Storage,
  gradBelow: Storage | null,
  arrays: { w: Storage; b: Storage; gw: Storage; gb: Storage } | null,
  forward: UnaryForward | null,
  derivative: UnaryGrad | null,
  p0: number,
  m: number,
  k: number,
  n: number,
): TinyLayer {
  const none = out.subarray(0, 0);
  return {
    linear,
    input,
    out,
    grad,
    gradBelow,
    w: arrays?.w ?? none,
    b: arrays?.b ?? none,
    gw: arrays?.gw ?? none,
    gb: arrays?.gb ?? none,
    shape: [m, n],
    biasShape: [1, n],
    forward: forward ?? noForward,
    derivative: derivative ?? noGrad,
    p0,
    k,
    n,
  };
}

/**
 * The fused step of a network so small that the kernel set hands all of it to the reference (the seed's
 * 2-2-1): the compiled program's arithmetic with its dispatch taken out — no kernel set, no switch, the
 * parameters' and gradients' arrays held, gradients overwritten (every parameter has one). The same loops
 * in the same order as `execute` on such a program, so the same bits.
 */
export class TinyStep {
  constructor(
    private readonly layers: TinyLayer[],
    private readonly m: number,
    private readonly outFeatures: number,
    private readonly lossKernel: LossKernel<unknown>,
    private readonly lossScratch: unknown,
    private readonly output: Storage,
    private readonly outputGrad: Storage,
  ) {}

  /** Forward, loss and backward on batch `x` against `y`; returns the loss (not finite: no backward). */
  run(x: Storage, y: Storage): number {
    const { layers, m } = this;
    const count = layers.length;
    for (let i = 0; i < count; i++) {
      const l = layers[i];
      const input = l.input ?? x;
      if (l.linear) affine(input, l.w, l.b, l.out, m, l.k, l.n);
      else l.forward(input, l.out, l.p0, 0);
    }
    const loss = this.lossKernel;
    const value = loss.forward(referenceKernels, this.output, y, m, this.outFeatures, this.lossScratch);
    if (!Number.isFinite(value)) return value;
    loss.backward(referenceKernels, 1, this.output, m, this.outFeatures, this.lossScratch, this.outputGrad);
    for (let i = count - 1; i >= 0; i--) {
      const l = layers[i];
      const input = l.input ?? x;
      if (!l.linear) {
        l.derivative(input, l.out, l.grad, l.gradBelow as Storage, l.p0, 0);
        continue;
      }
      // linearGrad overwriting gradients that exist: the bias's (0 + g for one row, else the rows' sum
      // straight into it), the weight's, and the gradient passed down.
      const g = l.grad;
      const gb = l.gb;
      if (m === 1) for (let j = 0; j < gb.length; j++) gb[j] = g[j] + 0;
      else referenceKernels.reduce('sum', g, l.shape, gb, l.biasShape);
      productTN(input, g, l.gw, m, l.k, l.n);
      if (l.gradBelow !== null) productNT(g, l.w, l.gradBelow, m, l.n, l.k);
    }
    return value;
  }
}

/** A step op; one constructor, so every op has the same fields in the same order (one shape to read). */
function stepOp(
  code: number,
  input: Storage | null,
  out: Storage,
  grad: Storage,
  gradBelow: Storage,
  weight: Tensor | null,
  bias: Tensor | null,
  weightGrad: Storage,
  biasGrad: Storage | null,
  plan: BroadcastPlan | null,
  op: UnaryOp,
  p0: number,
  m: number,
  k: number,
  n: number,
): StepOp {
  return {
    code,
    input,
    out,
    grad,
    gradBelow,
    weight,
    bias,
    weightGrad,
    biasGrad,
    plan,
    shape: [m, n],
    biasShape: [1, n],
    op,
    forward: UNARY[op].forward,
    derivative: UNARY[op].grad,
    p0,
    m,
    k,
    n,
  };
}

/**
 * Run ops of a compiled step on batch `x`. A switch rather than a list of closures: each case calls one
 * known function, which the engine can inline, where a closure per op makes every call site polymorphic
 * (a tiny network's step ran half again slower that way). Parameters are read through their tensors at
 * each op (fit may move their storage).
 */
function execute(p: Program, ops: StepOp[], x: Storage, overwrite: boolean): void {
  const { K, small, direct } = p;
  for (let i = 0; i < ops.length; i++) {
    const o = ops[i];
    const input = o.input ?? x;
    switch (o.code) {
      case LINEAR: {
        // y = x·W, then z = y + b, as the autograd path's `linear` node computes them (its composed
        // kernel calls; a kernel set's own `linear` gives their bits).
        const w = (o.weight as Tensor).data;
        const bias = (o.bias as Tensor).data;
        if (small) affine(input, w, bias, o.out, o.m, o.k, o.n);
        else {
          K.matmul(input, 0, w, 0, o.out, 0, o.m, o.k, o.n, false, false);
          K.binary('add', o.out, bias, o.out, o.plan as BroadcastPlan);
        }
        break;
      }
      case ACTIVATION:
        if (direct) o.forward(input, o.out, o.p0, 0);
        else K.unary(o.op, input, o.out, o.p0, 0);
        break;
      case ACTIVATION_GRAD:
        if (direct) o.derivative(input, o.out, o.grad, o.gradBelow, o.p0, 0);
        else K.unaryGrad(o.op, input, o.out, o.grad, o.gradBelow, o.p0, 0);
        break;
      case LINEAR_GRAD:
        linearGrad(K, small, o, input, overwrite);
        break;
    }
  }
}

/**
 * A Linear layer's backward: the bias gradient (the rows' sum, or the arriving gradient itself for one
 * row), dW = xᵀ·g, and the gradient passed down g·Wᵀ. Overwriting, the sums go straight into .grad: a sum
 * that starts from +0 is never −0, so it already equals 0 + sum, what zeroing and accumulating leave.
 */
function linearGrad(K: Kernels, small: boolean, o: StepOp, x: Storage, overwrite: boolean): void {
  const weight = o.weight as Tensor;
  const bias = o.bias as Tensor;
  const { grad: g, biasGrad: bg, m, k, n } = o;
  const bTarget = overwrite && bg && bias.grad ? bias.grad.data : bg;
  if (bTarget) K.reduce('sum', g, o.shape, bTarget, o.biasShape);
  if (bTarget !== bias.grad?.data) accumulateGrad(K, bias, bg ?? g, overwrite);
  const wTarget = overwrite && weight.grad ? weight.grad.data : o.weightGrad;
  if (small) productTN(x, g, wTarget, m, k, n);
  else K.matmul(x, 0, g, 0, wTarget, 0, k, m, n, true, false);
  if (wTarget !== weight.grad?.data) accumulateGrad(K, weight, wTarget, overwrite);
  if (o.gradBelow.length === 0) return;
  if (small) productNT(g, weight.data, o.gradBelow, m, n, k);
  else K.matmul(g, 0, weight.data, 0, o.gradBelow, 0, m, n, k, false, true);
}

// Products small enough for the kernel set to hand to the reference, as the reference computes them
// element by element: a sum from 0 in order of the inner index, rounded once on store (its tiled loops
// add in the same order, so the bits are the same). One function per layout the step needs.

/** out = x·W + b for x [m, k], W [k, n]: the product stored, then the bias added to it (matmul, add). */
function affine(x: Storage, w: Storage, bias: Storage, out: Storage, m: number, k: number, n: number): void {
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += x[i * k + p] * w[p * n + j];
      const o = i * n + j;
      out[o] = s;
      out[o] += bias[j];
    }
}

/** c = aᵀ·b for a [m, k], b [m, n]: the weight gradient. */
function productTN(a: Storage, b: Storage, c: Storage, m: number, k: number, n: number): void {
  for (let i = 0; i < k; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < m; p++) s += a[p * k + i] * b[p * n + j];
      c[i * n + j] = s;
    }
}

/** c = a·bᵀ for a [m, k], b [n, k]: the gradient passed down. */
function productNT(a: Storage, b: Storage, c: Storage, m: number, k: number, n: number): void {
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += a[i * k + p] * b[j * k + p];
      c[i * n + j] = s;
    }
}

/**
 * `.grad += g`, creating `.grad` as a copy on first use: what `backward()` does for a leaf. With
 * `overwrite`, `.grad = 0 + g` (what zeroing and accumulating give) without reading the old gradient.
 */
function accumulateGrad(K: Kernels, p: Tensor, g: Storage, overwrite: boolean): void {
  if (p.grad === null) {
    const d = kernelStorage(p.dtype, g.length);
    d.set(g);
    p.grad = new Tensor(d, p.shape);
  } else if (!overwrite) K.accumulate(p.grad.data, g);
  // g + 0 is 0 + g bit for bit (IEEE addition commutes, signed zeros included); straight to the loop
  // when the reference set would run it anyway.
  else if (K === referenceKernels) UNARY.addScalar.forward(g, p.grad.data, 0, 0);
  else K.unary('addScalar', g, p.grad.data, 0, 0);
}
