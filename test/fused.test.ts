// The fused MLP step against the general autograd path: bit-identical weights and losses, every
// activation, both squared-error losses, both dtypes, uneven batches; and fit takes it only when it can.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fit, nn, optim, random, seedData, seedNetwork, type DType } from '../src/index.js';
import { FusedStep } from '../src/fused.js';

const ACTS: [string, () => nn.Module][] = [
  ['sigmoid', () => new nn.Sigmoid()],
  ['tanh', () => new nn.Tanh()],
  ['relu', () => new nn.ReLU()],
  ['leakyRelu', () => new nn.LeakyReLU(0.1)],
  ['gelu', () => new nn.GELU()],
  ['softplus', () => new nn.Softplus()],
  ['elu', () => new nn.ELU(0.7)],
];

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

  test('only plain MLPs with squared-error losses are planned', () => {
    const mlp = new nn.Sequential(new nn.Linear(2, 3), new nn.Tanh(), new nn.Linear(3, 1));
    assert.ok(FusedStep.plan(mlp, 'mse'));
    assert.equal(FusedStep.plan(mlp, 'crossEntropy'), null);
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
