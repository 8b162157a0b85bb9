// The fused MLP step against the general autograd path: bit-identical weights and losses, every
// activation, both squared-error losses and cross-entropy, both dtypes, uneven batches; and fit takes it
// only when it can.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  fit,
  nn,
  type Tensor,
  optim,
  random,
  seedData,
  seedNetwork,
  tensor,
  type DType,
} from '../src/index.js';
import { FusedStep } from '../src/train/fused.js';
import { kernels, setKernels } from '../src/kernels/index.js';
import { loadWasmKernels } from '../src/kernels/wasm/index.js';
import { ACTIVATION_CASES } from './helpers/layers.js';

const ACTS = Object.entries(ACTIVATION_CASES);

function bits(m: nn.Module): number[][] {
  return m.parameters().map((p) => Array.from(p.data));
}

async function train(
  fused: boolean,
  act: () => nn.Module,
  loss: 'mse' | 'mseHalfSum',
  dtype: DType,
  opt: 'sgd' | 'adam',
) {
  const rng = new random.RandomState(11);
  const model = new nn.Sequential(
    new nn.Linear(3, 5, { dtype, rng }),
    act(),
    new nn.Linear(5, 2, { dtype, rng }),
    act(),
  );
  const data = new random.RandomState(5);
  const x = data.randn(10, 3).to(dtype);
  const y = data.rand(10, 2).to(dtype);
  // The comparison means something only if fit really takes the fused path for this model and data.
  assert.ok(FusedStep.plan(model, loss)?.accepts(x, y), 'fit would take the fused step');
  const optimizer =
    opt === 'sgd'
      ? new optim.SGD(model.parameters(), { lr: 0.1, momentum: 0.9 })
      : new optim.Adam(model.parameters(), { lr: 0.01 });
  const h = await fit(
    model,
    { x, y },
    { loss, optimizer, epochs: 7, batchSize: 4, rng: new random.RandomState(3), fused, metrics: ['mae'] },
  );
  return { weights: bits(model), losses: h.epochs.map((e) => [e.loss, e.metrics.mae]) };
}

/**
 * A 3-class classifier (4 → hidden → 3) trained with cross-entropy on labels; `scale` multiplies the
 * initial weights.
 */
async function classify(
  fused: boolean,
  act: () => nn.Module,
  dtype: DType,
  opt: 'sgd' | 'adam',
  scale = 1,
  hidden = 6,
) {
  const rng = new random.RandomState(13);
  const model = new nn.Sequential(
    new nn.Linear(4, hidden, { dtype, rng }),
    act(),
    new nn.Linear(hidden, 3, { dtype, rng }),
  );
  for (const p of model.parameters()) for (let i = 0; i < p.size; i++) p.data[i] *= scale;
  const data = new random.RandomState(8);
  const x = data.randn(11, 4).to(dtype);
  const y = Array.from({ length: 11 }, (_, i) => (i * 7) % 3);
  assert.ok(FusedStep.plan(model, 'crossEntropy')?.accepts(x, tensorOf(y)), 'fit would take the fused step');
  const optimizer =
    opt === 'sgd'
      ? new optim.SGD(model.parameters(), { lr: 0.1, momentum: 0.9 })
      : new optim.Adam(model.parameters(), { lr: 0.01 });
  const h = await fit(
    model,
    { x, y },
    {
      loss: 'crossEntropy',
      optimizer,
      epochs: 6,
      batchSize: 4,
      rng: new random.RandomState(3),
      fused,
      metrics: ['accuracy'],
    },
  );
  return { weights: bits(model), losses: h.epochs.map((e) => [e.loss, e.metrics.accuracy]) };
}

function tensorOf(y: number[]) {
  return tensor(y, { dtype: 'float64' });
}

describe('the optimizer over one block of parameters (fit’s fused path)', () => {
  // fit moves the parameters and gradients into one block each and the optimizer updates them with one
  // call a step: the same elementwise arithmetic, so the same bits as the general path's per-parameter
  // updates, for every optimizer; and its state is each parameter's own again afterwards, so a second
  // fit continues exactly where one long fit would be.
  const makers: [string, (p: Tensor[]) => optim.Optimizer][] = [
    [
      'SGD + momentum, Nesterov, weight decay',
      (p) => new optim.SGD(p, { lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 0.01 }),
    ],
    ['Adam (AMSGrad)', (p) => new optim.Adam(p, { lr: 0.01, amsgrad: true })],
    ['AdamW', (p) => new optim.AdamW(p, { lr: 0.01 })],
    [
      'RMSprop (centered, momentum)',
      (p) => new optim.RMSprop(p, { lr: 0.01, centered: true, momentum: 0.5 }),
    ],
    ['Adagrad', (p) => new optim.Adagrad(p, { lr: 0.1, initialAccumulatorValue: 0.1, lrDecay: 0.01 })],
  ];
  const net = () => {
    const rng = new random.RandomState(21);
    return new nn.Sequential(
      new nn.Linear(3, 4, { dtype: 'float64', rng }),
      new nn.Tanh(),
      new nn.Linear(4, 2, { dtype: 'float64', rng }),
    );
  };
  const data = new random.RandomState(2);
  const x = data.randn(9, 3);
  const y = data.randn(9, 2);
  const run = async (make: (p: Tensor[]) => optim.Optimizer, fused: boolean, split: boolean) => {
    const model = net();
    const optimizer = make(model.parameters());
    const rng = new random.RandomState(5);
    // The comparison means something only if the fused run really holds the parameters in one block.
    const [w, b] = model.parameters();
    const onBatchEnd = () => assert.equal(w.data.buffer === b.data.buffer, fused, 'one block while fused');
    const options = { loss: 'mse' as const, optimizer, batchSize: 4, rng, fused, onBatchEnd };
    if (split) {
      await fit(model, { x, y }, { ...options, epochs: 2 });
      await fit(model, { x, y }, { ...options, epochs: 3 });
    } else await fit(model, { x, y }, { ...options, epochs: 5 });
    return { weights: bits(model), state: JSON.stringify(optimizer.stateDict()) };
  };
  for (const [name, make] of makers)
    test(`${name}: the same bits as per-parameter updates, and 2 + 3 epochs = 5`, async () => {
      const general = await run(make, false, false);
      assert.deepEqual(await run(make, true, false), general);
      assert.deepEqual(await run(make, true, true), general);
    });

  test('a gradient dropped mid-run: the optimizer goes parameter by parameter, still the general path', async () => {
    // After the third batch a callback drops the first weight's gradient; the next step recreates it.
    const once = async (fused: boolean) => {
      const model = net();
      const optimizer = makers[1][1](model.parameters());
      let batches = 0;
      const onBatchEnd = () => {
        if (++batches === 3) model.parameters()[0].grad = null;
      };
      const rng = new random.RandomState(5);
      await fit(model, { x, y }, { loss: 'mse', optimizer, batchSize: 4, rng, fused, epochs: 4, onBatchEnd });
      return { weights: bits(model), state: JSON.stringify(optimizer.stateDict()) };
    };
    assert.deepEqual(await once(true), await once(false));
  });
});

describe('fused MLP step', () => {
  for (const [name, act] of ACTS)
    for (const loss of ['mse', 'mseHalfSum'] as const)
      for (const dtype of ['float32', 'float64'] as const)
        test(`${name}, ${loss}, ${dtype}: bit-identical to the general path`, async () => {
          for (const opt of ['sgd', 'adam'] as const) {
            const general = await train(false, act, loss, dtype, opt);
            const fused = await train(true, act, loss, dtype, opt);
            assert.deepEqual(fused.weights, general.weights);
            assert.deepEqual(fused.losses, general.losses);
          }
        });

  test('the seed network through fit: identical to the general path after 1000 steps', async () => {
    const run = async (fused: boolean) => {
      const model = seedNetwork();
      assert.ok(FusedStep.plan(model, 'mseHalfSum')?.accepts(seedData().x, seedData().y));
      const optimizer = new optim.SGD(model.parameters(), { lr: 0.1 });
      const h = await fit(model, seedData(), {
        loss: 'mseHalfSum',
        optimizer,
        epochs: 1000,
        batchSize: 1,
        shuffle: false,
        fused,
      });
      return { w: bits(model), l: h.epochs.map((e) => e.loss) };
    };
    assert.deepEqual(await run(true), await run(false));
  });

  for (const [name, act] of ACTS)
    for (const dtype of ['float32', 'float64'] as const)
      test(`${name}, crossEntropy on labels, ${dtype}: bit-identical to the general path`, async () => {
        for (const opt of ['sgd', 'adam'] as const) {
          const general = await classify(false, act, dtype, opt);
          const fused = await classify(true, act, dtype, opt);
          assert.deepEqual(fused.weights, general.weights);
          assert.deepEqual(fused.losses, general.losses);
        }
      });

  test('crossEntropy: huge logits (where the row-max shift matters) match the general path bit for bit', async () => {
    // Weights scaled up so some logits overflow exp without the max shift.
    const a = await classify(false, () => new nn.ReLU(), 'float32', 'sgd', 300);
    const b = await classify(true, () => new nn.ReLU(), 'float32', 'sgd', 300);
    assert.deepEqual(b.weights, a.weights);
    assert.deepEqual(b.losses, a.losses);
  });

  test('products above the inline size go through the kernels, still bit-identical', async () => {
    // 4 rows × 4 inputs × 64 hidden = 1024 multiply-adds: past INLINE_PRODUCTS.
    for (const dtype of ['float32', 'float64'] as const) {
      const a = await classify(false, () => new nn.Tanh(), dtype, 'adam', 1, 64);
      const b = await classify(true, () => new nn.Tanh(), dtype, 'adam', 1, 64);
      assert.deepEqual(b, a);
    }
  });

  test('crossEntropy: a label out of range is the same error as on the general path', async () => {
    const model = new nn.Sequential(new nn.Linear(3, 4), new nn.ReLU(), new nn.Linear(4, 3));
    const x = new random.RandomState(1).randn(5, 3);
    const y = [0, 1, 2, 3, 1];
    const errors: string[] = [];
    for (const fused of [true, false]) {
      const optimizer = new optim.SGD(model.parameters(), { lr: 0.1 });
      await assert.rejects(
        fit(model, { x, y }, { loss: 'crossEntropy', optimizer, batchSize: 5, shuffle: false, fused }),
        (e: Error) => (errors.push(e.message), true),
      );
    }
    assert.equal(errors[0], errors[1]);
    assert.match(errors[0], /crossEntropy: index 3 at row 3 is not a class in 0…2/);
  });

  test('only plain MLPs with squared-error or cross-entropy losses are planned', () => {
    const mlp = new nn.Sequential(new nn.Linear(2, 3), new nn.Tanh(), new nn.Linear(3, 1));
    assert.ok(FusedStep.plan(mlp, 'mse'));
    assert.ok(FusedStep.plan(mlp, 'crossEntropy'));
    assert.equal(FusedStep.plan(mlp, 'bce'), null);
    assert.equal(
      FusedStep.plan(mlp, (a: unknown) => a),
      null,
    );
    assert.equal(
      FusedStep.plan(new nn.Sequential(new nn.Linear(2, 3), new nn.Dropout(0.5), new nn.Linear(3, 1)), 'mse'),
      null,
    );
    assert.equal(FusedStep.plan(new nn.Sequential(new nn.Linear(2, 3, { bias: false })), 'mse'), null);
    assert.equal(FusedStep.plan(new nn.Sequential(new nn.Linear(2, 3), new nn.Softmax()), 'mse'), null);
    assert.equal(
      FusedStep.plan(
        new nn.Sequential(new nn.Linear(2, 3), new nn.Linear(3, 1, { dtype: 'float64' })),
        'mse',
      ),
      null,
    );
  });
});

describe('fused MLP step on the WebAssembly kernels (buffers in wasm memory, 2 threads)', async () => {
  // Every op in wasm, every product split between two threads: the fused step's buffers, the gradients
  // and the optimizer state live in the kernels' memory, and must change nothing.
  const wasm = await loadWasmKernels({ threads: 2, minElements: 1, minMatmulWork: 1, minThreadWork: 1 });
  assert.ok(wasm);
  for (const [name, act] of ACTS.filter(([n]) => ['relu', 'tanh', 'gelu'].includes(n)))
    for (const dtype of ['float32', 'float64'] as const)
      test(`${name}, ${dtype}: mse and cross-entropy, SGD and Adam, bit-identical to the general path`, async () => {
        const before = setKernels(wasm);
        try {
          assert.ok(kernels().alloc?.(dtype, 4), 'the set hands out resident storage');
          for (const opt of ['sgd', 'adam'] as const) {
            const g1 = await train(false, act, 'mse', dtype, opt);
            const f1 = await train(true, act, 'mse', dtype, opt);
            assert.deepEqual(f1, g1);
            const g2 = await classify(false, act, dtype, opt);
            const f2 = await classify(true, act, dtype, opt);
            assert.deepEqual(f2, g2);
          }
        } finally {
          setKernels(before);
        }
      });

  test('fit moves the parameters into wasm memory for the run and back: same arrays, trained values', async () => {
    const before = setKernels(wasm);
    try {
      const rng = new random.RandomState(4);
      const model = new nn.Sequential(
        new nn.Linear(3, 8, { rng }),
        new nn.ReLU(),
        new nn.Linear(8, 2, { rng }),
      );
      const arrays = model.parameters().map((p) => p.data);
      const start = arrays.map((a) => a.slice());
      const seen: boolean[] = [];
      const x = new random.RandomState(5).randn(16, 3).to('float32');
      const optimizer = new optim.SGD(model.parameters(), { lr: 0.1 });
      await fit(
        model,
        { x, y: Array.from({ length: 16 }, (_, i) => i % 2) },
        {
          loss: 'crossEntropy',
          optimizer,
          epochs: 2,
          batchSize: 8,
          // During the run the parameters' values live elsewhere (kernel storage).
          onEpochEnd: () => seen.push(model.parameters().every((p, i) => p.data !== arrays[i])),
        },
      );
      assert.deepEqual(seen, [true, true]);
      model.parameters().forEach((p, i) => {
        assert.equal(p.data, arrays[i], 'the original array is back');
        assert.notDeepEqual(Array.from(p.data), Array.from(start[i]), 'holding the trained values');
      });
    } finally {
      setKernels(before);
    }
  });
});
