// Preprocessing: the encoding learnt from a table (standardization, one-hot layout, class order), applied by
// column name, saved as JSON, and read back from model outputs; errors name the column and line.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { tensor } from '../src/index.js';
import { makeTable, type Column, type Table } from '../src/data/table.js';
import {
  checkPreprocessing,
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
    const prices = Array.from({ length: 50 }, (_, i) => (i === 3 || i === 9 ? 'NA' : String(100 + i)));
    assert.equal(
      inferTask(str('price', prices)).reason,
      "target 'price' has 49 classes (100, 101, 102, 104, 105, 106, 107, 108, 110, 111, …); " +
        "but only 2 values are not a number (such as 'NA'): if it should be numeric, fix or remove those rows",
    );
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
        'id',
        Array.from({ length: 1001 }, (_, i) => `u${i}`),
      ),
      num(
        'y',
        Array.from({ length: 1001 }, (_, i) => i % 2),
      ),
    ]);
    assert.throws(() => fitPreprocessing(ids, { target: 'y' }), {
      message:
        "data.csv: column 'id' has 1001 distinct values, more than 1000: it looks like an identifier or free text, " +
        'not a category; leave it out of the features',
    });
    const mostlyNumbers = table([
      str(
        'age',
        Array.from({ length: 1200 }, (_, i) => (i === 7 ? '?' : String(i))),
      ),
      num(
        'y',
        Array.from({ length: 1200 }, (_, i) => i % 2),
      ),
    ]);
    assert.throws(() => fitPreprocessing(mostlyNumbers, { target: 'y' }), {
      message: /; or, if it should hold numbers, fix the text in it \(e\.g\. '\?' on line 9\)$/,
    });
    const priceText = table([
      num(
        'x',
        Array.from({ length: 1100 }, (_, i) => i),
      ),
      str(
        'price',
        Array.from({ length: 1100 }, (_, i) => (i === 5 ? 'NA' : String(i))),
      ),
    ]);
    assert.throws(() => fitPreprocessing(priceText, { target: 'price' }), {
      message:
        "data.csv: target 'price' has 1100 distinct values, too many to be classes (at most 1000); " +
        "if it should hold numbers, fix the text in it (e.g. 'NA' on line 7)",
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
    const nan = table([num('x', [1, NaN]), str('y', ['a', 'b'])]);
    assert.throws(() => fitPreprocessing(nan, { target: 'y' }), {
      message: "data.csv:3: column 'x' has NaN, not a finite number",
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
    const text = table([str('age', ['20', 'old']), str('color', ['red', 'red']), num('height', [1, 2])]);
    assert.throws(() => transformFeatures(pre, text), {
      message:
        "data.csv: column 'age' holds text (e.g. 'old' on line 3), but the model was trained on numbers in it",
    });
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
