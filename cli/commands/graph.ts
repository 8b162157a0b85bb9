// chainrule graph: the computation graph of one training step as Graphviz DOT, every node with its value
// and gradient; as SVG when Graphviz's `dot` is installed.
import { spawnSync } from 'node:child_process';
import { extname, resolve } from 'node:path';
import { stepGraph, toDot } from '../../src/index.js';
import type { CommandSpec, Flags } from '../args.js';
import { UserError } from '../errors.js';
import { asUserError, loadStepInput, stepInputFlags } from '../explain/input.js';
import { writeFileAtomic } from '../fsutil.js';
import type { IO } from '../io.js';

/** The graph command's flags and help. */
export const graphSpec: CommandSpec = {
  name: 'graph',
  summary: 'Draw the computation graph of one training step (Graphviz DOT or SVG), values and gradients.',
  usage: 'chainrule graph [--model <model.json> --data <file|name> [--row N]] [--out <file>]',
  flags: [
    ...stepInputFlags('Loss of the step'),
    {
      name: 'out',
      type: 'string',
      placeholder: 'graph.svg',
      description: '.dot/.gv for DOT, .svg for SVG (needs Graphviz); default: DOT on stdout',
    },
  ],
  details:
    "Without --model the graph is the seed notebook's network on its sample. The DOT is the graph\n" +
    'autograd walks, from the inputs and parameters to the loss: parameters as blue boxes, ops as\n' +
    "ellipses, each node with its value and gradient. SVG needs Graphviz's dot on the PATH (or\n" +
    'CHAINRULE_DOT=/path/to/dot); without it, --out graph.svg writes graph.dot instead and says so.\n' +
    "The loss is the seed's mse-half-sum or the one the model was trained with, unless --loss.\n" +
    'A CNN, language-model or forecaster model file is drawn too (parameters by state-dict key, each\n' +
    "layer's output by its index and class); --row picks the row, character or window as for explain.",
  examples: [
    'chainrule graph --out seed.svg',
    'chainrule graph --model iris.json --data iris --row 3 --out iris-step.dot',
    'chainrule graph | dot -Tpng -o step.png',
  ],
};

/** The `dot` program to run, when one answers `dot -V`; null when Graphviz is not installed. */
export function findDot(): string | null {
  const dot = process.env.CHAINRULE_DOT || 'dot';
  const r = spawnSync(dot, ['-V'], { encoding: 'utf8', timeout: 10_000 });
  return r.error || r.status !== 0 ? null : dot;
}

const MISSING =
  "Graphviz's dot is not installed (or not on the PATH; CHAINRULE_DOT may name it), so no SVG was made";

/** Run `chainrule graph`; returns the exit code. */
export async function graphCommand(flags: Flags, _positionals: string[], io: IO): Promise<number> {
  const out = flags.out as string | undefined;
  const ext = out === undefined ? '' : extname(out).toLowerCase();
  if (out !== undefined && !['.dot', '.gv', '.svg'].includes(ext))
    throw new UserError(`graph: --out ${out}: expected a .dot, .gv or .svg file name`);
  const input = await loadStepInput(flags, io.cwd, 'graph');
  const graph = asUserError('graph', () => stepGraph(input.model, input.x, input.y, { loss: input.loss }));
  const dot = toDot(graph, {
    title: `${input.seed ? "The seed notebook's network" : 'One training step'}: loss ${graph.loss}`,
  });
  if (out === undefined) {
    io.out(dot);
    if (findDot() === null) io.err(`${MISSING}; install Graphviz to render this DOT.\n`);
    return 0;
  }
  if (ext !== '.svg') {
    await writeFileAtomic(resolve(io.cwd, out), dot, { what: 'graph' });
    io.err(`wrote ${out} (${graph.nodes.length} nodes)\n`);
    return 0;
  }
  const program = findDot();
  if (program === null) {
    const dotPath = out.slice(0, -ext.length) + '.dot';
    await writeFileAtomic(resolve(io.cwd, dotPath), dot, { what: 'graph' });
    io.err(
      `${MISSING}: wrote the DOT to ${dotPath} instead.\n  With Graphviz: dot -Tsvg ${dotPath} -o ${out}\n`,
    );
    return 0;
  }
  const r = spawnSync(program, ['-Tsvg'], { input: dot, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  if (r.error || r.status !== 0)
    throw new UserError(`graph: ${program} -Tsvg failed: ${(r.error?.message ?? r.stderr).trim()}`);
  await writeFileAtomic(resolve(io.cwd, out), r.stdout, { what: 'graph' });
  io.err(`wrote ${out} (${graph.nodes.length} nodes, rendered by ${program})\n`);
  return 0;
}
