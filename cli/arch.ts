// The network a `chainrule train` run builds: an MLP from --layers, a line of the architecture grammar
// (--arch "conv 32 3 relu, …") or a JSON spec file (--arch net.json), sized to the data and checked
// against it before any training. Also --dry-run's per-layer table.
import { resolve } from 'node:path';
import {
  ARCH_GRAMMAR,
  ArchError,
  checkSpecFits,
  mlpSpec,
  parseArch,
  summarize,
  summaryTable,
  validateSpec,
  type ActivationOp,
  type LayerSpec,
  type ModelSpec,
  type Preprocessing,
  type nn,
} from '../src/index.js';
import type { FlagSpec, Flags } from './args.js';
import { UserError } from './errors.js';
import { readTextFile } from './fsutil.js';

/** The flags this module adds to `chainrule train`. */
export const ARCH_FLAGS: readonly FlagSpec[] = [
  {
    name: 'arch',
    type: 'string',
    placeholder: 'layers|spec.json',
    description:
      'The network as a line ("conv 32 3 relu, maxpool 2, flatten, linear 128 relu, linear"; see below) or a JSON spec file (a model file\'s "architecture"); instead of --layers',
  },
  {
    name: 'dry-run',
    type: 'boolean',
    description: 'Build the network for the data, print its layers (output shapes, parameters) and stop',
  },
];

/** The grammar of --arch, for the help's details. */
export const ARCH_HELP = `--arch: ${ARCH_GRAMMAR}`;

/** Layer types that take [C, H, W] samples: a JSON spec starting with one gets the image's unflatten. */
const IMAGE_FIRST: readonly LayerSpec['type'][] = [
  'conv2d',
  'maxPool2d',
  'avgPool2d',
  'adaptiveAvgPool2d',
  'batchNorm2d',
];

/** --arch and the MLP flags describe the same thing: one or the other. */
export function checkArchFlags(flags: Flags): void {
  if (flags.arch === undefined) return;
  for (const f of ['layers', 'activation'] as const)
    if (flags[f] !== undefined)
      throw new UserError(
        `train: --arch and --${f} both describe the network; give one (--layers 64,32 --activation tanh is --arch "linear 64 tanh, linear 32 tanh, linear")`,
      );
}

/** What the network is built from: the run's settings. */
export interface NetworkSettings {
  arch?: string;
  layers?: number[];
  activation?: ActivationOp;
}

/**
 * The spec of the run's network for data preprocessed by `pre` with `outputs` outputs, and a phrase that
 * describes it; every mistake is a UserError naming --arch (or the file), the item or layer and the shapes.
 */
export async function networkSpec(
  s: NetworkSettings,
  pre: Preprocessing,
  outputs: number,
  cwd: string,
): Promise<{ spec: ModelSpec; description: string }> {
  const image = pre.image?.shape;
  const description = networkDescription(s, pre, outputs);
  if (s.arch === undefined)
    return {
      spec: mlpSpec([pre.inputSize, ...(s.layers ?? [64, 32]), outputs], s.activation ?? 'relu'),
      description,
    };
  if (/\.json$/i.test(s.arch.trim()))
    return { spec: await specFile(s.arch.trim(), pre, outputs, cwd), description };
  try {
    const parsed = parseArch(s.arch, {
      shape: image ?? [pre.inputSize],
      image: image !== undefined,
      outputs,
    });
    return { spec: parsed.spec, description };
  } catch (e) {
    if (e instanceof ArchError)
      throw new UserError(`train: --arch: ${e.message}`, {
        hint: "see 'chainrule train --help' for the --arch grammar",
      });
    throw e;
  }
}

/** The network in a phrase: `784-64-32-10 relu`, or the --arch line or file. */
export function networkDescription(s: NetworkSettings, pre: Preprocessing, outputs: number): string {
  if (s.arch !== undefined) return s.arch;
  return `${[pre.inputSize, ...(s.layers ?? [64, 32]), outputs].join('-')} ${s.activation ?? 'relu'}`;
}

/** A JSON spec file (or a model file, whose architecture is taken), checked against the data. */
async function specFile(path: string, pre: Preprocessing, outputs: number, cwd: string): Promise<ModelSpec> {
  const text = await readTextFile(resolve(cwd, path), 'architecture file', path);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new UserError(`${path}: not valid JSON (${(e as Error).message})`);
  }
  const record = typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : null;
  const isModelFile = record !== null && 'architecture' in record;
  let spec: ModelSpec;
  try {
    spec = validateSpec(isModelFile ? record.architecture : value, isModelFile ? 'architecture' : '');
  } catch (e) {
    throw new UserError(`${path}: ${(e as Error).message}`);
  }
  const image = pre.image?.shape;
  // Image rows arrive flat; a spec that starts on images gets the unflatten the grammar adds.
  const added = image !== undefined && IMAGE_FIRST.includes(spec.layers[0]?.type) ? 1 : 0;
  if (added)
    spec = { type: 'sequential', layers: [{ type: 'unflatten', shape: [...image!] }, ...spec.layers] };
  // Layers are named as the file numbers them; the added unflatten is the input image.
  const label = (j: number) =>
    j < added ? (j < 0 ? 'the input' : 'the input image') : `layers[${j - added}]`;
  try {
    checkSpecFits(spec, { shape: [pre.inputSize], outputs }, label);
  } catch (e) {
    if (e instanceof ArchError)
      throw new UserError(
        `${path}: does not fit the data (rows of ${pre.inputSize} values${image ? `, images ${image.join('×')}` : ''}): ${e.message}`,
      );
    throw e;
  }
  return spec;
}

/** --dry-run's table: each layer, its output shape for the data, its parameters; then the totals. */
export function dryRunTable(model: nn.Sequential, pre: Preprocessing): string {
  return summaryTable(summarize(model, [pre.inputSize])) + '\n';
}
