// chainrule eval: how good is a model on labelled data.
import {
  classificationReport,
  confusionMatrix,
  inverseTarget,
  regressionReport,
  transformTarget,
  type ClassificationReport,
} from '../../src/index.js';
import type { CommandSpec, Flags } from '../args.js';
import { UserError } from '../errors.js';
import { int, num, pct } from '../format.js';
import type { IO } from '../io.js';
import { runModelOnData } from '../model.js';

/** The eval command's flags and help. */
export const evalSpec: CommandSpec = {
  name: 'eval',
  summary:
    'Evaluate a model on labelled data: accuracy, a confusion matrix and per-class precision, recall and F1; or MSE, MAE and R².',
  usage: 'chainrule eval --model <model.json> --data <file.csv | folder | built-in>',
  flags: [
    {
      name: 'model',
      type: 'string',
      placeholder: 'model.json',
      description: 'Model file from chainrule train',
    },
    {
      name: 'data',
      type: 'string',
      placeholder: 'file|name',
      description:
        'Labelled CSV (with the target column), a folder of images with one subfolder per class, or a built-in dataset (its test split if it has one)',
    },
    {
      name: 'delimiter',
      type: 'string',
      placeholder: 'char',
      description: "Field separator of the CSV ('tab' for tabs)",
      defaultText: ',',
    },
    { name: 'json', type: 'boolean', description: 'Print the metrics as one JSON object' },
  ],
  examples: [
    'chainrule eval --model iris.json --data iris.csv',
    'chainrule eval --model mnist.json --data mnist',
  ],
};

function confusionText(matrix: number[][], classes: readonly string[]): string {
  const w = Math.max(6, ...classes.map((c) => c.length), ...matrix.flat().map((v) => String(v).length)) + 2;
  const head = 'true \\ predicted'.padEnd(Math.max(18, w)) + classes.map((c) => c.padStart(w)).join('');
  const rows = matrix.map(
    (r, i) => classes[i].padEnd(Math.max(18, w)) + r.map((v) => String(v).padStart(w)).join(''),
  );
  return [head, ...rows].join('\n');
}

/** Each class's precision, recall, F1 and support, then their macro averages, as aligned columns. */
function scoresText(report: ClassificationReport, classes: readonly string[]): string {
  const w = Math.max(18, ...classes.map((c) => c.length + 2));
  const cell = (v: number) => v.toFixed(4).padStart(10);
  const head = ''.padEnd(w) + ['precision', 'recall', 'f1', 'support'].map((h) => h.padStart(10)).join('');
  const rows = report.perClass.map(
    (c, i) =>
      classes[i].padEnd(w) + cell(c.precision) + cell(c.recall) + cell(c.f1) + String(c.support).padStart(10),
  );
  const m = report.macro;
  return [head, ...rows, 'macro average'.padEnd(w) + cell(m.precision) + cell(m.recall) + cell(m.f1)].join(
    '\n',
  );
}

/** Run `chainrule eval`; returns the exit code. */
export async function evaluateCommand(flags: Flags, io: IO): Promise<number> {
  const run = await runModelOnData(flags, io.cwd, 'eval', { labelled: true });
  const { model, pre, path, data, table, outputs: out } = run;
  if (run.dropped > 0)
    io.err(`eval: left out ${int(run.dropped)} rows with missing values, as the model's training did\n`);
  if (!table.columns.some((c) => c.name === pre.target.name))
    throw new UserError(
      `eval: ${table.source} has no target column '${pre.target.name}' to compare with (use chainrule predict for unlabelled data)`,
    );
  const target = transformTarget(pre, table, model.parameters()[0].dtype);
  const rows = table.numRows;
  const source = data.test ? `the test split of '${data.name}'` : table.source;
  if (pre.target.kind === 'classes') {
    const r = inverseTarget(pre, out);
    if (r.kind !== 'classes' || target.kind !== 'classes')
      throw new Error('a classifier gave numeric outputs');
    const confusion = confusionMatrix(target.labels, r.classIndex, pre.target.classes.length);
    const report = classificationReport(confusion);
    const { accuracy } = report;
    if (flags.json)
      io.out(
        JSON.stringify({
          model: path,
          data: data.name,
          rows,
          task: 'classification',
          accuracy,
          classes: pre.target.classes,
          confusion,
          perClass: report.perClass,
          macro: report.macro,
        }) + '\n',
      );
    else
      io.out(
        `${path} on ${source} (${int(rows)} rows)\naccuracy ${pct(accuracy)}\n\n` +
          `${confusionText(confusion, pre.target.classes)}\n\n${scoresText(report, pre.target.classes)}\n`,
      );
    return 0;
  }
  const r = inverseTarget(pre, out);
  if (r.kind !== 'numeric') throw new Error('a regressor gave class outputs');
  const col = table.columns.find((c) => c.name === pre.target.name)!;
  const { mse, mae, r2 } = regressionReport(r.values, col.values as ArrayLike<number>);
  if (flags.json)
    io.out(JSON.stringify({ model: path, data: data.name, rows, task: 'regression', mse, mae, r2 }) + '\n');
  else io.out(`${path} on ${source} (${int(rows)} rows)\nMSE ${num(mse)}\nMAE ${num(mae)}\nR²  ${num(r2)}\n`);
  return 0;
}
