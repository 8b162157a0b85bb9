// Text and series data for sequence models: decoding and its refusals, vocabularies, windows, sampling,
// forecasting windows, and the sequence layers' specs through model files.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  buildVocabulary,
  charCorpus,
  decodeIds,
  decodeText,
  encodeText,
  fitSeriesScaling,
  fromSpec,
  lastWindow,
  nn,
  noGrad,
  random,
  recurrentForecasterSpec,
  recurrentLanguageModelSpec,
  sampleNext,
  seriesWindows,
  Tensor,
  TextDataError,
  tiledStarts,
  toSpec,
  validateSpec,
  windowsAt,
} from '../src/index.js';
import { modelFromJSON, modelToJSON } from '../src/io/modelfile.js';
import { fillWindows, randomStarts } from '../src/data/text.js';

const utf8 = (s: string) => new TextEncoder().encode(s);

describe('text corpora', () => {
  test('decodeText refuses empty, NUL-bearing and invalid UTF-8 bytes, naming the source and where', () => {
    assert.equal(decodeText(utf8('héllo 🙂'), 'a.txt'), 'héllo 🙂');
    assert.throws(() => decodeText(new Uint8Array(0), 'e.txt'), /^TextDataError: e\.txt: the file is empty/);
    assert.throws(() => decodeText(Uint8Array.from([97, 0, 98]), 'b.bin'), /b\.bin: a NUL byte at offset 1/);
    assert.throws(
      () => decodeText(Uint8Array.from([97, 98, 0xff, 99]), 'l.txt'),
      /l\.txt: invalid UTF-8 at byte 2/,
    );
    // A lead byte without its continuation, an overlong form, a surrogate: each at its first byte.
    for (const [bytes, at] of [
      [[0x63, 0x61, 0x66, 0xe9, 0x0a], 3],
      [[0x61, 0xc0, 0xaf], 1],
      [[0x61, 0x62, 0xed, 0xa0, 0x80], 2],
      [[0xe2, 0x82], 0],
    ] as const)
      assert.throws(
        () => decodeText(Uint8Array.from(bytes), 'x'),
        new RegExp(`invalid UTF-8 at byte ${at}:`),
      );
  });

  test('the vocabulary is the sorted code points; ids round-trip; unknown characters are all named', () => {
    const v = buildVocabulary('banana 🙂!');
    assert.deepEqual(v.chars, [' ', '!', 'a', 'b', 'n', '🙂']);
    const ids = encodeText(v, 'nab 🙂', 'p');
    assert.deepEqual([...ids], [4, 2, 3, 0, 5]);
    assert.equal(decodeIds(v, ids), 'nab 🙂');
    assert.throws(
      () => encodeText(v, 'Bax\n', '--prompt'),
      (e: Error) =>
        e instanceof TextDataError &&
        e.message ===
          "--prompt: 3 characters not in the model's vocabulary: 'B' (U+0042), 'x' (U+0078), U+000A (the vocabulary has 6 characters from the training text)",
    );
  });

  test('charCorpus splits by position and refuses a context longer than the text or a part', () => {
    const c = charCorpus('abcdefghij', 3, 0.5, 't.txt');
    assert.equal(c.trainEnd, 5);
    assert.throws(
      () => charCorpus('abcd', 4, 0, 't.txt'),
      /t\.txt: 4 characters are too few for a context of 4/,
    );
    assert.throws(() => charCorpus('abcdefghij', 5, 0.2, 't.txt'), /validation part \(the last 2 of 10/);
  });

  test('windows hold the next character of every position', () => {
    const ids = Int32Array.from([0, 1, 2, 3, 4, 5]);
    const { x, y } = windowsAt(ids, [0, 2], 3);
    assert.deepEqual(x.shape, [2, 3]);
    assert.deepEqual([...x.data], [0, 1, 2, 2, 3, 4]);
    assert.deepEqual([...y.data], [1, 2, 3, 3, 4, 5]);
    const starts = tiledStarts(10, 30, 4, 100);
    assert.ok(starts.length > 0 && starts.every((s) => s >= 10 && s + 5 <= 30));
    // Refilled in place (the Text page's batch): the same windows, and the same starts from the same stream.
    const into = { x: new Float64Array(6).fill(9), y: new Float64Array(6).fill(9) };
    fillWindows(ids, [0, 2], 3, into.x, into.y);
    assert.deepEqual([[...into.x], [...into.y]], [[...x.data], [...y.data]]);
    const out = new Int32Array(7);
    const drawn = randomStarts(10, 30, 4, 7, new random.RandomState(3), out);
    assert.equal(drawn, out);
    assert.deepEqual(out, randomStarts(10, 30, 4, 7, new random.RandomState(3)));
    assert.throws(() => randomStarts(10, 30, 4, 6, new random.RandomState(3), out), /out holds 7 starts/);
  });

  test('sampleNext: greedy at temperature 0 and top-k 1, only the top k otherwise, reproducible by seed', () => {
    const logits = [0.1, 3, -1, 2.9, 0];
    const rng = new random.RandomState(1);
    assert.equal(sampleNext(logits, { temperature: 0, rng }), 1);
    assert.equal(sampleNext(logits, { topK: 1, rng }), 1);
    const draws = (seed: number, opts = {}) => {
      const r = new random.RandomState(seed);
      return Array.from({ length: 200 }, () => sampleNext(logits, { rng: r, ...opts }));
    };
    assert.ok(draws(2, { topK: 2 }).every((i) => i === 1 || i === 3));
    assert.deepEqual(draws(5), draws(5));
    assert.notDeepEqual(draws(5), draws(6));
    // A very high temperature spreads the draws over every character.
    assert.equal(new Set(draws(3, { temperature: 100 })).size, 5);
    assert.throws(() => sampleNext(logits, { temperature: -1, rng }), /temperature/);
    assert.throws(() => sampleNext(logits, { topK: 0, rng }), /topK/);
  });
});

describe('series windows', () => {
  test('windows of `window` steps → the next value, scaled by the fitted mean and deviation', () => {
    const values = [1, 2, 3, 4, 5];
    const s = fitSeriesScaling(values, 'load', 2);
    assert.equal(s.mean, 3);
    assert.ok(Math.abs(s.std - Math.sqrt(2)) < 1e-15);
    const { x, y } = seriesWindows(values, s, 'float64');
    assert.deepEqual(x.shape, [3, 2, 1]);
    assert.deepEqual(
      [...y.data].map((v) => v * s.std + s.mean),
      [3, 4, 5],
    );
    assert.deepEqual(
      [...lastWindow(values, s, 'float64').data].map((v) => v * s.std + s.mean),
      [4, 5],
    );
    assert.throws(() => seriesWindows([1, 2], s), /needs at least 3 values/);
    assert.equal(fitSeriesScaling([7, 7], 'c', 1).std, 1);
  });
});

describe('sequence layer specs', () => {
  test('a language model and a forecaster round-trip through model files with the same outputs', () => {
    for (const spec of [
      recurrentLanguageModelSpec(7, { embed: 4, hidden: 5 }),
      recurrentLanguageModelSpec(7, { embed: 4, hidden: 5, cell: 'gru', layers: 2 }),
      recurrentForecasterSpec({ hidden: 3, cell: 'rnn' }),
    ]) {
      const model = fromSpec(spec, { dtype: 'float64', rng: new random.RandomState(2) });
      assert.deepEqual(toSpec(model), spec);
      const lm = spec.layers[0].type === 'embedding';
      const x = lm
        ? new Tensor(Float64Array.from([0, 6, 3, 2, 1, 5]), [2, 3])
        : new random.RandomState(3).randn(2, 4, 1).to('float64');
      const { model: loaded } = modelFromJSON(modelToJSON(model), 'm.json');
      const a = noGrad(() => model.eval().forward(x));
      const b = noGrad(() => loaded.forward(x));
      assert.deepEqual(a.shape, lm ? [2, 3, 7] : [2, 1]);
      assert.deepEqual([...b.data], [...a.data]);
    }
  });

  test('the shape walk checks what a recurrent layer takes', () => {
    const bad = {
      type: 'sequential',
      layers: [
        { type: 'embedding', num: 5, dim: 4 },
        { type: 'lstm', in: 3, hidden: 2, layers: 1, bias: true, bidirectional: false, dropout: 0 },
      ],
    };
    assert.throws(
      () => validateSpec(bad),
      /layers\[1\]\.in: expected 4 \(the features layers\[0\] gives \[-1, 4\]\), got 3/,
    );
    const head = {
      type: 'sequential',
      layers: [
        { type: 'gru', in: 1, hidden: 3, layers: 1, bias: true, bidirectional: true, dropout: 0 },
        { type: 'lastStep' },
        { type: 'linear', in: 5, out: 1, bias: true },
      ],
    };
    assert.throws(() => validateSpec(head), /layers\[2\]\.in: expected 6/);
    // A recurrent layer that is not batch-first has no spec.
    assert.throws(() => toSpec(new nn.Sequential(new nn.LSTM(2, 2))), /cannot be described in a model spec/);
  });
});
