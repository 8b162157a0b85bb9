// chainrule export / import end to end: a model trained by `chainrule train` exports to ONNX, and
// onnxruntime, fed the raw CSV values by the documented contract, gives what `chainrule predict` prints;
// safetensors go out and come back bit for bit; PyTorch's fixture imports; bad input exits 2 with a message.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { helpText, parseCommand, type CommandSpec, type Flags } from '../cli/args.js';
import { exportCommand, exportSpec } from '../cli/commands/export.js';
import { importCommand, importSpec } from '../cli/commands/import.js';
import { UserError } from '../cli/errors.js';
import type { IO } from '../cli/io.js';
import { main } from '../cli/main.js';
import { PreprocessError, type Preprocessing } from '../src/data/preprocess.js';
import { ModelFileError, modelFromJSON, parseModelFile } from '../src/io/modelfile.js';
import { noGrad, tensor } from '../src/index.js';
import { assertClose } from './helpers/close.js';
import { fixture, fixtureBytes, flat } from './helpers/fixtures.js';

interface Captured {
  code: number;
  out: string;
  err: string;
}

let dir = '';

function captureIO(): { io: IO; result: () => { out: string; err: string } } {
  let out = '';
  let err = '';
  const io: IO = {
    out: (t) => void (out += t),
    err: (t) => void (err += t),
    isTTY: false,
    columns: 100,
    cwd: dir,
  };
  return { io, result: () => ({ out, err }) };
}

type Run = (flags: Flags, positionals: string[], io: IO) => Promise<number>;

/** Run a command as cli/main.ts does: parse its flags, turn bad-input errors into messages and exit 2. */
async function command(spec: CommandSpec, run: Run, argv: string[]): Promise<Captured> {
  const { io, result } = captureIO();
  let code: number;
  try {
    const parsed = parseCommand(spec, argv);
    if (parsed.help) {
      io.out(helpText(spec));
      code = 0;
    } else code = await run(parsed.flags, parsed.positionals, io);
  } catch (e) {
    if (e instanceof UserError) {
      io.err(`chainrule: ${e.message}\n`);
      code = e.exitCode;
    } else if (e instanceof ModelFileError || e instanceof PreprocessError) {
      io.err(`chainrule: ${e.message}\n`);
      code = 2;
    } else throw e;
  }
  return { code, ...result() };
}

const exportCli = (...argv: string[]) => command(exportSpec, exportCommand, argv);
const importCli = (...argv: string[]) => command(importSpec, importCommand, argv);

async function chainrule(...argv: string[]): Promise<Captured> {
  const { io, result } = captureIO();
  const code = await main(argv, io);
  return { code, ...result() };
}

/** A CSV with text and number columns interleaved, so the ONNX graph must reorder its inputs. */
function writeShopCsv(name: string, target: 'kind' | 'price'): void {
  const lines = [`color,weight,size,height,${target}`];
  for (let i = 0; i < 120; i++) {
    const color = ['red', 'green', 'blue'][i % 3];
    const size = ['S', 'M', 'L', 'XL'][(i * 7) % 4];
    const weight = 20 + ((i * 37) % 60) + 0.25 * (i % 4);
    const height = 150 + ((i * 13) % 40);
    const value =
      target === 'kind'
        ? ['cat', 'dog', 'emu'][(weight > 50 ? 1 : 0) + (color === 'blue' ? 1 : 0)]
        : String(3 * weight - 0.5 * height + (size === 'XL' ? 40 : 0));
    lines.push(`${color},${weight},${size},${height},${value}`);
  }
  writeFileSync(join(dir, name), lines.join('\n') + '\n');
}

/** A CSV's rows as records of strings. */
function readCsv(text: string): Record<string, string>[] {
  const [head, ...rows] = text.trim().split(/\r?\n/);
  const names = head.split(',');
  return rows.map((line) => Object.fromEntries(line.split(',').map((v, i) => [names[i], v])));
}

/** The ONNX feeds of CSV rows, by the contract `chainrule export --help` documents. */
function feeds(
  pre: Preprocessing,
  rows: Record<string, string>[],
  dtype: string,
): Record<string, ort.Tensor> {
  const numeric = pre.features.filter((f) => f.kind === 'numeric');
  const text = pre.features.flatMap((f) => (f.kind === 'categorical' ? [f] : []));
  const n = rows.length;
  const values = rows.flatMap((r) => numeric.map((f) => Number(r[f.name])));
  const out: Record<string, ort.Tensor> = {
    features: new ort.Tensor(
      dtype === 'float64' ? 'float64' : 'float32',
      dtype === 'float64' ? Float64Array.from(values) : Float32Array.from(values),
      [n, numeric.length],
    ),
  };
  const indices = rows.flatMap((r) => text.map((f) => BigInt(f.categories.indexOf(r[f.name]))));
  out.categories = new ort.Tensor('int64', BigInt64Array.from(indices), [n, text.length]);
  return out;
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'chainrule-interop-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('chainrule export --onnx', () => {
  for (const dtype of ['float32', 'float64'])
    test(`a trained classifier (${dtype}): onnxruntime on raw values gives what chainrule predict prints`, async () => {
      writeShopCsv('shop.csv', 'kind');
      const model = `shop-${dtype}.json`;
      const t = await chainrule(
        'train',
        '--data',
        'shop.csv',
        '--layers',
        '8',
        '--activation',
        'tanh',
        '--epochs',
        '5',
        '--dtype',
        dtype,
        '--seed',
        '1',
        '--quiet',
        '--out',
        model,
      );
      assert.equal(t.code, 0, t.err);
      const p = await chainrule('predict', '--model', model, '--data', 'shop.csv');
      assert.equal(p.code, 0, p.err);
      const predicted = readCsv(p.out);

      const r = await exportCli(model, '--onnx', 'shop.onnx');
      assert.equal(r.code, 0, r.err);
      assert.match(r.out, /wrote shop\.onnx: ONNX \(IR 8, opset 17\)/);
      assert.match(r.out, new RegExp(`features +${dtype} +\\[batch, 2\\] +numeric columns.*weight, height`));
      assert.match(
        r.out,
        /categories +int64 +\[batch, 2\] +category index.*color \(0=red, 1=green, 2=blue\); size/,
      );
      assert.match(
        r.out,
        new RegExp(`probabilities +${dtype} +\\[batch, 3\\] +softmax over the classes: cat, dog, emu`),
      );
      assert.match(r.out, /label +int64 +\[batch\]/);

      const pre = parseModelFile(readFileSync(join(dir, model), 'utf8')).preprocessing as Preprocessing;
      const rows = readCsv(readFileSync(join(dir, 'shop.csv'), 'utf8'));
      const s = await ort.InferenceSession.create(readFileSync(join(dir, 'shop.onnx')));
      const out = await s.run(feeds(pre, rows, dtype));
      const classes = ['cat', 'dog', 'emu'];
      const expected = predicted.flatMap((row) => classes.map((c) => Number(row[`p_${c}`])));
      assertClose(out.probabilities.data as Float32Array, expected, {
        rel: 1e-5,
        abs: 1e-7,
        what: 'probabilities',
      });
      assert.deepEqual(
        Array.from(out.label.data as BigInt64Array, (i) => classes[Number(i)]),
        predicted.map((row) => row.predicted_kind),
      );
    });

  test('--activation silu end to end: onnxruntime (float64) matches predict; PyTorch gets nn.SiLU()', async () => {
    writeShopCsv('shop-silu.csv', 'kind');
    const t = await chainrule(
      'train',
      ...['--data', 'shop-silu.csv', '--layers', '8,4', '--activation', 'silu', '--epochs', '5'],
      ...['--dtype', 'float64', '--seed', '3', '--quiet', '--out', 'silu.json'],
    );
    assert.equal(t.code, 0, t.err);
    const file = parseModelFile(readFileSync(join(dir, 'silu.json'), 'utf8'));
    assert.deepEqual(
      file.architecture.layers.map((l) => l.type),
      ['linear', 'silu', 'linear', 'silu', 'linear'],
    );
    const p = await chainrule('predict', '--model', 'silu.json', '--data', 'shop-silu.csv');
    assert.equal(p.code, 0, p.err);
    const predicted = readCsv(p.out);
    assert.equal((await exportCli('silu.json', '--onnx', 'silu.onnx')).code, 0);
    const rows = readCsv(readFileSync(join(dir, 'shop-silu.csv'), 'utf8'));
    const s = await ort.InferenceSession.create(readFileSync(join(dir, 'silu.onnx')));
    const out = await s.run(feeds(file.preprocessing as Preprocessing, rows, 'float64'));
    const classes = ['cat', 'dog', 'emu'];
    assertClose(
      out.probabilities.data as Float64Array,
      predicted.flatMap((row) => classes.map((c) => Number(row[`p_${c}`]))),
      { rel: 1e-5, abs: 1e-7, what: 'probabilities' },
    );
    const r = await exportCli('silu.json', '--safetensors', 'silu.safetensors');
    assert.equal(r.code, 0, r.err);
    assert.match(
      r.out,
      /nn\.Sequential\(nn\.Linear\(9, 8\), nn\.SiLU\(\), nn\.Linear\(8, 4\), nn\.SiLU\(\), nn\.Linear\(4, 3\)\)\.double\(\)/,
    );
  });

  test('a trained regressor: prediction in the target’s units, as chainrule predict', async () => {
    writeShopCsv('prices.csv', 'price');
    const t = await chainrule(
      'train',
      '--data',
      'prices.csv',
      '--layers',
      '6',
      '--activation',
      'gelu',
      '--epochs',
      '5',
      '--seed',
      '2',
      '--quiet',
      '--out',
      'prices.json',
    );
    assert.equal(t.code, 0, t.err);
    const p = await chainrule('predict', '--model', 'prices.json', '--data', 'prices.csv');
    assert.equal(p.code, 0, p.err);
    const r = await exportCli('prices.json', '--onnx', 'prices.onnx');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /prediction +float32 +\[batch, 1\] +price, in its own units/);
    const pre = parseModelFile(readFileSync(join(dir, 'prices.json'), 'utf8')).preprocessing as Preprocessing;
    const s = await ort.InferenceSession.create(readFileSync(join(dir, 'prices.onnx')));
    const out = await s.run(feeds(pre, readCsv(readFileSync(join(dir, 'prices.csv'), 'utf8')), 'float32'));
    const expected = readCsv(p.out).map((row) => Number(row.predicted_price));
    assertClose(out.prediction.data as Float32Array, expected, { rel: 1e-5, abs: 1e-4, what: 'prediction' });
  });

  test('--bare exports the network alone: input → output', async () => {
    const r = await exportCli('shop-float32.json', '--onnx', 'bare.onnx', '--bare');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /network only \(--bare\)/);
    assert.match(r.out, /input +float32 +\[batch, 9\]/);
    assert.match(r.out, /output +float32 +\[batch, 3\]/);
    const s = await ort.InferenceSession.create(readFileSync(join(dir, 'bare.onnx')));
    assert.deepEqual(s.inputNames, ['input']);
  });

  test('help documents the input contract; usage errors exit 2 with a message', async () => {
    const h = await exportCli('--help');
    assert.equal(h.code, 0);
    assert.match(h.out, /features +\[batch, N\] float/);
    assert.match(h.out, /categories +\[batch, M\] int64/);
    assert.match(h.out, /probabilities/);
    let r = await exportCli('shop-float32.json');
    assert.equal(r.code, 2);
    assert.match(r.err, /nothing to write: give --onnx <file>, --safetensors <file>, or both/);
    r = await exportCli('--onnx', 'x.onnx');
    assert.equal(r.code, 2);
    assert.match(r.err, /which model file\?/);
    r = await exportCli('missing.json', '--onnx', 'x.onnx');
    assert.equal(r.code, 2);
    assert.match(r.err, /cannot read model file '.*missing\.json': no such file/);
    writeFileSync(join(dir, 'junk.json'), '{"format": "something"}');
    r = await exportCli('junk.json', '--onnx', 'x.onnx');
    assert.equal(r.code, 2);
    assert.match(r.err, /junk\.json: not a chainrule model file/);
    r = await exportCli('shop-float32.json', '--onnx', join('no-such-folder', 'x.onnx'));
    assert.equal(r.code, 2);
    assert.match(r.err, /cannot write ONNX file .*the folder .* does not exist/);
    assert.equal(existsSync(join(dir, 'x.onnx')), false);
  });
});

describe('chainrule export --safetensors and chainrule import', () => {
  test('export then import gives back the same weights, bit for bit, and the same architecture', async () => {
    const r = await exportCli('shop-float64.json', '--safetensors', 'shop.safetensors');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /wrote shop\.safetensors: 4 tensors \(F64\)/);
    assert.match(
      r.out,
      /model = nn\.Sequential\(nn\.Linear\(9, 8\), nn\.Tanh\(\), nn\.Linear\(8, 3\)\)\.double\(\)/,
    );
    assert.match(r.out, /model\.load_state_dict\(safetensors\.torch\.load_file\("shop\.safetensors"\)\)/);

    const i = await importCli('shop.safetensors', '--out', 'back.json');
    assert.equal(i.code, 0, i.err);
    assert.match(i.out, /read 4 tensors from shop\.safetensors, architecture from the architecture recorded/);
    assert.match(i.out, /wrote back\.json: float64, 107 parameters, no preprocessing/);
    const original = parseModelFile(readFileSync(join(dir, 'shop-float64.json'), 'utf8'));
    const back = parseModelFile(readFileSync(join(dir, 'back.json'), 'utf8'));
    assert.deepEqual(back.weights, original.weights);
    assert.deepEqual(back.architecture, original.architecture);
    assert.equal(back.dtype, 'float64');
    assert.equal(back.preprocessing, null);

    // Flags override the record: --activation relu gives a different network on the same weights.
    const f = await importCli(
      'shop.safetensors',
      '--activation',
      'relu',
      '--dtype',
      'float32',
      '--out',
      'relu.json',
    );
    assert.equal(f.code, 0, f.err);
    const relu = parseModelFile(readFileSync(join(dir, 'relu.json'), 'utf8'));
    assert.deepEqual(relu.architecture.layers[1], { type: 'relu' });
    assert.equal(relu.dtype, 'float32');
  });

  test("PyTorch's torch-mlp.safetensors imports and reproduces PyTorch's outputs", async () => {
    const torch = fixture<{ inputs: number[][]; logits: number[][] }>('torch-mlp.json');
    const src = join(dir, 'torch-mlp.safetensors');
    writeFileSync(src, fixtureBytes('torch-mlp.safetensors'));
    const r = await importCli(
      'torch-mlp.safetensors',
      '--layers',
      '16,8',
      '--activation',
      'relu,tanh',
      '--dtype',
      'float64',
      '--out',
      'torch.json',
    );
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /architecture from the tensors:/);
    assert.match(r.out, /\(0\): Linear\(4 → 16\)/);
    const { model } = modelFromJSON(readFileSync(join(dir, 'torch.json'), 'utf8'), 'torch.json');
    const logits = noGrad(() => model.forward(tensor(torch.inputs, { dtype: 'float64' })));
    assertClose(logits.data, flat(torch.logits), { rel: 1e-12, what: 'logits' });
  });

  test("chainrule predict runs an imported model on raw columns: PyTorch's logits as output_0..2", async () => {
    const torch = fixture<{ inputs: number[][]; logits: number[][] }>('torch-mlp.json');
    // torch.json (float64, relu then tanh) from the test above.
    const rows = torch.inputs.map((r, i) => [String(i + 10), ...r.map(String)].join(','));
    writeFileSync(join(dir, 'torch-inputs.csv'), ['id,a,b,c,d', ...rows].join('\n') + '\n');
    const p = await chainrule('predict', '--model', 'torch.json', '--data', 'torch-inputs.csv');
    assert.equal(p.code, 0, p.err);
    const lines = p.out.trim().split('\n');
    assert.equal(lines[0], 'id,output_0,output_1,output_2');
    assert.deepEqual(
      lines.slice(1).map((l) => l.split(',')[0]),
      torch.inputs.map((_, i) => String(i + 10)),
    );
    const got = lines.slice(1).flatMap((l) => l.split(',').slice(1).map(Number));
    assertClose(got, flat(torch.logits), { rel: 1e-12, what: 'predict on imported weights' });

    // The wrong number of columns, or text: what predict feeds the network, and what to do.
    writeFileSync(join(dir, 'torch-short.csv'), 'a,b,c\n1,2,3\n');
    let r = await chainrule('predict', '--model', 'torch.json', '--data', 'torch-short.csv');
    assert.equal(r.code, 2);
    assert.match(
      r.err,
      /torch\.json has no preprocessing \(imported weights\), so predict feeds the network the columns of torch-short\.csv as they are .*: the network takes 4 inputs, the file has 3 columns \(a, b, c\)/,
    );
    writeFileSync(join(dir, 'torch-text.csv'), 'a,b,c,d\n1,2,3,x\n');
    r = await chainrule('predict', '--model', 'torch.json', '--data', 'torch-text.csv');
    assert.equal(r.code, 2);
    assert.match(r.err, /they must be numbers; column d holds text/);
    // eval needs a target's encoding, which imported weights do not have: it says so, and what works.
    r = await chainrule('eval', '--model', 'torch.json', '--data', 'torch-inputs.csv');
    assert.equal(r.code, 2);
    assert.match(
      r.err,
      /has no preprocessing .*\n +chainrule predict runs such a model on a CSV of its raw inputs/,
    );
  });

  test('bad input exits 2 with a message naming the file, and writes nothing', async () => {
    const before = readdirSync(dir).length;
    let r = await importCli('torch-mlp.safetensors', '--layers', '16,4', '--out', 'x.json');
    assert.equal(r.code, 2);
    assert.match(
      r.err,
      /torch-mlp\.safetensors: the hidden sizes were given as 16,4, but the tensors have 16,8/,
    );
    r = await importCli('torch-mlp.safetensors', '--activation', 'rleu', '--out', 'x.json');
    assert.equal(r.code, 2);
    assert.match(r.err, /--activation: expected one of .* got 'rleu' \(did you mean 'relu'\?\)/);
    r = await importCli('torch-mlp.safetensors');
    assert.equal(r.code, 2);
    assert.match(r.err, /--out is required/);
    r = await importCli('nothing.safetensors', '--out', 'x.json');
    assert.equal(r.code, 2);
    assert.match(r.err, /cannot read safetensors file 'nothing\.safetensors': no such file/);
    r = await importCli('shop.csv', '--out', 'x.json');
    assert.equal(r.code, 2);
    assert.match(r.err, /shop\.csv: header length \d+ is over the limit/);
    r = await importCli('--dtype', 'float16', 'torch-mlp.safetensors', '--out', 'x.json');
    assert.equal(r.code, 2);
    assert.match(r.err, /--dtype: expected one of float32, float64/);
    assert.equal(readdirSync(dir).length, before);
    const h = await importCli('--help');
    assert.match(h.out, /--activation <names> +Activation after the hidden layers/);
  });
});
