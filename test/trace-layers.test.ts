// The layer-by-layer trace (traceLayer, traceModel): for every layer case of the PyTorch fixture, each
// gradient the trace computes by the layer's own chain rule equals autograd's within 1e-12 of its tensor,
// autograd equals PyTorch's, every element is checked by finite differences within 1e-6, and the story each
// layer tells (routing, δ/k², three BatchNorm paths, gathered embedding rows, gates through time, the
// softmax Jacobian per head) holds. Then whole models: the fixture's small CNN, an LSTM language model and
// a GRU forecaster.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { assertClose } from './helpers/close.js';
import { fixture, flat } from './helpers/fixtures.js';
import {
  nn,
  random,
  stepGraph,
  tensor,
  traceLayer,
  traceModel,
  TraceError,
  type DType,
  type LayerGradientTrace,
  type NestedArray,
  type SingleLayerTrace,
  type Tensor,
} from '../src/index.js';

interface LayerCase {
  name: string;
  input: NestedArray[];
  params: Record<string, NestedArray[]>;
  upstream: NestedArray[];
  loss: number;
  grads: Record<string, NestedArray[]>;
  causalMask?: boolean;
  buffersBefore?: Record<string, number[]>;
  buffersAfter?: Record<string, number[]>;
}

const cases = fixture<{ cases: LayerCase[] }>('layer-gradients.json').cases;
const dtype: DType = 'float64';

/** Every case of the fixture, by the start of its name, to its layer (float64). */
const LAYERS: [string, () => nn.Module][] = [
  ['Conv2d in=1 ', () => new nn.Conv2d(1, 3, 3, { dtype })],
  ['Conv2d in=2 ', () => new nn.Conv2d(2, 4, 3, { stride: 2, padding: 1, dtype })],
  ['Conv2d in=4 ', () => new nn.Conv2d(4, 4, 3, { padding: 2, dilation: 2, groups: 2, bias: false, dtype })],
  ['Conv2d in=3 ', () => new nn.Conv2d(3, 2, [2, 4], { stride: [1, 2], padding: [1, 0], dtype })],
  ['Conv1d', () => new nn.Conv1d(3, 5, 3, { padding: 1, dtype })],
  ['MaxPool2d k=2 ', () => new nn.MaxPool2d(2, { stride: 2, padding: 0 })],
  ['AvgPool2d k=2 ', () => new nn.AvgPool2d(2, { stride: 2, padding: 0 })],
  ['MaxPool2d k=3 stride=2', () => new nn.MaxPool2d(3, { stride: 2, padding: 1 })],
  ['AvgPool2d k=3 stride=2', () => new nn.AvgPool2d(3, { stride: 2, padding: 1 })],
  ['MaxPool2d k=3 stride=1', () => new nn.MaxPool2d(3, { stride: 1 })],
  ['AvgPool2d k=3 stride=1', () => new nn.AvgPool2d(3, { stride: 1 })],
  ['AdaptiveAvgPool2d', () => new nn.AdaptiveAvgPool2d(1)],
  ['Flatten', () => new nn.Flatten()],
  ['BatchNorm1d(4) training', () => new nn.BatchNorm1d(4, { dtype }).train()],
  ['BatchNorm1d(4) eval', () => new nn.BatchNorm1d(4, { dtype }).eval()],
  ['BatchNorm2d(4) training', () => new nn.BatchNorm2d(4, { dtype }).train()],
  ['BatchNorm2d(4) eval', () => new nn.BatchNorm2d(4, { dtype }).eval()],
  ['LayerNorm', () => new nn.LayerNorm(6, { dtype })],
  ['Embedding', () => new nn.Embedding(7, 4, { dtype })],
  ['RNN(', () => new nn.RNN(3, 5, { batchFirst: true, dtype })],
  ['LSTM(3, 5', () => new nn.LSTM(3, 5, { batchFirst: true, dtype })],
  ['GRU(', () => new nn.GRU(3, 5, { batchFirst: true, dtype })],
  ['LSTM(3, 4, num_layers=2', () => new nn.LSTM(3, 4, { numLayers: 2, batchFirst: true, dtype })],
  ['MultiheadAttention', () => new nn.MultiheadAttention(8, 2, { batchFirst: true, dtype })],
];

function caseNamed(prefix: string): LayerCase {
  const c = cases.find((k) => k.name.startsWith(prefix));
  assert.ok(c, `layer-gradients.json has no case '${prefix}…'`);
  return c;
}

/** The layer of a case with the case's parameters and running statistics loaded. */
function layerOf(prefix: string): { c: LayerCase; layer: nn.Module } {
  const c = caseNamed(prefix);
  const layer = (LAYERS.find(([p]) => p === prefix) as [string, () => nn.Module])[1]();
  const own = new Map(layer.namedTensors());
  const state: Record<string, Tensor> = {};
  const shaped = (k: string, v: number[]) => tensor(v, { dtype, shape: [...(own.get(k) as Tensor).shape] });
  for (const [k, v] of Object.entries(c.params)) state[k] = shaped(k, flat(v));
  const buffers = c.buffersBefore ?? c.buffersAfter;
  if (buffers) {
    state.running_mean = shaped('running_mean', buffers.running_mean);
    state.running_var = shaped('running_var', buffers.running_var);
    state.num_batches_tracked = shaped('num_batches_tracked', [0]);
  }
  layer.loadStateDict(state);
  return { c, layer };
}

/** The trace's own claims: chain rule = autograd (1e-12), finite differences (1e-6), derivations add up. */
function assertAgrees(t: LayerGradientTrace, loss: number, what: string): void {
  assert.ok(t.gradients.length > 0, `${what}: no gradients`);
  for (const g of t.gradients) {
    assert.ok(
      g.maxRelDiff <= 1e-12 || g.maxAbsDiff <= 1e-15,
      `${what}: ${g.key}: chain rule and autograd differ by ${g.maxRelDiff} (${g.maxAbsDiff} absolute)`,
    );
    for (const ch of g.checks)
      assert.ok(
        ch.relError <= 1e-6 || ch.absError <= 1e-9 * Math.max(1, Math.abs(loss)),
        `${what}: ${g.key}[${ch.index.join('][')}]: autograd ${ch.autograd}, finite difference ${ch.numeric}`,
      );
  }
  for (const d of t.derivations) {
    if (!Number.isFinite(d.value)) continue;
    const g = t.gradients.find((x) => x.name === d.tensor);
    if (!g) continue;
    assertClose(d.value, g.traced[d.index], { rel: 1e-12, abs: 1e-15, what: `${what}: ${d.target} (terms)` });
    assertClose(d.autograd, g.autograd[d.index], { rel: 0, what: `${what}: ${d.target} (autograd)` });
  }
}

describe('traceLayer on every layer case of the PyTorch fixture (float64)', () => {
  test('every case has its layer here', () => {
    for (const c of cases)
      assert.ok(
        LAYERS.some(([p]) => c.name.startsWith(p)),
        `no layer for '${c.name}'`,
      );
  });

  for (const [prefix] of LAYERS)
    test(prefix.trim(), () => {
      const { c, layer } = layerOf(prefix);
      const t = traceLayer(layer, c.input, c.upstream, { causal: c.causalMask ?? false, check: true });
      assertClose(t.loss, c.loss, { rel: 1e-10, what: `${c.name}: loss` });
      assertAgrees(t, t.loss, c.name);
      for (const g of t.gradients)
        assertClose(g.autograd, flat(c.grads[g.name]), {
          rel: 1e-10,
          abs: 1e-15,
          what: `${c.name}: ${g.name} against PyTorch`,
        });
      assert.deepEqual(t.summary.disagreements, []);
      assert.deepEqual(t.summary.traceDisagreements, []);
      // Every element of every tensor was checked by finite differences.
      for (const g of t.gradients) assert.equal(g.checks.length, g.traced.length, `${c.name}: ${g.key}`);
    });
});

const input = (t: SingleLayerTrace) =>
  t.gradients.find((g) => g.name === 'input') as SingleLayerTrace['gradients'][number];
const quantity = (t: SingleLayerTrace, name: string) => {
  const q = t.quantities.find((x) => x.name === name);
  assert.ok(q, `no quantity '${name}'`);
  return q;
};

describe('traceLayer beyond the fixture: bidirectional and stacked recurrences, same padding, ceil mode', () => {
  const rng = new random.RandomState(3);
  const rnd = (shape: number[]) =>
    tensor(
      Array.from({ length: shape.reduce((a, b) => a * b) }, () => rng.rand(1).data[0] - 0.5),
      { dtype, shape },
    );
  const cases: [string, () => nn.Module, number[]][] = [
    [
      'GRU, 2 layers, bidirectional',
      () => new nn.GRU(3, 4, { batchFirst: true, bidirectional: true, numLayers: 2, dtype, rng }),
      [2, 4, 3],
    ],
    [
      'LSTM, bidirectional',
      () => new nn.LSTM(3, 4, { batchFirst: true, bidirectional: true, dtype, rng }),
      [2, 4, 3],
    ],
    ['RNN, relu', () => new nn.RNN(3, 4, { batchFirst: true, nonlinearity: 'relu', dtype, rng }), [2, 4, 3]],
    ['Conv1d, stride 2', () => new nn.Conv1d(3, 4, 3, { stride: 2, dtype, rng }), [2, 3, 9]],
    [
      "Conv1d, 'same', dilation 2",
      () => new nn.Conv1d(3, 4, 3, { padding: 'same', dilation: 2, dtype, rng }),
      [2, 3, 9],
    ],
    [
      "Conv2d 3×2, 'same' (the odd zero after)",
      () => new nn.Conv2d(2, 4, [3, 2], { padding: 'same', dtype, rng }),
      [2, 2, 5, 6],
    ],
    ['MaxPool1d, padding 1', () => new nn.MaxPool1d(3, { stride: 2, padding: 1 }), [2, 3, 9]],
    [
      'AvgPool2d, ceil mode, padding not counted',
      () => new nn.AvgPool2d(3, { stride: 2, padding: 1, ceilMode: true, countIncludePad: false }),
      [2, 2, 6, 6],
    ],
    ['Softmax(1)', () => new nn.Softmax(1), [3, 5]],
    ['SiLU', () => new nn.SiLU(), [3, 5]],
  ];
  for (const [name, make, shape] of cases)
    test(name, () => {
      const m = make();
      const x = rnd(shape);
      const t = traceLayer(m, x, rnd([...m.forward(x).shape]), { check: 6 });
      assertAgrees(t, t.loss, name);
      assert.deepEqual(t.summary.disagreements, []);
    });
});

describe('what each layer type explains', () => {
  test('Conv2d: a weight is Σ over output positions of input × δ; the bias Σ δ; the input a sum over taps', () => {
    const { c, layer } = layerOf('Conv2d in=2 ');
    const t = traceLayer(layer, c.input, c.upstream, { check: false });
    const [w, b, x] = t.derivations;
    assert.match(w.target, /^d_loss\/d_weight\[\d\]\[\d\]\[\d\]\[\d\]$/);
    assert.match(w.terms[0].label, /^x\[\d+\]\[\d+\]\[\d+\]\[\d+\] · δ\[\d+\]\[\d+\]\[\d+\]\[\d+\]$/);
    for (const term of w.terms) assert.equal(term.value, term.factors[0] * term.factors[1]);
    // One term per output position (taps near the border see padding at some positions).
    const [N, , OH, OW] = t.outputShape;
    assert.ok(w.terms.length <= N * OH * OW && w.terms.length > 0);
    assert.equal(b.terms.length, N * OH * OW);
    assert.match(x.rule, /flipped kernel/);
  });

  test('MaxPool2d: the gradient goes only to the winner of each window', () => {
    const { c, layer } = layerOf('MaxPool2d k=3 stride=2');
    const t = traceLayer(layer, c.input, c.upstream, { check: false });
    const winners = new Set(quantity(t, 'winner').values);
    const g = input(t);
    g.traced.forEach((v, k) => {
      if (!winners.has(k)) assert.equal(v, 0, `input ${k} won no window but got ${v}`);
    });
    const routing = t.derivations.find((d) => d.target === 'routing');
    assert.ok(routing);
    assert.equal(routing.terms.length, flat(c.upstream).length);
  });

  test('AvgPool2d: every input of a window gets δ / k²', () => {
    const { c, layer } = layerOf('AvgPool2d k=2 ');
    const t = traceLayer(layer, c.input, c.upstream, { check: false });
    assert.ok(quantity(t, 'divisor').values.every((d) => d === 4));
    for (const term of t.derivations[0].terms) assert.equal(term.factors[1], 1 / 4);
  });

  test('BatchNorm (training): the input gradient is the sum of three paths; evaluation mode has one', () => {
    for (const prefix of ['BatchNorm1d(4) training', 'BatchNorm2d(4) training']) {
      const { c, layer } = layerOf(prefix);
      const t = traceLayer(layer, c.input, c.upstream, { check: false });
      const x = t.derivations[0];
      assert.equal(x.terms.length, 3);
      assert.deepEqual(
        x.terms.map((term) => term.label.split(':')[0]),
        ['direct', 'via mean', 'via variance'],
      );
      // The mean and variance paths are not negligible: all three matter.
      const paths = quantity(t, 'via mean').values.concat(quantity(t, 'via variance').values);
      assert.ok(paths.some((v) => Math.abs(v) > 1e-3));
    }
    const { c, layer } = layerOf('BatchNorm2d(4) eval');
    const t = traceLayer(layer, c.input, c.upstream, { check: false });
    assert.equal(t.derivations[0].terms.length, 1);
    assert.ok(quantity(t, 'via mean').values.every((v) => v === 0));
  });

  test('LayerNorm: three paths per row', () => {
    const { c, layer } = layerOf('LayerNorm');
    const t = traceLayer(layer, c.input, c.upstream, { check: false });
    assert.equal(t.derivations[0].terms.length, 3);
    assert.match(t.derivations[0].rule, /row \d+ mean/);
    assert.equal(quantity(t, 'mean').shape[0], flat(c.input).length / 6);
  });

  test("Embedding: a row's gradient gathers δ from every position of its token", () => {
    const { c, layer } = layerOf('Embedding');
    const t = traceLayer(layer, c.input, c.upstream, { check: false });
    const ids = flat(c.input);
    const d = t.derivations[0];
    const row = Math.floor(d.index / 4);
    assert.equal(d.terms.length, ids.filter((i) => i === row).length);
    assert.ok(d.terms.length > 1, 'the case repeats the chosen token');
    const g = t.gradients[0];
    for (let r = 0; r < 7; r++)
      if (!ids.includes(r)) assert.ok(g.traced.slice(r * 4, r * 4 + 4).every((v) => v === 0));
  });

  test('LSTM and GRU: gates per step, the gradient through time at h (and c)', () => {
    const lstm = layerOf('LSTM(3, 5');
    const t = traceLayer(lstm.layer, lstm.c.input, lstm.c.upstream, { check: false });
    const T = (lstm.c.input[0] as NestedArray[]).length;
    assert.deepEqual(quantity(t, 'gates').shape, [T, 4 * 5]);
    // i, f, o are sigmoids in (0, 1); g a tanh in (−1, 1).
    const gates = quantity(t, 'gates').values;
    gates.forEach((v, k) => assert.ok(Math.floor(k / 5) % 4 === 2 ? Math.abs(v) < 1 : v > 0 && v < 1));
    assert.deepEqual(quantity(t, 'd_loss/d_c_t').shape, [T, 5]);
    // At the last step nothing comes back from later: d_loss/d_h_T = δ_T.
    const dh = quantity(t, 'd_loss/d_h_t').values;
    assertClose(dh.slice((T - 1) * 5), flat(lstm.c.upstream).slice((T - 1) * 5, T * 5), { rel: 0 });
    const gru = layerOf('GRU(');
    const tg = traceLayer(gru.layer, gru.c.input, gru.c.upstream, { check: false });
    assert.deepEqual(quantity(tg, 'gates').shape, [T, 3 * 5]);
    assert.match(tg.story, /r = σ/);
  });

  test('MultiheadAttention: per head the softmax Jacobian diag(p) − p·pᵀ on the upstream gradient', () => {
    const { c, layer } = layerOf('MultiheadAttention');
    const t = traceLayer(layer, c.input, c.upstream, { causal: true, check: false });
    assert.equal(t.derivations.length, 2);
    const p = quantity(t, 'p');
    const [heads, L] = p.shape;
    for (let r = 0; r < heads * L; r++) {
      const row = p.values.slice(r * L, (r + 1) * L);
      assertClose(
        row.reduce((a, b) => a + b, 0),
        1,
        { rel: 1e-14 },
      );
      // Causal: a query sees no later key.
      row.forEach((v, j) => j > r % L && assert.equal(v, 0));
    }
    const dS = quantity(t, 'd_loss/d_scores').values;
    for (const d of t.derivations) {
      const h = Number(d.tensor.split('.')[1]);
      // The terms shown add up to the gradient the trace computed another way (P·(dP − Σ dP·P)).
      assertClose(d.value, dS[(h * L + L - 1) * L + d.index], { rel: 1e-12, abs: 1e-15 });
      assert.equal(d.terms.length, L);
    }
  });

  test('a layer it cannot trace is refused with a TraceError', () => {
    class Custom extends nn.Module {
      forward(x: Tensor) {
        return x;
      }
    }
    assert.throws(() => traceLayer(new Custom(), [[1]], [[1]]), TraceError);
  });
});

describe('traceModel: whole steps layer by layer', () => {
  test("the fixture's small CNN (Conv2d, BatchNorm2d, ReLU, MaxPool2d, Conv2d, ReLU, Flatten, Linear)", () => {
    const c = fixture<{
      cases: {
        name: string;
        x: NestedArray[];
        y: number[];
        initialState: Record<string, NestedArray>;
        losses: number[];
      }[];
    }>('model-trajectories.json').cases[0];
    const model = new nn.Sequential(
      new nn.Conv2d(1, 4, 3, { padding: 1, dtype }),
      new nn.BatchNorm2d(4, { dtype }),
      new nn.ReLU(),
      new nn.MaxPool2d(2),
      new nn.Conv2d(4, 6, 3, { dtype }),
      new nn.ReLU(),
      new nn.Flatten(),
      new nn.Linear(24, 3, { dtype }),
    );
    const own = new Map(model.namedTensors());
    const state: Record<string, Tensor> = {};
    for (const [k, v] of Object.entries(c.initialState)) {
      const t =
        k === '7.weight'
          ? tensor(v as number[][], { dtype }).T
          : tensor(typeof v === 'number' ? [v] : flat(v), { dtype });
      state[k] = tensor(t.data, { dtype, shape: [...(own.get(k) as Tensor).shape] });
    }
    model.loadStateDict(state);
    const before = model.stateDict();
    const t = traceModel(model, c.x, c.y, { loss: 'crossEntropy', check: 6 });
    assertClose(t.loss.value, c.losses[0], { rel: 1e-12, what: 'loss' });
    assert.deepEqual(
      t.layers.map((l) => l.type),
      ['Conv2d', 'BatchNorm2d', 'ReLU', 'MaxPool2d', 'Conv2d', 'ReLU', 'Flatten', 'Linear'],
    );
    assert.ok(t.loss.gradient.maxRelDiff <= 1e-12);
    for (const l of t.layers) assertAgrees(l, t.loss.value, `CNN layer ${l.index}`);
    assert.deepEqual(t.summary.disagreements, []);
    assert.deepEqual(t.summary.traceDisagreements, []);
    assert.ok(t.summary.checked >= 6 * 6);
    // The model is untouched: same values, no gradients.
    for (const [k, v] of Object.entries(model.stateDict())) assert.deepEqual(v.data, before[k].data);
    assert.ok(model.parameters().every((p) => p.grad === null));
  });

  test('an LSTM language model (Embedding, LSTM, Linear over [N, T, vocab]) and a GRU forecaster', () => {
    const rng = new random.RandomState(7);
    const lm = new nn.Sequential(
      new nn.Embedding(6, 4, { rng }),
      new nn.LSTM(4, 5, { batchFirst: true, rng }),
      new nn.Linear(5, 6, { rng }),
    );
    const ids = [
      [0, 3, 2, 5, 1],
      [4, 4, 0, 2, 3],
    ];
    const next = [3, 2, 5, 1, 0, 4, 0, 2, 3, 1];
    const t = traceModel(lm, ids, next, { loss: 'crossEntropy', check: 5 });
    assert.deepEqual(t.output.shape, [2, 5, 6]);
    for (const l of t.layers) assertAgrees(l, t.loss.value, `LM layer ${l.index}`);
    assert.deepEqual(t.summary.disagreements, []);
    assert.deepEqual(t.summary.traceDisagreements, []);
    // The embedding takes ids: it has no input gradient.
    assert.deepEqual(
      t.layers[0].gradients.map((g) => g.name),
      ['weight'],
    );

    const fc = new nn.Sequential(
      new nn.GRU(1, 4, { batchFirst: true, rng }),
      new nn.LastStep(),
      new nn.Linear(4, 1, { rng }),
    );
    const x = [[[0.1], [0.4], [-0.3], [0.2]]];
    const f = traceModel(fc, x, [[0.5]], { loss: 'mse', check: true });
    for (const l of f.layers) assertAgrees(l, f.loss.value, `forecaster layer ${l.index}`);
    assert.deepEqual(f.summary.disagreements, []);
    assert.equal(f.layers[1].type, 'LastStep');
  });

  test("the fixture's tiny GPT: embeddings, layer norms, causal attention per head, GELU MLP, head", () => {
    const c = fixture<{
      cases: {
        name: string;
        x: number[][];
        y: number[][];
        initialState: Record<string, NestedArray[]>;
        losses: number[];
      }[];
    }>('model-trajectories.json').cases[1];
    assert.match(c.name, /^tiny GPT/);
    const gpt = new nn.GPT({
      vocabSize: 11,
      contextLength: 6,
      embedDim: 8,
      numHeads: 2,
      numLayers: 1,
      dtype,
    });
    const TOP = /^(tok|pos|lnf|head)\./;
    const LINEAR = new Set(['fc.weight', 'proj.weight', 'head.weight']);
    gpt.loadStateDict(
      Object.fromEntries(
        Object.entries(c.initialState).map(([k, v]) => {
          const t = tensor(v, { dtype });
          return [TOP.test(k) ? k : `blocks.0.${k}`, LINEAR.has(k) ? t.T : t];
        }),
      ),
    );
    const t = traceModel(gpt, c.x, c.y.flat(), { loss: 'crossEntropy', check: 4 });
    assertClose(t.loss.value, c.losses[0], { rel: 1e-12, what: 'loss' });
    assert.deepEqual(
      t.layers.map((l) => l.path),
      [
        'tok',
        'pos',
        'drop',
        'blocks.0.ln1',
        'blocks.0.attn',
        'blocks.0.attnDrop',
        'blocks.0.ln2',
        'blocks.0.fc',
        'blocks.0.act',
        'blocks.0.proj',
        'blocks.0.mlpDrop',
        'lnf',
        'head',
      ],
    );
    for (const l of t.layers) assertAgrees(l, t.loss.value, `GPT ${l.path}`);
    assert.deepEqual(t.summary.disagreements, []);
    assert.deepEqual(t.summary.traceDisagreements, []);
    // Every parameter of the GPT is traced and checked.
    const traced = new Set(
      t.layers.flatMap((l) => l.gradients.filter((g) => g.checks.length > 0).map((g) => g.key)),
    );
    assert.deepEqual([...traced].sort(), Object.keys(Object.fromEntries(gpt.namedParameters())).sort());
    // The attention's story: one softmax-Jacobian derivation per head.
    const attn = t.layers.find((l) => l.path === 'blocks.0.attn') as LayerGradientTrace;
    assert.equal(attn.derivations.length, 2);
    assert.match(attn.title, /causal/);
  });
});

test("a model file's GPT with dropout: the graph and the trace run the same deterministic step", () => {
  // The GPT is one layer of a Sequential, its dropouts inside it: both views must switch them off.
  const gpt = (dropout: number) =>
    new nn.Sequential(
      new nn.GPT({
        vocabSize: 7,
        contextLength: 5,
        embedDim: 8,
        numHeads: 2,
        dropout,
        dtype: 'float64',
        rng: new random.RandomState(3),
      }),
    );
  const withDropout = gpt(0.3);
  const without = gpt(0);
  const x = [
    [1, 2, 3, 4, 5],
    [6, 0, 1, 2, 3],
  ];
  const y = [2, 3, 4, 5, 6, 0, 1, 2, 3, 4];
  const graphed = stepGraph(withDropout, x, y, { loss: 'crossEntropy' }).loss;
  const traced = traceModel(withDropout, x, y, { loss: 'crossEntropy', check: false });
  assert.equal(graphed, stepGraph(without, x, y, { loss: 'crossEntropy' }).loss);
  assert.equal(traced.loss.value, graphed);
});
