// Training progress in three modes: a live bar on a terminal, one plain line per epoch elsewhere (CI,
// pipes), or one JSON object per epoch on stdout (--json) for other programs.
import type { BatchLog, EpochLog } from '../src/index.js';
import { duration, int, num, pct } from './format.js';
import type { IO } from './io.js';

/** How progress is shown. */
export type ProgressMode = 'tty' | 'plain' | 'json' | 'quiet';

/** Summary of one epoch's log as `loss 0.1234  acc 95.0%  val_loss …`. */
export function epochSummary(log: EpochLog): string {
  const parts = [`loss ${num(log.loss)}`];
  if (log.metrics.accuracy !== undefined) parts.push(`acc ${pct(log.metrics.accuracy)}`);
  if (log.metrics.mae !== undefined) parts.push(`mae ${num(log.metrics.mae)}`);
  if (log.valLoss !== undefined) parts.push(`val_loss ${num(log.valLoss)}`);
  if (log.valMetrics?.accuracy !== undefined) parts.push(`val_acc ${pct(log.valMetrics.accuracy)}`);
  if (log.valMetrics?.mae !== undefined) parts.push(`val_mae ${num(log.valMetrics.mae)}`);
  return parts.join('  ');
}

/** Reports batches and epochs to the IO in the chosen mode. */
export class Progress {
  private epochStart = 0;
  private samples = 0;
  private lastDraw = 0;
  private drawn = false;

  constructor(
    private readonly io: IO,
    private readonly mode: ProgressMode,
    private readonly totalEpochs: number,
  ) {}

  /** Called after each batch: redraws the live bar at most ten times a second. */
  batch(b: BatchLog): void {
    if (this.mode !== 'tty') return;
    const now = performance.now();
    if (b.batch === 0) {
      this.epochStart = now;
      this.samples = 0;
    }
    this.samples += b.size;
    if (now - this.lastDraw < 100 && b.batch + 1 < b.batches) return;
    this.lastDraw = now;
    const elapsed = (now - this.epochStart) / 1000;
    const rate = elapsed > 0 ? this.samples / elapsed : 0;
    const done = (b.batch + 1) / b.batches;
    const eta = done > 0 ? (elapsed / done) * (1 - done) : 0;
    const width = Math.max(10, Math.min(30, this.io.columns - 70));
    const filled = Math.round(done * width);
    const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
    const line = `epoch ${b.epoch}/${this.totalEpochs} ${bar} ${b.batch + 1}/${b.batches}  loss ${num(b.loss)}  ${int(rate)} samples/s  ETA ${duration(eta)}`;
    this.io.err(`\r\x1b[2K${line.slice(0, this.io.columns - 1)}`);
    this.drawn = true;
  }

  /** Called after each epoch: the summary line (or JSON object). */
  epoch(log: EpochLog): void {
    switch (this.mode) {
      case 'quiet':
        return;
      case 'json':
        this.io.out(JSON.stringify(log) + '\n');
        return;
      case 'tty':
        if (this.drawn) this.io.err('\r\x1b[2K');
        this.drawn = false;
        break;
      case 'plain':
        break;
    }
    const width = String(this.totalEpochs).length;
    this.io.err(
      `epoch ${String(log.epoch).padStart(width)}/${this.totalEpochs}  ${epochSummary(log)}  (${duration(log.seconds)})\n`,
    );
  }

  /** Clear a half-drawn bar (before an error message, say). */
  clear(): void {
    if (this.drawn) this.io.err('\r\x1b[2K');
    this.drawn = false;
  }
}
