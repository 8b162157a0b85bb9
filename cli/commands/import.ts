// chainrule import: safetensors weights (from PyTorch, or from 'chainrule export') into a chainrule model
// file. The architecture comes from --arch, the file's own record, or the tensors' names and shapes with
// the flags (a flat MLP only).
import { resolve } from 'node:path';
import {
  ACTIVATION_NAMES,
  fromSafetensors,
  serializeModel,
  type ModelFile,
  parseSafetensors,
  validateSpec,
  type ActivationName,
  type DType,
  type ModelSpec,
} from '../../src/index.js';
import { suggest, type CommandSpec, type Flags } from '../args.js';
import { UserError } from '../errors.js';
import { int } from '../format.js';
import { checkedModelText } from '../checkpoint.js';
import { readBinaryFile, readTextFile, writeFileAtomic } from '../fsutil.js';
import type { IO } from '../io.js';
import { ARCHITECTURE_KEY } from './export.js';

/** The import command's flags and help. */
export const importSpec: CommandSpec = {
  name: 'import',
  summary:
    'Import safetensors weights of a PyTorch nn.Sequential (an MLP; a CNN or recurrent model with --arch) into a model file.',
  usage:
    'chainrule import <weights.safetensors> --out <model.json> [--layers 16,8] [--activation relu] [--arch spec.json] [--rename from=to,...] [--dtype float64]',
  positionals: [
    {
      name: 'weights.safetensors',
      description:
        "safetensors file with nn.Sequential names ('0.weight' [out, in], '0.bias', '2.weight', ...)",
      required: true,
    },
  ],
  flags: [
    { name: 'out', type: 'string', placeholder: 'model.json', description: 'Model file to write (required)' },
    {
      name: 'layers',
      type: 'list',
      placeholder: 'sizes',
      description: 'Hidden layer sizes, checked against the tensors (input and output sizes come from them)',
    },
    {
      name: 'activation',
      type: 'string',
      placeholder: 'names',
      description: `Activation after the hidden layers: one name, or one per layer as relu,tanh (${ACTIVATION_NAMES.join(', ')})`,
      defaultText: 'relu',
    },
    {
      name: 'arch',
      type: 'string',
      placeholder: 'spec.json',
      description:
        'JSON file with the architecture ({"type": "sequential", "layers": [...]}, as a model file\'s "architecture"); needed for a CNN',
    },
    {
      name: 'rename',
      type: 'string',
      placeholder: 'from=to,...',
      description:
        "Rename tensors by prefix before loading, longest prefix first: 'lstm.=0.,head.=2.' (an empty prefix matches every name: '=0.')",
    },
    {
      name: 'dtype',
      type: 'string',
      placeholder: 'type',
      choices: ['float32', 'float64'],
      description: 'Element type of the model',
      defaultText: 'float64 if every tensor is F64, else float32',
    },
  ],
  details: [
    'The Linear layers are read from the tensors: <i>.weight [out, in] and <i>.bias, at indices 0, 2, 4, ...',
    '(one activation module between each two, as nn.Sequential(nn.Linear, nn.ReLU, nn.Linear) numbers them).',
    "Activations hold no tensors, so say which with --activation. A file written by 'chainrule export'",
    'records its architecture, which is used when neither --layers nor --activation is given.',
    "The model has no preprocessing: it takes the network's inputs as they are.",
    '',
    'A CNN (convolutions, batch norm) cannot be read from its tensors: pooling, activations and Flatten',
    "hold none, and a convolution's stride and padding are not stored. Give its layers with --arch, e.g.",
    '  {"type": "sequential", "layers": [',
    '    {"type": "conv2d", "in": 1, "out": 4, "kernel": 3, "stride": 1, "padding": 1, "dilation": 1, "groups": 1, "bias": true},',
    '    {"type": "batchNorm2d", "features": 4, "eps": 1e-5, "momentum": 0.1, "affine": true, "trackRunningStats": true},',
    '    {"type": "relu"}, {"type": "maxPool2d", "kernel": 2, "stride": 2, "padding": 0, "dilation": 1, "ceilMode": false},',
    '    {"type": "flatten"}, {"type": "linear", "in": 64, "out": 10, "bias": true}]}',
    "Names and layouts are PyTorch's state dict: '0.weight' [out, in/groups, kh, kw] for a convolution,",
    "[out, in] for a Linear, '1.running_mean', '1.running_var', '1.num_batches_tracked' (I64) for a batch norm.",
    '',
    "Recurrent layers keep PyTorch's names (weight_ih_l0 [gates·hidden, in], gates i, f, g, o for an LSTM,",
    "r, z, n for a GRU): a PyTorch model whose modules have other names than the spec's layer indices loads",
    "with --rename, e.g. a bare nn.LSTM saved alone: --rename '=0.' with an --arch of one lstm layer; a",
    "forecaster with fields lstm and head: --rename 'lstm.=0.,head.=2.' (lstm, lastStep, linear).",
  ].join('\n'),
  examples: [
    'chainrule import mlp.safetensors --activation relu,tanh --out mlp.json',
    'chainrule import mlp.safetensors --layers 16,8 --activation gelu --dtype float64 --out mlp.json',
    'chainrule import cnn.safetensors --arch cnn-spec.json --out cnn.json',
    "chainrule import lstm.safetensors --arch forecaster.json --rename 'lstm.=0.,head.=2.' --out f.json",
  ],
};

/** `relu` or `relu,tanh` → activation names, each checked, with a suggestion for a typo. */
function parseActivations(raw: string): ActivationName[] {
  return raw.split(',').map((part) => {
    const name = part.trim();
    if (!(ACTIVATION_NAMES as readonly string[]).includes(name)) {
      const s = suggest(name, ACTIVATION_NAMES);
      throw new UserError(
        `import: --activation: expected one of ${ACTIVATION_NAMES.join(', ')}, got '${name}'` +
          (s ? ` (did you mean '${s}'?)` : ''),
      );
    }
    return name as ActivationName;
  });
}

/** `lstm.=0.,head.=2.` → prefix renames, each with one '=' and no prefix given twice. */
function parseRename(raw: string): Record<string, string> {
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const part of raw.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.indexOf('=', eq + 1) >= 0)
      throw new UserError(`import: --rename: expected from=to pairs separated by commas, got '${part}'`);
    const from = part.slice(0, eq).trim();
    if (from in out) throw new UserError(`import: --rename: the prefix '${from}' is given twice`);
    out[from] = part.slice(eq + 1).trim();
  }
  return out;
}

/** Run `chainrule import`; returns the exit code. */
export async function importCommand(flags: Flags, positionals: string[], io: IO): Promise<number> {
  const path = positionals[0];
  if (!path)
    throw new UserError(
      'import: which safetensors file? e.g. chainrule import w.safetensors --out model.json',
      {
        hint: "see 'chainrule import --help'",
      },
    );
  const out = flags.out as string | undefined;
  if (!out) throw new UserError('import: --out is required', { hint: "see 'chainrule import --help'" });
  const layers = flags.layers as number[] | undefined;
  const activation =
    flags.activation === undefined ? undefined : parseActivations(flags.activation as string);
  const dtype = flags.dtype as DType | undefined;
  const rename = flags.rename === undefined ? undefined : parseRename(flags.rename as string);

  const archPath = flags.arch as string | undefined;
  if (archPath !== undefined && (layers !== undefined || activation !== undefined))
    throw new UserError('import: --arch gives the whole architecture; leave out --layers and --activation');
  let spec: ModelSpec | undefined;
  if (archPath !== undefined) {
    const text = await readTextFile(resolve(io.cwd, archPath), 'architecture file', archPath);
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (e) {
      throw new UserError(`${archPath}: not valid JSON: ${(e as Error).message}`);
    }
    try {
      spec = validateSpec(value, archPath);
    } catch (e) {
      throw new UserError((e as Error).message);
    }
  }
  const file = parseSafetensors(await readBinaryFile(resolve(io.cwd, path), 'safetensors file', path), path);
  const recorded = file.metadata[ARCHITECTURE_KEY];
  if (!spec && recorded !== undefined && layers === undefined && activation === undefined) {
    try {
      spec = validateSpec(JSON.parse(recorded), `__metadata__.${ARCHITECTURE_KEY}`);
    } catch (e) {
      throw new UserError(`${path}: the recorded architecture is unusable: ${(e as Error).message}`);
    }
  }
  const model = fromSafetensors(file, {
    source: path,
    ...(spec ? { spec } : {}),
    ...(layers ? { layers } : {}),
    ...(activation ? { activation } : {}),
    ...(dtype ? { dtype } : {}),
    ...(rename ? { rename } : {}),
  });
  let doc: ModelFile;
  try {
    doc = serializeModel(model, { task: null, preprocessing: null, training: { importedFrom: path } });
  } catch (e) {
    // A file may hold NaN or infinite weights, which a model file refuses.
    throw new UserError(`${path}: ${(e as Error).message.replace(/^serializeModel: /, '')}`);
  }
  // Checked with its own reader before it is written (a model chainrule could not load is never written).
  await writeFileAtomic(resolve(io.cwd, out), checkedModelText(doc, out), {
    what: 'model file',
  });
  const dt = model.parameters()[0]?.dtype ?? 'float32';
  const how = archPath
    ? archPath
    : spec
      ? 'the architecture recorded in the file'
      : 'the tensors' + (activation ? '' : ' (activation relu, the default)');
  io.out(
    [
      `read ${file.tensors.size} tensors from ${path}, architecture from ${how}:`,
      ...model
        .toString()
        .split('\n')
        .map((l) => `  ${l}`),
      `wrote ${out}: ${dt}, ${int(model.numParameters())} parameters, no preprocessing`,
    ].join('\n') + '\n',
  );
  return 0;
}
