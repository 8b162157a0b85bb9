// The library against PyTorch: MLP losses and gradients, and optimizer trajectories (float64, ≤ 1e-10
// relative), and float32 against float64 on the same cases.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { losses, optim, tensor, type DType, type Tensor } from '../src/index.js';
import { assertClose } from './helpers/close.js';
import { buildMlp, fixture, flat, linearParams, type MlpCase } from './helpers/fixtures.js';

const mlp = fixture<{ cases: MlpCase[] }>('mlp-gradients.json');

function lossOf(c: MlpCase, out: Tensor, dtype: DType): Tensor {
  if (c.loss === 'crossEntropy') return losses.crossEntropy(out, c.y as number[]);
  const y = tensor(c.y as number[][], { dtype });
  return losses.byName[c.loss](out, y);
}

function run(c: MlpCase, dtype: DType) {
  const model = buildMlp(c, dtype);
  const out = model.forward(tensor(c.x, { dtype }));
  const loss = lossOf(c, out, dtype);
  loss.backward();
  const { weights, biases } = linearParams(model);
  return {
    out,
    loss: loss.item(),
    gw: weights.map((w) => w.grad!.data),
    gb: biases.map((b) => b.grad!.data),
  };
}

describe('MLP losses and gradients match PyTorch (mlp-gradients.json)', () => {
  test('the fixture covers every activation and loss it lists', () => {
    const acts = new Set(mlp.cases.flatMap((c) => c.activations));
    const ls = new Set<string>(mlp.cases.map((c) => c.loss));
    for (const a of ['identity', 'sigmoid', 'tanh', 'relu', 'leakyRelu', 'gelu', 'softplus', 'elu'])
      assert.ok(acts.has(a), a);
    for (const l of ['mseHalfSum', 'mse', 'bce', 'crossEntropy', 'huber']) assert.ok(ls.has(l), l);
  });

  for (const c of mlp.cases) {
    test(`float64: ${c.name}`, () => {
      const r = run(c, 'float64');
      assertClose(r.out.data, flat(c.output), { rel: 1e-10, what: 'output' });
      assertClose(r.loss, c.lossValue, { rel: 1e-10, what: 'loss' });
      c.gradWeights.forEach((g, i) =>
        assertClose(r.gw[i], flat(g), { rel: 1e-10, abs: 1e-15, what: `dW${i + 1}` }),
      );
      c.gradBiases.forEach((g, i) =>
        assertClose(r.gb[i], flat(g), { rel: 1e-10, abs: 1e-15, what: `db${i + 1}` }),
      );
    });

    test(`float32 agrees with float64 within 1e-5: ${c.name}`, () => {
      const r32 = run(c, 'float32');
      const r64 = run(c, 'float64');
      // Relative to each tensor's largest entry: a gradient that is a tiny difference of large terms has no
      // meaningful float32 digits of its own.
      const scaled = (hi: ArrayLike<number>, what: string) => ({
        rel: 1e-5,
        abs: 1e-5 * Math.max(...Array.from(hi, Math.abs)),
        what,
      });
      assertClose(r32.out.data, r64.out.data, scaled(r64.out.data, 'output'));
      assertClose(r32.loss, r64.loss, scaled([r64.loss], 'loss'));
      r64.gw.forEach((g, i) => assertClose(r32.gw[i], g, scaled(g, `dW${i + 1}`)));
      r64.gb.forEach((g, i) => assertClose(r32.gb[i], g, scaled(g, `db${i + 1}`)));
    });
  }
});

interface TrajectoryCase {
  name: string;
  optimizer: {
    type: string;
    lr: number;
    momentum?: number;
    nesterov?: boolean;
    weightDecay?: number;
    beta1?: number;
    beta2?: number;
    eps?: number;
    alpha?: number;
  };
  x: number[][];
  y: number[][];
  initialParams: [number[][], number[], number[][], number[]];
  steps: { loss: number; params: [number[][], number[], number[][], number[]] }[];
}

const traj = fixture<{ cases: TrajectoryCase[] }>('optimizer-trajectories.json');

function makeOptimizer(c: TrajectoryCase, params: Tensor[]): optim.Optimizer {
  const o = c.optimizer;
  switch (o.type) {
    case 'sgd':
      return new optim.SGD(params, {
        lr: o.lr,
        momentum: o.momentum,
        nesterov: o.nesterov,
        weightDecay: o.weightDecay,
      });
    case 'adam':
      return new optim.Adam(params, {
        lr: o.lr,
        betas: [o.beta1!, o.beta2!],
        eps: o.eps,
        weightDecay: o.weightDecay,
      });
    case 'adamw':
      return new optim.AdamW(params, {
        lr: o.lr,
        betas: [o.beta1!, o.beta2!],
        eps: o.eps,
        weightDecay: o.weightDecay,
      });
    case 'rmsprop':
      return new optim.RMSprop(params, { lr: o.lr, alpha: o.alpha, eps: o.eps });
    case 'adagrad':
      return new optim.Adagrad(params, { lr: o.lr, eps: o.eps });
    default:
      throw new Error(`unknown optimizer ${o.type}`);
  }
}

describe('optimizer trajectories match PyTorch (optimizer-trajectories.json)', () => {
  for (const c of traj.cases) {
    for (const dtype of ['float64', 'float32'] as const) {
      test(`${c.name} (${dtype})`, () => {
        const [w1, b1, w2, b2] = c.initialParams;
        const model = buildMlp(
          { sizes: [3, 4, 2], activations: ['tanh', 'identity'], weights: [w1, w2], biases: [b1, b2] },
          dtype,
        );
        const params = model.parameters();
        const opt = makeOptimizer(c, params);
        const x = tensor(c.x, { dtype });
        const y = tensor(c.y, { dtype });
        const tol = dtype === 'float64' ? 1e-10 : 1e-5;
        c.steps.forEach((step, k) => {
          opt.zeroGrad();
          const loss = losses.mse(model.forward(x), y);
          loss.backward();
          opt.step();
          assertClose(loss.item(), step.loss, { rel: tol, what: `step ${k + 1} loss` });
          // float32: measured against each tensor's scale, as above.
          step.params.forEach((p, i) => {
            const ref = flat(p);
            const abs = dtype === 'float64' ? 1e-15 : 1e-5 * Math.max(...ref.map(Math.abs));
            assertClose(params[i].data, ref, { rel: tol, abs, what: `step ${k + 1} param ${i}` });
          });
        });
      });
    }
  }
});
