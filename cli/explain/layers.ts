// A layer-by-layer trace (convolution, pooling, normalization, embedding, recurrent layers) as a document:
// per layer its chain rule in words, one element of each gradient spelt out term by term, the intermediate
// values, and the trace beside autograd and finite differences. No math here: every number comes from the
// trace record; a bounded number of terms and values is shown unless --all.
import type { LayerGradientTrace, ModelTrace, TracedGradient } from '../../src/index.js';
import { columns, equation, LINE_WIDTH, wrap, type Block } from './doc.js';
import { full } from './format.js';

/** What the reader is told besides the trace, and how much of it. */
export interface LayerContext {
  title: string;
  about: string[];
  /** Terms per derivation, values per tensor shown (Infinity: all). */
  limit: number;
}

/** Full precision, small values in exponent form (shorter, so tables fit). */
const num = (v: number): string => (v !== 0 && Math.abs(v) < 1e-3 ? v.toExponential() : full(v));
const rel = (v: number): string => (v === 0 ? '0' : v.toExponential(1));
const factor = (v: number): string => (v < 0 || Object.is(v, -0) ? `(${full(v)})` : full(v));
const shape = (s: readonly number[]) => `[${s.join(', ')}]`;

const list = (v: readonly number[], n: number): string =>
  `${v.slice(0, n).map(full).join(', ')}${v.length > n ? `, … (${v.length - n} more)` : ''}`;

function more(total: number, shown: number, what: string): string[] {
  return total > shown ? [`… and ${total - shown} more ${what} (--all shows every one)`] : [];
}

/** One table per gradient tensor: its first `limit` elements by the chain rule, autograd and finite differences. */
function gradientTables(grads: TracedGradient[], limit: number): Block[] {
  return grads.map((g): Block => {
    const n = Math.min(limit, g.traced.length);
    const rows: string[][] = [];
    for (let k = 0; k < n; k++) {
      const check = g.checks.find((c) => c.flat === k);
      rows.push([indexOf(g.shape, k), num(g.traced[k]), num(g.autograd[k]), check ? num(check.numeric) : '']);
    }
    if (g.traced.length > n) rows.push([`… ${g.traced.length - n} more`, '', '', '']);
    return {
      kind: 'table',
      header: [`${g.key} ${shape(g.shape)}`, 'chain rule', 'autograd', 'finite difference'],
      rows,
    };
  });
}

/** `[0][2][1]`: flat element k of a tensor of `dims`. */
function indexOf(dims: readonly number[], k: number): string {
  const out: number[] = [];
  for (let d = dims.length - 1; d >= 0; d--) {
    out.unshift(k % dims[d]);
    k = Math.floor(k / dims[d]);
  }
  return out.map((i) => `[${i}]`).join('');
}

function layerBlocks(l: LayerGradientTrace, limit: number): Block[] {
  const blocks: Block[] = [
    { kind: 'heading', text: `Layer ${l.path || l.index}: ${l.title}` },
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
        ...wrap(`${q.name} ${shape(q.shape)}: ${q.note}`, LINE_WIDTH, '    '),
        ...wrap(`  ${list(q.values, n)}`, LINE_WIDTH, '  '),
      ],
    });
  }
  for (const d of l.derivations) {
    const n = Math.min(limit, d.terms.length);
    const lines = [d.target, ...wrap(`  = ${d.rule}`, LINE_WIDTH, '    ')];
    d.terms.slice(0, n).forEach((t, k) => {
      const parts =
        t.factors.length > 1 ? [t.factors.map(factor).join(' · '), full(t.value)] : [full(t.value)];
      lines.push(...equation(`  ${k === 0 ? ' ' : '+'} ${t.label}`, parts));
    });
    lines.push(...more(d.terms.length, n, 'terms').map((s) => `    ${s}`));
    if (Number.isFinite(d.value))
      lines.push(
        `  = ${full(d.value)} (${d.terms.length} term${d.terms.length === 1 ? '' : 's'}); autograd: ${full(d.autograd)}`,
      );
    blocks.push({ kind: 'lines', lines });
  }
  blocks.push(...gradientTables(l.gradients, limit));
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
        ...wrap(`output ${shape(t.output.shape)}: ${list(t.output.values, n)}`, LINE_WIDTH, '    '),
        ...wrap(`d_loss/d_output by its closed form: ${list(g.traced, n)}`, LINE_WIDTH, '    '),
        ...wrap(`d_loss/d_output by autograd: ${list(g.autograd, n)}`, LINE_WIDTH, '    '),
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
