// chainrule export: a model file as ONNX (raw columns in, answers out) and/or as PyTorch-compatible
// safetensors weights. The library does the work; this file reads, writes and explains.
import { resolve } from 'node:path';
import {
  activationInfo,
  elementwiseOf,
  loadModel,
  ONNX_IR_VERSION,
  ONNX_OPSET,
  modelFileOnnx,
  OnnxExportError,
  parseModelFile,
  toSafetensors,
  type DType,
  type ElementwiseSpec,
  type LayerSpec,
  type ModelFileOnnx,
  type ModelSpec,
  type OnnxValue,
} from '../../src/index.js';
import type { CommandSpec, Flags } from '../args.js';
import { UserError } from '../errors.js';
import { int } from '../format.js';
import { readTextFile, writeFileAtomic } from '../fsutil.js';
import type { IO } from '../io.js';

/** Metadata key under which `export --safetensors` records the architecture, for `chainrule import`. */
export const ARCHITECTURE_KEY = 'chainrule.architecture';

/** The export command's flags and help. */
export const exportSpec: CommandSpec = {
  name: 'export',
  summary: 'Export a model file as ONNX, or its weights as PyTorch-compatible safetensors.',
  usage:
    'chainrule export <model.json> [--onnx <model.onnx>] [--safetensors <weights.safetensors>] [--bare] [--float32]',
  positionals: [
    {
      name: 'model.json',
      description: 'Model file from chainrule train (or chainrule import)',
      required: true,
    },
  ],
  flags: [
    {
      name: 'onnx',
      type: 'string',
      placeholder: 'file',
      description: 'Write an ONNX model (IR 8, opset 17) that onnxruntime and other runtimes load',
    },
    {
      name: 'safetensors',
      type: 'string',
      placeholder: 'file',
      description:
        "Write the weights as safetensors with PyTorch's nn.Sequential names and layouts ('0.weight', [out, in])",
    },
    {
      name: 'bare',
      type: 'boolean',
      description: 'ONNX: the network alone (input → output logits), leaving the preprocessing out',
    },
    {
      name: 'float32',
      type: 'boolean',
      description:
        'ONNX: cast a float64 model to float32 first (onnxruntime runs LSTM, GRU, RNN and Conv in float32 only)',
    },
  ],
  details: [
    "ONNX inputs of a model from 'chainrule train' (the raw values 'chainrule predict' reads):",
    '  features    [batch, N] float (double for float64 models): the N numeric columns, raw, in the',
    "              model file's feature order; the graph subtracts the mean and divides by the std",
    '  categories  [batch, M] int64: for each of the M text columns, in order, the 0-based index of the',
    "              value in that column's category list (printed by this command and by 'chainrule info'); the",
    '              graph one-hot encodes it (an index outside the list encodes as no category)',
    'Each is present only if the model has such columns. Outputs: a classifier gives probabilities',
    '[batch, classes] and label [batch] (int64, the most probable class); a regressor gives prediction',
    "[batch, 1] in the target's units. Without preprocessing (or with --bare): input [batch, in] →",
    'output [batch, out]. The command prints the names and shapes it wrote.',
    '',
    'Sequence models (train --task language-model | forecast): a language model takes ids [batch, length]',
    "(int64, each character's index in the vocabulary printed here) and gives logits [batch, length,",
    'vocab] for the next character after each position; a forecaster takes window [batch, window, 1], the',
    "raw last values, and gives prediction [batch, 1] in the series' units. LSTM, GRU and RNN are ONNX's",
    'own ops (onnxruntime runs them in float32 only: --float32 casts a float64 model first).',
    '',
    'safetensors: load in PyTorch with model.load_state_dict(safetensors.torch.load_file(path)) on the',
    "nn.Sequential the command prints; 'chainrule import' reads the file back.",
  ].join('\n'),
  examples: [
    'chainrule export iris.json --onnx iris.onnx',
    'chainrule export iris.json --safetensors iris.safetensors',
  ],
};

/** A spec value as Python writes it: a tuple for a list, None, True/False, a quoted string. */
function py(v: unknown): string {
  if (Array.isArray(v)) return `(${v.map(py).join(', ')}${v.length === 1 ? ',' : ''})`;
  if (v === null) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'string') return `'${v}'`;
  return String(v);
}

/** The PyTorch expression of one layer (what `nn.Sequential(...)` needs to match the state dict). */
function torchLayer(l: LayerSpec): string | null {
  const act = elementwiseOf(l);
  if (act) {
    const info = activationInfo(act.op);
    return `nn.${info.module}(${info.param ? act.param : ''})`;
  }
  switch (l.type) {
    case 'linear':
      return `nn.Linear(${l.in}, ${l.out}${l.bias ? '' : ', bias=False'})`;
    case 'identity':
      return 'nn.Identity()';
    case 'softmax':
      return `nn.Softmax(dim=${l.axis})`;
    case 'dropout':
      return `nn.Dropout(${l.p})`;
    case 'conv2d':
    case 'conv1d':
      return (
        `nn.${l.type === 'conv2d' ? 'Conv2d' : 'Conv1d'}(${l.in}, ${l.out}, ${py(l.kernel)}, stride=${py(l.stride)}, ` +
        `padding=${py(l.padding)}, dilation=${py(l.dilation)}, groups=${l.groups}${l.bias ? '' : ', bias=False'})`
      );
    case 'maxPool2d':
    case 'maxPool1d':
      return (
        `nn.${l.type === 'maxPool2d' ? 'MaxPool2d' : 'MaxPool1d'}(${py(l.kernel)}, stride=${py(l.stride)}, ` +
        `padding=${py(l.padding)}, dilation=${py(l.dilation)}, ceil_mode=${py(l.ceilMode)})`
      );
    case 'avgPool2d':
      return (
        `nn.AvgPool2d(${py(l.kernel)}, stride=${py(l.stride)}, padding=${py(l.padding)}, ` +
        `ceil_mode=${py(l.ceilMode)}, count_include_pad=${py(l.countIncludePad)})`
      );
    case 'adaptiveAvgPool2d':
      return `nn.AdaptiveAvgPool2d(${l.size})`;
    case 'flatten':
      return 'nn.Flatten()';
    case 'unflatten':
      return `nn.Unflatten(1, ${py(l.shape)})`;
    case 'batchNorm1d':
    case 'batchNorm2d':
      return (
        `nn.${l.type === 'batchNorm1d' ? 'BatchNorm1d' : 'BatchNorm2d'}(${l.features}, eps=${l.eps}, ` +
        `momentum=${py(l.momentum)}, affine=${py(l.affine)}, track_running_stats=${py(l.trackRunningStats)})`
      );
    case 'layerNorm':
      return `nn.LayerNorm(${py(l.shape)}, eps=${l.eps}, elementwise_affine=${py(l.elementwiseAffine)})`;
    case 'embedding':
      return `nn.Embedding(${l.num}, ${l.dim})`;
    case 'lstm':
    case 'gru':
    case 'rnn':
    case 'lastStep':
      // PyTorch's recurrent modules return (output, state), which nn.Sequential cannot chain.
      return null;
    case 'gpt':
      // torch.nn has no GPT module: the fixture's is a script of its own.
      return null;
    default: {
      // Only activations are left, and those were written above through the op table.
      const activation: ElementwiseSpec = l;
      throw new Error(`torchLayer: no PyTorch module for '${activation.type}'`);
    }
  }
}

/** The matching PyTorch model, as one line of Python; null when a layer has no `nn.Sequential` form. */
export function torchSequential(spec: ModelSpec, dtype: DType): string | null {
  const layers = spec.layers.map(torchLayer);
  if (layers.includes(null)) return null;
  return `nn.Sequential(${layers.join(', ')})${dtype === 'float64' ? '.double()' : ''}`;
}

/** Inputs and outputs as lines, aligned in columns. */
function describeSignature(inputs: readonly OnnxValue[], outputs: readonly OnnxValue[]): string[] {
  const all = [...inputs, ...outputs];
  const shape = (v: OnnxValue) => `[${v.shape.join(', ')}]`;
  const width = (f: (v: OnnxValue) => string) => Math.max(...all.map((v) => f(v).length));
  const [name, type, dims] = [width((v) => v.name), width((v) => v.type), width(shape)];
  const line = (v: OnnxValue) =>
    `    ${v.name.padEnd(name)}  ${v.type.padEnd(type)}  ${shape(v).padEnd(dims)}  ${v.description}`;
  return ['  inputs:', ...inputs.map(line), '  outputs:', ...outputs.map(line)];
}

function kilobytes(n: number): string {
  return n < 10_000 ? `${int(n)} bytes` : `${(n / 1000).toFixed(1)} kB`;
}

/** Run `chainrule export`; returns the exit code. */
export async function exportCommand(flags: Flags, positionals: string[], io: IO): Promise<number> {
  const path = positionals[0];
  if (!path)
    throw new UserError('export: which model file? e.g. chainrule export model.json --onnx model.onnx', {
      hint: "see 'chainrule export --help'",
    });
  const onnxPath = flags.onnx as string | undefined;
  const safetensorsPath = flags.safetensors as string | undefined;
  if (!onnxPath && !safetensorsPath)
    throw new UserError('export: nothing to write: give --onnx <file>, --safetensors <file>, or both', {
      hint: "see 'chainrule export --help'",
    });
  const text = await readTextFile(resolve(io.cwd, path), 'model file', path);
  const file = parseModelFile(text, path);
  const { model } = loadModel(file, path);
  const lines: string[] = [];

  if (onnxPath) {
    let onnx: ModelFileOnnx;
    try {
      onnx = modelFileOnnx(model, file.preprocessing, {
        bare: flags.bare === true,
        dtype: flags.float32 ? 'float32' : undefined,
        docString: `exported by chainrule from ${path}`,
        source: `${path}: preprocessing`,
      });
    } catch (e) {
      if (e instanceof OnnxExportError)
        throw new UserError(`${path}: cannot export to ONNX: ${e.message.replace(/^toOnnx: /, '')}`);
      throw e;
    }
    const { bytes, signature, preprocessing: pre } = onnx;
    await writeFileAtomic(resolve(io.cwd, onnxPath), bytes, { what: 'ONNX file' });
    lines.push(
      `wrote ${onnxPath}: ONNX (IR ${ONNX_IR_VERSION}, opset ${ONNX_OPSET}), ${kilobytes(bytes.length)}` +
        (onnx.dtype !== file.dtype ? `, weights cast to ${onnx.dtype}` : '') +
        (pre ? ', preprocessing included' : file.preprocessing != null ? ', network only (--bare)' : ''),
      ...describeSignature(signature.inputs, signature.outputs),
    );
    const noDouble = file.architecture.layers.filter((l) =>
      ['conv1d', 'conv2d', 'avgPool2d', 'adaptiveAvgPool2d', 'lstm', 'gru', 'rnn'].includes(l.type),
    );
    if (onnx.dtype === 'float64' && noDouble.length > 0)
      lines.push(
        `  note: onnxruntime (1.30) has no float64 kernel for ${[...new Set(noDouble.map((l) => l.type))].join(', ')}; ` +
          'other runtimes may run this graph, onnxruntime needs a float32 one (--float32)',
      );
  }

  if (safetensorsPath) {
    const bytes = toSafetensors(model, {
      metadata: { [ARCHITECTURE_KEY]: JSON.stringify(file.architecture) },
    });
    await writeFileAtomic(resolve(io.cwd, safetensorsPath), bytes, { what: 'safetensors file' });
    const tensors = model.namedTensors();
    const counters = tensors.filter(([name]) => name.endsWith('num_batches_tracked')).length;
    const torch = torchSequential(file.architecture, file.dtype);
    lines.push(
      `wrote ${safetensorsPath}: ${tensors.length} tensors (${file.dtype === 'float64' ? 'F64' : 'F32'}` +
        `${counters > 0 ? `; num_batches_tracked I64, as PyTorch` : ''}), ${kilobytes(bytes.length)}; ` +
        (torch ? 'in PyTorch:' : "PyTorch's state-dict keys and layouts"),
      ...(torch
        ? [
            `  model = ${torch}`,
            `  model.load_state_dict(safetensors.torch.load_file(${JSON.stringify(safetensorsPath)}))`,
          ]
        : [
            file.architecture.layers.some((l) => l.type === 'gpt')
              ? "  (torch.nn has no GPT module: the keys are a GPT's (tok, pos, blocks.i.…, lnf, head) under index 0)"
              : '  (a recurrent layer returns (output, state) in PyTorch, so there is no nn.Sequential line to load it into)',
          ]),
    );
  }
  io.out(lines.join('\n') + '\n');
  return 0;
}
