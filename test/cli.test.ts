// The command line end to end: help, training on built-in and CSV data, eval/predict/info, model files,
// resume, progress modes, and kind errors (exit codes, messages naming file/line/flag, no stack traces).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { main } from '../cli/main.js';
import type { IO } from '../cli/io.js';
import { modelFromJSON } from '../src/io/modelfile.js';

const run = promisify(execFile);

interface Captured {
  code: number;
  out: string;
  err: string;
}

let dir = '';

async function cli(args: string[], options: { tty?: boolean; signal?: AbortSignal } = {}): Promise<Captured> {
  let out = '';
  let err = '';
  const io: IO = {
    out: (t) => void (out += t),
    err: (t) => void (err += t),
    isTTY: options.tty ?? false,
    columns: 100,
    cwd: dir,
    ...(options.signal ? { signal: options.signal } : {}),
  };
  const code = await main(args, io);
  return { code, out, err };
}

/** The real process, for what only a process shows: exit status and the absence of stack traces. */
async function spawnCli(args: string[]): Promise<Captured> {
  try {
    const tsx = import.meta.resolve('tsx');
    const main = new URL('../cli/main.ts', import.meta.url).pathname;
    const r = await run(process.execPath, ['--import', tsx, main, ...args], { cwd: dir });
    return { code: 0, out: r.stdout, err: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, out: x.stdout, err: x.stderr };
  }
}

function weightsOf(path: string): Record<string, unknown> {
  return (JSON.parse(readFileSync(join(dir, path), 'utf8')) as { weights: Record<string, unknown> }).weights;
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'chainrule-cli-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('help and usage errors', () => {
  test('chainrule --help lists the commands; each command has --help', async () => {
    const r = await cli(['--help']);
    assert.equal(r.code, 0);
    for (const c of ['demo', 'train', 'eval', 'predict', 'info'])
      assert.match(r.out, new RegExp(`\\n  ${c} `));
    for (const c of ['demo', 'train', 'eval', 'predict', 'info']) {
      const h = await cli([c, '--help']);
      assert.equal(h.code, 0);
      assert.match(h.out, /Usage: chainrule/);
    }
    assert.match((await cli(['train', '--help'])).out, /--checkpoint-every <N>/);
  });

  test('unknown commands and flags are named, with a suggestion, exit 2', async () => {
    let r = await cli(['trian']);
    assert.equal(r.code, 2);
    assert.match(r.err, /unknown command 'trian' \(did you mean 'train'\?\)/);
    r = await cli(['train', '--data', 'iris', '--epoch', '3']);
    assert.equal(r.code, 2);
    assert.match(r.err, /unknown flag --epoch \(did you mean --epochs\?\)/);
    r = await cli(['train', '--data', 'iris', '--lr', 'fast']);
    assert.equal(r.code, 2);
    assert.match(r.err, /train: --lr: expected a number, got 'fast'/);
    r = await cli(['train', '--data', 'iris', '--optimizer', 'adma']);
    assert.match(r.err, /--optimizer: expected one of .*, got 'adma' \(did you mean 'adam'\?\)/);
    r = await cli(['train', '--data', 'iris', '--layers', '64,x']);
    assert.match(r.err, /--layers: expected positive integers separated by commas/);
    r = await cli(['train']);
    assert.match(r.err, /--data is required/);
    r = await cli(['train', '--data', 'irsi']);
    assert.match(r.err, /'irsi' is neither a file nor a built-in dataset \(did you mean 'iris'\?\)/);
  });
});

describe('demo', () => {
  test('chainrule demo prints the seed notebook run, corrected; demo xor learns XOR', async () => {
    const r = await cli(['demo']);
    assert.equal(r.code, 0, r.err);
    const lines = r.out.trim().split('\n');
    assert.equal(lines.length, 11);
    assert.equal(lines[0], 'Epoch [10/100], Loss: 0.02485126664885399');
    assert.match(lines[10], /the notebook printed 0\.024850926922809005/i);
    const x = await cli(['demo', 'xor']);
    assert.equal(x.code, 0, x.err);
    assert.match(x.err, /epoch 300\/300 .*acc 100\.0%/);
    assert.equal((await cli(['demo', 'spirl'])).code, 2);
  });
});

describe('train, info, eval, predict on iris', () => {
  test('a new user gets a good model on iris without touching a flag', async () => {
    const r = await cli(['train', '--data', 'iris', '--out', 'iris.json']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /classification \(target 'species' has 3 classes/);
    assert.match(r.err, /saved iris\.json/);
    const lines = r.err.split('\n').filter((l) => l.startsWith('epoch'));
    assert.ok(lines.length >= 5);
    const valAcc = Number(/val_acc ([\d.]+)%/.exec(lines.at(-1)!)![1]);
    assert.ok(valAcc >= 90, `validation accuracy ${valAcc}%`);
  });

  test('info describes the model file', async () => {
    const r = await cli(['info', 'iris.json']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /task: classification, dtype float32/);
    assert.match(r.out, /Linear\(4 → 64\)/);
    assert.match(r.out, /petal_length: numeric, standardized: \(x − 3\.7\d*\) \/ 1\.7\d*/);
    assert.match(r.out, /target species: 3 classes \(setosa, versicolor, virginica\)/);
    assert.match(r.out, /seed 0/);
  });

  test('eval prints accuracy and a confusion matrix; predict writes ids, classes and probabilities', async () => {
    const rows = [
      'sepal_length,sepal_width,petal_length,petal_width,species',
      '5.1,3.5,1.4,0.2,setosa',
      '6.7,3.0,5.2,2.3,virginica',
      '5.9,3.0,4.2,1.5,versicolor',
    ];
    writeFileSync(join(dir, 'few.csv'), rows.join('\n') + '\n');
    const e = await cli(['eval', '--model', 'iris.json', '--data', 'few.csv']);
    assert.equal(e.code, 0, e.err);
    assert.match(e.out, /accuracy 100\.0%/);
    assert.match(e.out, /true \\ predicted/);
    // Without the target column, columns in another order: predict matches by name.
    writeFileSync(
      join(dir, 'new.csv'),
      'petal_width,petal_length,sepal_width,sepal_length\n0.2,1.4,3.5,5.1\n2.3,5.2,3.0,6.7\n',
    );
    const p = await cli(['predict', '--model', 'iris.json', '--data', 'new.csv']);
    assert.equal(p.code, 0, p.err);
    const [header, first, second] = p.out.trim().split(/\r?\n/);
    assert.equal(header, 'row,predicted_species,p_setosa,p_versicolor,p_virginica');
    assert.match(first, /^1,setosa,/);
    assert.match(second, /^2,virginica,/);
    const probs = first.split(',').slice(2).map(Number);
    assert.ok(Math.abs(probs.reduce((a, b) => a + b, 0) - 1) < 1e-6);
    const o = await cli(['predict', '--model', 'iris.json', '--data', 'new.csv', '--out', 'preds.csv']);
    assert.equal(o.code, 0);
    assert.equal(readFileSync(join(dir, 'preds.csv'), 'utf8'), p.out);
  });

  test('--json prints one JSON object per epoch on stdout; --plot writes an SVG', async () => {
    const r = await cli([
      'train',
      '--data',
      'iris',
      '--epochs',
      '3',
      '--json',
      '--out',
      'j.json',
      '--plot',
      'loss.svg',
    ]);
    assert.equal(r.code, 0, r.err);
    const logs = r.out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { epoch: number; loss: number; valLoss: number });
    assert.deepEqual(
      logs.map((l) => l.epoch),
      [1, 2, 3],
    );
    assert.ok(logs.every((l) => Number.isFinite(l.loss) && Number.isFinite(l.valLoss)));
    const svg = readFileSync(join(dir, 'loss.svg'), 'utf8');
    assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    assert.equal((svg.match(/<polyline/g) ?? []).length, 2);
  });

  test('on a terminal the progress bar is drawn and replaced by the epoch line', async () => {
    const r = await cli(['train', '--data', 'iris', '--epochs', '2', '--out', 't.json'], { tty: true });
    assert.equal(r.code, 0, r.err);
    assert.ok(r.err.includes('\r\x1b[2Kepoch 1/2 '), 'bar redrawn in place');
    assert.match(r.err, /epoch 1\/2 [█░]+ \d+\/\d+ {2}loss/);
    assert.match(r.err, /samples\/s {2}ETA/);
    assert.ok(r.err.includes('\r\x1b[2Kepoch 2/2  loss'), 'the bar is replaced by the summary line');
  });
});

describe('regression from a CSV', () => {
  test('train infers regression, eval reports MSE, MAE and R²', async () => {
    const lines = ['size,rooms,city,price'];
    for (let i = 0; i < 200; i++) {
      const size = 40 + ((i * 37) % 120);
      const rooms = 1 + (i % 5);
      const city = ['north', 'south', 'east'][i % 3];
      const price = 2 * size + 10 * rooms + (city === 'south' ? 30 : 0) + ((i * 13) % 7) - 3;
      lines.push(`${size},${rooms},${city},${price}`);
    }
    writeFileSync(join(dir, 'houses.csv'), lines.join('\r\n'));
    const r = await cli(['train', '--data', 'houses.csv', '--epochs', '60', '--out', 'houses.json']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /regression \(target 'price' is numeric/);
    const e = await cli(['eval', '--model', 'houses.json', '--data', 'houses.csv', '--json']);
    assert.equal(e.code, 0, e.err);
    const m = JSON.parse(e.out) as { mse: number; mae: number; r2: number };
    assert.ok(m.r2 > 0.9, `R² ${m.r2}`);
    assert.ok(m.mae < 20);
  });
});

describe('checkpoints and resume', () => {
  test('4 epochs straight and 2 + resume + 2 give bit-identical weights', async () => {
    const common = ['--data', 'iris', '--layers', '8', '--seed', '3', '--batch-size', '16', '--quiet'];
    const a = await cli(['train', ...common, '--epochs', '4', '--out', 'straight.json']);
    assert.equal(a.code, 0, a.err);
    const b = await cli([
      'train',
      ...common,
      '--epochs',
      '2',
      '--checkpoint-every',
      '2',
      '--out',
      'split.json',
    ]);
    assert.equal(b.code, 0, b.err);
    assert.ok(existsSync(join(dir, 'split.ckpt.json')));
    const c = await cli(['train', '--resume', 'split.ckpt.json', '--epochs', '4', '--quiet']);
    assert.equal(c.code, 0, c.err);
    assert.deepEqual(weightsOf('split.json'), weightsOf('straight.json'));
  });

  test("--lr given with --resume replaces the checkpoint's learning rate", async () => {
    const common = ['--data', 'iris', '--layers', '8', '--seed', '3', '--quiet'];
    const a = await cli(['train', ...common, '--epochs', '2', '--checkpoint-every', '2', '--out', 'lr.json']);
    assert.equal(a.code, 0, a.err);
    const params = () =>
      modelFromJSON(readFileSync(join(dir, 'lr.json'), 'utf8'))
        .model.parameters()
        .map((p) => Array.from(p.data));
    const before = params();
    // With a learning rate of 1e-12 two more epochs leave the weights where the checkpoint had them.
    const b = await cli(['train', '--resume', 'lr.ckpt.json', '--epochs', '4', '--lr', '1e-12', '--quiet']);
    assert.equal(b.code, 0, b.err);
    const after = params();
    before.forEach((w, k) =>
      w.forEach((v, i) => assert.ok(Math.abs(after[k][i] - v) < 1e-6, `${k}[${i}] moved`)),
    );
    const doc = JSON.parse(readFileSync(join(dir, 'lr.json'), 'utf8'));
    assert.equal(doc.training.settings.lr, 1e-12);
    assert.match(doc.training.kernels, /^(wasm-simd|reference)/);
  });

  test('an interrupted run saves a checkpoint, exits 130, and resumes', async () => {
    const ac = new AbortController();
    let seen = 0;
    const io: IO = {
      out: () => {},
      err: (t) => {
        if (t.startsWith('epoch') && ++seen === 2) ac.abort();
      },
      isTTY: false,
      columns: 80,
      cwd: dir,
      signal: ac.signal,
    };
    const code = await main(['train', '--data', 'iris', '--epochs', '50', '--out', 'int.json'], io);
    assert.equal(code, 130);
    assert.ok(existsSync(join(dir, 'int.ckpt.json')));
    assert.ok(!existsSync(join(dir, 'int.json')));
    const r = await cli(['train', '--resume', 'int.ckpt.json', '--epochs', '4']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /resuming after epoch 2/);
    assert.match(r.err, /epoch 3\/4/);
  });
});

describe('kind errors', () => {
  test('a bad CHAINRULE_THREADS or CHAINRULE_KERNELS names the variable and exits 2', async () => {
    for (const [name, value] of [
      ['CHAINRULE_THREADS', '0'],
      ['CHAINRULE_THREADS', 'many'],
      ['CHAINRULE_KERNELS', 'gpu'],
    ]) {
      const saved = process.env[name];
      process.env[name] = value;
      try {
        const r = await cli(['train', '--data', 'xor', '--epochs', '1', '--quiet']);
        assert.equal(r.code, 2);
        assert.match(r.err, new RegExp(`${name} must be .*got '${value}'`));
      } finally {
        if (saved === undefined) delete process.env[name];
        else process.env[name] = saved;
      }
    }
  });

  test('a ragged CSV names file and line, exits 2, prints no stack trace', async () => {
    writeFileSync(join(dir, 'bad.csv'), 'a,b,label\n1,2,x\n3,4\n5,6,y\n');
    const r = await spawnCli(['train', '--data', 'bad.csv']);
    assert.equal(r.code, 2);
    assert.match(r.err, /bad\.csv:3: expected 3 fields/);
    assert.doesNotMatch(r.err, /\n\s+at /);
    assert.ok(!existsSync(join(dir, 'model.json')));
  });

  test('a truncated model file is named, exit 2', async () => {
    const text = readFileSync(join(dir, 'iris.json'), 'utf8');
    writeFileSync(join(dir, 'cut.json'), text.slice(0, Math.floor(text.length / 2)));
    const r = await cli(['predict', '--model', 'cut.json', '--data', 'new.csv']);
    assert.equal(r.code, 2);
    assert.match(r.err, /cut\.json/);
    const m = await cli(['info', 'missing.json']);
    assert.equal(m.code, 2);
    assert.match(m.err, /missing\.json/);
  });

  test('an unseen category at predict names column, value and line', async () => {
    const r = await cli(['predict', '--model', 'houses.json', '--data', 'houses-bad.csv']);
    assert.equal(r.code, 2);
    writeFileSync(join(dir, 'houses-bad.csv'), 'size,rooms,city\n50,2,north\n60,3,west\n');
    const p = await cli(['predict', '--model', 'houses.json', '--data', 'houses-bad.csv']);
    assert.equal(p.code, 2);
    assert.match(p.err, /city/);
    assert.match(p.err, /west/);
    assert.match(p.err, /:3/);
  });

  test('a diverging run exits 1 with advice and no stack trace', async () => {
    const r = await spawnCli([
      'train',
      '--data',
      'houses.csv',
      '--optimizer',
      'sgd',
      '--lr',
      '1000',
      '--epochs',
      '20',
      '--out',
      'div.json',
    ]);
    assert.equal(r.code, 1);
    assert.match(r.err, /smaller learning rate/);
    assert.doesNotMatch(r.err, /\n\s+at /);
  });
});

describe('messages that say what is wrong (issue #14)', () => {
  test('a value the scaling turns into NaN is bad input at its file:line and column, not divergence', async () => {
    // Finite numbers, but too large to standardize: their mean overflows.
    const rows = ['a,b,y', ...Array.from({ length: 12 }, (_, i) => `${i},${1 + (i % 3) / 10}e308,${i % 2}`)];
    writeFileSync(join(dir, 'huge.csv'), rows.join('\n') + '\n');
    const r = await cli(['train', '--data', 'huge.csv', '--epochs', '2', '--out', 'huge.json']);
    assert.equal(r.code, 2, r.err);
    assert.match(
      r.err,
      /huge\.csv:\d+: column 'b' holds 1(\.\d)?e\+308, which its scaling .* turns into NaN/,
    );
    assert.match(r.err, /not a learning-rate problem/);
    assert.doesNotMatch(r.err, /diverged|smaller learning rate/);
    assert.ok(!existsSync(join(dir, 'huge.json')));
  });

  test('--epochs -1 and other negative values get the flag own check, not "argument is ambiguous"', async () => {
    let r = await cli(['train', '--data', 'xor', '--epochs', '-1']);
    assert.equal(r.code, 2);
    assert.match(r.err, /train: --epochs: expected a value ≥ 1, got -1/);
    r = await cli(['train', '--data', 'xor', '--lr', '-0.1']);
    assert.match(r.err, /train: --lr: expected a value > 0, got -0\.1/);
    r = await cli(['train', '--data', 'xor', '--out', '-m.json']);
    assert.equal(r.code, 2);
    assert.match(
      r.err,
      /--out needs a value, got '-m\.json', which looks like a flag; if it is the value, write --out=-m\.json/,
    );
    assert.doesNotMatch(r.err, /ambiguous/);
  });

  test('a missing --out or --plot folder is found before the data is read and training starts', async () => {
    for (const [flag, what] of [
      ['--out', 'model file'],
      ['--plot', 'plot'],
    ]) {
      const r = await cli(['train', '--data', 'iris', '--epochs', '200', flag, join('no-such-folder', 'x')]);
      assert.equal(r.code, 2);
      assert.match(
        r.err,
        new RegExp(
          `^chainrule: cannot write ${what} '.*x': the folder '.*no-such-folder' does not exist\\n$`,
        ),
      );
    }
    mkdirSync(join(dir, 'a-folder'), { recursive: true });
    const f = await cli(['train', '--data', 'iris', '--out', 'a-folder']);
    assert.match(
      f.err,
      /^chainrule: cannot write model file '.*a-folder': a folder of that name is in the way\n$/,
    );
  });

  test('losses and other choices in either spelling: --loss crossEntropy, --activation leaky-relu', async () => {
    const r = await cli([
      'train',
      '--data',
      'xor',
      '--epochs',
      '1',
      '--loss',
      'crossEntropy',
      '--activation',
      'leaky-relu',
      '--out',
      'spelt.json',
    ]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /leakyRelu, .* cross-entropy loss/);
    const e = await cli(['explain', '--model', 'spelt.json', '--data', 'xor', '--loss', 'crossEntropy']);
    assert.equal(e.code, 0, e.err);
    const g = await cli(['graph', '--loss', 'mseHalfSum']);
    assert.equal(g.code, 0, g.err);
  });
});
