// Preprocessing: the encoding learnt from a table (standardization, one-hot layout, class order), applied by
// column name, saved as JSON, and read back from model outputs; errors name the column and line.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { tensor } from '../src/index.js';
import { makeTable, type Column, type Table } from '../src/data/table.js';
import {
  checkPreprocessing,
  chooseFeatures,
  dropMissing,
  fitPreprocessing,
  inferTask,
  inverseTarget,
  PreprocessError,
  transformFeatures,
  transformTarget,
  type Preprocessing,
} from '../src/data/preprocess.js';
import { assertClose } from './helpers/close.js';

/** A table whose row r came from line r + 2 of 'data.csv' (header on line 1). */
function table(columns: Column[], source = 'data.csv'): Table {
  return makeTable(source, columns, (r) => r + 2);
}

const num = (name: string, values: number[]): Column => ({ name, values: Float64Array.from(values) });
const str = (name: string, values: string[]): Column => ({ name, values });

const people = () =>
  table([
    num('age', [20, 30, 40, 50]),
    str('color', ['red', 'blue', 'red', 'green']),
    num('height', [1.5, 1.5, 1.5, 1.5]),
    str('species', ['b', 'a', 'c', 'a']),
  ]);

function rows(t: { data: ArrayLike<number>; shape: readonly number[] }): number[][] {
  const [n, w] = t.shape;
  return Array.from({ length: n }, (_, r) => Array.from(t.data).slice(r * w, (r + 1) * w));
}

describe('inferTask', () => {
  test('text targets are classes, listed in class order', () => {
    const r = inferTask(str('species', ['virginica', 'setosa', 'versicolor', 'setosa']));
    assert.equal(r.task, 'classification');
    assert.equal(r.reason, "target 'species' has 3 classes (setosa, versicolor, virginica)");
  });

  test('whole numbers with few distinct values are classes', () => {
    const digits = Array.from({ length: 100 }, (_, i) => i % 10);
    const r = inferTask(num('digit', digits));
    assert.equal(r.task, 'classification');
    assert.equal(
      r.reason,
      "target 'digit' has 10 classes (0, 1, 2, 3, 4, 5, 6, 7, 8, 9): whole numbers with few distinct values",
    );
  });

  test('more than 20 distinct values, fractions, or too few rows: regression', () => {
    const many = Array.from({ length: 100 }, (_, i) => i % 21);
    assert.deepEqual(inferTask(num('y', many)), {
      task: 'regression',
      reason: "target 'y' is numeric with 21 distinct values",
    });
    assert.equal(inferTask(num('y', [0.5, 1, 0.5, 1, 0.5, 1])).task, 'regression');
    // 2 distinct values in 4 rows is not fewer than half the rows.
    assert.equal(inferTask(num('y', [0, 1, 0, 1])).task, 'regression');
    assert.equal(inferTask(num('y', [0, 1, 0, 1, 1])).task, 'classification');
    assert.equal(
      inferTask(num('price', [1, 2, 3, 4, 5])).reason,
      "target 'price' is numeric with 5 distinct values",
    );
  });

  test('a number column with a few text cells is flagged', () => {
    const prices = Array.from({ length: 50 }, (_, i) => (i === 3 || i === 9 ? 'n/k' : String(100 + i)));
    assert.equal(
      inferTask(str('price', prices)).reason,
      "target 'price' has 49 classes (100, 101, 102, 104, 105, 106, 107, 108, 110, 111, …); " +
        "but only 2 values are not a number (such as 'n/k'): if it should be numeric, fix or remove those rows",
    );
    // Missing values are not classes.
    const missing = prices.map((p) => (p === 'n/k' ? 'NA' : p));
    assert.match(inferTask(str('price', missing)).reason, /^target 'price' has 48 classes/);
    // Class names that are all numbers (generated labels) are not flagged.
    const labels = Array.from({ length: 50 }, (_, i) => String(i));
    assert.equal(inferTask(str('label', labels)).reason.includes('but only'), false);
  });

  test('long class lists are cut short', () => {
    const names = Array.from({ length: 12 }, (_, i) => `c${String(i).padStart(2, '0')}`);
    assert.equal(
      inferTask(str('y', names)).reason,
      "target 'y' has 12 classes (c00, c01, c02, c03, c04, c05, c06, c07, c08, c09, …)",
    );
  });
});

describe('fitPreprocessing', () => {
  test('standardization: mean and population std; a constant column stores std 1', () => {
    const pre = fitPreprocessing(people(), { target: 'species' });
    const age = pre.features[0];
    assert.equal(age.kind, 'numeric');
    assert.ok(age.kind === 'numeric');
    assert.equal(age.mean, 35);
    assert.equal(age.std, Math.sqrt(125)); // population: ((15² + 5² + 5² + 15²) / 4)
    assert.deepEqual(pre.features[2], { name: 'height', kind: 'numeric', mean: 1.5, std: 1 });
    const x = transformFeatures(pre, people());
    assertClose(
      rows(x).map((r) => r[0]),
      [-15, -5, 5, 15].map((d) => d / Math.sqrt(125)),
      { abs: 1e-6, what: 'age, standardised' },
    );
    assert.deepEqual(
      rows(x).map((r) => r[4]),
      [0, 0, 0, 0],
    );
  });

  test("scaling: 'none' keeps the raw numbers", () => {
    const pre = fitPreprocessing(people(), { target: 'species', scaling: 'none' });
    assert.deepEqual(pre.features[0], { name: 'age', kind: 'numeric', mean: 0, std: 1 });
    assert.deepEqual(
      rows(transformFeatures(pre, people(), 'float64')).map((r) => r[0]),
      [20, 30, 40, 50],
    );
  });

  test('one-hot layout: features in table order, categories in first-seen order', () => {
    const pre = fitPreprocessing(people(), { target: 'species' });
    assert.deepEqual(
      pre.features.map((f) => f.name),
      ['age', 'color', 'height'],
    );
    assert.deepEqual(pre.features[1], {
      name: 'color',
      kind: 'categorical',
      categories: ['red', 'blue', 'green'],
    });
    assert.equal(pre.inputSize, 5);
    const x = transformFeatures(pre, people());
    assert.deepEqual(x.shape, [4, 5]);
    assert.equal(x.dtype, 'float32');
    assert.deepEqual(
      rows(x).map((r) => r.slice(1, 4)),
      [
        [1, 0, 0],
        [0, 1, 0],
        [1, 0, 0],
        [0, 0, 1],
      ],
    );
  });

  test('a chosen subset of features, in the order given', () => {
    const pre = fitPreprocessing(people(), { target: 'species', features: ['height', 'age'] });
    assert.deepEqual(
      pre.features.map((f) => f.name),
      ['height', 'age'],
    );
    assert.equal(pre.inputSize, 2);
  });

  test('class order: numbers numerically, other names by code units', () => {
    const t = (y: Column) => table([num('x', [1, 2, 3, 4, 5, 6]), y]);
    const numericNames = fitPreprocessing(t(str('y', ['10', '2', '1', '2', '10', '-3'])), { target: 'y' });
    assert.deepEqual(numericNames.target, { name: 'y', kind: 'classes', classes: ['-3', '1', '2', '10'] });
    const words = fitPreprocessing(t(str('y', ['b', 'a', 'C', 'a', '10', '2'])), { target: 'y' });
    assert.deepEqual(words.target, { name: 'y', kind: 'classes', classes: ['10', '2', 'C', 'a', 'b'] });
    // A numeric column used as classes is named by its values' text.
    const numbers = fitPreprocessing(t(num('y', [3, 1, 2, 1, 3, 2])), {
      target: 'y',
      task: 'classification',
    });
    assert.deepEqual(numbers.target, { name: 'y', kind: 'classes', classes: ['1', '2', '3'] });
  });

  test('a regression target is standardized', () => {
    const t = table([num('x', [1, 2, 3, 4]), num('price', [100, 200, 300, 400])]);
    const pre = fitPreprocessing(t, { target: 'price' });
    assert.deepEqual(pre.target, { name: 'price', kind: 'numeric', mean: 250, std: Math.sqrt(12500) });
    const raw = fitPreprocessing(t, { target: 'price', standardizeTarget: false });
    assert.deepEqual(raw.target, { name: 'price', kind: 'numeric', mean: 0, std: 1 });
  });

  test('errors name the table and the column', () => {
    assert.throws(() => fitPreprocessing(people(), { target: 'kind' }), {
      name: 'PreprocessError',
      message: "data.csv: no target column 'kind'; the columns are 'age', 'color', 'height', 'species'",
    });
    const one = table([num('x', [1, 2]), str('y', ['a', 'a'])]);
    assert.throws(() => fitPreprocessing(one, { target: 'y' }), {
      message: "data.csv: target 'y' has only one class ('a'); classification needs at least two",
    });
    const ids = table([
      str(
        'user',
        Array.from({ length: 1001 }, (_, i) => `u${i}`),
      ),
      num(
        'y',
        Array.from({ length: 1001 }, (_, i) => i % 2),
      ),
    ]);
    assert.throws(() => fitPreprocessing(ids, { target: 'y' }), {
      message:
        "data.csv: column 'user' has 1001 distinct values, more than 1000: it looks like an identifier or free text, " +
        'not a category; leave it out of the features',
    });
    const mostlyNumbers = table([
      str(
        'age',
        Array.from({ length: 1200 }, (_, i) => (i === 7 ? 'unknown' : String(i))),
      ),
      num(
        'y',
        Array.from({ length: 1200 }, (_, i) => i % 2),
      ),
    ]);
    assert.throws(() => fitPreprocessing(mostlyNumbers, { target: 'y' }), {
      message: /; or, if it should hold numbers, fix the text in it \(e\.g\. 'unknown' on line 9\)$/,
    });
    const priceText = table([
      num(
        'x',
        Array.from({ length: 1100 }, (_, i) => i),
      ),
      str(
        'price',
        Array.from({ length: 1100 }, (_, i) => (i === 5 ? 'n/k' : String(i))),
      ),
    ]);
    assert.throws(() => fitPreprocessing(priceText, { target: 'price' }), {
      message:
        "data.csv: target 'price' has 1100 distinct values, too many to be classes (at most 1000); " +
        "if it should hold numbers, fix the text in it (e.g. 'n/k' on line 7)",
    });
    assert.throws(() => fitPreprocessing(people(), { target: 'species', task: 'regression' }), {
      message: "data.csv: target 'species' holds text (e.g. 'b' on line 2); regression needs numbers",
    });
    assert.throws(() => fitPreprocessing(people(), { target: 'species', features: ['age', 'weight'] }), {
      message: "data.csv: no feature column 'weight'; the columns are 'age', 'color', 'height', 'species'",
    });
    assert.throws(() => fitPreprocessing(people(), { target: 'species', features: ['species'] }), {
      message: "data.csv: 'species' is the target; it cannot be a feature too",
    });
    // NaN in a table of numbers is a missing value; an infinity is no number at all.
    const nan = table([num('x', [1, NaN]), str('y', ['a', 'b'])]);
    assert.throws(() => fitPreprocessing(nan, { target: 'y' }), {
      message:
        "data.csv:3: column 'x' has a missing value ('NaN'); choose what to do with missing values: leave those rows out, or fill in the mean or the most frequent value",
      problem: 'missing',
    });
    const inf = table([num('x', [1, -Infinity]), str('y', ['a', 'b'])]);
    assert.throws(() => fitPreprocessing(inf, { target: 'y', missing: 'mean' }), {
      message: "data.csv:3: column 'x' has -Infinity, not a finite number",
    });
    assert.throws(() => fitPreprocessing(table([num('y', [1, 2])]), { target: 'y' }), {
      message: "data.csv: no feature columns besides the target 'y'",
    });
  });
});

describe('transformFeatures', () => {
  test('columns are matched by name: order, extra columns and a missing target do not matter', () => {
    const pre = fitPreprocessing(people(), { target: 'species' });
    const shuffled = table([
      str('notes', ['w', 'x', 'y', 'z']),
      num('height', [1.5, 1.5, 1.5, 1.5]),
      str('color', ['red', 'blue', 'red', 'green']),
      num('age', [20, 30, 40, 50]),
    ]);
    assert.deepEqual(transformFeatures(pre, shuffled).data, transformFeatures(pre, people()).data);
  });

  test('float64 on request', () => {
    const pre = fitPreprocessing(people(), { target: 'species' });
    const x = transformFeatures(pre, people(), 'float64');
    assert.equal(x.dtype, 'float64');
    assert.ok(x.data instanceof Float64Array);
  });

  test('a value unseen in training names the column, value and line', () => {
    const pre = fitPreprocessing(people(), { target: 'species' });
    const t = table([
      num('age', [20, 30, 40]),
      str('color', ['red', 'green', 'purple']),
      num('height', [1, 2, 3]),
    ]);
    assert.throws(
      () => transformFeatures(pre, t),
      (e: unknown) => {
        assert.ok(e instanceof PreprocessError);
        assert.equal(
          e.message,
          "data.csv:4: column 'color' has 'purple', a value not seen in training (known: red, blue, green)",
        );
        assert.equal(e.line, 4);
        assert.equal(e.column, 'color');
        return true;
      },
    );
    // Without line numbers (generated data), the row.
    const generated = makeTable('xor', t.columns as Column[]);
    assert.throws(() => transformFeatures(pre, generated), {
      message:
        "xor: row 3: column 'color' has 'purple', a value not seen in training (known: red, blue, green)",
    });
  });

  test('a missing column, and numbers that arrive as text', () => {
    const pre = fitPreprocessing(people(), { target: 'species' });
    assert.throws(() => transformFeatures(pre, table([num('age', [1]), num('height', [1])])), {
      message: "data.csv: no column 'color', which the model takes as input",
    });
    // A numeric column that arrives as text is read as numbers: a word names its line.
    const text = table([str('age', ['20', 'old']), str('color', ['red', 'red']), num('height', [1, 2])]);
    assert.throws(() => transformFeatures(pre, text), {
      message:
        "data.csv:3: column 'age' has 'old' where a number was expected (the column is numeric: 1 of its 2 values are numbers)",
      problem: 'not-a-number',
      line: 3,
    });
    const numbers = table([str('age', ['20', ' 30']), str('color', ['red', 'red']), num('height', [1, 2])]);
    assert.deepEqual(
      transformFeatures(pre, numbers, 'float64').data,
      transformFeatures(
        pre,
        table([num('age', [20, 30]), str('color', ['red', 'red']), num('height', [1, 2])]),
        'float64',
      ).data,
    );
  });

  test('a text column may arrive as numbers: matched by their text', () => {
    const train = table([str('zone', ['1', '2', 'x', '1']), num('y', [0, 1, 0, 1])]);
    const pre = fitPreprocessing(train, { target: 'y', task: 'classification' });
    const x = transformFeatures(pre, table([num('zone', [2, 1])]));
    assert.deepEqual(rows(x), [
      [0, 1, 0],
      [1, 0, 0],
    ]);
  });

  test('the spec survives JSON: identical transforms', () => {
    const pre = fitPreprocessing(people(), { target: 'species' });
    const copy = JSON.parse(JSON.stringify(pre)) as unknown;
    const checked = checkPreprocessing(copy);
    assert.deepEqual(checked, pre);
    assert.deepEqual(
      transformFeatures(checked, people(), 'float64').data,
      transformFeatures(pre, people(), 'float64').data,
    );
    assert.deepEqual(transformTarget(checked, people()), transformTarget(pre, people()));
    // Awkward floats survive too.
    const t = table([num('x', [0.1, 0.2, 0.7, 1e-300]), num('y', [1 / 3, 2 / 3, Math.PI, 1e10])]);
    const p2 = fitPreprocessing(t, { target: 'y' });
    const c2 = checkPreprocessing(JSON.parse(JSON.stringify(p2)));
    assert.deepEqual(c2, p2);
    assert.deepEqual(transformTarget(c2, t), transformTarget(p2, t));
  });

  test('a 60,000 × 784 table of bytes (MNIST size)', () => {
    const n = 60000;
    const d = 784;
    const columns: Column[] = [];
    for (let j = 0; j < d; j++) {
      const v = new Uint8Array(n);
      for (let r = 0; r < n; r++) v[r] = (r * 31 + j * 17) & 255;
      columns.push({ name: `pixel${j}`, values: v });
    }
    const labels = new Uint8Array(n);
    for (let r = 0; r < n; r++) labels[r] = r % 10;
    columns.push({ name: 'label', values: labels });
    const t = makeTable('mnist', columns);
    const pre = fitPreprocessing(t, { target: 'label', scaling: 'none' });
    assert.equal(pre.inputSize, d);
    const x = transformFeatures(pre, t);
    assert.deepEqual(x.shape, [n, d]);
    assert.equal(x.data[0], 0);
    assert.equal(x.data[12345 * d + 100], (12345 * 31 + 100 * 17) & 255);
    const { labels: y } = transformTarget(pre, t) as { labels: Int32Array };
    assert.equal(y[12345], 5);
  });
});

describe('transformTarget', () => {
  test('class names become indices in class order', () => {
    const pre = fitPreprocessing(people(), { target: 'species' });
    const r = transformTarget(pre, people());
    assert.equal(r.kind, 'classes');
    assert.ok('labels' in r);
    assert.deepEqual(Array.from(r.labels), [1, 0, 2, 0]);
  });

  test('an unknown class names its line', () => {
    const pre = fitPreprocessing(people(), { target: 'species' });
    const t = table([str('species', ['a', 'b', 'z'])]);
    assert.throws(() => transformTarget(pre, t), {
      name: 'PreprocessError',
      message: "data.csv:4: target 'species' has class 'z', which the model does not know (classes: a, b, c)",
      line: 4,
    });
    assert.throws(() => transformTarget(pre, table([num('age', [1])])), {
      message: "data.csv: no target column 'species'",
    });
  });

  test('regression: standardized [rows, 1]', () => {
    const t = table([num('x', [1, 2, 3, 4]), num('price', [100, 200, 300, 400])]);
    const pre = fitPreprocessing(t, { target: 'price' });
    const r = transformTarget(pre, t, 'float64');
    assert.ok('y' in r);
    assert.deepEqual(r.y.shape, [4, 1]);
    const s = Math.sqrt(12500);
    assertClose(r.y.data, [-150 / s, -50 / s, 50 / s, 150 / s], { abs: 1e-12, what: 'y' });
  });
});

describe('inverseTarget', () => {
  test('regression: back to the target units', () => {
    const t = table([num('x', [1, 2, 3, 4]), num('price', [100, 200, 300, 400])]);
    const pre = fitPreprocessing(t, { target: 'price' });
    const { y } = transformTarget(pre, t, 'float64') as { y: ReturnType<typeof tensor> };
    const back = inverseTarget(pre, y);
    assert.equal(back.kind, 'numeric');
    assert.ok('values' in back);
    assertClose(back.values, [100, 200, 300, 400], { abs: 1e-9, what: 'values' });
    // A flat [rows] output is accepted too.
    assert.ok('values' in inverseTarget(pre, tensor([0])));
    assert.equal((inverseTarget(pre, tensor([0])) as { values: Float64Array }).values[0], 250);
    assert.throws(() => inverseTarget(pre, tensor([[0, 1]])), /outputs should be \[rows, 1\], got \[1,2\]/);
  });

  test('classification: softmax of the logits, the most probable class and its name', () => {
    const pre = fitPreprocessing(people(), { target: 'species' });
    const logits = tensor([
      [0, 0, 0],
      [1000, 0, -1000], // large logits must not overflow
      [0, Math.log(3), 0],
    ]);
    const r = inverseTarget(pre, logits);
    assert.ok('classIndex' in r);
    assert.equal(r.kind, 'classes');
    assert.deepEqual(Array.from(r.classIndex), [0, 0, 1]);
    assert.deepEqual(r.className, ['a', 'a', 'b']);
    assertClose(r.probabilities[0], [1 / 3, 1 / 3, 1 / 3], { abs: 1e-12, what: 'probabilities[0]' });
    assertClose(r.probabilities[1], [1, 0, 0], { abs: 1e-12, what: 'probabilities[1]' });
    assertClose(r.probabilities[2], [0.2, 0.6, 0.2], { abs: 1e-6, what: 'probabilities[2]' });
  });

  test('two classes are two logits', () => {
    const t = table([num('x', [1, 2, 3, 4]), str('y', ['no', 'yes', 'no', 'yes'])]);
    const pre = fitPreprocessing(t, { target: 'y' });
    const r = inverseTarget(pre, tensor([[2, 0]]));
    assert.ok('className' in r);
    assert.deepEqual(r.className, ['no']);
    assertClose(r.probabilities[0], [1 / (1 + Math.exp(-2)), 1 / (1 + Math.exp(2))], {
      abs: 1e-6,
      what: 'probabilities[0]',
    });
    assert.throws(
      () => inverseTarget(pre, tensor([[0.3]])),
      /the target has 2 classes, so outputs should be \[rows, 2\] logits, got \[1,1\]/,
    );
  });
});

/** A spec as a model file might hold it: any field may be wrong. */
interface Damaged {
  features: Record<string, unknown>[];
  target: Record<string, unknown>;
  inputSize: unknown;
}

describe('checkPreprocessing', () => {
  test('names the bad field of a damaged spec', () => {
    const good = (): Preprocessing => fitPreprocessing(people(), { target: 'species' });
    const damaged = (f: (p: Damaged) => void) => {
      const p = JSON.parse(JSON.stringify(good())) as Damaged;
      f(p);
      return () => checkPreprocessing(p, 'model.json preprocessing');
    };
    assert.throws(
      damaged((p) => (p.features[0].std = 0)),
      {
        name: 'PreprocessError',
        message: 'model.json preprocessing.features[0].std: expected a positive number, got 0',
      },
    );
    assert.throws(
      damaged((p) => (p.features[1].kind = 'text')),
      {
        message: `model.json preprocessing.features[1].kind: expected 'numeric' or 'categorical', got "text"`,
      },
    );
    assert.throws(
      damaged((p) => (p.target.classes = ['a'])),
      {
        message: 'model.json preprocessing.target.classes: expected a list of at least 2 strings, got ["a"]',
      },
    );
    assert.throws(
      damaged((p) => (p.inputSize = 4)),
      { message: 'model.json preprocessing.inputSize: expected 5 (the width of the features), got 4' },
    );
    assert.throws(
      damaged((p) => (p.features[1].name = 'age')),
      {
        message:
          'model.json preprocessing.features: expected distinct names, none of them the target, got ["age","age","height"]',
      },
    );
    assert.throws(() => checkPreprocessing(null), { message: 'preprocessing: expected an object, got null' });
  });
});

test("scaling: 'minmax' maps each numeric column to [0, 1] (constant columns to 0)", () => {
  const t = makeTable('px', [
    { name: 'a', values: Float64Array.from([2, 4, 6]) },
    { name: 'b', values: Float64Array.from([5, 5, 5]) },
    { name: 'label', values: ['x', 'y', 'x'] },
  ]);
  const pre = fitPreprocessing(t, { target: 'label', scaling: 'minmax' });
  assert.deepEqual(Array.from(transformFeatures(pre, t, 'float64').data), [0, 0, 0.5, 0, 1, 0]);
});

describe('column kinds, identifiers and missing values', () => {
  // Line r + 2 of data.csv, as parseCsv would give it: 'NA' and '' held in textCells, NaN in values.
  const withGaps = () =>
    table([
      {
        name: 'x',
        values: Float64Array.from([2, NaN, 4, 100, NaN, 6]),
        textCells: new Map([
          [1, 'NA'],
          [4, ''],
        ]),
      },
      str('color', ['red', 'blue', '?', 'red', 'blue', 'blue']),
      str('y', ['a', 'b', 'a', '', 'b', 'b']),
    ]);

  test("'error' (the default) names the first missing value's line and column, and counts the rest", () => {
    assert.throws(() => fitPreprocessing(withGaps(), { target: 'y' }), {
      name: 'PreprocessError',
      message:
        "data.csv:3: column 'x' has a missing value ('NA'), and 1 other row has one; choose what to do with " +
        'missing values: leave those rows out, or fill in the mean or the most frequent value',
      line: 3,
      column: 'x',
      problem: 'missing',
    });
    assert.throws(() => fitPreprocessing(withGaps(), { target: 'y', features: ['color'] }), {
      message: /^data\.csv:4: column 'color' has a missing value \('\?'\);/,
    });
    assert.throws(() => fitPreprocessing(withGaps(), { target: 'y', features: [], drop: ['x', 'color'] }), {
      message: "data.csv: no feature columns besides the target 'y'",
    });
  });

  test("'drop': statistics from the complete rows; dropMissing leaves the others out", () => {
    const t = withGaps();
    const pre = fitPreprocessing(t, { target: 'y', missing: 'drop' });
    assert.equal(pre.missing, 'drop');
    // Complete: lines 2 and 7 (line 5 has no target).
    const kept = dropMissing(pre, t, { target: true });
    assert.equal(kept.dropped, 4);
    assert.deepEqual(
      Array.from({ length: kept.table.numRows }, (_, r) => kept.table.lineOf!(r)),
      [2, 7],
    );
    assert.deepEqual(pre.features[0], { name: 'x', kind: 'numeric', mean: 4, std: 2 });
    // Features only (predict): line 5 too.
    assert.equal(dropMissing(pre, t).table.numRows, 3);
    // A model that fills nothing names a missing value it meets.
    assert.throws(() => transformFeatures(pre, t), {
      message:
        "data.csv:3: column 'x' has a missing value ('NA'); the model was trained without filling in missing values",
    });
  });

  test("'mean' fills numbers with the mean, text with the most frequent value; 'mode' both with the most frequent", () => {
    const t = withGaps();
    const mean = fitPreprocessing(t, { target: 'y', missing: 'mean' });
    // The row without a target (line 5) is not used: x over 2, 4 and 6.
    const x = mean.features[0] as { mean: number; std: number; fill: number };
    assert.equal(x.mean, 4);
    assert.equal(x.fill, 4);
    assertClose([x.std], [Math.sqrt(8 / 3)], { rel: 1e-15, what: 'std' });
    assert.deepEqual(mean.features[1], {
      name: 'color',
      kind: 'categorical',
      categories: ['red', 'blue'],
      fill: 'blue',
    });
    assert.deepEqual(mean.target, { name: 'y', kind: 'classes', classes: ['a', 'b'] });
    const { table: used, dropped } = dropMissing(mean, t, { target: true });
    assert.equal(dropped, 1);
    // The filled cells: line 3's x is the mean (0 once standardized), line 4's color the most frequent.
    const got = rows(transformFeatures(mean, used, 'float64'));
    assert.deepEqual(got[1], [0, 0, 1]);
    assert.deepEqual(got[2].slice(1), [0, 1]);
    const modeTable = table([num('x', [3, 1, 1, 3, NaN, 2]), str('y', ['a', 'b', 'a', 'b', 'a', 'b'])]);
    const mode = fitPreprocessing(modeTable, { target: 'y', missing: 'mode' });
    assert.equal((mode.features[0] as { fill: number }).fill, 1, 'ties: the smallest');
    // Fills survive the model file.
    assert.deepEqual(checkPreprocessing(JSON.parse(JSON.stringify(mean))), mean);
    assert.deepEqual(checkPreprocessing(JSON.parse(JSON.stringify(mode))), mode);
    assert.throws(() => checkPreprocessing({ ...mean, missing: 'guess' }), {
      message: "preprocessing.missing: expected 'error', 'drop', 'mean', 'mode', got \"guess\"",
    });
    const badFill = JSON.parse(JSON.stringify(mean)) as { features: { fill?: string }[] };
    badFill.features[1].fill = 'green';
    assert.throws(() => checkPreprocessing(badFill), {
      message: 'preprocessing.features[1].fill: expected one of the categories, got "green"',
    });
  });

  test('a word in a numeric column names its line and column, whatever the policy', () => {
    const t = table([
      { name: 'x', values: Float64Array.from([1, 2, NaN, 4]), textCells: new Map([[2, 'abc']]) },
      num('y', [0, 1, 0, 1]),
    ]);
    for (const missing of ['error', 'drop', 'mean', 'mode'] as const)
      assert.throws(() => fitPreprocessing(t, { target: 'y', task: 'classification', missing }), {
        message:
          "data.csv:4: column 'x' has 'abc' where a number was expected (the column is numeric: 3 of its 4 values are numbers)",
        problem: 'not-a-number',
        line: 4,
        column: 'x',
      });
    // Read as categories on request: the word is one of them.
    const pre = fitPreprocessing(t, { target: 'y', task: 'classification', categorical: ['x'] });
    assert.deepEqual(pre.features, [{ name: 'x', kind: 'categorical', categories: ['1', '2', 'abc', '4'] }]);
    assert.deepEqual(rows(transformFeatures(pre, t))[2], [0, 0, 1, 0]);
  });

  test('numeric on request: a text column read as numbers', () => {
    const t = table([str('x', ['1', '2', 'three', '4']), num('y', [0, 1, 0, 1])]);
    assert.throws(() => fitPreprocessing(t, { target: 'y', numeric: ['x'] }), { line: 4 });
    const ok = table([str('x', ['1', '2', '3', ' 4 ']), num('y', [0, 1, 0, 1])]);
    const pre = fitPreprocessing(ok, { target: 'y', numeric: ['x'], scaling: 'none' });
    assert.deepEqual(pre.features, [{ name: 'x', kind: 'numeric', mean: 0, std: 1 }]);
    assert.deepEqual(Array.from(transformFeatures(pre, ok, 'float64').data), [1, 2, 3, 4]);
    assert.throws(() => fitPreprocessing(ok, { target: 'y', numeric: ['x'], categorical: ['x'] }), {
      message: "data.csv: 'x' cannot be both categorical and numeric",
    });
    assert.throws(() => fitPreprocessing(ok, { target: 'y', numeric: ['z'] }), {
      message: "data.csv: no column 'z' to read as numeric; the columns are 'x', 'y'",
    });
  });

  test('identifiers: a column named id is left out; a text column of all-different values is refused', () => {
    const n = 30;
    const t = table([
      num(
        'ID',
        Array.from({ length: n }, (_, i) => i + 1),
      ),
      str(
        'name',
        Array.from({ length: n }, (_, i) => `person ${i}`),
      ),
      num(
        'x',
        Array.from({ length: n }, (_, i) => i % 3),
      ),
      num(
        'y',
        Array.from({ length: n }, (_, i) => i % 2),
      ),
    ]);
    assert.deepEqual(chooseFeatures(t, { target: 'y' }), {
      features: ['name', 'x'],
      left: [{ name: 'ID', why: 'an id names rows' }],
    });
    assert.throws(() => fitPreprocessing(t, { target: 'y' }), {
      message:
        "data.csv: column 'name' has a different value in each of its 30 rows (such as 'person 0'): it looks like an identifier, not a category; leave it out of the features",
      problem: 'identifier',
      column: 'name',
    });
    const pre = fitPreprocessing(t, { target: 'y', drop: ['name'] });
    assert.deepEqual(
      pre.features.map((f) => f.name),
      ['x'],
    );
    assert.deepEqual(chooseFeatures(t, { target: 'y', drop: ['name'] }).left, [
      { name: 'ID', why: 'an id names rows' },
      { name: 'name', why: 'dropped' },
    ]);
    // Named as a feature, an id is one.
    assert.deepEqual(
      fitPreprocessing(t, { target: 'y', features: ['ID', 'x'] }).features.map((f) => f.name),
      ['ID', 'x'],
    );
    assert.throws(() => fitPreprocessing(t, { target: 'y', drop: ['nme'] }), {
      message: "data.csv: no dropped column 'nme'; the columns are 'ID', 'name', 'x', 'y'",
    });
    assert.throws(() => fitPreprocessing(t, { target: 'y', features: ['x'], drop: ['x'] }), {
      message: "data.csv: 'x' is both a feature and dropped",
    });
    // Fewer than 20 rows: all-different values can still be categories.
    const small = table([str('c', ['a', 'b', 'c', 'd']), num('y', [0, 1, 0, 1])]);
    assert.equal(fitPreprocessing(small, { target: 'y' }).inputSize, 4);
  });
});
