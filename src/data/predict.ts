/**
 * From raw rows to answers with a trained model, without the command line: what `chainrule predict` does,
 * as library calls that run the same in Node and in a browser. Read the model file (`modelFromJSON`,
 * `checkPreprocessing`), read the rows the way the model reads its columns (`parseCsv` with
 * {@link columnKinds}), then {@link predictTable}; {@link predictionRows} lays the answers out as the
 * command line's CSV.
 */
import type { Module } from '../nn/module.js';
import { noGrad, type Tensor } from '../tensor.js';
import type { ColumnKind } from './csv.js';
import {
  inverseTarget,
  transformFeatures,
  type Preprocessing,
  type TargetPredictions,
} from './preprocess.js';
import { cellText, type Table } from './table.js';

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
  const header = [idHeader, `predicted_${pre.target.name}`];
  const rows: string[][] = [];
  if (predictions.kind === 'classes') {
    const classes = pre.target.kind === 'classes' ? pre.target.classes : [];
    header.push(...classes.map((c) => `p_${c}`));
    for (let i = 0; i < table.numRows; i++)
      rows.push([id(i), predictions.className[i], ...Array.from(predictions.probabilities[i], String)]);
  } else {
    for (let i = 0; i < table.numRows; i++) rows.push([id(i), String(predictions.values[i])]);
  }
  return { header, rows };
}
