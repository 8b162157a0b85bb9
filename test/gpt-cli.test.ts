// The GPT through the command line: a tiny one (width 16, 2 heads, 1 block, context 8) trained a few steps
// on the built-in names by a real child process, its model file (a `gpt` layer spec, the GPT's state keys),
// info's per-layer table, generate (same seed, same text; the context crops the prompt), --dry-run,
// resume after --checkpoint-every and after Ctrl-C part way through an epoch (the bits of an uninterrupted
// run, dropout included), and bad flags (exit 2, naming them). The spec itself: round trip and checks.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  fit,
  fromSpec,
  gptLanguageModelSpec,
  losses,
  nn,
  optim,
  random,
  tensor,
  toSpec,
  validateSpec,
} from '../src/index.js';
import { runCli, spawnCli } from './helpers/cli.js';
import { checkpointEpoch, startCli, until, weightsOf } from './helpers/kills.js';

let dir = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'chainrule-gpt-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const cli = (args: string[]) => runCli(args, dir);
const TINY = ['--model', 'gpt', '--width', '16', '--heads', '2', '--blocks', '1', '--context', '8'];
const TRAIN = ['train', '--data', 'names', '--task', 'language-model', ...TINY];

describe('train --model gpt, info and generate', () => {
  test('a child process trains a tiny GPT on names: tokens/s, validation loss, a gpt layer in the file', async () => {
    const r = await spawnCli([...TRAIN, '--steps', '3', '--epochs', '2', '--out', 'gpt.json'], dir);
    assert.equal(r.code, 0, r.err);
    assert.match(
      r.err,
      /model: GPT: width 16, 2 heads, 1 block, context 8, vocabulary 28; [\d,]+ parameters/,
    );
    assert.match(r.err, /adamw lr 0\.002 \(warm-up 0 steps, cosine to \S+; gradient norm clipped to 1\)/);
    assert.match(r.err, /epoch 2\/2 {2}loss \S+ {2}val_loss \S+ {2}[\d,]+ tokens\/s/);
    assert.match(r.err, /validation loss \S+ nats\/character/);
    const file = JSON.parse(readFileSync(join(dir, 'gpt.json'), 'utf8')) as {
      architecture: { layers: unknown[] };
      weights: Record<string, unknown>;
      preprocessing: { kind: string; context: number };
    };
    assert.deepEqual(file.architecture.layers, [
      { type: 'gpt', vocab: 28, context: 8, width: 16, heads: 2, blocks: 1, dropout: 0 },
    ]);
    assert.equal(file.preprocessing.context, 8);
    const keys = Object.keys(file.weights);
    for (const k of [
      '0.tok.weight',
      '0.pos.weight',
      '0.blocks.0.attn.in_proj_weight',
      '0.lnf.bias',
      '0.head.weight',
    ])
      assert.ok(keys.includes(k), `${k} in ${keys.join(', ')}`);
  });

  test('info prints the per-layer table with the GPT’s parts and shapes for its context', async () => {
    const r = await cli(['info', 'gpt.json']);
    assert.equal(r.code, 0, r.err);
    assert.match(
      r.out,
      /0 {2}GPT\(vocab: 28, context: 8, embed: 16, heads: 2, blocks: 1\) +\[8, 28\] +[\d,]+/,
    );
    assert.match(r.out, /tok: Embedding\(28, 16\) +\[8, 16\] +448/);
    assert.match(r.out, /blocks\.0: TransformerBlock\(16, heads: 2\) +\[8, 16\]/);
    assert.match(r.out, /head: Linear\(16 → 28\) +\[8, 28\] +476/);
    assert.match(r.out, /characters: a vocabulary of 28 .*context 8/);
  });

  test('generate: the same seed gives the same text; a prompt longer than the context is cropped', async () => {
    const gen = (seed: string, prompt = 'mar') =>
      spawnCli(
        [
          'generate',
          '--model',
          'gpt.json',
          '--prompt',
          prompt,
          '--length',
          '30',
          '--seed',
          seed,
          '--top-k',
          '5',
        ],
        dir,
      );
    const a = await gen('1');
    assert.equal(a.code, 0, a.err);
    assert.ok(a.out.startsWith('mar'));
    assert.equal([...a.out.trimEnd()].length, 33);
    assert.equal((await gen('1')).out, a.out);
    const long = await gen('1', 'abcdefghijklmnopqrst');
    assert.equal(long.code, 0, long.err);
    assert.ok(long.out.startsWith('abcdefghijklmnopqrst'));
  });

  test('--dry-run prints the table and trains nothing', async () => {
    const r = await cli([...TRAIN, '--steps', '3', '--dry-run', '--out', 'dry.json']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /GPT\(vocab: 28, context: 8, embed: 16, heads: 2, blocks: 1\) +\[8, 28\]/);
    assert.match(r.out, /total parameters: [\d,]+/);
    assert.ok(!existsSync(join(dir, 'dry.json')));
  });
});

describe('train --model gpt: checkpoints and resume', () => {
  // Dropout draws from the run's stream, so a resumed run must continue that stream too.
  const RUN = [...TRAIN, '--dropout', '0.1', '--seed', '5', '--quiet'];

  test('kill -9 after a --checkpoint-every checkpoint, then --resume: the weights of one uninterrupted run', async () => {
    const args = [...RUN, '--steps', '30', '--epochs', '4'];
    assert.equal((await cli([...args, '--out', 'full.json'])).code, 0);
    const child = startCli([...args, '--checkpoint-every', '1', '--out', 'part.json'], dir);
    const ckpt = join(dir, 'part.ckpt.json');
    await until(() => checkpointEpoch(ckpt) >= 1, 120_000, 'the first checkpoint');
    child.proc.kill('SIGKILL');
    await child.exited;
    const at = checkpointEpoch(ckpt);
    assert.ok(at >= 1 && at < 4, `a checkpoint part way (epoch ${at})`);
    const r = await cli(['train', '--resume', 'part.ckpt.json', '--out', 'resumed.json']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, new RegExp(`resuming after epoch ${at}`));
    assert.equal(weightsOf(join(dir, 'resumed.json')), weightsOf(join(dir, 'full.json')));
  });

  test('Ctrl-C part way through an epoch (exit 130), then --resume: the same bits', async () => {
    const args = [...RUN.filter((a) => a !== '--quiet'), '--steps', '400', '--epochs', '2'];
    const ref = await cli([...args, '--quiet', '--out', 'cref.json']);
    assert.equal(ref.code, 0, ref.err);
    const child = startCli([...args, '--out', 'c.json'], dir);
    await until(() => /^model:/m.test(child.stderr()), 60_000, 'training to start');
    await new Promise((r) => setTimeout(r, 300));
    child.proc.kill('SIGINT');
    assert.equal((await child.exited).code, 130, child.stderr());
    assert.match(child.stderr(), /interrupted (in epoch [12] after batch \d+ of 400|after epoch 1)/);
    const r = await cli(['train', '--resume', 'c.ckpt.json', '--quiet']);
    assert.equal(r.code, 0, r.err);
    assert.equal(weightsOf(join(dir, 'c.json')), weightsOf(join(dir, 'cref.json')));
  });
});

describe('train --model gpt: bad flags (exit 2, named)', () => {
  const bad: [string, string[], RegExp][] = [
    [
      'heads that do not divide the width',
      ['--width', '16', '--heads', '3'],
      /--heads 3 does not divide --width 16/,
    ],
    [
      'a recurrent size',
      ['--hidden', '32'],
      /--hidden sizes a recurrent model; a GPT has --width, --heads, --blocks/,
    ],
    ['a forecast', ['--task', 'forecast'], /--model gpt is a language model/],
  ];
  for (const [what, args, message] of bad)
    test(what, async () => {
      const r = await spawnCli(
        [
          'train',
          '--data',
          'names',
          '--task',
          'language-model',
          '--model',
          'gpt',
          ...args,
          '--out',
          'bad.json',
        ],
        dir,
      );
      assert.equal(r.code, 2, r.err);
      assert.match(r.err, message);
      assert.doesNotMatch(r.err, /\n\s+at /);
      assert.ok(!existsSync(join(dir, 'bad.json')));
    });

  test('a GPT flag on a recurrent model', async () => {
    const r = await cli(['train', '--data', 'names', '--task', 'language-model', '--width', '16']);
    assert.equal(r.code, 2);
    assert.match(r.err, /--width is for --model gpt, not --model lstm/);
  });
});

describe('the gpt layer spec', () => {
  test('toSpec(fromSpec(spec)) gives it back; state keys are the GPT’s under index 0', () => {
    const spec = gptLanguageModelSpec(7, { context: 5, width: 8, heads: 2, blocks: 2, dropout: 0.1 });
    const model = fromSpec(spec, { rng: new random.RandomState(1) });
    assert.deepEqual(toSpec(model), spec);
    assert.ok(model.layers[0] instanceof nn.GPT);
    const keys = Object.keys(model.stateDict());
    assert.deepEqual(keys.slice(0, 3), ['0.tok.weight', '0.pos.weight', '0.blocks.0.ln1.weight']);
    assert.deepEqual(keys.slice(-2), ['0.head.weight', '0.head.bias']);
  });

  test('validation names the field: heads not dividing width, a window longer than the context', () => {
    const gpt = { type: 'gpt', vocab: 7, context: 5, width: 8, heads: 3, blocks: 1, dropout: 0 };
    assert.throws(
      () => validateSpec({ type: 'sequential', layers: [gpt] }),
      /layers\[0\]\.heads: expected a divisor of width 8, got 3/,
    );
    assert.throws(
      () => validateSpec({ type: 'sequential', layers: [{ ...gpt, heads: 2, dropout: 2 }] }),
      /layers\[0\]\.dropout: expected a number in \[0, 1\], got 2/,
    );
    assert.throws(
      () =>
        validateSpec({
          type: 'sequential',
          layers: [
            { type: 'unflatten', shape: [6] },
            { ...gpt, heads: 2 },
          ],
        }),
      /layers\[1\] \(gpt\): takes at most 5 ids \(its context\), but layers\[0\] gives \[6\]/,
    );
  });

  test('a GPT the spec cannot build (another MLP width) has no spec', () => {
    const g = new nn.GPT({ vocabSize: 5, contextLength: 4, embedDim: 8, numHeads: 2, hidden: 16 });
    assert.throws(() => toSpec(new nn.Sequential(g)), /cannot be described in a model spec/);
  });
});

describe('fit with a GPT: clipping and the epoch clock', () => {
  test('an epoch longer than one 20 ms stretch counts every stretch; clipGradNorm keeps training finite', async () => {
    const rng = new random.RandomState(2);
    const model = fromSpec(gptLanguageModelSpec(5, { context: 4, width: 8, heads: 2, blocks: 1 }), { rng });
    const ids = Array.from({ length: 64 * 4 }, (_, i) => (i * 3) % 5);
    const x = tensor(ids, { shape: [64, 4] });
    const ends: number[] = [];
    const h = await fit(
      model,
      { x, y: x },
      {
        loss: (p, y) => losses.crossEntropy(p.reshape(-1, 5), y.reshape(-1)),
        optimizer: new optim.AdamW(model.parameters(), { lr: 0.01 }),
        batchSize: 1,
        rng,
        clipGradNorm: 1,
        // Slow batches, so the epoch spans many stretches.
        onBatchEnd: () => {
          ends.push(performance.now());
          const until = performance.now() + 2;
          while (performance.now() < until);
        },
      },
    );
    assert.equal(ends.length, 64);
    // Not a timing claim: the 64 waits of 2 ms ran inside the epoch's stretches, whatever the machine.
    assert.ok(h.epochs[0].seconds >= 0.128, `${h.epochs[0].seconds}s`);
    assert.ok(Number.isFinite(h.epochs[0].loss));
  });
});
