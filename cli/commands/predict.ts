// chainrule predict: raw rows in (like the training CSV, target optional), predictions out as CSV.
import { resolve } from 'node:path';
import { inverseTarget, predictionRows } from '../../src/index.js';
import type { CommandSpec, Flags } from '../args.js';
import { writeCsv } from '../csv.js';
import { writeFileAtomic } from '../fsutil.js';
import type { IO } from '../io.js';
import { runModelOnData } from '../model.js';

/** The predict command's flags and help. */
export const predictSpec: CommandSpec = {
  name: 'predict',
  summary: 'Predict with a trained model: a CSV with each row id, the prediction and class probabilities.',
  usage: 'chainrule predict --model <model.json> --data <file.csv | built-in> [--out preds.csv]',
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
      description: 'Rows like the training CSV; the target column may be absent',
    },
    {
      name: 'delimiter',
      type: 'string',
      placeholder: 'char',
      description: "Field separator of the CSV ('tab' for tabs)",
      defaultText: ',',
    },
    {
      name: 'out',
      type: 'string',
      placeholder: 'preds.csv',
      description: 'Write the CSV here instead of stdout',
    },
  ],
  details:
    "Rows are identified by an 'id' column when the input has one, else by their row number (1 = first data row).",
  examples: ['chainrule predict --model iris.json --data new-flowers.csv --out preds.csv'],
};

/** Run `chainrule predict`; returns the exit code. */
export async function predictCommand(flags: Flags, io: IO): Promise<number> {
  const { pre, table, outputs: out } = await runModelOnData(flags, io.cwd, 'predict');
  const { header, rows } = predictionRows(pre, table, inverseTarget(pre, out));
  const csv = writeCsv(rows, header);
  if (flags.out) {
    await writeFileAtomic(resolve(io.cwd, flags.out as string), csv);
    io.err(`wrote ${rows.length} predictions to ${flags.out as string}\n`);
  } else io.out(csv);
  return 0;
}
