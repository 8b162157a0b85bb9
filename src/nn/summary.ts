/**
 * A model's summary, layer by layer, as torchinfo's or Keras's `summary()`: each layer's description, the
 * shape of one sample after it (followed by the spec validator, so nothing runs), its parameters and its
 * buffers (BatchNorm's running statistics), with the totals. What `chainrule info` prints.
 */
import type { Sequential } from './layers.js';
import { archShapes } from './arch.js';
import { specShapes, toSpec } from './spec.js';

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
    return {
      index,
      layer: `${m.constructor.name}(${m.describe()})`,
      output: shapes[index] ?? null,
      parameters: count(params),
      trainable: count(params.filter((p) => p.requiresGrad)),
      buffers: count(m.buffers()),
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

/** A number with thousands separators (1,234,567). */
const grouped = (n: number) => String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');

/** A {@link ModelSummary} as a text table: #, layer, output shape, parameters, then the totals. */
export function summaryTable(s: ModelSummary): string {
  const shape = (o: number[] | null) => (o ? `[${o.map((d) => (d === -1 ? '?' : d)).join(', ')}]` : '?');
  const rows = s.layers.map((l) => [
    String(l.index),
    l.layer,
    shape(l.output),
    grouped(l.parameters) + (l.buffers ? ` (+${grouped(l.buffers)} buffers)` : ''),
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
