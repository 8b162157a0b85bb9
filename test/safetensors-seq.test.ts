// PyTorch's sequence models as safetensors files (made from the float64 fixtures by
// test/fixtures/gen-seq-safetensors.py, stdlib only): nn.LSTM (one and two layers), nn.GRU,
// nn.MultiheadAttention and the tiny GPT load under PyTorch's names and give PyTorch's outputs within
// 1e-10; through `chainrule import` too; a missing or unexpected key or a wrong shape is named.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  encodeSafetensors,
  fromSpec,
  loadModel,
  loadSafetensors,
  parseSafetensors,
  recurrentForecasterSpec,
  toSafetensors,
  losses,
  nn,
  noGrad,
  parseModelFile,
  random,
  SafetensorsError,
  stack,
  tensor,
  type NestedArray,
} from '../src/index.js';
import { assertClose } from './helpers/close.js';
import { runCli } from './helpers/cli.js';
import { fixture, fixtureBytes } from './helpers/fixtures.js';

interface LayerCase {
  name: string;
  input: NestedArray[];
  output: NestedArray[];
  extraOutputs?: NestedArray[];
}

const cases = fixture<{ cases: LayerCase[] }>('layer-gradients.json').cases;
const named = (prefix: string): LayerCase => cases.find((c) => c.name.startsWith(prefix))!;
const REL = 1e-10;
const ABS = 1e-15;
const dtype = 'float64';

describe("PyTorch's recurrent layers and attention load and give PyTorch's outputs (1e-10)", () => {
  const recurrent: [string, string, () => nn.RecurrentBase][] = [
    [
      'torch-lstm.safetensors',
      'LSTM(3, 5, batch_first=True)',
      () => new nn.LSTM(3, 5, { batchFirst: true, dtype }),
    ],
    [
      'torch-lstm2.safetensors',
      'LSTM(3, 4, num_layers=2',
      () => new nn.LSTM(3, 4, { numLayers: 2, batchFirst: true, dtype }),
    ],
    [
      'torch-gru.safetensors',
      'GRU(3, 5, batch_first=True)',
      () => new nn.GRU(3, 5, { batchFirst: true, dtype }),
    ],
  ];
  for (const [file, prefix, make] of recurrent)
    test(`${file}: output and final states`, () => {
      const c = named(prefix);
      const m = make();
      loadSafetensors(m, fixtureBytes(file), { source: file });
      const r = noGrad(() => m.forwardWithState(tensor(c.input, { dtype })));
      assertClose(r.output, c.output, { rel: REL, abs: ABS, what: `${file}: output` });
      // extraOutputs[0]: h, or for an LSTM h and c stacked.
      const extra = r.c ? stack([r.h, r.c], 0) : r.h;
      assertClose(extra, c.extraOutputs![0], { rel: REL, abs: ABS, what: `${file}: final states` });
    });

  test('torch-mha.safetensors: causal self-attention, output and head-averaged weights', () => {
    const c = named('MultiheadAttention');
    const m = new nn.MultiheadAttention(8, 2, { batchFirst: true, dtype });
    loadSafetensors(m, fixtureBytes('torch-mha.safetensors'));
    const x = tensor(c.input, { dtype });
    const r = noGrad(() => m.attend(x, x, x, { isCausal: true }));
    assertClose(r.output, c.output, { rel: REL, abs: ABS, what: 'output' });
    assertClose(r.weights!, c.extraOutputs![0], { rel: REL, abs: ABS, what: 'weights' });
  });
});

describe("the tiny GPT's PyTorch state dict (flat names, Linear weights [out, in])", () => {
  interface Trajectory {
    x: number[][];
    y: number[][];
    losses: number[];
  }
  const c = fixture<{ cases: Trajectory[] }>('model-trajectories.json').cases[1];
  const build = () => new nn.GPT({ vocabSize: 11, contextLength: 6, embedDim: 8, numHeads: 2, dtype });
  const block = ['ln1', 'attn', 'ln2', 'fc', 'proj'];
  const prefixes = Object.fromEntries(block.map((b) => [`${b}.`, `blocks.0.${b}.`]));
  const loss = (gpt: nn.GPT) =>
    noGrad(() => losses.crossEntropy(gpt.forward(tensor(c.x, { dtype })).reshape(-1, 11), c.y.flat()).item());

  test("renamed by prefix or by a function, it gives PyTorch's first loss", () => {
    const a = build();
    loadSafetensors(a, fixtureBytes('torch-gpt.safetensors'), { rename: prefixes });
    assertClose(loss(a), c.losses[0], { rel: REL, what: 'loss (prefixes)' });
    const b = build();
    const top = /^(tok|pos|lnf|head)\./;
    loadSafetensors(b, fixtureBytes('torch-gpt.safetensors'), {
      rename: (n) => (top.test(n) ? n : `blocks.0.${n}`),
    });
    assert.deepEqual(
      Object.values(b.stateDict()).map((t) => Array.from(t.data)),
      Object.values(a.stateDict()).map((t) => Array.from(t.data)),
    );
  });

  test('without the renaming, the missing and unexpected keys are named, and nothing is loaded', () => {
    const gpt = build();
    const before = Array.from(gpt.tok.weight.data);
    assert.throws(
      () => loadSafetensors(gpt, fixtureBytes('torch-gpt.safetensors'), { source: 'gpt.safetensors' }),
      (e: Error) =>
        e instanceof SafetensorsError &&
        e.message.startsWith('gpt.safetensors: the tensors do not match the model: missing ') &&
        e.message.includes("'blocks.0.ln1.weight'") &&
        /unexpected 'ln1\.weight', 'ln1\.bias', 'attn\.in_proj_weight'/.test(e.message),
    );
    assert.deepEqual(Array.from(gpt.tok.weight.data), before);
  });
});

describe('wrong files are named by key and shape', () => {
  test('an LSTM file into a GRU: the shape, with the file name', () => {
    assert.throws(
      () =>
        loadSafetensors(
          new nn.GRU(3, 5, { batchFirst: true, dtype }),
          fixtureBytes('torch-lstm.safetensors'),
          {
            source: 'lstm.safetensors',
          },
        ),
      /^SafetensorsError: lstm\.safetensors: tensor 'weight_ih_l0' has shape \[20, 3\], but the model expects \[15, 3\]$/,
    );
  });

  test("a two-layer file into one layer: layer 1's tensors are unexpected", () => {
    assert.throws(
      () => loadSafetensors(new nn.LSTM(3, 4, { dtype }), fixtureBytes('torch-lstm2.safetensors')),
      /unexpected 'weight_ih_l1', 'weight_hh_l1', 'bias_ih_l1', 'bias_hh_l1'/,
    );
  });

  test('a renamed tensor is named as the file has it and as the model reads it', () => {
    const model = new nn.Sequential(new nn.LSTM(3, 5, { batchFirst: true, dtype }), new nn.LastStep());
    assert.throws(
      () => loadSafetensors(model, fixtureBytes('torch-lstm.safetensors'), { rename: { '': '1.' } }),
      /missing '0\.weight_ih_l0'.*; unexpected 'weight_ih_l0' \(read as '1\.weight_ih_l0'\)/,
    );
    assert.throws(
      () => loadSafetensors(model, fixtureBytes('torch-lstm.safetensors'), { rename: () => 'same' }),
      /tensors 'weight_ih_l0' and 'weight_hh_l0' are both renamed 'same'/,
    );
    loadSafetensors(model, fixtureBytes('torch-lstm.safetensors'), { rename: { '': '0.' } });
  });
});

describe('chainrule import of a PyTorch nn.LSTM (--arch, --rename)', () => {
  let dir = '';
  const cli = (args: string[]) => runCli(args, dir);
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'chainrule-st-seq-'));
    copyFileSync(
      new URL('./fixtures/torch-lstm.safetensors', import.meta.url),
      join(dir, 'lstm.safetensors'),
    );
    const lstm = { type: 'lstm', in: 3, hidden: 5, layers: 1, bias: true, bidirectional: false, dropout: 0 };
    writeFileSync(join(dir, 'arch.json'), JSON.stringify({ type: 'sequential', layers: [lstm] }));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("the model file gives PyTorch's output within 1e-10", async () => {
    const r = await cli([
      'import',
      'lstm.safetensors',
      '--arch',
      'arch.json',
      '--rename',
      '=0.',
      '--out',
      'lstm.json',
    ]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /wrote lstm\.json: float64, 200 parameters/);
    const { model } = loadModel(parseModelFile(readFileSync(join(dir, 'lstm.json'), 'utf8'), 'lstm.json'));
    const c = named('LSTM(3, 5, batch_first=True)');
    const out = noGrad(() => model.forward(tensor(c.input, { dtype })));
    assertClose(out, c.output, { rel: REL, abs: ABS, what: 'output' });
  });

  test("the help's forecaster: fields lstm and head load with --rename 'lstm.=0.,head.=2.', bit for bit", async () => {
    const spec = recurrentForecasterSpec({ hidden: 4, cell: 'gru' });
    const model = fromSpec(spec, { dtype, rng: new random.RandomState(5) });
    // The file a PyTorch module with fields `lstm` and `head` would save: chainrule's tensors, renamed.
    const file = parseSafetensors(toSafetensors(model));
    const torchNames = Object.fromEntries(
      [...file.tensors].map(([n, t]) => [
        n.replace(/^0\./, 'lstm.').replace(/^2\./, 'head.'),
        { shape: t.shape, data: new Float64Array(t.data.slice().buffer) },
      ]),
    );
    assert.ok('head.weight' in torchNames && 'lstm.weight_ih_l0' in torchNames);
    writeFileSync(join(dir, 'forecaster.safetensors'), encodeSafetensors(torchNames));
    writeFileSync(join(dir, 'forecaster.json'), JSON.stringify(spec));
    const r = await cli([
      'import',
      'forecaster.safetensors',
      '--arch',
      'forecaster.json',
      '--rename',
      'lstm.=0.,head.=2.',
      '--out',
      'f.json',
    ]);
    assert.equal(r.code, 0, r.err);
    const { model: back } = loadModel(parseModelFile(readFileSync(join(dir, 'f.json'), 'utf8'), 'f.json'));
    const x = tensor([0.1, -0.4, 0.3, 0.9, -0.2, 0.5], { shape: [2, 3, 1], dtype });
    const [a, b] = noGrad(() => [model.eval().forward(x), back.forward(x)]);
    assert.deepEqual(Array.from(b.data), Array.from(a.data));
  });

  test('without --rename the keys are named; a bad --rename is refused (exit 2, nothing written)', async () => {
    const a = await cli(['import', 'lstm.safetensors', '--arch', 'arch.json', '--out', 'a.json']);
    assert.equal(a.code, 2);
    assert.match(a.err, /lstm\.safetensors: the tensors do not match the model: missing '0\.weight_ih_l0'/);
    assert.match(a.err, /unexpected 'weight_ih_l0'/);
    const b = await cli([
      'import',
      'lstm.safetensors',
      '--arch',
      'arch.json',
      '--rename',
      'lstm.',
      '--out',
      'b.json',
    ]);
    assert.equal(b.code, 2);
    assert.match(b.err, /--rename: expected from=to pairs separated by commas, got 'lstm\.'/);
    assert.ok(!existsSync(join(dir, 'a.json')) && !existsSync(join(dir, 'b.json')));
  });
});
