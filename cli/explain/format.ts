// The teaching views as documents: a traced training step, a run of steps, and the seed notebook's update
// order beside backpropagation. No math here: every number and formula comes from the trace record;
// this file only arranges them for a reader, top to bottom like the notebook's derivation.
import type { NotebookComparison, ParameterTrace, StepTrace } from '../../src/index.js';
import { columns, equation, LINE_WIDTH, type Block } from './doc.js';

/** A number at full precision (shortest round-trip form), as it is compared. */
export const full = (v: number): string => String(v);

/** A factor inside a product: negative values in parentheses so `*` and `-` stay apart. */
const factor = (v: number): string => (v < 0 || Object.is(v, -0) ? `(${full(v)})` : full(v));

/** A relative error, two significant digits. */
const rel = (v: number | null): string => (v === null ? '—' : v === 0 ? '0' : v.toExponential(1));

/** What the reader is told about the step besides the trace itself. */
export interface StepContext {
  /** The document's title. */
  title: string;
  /** Sentences about the network, data, loss and optimizer. */
  about: string[];
  /** Rows per parameter tensor (and units per layer) shown; the trace checked the same ones. */
  limit: number;
  /** What each input is (`x_0` is `sepal_length, standardized`), by input name. */
  legend?: Map<string, string>;
}

/** The parameters shown: the ones the trace checked by finite differences, else all. */
function shownParameters(t: StepTrace): ParameterTrace[] {
  const checked = t.parameters.filter((p) => p.numeric !== null);
  return checked.length > 0 ? checked : t.parameters;
}

/** Output layer first, as the chain rule runs; the notebook's names in its numbering within a layer. */
function backwardOrder(t: StepTrace, params: ParameterTrace[]): ParameterTrace[] {
  const byName = (a: ParameterTrace, b: ParameterTrace) =>
    t.notation === 'seed' ? a.name.localeCompare(b.name, 'en', { numeric: true }) : 0;
  return [...params].sort(
    (a, b) => b.layer - a.layer || (a.kind === b.kind ? byName(a, b) : a.kind === 'weight' ? -1 : 1),
  );
}

function forwardOrder(t: StepTrace, params: ParameterTrace[]): ParameterTrace[] {
  return backwardOrder(t, params).sort((a, b) => a.layer - b.layer);
}

/** `… and 60 more`, when a list was cut at `limit`. */
function more(total: number, shown: number, what: string): string[] {
  return total > shown ? [`… and ${total - shown} more of the ${what} (--limit to show more)`] : [];
}

/** Rows of `name = value   note` aligned. */
function assignments(rows: [string, number, string?][]): string[] {
  return columns(
    rows.map(([name, value, note]) => [name, '=', full(value), note ?? '']),
    [' ', ' ', '   '],
  );
}

/** Aligned `name = formula = value` lines, or wrapped equations when a row would be too wide. */
function definitions(rows: [string, string, number][]): string[] {
  const aligned = columns(
    rows.map(([n, f, v]) => [n, '=', f, '=', full(v)]),
    [' ', ' ', ' ', ' '],
  );
  if (aligned.every((l) => l.length <= LINE_WIDTH)) return aligned;
  return rows.flatMap(([n, f, v]) => equation(n, [f, full(v)]));
}

function architecture(t: StepTrace): string {
  const sizes = [t.layers[0].inFeatures, ...t.layers.map((l) => l.outFeatures)].join('-');
  const acts = t.layers.map((l) => l.activation);
  const same = acts.every((a) => a === acts[0]);
  return `${sizes} network, ${same ? `${acts[0]} after ${acts.length === 1 ? 'the layer' : 'each layer'}` : `activations ${acts.join(', ')}`}`;
}

/** The architecture, loss and optimizer in one sentence, for the `about` of a context. */
export function describeSetup(t: StepTrace): string {
  return `${architecture(t)}; loss \`${t.loss.formula}\`; plain SGD with learning rate ${t.lr}; computed in ${t.dtype}.`;
}

/** One training step, explained: forward pass, loss, partial derivatives, chain products, checks, update. */
export function stepBlocks(t: StepTrace, ctx: StepContext): Block[] {
  const seed = t.notation === 'seed';
  const params = shownParameters(t);
  const blocks: Block[] = [
    { kind: 'title', text: ctx.title },
    { kind: 'para', text: ctx.about.join(' ') },
  ];
  if (t.rows > 1)
    blocks.push({
      kind: 'para',
      text: `The step ran on ${t.rows} rows; values below are row 1's, gradients sum every row's chain.`,
    });

  // 1. Forward pass.
  const limit = ctx.limit;
  const inputs = t.input.names
    .slice(0, limit)
    .map((n, i): [string, number, string?] => [n, t.input.values[0][i], ctx.legend?.get(n)]);
  const targets = t.target.names
    .slice(0, limit)
    .map((n, j): [string, number, string?] => [
      n,
      t.target.values[0][j],
      t.target.labels ? (t.target.labels[0] === j ? 'the target class' : '') : undefined,
    ]);
  const paramRows = forwardOrder(t, params).map((p): [string, number, string?] => [p.name, p.value, p.role]);
  const units: string[] = [];
  for (const layer of t.layers) {
    if (units.length > 0) units.push('');
    const shown = layer.units.slice(0, limit);
    shown.forEach((u, j) => {
      units.push(...equation(u.z, [u.zFormula, full(layer.z[0][j])]));
      if (layer.activation !== 'identity') units.push(...equation(u.a, [u.aFormula, full(layer.a[0][j])]));
      else units.push(`${u.a} = ${u.z} (no activation)`);
    });
    units.push(...more(layer.units.length, shown.length, `units of layer ${layer.index}`));
  }
  blocks.push(
    { kind: 'heading', text: 'Forward pass' },
    {
      kind: 'lines',
      lines: (() => {
        // Aligned together, with the note on hidden inputs between inputs and targets.
        const lines = assignments([...inputs, ...targets]);
        lines.splice(inputs.length, 0, ...more(t.input.names.length, inputs.length, 'inputs'));
        return [...lines, ...more(t.target.names.length, targets.length, 'targets')];
      })(),
    },
    {
      kind: 'para',
      text: seed
        ? "The weights and biases, in the notebook's names:"
        : `The weights and biases${params.length < t.parameters.length ? ` (${params.length} of ${t.parameters.length}, spread over each tensor)` : ''}:`,
    },
    { kind: 'lines', lines: assignments(paramRows) },
    {
      kind: 'para',
      text: seed
        ? 'Each unit sums its weighted inputs and bias (z), then applies the sigmoid:'
        : 'Each unit sums its weighted inputs and bias (z), then applies its activation:',
    },
    { kind: 'lines', lines: units },
  );

  // 2. Loss.
  blocks.push(
    { kind: 'heading', text: 'Loss' },
    { kind: 'lines', lines: equation('loss', [t.loss.formula, full(t.loss.value)]) },
  );

  // 3. Partial derivatives: each factor once, grouped by what is differentiated.
  const order = backwardOrder(t, params);
  const seen = new Map<string, [string, string, number]>();
  for (const p of order)
    for (const f of p.terms[0].factors) if (!seen.has(f.name)) seen.set(f.name, [f.name, f.formula, f.value]);
  const groups = new Map<string, [string, string, number][]>();
  for (const row of seen.values()) {
    const top = row[0].split('/')[0];
    groups.set(top, [...(groups.get(top) ?? []), row]);
  }
  blocks.push(
    { kind: 'heading', text: 'Partial derivatives' },
    {
      kind: 'para',
      text: seed
        ? "The factors of the chain rule in the notebook's notation, each computed from the forward values:"
        : 'The factors of the chain rule, each computed from the forward values: the gradient arriving at a ' +
          "unit (d_loss/d_h), its activation's local derivative (d_h/d_z), and what z is differentiated by " +
          '(the input a weight multiplies, 1 for a bias):',
    },
    { kind: 'lines', lines: definitions([...groups.values()].flat()) },
  );

  // 4. Chain products.
  const chains: string[] = [];
  for (const p of order) {
    if (chains.length > 0) chains.push('');
    const fs = p.terms[0].factors;
    const lhs = `d_loss/d_${p.name}`;
    const parts = [
      fs.map((f) => f.name).join(' * '),
      fs.map((f) => factor(f.value)).join(' * '),
      full(p.chain),
    ];
    chains.push(...equation(lhs, parts, { split: true }));
  }
  blocks.push(
    { kind: 'heading', text: 'Chain rule' },
    {
      kind: 'para',
      text: 'Each gradient is the product of the factors on its path from the loss to the parameter:',
    },
    { kind: 'lines', lines: chains },
  );

  // 5. The checks.
  const c = t.check;
  const agree =
    c.disagreements.length === 0
      ? `All ${c.checked} agree: the largest relative error between autograd and the finite difference is ${rel(c.maxRelError)}${c.worst ? ` (${c.worst})` : ''}.`
      : `${c.disagreements.length} of ${c.checked} disagree beyond 1e-6: ${c.disagreements.slice(0, 8).join(', ')}${c.disagreements.length > 8 ? ', …' : ''}.`;
  blocks.push(
    { kind: 'heading', text: 'Checks: autograd and finite differences' },
    {
      kind: 'para',
      text:
        "The same gradients computed two more ways: by the library's autograd (loss.backward()), and " +
        `numerically, \`[8 * (L(p + h) - L(p - h)) - (L(p + 2h) - L(p - 2h))] / 12h\` with \`h ≈ ${c.eps} * max(1, |p|)\` ` +
        '(central differences at h and 2h, combined so their h² errors cancel).',
    },
    {
      kind: 'table',
      header: ['parameter', 'chain rule', 'autograd', 'finite difference', 'rel. error'],
      rows: order.map((p) => [
        p.name,
        full(p.chain),
        full(p.grad),
        p.numeric === null ? '—' : full(p.numeric),
        rel(p.relError),
      ]),
    },
    {
      kind: 'para',
      text:
        (c.checked < c.total ? `Checked ${c.checked} of ${c.total} parameters (--limit per tensor). ` : '') +
        agree,
    },
  );

  // 6. The update.
  const updates = columns(
    forwardOrder(t, params).map((p) => [
      p.name,
      '=',
      full(p.value),
      '-',
      `${t.lr} *`,
      factor(p.grad),
      '=',
      full(p.newValue),
    ]),
    [' ', ' ', ' ', ' ', ' ', ' ', ' '],
  );
  blocks.push(
    { kind: 'heading', text: 'SGD update' },
    {
      kind: 'para',
      text: `Each parameter moves against its gradient: \`new = old - ${t.lr} * d_loss/d_parameter\`.`,
    },
    { kind: 'lines', lines: updates },
    {
      kind: 'para',
      text: `The loss on ${t.rows === 1 ? 'this row' : 'these rows'} was ${full(t.loss.value)} before the step and is ${full(t.loss.after)} after it.`,
    },
  );
  return blocks;
}

/** Steps after the first, one line each: how the loss, the gradients and the checks went. */
export function stepsSummaryBlocks(traces: StepTrace[]): Block[] {
  if (traces.length < 2) return [];
  const maxGrad = (t: StepTrace) => Math.max(...t.parameters.map((p) => Math.abs(p.grad)));
  const first = traces[0];
  const last = traces[traces.length - 1];
  return [
    { kind: 'heading', text: `Steps 2 to ${traces.length}` },
    {
      kind: 'para',
      text: 'Each further step repeats the same computation from the updated parameters; in short:',
    },
    {
      kind: 'table',
      header: ['step', 'loss before', 'loss after', 'largest |gradient|', 'largest rel. error'],
      rows: traces.map((t, n) => [
        String(n + 1),
        full(t.loss.value),
        full(t.loss.after),
        maxGrad(t).toPrecision(6),
        rel(t.check.maxRelError),
      ]),
    },
    {
      kind: 'para',
      text:
        `Over ${traces.length} steps the loss went from ${full(first.loss.value)} to ${full(last.loss.after)}.` +
        (traces.some((t, n) => n > 0 && t.loss.value !== traces[n - 1].loss.after)
          ? " The model keeps its own dtype, so each update is stored rounded and a step's loss before " +
            "differs slightly from the previous step's loss after."
          : ''),
    },
  ];
}

/** The notebook's update order beside backpropagation: where they part, and both loss columns. */
export function notebookBlocks(c: NotebookComparison): Block[] {
  const f = c.firstStep;
  const pct = (v: number) => `${(v * 100).toFixed(2)}%`;
  const diffs = f.gradients.map((g) => g.relDifference);
  return [
    { kind: 'title', text: "The seed notebook's update order beside backpropagation" },
    {
      kind: 'para',
      text:
        "The notebook updates w5 and w6 first and then computes the hidden layer's gradient through the " +
        'updated weights. Backpropagation differentiates the forward pass that ran, so it must use the ' +
        "weights of that pass. Both runs start from the notebook's setup: `np.random.seed(42)`, " +
        `\`X = [[0.5, 0.6]]\`, \`y = [[0.8]]\`, learning rate ${c.lr}, ${c.epochs} epochs.`,
    },
    { kind: 'heading', text: 'Step 1: where they part' },
    {
      kind: 'para',
      text: `The forward pass is the same in both: output = ${full(f.output)}, loss = ${full(f.loss)}. Then the notebook updates the output layer's weights:`,
    },
    {
      kind: 'lines',
      lines: columns(
        [
          ['w5:', full(f.w5.before), '->', full(f.w5.after)],
          ['w6:', full(f.w6.before), '->', full(f.w6.after)],
        ],
        [' ', ' ', ' '],
      ),
    },
    {
      kind: 'para',
      text: "and takes the hidden layer's partial derivatives through the updated w5 and w6, where backpropagation uses those of the forward pass:",
    },
    {
      kind: 'table',
      header: ['partial', 'formula', 'backpropagation', 'notebook'],
      rows: f.hidden.map((h) => [h.name, h.formula, full(h.correct), full(h.notebook)]),
    },
    { kind: 'para', text: 'so every hidden-layer gradient it applies is off:' },
    {
      kind: 'table',
      header: ['gradient', 'backpropagation', 'notebook', 'relative difference'],
      rows: f.gradients.map((g) => [
        `d_loss/d_${g.name}`,
        full(g.correct),
        full(g.notebook),
        pct(g.relDifference),
      ]),
    },
    {
      kind: 'para',
      text:
        `The notebook's hidden-layer steps are ${pct(Math.min(...diffs))} to ${pct(Math.max(...diffs))} too large; ` +
        "the output layer's (w5, w6, b3) are the same in both. The error compounds epoch by epoch:",
    },
    { kind: 'heading', text: `Loss every ${c.every} epochs` },
    {
      kind: 'table',
      header: ['epoch', 'notebook (its update order)', 'backpropagation', 'relative difference'],
      rows: c.losses.map((r) => [
        String(r.epoch),
        full(r.notebook),
        full(r.correct),
        r.relDifference.toExponential(2),
      ]),
    },
    {
      kind: 'para',
      text:
        'The notebook column is exactly what the notebook printed; the backpropagation column is what ' +
        "`chainrule demo` prints (the library's autograd, checked against PyTorch and finite differences).",
    },
  ];
}
