// A small MNIST subset, read from the original idx files, learns far above chance (10%).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  evaluate,
  fit,
  fitPreprocessing,
  fromSpec,
  mlpSpec,
  optim,
  random,
  selectRows,
  transformFeatures,
  transformTarget,
  type Table,
} from '../src/index.js';
import { loadBuiltin } from '../cli/datasets.js';

function prepare(pre: ReturnType<typeof fitPreprocessing>, table: Table) {
  const t = transformTarget(pre, table);
  assert.equal(t.kind, 'classes');
  return { x: transformFeatures(pre, table), y: t.kind === 'classes' ? t.labels : [] };
}

test('an MLP trained on 3,000 MNIST digits scores well above chance on 1,000 test digits', async () => {
  const { train, test: testSet } = await loadBuiltin('mnist');
  assert.ok(testSet);
  const rng = new random.RandomState(0);
  const small = selectRows(train, rng.permutation(train.numRows).subarray(0, 3000));
  const held = selectRows(
    testSet,
    Int32Array.from({ length: 1000 }, (_, i) => i),
  );
  const pre = fitPreprocessing(small, { target: 'label' });
  const model = fromSpec(mlpSpec([784, 64, 10], 'relu'), { rng });
  const optimizer = new optim.Adam(model.parameters(), { lr: 0.002 });
  await fit(model, prepare(pre, small), { loss: 'crossEntropy', optimizer, epochs: 3, batchSize: 32, rng });
  const r = evaluate(model, prepare(pre, held), { loss: 'crossEntropy', metrics: ['accuracy'] });
  assert.ok(r.metrics.accuracy! > 0.8, `test accuracy ${r.metrics.accuracy}`);
});
