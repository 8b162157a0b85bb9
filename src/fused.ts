/**
 * A fused training step for plain MLPs (Linear layers and elementwise activations, squared-error loss):
 * forward, loss and backward over preallocated buffers, with no tensors, no graph and no allocation per
 * step. It issues exactly the kernel calls the general autograd path issues, in the same arithmetic
 * order, so its gradients — and the weights after any number of steps — are bit-identical to the
 * general path's (test/fused.test.ts). The general path stays the reference; `fit` uses this one when the
 * model and loss allow it.
 */
import { kernels } from './kernels/index.js';
import type { BroadcastPlan, Storage, UnaryOp } from './kernels/types.js';
import { Identity, Linear, Sequential } from './nn/layers.js';
import { describeLayer } from './nn/spec.js';
import type { Module } from './nn/module.js';
import { broadcastPlan } from './shape.js';
import { allocStorage, Tensor, type DType } from './tensor.js';

/** Losses the fused step computes: ½·Σ(o − y)² (the seed's) and the mean squared error. */
export type FusedLoss = 'mseHalfSum' | 'mse';

type Layer = { kind: 'linear'; layer: Linear } | { kind: 'act'; op: UnaryOp; p0: number };

/** Per-batch-size buffers: each layer's output and the gradient arriving at it. */
interface Buffers {
  out: Storage[];
  grad: Storage[];
  diff: Storage;
  sq: Storage;
  /** The loss, rounded to the dtype at each op as the general path's one-element tensors round it. */
  scalar: Storage;
  /** Broadcast plans for each Linear's bias add, and for the loss's elementwise ops. */
  biasPlan: BroadcastPlan[];
  lossPlan: BroadcastPlan;
  biasGrad: (Storage | null)[];
  weightGrad: Storage[];
}

/** The fused step's view of an activation module, or null when it cannot take it. */
function activationOf(m: Module): Layer | null {
  const spec = describeLayer(m);
  switch (spec?.type) {
    case 'sigmoid':
    case 'tanh':
    case 'relu':
    case 'gelu':
    case 'softplus':
      return { kind: 'act', op: spec.type, p0: 0 };
    case 'leakyRelu':
      return { kind: 'act', op: 'leakyRelu', p0: spec.slope };
    case 'elu':
      return { kind: 'act', op: 'elu', p0: spec.alpha };
    default:
      return null;
  }
}

/** A planned fused step for one model; `null` from `FusedStep.plan` when the model or loss is not plain. */
export class FusedStep {
  private readonly cache = new Map<number, Buffers>();

  private constructor(
    private readonly layers: Layer[],
    private readonly loss: FusedLoss,
    private readonly dtype: DType,
    private readonly outFeatures: number,
  ) {}

  /**
   * A fused step for `model` and `loss`, or null when the model is not a Sequential of Linear layers and
   * elementwise activations sharing one dtype, or the loss is not a squared error.
   */
  static plan(model: Module, loss: unknown): FusedStep | null {
    if (loss !== 'mseHalfSum' && loss !== 'mse') return null;
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
    return new FusedStep(layers, loss, dtype, width);
  }

  private buffers(m: number): Buffers {
    let b = this.cache.get(m);
    if (b) return b;
    const out: Storage[] = [];
    const grad: Storage[] = [];
    const biasGrad: (Storage | null)[] = [];
    const weightGrad: Storage[] = [];
    for (const l of this.layers) {
      const width = l.kind === 'linear' ? l.layer.outFeatures : out[out.length - 1].length / m;
      out.push(allocStorage(this.dtype, m * width));
      grad.push(allocStorage(this.dtype, m * width));
      if (l.kind === 'linear') {
        // A one-row batch's bias gradient is the arriving gradient itself (no sum), as in sumTo.
        biasGrad.push(m > 1 ? allocStorage(this.dtype, width) : null);
        weightGrad.push(allocStorage(this.dtype, l.layer.inFeatures * width));
      }
    }
    const n = m * this.outFeatures;
    b = {
      out,
      grad,
      diff: allocStorage(this.dtype, n),
      sq: allocStorage(this.dtype, n),
      scalar: allocStorage(this.dtype, 1),
      biasPlan: this.layers.flatMap((l) =>
        l.kind === 'linear' ? [broadcastPlan([m, l.layer.outFeatures], [l.layer.outFeatures], 'add')] : [],
      ),
      lossPlan: broadcastPlan([n], [n], 'sub'),
      biasGrad,
      weightGrad,
    };
    this.cache.set(m, b);
    return b;
  }

  /** Whether `x` and `y` fit this step: matching dtype, input width and output width. */
  accepts(x: Tensor, y: Tensor): boolean {
    const first = this.layers[0] as { kind: 'linear'; layer: Linear };
    return (
      x.dtype === this.dtype &&
      y.dtype === this.dtype &&
      x.ndim === 2 &&
      x.shape[1] === first.layer.inFeatures &&
      y.ndim === 2 &&
      y.shape[0] === x.shape[0] &&
      y.shape[1] === this.outFeatures
    );
  }

  /**
   * Forward, loss and backward for one batch; accumulates into each parameter's `.grad` as `backward()`
   * would (creating it on first use). Returns the loss value; `output()` then holds the predictions.
   */
  run(x: Tensor, y: Tensor): number {
    const K = kernels();
    const m = x.shape[0];
    const b = this.buffers(m);
    // Forward: y = x·W, z = y + b, a = f(z), as matmul, add and the activation op compute them.
    let input = x.data;
    let width = x.shape[1];
    let linear = 0;
    for (let i = 0; i < this.layers.length; i++) {
      const l = this.layers[i];
      const out = b.out[i];
      if (l.kind === 'linear') {
        const { weight, bias, outFeatures } = l.layer;
        K.matmul(input, 0, weight.data, 0, out, 0, m, width, outFeatures, false, false);
        K.binary('add', out, (bias as Tensor).data, out, b.biasPlan[linear++]);
        width = outFeatures;
      } else K.unary(l.op, input, out, l.p0, 0);
      input = out;
    }
    // Loss: d = o − y, d², Σ, then ×½ (mseHalfSum) or ÷count (mse); the gradient seeds below follow the
    // backward of each of those ops in turn.
    const n = b.diff.length;
    K.binary('sub', input, y.data, b.diff, b.lossPlan);
    K.unary('pow', b.diff, b.sq, 2, 0);
    let total = 0;
    const sq = b.sq;
    for (let i = 0; i < n; i++) total += sq[i];
    const scalar = b.scalar;
    scalar[0] = total;
    scalar[0] = this.loss === 'mseHalfSum' ? scalar[0] * 0.5 : scalar[0] / n;
    const value = scalar[0];
    const seed = this.loss === 'mseHalfSum' ? 1 * 0.5 : 1 / n;
    const last = this.layers.length - 1;
    const g = b.grad[last];
    g.fill(seed);
    K.unaryGrad('pow', b.diff, b.sq, g, g, 2, 0);
    // Backward through the layers in reverse.
    let lin = b.weightGrad.length - 1;
    for (let i = last; i >= 0; i--) {
      const l = this.layers[i];
      const gi = b.grad[i];
      const below = i > 0 ? b.out[i - 1] : x.data;
      if (l.kind === 'act') {
        K.unaryGrad(l.op, below, b.out[i], gi, b.grad[i - 1], l.p0, 0);
        continue;
      }
      const { weight, bias, inFeatures, outFeatures } = l.layer;
      const bg = b.biasGrad[lin];
      if (bg) K.reduce('sum', gi, [m, outFeatures], bg, [1, outFeatures]);
      accumulateGrad(bias as Tensor, bg ?? gi);
      const wg = b.weightGrad[lin];
      K.matmul(below, 0, gi, 0, wg, 0, inFeatures, m, outFeatures, true, false);
      accumulateGrad(weight, wg);
      if (i > 0) K.matmul(gi, 0, weight.data, 0, b.grad[i - 1], 0, m, outFeatures, inFeatures, false, true);
      lin--;
    }
    return value;
  }

  /** The last batch's predictions (valid until the next `run`), as a tensor over the step's buffer. */
  output(m: number): Tensor {
    const b = this.buffers(m);
    return new Tensor(b.out[b.out.length - 1], [m, this.outFeatures]);
  }
}

/** `.grad += g`, creating `.grad` as a copy on first use: what `backward()` does for a leaf. */
function accumulateGrad(p: Tensor, g: Storage): void {
  if (p.grad === null) p.grad = new Tensor(g.slice(), p.shape);
  else kernels().accumulate(p.grad.data, g);
}
