// chainrule eval: how good is a model on labelled data.
import { inverseTarget, transformTarget } from '../../src/index.js';
import type { CommandSpec, Flags } from '../args.js';
import { UserError } from '../errors.js';
import { int, num, pct } from '../format.js';
import type { IO } from '../io.js';
import { runModelOnData } from '../model.js';

/** The eval command's flags and help. */
export const evalSpec: CommandSpec = {
  name: 'eval',
  summary: 'Evaluate a model on labelled data: accuracy and a confusion matrix, or MSE, MAE and R².',
  usage: 'chainrule eval --model <model.json> --data <file.csv | built-in>',
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
        'Labelled CSV (with the target column) or a built-in dataset (its test split if it has one)',
    },
    { name: 'json', type: 'boolean', description: 'Print the metrics as one JSON object' },
  ],
  examples: [
    'chainrule eval --model iris.json --data iris.csv',
    'chainrule eval --model mnist.json --data mnist',
  ],
};

/** Metrics of a classifier: accuracy and the confusion matrix (rows: true class, columns: predicted). */
function classification(pred: Int32Array, truth: Int32Array, classes: readonly string[]) {
  const k = classes.length;
  const matrix = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  let hit = 0;
  for (let i = 0; i < truth.length; i++) {
    matrix[truth[i]][pred[i]]++;
    if (pred[i] === truth[i]) hit++;
  }
  return { accuracy: hit / truth.length, confusion: matrix };
}

function confusionText(matrix: number[][], classes: readonly string[]): string {
  const w = Math.max(6, ...classes.map((c) => c.length), ...matrix.flat().map((v) => String(v).length)) + 2;
  const head = 'true \\ predicted'.padEnd(Math.max(18, w)) + classes.map((c) => c.padStart(w)).join('');
  const rows = matrix.map(
    (r, i) => classes[i].padEnd(Math.max(18, w)) + r.map((v) => String(v).padStart(w)).join(''),
  );
  return [head, ...rows].join('\n');
}

/** Run `chainrule eval`; returns the exit code. */
export async function evaluateCommand(flags: Flags, io: IO): Promise<number> {
  const { model, pre, path, data, table, outputs: out } = await runModelOnData(flags, io.cwd, 'eval');
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
    const { accuracy, confusion } = classification(r.classIndex, target.labels, pre.target.classes);
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
        }) + '\n',
      );
    else
      io.out(
        `${path} on ${source} (${int(rows)} rows)\naccuracy ${pct(accuracy)}\n\n${confusionText(confusion, pre.target.classes)}\n`,
      );
    return 0;
  }
  const r = inverseTarget(pre, out);
  if (r.kind !== 'numeric') throw new Error('a regressor gave class outputs');
  const col = table.columns.find((c) => c.name === pre.target.name)!;
  const truth = col.values as ArrayLike<number>;
  let se = 0;
  let ae = 0;
  let mean = 0;
  for (let i = 0; i < rows; i++) mean += truth[i] / rows;
  let tss = 0;
  for (let i = 0; i < rows; i++) {
    const e = r.values[i] - truth[i];
    se += e * e;
    ae += Math.abs(e);
    tss += (truth[i] - mean) ** 2;
  }
  const mse = se / rows;
  const mae = ae / rows;
  const r2 = tss > 0 ? 1 - se / tss : NaN;
  if (flags.json)
    io.out(JSON.stringify({ model: path, data: data.name, rows, task: 'regression', mse, mae, r2 }) + '\n');
  else io.out(`${path} on ${source} (${int(rows)} rows)\nMSE ${num(mse)}\nMAE ${num(mae)}\nR²  ${num(r2)}\n`);
  return 0;
}
