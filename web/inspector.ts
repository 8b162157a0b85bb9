// The inspector: the selected neuron or weight with editable values (the keyboard's way to edit weights),
// and "explain step": the chain-rule terms of one step for the selection, as the library's trace gives them.
import type { Selection } from './draw/network.js';
import type { playground } from './lib.js';

/** What the inspector asks of the page. */
export interface InspectorEvents {
  editParameter(layer: number, kind: 'weight' | 'bias', index: number, value: number): void;
  explain(sample: number): void;
}

/** Names for the diagram and the inspector (the trace names parameters itself). */
export interface Naming {
  unitName(layer: number, unit: number): string;
  inputName(i: number): string;
  /** The trace's input names beside the features they stand for ('x_0 = x₁'), empty when they are equal. */
  inputLegend: string;
}

const byId = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const num = (v: number | null) =>
  v === null ? '–' : Math.abs(v) >= 1e-4 || v === 0 ? v.toPrecision(6) : v.toExponential(4);

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  text?: string,
  className?: string,
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (className) e.className = className;
  return e;
}

function table(rows: string[][], head: string[]): HTMLTableElement {
  const t = el('table');
  const tr = el('tr');
  for (const h of head) tr.append(el('th', h));
  t.append(tr);
  for (const r of rows) {
    const row = el('tr');
    for (const c of r) row.append(el('td', c));
    t.append(row);
  }
  return t;
}

export class Inspector {
  private selection: Selection = null;
  private parameters: playground.LayerParameters[] = [];
  private explanation: playground.PlaygroundExplanation | null = null;
  private readonly root = byId('selection');
  private readonly output = byId('explanation');
  private readonly sample = byId<HTMLInputElement>('sample');

  constructor(
    private readonly events: InspectorEvents,
    private naming: Naming,
  ) {
    byId('explain').addEventListener('click', () =>
      events.explain(Math.max(0, Math.floor(Number(this.sample.value) || 0))),
    );
  }

  /** A new run: forget the explanation, keep the selection if it still exists. */
  reset(naming: Naming, trainPoints: number): void {
    this.naming = naming;
    this.explanation = null;
    this.output.replaceChildren();
    this.sample.max = String(Math.max(0, trainPoints - 1));
    if (Number(this.sample.value) >= trainPoints) this.sample.value = '0';
  }

  select(selection: Selection): void {
    this.selection = selection;
    this.renderSelection();
    if (this.explanation) this.renderExplanation();
  }

  /** New parameter values; inputs the user is typing in keep their text. */
  update(parameters: playground.LayerParameters[]): void {
    const rebuild = this.parameters.length !== parameters.length;
    this.parameters = parameters;
    if (rebuild || !this.root.querySelector('input')) this.renderSelection();
    else
      for (const input of this.root.querySelectorAll<HTMLInputElement>('input[data-kind]')) {
        if (document.activeElement === input) continue;
        const p = parameters[Number(input.dataset.layer)];
        const v =
          input.dataset.kind === 'weight'
            ? p?.weight[Number(input.dataset.index)]
            : p?.bias[Number(input.dataset.index)];
        if (v !== undefined) input.value = String(v);
      }
  }

  private field(
    label: string,
    layer: number,
    kind: 'weight' | 'bias',
    index: number,
    value: number,
  ): HTMLLabelElement {
    const l = el('label', `${label} `, 'param');
    const input = el('input');
    input.type = 'number';
    input.step = 'any';
    input.value = String(value);
    Object.assign(input.dataset, { layer: String(layer), kind, index: String(index) });
    input.addEventListener('change', () => {
      const v = Number(input.value);
      if (input.value.trim() !== '' && Number.isFinite(v)) this.events.editParameter(layer, kind, index, v);
    });
    l.append(input);
    return l;
  }

  private renderSelection(): void {
    const s = this.selection;
    const p = s ? this.parameters[s.layer] : undefined;
    if (!s || !p) {
      this.root.replaceChildren(
        el(
          'p',
          'Click a neuron or a link (or Tab to a neuron and press Enter) to inspect and edit it.',
          'hint',
        ),
      );
      return;
    }
    const n = this.naming;
    const source = (i: number) => (s.layer === 0 ? n.inputName(i) : n.unitName(s.layer - 1, i));
    if (s.kind === 'link') {
      const k = s.from * p.outFeatures + s.to;
      const grad = p.weightGrad ? `gradient of the last step: ${num(p.weightGrad[k])}` : 'no step taken yet';
      this.root.replaceChildren(
        el('h3', `Weight ${source(s.from)} → ${n.unitName(s.layer, s.to)}`),
        this.field('value', s.layer, 'weight', k, p.weight[k]),
        el('p', grad, 'hint'),
      );
      return;
    }
    const fields = Array.from({ length: p.inFeatures }, (_, i) =>
      this.field(
        `${source(i)} →`,
        s.layer,
        'weight',
        i * p.outFeatures + s.unit,
        p.weight[i * p.outFeatures + s.unit],
      ),
    );
    this.root.replaceChildren(
      el('h3', `Neuron ${n.unitName(s.layer, s.unit)}`),
      this.field('bias', s.layer, 'bias', s.unit, p.bias[s.unit]),
      el('p', 'Incoming weights:', 'hint'),
      ...fields,
    );
  }

  /** Show an explanation the worker sent. */
  explain(explanation: playground.PlaygroundExplanation): void {
    this.explanation = explanation;
    this.renderExplanation();
  }

  private renderExplanation(): void {
    const e = this.explanation;
    if (!e) return;
    const t = e.trace;
    const parts: HTMLElement[] = [];
    const pt = e.point;
    parts.push(
      el(
        'h3',
        `One SGD step (learning rate ${t.lr}) after epoch ${e.epoch}, on training point #${e.sample}: x₁ = ${num(pt.x1)}, x₂ = ${num(pt.x2)}, target ${num(pt.y)}`,
      ),
    );
    if (this.naming.inputLegend) parts.push(el('p', `Inputs: ${this.naming.inputLegend}`, 'hint'));
    parts.push(
      el(
        'p',
        `loss = ${t.loss.formula} = ${num(t.loss.value)} (after the step: ${num(t.loss.after)})`,
        'formula',
      ),
    );
    const out = t.output;
    out.gradientNames.forEach((name, j) =>
      parts.push(el('p', `${name} = ${out.gradientFormulas[j]} = ${num(out.gradient[0][j])}`, 'formula')),
    );
    const s = this.selection;
    if (s?.kind === 'link') {
      const p = t.parameters.find(
        (q) => q.kind === 'weight' && q.layer === s.layer + 1 && q.index[0] === s.from && q.index[1] === s.to,
      );
      if (p) parts.push(...this.parameter(p, t.lr));
    } else if (s?.kind === 'unit') {
      const layer = t.layers[s.layer];
      const u = layer?.units[s.unit];
      if (layer && u) {
        const j = s.unit;
        parts.push(
          el('h4', `Neuron ${u.a}`),
          table(
            [
              [u.z, u.zFormula, num(layer.z[0][j])],
              [u.a, u.aFormula, num(layer.a[0][j])],
              [u.local, u.localFormula, num(layer.local[0][j])],
              [u.upstream, 'from the layer above (autograd)', num(layer.upstream[0][j])],
              [`d_loss/d_${u.z}`, `${u.upstream} × ${u.local}`, num(layer.delta[0][j])],
            ],
            ['term', 'formula', 'value'],
          ),
        );
        const bias = t.parameters.find(
          (q) => q.kind === 'bias' && q.layer === s.layer + 1 && q.index[0] === j,
        );
        if (bias) parts.push(...this.parameter(bias, t.lr));
      }
    } else {
      parts.push(
        el(
          'p',
          'Select a weight or a neuron to see its chain of terms. Every parameter of this step:',
          'hint',
        ),
      );
      parts.push(
        table(
          t.parameters.slice(0, 40).map((q) => [q.name, q.role, num(q.value), num(q.grad), num(q.newValue)]),
          ['parameter', 'what it is', 'value', 'd_loss/d_param', 'after the step'],
        ),
      );
    }
    const c = t.check;
    parts.push(
      el(
        'p',
        `Autograd against finite differences: ${c.checked} of ${c.total} parameters checked, largest relative error ${num(c.maxRelError)}` +
          (c.disagreements.length ? `; disagreeing: ${c.disagreements.join(', ')}` : ' (they agree).'),
        'hint',
      ),
    );
    for (const note of e.notes) parts.push(el('p', note, 'note'));
    this.output.replaceChildren(...parts);
  }

  private parameter(
    p: playground.PlaygroundExplanation['trace']['parameters'][number],
    lr: number,
  ): HTMLElement[] {
    const term = p.terms[0];
    const chain = term.factors.map((f) => f.name).join(' × ');
    return [
      el('h4', `${p.name}: the ${p.role}`),
      el('p', `d_loss/d_${p.name} = ${chain}`, 'formula'),
      table(
        term.factors.map((f) => [f.name, f.formula, num(f.value)]),
        ['factor', 'formula', 'value'],
      ),
      el(
        'p',
        `product = ${num(term.product)}; autograd: ${num(p.grad)}; finite differences: ${num(p.numeric)}`,
        'formula',
      ),
      el(
        'p',
        `${p.name} ← ${p.name} − ${lr} × d_loss/d_${p.name} = ${num(p.value)} − ${lr} × ${num(p.grad)} = ${num(p.newValue)}`,
        'formula',
      ),
    ];
  }
}
