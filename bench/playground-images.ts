// The Images page's speed target, measured in headless Chromium: the MNIST preset (the page's 22k subset:
// the first 20,000 training and 2,000 test images) trains from the moment play is pressed; the test accuracy
// is scored after every epoch, and this prints when each score arrived, the first at or above 97%, and the
// load average. Not a test (timings on a shared machine are noisy):
// `npm run bench:images [-- --seconds 60 --seed 1 --arch '…' --lr 0.002 --batch 32]` (the MNIST preset unless given).
import { loadavg, cpus } from 'node:os';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { servePlayground } from '../cli/commands/playground.js';
import { launchChromium } from '../test/helpers/browser.js';
import { buildWeb } from '../web/build.js';
import { MNIST_SUBSET } from '../web/images.assets.js';
import { imagesStateToHash, presetState } from '../web/images.state.js';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const seconds = arg('seconds', 60);
const seed = arg('seed', 1);
const TARGET = 0.97;

interface Evaluation {
  step: number;
  epoch: number;
  testAccuracy: number;
  testLoss: number;
}

const dir = mkdtempSync(join(tmpdir(), 'chainrule-images-bench-'));
try {
  await buildWeb(join(dir, 'web'));
  const server = await servePlayground({ root: join(dir, 'web'), port: 0 });
  const context = await launchChromium(join(dir, 'profile'));
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    const at = process.argv.indexOf('--arch');
    const state = {
      ...presetState('mnist', seed),
      ...(at > 0 ? { arch: process.argv[at + 1] } : {}),
      ...(process.argv.includes('--lr') ? { learningRate: arg('lr', 0) } : {}),
      ...(process.argv.includes('--batch') ? { batchSize: arg('batch', 0) } : {}),
    };
    await page.goto(`${server.url}images.html${imagesStateToHash(state)}`);
    type Hook = {
      steps(): number | null;
      evaluations(): Evaluation[];
      kernels(): string | null;
      playing(): boolean;
    };
    const read = () =>
      page.evaluate(() => {
        const h = (window as unknown as { chainrulePlaygroundImages?: Hook }).chainrulePlaygroundImages;
        return h ? { steps: h.steps(), evaluations: h.evaluations(), kernels: h.kernels() } : null;
      });
    for (let r = await read(); !r || r.steps !== 0; r = await read()) await page.waitForTimeout(50);
    const load = loadavg();
    const started = Date.now();
    await page.click('#play');
    const arrivals: (Evaluation & { seconds: number })[] = [];
    let last = await read();
    while (Date.now() - started < seconds * 1000) {
      await page.waitForTimeout(200);
      last = await read();
      for (const e of last!.evaluations.slice(1 + arrivals.length))
        arrivals.push({ ...e, seconds: (Date.now() - started) / 1000 });
    }
    await page.click('#play');
    const cores = await page.evaluate(() => navigator.hardwareConcurrency);
    const loadAfter = loadavg();
    process.stdout.write(
      `MNIST subset (${MNIST_SUBSET.train.toLocaleString('en')} train / ${MNIST_SUBSET.test.toLocaleString('en')} test), ${state.arch}, ${state.optimizer} lr ${state.learningRate}, batch ${state.batchSize}, seed ${seed}\n` +
        `headless Chromium, ${cores} cores reported (${cpus().length} on this machine), kernels ${last!.kernels}\n`,
    );
    for (const a of arrivals)
      process.stdout.write(
        `  epoch ${a.epoch} (step ${a.step}) at ${a.seconds.toFixed(1)} s: test accuracy ${(a.testAccuracy * 100).toFixed(2)}%, loss ${a.testLoss.toFixed(4)}\n`,
      );
    const first = arrivals.find((a) => a.testAccuracy >= TARGET);
    process.stdout.write(
      `${last!.steps} steps in ${seconds} s; ${first ? `first ≥ ${TARGET * 100}%: ${(first.testAccuracy * 100).toFixed(2)}% at ${first.seconds.toFixed(1)} s (epoch ${first.epoch})` : `no score ≥ ${TARGET * 100}% within ${seconds} s`}\n` +
        `load average before ${load.map((l) => l.toFixed(2)).join(' ')}, after ${loadAfter.map((l) => l.toFixed(2)).join(' ')}\n`,
    );
  } finally {
    await context.close();
    await server.close();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
