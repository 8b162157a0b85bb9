/**
 * A time series (one numeric column, in row order) as windows for forecasting: each `window` consecutive
 * values → the value after them (brain.js's `LSTMTimeStep` use). Values are standardized with the training
 * part's mean and deviation; that scaling is plain JSON saved in the model file, so forecasts come back in
 * the column's units. No file system: the command line reads the CSV.
 */
import { Tensor, allocStorage, type DType } from '../tensor.js';

/** How a series was scaled for the model: (value − mean) / std, and which column it was. */
export interface SeriesScaling {
  kind: 'series';
  /** The column forecast. */
  column: string;
  /** Steps the model reads to predict the next one. */
  window: number;
  mean: number;
  std: number;
}

/** Check a series scaling read from a model file; `what` names it in messages. */
export function checkSeriesScaling(value: unknown, what: string): SeriesScaling {
  const v = value as Partial<SeriesScaling> | null;
  const ok =
    typeof v === 'object' &&
    v !== null &&
    v.kind === 'series' &&
    typeof v.column === 'string' &&
    Number.isInteger(v.window) &&
    (v.window as number) >= 1 &&
    Number.isFinite(v.mean) &&
    Number.isFinite(v.std) &&
    (v.std as number) > 0;
  if (!ok)
    throw new Error(
      `${what}: expected { kind: "series", column, window ≥ 1, mean, std > 0 }, got ${JSON.stringify(value)}`,
    );
  return v as SeriesScaling;
}

/** The scaling of a series, fitted on `values` (the training part); a constant series gets std 1. */
export function fitSeriesScaling(values: ArrayLike<number>, column: string, window: number): SeriesScaling {
  const n = values.length;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += values[i];
  mean /= Math.max(n, 1);
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (values[i] - mean) ** 2;
  const std = Math.sqrt(ss / Math.max(n, 1));
  return { kind: 'series', column, window, mean, std: std > 0 ? std : 1 };
}

/**
 * Every window of a series with the value after it: `x` [count, window, 1] scaled, `y` [count, 1] scaled,
 * count = values.length − window. Throws (saying how many values and how many are needed) when the series
 * is not longer than the window.
 */
export function seriesWindows(
  values: ArrayLike<number>,
  scaling: SeriesScaling,
  dtype: DType = 'float32',
): { x: Tensor; y: Tensor } {
  const w = scaling.window;
  const count = values.length - w;
  if (count < 1)
    throw new RangeError(
      `a window of ${w} steps needs at least ${w + 1} values to predict one, got ${values.length}`,
    );
  const x = allocStorage(dtype, count * w);
  const y = allocStorage(dtype, count);
  const { mean, std } = scaling;
  for (let k = 0; k < count; k++) {
    for (let t = 0; t < w; t++) x[k * w + t] = (values[k + t] - mean) / std;
    y[k] = (values[k + w] - mean) / std;
  }
  return { x: new Tensor(x, [count, w, 1]), y: new Tensor(y, [count, 1]) };
}

/** The last `window` values, scaled, as one model input [1, window, 1] (for forecasting past the end). */
export function lastWindow(
  values: ArrayLike<number>,
  scaling: SeriesScaling,
  dtype: DType = 'float32',
): Tensor {
  const w = scaling.window;
  if (values.length < w)
    throw new RangeError(`a window of ${w} steps needs at least ${w} values, got ${values.length}`);
  const x = allocStorage(dtype, w);
  for (let t = 0; t < w; t++) x[t] = (values[values.length - w + t] - scaling.mean) / scaling.std;
  return new Tensor(x, [1, w, 1]);
}

/** A model output (scaled) back in the column's units. */
export function unscale(scaling: SeriesScaling, v: number): number {
  return v * scaling.std + scaling.mean;
}
