// The library route from a CSV to predictions, without the command line: read the model file, read the
// rows as the model reads its columns, predict, lay out the answers. In Node and in real Chromium (the
// library bundled as one ES module) it gives what `chainrule predict` prints.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import {
  checkPreprocessing,
  columnKinds,
  modelFromJSON,
  parseCsv,
  predictionCsv,
  predictionRows,
  predictTable,
  writeCsv,
} from '../src/index.js';
import { chromiumSkip, launchChromium } from './helpers/browser.js';
import { runCli as cli } from './helpers/cli.js';
import { assertClose } from './helpers/close.js';

let dir = '';
let modelText = '';

// Flowers with a missing petal width and a zip-like code column; the model fills missing values (mean).
const TRAIN = [
  'id,sepal,petal,code,kind',
  ...Array.from({ length: 60 }, (_, i) => {
    const kind = ['a', 'b', 'c'][i % 3];
    const petal = i === 7 ? 'NA' : String(1 + (i % 3) + ((i * 7) % 10) / 20);
    return `${i + 1},${4 + ((i * 13) % 20) / 10},${petal},0${i % 2},${kind}`;
  }),
].join('\n');

const NEW = 'id,sepal,petal,code\nx1,5.1,1.2,01\nx2,4.2,NA,00\nx3,5.9,3.3,01\n';

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'chainrule-route-'));
  writeFileSync(join(dir, 'train.csv'), TRAIN);
  writeFileSync(join(dir, 'new.csv'), NEW);
  const r = await cli(
    [
      'train',
      '--data',
      'train.csv',
      '--categorical',
      'code',
      '--missing',
      'mean',
      '--dtype',
      'float64',
      '--epochs',
      '20',
      '--out',
      'm.json',
      '--quiet',
    ],
    dir,
  );
  assert.equal(r.code, 0, r.err);
  modelText = readFileSync(join(dir, 'm.json'), 'utf8');
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** The route, as the README shows it. */
function route(model: string, csv: string): string {
  const { model: network, file } = modelFromJSON(model, 'm.json');
  const pre = checkPreprocessing(file.preprocessing);
  const rows = parseCsv(csv, 'new.csv', { kinds: columnKinds(pre) });
  const { header, rows: out } = predictionRows(pre, rows, predictTable(network, pre, rows));
  return writeCsv(out, header);
}

/** Predictions CSV → rows of cells, probabilities as numbers. */
function cells(csv: string): (string | number)[][] {
  return parseCsvRows(csv).map((r, i) => (i === 0 ? r : r.map((c, j) => (j >= 2 ? Number(c) : c))));
}

function parseCsvRows(csv: string): string[][] {
  return csv
    .trim()
    .split('\n')
    .map((l) => l.split(','));
}

test('predictionCsv: the same text a block at a time, bad input found before the first piece', () => {
  const { model, file } = modelFromJSON(modelText, 'm.json');
  const pre = checkPreprocessing(file.preprocessing);
  // The training rows again, without the target, 60 of them: blocks of 7 leave a remainder that joins the last.
  const csv = TRAIN.split('\n')
    .map((line) => line.slice(0, line.lastIndexOf(',')))
    .join('\n');
  const rows = parseCsv(csv, 'all.csv', { kinds: columnKinds(pre) });
  const whole = route(modelText, csv);
  for (const blockRows of [1, 7, 29, 30, 60, 8192]) {
    const pieces = [...predictionCsv(model, pre, rows, { blockRows })];
    assert.equal(pieces.join(''), whole, `blocks of ${blockRows}`);
    // Header + first block, then one piece per further block; none shorter than a block.
    assert.equal(pieces.length, Math.max(1, Math.floor(60 / blockRows)), `pieces for blocks of ${blockRows}`);
  }
  // Raw outputs: the network's numbers as they are, one column each.
  const raw = [...predictionCsv(model, pre, rows, { raw: true, blockRows: 16 })].join('');
  const lines = raw.trim().split('\n');
  assert.deepEqual(lines[0], 'id,output_0,output_1,output_2');
  assert.equal(lines.length, 61);
  // A bad cell in the last row: the error comes at the first piece, before any text.
  const bad = parseCsv(csv.replace(/\n60,[^\n]*$/, '\n60,5,wide,01'), 'bad.csv', { kinds: columnKinds(pre) });
  const pieces = predictionCsv(model, pre, bad, { blockRows: 7 });
  assert.throws(() => pieces.next(), {
    name: 'PreprocessError',
    message: /^bad\.csv:61: column 'petal' has 'wide'/,
  });
});

test('chainrule predict: a bad cell in the last row writes nothing, to stdout or --out', async () => {
  const many = [
    'id,sepal,petal,code',
    ...Array.from({ length: 20_000 }, (_, i) => `r${i},5.1,1.2,01`),
    'last,5,wide,01',
  ];
  writeFileSync(join(dir, 'bad-late.csv'), many.join('\n') + '\n');
  const toStdout = await cli(['predict', '--model', 'm.json', '--data', 'bad-late.csv'], dir);
  assert.equal(toStdout.code, 2, toStdout.err);
  assert.equal(toStdout.out, '');
  assert.match(toStdout.err, /bad-late\.csv:20002: column 'petal' has 'wide'/);
  const toFile = await cli(['predict', '--model', 'm.json', '--data', 'bad-late.csv', '--out', 'p.csv'], dir);
  assert.equal(toFile.code, 2, toFile.err);
  assert.throws(() => readFileSync(join(dir, 'p.csv')), { code: 'ENOENT' });
  assert.doesNotMatch(toFile.err, /cannot write/);
  // The same file without the bad row: 20,000 predictions, a block at a time, as the library route gives.
  writeFileSync(join(dir, 'good.csv'), many.slice(0, -1).join('\n') + '\n');
  const good = await cli(['predict', '--model', 'm.json', '--data', 'good.csv', '--out', 'p.csv'], dir);
  assert.equal(good.code, 0, good.err);
  assert.equal(
    readFileSync(join(dir, 'p.csv'), 'utf8'),
    route(modelText, many.slice(0, -1).join('\n') + '\n'),
  );
});

test('in Node: the same CSV as chainrule predict, missing values filled and codes kept as written', async () => {
  const r = await cli(['predict', '--model', 'm.json', '--data', 'new.csv'], dir);
  assert.equal(r.code, 0, r.err);
  const mine = route(modelText, NEW);
  assert.equal(mine, r.out);
  assert.match(mine, /^id,predicted_kind,p_a,p_b,p_c\nx1,[abc],/);
  // A word in a numeric column is named with its line, as the command line names it.
  assert.throws(() => route(modelText, 'sepal,petal,code\n5,wide,01\n'), {
    name: 'PreprocessError',
    message:
      "new.csv:2: column 'petal' has 'wide' where a number was expected (the column is numeric: 0 of its 1 values are numbers)",
  });
});

test("the README's route runs as printed and prints chainrule predict's CSV", async () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf('## From a CSV to predictions in code'));
  const code = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(code, 'the section has a ```ts block');
  const file = new URL('../examples/.readme-route.tmp.ts', import.meta.url);
  writeFileSync(
    file,
    "import { readFileSync } from 'node:fs';\n" +
      'const modelText = readFileSync(process.argv[2], "utf8");\n' +
      'const csvText = readFileSync(process.argv[3], "utf8");\n' +
      code.replace("from 'chainrule'", "from '../src/index.js'"),
  );
  try {
    const tsx = import.meta.resolve('tsx');
    const out = await promisify(execFile)(process.execPath, [
      '--import',
      tsx,
      fileURLToPath(file),
      join(dir, 'm.json'),
      join(dir, 'new.csv'),
    ]);
    const r = await cli(['predict', '--model', 'm.json', '--data', 'new.csv'], dir);
    assert.equal(out.stdout, `${r.out}\n`);
  } finally {
    rmSync(file, { force: true });
  }
});

describe('in Chromium: the route from one ES module bundle', { skip: chromiumSkip }, () => {
  test("a page reads the model and the CSV, predicts, and gets the command line's answers", async () => {
    const bundle = await build({
      entryPoints: [fileURLToPath(new URL('../src/index.ts', import.meta.url))],
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      logLevel: 'silent',
    });
    const context = await launchChromium(join(dir, 'profile'));
    try {
      const origin = 'http://localhost:9';
      await context.route(`${origin}/**`, (r) => {
        const path = new URL(r.request().url()).pathname;
        if (path === '/chainrule.js')
          return r.fulfill({ contentType: 'text/javascript', body: bundle.outputFiles[0].text });
        if (path === '/m.json') return r.fulfill({ contentType: 'application/json', body: modelText });
        if (path === '/new.csv') return r.fulfill({ contentType: 'text/csv', body: NEW });
        return r.fulfill({
          contentType: 'text/html',
          body: '<!doctype html><meta charset="utf-8"><title>route</title>',
        });
      });
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`${origin}/`);
      const csv = await page.evaluate(async () => {
        type Lib = typeof import('../src/index.js');
        const lib = (await import(`${location.origin}/chainrule.js`)) as Lib;
        await lib.ready();
        const text = await (await fetch('/m.json')).text();
        const { model, file } = lib.modelFromJSON(text, 'm.json');
        const pre = lib.checkPreprocessing(file.preprocessing);
        const rows = lib.parseCsv(await (await fetch('/new.csv')).text(), 'new.csv', {
          kinds: lib.columnKinds(pre),
        });
        const { header, rows: out } = lib.predictionRows(pre, rows, lib.predictTable(model, pre, rows));
        return lib.writeCsv(out, header);
      });
      assert.deepEqual(errors, []);
      const node = cells(route(modelText, NEW));
      const browser = cells(csv);
      assert.deepEqual(
        browser.map((r) => r.slice(0, 2)),
        node.map((r) => r.slice(0, 2)),
      );
      for (let i = 1; i < node.length; i++)
        assertClose(browser[i].slice(2) as number[], node[i].slice(2) as number[], {
          rel: 1e-12,
          what: `row ${i}`,
        });
    } finally {
      await context.close();
    }
  });
});
