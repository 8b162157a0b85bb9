// The Text page's drawings: the loss chart, one heatmap per attention head and layer, and the gradient at
// each token's embedding. Numbers come from the worker; hovering (or focusing and using the arrow keys)
// shows them with the formula they come from. No math beyond scaling for display.
import type { playground } from './lib.js';

/** A character as the page shows it: a newline as ⏎, a space as ␣. */
export function showChar(ch: string): string {
  return ch === '\n' ? '⏎' : ch === ' ' ? '␣' : ch;
}

const fmt = (v: number, digits = 4) =>
  Math.abs(v) >= 1e-3 || v === 0 ? v.toFixed(digits) : v.toExponential(2);

/** The one hover card: placed next to the pointer or the focused cell. */
export class Tip {
  constructor(private readonly el: HTMLElement) {}

  show(html: string, x: number, y: number): void {
    this.el.innerHTML = html;
    this.el.hidden = false;
    const w = this.el.offsetWidth;
    const left = x + 14 + w > window.innerWidth ? x - w - 14 : x + 14;
    this.el.style.left = `${left + window.scrollX}px`;
    this.el.style.top = `${y + 14 + window.scrollY}px`;
  }

  hide(): void {
    this.el.hidden = true;
  }
}

/** The training loss (thin) and validation loss (dots and line) against the step. */
export function drawChart(canvas: HTMLCanvasElement, history: readonly playground.TextStats[]): void {
  const ctx = canvas.getContext('2d') as CanvasRenderingContext2D;
  const { width: W, height: H } = canvas;
  ctx.clearRect(0, 0, W, H);
  const train = history.filter((s) => s.loss !== null) as { step: number; loss: number }[];
  const val = history.filter((s) => s.valLoss !== undefined) as { step: number; valLoss: number }[];
  const values = [...train.map((s) => s.loss), ...val.map((s) => s.valLoss)];
  if (values.length === 0) return;
  const maxStep = Math.max(1, history[history.length - 1].step);
  const top = Math.max(...values);
  const bottom = Math.min(...values, top - 1e-9);
  const pad = 24;
  const x = (step: number) => pad + ((W - pad - 6) * step) / maxStep;
  const y = (v: number) => 6 + ((H - pad - 6) * (top - v)) / (top - bottom);
  ctx.strokeStyle = '#ccc';
  ctx.beginPath();
  ctx.moveTo(pad, 6);
  ctx.lineTo(pad, H - pad);
  ctx.lineTo(W - 6, H - pad);
  ctx.stroke();
  ctx.fillStyle = '#777';
  ctx.font = '11px system-ui, sans-serif';
  ctx.fillText(top.toFixed(2), 0, 14);
  ctx.fillText(bottom.toFixed(2), 0, H - pad);
  ctx.fillText(`step ${maxStep}`, W - 60, H - 8);
  const line = (points: [number, number][], colour: string, width: number) => {
    ctx.strokeStyle = colour;
    ctx.lineWidth = width;
    ctx.beginPath();
    points.forEach(([px, py], i) => (i === 0 ? ctx.moveTo(px, py) : ctx.lineTo(px, py)));
    ctx.stroke();
    ctx.lineWidth = 1;
  };
  line(
    train.map((s) => [x(s.step), y(s.loss)]),
    'rgba(8, 119, 189, 0.45)',
    1,
  );
  line(
    val.map((s) => [x(s.step), y(s.valLoss)]),
    'rgb(245, 147, 34)',
    2,
  );
}

/** A weight in 0…1 as a colour: white to the playground's blue. */
function heat(v: number): string {
  const t = Math.max(0, Math.min(1, v));
  return `rgb(${Math.round(255 - 247 * t)}, ${Math.round(255 - 136 * t)}, ${Math.round(255 - 66 * t)})`;
}

const CELL = 18;

/** Where the hover card of a view points: a cell or bar, and whether the pointer or the focus opened it. */
interface Open {
  render(): void;
}

/**
 * The attention heatmaps: one canvas per head and layer, row t = query position, column s = key position.
 * A new frame of the same prompt and model repaints the canvases in place, so keyboard focus and an open
 * card stay (the card shows the new numbers); another shape rebuilds them.
 */
export class AttentionView {
  private key = '';
  private maps: playground.AttentionMaps | null = null;
  private paints: (() => void)[] = [];
  private open: Open | null = null;

  constructor(
    private readonly container: HTMLElement,
    private readonly tip: Tip,
  ) {}

  clear(): void {
    this.container.replaceChildren();
    this.key = '';
    this.open = null;
  }

  update(maps: playground.AttentionMaps): void {
    const key = `${maps.tokens.join('')}|${maps.layers.map((l) => l.length).join(',')}`;
    this.maps = maps;
    if (key !== this.key) this.build(maps, key);
    for (const paint of this.paints) paint();
    this.open?.render();
  }

  private build(maps: playground.AttentionMaps, key: string): void {
    this.clear();
    this.key = key;
    this.paints = [];
    const L = maps.tokens.length;
    const labels = maps.tokens.map(showChar);
    maps.layers.forEach((layer, l) => {
      const row = document.createElement('div');
      row.className = 'attention-layer';
      const title = document.createElement('h4');
      title.textContent = `Block ${l + 1}`;
      row.append(title);
      layer.forEach((_, h) => {
        const figure = document.createElement('figure');
        const canvas = this.canvas(l, h, L, labels);
        const caption = document.createElement('figcaption');
        caption.textContent = `head ${h + 1}`;
        figure.append(canvas, caption);
        row.append(figure);
      });
      this.container.append(row);
    });
  }

  private head(l: number, h: number): playground.HeadAttention {
    return (this.maps as playground.AttentionMaps).layers[l][h];
  }

  private card(l: number, h: number, t: number, s: number, labels: string[]): string {
    const { weights, scores } = this.head(l, h);
    const L = labels.length;
    const d = (this.maps as playground.AttentionMaps).headDim;
    const where = `block ${l + 1}, head ${h + 1}: query ${t} '${labels[t]}' → key ${s} '${labels[s]}'`;
    if (s > t) return `<b>${where}</b><br>masked (causal: key after query): score −∞, weight 0`;
    let row = '';
    for (let j = 0; j <= t; j++)
      row += `${j === s ? '<b>' : ''}${fmt(scores[t * L + j], 2)}${j === s ? '</b>' : ''} `;
    return (
      `<b>${where}</b><br>weight a = softmax<sub>s′≤t</sub>(q<sub>t</sub>·k<sub>s′</sub>/√d)<sub>s</sub> = <b>${fmt(weights[t * L + s])}</b>` +
      `<br>score q<sub>t</sub>·k<sub>s</sub>/√d = ${fmt(scores[t * L + s])} (d = ${d}, √d = ${fmt(Math.sqrt(d), 3)})` +
      `<br>row t's scores: ${row}`
    );
  }

  private canvas(l: number, h: number, L: number, labels: string[]): HTMLCanvasElement {
    const canvas = document.createElement('canvas');
    canvas.width = CELL * L + CELL;
    canvas.height = CELL * L + CELL;
    canvas.tabIndex = 0;
    canvas.className = 'attn-map';
    canvas.dataset.layer = String(l);
    canvas.dataset.head = String(h);
    canvas.setAttribute(
      'aria-label',
      `Attention weights of block ${l + 1}, head ${h + 1}: arrow keys move between cells`,
    );
    const ctx = canvas.getContext('2d') as CanvasRenderingContext2D;
    ctx.font = '12px ui-monospace, monospace';
    ctx.textAlign = 'center';
    ctx.fillStyle = '#222';
    for (let i = 0; i < L; i++) {
      ctx.fillText(labels[i], CELL * (i + 1) + CELL / 2, 13);
      ctx.fillText(labels[i], CELL / 2, CELL * (i + 1) + 13);
    }
    this.paints.push(() => {
      const { weights } = this.head(l, h);
      for (let t = 0; t < L; t++)
        for (let s = 0; s < L; s++) {
          ctx.fillStyle = s > t ? '#eee' : heat(weights[t * L + s]);
          ctx.fillRect(CELL * (s + 1), CELL * (t + 1), CELL - 1, CELL - 1);
        }
    });
    const tip = this.tip;
    const close = () => {
      this.open = null;
      tip.hide();
    };
    canvas.addEventListener('mousemove', (e) => {
      const r = canvas.getBoundingClientRect();
      const t = Math.floor((e.clientY - r.top) / CELL) - 1;
      const s = Math.floor((e.clientX - r.left) / CELL) - 1;
      if (t < 0 || s < 0 || t >= L || s >= L) return close();
      const [x, y] = [e.clientX, e.clientY];
      this.open = { render: () => tip.show(this.card(l, h, t, s, labels), x, y) };
      this.open.render();
    });
    canvas.addEventListener('mouseleave', close);
    let at = [L - 1, 0];
    const focusCell = () => {
      this.open = {
        render: () => {
          const r = canvas.getBoundingClientRect();
          tip.show(
            this.card(l, h, at[0], at[1], labels),
            r.left + CELL * (at[1] + 1),
            r.top + CELL * (at[0] + 1),
          );
        },
      };
      this.open.render();
    };
    canvas.addEventListener('focus', focusCell);
    canvas.addEventListener('blur', close);
    canvas.addEventListener('keydown', (e) => {
      const moves: Record<string, [number, number]> = {
        ArrowUp: [-1, 0],
        ArrowDown: [1, 0],
        ArrowLeft: [0, -1],
        ArrowRight: [0, 1],
      };
      const m = moves[e.key];
      if (!m) return;
      e.preventDefault();
      at = [Math.max(0, Math.min(L - 1, at[0] + m[0])), Math.max(0, Math.min(L - 1, at[1] + m[1]))];
      focusCell();
    });
    return canvas;
  }
}

/**
 * One bar per input position: the norm of the gradient at its token embedding; the vector on hover or
 * focus. Like {@link AttentionView}, a new frame of the same prompt updates the bars in place.
 */
export class GradientView {
  private key = '';
  private grads: playground.EmbeddingGradients | null = null;
  private items: HTMLElement[] = [];
  private open: Open | null = null;

  constructor(
    private readonly container: HTMLElement,
    private readonly tip: Tip,
  ) {}

  clear(): void {
    this.container.replaceChildren();
    this.key = '';
    this.items = [];
    this.open = null;
  }

  update(g: playground.EmbeddingGradients): void {
    const key = `${g.tokens.join('')}|${g.embed}`;
    this.grads = g;
    if (key !== this.key) this.build(g, key);
    const max = Math.max(...g.norms, 1e-300);
    this.items.forEach((item, t) => {
      item.dataset.norm = String(g.norms[t]);
      (item.firstElementChild as HTMLElement).style.height = `${Math.max(1, (80 * g.norms[t]) / max)}px`;
      item.setAttribute(
        'aria-label',
        `position ${t} '${showChar(g.tokens[t])}': gradient norm ${fmt(g.norms[t])}`,
      );
    });
    this.open?.render();
  }

  private card(t: number): string {
    const g = this.grads as playground.EmbeddingGradients;
    const token = showChar(g.tokens[t]);
    const vector = Array.from(g.vectors.subarray(t * g.embed, (t + 1) * g.embed), (v) => fmt(v, 5));
    return (
      `<b>position ${t}: '${token}' predicting '${showChar(g.targets[t])}'</b>` +
      `<br>‖∂L/∂e<sub>${t}</sub>‖ = <b>${fmt(g.norms[t])}</b>, where e<sub>${t}</sub> = tok['${token}'] ` +
      `and L = mean over positions of −log softmax(logits)<sub>next</sub> = ${fmt(g.loss)}` +
      `<br>∂L/∂e<sub>${t}</sub> = [${vector.join(', ')}]`
    );
  }

  private build(g: playground.EmbeddingGradients, key: string): void {
    this.clear();
    this.key = key;
    const tip = this.tip;
    const close = () => {
      this.open = null;
      tip.hide();
    };
    this.items = g.tokens.map((token, t) => {
      const item = document.createElement('div');
      item.className = 'grad-token';
      item.tabIndex = 0;
      const bar = document.createElement('div');
      bar.className = 'grad-bar';
      const label = document.createElement('span');
      label.textContent = showChar(token);
      item.append(bar, label);
      item.addEventListener('mousemove', (e) => {
        const [x, y] = [e.clientX, e.clientY];
        this.open = { render: () => tip.show(this.card(t), x, y) };
        this.open.render();
      });
      item.addEventListener('mouseleave', close);
      item.addEventListener('focus', () => {
        this.open = {
          render: () => {
            const r = item.getBoundingClientRect();
            tip.show(this.card(t), r.right, r.top);
          },
        };
        this.open.render();
      });
      item.addEventListener('blur', close);
      this.container.append(item);
      return item;
    });
  }
}
