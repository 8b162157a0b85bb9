/**
 * Layer by layer traces of any supported layer (`traceLayer`) and of a whole `Sequential` step
 * (`traceModel`): convolution, pooling, normalization, embedding, recurrent and attention layers as well
 * as Linear and the activations. The step runs on a float64 copy with the library's autograd, keeping
 * every layer's output gradient; each layer's chain rule (`./layers.ts`) then recomputes its parameter and
 * input gradients by hand from the forward values and the gradient arriving at its output, and both are
 * checked against central finite differences of the loss.
 */
import { noGrad, tensor, Tensor, type NestedArray } from '../tensor.js';
import { MultiheadAttention } from '../nn/attention.js';
import { Dropout, Sequential } from '../nn/layers.js';
import type { Module } from '../nn/module.js';
import { RecurrentBase, Embedding } from '../nn/recurrent.js';
import { GPT } from '../nn/transformer.js';
import { describeLayer, fromSpec, toSpec } from '../nn/spec.js';
import { RandomState } from '../random.js';
import { fmt } from '../shape.js';
import { lossGradients } from './calculus.js';
import { traceLocal, indexOf, type Derivation, type Quantity, type LayerValues } from './layers.js';
import {
  lossValue,
  targetOf,
  traceLoss,
  TraceError,
  type Target,
  type TraceLoss,
  type TraceLossSpelling,
} from './network.js';

export type { Derivation, Quantity, Term } from './layers.js';

/** One finite-difference check of one element. */
export interface ElementCheck {
  /** Flat index in the tensor, and as indices in its shape. */
  flat: number;
  index: number[];
  /** The trace's (chain rule by hand), autograd's and the finite difference's value. */
  traced: number;
  autograd: number;
  numeric: number;
  /** |autograd − numeric| / max(|autograd|, |numeric|) (0 when both are 0), and |autograd − numeric|. */
  relError: number;
  absError: number;
}

/** One gradient tensor: the trace's values beside autograd's, and its finite-difference checks. */
export interface TracedGradient {
  /** The layer's own name for it (`weight`, `bias_hh_l0`, `out_proj.weight`, `input`). */
  name: string;
  /** The state-dict key in the model (`3.weight`), or `input` / `${layer}.input` for the input. */
  key: string;
  shape: number[];
  /** d_loss/d_tensor by the layer's chain rule, computed here by hand. */
  traced: number[];
  /** d_loss/d_tensor by the library's autograd. */
  autograd: number[];
  /** max |traced − autograd| over the tensor. */
  maxAbsDiff: number;
  /** maxAbsDiff / max |autograd| (0 when the tensor's gradient is all zeros on both sides). */
  maxRelDiff: number;
  /** Elements checked by central finite differences (none for a hidden layer's input). */
  checks: ElementCheck[];
}

/** One layer through the step. */
export interface LayerGradientTrace {
  /** Position in the step's order of layers (0 for `traceLayer`). */
  index: number;
  /** The layer's path in the model (`3`, `blocks.0.attn`; `''` for `traceLayer`). */
  path: string;
  /** The layer's class (`Conv2d`, `LSTM`…) and a title with its settings. */
  type: string;
  title: string;
  /** The layer's chain rule, in words and symbols. */
  story: string;
  inputShape: number[];
  outputShape: number[];
  /** Parameters in the layer's order, then the input (when it has a gradient). */
  gradients: TracedGradient[];
  /** One element per tensor spelt out as its sum of terms. */
  derivations: Derivation[];
  /** Intermediate values (batch statistics, gates, softmax probabilities…). */
  quantities: Quantity[];
}

/** The checks of a whole trace in one place. */
export interface TraceSummary {
  /** Largest relative difference between the trace's gradients and autograd's, and where. */
  maxTraceDiff: number;
  worstTrace: string | null;
  /** Elements checked by finite differences, the largest relative error among them, and where. */
  checked: number;
  maxRelError: number;
  worst: string | null;
  /** Elements where autograd and the finite difference disagree (beyond 1e-6 relative and 1e-9 absolute). */
  disagreements: string[];
  /** Tensors whose trace and autograd differ beyond 1e-12 relative (and 1e-15 absolute). */
  traceDisagreements: string[];
}

/** Options of `traceLayer` and `traceModel`. */
export interface LayerTraceOptions {
  /**
   * Finite-difference checks per tensor: a number n of elements spread evenly over it (default 4), true
   * for every element, false for none.
   */
  check?: boolean | number;
  /** Finite-difference step relative to max(1, |value|), rounded to a power of two (default 1e-4). */
  eps?: number;
}

/** `traceLayer`'s result: one layer under the loss Σ output·upstream. */
export interface SingleLayerTrace extends LayerGradientTrace {
  /** Σ output·upstream. */
  loss: number;
  summary: TraceSummary;
}

/** `traceModel`'s result. */
export interface ModelTrace {
  dtype: 'float64';
  /** Rows of the batch (samples). */
  rows: number;
  loss: {
    name: TraceLoss;
    value: number;
    /** d_loss/d_output from the loss's closed form beside autograd's. */
    gradient: TracedGradient;
  };
  output: { shape: number[]; values: number[] };
  layers: LayerGradientTrace[];
  summary: TraceSummary;
  /** Things the reader should know (Dropout left out of the step…). */
  notes: string[];
}

const REL_TRACE = 1e-12;
const ABS_TRACE = 1e-15;

function compare(
  name: string,
  key: string,
  shape: number[],
  traced: Float64Array,
  autograd: ArrayLike<number>,
): TracedGradient {
  let maxAbs = 0;
  let scale = 0;
  for (let k = 0; k < traced.length; k++) {
    maxAbs = Math.max(maxAbs, Math.abs(traced[k] - autograd[k]));
    scale = Math.max(scale, Math.abs(autograd[k]));
  }
  return {
    name,
    key,
    shape,
    traced: Array.from(traced),
    autograd: Array.from(autograd),
    maxAbsDiff: maxAbs,
    maxRelDiff: scale > 0 ? maxAbs / scale : maxAbs > 0 ? Infinity : 0,
    checks: [],
  };
}

function chosen(size: number, check: boolean | number): number[] {
  if (check === false || size === 0) return [];
  const n = check === true ? size : Math.min(size, Math.max(0, Math.floor(check)));
  const out = new Set<number>();
  for (let t = 0; t < n; t++) out.add(Math.floor((t * size) / n));
  return [...out];
}

/** [8·(L(p+h) − L(p−h)) − (L(p+2h) − L(p−2h))] / 12h, h a power of two near eps·max(1, |p|). */
function centralDifference(
  data: Float64Array | Float32Array,
  k: number,
  eps: number,
  lossAt: () => number,
): number {
  const value = data[k];
  const h = 2 ** Math.round(Math.log2(eps * Math.max(1, Math.abs(value))));
  const at = (d: number) => {
    data[k] = value + d;
    return lossAt();
  };
  const near = at(h) - at(-h);
  const far = at(2 * h) - at(-2 * h);
  data[k] = value;
  return (8 * near - far) / (12 * h);
}

function addChecks(
  g: TracedGradient,
  data: Float64Array | Float32Array,
  options: LayerTraceOptions,
  lossAt: () => number,
): void {
  for (const k of chosen(data.length, options.check ?? 4)) {
    const numeric = centralDifference(data, k, options.eps ?? 1e-4, lossAt);
    const a = g.autograd[k];
    const absError = Math.abs(a - numeric);
    const scale = Math.max(Math.abs(a), Math.abs(numeric));
    g.checks.push({
      flat: k,
      index: indexOf(g.shape, k),
      traced: g.traced[k],
      autograd: a,
      numeric,
      relError: scale > 0 ? absError / scale : 0,
      absError,
    });
  }
}

function summarize(gradients: TracedGradient[], loss: number): TraceSummary {
  const s: TraceSummary = {
    maxTraceDiff: 0,
    worstTrace: null,
    checked: 0,
    maxRelError: 0,
    worst: null,
    disagreements: [],
    traceDisagreements: [],
  };
  const absTol = 1e-9 * Math.max(1, Math.abs(loss));
  for (const g of gradients) {
    if (s.worstTrace === null || g.maxRelDiff > s.maxTraceDiff) {
      s.maxTraceDiff = g.maxRelDiff;
      s.worstTrace = g.key;
    }
    if (!(g.maxRelDiff <= REL_TRACE || g.maxAbsDiff <= ABS_TRACE)) s.traceDisagreements.push(g.key);
    for (const c of g.checks) {
      s.checked++;
      const where = `${g.key}[${c.index.join('][')}]`;
      if (s.worst === null || c.relError > s.maxRelError) {
        s.maxRelError = c.relError;
        s.worst = where;
      }
      if (!(c.relError <= 1e-6 || c.absError <= absTol)) s.disagreements.push(where);
    }
  }
  return s;
}

/** A float64 copy of one layer with the same parameters, buffers and mode. */
function copyLayer(m: Module): Module {
  let copy: Module;
  if (m instanceof MultiheadAttention)
    copy = new MultiheadAttention(m.embedDim, m.numHeads, {
      batchFirst: m.batchFirst,
      bias: m.in_proj_bias !== null,
      dtype: 'float64',
      rng: new RandomState(0),
    });
  else {
    const spec = describeLayer(m);
    if (spec === null) throw new TraceError(`trace: a ${m.constructor.name} layer cannot be traced`);
    copy = fromSpec({ type: 'sequential', layers: [spec] }, { dtype: 'float64', rng: new RandomState(0) })
      .layers[0];
  }
  loadFloat64(copy, m);
  copy.training = m.training;
  return copy;
}

function loadFloat64(copy: Module, m: Module): void {
  const state: Record<string, Tensor> = {};
  for (const [k, t] of m.namedTensors())
    state[k] = tensor(Float64Array.from(t.data), { dtype: 'float64', shape: [...t.shape] });
  copy.loadStateDict(state);
}

/** A float64 copy of `x` (a tensor or nested arrays), or a TraceError naming `what`. */
export function values(x: Tensor | NestedArray, what: string): Tensor {
  try {
    return tensor(x instanceof Tensor ? Float64Array.from(x.data) : (x as NestedArray[]), {
      dtype: 'float64',
      ...(x instanceof Tensor ? { shape: [...x.shape] } : {}),
    });
  } catch (e) {
    throw new TraceError(`trace: ${what}: ${(e as Error).message}`);
  }
}

function layerTrace(
  index: number,
  m: Module,
  v: LayerValues,
  inputGrad: ArrayLike<number> | null,
  keyOf: (name: string) => string,
  gradOf: (p: Tensor) => ArrayLike<number> = (p) => (p.grad ? p.grad.data : new Float64Array(p.size)),
): LayerGradientTrace {
  const local = traceLocal(m, v);
  const gradients: TracedGradient[] = [];
  for (const [name, traced] of local.grads) {
    if (name === 'input') {
      if (inputGrad === null) continue;
      gradients.push(compare('input', keyOf('input'), [...v.x.shape], traced, inputGrad));
      continue;
    }
    const p = v.params.get(name) as Tensor;
    gradients.push(compare(name, keyOf(name), [...p.shape], traced, gradOf(p)));
  }
  for (const d of local.derivations) {
    const g = gradients.find((t) => t.name === d.tensor);
    if (g) d.autograd = g.autograd[d.index];
  }
  return {
    index,
    path: '',
    type: m.constructor.name,
    title: local.title,
    story: local.story,
    inputShape: [...v.x.shape],
    outputShape: [...v.y.shape],
    gradients,
    derivations: local.derivations,
    quantities: local.quantities,
  };
}

/**
 * Trace one layer under the loss Σ output·upstream (PyTorch's `output.backward(upstream)`): its forward
 * on a float64 copy, autograd's gradients of every parameter and of the input, the same gradients by the
 * layer's chain rule written out by hand, finite-difference checks, and the layer's intermediate values.
 *
 * Takes Linear, the activations, Softmax, Conv1d/Conv2d, MaxPool1d/MaxPool2d, AvgPool2d,
 * AdaptiveAvgPool2d(1), Flatten/Unflatten, BatchNorm1d/2d (in the layer's own mode), LayerNorm, Embedding
 * (input: token ids), RNN/LSTM/GRU (batch first) and MultiheadAttention (self-attention, batch first;
 * `causal` applies the causal mask). The layer itself is not changed.
 */
export function traceLayer(
  layer: Module,
  input: Tensor | NestedArray,
  upstream: Tensor | NestedArray,
  options: LayerTraceOptions & { causal?: boolean } = {},
): SingleLayerTrace {
  const copy = copyLayer(layer);
  const causal = options.causal ?? false;
  const x = values(input, 'input');
  const float = !(copy instanceof Embedding);
  if (float) x.requiresGrad = true;
  const run = (): Tensor =>
    copy instanceof MultiheadAttention
      ? copy.attend(x, x, x, { isCausal: causal, needWeights: false }).output
      : copy.forward(x);
  const y = run();
  const up = values(upstream, 'upstream');
  if (up.size !== y.size)
    throw new TraceError(`trace: upstream has shape ${fmt(up.shape)}; the layer's output is ${fmt(y.shape)}`);
  const lossOf = (out: Tensor) => {
    let s = 0;
    for (let k = 0; k < out.size; k++) s += out.data[k] * up.data[k];
    return s;
  };
  const loss = y.mul(up.reshape(...y.shape)).sum();
  loss.backward();
  const params = new Map(copy.namedParameters());
  const v: LayerValues = {
    x,
    y,
    delta: up.data as Float64Array,
    params,
    causal,
    training: copy.training,
  };
  const t = layerTrace(0, copy, v, float && x.grad ? x.grad.data : null, (n) => n);
  const lossAt = () => noGrad(() => lossOf(run()));
  for (const g of t.gradients) {
    const data = g.name === 'input' ? x.data : (params.get(g.name) as Tensor).data;
    addChecks(g, data as Float64Array, options, lossAt);
  }
  return { ...t, loss: loss.item(), summary: summarize(t.gradients, loss.item()) };
}

/**
 * A float64 copy of a Sequential for one training step: training mode (BatchNorm's batch statistics),
 * Dropout and recurrent dropout left out so the step is deterministic, with a note for each.
 */
export function stepCopy(model: Sequential): { copy: Sequential; notes: string[] } {
  let copy: Sequential;
  try {
    copy = fromSpec(toSpec(model), { dtype: 'float64', rng: new RandomState(0) });
  } catch (e) {
    throw new TraceError(`trace: ${(e as Error).message}`);
  }
  loadFloat64(copy, model);
  copy.train();
  const notes: string[] = [];
  copy.layers.forEach((m, i) => {
    // Dropout anywhere inside the layer too (a model file's GPT is one layer holding its dropouts).
    if (!dropoutOff(m)) return;
    notes.push(
      m instanceof Dropout
        ? `Layer ${i} (Dropout) is left out of the step, so the step is deterministic.`
        : m instanceof RecurrentBase
          ? `Layer ${i} (${m.constructor.name}): its dropout between layers is left out of the step.`
          : `Layer ${i} (${m.constructor.name}): its dropout is left out of the step, so the step is deterministic.`,
    );
  });
  return { copy, notes };
}

/** Switch off every dropout in `m` and its children (Dropout, attention's, between recurrent layers); whether any was on. */
function dropoutOff(m: Module): boolean {
  let any = false;
  for (const sub of m.modules())
    if (
      (sub instanceof Dropout && sub.p > 0) ||
      (sub instanceof MultiheadAttention && sub.dropout > 0) ||
      (sub instanceof RecurrentBase && sub.dropout > 0)
    ) {
      sub.training = false;
      any = true;
    }
  return any;
}

/** Options of `traceModel`. */
export interface ModelTraceOptions extends LayerTraceOptions {
  /** The loss (default `'mse'`; `'crossEntropy'` takes class indices, over the last axis of the output). */
  loss?: TraceLossSpelling;
}

/**
 * Trace one training step of a model layer by layer: the step on a float64 copy (training mode, Dropout
 * left out), autograd's gradient at every layer's output, and for every layer its parameter and input
 * gradients by its own chain rule next to autograd's, with finite-difference checks of the whole step's
 * loss for `check` elements of every parameter tensor. The loss's gradient at the output comes from its
 * closed form. The model is not changed.
 *
 * `model` is an `nn.Sequential` of the layers `traceLayer` takes, or a `GPT` (its embeddings, layer
 * norms, causal attention, Linear layers and GELU are the layers traced; the residual additions pass the
 * gradient on unchanged). `x` is a batch (`[N, …]`, or token ids for a model that starts with an
 * Embedding); `y` the targets: values shaped as the output for `mse`/`mseHalfSum`, class indices for
 * `crossEntropy` (one per row of the output's last axis: a language model's [N, T, vocab] output takes
 * [N, T] ids).
 */
export function traceModel(
  model: Sequential | GPT,
  x: Tensor | NestedArray,
  y: Tensor | NestedArray | ArrayLike<number>,
  options: ModelTraceOptions = {},
): ModelTrace {
  if (!(model instanceof Sequential) && !(model instanceof GPT))
    throw new TraceError(
      'trace: traceModel takes an nn.Sequential or a GPT (see traceLayer for a single layer)',
    );
  // A model file's GPT is one GPT in a Sequential (state keys under 0.): the trace walks the GPT itself.
  const only = model instanceof Sequential && model.layers.length === 1 ? model.layers[0] : null;
  if (only instanceof GPT) {
    const t = traceModel(only, x, y, options);
    return {
      ...t,
      notes: [...t.notes, 'The GPT is layer 0 of its Sequential: its keys are 0.<name> in the state dict.'],
    };
  }
  const lossName = traceLoss(options.loss ?? 'mse', 'traceModel');
  const { copy, notes } = model instanceof GPT ? gptCopy(model) : stepCopy(model);
  const X = values(x as Tensor | NestedArray, 'x');
  const float = !(copy instanceof GPT) && !((copy as Sequential).layers[0] instanceof Embedding);
  if (float) X.requiresGrad = true;

  // Every traced layer's call is recorded: its input, its output (gradients kept) and for attention the mask.
  interface Call {
    path: string;
    m: Module;
    x: Tensor;
    y: Tensor;
    causal: boolean;
  }
  let calls: Call[] | null = null;
  const leaves = tracedModules(copy, '');
  for (const [path, m] of leaves) {
    const keep = (x: Tensor, y: Tensor, causal: boolean) => {
      if (calls === null) return;
      if (x.requiresGrad && !x.isLeaf) x.retainGrad();
      if (y.requiresGrad) y.retainGrad();
      calls.push({ path, m, x, y, causal });
    };
    if (m instanceof MultiheadAttention) {
      const attend = m.attend.bind(m);
      m.attend = (q, k, v, o = {}) => {
        const r = attend(q, k, v, o);
        if (q === k && k === v) keep(q, r.output, o.isCausal ?? false);
        return r;
      };
    } else {
      const forward = m.forward.bind(m);
      m.forward = (x: Tensor) => {
        const y = forward(x);
        keep(x, y, false);
        return y;
      };
    }
  }
  calls = [];
  const out = copy.forward(X);
  const recorded: Call[] = calls;
  calls = null;
  const C = out.shape[out.ndim - 1];
  const rows = out.size / C;
  const target: Target = targetOf(y as Tensor | NestedArray, lossName, rows, C, 'float64');
  const flatOut = (o: Tensor) => (o.ndim === 2 ? o : o.reshape(rows, C));
  const loss = lossValue(lossName, flatOut(out), target);
  loss.backward();
  const lossNow = loss.item();

  // The loss's gradient at the output, by its closed form.
  const outRows = Array.from({ length: rows }, (_, r) => Array.from(out.data.subarray(r * C, (r + 1) * C)));
  const tRows =
    target.kind === 'labels'
      ? Array.from({ length: rows }, (_, r) =>
          Array.from({ length: C }, (_, j) => (target.labels[r] === j ? 1 : 0)),
        )
      : Array.from({ length: rows }, (_, r) => Array.from(target.y.data.subarray(r * C, (r + 1) * C)));
  const closed = Float64Array.from(lossGradients(lossName, outRows, tRows).flat());
  const lossGrad = compare(
    'output',
    'output',
    [...out.shape],
    closed,
    out.grad ? out.grad.data : new Float64Array(out.size),
  );

  // Autograd's gradients of the parameters, kept before the replays below add to them.
  const grads = new Map(
    copy.parameters().map((p) => [p, p.grad ? Float64Array.from(p.grad.data) : new Float64Array(p.size)]),
  );
  const seen = new Set<Module>();
  const layers = recorded.map((c, i) => {
    if (seen.has(c.m) && c.m.parameters().length > 0)
      throw new TraceError(
        `trace: ${c.path} runs twice in one step; a trace takes each layer with parameters once`,
      );
    seen.add(c.m);
    const delta = c.y.grad ? Float64Array.from(c.y.grad.data) : new Float64Array(c.y.size);
    // Autograd's gradient at the input through this layer alone: an input may also feed other layers (a
    // residual stream), so the layer is replayed on a detached copy of its input with δ at its output.
    const inputGrad = c.x.requiresGrad ? replay(c, delta) : null;
    const t = layerTrace(
      i,
      c.m,
      {
        x: c.x,
        y: c.y,
        delta,
        params: new Map(c.m.namedParameters()),
        causal: c.causal,
        training: c.m.training,
      },
      inputGrad,
      (n) => (n === 'input' ? (c.x === X ? 'input' : `${c.path}.input`) : `${c.path}.${n}`),
      (p) => grads.get(p) as Float64Array,
    );
    return { ...t, path: c.path };
  });

  const named = new Map(copy.namedParameters());
  copy.zeroGrad();
  const lossAt = () => noGrad(() => lossValue(lossName, flatOut(copy.forward(X)), target).item());
  for (const l of layers)
    for (const g of l.gradients) {
      if (g.name === 'input') continue;
      addChecks(g, (named.get(g.key) as Tensor).data as Float64Array, options, lossAt);
    }
  const all = [lossGrad, ...layers.flatMap((l) => l.gradients)];
  return {
    dtype: 'float64',
    rows: X.shape[0],
    loss: { name: lossName, value: lossNow, gradient: lossGrad },
    output: { shape: [...out.shape], values: Array.from(out.data) },
    layers,
    summary: summarize(all, lossNow),
    notes,
  };
}

/** d(Σ layer(x)·δ)/dx by autograd on a detached copy of the call's input. */
function replay(c: { m: Module; x: Tensor; causal: boolean }, delta: Float64Array): Float64Array {
  const x = tensor(Float64Array.from(c.x.data), {
    dtype: 'float64',
    shape: [...c.x.shape],
    requiresGrad: true,
  });
  const m = c.m;
  const y =
    m instanceof MultiheadAttention
      ? m.attend(x, x, x, { isCausal: c.causal, needWeights: false }).output
      : m.forward(x);
  y.mul(tensor(delta, { dtype: 'float64', shape: [...y.shape] }))
    .sum()
    .backward();
  return x.grad ? Float64Array.from(x.grad.data) : new Float64Array(x.size);
}

/** The modules a trace explains in `m`, with their paths: a Sequential's layers, a GPT's leaves. */
function tracedModules(m: Module, prefix: string): [string, Module][] {
  const out: [string, Module][] = [];
  for (const [name, child] of m.namedChildren()) {
    const path = prefix ? `${prefix}.${name}` : name;
    if (m instanceof Sequential || child instanceof MultiheadAttention || child.namedChildren().length === 0)
      out.push([path, child]);
    else out.push(...tracedModules(child, path));
  }
  return out;
}

/** A float64 copy of a GPT for one step, dropout left out. */
function gptCopy(model: GPT): { copy: GPT; notes: string[] } {
  const block = model.blocks[0];
  const copy = new GPT({
    vocabSize: model.vocabSize,
    contextLength: model.contextLength,
    embedDim: model.embedDim,
    numHeads: block.numHeads,
    numLayers: model.blocks.length,
    hidden: block.fc.outFeatures,
    init: 'pytorch',
    dtype: 'float64',
    rng: new RandomState(0),
  });
  loadFloat64(copy, model);
  copy.train();
  const notes = dropoutOff(copy) ? ['Dropout is left out of the step, so the step is deterministic.'] : [];
  return { copy, notes };
}
