/**
 * From raw rows to answers with a trained model, without the command line: what `chainrule predict` does,
 * as library calls that run the same in Node and in a browser. Read the model file (`modelFromJSON`,
 * `checkPreprocessing`), read the rows the way the model reads its columns (`parseCsv` with
 * {@link columnKinds}), then {@link predictTable}; {@link predictionRows} lays the answers out as the
 * command line's CSV, and {@link predictionCsv} makes that CSV a block of rows at a time.
 */
import type { Module } from '../nn/module.js';
import { noGrad, type Tensor } from '../tensor.js';
import { csvLine, type ColumnKind, type WriteCsvOptions } from './csv.js';
import {
  inverseTarget,
  transformFeatures,
  type Preprocessing,
  type TargetPredictions,
} from './preprocess.js';
import { cellText, selectRows, type Table } from './table.js';

/**
 * How to read each input column of a model, for `parseCsv`'s `kinds`: a numeric feature as numbers (a
 * word in it is then named with its line), a categorical one as text (keeping spellings such as `007`).
 */
export function columnKinds(pre: Preprocessing): Record<string, ColumnKind> {
  const kinds: Record<string, ColumnKind> = {};
  for (const f of pre.features) kinds[f.name] = f.kind === 'numeric' ? 'numeric' : 'text';
  return kinds;
}

/**
 * The model's raw outputs for every row of `table` ([rows, outputs]): the features encoded as in training
 * (columns found by name; missing values filled as the model says, else an error naming the line), then
 * one forward pass in evaluation mode without gradients, in the model's dtype.
 */
export function tableOutputs(model: Module, pre: Preprocessing, table: Table): Tensor {
  const dtype = model.parameters()[0]?.dtype ?? 'float32';
  const x = transformFeatures(pre, table, dtype);
  const wasTraining = model.training;
  model.eval();
  try {
    return noGrad(() => model.forward(x));
  } finally {
    model.train(wasTraining);
  }
}

/**
 * Answers for every row of `table`: the most probable class with every class's probability, or a number
 * in the target's units (see `inverseTarget`).
 */
export function predictTable(model: Module, pre: Preprocessing, table: Table): TargetPredictions {
  return inverseTarget(pre, tableOutputs(model, pre, table));
}

/**
 * How rows are named in predictions: by a column named `id` (in any letter case), for images by their
 * `file`, else by their 1-based row number (`row`).
 */
export function rowIds(table: Table): { header: string; id: (row: number) => string } {
  const column =
    table.columns.find((c) => c.name.toLowerCase() === 'id') ??
    (table.image ? table.columns.find((c) => c.name === 'file') : undefined);
  return column
    ? { header: column.name, id: (r) => cellText(column, r) }
    : { header: 'row', id: (r) => String(r + 1) };
}

/** The CSV header of predictions: the id column, `predicted_<target>`, and a classifier's `p_<class>`. */
function predictionHeader(pre: Preprocessing, idHeader: string): string[] {
  const header = [idHeader, `predicted_${pre.target.name}`];
  if (pre.target.kind === 'classes') header.push(...pre.target.classes.map((c) => `p_${c}`));
  return header;
}

/** Row `i`'s fields after its id: the prediction and, for a classifier, each class's probability. */
function predictionFields(predictions: TargetPredictions, i: number): string[] {
  return predictions.kind === 'classes'
    ? [predictions.className[i], ...Array.from(predictions.probabilities[i], String)]
    : [String(predictions.values[i])];
}

/**
 * Predictions as a table of text, the layout `chainrule predict` writes (give it to `writeCsv`): each row's
 * id (see {@link rowIds}), the prediction, and for a classifier each class's probability (`p_<class>`).
 */
export function predictionRows(
  pre: Preprocessing,
  table: Table,
  predictions: TargetPredictions,
): { header: string[]; rows: string[][] } {
  const { header: idHeader, id } = rowIds(table);
  const rows: string[][] = [];
  for (let i = 0; i < table.numRows; i++) rows.push([id(i), ...predictionFields(predictions, i)]);
  return { header: predictionHeader(pre, idHeader), rows };
}

/** Options of {@link predictionCsv}. */
export interface PredictionCsvOptions extends WriteCsvOptions {
  /**
   * Write the network's outputs as they are (`output_0`, `output_1`, …) instead of answers in the target's
   * terms: for a model without preprocessing of its own (imported weights).
   */
  raw?: boolean;
  /** Rows per forward pass and per piece of text (default 8192); the last piece takes the remainder. */
  blockRows?: number;
}

/**
 * The predictions CSV of {@link predictionRows} and `writeCsv`, the same text, made and handed over a block
 * of rows at a time: the header line, then one piece per block, each from its own forward pass. Memory
 * holds one block's encoded features, activations and text, not the whole table's, so a large file can be
 * predicted into a file or a pipe. Every block's features are encoded and checked before the first piece
 * is handed over (and encoded again when its turn comes, rather than kept), so bad input (a missing value,
 * an unseen category, a missing column) is an error before any output, as with {@link predictTable}. A
 * block is never smaller than `blockRows` (the remainder joins the last one), so each product is large
 * enough for the kernel set to run it as it would the whole table's (small ones go to the reference),
 * and the bits are those of {@link predictTable} on the whole table.
 */
export function* predictionCsv(
  model: Module,
  pre: Preprocessing,
  table: Table,
  options: PredictionCsvOptions = {},
): Generator<string, void, undefined> {
  const n = table.numRows;
  const size = Math.max(1, Math.floor(options.blockRows ?? 8192));
  const blocks: [start: number, end: number][] = [];
  for (let start = 0; start < n || blocks.length === 0;) {
    const end = n - start < 2 * size ? n : start + size;
    blocks.push([start, end]);
    start = end;
  }
  const rows = (start: number, end: number): Table =>
    start === 0 && end === n
      ? table
      : selectRows(
          table,
          Int32Array.from({ length: end - start }, (_, k) => start + k),
        );
  for (const [start, end] of blocks) transformFeatures(pre, rows(start, end));
  const { header: idHeader, id } = rowIds(table);
  let header: string[] | undefined = options.raw ? undefined : predictionHeader(pre, idHeader);
  for (const [start, end] of blocks) {
    const outputs = tableOutputs(model, pre, rows(start, end));
    const lines: string[] = [];
    if (header === undefined) {
      // Raw outputs: as many columns as the network gives.
      header = [idHeader, ...Array.from({ length: outputs.shape[1] ?? 1 }, (_, j) => `output_${j}`)];
      lines.push(csvLine(header, options));
    } else if (start === 0) lines.push(csvLine(header, options));
    if (options.raw) {
      const width = outputs.shape[1] ?? 1;
      for (let r = 0; r < end - start; r++)
        lines.push(
          csvLine(
            [id(start + r), ...Array.from(outputs.data.subarray(r * width, (r + 1) * width), String)],
            options,
          ),
        );
    } else {
      const predictions = inverseTarget(pre, outputs);
      for (let r = 0; r < end - start; r++)
        lines.push(csvLine([id(start + r), ...predictionFields(predictions, r)], options));
    }
    yield lines.join('\n') + '\n';
  }
}
