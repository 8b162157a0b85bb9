// The seed notebook, corrected: the demo's numbers, the explicit loop's, and a hand-written scalar
// implementation of the notebook's formulas agree; the notebook's own update order reproduces its print.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { NOTEBOOK_LOSSES, random, seedData, seedNetwork } from '../src/index.js';
import { runSeedDemo } from '../cli/seed-demo.js';
import { fixtureText } from './helpers/fixtures.js';

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

/** The notebook's network in scalars; `buggy` updates w5/w6 before the hidden layer's gradient uses them. */
function scalarRun(buggy: boolean): number[] {
  const rng = new random.RandomState(42);
  const [w1, w3, w2, w4] = rng.rand(2, 2).data; // weights_input_hidden[i][j]: input i → hidden j
  const [w5, w6] = rng.rand(2, 1).data;
  let W = [w1, w2, w3, w4, w5, w6];
  let b = [0, 0, 0];
  const [x1, x2, y, lr] = [0.5, 0.6, 0.8, 0.1];
  const printed: number[] = [];
  for (let epoch = 1; epoch <= 100; epoch++) {
    const [a1, a2, a3, a4, a5, a6] = W;
    const h1 = sigmoid(x1 * a1 + x2 * a2 + b[0]);
    const h2 = sigmoid(x1 * a3 + x2 * a4 + b[1]);
    const o = sigmoid(h1 * a5 + h2 * a6 + b[2]);
    const loss = 0.5 * (o - y) ** 2;
    const delta = (o - y) * (o * (1 - o)); // d_loss/d_output · d_output/d_z
    const n5 = a5 - lr * h1 * delta;
    const n6 = a6 - lr * h2 * delta;
    const [u5, u6] = buggy ? [n5, n6] : [a5, a6]; // which w5/w6 the hidden gradient flows through
    const d1 = delta * u5 * (h1 * (1 - h1));
    const d2 = delta * u6 * (h2 * (1 - h2));
    W = [a1 - lr * x1 * d1, a2 - lr * x2 * d1, a3 - lr * x1 * d2, a4 - lr * x2 * d2, n5, n6];
    b = [b[0] - lr * d1, b[1] - lr * d2, b[2] - lr * delta];
    if (epoch % 10 === 0) printed.push(loss);
  }
  return printed;
}

describe('the seed notebook', () => {
  test('NOTEBOOK_LOSSES are the losses the notebook printed (test/fixtures/backpropagation-notebook.txt)', () => {
    const printed = [
      ...fixtureText('backpropagation-notebook.txt').matchAll(/^Epoch \[(\d+)\/100\], Loss: (\S+)$/gm),
    ];
    assert.deepEqual(
      printed.map((m) => Number(m[1])),
      [10, 20, 30, 40, 50, 60, 70, 80, 90, 100],
    );
    assert.deepEqual(
      printed.map((m) => Number(m[2])),
      NOTEBOOK_LOSSES,
    );
  });

  test("its own update order reproduces the notebook's printed losses exactly", () => {
    assert.deepEqual(scalarRun(true), NOTEBOOK_LOSSES);
  });

  test('the demo (fit) agrees with the hand-derived correct backprop within 1e-13', async () => {
    const demo = await runSeedDemo(() => {});
    const ref = scalarRun(false);
    demo.forEach((v, i) =>
      assert.ok(Math.abs(v - ref[i]) <= 1e-13 * ref[i], `epoch ${(i + 1) * 10}: ${v} vs ${ref[i]}`),
    );
  });

  test('the demo differs from the notebook from the 4th–6th significant digit, as a correct backprop must', async () => {
    const demo = await runSeedDemo(() => {});
    demo.forEach((v, i) => {
      const rel = Math.abs(v - NOTEBOOK_LOSSES[i]) / NOTEBOOK_LOSSES[i];
      assert.ok(rel > 1e-6 && rel < 1e-3, `epoch ${(i + 1) * 10}: relative difference ${rel}`);
    });
  });

  test('examples/seed.ts (the explicit loop) prints exactly what the demo prints', async () => {
    const lines: string[] = [];
    await runSeedDemo((l) => lines.push(l));
    const out = execFileSync(process.execPath, ['--import', 'tsx', 'examples/seed.ts'], { encoding: 'utf8' });
    assert.deepEqual(out.trim().split('\n'), lines.slice(0, 10));
  });

  test('seedNetwork draws the notebook initialisation: rand(2,2) then rand(2,1) after seed 42', () => {
    const m = seedNetwork();
    const rng = new random.RandomState(42);
    const state = m.stateDict();
    assert.deepEqual(Array.from(state['0.weight'].data), Array.from(rng.rand(2, 2).data));
    assert.deepEqual(Array.from(state['2.weight'].data), Array.from(rng.rand(2, 1).data));
    assert.deepEqual(Array.from(state['0.bias'].data), [0, 0]);
    assert.deepEqual(seedData().x.toArray(), [[0.5, 0.6]]);
  });
});
