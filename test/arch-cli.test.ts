// chainrule train --arch / --dry-run and info's per-layer table, through the real command line: a small
// CNN on the 8×8 digits, its checkpoint and exact resume (BatchNorm's running statistics included), and
// every mistake answered with exit 2, a message naming the item or layer, no stack trace, nothing written.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { modelFromJSON } from '../src/io/modelfile.js';
import { runCli, spawnCli } from './helpers/cli.js';

let dir = '';
const cli = (...args: string[]) => runCli(args, dir);
const CNN = 'conv 4 3 relu, batchnorm, maxpool 2, flatten, dropout 0.1, linear';
const common = ['--data', 'digits', '--arch', CNN, '--batch-size', '64', '--scale', 'unit', '--quiet'];

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'chainrule-arch-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('a CNN from --arch on digits', () => {
  test('trains for 2 epochs and saves the spec it was given, an unflatten to 1×8×8 first', async () => {
    const r = await cli('train', ...common, '--epochs', '2', '--out', 'cnn.json', '--checkpoint-every', '1');
    assert.equal(r.code, 0, r.err);
    const doc = JSON.parse(readFileSync(join(dir, 'cnn.json'), 'utf8')) as {
      architecture: { layers: { type: string }[] };
      training: { settings: { arch: string; layers?: unknown } };
    };
    assert.deepEqual(
      doc.architecture.layers.map((l) => l.type),
      ['unflatten', 'conv2d', 'relu', 'batchNorm2d', 'maxPool2d', 'flatten', 'dropout', 'linear'],
    );
    assert.equal(doc.training.settings.arch, CNN);
    assert.equal(doc.training.settings.layers, undefined);
  });

  test('resuming from the epoch-1 checkpoint gives the uninterrupted run bit for bit', async () => {
    let r = await cli('train', ...common, '--epochs', '1', '--out', 'half.json', '--checkpoint-every', '1');
    assert.equal(r.code, 0, r.err);
    r = await cli('train', '--resume', 'half.ckpt.json', '--epochs', '2', '--quiet');
    assert.equal(r.code, 0, r.err);
    const whole = JSON.parse(readFileSync(join(dir, 'cnn.json'), 'utf8')) as {
      weights: Record<string, unknown>;
    };
    const resumed = JSON.parse(readFileSync(join(dir, 'half.json'), 'utf8')) as {
      weights: Record<string, unknown>;
    };
    assert.ok('3.running_mean' in whole.weights && '3.running_var' in whole.weights);
    assert.deepEqual(resumed.weights, whole.weights);
  });

  test('resuming with another --arch is refused, naming the checkpoint and its own --arch', async () => {
    const before = readFileSync(join(dir, 'half.json'), 'utf8');
    const r = await cli('train', '--resume', 'half.ckpt.json', '--arch', 'flatten, linear', '--epochs', '3');
    assert.equal(r.code, 2, r.err);
    assert.match(
      r.err,
      /--arch cannot change the network of a resumed run; half\.ckpt\.json was trained with --arch "conv 4 3 relu/,
    );
    assert.doesNotMatch(r.err, /\n\s+at /);
    assert.equal(readFileSync(join(dir, 'half.json'), 'utf8'), before);
  });

  test('resuming with the same --arch spelled otherwise is accepted and continues exactly', async () => {
    const respelled = CNN.replace(/, /g, ' ,  ');
    const r = await cli(
      'train',
      '--resume',
      'half.ckpt.json',
      '--arch',
      respelled,
      '--epochs',
      '2',
      '--out',
      'respelled.json',
      '--quiet',
    );
    assert.equal(r.code, 0, r.err);
    const read = (f: string) =>
      (JSON.parse(readFileSync(join(dir, f), 'utf8')) as { weights: Record<string, unknown> }).weights;
    assert.deepEqual(read('respelled.json'), read('cnn.json'));
  });

  test('info: one row per layer with its output shape and parameters, equal to the model; --json too', async () => {
    const r = await cli('info', 'cnn.json');
    assert.equal(r.code, 0, r.err);
    const model = modelFromJSON(readFileSync(join(dir, 'cnn.json'), 'utf8')).model;
    const rows = r.out.split('\n').filter((l) => /^ {2}\d+ {2}/.test(l));
    assert.equal(rows.length, model.layers.length);
    rows.forEach((row, i) => {
      const params = Number(/ ([\d,]+)(?: \(\+[\d,]+ buffers\))?$/.exec(row)![1].replace(/,/g, ''));
      assert.equal(params, model.layers[i].numParameters(), row);
    });
    assert.match(rows[1], /Conv2d\(1 → 4, kernel 3\) +\[4, 6, 6\] +40$/);
    assert.match(rows[3], /BatchNorm2d\(4\) +\[4, 6, 6\] +8 \(\+9 buffers\)$/);
    assert.match(rows[7], /Linear\(36 → 10\) +\[10\] +370$/);
    assert.match(
      r.out,
      new RegExp(`total parameters: ${model.numParameters()} \\(trainable ${model.numParameters()}\\)`),
    );
    assert.match(r.out, /buffers: 9\n/);
    const j = JSON.parse((await cli('info', 'cnn.json', '--json')).out) as {
      summary: { parameters: number; buffers: number; layers: { output: number[]; parameters: number }[] };
    };
    assert.equal(j.summary.parameters, model.numParameters());
    assert.equal(j.summary.buffers, 9);
    assert.deepEqual(j.summary.layers[4].output, [4, 3, 3]);
  });

  test('--dry-run prints the table for the data and writes nothing', async () => {
    const r = await cli(
      'train',
      '--data',
      'digits',
      '--arch',
      'conv 8 3 relu, gap, flatten, linear',
      '--dry-run',
      '--out',
      'dry.json',
    );
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /AdaptiveAvgPool2d\(.*\) +\[8, 1, 1\]/);
    assert.match(r.out, /total parameters: 170 /);
    assert.equal(existsSync(join(dir, 'dry.json')), false);
  });

  test('--arch file.json takes a spec or a model file (its architecture)', async () => {
    const doc = JSON.parse(readFileSync(join(dir, 'cnn.json'), 'utf8')) as {
      architecture: { layers: unknown[] };
    };
    // Without its unflatten: a spec starting with a convolution gets the image's.
    writeFileSync(
      join(dir, 'net.json'),
      JSON.stringify({ type: 'sequential', layers: doc.architecture.layers.slice(1) }),
    );
    let r = await cli('train', '--data', 'digits', '--arch', 'net.json', '--dry-run');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /\n0 +Unflatten\(1, \[1, 8, 8\]\)/);
    r = await cli('train', '--data', 'digits', '--arch', 'cnn.json', '--dry-run');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /total parameters: 418 /);
  });
});

describe('--arch mistakes: exit 2, the item or layer named, no stack trace, nothing written', () => {
  const cases: [string[], RegExp][] = [
    [
      ['--arch', 'conv 8 9 relu, flatten, linear'],
      /train: --arch: item 1 'conv 8 9 relu' \(conv2d\): the kernel 9×9 does not fit the input: the input image gives \[1, 8, 8\]/,
    ],
    [
      ['--arch', 'conv 8 3, maxpool 2, conv 8 5, flatten, linear'],
      /item 3 'conv 8 5' \(conv2d\): the kernel 5×5 does not fit the input: item 2 'maxpool 2' gives \[8, 3, 3\]/,
    ],
    [
      ['--arch', 'conv 8 3, flatten, linear', '--data', 'iris'],
      /item 1 'conv 8 3' \(conv2d\): takes \[C, H, W\] per sample, but the input gives \[4\]: the data are flat rows, not images/,
    ],
    [
      ['--arch', 'conv 8 3 relu, flaten, linear'],
      /item 2 'flaten': unknown layer 'flaten'; expected one of conv/,
    ],
    [
      ['--arch', 'conv 8 three, flatten, linear'],
      /item 1 'conv 8 three': expected the kernel size KERNEL \(a positive integer\), got 'three'/,
    ],
    [
      ['--arch', 'conv 8 3, flatten, linear', '--layers', '16'],
      /train: --arch and --layers both describe the network; give one/,
    ],
    [
      ['--arch', 'linear 16, linear', '--activation', 'tanh'],
      /train: --arch and --activation both describe the network/,
    ],
    [
      ['--arch', 'bad.json'],
      /bad\.json: does not fit the data \(rows of 64 values, images 1×8×8\): layers\[0\]\.in: expected 1 \(the channels the input image gives \[1, 8, 8\]\), got 3/,
    ],
    [['--arch', 'garbled.json'], /garbled\.json: not valid JSON/],
    [['--arch', 'missing.json'], /missing\.json/],
  ];
  test('each is answered as a user error', async () => {
    writeFileSync(
      join(dir, 'bad.json'),
      JSON.stringify({
        type: 'sequential',
        layers: [
          {
            type: 'conv2d',
            in: 3,
            out: 4,
            kernel: 3,
            stride: 1,
            padding: 0,
            dilation: 1,
            groups: 1,
            bias: true,
          },
          { type: 'flatten' },
          { type: 'linear', in: 144, out: 10, bias: true },
        ],
      }),
    );
    writeFileSync(join(dir, 'garbled.json'), '{"type": "sequential", ');
    const before = readdirSync(dir).sort();
    for (const [args, message] of cases) {
      const data = args.includes('--data') ? [] : ['--data', 'digits'];
      const r = await spawnCli(['train', ...data, ...args, '--out', 'never.json'], dir);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
      assert.match(r.err, message);
      assert.doesNotMatch(r.err, /\n\s+at /);
    }
    assert.deepEqual(readdirSync(dir).sort(), before);
  });
});
