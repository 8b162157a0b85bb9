// Data as users have it, through the real command line: a stray NA or word in a numeric column, an id
// column, codes that look like numbers, another delimiter, missing values under each policy; and the
// defaults that keep small data from overfitting (early stopping with the best epoch kept).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, spawnCli } from './helpers/cli.js';

let dir = '';
const cli = (args: string[]) => runCli(args, dir);
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'chainrule-data-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/**
 * 60 people: an id, a name (different in every row), age and income (numbers), a zip code written with
 * leading zeros, a color; the class follows age and color. `edit(rows)` may damage cells.
 */
function people(file: string, edit: (rows: string[][]) => void = () => {}, sep = ','): string {
  const colors = ['red', 'green', 'blue'];
  const rows: string[][] = [];
  for (let i = 0; i < 60; i++) {
    const age = 20 + ((i * 7) % 45);
    const color = colors[i % 3];
    rows.push([
      String(i + 1),
      `person ${i}`,
      String(age),
      String(1000 + ((i * 37) % 200)),
      `00${i % 4}`,
      color,
      age > 40 || color === 'red' ? 'yes' : 'no',
    ]);
  }
  edit(rows);
  const header = ['id', 'name', 'age', 'income', 'zip', 'color', 'buys'];
  writeFileSync(join(dir, file), [header, ...rows].map((r) => r.join(sep)).join('\n') + '\n');
  return file;
}

const quick = ['--epochs', '3', '--layers', '8', '--quiet'];

describe('columns: the rule, shown and overridden', () => {
  test('a text column with a different value in every row is refused, naming --drop; an id column is not used', async () => {
    const data = people('people.csv');
    const r = await cli(['train', '--data', data, '--out', 'p.json', ...quick]);
    assert.equal(r.code, 2);
    assert.match(
      r.err,
      /chainrule: people\.csv: column 'name' has a different value in each of its 60 rows \(such as 'person 0'\): it looks like an identifier, not a category/,
    );
    assert.match(r.err, /\n {2}leave it out: --drop name\n/);
    const ok = await cli(['train', '--data', data, '--drop', 'name', '--epochs', '3', '--layers', '8']);
    assert.equal(ok.code, 0, ok.err);
    // The summary says which columns are what, and why id is not among them.
    assert.match(ok.err, /columns: 3 numeric \(age, income, zip\), 1 categorical \(color: 3 categories\)/);
    assert.match(
      ok.err,
      /\[numeric where numbers outnumber words; --categorical\/--numeric\/--drop choose\]/,
    );
    assert.match(ok.err, /not used: id \(an id names rows\), name \(dropped\)/);
    // --features chooses exactly; an id named there is used.
    const f = await cli(['train', '--data', data, '--features', 'id,age', '--epochs', '2', '--layers', '8']);
    assert.equal(f.code, 0, f.err);
    assert.match(f.err, /columns: 2 numeric \(id, age\)/);
  });

  test('a stray NA in a numeric column: exit 2 naming file:line and column; --missing mean fills it, and predict does the same', async () => {
    const data = people('na.csv', (rows) => (rows[9][2] = 'NA'));
    const r = await spawnCli(['train', '--data', data, '--drop', 'name', ...quick], dir);
    assert.equal(r.code, 2);
    assert.equal(
      r.err,
      "chainrule: na.csv:11: column 'age' has a missing value ('NA'); choose what to do with missing values: " +
        'leave those rows out, or fill in the mean or the most frequent value\n' +
        '  --missing drop leaves such rows out; --missing mean or --missing mode fills the values in\n',
    );
    const ok = await cli([
      'train',
      '--data',
      data,
      '--drop',
      'name',
      '--missing',
      'mean',
      '--out',
      'na.json',
      '--epochs',
      '3',
    ]);
    assert.equal(ok.code, 0, ok.err);
    assert.match(ok.err, /missing values filled \(mean\): age → 41\.31/);
    const info = await cli(['info', 'na.json']);
    assert.match(info.out, /age: numeric, standardized: .*; missing → 41\.31/);
    assert.match(info.out, /missing values: filled with the mean/);
    // predict reads an NA the way training did: the row gets a prediction.
    writeFileSync(
      join(dir, 'new.csv'),
      'id,name,age,income,zip,color\n7,x,NA,1100,001,red\n8,y,30,1100,001,red\n',
    );
    const p = await cli(['predict', '--model', 'na.json', '--data', 'new.csv']);
    assert.equal(p.code, 0, p.err);
    assert.match(p.out, /^id,predicted_buys,p_no,p_yes\n7,(yes|no),/);
  });

  test('a word in a numeric column names file:line and column; --categorical reads the column as categories', async () => {
    const data = people('word.csv', (rows) => (rows[4][3] = 'twelve'));
    const r = await cli(['train', '--data', data, '--drop', 'name', ...quick]);
    assert.equal(r.code, 2);
    assert.match(
      r.err,
      /^chainrule: word\.csv:6: column 'income' has 'twelve' where a number was expected \(the column is numeric: 59 of its 60 values are numbers\)\n {2}fix that value, or read the column as categories: --categorical income\n$/,
    );
    const asText = await cli([
      'train',
      '--data',
      data,
      '--drop',
      'name,income',
      '--categorical',
      'age',
      '--epochs',
      '2',
    ]);
    assert.equal(asText.code, 0, asText.err);
    assert.match(asText.err, /categorical \(age by flag: 45 categories/);
  });

  test('--categorical keeps the spelling of codes, in training and in predict', async () => {
    const data = people('zip.csv', (rows) => rows.forEach((r, i) => (r[4] = String(i % 4).padStart(3, '0'))));
    const r = await cli([
      'train',
      '--data',
      data,
      '--drop',
      'name',
      '--categorical',
      'zip',
      '--out',
      'zip.json',
      '--epochs',
      '2',
    ]);
    assert.equal(r.code, 0, r.err);
    const doc = JSON.parse(readFileSync(join(dir, 'zip.json'), 'utf8')) as {
      preprocessing: { features: { name: string; categories?: string[] }[] };
    };
    assert.deepEqual(doc.preprocessing.features.find((f) => f.name === 'zip')?.categories, [
      '000',
      '001',
      '002',
      '003',
    ]);
    writeFileSync(join(dir, 'zip-new.csv'), 'age,income,zip,color\n30,1100,002,red\n');
    const p = await cli(['predict', '--model', 'zip.json', '--data', 'zip-new.csv']);
    assert.equal(p.code, 0, p.err);
    // --numeric on a text column makes its words errors.
    const n = await cli(['train', '--data', data, '--drop', 'name', '--numeric', 'color', ...quick]);
    assert.equal(n.code, 2);
    assert.match(
      n.err,
      /zip\.csv:2: column 'color' has 'red' where a number was expected \(the column is numeric: 0 of its 60 values/,
    );
  });

  test('--delimiter: a semicolon file is refused with the flag that reads it, then read', async () => {
    const data = people('semi.csv', () => {}, ';');
    const r = await cli(['train', '--data', data, ...quick]);
    assert.equal(r.code, 2);
    assert.match(
      r.err,
      /semi\.csv:1: the header is a single column 'id;name;.*'; fields must be separated by commas, and this file looks separated by ';'\n {2}read it with --delimiter ';'\n/,
    );
    const ok = await cli(['train', '--data', data, '--delimiter', ';', '--drop', 'name', ...quick]);
    assert.equal(ok.code, 0, ok.err);
    const bad = await cli(['train', '--data', data, '--delimiter', ';;', ...quick]);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /--delimiter: expected one character other than '"' \(or 'tab'\), got ';;'/);
  });

  test('--missing drop leaves rows out of training and eval, and predict refuses them', async () => {
    const data = people('gaps.csv', (rows) => {
      rows[3][5] = '';
      rows[8][2] = '?';
      rows[20][6] = 'NA';
    });
    const r = await cli([
      'train',
      '--data',
      data,
      '--drop',
      'name',
      '--missing',
      'drop',
      '--out',
      'gaps.json',
      '--epochs',
      '2',
      '--layers',
      '8',
    ]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /; 3 rows with missing values left out/);
    assert.match(r.err, /46 for training, 11 for validation/);
    const e = await cli(['eval', '--model', 'gaps.json', '--data', data, '--json']);
    assert.equal(e.code, 0, e.err);
    assert.match(e.err, /eval: left out 3 rows with missing values/);
    assert.equal((JSON.parse(e.out) as { rows: number }).rows, 57);
    const p = await cli(['predict', '--model', 'gaps.json', '--data', data]);
    assert.equal(p.code, 2);
    assert.match(
      p.err,
      /gaps\.csv:10: column 'age' has a missing value \('\?'\); the model was trained without filling in missing values/,
    );
  });
});

describe('defaults for small data', () => {
  test('early stopping is on with a validation split and keeps the best epoch; --patience 0 turns it off', async () => {
    const data = people('es.csv');
    const r = await cli(['train', '--data', data, '--drop', 'name', '--epochs', '200', '--out', 'es.json']);
    assert.equal(r.code, 0, r.err);
    const m =
      /stopped at epoch (\d+) in [\d.]+m?s: no validation improvement for 10 epochs; kept epoch (\d+)\n/.exec(
        r.err,
      );
    assert.ok(m, r.err);
    assert.equal(Number(m[1]) - Number(m[2]), 10);
    const doc = JSON.parse(readFileSync(join(dir, 'es.json'), 'utf8')) as {
      training: { settings: { patience: number }; history: { epoch: number; valLoss: number }[] };
    };
    assert.equal(doc.training.settings.patience, 10);
    const losses = doc.training.history.map((h) => h.valLoss);
    assert.equal(Math.min(...losses), losses[Number(m[2]) - 1]);
    const off = await cli([
      'train',
      '--data',
      data,
      '--drop',
      'name',
      '--epochs',
      '30',
      '--patience',
      '0',
      '--quiet',
    ]);
    assert.equal(off.code, 0, off.err);
    const help = await cli(['train', '--help']);
    assert.match(
      help.out,
      /--patience <integer> +Early stopping: .*\(0 = off: train every epoch, keep the last\) \(default: 10 when there is a validation split\)/,
    );
  });

  test('a run resumed from a checkpoint stops and keeps the same epoch as the run straight through', async () => {
    // Labels flipped in every fifth row: noise the network overfits, so validation loss turns up.
    const data = people('res.csv', (rows) =>
      rows.forEach((r, i) => {
        if (i % 5 === 0) r[6] = r[6] === 'yes' ? 'no' : 'yes';
      }),
    );
    const common = ['--data', data, '--drop', 'name', '--patience', '3', '--seed', '5', '--quiet'];
    const a = await cli(['train', ...common, '--epochs', '60', '--out', 'straight.json']);
    assert.equal(a.code, 0, a.err);
    const b = await cli([
      'train',
      ...common,
      '--epochs',
      '4',
      '--checkpoint-every',
      '4',
      '--out',
      'split.json',
    ]);
    assert.equal(b.code, 0, b.err);
    const c = await cli(['train', '--resume', 'split.ckpt.json', '--epochs', '60', '--quiet']);
    assert.equal(c.code, 0, c.err);
    const read = (f: string) =>
      JSON.parse(readFileSync(join(dir, f), 'utf8')) as { weights: unknown; training: { epochs: number } };
    const epochs = read('straight.json').training.epochs;
    assert.ok(epochs > 4 && epochs < 60, `stopped early after the checkpoint: ${epochs}`);
    assert.equal(read('split.json').training.epochs, epochs);
    assert.deepEqual(read('split.json').weights, read('straight.json').weights);
  });
});
