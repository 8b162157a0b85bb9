// The playground's library side and server, in Node: runs that equal the library's own
// `fit`, the seed preset, explanations, CSV points, the URL state table, and the static server's rules.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { changedState } from './helpers/playground.js';
import { assertClose } from './helpers/close.js';
import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { fit, makeTable, modelFromJSON, parseCsv, predict, seedNetwork, tensor } from '../src/index.js';
import * as pg from '../src/playground/index.js';
import { playgroundCommand, servePlayground } from '../cli/commands/playground.js';
import { UserError } from '../cli/errors.js';
import type { IO } from '../cli/io.js';
import { DEFAULT_STATE, configOf, normalize, stateFromHash, stateToHash } from '../web/state.js';

const weights = (run: pg.PlaygroundRun) => run.model.parameters().map((p) => Array.from(p.data));

/** Units in the last place between two doubles (0 when equal, both NaN, or ±0). */

describe('a playground run', () => {
  test('is the library fit, step for step: same weights after 15 epochs', async () => {
    const configs: pg.PlaygroundConfig[] = [
      {
        ...pg.DEFAULT_CONFIG,
        seed: 3,
        regularization: 'L2',
        regularizationRate: 0.003,
        optimizer: 'momentum',
      },
      {
        ...pg.DEFAULT_CONFIG,
        dataset: 'xor',
        loss: 'crossEntropy',
        activation: 'sigmoid',
        features: ['x1', 'x2', 'sinX1'],
      },
      {
        ...pg.DEFAULT_CONFIG,
        dataset: 'plane',
        problem: 'regression',
        optimizer: 'adam',
        regularization: 'L1',
        regularizationRate: 0.01,
        activation: 'relu',
        batchSize: 30,
      },
    ];
    for (const config of configs) {
      const run = pg.createRun(config);
      const twin = pg.createRun(config);
      for (let e = 0; e < 15; e++) run.trainEpoch();
      const x = pg.featureMatrix(twin.data.train.x1, twin.data.train.x2, config.features);
      const y = tensor(
        Array.from(twin.data.train.y, (v) => [twin.kind === 'logit' ? (v + 1) / 2 : v]),
        { dtype: 'float64' },
      );
      await fit(
        twin.model,
        { x, y },
        {
          loss: (p, t) => twin.batchLoss(p, t),
          optimizer: twin.optimizer,
          epochs: 15,
          batchSize: config.batchSize,
          rng: twin.shuffle,
        },
      );
      assert.deepEqual(weights(run), weights(twin), `${config.dataset}/${config.optimizer}`);
    }
  });

  test('is deterministic: the same configuration gives the same weights; another seed does not', () => {
    const a = pg.createRun({ ...pg.DEFAULT_CONFIG, seed: 5 });
    const b = pg.createRun({ ...pg.DEFAULT_CONFIG, seed: 5 });
    const c = pg.createRun({ ...pg.DEFAULT_CONFIG, seed: 6 });
    for (let e = 0; e < 5; e++) [a, b, c].forEach((r) => r.trainEpoch());
    assert.deepEqual(weights(a), weights(b));
    assert.notDeepEqual(weights(a), weights(c));
  });

  test('learns circle with TensorFlow Playground defaults: test loss below 0.05 within 300 epochs', () => {
    const run = pg.createRun({ ...pg.DEFAULT_CONFIG, seed: 1 });
    let first = 0;
    for (let e = 1; e <= 300 && !first; e++) if ((run.trainEpoch().testLoss as number) < 0.05) first = e;
    assert.ok(
      first > 0 && first <= 300,
      `test loss ${run.history.at(-1)?.testLoss} after ${run.epoch} epochs`,
    );
  });

  test('every dataset, activation, optimizer and penalty builds and trains', () => {
    for (const dataset of ['circle', 'xor', 'gauss', 'spiral', 'plane', 'multi-gaussian', 'seed'] as const)
      for (const activation of pg.CHOICES.activation) {
        const problem = pg.DATASETS[dataset].problem as pg.ProblemType;
        const base = dataset === 'seed' ? pg.SEED_PRESET : pg.DEFAULT_CONFIG;
        const run = pg.createRun({
          ...base,
          dataset,
          problem,
          activation,
          hidden: [3, 2],
          features: [...pg.FEATURE_NAMES],
          regularization: 'L1',
          regularizationRate: 0.001,
          optimizer: 'adam',
        });
        const s = run.trainEpoch();
        assert.ok(Number.isFinite(s.trainLoss), `${dataset}/${activation}`);
        assert.equal(s.testLoss === null, dataset === 'seed');
      }
    const flat = pg.createRun({ ...pg.DEFAULT_CONFIG, hidden: [] });
    assert.equal(flat.linears.length, 1);
    flat.trainEpoch();
  });

  test('the seed preset is the notebook: its weights, its sample, the demo losses', () => {
    const run = pg.createRun(pg.SEED_PRESET);
    assert.deepEqual(
      weights(run),
      seedNetwork()
        .parameters()
        .map((p) => Array.from(p.data)),
    );
    assert.deepEqual([run.data.train.x1[0], run.data.train.x2[0], run.data.train.y[0]], [0.5, 0.6, 0.8]);
    for (let e = 0; e < 100; e++) run.trainEpoch();
    // The loss before the 10th and the 100th update: what `chainrule demo` prints for epochs 10 and 100.
    assert.equal(run.history[9].trainLoss, 0.02485126664885399);
    assert.equal(run.history[99].trainLoss, 0.004232294772727363);
  });

  test('explain step: the notebook names for the seed, and the chain equals the step the run takes', () => {
    const run = pg.createRun(pg.SEED_PRESET);
    const e = pg.explainStep(run, 0);
    assert.equal(e.trace.notation, 'seed');
    assert.deepEqual(e.notes, []);
    const w5 = e.trace.parameters.find((p) => p.name === 'w5');
    assert.ok(w5);
    assert.equal(w5.terms[0].factors[0].name, 'd_loss/d_output');
    assert.deepEqual(e.trace.check.disagreements, []);
    const before = weights(run);
    run.trainEpoch();
    const after = run.parameters();
    // w5 is weight [0][0] of the second Linear; the trace's update is the run's SGD step.
    assert.equal(after[1].weight[0], w5.newValue);
    assert.ok(Math.abs(w5.chain - w5.grad) <= 1e-15 * Math.abs(w5.grad));
    assert.notDeepEqual(weights(run), before);
    const big = pg.createRun({
      ...pg.DEFAULT_CONFIG,
      loss: 'crossEntropy',
      optimizer: 'adam',
      regularization: 'L2',
      regularizationRate: 0.01,
    });
    const notes = pg.explainStep(big, 3).notes.join(' ');
    assert.match(notes, /L2/);
    assert.match(notes, /Adam/);
    assert.match(notes, /averages the gradients of 10 points/);
    assert.throws(() => pg.explainStep(big, 10_000), /sample must be an integer in \[0, 250\)/);
  });

  test('the penalties differentiate to rate·w (L2) and rate·sign w (L1), weights only', () => {
    const w = tensor(
      [
        [0.5, -2],
        [0, 3],
      ],
      { dtype: 'float64', requiresGrad: true },
    );
    pg.penalty([w], 'L2', 0.1)?.backward();
    assert.deepEqual(Array.from(w.grad!.data), [0.05, -0.2, 0, 0.30000000000000004]);
    w.grad = null;
    pg.penalty([w], 'L1', 0.1)?.backward();
    assert.deepEqual(Array.from(w.grad!.data), [0.1, -0.1, 0, 0.1]);
    assert.equal(pg.penalty([w], 'none', 0.1), null);
  });

  test('a diverging run stops with a message and keeps finite weights', () => {
    const run = pg.createRun({
      ...pg.DEFAULT_CONFIG,
      dataset: 'plane',
      problem: 'regression',
      activation: 'relu',
      learningRate: 10,
      hidden: [8, 8],
    });
    assert.throws(() => {
      for (let e = 0; e < 50; e++) run.trainEpoch();
    }, /training diverged: the loss became (NaN|Infinity) at epoch \d+, batch \d+ of \d+\. The model keeps its last weights that gave a finite loss\. Try a smaller learning rate \(it is 10\)/);
    assert.ok(weights(run).flat().every(Number.isFinite));
  });

  test('an edited weight changes the output and the loss', () => {
    const run = pg.createRun(pg.DEFAULT_CONFIG);
    const before = run.grids(10, 4).output;
    const loss = run.history[0].trainLoss;
    run.setParameter(2, 'weight', 0, 4);
    assert.notDeepEqual(run.grids(10, 4).output, before);
    assert.notEqual(run.history[0].trainLoss, loss);
    assert.throws(() => run.setParameter(2, 'weight', 2, 1), /no weight 2 in layer 2/);
    assert.throws(() => run.setParameter(0, 'bias', 0, NaN), /finite/);
  });

  test('exports a model file that loads and predicts as the run does, and ONNX that onnxruntime runs to the same outputs', async () => {
    const run = pg.createRun({ ...pg.DEFAULT_CONFIG, features: ['x1', 'x2', 'x1Squared'] });
    for (let e = 0; e < 3; e++) run.trainEpoch();
    const { model, file } = modelFromJSON(run.toModelFile(), 'export');
    assert.equal(file.task, 'classification');
    const x = pg.featureMatrix(run.data.test.x1, run.data.test.x2, run.config.features);
    assert.deepEqual(
      Array.from(predict(model, x).data),
      Array.from(run.predictPoints(run.data.test.x1, run.data.test.x2)),
    );
    // The page's ONNX (the bytes the browser test downloads) in the real runtime: the run's raw outputs.
    const session = await ort.InferenceSession.create(run.toOnnx());
    const out = (
      await session.run({
        [session.inputNames[0]]: new ort.Tensor('float64', Float64Array.from(x.data), x.shape),
      })
    )[session.outputNames[0]];
    assert.equal(out.type, 'float64');
    const want = predict(model, x).data;
    assertClose(Array.from(out.data as Float64Array), want, { rel: 1e-12, abs: 1e-14, what: 'ONNX outputs' });
  });

  test('a CSV table becomes points: numeric columns onto [−5, 5], two classes onto −1 and +1', () => {
    const table = makeTable('t.csv', [
      { name: 'a', values: Float64Array.of(0, 10, 5, 2) },
      { name: 'b', values: Float64Array.of(1, 1, 2, 3) },
      { name: 'kind', values: ['dog', 'cat', 'dog', 'cat'] },
      { name: 'price', values: Float64Array.of(3, 5, 7, 4) },
      { name: 'three', values: ['x', 'y', 'z', 'x'] },
    ]);
    const c = pg.pointsFromTable(table, { x1: 'a', x2: 'b', label: 'kind' });
    assert.equal(c.problem, 'classification');
    assert.deepEqual(c.classes, ['cat', 'dog']);
    assert.deepEqual(Array.from(c.points.x1), [-5, 5, 0, -3]);
    assert.deepEqual(Array.from(c.points.y), [1, -1, 1, -1]);
    const r = pg.pointsFromTable(table, { x1: 'a', x2: 'b', label: 'price' });
    assert.equal(r.problem, 'regression');
    assert.deepEqual(Array.from(r.points.y), [-1, 0, 1, -0.5]);
    assert.throws(
      () => pg.pointsFromTable(table, { x1: 'a', x2: 'b', label: 'three' }),
      /3 distinct values \(x, y, z\); a playground classifier needs exactly 2/,
    );
    assert.throws(
      () => pg.pointsFromTable(table, { x1: 'kind', x2: 'b', label: 'price' }),
      /the x₁ column 'kind' is not numeric/,
    );
    assert.throws(
      () => pg.pointsFromTable(table, { x1: 'a', x2: 'nope', label: 'price' }),
      /no column 'nope'/,
    );
    // A CSV read by the library keeps a missing value or a typo in a numeric column: named, with its line.
    const gaps = parseCsv('a,b,kind\n1,2,dog\n3,NA,cat\n4,5,dog\n', 'g.csv');
    assert.throws(() => pg.pointsFromTable(gaps, { x1: 'a', x2: 'b', label: 'kind' }), {
      message: `g.csv:3: the x₂ column 'b' has "NA", not a number; the playground needs a number in every row`,
    });
    const run = pg.createRun({ ...pg.DEFAULT_CONFIG, dataset: 'csv', trainRatio: 50 }, c.points);
    assert.equal(run.data.train.y.length, 2);
    run.trainEpoch();
    assert.throws(() => pg.createRun({ ...pg.DEFAULT_CONFIG, dataset: 'csv' }), /no CSV was loaded/);
  });

  test('checkConfig names the field and what it expected', () => {
    assert.throws(
      () => pg.createRun({ ...pg.DEFAULT_CONFIG, hidden: [9] }),
      /hidden: expected at most 6 layers of 1–8 neurons, got \[9\]/,
    );
    assert.throws(
      () => pg.createRun({ ...pg.DEFAULT_CONFIG, dataset: 'plane' }),
      /problem: expected regression for the dataset plane/,
    );
    assert.throws(
      () =>
        pg.createRun({ ...pg.DEFAULT_CONFIG, dataset: 'plane', problem: 'regression', loss: 'crossEntropy' }),
      /loss: expected squared/,
    );
    assert.throws(
      () => pg.createRun({ ...pg.DEFAULT_CONFIG, features: [] }),
      /features: expected a non-empty list/,
    );
  });
});

describe('the URL state', () => {
  test('round-trips every field, the seed included', () => {
    const state = changedState(4294967295);
    const hash = stateToHash(state);
    const back = stateFromHash(hash);
    assert.deepEqual(back, { state, ignored: [] });
    assert.equal(stateToHash(back.state), hash);
    assert.deepEqual(stateFromHash('', 77).state, { ...DEFAULT_STATE, seed: 77 });
  });

  test('ignores what does not parse, and normalizes what does not fit together', () => {
    const { state, ignored } = stateFromHash(
      '#dataset=plane&problem=classification&loss=crossEntropy&hidden=9&noise=x&features=x1,bogus&seed=-1',
    );
    assert.deepEqual(ignored, ['noise=x', 'features=x1,bogus', 'hidden=9', 'seed=-1']);
    assert.equal(state.problem, 'regression');
    assert.equal(state.loss, 'squared');
    assert.deepEqual(state.hidden, DEFAULT_STATE.hidden);
    assert.equal(normalize({ ...state, dataset: 'seed' }).trainRatio, 100);
    assert.equal(normalize({ ...state, dataset: 'circle', trainRatio: 100 }).trainRatio, 50);
    // What the page builds from a URL is what Node builds from it.
    const config = configOf(stateFromHash('#dataset=spiral&hidden=8,8&seed=9').state);
    assert.equal(pg.checkConfig(config), config);
  });
});

describe('chainrule playground (the server)', () => {
  const root = mkdtempSync(join(tmpdir(), 'chainrule-serve-'));
  mkdirSync(join(root, 'page'));
  writeFileSync(join(root, 'secret.txt'), 'secret');
  writeFileSync(join(root, 'page', 'index.html'), '<p>page</p>');
  writeFileSync(join(root, 'page', 'main.js'), 'export {};');
  writeFileSync(join(root, 'page', 'style.css'), 'p {}');
  symlinkSync(join(root, 'secret.txt'), join(root, 'page', 'link.txt'));

  function get(
    url: string,
    path: string,
    method = 'GET',
  ): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
    return new Promise((done, fail) => {
      const req = request(url, { method, path }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => done({ status: res.statusCode ?? 0, headers: res.headers, body }));
      });
      req.on('error', fail);
      req.end();
    });
  }

  test('serves the folder with isolation headers and MIME types, and nothing outside it', async () => {
    const server = await servePlayground({ root: join(root, 'page'), port: 0 });
    try {
      assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
      const index = await get(server.url, '/');
      assert.equal(index.status, 200);
      assert.equal(index.body, '<p>page</p>');
      assert.equal(index.headers['content-type'], 'text/html; charset=utf-8');
      assert.equal(index.headers['cross-origin-opener-policy'], 'same-origin');
      assert.equal(index.headers['cross-origin-embedder-policy'], 'require-corp');
      assert.equal(
        (await get(server.url, '/main.js')).headers['content-type'],
        'text/javascript; charset=utf-8',
      );
      assert.equal(
        (await get(server.url, '/style.css?v=1')).headers['content-type'],
        'text/css; charset=utf-8',
      );
      for (const path of [
        '/../secret.txt',
        '/%2e%2e/secret.txt',
        '/..%2fsecret.txt',
        '/link.txt',
        '/missing.js',
        '/%00',
      ])
        assert.ok([400, 404].includes((await get(server.url, path)).status), path);
      assert.equal((await get(server.url, '/%E0%A4%A')).status, 400);
      assert.equal((await get(server.url, '/', 'POST')).status, 405);
      const head = await get(server.url, '/index.html', 'HEAD');
      assert.equal(head.status, 200);
      assert.equal(head.body, '');
      await assert.rejects(
        servePlayground({ root: join(root, 'page'), port: server.port }),
        (e: unknown) => e instanceof UserError && /in use/.test(e.message),
      );
    } finally {
      await server.close();
    }
  });

  test('the command prints the URL and stops on its abort signal', async () => {
    let out = '';
    let err = '';
    const controller = new AbortController();
    const io: IO = {
      out: (t) => void (out += t),
      err: (t) => void (err += t),
      isTTY: false,
      columns: 80,
      cwd: root,
      signal: controller.signal,
    };
    const running = playgroundCommand({ port: 0, dir: 'page' }, [], io);
    while (!out) await new Promise((r) => setTimeout(r, 10));
    assert.match(out, /^http:\/\/127\.0\.0\.1:\d+\/\n$/);
    assert.equal((await get(out.trim(), '/')).status, 200);
    controller.abort();
    assert.equal(await running, 0);
    assert.match(err, /Ctrl-C stops it/);
    await assert.rejects(playgroundCommand({ dir: 'nowhere' }, [], io), /no index.html/);
    rmSync(root, { recursive: true, force: true });
  });
});
