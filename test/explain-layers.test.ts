// chainrule explain on model files beyond MLPs, as real child processes: a CNN from `train --arch` on the
// digits, an LSTM language model and a GRU forecaster, each explained layer by layer (bounded to --limit
// terms, every term with --all), in text, Markdown and JSON, and the mistakes answered with exit 2.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, spawnCli } from './helpers/cli.js';
import type { ModelTrace } from '../src/index.js';

let dir = '';
const TEXT = 'the cat sat on the mat. the dog sat on the log. '.repeat(10);

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'chainrule-explain-layers-'));
  writeFileSync(join(dir, 'tiny.txt'), TEXT);
  const rows = ['t,load'];
  for (let i = 0; i < 60; i++) rows.push(`${i},${(20 + 10 * Math.sin(i / 4)).toFixed(4)}`);
  writeFileSync(join(dir, 'series.csv'), rows.join('\n') + '\n');
  // Training runs in this process (fast); explain runs as a child process below.
  const train = async (args: string[]) => {
    const r = await runCli(['train', ...args, '--quiet'], dir);
    assert.equal(r.code, 0, r.err);
  };
  await train([
    '--data',
    'digits',
    '--arch',
    'conv 4 3 relu, batchnorm, maxpool 2, flatten, linear',
    '--epochs',
    '1',
    '--batch-size',
    '64',
    '--scale',
    'unit',
    '--out',
    'cnn.json',
  ]);
  await train([
    '--data',
    'tiny.txt',
    '--task',
    'language-model',
    '--context',
    '6',
    '--hidden',
    '8',
    '--embed',
    '4',
    '--steps',
    '2',
    '--epochs',
    '1',
    '--out',
    'lm.json',
  ]);
  await train(
    '--data tiny.txt --task language-model --model gpt --width 8 --heads 2 --blocks 1 --context 6 --steps 2 --epochs 1 --out gpt.json'.split(
      ' ',
    ),
  );
  await train([
    '--data',
    'series.csv',
    '--task',
    'forecast',
    '--model',
    'gru',
    '--window',
    '5',
    '--hidden',
    '4',
    '--epochs',
    '1',
    '--out',
    'fc.json',
  ]);
});
after(() => rmSync(dir, { recursive: true, force: true }));

const explain = (...args: string[]) => spawnCli(['explain', ...args], dir);

describe('chainrule explain, layer by layer (child processes)', () => {
  test('a CNN from train --arch: every layer, conv weights as Σ input × δ, routing, three BatchNorm paths', async () => {
    const r = await explain('--model', 'cnn.json', '--data', 'digits', '--row', '3', '--limit', '3');
    assert.equal(r.code, 0, r.err);
    for (const layer of [
      'Conv2d(1 → 4',
      'BatchNorm2d(4, training mode',
      'MaxPool2d(',
      'Linear(',
      'Unflatten',
    ])
      assert.ok(r.out.includes(layer), `no ${layer} in the output`);
    assert.match(r.out, /d_loss\/d_weight\[\d\]\[0\]\[\d\]\[\d\]\s+= Σ_\{n,oy,ox\} x\[n\]\[0\]/);
    assert.match(r.out, /δ\[0\]\[\d\]\[\d\]\[\d\] → x\[0\]\[\d\]\[\d\]\[\d\]/);
    assert.match(r.out, /direct: δ·γ/);
    assert.match(r.out, /via mean/);
    assert.match(r.out, /via variance/);
    assert.match(r.out, /… and \d+ more terms \(--all shows every one\)/);
    assert.match(r.out, /All agree: every chain-rule gradient equals autograd within 1e-12/);
    assert.equal(r.err, '');
    for (const line of r.out.split('\n')) assert.ok(line.length <= 100, `too wide: ${line}`);
    // --all shows every term: longer, and no "more terms" line.
    const all = await explain('--model', 'cnn.json', '--data', 'digits', '--row', '3', '--all');
    assert.equal(all.code, 0, all.err);
    assert.ok(all.out.length > r.out.length);
    assert.doesNotMatch(all.out, /more terms/);
    for (const line of all.out.split('\n')) assert.ok(line.length <= 100, `too wide: ${line}`);
  });

  test('an LSTM language model: the window, gates per step, d_loss/d_h_t and d_loss/d_c_t', async () => {
    const r = await explain('--model', 'lm.json', '--data', 'tiny.txt', '--row', '5', '--format', 'markdown');
    assert.equal(r.code, 0, r.err);
    assert.ok(r.out.startsWith('# One training step, layer by layer'));
    assert.match(r.out, /## \d+\. Layer 1: LSTM\(4 → 8\)/);
    assert.ok(r.out.includes(JSON.stringify(TEXT.slice(4, 10))), 'the window is shown');
    for (const q of ['gates [6, 32]', 'd_loss/d_h_t [6, 8]', 'd_loss/d_c_t [6, 8]', 'Embedding('])
      assert.ok(r.out.includes(q), q);
    assert.match(r.out, /d_loss\/d_weight\[\d+\]\[\d\]\s+= Σ over the \d+ position\(s\) holding token/);
    assert.match(r.out, /\| tensor \| chain rule vs autograd \|/);
    assert.match(r.out, /All agree/);
  });

  test('a GPT language model: its embeddings, attention per head, MLP and head, all agreeing', async () => {
    const r = await explain('--model', 'gpt.json', '--data', 'tiny.txt', '--row', '2', '--format', 'json');
    assert.equal(r.code, 0, r.err);
    const t = JSON.parse(r.out) as ModelTrace;
    const types = t.layers.map((l) => l.type);
    for (const type of ['Embedding', 'LayerNorm', 'MultiheadAttention', 'GELU', 'Linear'])
      assert.ok(types.includes(type), `${type} in ${types.join(', ')}`);
    assert.deepEqual(t.summary.disagreements, []);
    assert.deepEqual(t.summary.traceDisagreements, []);
    const text = await explain('--model', 'gpt.json', '--data', 'tiny.txt', '--row', '2');
    assert.equal(text.code, 0, text.err);
    assert.match(text.out, /The\s+GPT\s+is\s+layer\s+0\s+of\s+its\s+Sequential/);
    assert.match(text.out, /All agree/);
  });

  test('a GRU forecaster, as JSON: the trace record', async () => {
    const r = await explain('--model', 'fc.json', '--data', 'series.csv', '--row', '2', '--format', 'json');
    assert.equal(r.code, 0, r.err);
    const t = JSON.parse(r.out) as ModelTrace;
    assert.deepEqual(
      t.layers.map((l) => l.type),
      ['GRU', 'LastStep', 'Linear'],
    );
    assert.deepEqual(t.summary.disagreements, []);
    assert.deepEqual(t.summary.traceDisagreements, []);
    assert.ok(t.summary.checked > 0);
  });

  test('chainrule graph draws them too: parameters by state key, each layer output by index and class', async () => {
    let r = await spawnCli(
      ['graph', '--model', 'cnn.json', '--data', 'digits', '--row', '3', '--out', 'cnn.dot'],
      dir,
    );
    assert.equal(r.code, 0, r.err);
    const dot = readFileSync(join(dir, 'cnn.dot'), 'utf8');
    for (const name of ['1: Conv2d', '1.weight', '3: BatchNorm2d', '4: MaxPool2d', 'loss'])
      assert.ok(dot.includes(name), `no ${name} in the DOT`);
    assert.doesNotMatch(dot, /running_mean/, 'buffers are not parameters of the step');
    r = await spawnCli(['graph', '--model', 'lm.json', '--data', 'tiny.txt'], dir);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^digraph step \{/);
    for (const name of ['1.weight_ih_l0', '1.weight_hh_l0', '0.weight', '2: Linear'])
      assert.ok(r.out.includes(name), name);
  });

  test('mistakes: exit 2, the flag named, no stack trace', async () => {
    for (const [args, message] of [
      [['--model', 'cnn.json', '--data', 'digits', '--steps', '2'], /--steps is for an MLP/],
      [
        ['--model', 'lm.json', '--data', 'tiny.txt', '--row', '100000'],
        /--row 100000: tiny\.txt has \d+ windows/,
      ],
      [
        ['--model', 'lm.json', '--data', 'tiny.txt', '--loss', 'mse'],
        /a language model; its loss is cross-entropy/,
      ],
      [
        ['--model', 'fc.json', '--data', 'series.csv', '--row', '999'],
        /--row 999: series\.csv has \d+ windows/,
      ],
      [['--model', 'cnn.json', '--data', 'digits', '--all', '--limit', '3'], /--all shows every element/],
    ] as const) {
      const r = await explain(...args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
      assert.match(r.err, message);
      assert.doesNotMatch(r.err, /\n\s+at /);
    }
  });
});
