// chainrule demo: a built-in example trained and shown, nothing to download, nothing written.
import { runSeedDemo } from '../seed-demo.js';
import type { CommandSpec, Flags } from '../args.js';
import { BUILTIN_NAMES } from '../datasets.js';
import { UserError } from '../errors.js';
import type { IO } from '../io.js';
import { suggest } from '../args.js';
import { train } from './train.js';

/** The demo command's help. */
export const demoSpec: CommandSpec = {
  name: 'demo',
  summary: "Train a built-in example and show the result (default: the seed notebook's network).",
  usage: 'chainrule demo [name]',
  positionals: [
    { name: 'name', description: "'seed' (default), or a built-in dataset: xor, circle, spiral, iris, …" },
  ],
  flags: [{ name: 'quiet', type: 'boolean', short: 'q', description: 'Only the final result' }],
  examples: ['chainrule demo', 'chainrule demo spiral', 'chainrule demo iris'],
};

/** Run `chainrule demo`; returns the exit code. */
export async function demoCommand(flags: Flags, positionals: string[], io: IO): Promise<number> {
  const name = positionals[0] ?? 'seed';
  if (name === 'seed') {
    await runSeedDemo((line) => io.out(line + '\n'));
    return 0;
  }
  const names = Object.keys(BUILTIN_NAMES);
  if (!names.includes(name)) {
    const s = suggest(name, ['seed', ...names]);
    throw new UserError(`demo: no example '${name}'${s ? ` (did you mean '${s}'?)` : ''}`, {
      hint: `examples: seed, ${names.join(', ')}`,
    });
  }
  const small = name === 'xor';
  return train(
    {
      data: name,
      quiet: flags.quiet,
      ...(small ? { layers: [4], activation: 'tanh', val: 0, epochs: 300, 'batch-size': 4, lr: 0.05 } : {}),
      ...(name === 'spiral' ? { layers: [16, 16], activation: 'tanh', epochs: 200 } : {}),
    },
    io,
    { save: false },
  );
}
