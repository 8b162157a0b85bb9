// The default kernels in Chromium: on a page's main thread the reference set until `await ready()`
// compiles the WebAssembly one asynchronously; in a Web Worker the WebAssembly set at once (compiled
// synchronously on first use), with worker threads only where the page is cross-origin isolated. The
// library is bundled with esbuild into one classic script and served through playwright's routing (from
// localhost, a secure context, so the isolated page really gets SharedArrayBuffer).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { BrowserContext, Page } from 'playwright-core';
import { MAX_THREADS } from '../src/kernels/wasm/pool.js';
import { chromiumSkip, launchChromium } from './helpers/browser.js';

const ORIGIN = 'http://localhost:9';
const ENTRY = fileURLToPath(new URL('./helpers/default-check.ts', import.meta.url));

/** What the worker reports (see WORKER below). */
interface WorkerReport {
  isolated: boolean;
  cores: number;
  name: string;
  readySame: boolean;
  correct: boolean;
  workerParts: number;
}

/**
 * The worker: the default set on first use, then a product of 2²⁴ multiply-adds; with threads, more until
 * the pool's workers (started by the first, Blob URL workers of their own) have taken a part, or 5 s have
 * passed.
 */
const WORKER = `
(async () => {
  const lib = self.chainrule;
  const k = lib.kernels();
  const readySame = (await lib.ready()) === k;
  const a = lib.ones([256, 256]);
  let correct = true;
  const until = Date.now() + 5000;
  do {
    correct &&= lib.matmul(a, a).data.every((v) => v === 256);
    await new Promise((r) => setTimeout(r, 20));
  } while (/-threads/.test(k.name) && self.chainrulePoolStats.workerParts === 0 && Date.now() < until);
  postMessage({ isolated: self.crossOriginIsolated, cores: navigator.hardwareConcurrency, name: k.name,
    readySame, correct, workerParts: self.chainrulePoolStats.workerParts });
})().catch((e) => postMessage({ error: String(e) }));
`;

describe('the default kernels in Chromium', { skip: chromiumSkip }, () => {
  let dir = '';
  let lib = '';
  let context: BrowserContext;
  const errors: string[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'chainrule-browser-default-'));
    const out = await build({
      entryPoints: [ENTRY],
      bundle: true,
      write: false,
      format: 'iife',
      platform: 'browser',
      target: 'es2022',
      logLevel: 'silent',
    });
    lib = out.outputFiles[0].text;
    context = await launchChromium(join(dir, 'profile'));
    await context.route(`${ORIGIN}/**`, (route) => {
      const url = new URL(route.request().url());
      const isolated = url.pathname.startsWith('/isolated/');
      const headers: Record<string, string> = isolated
        ? { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' }
        : {};
      if (url.pathname.endsWith('/lib.js'))
        return route.fulfill({ contentType: 'text/javascript', body: lib, headers });
      return route.fulfill({
        contentType: 'text/html',
        body: '<!doctype html><meta charset="utf-8"><script src="lib.js"></script>',
        headers,
      });
    });
  });

  after(async () => {
    await context?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** A fresh page at `/isolated/` or `/plain/`, its errors collected. */
  async function open(isolated: boolean): Promise<Page> {
    const page = await context.newPage();
    page.on('pageerror', (e) => errors.push(`page: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(`console: ${m.text()}`);
    });
    await page.goto(`${ORIGIN}/${isolated ? 'isolated' : 'plain'}/`);
    return page;
  }

  /** Run WORKER in a Blob URL worker of `page` with the library loaded first. */
  function inWorker(page: Page): Promise<WorkerReport & { error?: string }> {
    return page.evaluate(async (source) => {
      const lib = await (await fetch('lib.js')).text();
      const url = URL.createObjectURL(new Blob([lib, source], { type: 'text/javascript' }));
      const worker = new Worker(url);
      return new Promise<WorkerReport & { error?: string }>((resolve) => {
        worker.onmessage = (e) => resolve(e.data);
        worker.onerror = (e) => resolve({ error: e.message } as WorkerReport & { error: string });
      });
    }, WORKER);
  }

  for (const isolated of [true, false])
    test(`main thread${isolated ? ', cross-origin isolated' : ''}: the reference set until ready(), then WebAssembly on one thread`, async () => {
      const page = await open(isolated);
      const r = await page.evaluate(async () => {
        const lib = (globalThis as unknown as { chainrule: typeof import('../src/index.js') }).chainrule;
        const before = lib.kernels().name;
        const sum = lib.matmul(lib.ones([64, 64]), lib.ones([64, 64])).data[0];
        const k = await lib.ready();
        return {
          isolated: crossOriginIsolated,
          before,
          sum,
          after: lib.kernels().name,
          same: k === lib.kernels() && (await lib.ready()) === k,
        };
      });
      assert.equal(r.isolated, isolated);
      assert.equal(r.before, 'reference');
      assert.equal(r.sum, 64);
      // Chromium has relaxed SIMD (float32 products use its FMA); a main thread may not block, so one thread.
      assert.equal(r.after, 'wasm-simd-relaxed32');
      assert.equal(r.same, true);
      await page.close();
    });

  test('a worker of a cross-origin isolated page: the WebAssembly set at once, a thread per core', async () => {
    const page = await open(true);
    const r = await inWorker(page);
    assert.equal(r.error, undefined);
    assert.equal(r.isolated, true);
    const threads = Math.min(MAX_THREADS, r.cores);
    assert.equal(r.name, threads > 1 ? `wasm-simd-relaxed32-threads${threads}` : 'wasm-simd-relaxed32');
    assert.equal(r.readySame, true);
    assert.equal(r.correct, true);
    if (threads > 1) assert.ok(r.workerParts > 0, "the pool's workers took no part");
    await page.close();
  });

  test('a worker of a page that is not isolated: the WebAssembly set on one thread', async () => {
    const page = await open(false);
    const r = await inWorker(page);
    assert.equal(r.error, undefined);
    assert.equal(r.isolated, false);
    assert.equal(r.name, 'wasm-simd-relaxed32');
    assert.equal(r.readySame, true);
    assert.equal(r.correct, true);
    assert.equal(r.workerParts, 0);
    await page.close();
  });

  test('no console errors', () => {
    assert.deepEqual(errors, []);
  });
});
