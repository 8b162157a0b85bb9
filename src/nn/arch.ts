/**
 * The architecture grammar: a `Sequential` written as one line, the way `chainrule train --arch` takes it
 * (`conv 32 3 relu, maxpool 2, flatten, linear 128 relu, dropout 0.25, linear`), turned into a model spec.
 * Items are separated by commas; each is a layer word, its arguments in order, then optional `key=value`
 * settings. Sizes that follow from the input (a convolution's or batch norm's channels, a Linear's inputs)
 * are filled in from the shape the items before give, which the spec validator follows (`specShapes`); the
 * grammar adds no shape rules of its own besides "a Linear takes flat features". See {@link ARCH_GRAMMAR}.
 */
import { fmt, sizeOf } from '../shape.js';
import {
  ACTIVATION_NAMES,
  ACTIVATIONS,
  elementwiseOf,
  specShapes,
  validateSpec,
  type ActivationName,
  type LayerSpec,
  type ModelSpec,
} from './spec.js';

/** Each layer word with its arguments, as the help and the error messages show them. */
export const ARCH_WORDS = {
  conv: 'conv OUT KERNEL [activation] [stride=S] [padding=P|same|valid] [dilation=D] [groups=G] [bias=false]',
  conv1d:
    'conv1d OUT KERNEL [activation] [stride=S] [padding=P|same|valid] [dilation=D] [groups=G] [bias=false]',
  maxpool: 'maxpool KERNEL [stride=S] [padding=P] [dilation=D] [ceil=true]',
  avgpool: 'avgpool KERNEL [stride=S] [padding=P] [ceil=true] [countpad=false]',
  gap: 'gap',
  flatten: 'flatten',
  unflatten: 'unflatten CxHxW',
  batchnorm: 'batchnorm [eps=E] [momentum=M] [affine=false]',
  layernorm: 'layernorm [eps=E] [affine=false]',
  linear: 'linear [OUT] [activation] [bias=false]',
  dropout: 'dropout P',
} as const;

/**
 * The grammar in a few lines, for `--help` and the README. Sizes (KERNEL, S, P, D) are `3` or `3x5`
 * (height × width); activations are the names of {@link ACTIVATIONS}, leakyRelu and elu with an optional
 * parameter (`leakyRelu 0.2`).
 */
export const ARCH_GRAMMAR = [
  'Layers separated by commas; each is a word, its arguments, then optional key=value settings:',
  ...Object.values(ARCH_WORDS).map((u) => `  ${u}`),
  `  ${ACTIVATION_NAMES.join(' | ')} (leakyRelu and elu take an optional number: leakyRelu 0.2)`,
  'conv is 2-D (the stride defaults to 1, padding to 0); pooling strides default to the kernel; maxpool is 1-D',
  'after conv1d; gap is the global average pool (then flatten); batchnorm and layernorm take their sizes from',
  'the input (layernorm over the whole sample); the last linear without OUT gives the task its outputs.',
].join('\n');

/** What an architecture is built for: the sample's shape and the number of outputs. */
export interface ArchInput {
  /** The shape of one input row: [features] for flat rows, [C, H, W] for images (then an unflatten is added). */
  shape: readonly number[];
  /** True when the rows are images of `shape` stored flat (the spec then starts with an `unflatten`). */
  image: boolean;
  /** The outputs the task needs (classes, or 1 for regression): the size of a last `linear` without OUT. */
  outputs: number;
}

/** An architecture line or spec that cannot be built; the message names the item and what was expected. */
export class ArchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ArchError';
  }
}

/** A parsed architecture: the spec and, for each of its layers, the item (1-based) it came from (0: added). */
export interface ParsedArch {
  spec: ModelSpec;
  items: number[];
}

const BOOLS: Record<string, boolean> = { true: true, false: false };

/**
 * Parse an architecture line into a model spec for `input`. Throws an {@link ArchError} naming the item
 * (`item 3 'conv 64 x'`) and what was expected there, or, for a layer that cannot take what the one before
 * gives (a kernel larger than the image), the shapes.
 */
export function parseArch(text: string, input: ArchInput): ParsedArch {
  const itemTexts = text.split(',').map((t) => t.trim().replace(/\s+/g, ' '));
  if (itemTexts.length === 1 && itemTexts[0] === '')
    throw new ArchError(`expected layers separated by commas (e.g. "linear 64 relu, linear"), got nothing`);
  const layers: LayerSpec[] = [];
  const items: number[] = [];
  const inputLayer: LayerSpec[] = input.image ? [{ type: 'unflatten', shape: [...input.shape] }] : [];
  layers.push(...inputLayer);
  items.push(...inputLayer.map(() => 0));
  const label = (j: number): string =>
    j < 0 || items[j] === undefined
      ? 'the input'
      : items[j] === 0
        ? `the input ${input.image ? 'image' : 'row'}`
        : `item ${items[j]} '${itemTexts[items[j] - 1]}'`;
  /** The shape the layers so far give (the input's when there are none). */
  const current = (): number[] => {
    const shapes = archShapes(layers, input.shape, label);
    return shapes.length ? (shapes[shapes.length - 1] as number[]) : [...input.shape];
  };
  itemTexts.forEach((itemText, k) => {
    const item = k + 1;
    const where = `item ${item} '${itemText}'`;
    if (itemText === '')
      throw new ArchError(
        `item ${item} is empty: expected a layer between the commas (${Object.keys(ARCH_WORDS).join(', ')} or an activation)`,
      );
    const last = k === itemTexts.length - 1;
    const built = parseItem(itemText, where, current(), last, input.outputs, items);
    if (built.dropInput) {
      layers.splice(0, inputLayer.length);
      items.splice(0, inputLayer.length);
    }
    for (const l of built.layers) {
      layers.push(l);
      items.push(item);
      // The validator follows the shapes: a layer that cannot take its input fails here, named.
      try {
        archShapes(layers, input.shape, label);
      } catch (e) {
        if (!input.image && layers.length === 1 && /takes \[C, /.test((e as Error).message))
          throw new ArchError(
            `${(e as Error).message}: the data are flat rows, not images (convolutions and pooling need an image table: mnist, fashion-mnist, digits or a folder of images)`,
          );
        throw e;
      }
    }
  });
  const shapes = archShapes(layers, input.shape, label);
  const out = shapes.length ? shapes[shapes.length - 1] : [...input.shape];
  if (out === null || out.length !== 1 || out[0] !== input.outputs)
    throw new ArchError(
      `the last layer, ${label(layers.length - 1)}, gives ${out ? fmt(out) : 'an unknown shape'} per sample, ` +
        `but the task needs [${input.outputs}] (end with 'linear' to get them)`,
    );
  return { spec: validateSpec({ type: 'sequential', layers }), items };
}

/**
 * A sample's shape after each layer of `layers` fed rows of `shape` (the validator's shapes, with the input
 * known). Errors of the validator are rethrown as {@link ArchError}s with each `layers[j]` replaced by
 * `label(j)` (−1 is the input).
 */
export function archShapes(
  layers: readonly LayerSpec[],
  shape: readonly number[],
  label: (j: number) => string = (j) => (j < 0 ? 'the input' : `layers[${j}]`),
): (number[] | null)[] {
  // A leading unflatten to the input's own shape makes the validator start from it; it is dropped after.
  const spec: ModelSpec = {
    type: 'sequential',
    layers: [{ type: 'unflatten', shape: [sizeOf(shape)] }, ...layers],
  };
  try {
    return specShapes(spec).slice(1);
  } catch (e) {
    const message = (e as Error).message;
    // "layers[3] (conv2d): …" or "layers[3].in: …": the failing layer first, then the others it names.
    const m = /^layers\[(\d+)\](?: \(([^)]+)\))?(?:\.(\w+))?: /.exec(message);
    const rest = m ? message.slice(m[0].length) : message;
    const relabel = (s: string) => s.replace(/layers\[(\d+)\]/g, (_, j: string) => label(Number(j) - 1));
    const who = m ? label(Number(m[1]) - 1) : '';
    const field = m?.[3]
      ? who.startsWith('layers[')
        ? `.${m[3]}`
        : ` (${m[3]})`
      : m?.[2]
        ? ` (${m[2]})`
        : '';
    const head = m ? `${who}${field}: ` : '';
    throw new ArchError(head + relabel(rest));
  }
}

/** A number argument of an item, checked; `what` says what it is for the message. */
function number(
  word: string | undefined,
  where: string,
  what: string,
  check: 'positive' | 'nonNegative' | 'probability' | 'finite',
): number {
  const expected = {
    positive: 'a positive integer',
    nonNegative: 'an integer ≥ 0',
    probability: 'a number in [0, 1]',
    finite: 'a number',
  }[check];
  if (word === undefined) throw new ArchError(`${where}: expected ${what} (${expected}), got nothing`);
  const v = word.trim() === '' ? NaN : Number(word);
  const ok =
    check === 'positive'
      ? Number.isInteger(v) && v >= 1
      : check === 'nonNegative'
        ? Number.isInteger(v) && v >= 0
        : check === 'probability'
          ? v >= 0 && v <= 1
          : Number.isFinite(v);
  if (!ok) throw new ArchError(`${where}: expected ${what} (${expected}), got '${word}'`);
  return v;
}

/** A size: `3` or `3x5` (height × width); `dims` 1 allows only the first. */
function size(
  word: string | undefined,
  where: string,
  what: string,
  dims: 1 | 2,
  min: 0 | 1,
): number | [number, number] {
  const check = min === 1 ? 'positive' : 'nonNegative';
  // Only digits around an x make a pair; anything else is reported as the number it is not.
  const parts = word !== undefined && /^[^x×]+([x×][^x×]+)+$/.test(word) ? word.split(/[x×]/) : [];
  if (word === undefined || parts.length < 2) return number(word, where, what, check);
  if (dims === 1 || parts.length !== 2)
    throw new ArchError(
      `${where}: expected ${what} (${dims === 1 ? `${min === 1 ? 'a positive integer' : 'an integer ≥ 0'}` : `an integer or HxW`}), got '${word}'`,
    );
  const hw = parts.map((p) => number(p, where, `${what} (HxW)`, check));
  return hw[0] === hw[1] ? hw[0] : [hw[0], hw[1]];
}

/** An activation name as typed (any case) → its canonical name, or null. */
function activationName(word: string): ActivationName | null {
  const lower = word.toLowerCase();
  return ACTIVATION_NAMES.find((n) => n.toLowerCase() === lower) ?? null;
}

/** One item → its layers. `shape` is what the layers before give. */
function parseItem(
  text: string,
  where: string,
  shape: number[],
  last: boolean,
  outputs: number,
  itemsBefore: readonly number[],
): { layers: LayerSpec[]; dropInput?: boolean } {
  const [head, ...rest] = text.split(' ');
  const word = head.toLowerCase();
  const args = rest.filter((w) => !w.includes('='));
  const settings = new Map<string, string>();
  for (const w of rest.filter((r) => r.includes('='))) {
    const [key, ...value] = w.split('=');
    if (settings.has(key.toLowerCase())) throw new ArchError(`${where}: '${key}' is set twice`);
    settings.set(key.toLowerCase(), value.join('='));
  }
  const usage = (w: keyof typeof ARCH_WORDS) => ARCH_WORDS[w];
  const allow = (w: keyof typeof ARCH_WORDS, keys: readonly string[], positional: number) => {
    for (const key of settings.keys())
      if (!keys.includes(key))
        throw new ArchError(
          `${where}: unknown setting '${key}' for ${w}; expected ${keys.length ? keys.map((k) => `${k}=`).join(', ') : 'none'} (${usage(w)})`,
        );
    if (args.length > positional)
      throw new ArchError(`${where}: unexpected '${args[positional]}' (${usage(w)})`);
  };
  const bool = (key: string, fallback: boolean): boolean => {
    const v = settings.get(key);
    if (v === undefined) return fallback;
    if (!Object.hasOwn(BOOLS, v))
      throw new ArchError(`${where}: expected ${key}=true or ${key}=false, got '${v}'`);
    return BOOLS[v];
  };
  const setting = <T>(key: string, parse: (v: string) => T, fallback: T): T => {
    const v = settings.get(key);
    return v === undefined ? fallback : parse(v);
  };
  /** A trailing activation (conv and linear): the argument at `i`, if any. */
  const trailing = (w: 'conv' | 'conv1d' | 'linear', i: number): LayerSpec[] => {
    if (args[i] === undefined) return [];
    const name = activationName(args[i]);
    if (!name)
      throw new ArchError(
        `${where}: expected an activation (${ACTIVATION_NAMES.join(', ')}), got '${args[i]}' (${usage(w)})`,
      );
    return [{ ...ACTIVATIONS[name] }];
  };
  const name = activationName(word);
  if (name) {
    if (settings.size > 0) throw new ArchError(`${where}: ${name} takes no key=value settings`);
    const spec = { ...ACTIVATIONS[name] } as LayerSpec;
    const act = elementwiseOf(spec);
    const param = Object.keys(spec).find((k) => k !== 'type');
    if (args.length > (act && param ? 1 : 0))
      throw new ArchError(
        `${where}: unexpected '${args[act && param ? 1 : 0]}' (${name}${act && param ? ` [${param}]` : ''})`,
      );
    if (args[0] !== undefined && param)
      (spec as unknown as Record<string, number>)[param] = number(args[0], where, `the ${param}`, 'finite');
    return { layers: [spec] };
  }
  switch (word) {
    case 'conv':
    case 'conv2d':
    case 'conv1d': {
      const w = word === 'conv1d' ? 'conv1d' : 'conv';
      const d = w === 'conv' ? 2 : 1;
      allow(w, ['stride', 'padding', 'dilation', 'groups', 'bias'], 3);
      const out = number(args[0], where, 'the output channels OUT', 'positive');
      const kernel = size(args[1], where, 'the kernel size KERNEL', d, 1);
      const stride = setting('stride', (v) => size(v, where, 'stride=', d, 1), 1);
      const padding = setting(
        'padding',
        (v) => (v === 'same' || v === 'valid' ? v : size(v, where, 'padding= (or same, valid)', d, 0)),
        0 as number | [number, number] | 'same' | 'valid',
      );
      const dilation = setting('dilation', (v) => size(v, where, 'dilation=', d, 1), 1);
      const groups = setting('groups', (v) => number(v, where, 'groups=', 'positive'), 1);
      const common = { in: shape[0], out, groups, bias: bool('bias', true) };
      const layer: LayerSpec =
        d === 2
          ? { type: 'conv2d', ...common, kernel, stride, padding, dilation }
          : {
              type: 'conv1d',
              ...common,
              kernel: kernel as number,
              stride: stride as number,
              padding: padding as number | 'same' | 'valid',
              dilation: dilation as number,
            };
      return { layers: [layer, ...trailing(w, 2)] };
    }
    case 'maxpool':
    case 'avgpool': {
      const max = word === 'maxpool';
      allow(
        word,
        max ? ['stride', 'padding', 'dilation', 'ceil'] : ['stride', 'padding', 'ceil', 'countpad'],
        1,
      );
      // After conv1d the input is [C, L]: a 1-D max pool; anything else is pooled as an image.
      const d = max && shape.length === 2 ? 1 : 2;
      const kernel = size(args[0], where, 'the kernel size KERNEL', d, 1);
      const stride = setting('stride', (v) => size(v, where, 'stride=', d, 1), kernel);
      const padding = setting('padding', (v) => size(v, where, 'padding=', d, 0), 0);
      const dilation = setting('dilation', (v) => size(v, where, 'dilation=', d, 1), 1);
      const ceilMode = bool('ceil', false);
      if (!max)
        return {
          layers: [
            { type: 'avgPool2d', kernel, stride, padding, ceilMode, countIncludePad: bool('countpad', true) },
          ],
        };
      return {
        layers: [
          d === 2
            ? { type: 'maxPool2d', kernel, stride, padding, dilation, ceilMode }
            : {
                type: 'maxPool1d',
                kernel: kernel as number,
                stride: stride as number,
                padding: padding as number,
                dilation: dilation as number,
                ceilMode,
              },
        ],
      };
    }
    case 'gap':
      allow('gap', [], 0);
      return { layers: [{ type: 'adaptiveAvgPool2d', size: 1 }] };
    case 'flatten':
      allow('flatten', [], 0);
      return { layers: [{ type: 'flatten' }] };
    case 'unflatten': {
      allow('unflatten', [], 1);
      if (args[0] === undefined)
        throw new ArchError(
          `${where}: expected the shape (e.g. 1x28x28), got nothing (${usage('unflatten')})`,
        );
      const dims = args[0].split(/[x×]/).map((p) => number(p, where, 'the shape CxHxW', 'positive'));
      return { layers: [{ type: 'unflatten', shape: dims }] };
    }
    case 'batchnorm': {
      allow('batchnorm', ['eps', 'momentum', 'affine'], 0);
      const eps = setting('eps', (v) => number(v, where, 'eps=', 'finite'), 1e-5);
      const momentum = setting('momentum', (v) => number(v, where, 'momentum=', 'probability'), 0.1);
      const common = {
        features: shape[0],
        eps,
        momentum,
        affine: bool('affine', true),
        trackRunningStats: true,
      };
      return {
        layers: [
          shape.length === 3 ? { type: 'batchNorm2d', ...common } : { type: 'batchNorm1d', ...common },
        ],
      };
    }
    case 'layernorm': {
      allow('layernorm', ['eps', 'affine'], 0);
      const eps = setting('eps', (v) => number(v, where, 'eps=', 'finite'), 1e-5);
      return {
        layers: [{ type: 'layerNorm', shape: [...shape], eps, elementwiseAffine: bool('affine', true) }],
      };
    }
    case 'linear': {
      allow('linear', ['bias'], 2);
      // `linear relu` (no OUT) is the last layer with an output activation.
      const hasOut = args[0] !== undefined && activationName(args[0]) === null;
      if (!hasOut && !last)
        throw new ArchError(
          `${where}: expected the output size OUT (a positive integer); only the last linear may leave it out`,
        );
      const out = hasOut ? number(args[0], where, 'the output size OUT', 'positive') : outputs;
      // On the image input itself, a linear is an MLP on the flat pixels: the added unflatten goes.
      const onInput = itemsBefore.length > 0 && itemsBefore.every((i) => i === 0);
      if (shape.length !== 1 && !onInput)
        throw new ArchError(
          `${where}: a linear layer takes flat features, but the layer before gives ${fmt(shape)}; put 'flatten' before it`,
        );
      const inFeatures = onInput ? sizeOf(shape) : shape[0];
      return {
        layers: [
          { type: 'linear', in: inFeatures, out, bias: bool('bias', true) },
          ...trailing('linear', hasOut ? 1 : 0),
        ],
        ...(onInput ? { dropInput: true } : {}),
      };
    }
    case 'dropout':
      allow('dropout', [], 1);
      return { layers: [{ type: 'dropout', p: number(args[0], where, 'the probability P', 'probability') }] };
    default:
      throw new ArchError(
        `${where}: unknown layer '${head}'; expected one of ${Object.keys(ARCH_WORDS).join(', ')}, conv2d or an activation (${ACTIVATION_NAMES.join(', ')})`,
      );
  }
}

/**
 * Check that a spec (from a JSON file) fits `input`: each layer takes what the one before gives, the
 * first takes the input rows, and the last gives the task's outputs. Throws an {@link ArchError} naming
 * the layer (`layers[2] (conv2d)`, or as `label` names layer j; −1 is the input) and the shapes.
 */
export function checkSpecFits(
  spec: ModelSpec,
  input: Omit<ArchInput, 'image'>,
  label?: (j: number) => string,
): void {
  const shapes = archShapes(spec.layers, [sizeOf(input.shape)], label);
  const out = shapes.length ? shapes[shapes.length - 1] : [sizeOf(input.shape)];
  if (out === null || out.length !== 1 || out[0] !== input.outputs)
    throw new ArchError(
      `the last layer, ${(label ?? ((j: number) => `layers[${j}]`))(spec.layers.length - 1)}, gives ${out ? fmt(out) : 'an unknown shape'} per sample, but the task needs [${input.outputs}]`,
    );
}
