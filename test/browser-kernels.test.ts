// The WebAssembly SIMD kernels in a real browser: the playground page, built into a temporary folder and
// served cross-origin isolated by `chainrule playground`'s server, trains on them and names them in its
// footer; inside that page (and inside a worker, where threads may block) they must agree with the
// reference kernels. The browser side is test/helpers/kernel-check.ts, bundled here with esbuild next to
// the built page (so the shipped page carries none of it). Chromium is Debian's, driven by playwright-core.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { BrowserContext, Page } from 'playwright-core';
import { servePlayground, type PlaygroundServer } from '../cli/commands/playground.js';
import { buildWeb } from '../web/build.js';
import { kernelThreads } from '../web/protocol.js';
import { chromiumSkip, launchChromium } from './helpers/browser.js';
import type { MatmulCheck, PageReport, WorkerReport } from './helpers/kernel-check.js';
import { LAYOUTS, SHAPES } from './helpers/kernel-cases.js';
import { F32_TOL } from './helpers/window-cases.js';

const CHECK_SOURCE = fileURLToPath(new URL('./helpers/kernel-check.ts', import.meta.url));

describe('the WebAssembly kernels in Chromium', { skip: chromiumSkip }, () => {
  let dir = '';
  let server: PlaygroundServer;
  let context: BrowserContext;
  let page: Page;
  const errors: string[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'chainrule-browser-kernels-'));
    const web = join(dir, 'web');
    await buildWeb(web);
    await build({
      entryPoints: [CHECK_SOURCE],
      outfile: join(web, 'kernel-check.js'),
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      logLevel: 'silent',
    });
    server = await servePlayground({ root: web, port: 0 });
    context = await launchChromium(join(dir, 'profile'));
    page = context.pages()[0] ?? (await context.newPage());
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(`console: ${m.text()}`);
    });
    page.on('pageerror', (e) => errors.push(`page: ${e.message}`));
    await page.goto(server.url);
  });

  /** The page's checks, run once for the tests that read them. */
  let pageChecks: Promise<PageReport> | null = null;
  const pageReport = () =>
    (pageChecks ??= page.evaluate<PageReport>("import('./kernel-check.js').then((m) => m.checkInPage())"));

  after(async () => {
    await context?.close();
    await server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('the playground trains on the WebAssembly kernels and names them in its footer', async () => {
    await page.waitForFunction(() => document.getElementById('kernels')?.textContent !== '');
    const { isolated, cores, shown, hook } = await page.evaluate(() => ({
      isolated: crossOriginIsolated,
      cores: navigator.hardwareConcurrency,
      shown: document.getElementById('kernels')?.textContent,
      hook: (
        window as unknown as { chainrulePlayground: { kernels(): string | null } }
      ).chainrulePlayground.kernels(),
    }));
    assert.equal(isolated, true, 'the playground server makes the page cross-origin isolated');
    // The worker asks for one thread per core up to a cap; where that is one, the name has no thread count.
    const threads = kernelThreads(cores, isolated);
    // Chromium has relaxed SIMD: float32 products use its fused multiply-add by default ('relaxed32').
    const base = (await page.evaluate<boolean>("import('./kernel-check.js').then((m) => m.relaxedHere())"))
      ? 'wasm-simd-relaxed32'
      : 'wasm-simd';
    const name = threads > 1 ? `${base}-threads${threads}` : base;
    assert.equal(shown, `Kernels: ${name}`);
    assert.equal(hook, name);
    // The worker loads the kernels before it builds a run: the first frame comes from them.
    await page.waitForFunction(
      () =>
        (
          window as unknown as { chainrulePlayground: { epoch(): number | null } }
        ).chainrulePlayground.epoch() === 0,
    );
  });

  test('in the page: matmul in every layout and the elementwise ops agree with the reference', async () => {
    const r = await pageReport();
    assert.equal(r.isolated, true);
    // The main thread may not block in Atomics.wait: asked for two threads, the set runs on one.
    const base = r.relaxed ? 'wasm-simd-relaxed32' : 'wasm-simd';
    assert.deepEqual(r.names, { defaults: base, forced: base, threadsOnMainThread: base });
    const tooFar = (checks: MatmulCheck[]) =>
      checks.filter((c) => !(c.error <= c.tol)).map((c) => `${c.what}: error ${c.error} > ${c.tol}`);
    assert.equal(r.matmul.length, 2 * SHAPES.length * LAYOUTS.length);
    assert.deepEqual(tooFar(r.matmul), []);
    // Float32 sums round in float32 lanes, the reference's in doubles: some bits differ, which also shows
    // the products really ran in wasm rather than falling back to the reference.
    assert.ok(
      r.matmul.some((c) => c.what.startsWith('float32') && !c.sameBits),
      'every float32 product has the reference bits: did the wasm matmul run at all?',
    );
    assert.deepEqual(r.offsets, []);
    // What keeps the playground's "same URL, same weights as Node" promise on these kernels.
    assert.deepEqual(
      r.playground.filter((c) => !c.sameBits).map((c) => c.what),
      [],
      "the playground's float64 products must have the reference's bits",
    );
    assert.ok(r.elementwiseCases > 500, `${r.elementwiseCases} elementwise cases`);
    assert.deepEqual(r.elementwiseMismatches, []);
  });

  test('in the page: convolution and pooling agree with the reference (float64 to the bit)', async () => {
    const r = await pageReport();
    assert.deepEqual(r.windows.mismatches, []);
    assert.ok(r.windows.calls > 600, `${r.windows.calls} calls compared`);
    // Float32 convolutions sum in float32 lanes (fused where the browser has relaxed SIMD): not the
    // reference's bits, which shows they ran in wasm.
    assert.ok(r.windows.worstF32 > 0 && r.windows.worstF32 <= F32_TOL, `float32 error ${r.windows.worstF32}`);
  });

  test('in a worker: two threads give the same bits as one on products of 2²² multiply-adds or more', async () => {
    const r = await page.evaluate<WorkerReport>(
      "import('./kernel-check.js').then((m) => m.checkThreadsInWorker())",
    );
    assert.equal(r.isolated, true);
    assert.match(r.names.threaded, /^wasm-simd(-relaxed32)?-threads2$/);
    assert.equal(r.names.single, r.names.threaded.replace('-threads2', ''));
    assert.equal(r.products.length, 2 * 3 * 3);
    for (const p of r.products) {
      assert.ok(p.workerParts > 0, `${p.what}: the pool's worker took no part`);
      assert.ok(p.sameBits, `${p.what}: two threads and one differ`);
      assert.ok(p.error <= p.tol, `${p.what}: error ${p.error} against the reference > ${p.tol}`);
    }
    // The sliding-window kernels, every call split over two threads: one thread's bits, the reference's in float64.
    assert.deepEqual(r.windows.mismatches, []);
    assert.ok(r.windowWorkerParts > 0, "the pool's worker took no part in the sliding-window kernels");
  });

  test('no console errors', () => {
    assert.deepEqual(errors, []);
  });
});
