// CPU-time rates (process.cpuUsage: user+system of all threads) for W6: ours vs tfjs-wasm, same process.
import { fit, kernels, nn, optim, random, Tensor } from '../src/index.js';
import { loadTf } from './peers/tfjs.js';
const T = 32, H = 64, BATCH = 32;
const rng0 = new random.RandomState(6);
const mk = (n: number) => { const x = new Float32Array(n * T), y = new Float32Array(n); for (let s = 0; s < n; s++) { const ph = rng0.random() * 6.28, fr = 0.1 + rng0.random() * 0.3; for (let t = 0; t <= T; t++) { const v = Math.sin(ph + fr * t); if (t < T) x[s * T + t] = v; else y[s] = v; } } return { x, y, n }; };
const cpu = async (label: string, n: number, fn: () => Promise<void> | void, reps: number) => {
  await fn();
  const rates: number[] = [], walls: number[] = [];
  for (let r = 0; r < reps; r++) { const c0 = process.cpuUsage(); const w0 = performance.now(); await fn(); const c = process.cpuUsage(c0); const w = performance.now() - w0; rates.push(n / ((c.user + c.system) / 1e6)); walls.push(n / (w / 1000)); }
  rates.sort((a, b) => a - b); walls.sort((a, b) => a - b);
  console.log(`${label}: ${rates[reps >> 1].toFixed(0)} seq per CPU-second, wall ${walls[reps >> 1].toFixed(0)} seq/s`);
};
const d = mk(1024);
const rng = new random.RandomState(7);
const model = new nn.Sequential(new nn.LSTM(1, H, { batchFirst: true, rng }), new nn.LastStep(), new nn.Linear(H, 1, { rng }));
const opt = new optim.Adam(model.parameters(), { lr: 1e-3 });
const X = new Tensor(d.x, [d.n, T, 1]), Y = new Tensor(d.y, [d.n, 1]);
await cpu(`chainrule (${kernels().name})`, d.n, async () => { await fit(model, { x: X, y: Y }, { loss: 'mse', optimizer: opt, epochs: 1, batchSize: BATCH, shuffle: true, rng }); }, 7);
const peer = await loadTf();
for (const be of ['wasm'] as const) {
  await peer.use(be); const { tf } = peer;
  const m = tf.sequential({ layers: [tf.layers.lstm({ units: H, inputShape: [T, 1] }), tf.layers.dense({ units: 1 })] });
  m.compile({ optimizer: tf.train.adam(1e-3), loss: 'meanSquaredError' });
  const s = mk(128); const xs = tf.tensor3d(s.x, [s.n, T, 1]), ys = tf.tensor2d(s.y, [s.n, 1]);
  await cpu(`tfjs-${be}`, s.n, async () => { await m.fit(xs, ys, { batchSize: BATCH, epochs: 1, shuffle: true, verbose: 0 }); }, 5);
}
