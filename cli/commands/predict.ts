// chainrule predict: raw rows in (like the training CSV, target optional), predictions out as CSV.
import { resolve } from 'node:path';
import { predictionCsv } from '../../src/index.js';
import type { CommandSpec, Flags } from '../args.js';
import { writeFileAtomic } from '../fsutil.js';
import { UserError } from '../errors.js';
import type { IO } from '../io.js';
import { loadModelData, readModelDocument, sequenceKind } from '../model.js';
import { forecastCommand } from './sequence.js';

/** The predict command's flags and help. */
export const predictSpec: CommandSpec = {
  name: 'predict',
  summary: 'Predict with a trained model: a CSV with each row id, the prediction and class probabilities.',
  usage:
    'chainrule predict --model <model.json> --data <file.csv | image | folder | built-in> [--out preds.csv]',
  flags: [
    {
      name: 'model',
      type: 'string',
      placeholder: 'model.json',
      description: 'Model file from chainrule train or chainrule import',
    },
    {
      name: 'data',
      type: 'string',
      placeholder: 'file|name',
      description:
        'Rows like the training CSV (the target column may be absent), or for a model trained on images an image file or a folder of them',
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
    {
      name: 'steps',
      type: 'integer',
      min: 0,
      description: 'Forecast model: also forecast this many steps past the end, each from the ones before',
      defaultText: '0',
    },
  ],
  details:
    "Rows are identified by an 'id' column when the input has one, images by their file, else by their row number\n" +
    '(1 = first data row). Images are read as the model was trained: channels, size (resized if it was), scaling.\n' +
    'A model without preprocessing (from chainrule import) takes the columns as they are, all but an id column,\n' +
    'as many as the network has inputs, and its outputs are written as they are: output_0, output_1, ...\n' +
    'A forecast model (train --task forecast) reads the CSV column it was trained on and predicts each value from\n' +
    'the window before it (one step ahead), then --steps values past the end.',
  examples: [
    'chainrule predict --model iris.json --data new-flowers.csv --out preds.csv',
    'chainrule predict --model photos.json --data holiday/ --out preds.csv',
    'chainrule predict --model load.json --data series.csv --steps 24',
  ],
};

/** Run `chainrule predict`; returns the exit code. */
export async function predictCommand(flags: Flags, io: IO): Promise<number> {
  // One read of the model file: a forecaster goes its own way, anything else runs on the rows.
  const doc = await readModelDocument(flags.model as string | undefined, io.cwd, 'predict');
  if (sequenceKind(doc.file) === 'series') return forecastCommand(flags, io, doc);
  if (flags.steps !== undefined) throw new UserError('predict: --steps is for a forecast model');
  const { model, pre, table, raw } = await loadModelData(flags, io.cwd, 'predict', { raw: true, doc });
  // A block of rows at a time: memory holds the table and one block's answers, never all of them as text.
  // Imported weights (raw) give the network's outputs as they are, one column each.
  const csv = predictionCsv(model, pre, table, { raw });
  if (flags.out) {
    await writeFileAtomic(resolve(io.cwd, flags.out as string), csv);
    io.err(`wrote ${table.numRows} predictions to ${flags.out as string}\n`);
  } else {
    // Every block is checked before the first piece comes, so bad input leaves stdout empty; a reader that
    // left (`| head`) ends the work.
    for (const piece of csv) {
      io.out(piece);
      if (io.outOpen && !io.outOpen()) break;
    }
  }
  return 0;
}
