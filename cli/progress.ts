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
    /** Rates in another unit than samples: a language model counts tokens, `perSample` to a window. */
    private readonly unit: { name: string; perSample: number } = { name: 'samples', perSample: 1 },
  ) {}

  /** Called after each batch: redraws the live bar at most ten times a second. */
  batch(b: BatchLog): void {
    if (this.mode !== 'tty') return;
    const now = performance.now();
    if (b.batch === 0) {
      this.epochStart = now;
      this.samples = 0;
    }
    this.samples += b.size * this.unit.perSample;
    if (now - this.lastDraw < 100 && b.batch + 1 < b.batches) return;
    this.lastDraw = now;
    const elapsed = (now - this.epochStart) / 1000;
    const rate = elapsed > 0 ? this.samples / elapsed : 0;
    const done = (b.batch + 1) / b.batches;
    const eta = done > 0 ? (elapsed / done) * (1 - done) : 0;
    const width = Math.max(10, Math.min(30, this.io.columns - 70));
    const filled = Math.round(done * width);
    const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
    const line = `epoch ${b.epoch}/${this.totalEpochs} ${bar} ${b.batch + 1}/${b.batches}  loss ${num(b.loss)}  ${int(rate)} ${this.unit.name}/s  ETA ${duration(eta)}`;
    this.io.err(`\r\x1b[2K${line.slice(0, this.io.columns - 1)}`);
    this.drawn = true;
  }

  /** Samples of the current epoch, for the epoch line's rate (set by the caller that knows them). */
  epochSamples = 0;

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
    // Where samples are not the natural unit, the epoch line says the rate too (tokens/s of a language model).
    const rate =
      this.unit.perSample > 1 && this.epochSamples > 0 && log.seconds > 0
        ? `  ${int((this.epochSamples * this.unit.perSample) / log.seconds)} ${this.unit.name}/s`
        : '';
    this.io.err(
      `epoch ${String(log.epoch).padStart(width)}/${this.totalEpochs}  ${epochSummary(log)}${rate}  (${duration(log.seconds)})\n`,
    );
  }

  /** Clear a half-drawn bar (before an error message, say). */
  clear(): void {
    if (this.drawn) this.io.err('\r\x1b[2K');
    this.drawn = false;
  }
}
