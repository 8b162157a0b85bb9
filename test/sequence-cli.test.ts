// The command line's sequence tasks end to end: a language model trained a few steps on a tiny text file,
// generate (reproducible by seed, top-k 1 = temperature 0), a forecast on a small synthetic CSV with
// predict, the built-in corpora, and every bad input (exit 2, the file or character named).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, spawnCli } from './helpers/cli.js';

let dir = '';
const cli = (args: string[]) => runCli(args, dir);

const TEXT = 'the cat sat on the mat. the dog sat on the log. '.repeat(20);

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'chainrule-seq-'));
  writeFileSync(join(dir, 'tiny.txt'), TEXT);
  writeFileSync(join(dir, 'empty.txt'), '');
  writeFileSync(join(dir, 'binary.dat'), Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 1]));
  writeFileSync(join(dir, 'latin1.txt'), Uint8Array.from([0x63, 0x61, 0x66, 0xe9, 0x0a]));
  const rows = ['t,load'];
  for (let i = 0; i < 120; i++) rows.push(`${i},${(20 + 10 * Math.sin(i / 4)).toFixed(4)}`);
  writeFileSync(join(dir, 'series.csv'), rows.join('\n') + '\n');
  writeFileSync(join(dir, 'words.csv'), 't,load\n1,2\n2,high\n3,4\n');
});
after(() => rmSync(dir, { recursive: true, force: true }));

const LM = ['--task', 'language-model', '--context', '8', '--hidden', '16', '--embed', '8', '--steps', '3'];

describe('train --task language-model and generate', () => {
  test('trains a few steps, reports tokens/s and validation loss, and saves the vocabulary', async () => {
    const r = await cli(['train', '--data', 'tiny.txt', ...LM, '--epochs', '2', '--out', 'lm.json']);
    assert.equal(r.code, 0, r.err);
    const chars = [...new Set(TEXT)].sort();
    assert.match(r.err, new RegExp(`vocabulary ${chars.length};`));
    assert.match(r.err, /epoch 2\/2 {2}loss \S+ {2}val_loss \S+ {2}[\d,]+ tokens\/s/);
    const file = JSON.parse(readFileSync(join(dir, 'lm.json'), 'utf8')) as {
      preprocessing: { kind: string; vocab: { chars: string[] }; context: number };
      architecture: { layers: { type: string }[] };
    };
    assert.equal(file.preprocessing.kind, 'text');
    assert.deepEqual(file.preprocessing.vocab.chars, chars);
    assert.equal(file.preprocessing.context, 8);
    assert.deepEqual(
      file.architecture.layers.map((l) => l.type),
      ['embedding', 'lstm', 'linear'],
    );
  });

  test('generate is reproducible with a seed, greedy at top-k 1 and temperature 0, and streams the prompt first', async () => {
    const gen = (...extra: string[]) =>
      cli(['generate', '--model', 'lm.json', '--prompt', 'the ', '--length', '40', ...extra]);
    const a = await gen('--seed', '1', '--temperature', '0.8', '--top-k', '5');
    assert.equal(a.code, 0, a.err);
    assert.ok(a.out.startsWith('the '));
    assert.equal([...a.out.trimEnd()].length, 44);
    assert.equal((await gen('--seed', '1', '--temperature', '0.8', '--top-k', '5')).out, a.out);
    assert.notEqual(
      (await gen('--seed', '2', '--temperature', '3')).out,
      (await gen('--seed', '3', '--temperature', '3')).out,
    );
    const greedy = (await gen('--temperature', '0', '--seed', '4')).out;
    assert.equal((await gen('--top-k', '1', '--seed', '9')).out, greedy);
    // top-k larger than the vocabulary is all of it.
    assert.equal((await gen('--top-k', '1000', '--seed', '1')).code, 0);
  });

  test('a prompt with characters outside the vocabulary names them (exit 2)', async () => {
    const r = await spawnCli(['generate', '--model', 'lm.json', '--prompt', 'The Zèta'], dir);
    assert.equal(r.code, 2);
    assert.match(
      r.err,
      /--prompt: 3 characters not in the model's vocabulary: 'T' \(U\+0054\), 'Z' \(U\+005A\), 'è' \(U\+00E8\)/,
    );
    assert.doesNotMatch(r.err, /\n\s+at /);
  });

  test('generate refuses a model that is not a language model, and predict a language model', async () => {
    const f = await cli([
      'train',
      '--data',
      'series.csv',
      '--task',
      'forecast',
      '--window',
      '4',
      '--epochs',
      '1',
      '--hidden',
      '4',
      '--out',
      'f0.json',
    ]);
    assert.equal(f.code, 0, f.err);
    const g = await cli(['generate', '--model', 'f0.json']);
    assert.equal(g.code, 2);
    assert.match(g.err, /f0\.json: not a language model/);
    const i = await cli(['info', 'lm.json']);
    assert.match(i.out, /characters: a vocabulary of \d+ .*context 8/);
    assert.match((await cli(['info', 'f0.json'])).out, /series 'load': windows of 4 → the next value/);
    const p = await cli(['predict', '--model', 'lm.json', '--data', 'tiny.txt']);
    assert.equal(p.code, 2);
    assert.match(p.err, /lm\.json: a language model; use 'chainrule generate/);
  });

  test('resume continues a checkpoint to the same weights as one uninterrupted run', async () => {
    const args = ['train', '--data', 'tiny.txt', ...LM, '--seed', '3'];
    assert.equal((await cli([...args, '--epochs', '2', '--out', 'full.json'])).code, 0);
    assert.equal(
      (await cli([...args, '--epochs', '1', '--checkpoint-every', '1', '--out', 'part.json'])).code,
      0,
    );
    const r = await cli(['train', '--resume', 'part.ckpt.json', '--epochs', '2', '--out', 'resumed.json']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /resuming after epoch 1/);
    const w = (p: string) =>
      JSON.stringify((JSON.parse(readFileSync(join(dir, p), 'utf8')) as { weights: unknown }).weights);
    assert.equal(w('resumed.json'), w('full.json'));
  });
});

describe('train --task language-model: bad input', () => {
  const bad: [string, string[], RegExp][] = [
    ['an empty file', ['--data', 'empty.txt'], /empty\.txt: the file is empty/],
    ['a binary file', ['--data', 'binary.dat'], /binary\.dat: a NUL byte at offset 4/],
    ['invalid UTF-8', ['--data', 'latin1.txt'], /latin1\.txt: invalid UTF-8 at byte 3/],
    [
      'a context longer than the text',
      ['--data', 'tiny.txt', '--context', '5000'],
      /tiny\.txt: 960 characters \(864 for training with --val 0\.1\) are too few for a context of 5000/,
    ],
    ['a missing file', ['--data', 'nope.txt'], /cannot read 'nope\.txt'/],
    ['a table flag', ['--data', 'tiny.txt', '--layers', '4'], /--layers applies to table data/],
    ['an --arch line', ['--data', 'tiny.txt', '--arch', 'linear 4'], /--arch applies to table data/],
  ];
  for (const [what, args, message] of bad)
    test(what, async () => {
      const r = await cli(['train', '--task', 'language-model', ...args]);
      assert.equal(r.code, 2, r.err);
      assert.match(r.err, message);
      assert.ok(!existsSync(join(dir, 'model.json')));
    });
});

describe('train --task forecast and predict', () => {
  test('an LSTM forecaster on a CSV column, then one-step predictions and steps past the end', async () => {
    const r = await cli([
      'train',
      '--data',
      'series.csv',
      '--target',
      'load',
      '--task',
      'forecast',
      '--window',
      '8',
      '--hidden',
      '8',
      '--epochs',
      '3',
      '--out',
      'f.json',
    ]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /column 'load', 120 values standardized/);
    assert.match(r.err, /epoch 3\/3 {2}loss \S+ {2}mae \S+ {2}val_loss/);
    const p = await cli(['predict', '--model', 'f.json', '--data', 'series.csv', '--steps', '3']);
    assert.equal(p.code, 0, p.err);
    const lines = p.out.trim().split('\n');
    assert.equal(lines[0], 'row,load,predicted_load');
    assert.equal(lines.length, 1 + (120 - 8) + 3);
    assert.match(lines[1], /^9,\d/);
    assert.match(lines.at(-1) as string, /^123,,-?\d/);
  });

  test('bad series input names the file, line or column', async () => {
    const a = await cli(['train', '--data', 'series.csv', '--target', 'lode', '--task', 'forecast']);
    assert.equal(a.code, 2);
    assert.match(a.err, /--target 'lode' is not a column of series\.csv; columns: t, load/);
    const b = await cli([
      'train',
      '--data',
      'words.csv',
      '--target',
      'load',
      '--task',
      'forecast',
      '--window',
      '1',
    ]);
    assert.equal(b.code, 2);
    assert.match(b.err, /words\.csv(:\d+)?: column 'load' must hold numbers/);
    const c = await cli(['train', '--data', 'series.csv', '--task', 'forecast', '--window', '500']);
    assert.equal(c.code, 2);
    assert.match(c.err, /120 values in 'load' are too few for --window 500/);
  });
});

describe('built-in corpora', () => {
  test('names: makemore-style, lower-case, one per line', async () => {
    const r = await cli(['train', '--data', 'names', ...LM, '--epochs', '1', '--out', 'names.json']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /built-in 'names'/);
    const chars = (
      JSON.parse(readFileSync(join(dir, 'names.json'), 'utf8')) as {
        preprocessing: { vocab: { chars: string[] } };
      }
    ).preprocessing.vocab.chars;
    assert.ok(chars.includes('\n') && chars.includes('a') && !chars.includes('A'));
  });
});
