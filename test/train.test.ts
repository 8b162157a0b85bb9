// The training loop: learning, reproducibility, stopping rules, divergence, validation and callbacks.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DataError,
  earlyStoppingState,
  evaluate,
  fit,
  losses,
  nn,
  optim,
  predict,
  random,
  ready,
  tensor,
  TrainingDivergedError,
  type FitOptions,
  type History,
} from '../src/index.js';
import { PAUSED, Trainer } from '../src/train/step.js';

const X = () =>
  tensor([
    [0, 0],
    [0, 1],
    [1, 0],
    [1, 1],
  ]);
const Y = () => tensor([[0], [1], [1], [0]]);

function xorModel(seed: number) {
  const rng = new random.RandomState(seed);
  return new nn.Sequential(
    new nn.Linear(2, 4, { rng }),
    new nn.Tanh(),
    new nn.Linear(4, 1, { rng }),
    new nn.Sigmoid(),
  );
}

function weights(m: nn.Module): number[][] {
  return m.parameters().map((p) => Array.from(p.data));
}

/** A noisy linear regression problem: y = x·w + 0.1·noise. */
function regression(n: number, seed: number) {
  const rng = new random.RandomState(seed);
  const x = rng.randn(n, 3);
  const w = tensor([[1.5], [-2], [0.5]], { dtype: 'float64' });
  const y = x.matmul(w).add(rng.randn(n, 1).mul(0.1));
  return { x: x.to('float32'), y: y.to('float32') };
}

describe('fit', () => {
  test('a history kept as numbers (no metrics, validation or callback) reads like one kept as records', async () => {
    const run = async (withCallback: boolean) => {
      const model = xorModel(3);
      const optimizer = new optim.SGD(model.parameters(), { lr: 0.5 });
      const seen: number[] = [];
      const h = await fit(
        model,
        { x: X(), y: Y() },
        {
          loss: 'mse',
          optimizer,
          epochs: 150,
          batchSize: 4,
          shuffle: false,
          initialEpoch: 10,
          ...(withCallback ? { onEpochEnd: (log: { epoch: number }) => void seen.push(log.epoch) } : {}),
        },
      );
      return h;
    };
    const compact = await run(false);
    const records = await run(true);
    const strip = (h: typeof compact) =>
      h.epochs.map(({ seconds, ...rest }) => (assert.ok(seconds >= 0), rest));
    assert.equal(compact.epochs.length, 150);
    assert.equal(compact.epochs[0].epoch, 11);
    assert.deepEqual(strip(compact), strip(records));
    assert.equal(compact.epochs, compact.epochs, 'built once, then a plain array');
    const json = JSON.parse(JSON.stringify(compact)) as { epochs: unknown[]; stopReason: string };
    assert.equal(json.epochs.length, 150);
    assert.equal(json.stopReason, 'completed');
    assert.deepEqual(Object.keys(compact), ['epochs', 'stopReason']);
  });

  test('a seeded 2-4-1 network learns XOR to 100% accuracy', async () => {
    const model = xorModel(0);
    const optimizer = new optim.Adam(model.parameters(), { lr: 0.05 });
    const h = await fit(
      model,
      { x: X(), y: Y() },
      {
        loss: 'bce',
        optimizer,
        epochs: 500,
        batchSize: 4,
        metrics: ['accuracy'],
        rng: new random.RandomState(1),
      },
    );
    assert.equal(h.epochs.length, 500);
    assert.equal(h.stopReason, 'completed');
    assert.equal(h.epochs.at(-1)!.metrics.accuracy, 1);
    const out = predict(model, X()).data;
    assert.deepEqual(
      Array.from(out, (v) => (v > 0.5 ? 1 : 0)),
      [0, 1, 1, 0],
    );
    assert.ok(h.epochs.at(-1)!.loss < h.epochs[0].loss / 10);
  });

  test('a seeded run repeated gives bit-identical weights (shuffling and init from seeded streams)', async () => {
    const runOnce = async () => {
      random.seed(7);
      const model = new nn.Sequential(
        new nn.Linear(2, 4),
        new nn.Tanh(),
        new nn.Linear(4, 1),
        new nn.Sigmoid(),
      );
      const optimizer = new optim.SGD(model.parameters(), { lr: 0.5, momentum: 0.9 });
      const data = { x: X(), y: Y() };
      await fit(model, data, { loss: 'mse', optimizer, epochs: 50, batchSize: 2 });
      return weights(model);
    };
    const a = await runOnce();
    const b = await runOnce();
    assert.deepEqual(a, b);
    random.seed(8);
    assert.notDeepEqual(weights(new nn.Linear(2, 4)), a.slice(0, 2));
  });

  test('until: stops once the epoch loss falls below the threshold (the seed\'s "until converged")', async () => {
    const model = xorModel(0);
    const optimizer = new optim.Adam(model.parameters(), { lr: 0.05 });
    const h = await fit(
      model,
      { x: X(), y: Y() },
      { loss: 'bce', optimizer, epochs: 10_000, batchSize: 4, until: { loss: 0.05 } },
    );
    assert.equal(h.stopReason, 'until');
    assert.ok(h.epochs.at(-1)!.loss < 0.05);
    assert.ok(h.epochs.at(-2)!.loss >= 0.05);
    assert.ok(h.epochs.length < 10_000);
  });

  test('a NaN loss stops training with a helpful error and keeps the last finite weights', async () => {
    const data = regression(64, 3);
    const model = new nn.Sequential(
      new nn.Linear(3, 8, { rng: new random.RandomState(0) }),
      new nn.ReLU(),
      new nn.Linear(8, 1, { rng: new random.RandomState(1) }),
    );
    const optimizer = new optim.SGD(model.parameters(), { lr: 50 });
    const seen: number[][][] = [];
    await assert.rejects(
      fit(model, data, {
        loss: 'mse',
        optimizer,
        epochs: 100,
        batchSize: 64,
        divergence: { factor: Infinity },
        onBatchEnd: () => seen.push(weights(model)),
      }),
      (e: unknown) => {
        assert.ok(e instanceof TrainingDivergedError);
        assert.match(e.message, /loss became (NaN|Infinity|-Infinity) at epoch \d+, batch 1 of 1/);
        assert.match(e.message, /smaller learning rate \(it is 50\)/);
        assert.ok(e.history.epochs.length >= 1);
        return true;
      },
    );
    for (const w of weights(model)) for (const v of w) assert.ok(Number.isFinite(v));
    // The weights left are those the last finite loss was computed with: the ones before the last step.
    assert.deepEqual(weights(model), seen.at(-2));
  });

  test("an exploding loss (above 10⁶ × max(1, the first epoch's loss)) is divergence too, caught within one step", async () => {
    const data = regression(64, 3);
    const model = new nn.Sequential(
      new nn.Linear(3, 8, { rng: new random.RandomState(0) }),
      new nn.ReLU(),
      new nn.Linear(8, 1, { rng: new random.RandomState(1) }),
    );
    const optimizer = new optim.SGD(model.parameters(), { lr: 50 });
    const seen: { loss: number; w: number[][] }[] = [];
    const initial = weights(model);
    await assert.rejects(
      fit(model, data, {
        loss: 'mse',
        optimizer,
        epochs: 100,
        batchSize: 64,
        onBatchEnd: (b) => seen.push({ loss: b.loss, w: weights(model) }),
      }),
      (e: unknown) => {
        assert.ok(e instanceof TrainingDivergedError);
        assert.match(e.message, /loss exploded to [\d.e+]+ \(above [\d.e+]+/);
        return true;
      },
    );
    // Every step the run accepted stayed under the limit, and the weights are from before the bad step.
    const limit = 1e6 * Math.max(1, seen[0].loss);
    for (const s of seen) assert.ok(s.loss <= limit);
    // The weights left are those the last acceptable loss was computed with.
    assert.deepEqual(weights(model), seen.length >= 2 ? seen.at(-2)?.w : initial);
  });

  test("early stopping with restoreBest puts back the best epoch's weights", async () => {
    const data = regression(200, 4);
    const val = regression(100, 5);
    const model = new nn.Sequential(
      new nn.Linear(3, 16, { rng: new random.RandomState(2) }),
      new nn.ReLU(),
      new nn.Linear(16, 1, { rng: new random.RandomState(3) }),
    );
    const optimizer = new optim.SGD(model.parameters(), { lr: 0.05 });
    let best = Infinity;
    let bestWeights: number[][] = [];
    const h = await fit(model, data, {
      loss: 'mse',
      optimizer,
      epochs: 300,
      batchSize: 8,
      validationData: val,
      rng: new random.RandomState(0),
      earlyStopping: { patience: 3, restoreBest: true, minDelta: 1e-4 },
      onEpochEnd: (log) => {
        if (log.valLoss! < best - 1e-4) {
          best = log.valLoss!;
          bestWeights = weights(model);
        }
      },
    });
    assert.equal(h.stopReason, 'earlyStopping');
    assert.ok(h.bestEpoch! >= 1 && h.bestEpoch! <= h.epochs.length - 3);
    assert.equal(h.epochs.length - h.bestEpoch!, 3);
    assert.deepEqual(weights(model), bestWeights);
    const r = evaluate(model, val, { loss: 'mse' });
    assert.ok(Math.abs(r.loss - best) <= 1e-6 * best);
  });

  test("restoreBest also keeps the best epoch when the run ends without stopping; the state is the caller's to read and continue", async () => {
    const data = regression(200, 4);
    const val = regression(100, 5);
    const make = () =>
      new nn.Sequential(
        new nn.Linear(3, 16, { rng: new random.RandomState(2) }),
        new nn.ReLU(),
        new nn.Linear(16, 1, { rng: new random.RandomState(3) }),
      );
    const run = async (
      model: nn.Sequential,
      epochs: number,
      state: ReturnType<typeof earlyStoppingState>,
      initialEpoch = 0,
    ) => {
      const logs: { epoch: number; valLoss: number; w: number[][] }[] = [];
      const h = await fit(model, data, {
        loss: 'mse',
        optimizer: new optim.SGD(model.parameters(), { lr: 0.1 }),
        epochs,
        initialEpoch,
        batchSize: 8,
        validationData: val,
        rng: new random.RandomState(initialEpoch),
        earlyStopping: { patience: 1000, restoreBest: true, state },
        onEpochEnd: (log) => logs.push({ epoch: log.epoch, valLoss: log.valLoss!, w: weights(model) }),
      });
      return { h, logs };
    };
    const state = earlyStoppingState();
    const model = make();
    const { h, logs } = await run(model, 40, state);
    assert.equal(h.stopReason, 'completed');
    const best = logs.reduce((a, b) => (b.valLoss < a.valLoss ? b : a));
    assert.ok(best.epoch < 40, 'the last epoch is not the best');
    assert.equal(h.bestEpoch, best.epoch);
    assert.deepEqual(weights(model), best.w);
    assert.equal(state.bestEpoch, best.epoch);
    assert.equal(state.best, best.valLoss);
    assert.equal(state.sinceBest, 40 - best.epoch);
    // Passed back, the record goes on: a later epoch must beat the best so far to count.
    const more = await run(model, 2, state, 40);
    assert.ok(state.bestEpoch === best.epoch || state.bestEpoch > 40);
    assert.equal(more.h.bestEpoch, state.bestEpoch);
  });

  test('validationSplit holds out the last fraction and reports val loss and metrics', async () => {
    const x = tensor(Array.from({ length: 10 }, (_, i) => [i / 10, 1 - i / 10]));
    const labels = Array.from({ length: 10 }, (_, i) => i % 3);
    const model = new nn.Sequential(new nn.Linear(2, 3, { rng: new random.RandomState(0) }));
    const optimizer = new optim.SGD(model.parameters(), { lr: 0.1 });
    const batchSizes: number[] = [];
    const h = await fit(
      model,
      { x, y: labels },
      {
        loss: 'crossEntropy',
        optimizer,
        epochs: 2,
        batchSize: 3,
        validationSplit: 0.2,
        metrics: ['accuracy'],
        onBatchEnd: (b) => batchSizes.push(b.size),
      },
    );
    // 8 training samples in batches of 3, 3, 2; 2 held out.
    assert.deepEqual(batchSizes, [3, 3, 2, 3, 3, 2]);
    const e = h.epochs[1];
    assert.equal(typeof e.valLoss, 'number');
    const holdOut = evaluate(
      model,
      {
        x: tensor([
          [0.8, 0.2],
          [0.9, 0.1],
        ]),
        y: [2, 0],
      },
      { loss: 'crossEntropy', metrics: ['accuracy'] },
    );
    assert.ok(Math.abs(e.valLoss! - holdOut.loss) < 1e-6);
    assert.equal(e.valMetrics!.accuracy, holdOut.metrics.accuracy);
  });

  test('an abort signal stops after the current batch and returns the history so far', async () => {
    const model = xorModel(1);
    const optimizer = new optim.SGD(model.parameters(), { lr: 0.1 });
    const ac = new AbortController();
    const h = await fit(
      model,
      { x: X(), y: Y() },
      {
        loss: 'mse',
        optimizer,
        epochs: 1000,
        batchSize: 4,
        signal: ac.signal,
        onEpochEnd: (log) => {
          if (log.epoch === 5) ac.abort();
        },
      },
    );
    assert.equal(h.stopReason, 'aborted');
    assert.equal(h.epochs.length, 5);
  });

  test('schedulers step once per epoch and the log records the rate used', async () => {
    const model = xorModel(2);
    const optimizer = new optim.SGD(model.parameters(), { lr: 1 });
    const scheduler = new optim.StepLR(optimizer, { stepSize: 2, gamma: 0.5 });
    const h = await fit(
      model,
      { x: X(), y: Y() },
      { loss: 'mse', optimizer, epochs: 5, batchSize: 4, scheduler },
    );
    assert.deepEqual(
      h.epochs.map((e) => e.lr),
      [1, 1, 0.5, 0.5, 0.25],
    );
    assert.equal(optimizer.lr, 0.25);
  });

  test('metrics: accuracy for labels and one-hot targets, mae and mse for regression', async () => {
    const model = new nn.Sequential(new nn.Linear(2, 2, { rng: new random.RandomState(0) }));
    const x = tensor([
      [1, 0],
      [0, 1],
      [1, 1],
    ]);
    const out = predict(model, x);
    const pred = Array.from({ length: 3 }, (_, r) => (out.data[2 * r] >= out.data[2 * r + 1] ? 0 : 1));
    const labels = [0, 1, 1];
    const acc = pred.filter((p, i) => p === labels[i]).length / 3;
    const onehot = tensor(labels.map((l) => (l === 0 ? [1, 0] : [0, 1])));
    assert.equal(
      evaluate(model, { x, y: labels }, { loss: 'crossEntropy', metrics: ['accuracy'] }).metrics.accuracy,
      acc,
    );
    assert.equal(
      evaluate(model, { x, y: onehot }, { loss: 'crossEntropy', metrics: ['accuracy'] }).metrics.accuracy,
      acc,
    );
    const target = tensor([
      [0, 0],
      [0, 0],
      [0, 0],
    ]);
    const r = evaluate(model, { x, y: target }, { loss: 'mse', metrics: ['mae', 'mse'] });
    const d = Array.from(out.data);
    assert.ok(Math.abs(r.metrics.mse! - d.reduce((s, v) => s + v * v, 0) / 6) < 1e-6);
    assert.ok(Math.abs(r.metrics.mae! - d.reduce((s, v) => s + Math.abs(v), 0) / 6) < 1e-6);
    assert.ok(Math.abs(r.loss - r.metrics.mse!) < 1e-6);
  });

  test('predict batches large inputs and matches one forward pass; model mode is restored', () => {
    const model = new nn.Sequential(
      new nn.Linear(3, 2, { rng: new random.RandomState(0) }),
      new nn.Dropout(0.5),
    );
    const x = new random.RandomState(1).randn(2500, 3).to('float32');
    const whole = predict(model, x, { batchSize: 10_000 });
    const parts = predict(model, x, { batchSize: 1000 });
    assert.deepEqual(Array.from(parts.data), Array.from(whole.data));
    assert.equal(model.training, true);
  });

  test('bad input is rejected with messages that say what was expected', async () => {
    const model = xorModel(0);
    const optimizer = new optim.SGD(model.parameters(), { lr: 0.1 });
    await assert.rejects(
      fit(model, { x: X(), y: tensor([[1], [0]]) }, { loss: 'mse', optimizer }),
      /x has 4 samples but y has 2/,
    );
    await assert.rejects(
      fit(model, { x: X(), y: Y() }, { loss: 'nope' as 'mse', optimizer }),
      /unknown loss "nope"/,
    );
    await assert.rejects(
      fit(model, { x: X(), y: Y() }, { loss: 'mse', optimizer, validationSplit: 1.5 }),
      /validationSplit must be in \(0, 1\)/,
    );
    await assert.rejects(
      fit(model, { x: X(), y: Y() }, { loss: 'mse', optimizer, epochs: -1 }),
      /epochs must be a non-negative integer/,
    );
    await assert.rejects(
      fit(
        model,
        { x: X(), y: Y() },
        { loss: 'mse', optimizer, earlyStopping: { patience: 2, monitor: 'valLoss' } },
      ),
      /no validation data/,
    );
  });

  test('plain JavaScript mistakes get sentences, not "cannot read properties of undefined"', async () => {
    const model = xorModel(0);
    const data = { x: X(), y: Y() };
    // What a caller without a type checker may write.
    const untyped = fit as (m: unknown, d: unknown, o?: unknown) => Promise<unknown>;
    await assert.rejects(untyped(model, data), {
      name: 'TypeError',
      message:
        /^fit: options are required: fit\(model, \{ x, y \}, \{ loss, optimizer, epochs \}\), e\.g\. .*new optim\.Adam\(model\.parameters\(\)\)/,
    });
    await assert.rejects(
      untyped(model, data, { optimizer: new optim.SGD(model.parameters(), { lr: 0.1 }) }),
      {
        message:
          /^fit: options\.loss is missing; expected a loss function or one of mse, .*crossEntropy \(cross-entropy\)/,
      },
    );
    for (const [optimizer, said] of [
      [undefined, 'options.optimizer is missing'],
      ['adam', 'options.optimizer is the string "adam", not an optimizer'],
      [optim.Adam, 'options.optimizer is the class Adam, not an optimizer made from it'],
    ] as const)
      await assert.rejects(untyped(model, data, { loss: 'mse', optimizer }), {
        name: 'TypeError',
        message: new RegExp(
          `^fit: ${said.replace(/[.()]/g, '\\$&')}; make one over the model's parameters, e\\.g\\. `,
        ),
      });
    await assert.rejects(
      untyped(model, X(), { loss: 'mse', optimizer: new optim.SGD(model.parameters(), { lr: 0.1 }) }),
      {
        message: 'fit: data.x must be a Tensor with a sample axis',
      },
    );
  });

  test('a NaN or infinite input or target is a DataError naming the value, not divergence', async () => {
    const model = xorModel(0);
    const optimizer = new optim.SGD(model.parameters(), { lr: 0.1 });
    const before = weights(model);
    const x = X();
    x.data[5] = NaN;
    await assert.rejects(fit(model, { x, y: Y() }, { loss: 'mse', optimizer }), (e: unknown) => {
      assert.ok(e instanceof DataError);
      assert.match(
        e.message,
        /^fit: data\.x\[2\]\[1\] is NaN; inputs and targets must be finite numbers \(this is bad data, not divergence/,
      );
      assert.deepEqual([e.dataset, e.tensor, e.sample, e.index], ['data', 'x', 2, 1]);
      return true;
    });
    const y = Y();
    y.data[3] = -Infinity;
    await assert.rejects(
      fit(model, { x: X(), y: Y() }, { loss: 'mse', optimizer, validationData: { x: X(), y } }),
      { name: 'DataError', message: /^fit: validationData\.y\[3\]\[0\] is -Infinity/ },
    );
    assert.throws(() => evaluate(model, { x, y: Y() }, { loss: 'mse' }), {
      name: 'DataError',
      message: /^evaluate: data\.x\[2\]\[1\] is NaN/,
    });
    assert.deepEqual(weights(model), before, 'nothing trained');
  });

  test("a loss by name in either spelling: 'crossEntropy' or 'cross-entropy', the same run", async () => {
    const runs = [];
    for (const loss of ['bceWithLogits', 'bce-with-logits'] as const) {
      const model = new nn.Sequential(new nn.Linear(2, 1, { rng: new random.RandomState(3) }));
      const optimizer = new optim.Adam(model.parameters(), { lr: 0.1 });
      const h = await fit(
        model,
        { x: X(), y: Y() },
        { loss, optimizer, epochs: 3, shuffle: false, metrics: ['accuracy'] },
      );
      runs.push({
        h: h.epochs.map((e) => [e.loss, e.metrics.accuracy]),
        e: evaluate(model, { x: X(), y: Y() }, { loss, metrics: ['accuracy'] }),
      });
    }
    assert.deepEqual(runs[1], runs[0]);
    const model = new nn.Sequential(new nn.Linear(2, 2, { rng: new random.RandomState(3) }));
    const labels = [0, 1, 1, 0];
    assert.equal(
      evaluate(model, { x: X(), y: labels }, { loss: 'cross-entropy' }).loss,
      evaluate(model, { x: X(), y: labels }, { loss: 'crossEntropy' }).loss,
    );
    assert.equal(losses.lossName('mse-half-sum'), 'mseHalfSum');
    assert.equal(losses.lossName('cross_entropy'), undefined);
    for (const [camel, kebab] of Object.entries(losses.LOSS_SPELLINGS)) {
      assert.equal(losses.lossName(camel), camel);
      assert.equal(losses.lossName(kebab), camel);
    }
  });

  test('initialEpoch continues the numbering (for resumed training)', async () => {
    const model = xorModel(0);
    const optimizer = new optim.SGD(model.parameters(), { lr: 0.1 });
    const h = await fit(model, { x: X(), y: Y() }, { loss: 'mse', optimizer, epochs: 2, initialEpoch: 3 });
    assert.deepEqual(
      h.epochs.map((e) => e.epoch),
      [4, 5],
    );
  });

  test('2 epochs + 2 epochs equal 4 epochs when the shuffling stream and optimizer state carry over', async () => {
    const make = () => {
      const model = xorModel(3);
      return {
        model,
        optimizer: new optim.Adam(model.parameters(), { lr: 0.01 }),
        rng: new random.RandomState(9),
      };
    };
    const a = make();
    await fit(
      a.model,
      { x: X(), y: Y() },
      { loss: 'bce', optimizer: a.optimizer, epochs: 4, batchSize: 2, rng: a.rng },
    );
    const b = make();
    await fit(
      b.model,
      { x: X(), y: Y() },
      { loss: 'bce', optimizer: b.optimizer, epochs: 2, batchSize: 2, rng: b.rng },
    );
    await fit(
      b.model,
      { x: X(), y: Y() },
      { loss: 'bce', optimizer: b.optimizer, epochs: 2, batchSize: 2, rng: b.rng, initialEpoch: 2 },
    );
    assert.deepEqual(weights(b.model), weights(a.model));
  });
});

describe('Trainer.run', () => {
  test('an epoch paused after every batch gives the bits of one run straight through', () => {
    const data = regression(200, 5);
    const make = () => {
      const model = new nn.Sequential(
        new nn.Linear(3, 8, { rng: new random.RandomState(0) }),
        new nn.Tanh(),
        new nn.Linear(8, 1, { rng: new random.RandomState(1) }),
      );
      const optimizer = new optim.Adam(model.parameters(), { lr: 0.01 });
      const trainer = new Trainer(
        model,
        { x: data.x, y: data.y, labels: false },
        {
          loss: 'mse',
          optimizer,
          batchSize: 16,
          shuffle: true,
          rng: new random.RandomState(9),
          metrics: ['mae'],
          threshold: 0.5,
          fused: true,
        },
      );
      return { model, trainer };
    };
    const a = make();
    const b = make();
    const lossesA: number[] = [];
    const lossesB: number[] = [];
    for (let e = 1; e <= 3; e++) {
      lossesA.push(a.trainer.epoch(e) as number);
      let r: number | null | typeof PAUSED;
      let pauses = 0;
      // A deadline in the past: the trainer stops after every batch and continues where it stopped.
      while ((r = b.trainer.run(e, {}, 0)) === PAUSED) pauses++;
      assert.equal(pauses, b.trainer.batches - 1);
      lossesB.push(r as number);
      assert.deepEqual(b.trainer.metrics(), a.trainer.metrics());
    }
    a.trainer.release();
    b.trainer.release();
    assert.deepEqual(lossesB, lossesA);
    assert.deepEqual(weights(b.model), weights(a.model));
  });
});

describe('fit: an epoch interrupted part way', () => {
  test('history.partial, then resumeEpoch with the weights, optimizer and stream of that moment: the same bits', async () => {
    const data = regression(120, 6);
    const make = (rng: random.RandomState) =>
      new nn.Sequential(
        new nn.Linear(3, 8, { rng: new random.RandomState(0) }),
        new nn.ReLU(),
        new nn.Dropout(0.2, { rng }),
        new nn.Linear(8, 1, { rng: new random.RandomState(1) }),
      );
    const common = { loss: 'mse' as const, batchSize: 8, metrics: ['mae' as const, 'r2' as const] };
    // Straight through: 3 epochs.
    const rngA = new random.RandomState(7);
    const a = make(rngA);
    const optA = new optim.Adam(a.parameters(), { lr: 0.01 });
    const straight = await fit(a, data, { ...common, optimizer: optA, rng: rngA, epochs: 3 });

    // Stopped after batch 6 of epoch 2, then continued by a fresh model, optimizer and stream.
    const rngB = new random.RandomState(7);
    const b = make(rngB);
    const optB = new optim.Adam(b.parameters(), { lr: 0.01 });
    const ac = new AbortController();
    const first = await fit(b, data, {
      ...common,
      optimizer: optB,
      rng: rngB,
      epochs: 3,
      signal: ac.signal,
      onBatchEnd: (log) => {
        if (log.epoch === 2 && log.batch === 5) ac.abort();
      },
    });
    assert.equal(first.stopReason, 'aborted');
    assert.equal(first.partial?.epoch, 2);
    assert.equal(first.partial?.batch, 6);
    const partial = JSON.parse(
      JSON.stringify({ ...first.partial, order: Array.from(first.partial?.order ?? []) }),
    );
    const rngC = new random.RandomState(0);
    rngC.setState(rngB.getState());
    const c = make(rngC);
    c.loadStateDict(b.stateDict());
    const optC = new optim.Adam(c.parameters(), { lr: 0.01 });
    optC.loadStateDict(JSON.parse(JSON.stringify(optB.stateDict())));
    const rest = await fit(c, data, {
      ...common,
      optimizer: optC,
      rng: rngC,
      epochs: 2,
      initialEpoch: 1,
      resumeEpoch: { ...partial, order: Int32Array.from(partial.order) },
    });
    assert.deepEqual(weights(c), weights(a));
    const strip = (e: { seconds: number }[]) => e.map(({ seconds: _s, ...x }) => x);
    assert.deepEqual(strip(rest.epochs), strip(straight.epochs.slice(1)));
  });
});

describe("fit: the trainer's SGD lane (one batch an epoch, plain SGD, nothing else recorded)", () => {
  type Case = {
    model: nn.Module;
    data: { x: ReturnType<typeof tensor>; y: ReturnType<typeof tensor> };
    optimizer: optim.SGD;
    options: Partial<FitOptions>;
  };
  /** A run through the lane and the same run epoch by epoch (a batch callback keeps it off the lane). */
  async function bothWays(make: () => Case) {
    const run = async (lane: boolean) => {
      const { model, data, optimizer, options } = make();
      const original = Trainer.prototype.sgdEpochs;
      let laneEpochs = 0;
      Trainer.prototype.sgdEpochs = function (this: Trainer, ...args) {
        const done = original.apply(this, args);
        laneEpochs += done;
        return done;
      };
      let error: string | null = null;
      let history: History;
      try {
        history = await fit(model, data, {
          loss: 'mseHalfSum',
          optimizer,
          batchSize: 1 << 20,
          shuffle: false,
          ...options,
          ...(lane ? {} : { onBatchEnd: () => {} }),
        });
      } catch (e) {
        assert.ok(e instanceof TrainingDivergedError);
        error = e.message;
        history = e.history;
      } finally {
        Trainer.prototype.sgdEpochs = original;
      }
      const h = history as History;
      return {
        laneEpochs,
        result: {
          epochs: h.epochs.map((e) => [e.epoch, e.loss, e.lr]),
          stopReason: h.stopReason,
          partial: h.partial ?? null,
          error,
          weights: weights(model),
          grads: model.parameters().map((p) => (p.grad ? Array.from(p.grad.data) : null)),
          optimizer: optimizer.stateDict(),
        },
        seconds: h.epochs.map((e) => e.seconds),
      };
    };
    const lane = await run(true);
    const plain = await run(false);
    assert.equal(plain.laneEpochs, 0);
    // Same bits: every epoch's loss, the weights, the gradients, the optimizer's counts, the error. (The
    // first epoch that differs, if one does: a diff of thousands of epochs takes minutes to print.)
    const a = lane.result.epochs;
    const b = plain.result.epochs;
    const at = a.findIndex((e, i) => !b[i] || e.some((v, j) => !Object.is(v, b[i][j])));
    assert.deepEqual(a[at], b[at], `epoch ${a[at]?.[0]} differs`);
    assert.equal(a.length, b.length);
    assert.deepEqual({ ...lane.result, epochs: null }, { ...plain.result, epochs: null });
    for (const s of lane.seconds) assert.ok(s >= 0 && Number.isFinite(s));
    return lane;
  }

  // The kernel set settled first: float32's bits depend on it, and it must not change between the runs.
  before(() => ready());

  const seed = (): Case => {
    const rng = new random.RandomState(42);
    const opts = { dtype: 'float64', init: 'rand', rng } as const;
    const model = new nn.Sequential(
      new nn.Linear(2, 2, opts),
      new nn.Sigmoid(),
      new nn.Linear(2, 1, opts),
      new nn.Sigmoid(),
    );
    const data = { x: tensor([[0.5, 0.6]], { dtype: 'float64' }), y: tensor([[0.8]], { dtype: 'float64' }) };
    return { model, data, optimizer: new optim.SGD(model.parameters(), { lr: 0.1 }), options: {} };
  };

  test("the seed network: 20,000 epochs give the epoch-by-epoch run's bits", async () => {
    const r = await bothWays(() => ({ ...seed(), options: { epochs: 20_000 } }));
    assert.equal(r.laneEpochs, 19_999);
    assert.equal(r.result.optimizer.step, 20_000);
  });

  test('one sample shuffled (no draws), resumed numbering, and a second fit on the same optimizer', async () => {
    await bothWays(() => ({ ...seed(), options: { epochs: 300, shuffle: true, initialEpoch: 7 } }));
    await bothWays(() => {
      const c = seed();
      return { ...c, options: { epochs: 50 } };
    });
  });

  test('until stops after the same epoch', async () => {
    const r = await bothWays(() => ({ ...seed(), options: { epochs: 100_000, until: { loss: 1e-6 } } }));
    assert.equal(r.result.stopReason, 'until');
    assert.ok(r.result.epochs.length < 100_000);
  });

  test('a batch of four rows (float32 XOR) and a batch too large for the tiny step', async () => {
    await bothWays(() => {
      const model = xorModel(3);
      return {
        model,
        data: { x: X(), y: Y() },
        optimizer: new optim.SGD(model.parameters(), { lr: 0.5 }),
        options: { epochs: 2_000, loss: 'mse' },
      };
    });
    await bothWays(() => {
      const model = new nn.Sequential(
        new nn.Linear(3, 8, { rng: new random.RandomState(0) }),
        new nn.ReLU(),
        new nn.Linear(8, 1, { rng: new random.RandomState(1) }),
      );
      return {
        model,
        data: regression(64, 3),
        optimizer: new optim.SGD(model.parameters(), { lr: 0.01 }),
        options: { epochs: 500, loss: 'mse' },
      };
    });
  });

  test('divergence in the lane: the same error, history and restored weights', async () => {
    const diverging = (factor?: number) => (): Case => {
      const model = new nn.Sequential(
        new nn.Linear(3, 8, { rng: new random.RandomState(0) }),
        new nn.ReLU(),
        new nn.Linear(8, 1, { rng: new random.RandomState(1) }),
      );
      return {
        model,
        data: regression(64, 3),
        optimizer: new optim.SGD(model.parameters(), { lr: 50 }),
        options: { epochs: 100, loss: 'mse', ...(factor ? { divergence: { factor } } : {}) },
      };
    };
    const nan = await bothWays(diverging(Infinity));
    assert.match(nan.result.error as string, /loss became/);
    assert.ok(nan.laneEpochs > 0);
    const exploded = await bothWays(diverging());
    assert.match(exploded.result.error as string, /loss exploded/);
    // On the tiny step: one sample, a linear model, a rate that makes each step grow the error ~9%.
    const tiny = await bothWays(() => {
      const model = new nn.Sequential(
        new nn.Linear(2, 1, { rng: new random.RandomState(1), dtype: 'float64' }),
      );
      return {
        model,
        data: { x: tensor([[0.5, 0.6]], { dtype: 'float64' }), y: tensor([[0.8]], { dtype: 'float64' }) },
        optimizer: new optim.SGD(model.parameters(), { lr: 1.3 }),
        options: { epochs: 1000, divergence: { factor: 1e3 } },
      };
    });
    assert.match(tiny.result.error as string, /loss exploded/);
    assert.ok(tiny.laneEpochs > 10);
  });

  test('a signal aborted before the run: aborted with the same partial epoch', async () => {
    const ac = new AbortController();
    ac.abort();
    const r = await bothWays(() => ({ ...seed(), options: { epochs: 10, signal: ac.signal } }));
    assert.equal(r.result.stopReason, 'aborted');
  });
});
