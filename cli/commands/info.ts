// chainrule info: what a model file holds, readable by a person (or --json for programs).
import { summarize, summaryTable, type ImageInput, type Preprocessing } from '../../src/index.js';
import type { CommandSpec, Flags } from '../args.js';
import { UserError } from '../errors.js';
import { int, num, pct } from '../format.js';
import type { IO } from '../io.js';
import { readModelFile } from '../model.js';

/** The info command's flags and help. */
export const infoSpec: CommandSpec = {
  name: 'info',
  summary: 'Show a model file: its layers (output shapes, parameters), preprocessing and training metadata.',
  usage: 'chainrule info <model.json> [--json]',
  positionals: [{ name: 'model.json', description: 'Model file from chainrule train', required: true }],
  flags: [
    {
      name: 'json',
      type: 'boolean',
      description: 'Print as JSON (everything but the weights, with the per-layer summary)',
    },
  ],
  details: 'For a network not yet trained: chainrule train --data <data> --arch "…" --dry-run',
  examples: ['chainrule info iris.json'],
};

function describePreprocessing(pre: Preprocessing, scale: string | undefined): string[] {
  const how = scale === 'minmax' ? 'scaled to [0, 1]' : scale === 'none' ? 'as is' : 'standardized';
  const fill = (f: Preprocessing['features'][number]): string =>
    f.fill === undefined ? '' : `; missing → ${typeof f.fill === 'number' ? num(f.fill) : `'${f.fill}'`}`;
  const one = (f: Preprocessing['features'][number]): string =>
    (f.kind === 'numeric'
      ? `  ${f.name}: numeric, ${how}: (x − ${num(f.mean)}) / ${num(f.std)}`
      : `  ${f.name}: categorical, one-hot over ${f.categories.length} categories (${f.categories.slice(0, 6).join(', ')}${f.categories.length > 6 ? ', …' : ''})`) +
    fill(f);
  let lines: string[];
  if (pre.image) lines = describeImage(pre, pre.image, how);
  else if (pre.features.length <= 12) lines = pre.features.map(one);
  else {
    // Hundreds of pixel columns: count them instead of listing each.
    const numeric = pre.features.filter((f) => f.kind === 'numeric');
    const categorical = pre.features.filter((f) => f.kind === 'categorical');
    lines = [];
    if (numeric.length)
      lines.push(
        `  ${numeric.length} numeric features (${numeric[0].name} … ${numeric[numeric.length - 1].name}), ${how} per column`,
      );
    lines.push(...categorical.slice(0, 12).map(one));
    if (categorical.length > 12) lines.push(`  … and ${categorical.length - 12} more categorical features`);
  }
  lines.push(`  network input: ${pre.inputSize} values`);
  lines.push(
    {
      error: '  missing values: refused (an error naming the line)',
      drop: '  missing values: rows with one were left out of training; predict refuses them',
      mean: '  missing values: filled with the mean (numeric) or the most frequent value (categorical)',
      mode: '  missing values: filled with the most frequent value',
    }[pre.missing ?? 'error'],
  );
  const t = pre.target;
  lines.push(
    t.kind === 'classes'
      ? `  target ${t.name}: ${t.classes.length} classes (${t.classes.slice(0, 10).join(', ')}${t.classes.length > 10 ? ', …' : ''})`
      : `  target ${t.name}: numeric, standardized for training (mean ${num(t.mean)}, std ${num(t.std)})`,
  );
  return lines;
}

/** An image model's input: the shape, how files are read, and the scaling per channel when it is one. */
function describeImage(pre: Preprocessing, image: ImageInput, how: string): string[] {
  const [c, h, w] = image.shape;
  const lines = [
    `  images ${c}×${h}×${w} (C×H×W; each row px0 … px${pre.inputSize - 1}, channel after channel)`,
    `  image files: read as ${c === 1 ? 'grey (luma)' : c === 3 ? 'RGB' : `${c} channels`}, ` +
      (image.resize ? `resized to ${w}×${h} (${image.resize})` : `${w}×${h} pixels required (not resized)`) +
      `, full intensity ${image.maxValue}`,
  ];
  const plane = h * w;
  const names = c === 3 ? ['red', 'green', 'blue'] : c === 1 ? ['grey'] : [];
  const perChannel = Array.from({ length: c }, (_, k) => {
    const fs = pre.features.slice(k * plane, (k + 1) * plane) as { mean: number; std: number }[];
    return fs.every((f) => f.mean === fs[0].mean && f.std === fs[0].std) ? fs[0] : null;
  });
  if (perChannel.every((f) => f !== null))
    perChannel.forEach((f, k) =>
      lines.push(`  channel ${k}${names[k] ? ` (${names[k]})` : ''}: (x − ${num(f!.mean)}) / ${num(f!.std)}`),
    );
  else lines.push(`  pixels ${how} per pixel`);
  return lines;
}

/** Run `chainrule info`; returns the exit code. */
export async function infoCommand(flags: Flags, positionals: string[], io: IO): Promise<number> {
  const path = positionals[0];
  if (!path) throw new UserError('info: which model file? e.g. chainrule info model.json');
  const { model, file, pre } = await readModelFile(path, io.cwd);
  // Layer by layer as torchinfo's summary: shapes for the rows the preprocessing gives, or for the
  // windows a language model reads.
  const text = file.preprocessing as { kind?: string; context?: unknown } | null;
  const input = pre
    ? [pre.inputSize]
    : text?.kind === 'text' && Number.isInteger(text.context)
      ? [text.context as number]
      : undefined;
  const summary = summarize(model, input);
  if (flags.json) {
    const { weights: _weights, ...rest } = file;
    io.out(JSON.stringify({ ...rest, parameters: model.numParameters(), summary }, null, 2) + '\n');
    return 0;
  }
  const training = (file.training ?? {}) as {
    settings?: Record<string, unknown>;
    data?: string;
    epochs?: number;
    date?: string;
    seconds?: number;
    stopReason?: string;
    final?: {
      loss: number;
      valLoss?: number;
      metrics?: { accuracy?: number };
      valMetrics?: { accuracy?: number };
    } | null;
    test?: { accuracy?: number; loss: number; rows: number } | null;
  };
  const lines = [
    `${path}: chainrule model (format version ${file.version}, written by chainrule ${file.chainrule} on ${file.created})`,
    `task: ${file.task ?? 'unknown'}, dtype ${file.dtype}, ${int(model.numParameters())} parameters`,
    'architecture:',
    ...summaryTable(summary)
      .split('\n')
      .map((l) => `  ${l}`),
    'preprocessing:',
    ...(pre
      ? describePreprocessing(pre, training.settings?.scale as string | undefined)
      : sequencePreprocessing(file.preprocessing)),
  ];
  const s = training.settings;
  if (s) {
    lines.push('training:');
    lines.push(
      `  data ${training.data}, seed ${s.seed}, ${training.epochs} epochs (${training.stopReason ?? 'completed'}), batch ${s.batchSize}, ${s.optimizer} lr ${s.lr}, loss ${s.loss ?? (s.task === 'language-model' ? 'cross-entropy per character' : 'mse')}`,
    );
    const f = training.final;
    if (f)
      lines.push(
        `  final: loss ${num(f.loss)}` +
          (f.metrics?.accuracy !== undefined ? `, accuracy ${pct(f.metrics.accuracy)}` : '') +
          (f.valLoss !== undefined ? `, val_loss ${num(f.valLoss)}` : '') +
          (f.valMetrics?.accuracy !== undefined ? `, val_acc ${pct(f.valMetrics.accuracy)}` : ''),
      );
    if (training.test)
      lines.push(
        `  test: loss ${num(training.test.loss)}${training.test.accuracy !== undefined ? `, accuracy ${pct(training.test.accuracy)}` : ''} on ${int(training.test.rows)} rows`,
      );
    if (training.date)
      lines.push(
        `  trained ${training.date}${training.seconds ? ` in ${training.seconds.toFixed(1)}s` : ''}`,
      );
  }
  io.out(lines.join('\n') + '\n');
  return 0;
}

/** A sequence model's preprocessing (a vocabulary, a series' scaling) as lines; imported weights have none. */
function sequencePreprocessing(p: unknown): string[] {
  const q = p as {
    kind?: string;
    vocab?: { chars: string[] };
    context?: number;
    column?: string;
    window?: number;
    mean?: number;
    std?: number;
  } | null;
  if (q?.kind === 'text' && q.vocab)
    return [
      `  characters: a vocabulary of ${q.vocab.chars.length} (${JSON.stringify(q.vocab.chars.join('')).slice(0, 60)}), context ${q.context}`,
    ];
  if (q?.kind === 'series')
    return [
      `  series '${q.column}': windows of ${q.window} → the next value, (x − ${num(q.mean as number)}) / ${num(q.std as number)}`,
    ];
  return ['  none: the network takes its inputs as they are (imported weights)'];
}
