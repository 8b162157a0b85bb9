// ONNX export of the sequence layers, checked by the real runtime (onnxruntime-node): Embedding, RNN /
// LSTM / GRU (stacked, bidirectional, batch-first or not, without biases), LastStep, LayerNorm,
// MultiheadAttention, TransformerBlock and GPT give chainrule's outputs within float32 tolerance; the
// recurrent ops and the tiny GPT against PyTorch's own numbers (the fixtures), which pins ONNX's gate
// orders; one graph for any sequence length; a language model and a forecaster trained by the command
// line, exported by `chainrule export`, give what chainrule computes and what `chainrule predict` prints
// (a float64 one through --float32, cast to float32 for onnxruntime's recurrent kernels).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import {
  losses,
  loadModel,
  nn,
  noGrad,
  OnnxExportError,
  onnxSignature,
  parseModelFile,
  random,
  tensor,
  toOnnx,
  type DType,
  type NestedArray,
  type Tensor,
} from '../src/index.js';
import { assertClose } from './helpers/close.js';
import { runCli } from './helpers/cli.js';
import { fixture, flat } from './helpers/fixtures.js';

/** Float32 tolerance: the runtime sums in its own order (and its fused recurrent kernels in float32). */
const REL = 1e-5;
const ABS = 1e-6;

/** A graph input: int64 ids or floats of the model's dtype. */
function feed(values: ArrayLike<number>, shape: number[], type: DType | 'int64'): ort.Tensor {
  if (type === 'int64') return new ort.Tensor('int64', BigInt64Array.from(Array.from(values, BigInt)), shape);
  return new ort.Tensor(
    type,
    type === 'float64' ? Float64Array.from(values) : Float32Array.from(values),
    shape,
  );
}

/** Run the graph on one input; its first output's values and shape. */
async function runOnnx(bytes: Uint8Array, input: ort.Tensor): Promise<{ data: number[]; dims: number[] }> {
  const s = await ort.InferenceSession.create(bytes);
  const r = await s.run({ [s.inputNames[0]]: input });
  const out = r[s.outputNames[0]];
  return { data: Array.from(out.data as Float32Array), dims: [...out.dims] };
}

function uniform(n: number, seed: number): Float64Array {
  const a = new Float64Array(n);
  new random.RandomState(seed).fillUniform(a, -2, 2);
  return a;
}

/** Export `model`, run it in onnxruntime and compare with chainrule's forward in evaluation mode. */
async function checkModule(
  what: string,
  model: nn.Module,
  values: ArrayLike<number>,
  shape: number[],
  ids = false,
): Promise<void> {
  model.eval();
  const dtype = model.parameters()[0].dtype;
  const want = noGrad(() => model.forward(tensor(Array.from(values), { shape, dtype })));
  const got = await runOnnx(toOnnx(model), feed(values, shape, ids ? 'int64' : dtype));
  assert.deepEqual(got.dims, want.shape, `${what}: output shape`);
  assertClose(got.data, want.data, { rel: REL, abs: ABS, what });
}

describe('sequence layers in onnxruntime give chainrule outputs (float32)', () => {
  const rng = new random.RandomState(11);
  const o = { dtype: 'float32' as const, rng };
  const cases: [string, () => nn.Module, number[]][] = [
    ['LSTM, batch-first', () => new nn.LSTM(3, 5, { batchFirst: true, ...o }), [2, 4, 3]],
    ['LSTM, 2 layers, time first', () => new nn.LSTM(3, 5, { numLayers: 2, ...o }), [4, 2, 3]],
    [
      'LSTM, 2 layers, bidirectional, batch-first',
      () => new nn.LSTM(3, 5, { numLayers: 2, bidirectional: true, batchFirst: true, ...o }),
      [2, 4, 3],
    ],
    [
      'GRU, 2 layers, batch-first',
      () => new nn.GRU(3, 5, { numLayers: 2, batchFirst: true, ...o }),
      [2, 4, 3],
    ],
    [
      'GRU, bidirectional, no bias',
      () => new nn.GRU(3, 5, { bidirectional: true, bias: false, batchFirst: true, ...o }),
      [2, 4, 3],
    ],
    ['RNN tanh, time first', () => new nn.RNN(3, 5, o), [4, 2, 3]],
    [
      'RNN relu, bidirectional, 2 layers',
      () =>
        new nn.RNN(3, 5, { nonlinearity: 'relu', bidirectional: true, numLayers: 2, batchFirst: true, ...o }),
      [2, 4, 3],
    ],
    [
      'LSTM → LastStep → Linear (the forecaster)',
      () =>
        new nn.Sequential(
          new nn.LSTM(1, 6, { batchFirst: true, ...o }),
          new nn.LastStep(),
          new nn.Linear(6, 1, o),
        ),
      [3, 5, 1],
    ],
    [
      'GRU → LayerNorm → Linear',
      () =>
        new nn.Sequential(
          new nn.GRU(3, 4, { batchFirst: true, ...o }),
          new nn.LayerNorm(4, o),
          new nn.Linear(4, 2, o),
        ),
      [2, 4, 3],
    ],
    [
      'MultiheadAttention, batch-first',
      () => new nn.MultiheadAttention(8, 2, { batchFirst: true, ...o }),
      [2, 5, 8],
    ],
    [
      'MultiheadAttention, time first, no bias',
      () => new nn.MultiheadAttention(8, 4, { bias: false, ...o }),
      [5, 2, 8],
    ],
    ['TransformerBlock (causal)', () => new nn.TransformerBlock(8, 2, o), [2, 5, 8]],
    [
      'TransformerBlock (not causal)',
      () => new nn.TransformerBlock(8, 2, { causal: false, ...o }),
      [2, 5, 8],
    ],
  ];
  cases.forEach(([what, make, shape], i) =>
    test(what, async () =>
      checkModule(
        what,
        make(),
        uniform(
          shape.reduce((a, b) => a * b, 1),
          i,
        ),
        shape,
      ),
    ),
  );

  test('Embedding → LSTM → Linear (the language model) on int64 ids', async () => {
    const m = new nn.Sequential(
      new nn.Embedding(7, 4, o),
      new nn.LSTM(4, 6, { batchFirst: true, ...o }),
      new nn.Linear(6, 7, o),
    );
    await checkModule('language model', m, [1, 2, 3, 4, 5, 6, 0, 1], [2, 4], true);
    const sig = onnxSignature(m);
    assert.deepEqual(sig.inputs[0], {
      name: 'input',
      type: 'int64',
      shape: ['batch', 'length'],
      description: "token ids (integers below the embedding's size)",
    });
    assert.deepEqual(sig.outputs[0].shape, ['batch', 'length', 7]);
  });

  test('GPT (2 blocks) on int64 ids, float32 and float64', async () => {
    for (const dtype of ['float32', 'float64'] as const) {
      const gpt = new nn.GPT({
        vocabSize: 11,
        contextLength: 6,
        embedDim: 8,
        numHeads: 2,
        numLayers: 2,
        dtype,
        rng,
      });
      await checkModule(`GPT ${dtype}`, gpt, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [2, 5], true);
    }
  });

  test('one graph serves every sequence length (the time axis is symbolic)', async () => {
    const m = new nn.Sequential(
      new nn.Embedding(5, 3, o),
      new nn.GRU(3, 4, { batchFirst: true, ...o }),
      new nn.TransformerBlock(4, 2, o),
      new nn.Linear(4, 5, o),
    ).eval();
    const bytes = toOnnx(m);
    for (const L of [1, 3, 9]) {
      const ids = Array.from({ length: 2 * L }, (_, i) => (i * 3) % 5);
      const want = noGrad(() => m.forward(tensor(ids, { shape: [2, L] })));
      const got = await runOnnx(bytes, feed(ids, [2, L], 'int64'));
      assert.deepEqual(got.dims, [2, L, 5]);
      assertClose(got.data, want.data, { rel: REL, abs: ABS, what: `length ${L}` });
    }
  });
});

interface LayerCase {
  name: string;
  input: NestedArray[];
  params: Record<string, NestedArray[]>;
  output: NestedArray[];
}

describe("onnxruntime against PyTorch's own outputs (float32 graphs of the float64 fixtures)", () => {
  const cases = fixture<{ cases: LayerCase[] }>('layer-gradients.json').cases;
  const named = (prefix: string) => cases.find((c) => c.name.startsWith(prefix))!;
  const layers: [string, () => nn.RecurrentBase][] = [
    ['RNN(3, 5', () => new nn.RNN(3, 5, { batchFirst: true })],
    ['LSTM(3, 5', () => new nn.LSTM(3, 5, { batchFirst: true })],
    ['GRU(3, 5', () => new nn.GRU(3, 5, { batchFirst: true })],
    ['LSTM(3, 4, num_layers=2', () => new nn.LSTM(3, 4, { numLayers: 2, batchFirst: true })],
  ];
  for (const [prefix, make] of layers)
    test(`${prefix}…): ONNX's gate order holds PyTorch's weights`, async () => {
      const c = named(prefix);
      const m = make();
      m.loadStateDict(c.params);
      const x = tensor(c.input);
      const got = await runOnnx(toOnnx(m), feed(x.data, [...x.shape], 'float32'));
      assertClose(got.data, flat(c.output), { rel: 1e-4, abs: 1e-6, what: c.name });
    });

  test("the tiny GPT: onnxruntime's logits give PyTorch's first loss (float64 graph)", async () => {
    interface Trajectory {
      x: number[][];
      y: number[][];
      initialState: Record<string, NestedArray[]>;
      losses: number[];
    }
    const c = fixture<{ cases: Trajectory[] }>('model-trajectories.json').cases[1];
    const gpt = new nn.GPT({ vocabSize: 11, contextLength: 6, embedDim: 8, numHeads: 2, dtype: 'float64' });
    const linear = new Set(['fc.weight', 'proj.weight', 'head.weight']);
    gpt.loadStateDict(
      Object.fromEntries(
        Object.entries(c.initialState).map(([k, v]) => {
          const t = tensor(v, { dtype: 'float64' });
          return [/^(tok|pos|lnf|head)\./.test(k) ? k : `blocks.0.${k}`, linear.has(k) ? t.T : t];
        }),
      ),
    );
    const got = await runOnnx(toOnnx(gpt), feed(c.x.flat(), [c.x.length, c.x[0].length], 'int64'));
    const logits: Tensor = tensor(got.data, { shape: [got.data.length / 11, 11], dtype: 'float64' });
    // onnxruntime's double Erf (GELU) is not correctly rounded: float32-level agreement, not 1e-10.
    assertClose(losses.crossEntropy(logits, c.y.flat()).item(), c.losses[0], { rel: 1e-6 });
  });
});

describe('chainrule export of models trained by the command line', () => {
  let dir = '';
  const cli = (args: string[]) => runCli(args, dir);
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'chainrule-onnx-seq-'));
    writeFileSync(join(dir, 'tiny.txt'), 'the cat sat on the mat. the dog sat on the log. '.repeat(10));
    const rows = ['t,load'];
    for (let i = 0; i < 60; i++) rows.push(`${i},${(20 + 10 * Math.sin(i / 4)).toFixed(4)}`);
    writeFileSync(join(dir, 'series.csv'), rows.join('\n') + '\n');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const cell of ['lstm', 'gru'])
    test(`--task language-model (${cell}, 2 layers): ids in, chainrule's logits out`, async () => {
      const common = ['--context', '8', '--hidden', '12', '--embed', '6', '--steps', '2', '--epochs', '1'];
      const t = await cli([
        'train',
        '--data',
        'tiny.txt',
        '--task',
        'language-model',
        '--model',
        cell,
        '--depth',
        '2',
        ...common,
        '--out',
        'lm.json',
      ]);
      assert.equal(t.code, 0, t.err);
      const e = await cli(['export', 'lm.json', '--onnx', 'lm.onnx']);
      assert.equal(e.code, 0, e.err);
      assert.match(e.out, /ids\s+int64\s+\[batch, length\]\s+character ids/);
      assert.match(e.out, /logits\s+float32\s+\[batch, length, \d+\]/);
      const file = parseModelFile(readFileSync(join(dir, 'lm.json'), 'utf8'), 'lm.json');
      const { model } = loadModel(file, 'lm.json');
      const chars = (file.preprocessing as { vocab: { chars: string[] } }).vocab.chars;
      const ids = [...'the cat sat', ...'on the log.'].map((ch) => chars.indexOf(ch));
      const want = noGrad(() => model.eval().forward(tensor(ids, { shape: [2, 11] })));
      const got = await runOnnx(readFileSync(join(dir, 'lm.onnx')), feed(ids, [2, 11], 'int64'));
      assert.deepEqual(got.dims, [2, 11, chars.length]);
      assertClose(got.data, want.data, { rel: REL, abs: ABS, what: 'logits' });
    });

  test('a float64 language model exports, with the note that onnxruntime runs LSTM in float32 only', async () => {
    const args = ['--context', '4', '--hidden', '4', '--embed', '3', '--steps', '1', '--epochs', '1'];
    const t = await cli([
      'train',
      '--data',
      'tiny.txt',
      '--task',
      'language-model',
      '--dtype',
      'float64',
      ...args,
      '--out',
      'lm64.json',
    ]);
    assert.equal(t.code, 0, t.err);
    const e = await cli(['export', 'lm64.json', '--onnx', 'lm64.onnx']);
    assert.equal(e.code, 0, e.err);
    assert.match(e.out, /logits\s+float64/);
    assert.match(e.out, /note: onnxruntime \(1\.30\) has no float64 kernel for lstm.*--float32/);
    // --float32 casts the weights first: onnxruntime runs it and gives the float64 model's logits.
    const f = await cli(['export', 'lm64.json', '--onnx', 'lm32.onnx', '--float32']);
    assert.equal(f.code, 0, f.err);
    assert.match(f.out, /weights cast to float32/);
    assert.match(f.out, /logits\s+float32/);
    assert.doesNotMatch(f.out, /note:/);
    const file = parseModelFile(readFileSync(join(dir, 'lm64.json'), 'utf8'), 'lm64.json');
    const { model } = loadModel(file, 'lm64.json');
    const chars = (file.preprocessing as { vocab: { chars: string[] } }).vocab.chars;
    const ids = [...'the cat sat'].map((ch) => chars.indexOf(ch));
    const want = noGrad(() => model.eval().forward(tensor(ids, { shape: [1, 11], dtype: 'float64' })));
    const got = await runOnnx(readFileSync(join(dir, 'lm32.onnx')), feed(ids, [1, 11], 'int64'));
    assertClose(got.data, want.data, { rel: REL, abs: ABS, what: 'float32 logits of the float64 model' });
  });

  test('--task forecast: raw windows in, what chainrule predict prints out', async () => {
    const t = await cli([
      'train',
      '--data',
      'series.csv',
      '--target',
      'load',
      '--task',
      'forecast',
      '--model',
      'gru',
      '--window',
      '6',
      '--hidden',
      '8',
      '--epochs',
      '2',
      '--out',
      'f.json',
    ]);
    assert.equal(t.code, 0, t.err);
    const e = await cli(['export', 'f.json', '--onnx', 'f.onnx']);
    assert.equal(e.code, 0, e.err);
    assert.match(e.out, /window\s+float32\s+\[batch, 6, 1\]/);
    assert.match(e.out, /prediction\s+float32\s+\[batch, 1\]\s+the next value of load/);
    const p = await cli(['predict', '--model', 'f.json', '--data', 'series.csv']);
    assert.equal(p.code, 0, p.err);
    const printed = p.out
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => Number(l.split(',')[2]));
    const values = readFileSync(join(dir, 'series.csv'), 'utf8')
      .trim()
      .split('\n')
      .slice(1)
      .map((l) => Number(l.split(',')[1]));
    const windows: number[] = [];
    for (let k = 0; k + 6 < values.length; k++) windows.push(...values.slice(k, k + 6));
    const got = await runOnnx(
      readFileSync(join(dir, 'f.onnx')),
      feed(windows, [windows.length / 6, 6, 1], 'float32'),
    );
    assert.equal(got.data.length, printed.length);
    assertClose(got.data, printed, { rel: REL, abs: 1e-4, what: 'forecasts' });
  });
});

describe('refusals name the layer', () => {
  test('an Embedding after a float layer, a recurrent layer of the wrong width, LastStep on [batch, F], a GPT past its context, a vocabulary the head does not match', () => {
    const refuses = (m: nn.Module, pattern: RegExp, options = {}) =>
      assert.throws(
        () => toOnnx(m, options),
        (e: Error) => e instanceof OnnxExportError && pattern.test(e.message),
      );
    refuses(
      new nn.Sequential(new nn.Linear(2, 2), new nn.Embedding(3, 2)),
      /layer 1 \(Embedding\) takes token ids/,
    );
    refuses(
      new nn.Sequential(new nn.Embedding(3, 2), new nn.Dropout(0.1), new nn.LSTM(3, 2, { batchFirst: true })),
      /layer 2 \(LSTM\) takes 3 features per step but receives \[batch, length, 2\]/,
    );
    refuses(
      new nn.Sequential(new nn.Linear(2, 2), new nn.LastStep()),
      /layer 1 \(LastStep\) takes \[batch, time, features\]/,
    );
    refuses(
      new nn.GPT({ vocabSize: 5, contextLength: 4, embedDim: 4, numHeads: 2 }),
      /the model \(GPT\) takes at most 4 tokens \(its context\), but receives 6/,
      { inputShape: [6] },
    );
    refuses(
      new nn.Sequential(new nn.Embedding(3, 2), new nn.Linear(2, 3)),
      /the vocabulary has 4 characters but the network gives \[batch, length, 3\]/,
      { preprocessing: { kind: 'text', vocab: { chars: ['a', 'b', 'c', 'd'] }, context: 4 } },
    );
  });
});
