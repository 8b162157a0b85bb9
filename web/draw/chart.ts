// The live loss chart: training and test loss over the epochs, at most one point per pixel column.
import type { playground } from '../lib.js';

const TRAIN = '#333';
const TEST = '#999';

/** Draw `history` (epoch 0 first) on the canvas, the y axis from 0 to the largest loss shown. */
export function drawChart(canvas: HTMLCanvasElement, history: readonly playground.EpochStats[]): void {
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  const { width, height } = canvas;
  ctx.clearRect(0, 0, width, height);
  const n = history.length;
  if (n < 2) return;
  // One sample per pixel column: the chart stays cheap however long the run.
  const stride = Math.max(1, Math.ceil(n / width));
  const picked: playground.EpochStats[] = [];
  for (let i = 0; i < n; i += stride) picked.push(history[i]);
  if (picked[picked.length - 1] !== history[n - 1]) picked.push(history[n - 1]);
  let max = 0;
  for (const s of picked) {
    if (Number.isFinite(s.trainLoss)) max = Math.max(max, s.trainLoss);
    if (s.testLoss !== null && Number.isFinite(s.testLoss)) max = Math.max(max, s.testLoss);
  }
  if (!(max > 0)) return;
  const last = history[n - 1].epoch || 1;
  const x = (epoch: number) => (epoch / last) * (width - 2) + 1;
  const y = (loss: number) => height - 2 - (Math.min(loss, max) / max) * (height - 4);
  const line = (value: (s: playground.EpochStats) => number | null, color: string) => {
    ctx.beginPath();
    let started = false;
    for (const s of picked) {
      const v = value(s);
      if (v === null || !Number.isFinite(v)) continue;
      if (started) ctx.lineTo(x(s.epoch), y(v));
      else ctx.moveTo(x(s.epoch), y(v));
      started = true;
    }
    ctx.strokeStyle = color;
    ctx.lineWidth = 1.5;
    ctx.stroke();
  };
  line((s) => s.testLoss, TEST);
  line((s) => s.trainLoss, TRAIN);
}
