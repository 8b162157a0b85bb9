// The Images page's pictures of the network: every layer's maps, the kernels, and (for one step) the
// gradient maps and max-pool routes, each cell of each picture a pixel; hovering a cell, or moving to it
// with the arrow keys, shows its number and the formula that made it (the library's `explainCell`).
import { playground } from './lib.js';

/** One picture: a grid of cells and how a cell maps to a place in the inspection. */
interface Picture {
  canvas: HTMLCanvasElement;
  height: number;
  width: number;
  /** The picture's values (height × width) from an inspection. */
  values(i: playground.Inspection): ArrayLike<number>;
  /** The place of cell `cell` (row-major in this picture). */
  place(cell: number): playground.CellPlace;
  /** Grey (0 black → 1 white) instead of the diverging scale. */
  grey?: boolean;
  /** Cells drawn faint (max-pool losers). */
  faint?(i: playground.Inspection): Set<number>;
}

const POSITIVE = [8, 119, 189];
const NEGATIVE = [245, 147, 34];

/** Pixels per cell for a picture whose larger side has `cells` cells. */
function zoom(cells: number): number {
  return Math.max(2, Math.min(10, Math.floor(84 / cells)));
}

function paint(p: Picture, inspection: playground.Inspection): void {
  const values = p.values(inspection);
  const ctx = p.canvas.getContext('2d') as CanvasRenderingContext2D;
  const img = ctx.createImageData(p.width, p.height);
  let max = 0;
  for (let k = 0; k < values.length; k++) max = Math.max(max, Math.abs(values[k]));
  const faint = p.faint?.(inspection);
  for (let k = 0; k < values.length; k++) {
    const v = values[k];
    let rgb: number[];
    if (p.grey) {
      const g = Math.round(255 * Math.max(0, Math.min(1, v)));
      rgb = [g, g, g];
    } else {
      const t = max > 0 ? Math.abs(v) / max : 0;
      const c = v >= 0 ? POSITIVE : NEGATIVE;
      rgb = c.map((x) => Math.round(255 + (x - 255) * t));
    }
    img.data.set([...rgb, faint && faint.has(k) ? 60 : 255], 4 * k);
  }
  ctx.putImageData(img, 0, 0);
}

/** The layers' pictures, rebuilt when the network's shapes change, repainted on every inspection. */
export class LayersView {
  private pictures: Picture[] = [];
  private key = '';
  private inspection: playground.Inspection | null = null;
  private hovered: { picture: Picture; cell: number; x: number; y: number } | null = null;

  constructor(
    private readonly root: HTMLElement,
    private readonly card: HTMLElement,
  ) {}

  /** The inspection shown now. */
  get current(): playground.Inspection | null {
    return this.inspection;
  }

  update(inspection: playground.Inspection | null, showGradients: boolean): void {
    this.inspection = inspection;
    if (!inspection) {
      this.root.replaceChildren();
      this.key = '';
      return;
    }
    const key = JSON.stringify([
      inspection.input.shape,
      inspection.layers.map((l) => [l.spec.type, l.shape, l.weight?.shape]),
      showGradients,
    ]);
    if (key !== this.key) this.build(inspection, showGradients, key);
    for (const p of this.pictures) paint(p, inspection);
    if (this.hovered) this.showCard(this.hovered.picture, this.hovered.cell, this.hovered.x, this.hovered.y);
  }

  private build(inspection: playground.Inspection, showGradients: boolean, key: string): void {
    this.key = key;
    this.pictures = [];
    this.hovered = null;
    this.card.hidden = true;
    const blocks: HTMLElement[] = [];
    const block = (title: string) => {
      const el = document.createElement('div');
      el.className = 'layer';
      const h = document.createElement('h3');
      h.textContent = title;
      el.append(h);
      blocks.push(el);
      return el;
    };
    const row = (parent: HTMLElement, caption: string) => {
      const el = document.createElement('div');
      el.className = 'maps';
      const c = document.createElement('span');
      c.className = 'caption';
      c.textContent = caption;
      el.append(c);
      parent.append(el);
      return el;
    };
    const [ic, ih, iw] = inspection.input.shape;
    const inputBlock = block(`input ${ic}×${ih}×${iw}`);
    const planes = (
      parent: HTMLElement,
      shape: readonly number[],
      label: string,
      make: (offset: number, cells: number) => Omit<Picture, 'canvas' | 'height' | 'width'>,
    ) => {
      const [c, h, w] = shape.length === 3 ? shape : [1, 1, shape[0]];
      for (let k = 0; k < c; k++) {
        const p = make(k * h * w, h * w);
        this.add(parent, { ...p, height: h, width: w }, `${label} ${k}`);
      }
    };
    const slice =
      (a: (i: playground.Inspection) => Float64Array, offset: number, cells: number) =>
      (i: playground.Inspection) =>
        a(i).subarray(offset, offset + cells);
    planes(row(inputBlock, 'the image (pixel / max)'), inspection.input.shape, 'input channel', (o, n) => ({
      values: slice((i) => i.input.values, o, n),
      place: (cell) => ({ of: 'input', index: o + cell }),
      grey: true,
    }));
    if (showGradients)
      planes(
        row(inputBlock, '∂L/∂x: how each pixel would change the loss'),
        inspection.input.shape,
        'input gradient',
        (o, n) => ({
          values: slice((i) => i.input.grad, o, n),
          place: (cell) => ({ of: 'inputGrad', index: o + cell }),
        }),
      );
    inspection.layers.forEach((layer, k) => {
      const name = playground.layerName(inspection, k);
      const shape = layer.shape;
      const el = block(`${name}: ${shape.join('×')}`);
      planes(row(el, shape.length === 3 ? 'feature maps' : 'values'), shape, `${name} map`, (o, n) => ({
        values: slice((i) => i.layers[k].values, o, n),
        place: (cell) => ({ of: 'value', layer: k, index: o + cell }),
      }));
      if (layer.routes && showGradients) {
        const input = k === 0 ? inspection.input.shape : inspection.layers[k - 1].shape;
        planes(
          row(el, 'routes: the inputs that won their window (the others faint)'),
          input,
          `${name} routes`,
          (o, n) => ({
            values: slice((i) => (k === 0 ? i.input.values : i.layers[k - 1].values), o, n),
            place: (cell) =>
              k === 0 ? { of: 'inputGrad', index: o + cell } : { of: 'grad', layer: k - 1, index: o + cell },
            faint: (i) => {
              const won = new Set<number>();
              for (const r of i.layers[k].routes ?? []) if (r >= o && r < o + n) won.add(r - o);
              const lost = new Set<number>();
              for (let c = 0; c < n; c++) if (!won.has(c)) lost.add(c);
              return lost;
            },
          }),
        );
      }
      if (showGradients)
        planes(row(el, `∂L/∂ ${name} output`), shape, `${name} gradient`, (o, n) => ({
          values: slice((i) => i.layers[k].grad, o, n),
          place: (cell) => ({ of: 'grad', layer: k, index: o + cell }),
        }));
      const w = layer.weight;
      if (w && w.shape.length === 4) {
        const [out, inPer, kh, kw] = w.shape;
        const kernels = (grad: boolean) => {
          const r = row(
            el,
            grad ? 'kernel gradients ∂L/∂w (Σ patch·δ)' : `kernels (${out} × ${inPer} of ${kh}×${kw})`,
          );
          for (let q = 0; q < out * inPer; q++) {
            const o = q * kh * kw;
            this.add(
              r,
              {
                height: kh,
                width: kw,
                values: slice(
                  (i) => (grad ? i.layers[k].weight!.grad : i.layers[k].weight!.values),
                  o,
                  kh * kw,
                ),
                place: (cell) => ({ of: grad ? 'weightGrad' : 'weight', layer: k, index: o + cell }),
              },
              `${name} kernel ${Math.floor(q / inPer)}, channel ${q % inPer}${grad ? ' gradient' : ''}`,
            );
          }
        };
        kernels(false);
        if (showGradients) kernels(true);
      }
    });
    this.root.replaceChildren(...blocks);
  }

  private add(parent: HTMLElement, picture: Omit<Picture, 'canvas'>, label: string): void {
    const canvas = document.createElement('canvas');
    canvas.width = picture.width;
    canvas.height = picture.height;
    canvas.className = 'map';
    const z = zoom(Math.max(picture.width > 40 ? 8 : picture.width, picture.height));
    canvas.style.width = `${picture.width * z}px`;
    canvas.style.height = `${picture.height * z}px`;
    canvas.tabIndex = 0;
    canvas.setAttribute('role', 'img');
    canvas.setAttribute('aria-label', `${label}: arrow keys move between cells`);
    const p: Picture = { ...picture, canvas };
    this.pictures.push(p);
    const cellAt = (e: MouseEvent) => {
      const r = canvas.getBoundingClientRect();
      const col = Math.min(p.width - 1, Math.max(0, Math.floor(((e.clientX - r.left) / r.width) * p.width)));
      const rw = Math.min(p.height - 1, Math.max(0, Math.floor(((e.clientY - r.top) / r.height) * p.height)));
      return rw * p.width + col;
    };
    canvas.addEventListener('mousemove', (e) => this.hover(p, cellAt(e), e.clientX + 14, e.clientY + 14));
    canvas.addEventListener('mouseleave', () => this.leave());
    let cursor = 0;
    const atCursor = () => {
      const r = canvas.getBoundingClientRect();
      this.hover(p, cursor, r.right + 8, r.top);
    };
    canvas.addEventListener('focus', atCursor);
    canvas.addEventListener('blur', () => this.leave());
    canvas.addEventListener('keydown', (e) => {
      const moves: Record<string, number> = {
        ArrowLeft: -1,
        ArrowRight: 1,
        ArrowUp: -p.width,
        ArrowDown: p.width,
      };
      if (!(e.key in moves)) return;
      e.preventDefault();
      const next = cursor + moves[e.key];
      if (next >= 0 && next < p.width * p.height) cursor = next;
      atCursor();
    });
    parent.append(canvas);
  }

  /**
   * Show the card of a cell that is not in a picture (a probability of the prediction list) while the
   * pointer is over `target` or it has the focus.
   */
  attach(target: HTMLElement, place: playground.CellPlace): void {
    const picture: Picture = {
      canvas: target as unknown as HTMLCanvasElement,
      height: 1,
      width: 1,
      values: () => [],
      place: () => place,
    };
    target.addEventListener('mousemove', (e) => this.hover(picture, 0, e.clientX + 14, e.clientY + 14));
    target.addEventListener('mouseleave', () => this.leave());
    target.addEventListener('focus', () => {
      const r = target.getBoundingClientRect();
      this.hover(picture, 0, r.right + 8, r.top);
    });
    target.addEventListener('blur', () => this.leave());
  }

  private hover(p: Picture, cell: number, x: number, y: number): void {
    this.hovered = { picture: p, cell, x, y };
    this.showCard(p, cell, x, y);
  }

  private leave(): void {
    this.hovered = null;
    this.card.hidden = true;
  }

  private showCard(p: Picture, cell: number, x: number, y: number): void {
    if (!this.inspection) return;
    const e = playground.explainCell(this.inspection, p.place(cell));
    const lines = [
      el('div', 'title', e.title),
      el('div', 'value', String(e.value)),
      el('code', 'formula', e.formula),
    ];
    if (e.terms)
      lines.push(
        el('code', 'terms', `= ${e.terms}${Number.isNaN(e.recomputed) ? '' : ` = ${e.recomputed}`}`),
      );
    this.card.replaceChildren(...lines);
    this.card.dataset.value = String(e.value);
    this.card.hidden = false;
    const w = this.card.offsetWidth;
    this.card.style.left = `${Math.max(4, Math.min(x, window.innerWidth - w - 8))}px`;
    this.card.style.top = `${Math.max(4, Math.min(y, window.innerHeight - this.card.offsetHeight - 8))}px`;
  }
}

function el(tag: string, className: string, text: string): HTMLElement {
  const e = document.createElement(tag);
  e.className = className;
  e.textContent = text;
  return e;
}
