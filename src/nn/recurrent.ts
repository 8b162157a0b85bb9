/**
 * Embeddings and recurrent layers with PyTorch's names, state-dict keys, layouts, gate orders and
 * defaults, so a PyTorch state dict loads as it is. Unlike `Linear` ([in, out], the seed notebook's
 * layout), these store PyTorch's layouts: `weight_ih_l0` is [gates·hidden, input].
 *
 * The input projection of all steps is one product before the loop. LSTM and GRU then run each layer and
 * direction as one fused graph node (`recurrentSequence`: per step one matmul and one gate kernel, forward
 * and backward); the RNN's steps are composed from ops (matmul, add, tanh or relu), and autograd gives
 * their backward.
 */
import * as ops from '../ops.js';
import { concat, embedding, indexSelect, narrow, stack, swapAxes, unbind } from '../ops-indexing.js';
import { recurrentSequence } from '../ops-recurrent.js';
import { defaultStream, type RandomState } from '../random.js';
import { fmt } from '../shape.js';
import { allocStorage, Tensor, type DType } from '../tensor.js';
import { Dropout } from './layers.js';
import { Module } from './module.js';

/** Options of {@link Embedding}. */
export interface EmbeddingOptions {
  /** A row initialised to zeros that gets no gradient (PyTorch's `padding_idx`); negative counts from the end. */
  paddingIdx?: number | null;
  /** Element type of the weight (default float32). */
  dtype?: DType;
  /** Stream to draw the initial values from (default: the library's default stream). */
  rng?: RandomState;
}

/**
 * A lookup table (PyTorch's `nn.Embedding`): `weight` [numEmbeddings, embeddingDim], initialised N(0, 1);
 * `forward(indices)` gives [...indices.shape, embeddingDim]. Indices are a tensor of integers.
 */
export class Embedding extends Module {
  /** [numEmbeddings, embeddingDim]. */
  weight: Tensor;
  /** The padding row (non-negative), or null. */
  readonly paddingIdx: number | null;

  constructor(
    readonly numEmbeddings: number,
    readonly embeddingDim: number,
    options: EmbeddingOptions = {},
  ) {
    super();
    positiveInt('Embedding', 'numEmbeddings', numEmbeddings);
    positiveInt('Embedding', 'embeddingDim', embeddingDim);
    const p = options.paddingIdx ?? null;
    if (p !== null && (!Number.isInteger(p) || p < -numEmbeddings || p >= numEmbeddings))
      throw new RangeError(`Embedding: paddingIdx ${p} is not a row of ${numEmbeddings}`);
    this.paddingIdx = p === null ? null : p < 0 ? p + numEmbeddings : p;
    const w = allocStorage(options.dtype ?? 'float32', numEmbeddings * embeddingDim);
    (options.rng ?? defaultStream).fillNormal(w, 0, 1);
    if (this.paddingIdx !== null)
      w.fill(0, this.paddingIdx * embeddingDim, (this.paddingIdx + 1) * embeddingDim);
    this.weight = new Tensor(w, [numEmbeddings, embeddingDim], true);
  }

  forward(indices: Tensor): Tensor {
    return embedding(indices, this.weight, { paddingIdx: this.paddingIdx });
  }

  override describe(): string {
    return `${this.numEmbeddings}, ${this.embeddingDim}${this.paddingIdx === null ? '' : `, paddingIdx: ${this.paddingIdx}`}`;
  }
}

function positiveInt(layer: string, name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1)
    throw new RangeError(`${layer}: ${name} must be a positive integer, got ${v}`);
}

/** Options shared by {@link RNN}, {@link LSTM} and {@link GRU} (PyTorch's, camel-cased). */
export interface RecurrentOptions {
  /** Stacked layers, each reading the previous one's output (default 1). */
  numLayers?: number;
  /** Biases `bias_ih` and `bias_hh` (default true). */
  bias?: boolean;
  /** Input and output as [batch, time, features] instead of [time, batch, features] (default false). */
  batchFirst?: boolean;
  /** Dropout on each layer's output except the last, in training mode (default 0). */
  dropout?: number;
  /** A second direction per layer reading the sequence backwards; outputs are concatenated (default false). */
  bidirectional?: boolean;
  /** Element type of the parameters (default float32). */
  dtype?: DType;
  /** Stream to draw the initial values (and the dropout masks) from (default: the library's default stream). */
  rng?: RandomState;
}

/** Options of {@link RNN}. */
export interface RNNOptions extends RecurrentOptions {
  /** The activation of the recurrence (default `'tanh'`). */
  nonlinearity?: 'tanh' | 'relu';
}

/**
 * Initial or final states: `h` [numLayers·directions, batch, hidden] (no batch axis for an unbatched input),
 * ordered layer by layer, forward direction first; `c` the same for an LSTM's cell state.
 */
export interface RecurrentState {
  /** Hidden state. */
  h: Tensor;
  /** Cell state (LSTM only). */
  c?: Tensor;
}

/** What {@link RecurrentBase.forwardWithState} returns. */
export interface RecurrentResult {
  /** The last layer's hidden state at every step: [time, batch, directions·hidden] (batch first if so built). */
  output: Tensor;
  /** The final hidden state of every layer and direction, [numLayers·directions, batch, hidden]. */
  h: Tensor;
  /** The final cell state (LSTM), shaped as `h`; null for RNN and GRU. */
  c: Tensor | null;
}

/** The four tensors of one layer and direction. */
export interface CellParameters {
  /** [gates·hidden, input] (input: the layer's input width). */
  weightIh: Tensor;
  /** [gates·hidden, hidden]. */
  weightHh: Tensor;
  /** [gates·hidden], or null without bias. */
  biasIh: Tensor | null;
  /** [gates·hidden], or null without bias. */
  biasHh: Tensor | null;
}

/** One step: the input part of the gates (bias included) and the hidden part, to the new h (and c). */
type Cell = (xi: Tensor, hh: Tensor, h: Tensor, c: Tensor | null) => { h: Tensor; c: Tensor | null };

/**
 * The recurrent layers' shared body (PyTorch's `RNNBase`): parameters `weight_ih_l{k}`, `weight_hh_l{k}`,
 * `bias_ih_l{k}`, `bias_hh_l{k}` (suffix `_reverse` for the backward direction) in PyTorch's order and
 * layouts, all initialised U(±1/√hidden) in that order; the layers, directions and time loop.
 */
export abstract class RecurrentBase extends Module {
  /** Features per input step. */
  readonly inputSize: number;
  /** Features of the hidden state. */
  readonly hiddenSize: number;
  /** Stacked layers. */
  readonly numLayers: number;
  /** Whether there are biases. */
  readonly bias: boolean;
  /** Whether input and output are [batch, time, features]. */
  readonly batchFirst: boolean;
  /** Dropout between layers, in training mode. */
  readonly dropout: number;
  /** Whether each layer also runs backwards. */
  readonly bidirectional: boolean;
  private readonly _suffixes: string[] = [];
  private readonly _drop: Dropout;

  /** @param gates gate blocks stacked in the weights: 1 (RNN), 4 (LSTM), 3 (GRU). */
  protected constructor(
    readonly mode: 'RNN_TANH' | 'RNN_RELU' | 'LSTM' | 'GRU',
    gates: number,
    inputSize: number,
    hiddenSize: number,
    options: RecurrentOptions,
  ) {
    super();
    const name = this.constructor.name;
    positiveInt(name, 'inputSize', inputSize);
    positiveInt(name, 'hiddenSize', hiddenSize);
    const numLayers = options.numLayers ?? 1;
    positiveInt(name, 'numLayers', numLayers);
    const dropout = options.dropout ?? 0;
    if (!(dropout >= 0 && dropout <= 1))
      throw new RangeError(`${name}: dropout must be in [0, 1], got ${dropout}`);
    this.inputSize = inputSize;
    this.hiddenSize = hiddenSize;
    this.numLayers = numLayers;
    this.bias = options.bias ?? true;
    this.batchFirst = options.batchFirst ?? false;
    this.dropout = dropout;
    this.bidirectional = options.bidirectional ?? false;
    const rng = options.rng ?? defaultStream;
    this._drop = new Dropout(dropout, { rng });
    const dtype = options.dtype ?? 'float32';
    const bound = 1 / Math.sqrt(hiddenSize);
    const gh = gates * hiddenSize;
    const dirs = this.bidirectional ? 2 : 1;
    const fields = this as unknown as Record<string, Tensor>;
    for (let l = 0; l < numLayers; l++)
      for (let d = 0; d < dirs; d++) {
        const sfx = `_l${l}${d === 1 ? '_reverse' : ''}`;
        const inW = l === 0 ? inputSize : hiddenSize * dirs;
        const make = (shape: number[]): Tensor => {
          const s = allocStorage(
            dtype,
            shape.reduce((a, b) => a * b, 1),
          );
          rng.fillUniform(s, -bound, bound);
          return new Tensor(s, shape, true);
        };
        // Fields in PyTorch's state-dict order; Module finds them by walking the fields, and the forward
        // reads them by name, so a tensor assigned to a field is the one used.
        fields[`weight_ih${sfx}`] = make([gh, inW]);
        fields[`weight_hh${sfx}`] = make([gh, hiddenSize]);
        if (this.bias) {
          fields[`bias_ih${sfx}`] = make([gh]);
          fields[`bias_hh${sfx}`] = make([gh]);
        }
        this._suffixes.push(sfx);
      }
  }

  /** The parameters of one layer and direction (the same tensors the state dict names). */
  cellParameters(layer: number, reverse = false): CellParameters {
    const dirs = this.bidirectional ? 2 : 1;
    if (!Number.isInteger(layer) || layer < 0 || layer >= this.numLayers || (reverse && dirs === 1))
      throw new RangeError(`${this.constructor.name}: no layer ${layer}${reverse ? ' (reverse)' : ''}`);
    return this.parametersAt(layer * dirs + (reverse ? 1 : 0));
  }

  /** The k-th layer-and-direction's parameters, read from the fields. */
  private parametersAt(k: number): CellParameters {
    const f = this as unknown as Record<string, Tensor | undefined>;
    const sfx = this._suffixes[k];
    return {
      weightIh: f[`weight_ih${sfx}`] as Tensor,
      weightHh: f[`weight_hh${sfx}`] as Tensor,
      biasIh: f[`bias_ih${sfx}`] ?? null,
      biasHh: f[`bias_hh${sfx}`] ?? null,
    };
  }

  /** One time step composed from ops (the RNN's); null where the layer runs fused (LSTM, GRU). */
  protected readonly cell: Cell | null = null;

  /** The output sequence only (what `Sequential` chains). */
  forward(x: Tensor): Tensor {
    return this.forwardWithState(x).output;
  }

  /**
   * Run the sequence `x` ([time, batch, input], or [batch, time, input] with `batchFirst`, or
   * [time, input] unbatched) from the given initial states (zeros when omitted); returns the output
   * sequence and the final states, as PyTorch's `output, h_n` (LSTM: `output, (h_n, c_n)`).
   */
  forwardWithState(x: Tensor, initial?: RecurrentState): RecurrentResult {
    const name = this.constructor.name;
    if (!(x instanceof Tensor)) throw new TypeError(`${name}: expected a Tensor input`);
    const unbatched = x.ndim === 2;
    if ((x.ndim !== 2 && x.ndim !== 3) || x.shape[x.ndim - 1] !== this.inputSize)
      throw new Error(
        `${name}(${this.inputSize} → ${this.hiddenSize}): input has shape ${fmt(x.shape)}, expected [time, batch, ${this.inputSize}]${this.batchFirst ? ' transposed (batchFirst)' : ''} or [time, ${this.inputSize}]`,
      );
    let seq = unbatched
      ? ops.reshape(x, [x.shape[0], 1, x.shape[1]])
      : this.batchFirst
        ? swapAxes(x, 0, 1)
        : x;
    const [steps, batch] = seq.shape;
    const H = this.hiddenSize;
    const dirs = this.bidirectional ? 2 : 1;
    const lstm = this.mode === 'LSTM';
    const h0 = this.initial(initial?.h, 'h', batch, unbatched, x.dtype);
    const c0 = lstm ? this.initial(initial?.c, 'c', batch, unbatched, x.dtype) : null;
    if (!lstm && initial?.c !== undefined) throw new Error(`${name}: has no cell state; pass only h`);
    const hs: Tensor[] = [];
    const cs: Tensor[] = [];
    for (let l = 0; l < this.numLayers; l++) {
      const outs: Tensor[] = [];
      for (let d = 0; d < dirs; d++) {
        const k = l * dirs + d;
        const run = this.direction(
          seq,
          this.parametersAt(k),
          state(h0, k, batch, H),
          c0 && state(c0, k, batch, H),
          d === 1,
        );
        outs.push(run.out);
        hs.push(run.h);
        if (run.c) cs.push(run.c);
      }
      seq = dirs === 2 ? concat(outs, 2) : outs[0];
      if (l < this.numLayers - 1 && this.dropout > 0 && this.training) {
        this._drop.training = true;
        seq = this._drop.forward(seq);
      }
    }
    const finalShape = unbatched ? [this.numLayers * dirs, H] : [this.numLayers * dirs, batch, H];
    const output = unbatched
      ? ops.reshape(seq, [steps, dirs * H])
      : this.batchFirst
        ? swapAxes(seq, 0, 1)
        : seq;
    return {
      output,
      h: ops.reshape(stack(hs, 0), finalShape),
      c: lstm ? ops.reshape(stack(cs, 0), finalShape) : null,
    };
  }

  /** An initial state checked and shaped [layers·dirs, batch, hidden], or null for zeros. */
  private initial(t: Tensor | undefined, what: string, batch: number, unbatched: boolean, dtype: DType) {
    if (t === undefined) return null;
    const n = this.numLayers * (this.bidirectional ? 2 : 1);
    const want = unbatched ? [n, this.hiddenSize] : [n, batch, this.hiddenSize];
    if (!(t instanceof Tensor) || t.ndim !== want.length || t.shape.some((d, i) => d !== want[i]))
      throw new Error(
        `${this.constructor.name}: initial ${what} has shape ${t instanceof Tensor ? fmt(t.shape) : typeof t}, expected ${fmt(want)}`,
      );
    return ops.reshape(t.dtype === dtype ? t : ops.cast(t, dtype), [n, batch, this.hiddenSize]);
  }

  /** One direction of one layer over the whole sequence [time, batch, in] → [time, batch, hidden]. */
  private direction(seq: Tensor, p: CellParameters, h: Tensor | null, c: Tensor | null, reverse: boolean) {
    const [steps, batch, width] = seq.shape;
    const H = this.hiddenSize;
    const zeros = () => new Tensor(allocStorage(seq.dtype, batch * H), [batch, H]);
    let hs = h ?? zeros();
    let cs = this.mode === 'LSTM' ? (c ?? zeros()) : null;
    if (this.mode === 'LSTM' || this.mode === 'GRU') {
      const lstm = this.mode === 'LSTM';
      // The fused op runs t = 0 … T − 1; the reverse direction reads the steps in reversed order.
      const order = reverse ? Array.from({ length: steps }, (_, i) => steps - 1 - i) : null;
      const y = recurrentSequence(lstm ? 'lstm' : 'gru', order ? indexSelect(seq, 0, order) : seq, p, h, c);
      const ys = lstm ? narrow(y, 0, 0, steps) : y;
      return {
        out: order ? indexSelect(ys, 0, order) : ys,
        h: ops.reshape(narrow(y, 0, steps - 1, 1), [batch, H]),
        c: lstm ? ops.reshape(narrow(y, 0, steps, 1), [batch, H]) : null,
      };
    }
    // x·W_ihᵀ + b_ih for every step at once: [time·batch, hidden].
    let pre = ops.matmul(ops.reshape(seq, [steps * batch, width]), ops.transpose(p.weightIh));
    if (p.biasIh) pre = ops.add(pre, p.biasIh);
    const inputs = unbind(ops.reshape(pre, [steps, batch, pre.shape[1]]), 0);
    const whhT = ops.transpose(p.weightHh);
    const outs = new Array<Tensor>(steps);
    for (let s = 0; s < steps; s++) {
      const t = reverse ? steps - 1 - s : s;
      let hh = ops.matmul(hs, whhT);
      if (p.biasHh) hh = ops.add(hh, p.biasHh);
      const next = (this.cell as Cell)(inputs[t], hh, hs, cs);
      hs = next.h;
      cs = next.c;
      outs[t] = hs;
    }
    return { out: stack(outs, 0), h: hs, c: cs };
  }

  override describe(): string {
    const extra: string[] = [];
    if (this.numLayers !== 1) extra.push(`numLayers: ${this.numLayers}`);
    if (!this.bias) extra.push('bias: false');
    if (this.batchFirst) extra.push('batchFirst: true');
    if (this.dropout) extra.push(`dropout: ${this.dropout}`);
    if (this.bidirectional) extra.push('bidirectional: true');
    if (this.mode === 'RNN_RELU') extra.push("nonlinearity: 'relu'");
    return [`${this.inputSize} → ${this.hiddenSize}`, ...extra].join(', ');
  }
}

/** Layer k's [batch, hidden] slice of an initial state, or null for zeros. */
function state(t: Tensor | null, k: number, batch: number, H: number): Tensor | null {
  return t && ops.reshape(narrow(t, 0, k, 1), [batch, H]);
}

/**
 * Elman RNN (PyTorch's `nn.RNN`): h' = act(x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh), act tanh or relu.
 * Parameters [hidden, input] / [hidden, hidden] in PyTorch's layout and names.
 */
export class RNN extends RecurrentBase {
  /** The recurrence's activation. */
  readonly nonlinearity: 'tanh' | 'relu';

  constructor(inputSize: number, hiddenSize: number, options: RNNOptions = {}) {
    const nl = options.nonlinearity ?? 'tanh';
    if (nl !== 'tanh' && nl !== 'relu')
      throw new RangeError(`RNN: nonlinearity must be 'tanh' or 'relu', got ${JSON.stringify(nl)}`);
    super(nl === 'tanh' ? 'RNN_TANH' : 'RNN_RELU', 1, inputSize, hiddenSize, options);
    this.nonlinearity = nl;
  }

  protected override readonly cell: Cell = (xi, hh) => {
    const a = ops.add(hh, xi);
    return { h: this.nonlinearity === 'tanh' ? ops.tanh(a) : ops.relu(a), c: null };
  };
}

/**
 * Long short-term memory (PyTorch's `nn.LSTM`): gates stacked i, f, g, o in `weight_ih` [4·hidden, input]
 * and `weight_hh` [4·hidden, hidden]; c' = f ⊙ c + i ⊙ g, h' = o ⊙ tanh(c'), in PyTorch's order of
 * operations. `forwardWithState` returns the final `h` and `c`.
 */
export class LSTM extends RecurrentBase {
  constructor(inputSize: number, hiddenSize: number, options: RecurrentOptions = {}) {
    super('LSTM', 4, inputSize, hiddenSize, options);
  }
}

/**
 * Gated recurrent unit (PyTorch's `nn.GRU`): gates stacked r, z, n; r = σ(W_ir x + b_ir + W_hr h + b_hr),
 * z alike, n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)), h' = (h − n) ⊙ z + n (PyTorch's form of
 * (1 − z) ⊙ n + z ⊙ h).
 */
export class GRU extends RecurrentBase {
  constructor(inputSize: number, hiddenSize: number, options: RecurrentOptions = {}) {
    super('GRU', 3, inputSize, hiddenSize, options);
  }
}

/**
 * The last time step of a batch-first sequence, PyTorch's `x[:, -1]`: [N, T, F] → [N, F]. What puts a
 * Linear head on a recurrent layer's final output in a `Sequential` (a forecaster reads a window and
 * predicts one value).
 */
export class LastStep extends Module {
  forward(x: Tensor): Tensor {
    if (x.ndim !== 3) throw new Error(`LastStep: expected [batch, time, features], got ${fmt(x.shape)}`);
    const [n, t, f] = x.shape;
    return ops.reshape(narrow(x, 1, t - 1, 1), [n, f]);
  }
}
