/**
 * How good predictions are: accuracy, the confusion matrix with per-class precision, recall and F1, and
 * the mean squared and absolute errors with R². One place for this arithmetic, used by `fit` and
 * `evaluate` (per epoch, batch by batch), `chainrule eval` and the playground.
 */
import type { Storage } from './kernels/types.js';

/** A metric `fit` and `evaluate` can report: `accuracy` (classification), `mae`, `mse` and `r2` (regression). */
export type MetricName = 'accuracy' | 'mae' | 'mse' | 'r2';

/** Metric values by name. */
export type Metrics = Partial<Record<MetricName, number>>;

/** Every metric name, for validating input. */
export const METRIC_NAMES: readonly MetricName[] = ['accuracy', 'mae', 'mse', 'r2'];

/** The metrics of a run that asked for none: one shared frozen object. */
export const NO_METRICS: Metrics = Object.freeze({});

/**
 * The class a row of outputs predicts: the index of its largest output (the first on ties), or for a
 * single output, 1 when it is above `threshold` (0.5 for probabilities, 0 for logits) else 0.
 */
export function predictedClass(
  out: ArrayLike<number>,
  offset: number,
  width: number,
  threshold: number,
): number {
  if (width === 1) return out[offset] > threshold ? 1 : 0;
  let best = 0;
  for (let j = 1; j < width; j++) if (out[offset + j] > out[offset + best]) best = j;
  return best;
}

/** The class of each row of `out` ([rows, width], flat), as {@link predictedClass} decides it. */
export function predictedClasses(out: ArrayLike<number>, rows: number, threshold: number): Int32Array {
  const width = rows > 0 ? out.length / rows : 0;
  const classes = new Int32Array(rows);
  for (let r = 0; r < rows; r++) classes[r] = predictedClass(out, r * width, width, threshold);
  return classes;
}

/**
 * Running sums of metrics over batches, divided by the sample count when read: what one epoch of `fit`
 * or one `evaluate` reports. Nothing is allocated per batch; `reset` starts the next epoch.
 */
export class MetricSums {
  private count = 0;
  /** Rows with numeric targets: the errors' count (class labels have none). */
  private numeric = 0;
  private hits = 0;
  private squared = 0;
  private absolute = 0;
  /** Per output: squared errors, and Welford's running mean and sum of squared deviations of the targets. */
  private r2: { sse: Float64Array; mean: Float64Array; m2: Float64Array } | null = null;

  /**
   * @param names the metrics to keep
   * @param threshold decision threshold of a single output for accuracy (0.5 for probabilities, 0 for logits)
   */
  constructor(
    readonly names: readonly MetricName[],
    private readonly threshold = 0.5,
  ) {
    for (const name of names)
      if (!METRIC_NAMES.includes(name))
        throw new Error(
          `metrics: unknown metric ${JSON.stringify(name)}; expected one of ${METRIC_NAMES.join(', ')}`,
        );
  }

  /** Start over (a new epoch). */
  reset(): void {
    this.count = this.numeric = this.hits = this.squared = this.absolute = 0;
    this.r2 = null;
  }

  /**
   * Add a batch: `pred` is [rows, width] flat; `target` either the same shape, or with `labels` one class
   * index per row (then only accuracy applies; the errors are left out).
   */
  add(pred: Storage, target: Storage, rows: number, labels: boolean): void {
    if (this.names.length === 0 || rows === 0) return;
    const width = pred.length / rows;
    for (const name of this.names) {
      switch (name) {
        case 'accuracy':
          for (let r = 0; r < rows; r++) {
            const p = predictedClass(pred, r * width, width, this.threshold);
            // Probability or one-hot targets give their class the same way (0.5 for a single output).
            const t = labels ? target[r] : predictedClass(target, r * width, width, 0.5);
            if (p === t) this.hits++;
          }
          break;
        case 'mse':
        case 'mae': {
          if (labels) break;
          // Each row's mean over its outputs, summed: divided by the rows when read.
          let s = 0;
          for (let i = 0; i < pred.length; i++) {
            const e = pred[i] - target[i];
            s += name === 'mae' ? Math.abs(e) : e * e;
          }
          if (name === 'mae') this.absolute += s / width;
          else this.squared += s / width;
          break;
        }
        case 'r2': {
          if (labels) break;
          const r2 = (this.r2 ??= {
            sse: new Float64Array(width),
            mean: new Float64Array(width),
            m2: new Float64Array(width),
          });
          for (let r = 0; r < rows; r++) {
            const n = this.numeric + r + 1;
            for (let j = 0; j < width; j++) {
              const y = target[r * width + j];
              const e = pred[r * width + j] - y;
              r2.sse[j] += e * e;
              const d = y - r2.mean[j];
              r2.mean[j] += d / n;
              r2.m2[j] += d * (y - r2.mean[j]);
            }
          }
          break;
        }
        default:
          name satisfies never;
      }
    }
    this.count += rows;
    if (!labels) this.numeric += rows;
  }

  /**
   * The running sums as plain numbers (a paused epoch in a checkpoint): count, numeric rows, hits,
   * squared and absolute errors, then R²'s width (-1: none) and its three per-output arrays.
   */
  saveState(): number[] {
    const r = this.r2;
    const head = [this.count, this.numeric, this.hits, this.squared, this.absolute, r ? r.sse.length : -1];
    return r ? [...head, ...r.sse, ...r.mean, ...r.m2] : head;
  }

  /** Take back `saveState()`'s numbers; throws (changing nothing) when they cannot be such a state. */
  restoreState(s: readonly number[]): void {
    const width = s[5];
    const ok =
      Array.isArray(s) &&
      s.every((v) => typeof v === 'number' && Number.isFinite(v)) &&
      s.length >= 6 &&
      Number.isInteger(width) &&
      (width === -1 ? s.length === 6 : width > 0 && s.length === 6 + 3 * width);
    if (!ok) throw new Error('metrics state: expected the numbers saveState() gives');
    [this.count, this.numeric, this.hits, this.squared, this.absolute] = s;
    this.r2 =
      width === -1
        ? null
        : {
            sse: Float64Array.from(s.slice(6, 6 + width)),
            mean: Float64Array.from(s.slice(6 + width, 6 + 2 * width)),
            m2: Float64Array.from(s.slice(6 + 2 * width)),
          };
  }

  /**
   * The means so far. R² is 1 − SSE / Σ(y − ȳ)², averaged over the outputs (scikit-learn's
   * 'uniform_average'); NaN when a target does not vary. The errors are NaN for class-label targets.
   */
  result(): Metrics {
    if (this.names.length === 0) return NO_METRICS;
    const out: Metrics = {};
    for (const name of this.names) {
      if (name === 'accuracy') out.accuracy = this.hits / this.count;
      else if (name === 'mse') out.mse = this.numeric > 0 ? this.squared / this.numeric : NaN;
      else if (name === 'mae') out.mae = this.numeric > 0 ? this.absolute / this.numeric : NaN;
      else if (!this.r2) out.r2 = NaN;
      else {
        const { sse, m2 } = this.r2;
        let sum = 0;
        for (let j = 0; j < sse.length; j++) sum += m2[j] > 0 ? 1 - sse[j] / m2[j] : NaN;
        out.r2 = sum / sse.length;
      }
    }
    return out;
  }
}

/** A confusion matrix: `matrix[t][p]` counts rows of true class t predicted as p. */
export function confusionMatrix(
  truth: ArrayLike<number>,
  pred: ArrayLike<number>,
  classes: number,
): number[][] {
  if (truth.length !== pred.length)
    throw new Error(`confusionMatrix: ${truth.length} true classes but ${pred.length} predictions`);
  const matrix = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  for (let i = 0; i < truth.length; i++) {
    const t = truth[i];
    const p = pred[i];
    if (!(Number.isInteger(t) && t >= 0 && t < classes && Number.isInteger(p) && p >= 0 && p < classes))
      throw new RangeError(`confusionMatrix: row ${i} has classes ${t} → ${p}, outside 0…${classes - 1}`);
    matrix[t][p]++;
  }
  return matrix;
}

/** One class's scores. */
export interface ClassScores {
  /** Of the rows predicted as this class, the share that are (0 when none were predicted as it). */
  precision: number;
  /** Of the rows of this class, the share predicted as it (0 for a class with no rows). */
  recall: number;
  /** The harmonic mean of precision and recall (0 when both are 0). */
  f1: number;
  /** Rows of this class. */
  support: number;
}

/** Accuracy, each class's scores, and their unweighted (macro) means, from a confusion matrix. */
export interface ClassificationReport {
  accuracy: number;
  perClass: ClassScores[];
  macro: { precision: number; recall: number; f1: number };
}

/**
 * The classification report of a confusion matrix. A class never predicted gets precision 0 and one with
 * no rows recall 0 (scikit-learn's `zero_division=0`).
 */
export function classificationReport(matrix: readonly (readonly number[])[]): ClassificationReport {
  const k = matrix.length;
  let total = 0;
  let hits = 0;
  const perClass: ClassScores[] = [];
  for (let c = 0; c < k; c++) {
    let predicted = 0;
    let support = 0;
    for (let i = 0; i < k; i++) {
      predicted += matrix[i][c];
      support += matrix[c][i];
    }
    const tp = matrix[c][c];
    total += support;
    hits += tp;
    const precision = predicted > 0 ? tp / predicted : 0;
    const recall = support > 0 ? tp / support : 0;
    const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
    perClass.push({ precision, recall, f1, support });
  }
  const mean = (f: (s: ClassScores) => number) => perClass.reduce((s, c) => s + f(c), 0) / Math.max(k, 1);
  return {
    accuracy: total > 0 ? hits / total : NaN,
    perClass,
    macro: { precision: mean((c) => c.precision), recall: mean((c) => c.recall), f1: mean((c) => c.f1) },
  };
}

/** The mean squared error, mean absolute error and R² of predictions against targets (one output each). */
export function regressionReport(
  pred: ArrayLike<number>,
  truth: ArrayLike<number>,
): { mse: number; mae: number; r2: number } {
  if (pred.length !== truth.length)
    throw new Error(`regressionReport: ${pred.length} predictions for ${truth.length} targets`);
  const sums = new MetricSums(['mse', 'mae', 'r2']);
  sums.add(Float64Array.from(pred), Float64Array.from(truth), pred.length, false);
  const m = sums.result();
  return { mse: m.mse as number, mae: m.mae as number, r2: m.r2 as number };
}
