// A layer-by-layer trace (convolution, pooling, normalization, embedding, recurrent layers) as a document:
// per layer its chain rule in words, one element of each gradient spelt out term by term, the intermediate
// values, and the trace beside autograd and finite differences. No math here: every number comes from the
// trace record; a bounded number of terms and values is shown unless --all.
import type { LayerGradientTrace, ModelTrace, TracedGradient } from '../../src/index.js';
import { columns, type Block } from './doc.js';
import { full } from './format.js';

/** What the reader is told besides the trace, and how much of it. */
export interface LayerContext {
  title: string;
  about: string[];
  /** Terms per derivation, values per tensor shown (Infinity: all). */
  limit: number;
}

const rel = (v: number): string => (v === 0 ? '0' : v.toExponential(1));
const factor = (v: number): string => (v < 0 || Object.is(v, -0) ? `(${full(v)})` : full(v));
const shape = (s: readonly number[]) => `[${s.join(', ')}]`;

function more(total: number, shown: number, what: string): string[] {
  return total > shown ? [`… and ${total - shown} more ${what} (--all shows every one)`] : [];
}

function gradientTable(grads: TracedGradient[], limit: number): Block[] {
  const rows: string[][] = [];
  for (const g of grads) {
    const n = Math.min(limit, g.traced.length);
    for (let k = 0; k < n; k++) {
      const check = g.checks.find((c) => c.flat === k);
      rows.push([
        k === 0 ? `${g.key} ${shape(g.shape)}` : '',
        String(k),
        full(g.traced[k]),
        full(g.autograd[k]),
        check ? full(check.numeric) : '',
      ]);
    }
    if (g.traced.length > n) rows.push(['', `… ${g.traced.length - n} more`, '', '', '']);
  }
  return rows.length === 0
    ? []
    : [
        {
          kind: 'table',
          header: ['gradient', 'element', 'chain rule (by hand)', 'autograd', 'finite difference'],
          rows,
        },
      ];
}

function layerBlocks(l: LayerGradientTrace, limit: number): Block[] {
  const blocks: Block[] = [
    { kind: 'heading', text: `Layer ${l.index}: ${l.title}` },
    {
      kind: 'para',
      text: `Input ${shape(l.inputShape)} → output ${shape(l.outputShape)}. ${l.story}`,
    },
  ];
  for (const q of l.quantities) {
    const n = Math.min(limit, q.values.length);
    blocks.push({
      kind: 'lines',
      lines: [
        `${q.name} ${shape(q.shape)}: ${q.note}`,
        `  ${q.values.slice(0, n).map(full).join(', ')}${q.values.length > n ? `, … (${q.values.length - n} more)` : ''}`,
      ],
    });
  }
  for (const d of l.derivations) {
    const n = Math.min(limit, d.terms.length);
    const lines = [`${d.target} = ${d.rule}`];
    d.terms.slice(0, n).forEach((t, k) => {
      const prod =
        t.factors.length > 1 ? `${t.factors.map(factor).join(' · ')} = ${full(t.value)}` : full(t.value);
      lines.push(`  ${k === 0 ? ' ' : '+'} ${t.label} = ${prod}`);
    });
    lines.push(...more(d.terms.length, n, 'terms').map((s) => `    ${s}`));
    if (Number.isFinite(d.value))
      lines.push(
        `  = ${full(d.value)} (${d.terms.length} term${d.terms.length === 1 ? '' : 's'}); autograd: ${full(d.autograd)}`,
      );
    blocks.push({ kind: 'lines', lines });
  }
  blocks.push(...gradientTable(l.gradients, limit));
  const worst = l.gradients.reduce((m, g) => Math.max(m, g.maxRelDiff), 0);
  if (l.gradients.length > 0)
    blocks.push({
      kind: 'para',
      text: `Every gradient of this layer (${l.gradients.map((g) => g.key).join(', ')}): chain rule and autograd differ by at most ${rel(worst)} of the tensor's largest value.`,
    });
  return blocks;
}

/** The whole step, layer by layer from the output back, with the checks at the end. */
export function modelTraceBlocks(t: ModelTrace, ctx: LayerContext): Block[] {
  const limit = ctx.limit;
  const g = t.loss.gradient;
  const n = Math.min(limit, g.traced.length);
  const blocks: Block[] = [
    { kind: 'title', text: ctx.title },
    { kind: 'para', text: [...ctx.about, ...t.notes].join(' ') },
    { kind: 'heading', text: 'Loss and its gradient at the output' },
    {
      kind: 'lines',
      lines: [
        `loss (${t.loss.name}) = ${full(t.loss.value)}`,
        `output ${shape(t.output.shape)}: ${t.output.values.slice(0, n).map(full).join(', ')}${t.output.values.length > n ? ', …' : ''}`,
        `d_loss/d_output (closed form): ${g.traced.slice(0, n).map(full).join(', ')}${g.traced.length > n ? ', …' : ''}`,
        `d_loss/d_output (autograd):    ${g.autograd.slice(0, n).map(full).join(', ')}${g.autograd.length > n ? ', …' : ''}`,
      ],
    },
    {
      kind: 'para',
      text:
        'From here the gradient flows back through the layers, last first. Each layer receives δ = d_loss/d_output ' +
        'of the layer and, by its own chain rule, turns it into the gradients of its parameters and of its input ' +
        '(the next δ down). Each rule below is computed by hand from the forward values and δ, then compared with autograd.',
    },
  ];
  for (const l of [...t.layers].reverse()) blocks.push(...layerBlocks(l, limit));
  const s = t.summary;
  const rows = t.layers.flatMap((l) =>
    l.gradients
      .filter((gr) => gr.checks.length > 0)
      .map((gr) => [
        gr.key,
        rel(gr.maxRelDiff),
        String(gr.checks.length),
        rel(Math.max(...gr.checks.map((c) => c.relError))),
      ]),
  );
  blocks.push(
    { kind: 'heading', text: 'Checks: chain rule, autograd and finite differences' },
    {
      kind: 'para',
      text:
        'The finite difference is `[8 * (L(p + h) - L(p - h)) - (L(p + 2h) - L(p - 2h))] / 12h` of the whole ' +
        "step's loss, for elements spread over each parameter tensor.",
    },
    { kind: 'table', header: ['tensor', 'chain rule vs autograd', 'checked', 'largest rel. error'], rows },
    {
      kind: 'lines',
      lines: columns([
        ['largest chain-rule vs autograd difference', rel(s.maxTraceDiff), s.worstTrace ?? ''],
        ['largest finite-difference relative error', rel(s.maxRelError), s.worst ?? ''],
        ['elements checked by finite differences', String(s.checked), ''],
      ]),
    },
    {
      kind: 'para',
      text:
        s.disagreements.length === 0 && s.traceDisagreements.length === 0
          ? 'All agree: every chain-rule gradient equals autograd within 1e-12 of its tensor, and every checked element its finite difference within 1e-6 (or 1e-9 absolute, where rounding in the loss dominates).'
          : `Disagreements: ${[...s.traceDisagreements, ...s.disagreements].slice(0, 8).join(', ')}.`,
    },
  );
  return blocks;
}
