// chainrule explain: one training step with every chain-rule term, in the seed notebook's notation by
// default, or for a trained model and one row of data; --notebook sets the notebook's update order beside
// backpropagation.
import { compareNotebookOrder, isDenseNetwork, trace, traceModel, type StepTrace } from '../../src/index.js';
import type { CommandSpec, Flags } from '../args.js';
import { UserError } from '../errors.js';
import type { IO } from '../io.js';
import { renderMarkdown, renderText, type Block } from '../explain/doc.js';
import { describeSetup, notebookBlocks, stepBlocks, stepsSummaryBlocks } from '../explain/format.js';
import { asUserError, loadStepInput, stepInputFlags, type StepInput } from '../explain/input.js';
import { modelTraceBlocks } from '../explain/layers.js';

const DEFAULT_LIMIT = 8;
/** Finite-difference checks per tensor under --all (every element shown, a sample checked). */
const ALL_CHECKS = 16;
const DEFAULT_LR = 0.1;

/** The explain command's flags and help. */
export const explainSpec: CommandSpec = {
  name: 'explain',
  summary: 'Walk through one training step: every partial derivative, chain product, check and update.',
  usage: 'chainrule explain [--model <model.json> --data <file|name> [--row N]] [--steps K] [flags]',
  flags: [
    ...stepInputFlags('Loss to explain'),
    {
      name: 'steps',
      type: 'integer',
      placeholder: 'K',
      min: 1,
      max: 10000,
      description: 'Take K steps: the first in full, the rest one line each',
      defaultText: '1',
    },
    {
      name: 'lr',
      type: 'number',
      placeholder: 'x',
      min: 0,
      exclusiveMin: true,
      description: 'SGD learning rate of the update',
      defaultText: String(DEFAULT_LR),
    },
    {
      name: 'limit',
      type: 'integer',
      placeholder: 'N',
      min: 1,
      description: 'Weights shown and checked per tensor, units (or terms of a sum) shown per layer',
      defaultText: String(DEFAULT_LIMIT),
    },
    {
      name: 'all',
      type: 'boolean',
      description: 'Show every term and value of a layer-by-layer trace (CNN, LSTM…), not the first --limit',
    },
    {
      name: 'format',
      type: 'string',
      placeholder: 'fmt',
      choices: ['text', 'markdown', 'json'],
      description: 'Output format',
      defaultText: 'text',
    },
    {
      name: 'notebook',
      type: 'boolean',
      description: "The notebook's own update order beside backpropagation",
    },
  ],
  details:
    "Without --model the step is the seed notebook's: its 2-2-1 sigmoid network, sample and learning\n" +
    'rate, in its names (w1…w6, h1, d_output/d_h1…). A model file is explained on one row of --data,\n' +
    'with systematic names (L1.W[0][1], h1_3, out_0). It all runs in float64 on a copy; nothing is\n' +
    "written. The loss is the seed's mse-half-sum or the one the model was trained with, unless --loss.\n" +
    'Finite differences check each gradient shown; --limit bounds how many per tensor.\n' +
    '--steps K explains the first step in full and the rest one line each. --format json prints the\n' +
    'trace record (an array of K records with --steps K), or the comparison with --notebook.\n' +
    'A model with other layers (convolution, pooling, BatchNorm, LayerNorm, embedding, LSTM/GRU/RNN) is\n' +
    "explained layer by layer: each layer's chain rule by hand beside autograd, one element of each\n" +
    'gradient as its sum of terms (the first --limit; --all for every one), finite differences. A\n' +
    'language model takes the window at character --row of a text; a forecaster the --row-th window.',
  examples: [
    'chainrule explain',
    'chainrule explain --notebook',
    'chainrule explain --model iris.json --data iris --row 51 --format markdown > step.md',
    'chainrule explain --model m.json --data houses.csv --steps 5 --format json',
    'chainrule explain --model cnn.json --data digits --row 3 --format markdown',
    'chainrule explain --model lm.json --data book.txt --row 100 --all',
  ],
};

function render(blocks: Block[], format: string): string {
  return format === 'markdown' ? renderMarkdown(blocks) : renderText(blocks);
}

/** Run `chainrule explain`; returns the exit code. */
export async function explainCommand(flags: Flags, _positionals: string[], io: IO): Promise<number> {
  const format = (flags.format as string | undefined) ?? 'text';
  if (flags.notebook) {
    for (const f of ['model', 'data', 'row', 'steps', 'lr', 'loss', 'limit'])
      if (flags[f] !== undefined)
        throw new UserError(`explain: --notebook replays the notebook's own run, so it takes no --${f}`, {
          hint: "see 'chainrule explain --help'",
        });
    const c = compareNotebookOrder();
    io.out(format === 'json' ? JSON.stringify(c, null, 2) + '\n' : render(notebookBlocks(c), format));
    return 0;
  }
  const input = await loadStepInput(flags, io.cwd, 'explain');
  if (!isDenseNetwork(input.model)) return explainLayers(input, flags, format, io);
  if (flags.all) throw new UserError('explain: --all is for a layer-by-layer trace; an MLP takes --limit');
  const steps = (flags.steps as number | undefined) ?? 1;
  const limit = (flags.limit as number | undefined) ?? DEFAULT_LIMIT;
  const lr = (flags.lr as number | undefined) ?? DEFAULT_LR;
  const traces: StepTrace[] = [];
  for (let k = 0; k < steps; k++)
    traces.push(
      asUserError('explain', () =>
        // The first step's checks are the ones shown; later steps check the same elements again.
        trace(input.model, input.x, input.y, { loss: input.loss, lr, check: limit }),
      ),
    );
  if (format === 'json') {
    io.out(JSON.stringify(steps === 1 ? traces[0] : traces, null, 2) + '\n');
    return 0;
  }
  const first = traces[0];
  const precision =
    input.modelDType === first.dtype
      ? ''
      : ` The model is ${input.modelDType}; the step runs on a float64 copy.`;
  const blocks = stepBlocks(first, {
    title: input.seed
      ? "One training step of the seed notebook's network, every chain-rule term checked"
      : 'One training step, every chain-rule term checked',
    about: [input.source, describeSetup(first) + precision],
    limit,
    legend: input.legend,
  });
  blocks.push(...stepsSummaryBlocks(traces));
  io.out(render(blocks, format));
  return 0;
}

/** A model beyond Linear layers and activations, layer by layer. */
function explainLayers(input: StepInput, flags: Flags, format: string, io: IO): number {
  for (const f of ['steps', 'lr'])
    if (flags[f] !== undefined)
      throw new UserError(
        `explain: --${f} is for an MLP's step and update; a layer-by-layer trace explains the gradients of one step`,
      );
  if (flags.all && flags.limit !== undefined)
    throw new UserError('explain: --all shows every element; leave --limit out, or --all');
  const limit = flags.all ? Infinity : ((flags.limit as number | undefined) ?? DEFAULT_LIMIT);
  const t = asUserError('explain', () =>
    traceModel(input.model, input.x, input.y, {
      loss: input.loss,
      check: flags.all ? ALL_CHECKS : limit,
    }),
  );
  if (format === 'json') {
    io.out(JSON.stringify(t, null, 2) + '\n');
    return 0;
  }
  const precision =
    input.modelDType === 'float64'
      ? ''
      : ` The model is ${input.modelDType}; the step runs on a float64 copy.`;
  const blocks = modelTraceBlocks(t, {
    title: 'One training step, layer by layer, every gradient by the chain rule and checked',
    about: [
      input.source,
      `${t.layers.length} layers (${t.layers.map((l) => l.type).join(', ')}); loss ${t.loss.name}; computed in float64 in training mode.${precision}`,
    ],
    limit,
  });
  io.out(render(blocks, format));
  return 0;
}
