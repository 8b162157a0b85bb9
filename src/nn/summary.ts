/**
 * A model's summary, layer by layer, as torchinfo's or Keras's `summary()`: each layer's description, the
 * shape of one sample after it (followed by the spec validator, so nothing runs), its parameters and its
 * buffers (BatchNorm's running statistics), with the totals. What `chainrule info` prints.
 */
import type { Sequential } from './layers.js';
import type { Module } from './module.js';
import { archShapes } from './arch.js';
import { specShapes, toSpec } from './spec.js';
import { GPT } from './transformer.js';

/** One row of a {@link ModelSummary}. */
export interface LayerSummary {
  /** Position in the Sequential (0-based, as `layers[i]` in a spec). */
  index: number;
  /** `Conv2d(1, 32, kernel_size=3)`: the class and its `describe()`. */
  layer: string;
  /** One sample's shape after the layer (no batch axis); −1 for a size the input decides; null: unknown. */
  output: number[] | null;
  /** Parameter values (weights and biases). */
  parameters: number;
  /** Of those, the ones training updates (`requiresGrad`). */
  trainable: number;
  /** Buffer values: state saved with the model but not trained (running means and variances). */
  buffers: number;
  /**
   * The parts of a composite layer (a GPT: `tok`, `pos`, each block, `lnf`, `head`), each with its state
   * key prefix inside the layer; their parameters are the layer's, not added again to the totals.
   */
  parts?: { name: string; layer: string; output: number[] | null; parameters: number }[];
}

/** A model layer by layer, with totals. */
export interface ModelSummary {
  layers: LayerSummary[];
  parameters: number;
  trainable: number;
  buffers: number;
}

const count = (ts: readonly { size: number }[]) => ts.reduce((n, t) => n + t.size, 0);

/**
 * Summarize a Sequential. With `input` (one sample's flat shape, e.g. [784]) every output shape is known;
 * without it, shapes are known from an `unflatten` or a Linear on (see `specShapes`).
 */
export function summarize(model: Sequential, input?: readonly number[]): ModelSummary {
  let shapes: (number[] | null)[];
  try {
    const spec = toSpec(model);
    shapes = input ? archShapes(spec.layers, input) : specShapes(spec);
  } catch {
    shapes = model.layers.map(() => null);
  }
  const layers = model.layers.map((m, index): LayerSummary => {
    const params = m.parameters();
    const output = shapes[index] ?? null;
    return {
      index,
      layer: `${m.constructor.name}(${m.describe()})`,
      output,
      parameters: count(params),
      trainable: count(params.filter((p) => p.requiresGrad)),
      buffers: count(m.buffers()),
      ...(m instanceof GPT ? { parts: gptParts(m, output) } : {}),
    };
  });
  const total = (k: 'parameters' | 'trainable' | 'buffers') => layers.reduce((n, l) => n + l[k], 0);
  return {
    layers,
    parameters: total('parameters'),
    trainable: total('trainable'),
    buffers: total('buffers'),
  };
}

/** A GPT's parts in forward order; each gives [T, width] except the head's [T, vocab]. */
function gptParts(g: GPT, output: number[] | null): NonNullable<LayerSummary['parts']> {
  const T = output ? output[0] : -1;
  const part = (name: string, m: Module, width = g.embedDim) => ({
    name,
    layer: `${m.constructor.name}(${m.describe()})`,
    output: [T, width],
    parameters: count(m.parameters()),
  });
  return [
    part('tok', g.tok),
    part('pos', g.pos),
    ...g.blocks.map((b, i) => part(`blocks.${i}`, b)),
    part('lnf', g.lnf),
    part('head', g.head, g.vocabSize),
  ];
}

/** A number with thousands separators (1,234,567). */
const grouped = (n: number) => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');

/** A {@link ModelSummary} as a text table: #, layer, output shape, parameters, then the totals. */
export function summaryTable(s: ModelSummary): string {
  const shape = (o: number[] | null) => (o ? `[${o.map((d) => (d === -1 ? '?' : d)).join(', ')}]` : '?');
  const rows = s.layers.flatMap((l) => [
    [
      String(l.index),
      l.layer,
      shape(l.output),
      grouped(l.parameters) + (l.buffers ? ` (+${grouped(l.buffers)} buffers)` : ''),
    ],
    // A composite layer's parts, indented under it, by their key inside it.
    ...(l.parts ?? []).map((p) => ['', `  ${p.name}: ${p.layer}`, shape(p.output), grouped(p.parameters)]),
  ]);
  const head = ['#', 'layer', 'output (per sample)', 'parameters'];
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const line = (r: string[]) =>
    r
      .map((v, c) => (c === 3 ? v.padStart(widths[c]) : v.padEnd(widths[c])))
      .join('  ')
      .trimEnd();
  const rule = '─'.repeat(widths.reduce((a, b) => a + b + 2, -2));
  return [
    line(head),
    rule,
    ...rows.map(line),
    rule,
    `total parameters: ${grouped(s.parameters)} (trainable ${grouped(s.trainable)})`,
    `buffers: ${grouped(s.buffers)}`,
  ].join('\n');
}
