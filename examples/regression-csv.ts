// Regression from a CSV file, with the library alone: read the rows, encode the columns (numbers
// standardized, text one-hot, missing ages filled with the mean), hold out 20% to score on, train, save a
// model file that `chainrule predict` reads, and predict new rows as the command line would.
// Run: npx tsx examples/regression-csv.ts [epochs]      (default 200; writes houses.json here)
import { readFileSync, writeFileSync } from 'node:fs';
import {
  columnKinds,
  dropMissing,
  fit,
  fitPreprocessing,
  modelToJSON,
  nn,
  optim,
  parseCsv,
  predictionRows,
  predictTable,
  random,
  regressionReport,
  selectRows,
  transformFeatures,
  transformTarget,
  writeCsv,
  type Table,
} from '../src/index.js'; // in your project: from 'chainrule'

const epochs = Number(process.argv[2] ?? 200);
const here = (name: string) => new URL(name, import.meta.url);

// 1. Rows: area, rooms, age (a few 'NA'), city (text), price.
const table = parseCsv(readFileSync(here('data/houses.csv'), 'utf8'), 'houses.csv');

// 2. How each column becomes inputs, learnt from the rows; a missing age takes the mean age.
const pre = fitPreprocessing(table, { target: 'price', missing: 'mean' });
const rows = dropMissing(pre, table, { target: true }).table; // rows without a price cannot teach
for (const f of pre.features)
  console.log(
    f.kind === 'numeric' ? `${f.name}: numeric` : `${f.name}: one-hot over ${f.categories.join(', ')}`,
  );

// 3. A seeded 80/20 split.
const rng = new random.RandomState(0);
const order = rng.permutation(rows.numRows);
const nTest = Math.round(rows.numRows * 0.2);
const test = selectRows(rows, order.subarray(0, nTest));
const train = selectRows(rows, order.subarray(nTest));
const tensors = (t: Table) => {
  const target = transformTarget(pre, t);
  if (target.kind !== 'numeric') throw new Error('price should be a number');
  return { x: transformFeatures(pre, t), y: target.y };
};

// 4. Train, stopping once a held-out fifth of the training rows stops improving; keep the best epoch.
const model = new nn.Sequential(
  new nn.Linear(pre.inputSize, 32, { rng }),
  new nn.ReLU(),
  new nn.Linear(32, 1, { rng }),
);
const history = await fit(model, tensors(train), {
  loss: 'mse',
  optimizer: new optim.Adam(model.parameters(), { lr: 0.01 }),
  epochs,
  batchSize: 32,
  rng,
  validationSplit: 0.2,
  earlyStopping: { patience: 20, restoreBest: true },
});
console.log(`trained ${history.epochs.length} epochs, kept epoch ${history.bestEpoch}`);

// 5. Score on the test rows, in the target's units.
const predicted = predictTable(model, pre, test);
if (predicted.kind !== 'numeric') throw new Error('a regression gives numbers');
const price = test.columns.find((c) => c.name === 'price')!.values as ArrayLike<number>;
const { r2, mae } = regressionReport(predicted.values, price);
console.log(`test R² ${r2.toFixed(3)}, mean absolute error ${mae.toFixed(1)}`);

// 6. A model file with its preprocessing: chainrule predict --model houses.json --data new.csv works on it.
writeFileSync('houses.json', modelToJSON(model, { task: 'regression', preprocessing: pre }));

// 7. New rows (one without an age), read the way the model reads its columns.
const fresh = parseCsv(readFileSync(here('data/houses-new.csv'), 'utf8'), 'houses-new.csv', {
  kinds: columnKinds(pre),
});
const { header, rows: out } = predictionRows(pre, fresh, predictTable(model, pre, fresh));
process.stdout.write(writeCsv(out, header));
