/**
 * Multi-head attention with PyTorch's parameters, state-dict keys and layouts (`in_proj_weight` [3E, E] =
 * the q, k and v rows, `in_proj_bias`, `out_proj.weight` [E, E] as [out, in]). The arithmetic follows
 * PyTorch 1.13's `multi_head_attention_forward`: q scaled by 1/√headDim (a division) before the product
 * with kᵀ, masks as −∞, softmax, dropout on the weights in training, the product with v, the output
 * projection. Without weights to return, masks other than the causal one, or dropout (the GPT's blocks),
 * the part from the projections to the merged heads is one fused op (`ops-attention.ts`) that reads q, k,
 * v in place and gives the composed form's bits in float64; otherwise it is composed from ops.
 */
import * as ops from '../ops.js';
import { attentionOfColumns, type AttentionOperand } from '../ops-attention.js';
import { maskedFill, narrow, split, swapAxes } from '../ops-indexing.js';
import { defaultStream, type RandomState } from '../random.js';
import { fmt } from '../shape.js';
import { allocStorage, Tensor, type DType } from '../tensor.js';
import { Dropout } from './layers.js';
import { Module } from './module.js';

/**
 * y = x·Wᵀ + b with `weight` stored [out, in] (PyTorch's layout, unlike `Linear`'s [in, out]):
 * `MultiheadAttention.out_proj`, so its state-dict entries are PyTorch's as they are.
 */
export class OutProjection extends Module {
  /** [outFeatures, inFeatures]. */
  weight: Tensor;
  /** [outFeatures], or null without bias. */
  bias: Tensor | null;

  constructor(weight: Tensor, bias: Tensor | null) {
    super();
    this.weight = weight;
    this.bias = bias;
  }

  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias);
  }
}

/** x·wᵀ + b, PyTorch's `F.linear` as one `linear` node (the product reads w transposed; no copy of wᵀ). */
function linear(x: Tensor, w: Tensor, b: Tensor | null): Tensor {
  return ops.linear(x, w, b, { transposed: true });
}

/** Options of {@link MultiheadAttention}. */
export interface MultiheadAttentionOptions {
  /** Dropout on the attention weights in training mode (default 0). */
  dropout?: number;
  /** Biases on the input and output projections (default true). */
  bias?: boolean;
  /** Inputs and output as [batch, sequence, embed] instead of [sequence, batch, embed] (default false). */
  batchFirst?: boolean;
  /** Element type of the parameters (default float32). */
  dtype?: DType;
  /** Stream to draw the initial values and dropout masks from (default: the library's default stream). */
  rng?: RandomState;
}

/** Options of one {@link MultiheadAttention.attend} call. */
export interface AttendOptions {
  /**
   * Positions a query may not attend to, non-zero = blocked (PyTorch's boolean `attn_mask`):
   * [target, source], or [batch·heads, target, source]. `triu(ones([t, t]), 1)` is the causal mask.
   */
  attnMask?: Tensor | null;
  /** Added to the scaled scores before the softmax (PyTorch's float `attn_mask`); −Infinity blocks. */
  attnBias?: Tensor | null;
  /** Keys to ignore, non-zero = padding (PyTorch's boolean `key_padding_mask`): [batch, source] or [source]. */
  keyPaddingMask?: Tensor | null;
  /** Block every query from later positions (the causal mask, built here). */
  isCausal?: boolean;
  /** Return the attention weights (default true). */
  needWeights?: boolean;
  /** Average the returned weights over heads (default true, as PyTorch); else per head. */
  averageAttnWeights?: boolean;
}

/** What {@link MultiheadAttention.attend} returns. */
export interface AttendResult {
  /** [target, batch, embed] ([batch, target, embed] with `batchFirst`; [target, embed] unbatched). */
  output: Tensor;
  /**
   * The attention weights after dropout, [batch, target, source] averaged over heads or
   * [batch, heads, target, source]; null when not asked for.
   */
  weights: Tensor | null;
}

/**
 * PyTorch's `nn.MultiheadAttention` (key and value width = embedDim): `in_proj_weight` [3E, E] Xavier
 * uniform, `in_proj_bias` zeros, `out_proj` with weight [E, E] U(±1/√E) and zero bias. `forward(x)` is
 * self-attention without a mask; `attend` takes query, key, value and masks and returns the weights too.
 */
export class MultiheadAttention extends Module {
  /** Shape [3·embedDim, embedDim]: the q, k and v projections' rows. */
  in_proj_weight: Tensor;
  /** [3·embedDim], or null without bias. */
  in_proj_bias: Tensor | null;
  /** The output projection, weight [embedDim, embedDim] as [out, in]. */
  out_proj: OutProjection;
  /** Width of each head: embedDim / numHeads. */
  readonly headDim: number;
  /** Dropout on the attention weights, in training mode. */
  readonly dropout: number;
  /** Whether inputs and output are [batch, sequence, embed]. */
  readonly batchFirst: boolean;
  private readonly _drop: Dropout;

  constructor(
    readonly embedDim: number,
    readonly numHeads: number,
    options: MultiheadAttentionOptions = {},
  ) {
    super();
    for (const [name, v] of [
      ['embedDim', embedDim],
      ['numHeads', numHeads],
    ] as const)
      if (!Number.isInteger(v) || v < 1)
        throw new RangeError(`MultiheadAttention: ${name} must be a positive integer, got ${v}`);
    if (embedDim % numHeads !== 0)
      throw new RangeError(
        `MultiheadAttention: embedDim ${embedDim} is not divisible by numHeads ${numHeads}`,
      );
    const dropout = options.dropout ?? 0;
    if (!(dropout >= 0 && dropout <= 1))
      throw new RangeError(`MultiheadAttention: dropout must be in [0, 1], got ${dropout}`);
    this.headDim = embedDim / numHeads;
    this.dropout = dropout;
    this.batchFirst = options.batchFirst ?? false;
    const rng = options.rng ?? defaultStream;
    this._drop = new Dropout(dropout, { rng });
    const dtype = options.dtype ?? 'float32';
    const bias = options.bias ?? true;
    const E = embedDim;
    const w = allocStorage(dtype, 3 * E * E);
    // Xavier uniform over the packed [3E, E] matrix, as PyTorch: fanIn E, fanOut 3E.
    const xb = Math.sqrt(6 / (E + 3 * E));
    rng.fillUniform(w, -xb, xb);
    this.in_proj_weight = new Tensor(w, [3 * E, E], true);
    this.in_proj_bias = bias ? new Tensor(allocStorage(dtype, 3 * E), [3 * E], true) : null;
    const ow = allocStorage(dtype, E * E);
    rng.fillUniform(ow, -1 / Math.sqrt(E), 1 / Math.sqrt(E));
    this.out_proj = new OutProjection(
      new Tensor(ow, [E, E], true),
      bias ? new Tensor(allocStorage(dtype, E), [E], true) : null,
    );
  }

  /** Self-attention of `x` without a mask: the output only. */
  forward(x: Tensor): Tensor {
    return this.attend(x, x, x, { needWeights: false }).output;
  }

  /**
   * Attention of `query` [target, batch, E] over `key` and `value` [source, batch, E] (batch first with
   * `batchFirst`; no batch axis for unbatched 2-D inputs), with optional masks: PyTorch's
   * `forward(query, key, value, key_padding_mask, need_weights, attn_mask, average_attn_weights)`.
   */
  attend(query: Tensor, key: Tensor, value: Tensor, options: AttendOptions = {}): AttendResult {
    const E = this.embedDim;
    const heads = this.numHeads;
    const D = this.headDim;
    for (const [name, t] of [
      ['query', query],
      ['key', key],
      ['value', value],
    ] as const)
      if (!(t instanceof Tensor) || (t.ndim !== 2 && t.ndim !== 3) || t.shape[t.ndim - 1] !== E)
        throw new Error(
          `MultiheadAttention(${E}, ${heads}): ${name} has shape ${t instanceof Tensor ? fmt(t.shape) : typeof t}, expected [sequence, batch, ${E}]${this.batchFirst ? ' transposed (batchFirst)' : ''} or [sequence, ${E}]`,
        );
    const unbatched = query.ndim === 2;
    if (key.ndim !== query.ndim || value.ndim !== query.ndim)
      throw new Error('MultiheadAttention: query, key and value must all be batched or all unbatched');
    // To [batch, sequence, E].
    const toBatchFirst = (t: Tensor): Tensor =>
      unbatched ? ops.reshape(t, [1, ...t.shape]) : this.batchFirst ? t : swapAxes(t, 0, 1);
    const qIn = toBatchFirst(query);
    const kIn = key === query ? qIn : toBatchFirst(key);
    const vIn = value === key ? kIn : toBatchFirst(value);
    const [B, L] = qIn.shape;
    const S = kIn.shape[1];
    if (kIn.shape[0] !== B || vIn.shape[0] !== B || vIn.shape[1] !== S)
      throw new Error(
        `MultiheadAttention: query ${fmt(query.shape)}, key ${fmt(key.shape)} and value ${fmt(value.shape)} disagree in batch or source length`,
      );

    // The projections as PyTorch's in_projection_packed: one product when q, k, v are one tensor.
    const W = this.in_proj_weight;
    const b = this.in_proj_bias;
    const rows = (start: number, n: number) => ({
      w: narrow(W, 0, start, n),
      b: b && narrow(b, 0, start, n),
    });
    // The projections as column blocks: q, k, v are E columns each of one or two products' outputs.
    let cq: AttentionOperand;
    let ck: AttentionOperand;
    let cv: AttentionOperand;
    if (query === key && key === value) {
      const qkv = linear(qIn, W, b);
      [cq, ck, cv] = [0, E, 2 * E].map((column) => ({ tensor: qkv, column }));
    } else {
      const pq = rows(0, E);
      cq = { tensor: linear(qIn, pq.w, pq.b), column: 0 };
      if (key === value) {
        const pkv = rows(E, 2 * E);
        const kv = linear(kIn, pkv.w, pkv.b);
        [ck, cv] = [0, E].map((column) => ({ tensor: kv, column }));
      } else {
        const pk = rows(E, E);
        const pv = rows(2 * E, E);
        ck = { tensor: linear(kIn, pk.w, pk.b), column: 0 };
        cv = { tensor: linear(vIn, pv.w, pv.b), column: 0 };
      }
    }
    const needWeights = options.needWeights ?? true;
    const dropping = this.training && this.dropout > 0;
    if (!needWeights && !dropping && !options.attnMask && !options.attnBias && !options.keyPaddingMask) {
      // The cases the fused op covers (the GPT's blocks): one graph node from the projections to the
      // merged heads, read in place, with the composed path's arithmetic (and in float64 its bits).
      const ctx = attentionOfColumns(cq, ck, cv, E, { heads, isCausal: options.isCausal ?? false });
      return { output: this.finish(ctx, B, L, unbatched), weights: null };
    }
    const columns = (c: AttentionOperand) =>
      c.column === 0 && c.tensor.shape[2] === E ? c.tensor : narrow(c.tensor, 2, c.column, E);
    const [q, k, v] =
      cq.tensor === ck.tensor && ck.tensor === cv.tensor
        ? split(cq.tensor, E, 2)
        : ck.tensor === cv.tensor
          ? [columns(cq), ...split(ck.tensor, E, 2)]
          : [cq, ck, cv].map(columns);
    // [B, seq, E] → [B, heads, seq, D].
    const byHead = (t: Tensor, n: number) => swapAxes(ops.reshape(t, [B, n, heads, D]), 1, 2);
    const qh = ops.div(byHead(q, L), Math.sqrt(D));
    let scores = ops.matmulTransposed(qh, byHead(k, S)); // q·kᵀ: [B, heads, L, S]
    scores = this.masked(scores, options, B, L, S, unbatched);
    let weights = ops.softmax(scores, -1);
    if (this.training && this.dropout > 0) {
      this._drop.training = true;
      weights = this._drop.forward(weights);
    }
    const ctx = ops.matmul(weights, byHead(v, S)); // [B, heads, L, D]
    const out = this.finish(ops.reshape(swapAxes(ctx, 1, 2), [B, L, E]), B, L, unbatched);
    let w: Tensor | null = null;
    if (needWeights) {
      w = (options.averageAttnWeights ?? true) ? ops.div(ops.sum(weights, 1), heads) : weights;
      if (unbatched) w = ops.reshape(w, w.shape.slice(1));
    }
    return { output: out, weights: w };
  }

  /** The output projection of the merged heads [B, L, E], in the caller's layout. */
  private finish(ctx: Tensor, B: number, L: number, unbatched: boolean): Tensor {
    const out = this.out_proj.forward(ctx);
    return unbatched ? ops.reshape(out, [L, this.embedDim]) : this.batchFirst ? out : swapAxes(out, 0, 1);
  }

  /** The scores with every mask applied: blocked positions −∞, an additive bias added. */
  private masked(
    scores: Tensor,
    o: AttendOptions,
    B: number,
    L: number,
    S: number,
    unbatched: boolean,
  ): Tensor {
    const heads = this.numHeads;
    const check = (t: Tensor, name: string, shapes: number[][]): Tensor => {
      if (
        !(t instanceof Tensor) ||
        !shapes.some((s) => s.length === t.ndim && s.every((d, i) => d === t.shape[i]))
      )
        throw new Error(
          `MultiheadAttention: ${name} has shape ${t instanceof Tensor ? fmt(t.shape) : typeof t}, expected ${shapes.map(fmt).join(' or ')}`,
        );
      return t.ndim === 3 ? ops.reshape(t, [B, heads, L, S]) : t;
    };
    if (o.isCausal) {
      // PyTorch's own way with a boolean mask: −∞ added where blocked; [B, heads, L, S] + [L, S] is a row
      // broadcast (one pass in the kernels, the `rowB` plan).
      scores = ops.add(scores, causalBias(L, S, scores.dtype));
    }
    if (o.attnMask)
      scores = maskedFill(
        scores,
        check(o.attnMask, 'attnMask', [
          [L, S],
          [B * heads, L, S],
        ]),
        -Infinity,
      );
    if (o.attnBias)
      scores = ops.add(
        scores,
        check(o.attnBias, 'attnBias', [
          [L, S],
          [B * heads, L, S],
        ]),
      );
    if (o.keyPaddingMask) {
      const kp = check(o.keyPaddingMask, 'keyPaddingMask', unbatched ? [[S]] : [[B, S]]);
      scores = maskedFill(scores, ops.reshape(kp, [B, 1, 1, S]), -Infinity);
    }
    return scores;
  }

  override describe(): string {
    return `${this.embedDim}, heads: ${this.numHeads}${this.dropout ? `, dropout: ${this.dropout}` : ''}${this.batchFirst ? ', batchFirst: true' : ''}`;
  }
}

/** −∞ where key position s lies after query position t (s > t), else 0: [L·S], made once per size and type. */
function causalBias(L: number, S: number, dtype: DType): Tensor {
  const key = `${L},${S},${dtype}`;
  let bias = causalBiases.get(key);
  if (!bias) {
    const data = allocStorage(dtype, L * S);
    for (let t = 0; t < L; t++) for (let s = t + 1; s < S; s++) data[t * S + s] = -Infinity;
    bias = new Tensor(data, [L, S]);
    causalBiases.set(key, bias);
  }
  return bias;
}

/** The causal biases made so far (a model uses one or two sizes; never a gradient, never written). */
const causalBiases = new Map<string, Tensor>();
