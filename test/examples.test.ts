// Every example in examples/ runs as a user runs it — a script as a child process, the HTML page in
// Chromium — with few epochs, and does what its comments say.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { chromiumSkip, launchChromium } from './helpers/browser.js';
import { runCli as cli } from './helpers/cli.js';

const run = promisify(execFile);
const examples = fileURLToPath(new URL('../examples/', import.meta.url));
let dir = '';

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'chainrule-examples-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** `npx tsx examples/<name> ...args` in a scratch folder; its stdout. */
async function example(name: string, args: string[] = []): Promise<string> {
  const tsx = import.meta.resolve('tsx');
  const r = await run(process.execPath, ['--import', tsx, join(examples, name), ...args], { cwd: dir });
  return r.stdout;
}

test('every example has a test here', () => {
  const tested = ['seed.ts', 'xor.ts', 'regression-csv.ts', 'mnist.ts', 'browser.html'];
  const files = readdirSync(examples).filter((f) => /\.(ts|html)$/.test(f) && !f.startsWith('.'));
  assert.deepEqual(files.sort(), [...tested].sort());
});

test('seed.ts: the notebook run, corrected', async () => {
  const out = await example('seed.ts');
  assert.match(out, /^Epoch \[10\/100\], Loss: 0\.02485126664885399\n/);
  assert.match(out, /Epoch \[100\/100\], Loss: 0\.004232294772727363\n$/);
});

test('xor.ts: learns XOR', async () => {
  const out = await example('xor.ts', ['300']);
  assert.match(out, /accuracy 1 after 300 epochs/);
  assert.match(out, /0 xor 1 → 0\.9\d\d\n1 xor 0 → 0\.9\d\d\n1 xor 1 → 0\.0\d\d\n$/);
});

test('regression-csv.ts: trains on the CSV, scores, writes a model file chainrule predict reads', async () => {
  const out = await example('regression-csv.ts', ['60']);
  assert.match(
    out,
    /^area: numeric\nrooms: numeric\nage: numeric\ncity: one-hot over Lyon, Lille, Nantes, Nice\n/,
  );
  const r2 = Number(/test R² (-?[\d.]+)/.exec(out)?.[1]);
  assert.ok(r2 > 0.8, `test R² ${r2}`);
  // Its own predictions of the new rows, then the command line's on the same file: the same CSV.
  const own = out.slice(out.indexOf('row,predicted_price'));
  assert.match(own, /^row,predicted_price\n1,[\d.]+\n2,[\d.]+\n3,[\d.]+\n$/);
  assert.ok(existsSync(join(dir, 'houses.json')));
  const p = await cli(
    ['predict', '--model', 'houses.json', '--data', join(examples, 'data', 'houses-new.csv')],
    dir,
  );
  assert.equal(p.code, 0, p.err);
  assert.equal(p.out, own);
});

test('mnist.ts: one epoch on 6,000 images already reads most test digits', async () => {
  const out = await example('mnist.ts', ['1', '6000']);
  assert.match(out, /^epoch 1\/1: loss [\d.]+, accuracy [\d.]+%\n/);
  const accuracy = Number(/test accuracy ([\d.]+)% on 10000 images/.exec(out)?.[1]);
  assert.ok(accuracy > 80, `test accuracy ${accuracy}%`);
});

describe('browser.html in Chromium', { skip: chromiumSkip }, () => {
  test('the page imports the browser bundle, trains, and reports', async () => {
    // What `npm run build` writes to dist/browser/chainrule.js: the library as one ES module.
    const bundle = await build({
      entryPoints: [fileURLToPath(new URL('../src/index.ts', import.meta.url))],
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      minify: true,
      logLevel: 'silent',
    });
    const origin = 'http://localhost:9';
    const context = await launchChromium(join(dir, 'profile'));
    try {
      await context.route(`${origin}/**`, (r) => {
        const path = new URL(r.request().url()).pathname;
        if (path === '/dist/browser/chainrule.js')
          return r.fulfill({ contentType: 'text/javascript', body: bundle.outputFiles[0].text });
        if (path === '/examples/browser.html')
          return r.fulfill({
            contentType: 'text/html',
            body: readFileSync(join(examples, 'browser.html'), 'utf8'),
          });
        return r.fulfill({ status: 404, body: 'not found' });
      });
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      await page.goto(`${origin}/examples/browser.html?epochs=60`);
      await page.waitForFunction(() => document.body.dataset.result !== undefined, undefined, {
        timeout: 60000,
      });
      const result = JSON.parse((await page.evaluate(() => document.body.dataset.result)) as string) as {
        epochs: number;
        loss: number;
        accuracy: number;
        error?: string;
      };
      assert.deepEqual(errors, []);
      assert.equal(result.error, undefined);
      assert.equal(result.epochs, 60);
      assert.ok(result.accuracy > 0.85, `accuracy ${result.accuracy}`);
      assert.match(
        (await page.textContent('#status')) ?? '',
        /^done: 60 epochs, loss [\d.]+, accuracy [\d.]+%$/,
      );
    } finally {
      await context.close();
    }
  });
});
