/**
 * Timing: warm up, size each repetition so it is long enough to time, repeat, take the median. Progress
 * goes to stderr; nothing here prints to stdout.
 */

/** One measured figure: the median rate and the runs it came from. */
export interface Figure {
  /** Median of the per-run rates, in the workload's unit. */
  median: number;
  /** Number of timed runs. */
  runs: number;
  /** Calls per timed run (a run repeats the call this many times when one call is too short to time). */
  callsPerRun: number;
  /** Every run's rate, in the order run. */
  rates: number[];
  /** Why this figure has fewer runs than asked for, or other remarks. */
  note?: string;
}

/** What to measure: one call does `work` units (steps, samples, GFLOP). */
export interface MeasureSpec {
  /** Shown in progress lines. */
  label: string;
  /** Units of work one `call` does; the rate is work·calls / seconds. */
  work: number;
  /**
   * The timed code. It must leave no work pending (read results back where a backend is lazy). It may
   * return the units of work it actually did when that can differ from `work`.
   */
  call: () => void | number | Promise<void | number>;
  /** Run before timing (default: `call` once, then more `call`s until `warmupSeconds` have passed). */
  warmup?: () => void | Promise<void>;
  /** Timed runs wanted. */
  reps: number;
  /** Fewest timed runs accepted when `maxSeconds` would otherwise be exceeded. */
  minReps: number;
  /** Rough ceiling on the timed part of this measurement, in seconds. */
  maxSeconds: number;
  /** Each run repeats `call` until it lasts at least this long (default 0.05 s). */
  minRunSeconds?: number;
  /** Keep warming up with `call` for at least this long (default 0.2 s). */
  warmupSeconds?: number;
}

/** Write a progress line to stderr. */
export function progress(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

/** Median of a non-empty list. */
export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Seconds taken by `times` calls of `fn`, and the work they reported (`work` per call by default). */
async function timed(
  fn: () => void | number | Promise<void | number>,
  times: number,
  work: number,
): Promise<{ seconds: number; work: number }> {
  let done = 0;
  const t0 = performance.now();
  for (let i = 0; i < times; i++) {
    const w = await fn();
    done += typeof w === 'number' ? w : work;
  }
  return { seconds: (performance.now() - t0) / 1000, work: done };
}

/** Warm up, choose the calls per run and the number of runs, time them and return the median rate. */
export async function measure(spec: MeasureSpec): Promise<Figure> {
  const minRun = spec.minRunSeconds ?? 0.05;
  const warmFor = spec.warmupSeconds ?? 0.2;
  // Warm-up: the JIT (or a backend's kernel cache) settles; the last warm call also estimates a call's cost.
  if (spec.warmup) await spec.warmup();
  let spent = 0;
  let callSeconds = Infinity;
  do {
    const t = (await timed(spec.call, 1, spec.work)).seconds;
    spent += t;
    callSeconds = Math.min(callSeconds, t);
  } while (spent < warmFor);
  const callsPerRun = Math.max(1, Math.ceil(minRun / Math.max(callSeconds, 1e-9)));
  const runSeconds = callSeconds * callsPerRun;
  const affordable = Math.floor(spec.maxSeconds / Math.max(runSeconds, 1e-9));
  const runs = Math.max(spec.minReps, Math.min(spec.reps, affordable));
  const rates: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t = await timed(spec.call, callsPerRun, spec.work);
    rates.push(t.work / t.seconds);
  }
  const figure: Figure = { median: median(rates), runs, callsPerRun, rates };
  if (runs < spec.reps)
    figure.note = `${runs} runs instead of ${spec.reps} (a run takes ~${fmtSeconds(runSeconds)})`;
  progress(
    `  ${spec.label}: ${fmtRate(figure.median)} (median of ${runs} run${runs === 1 ? '' : 's'}` +
      `${callsPerRun > 1 ? ` of ${callsPerRun} calls` : ''})`,
  );
  return figure;
}

function fmtSeconds(s: number): string {
  return s >= 1 ? `${s.toFixed(1)} s` : `${(s * 1000).toFixed(0)} ms`;
}

/** A rate with three significant digits and thousands separators. */
export function fmtRate(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (x >= 1000) return Math.round(x).toLocaleString('en-US');
  if (x >= 100) return x.toFixed(0);
  if (x >= 10) return x.toFixed(1);
  if (x >= 1) return x.toFixed(2);
  return x.toPrecision(3);
}
