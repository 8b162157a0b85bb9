// The Text page in a real browser: playwright-core drives Debian's Chromium against the page built into a
// temporary folder and served by `chainrule playground`'s server. It trains on the built-in names list,
// and every number it shows is checked against the library run in Node on the same URL, bit for bit.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import * as pg from '../src/playground/index.js';
import { loadText } from '../cli/sequence-data.js';
import { servePlayground, type PlaygroundServer } from '../cli/commands/playground.js';
import { buildWeb } from '../web/build.js';
import { DEFAULT_TEXT_STATE, textConfigOf, textStateToHash, type TextState } from '../web/text.state.js';
import { chromiumSkip, launchChromium } from './helpers/browser.js';
import { runCli } from './helpers/cli.js';

interface Hook {
  state(): TextState;
  history(): pg.TextStats[];
  step(): number | null;
  digest(): string | null;
  samples(): string[];
  playing(): boolean;
  kernels(): string | null;
}

/** A number as the page's cards write it. */
const fmt = (v: number, digits = 4) =>
  Math.abs(v) >= 1e-3 || v === 0 ? v.toFixed(digits) : v.toExponential(2);

/** A small model, so a few steps take little time even on a busy machine. */
const SMALL: Partial<TextState> = {
  embed: 16,
  layers: 2,
  heads: 2,
  hidden: 16,
  context: 8,
  batch: 8,
  seed: 5,
};

describe('the Text page in Chromium', { skip: chromiumSkip }, () => {
  let dir = '';
  let names = '';
  let server: PlaygroundServer;
  let context: BrowserContext;
  let page: Page;
  const errors: string[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'chainrule-text-page-'));
    names = (await loadText('names', process.cwd())).text;
    await buildWeb(join(dir, 'web'));
    server = await servePlayground({ root: join(dir, 'web'), port: 0 });
    context = await launchChromium(join(dir, 'profile'), { viewport: { width: 1360, height: 1000 } });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(`console: ${m.text()}`);
    });
    page.on('pageerror', (e) => errors.push(`page: ${e.message}`));
  });

  after(async () => {
    await context?.close();
    await server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const hook = <K extends keyof Hook>(key: K) =>
    page.evaluate((k) => {
      const h = (window as unknown as { chainruleText: Hook }).chainruleText;
      return (h[k] as () => unknown)();
    }, key) as Promise<ReturnType<Hook[K]>>;

  async function waitFor<T>(read: () => Promise<T>, ok: (v: T) => boolean, what: string): Promise<T> {
    const started = Date.now();
    for (;;) {
      const v = await read();
      if (ok(v)) return v;
      if (Date.now() - started > 60_000)
        throw new Error(`timed out waiting for ${what} (it is ${JSON.stringify(v)})`);
      await page.waitForTimeout(25);
    }
  }

  /** Open the page at a state and wait for step 0. */
  async function open(patch: Partial<TextState>): Promise<TextState> {
    const state = { ...DEFAULT_TEXT_STATE, ...patch };
    await page.goto('about:blank');
    await page.goto(`${server.url}text.html${textStateToHash(state)}`);
    await waitFor(
      () => hook('step'),
      (s) => s === 0,
      'step 0',
    );
    return state;
  }

  /** The library's run of the same configuration in Node, trained `steps` steps. */
  function nodeRun(state: TextState, steps: number): pg.TextRun {
    const run = pg.createTextRun(textConfigOf(state), names);
    for (let i = 0; i < steps; i++) run.trainStep();
    return run;
  }

  test('loads with no console errors, on the WebAssembly kernels, the whole state in the URL', async () => {
    await page.goto(`${server.url}text.html`);
    await waitFor(
      () => hook('step'),
      (s) => s === 0,
      'step 0',
    );
    assert.match((await hook('kernels')) ?? '', /^wasm/);
    const hash = new URL(page.url()).hash;
    assert.equal(hash, textStateToHash(DEFAULT_TEXT_STATE));
    assert.match((await page.textContent('#corpus-info')) ?? '', /59,167 characters, 28 distinct/);
    assert.deepEqual(errors, []);
  });

  test('steps: the losses, validation loss and weights equal Node’s bit for bit, and the page shows them', async () => {
    const state = await open(SMALL);
    for (let i = 0; i < 3; i++) {
      await page.click('#step');
      await waitFor(
        () => hook('step'),
        (s) => s === i + 1,
        `step ${i + 1}`,
      );
    }
    const digest = await waitFor(
      () => hook('digest'),
      (d) => d !== null,
      'the digest',
    );
    const run = nodeRun(state, 3);
    assert.deepEqual(await hook('history'), run.history);
    assert.equal(digest, run.parameterDigest());
    assert.equal(await page.textContent('#loss'), (run.history[3].loss as number).toFixed(3));
    assert.equal(await page.textContent('#step-count'), '3');
    // The sample shown is the library's, seeded by the step.
    const sample = run.sample(60, { seed: (state.seed * 100_003 + 3) % 2 ** 32 });
    assert.deepEqual(await hook('samples'), [sample]);
  });

  test('play, then pause: however many steps ran, Node’s run of as many steps has the same weights', async () => {
    const state = await open({ ...SMALL, model: 'lstm', seed: 8 });
    await page.click('#play');
    await waitFor(
      () => hook('step'),
      (s) => (s ?? 0) >= 30,
      '30 steps',
    );
    await page.click('#play');
    const digest = await waitFor(
      () => hook('digest'),
      (d) => d !== null,
      'the digest after pausing',
    );
    const steps = (await hook('step')) as number;
    const run = nodeRun(state, steps);
    assert.deepEqual(await hook('history'), run.history);
    assert.equal(digest, run.parameterDigest());
    assert.ok(run.history.some((s) => s.step === 25 && s.valLoss !== undefined));
  });

  test('the attention heatmaps and embedding gradients show the library’s numbers on hover', async () => {
    const state = await open({ ...SMALL, prompt: '\nmarie' });
    await waitFor(
      () => page.locator('.attn-map').count(),
      (n) => n === 4,
      'four heatmaps',
    );
    const run = nodeRun(state, 0);
    const maps = run.attention('\nmarie');
    // Block 2, head 1, query 4 ('i') → key 2 ('a'): hover the cell's centre.
    const map = page.locator('.attn-map[data-layer="1"][data-head="0"]');
    const box = (await map.boundingBox()) as { x: number; y: number };
    await page.mouse.move(box.x + 18 * 3 + 9, box.y + 18 * 5 + 9);
    const card = (await page.textContent('#card')) ?? '';
    const L = 6;
    const w = maps.layers[1][0].weights[4 * L + 2];
    const score = maps.layers[1][0].scores[4 * L + 2];
    assert.match(card, /query 4 'i' → key 2 'a'/);
    assert.ok(card.includes(`= ${fmt(w)}`), `${card} has the weight ${w}`);
    assert.ok(card.includes(`qt·ks/√d = ${fmt(score)}`), `${card} has the score ${score}`);
    assert.match(card, /softmax/);
    // A masked cell says so.
    await page.mouse.move(box.x + 18 * 6 + 9, box.y + 18 * 2 + 9);
    assert.match((await page.textContent('#card')) ?? '', /masked \(causal/);

    const g = run.embeddingGradients('\nmarie');
    const norms = await page.$$eval('.grad-token', (els) =>
      els.map((e) => Number((e as HTMLElement).dataset.norm)),
    );
    assert.deepEqual(norms, Array.from(g.norms));
    await page.hover('.grad-token:nth-child(3)');
    const gradCard = (await page.textContent('#card')) ?? '';
    assert.match(gradCard, /position 2: 'a' predicting 'r'/);
    const vector = Array.from(g.vectors.subarray(2 * 16, 3 * 16), (v) => fmt(v, 5));
    assert.ok(gradCard.includes(`[${vector.join(', ')}]`), `${gradCard} has the vector ${vector}`);
  });

  test('keyboard: play and step from the keyboard, arrow keys walk a heatmap', async () => {
    await open({ ...SMALL, seed: 11 });
    await page.focus('#step');
    await page.keyboard.press('Enter');
    await waitFor(
      () => hook('step'),
      (s) => s === 1,
      'step 1 from Enter',
    );
    // Play with Space; a focused heatmap keeps its focus and open card while frames repaint it.
    await page.focus('#play');
    await page.keyboard.press('Space');
    await waitFor(
      () => hook('playing'),
      (p) => p,
      'playing',
    );
    await page.focus('.attn-map');
    await page.keyboard.press('ArrowUp');
    const startStep = (await hook('step')) as number;
    const samples = await hook('samples');
    await waitFor(
      () => hook('samples'),
      (v) => JSON.stringify(v) !== JSON.stringify(samples),
      'a new sample while playing',
    );
    assert.ok(((await hook('step')) as number) > startStep);
    assert.equal(await page.evaluate(() => document.activeElement?.className), 'attn-map');
    assert.equal(await page.isVisible('#card'), true);
    assert.match((await page.textContent('#card')) ?? '', /block 1, head 1: query \d+ .* → key 0/);
    await page.focus('#play');
    await page.keyboard.press('Space');
    await waitFor(
      () => hook('digest'),
      (d) => d !== null,
      'paused',
    );
    await page.selectOption('#model', 'lstm');
    await waitFor(
      () => hook('state'),
      (s) => s.model === 'lstm',
      'the LSTM',
    );
    assert.match(new URL(page.url()).hash, /model=lstm/);
  });

  test('a pasted text travels in the URL; a picked file does not, and the page says so', async () => {
    await open({ ...SMALL, seed: 2 });
    await page.check('input[name=corpus][value=pasted]');
    await page.fill('#text', 'the cat sat on the mat. '.repeat(10));
    await page.click('#use-text');
    await waitFor(
      () => page.textContent('#corpus-info'),
      (t) => /240 characters/.test(t ?? ''),
      'the pasted run',
    );
    assert.match(new URL(page.url()).hash, /corpus=pasted.*&text=the\+cat/);
    await page.reload();
    await waitFor(
      () => page.textContent('#corpus-info'),
      (t) => /240 characters/.test(t ?? ''),
      'after reload',
    );

    const file = join(dir, 'poem.txt');
    writeFileSync(file, 'roses are red, violets are blue. '.repeat(8));
    await page.check('input[name=corpus][value=file]');
    await page.setInputFiles('#file', file);
    await waitFor(
      () => page.textContent('#corpus-info'),
      (t) => /264 characters/.test(t ?? ''),
      'the file run',
    );
    assert.match(new URL(page.url()).hash, /corpus=file/);
    assert.doesNotMatch(new URL(page.url()).hash, /&text=/);
    await page.reload();
    await waitFor(
      () => page.textContent('#corpus-info'),
      (t) => /drop it again/.test(t ?? ''),
      'the note',
    );
  });

  test('export: the GPT and the LSTM download model files that chainrule generate reads, and ONNX files', async () => {
    for (const model of ['gpt', 'lstm'] as const) {
      await open({ ...SMALL, model, seed: 4 });
      await page.click('#step');
      await waitFor(
        () => hook('step'),
        (s) => s === 1,
        'step 1',
      );
      const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export')]);
      assert.equal(download.suggestedFilename(), `playground-text-${model}-step1.json`);
      copyFileSync(await download.path(), join(dir, `${model}.json`));
      const r = await runCli(
        ['generate', '--model', `${model}.json`, '--length', '20', '--prompt', 'an'],
        dir,
      );
      assert.equal(r.code, 0, r.err);
      assert.ok(r.out.startsWith('an'));
      const [onnx] = await Promise.all([page.waitForEvent('download'), page.click('#export-onnx')]);
      assert.equal(onnx.suggestedFilename(), `playground-text-${model}-step1.onnx`);
      // The bytes Node's run of the same URL and step writes (the Node test runs them in onnxruntime).
      const bytes = readFileSync((await onnx.path()) as string);
      const state = { ...DEFAULT_TEXT_STATE, ...SMALL, model, seed: 4 };
      assert.ok(Buffer.from(nodeRun(state, 1).toOnnx()).equals(bytes), `${model}: the page's ONNX is Node's`);
    }
    assert.match((await page.textContent('#export-note')) ?? '', /chainrule generate.*float32/s);
    assert.deepEqual(errors, []);
  });
});
