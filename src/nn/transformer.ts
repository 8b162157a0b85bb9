/**
 * A pre-norm transformer block and a small GPT (decoder-only language model), composed from the layers
 * chainrule has (LayerNorm, MultiheadAttention, Linear, GELU, Embedding, Dropout), so autograd gives the
 * backward. Field names are those of the tiny GPT in the PyTorch fixtures (`tok`, `pos`, `ln1`, `attn`,
 * `ln2`, `fc`, `proj`, `lnf`, `head`), so a state dict of that layout loads as it is; `Linear` weights are
 * chainrule's [in, out] (transpose PyTorch's [out, in]), the attention's are PyTorch's.
 */
import * as ops from '../ops.js';
import { defaultStream, type RandomState } from '../random.js';
import { fmt } from '../shape.js';
import { allocStorage, Tensor, type DType } from '../tensor.js';
import { MultiheadAttention } from './attention.js';
import { Dropout, GELU, Linear } from './layers.js';
import { Module } from './module.js';
import { LayerNorm } from './norm.js';
import { Embedding } from './recurrent.js';

/** Options of {@link TransformerBlock}. */
export interface TransformerBlockOptions {
  /** Width of the MLP's hidden layer (default 4·embedDim). */
  hidden?: number;
  /**
   * Dropout probability, in training mode, on the attention weights and on each branch's output before
   * it is added back (where nanoGPT puts it); default 0.
   */
  dropout?: number;
  /** Whether attention is causal: a position attends only to itself and earlier ones (default true). */
  causal?: boolean;
  /** Added to the variance in the layer norms (default 1e-5, PyTorch's). */
  eps?: number;
  /** Element type of the parameters (default float32). */
  dtype?: DType;
  /** Stream to draw the initial values and dropout masks from (default: the library's default stream). */
  rng?: RandomState;
}

/**
 * A pre-norm transformer block on [batch, sequence, embedDim]:
 * `x = x + drop(attn(ln1(x)))` with a causal mask, then `x = x + drop(proj(gelu(fc(ln2(x)))))` with
 * `fc` = Linear(E, 4E), `proj` = Linear(4E, E) and the exact (erf) GELU. Parameters start with PyTorch's
 * layer defaults; {@link GPT} re-initialises them GPT-2's way.
 */
export class TransformerBlock extends Module {
  /** LayerNorm before the attention. */
  ln1: LayerNorm;
  /** Causal self-attention (batch first). */
  attn: MultiheadAttention;
  /** LayerNorm before the MLP. */
  ln2: LayerNorm;
  /** The MLP's first layer, embedDim → hidden. */
  fc: Linear;
  /** The MLP's second layer, hidden → embedDim. */
  proj: Linear;
  /** GELU between `fc` and `proj`. */
  act: GELU;
  /** Dropout on the attention branch's output. */
  attnDrop: Dropout;
  /** Dropout on the MLP branch's output. */
  mlpDrop: Dropout;
  /** Whether the attention is causal. */
  readonly causal: boolean;

  constructor(
    readonly embedDim: number,
    readonly numHeads: number,
    options: TransformerBlockOptions = {},
  ) {
    super();
    const { dtype, rng } = options;
    const hidden = options.hidden ?? 4 * embedDim;
    const dropout = options.dropout ?? 0;
    this.causal = options.causal ?? true;
    this.ln1 = new LayerNorm(embedDim, { eps: options.eps, dtype });
    this.attn = new MultiheadAttention(embedDim, numHeads, { dropout, batchFirst: true, dtype, rng });
    this.ln2 = new LayerNorm(embedDim, { eps: options.eps, dtype });
    this.fc = new Linear(embedDim, hidden, { dtype, rng });
    this.proj = new Linear(hidden, embedDim, { dtype, rng });
    this.act = new GELU();
    this.attnDrop = new Dropout(dropout, { rng });
    this.mlpDrop = new Dropout(dropout, { rng });
  }

  /** [batch, sequence, embedDim] → the same shape. */
  forward(x: Tensor): Tensor {
    if (!(x instanceof Tensor) || x.ndim !== 3 || x.shape[2] !== this.embedDim)
      throw new Error(
        `TransformerBlock(${this.embedDim}): input has shape ${x instanceof Tensor ? fmt(x.shape) : typeof x}, expected [batch, sequence, ${this.embedDim}]`,
      );
    const h = this.ln1.forward(x);
    const a = this.attn.attend(h, h, h, { isCausal: this.causal, needWeights: false }).output;
    x = ops.add(x, this.attnDrop.forward(a));
    const m = this.proj.forward(this.act.forward(this.fc.forward(this.ln2.forward(x))));
    return ops.add(x, this.mlpDrop.forward(m));
  }

  override describe(): string {
    return `${this.embedDim}, heads: ${this.numHeads}${this.causal ? '' : ', causal: false'}`;
  }
}

/** Options of {@link GPT}. */
export interface GPTOptions {
  /** Number of tokens (rows of `tok`, outputs of `head`). */
  vocabSize: number;
  /** Longest sequence (rows of `pos`). */
  contextLength: number;
  /** Width of the residual stream. */
  embedDim: number;
  /** Attention heads per block (must divide embedDim). */
  numHeads: number;
  /** Transformer blocks (default 1). */
  numLayers?: number;
  /** Width of each block's MLP (default 4·embedDim). */
  hidden?: number;
  /** Dropout in training mode after the embeddings, on attention weights and on each branch (default 0). */
  dropout?: number;
  /**
   * Initial values: `'gpt2'` (default: weights N(0, 0.02), the branch outputs' `attn.out_proj` and `proj`
   * N(0, 0.02/√(2·numLayers)), biases 0, as GPT-2 and nanoGPT) or `'pytorch'` (each layer's own default).
   */
  init?: 'gpt2' | 'pytorch';
  /** Element type of the parameters (default float32). */
  dtype?: DType;
  /** Stream to draw the initial values and dropout masks from (default: the library's default stream). */
  rng?: RandomState;
}

/**
 * A decoder-only language model: `h = tok(idx) + pos(0…L−1)`, dropout, the blocks, then
 * `logits = head(lnf(h))`. `forward(idx)` takes token indices [batch, L] (or [L]) as a tensor of integers,
 * L ≤ contextLength, and gives logits [batch, L, vocabSize]. State keys: `tok.weight`, `pos.weight`,
 * `blocks.i.ln1.weight`, `blocks.i.attn.in_proj_weight`, …, `lnf.weight`, `head.weight` ([in, out]).
 */
export class GPT extends Module {
  /** Token embedding, [vocabSize, embedDim]. */
  tok: Embedding;
  /** Position embedding, [contextLength, embedDim]. */
  pos: Embedding;
  /** Dropout on the summed embeddings. */
  drop: Dropout;
  /** The transformer blocks, in order. */
  blocks: TransformerBlock[];
  /** The final LayerNorm. */
  lnf: LayerNorm;
  /** embedDim → vocabSize. */
  head: Linear;
  /** Number of tokens. */
  readonly vocabSize: number;
  /** Longest sequence. */
  readonly contextLength: number;
  /** Width of the residual stream. */
  readonly embedDim: number;
  /** Positions 0…contextLength−1, from which a forward takes the first L. */
  private readonly _positions: Tensor;

  constructor(options: GPTOptions) {
    super();
    const { vocabSize, contextLength, embedDim, numHeads, dtype } = options;
    const numLayers = options.numLayers ?? 1;
    for (const [name, v] of [
      ['vocabSize', vocabSize],
      ['contextLength', contextLength],
      ['embedDim', embedDim],
      ['numHeads', numHeads],
      ['numLayers', numLayers],
    ] as const)
      if (!Number.isInteger(v) || v < 1)
        throw new RangeError(`GPT: ${name} must be a positive integer, got ${v}`);
    const init = options.init ?? 'gpt2';
    if (init !== 'gpt2' && init !== 'pytorch')
      throw new RangeError(`GPT: init must be 'gpt2' or 'pytorch', got ${JSON.stringify(init)}`);
    const rng = options.rng ?? defaultStream;
    const dropout = options.dropout ?? 0;
    this.vocabSize = vocabSize;
    this.contextLength = contextLength;
    this.embedDim = embedDim;
    this.tok = new Embedding(vocabSize, embedDim, { dtype, rng });
    this.pos = new Embedding(contextLength, embedDim, { dtype, rng });
    this.drop = new Dropout(dropout, { rng });
    this.blocks = Array.from(
      { length: numLayers },
      () => new TransformerBlock(embedDim, numHeads, { hidden: options.hidden, dropout, dtype, rng }),
    );
    this.lnf = new LayerNorm(embedDim, { dtype });
    this.head = new Linear(embedDim, vocabSize, { dtype, rng });
    const positions = allocStorage('float64', contextLength);
    for (let i = 0; i < contextLength; i++) positions[i] = i;
    this._positions = new Tensor(positions, [contextLength]);
    if (init === 'gpt2') this.initGpt2(rng, numLayers);
  }

  /** GPT-2's initialisation: N(0, 0.02) weights, N(0, 0.02/√(2·layers)) into the residual, zero biases. */
  private initGpt2(rng: RandomState, numLayers: number): void {
    const normal = (t: Tensor, std: number) => rng.fillNormal(t.data, 0, std);
    const zero = (t: Tensor | null) => t?.data.fill(0);
    const residual = 0.02 / Math.sqrt(2 * numLayers);
    normal(this.tok.weight, 0.02);
    normal(this.pos.weight, 0.02);
    for (const b of this.blocks) {
      normal(b.attn.in_proj_weight, 0.02);
      zero(b.attn.in_proj_bias);
      normal(b.attn.out_proj.weight, residual);
      zero(b.attn.out_proj.bias);
      normal(b.fc.weight, 0.02);
      zero(b.fc.bias);
      normal(b.proj.weight, residual);
      zero(b.proj.bias);
    }
    normal(this.head.weight, 0.02);
    zero(this.head.bias);
  }

  /** Token indices [batch, L] or [L] (integers < vocabSize, L ≤ contextLength) → logits [..., L, vocabSize]. */
  forward(idx: Tensor): Tensor {
    if (!(idx instanceof Tensor) || (idx.ndim !== 1 && idx.ndim !== 2))
      throw new Error(
        `GPT: input has shape ${idx instanceof Tensor ? fmt(idx.shape) : typeof idx}, expected token indices [batch, sequence] or [sequence]`,
      );
    const L = idx.shape[idx.ndim - 1];
    if (L < 1 || L > this.contextLength)
      throw new Error(`GPT: sequence length ${L} is outside 1…${this.contextLength} (the context length)`);
    const unbatched = idx.ndim === 1;
    const tokens = unbatched ? ops.reshape(idx, [1, L]) : idx;
    const positions =
      L === this.contextLength ? this._positions : new Tensor(this._positions.data.subarray(0, L), [L]);
    // tok [B, L, E] + pos [L, E]: a row broadcast (one pass in the kernels, the `rowB` plan).
    let h = this.drop.forward(ops.add(this.tok.forward(tokens), this.pos.forward(positions)));
    for (const block of this.blocks) h = block.forward(h);
    const logits = this.head.forward(this.lnf.forward(h));
    return unbatched ? ops.reshape(logits, [L, this.vocabSize]) : logits;
  }

  override describe(): string {
    return (
      `vocab: ${this.vocabSize}, context: ${this.contextLength}, embed: ${this.embedDim}, ` +
      `heads: ${this.blocks[0]?.numHeads}, blocks: ${this.blocks.length}`
    );
  }
}
