// Embedding, RNN, LSTM, GRU and MultiheadAttention against PyTorch's float64 values (layer-gradients.json:
// outputs, final states or attention weights, and the gradient of Σ output·upstream with respect to the
// input and every parameter), then what has no fixture (bidirectional, stacked, masks, initial states) by
// gradCheck and shapes.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { assertClose } from './helpers/close.js';
import { fixture, flat } from './helpers/fixtures.js';
import { gradCheck, nn, ones, random, stack, tensor, triu, Tensor, type NestedArray } from '../src/index.js';

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
