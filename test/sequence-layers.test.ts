// Embedding, RNN, LSTM, GRU and MultiheadAttention against PyTorch's float64 values (layer-gradients.json:
// outputs, final states or attention weights, and the gradient of Σ output·upstream with respect to the
// input and every parameter), then what has no fixture (bidirectional, stacked, masks, initial states) by
// gradCheck and shapes.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { assertClose } from './helpers/close.js';
import { fixture, flat } from './helpers/fixtures.js';
import { checkModule } from './helpers/module-gradcheck.js';
import { narrow, nn, ones, random, stack, tensor, triu, Tensor, type NestedArray } from '../src/index.js';

interface LayerCase {
  name: string;
  pytorch: string;
  input: NestedArray[];
  params: Record<string, NestedArray[]>;
  output: NestedArray[];
  upstream: NestedArray[];
  loss: number;
  grads: Record<string, NestedArray[]>;
  extraOutputs?: NestedArray[];
  causalMask?: boolean;
}

const cases = fixture<{ cases: LayerCase[] }>('layer-gradients.json').cases;

function caseNamed(prefix: string): LayerCase {
  const c = cases.find((k) => k.name.startsWith(prefix));
  assert.ok(c, `layer-gradients.json has no case '${prefix}…'`);
  return c;
}

const REL = 1e-10;
// The floor for gradients that are zero in exact arithmetic, where both sides hold rounding noise: the key
// projection's bias shifts every score of a query alike, and softmax ignores such a shift (PyTorch gives
// ~2e-17 there). The MLP fixture tests use the same floor.
const ABS = 1e-15;

/** Run the case through `run` (float64), backpropagate Σ output·upstream, compare everything. */
function checkCase(
  c: LayerCase,
  module: nn.Module,
  run: (x: Tensor) => { output: Tensor; extra: Tensor[] },
  inputHasGrad = true,
): void {
  module.loadStateDict(c.params);
  const x = tensor(c.input, { dtype: 'float64', requiresGrad: inputHasGrad });
  const { output, extra } = run(x);
  assertClose(output, c.output, { rel: REL, what: `${c.name}: output` });
  const loss = output.mul(tensor(c.upstream, { dtype: 'float64' })).sum();
  assertClose(loss.item(), c.loss, { rel: REL, what: `${c.name}: loss` });
  for (let i = 0; i < (c.extraOutputs ?? []).length; i++)
    assertClose(extra[i], c.extraOutputs![i], { rel: REL, what: `${c.name}: extraOutputs[${i}]` });
  loss.backward();
  const named = new Map(module.namedParameters());
  for (const [key, want] of Object.entries(c.grads)) {
    const t = key === 'input' ? x : named.get(key);
    assert.ok(t, `${c.name}: no tensor '${key}'`);
    assert.ok(t.grad, `${c.name}: '${key}' got no gradient`);
    assertClose(t.grad.data, flat(want), { rel: REL, abs: ABS, what: `${c.name}: grad ${key}` });
  }
  // Every parameter of the module has its fixture gradient (the state dict's names are PyTorch's).
  assert.deepEqual(
    [...named.keys()].sort(),
    Object.keys(c.grads)
      .filter((k) => k !== 'input')
      .sort(),
  );
}

describe('PyTorch fixtures (float64, 1e-10 relative)', () => {
  test('Embedding(7, 4), repeated indices', () => {
    const c = caseNamed('Embedding');
    const m = new nn.Embedding(7, 4, { dtype: 'float64' });
    checkCase(c, m, (x) => ({ output: m.forward(x), extra: [] }), false);
  });

  test('RNN(3, 5, batchFirst)', () => {
    const c = caseNamed('RNN(');
    const m = new nn.RNN(3, 5, { batchFirst: true, dtype: 'float64' });
    checkCase(c, m, (x) => {
      const r = m.forwardWithState(x);
      return { output: r.output, extra: [r.h] };
    });
  });

  for (const prefix of ['LSTM(3, 5', 'LSTM(3, 4, num_layers=2']) {
    test(prefix, () => {
      const c = caseNamed(prefix);
      const layers = prefix.includes('num_layers=2') ? 2 : 1;
      const hidden = layers === 2 ? 4 : 5;
      const m = new nn.LSTM(3, hidden, { batchFirst: true, numLayers: layers, dtype: 'float64' });
      checkCase(c, m, (x) => {
        const r = m.forwardWithState(x);
        return { output: r.output, extra: [stack([r.h, r.c!], 0)] };
      });
    });
  }

  test('GRU(3, 5, batchFirst)', () => {
    const c = caseNamed('GRU(');
    const m = new nn.GRU(3, 5, { batchFirst: true, dtype: 'float64' });
    checkCase(c, m, (x) => {
      const r = m.forwardWithState(x);
      return { output: r.output, extra: [r.h] };
    });
  });

  test('MultiheadAttention(8, 2), causal, batchFirst: the mask as a tensor and as isCausal', () => {
    const c = caseNamed('MultiheadAttention');
    assert.equal(c.causalMask, true);
    for (const how of ['attnMask', 'isCausal'] as const) {
      const m = new nn.MultiheadAttention(8, 2, { batchFirst: true, dtype: 'float64' });
      checkCase(c, m, (x) => {
        const L = x.shape[1];
        const opts =
          how === 'isCausal' ? { isCausal: true } : { attnMask: triu(ones([L, L], { dtype: 'float64' }), 1) };
        const r = m.attend(x, x, x, opts);
        return { output: r.output, extra: [r.weights!] };
      });
    }
  });
});

// ---------------------------------------------------------------------------------------------------------
// Without a fixture: gradCheck through the module with its parameters as inputs, and shapes.

const rs = (seed: number, shape: number[]) => new random.RandomState(seed).randn(shape);

describe('recurrent layers by gradCheck and shapes', () => {
  test('state-dict keys and shapes are PyTorch’s: 2 layers, bidirectional, no bias', () => {
    const m = new nn.LSTM(3, 4, { numLayers: 2, bidirectional: true, dtype: 'float64' });
    assert.deepEqual(
      m.namedParameters().map(([k, t]) => `${k} ${t.shape.join('x')}`),
      [
        'weight_ih_l0 16x3',
        'weight_hh_l0 16x4',
        'bias_ih_l0 16',
        'bias_hh_l0 16',
        'weight_ih_l0_reverse 16x3',
        'weight_hh_l0_reverse 16x4',
        'bias_ih_l0_reverse 16',
        'bias_hh_l0_reverse 16',
        'weight_ih_l1 16x8',
        'weight_hh_l1 16x4',
        'bias_ih_l1 16',
        'bias_hh_l1 16',
        'weight_ih_l1_reverse 16x8',
        'weight_hh_l1_reverse 16x4',
        'bias_ih_l1_reverse 16',
        'bias_hh_l1_reverse 16',
      ],
    );
    const g = new nn.GRU(2, 3, { bias: false });
    assert.deepEqual(
      g.namedParameters().map(([k]) => k),
      ['weight_ih_l0', 'weight_hh_l0'],
    );
    // U(±1/√hidden).
    for (const p of m.parameters()) assert.ok(p.data.every((v) => Math.abs(v) <= 0.5));
  });

  for (const [kind, make] of [
    ['RNN tanh', (o: nn.RecurrentOptions) => new nn.RNN(2, 3, o)],
    ['RNN relu', (o: nn.RecurrentOptions) => new nn.RNN(2, 3, { ...o, nonlinearity: 'relu' })],
    ['LSTM', (o: nn.RecurrentOptions) => new nn.LSTM(2, 3, o)],
    ['GRU', (o: nn.RecurrentOptions) => new nn.GRU(2, 3, o)],
  ] as const) {
    test(`${kind}: 2 layers, bidirectional, initial states, final states`, () => {
      const m = make({ numLayers: 2, bidirectional: true, dtype: 'float64', rng: new random.RandomState(1) });
      const lstm = m instanceof nn.LSTM;
      const x = rs(2, [4, 2, 2]); // [time, batch, input]
      const h0 = rs(3, [4, 2, 3]);
      const c0 = rs(4, [4, 2, 3]);
      const r = m.forwardWithState(x, lstm ? { h: h0, c: c0 } : { h: h0 });
      assert.deepEqual(r.output.shape, [4, 2, 6]);
      assert.deepEqual(r.h.shape, [4, 2, 3]);
      assert.equal(r.c?.shape.join(), lstm ? '4,2,3' : undefined);
      // The last layer's final states are the output's last step (forward) and first step (reverse).
      const lastH = (k: number) => narrow(r.h, 0, k, 1).reshape([2, 3]);
      assertClose(lastH(2), narrow(narrow(r.output, 0, 3, 1), 2, 0, 3).reshape([2, 3]));
      assertClose(lastH(3), narrow(narrow(r.output, 0, 0, 1), 2, 3, 3).reshape([2, 3]));
      const sumAll = (q: nn.RecurrentResult) =>
        [q.output, q.h, ...(q.c ? [q.c] : [])]
          .map((t) => t.mul(rs(7, [...t.shape])).sum())
          .reduce((a, b) => a.add(b));
      checkModule(kind, m, lstm ? [x, h0, c0] : [x, h0], (xx, hh, cc) =>
        sumAll(m.forwardWithState(xx, lstm ? { h: hh, c: cc } : { h: hh })),
      );
    });
  }

  test('batchFirst and unbatched inputs give the time-major results, transposed or squeezed', () => {
    const a = new nn.GRU(2, 3, { dtype: 'float64', rng: new random.RandomState(5) });
    const b = new nn.GRU(2, 3, { dtype: 'float64', batchFirst: true });
    b.loadStateDict(a.stateDict());
    const x = rs(6, [5, 2, 2]);
    const ra = a.forwardWithState(x);
    const rb = b.forwardWithState(x.transpose([1, 0, 2]));
    assertClose(rb.output.transpose([1, 0, 2]), ra.output);
    assertClose(rb.h, ra.h);
    const one = a.forwardWithState(
      x.transpose([1, 0, 2]).reshape([2, 5, 2]).transpose([1, 0, 2]).reshape([5, 4]).reshape([5, 2, 2]),
    );
    assertClose(one.output, ra.output);
    const u = a.forwardWithState(rs(8, [5, 2]));
    assert.deepEqual(u.output.shape, [5, 3]);
    assert.deepEqual(u.h.shape, [1, 3]);
    assert.throws(() => a.forward(rs(9, [5, 2, 4])), /expected \[time, batch, 2\]/);
    assert.throws(
      () => a.forwardWithState(x, { h: rs(1, [2, 2, 3]) }),
      /initial h has shape \[2, 2, 3\], expected \[1, 2, 3\]/,
    );
  });

  test('dropout between layers acts in training only, drawn from the given stream', () => {
    const make = () =>
      new nn.LSTM(2, 3, { numLayers: 2, dropout: 0.5, dtype: 'float64', rng: new random.RandomState(3) });
    const x = rs(4, [3, 2, 2]);
    const a = make().forward(x);
    assertClose(make().forward(x), a);
    const m = make();
    m.eval();
    const plain = new nn.LSTM(2, 3, { numLayers: 2, dtype: 'float64' });
    plain.loadStateDict(m.stateDict());
    assertClose(m.forward(x), plain.forward(x));
  });

  test('Embedding: N(0, 1) init, paddingIdx row zero and without gradient, shapes', () => {
    const e = new nn.Embedding(6, 3, { paddingIdx: -1, dtype: 'float64', rng: new random.RandomState(0) });
    assert.equal(e.paddingIdx, 5);
    assert.deepEqual(Array.from(e.weight.data.subarray(15)), [0, 0, 0]);
    assertClose(e.weight.data.subarray(0, 15), new random.RandomState(0).randn(15).data);
    const y = e.forward(tensor([[5, 1, 5]]));
    assert.deepEqual(y.shape, [1, 3, 3]);
    y.sum().backward();
    assert.deepEqual(Array.from(e.weight.grad!.data.subarray(15)), [0, 0, 0]);
    assert.throws(() => e.forward(tensor([6])), /index 6 at position 0 is outside 0…5/);
  });
});

describe('MultiheadAttention by gradCheck and shapes', () => {
  test('keys: in_proj_weight, in_proj_bias, out_proj.weight, out_proj.bias in PyTorch layouts', () => {
    const m = new nn.MultiheadAttention(6, 3);
    assert.deepEqual(
      m.namedParameters().map(([k, t]) => `${k} ${t.shape.join('x')}`),
      ['in_proj_weight 18x6', 'in_proj_bias 18', 'out_proj.weight 6x6', 'out_proj.bias 6'],
    );
    assert.ok(m.in_proj_bias!.data.every((v) => v === 0));
    assert.throws(() => new nn.MultiheadAttention(6, 4), /not divisible/);
  });

  test('self-attention with causal and key-padding masks, per-head weights', () => {
    const m = new nn.MultiheadAttention(4, 2, {
      batchFirst: true,
      dtype: 'float64',
      rng: new random.RandomState(2),
    });
    m.loadStateDict({ in_proj_bias: rs(3, [12]), 'out_proj.bias': rs(4, [4]) }, { strict: false });
    const x = rs(5, [2, 3, 4]);
    const pad = tensor([
      [0, 0, 1],
      [0, 0, 0],
    ]);
    const r = m.attend(x, x, x, { isCausal: true, keyPaddingMask: pad, averageAttnWeights: false });
    assert.deepEqual(r.output.shape, [2, 3, 4]);
    assert.deepEqual(r.weights!.shape, [2, 2, 3, 3]);
    // Causal: nothing above the diagonal; padding: batch 0 never looks at key 2; rows sum to 1.
    for (const [b, h, t, s] of [...Array(36).keys()].map((i) => [
      (i / 18) | 0,
      ((i / 9) | 0) % 2,
      ((i / 3) | 0) % 3,
      i % 3,
    ])) {
      const w = r.weights!.data[((b * 2 + h) * 3 + t) * 3 + s];
      if (s > t || (b === 0 && s === 2)) assert.equal(w, 0);
    }
    const rowSums = r.weights!.sum(-1).data;
    assertClose(rowSums, new Float64Array(12).fill(1), { rel: 1e-14 });
    checkModule('masked self-attention', m, [x], (xx) => {
      const q = m.attend(xx, xx, xx, { isCausal: true, keyPaddingMask: pad, averageAttnWeights: false });
      return q.output.sum().add(q.weights!.mul(rs(6, [2, 2, 3, 3])).sum());
    });
  });

  test('cross-attention (query ≠ key = value, and all three different), sequence-first and unbatched', () => {
    const m = new nn.MultiheadAttention(4, 2, { dtype: 'float64', rng: new random.RandomState(7) });
    m.loadStateDict({ in_proj_bias: rs(3, [12]) }, { strict: false });
    const q = rs(8, [2, 3, 4]); // [target, batch, E]
    const kv = rs(9, [5, 3, 4]);
    const v = rs(10, [5, 3, 4]);
    const r = m.attend(q, kv, kv);
    assert.deepEqual(r.output.shape, [2, 3, 4]);
    assert.deepEqual(r.weights!.shape, [3, 2, 5]);
    checkModule('cross-attention k = v', m, [q, kv], (a, b) => m.attend(a, b, b).output);
    checkModule('cross-attention k ≠ v', m, [q, kv, v], (a, b, c) => m.attend(a, b, c).output);
    // Unbatched is batch 1 squeezed.
    const u = m.attend(
      q.reshape([2, 3, 4]).transpose([1, 0, 2]).reshape([6, 4]).reshape([3, 2, 4]).transpose([1, 0, 2]),
      kv,
      kv,
    );
    assertClose(u.output, r.output);
    const q0 = rs(11, [2, 4]);
    const k0 = rs(12, [5, 4]);
    const one = m.attend(q0, k0, k0);
    const batched = m.attend(q0.reshape([2, 1, 4]), k0.reshape([5, 1, 4]), k0.reshape([5, 1, 4]));
    assertClose(one.output, batched.output.reshape([2, 4]), { rel: 1e-15 });
    assert.deepEqual(one.weights!.shape, [2, 5]);
  });

  test('dropout on the weights in training, none in eval; the additive bias mask', () => {
    const m = new nn.MultiheadAttention(4, 1, {
      dropout: 0.5,
      dtype: 'float64',
      rng: new random.RandomState(1),
    });
    const x = rs(2, [3, 1, 4]);
    const w = m.attend(x, x, x).weights!;
    assert.ok(w.data.some((v) => v === 0));
    m.eval();
    const e = m.attend(x, x, x).weights!;
    assert.ok(e.data.every((v) => v > 0));
    const bias = triu(ones([3, 3], { dtype: 'float64' }), 1).mul(-1e300);
    const viaBias = m.attend(x, x, x, { attnBias: bias });
    const viaMask = m.attend(x, x, x, { isCausal: true });
    assertClose(viaBias.output, viaMask.output, { rel: 1e-15 });
  });
});

test('float32 layers give the float64 fixture values to float32 precision', () => {
  for (const [prefix, make] of [
    ['LSTM(3, 4, num_layers=2', () => new nn.LSTM(3, 4, { numLayers: 2, batchFirst: true })],
    ['GRU(', () => new nn.GRU(3, 5, { batchFirst: true })],
    ['MultiheadAttention', () => new nn.MultiheadAttention(8, 2, { batchFirst: true })],
  ] as const) {
    const c = caseNamed(prefix);
    const m: nn.Module = make();
    m.loadStateDict(c.params);
    const x = tensor(c.input);
    const out =
      m instanceof nn.MultiheadAttention ? m.attend(x, x, x, { isCausal: true }).output : m.forward(x);
    assert.equal(out.dtype, 'float32');
    assertClose(out, c.output, { rel: 1e-4, abs: 1e-5, what: `${c.name} in float32` });
  }
});
