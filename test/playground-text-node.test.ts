// The Text page's library side in Node: a run is reproducible from its configuration, the attention maps
// are the model's own (its logits bit for bit, softmax of the shown scores), the embedding gradients are
// autograd's (the embedding table's gradient rows), inspecting changes nothing, the GPT's and the LSTM's
// model files run in `chainrule generate`, their ONNX files give the model's logits in onnxruntime (the
// same graph `chainrule export --float32` writes from the model file), and the page's state round-trips
// through the URL.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { noGrad, nn, Tensor } from '../src/index.js';
import * as pg from '../src/playground/index.js';
import { loadText } from '../cli/sequence-data.js';
import { assertClose } from './helpers/close.js';
import { runCli } from './helpers/cli.js';
import {
  DEFAULT_TEXT_STATE,
  MAX_URL_TEXT,
  textConfigOf,
  textStateFromHash,
  textStateToHash,
} from '../web/text.state.js';

const SMALL: pg.TextConfig = {
  ...pg.DEFAULT_TEXT_CONFIG,
  embed: 16,
  layers: 2,
  heads: 2,
  hidden: 16,
  context: 8,
  batch: 8,
  seed: 3,
};

let names = '';
let dir = '';
before(async () => {
  names = (await loadText('names', process.cwd())).text;
  dir = mkdtempSync(join(tmpdir(), 'chainrule-text-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('a Text run', () => {
  test('the same configuration gives the same losses and weights; another seed does not', () => {
    const a = pg.createTextRun(SMALL, names);
    const b = pg.createTextRun(SMALL, names);
    const c = pg.createTextRun({ ...SMALL, seed: 4 }, names);
    for (let i = 0; i < pg.VALIDATE_EVERY; i++) [a, b, c].forEach((r) => r.trainStep());
    assert.deepEqual(a.history, b.history);
    assert.equal(a.parameterDigest(), b.parameterDigest());
    assert.notEqual(a.parameterDigest(), c.parameterDigest());
    assert.equal(a.history[0].loss, null);
    assert.ok(typeof a.history[0].valLoss === 'number');
    assert.ok(typeof a.history.at(-1)?.valLoss === 'number', 'a validation loss every VALIDATE_EVERY steps');
    // The untrained model is near uniform over the 28 characters.
    assertClose(a.history[0].valLoss as number, Math.log(28), { rel: 0.05, what: 'step 0 validation' });
  });

  test('the names list is shuffled once, the same for every seed, so validation holds names of every letter', () => {
    const shuffled = pg.shuffleLines(names);
    assert.equal(shuffled, pg.shuffleLines(names));
    assert.deepEqual(shuffled.split('\n').sort(), names.split('\n').sort());
    const run = pg.createTextRun(SMALL, names);
    const held = run.corpus.ids.subarray(run.corpus.trainEnd);
    const text = Array.from(held, (i) => run.corpus.vocab.chars[i]).join('');
    const initials = new Set(
      text
        .split('\n')
        .slice(1, -1)
        .map((l) => l[0]),
    );
    assert.ok(initials.size > 20, `initials of held-out names: ${[...initials].join('')}`);
    assert.equal(
      pg.createTextRun({ ...SMALL, corpus: 'pasted' }, names).corpus.ids.length,
      run.corpus.ids.length,
    );
  });

  test('sampling is seeded and leaves the training stream alone', () => {
    const a = pg.createTextRun(SMALL, names);
    const b = pg.createTextRun(SMALL, names);
    assert.equal(a.sample(30, { seed: 9 }), b.sample(30, { seed: 9 }));
    a.sample(30, { seed: 1 });
    a.trainStep();
    b.trainStep();
    assert.equal(a.parameterDigest(), b.parameterDigest());
  });

  test("the attention maps are the model's: its logits bit for bit, weights = softmax of the scores", () => {
    const run = pg.createTextRun(SMALL, names);
    for (let i = 0; i < 5; i++) run.trainStep();
    const prompt = '\nmarie';
    const maps = run.attention(prompt);
    const ids = [...prompt].map((ch) => run.corpus.vocab.chars.indexOf(ch));
    const logits = noGrad(() => run.model.forward(new Tensor(Float64Array.from(ids), [1, ids.length])));
    assert.deepEqual(maps.logits, Float64Array.from(logits.data));
    assert.deepEqual(maps.tokens, [...prompt]);
    assert.equal(maps.layers.length, 2);
    assert.equal(maps.layers[0].length, 2);
    assert.equal(maps.headDim, 8);
    const L = ids.length;
    for (const layer of maps.layers)
      for (const { weights, scores } of layer)
        for (let t = 0; t < L; t++) {
          let max = -Infinity;
          for (let s = 0; s <= t; s++) max = Math.max(max, scores[t * L + s]);
          let total = 0;
          for (let s = 0; s <= t; s++) total += Math.exp(scores[t * L + s] - max);
          for (let s = 0; s < L; s++) {
            const want = s > t ? 0 : Math.exp(scores[t * L + s] - max) / total;
            assertClose(weights[t * L + s], want, { rel: 1e-12, abs: 1e-15, what: `weight ${t},${s}` });
          }
        }
  });

  test('a prompt longer than the context is cut to its last context characters', () => {
    const run = pg.createTextRun(SMALL, names);
    assert.equal(run.attention('abcdefghijklmn').tokens.join(''), 'ghijklmn');
    assert.equal(run.embeddingGradients('abcdefghijklmn').tokens.join(''), 'fghijklm');
  });

  for (const model of ['gpt', 'lstm'] as const)
    test(`${model}: the embedding gradients are the embedding table's gradient rows, and change nothing`, () => {
      const run = pg.createTextRun({ ...SMALL, model }, names);
      for (let i = 0; i < 3; i++) run.trainStep();
      const before = run.parameterDigest();
      const prompt = '\nzoey';
      const g = run.embeddingGradients(prompt);
      assert.equal(run.parameterDigest(), before);
      for (const p of run.model.parameters()) assert.ok(!p.grad || p.grad.data.every((v) => v === 0));
      assert.deepEqual(g.tokens, [...'\nzoe']);
      assert.deepEqual(g.targets, [...'zoey']);
      // Every character occurs once, so the table's gradient row of each is the gradient at its position.
      const table =
        run.model instanceof nn.GPT ? run.model.tok.weight : (run.model.layers[0] as nn.Embedding).weight;
      const ids = [...prompt].map((ch) => run.corpus.vocab.chars.indexOf(ch));
      const x = new Tensor(Float64Array.from(ids.slice(0, -1)), [1, 4]);
      const y = new Tensor(Float64Array.from(ids.slice(1)), [1, 4]);
      const loss = pg.nextCharLoss(run.model.forward(x), y);
      loss.backward();
      assert.equal(g.loss, loss.item());
      const E = SMALL.embed;
      for (let t = 0; t < 4; t++) {
        const row = (table.grad as Tensor).data.subarray(ids[t] * E, (ids[t] + 1) * E);
        assert.deepEqual(g.vectors.subarray(t * E, (t + 1) * E), Float64Array.from(row), `position ${t}`);
        assertClose(g.norms[t], Math.hypot(...row), { rel: 1e-12, what: `norm ${t}` });
      }
      run.optimizer.zeroGrad();
    });

  for (const model of ['gpt', 'lstm'] as const)
    test(`${model}: the model file runs in chainrule generate; the ONNX (float32) gives the model's logits`, async () => {
      const run = pg.createTextRun({ ...SMALL, model }, names);
      for (let i = 0; i < 3; i++) run.trainStep();
      writeFileSync(join(dir, `${model}.json`), run.toModelFile());
      const r = await runCli(
        ['generate', '--model', `${model}.json`, '--length', '40', '--seed', '2', '--prompt', 'ma'],
        dir,
      );
      assert.equal(r.code, 0, r.err);
      assert.equal([...r.out.trimEnd()].length, 42);
      assert.ok(r.out.startsWith('ma'));

      // The page's ONNX in the real runtime: ids in, the float64 model's logits out, to float32 rounding
      // (the weights are cast to float32: onnxruntime has no float64 LSTM).
      const bytes = run.toOnnx();
      const session = await ort.InferenceSession.create(bytes);
      assert.deepEqual([...session.inputNames], ['ids']);
      assert.deepEqual([...session.outputNames], ['logits']);
      const chars = run.corpus.vocab.chars;
      const prompts = ['\nmaria', 'olivia'];
      const ids = prompts.flatMap((p) => [...p].map((ch) => chars.indexOf(ch)));
      const out = await session.run({
        ids: new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [2, 6]),
      });
      const logits = out.logits;
      assert.equal(logits.type, 'float32');
      assert.deepEqual([...logits.dims], [2, 6, chars.length]);
      const want = noGrad(() => run.model.forward(new Tensor(Float64Array.from(ids), [2, 6])));
      assertClose(Array.from(logits.data as Float32Array), want.data, {
        rel: 1e-4,
        abs: 1e-5,
        what: `${model} logits`,
      });

      // The same graph as `chainrule export --onnx --float32` writes from the page's model file.
      const e = await runCli(['export', `${model}.json`, '--onnx', `${model}.onnx`, '--float32'], dir);
      assert.equal(e.code, 0, e.err);
      const cli = await ort.InferenceSession.create(readFileSync(join(dir, `${model}.onnx`)));
      const cliOut = await cli.run({
        ids: new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [2, 6]),
      });
      assert.deepEqual(
        Array.from(cliOut.logits.data as Float32Array),
        Array.from(logits.data as Float32Array),
      );
    });

  test('bad settings and bad text are refused with what was expected', () => {
    assert.throws(
      () => pg.createTextRun({ ...SMALL, heads: 3 }, names),
      /heads: 3 heads do not divide the width 16/,
    );
    assert.throws(
      () => pg.createTextRun({ ...SMALL, context: 0 }, names),
      /context: expected an integer in 2…64/,
    );
    assert.throws(() => pg.createTextRun(SMALL, 'abc'), /too few for a context of 8/);
    assert.throws(
      () => pg.createTextRun({ ...SMALL, model: 'rnn' as pg.TextModelKind }, names),
      /model: expected 'gpt' or 'lstm', got "rnn"/,
    );
    const run = pg.createTextRun(SMALL, names);
    assert.throws(() => run.attention('Zoë'), /not in the model's vocabulary/);
    assert.throws(() => run.embeddingGradients('a'), /at least two characters/);
  });
});

describe("the Text page's URL", () => {
  test('the whole state round-trips; a pasted text only while short; a file never', () => {
    const s = {
      ...DEFAULT_TEXT_STATE,
      model: 'lstm' as const,
      embed: 48,
      lr: 0.002,
      seed: 77,
      prompt: '\nann',
    };
    assert.deepEqual(textStateFromHash(textStateToHash(s)), { state: s, ignored: [] });
    const pasted = { ...s, corpus: 'pasted' as const, text: 'to be or not to be, ' };
    assert.deepEqual(textStateFromHash(textStateToHash(pasted)).state, pasted);
    const long = { ...pasted, text: 'x'.repeat(MAX_URL_TEXT + 1) };
    assert.doesNotMatch(textStateToHash(long), /&text=/);
    assert.doesNotMatch(textStateToHash({ ...s, corpus: 'file', text: 'secret' }), /&text=/);
    assert.deepEqual(textConfigOf(s), {
      ...pg.DEFAULT_TEXT_CONFIG,
      model: 'lstm',
      embed: 48,
      lr: 0.002,
      seed: 77,
    });
  });

  test('fields that do not parse are named and take the defaults', () => {
    const { state, ignored } = textStateFromHash('#embed=2&lr=abc&model=rnn&heads=3&seed=5');
    assert.deepEqual(ignored, ['model=rnn', 'embed=2', 'lr=abc', 'heads=3']);
    assert.equal(state.seed, 5);
    assert.equal(state.heads, DEFAULT_TEXT_STATE.heads);
  });
});
