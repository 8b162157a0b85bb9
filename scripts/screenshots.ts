// The README's screenshot of the Images page, taken in headless Chromium: the MNIST preset trained for
// a while, a test digit opened up with the gradients of one step, and the formula card of a feature-map
// cell. `tsx scripts/screenshots.ts [--seconds 20]` writes docs/playground-images.png.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { servePlayground } from '../cli/commands/playground.js';
import { buildWeb } from '../web/build.js';
import { launchChromium } from '../test/helpers/browser.js';
import { imagesStateToHash, presetState } from '../web/images.state.js';

const OUT = fileURLToPath(new URL('../docs/playground-images.png', import.meta.url));
const at = process.argv.indexOf('--seconds');
const seconds = at > 0 ? Number(process.argv[at + 1]) : 20;

const dir = mkdtempSync(join(tmpdir(), 'chainrule-screenshots-'));
try {
  await buildWeb(join(dir, 'web'));
  const server = await servePlayground({ root: join(dir, 'web'), port: 0 });
  const context = await launchChromium(join(dir, 'profile'), { viewport: { width: 1360, height: 1180 } });
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    type Hook = { steps(): number | null; epoch(): number; inspection(): unknown };
    const hook = () =>
      page.evaluate(() => {
        const h = (window as unknown as { chainrulePlaygroundImages?: Hook }).chainrulePlaygroundImages;
        return h ? { steps: h.steps(), epoch: h.epoch(), inspected: h.inspection() !== null } : null;
      });
    await page.goto(`${server.url}images.html${imagesStateToHash(presetState('mnist', 1))}`);
    for (let h = await hook(); !h || h.steps !== 0 || !h.inspected; h = await hook())
      await page.waitForTimeout(100);
    await page.click('#play');
    await page.waitForTimeout(seconds * 1000);
    await page.click('#play');
    // Test image #1 is a 2.
    await page.click('#test-image');
    await page.waitForTimeout(1000);
    const map = page.locator('canvas[aria-label^="conv2d 1 map 2"]');
    const box = (await map.boundingBox())!;
    await page.mouse.move(box.x + box.width * 0.45, box.y + box.height * 0.55);
    await page.waitForTimeout(300);
    await page.screenshot({ path: OUT });
    const h = await hook();
    process.stdout.write(`wrote ${OUT} after ${h?.steps} steps (epoch ${h?.epoch})\n`);
  } finally {
    await context.close();
    await server.close();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
