// chainrule generate: text from a language model file, streamed to stdout a character at a time.
import {
  checkVocabulary,
  decodeIds,
  encodeText,
  noGrad,
  random,
  sampleNext,
  Tensor,
  TextDataError,
  type nn,
} from '../../src/index.js';
import type { CommandSpec, Flags } from '../args.js';
import { UserError } from '../errors.js';
import type { IO } from '../io.js';
import { readModelFile } from '../model.js';

/** The generate command's flags and help. */
export const generateSpec: CommandSpec = {
  name: 'generate',
  summary: 'Write text with a language model trained by `train --task language-model`.',
  usage: 'chainrule generate --model <model.json> [--prompt "…"] [flags]',
  flags: [
    { name: 'model', type: 'string', placeholder: 'model.json', description: 'Language model file' },
    {
      name: 'prompt',
      type: 'string',
      placeholder: 'text',
      description: 'Text to continue (its characters must be in the vocabulary)',
      defaultText: 'a newline if the vocabulary has one, else its first character',
    },
    { name: 'length', type: 'integer', min: 0, description: 'Characters to generate', defaultText: '500' },
    {
      name: 'temperature',
      type: 'number',
      min: 0,
      description: 'Divide the logits by this before sampling; 0 always takes the most likely character',
      defaultText: '1',
    },
    {
      name: 'top-k',
      type: 'integer',
      min: 1,
      description: 'Sample only among the k most likely characters',
      defaultText: 'all',
    },
    {
      name: 'seed',
      type: 'integer',
      min: 0,
      max: 2 ** 32 - 1,
      description: 'Seed of the sampling (same seed, same text)',
      defaultText: '0',
    },
  ],
  details:
    'The prompt is printed, then each generated character as soon as it is drawn. The model (an LSTM, GRU, RNN\n' +
    'or GPT) reads at most the context it was trained with (the last characters). A closed pipe (| head) ends\n' +
    'it quietly.',
  examples: [
    'chainrule generate --model book.json --prompt "The " --length 500 --temperature 0.8 --top-k 40 --seed 1',
    'chainrule generate --model names.json --length 200 --temperature 0.7',
    'chainrule generate --model names-gpt.json --length 200 --temperature 0.8 --top-k 10 --seed 1',
  ],
};

const immediate = (): Promise<void> => new Promise((r) => setImmediate(r));

/**
 * Logits for the character after `ids` (the last `context` of them): the model runs on one window and the
 * last position's row is kept. The same call serves any model that maps ids [1, T] to logits [1, T, V].
 */
function nextLogits(model: nn.Module, ids: readonly number[], context: number, dtype: 'float32' | 'float64') {
  const window = ids.slice(Math.max(0, ids.length - context));
  const x = new Tensor(dtype === 'float64' ? Float64Array.from(window) : Float32Array.from(window), [
    1,
    window.length,
  ]);
  const out = noGrad(() => model.forward(x));
  const V = out.shape[out.ndim - 1];
  return out.data.subarray(out.size - V);
}

/** Run `chainrule generate`; returns the exit code. */
export async function generateCommand(flags: Flags, io: IO): Promise<number> {
  const path = flags.model as string | undefined;
  if (!path)
    throw new UserError('generate: --model is required', { hint: "see 'chainrule generate --help'" });
  const doc = await readModelFile(path, io.cwd);
  const pre = doc.file.preprocessing as { kind?: string; vocab?: unknown; context?: unknown } | null;
  if (pre?.kind !== 'text')
    throw new UserError(
      `${path}: not a language model (train one with --task language-model); generate needs its vocabulary`,
    );
  const vocab = (() => {
    try {
      return checkVocabulary(pre.vocab, `${path}: preprocessing.vocab`);
    } catch (e) {
      throw new UserError((e as Error).message);
    }
  })();
  const context = pre.context;
  if (!Number.isInteger(context) || (context as number) < 1)
    throw new UserError(
      `${path}: preprocessing.context: expected a positive integer, got ${JSON.stringify(context)}`,
    );
  const promptFlag = flags.prompt as string | undefined;
  const prompt = promptFlag ?? (vocab.chars.includes('\n') ? '\n' : vocab.chars[0]);
  let ids: number[];
  try {
    ids = [...encodeText(vocab, prompt, '--prompt')];
  } catch (e) {
    if (e instanceof TextDataError) throw new UserError(`generate: ${e.message}`);
    throw e;
  }
  if (ids.length === 0) ids = [vocab.chars.includes('\n') ? vocab.chars.indexOf('\n') : 0];
  const length = (flags.length as number | undefined) ?? 500;
  const temperature = (flags.temperature as number | undefined) ?? 1;
  const topK = Math.min((flags['top-k'] as number | undefined) ?? vocab.chars.length, vocab.chars.length);
  const rng = new random.RandomState((flags.seed as number | undefined) ?? 0);
  const model = doc.model.eval();
  const dtype = model.parameters()[0]?.dtype ?? 'float32';

  if (promptFlag !== undefined) io.out(prompt);
  for (let i = 0; i < length; i++) {
    const next = sampleNext(nextLogits(model, ids, context as number, dtype), { temperature, topK, rng });
    ids.push(next);
    io.out(decodeIds(vocab, [next]));
    // Let a closed pipe's error arrive; once the reader has left there is no one to generate for.
    if (i % 16 === 15) {
      await immediate();
      if (io.outOpen && !io.outOpen()) return 0;
    }
  }
  io.out('\n');
  return 0;
}
