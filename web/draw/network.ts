// The network diagram: feature, neuron and output nodes with their heatmaps, and the links between them,
// whose width is the weight's size and colour its sign; optionally each link's gradient of the last step.
// Nodes are buttons (focusable, Enter selects); links show a card on hover and an editor on click.
import type { playground } from '../lib.js';
import type { Frame } from '../protocol.js';
import { LINK_NEGATIVE, LINK_POSITIVE, paintGrid } from './colors.js';

/** Layout: node size and vertical pitch of nodes (px). */
export const NODE = 36;
export const ROW_PITCH = 52;

/** The horizontal pitch of the columns: up to 116 px, narrower when many layers share `width`. */
export function columnPitch(width: number, hiddenLayers: number): number {
  return Math.max(64, Math.min(116, Math.floor((width - NODE - 8) / (hiddenLayers + 1))));
}

/** What is selected: a unit of Linear layer `layer` (0-based), or the weight `from` → `to` of it. */
export type Selection =
  | { kind: 'unit'; layer: number; unit: number }
  | { kind: 'link'; layer: number; from: number; to: number }
  | null;

/** What the diagram shows: every feature (the active ones feed the network) and the hidden layers. */
export interface Structure {
  features: readonly playground.FeatureName[];
  active: readonly playground.FeatureName[];
  labels: { readonly [F in playground.FeatureName]: string };
  hidden: readonly number[];
  /** Display names: `unitName(layer, j)` for units, `inputName(i)` for the network's inputs. */
  unitName: (layer: number, unit: number) => string;
  inputName: (i: number) => string;
}

/** What the diagram asks of the page. */
export interface NetworkEvents {
  toggleFeature(feature: playground.FeatureName): void;
  select(selection: Selection): void;
  editParameter(layer: number, kind: 'weight' | 'bias', index: number, value: number): void;
}

interface Link {
  layer: number;
  from: number;
  to: number;
  path: SVGPathElement;
  grad: SVGPathElement;
}

const SVG = 'http://www.w3.org/2000/svg';
const fmt = (v: number) => (Math.abs(v) >= 1e-3 || v === 0 ? v.toFixed(4) : v.toExponential(2));

export class NetworkView {
  private structure: Structure | null = null;
  private links: Link[] = [];
  private unitButtons: HTMLButtonElement[][] = [];
  private unitCanvases: HTMLCanvasElement[][] = [];
  private featureCanvases = new Map<playground.FeatureName, HTMLCanvasElement>();
  private parameters: playground.LayerParameters[] = [];
  private selection: Selection = null;
  private pitch = columnPitch(Infinity, 0);

  constructor(
    private readonly root: HTMLElement,
    private readonly card: HTMLElement,
    private readonly events: NetworkEvents,
  ) {}

  /** Rebuild the diagram for a new structure. */
  build(structure: Structure): void {
    // A keyboard user who toggled a feature keeps the focus on it through the rebuild.
    const focused = this.root.contains(document.activeElement)
      ? (document.activeElement as HTMLElement).dataset
      : null;
    this.structure = structure;
    this.root.replaceChildren();
    this.links = [];
    this.unitButtons = [];
    this.unitCanvases = [];
    this.featureCanvases.clear();
    const rows = Math.max(structure.features.length, ...structure.hidden, 1);
    const columns = structure.hidden.length + 2;
    this.pitch = columnPitch(
      (this.root.parentElement?.clientWidth ?? Infinity) - 56,
      structure.hidden.length,
    );
    this.root.style.width = `${(columns - 1) * this.pitch + NODE + 8}px`;
    this.root.style.height = `${rows * ROW_PITCH}px`;
    const svg = document.createElementNS(SVG, 'svg');
    svg.classList.add('links');
    svg.setAttribute('width', this.root.style.width);
    svg.setAttribute('height', this.root.style.height);
    this.root.append(svg);

    const centre = (column: number, row: number, count: number) => ({
      x: column * this.pitch + NODE / 2,
      y: ((rows - count) * ROW_PITCH) / 2 + row * ROW_PITCH + NODE / 2,
    });
    // Inputs of Linear layer 0: the active features at their rows in the features column.
    let previous = structure.active.map((f) =>
      centre(0, structure.features.indexOf(f), structure.features.length),
    );
    structure.features.forEach((f, row) => this.featureNode(f, centre(0, row, structure.features.length)));
    const sizes = [...structure.hidden, 1];
    sizes.forEach((count, layer) => {
      const here = Array.from({ length: count }, (_, j) => centre(layer + 1, j, count));
      previous.forEach((a, i) => here.forEach((b, j) => this.link(svg, layer, i, j, a, b)));
      this.unitButtons.push(here.map((p, j) => this.unitNode(layer, j, p, layer === sizes.length - 1)));
      previous = here;
    });
    this.setSelection(this.selection);
    if (focused) {
      const match = [...this.root.querySelectorAll<HTMLElement>('.node')].find(
        (n) =>
          n.dataset.feature === focused.feature &&
          n.dataset.layer === focused.layer &&
          n.dataset.unit === focused.unit,
      );
      match?.focus();
    }
  }

  private place(el: HTMLElement, p: { x: number; y: number }): void {
    el.style.left = `${p.x - NODE / 2}px`;
    el.style.top = `${p.y - NODE / 2}px`;
  }

  private featureNode(f: playground.FeatureName, p: { x: number; y: number }): void {
    const s = this.structure as Structure;
    const on = s.active.includes(f);
    const b = document.createElement('button');
    b.type = 'button';
    b.className = `node feature${on ? '' : ' off'}`;
    b.setAttribute('aria-pressed', String(on));
    b.setAttribute('aria-label', `Feature ${s.labels[f]}: ${on ? 'used' : 'not used'}; press to toggle`);
    b.dataset.feature = f;
    const canvas = document.createElement('canvas');
    this.featureCanvases.set(f, canvas);
    const label = document.createElement('span');
    label.className = 'node-label';
    label.textContent = s.labels[f];
    b.append(canvas, label);
    b.addEventListener('click', () => this.events.toggleFeature(f));
    this.place(b, p);
    this.root.append(b);
  }

  private unitNode(
    layer: number,
    unit: number,
    p: { x: number; y: number },
    output: boolean,
  ): HTMLButtonElement {
    const s = this.structure as Structure;
    const b = document.createElement('button');
    b.type = 'button';
    b.className = `node unit${output ? ' output-unit' : ''}`;
    b.dataset.layer = String(layer);
    b.dataset.unit = String(unit);
    b.setAttribute(
      'aria-label',
      `${output ? 'Output' : `Neuron ${s.unitName(layer, unit)}`}: select to inspect`,
    );
    const canvas = document.createElement('canvas');
    (this.unitCanvases[layer] ??= [])[unit] = canvas;
    const label = document.createElement('span');
    label.className = 'node-label';
    label.textContent = s.unitName(layer, unit);
    const bias = document.createElement('span');
    bias.className = 'bias';
    b.append(canvas, label, bias);
    b.addEventListener('click', () => this.events.select({ kind: 'unit', layer, unit }));
    b.addEventListener('pointerenter', () => this.showCard(b, this.unitText(layer, unit)));
    b.addEventListener('pointerleave', () => this.hideCard());
    this.place(b, p);
    this.root.append(b);
    return b;
  }

  private link(
    svg: SVGSVGElement,
    layer: number,
    from: number,
    to: number,
    a: { x: number; y: number },
    b: { x: number; y: number },
  ): void {
    const x0 = a.x + NODE / 2;
    const x1 = b.x - NODE / 2;
    const mid = (x0 + x1) / 2;
    const d = `M${x0},${a.y} C${mid},${a.y} ${mid},${b.y} ${x1},${b.y}`;
    const path = document.createElementNS(SVG, 'path');
    path.setAttribute('d', d);
    path.classList.add('link');
    const grad = document.createElementNS(SVG, 'path');
    grad.setAttribute('d', d);
    grad.classList.add('link-grad');
    svg.append(path, grad);
    const link = { layer, from, to, path, grad };
    this.links.push(link);
    path.addEventListener('pointerenter', (e) => this.showCard(e, this.linkText(link)));
    path.addEventListener('pointerleave', () => this.hideCard());
    path.addEventListener('click', (e) => {
      this.events.select({ kind: 'link', layer, from, to });
      this.editCard(e, link);
    });
  }

  private linkText(l: Link): string {
    const p = this.parameters[l.layer];
    if (!p) return '';
    const k = l.from * p.outFeatures + l.to;
    const grad = p.weightGrad ? `; gradient of the last step ${fmt(p.weightGrad[k])}` : '';
    return `Weight ${this.linkName(l)}: ${fmt(p.weight[k])}${grad}. Click to edit.`;
  }

  private linkName(l: Link): string {
    const s = this.structure as Structure;
    const source = l.layer === 0 ? s.inputName(l.from) : s.unitName(l.layer - 1, l.from);
    return `${source} → ${s.unitName(l.layer, l.to)}`;
  }

  private unitText(layer: number, unit: number): string {
    const p = this.parameters[layer];
    return p ? `${(this.structure as Structure).unitName(layer, unit)}: bias ${fmt(p.bias[unit])}` : '';
  }

  private showCard(anchor: MouseEvent | HTMLElement, text: string): void {
    if (!text || this.card.dataset.editing === 'true') return;
    this.card.textContent = text;
    this.card.hidden = false;
    this.moveCard(anchor);
  }

  private moveCard(anchor: MouseEvent | HTMLElement): void {
    const box = anchor instanceof HTMLElement ? anchor.getBoundingClientRect() : null;
    const x = box ? box.right : (anchor as MouseEvent).clientX;
    const y = box ? box.top : (anchor as MouseEvent).clientY;
    this.card.style.left = `${x + window.scrollX + 12}px`;
    this.card.style.top = `${y + window.scrollY + 12}px`;
  }

  private hideCard(): void {
    if (this.card.dataset.editing !== 'true') this.card.hidden = true;
  }

  /** The weight editor: a number field in the card; Enter sets the weight, Escape closes. */
  private editCard(event: MouseEvent, l: Link): void {
    const p = this.parameters[l.layer];
    if (!p) return;
    const k = l.from * p.outFeatures + l.to;
    const label = document.createElement('label');
    label.textContent = `Weight ${this.linkName(l)} `;
    const input = document.createElement('input');
    input.type = 'number';
    input.step = 'any';
    input.value = String(p.weight[k]);
    input.className = 'weight-input';
    label.append(input);
    this.card.replaceChildren(label);
    this.card.dataset.editing = 'true';
    this.card.hidden = false;
    this.moveCard(event);
    const close = () => {
      this.card.dataset.editing = 'false';
      this.card.hidden = true;
    };
    input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') {
        const v = Number(input.value);
        if (input.value.trim() !== '' && Number.isFinite(v))
          this.events.editParameter(l.layer, 'weight', k, v);
        close();
      } else if (e.key === 'Escape') close();
    });
    input.addEventListener('blur', close);
    input.focus();
    input.select();
  }

  /** Paint the features' pictures: `values` holds every feature of the structure, density² each. */
  paintFeatures(values: Float32Array, density: number): void {
    this.structure?.features.forEach((f, i) => {
      const c = this.featureCanvases.get(f);
      if (c) paintGrid(c, values, i * density * density, density, false);
    });
  }

  /** Mark the selected node or link. */
  setSelection(selection: Selection): void {
    this.selection = selection;
    this.unitButtons.forEach((col, layer) =>
      col.forEach((b, unit) => {
        const on = selection?.kind === 'unit' && selection.layer === layer && selection.unit === unit;
        b.classList.toggle('selected', on);
        b.setAttribute('aria-pressed', String(on));
      }),
    );
    for (const l of this.links) {
      const on =
        selection?.kind === 'link' &&
        selection.layer === l.layer &&
        selection.from === l.from &&
        selection.to === l.to;
      l.path.classList.toggle('selected', on);
    }
  }

  /** Draw a frame: node heatmaps, link widths and colours, gradients when asked. */
  update(frame: Frame, options: { discretize: boolean; showGradients: boolean }): void {
    const s = this.structure;
    if (!s) return;
    this.parameters = frame.parameters;
    const g = frame.grids;
    const d = g.unitDensity;
    this.unitCanvases.forEach((col, layer) =>
      col.forEach((c, unit) => {
        const values = g.units[layer];
        const last = layer === this.unitCanvases.length - 1;
        if (values) paintGrid(c, values, unit * d * d, d, options.discretize && last);
      }),
    );
    this.unitButtons.forEach((col, layer) =>
      col.forEach((b, unit) => {
        const bias = b.querySelector('.bias') as HTMLElement;
        const v = frame.parameters[layer]?.bias[unit] ?? 0;
        bias.style.background = v >= 0 ? LINK_POSITIVE : LINK_NEGATIVE;
        bias.style.opacity = String(Math.min(1, 0.25 + Math.abs(v)));
      }),
    );
    let maxGrad = 0;
    if (options.showGradients)
      for (const p of frame.parameters)
        if (p.weightGrad) for (const v of p.weightGrad) maxGrad = Math.max(maxGrad, Math.abs(v));
    for (const l of this.links) {
      const p = frame.parameters[l.layer];
      if (!p) continue;
      const k = l.from * p.outFeatures + l.to;
      const w = p.weight[k];
      l.path.style.stroke = w >= 0 ? LINK_POSITIVE : LINK_NEGATIVE;
      l.path.style.strokeWidth = String(1 + (9 * Math.min(Math.abs(w), 5)) / 5);
      const grad = p.weightGrad?.[k] ?? 0;
      const show = options.showGradients && maxGrad > 0;
      l.grad.style.display = show ? '' : 'none';
      if (show) {
        l.grad.classList.toggle('negative', grad < 0);
        l.grad.style.strokeWidth = String(1 + (3 * Math.abs(grad)) / maxGrad);
      }
    }
  }
}
