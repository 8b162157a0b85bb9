// The Text page's screenshot and its one measurement: build the page, serve it, open it in headless
// Chromium on its defaults (a 2-block GPT on the names list), press play, and after `--seconds` (default 60)
// pause, then report the step, the latest validation loss, a few samples and the load average, and save
// the page as docs/playground-text.png. A measurement script, not a test: timings depend on the machine.
//   tsx scripts/screenshot-text.ts [--seconds 60] [--out docs/playground-text.png]
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { servePlayground } from '../cli/commands/playground.js';
import { buildWeb } from '../web/build.js';
import { launchChromium } from '../test/helpers/browser.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    out: { type: 'string', default: 'docs/playground-text.png' },
  },
});
const seconds = Number(values.seconds);
const out = resolve(values.out as string);

interface Stats {
  step: number;
  loss: number | null;
  valLoss?: number;
}
type Hook = Record<string, () => unknown>;

const dir = mkdtempSync(join(tmpdir(), 'chainrule-text-shot-'));
const server = await (async () => {
  await buildWeb(join(dir, 'web'));
  return servePlayground({ root: join(dir, 'web'), port: 0 });
})();
const context = await launchChromium(join(dir, 'profile'), { viewport: { width: 1360, height: 940 } });
try {
  const page = context.pages()[0] ?? (await context.newPage());
  const hook = (key: string) =>
    page.evaluate((k) => (window as unknown as { chainruleText: Hook }).chainruleText[k](), key);
  await page.goto(`${server.url}text.html`);
  while ((await hook('step')) !== 0) await page.waitForTimeout(50);
  const before = loadavg();
  await page.click('#play');
  const started = Date.now();
  await page.waitForTimeout(seconds * 1000);
  await page.click('#play');
  const elapsed = (Date.now() - started) / 1000;
  while ((await hook('digest')) === null) await page.waitForTimeout(50);
  const history = (await hook('history')) as Stats[];
  const val = history.filter((s) => s.valLoss !== undefined).at(-1);
  const sample = ((await hook('samples')) as string[])[0] ?? '';
  // The screenshot with a hover card open on block 1, head 2.
  const map = page.locator('.attn-map[data-layer="0"][data-head="1"]');
  const box = await map.boundingBox();
  if (box) await page.mouse.move(box.x + 18 * 3 + 9, box.y + 18 * 4 + 9);
  await page.screenshot({ path: out });
  const cores = await page.evaluate(() => navigator.hardwareConcurrency);
  process.stdout.write(
    `played ${elapsed.toFixed(1)} s: step ${history.at(-1)?.step}, validation loss ${val?.valLoss?.toFixed(4)} ` +
      `(step ${val?.step}), last batch loss ${history.at(-1)?.loss?.toFixed(4)}\n` +
      `samples: ${JSON.stringify(sample.split('\n').filter((s) => s !== ''))}\n` +
      `machine: ${cpus().length} cores (browser reports ${cores}); load average before ${before.map((v) => v.toFixed(2)).join(' ')}, ` +
      `after ${loadavg()
        .map((v) => v.toFixed(2))
        .join(' ')}\n` +
      `saved ${out}\n`,
  );
} finally {
  await context.close();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
}
