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

/** One canvas per head and layer: row t = query position, column s = key position. */
export function drawAttention(container: HTMLElement, maps: playground.AttentionMaps, tip: Tip): void {
  container.replaceChildren();
  const L = maps.tokens.length;
  const labels = maps.tokens.map(showChar);
  maps.layers.forEach((layer, l) => {
    const row = document.createElement('div');
    row.className = 'attention-layer';
    const title = document.createElement('h4');
    title.textContent = `Block ${l + 1}`;
    row.append(title);
    layer.forEach((head, h) => {
      const figure = document.createElement('figure');
      const canvas = document.createElement('canvas');
      const side = CELL * L + CELL;
      canvas.width = side;
      canvas.height = side;
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
      for (let t = 0; t < L; t++)
        for (let s = 0; s < L; s++) {
          ctx.fillStyle = s > t ? '#eee' : heat(head.weights[t * L + s]);
          ctx.fillRect(CELL * (s + 1), CELL * (t + 1), CELL - 1, CELL - 1);
        }
      const card = (t: number, s: number) => {
        const where = `block ${l + 1}, head ${h + 1}: query ${t} '${labels[t]}' → key ${s} '${labels[s]}'`;
        if (s > t) return `<b>${where}</b><br>masked (causal: key after query): score −∞, weight 0`;
        let row = '';
        for (let j = 0; j <= t; j++)
          row += `${j === s ? '<b>' : ''}${fmt(head.scores[t * L + j], 2)}${j === s ? '</b>' : ''} `;
        return (
          `<b>${where}</b><br>weight a = softmax<sub>s′≤t</sub>(q<sub>t</sub>·k<sub>s′</sub>/√d)<sub>s</sub> = <b>${fmt(head.weights[t * L + s])}</b>` +
          `<br>score q<sub>t</sub>·k<sub>s</sub>/√d = ${fmt(head.scores[t * L + s])} (d = ${maps.headDim}, √d = ${fmt(Math.sqrt(maps.headDim), 3)})` +
          `<br>row t's scores: ${row}`
        );
      };
      const cell = (e: MouseEvent) => {
        const r = canvas.getBoundingClientRect();
        return [Math.floor((e.clientY - r.top) / CELL) - 1, Math.floor((e.clientX - r.left) / CELL) - 1];
      };
      canvas.addEventListener('mousemove', (e) => {
        const [t, s] = cell(e);
        if (t < 0 || s < 0 || t >= L || s >= L) return tip.hide();
        tip.show(card(t, s), e.clientX, e.clientY);
      });
      canvas.addEventListener('mouseleave', () => tip.hide());
      let at = [L - 1, 0];
      const focusCell = () => {
        const r = canvas.getBoundingClientRect();
        tip.show(card(at[0], at[1]), r.left + CELL * (at[1] + 1), r.top + CELL * (at[0] + 1));
      };
      canvas.addEventListener('focus', focusCell);
      canvas.addEventListener('blur', () => tip.hide());
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
      const caption = document.createElement('figcaption');
      caption.textContent = `head ${h + 1}`;
      figure.append(canvas, caption);
      row.append(figure);
    });
    container.append(row);
  });
}

/** One bar per input position: the norm of the gradient at its token embedding; the vector on hover. */
export function drawGradients(container: HTMLElement, g: playground.EmbeddingGradients, tip: Tip): void {
  container.replaceChildren();
  const max = Math.max(...g.norms, 1e-300);
  g.tokens.forEach((token, t) => {
    const item = document.createElement('div');
    item.className = 'grad-token';
    item.tabIndex = 0;
    item.dataset.norm = String(g.norms[t]);
    const bar = document.createElement('div');
    bar.className = 'grad-bar';
    bar.style.height = `${Math.max(1, (80 * g.norms[t]) / max)}px`;
    const label = document.createElement('span');
    label.textContent = showChar(token);
    item.append(bar, label);
    item.setAttribute('aria-label', `position ${t} '${showChar(token)}': gradient norm ${fmt(g.norms[t])}`);
    const vector = Array.from(g.vectors.subarray(t * g.embed, (t + 1) * g.embed), (v) => fmt(v, 5));
    const card =
      `<b>position ${t}: '${showChar(token)}' predicting '${showChar(g.targets[t])}'</b>` +
      `<br>‖∂L/∂e<sub>${t}</sub>‖ = <b>${fmt(g.norms[t])}</b>, where e<sub>${t}</sub> = tok['${showChar(token)}'] ` +
      `and L = mean over positions of −log softmax(logits)<sub>next</sub> = ${fmt(g.loss)}` +
      `<br>∂L/∂e<sub>${t}</sub> = [${vector.join(', ')}]`;
    const show = (x: number, y: number) => tip.show(card, x, y);
    item.addEventListener('mousemove', (e) => show(e.clientX, e.clientY));
    item.addEventListener('mouseleave', () => tip.hide());
    item.addEventListener('focus', () => {
      const r = item.getBoundingClientRect();
      show(r.right, r.top);
    });
    item.addEventListener('blur', () => tip.hide());
    container.append(item);
  });
}
