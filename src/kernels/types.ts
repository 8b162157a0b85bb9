/**
 * The kernel interface: flat typed arrays and shapes in, flat typed arrays out.
 *
 * Kernels know nothing of tensors or autograd. A faster kernel set (WebAssembly, threads) is a drop-in
 * replacement for the reference one behind this interface; `src/ops.ts` is the only caller.
 */

import type { UnaryOp } from './unary.js';

export type { UnaryOp };

/** A tensor's flat storage. */
export type Storage = Float32Array | Float64Array;

/** Elementwise binary operations, broadcast numpy-style. */
export type BinaryOp =
  | 'add'
  | 'sub'
  | 'mul'
  | 'div'
  | 'maximum'
  // Gradient mask of maximum(a, b) with respect to a: 1 where a > b, 0.5 on ties (as PyTorch), else 0.
  | 'maximumMaskA'
  // 1 where a === b, else 0: finds the arg-max positions for max's gradient.
  | 'eqMask';

/**
 * How two operands map onto a broadcast output: strides are element strides into each operand with 0 on
 * broadcast axes. `kind` names the fast paths a kernel may take (their strides are left empty): `same`
 * (equal shapes), `scalarA`/`scalarB` (one element on that side), `rowB` (a has the output's shape and b,
 * its leading 1s dropped, is the output's trailing axes: out[r·R + j] = op(a[r·R + j], b[j]) with R = b's
 * length, whatever the number of leading axes).
 */
export interface BroadcastPlan {
  readonly shape: readonly number[];
  readonly size: number;
  readonly aStrides: readonly number[];
  readonly bStrides: readonly number[];
  readonly kind: 'same' | 'scalarA' | 'scalarB' | 'rowB' | 'general';
}

/**
 * Where a sliding window reads NCHW data: a 2-D convolution or pooling (a 1-D one has inH = kH = 1).
 * Output row oh, window row kh reads input row oh·strideH − padH + kh·dilationH (columns alike); rows and
 * columns outside the input are zeros (padding). The padding after the last row follows from outH, so
 * asymmetric padding ('same' with an even kernel) needs no field of its own.
 */
export interface Window2d {
  /** N, the images in the batch. */
  readonly batch: number;
  /** Input channels; a pooling window's output has as many. */
  readonly channels: number;
  /** Input height. */
  readonly inH: number;
  /** Input width. */
  readonly inW: number;
  /** Output height. */
  readonly outH: number;
  /** Output width. */
  readonly outW: number;
  /** Window height. */
  readonly kH: number;
  /** Window width. */
  readonly kW: number;
  /** Rows between successive windows. */
  readonly strideH: number;
  /** Columns between successive windows. */
  readonly strideW: number;
  /** Zero rows before the first input row. */
  readonly padH: number;
  /** Zero columns before the first input column. */
  readonly padW: number;
  /** Rows between successive window taps (1: adjacent). */
  readonly dilationH: number;
  /** Columns between successive window taps (1: adjacent). */
  readonly dilationW: number;
}

/** A convolution's geometry: the window, the output channels and the groups (PyTorch's `groups`). */
export interface Conv2dGeometry extends Window2d {
  /** Output channels (a multiple of `groups`). */
  readonly outChannels: number;
  /** Channel groups: input and output channels split in this many, group g's outputs see its inputs only. */
  readonly groups: number;
}

/**
 * Where a normalization reads: x viewed as [outer, groups, inner]. Group j's elements are x[o, j, i] for
 * every o and i (count = outer·inner of them), normalized by the group's own mean and variance. BatchNorm
 * over [N, C, …positions] is outer N, groups C, inner the positions; LayerNorm over rows of D normalized
 * elements is outer 1, groups the rows, inner D.
 */
export interface NormGeometry {
  /** Blocks of groups (BatchNorm's images; 1 for LayerNorm). */
  readonly outer: number;
  /** The groups, each with its own statistics (BatchNorm's channels, LayerNorm's rows). */
  readonly groups: number;
  /** Consecutive elements of a group within one block (BatchNorm's positions, LayerNorm's row). */
  readonly inner: number;
  /**
   * What the scale and shift are indexed by: the group (BatchNorm: one per channel) or the inner position
   * (LayerNorm: one per normalized element).
   */
  readonly affine: 'group' | 'inner';
  /** Added to the variance under the square root. */
  readonly eps: number;
}

/**
 * One recurrent layer's buffers over a sequence of T steps, for the fused cells (`Kernels.cellForward`,
 * `cellBackward`; the reference loops and their order are `recurrent.ts`). G gate blocks (LSTM 4: i, f, g,
 * o; GRU 3: r, z, n) of `hidden` units; all arrays of one element type. The caller makes one object per
 * sequence and each step's hidden-to-hidden product (`hh`, `dhRec`) with matmul.
 */
export interface CellBuffers {
  /** Which cell. */
  readonly cell: 'lstm' | 'gru';
  /** Rows (the batch). */
  readonly rows: number;
  /** Hidden units. */
  readonly hidden: number;
  /** The input part of the gates, x·W_ihᵀ + b_ih, [T, rows, G·hidden]. */
  readonly pre: Storage;
  /** This step's h·W_hhᵀ, [rows, G·hidden]. */
  readonly hh: Storage;
  /** b_hh, [G·hidden] (zeros without bias). */
  readonly bias: Storage;
  /** What the backward reads, [T, rows, S·hidden] (LSTM S = 5: i, f, g, o, tanh c'; GRU S = 4: r, z, n, m). */
  readonly saved: Storage;
  /** h₀ (given), then each step's output: [T + 1, rows, hidden]. */
  readonly h: Storage;
  /** The LSTM's cell states, c₀ given, [T + 1, rows, hidden]; null for a GRU. */
  readonly c: Storage | null;
  /** Backward: [T, rows, hidden], the gradient of each step's output h. */
  gOut: Storage;
  /** Backward: [rows, hidden], the next step's gate gradients times W_hh (zeros at the last step). */
  dhRec: Storage;
  /** Backward: [rows, hidden], in and out: the LSTM's ∂L/∂c; the GRU's h gradient that skips the product. */
  carry: Storage;
  /** Backward: [T, rows, G·hidden], written: the gradient of `pre`. */
  dPre: Storage;
  /** Backward: [T, rows, G·hidden], written: the gradient of h·W_hhᵀ (GRU; for an LSTM, `dPre` itself). */
  dHh: Storage;
}

/**
 * Where fused scaled dot-product attention reads (`Kernels.attentionScores`, `attentionContext`,
 * `attentionBackward`; reference loops in `attention.ts`): B batches of L queries against S keys, H heads
 * of D columns. Each operand is a storage, an element offset and a row stride: query row i of batch b is
 * the E = H·D elements from qOffset + (b·L + i)·qStride, head h its columns h·D … (h + 1)·D (keys and
 * values alike, with S rows per batch). A packed self-attention projection [B, L, 3E] is one storage with
 * offsets 0, E, 2E and stride 3E; three [B, n, E] tensors have offset 0 and stride E.
 */
export interface AttentionGeometry {
  /** B. */
  readonly batch: number;
  /** H. */
  readonly heads: number;
  /** D, each head's width. */
  readonly headDim: number;
  /** L, query rows per batch. */
  readonly queries: number;
  /** S, key (and value) rows per batch. */
  readonly keys: number;
  /** Query i sees keys j ≤ i only (the causal mask); else every key. */
  readonly causal: boolean;
  /** Element offset of the queries' first row. */
  readonly qOffset: number;
  /** Elements between successive query rows. */
  readonly qStride: number;
  /** Element offset of the keys' first row. */
  readonly kOffset: number;
  /** Elements between successive key rows. */
  readonly kStride: number;
  /** Element offset of the values' first row. */
  readonly vOffset: number;
  /** Elements between successive value rows. */
  readonly vStride: number;
}

/** The operations every kernel set provides. */
export interface Kernels {
  /** Name for benchmarks and error messages. */
  readonly name: string;
  /**
   * Release what the set holds beyond memory (the WebAssembly set's worker threads). The set keeps
   * working afterwards, on the calling thread. Optional: the reference set holds nothing.
   */
  dispose?(): void;
  /**
   * Products of fewer multiply-adds (m·k·n) than this give exactly the reference kernel's bits (the set
   * hands them to it), so a caller may compute them with the reference's loops itself. Absent: no promise.
   */
  readonly referenceMatmulBelow?: number;
  /**
   * Elementwise ops, reductions, accumulations and optimizer updates on arrays of fewer elements than
   * this run in the reference kernels (the set hands them over), so a caller whose arrays are all that
   * short may call the reference set directly and save the dispatch. Absent: no promise.
   */
  readonly referenceElementsBelow?: number;
  /**
   * Zeroed storage for `n` elements that this set works on where it lies, without copying it in and out
   * (the WebAssembly set on a shared memory), or null where it has none: then any typed array will do.
   * It goes back to the set on `free`, or once garbage-collected. With `scratch` (tidy's blocks) it is
   * neither zeroed nor watched by the garbage collector: the caller fills it and promises to `free` it.
   */
  alloc?(dtype: 'float32' | 'float64', n: number, scratch?: boolean): Storage | null;
  /** Give back storage from `alloc` now (it must not be used again); anything else is ignored. */
  free?(storage: Storage): void;
  /** out[i] = op(x[i]). */
  unary(op: UnaryOp, x: Storage, out: Storage, p0: number, p1: number): void;
  /**
   * out[i] = g[i] · op'(x[i]) given the input x and the forward output y (whichever the derivative is
   * cheaper from).
   */
  unaryGrad(op: UnaryOp, x: Storage, y: Storage, g: Storage, out: Storage, p0: number, p1: number): void;
  /** out = op(a, b) over the plan's broadcast shape. */
  binary(op: BinaryOp, a: Storage, b: Storage, out: Storage, plan: BroadcastPlan): void;
  /**
   * Sum or max of `x` (shape `xShape`) down to `outShape`, which has the same rank with 1 on every reduced
   * axis.
   */
  reduce(
    op: 'sum' | 'max',
    x: Storage,
    xShape: readonly number[],
    out: Storage,
    outShape: readonly number[],
  ): void;
  /** Broadcast `x` (shape `xShape`, same rank as `outShape`, 1 on broadcast axes) to `outShape`. */
  expand(x: Storage, xShape: readonly number[], out: Storage, outShape: readonly number[]): void;
  /** Reorder the axes of `x`: out's axis i is x's axis perm[i]. */
  permute(x: Storage, xShape: readonly number[], perm: readonly number[], out: Storage): void;
  /**
   * One matrix product C = op(A)·op(B) of m×k by k×n, where op transposes when asked (A stored k×m, B
   * stored n×k). Offsets select one matrix of a batch. C is overwritten.
   */
  matmul(
    a: Storage,
    aOffset: number,
    b: Storage,
    bOffset: number,
    out: Storage,
    outOffset: number,
    m: number,
    k: number,
    n: number,
    transA: boolean,
    transB: boolean,
  ): void;
  /**
   * A batch of products: for each t < aOffsets.length, {@link Kernels.matmul} of A from aOffsets[t] and B
   * from bOffsets[t] into C from t·m·n, with the same bits as those calls one by one (a set may run the
   * batch as one call, and split it among threads by whole products).
   */
  matmulBatched(
    a: Storage,
    aOffsets: Int32Array,
    b: Storage,
    bOffsets: Int32Array,
    out: Storage,
    m: number,
    k: number,
    n: number,
    transA: boolean,
    transB: boolean,
  ): void;
  /**
   * A Linear layer's forward, out [rows, n] (overwritten) = x [rows, k]·op(W) + bias, op(W) = W ([k, n]) or
   * Wᵀ (W stored [n, k], `transW`), the bias [n] (or null) added to each row: exactly the bits of
   * {@link Kernels.matmul}, then {@link Kernels.binary}'s add (`linearComposed` in `linear.ts`, which the
   * reference set runs; the WebAssembly set keeps the product in its own memory between the two).
   */
  linear(
    x: Storage,
    w: Storage,
    bias: Storage | null,
    out: Storage,
    rows: number,
    k: number,
    n: number,
    transW: boolean,
  ): void;
  /**
   * The gradients of {@link Kernels.linear} given g [rows, n]: gx [rows, k] = g·op(W)ᵀ, gw (W's shape) =
   * xᵀ·g (or gᵀ·x when `transW`), gb [n] = g's column sums from zero in row order; each overwritten, and
   * skipped when null: exactly the bits of the two {@link Kernels.matmul} calls and {@link Kernels.reduce}
   * (`linearBackwardComposed` in `linear.ts`, which the reference set runs; the WebAssembly set copies g
   * in once for all three).
   */
  linearBackward(
    g: Storage,
    x: Storage,
    w: Storage,
    gx: Storage | null,
    gw: Storage | null,
    gb: Storage | null,
    rows: number,
    k: number,
    n: number,
    transW: boolean,
  ): void;
  /**
   * Cross-correlation of x [N, C, H, W] with w [CO, C/groups, kH, kW] (PyTorch's conv2d) into out
   * [N, CO, OH, OW], overwritten. Each output is one sum from zero over its group's (ci, kh, kw) in
   * row-major order, then + bias[co] when a bias is given. A tap in the padding reads zero and its product
   * w·0 is added, as im2col's zero columns give (the same sum for finite weights; NaN for infinite ones).
   */
  conv2d(x: Storage, w: Storage, bias: Storage | null, out: Storage, g: Conv2dGeometry): void;
  /**
   * The input gradient of {@link Kernels.conv2d}: gx [N, C, H, W] overwritten with zeros, then for each
   * image and group, for each (ci, kh, kw) in row-major order and each output position in row-major
   * order, t = Σ over the group's co ascending (from zero) of w[co, ci, kh, kw]·gOut[n, co, oh, ow] is
   * added to the input position the tap reads (taps in the padding dropped): col2im of Wᵀ·gOut.
   */
  conv2dInputGrad(gOut: Storage, w: Storage, gx: Storage, g: Conv2dGeometry): void;
  /**
   * The weight gradient of {@link Kernels.conv2d}: gw [CO, C/groups, kH, kW] overwritten, each entry one
   * sum from zero over images n, then output positions in row-major order, of gOut[n, co, oh, ow] times
   * the input the tap read (zero for a tap in the padding, as in the forward pass).
   */
  conv2dWeightGrad(x: Storage, gOut: Storage, gw: Storage, g: Conv2dGeometry): void;
  /**
   * Max pooling of x [N, C, H, W] into out [N, C, OH, OW]; argmax gets, per output, the winner's index
   * ih·W + iw within its (n, c) plane: the first maximum in the window's row-major order, or the last
   * NaN (which then is the output, as PyTorch). Taps in the padding never win (they are −∞); a window
   * wholly in the padding gives −∞ and argmax −1.
   */
  maxPool2d(x: Storage, out: Storage, argmax: Int32Array, g: Window2d): void;
  /** The input gradient of {@link Kernels.maxPool2d}: gx zeroed, then gx[plane + argmax] += gOut in order. */
  maxPool2dGrad(gOut: Storage, argmax: Int32Array, gx: Storage, g: Window2d): void;
  /**
   * Average pooling of x [N, C, H, W] into out [N, C, OH, OW] (dilation 1), PyTorch's divisor: the window
   * clipped to the padded input ([oh·sH − pH, min(oh·sH − pH + kH, H + pH))), or with `countIncludePad`
   * false the window clipped to the input itself. The sum runs from zero in row-major order, then ÷ divisor.
   */
  avgPool2d(x: Storage, out: Storage, g: Window2d, countIncludePad: boolean): void;
  /**
   * The input gradient of {@link Kernels.avgPool2d}: gx zeroed, then for each output in row-major order,
   * gOut ÷ divisor added to each input position of its window (row-major).
   */
  avgPool2dGrad(gOut: Storage, gx: Storage, g: Window2d, countIncludePad: boolean): void;
  /**
   * Each group's mean, Σ x ÷ count, and biased variance, Σ (x − mean)² ÷ count (see {@link NormGeometry});
   * each sum from zero over o, then i, in order.
   */
  moments(x: Storage, g: NormGeometry, mean: Storage, variance: Storage): void;
  /**
   * Normalize each group, with r = 1 / √(variance[j] + eps) for group j: by group (`g.affine`),
   * out = (x − mean[j])·(r·scale[j]) + shift[j]; by inner position, out = (x − mean[j])·r·scale[i] +
   * shift[i]. A null scale or shift is left out.
   */
  normalize(
    x: Storage,
    g: NormGeometry,
    mean: Storage,
    variance: Storage,
    scale: Storage | null,
    shift: Storage | null,
    out: Storage,
  ): void;
  /**
   * The gradients of {@link Kernels.normalize} given gOut. With x̂ = (x − mean)·r and ĝ = gOut·scale (gOut
   * without a scale): gx = r·ĝ when the statistics are fixed (running statistics), or with `batchStats`
   * (mean and variance are x's own, from `moments`) r·(ĝ − Σĝ ÷ count − (x − mean)·r·(Σĝx̂ ÷ count));
   * gScale = Σ gOut·x̂ and gShift = Σ gOut over the elements sharing each entry. Every sum runs from zero
   * in element order; by group, Σĝ = scale[j]·ΣgOut and Σĝx̂ = scale[j]·Σ gOut·x̂ (those plain sums being
   * gShift[j] and gScale[j]). Each output is overwritten, and skipped when null.
   */
  normalizeGrad(
    gOut: Storage,
    x: Storage,
    g: NormGeometry,
    mean: Storage,
    variance: Storage,
    scale: Storage | null,
    batchStats: boolean,
    gx: Storage | null,
    gScale: Storage | null,
    gShift: Storage | null,
  ): void;
  /** out[r] = x[r·cols + index[r]] for each row r. */
  gather(x: Storage, cols: number, index: Int32Array, out: Storage): void;
  /** out[r·cols + index[r]] += g[r] for each row r. */
  scatterAdd(g: Storage, cols: number, index: Int32Array, out: Storage): void;
  // Indexing (src/kernels/indexing.ts). An axis is addressed by viewing the data as [outer, n, inner]: n the
  // axis' size, outer and inner the products of the sizes before and after it.
  /**
   * Copy `rows` blocks of `cols` contiguous elements: out[outOffset + r·outStride + c] =
   * x[xOffset + r·xStride + c]. Concat, stack, narrow and their gradients are such copies.
   */
  copyBlocks(
    x: Storage,
    xOffset: number,
    xStride: number,
    out: Storage,
    outOffset: number,
    outStride: number,
    rows: number,
    cols: number,
  ): void;
  /** Rows along an axis: x [outer, n, inner], out [outer, m, inner] (m = index.length) = x[a, index[j], i]. */
  take(x: Storage, outer: number, n: number, inner: number, index: Int32Array, out: Storage): void;
  /**
   * The gradient of {@link Kernels.take}: out [outer, n, inner] += g [outer, m, inner] at row index[j], in
   * order of a, then j ascending, so repeated indices add up in a fixed order.
   */
  takeGrad(g: Storage, outer: number, n: number, inner: number, index: Int32Array, out: Storage): void;
  /** PyTorch's gather: x [outer, n, inner], index and out [outer, m, inner], out[a, j, i] = x[a, index[a, j, i], i]. */
  gatherAxis(
    x: Storage,
    outer: number,
    n: number,
    inner: number,
    index: Int32Array,
    m: number,
    out: Storage,
  ): void;
  /** PyTorch's scatter_add: out [outer, n, inner] at [a, index[a, j, i], i] += src[a, j, i], in row-major order. */
  scatterAddAxis(
    src: Storage,
    outer: number,
    n: number,
    inner: number,
    index: Int32Array,
    m: number,
    out: Storage,
  ): void;
  /** out[i] = cond[i] ≠ 0 ? a[i] : b[i], all of one length (where). */
  select(cond: Storage, a: Storage, b: Storage, out: Storage): void;
  /**
   * Positions of the k largest along the axis of x [outer, n, inner] into index [outer, k, inner], largest
   * first; NaN ranks above every number (as PyTorch), ties go to the lower position.
   */
  topK(x: Storage, outer: number, n: number, inner: number, k: number, index: Int32Array): void;
  /** Step t of a fused recurrent cell forward: reads `pre`, `hh`, `bias`, h and c at t; writes `saved` at t, h and c at t + 1. */
  cellForward(b: CellBuffers, t: number): void;
  /** Step t of a fused recurrent cell backward: reads `gOut`, `dhRec`, `carry`; writes `dPre` (and `dHh`) at t and `carry`. */
  cellBackward(b: CellBuffers, t: number): void;
  /**
   * Attention's scores into `s`, overwritten: per (batch, head), qs = q ÷ √D (a division, stored in q's
   * type), then for each query row i and each key j it sees (see {@link AttentionGeometry})
   * x = Σ_d qs[i, d]·k[j, d] from zero in d order (a product's sum, stored); then m = the row's max of the
   * stored x (0 when not finite) and s = x − m. Only the keys a row sees are stored, row after row, pair
   * after pair (`packedScores` in `attention.ts` per pair: L·S, or Σᵢ min(i + 1, S) causal, L(L + 1)/2 when L = S), so the exp that
   * follows (the kernel set's `unary('exp')`, in place) skips the masked half. With
   * {@link Kernels.attentionContext} that is ops.softmax of q·kᵀ/√D + the causal bias (−∞ where masked).
   */
  attentionScores(q: Storage, k: Storage, s: Storage, g: AttentionGeometry): void;
  /**
   * The softmax's end and the product with v: P [B, H, L, S] (overwritten) = each packed row of
   * exponentials `e` divided by its sum (a double, from zero in j order), 0 where masked; then out
   * [B, L, H·D] (heads merged, overwritten) = P·v per head, each sum from zero in j order.
   */
  attentionContext(e: Storage, v: Storage, p: Storage, out: Storage, g: AttentionGeometry): void;
  /**
   * The gradients of attention given gOut [B, L, H·D] and the probabilities `p` from
   * {@link Kernels.attentionContext}, written (overwritten) at q's, k's and v's positions in gq, gk, gv
   * (which may be one storage, as q, k, v may, but never with overlapping column blocks: each block is
   * overwritten, not added to; callers give an overlapping operand a storage of its own): per (batch, head) dP = gOut·vᵀ (stored), then per row
   * dS = P·(dP − dot) with dot = Σ_j dP·P in a double, j ascending (ops.softmax's backward); dq = (dS·k,
   * stored) ÷ √D; dk = dSᵀ·(q ÷ √D); dv = Pᵀ·gOut. Each product's sum runs from zero in order over the
   * positions that are not masked (masked terms are ±0, which leave such a sum as it is).
   */
  attentionBackward(
    gOut: Storage,
    q: Storage,
    k: Storage,
    v: Storage,
    p: Storage,
    gq: Storage,
    gk: Storage,
    gv: Storage,
    g: AttentionGeometry,
  ): void;
  /** acc[i] += x[i]: gradient accumulation. */
  accumulate(acc: Storage, x: Storage): void;
  /**
   * One SGD update of `p` in place, in PyTorch's arithmetic: d = g (+ weightDecay·p when weightDecay ≠ 0);
   * with momentum, buf = d on the `first` step, else buf·momentum + (1 − dampening)·d, and d = buf (or
   * d + momentum·buf with `nesterov`); then p = p + (−lr)·d. `buf` is null when momentum is 0.
   */
  sgd(p: Storage, g: Storage, buf: Storage | null, h: Readonly<SgdHyper>): void;
  /**
   * One Adam update of `p` in place, in PyTorch's arithmetic: p = p·decay first (AdamW's decoupled decay;
   * 1 for none); g' = g (+ weightDecay·p when weightDecay ≠ 0, Adam's L2 term);
   * m = m·beta1 + (1 − beta1)·g'; v = v·beta2 + (1 − beta2)·g'·g'; s = v (or the running max `vmax` of v
   * with AMSGrad); then p = p + (−stepSize)·(m / (√s / bc2Sqrt + eps)).
   */
  adam(p: Storage, g: Storage, m: Storage, v: Storage, vmax: Storage | null, h: Readonly<AdamHyper>): void;
  /**
   * One RMSprop update of `p` in place, in PyTorch's arithmetic: g' = g (+ weightDecay·p);
   * sq = sq·alpha + (1 − alpha)·g'·g'; centered: ga = ga·alpha + (1 − alpha)·g' and
   * avg = √(sq − ga·ga) + eps, else avg = √sq + eps; with momentum, buf = buf·momentum + g'/avg and
   * p = p + (−lr)·buf, else p = p + (−lr)·(g'/avg). `ga` is null unless centered, `buf` null without
   * momentum.
   */
  rmsprop(
    p: Storage,
    g: Storage,
    sq: Storage,
    ga: Storage | null,
    buf: Storage | null,
    h: Readonly<RmspropHyper>,
  ): void;
  /**
   * One Adagrad update of `p` in place, in PyTorch's arithmetic: g' = g (+ weightDecay·p);
   * sum = sum + g'·g'; p = p + (−clr)·(g' / (√sum + eps)).
   */
  adagrad(p: Storage, g: Storage, sum: Storage, h: Readonly<AdagradHyper>): void;
}

// The optimizer kernels' hyper-parameters, one named object per call instead of a row of positional numbers
// (where swapping two of them would still compile). A kernel reads the fields during the call and keeps no
// reference: an optimizer passes the same object every step, its fields updated, so a step allocates nothing.

/** The hyper-parameters of one {@link Kernels.sgd} call. */
export interface SgdHyper {
  /** Learning rate: p = p + (−lr)·d. */
  lr: number;
  /** Momentum factor; 0 for plain SGD (then the kernel gets no buffer). */
  momentum: number;
  /** Damping of the new gradient in the momentum buffer: buf·momentum + (1 − dampening)·d. */
  dampening: number;
  /** L2 penalty added to the gradient: d = g + weightDecay·p (no term when 0). */
  weightDecay: number;
  /** Nesterov momentum: d = d + momentum·buf instead of d = buf. */
  nesterov: boolean;
  /** The momentum buffer's first step: buf = d, undamped, as PyTorch. */
  first: boolean;
}

/** The hyper-parameters of one {@link Kernels.adam} call (the bias corrections already worked out). */
export interface AdamHyper {
  /** The learning rate over the first moment's bias correction: lr / (1 − beta1ᵗ) at step t. */
  stepSize: number;
  /** Decay of the first moment (the mean of the gradient). */
  beta1: number;
  /** Decay of the second moment (the mean of the squared gradient). */
  beta2: number;
  /** The square root of the second moment's bias correction: √(1 − beta2ᵗ) at step t. */
  bc2Sqrt: number;
  /** Added to the denominator, after the bias correction. */
  eps: number;
  /** Adam's L2 term: g' = g + weightDecay·p (no term when 0; always 0 for AdamW, which uses `decay`). */
  weightDecay: number;
  /** AdamW's decoupled decay: p = p·decay before the update, 1 − lr·weightDecay; 1 for none. */
  decay: number;
}

/** The hyper-parameters of one {@link Kernels.rmsprop} call. */
export interface RmspropHyper {
  /** Learning rate: p = p + (−lr)·(g'/avg), or p + (−lr)·buf with momentum. */
  lr: number;
  /** Decay of the running averages: sq = sq·alpha + (1 − alpha)·g'·g'. */
  alpha: number;
  /** Added to the root of the average, outside the square root (PyTorch's RMSprop). */
  eps: number;
  /** L2 penalty added to the gradient: g' = g + weightDecay·p (no term when 0). */
  weightDecay: number;
  /** Momentum factor: buf = buf·momentum + g'/avg; the kernel gets a buffer only when it is above 0. */
  momentum: number;
}

/** The hyper-parameters of one {@link Kernels.adagrad} call. */
export interface AdagradHyper {
  /** The decayed learning rate: lr / (1 + (t − 1)·lrDecay) at step t. */
  clr: number;
  /** Added to the root of the sum, outside the square root (PyTorch's Adagrad). */
  eps: number;
  /** L2 penalty added to the gradient: g' = g + weightDecay·p (no term when 0). */
  weightDecay: number;
}
