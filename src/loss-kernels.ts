/**
 * The losses training uses most, over flat buffers: forward and, right below it, backward, each the exact
 * arithmetic of the ops the losses are composed from (`losses.ts`), in the same order, so the bits are
 * theirs (test/losses.test.ts compares them). The fused training step runs them over buffers it
 * keeps between batches; `losses.mse`, `byName.mseHalfSum` and `losses.crossEntropy` on class labels run
 * them as one graph op (`ops.kernelLoss`), which saves a dozen small tensors per step.
 */
import type { BroadcastPlan, Kernels, Storage } from './kernels/types.js';
import { broadcastPlan } from './shape.js';
import { toIndex } from './ops.js';

/** A loss over an output [rows, cols] and its target: scratch buffers, forward, backward. */
export interface LossKernel<B> {
  /** The scratch a batch of `rows` × `cols` outputs needs, from `alloc` (zeroed storage of the dtype). */
  buffers(alloc: (n: number) => Storage, rows: number, cols: number): B;
  /** The loss of `out` against `target`, keeping in `b` what backward needs. */
  forward(K: Kernels, out: Storage, target: Storage, rows: number, cols: number, b: B): number;
  /**
   * `seed` · dLoss/dOut into `g` (overwritten), after `forward` on the same buffers: `seed` is the
   * gradient arriving at the loss, 1 when it is what is minimized.
   */
  backward(K: Kernels, seed: number, out: Storage, rows: number, cols: number, b: B, g: Storage): void;
}

/** The squared error's scratch: d = o − y and d², kept at the dtype's precision as the ops keep them. */
export interface SquaredErrorBuffers {
  diff: Storage;
  sq: Storage;
  /** One element of the dtype: the general path's one-element tensors round the loss there at each op. */
  scalar: Storage;
}

/**
 * Σ(o − y)² then ×½ (`half`: the seed's ½·Σ) or ÷count (the mean), as `mse` composes it: the sub, pow-2,
 * sum and scale kernels' arithmetic (each kernel set computes these elementwise ops exactly so), written
 * out as loops; a squared error is O(outputs), so it gains nothing from SIMD and costs a step of a tiny
 * network more in calls than in arithmetic.
 */
function squaredError(half: boolean): LossKernel<SquaredErrorBuffers> {
  return {
    buffers: (alloc, rows, cols) => ({ diff: alloc(rows * cols), sq: alloc(rows * cols), scalar: alloc(1) }),
    forward(_K, o, t, _rows, _cols, b) {
      const { diff, sq } = b;
      const n = diff.length;
      // Each value is stored and read back, so float32 rounds where the ops' outputs round; the sum is
      // the reference's of every element (a one-element result): in order, from 0.
      let total = 0;
      for (let i = 0; i < n; i++) {
        diff[i] = o[i] - t[i];
        const d = diff[i];
        sq[i] = d * d;
        total += sq[i];
      }
      const scalar = b.scalar;
      scalar[0] = total;
      scalar[0] = half ? scalar[0] * 0.5 : scalar[0] / n;
      return scalar[0];
    },
    backward(_K, seed, _o, _rows, _cols, b, g) {
      // The ×½ or ÷n op's backward, then the sum's (a copy to every element), then the square's (g·2·d).
      const { diff } = b;
      const n = diff.length;
      if (n === 0) return;
      // The scaled seed as the dtype stores it, as the gradient the sum spreads to every element.
      g[0] = half ? seed * 0.5 : seed / n;
      const gs = g[0];
      for (let i = 0; i < n; i++) g[i] = gs * 2 * diff[i];
    },
  };
}

/** ½·Σ(o − y)², the seed notebook's loss. */
export const SQUARED_ERROR_HALF_SUM = squaredError(true);

/** The mean of (o − y)² over every element. */
export const SQUARED_ERROR_MEAN = squaredError(false);

/**
 * Cross-entropy's scratch, one buffer per op of `losses.crossEntropy` on labels: row max m (non-finite →
 * 0), s = z − m, e = eˢ, S = Σe, log S, lse = log S + m, logp = z − lse, the labels' entries picked,
 * negated, summed, ÷ rows; and the gradient of each on the way back.
 */
export interface CrossEntropyBuffers {
  labels: Int32Array;
  max: Storage;
  shifted: Storage;
  exps: Storage;
  sums: Storage;
  logs: Storage;
  lse: Storage;
  logp: Storage;
  picked: Storage;
  negated: Storage;
  total: Storage;
  value: Storage;
  gValue: Storage;
  gNegated: Storage;
  gPicked: Storage;
  gNegLogp: Storage;
  gLse: Storage;
  gSums: Storage;
  gExps: Storage;
  gShifted: Storage;
  /** [rows, classes] against [rows, 1], and [rows, 1] against itself. */
  rowPlan: BroadcastPlan;
  colPlan: BroadcastPlan;
}

/**
 * Mean softmax cross-entropy of logits [rows, classes] against one class index per row: every op of
 * `losses.crossEntropy` (through logSoftmax, logSumExp, pick and mean) and of their backwards, with the
 * same kernels in the same order. The logits take two gradients (through z − lse and through z − m); as
 * in the graph, they are added.
 */
export const SOFTMAX_CROSS_ENTROPY: LossKernel<CrossEntropyBuffers> = {
  buffers: (a, m, c) => ({
    labels: new Int32Array(m),
    max: a(m),
    shifted: a(m * c),
    exps: a(m * c),
    sums: a(m),
    logs: a(m),
    lse: a(m),
    logp: a(m * c),
    picked: a(m),
    negated: a(m),
    total: a(1),
    value: a(1),
    gValue: a(1),
    gNegated: a(m),
    gPicked: a(m),
    gNegLogp: a(m * c),
    gLse: a(m),
    gSums: a(m),
    gExps: a(m * c),
    gShifted: a(m * c),
    rowPlan: broadcastPlan([m, c], [m, 1], 'sub'),
    colPlan: broadcastPlan([m, 1], [m, 1], 'add'),
  }),
  forward(K, z, t, m, c, l) {
    toIndex(t, m, c, 'crossEntropy', l.labels);
    K.reduce('max', z, [m, c], l.max, [m, 1]);
    const mx = l.max;
    for (let i = 0; i < m; i++) if (!Number.isFinite(mx[i])) mx[i] = 0;
    K.binary('sub', z, mx, l.shifted, l.rowPlan);
    K.unary('exp', l.shifted, l.exps, 0, 0);
    K.reduce('sum', l.exps, [m, c], l.sums, [m, 1]);
    K.unary('log', l.sums, l.logs, 0, 0);
    K.binary('add', l.logs, mx, l.lse, l.colPlan);
    K.binary('sub', z, l.lse, l.logp, l.rowPlan);
    K.gather(l.logp, c, l.labels, l.picked);
    K.unary('neg', l.picked, l.negated, 0, 0);
    K.reduce('sum', l.negated, [m], l.total, [1]);
    K.unary('divScalar', l.total, l.value, m, 0);
    return l.value[0];
  },
  backward(K, seed, _z, m, c, l, g) {
    l.gValue[0] = seed;
    K.unaryGrad('divScalar', l.total, l.value, l.gValue, l.gValue, m, 0);
    K.expand(l.gValue, [1], l.gNegated, [m]);
    K.unaryGrad('neg', l.picked, l.negated, l.gNegated, l.gPicked, 0, 0);
    g.fill(0);
    K.scatterAdd(l.gPicked, c, l.labels, g);
    K.unary('neg', g, l.gNegLogp, 0, 0);
    K.reduce('sum', l.gNegLogp, [m, c], l.gLse, [m, 1]);
    K.unaryGrad('log', l.sums, l.logs, l.gLse, l.gSums, 0, 0);
    K.expand(l.gSums, [m, 1], l.gExps, [m, c]);
    K.unaryGrad('exp', l.shifted, l.exps, l.gExps, l.gShifted, 0, 0);
    K.accumulate(g, l.gShifted);
  },
};
