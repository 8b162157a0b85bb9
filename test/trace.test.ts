// The teaching views' library side: a traced step of the seed network matches the notebook's formulas
// term by term (recomputed here in scalars) and PyTorch's gradients; every chain product equals autograd;
// every gradient agrees with its finite difference within 1e-7; the notebook's order reproduces its print.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ACTIVATION_OPS, NOTEBOOK_LOSSES, nn, random, seedData, seedNetwork, tensor } from '../src/index.js';
import {
  compareNotebookOrder,
  stepGraph,
  toDot,
  trace,
  TraceError,
  type ParameterTrace,
  type StepTrace,
  type TraceLoss,
} from '../src/trace.js';
import { runSeedDemo } from '../cli/seed-demo.js';
import { assertClose } from './helpers/close.js';
import { buildMlp, fixture, fixtureText, type MlpCase } from './helpers/fixtures.js';

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));
const cases = fixture<{ cases: MlpCase[] }>('mlp-gradients.json').cases;
const traceable = cases.filter((c) => c.loss !== 'huber');

function byName(t: StepTrace): Map<string, ParameterTrace> {
  return new Map(t.parameters.map((p) => [p.name, p]));
}

function traceCase(c: MlpCase, options: { check?: boolean | number } = {}): StepTrace {
  return trace(buildMlp(c, 'float64'), c.x, c.y, { loss: c.loss as TraceLoss, update: false, ...options });
}

/** The notebook's closed forms for the seed network, in scalars, from its initial weights. */
function notebookScalars() {
  const rng = new random.RandomState(42);
  const [w1, w3, w2, w4] = rng.rand(2, 2).data;
  const [w5, w6] = rng.rand(2, 1).data;
  const [x1, x2, y] = [0.5, 0.6, 0.8];
  const h1 = sigmoid(w1 * x1 + w2 * x2);
  const h2 = sigmoid(w3 * x1 + w4 * x2);
  const output = sigmoid(w5 * h1 + w6 * h2);
  const o1 = output * (1 - output);
  const d = {
    'd_loss/d_output': output - y,
    'd_output/d_w5': h1 * o1,
    'd_output/d_w6': h2 * o1,
    'd_output/d_b3': o1,
    'd_output/d_h1': w5 * o1,
    'd_output/d_h2': w6 * o1,
    'd_h1/d_w1': x1 * h1 * (1 - h1),
    'd_h1/d_w2': x2 * h1 * (1 - h1),
    'd_h1/d_b1': h1 * (1 - h1),
    'd_h2/d_w3': x1 * h2 * (1 - h2),
    'd_h2/d_w4': x2 * h2 * (1 - h2),
    'd_h2/d_b2': h2 * (1 - h2),
  };
  const L = d['d_loss/d_output'];
  const grads = {
    w5: L * d['d_output/d_w5'],
    w6: L * d['d_output/d_w6'],
    b3: L * d['d_output/d_b3'],
    w1: L * d['d_output/d_h1'] * d['d_h1/d_w1'],
    w2: L * d['d_output/d_h1'] * d['d_h1/d_w2'],
    b1: L * d['d_output/d_h1'] * d['d_h1/d_b1'],
    w3: L * d['d_output/d_h2'] * d['d_h2/d_w3'],
    w4: L * d['d_output/d_h2'] * d['d_h2/d_w4'],
    b2: L * d['d_output/d_h2'] * d['d_h2/d_b2'],
  };
  return {
    values: { w1, w2, w3, w4, w5, w6, b1: 0, b2: 0, b3: 0 },
    h1,
    h2,
    output,
    loss: 0.5 * (output - y) ** 2,
    d,
    grads,
  };
}

describe("trace of the seed network, in the notebook's notation", () => {
  const { x, y } = seedData();
  const t = trace(seedNetwork(), x, y, { loss: 'mseHalfSum', lr: 0.1 });
  const ref = notebookScalars();
  const params = byName(t);

  test("the loss in either spelling: 'mse-half-sum' is 'mseHalfSum' for trace and stepGraph", () => {
    const kebab = trace(seedNetwork(), x, y, { loss: 'mse-half-sum', lr: 0.1 });
    assert.deepEqual(kebab, t);
    assert.deepEqual(
      stepGraph(seedNetwork(), x, y, { loss: 'mse-half-sum' }),
      stepGraph(seedNetwork(), x, y),
    );
    assert.throws(() => trace(seedNetwork(), x, y, { loss: 'huber' as 'mse' }), {
      name: 'TraceError',
      message:
        'trace: the loss "huber" is not supported; a trace explains mseHalfSum, mse, crossEntropy, bce',
    });
  });

  test("names are the notebook's: w1…w6, b1…b3, h1, h2, output", () => {
    assert.equal(t.notation, 'seed');
    assert.deepEqual([...params.keys()].sort(), ['b1', 'b2', 'b3', 'w1', 'w2', 'w3', 'w4', 'w5', 'w6']);
    assert.equal(params.get('w1')!.role, 'weight from x1 to h1');
    assert.equal(params.get('w2')!.role, 'weight from x2 to h1');
    assert.equal(params.get('w3')!.role, 'weight from x1 to h2');
    assert.equal(params.get('w4')!.role, 'weight from x2 to h2');
    assert.equal(params.get('w6')!.role, 'weight from h2 to output');
    assert.equal(params.get('b3')!.role, 'bias for output');
    assert.deepEqual(params.get('w3')!.index, [0, 1]);
    assert.equal(params.get('w3')!.tensor, '0.weight');
    assert.deepEqual(t.input.names, ['x1', 'x2']);
    assert.deepEqual(
      t.layers[0].units.map((u) => u.a),
      ['h1', 'h2'],
    );
    assert.deepEqual(t.output.names, ['output']);
    assert.equal(t.loss.formula, '0.5 * (output - y)^2');
    for (const [name, v] of Object.entries(ref.values)) assert.equal(params.get(name)!.value, v, name);
  });

  test('forward values and the loss match the closed forms', () => {
    assertClose(t.layers[0].a[0][0], ref.h1, { rel: 1e-15, what: 'h1' });
    assertClose(t.layers[0].a[0][1], ref.h2, { rel: 1e-15, what: 'h2' });
    assertClose(t.output.values[0][0], ref.output, { rel: 1e-15, what: 'output' });
    assertClose(t.loss.value, ref.loss, { rel: 1e-14, what: 'loss' });
  });

  test("every partial derivative is the notebook's formula with the notebook's value", () => {
    const factors = new Map(t.parameters.flatMap((p) => p.terms[0].factors.map((f) => [f.name, f] as const)));
    assert.deepEqual([...factors.keys()].sort(), Object.keys(ref.d).sort());
    for (const [name, value] of Object.entries(ref.d))
      assertClose(factors.get(name)!.value, value, { rel: 1e-14, what: name });
    // The notebook's own lines, '- d_output/d_w5 = h1 * output * (1 - output)', are the formulas used.
    const notebook = fixtureText('backpropagation-notebook.txt');
    const lines = [...notebook.matchAll(/^ {3}- (d_\w+\/d_\w+) = (.+)$/gm)];
    assert.equal(lines.length, 9);
    for (const [, name, formula] of lines) assert.equal(factors.get(name)?.formula, formula.trim(), name);
  });

  test('each gradient is the product of the named factors along the chain, equal to autograd', () => {
    assert.deepEqual(
      params.get('w1')!.terms[0].factors.map((f) => f.name),
      ['d_loss/d_output', 'd_output/d_h1', 'd_h1/d_w1'],
    );
    assert.deepEqual(
      params.get('w5')!.terms[0].factors.map((f) => f.name),
      ['d_loss/d_output', 'd_output/d_w5'],
    );
    for (const [name, g] of Object.entries(ref.grads)) {
      const p = params.get(name)!;
      assertClose(p.chain, g, { rel: 1e-14, what: `${name} chain` });
      assertClose(p.grad, g, { rel: 1e-14, what: `${name} autograd` });
      const product = p.terms[0].factors.reduce((a, f) => a * f.value, 1);
      assertClose(p.terms[0].product, product, { rel: 1e-15, what: `${name} product` });
    }
  });

  test('the layer records: local derivatives, and the upstream gradient by autograd', () => {
    const [hidden, out] = t.layers;
    assert.equal(hidden.activation, 'sigmoid');
    assertClose(hidden.local[0][0], ref.h1 * (1 - ref.h1), { rel: 1e-15, what: 'dh1/dz' });
    assertClose(out.upstream[0][0], ref.d['d_loss/d_output'], { rel: 1e-15, what: 'upstream at output' });
    assertClose(hidden.upstream[0][0], ref.d['d_loss/d_output'] * ref.d['d_output/d_h1'], {
      rel: 1e-14,
      what: 'upstream at h1',
    });
    assertClose(hidden.upstream[0][1], ref.d['d_loss/d_output'] * ref.d['d_output/d_h2'], {
      rel: 1e-14,
      what: 'upstream at h2',
    });
    assertClose(hidden.delta[0][0], hidden.upstream[0][0] * hidden.local[0][0], {
      rel: 1e-14,
      what: 'delta at h1',
    });
    assert.equal(hidden.units[0].localFormula, 'h1 * (1 - h1)');
    assert.equal(hidden.units[1].zFormula, 'w3*x1 + w4*x2 + b2');
  });

  test('every gradient agrees with its finite difference within 1e-7 relative', () => {
    assert.equal(t.check.checked, 9);
    assert.deepEqual(t.check.disagreements, []);
    for (const p of t.parameters) assert.ok(p.relError! <= 1e-7, `${p.name}: ${p.relError}`);
  });

  test('the update is SGD: new = old - lr * grad, written into the model; the loss goes down', () => {
    const model = seedNetwork();
    const stateBefore = random.getState();
    const s = trace(model, x, y, { lr: 0.1 });
    for (const p of s.parameters) assert.equal(p.newValue, p.value - 0.1 * p.grad, p.name);
    const w = model.stateDict()['0.weight'].data;
    assert.deepEqual(
      Array.from(w),
      [s.parameters[0], s.parameters[1], s.parameters[2], s.parameters[3]].map((p) => p.newValue),
    );
    assert.ok(s.loss.after < s.loss.value);
    // The model's own gradients and the default random stream are untouched: the trace runs on a copy.
    assert.ok(model.parameters().every((p) => p.grad === null));
    assert.deepEqual(random.getState(), stateBefore);
    const frozen = seedNetwork();
    trace(frozen, x, y, { update: false });
    assert.deepEqual(
      frozen.stateDict()['2.weight'].toArray(),
      seedNetwork().stateDict()['2.weight'].toArray(),
    );
  });
});

describe("trace against PyTorch's fixture and finite differences", () => {
  test("seed-shaped 2-2-1 sigmoid, half-sum MSE: PyTorch's gradients, in the notebook's names", () => {
    const c = cases.find((k) => k.name === 'seed-shaped 2-2-1 sigmoid, half-sum MSE')!;
    const t = traceCase(c);
    assert.equal(t.notation, 'seed');
    assertClose(t.loss.value, c.lossValue, { rel: 1e-12, what: 'loss' });
    assertClose(t.output.values.flat(), c.output.flat(), { rel: 1e-12, what: 'output' });
    const p = byName(t);
    const [gw1, gw2] = c.gradWeights;
    const expected: Record<string, number> = {
      w1: gw1[0][0],
      w2: gw1[1][0],
      w3: gw1[0][1],
      w4: gw1[1][1],
      w5: gw2[0][0],
      w6: gw2[1][0],
      b1: c.gradBiases[0][0],
      b2: c.gradBiases[0][1],
      b3: c.gradBiases[1][0],
    };
    for (const [name, g] of Object.entries(expected)) {
      assertClose(p.get(name)!.grad, g, { rel: 1e-12, what: `${name} autograd` });
      assertClose(p.get(name)!.chain, g, { rel: 1e-12, what: `${name} chain rule` });
    }
  });

  for (const c of traceable)
    test(`${c.name}: chain products equal autograd and PyTorch; finite differences within 1e-7`, () => {
      const t = traceCase(c);
      assertClose(t.loss.value, c.lossValue, { rel: 1e-12, what: 'loss' });
      for (const p of t.parameters) {
        const [l, kind] = [p.layer - 1, p.kind];
        const torch =
          kind === 'weight' ? c.gradWeights[l][p.index[0]][p.index[1]] : c.gradBiases[l][p.index[0]];
        const scale = Math.max(Math.abs(torch), 1e-12);
        assert.ok(
          Math.abs(p.grad - torch) <= 1e-10 * scale,
          `${p.name}: autograd ${p.grad} vs PyTorch ${torch}`,
        );
        assert.ok(
          Math.abs(p.chain - p.grad) <= 1e-12 * scale,
          `${p.name}: chain ${p.chain} vs autograd ${p.grad}`,
        );
        assert.ok(p.relError! <= 1e-7, `${p.name}: finite difference ${p.numeric} vs ${p.grad}`);
      }
      assert.equal(t.check.checked, t.parameters.length);
      // A batch: each parameter's gradient is the sum of one chain term per row.
      assert.equal(t.parameters[0].terms.length, c.x.length);
    });

  // Every activation of the op table, its hand-derived derivative (the table's `trace` part) included.
  for (const op of ACTIVATION_OPS)
    test(`${op}: a traced 3-4-2 step's chain products equal autograd; finite differences within 1e-7`, () => {
      const rng = new random.RandomState(8);
      const model = new nn.Sequential(
        new nn.Linear(3, 4, { dtype: 'float64', rng }),
        new nn.ACTIVATION_MODULES[op](),
        new nn.Linear(4, 2, { dtype: 'float64', rng }),
      );
      const x = rng.randn(5, 3).mul(2);
      const y = rng.randn(5, 2);
      const t = trace(model, x, y, { loss: 'mse', update: false });
      assert.equal(t.layers[0].activation, op);
      for (const p of t.parameters) {
        const scale = Math.max(Math.abs(p.grad), 1e-12);
        assert.ok(Math.abs(p.chain - p.grad) <= 1e-12 * scale, `${p.name}: chain ${p.chain} vs ${p.grad}`);
        assert.ok(p.relError! <= 1e-7, `${p.name}: finite difference ${p.numeric} vs ${p.grad}`);
      }
    });

  test('systematic names for any other MLP', () => {
    const c = cases.find((k) => k.name === 'tanh-relu regression')!;
    const t = traceCase(c, { check: false });
    assert.equal(t.notation, 'systematic');
    const names = t.parameters.map((p) => p.name);
    assert.ok(names.includes('L1.W[0][1]') && names.includes('L2.b[0]') && names.includes('L3.W[3][1]'));
    assert.deepEqual(t.layers[0].units[3].a, 'h1_3');
    assert.deepEqual(t.output.names, ['out_0', 'out_1']);
    assert.deepEqual(t.input.names, ['x_0', 'x_1', 'x_2']);
    const p = byName(t).get('L2.W[1][3]')!;
    assert.deepEqual(
      p.terms[0].factors.map((f) => [f.name, f.formula]),
      [
        ['d_loss/d_h2_3', 'Σ_k d_loss/d_z3_k * L3.W[3][k]'],
        ['d_h2_3/d_z2_3', '1 if z2_3 > 0, else 0'],
        ['d_z2_3/d_L2.W[1][3]', 'h1_1'],
      ],
    );
    assert.equal(t.layers[0].units[0].localFormula, '1 - h1_0^2');
    assert.equal(t.output.gradientFormulas[1], '2 * (out_1 - y_1) / 8');
    assert.ok(t.parameters.every((q) => q.numeric === null));
  });

  test('check: n checks at most n elements per tensor, spread over it', () => {
    const c = cases.find((k) => k.name === 'gelu deep classifier')!;
    const t = traceCase(c, { check: 3 });
    const perTensor = new Map<string, number>();
    for (const p of t.parameters)
      if (p.numeric !== null) perTensor.set(p.tensor, (perTensor.get(p.tensor) ?? 0) + 1);
    assert.deepEqual([...perTensor.values()], [3, 3, 3, 3, 3, 3]);
    assert.equal(t.check.checked, 18);
    assert.equal(t.check.total, t.parameters.length);
  });

  test('cross-entropy takes class labels or probability rows; one-hot rows give the same step', () => {
    const c = cases.find((k) => k.name === 'relu classifier, softmax cross-entropy')!;
    const labels = c.y as number[];
    const byLabel = traceCase(c, { check: false });
    const oneHot = labels.map((k) => [0, 1, 2].map((j) => (j === k ? 1 : 0)));
    const byProb = trace(buildMlp(c, 'float64'), c.x, oneHot, {
      loss: 'crossEntropy',
      update: false,
      check: false,
    });
    assert.deepEqual(byLabel.target.labels, labels);
    assert.deepEqual(byLabel.target.values, oneHot);
    byLabel.parameters.forEach((p, i) =>
      assertClose(byProb.parameters[i].grad, p.grad, { rel: 1e-13, what: p.name }),
    );
  });
});

describe('what a trace refuses, with a message that says what it takes', () => {
  const x = [[0.5, 0.6]];
  test('Softmax and Dropout layers, unknown losses, misplaced activations', () => {
    const m = (...l: nn.Module[]) => new nn.Sequential(...l);
    const lin = () => new nn.Linear(2, 2, { dtype: 'float64' });
    assert.throws(
      () => trace(m(lin(), new nn.Softmax()), x, [1]),
      (e: Error) => e instanceof TraceError && /Softmax.*'crossEntropy' on the logits/.test(e.message),
    );
    assert.throws(
      () => trace(m(lin(), new nn.Dropout(0.1)), x, [[0, 1]]),
      /Dropout, which makes a training step random/,
    );
    assert.throws(() => trace(m(new nn.Tanh(), lin()), x, [[0, 1]]), /comes before any Linear layer/);
    assert.throws(
      () => trace(m(lin(), new nn.Tanh(), new nn.ReLU()), x, [[0, 1]]),
      /two activations in a row/,
    );
    assert.throws(
      () => trace(m(lin()), x, [[0, 1]], { loss: 'huber' as TraceLoss }),
      /the loss "huber" is not supported; a trace explains mseHalfSum, mse, crossEntropy, bce/,
    );
    assert.throws(
      () => trace(m(lin()), x, [[0, 1]], { loss: 'bce' }),
      /'bce' takes probabilities.*identity, not sigmoid/,
    );
    assert.throws(() => trace(m(lin()), x, [[0, 1]], { notation: 'seed' }), /fit only its 2-2-1 network/);
    assert.throws(() => trace(m(lin()), [[1, 2, 3]], [[0, 1]]), /x has shape \[1, 3\]; expected \[rows, 2\]/);
    assert.throws(() => trace(m(lin()), x, [[0, 1, 2]]), /y has shape \[1, 3\]; expected \[1, 2\]/);
    assert.throws(
      () => trace(m(lin()), x, [5], { loss: 'crossEntropy' }),
      /class label 5 of row 0 is not an integer in \[0, 2\)/,
    );
  });

  test('Identity layers are allowed anywhere; a float32 model is traced in float64', () => {
    const model = new nn.Sequential(new nn.Identity(), new nn.Linear(2, 1), new nn.Identity());
    const t = trace(model, tensor([[0.5, 0.6]]), [[1]], { loss: 'mse' });
    assert.equal(t.dtype, 'float64');
    assert.equal(t.layers.length, 1);
    assert.equal(t.layers[0].activation, 'identity');
    assert.deepEqual(t.check.disagreements, []);
  });
});

describe("the notebook's update order beside backpropagation", () => {
  const c = compareNotebookOrder();

  test("the notebook column reproduces the notebook's printed losses exactly", () => {
    assert.equal(c.losses.length, 10);
    assert.deepEqual(
      c.losses.map((r) => r.epoch),
      [10, 20, 30, 40, 50, 60, 70, 80, 90, 100],
    );
    assert.deepEqual(
      c.losses.map((r) => r.notebook),
      NOTEBOOK_LOSSES,
    );
  });

  test('the correct column is what the demo (fit) prints, within 1e-13', async () => {
    const demo = await runSeedDemo(() => {});
    c.losses.forEach((r, i) => assertClose(r.correct, demo[i], { rel: 1e-13, what: `epoch ${r.epoch}` }));
    assert.ok(c.losses.every((r) => r.relDifference > 1e-6 && r.relDifference < 1e-3));
  });

  test('where they part: the hidden gradient through the already-updated w5/w6', () => {
    const f = c.firstStep;
    const ref = notebookScalars();
    assertClose(f.w5.after, ref.values.w5 - 0.1 * ref.grads.w5, { rel: 1e-15, what: 'w5 updated first' });
    const o1 = ref.output * (1 - ref.output);
    assertClose(f.hidden[0].correct, ref.values.w5 * o1, {
      rel: 1e-14,
      what: 'd_output/d_h1 with the pass weights',
    });
    assertClose(f.hidden[0].notebook, f.w5.after * o1, {
      rel: 1e-14,
      what: 'd_output/d_h1 with the updated w5',
    });
    const w1 = f.gradients.find((g) => g.name === 'w1')!;
    assertClose(w1.correct, ref.grads.w1, { rel: 1e-14, what: 'w1, backpropagation' });
    assertClose(w1.notebook, ref.grads.w1 * (f.w5.after / ref.values.w5), {
      rel: 1e-13,
      what: 'w1, the notebook',
    });
    assert.ok(f.gradients.every((g) => g.relDifference > 0.02 && g.relDifference < 0.03));
  });
});

describe('the computation graph of a step', () => {
  test('every tensor from inputs to loss, with values and gradients equal to the trace', () => {
    const { x, y } = seedData();
    const g = stepGraph(seedNetwork(), x, y);
    const t = trace(seedNetwork(), x, y, { check: false });
    const node = (name: string) => g.nodes.find((n) => n.name?.startsWith(name))!;
    assert.equal(g.loss, t.loss.value);
    const w = node('weights_input_hidden');
    assert.equal(w.kind, 'parameter');
    assert.deepEqual(
      w.grad,
      t.parameters.slice(0, 4).map((p) => p.grad),
    );
    const h = node('hidden_output');
    assert.equal(h.op, 'sigmoid');
    assert.deepEqual(h.grad, t.layers[0].upstream[0]);
    const loss = g.nodes.at(-1)!;
    assert.equal(loss.kind, 'loss');
    assert.deepEqual(loss.grad, [1]);
    assert.equal(node('X').kind, 'data');
    assert.equal(node('X').grad, null);
    // Topological: every input comes before the node that uses it.
    const at = new Map(g.nodes.map((n, i) => [n.id, i]));
    for (const n of g.nodes) for (const i of n.inputs) assert.ok(at.get(i)! < at.get(n.id)!);
    const dot = toDot(g);
    assert.match(dot, /^digraph step \{/);
    assert.match(
      dot,
      /label="sigmoid: hidden_output = \[h1, h2\]\\nshape \[1×2\]\\nvalue \[0\.651688, 0\.697317\]\\ngrad/,
    );
    assert.equal(
      (dot.match(/ -> /g) ?? []).length,
      g.nodes.reduce((s, n) => s + n.inputs.length, 0),
    );
  });
});
