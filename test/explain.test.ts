// The teaching views on the command line: `chainrule explain` (the seed step, a trained model's row,
// --steps, --format, --notebook) and `chainrule graph` (DOT, SVG with and without Graphviz). The command
// functions are called directly with a capturing IO, as cli/main.ts would call them.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NOTEBOOK_LOSSES, nn, serializeModel, stringifyModelFile } from '../src/index.js';
import type { NotebookComparison, StepTrace } from '../src/trace.js';
import { parseCommand, type CommandSpec, type Flags } from '../cli/args.js';
import { explainCommand, explainSpec } from '../cli/commands/explain.js';
import { graphCommand, graphSpec } from '../cli/commands/graph.js';
import { train } from '../cli/commands/train.js';
import { UserError } from '../cli/errors.js';
import type { IO } from '../cli/io.js';

type Command = (flags: Flags, positionals: string[], io: IO) => Promise<number>;

let dir = '';

function captureIO() {
  const captured = { out: '', err: '' };
  const io: IO = {
    out: (t) => void (captured.out += t),
    err: (t) => void (captured.err += t),
    isTTY: false,
    columns: 100,
    cwd: dir,
  };
  return { io, captured };
}

async function run(spec: CommandSpec, command: Command, args: string[]) {
  const { io, captured } = captureIO();
  const parsed = parseCommand(spec, args);
  const code = await command(parsed.flags, parsed.positionals, io);
  return { code, ...captured };
}

const explain = (...args: string[]) => run(explainSpec, explainCommand, args);
const graph = (...args: string[]) => run(graphSpec, graphCommand, args);

function assertWidth(text: string, width = 100): void {
  for (const line of text.split('\n'))
    assert.ok(line.length <= width, `line of ${line.length} chars: ${line}`);
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'chainrule-explain-'));
  const { io } = captureIO();
  await train({ data: 'iris', layers: [5, 4], epochs: 2, out: 'iris.json', quiet: true }, io);
  await train(
    {
      data: 'iris',
      layers: [3],
      epochs: 2,
      out: 'iris-mae.json',
      quiet: true,
      task: 'regression',
      target: 'petal_width',
      loss: 'mae',
    },
    io,
  );
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('chainrule explain: the seed network', () => {
  test("walks through one step in the notebook's notation, top to bottom", async () => {
    const r = await explain();
    assert.equal(r.code, 0, r.err);
    assertWidth(r.out);
    const text = r.out;
    const order = [
      '1. Forward pass',
      '2. Loss',
      '3. Partial derivatives',
      '4. Chain rule',
      '5. Checks',
      '6. SGD update',
    ];
    const at = order.map((h) => text.indexOf(`\n${h}`));
    assert.ok(
      at.every((i, n) => i > 0 && (n === 0 || i > at[n - 1])),
      `sections in order: ${at}`,
    );
    assert.match(text, /\n {2}w1 = 0\.3745401188473625 +weight from x1 to h1\n/);
    assert.match(text, /\n {2}h1 = sigmoid\(z_h1\) = 0\.651687803552708\d*\n/);
    assert.match(text, /\n {2}loss = 0\.5 \* \(output - y\)\^2 = 0\.0306479476427770\d*\n/);
    // Each of the notebook's partial derivatives, with its formula and value.
    for (const line of [
      'd_loss/d_output = output - y',
      'd_output/d_w5   = h1 * output * (1 - output)',
      'd_output/d_h1   = w5 * output * (1 - output) = 0.03857594457548479',
      'd_h1/d_w1       = x1 * h1 * (1 - h1)',
      'd_h2/d_w4       = x2 * h2 * (1 - h2)',
    ])
      assert.ok(text.includes(line), line);
    assert.match(
      text,
      /d_loss\/d_w1 = d_loss\/d_output \* d_output\/d_h1 \* d_h1\/d_w1\n +=\s+\(-0\.24758007853127884\) \* 0\.03857594457548479 \* 0\.1134954051266775\n +=\s+-0\.00108395323251205\d*\n/,
    );
    assert.match(
      text.replace(/\s+/g, ' '),
      /All 9 agree: the largest relative error between autograd and the finite difference is \d\.\de-1\d/,
    );
    assert.match(
      text,
      /\n {2}w5 = 0\.15601864044243652 - 0\.1 \* \(-0\.0398928780593674\d\) +=  ?0\.16000792824837326\n/,
    );
    assert.match(
      text.replace(/\s+/g, ' '),
      /was 0\.030647947642777097 before the step and is 0\.029935065055073953 after it/,
    );
  });

  test('--format json is the trace record; --format markdown has headings, code blocks and tables', async () => {
    const j = await explain('--format', 'json');
    const t = JSON.parse(j.out) as StepTrace;
    assert.equal(t.notation, 'seed');
    assert.equal(t.parameters.length, 9);
    assert.ok(t.parameters.every((p) => p.relError !== null && p.relError <= 1e-7));
    const m = await explain('--format', 'markdown');
    assert.match(m.out, /^# One training step of the seed notebook's network/);
    assert.match(m.out, /\n## 3\. Partial derivatives\n/);
    assert.match(m.out, /\n```text\nd_loss\/d_output = output - y/);
    assert.match(
      m.out,
      /\n\| parameter \| chain rule \| autograd \| finite difference \| rel\. error \|\n\| --- \|/,
    );
  });

  test('--steps K explains the first step and summarizes the rest; json gives K records', async () => {
    const r = await explain('--steps', '3');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /\n7\. Steps 2 to 3\n/);
    const rows = r.out.split('\n').filter((l) => /^ {2}[123] +0\.0/.test(l));
    assert.equal(rows.length, 3);
    const j = JSON.parse((await explain('--steps', '3', '--format', 'json')).out) as StepTrace[];
    assert.equal(j.length, 3);
    // Each step starts where the previous one ended (float64 all the way).
    assert.equal(j[1].loss.value, j[0].loss.after);
    assert.equal(j[2].parameters[0].value, j[1].parameters[0].newValue);
  });
});

describe('chainrule explain --notebook', () => {
  test("the notebook's order beside backpropagation: the notebook column is its printed losses exactly", async () => {
    const r = await explain('--notebook');
    assert.equal(r.code, 0, r.err);
    assertWidth(r.out);
    assert.match(r.out, /w5: 0\.15601864044243652 -> 0\.16000792824837326/);
    assert.match(
      r.out,
      /d_output\/d_h1 +w5 \* output \* \(1 - output\) +0\.03857594457548479 +0\.0395623045697846\d*/,
    );
    const rows = r.out
      .split('\n')
      .map((l) => /^ {2}(\d+) +(\S+) +(\S+) +(\S+)$/.exec(l))
      .filter((m) => m !== null && Number(m[1]) % 10 === 0);
    assert.equal(rows.length, 10);
    assert.deepEqual(
      rows.map((m) => m![2]),
      NOTEBOOK_LOSSES.map((v) => String(v)),
    );
    assert.equal(rows[0]![3], '0.02485126664885399');
    const j = JSON.parse((await explain('--notebook', '--format', 'json')).out) as NotebookComparison;
    assert.deepEqual(
      j.losses.map((l) => l.notebook),
      NOTEBOOK_LOSSES,
    );
  });

  test('--notebook takes no model', async () => {
    await assert.rejects(
      explain('--notebook', '--model', 'iris.json'),
      (e: Error) => e instanceof UserError && /--notebook .* no --model/.test(e.message),
    );
  });
});

describe('chainrule explain on a trained model', () => {
  test('a row of data, systematic names, limited to --limit per tensor', async () => {
    const r = await explain('--model', 'iris.json', '--data', 'iris', '--row', '51', '--limit', '2');
    assert.equal(r.code, 0, r.err);
    assertWidth(r.out);
    // Paragraphs wrap at 100 columns; match them as one line.
    const prose = r.out.replace(/\s+/g, ' ');
    assert.match(
      prose,
      /Model iris\.json, row 51 of the built-in 'iris' \(target species = versicolor, class 1\)/,
    );
    assert.match(prose, /4-5-4-3 network, activations relu, relu, identity; loss -log\(softmax\(out\)_1\)/);
    assert.match(r.out, /x_0 = \S+ +sepal_length, scaled/);
    assert.match(r.out, /L1\.W\[0\]\[0\] = \S+ +weight from x_0 to h1_0/);
    assert.match(r.out, /d_loss\/d_out_1 += softmax\(out\)_1 - y_1 +=/);
    assert.match(prose, /Checked 12 of \d+ parameters \(--limit per tensor\)\. All 12 agree/);
    assert.match(prose, /The model is float32; the step runs on a float64 copy/);
    const j = JSON.parse(
      (await explain('--model', 'iris.json', '--data', 'iris', '--format', 'json')).out,
    ) as StepTrace;
    assert.equal(j.notation, 'systematic');
    assert.equal(j.loss.name, 'crossEntropy');
    assert.deepEqual(j.check.disagreements, []);
  });

  test('a CSV file and its rows; mistakes are UserErrors that name the flag', async () => {
    writeFileSync(
      join(dir, 'few.csv'),
      'sepal_length,sepal_width,petal_length,petal_width,species\n5.1,3.5,1.4,0.2,setosa\n6.7,3.0,5.2,2.3,virginica\n',
    );
    const r = await explain('--model', 'iris.json', '--data', 'few.csv', '--row', '2');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out.replace(/\s+/g, ' '), /row 2 of .*few\.csv \(target species = virginica, class 2\)/);
    const rejects = (args: string[], pattern: RegExp) =>
      assert.rejects(explain(...args), (e: Error) => e instanceof UserError && pattern.test(e.message));
    await rejects(
      ['--model', 'iris.json', '--data', 'few.csv', '--row', '3'],
      /--row 3: .*few\.csv has 2 rows/,
    );
    await rejects(['--model', 'iris.json'], /--model needs --data/);
    await rejects(['--data', 'iris'], /--data needs --model/);
    await rejects(['--row', '2'], /--row picks a row of --data/);
    await rejects(
      ['--model', 'iris.json', '--data', 'iris', '--loss', 'mse'],
      /is a classifier .* --loss cross-entropy/,
    );
    await rejects(
      ['--model', 'iris-mae.json', '--data', 'iris'],
      /trained with the loss 'mae', which explain does not cover; pass --loss/,
    );
    const mae = await explain('--model', 'iris-mae.json', '--data', 'iris', '--loss', 'mse');
    assert.equal(mae.code, 0, mae.err);
    assert.match(mae.out.replace(/\s+/g, ' '), /loss \(out_0 - y_0\)\^2/);
  });

  test('a model beyond Linear and activations (Dropout) is explained layer by layer, Dropout left out', async () => {
    const file = JSON.parse(readFileSync(join(dir, 'iris.json'), 'utf8')) as { preprocessing: unknown };
    const model = new nn.Sequential(new nn.Linear(4, 3), new nn.Dropout(0.2));
    writeFileSync(
      join(dir, 'dropout.json'),
      stringifyModelFile(
        serializeModel(model, { preprocessing: file.preprocessing, task: 'classification' }),
      ),
    );
    const r = await explain('--model', 'dropout.json', '--data', 'iris');
    assertWidth(r.out);
    const text = r.out.replace(/\s+/g, ' ');
    assert.match(text, /Layer 1 \(Dropout\) is left out of the step, so the step is deterministic\./);
    assert.match(text, /Layer 0: Linear\(4 → 3\)/);
    assert.match(text, /All agree/);
    // --all belongs to the layer-by-layer view; an MLP takes --limit.
    await assert.rejects(
      explain('--model', 'iris.json', '--data', 'iris', '--all'),
      (e: Error) => e instanceof UserError && /--all is for a layer-by-layer trace/.test(e.message),
    );
  });
});

describe('chainrule graph', () => {
  const saved = process.env.CHAINRULE_DOT;
  after(() => {
    if (saved === undefined) delete process.env.CHAINRULE_DOT;
    else process.env.CHAINRULE_DOT = saved;
  });

  test('DOT of the seed step on stdout, every node with its value and gradient', async () => {
    process.env.CHAINRULE_DOT = join(dir, 'no-such-dot');
    const r = await graph();
    assert.equal(r.code, 0);
    assert.match(r.out, /^digraph step \{/);
    assert.match(
      r.out,
      /label="weights_input_hidden = \[\[w1, w3\], \[w2, w4\]\]\\nshape \[2×2\]\\nvalue \[0\.37454, 0\.950714, 0\.731994, 0\.598658\]\\ngrad \[-0\.00108395/,
    );
    assert.match(r.out, /label="mulScalar: loss\\nvalue 0\.0306479\\ngrad 1"/);
    assert.match(r.err, /Graphviz's dot is not installed/);
  });

  test('--out graph.svg without Graphviz writes the DOT instead and says so', async () => {
    process.env.CHAINRULE_DOT = join(dir, 'no-such-dot');
    const r = await graph('--out', 'seed.svg');
    assert.equal(r.code, 0);
    assert.ok(!existsSync(join(dir, 'seed.svg')));
    assert.match(readFileSync(join(dir, 'seed.dot'), 'utf8'), /^digraph step/);
    assert.match(
      r.err,
      /no SVG was made: wrote the DOT to seed\.dot instead\.\n {2}With Graphviz: dot -Tsvg seed\.dot -o seed\.svg/,
    );
  });

  test(
    '--out graph.svg with Graphviz renders through the real dot -Tsvg',
    { skip: !existsSync('/usr/bin/dot') && 'Graphviz is not installed' },
    async () => {
      delete process.env.CHAINRULE_DOT;
      const r = await graph('--model', 'iris.json', '--data', 'iris', '--row', '3', '--out', 'iris.svg');
      assert.equal(r.code, 0, r.err);
      const svg = readFileSync(join(dir, 'iris.svg'), 'utf8');
      assert.match(svg, /<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
      assert.match(svg, /class="node"/);
      assert.match(svg, /class="edge"/);
      assert.match(r.err, /wrote iris\.svg \(\d+ nodes, rendered by /);
    },
  );

  test('--out graph.dot writes DOT; other extensions are refused', async () => {
    const r = await graph('--out', 'g.dot');
    assert.equal(r.code, 0);
    assert.match(readFileSync(join(dir, 'g.dot'), 'utf8'), /^digraph step/);
    await assert.rejects(graph('--out', 'g.png'), /expected a \.dot, \.gv or \.svg file name/);
  });
});
