// Modules: parameter discovery, state dicts, train/eval, Linear, Dropout and every initialiser.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { nn, random, tensor, Tensor, zeros } from '../src/index.js';
import { fixture } from './helpers/fixtures.js';

/** A module that is not a Sequential: parameters are found by walking its fields. */
class Net extends nn.Module {
  scale = tensor([2], { dtype: 'float64' }); // a buffer: a tensor without requiresGrad
  fc1: nn.Linear;
  act = new nn.ReLU();
  blocks: nn.Module[];
  _hidden = tensor([1], { requiresGrad: true }); // underscore fields are private, not state
  constructor(rng: random.RandomState) {
    super();
    this.fc1 = new nn.Linear(3, 4, { rng, dtype: 'float64' });
    this.blocks = [new nn.Linear(4, 2, { rng, dtype: 'float64' }), new nn.Dropout(0.5, { rng })];
  }
  forward(x: Tensor): Tensor {
    let h = this.act.forward(this.fc1.forward(x));
    for (const b of this.blocks) h = b.forward(h);
    return h.mul(this.scale);
  }
}

function mlp(seed = 0) {
  const rng = new random.RandomState(seed);
  return new nn.Sequential(
    new nn.Linear(2, 3, { rng, dtype: 'float64' }),
    new nn.Tanh(),
    new nn.Linear(3, 1, { rng, dtype: 'float64' }),
  );
}

const values = (m: nn.Module) => m.namedTensors().map(([k, t]) => [k, Array.from(t.data)]);

describe('parameters and state keys', () => {
  test('Linear: weight [in, out] then bias [out]', () => {
    const l = new nn.Linear(3, 5);
    const [w, b] = l.parameters();
    assert.equal(w, l.weight);
    assert.equal(b, l.bias);
    assert.deepEqual(w.shape, [3, 5]);
    assert.deepEqual(b.shape, [5]);
    assert.ok(w.requiresGrad && b.requiresGrad && w.isLeaf);
    assert.equal(l.numParameters(), 20);
  });

  test('Sequential: keys are the layer indices; activations have no state', () => {
    const m = mlp();
    assert.deepEqual(Object.keys(m.stateDict()), ['0.weight', '0.bias', '2.weight', '2.bias']);
    assert.deepEqual(
      m.namedParameters().map(([k]) => k),
      ['0.weight', '0.bias', '2.weight', '2.bias'],
    );
    assert.deepEqual(
      m.parameters(),
      m.layers.flatMap((l) => (l instanceof nn.Linear ? [l.weight, l.bias] : [])),
    );
    assert.equal(m.numParameters(), 2 * 3 + 3 + 3 * 1 + 1);
    for (const act of [new nn.ReLU(), new nn.Sigmoid(), new nn.Softmax(), new nn.Dropout(0.1)])
      assert.deepEqual(act.parameters(), []);
  });

  test('fields are walked in declaration order: own tensors, children, arrays of modules as name.i', () => {
    const net = new Net(new random.RandomState(1));
    assert.deepEqual(
      net.namedTensors().map(([k]) => k),
      ['scale', 'fc1.weight', 'fc1.bias', 'blocks.0.weight', 'blocks.0.bias'],
    );
    // The buffer is state but not a parameter; `_hidden` is neither.
    assert.deepEqual(
      net.namedParameters().map(([k]) => k),
      ['fc1.weight', 'fc1.bias', 'blocks.0.weight', 'blocks.0.bias'],
    );
    assert.equal(net.numParameters(), 12 + 4 + 8 + 2);
    assert.deepEqual(
      net.namedChildren().map(([k]) => k),
      ['fc1', 'act', 'blocks.0', 'blocks.1'],
    );
  });

  test('bias: false leaves only the weight', () => {
    const l = new nn.Linear(4, 2, { bias: false });
    assert.equal(l.bias, null);
    assert.deepEqual(
      l.namedParameters().map(([k]) => k),
      ['weight'],
    );
    const x = tensor([[1, 2, 3, 4]]);
    const y = l.forward(x);
    assert.deepEqual(Array.from(y.data), Array.from(x.matmul(l.weight).data));
  });
});

describe('state dicts', () => {
  test('stateDict returns copies cut from the graph', () => {
    const m = mlp();
    const before = values(m);
    const s = m.stateDict();
    assert.notEqual(s['0.weight'], (m.layers[0] as nn.Linear).weight);
    assert.equal(s['0.weight'].requiresGrad, false);
    assert.equal(s['0.weight'].dtype, 'float64');
    s['0.weight'].data.fill(7);
    assert.deepEqual(values(m), before);
  });

  test('loadStateDict copies tensors or nested arrays in place', () => {
    const m = mlp(0);
    const w0 = (m.layers[0] as nn.Linear).weight;
    m.loadStateDict(mlp(5).stateDict());
    assert.deepEqual(values(m), values(mlp(5)));
    assert.equal((m.layers[0] as nn.Linear).weight, w0, 'the tensor objects stay (optimizers keep them)');
    m.loadStateDict({
      '0.weight': [
        [1, 2, 3],
        [4, 5, 6],
      ],
      '0.bias': [0.5, 0.25, 0.125],
      '2.weight': [[1], [-1], [2]],
      '2.bias': [3],
    });
    assert.deepEqual(Array.from(w0.data), [1, 2, 3, 4, 5, 6]);
    const y = m.forward(tensor([[0, 0]], { dtype: 'float64' }));
    assert.equal(y.item(), Math.tanh(0.5) - Math.tanh(0.25) + 2 * Math.tanh(0.125) + 3);
  });

  test('a float64 state loads into a float32 module, rounding to float32', () => {
    const m32 = new nn.Linear(1, 1);
    m32.loadStateDict({ weight: tensor([[0.1]], { dtype: 'float64' }), bias: [1 / 3] });
    assert.equal(m32.weight.data[0], Math.fround(0.1));
    assert.equal(m32.bias!.data[0], Math.fround(1 / 3));
  });

  test('wrong shapes are rejected naming the key and both shapes', () => {
    const m = mlp();
    const s = m.stateDict();
    assert.throws(
      () => m.loadStateDict({ ...s, '0.weight': zeros([3, 2]) }),
      (e: Error) =>
        e.message.includes("'0.weight'") && e.message.includes('[3, 2]') && e.message.includes('[2, 3]'),
    );
    assert.throws(
      () => m.loadStateDict({ ...s, '2.bias': [1, 2] }),
      (e: Error) => e.message.includes("'2.bias'") && e.message.includes('[2]') && e.message.includes('[1]'),
    );
    // A ragged array fails in tensor(); the message still names the key.
    assert.throws(
      () => m.loadStateDict({ ...s, '0.bias': [[1, 2], [3]] }),
      (e: Error) => e.message.includes("'0.bias'") && /ragged/.test(e.message),
    );
  });

  test('missing and unexpected keys are rejected by name', () => {
    const m = mlp();
    const { '2.bias': _drop, ...missing } = m.stateDict();
    assert.throws(() => m.loadStateDict(missing), /missing key '2\.bias'/);
    assert.throws(
      () => m.loadStateDict({ ...m.stateDict(), '3.weight': [[1]] }),
      /unexpected key '3\.weight'/,
    );
  });

  test('a failed load leaves the module unchanged', () => {
    const m = mlp(0);
    const before = values(m);
    const other = mlp(9).stateDict();
    assert.throws(() => m.loadStateDict({ ...other, '2.weight': zeros([1, 3]) }), /2\.weight/);
    assert.throws(() => m.loadStateDict({ ...other, extra: [1] }), /extra/);
    assert.deepEqual(values(m), before);
  });

  test('strict: false loads the keys present and ignores unknown ones, but still checks shapes', () => {
    const m = mlp(0);
    const before = values(m);
    m.loadStateDict({ '2.bias': [42], nonsense: [1, 2] }, { strict: false });
    const after = values(m);
    assert.deepEqual(after.slice(0, 3), before.slice(0, 3));
    assert.deepEqual(after[3], ['2.bias', [42]]);
    assert.throws(() => m.loadStateDict({ '2.bias': [1, 2] }, { strict: false }), /'2\.bias'.*\[2\].*\[1\]/);
  });

  test('state round-trips through JSON as nested arrays', () => {
    const a = new Net(new random.RandomState(3));
    const json = JSON.stringify(
      Object.fromEntries(Object.entries(a.stateDict()).map(([k, t]) => [k, t.toArray()])),
    );
    const b = new Net(new random.RandomState(4));
    b.loadStateDict(JSON.parse(json) as Record<string, nn.StateValue>);
    assert.deepEqual(values(b), values(a));
  });
});

describe('train() and eval()', () => {
  test('set the mode recursively, through Sequential and module arrays', () => {
    const net = new Net(new random.RandomState(0));
    const seq = new nn.Sequential(new nn.Sequential(new nn.Dropout(0.3)), net);
    const modes = () =>
      [seq, seq.layers[0], (seq.layers[0] as nn.Sequential).layers[0], net, net.fc1, ...net.blocks].map(
        (m) => m.training,
      );
    assert.ok(modes().every((t) => t));
    assert.equal(seq.eval(), seq);
    assert.ok(modes().every((t) => !t));
    seq.train();
    assert.ok(modes().every((t) => t));
    seq.train(false);
    assert.ok(modes().every((t) => !t));
  });
});

describe('Linear', () => {
  test('forward is x·W + b', () => {
    const l = new nn.Linear(3, 2, { dtype: 'float64' });
    l.loadStateDict({
      weight: [
        [1, 2],
        [3, 4],
        [5, 6],
      ],
      bias: [0.5, -1],
    });
    const x = tensor(
      [
        [1, 0, -1],
        [2, 1, 0.5],
      ],
      { dtype: 'float64' },
    );
    const y = l.forward(x);
    assert.deepEqual(y.shape, [2, 2]);
    assert.deepEqual(Array.from(y.data), [1 - 5 + 0.5, 2 - 6 - 1, 2 + 3 + 2.5 + 0.5, 4 + 4 + 3 - 1]);
  });

  test('gradients of W and b', () => {
    const l = new nn.Linear(2, 2, { dtype: 'float64' });
    const x = tensor(
      [
        [1, 2],
        [3, 4],
      ],
      { dtype: 'float64' },
    );
    l.forward(x).sum().backward();
    // d/dW Σ x·W = xᵀ·1; d/db = number of rows.
    assert.deepEqual(Array.from(l.weight.grad!.data), [4, 4, 6, 6]);
    assert.deepEqual(Array.from(l.bias!.grad!.data), [2, 2]);
  });

  test('a wrong input size names the layer and both shapes', () => {
    const l = new nn.Linear(3, 2);
    assert.throws(
      () => l.forward(zeros([4, 5])),
      (e: Error) =>
        e.message.includes('Linear(3 → 2)') && e.message.includes('[4, 5]') && e.message.includes('[..., 3]'),
    );
  });

  test('sizes must be positive integers', () => {
    assert.throws(() => new nn.Linear(0, 2), /inFeatures must be a positive integer, got 0/);
    assert.throws(() => new nn.Linear(2, 1.5), /outFeatures must be a positive integer, got 1\.5/);
  });

  test('an unknown init is rejected with the list of valid ones', () => {
    assert.throws(
      () => new nn.Linear(2, 2, { init: 'glorot' as nn.Init }),
      /unknown init "glorot".*xavierUniform/,
    );
  });
});

describe('initialisers', () => {
  const IN = 400;
  const OUT = 300;
  const stats = (a: ArrayLike<number>) => {
    let s = 0;
    let s2 = 0;
    let min = Infinity;
    let max = -Infinity;
    for (let i = 0; i < a.length; i++) {
      s += a[i];
      s2 += a[i] * a[i];
      min = Math.min(min, a[i]);
      max = Math.max(max, a[i]);
    }
    const mean = s / a.length;
    return { mean, std: Math.sqrt(s2 / a.length - mean * mean), min, max };
  };
  const make = (init: nn.Init, seed = 0, opts: nn.LinearOptions = {}) =>
    new nn.Linear(IN, OUT, { init, rng: new random.RandomState(seed), dtype: 'float64', ...opts });

  // Uniform in ±bound: std bound/√3, extremes close to the bounds; normal: the given std.
  const uniform = (init: nn.Init, bound: number) => {
    const w = stats(make(init).weight.data);
    assert.ok(w.min >= -bound && w.max <= bound, `${init}: [${w.min}, ${w.max}] outside ±${bound}`);
    assert.ok(w.min < -0.999 * bound && w.max > 0.999 * bound, `${init}: does not fill ±${bound}`);
    assert.ok(Math.abs(w.std / (bound / Math.sqrt(3)) - 1) < 0.01, `${init}: std ${w.std}`);
    assert.ok(Math.abs(w.mean) < (5 * bound) / Math.sqrt(3 * IN * OUT), `${init}: mean ${w.mean}`);
  };
  const normal = (init: nn.Init, std: number) => {
    const w = stats(make(init).weight.data);
    assert.ok(Math.abs(w.std / std - 1) < 0.01, `${init}: std ${w.std}, expected ${std}`);
    assert.ok(Math.abs(w.mean) < (5 * std) / Math.sqrt(IN * OUT), `${init}: mean ${w.mean}`);
  };

  test("'default' (PyTorch's): weight and bias uniform in ±1/√fanIn", () => {
    const bound = 1 / Math.sqrt(IN);
    uniform('default', bound);
    const b = stats(make('default').bias!.data);
    assert.ok(b.min >= -bound && b.max <= bound && b.std > 0.5 * (bound / Math.sqrt(3)));
    assert.ok(
      new nn.Linear(IN, OUT).weight.data.every((v) => Math.abs(v) <= bound),
      'the default init',
    );
  });
  test("'xavierUniform': ±√(6/(fanIn+fanOut))", () => uniform('xavierUniform', Math.sqrt(6 / (IN + OUT))));
  test("'heUniform': ±√(6/fanIn)", () => uniform('heUniform', Math.sqrt(6 / IN)));
  test("'xavierNormal': std √(2/(fanIn+fanOut))", () => normal('xavierNormal', Math.sqrt(2 / (IN + OUT))));
  test("'heNormal': std √(2/fanIn)", () => normal('heNormal', Math.sqrt(2 / IN)));
  test("'rand': uniform [0, 1)", () => {
    const w = stats(make('rand').weight.data);
    assert.ok(w.min >= 0 && w.max < 1 && w.min < 1e-3 && w.max > 0.999);
    assert.ok(Math.abs(w.mean - 0.5) < 0.005);
  });
  test("'zeros': all zeros", () => {
    const l = make('zeros');
    assert.ok(l.weight.data.every((v) => v === 0));
    assert.ok(l.bias!.data.every((v) => v === 0));
  });

  test('biases are zero for every init but the default', () => {
    for (const init of nn.INITS) {
      if (init === 'default') continue;
      assert.ok(
        make(init).bias!.data.every((v) => v === 0),
        init,
      );
    }
  });

  test("'rand' is numpy's stream: RandomState(42).rand(2, 2) is the seed notebook's first weight", () => {
    const s42 = fixture<{ streams: { seed: number; rand_2x2_then_2x1: number[][][]; rand12: number[] }[] }>(
      'numpy-random.json',
    ).streams.find((s) => s.seed === 42)!;
    const l = new nn.Linear(2, 2, { init: 'rand', rng: new random.RandomState(42), dtype: 'float64' });
    assert.deepEqual(l.weight.toArray(), s42.rand_2x2_then_2x1[0]);
    const big = new nn.Linear(3, 4, { init: 'rand', rng: new random.RandomState(42), dtype: 'float64' });
    assert.deepEqual(Array.from(big.weight.data), s42.rand12);
    // float32 layers hold the same draws rounded.
    const l32 = new nn.Linear(3, 4, { init: 'rand', rng: new random.RandomState(42) });
    assert.deepEqual(Array.from(l32.weight.data), s42.rand12.map(Math.fround));
  });

  test("'default' draws the weight in row-major order, then the bias, from the given stream", () => {
    const l = new nn.Linear(3, 2, { rng: new random.RandomState(7), dtype: 'float64' });
    const r = new random.RandomState(7);
    const b = 1 / Math.sqrt(3);
    const expected = Array.from({ length: 8 }, () => -b + 2 * b * r.random());
    assert.deepEqual([...l.weight.data, ...l.bias!.data], expected);
  });

  test('every init is deterministic given the seed, and different seeds differ', () => {
    for (const init of nn.INITS) {
      const a = make(init, 11);
      const b = make(init, 11);
      assert.deepEqual(a.weight.data, b.weight.data, init);
      assert.deepEqual(a.bias!.data, b.bias!.data, init);
      if (init !== 'zeros') assert.notDeepEqual(a.weight.data, make(init, 12).weight.data, init);
    }
  });

  test('without rng the default stream is used, so random.seed fixes the network', () => {
    random.seed(3);
    const a = new nn.Linear(4, 4);
    random.seed(3);
    const b = new nn.Linear(4, 4);
    assert.deepEqual(a.weight.data, b.weight.data);
    assert.deepEqual(a.weight.data, new nn.Linear(4, 4, { rng: new random.RandomState(3) }).weight.data);
  });
});

describe('Dropout', () => {
  test('is the identity in eval mode and for p = 0', () => {
    const x = random.randn(5, 4);
    const d = new nn.Dropout(0.5).eval();
    assert.equal(d.forward(x), x);
    assert.equal(new nn.Dropout(0).forward(x), x);
  });

  test('zeroes about p of the elements and scales the rest by 1/(1 − p)', () => {
    const p = 0.3;
    const x = zeros([200, 500], { dtype: 'float64' }).add(2);
    const y = new nn.Dropout(p, { rng: new random.RandomState(1) }).forward(x);
    let zerosCount = 0;
    for (const v of y.data) {
      if (v === 0) zerosCount++;
      else assert.equal(v, 2 * (1 / (1 - p)));
    }
    // 100 000 Bernoulli(0.3) draws: the standard error of the fraction is 0.0014.
    assert.ok(Math.abs(zerosCount / x.size - p) < 0.007, `zeroed fraction ${zerosCount / x.size}`);
  });

  test('the mask comes from the seeded stream: same seed, same mask', () => {
    const x = zeros([10, 10]).add(1);
    const a = new nn.Dropout(0.5, { rng: new random.RandomState(5) }).forward(x);
    const b = new nn.Dropout(0.5, { rng: new random.RandomState(5) }).forward(x);
    const c = new nn.Dropout(0.5, { rng: new random.RandomState(6) }).forward(x);
    assert.deepEqual(a.data, b.data);
    assert.notDeepEqual(a.data, c.data);
    const r = new random.RandomState(5);
    assert.deepEqual(
      Array.from(a.data),
      Array.from({ length: 100 }, () => (r.random() < 0.5 ? 0 : 2)),
    );
  });

  test('the gradient flows through the mask', () => {
    const x = tensor([[1, 2, 3, 4, 5, 6, 7, 8]], { dtype: 'float64', requiresGrad: true });
    const y = new nn.Dropout(0.25, { rng: new random.RandomState(2) }).forward(x);
    y.mul(y).sum().backward();
    const r = new random.RandomState(2);
    const m = Array.from(x.data, () => (r.random() < 0.25 ? 0 : 1 / 0.75));
    assert.ok(m.some((v) => v === 0) && m.some((v) => v !== 0));
    // y = m·x, so d(Σy²)/dx = (y + y)·m.
    assert.deepEqual(
      Array.from(x.grad!.data),
      m.map((v, i) => (y.data[i] + y.data[i]) * v),
    );
  });

  test('p outside [0, 1] is rejected', () => {
    assert.throws(() => new nn.Dropout(-0.1), /Dropout: p must be in/);
    assert.throws(() => new nn.Dropout(1.5), /Dropout: p must be in/);
    assert.throws(() => new nn.Dropout(NaN), /Dropout: p must be in/);
  });

  test('p = 1 zeroes everything, as PyTorch', () => {
    const x = tensor([1, 2, 3], { requiresGrad: true });
    const y = new nn.Dropout(1).forward(x);
    assert.deepEqual(Array.from(y.data), [0, 0, 0]);
    y.sum().backward();
    assert.deepEqual(Array.from(x.grad!.data), [0, 0, 0]);
  });
});

describe('toString', () => {
  test('shows the architecture, nested and with arguments', () => {
    const m = new nn.Sequential(
      new nn.Linear(2, 3),
      new nn.ReLU(),
      new nn.Sequential(new nn.Linear(3, 1, { bias: false }), new nn.Dropout(0.2)),
      new nn.LeakyReLU(0.1),
    );
    assert.equal(
      m.toString(),
      [
        'Sequential(',
        '  (0): Linear(2 → 3)',
        '  (1): ReLU()',
        '  (2): Sequential(',
        '    (0): Linear(3 → 1, bias: false)',
        '    (1): Dropout(p: 0.2)',
        '  )',
        '  (3): LeakyReLU(0.1)',
        ')',
      ].join('\n'),
    );
    assert.equal(String(new nn.Softmax(0)), 'Softmax(axis: 0)');
  });

  test('Sequential rejects a non-module and append adds one', () => {
    assert.throws(() => new nn.Sequential(new nn.ReLU(), {} as nn.Module), /argument 1 is not a Module/);
    const s = new nn.Sequential(new nn.Linear(2, 2)).append(new nn.Linear(2, 1));
    assert.deepEqual(Object.keys(s.stateDict()), ['0.weight', '0.bias', '1.weight', '1.bias']);
  });
});
