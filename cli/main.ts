#!/usr/bin/env node
// The chainrule command line: dispatch, help, and the one place errors turn into messages and exit codes.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CsvError, DataError, ModelFileError, PreprocessError, VERSION } from '../src/index.js';
import { helpText, parseCommand, suggest, type CommandSpec, type Flags } from './args.js';
import { demoCommand, demoSpec } from './commands/demo.js';
import { evalSpec, evaluateCommand } from './commands/evaluate.js';
import { explainCommand, explainSpec } from './commands/explain.js';
import { generateCommand, generateSpec } from './commands/generate.js';
import { exportCommand, exportSpec } from './commands/export.js';
import { graphCommand, graphSpec } from './commands/graph.js';
import { importCommand, importSpec } from './commands/import.js';
import { infoCommand, infoSpec } from './commands/info.js';
import { playgroundCommand, playgroundSpec } from './commands/playground.js';
import { predictCommand, predictSpec } from './commands/predict.js';
import { train, trainSpec } from './commands/train.js';
import { UserError } from './errors.js';
import { processIO, writeFailed, type IO } from './io.js';

type Run = (flags: Flags, positionals: string[], io: IO) => Promise<number>;

const COMMANDS: { spec: CommandSpec; run: Run }[] = [
  { spec: demoSpec, run: demoCommand },
  { spec: trainSpec, run: (f, _p, io) => train(f, io) },
  { spec: evalSpec, run: (f, _p, io) => evaluateCommand(f, io) },
  { spec: predictSpec, run: (f, _p, io) => predictCommand(f, io) },
  { spec: generateSpec, run: (f, _p, io) => generateCommand(f, io) },
  { spec: infoSpec, run: infoCommand },
  { spec: explainSpec, run: explainCommand },
  { spec: graphSpec, run: graphCommand },
  { spec: exportSpec, run: exportCommand },
  { spec: importSpec, run: importCommand },
  { spec: playgroundSpec, run: playgroundCommand },
];

function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.spec.name.length)) + 2;
  const lines = [
    `chainrule ${VERSION}: train neural networks by backpropagation`,
    '',
    'Usage: chainrule <command> [flags]',
    '',
    'Commands:',
    ...COMMANDS.map(({ spec }) => `  ${spec.name.padEnd(width)}${spec.summary}`),
    '',
    "Run 'chainrule <command> --help' for a command's flags. Data goes to stdout, messages to stderr;",
    'exit status 0 on success, 1 when training fails, 2 on bad usage or input.',
    'Math runs on WebAssembly SIMD kernels where available, large products on every core;',
    'CHAINRULE_THREADS=n limits the threads, CHAINRULE_KERNELS=reference selects the pure TypeScript kernels.',
    '',
    'Start with: chainrule demo        (the seed notebook, corrected)',
    '            chainrule train --data iris',
  ];
  return lines.join('\n') + '\n';
}

/**
 * Check the variables the library reads when it chooses its default kernels (it ignores a bad value with a
 * warning; here it is bad usage): CHAINRULE_KERNELS 'wasm' or 'reference', CHAINRULE_THREADS a positive
 * integer or 'auto' (the default: every core this process may use). Empty means unset.
 */
function checkKernelEnv(): void {
  const kernels = process.env.CHAINRULE_KERNELS;
  if (kernels && kernels !== 'reference' && kernels !== 'wasm')
    throw new UserError(`CHAINRULE_KERNELS must be 'wasm' or 'reference', got '${kernels}'`);
  const v = process.env.CHAINRULE_THREADS;
  if (!v || v === 'auto') return;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1)
    throw new UserError(`CHAINRULE_THREADS must be a positive integer or 'auto', got '${v}'`);
}

/** Run the command line with `argv` (without node and the script); returns the exit code. */
export async function main(argv: readonly string[], io: IO): Promise<number> {
  try {
    const [first, ...rest] = argv;
    if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
      const topic = first === 'help' ? COMMANDS.find((c) => c.spec.name === rest[0]) : undefined;
      io.out(topic ? helpText(topic.spec) : mainHelp());
      return first === undefined ? 2 : 0;
    }
    if (first === '--version' || first === '-v') {
      io.out(`${VERSION}\n`);
      return 0;
    }
    const command = COMMANDS.find((c) => c.spec.name === first);
    if (!command) {
      const s = suggest(
        first,
        COMMANDS.map((c) => c.spec.name),
      );
      throw new UserError(`unknown command '${first}'${s ? ` (did you mean '${s}'?)` : ''}`, {
        hint: "see 'chainrule --help'",
      });
    }
    const parsed = parseCommand(command.spec, rest);
    if (parsed.help) {
      io.out(helpText(command.spec));
      return 0;
    }
    // The library's default kernels: WebAssembly SIMD with a thread per core for large products (the same
    // bits for any thread count; float32 products use relaxed SIMD's fused multiply-add where the runtime
    // has it, Node ≥ 22, so the model file records the set), as CHAINRULE_KERNELS and CHAINRULE_THREADS say.
    checkKernelEnv();
    return await command.run(parsed.flags, parsed.positionals, io);
  } catch (e) {
    if (e instanceof UserError) {
      io.err(`chainrule: ${e.message}\n${e.hint ? `  ${e.hint}\n` : ''}`);
      return e.exitCode;
    }
    // The library's own input errors (a model file, data that does not fit the model) are bad input too.
    if (
      e instanceof ModelFileError ||
      e instanceof PreprocessError ||
      e instanceof DataError ||
      e instanceof CsvError
    ) {
      io.err(`chainrule: ${e.message}\n`);
      return 2;
    }
    // A bug, not bad input: say so plainly; the stack only on request.
    const err = e as Error;
    io.err(
      `chainrule: internal error: ${err.message}\n  please report it; set CHAINRULE_DEBUG=1 for details\n`,
    );
    if (process.env.CHAINRULE_DEBUG) io.err(`${err.stack}\n`);
    return 1;
  }
}

/**
 * Run the command line as this process: its arguments, its stdout and stderr, Ctrl-C, and its exit code.
 * `cli/bin.ts` (the package's `chainrule` binary) calls it unconditionally.
 */
export async function runProcess(argv: readonly string[] = process.argv.slice(2)): Promise<void> {
  const controller = new AbortController();
  let interrupts = 0;
  process.on('SIGINT', () => {
    // First Ctrl-C: finish the batch and save a checkpoint. Second: leave at once.
    if (++interrupts > 1) process.exit(130);
    controller.abort();
  });
  const code = await main(argv, processIO(controller.signal));
  process.exitCode = code === 0 && writeFailed() ? 1 : code;
}

/**
 * Whether this module is the script node was started with (`tsx cli/main.ts …`). Paths are compared after
 * resolving links: a package manager's `.bin/chainrule` is a link, so the URLs alone would differ.
 */
function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) await runProcess();
