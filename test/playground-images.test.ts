// The Images page in a real browser: playwright-core drives Debian's Chromium against the pages built into a
// temporary folder and served by `chainrule playground`'s server. The page trains in its worker on the
// WebAssembly kernels; the tests train the same URL in Node through the same src/playground code and
// compare the weights bit for bit, and read the numbers the page shows against the library's.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import type { BrowserContext, Page } from 'playwright-core';
import { decodeFloats, parseModelFile, resizeImage, rgbaToPlanes } from '../src/index.js';
import * as pg from '../src/playground/index.js';
import { servePlayground, type PlaygroundServer } from '../cli/commands/playground.js';
import { buildWeb } from '../web/build.js';
import { digitsImageSet, mnistImageSet } from '../web/images.assets.js';
import {
  imageConfigOf,
  imagesStateFromHash,
  imagesStateToHash,
  presetState,
  type ImagesState,
} from '../web/images.state.js';
import { chromiumSkip, launchChromium } from './helpers/browser.js';

interface Hook {
  state(): ImagesState;
  steps(): number | null;
  epoch(): number;
  evaluations(): pg.ImageEvaluation[];
  inspection(): pg.Inspection | null;
  image(): number[] | null;
  playing(): boolean;
  kernels(): string | null;
}

const sets = { digits: await digitsImageSet(), mnist: await mnistImageSet() };

describe('the Images page in Chromium', { skip: chromiumSkip }, () => {
  let dir = '';
  let server: PlaygroundServer;
  let context: BrowserContext;
  let page: Page;
  const errors: string[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'chainrule-images-'));
    await buildWeb(join(dir, 'web'));
    server = await servePlayground({ root: join(dir, 'web'), port: 0 });
    context = await launchChromium(join(dir, 'profile'), { viewport: { width: 1360, height: 980 } });
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

  const hook = <T>(fn: (h: Hook) => T) =>
    page.evaluate((source) => {
      // Null while a page is loading, before its script has defined the hook.
      const h = (window as unknown as { chainrulePlaygroundImages?: unknown }).chainrulePlaygroundImages;
      return h === undefined ? null : (new Function('h', `return (${source})(h)`) as (h: unknown) => T)(h);
    }, fn.toString());
  const steps = () => hook((h) => h.steps());

  async function waitFor<T>(
    read: () => Promise<T>,
    ok: (v: T) => boolean,
    what: string,
    timeout = 60_000,
  ): Promise<T> {
    const started = Date.now();
    for (;;) {
      const v = await read();
      if (ok(v)) return v;
      if (Date.now() - started > timeout)
        throw new Error(`timed out waiting for ${what} (it is ${JSON.stringify(v)})`);
      await page.waitForTimeout(25);
    }
  }

  /** Open the page at a state and wait until its run is built and the first test image inspected. */
  async function open(state: ImagesState): Promise<void> {
    await page.goto('about:blank');
    await page.goto(`${server.url}images.html${imagesStateToHash(state)}`);
    await waitFor(steps, (s) => s === 0, 'step 0');
    await waitFor(
      () => hook((h) => h.inspection() !== null),
      (v) => v === true,
      'the first inspection',
    );
  }

  async function step(times: number): Promise<void> {
    const from = (await steps()) as number;
    for (let i = 1; i <= times; i++) {
      await page.click('#step');
      await waitFor(steps, (s) => s === from + i, `step ${from + i}`);
    }
  }

  /** The page's model file, and the Node run of the page's URL trained as many steps. */
  async function compareWithNode(what: string): Promise<pg.ImageRun> {
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export-chainrule')]);
    const file = parseModelFile(readFileSync((await download.path()) as string, 'utf8'), 'download');
    const state = imagesStateFromHash(new URL(page.url()).hash).state;
    const run = pg.createImageRun(imageConfigOf(state), sets[state.dataset as 'digits' | 'mnist']);
    const n = (await steps()) as number;
    while (run.steps < n) run.step();
    const node = run.model.stateDict();
    for (const [key, entry] of Object.entries(file.weights))
      assert.deepEqual(
        Array.from(decodeFloats(entry.data, 'float64')),
        Array.from(node[key].data),
        `${what}: ${key}`,
      );
    return run;
  }

  test('loads with no console errors, cross-origin isolated, on the WebAssembly kernels, the whole state in the URL', async () => {
    await page.goto(`${server.url}images.html`);
    await waitFor(steps, (s) => s === 0, 'step 0');
    assert.equal(await page.evaluate(() => crossOriginIsolated), true);
    assert.match(
      (await waitFor(
        () => hook((h) => h.kernels()),
        (k) => k !== null,
        'kernels',
      )) as string,
      /^wasm-simd/,
    );
    const parsed = imagesStateFromHash(new URL(page.url()).hash);
    assert.deepEqual(parsed.ignored, []);
    assert.deepEqual(await hook((h) => h.state()), parsed.state);
    assert.match(page.url(), /dataset=digits&arch=conv.*&seed=\d+&showGradients=true$/);
    assert.deepEqual(errors, []);
  });

  test('the same URL gives the same weights as Node, bit for bit, and the page shows the library’s numbers', async () => {
    const cases: [ImagesState, number][] = [
      [presetState('digits', 7), 47],
      [
        {
          ...presetState('mnist', 3),
          arch: 'conv 4 5 relu, maxpool 2, conv 6 3 tanh padding=1, maxpool 2, flatten, linear',
          optimizer: 'momentum',
          learningRate: 0.01,
          batchSize: 16,
        },
        4,
      ],
    ];
    for (const [state, n] of cases) {
      await open(state);
      await step(n);
      const run = await compareWithNode(state.dataset);
      // The test scores shown: step 0's and, for the digits, the first epoch's.
      const shown = run.evaluations[run.evaluations.length - 1];
      await page.waitForFunction(
        (t) => document.getElementById('test-accuracy')?.textContent === t,
        `${(shown.testAccuracy * 100).toFixed(2)}%`,
        { timeout: 5000 },
      );
      // The probabilities shown for test image #0 against its label: Node's, to the digits shown.
      const set = sets[state.dataset as 'digits' | 'mnist'];
      const size = set.shape[0] * set.shape[1] * set.shape[2];
      const image = Array.from(set.test.pixels.subarray(0, size), (v) => v / set.maxValue);
      const ins = run.inspect(image, set.test.labels[0]);
      await page.waitForFunction(
        (s) =>
          (
            window as unknown as { chainrulePlaygroundImages: Hook }
          ).chainrulePlaygroundImages.inspection() !== null &&
          document.getElementById('counter')?.textContent?.endsWith(` ${s}`),
        n,
      );
      for (let k = 0; k < 10; k++)
        assert.equal(
          await page.textContent(`#prob-${k}`),
          `${(ins.probabilities[k] * 100).toFixed(2)}%`,
          `${state.dataset} p${k}`,
        );
      // Hover the middle cell of the first feature map: its number is Node's, bit for bit, with the conv sum.
      const map = page.locator('canvas[aria-label^="conv2d 1 map 0"]');
      const box = (await map.boundingBox())!;
      const [, h, w] = ins.layers[0].shape;
      const [r, c] = [Math.floor(h / 2), Math.floor(w / 2)];
      await page.mouse.move(box.x + ((c + 0.5) * box.width) / w, box.y + ((r + 0.5) * box.height) / h);
      const card = page.locator('#cell-card');
      await card.waitFor({ state: 'visible' });
      const expected = pg.explainCell(ins, { of: 'value', layer: 0, index: r * w + c });
      assert.equal(await card.getAttribute('data-value'), String(expected.value));
      assert.match(
        (await card.textContent()) ?? '',
        /z\[0, \d+, \d+\] = b\[0\] \+ Σ_\{c<1, u<\d, v<\d\} w\[0, c, u, v\]·x\[c/,
      );
      // A kernel gradient cell: Σ patch·δ.
      const kernel = page.locator('canvas[aria-label^="conv2d 1 kernel 0, channel 0 gradient"]');
      await kernel.hover({ position: { x: 1, y: 1 } });
      assert.equal(
        await card.getAttribute('data-value'),
        String(pg.explainCell(ins, { of: 'weightGrad', layer: 0, index: 0 }).value),
      );
      assert.match((await card.textContent()) ?? '', /Σ patch·δ/);
      // A probability: softmax of the logits.
      await page.hover('#probabilities li:nth-child(3)');
      assert.equal(await card.getAttribute('data-value'), String(ins.probabilities[2]));
      assert.match((await card.textContent()) ?? '', /p_2 = e\^\{z_2\} \/ Σ_k e\^\{z_k\}/);
      await page.mouse.move(0, 0);
    }
  });

  test('play, pause: whatever number of steps it took, Node trains them to the same bits; the test accuracy rises', async () => {
    await open(presetState('digits', 21));
    await page.click('#play');
    await waitFor(
      () => hook((h) => h.epoch()),
      (e) => (e ?? 0) >= 2,
      'epoch 2',
    );
    await page.click('#play');
    await waitFor(
      () => hook((h) => h.playing()),
      (p) => !p,
      'paused',
    );
    await page.waitForTimeout(200);
    const run = await compareWithNode('played');
    const shown = (await hook((h) => h.evaluations()))!;
    // The page scores every epoch and where it paused.
    if (run.evaluations[run.evaluations.length - 1].step !== run.steps) run.evaluate();
    assert.deepEqual(shown, run.evaluations);
    assert.ok(
      shown[shown.length - 1].testAccuracy > 0.8,
      `test accuracy ${shown[shown.length - 1].testAccuracy}`,
    );
    // The ONNX file: the bytes Node's run of the same URL and steps writes (the Node test runs them in
    // onnxruntime against the run's predictions).
    const [onnx] = await Promise.all([page.waitForEvent('download'), page.click('#export-onnx')]);
    assert.equal(onnx.suggestedFilename(), `playground-images-digits-step${run.steps}.onnx`);
    const bytes = readFileSync((await onnx.path()) as string);
    assert.ok(Buffer.from(run.toOnnx()).equals(bytes), "the page's ONNX is Node's");
  });

  test('a drawn digit is inspected: the input is the drawing through drawingToImage, the probabilities sum to 1', async () => {
    await open(presetState('digits', 2));
    const pad = (await page.locator('#draw').boundingBox())!;
    await page.mouse.move(pad.x + 140, pad.y + 40);
    await page.mouse.down();
    for (let y = 40; y <= 240; y += 20) await page.mouse.move(pad.x + 140, pad.y + y);
    await page.mouse.up();
    await waitFor(
      () =>
        hook(
          (h) =>
            h.image()?.some((v) => v > 0) &&
            h.image()?.every((v, i) => v === h.inspection()?.input.values[i]),
        ),
      (v) => v === true,
      'the drawing inspected',
    );
    const ins = (await hook((h) => h.inspection()))!;
    const image = (await hook((h) => h.image()))!;
    // A vertical stroke: ink in the middle columns only.
    assert.ok(image.some((v, i) => v > 0 && [3, 4].includes(i % 8)));
    assert.ok(image.every((v, i) => v === 0 || [2, 3, 4, 5].includes(i % 8)));
    const total = Object.values(ins.probabilities).reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(total - 1) < 1e-12);
    assert.equal(ins.label, ins.predicted);
  });

  test('a folder of PNGs (one sub-folder per class) trains, and Node decodes the same pixels to the same weights', async () => {
    const root = join(dir, 'shapes');
    const images: pg.FolderImage[] = [];
    for (const [label, draw] of [
      ['bars', (x: number, _y: number) => x % 8 < 3],
      ['rings', (x: number, y: number) => Math.abs(Math.hypot(x - 16, y - 16) - 9) < 3],
    ] as const) {
      mkdirSync(join(root, label), { recursive: true });
      for (let i = 0; i < 8; i++) {
        const png = new PNG({ width: 32, height: 32 });
        for (let y = 0; y < 32; y++)
          for (let x = 0; x < 32; x++) {
            const v = draw(x + i, y) ? 255 - 9 * i : 10 * i;
            png.data.set([v, (v * 3) % 256, 255 - v, 255], 4 * (y * 32 + x));
          }
        const path = `shapes/${label}/${i}.png`;
        writeFileSync(join(dir, path), PNG.sync.write(png));
        images.push({
          path,
          label,
          pixels: resizeImage(rgbaToPlanes(new Uint8Array(png.data), 32, 32, 1), 1, 32, 32, 28, 28),
        });
      }
    }
    await open(presetState('digits', 4));
    await page.setInputFiles('#folder-file', root);
    await waitFor(
      () => hook((h) => h.state().dataset),
      (d) => d === 'folder',
      'the folder dataset',
    );
    await waitFor(steps, (s) => s === 0, 'step 0 on the folder');
    await step(3);
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export-chainrule')]);
    const file = parseModelFile(readFileSync((await download.path()) as string, 'utf8'), 'download');
    const run = pg.createImageRun(
      imageConfigOf((await hook((h) => h.state()))!),
      pg.folderImageSet('shapes', images),
    );
    for (let i = 0; i < 3; i++) run.step();
    const node = run.model.stateDict();
    for (const [key, entry] of Object.entries(file.weights))
      assert.deepEqual(
        Array.from(decodeFloats(entry.data, 'float64')),
        Array.from(node[key].data),
        `folder: ${key}`,
      );
    assert.match(
      (await page.textContent('#status')) ?? '',
      /shapes: 13 training and 3 test images, classes bars, rings/,
    );
  });

  test('the controls work from the keyboard; a map answers the arrow keys', async () => {
    await open(presetState('digits', 6));
    const seen = new Set<string>();
    for (let i = 0; i < 40; i++) {
      await page.keyboard.press('Tab');
      seen.add(
        await page.evaluate(
          () => document.activeElement?.id || document.activeElement?.getAttribute('aria-label') || '',
        ),
      );
    }
    for (const id of [
      'reset',
      'play',
      'step',
      'dataset',
      'optimizer',
      'learningRate',
      'batchSize',
      'seed',
      'arch',
      'draw',
      'clear',
      'test-image',
      'label',
      'showGradients',
      'export-chainrule',
      'export-onnx',
      'folder-pick',
    ])
      assert.ok(seen.has(id), `Tab never reaches ${id}: ${[...seen].join(' | ')}`);
    await page.focus('#step');
    await page.keyboard.press('Enter');
    await waitFor(steps, (s) => s === 1, 'step 1');
    await page.focus('#play');
    await page.keyboard.press('Space');
    await waitFor(steps, (s) => (s as number) > 3, 'playing');
    await page.keyboard.press('Space');
    await waitFor(
      () => hook((h) => h.playing()),
      (p) => !p,
      'paused',
    );
    // The architecture field: Enter applies a new network, which the URL carries.
    await page.focus('#arch');
    await page.keyboard.press('Control+A');
    await page.keyboard.type('conv 4 3 relu, maxpool 2, flatten, linear');
    await page.keyboard.press('Enter');
    await waitFor(
      () => hook((h) => h.state().arch),
      (a) => a === 'conv 4 3 relu, maxpool 2, flatten, linear',
      'the new network',
    );
    await waitFor(steps, (s) => s === 0, 'a new run');
    assert.match(decodeURIComponent(page.url()), /arch=conv\+4\+3\+relu/);
    await page.focus('#dataset');
    await page.keyboard.press('ArrowDown');
    await waitFor(
      () => hook((h) => h.state().dataset),
      (d) => d === 'mnist',
      'mnist from the keyboard',
    );
    assert.deepEqual(imageConfigOf((await hook((h) => h.state()))!), { ...pg.IMAGE_PRESETS.mnist, seed: 6 });
    await waitFor(steps, (s) => s === 0, 'the mnist run');
    await waitFor(
      () => hook((h) => h.inspection()?.input.shape[1]),
      (v) => v === 28,
      'a 28×28 inspection',
    );
    const map = page.locator('canvas[aria-label^="conv2d 1 map 0"]');
    await map.focus();
    const title = () => page.textContent('#cell-card .title');
    assert.equal(await title(), 'conv2d 1 output[0, 0, 0]');
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('ArrowDown');
    assert.equal(await title(), 'conv2d 1 output[0, 1, 1]');
  });

  test("the dense page: a link naming only the seed dataset gets the notebook's network", async () => {
    await page.goto('about:blank');
    await page.goto(`${server.url}#dataset=seed`);
    await page.waitForFunction(
      () =>
        (
          window as unknown as { chainrulePlayground: { epoch(): number | null } }
        ).chainrulePlayground.epoch() === 0,
    );
    const s = await page.evaluate(() =>
      (
        window as unknown as {
          chainrulePlayground: {
            state(): { hidden: number[]; activation: string; learningRate: number; seed: number };
          };
        }
      ).chainrulePlayground.state(),
    );
    assert.deepEqual([s.hidden, s.activation, s.learningRate, s.seed], [[2], 'sigmoid', 0.1, 42]);
    // The nav links the pages both ways.
    assert.equal(await page.getAttribute('#pages a[aria-current="page"]', 'href'), 'index.html');
    await page.click('#pages a[href="images.html"]');
    await waitFor(steps, (s) => s === 0, 'the Images page from the nav');
  });

  test('no console errors in the whole session', () => {
    assert.deepEqual(errors, []);
  });
});
