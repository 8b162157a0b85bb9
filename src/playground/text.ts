/**
 * The library side of the playground's Text page: a character-level language model (a small GPT or an
 * LSTM) trained step by step on a text, in float64, with what the page draws — samples, the attention
 * weights of every head and layer for a prompt, and the gradient that one step sends to each token's
 * embedding. Pure and browser-safe: the page's worker and the Node tests run this same code, so a URL's
 * run can be checked against Node bit for bit.
 */
import { noGrad } from '../autograd.js';
import {
  charCorpus,
  encodeText,
  fillWindows,
  randomStarts,
  sampleNext,
  tiledStarts,
  windowsAt,
  type CharCorpus,
} from '../data/text.js';
import { serializeModel, stringifyModelFile } from '../io/modelfile.js';
import type { OnnxTextPreprocessing } from '../io/onnx.js';
import { modelFileOnnx } from '../io/onnx-modelfile.js';
import { tensorsDigest } from '../io/sha256.js';
import * as losses from '../losses.js';
import { GPT } from '../nn/transformer.js';
import { fromSpec, recurrentLanguageModelSpec } from '../nn/spec.js';
import type { Module } from '../nn/module.js';
import { Sequential } from '../nn/layers.js';
import * as ops from '../ops.js';
import { narrow } from '../ops-indexing.js';
import { makeOptimizer } from '../optim/byname.js';
import type { Optimizer } from '../optim/optimizer.js';
import { RandomState } from '../random.js';
import { Tensor } from '../tensor.js';
import { Trainer } from '../train/index.js';

/** Which model the Text page trains. */
export type TextModelKind = 'gpt' | 'lstm';

/** Where the Text page's corpus comes from: the built-in names list, a pasted text, or a dropped file. */
export type TextCorpusKind = 'names' | 'pasted' | 'file';

/** Everything that decides a Text run (the page keeps it in the URL; the text itself travels apart). */
export interface TextConfig {
  corpus: TextCorpusKind;
  model: TextModelKind;
  /** Width of the embedding (the GPT's residual stream). */
  embed: number;
  /** Transformer blocks, or stacked LSTM layers. */
  layers: number;
  /** Attention heads per block (GPT; must divide embed). */
  heads: number;
  /** LSTM hidden width. */
  hidden: number;
  /** Characters per training window (the GPT's context length). */
  context: number;
  /** Adam's learning rate. */
  lr: number;
  /** Windows per step. */
  batch: number;
  seed: number;
}

/** The defaults: a 2-block GPT of width 32 with 4 heads on the names list. */
export const DEFAULT_TEXT_CONFIG: TextConfig = {
  corpus: 'names',
  model: 'gpt',
  embed: 32,
  layers: 2,
  heads: 4,
  hidden: 64,
  context: 16,
  lr: 0.005,
  batch: 32,
  seed: 1,
};

/** Bounds of the numeric settings (inclusive). */
export const TEXT_LIMITS = {
  embed: [4, 128],
  layers: [1, 4],
  heads: [1, 8],
  hidden: [4, 256],
  context: [2, 64],
  batch: [1, 256],
  lr: [1e-6, 1],
  seed: [0, 2 ** 32 - 1],
} as const satisfies Record<string, readonly [number, number]>;

/** A configuration the Text page cannot run; the message says which setting and why. */
export class TextConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TextConfigError';
  }
}

/** Check a configuration: every number in its bounds, heads dividing the width. */
export function checkTextConfig(c: TextConfig): TextConfig {
  if (c.model !== 'gpt' && c.model !== 'lstm')
    throw new TextConfigError(`model: expected 'gpt' or 'lstm', got ${JSON.stringify(c.model)}`);
  if (!['names', 'pasted', 'file'].includes(c.corpus))
    throw new TextConfigError(
      `corpus: expected 'names', 'pasted' or 'file', got ${JSON.stringify(c.corpus)}`,
    );
  for (const [key, [lo, hi]] of Object.entries(TEXT_LIMITS)) {
    const v = c[key as keyof typeof TEXT_LIMITS];
    const integer = key !== 'lr';
    if (typeof v !== 'number' || !(v >= lo && v <= hi) || (integer && !Number.isInteger(v)))
      throw new TextConfigError(
        `${key}: expected ${integer ? 'an integer' : 'a number'} in ${lo}…${hi}, got ${v}`,
      );
  }
  if (c.model === 'gpt' && c.embed % c.heads !== 0)
    throw new TextConfigError(`heads: ${c.heads} heads do not divide the width ${c.embed}`);
  return c;
}

/**
 * One step's record: the training batch's loss (null for step 0, the untrained model), and at step 0 and
 * every `VALIDATE_EVERY` steps the validation loss.
 */
export interface TextStats {
  step: number;
  loss: number | null;
  valLoss?: number;
}

/** Steps between validation losses (step 0 has one too). */
export const VALIDATE_EVERY = 25;

/** Most validation windows (spread evenly over the held-out last tenth of the text). */
const VALIDATION_WINDOWS = 64;

/** The attention of one head of one layer for a prompt: row t is query position t, column s key position s. */
export interface HeadAttention {
  /** softmax over s ≤ t of the scores, [L·L] row-major (0 above the diagonal: the causal mask). */
  weights: Float64Array;
  /** q_t·k_s/√d before the mask, [L·L]. */
  scores: Float64Array;
}

/** What the page draws for a prompt: the characters and, per layer, per head, the attention. */
export interface AttentionMaps {
  tokens: string[];
  /** Width of each head (d in q·k/√d). */
  headDim: number;
  layers: HeadAttention[][];
  /** The model's logits at each position, [L·vocab] (the same numbers `model.forward` gives). */
  logits: Float64Array;
}

/** The gradient one step sends to each position's token embedding, for the prompt as a training window. */
export interface EmbeddingGradients {
  /** The input characters (the prompt without its last one, which is only a target). */
  tokens: string[];
  /** The character each position predicts. */
  targets: string[];
  /** The mean cross-entropy of those predictions. */
  loss: number;
  /** ‖∂loss/∂e_t‖ per position. */
  norms: Float64Array;
  /** ∂loss/∂e_t, [positions·embed] row-major. */
  vectors: Float64Array;
  embed: number;
}

/** A Text run: the corpus, the model, its optimizer and the stream that draws the windows. */
export class TextRun {
  step = 0;
  readonly history: TextStats[] = [];
  readonly model: GPT | Sequential;
  readonly optimizer: Optimizer;
  private readonly rng: RandomState;
  /** The step's window starts and its batch, made once and refilled in place every step. */
  private readonly starts: Int32Array;
  private readonly batchX: Tensor;
  private readonly batchY: Tensor;
  private readonly trainer: Trainer;
  private readonly validation: { x: Tensor; y: Tensor } | null;

  constructor(
    readonly config: TextConfig,
    readonly corpus: CharCorpus,
  ) {
    checkTextConfig(config);
    const c = config;
    const V = corpus.vocab.chars.length;
    this.rng = new RandomState(c.seed);
    this.model =
      c.model === 'gpt'
        ? new GPT({
            vocabSize: V,
            contextLength: c.context,
            embedDim: c.embed,
            numHeads: c.heads,
            numLayers: c.layers,
            dtype: 'float64',
            rng: this.rng,
          })
        : fromSpec(recurrentLanguageModelSpec(V, { embed: c.embed, hidden: c.hidden, layers: c.layers }), {
            dtype: 'float64',
            rng: this.rng,
          });
    this.optimizer = makeOptimizer('adam', this.model.parameters(), c.lr);
    this.starts = new Int32Array(c.batch);
    this.batchX = new Tensor(new Float64Array(c.batch * c.context), [c.batch, c.context]);
    this.batchY = new Tensor(new Float64Array(c.batch * c.context), [c.batch, c.context]);
    // One Trainer over the batch tensors, refilled in place every step: its epoch of one whole batch is
    // the step (zero, forward, loss, divergence check, backward, Adam).
    this.trainer = new Trainer(
      this.model,
      { x: this.batchX, y: this.batchY, labels: false },
      {
        loss: (pred, target) => nextCharLoss(pred, target),
        optimizer: this.optimizer,
        batchSize: c.batch,
        shuffle: false,
        rng: this.rng,
        metrics: [],
        threshold: 0.5,
        fused: false,
        // Each step inside tidy: its next-character loss keeps nothing between steps, and the run keeps only numbers.
        tidy: true,
      },
    );
    const n = corpus.ids.length;
    const starts = tiledStarts(corpus.trainEnd, n, c.context, VALIDATION_WINDOWS);
    this.validation = starts.length > 0 ? windowsAt(corpus.ids, starts, c.context, 'float64') : null;
    const v = this.validationLoss();
    this.history.push(v === null ? { step: 0, loss: null } : { step: 0, loss: null, valLoss: v });
  }

  /** One training step on `batch` windows drawn from the training part; returns its record. */
  trainStep(): TextStats {
    const c = this.config;
    randomStarts(0, this.corpus.trainEnd, c.context, c.batch, this.rng, this.starts);
    fillWindows(this.corpus.ids, this.starts, c.context, this.batchX.data, this.batchY.data);
    const loss = this.trainer.epoch(this.step + 1) as number;
    this.step++;
    const stats: TextStats = { step: this.step, loss };
    if (this.step % VALIDATE_EVERY === 0) {
      const v = this.validationLoss();
      if (v !== null) stats.valLoss = v;
    }
    this.history.push(stats);
    return stats;
  }

  /** The mean next-character loss over the fixed validation windows (null when the text has none). */
  validationLoss(): number | null {
    const v = this.validation;
    if (!v) return null;
    return noGrad(() => nextCharLoss(this.model.forward(v.x), v.y).item());
  }

  /** Logits of the character after `ids` (the last `context` of them). */
  nextLogits(ids: readonly number[]): Float64Array {
    const window = ids.slice(Math.max(0, ids.length - this.config.context));
    const out = noGrad(() => this.model.forward(new Tensor(Float64Array.from(window), [1, window.length])));
    const V = this.corpus.vocab.chars.length;
    return out.data.subarray(out.size - V) as Float64Array;
  }

  /**
   * Text drawn from the model after `prompt` (default: a newline where the text has one), `length`
   * characters, from its own stream seeded by `seed` (the training stream is not touched).
   */
  sample(length: number, options: { seed: number; temperature?: number; prompt?: string }): string {
    const chars = this.corpus.vocab.chars;
    const start = options.prompt ?? (chars.includes('\n') ? '\n' : chars[0]);
    const ids = [...encodeText(this.corpus.vocab, start, 'the prompt')];
    const rng = new RandomState(options.seed);
    let out = '';
    for (let i = 0; i < length; i++) {
      const next = sampleNext(this.nextLogits(ids), { temperature: options.temperature ?? 1, rng });
      ids.push(next);
      out += chars[next];
    }
    return out;
  }

  /** The prompt as ids, at most `context` of them, refusing characters the text does not have. */
  private promptIds(prompt: string): number[] {
    const ids = [...encodeText(this.corpus.vocab, prompt, 'the prompt')];
    return ids.slice(Math.max(0, ids.length - this.config.context));
  }

  /**
   * The attention weights and scores of every head of every block for `prompt` (its last `context`
   * characters), from the blocks' own modules run step by step as `TransformerBlock.forward` runs them,
   * but asking the attention for its per-head weights. GPT only.
   */
  attention(prompt: string): AttentionMaps {
    const model = this.model;
    if (!(model instanceof GPT)) throw new TextConfigError('attention: only the GPT has attention');
    const ids = this.promptIds(prompt);
    const L = ids.length;
    const E = model.embedDim;
    const maps: HeadAttention[][] = [];
    const logits = noGrad(() => {
      let h = gptEmbed(model, ids);
      for (const block of model.blocks) {
        const a = block.ln1.forward(h);
        const r = block.attn.attend(a, a, a, { isCausal: true, averageAttnWeights: false });
        const heads = block.numHeads;
        const D = E / heads;
        // q and k as the attention projects them: rows 0…E−1 and E…2E−1 of in_proj.
        const W = block.attn.in_proj_weight;
        const b = block.attn.in_proj_bias;
        const proj = (from: number) => {
          const y = ops.matmul(a, ops.transpose(narrow(W, 0, from, E)));
          return (b ? ops.add(y, narrow(b, 0, from, E)) : y).data;
        };
        const q = proj(0);
        const k = proj(E);
        const w = (r.weights as Tensor).data; // [1, heads, L, L]
        const layer: HeadAttention[] = [];
        const scale = Math.sqrt(D);
        for (let hd = 0; hd < heads; hd++) {
          const scores = new Float64Array(L * L);
          for (let t = 0; t < L; t++)
            for (let s = 0; s < L; s++) {
              let dot = 0;
              for (let d = 0; d < D; d++) dot += (q[t * E + hd * D + d] / scale) * k[s * E + hd * D + d];
              scores[t * L + s] = dot;
            }
          layer.push({ weights: Float64Array.from(w.subarray(hd * L * L, (hd + 1) * L * L)), scores });
        }
        maps.push(layer);
        h = ops.add(h, r.output);
        h = ops.add(h, block.proj.forward(block.act.forward(block.fc.forward(block.ln2.forward(h)))));
      }
      return model.head.forward(model.lnf.forward(h)).data;
    });
    const chars = this.corpus.vocab.chars;
    return {
      tokens: ids.map((i) => chars[i]),
      headDim: E / model.blocks[0].numHeads,
      layers: maps,
      logits: Float64Array.from(logits),
    };
  }

  /**
   * The gradient of one training step's loss — `prompt` as a window: each character predicts the next —
   * with respect to each position's token embedding (the output of the embedding table, before the
   * position is added). The weights and the optimizer are not changed; the parameters' gradients are
   * zeroed after.
   */
  embeddingGradients(prompt: string): EmbeddingGradients {
    // A window of context characters plus the last one's target.
    const ids = [...encodeText(this.corpus.vocab, prompt, 'the prompt')].slice(-(this.config.context + 1));
    if (ids.length < 2) throw new TextConfigError('the prompt needs at least two characters');
    const input = ids.slice(0, -1);
    const target = ids.slice(1);
    const L = input.length;
    const model = this.model;
    const x = new Tensor(Float64Array.from(input), [1, L]);
    let e: Tensor;
    let logits: Tensor;
    if (model instanceof GPT) {
      e = model.tok.forward(x);
      e.retainGrad();
      let h = ops.add(e, model.pos.forward(positions(L)));
      for (const block of model.blocks) h = block.forward(h);
      logits = model.head.forward(model.lnf.forward(h));
    } else {
      const [embedding, ...rest] = model.layers;
      e = embedding.forward(x);
      e.retainGrad();
      logits = rest.reduce((t: Tensor, m: Module) => m.forward(t), e);
    }
    const loss = nextCharLoss(logits, new Tensor(Float64Array.from(target), [1, L]));
    loss.backward();
    const g = (e.grad as Tensor).data;
    this.optimizer.zeroGrad();
    const E = this.config.embed;
    const norms = new Float64Array(L);
    for (let t = 0; t < L; t++) {
      let s = 0;
      for (let j = 0; j < E; j++) s += g[t * E + j] * g[t * E + j];
      norms[t] = Math.sqrt(s);
    }
    const chars = this.corpus.vocab.chars;
    return {
      tokens: input.map((i) => chars[i]),
      targets: target.map((i) => chars[i]),
      loss: loss.item(),
      norms,
      vectors: Float64Array.from(g),
      embed: E,
    };
  }

  /** SHA-256 of every parameter's float64 bytes in state-dict order: equal digests, equal weights. */
  parameterDigest(): string {
    return tensorsDigest(this.model.parameters());
  }

  /**
   * The model as a Sequential that model files describe: the LSTM's own, or the GPT as the one layer of a
   * Sequential (the form a `gpt` layer spec takes).
   */
  private exportable(): Sequential {
    return this.model instanceof GPT ? new Sequential(this.model) : this.model;
  }

  /** The text preprocessing a language-model file holds: the vocabulary and the context trained on. */
  private textPreprocessing(): OnnxTextPreprocessing {
    return { kind: 'text', vocab: this.corpus.vocab, context: this.config.context };
  }

  /**
   * The model as a chainrule model file that `chainrule generate` reads (and `chainrule export` turns
   * into ONNX): its vocabulary and context as text preprocessing, the GPT as a `gpt` layer.
   */
  toModelFile(): string {
    const file = serializeModel(this.exportable(), {
      task: 'classification',
      preprocessing: this.textPreprocessing(),
      training: { source: 'playground text', settings: this.config, steps: this.step },
    });
    return stringifyModelFile(file);
  }

  /**
   * The model as ONNX, as `chainrule export --onnx --float32` writes the model file of
   * {@link toModelFile}: input `ids` [batch, length] int64 (each character's index in the vocabulary),
   * output `logits` [batch, length, vocab]. The float64 weights are cast to float32, since onnxruntime
   * runs LSTM in float32 only (the GPT is cast too, so both give the same kind of file).
   */
  toOnnx(): Uint8Array {
    const chars = this.corpus.vocab.chars;
    return modelFileOnnx(this.exportable(), this.textPreprocessing(), {
      dtype: 'float32',
      docString:
        `chainrule playground (text) ${this.config.model} after ${this.step} steps; ` +
        `ids: indices in the vocabulary ${JSON.stringify(chars.join(''))}; logits: the next character's`,
    }).bytes;
  }
}

/** Positions 0…L−1 as a tensor of indices. */
function positions(L: number): Tensor {
  const p = new Float64Array(L);
  for (let i = 0; i < L; i++) p[i] = i;
  return new Tensor(p, [L]);
}

/** tok(ids) + pos(0…L−1), as `GPT.forward` adds them (no dropout: the page trains without). */
function gptEmbed(model: GPT, ids: readonly number[]): Tensor {
  const x = new Tensor(Float64Array.from(ids), [1, ids.length]);
  return ops.add(model.tok.forward(x), model.pos.forward(positions(ids.length)));
}

/** Mean cross-entropy of logits [N, T, V] against next ids [N, T]. */
export function nextCharLoss(pred: Tensor, target: Tensor): Tensor {
  const V = pred.shape[pred.ndim - 1];
  return losses.crossEntropy(ops.reshape(pred, [-1, V]), ops.reshape(target, [-1]));
}

/**
 * A Text run over `text`: the characters become a corpus (the last tenth held out for validation; the
 * built-in names list comes with its lines already shuffled, see `shuffleLines`), then the model is built
 * from the configuration's seed. Bad text or a text too short for the context throws
 * the corpus's `TextDataError`.
 */
export function createTextRun(config: TextConfig, text: string, source = 'the text'): TextRun {
  checkTextConfig(config);
  return new TextRun(config, charCorpus(text, config.context, 0.1, source));
}
