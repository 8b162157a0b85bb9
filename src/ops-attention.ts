/**
 * Scaled dot-product attention as one graph node (PyTorch's `F.scaled_dot_product_attention` for heads
 * kept merged in the last axis): softmax(q·kᵀ/√D + causal bias)·v per head, forward in three kernel calls
 * (`Kernels.attentionScores`, the kernel set's exp, `attentionContext`) and backward in one
 * (`attentionBackward`). q, k and v are read where they lie — three [B, n, E] tensors, or column blocks of
 * one packed projection [B, L, 3E] — and the gradient is written straight into the input's layout, so the
 * composed path's split, per-head permutes and their copies back are gone. The arithmetic is the composed
 * path's, so in float64 the bits are too (`test/attention-op.test.ts`).
 */
import { packedScores } from './kernels/attention.js';
import { kernels } from './kernels/index.js';
import type { AttentionGeometry, Storage } from './kernels/types.js';
import { assertTensor, result } from './ops.js';
import { poolOf } from './ops-recurrent.js';
import { fmt } from './shape.js';
import { scratchStorage, type Tensor } from './tensor.js';

/** Options of {@link scaledDotProductAttention}. */
export interface AttentionOptions {
  /** Heads H: the last axis E splits into H blocks of D = E / H columns. */
  heads: number;
  /** Query i attends to keys j ≤ i only (default false). */
  isCausal?: boolean;
}

/** @internal One operand: E = H·D columns of a [B, n, width] tensor, from column `column`. */
export interface AttentionOperand {
  readonly tensor: Tensor;
  readonly column: number;
}

/**
 * softmax(q·kᵀ/√D (+ the causal mask))·v per head, for query [B, L, E], key and value [B, S, E] with
 * E = heads·D; returns [B, L, E] with the heads' outputs side by side (what an output projection takes).
 * q is divided by √D before the product (a division, as MultiheadAttention), masked scores are −∞.
 */
export function scaledDotProductAttention(
  query: Tensor,
  key: Tensor,
  value: Tensor,
  options: AttentionOptions,
): Tensor {
  const op = 'scaledDotProductAttention';
  assertTensor(query, op);
  const E = query.shape[query.ndim - 1];
  // Whole tensors here (column blocks of wider ones are attentionOfColumns' internal case).
  for (const [name, t] of [
    ['key', key],
    ['value', value],
  ] as const) {
    assertTensor(t, op);
    if (t.shape[t.ndim - 1] !== E)
      throw new Error(
        `${op}: ${name} has shape ${fmt(t.shape)}, expected [batch, S, ${E}] (the query's width)`,
      );
  }
  return attentionOfColumns(
    { tensor: query, column: 0 },
    { tensor: key, column: 0 },
    { tensor: value, column: 0 },
    E,
    options,
  );
}

/**
 * @internal {@link scaledDotProductAttention} of operands that are column blocks of [B, n, width] tensors,
 * E columns each: a packed self-attention projection [B, L, 3E] is q at 0, k at E, v at 2E of one tensor,
 * read in place and given one gradient in its own layout.
 */
export function attentionOfColumns(
  q: AttentionOperand,
  k: AttentionOperand,
  v: AttentionOperand,
  E: number,
  options: AttentionOptions,
): Tensor {
  const op = 'scaledDotProductAttention';
  for (const o of [q, k, v]) assertTensor(o.tensor, op);
  const H = options.heads;
  if (!Number.isInteger(H) || H < 1 || E % H !== 0)
    throw new RangeError(`${op}: embed width ${E} is not divisible by heads ${H}`);
  const qt = q.tensor;
  if (qt.ndim !== 3) throw new Error(`${op}: query has shape ${fmt(qt.shape)}, expected [batch, L, ${E}]`);
  const [B, L] = qt.shape;
  const S = k.tensor.shape[1];
  /** The operand's row stride, after checking its shape and type. */
  const strideOf = (o: AttentionOperand, name: string, rows: number) => {
    const t = o.tensor;
    if (t.ndim !== 3 || t.shape[0] !== B || t.shape[1] !== rows || o.column + E > t.shape[2])
      throw new Error(
        `${op}: ${name} has shape ${fmt(t.shape)}, expected [${B}, ${rows}, ${o.column === 0 ? E : `≥ ${o.column + E}`}]`,
      );
    if (t.dtype !== qt.dtype) throw new Error(`${op}: ${name} is ${t.dtype}, query ${qt.dtype}`);
    return t.shape[2];
  };
  const g: AttentionGeometry = {
    batch: B,
    heads: H,
    headDim: E / H,
    queries: L,
    keys: S,
    causal: options.isCausal ?? false,
    qOffset: q.column,
    qStride: strideOf(q, 'query', L),
    kOffset: k.column,
    kStride: strideOf(k, 'key', S),
    vOffset: v.column,
    vStride: strideOf(v, 'value', S),
  };
  const dtype = qt.dtype;
  const K = kernels();
  const pool = poolOf(K);
  pool.collect();
  const inputs: Tensor[] = [];
  for (const o of [q, k, v]) if (!inputs.includes(o.tensor)) inputs.push(o.tensor);
  // Where the kernel set has memory of its own, each input is copied into it once, and the kernels (the
  // backward's too) read it there instead of copying it in per call; the scores and probabilities live
  // there too, so exp and the kernels use them in place.
  // (A set with `alloc` may still hand out plain arrays, e.g. wasm on an unshared memory: then no copies.)
  // An input already there (tidy's scratch, a resident array) is read where it lies.
  const own = inputs.filter((t) => !inKernelMemory(t.data));
  let copies = K.alloc ? own.map((t) => pool.take(dtype, t.size)) : [];
  if (!copies.every(inKernelMemory)) {
    pool.give(copies);
    copies = [];
  }
  copies.forEach((c, i) => c.set(own[i].data));
  const data = (o: AttentionOperand) => {
    const i = copies.length ? own.indexOf(o.tensor) : -1;
    return i < 0 ? o.tensor.data : copies[i];
  };
  const scores = pool.take(dtype, B * H * packedScores(g));
  K.attentionScores(data(q), data(k), scores, g);
  K.unary('exp', scores, scores, 0, 0);
  const p = pool.take(dtype, B * H * L * S);
  const out = scratchStorage(dtype, B * L * E, true);
  K.attentionContext(scores, data(v), p, out, g);
  pool.give([scores]);
  const y = result(out, [B, L, E], op, inputs, (gOut: Storage) => {
    // One gradient per distinct input, each operand's columns written into it; an operand overlapping
    // another's columns of the same tensor (attention of x with itself, unprojected) gets its own
    // buffer, added afterwards.
    const grads = inputs.map((t) => (t.requiresGrad ? scratchStorage(dtype, t.size) : null));
    const extra: { into: Storage; from: Storage }[] = [];
    // Operands of a tensor that needs no gradient write into one scratch per tensor (the packed
    // projection's three blocks into one).
    const scratch = new Map<Tensor, Storage>();
    const target = (o: AttentionOperand, before: AttentionOperand[]): Storage => {
      const main = grads[inputs.indexOf(o.tensor)];
      if (main === null) {
        let s = scratch.get(o.tensor);
        if (!s) scratch.set(o.tensor, (s = scratchStorage(dtype, o.tensor.size)));
        return s;
      }
      if (!before.some((b) => b.tensor === o.tensor && Math.abs(b.column - o.column) < E)) return main;
      const own = scratchStorage(dtype, o.tensor.size);
      extra.push({ into: main, from: own });
      return own;
    };
    const gq = target(q, []);
    const gk = target(k, [q]);
    const gv = target(v, [q, k]);
    const kb = kernels();
    kb.attentionBackward(gOut, data(q), data(k), data(v), p, gq, gk, gv, g);
    for (const e of extra) kb.accumulate(e.into, e.from);
    return grads;
  });
  const node = y._node;
  if (node === null) pool.give([p, ...copies]);
  else pool.giveWhenReleased(node, [p, ...copies]);
  return y;
}

/** Whether `s` is a view into a larger buffer (the kernel set's memory), not an array of its own. */
function inKernelMemory(s: Storage): boolean {
  return s.buffer.byteLength !== s.byteLength;
}
