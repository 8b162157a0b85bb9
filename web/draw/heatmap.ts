// The output heatmap with the data drawn over it, and the small pictures of the datasets.
import type { playground } from '../lib.js';
import { cssOf, paintGrid } from './colors.js';

/** Where a point of the domain lands on a canvas of `size` pixels. */
function toPixel(v: number, domain: readonly [number, number], size: number, flip: boolean): number {
  const t = (v - domain[0]) / (domain[1] - domain[0]);
  return (flip ? 1 - t : t) * size;
}

/** Draw points as dots coloured by their value, outlined white (training) or black (test). */
export function drawPoints(
  ctx: CanvasRenderingContext2D,
  points: playground.Points,
  domain: readonly [number, number],
  size: number,
  options: { radius: number; outline: string | null },
): void {
  for (let i = 0; i < points.y.length; i++) {
    const x = toPixel(points.x1[i], domain, size, false);
    const y = toPixel(points.x2[i], domain, size, true);
    ctx.beginPath();
    ctx.arc(x, y, options.radius, 0, 2 * Math.PI);
    ctx.fillStyle = cssOf(points.y[i]);
    ctx.fill();
    if (options.outline) {
      ctx.lineWidth = 1;
      ctx.strokeStyle = options.outline;
      ctx.stroke();
    }
  }
}

/** The big heatmap: the model's output over the domain, and the training (and test) points on top. */
export class Heatmap {
  private readonly values: HTMLCanvasElement;
  private readonly overlay: HTMLCanvasElement;
  private data: { train: playground.Points; test: playground.Points } | null = null;
  private showTest = false;

  constructor(
    root: HTMLElement,
    private readonly domain: readonly [number, number],
  ) {
    this.values = root.querySelector('#heatmap-values') as HTMLCanvasElement;
    this.overlay = root.querySelector('#heatmap-points') as HTMLCanvasElement;
  }

  /** The output grid of the latest frame. */
  drawValues(grid: Float32Array, density: number, discretize: boolean): void {
    paintGrid(this.values, grid, 0, density, discretize);
  }

  /** The points to draw; redrawn only when they or the test toggle change. */
  setPoints(data: { train: playground.Points; test: playground.Points } | null, showTest: boolean): void {
    if (data === this.data && showTest === this.showTest) return;
    this.data = data;
    this.showTest = showTest;
    const ctx = this.overlay.getContext('2d');
    if (!ctx) return;
    const size = this.overlay.width;
    ctx.clearRect(0, 0, size, size);
    if (!data) return;
    // A single point (the seed's sample) is drawn larger, so it can be found.
    const radius = data.train.y.length === 1 ? 6 : 3;
    drawPoints(ctx, data.train, this.domain, size, { radius, outline: 'white' });
    if (showTest) drawPoints(ctx, data.test, this.domain, size, { radius, outline: 'black' });
  }

  /** The domain point under a pointer event on the heatmap. */
  pointAt(event: MouseEvent): { x1: number; x2: number } {
    const box = this.overlay.getBoundingClientRect();
    const [lo, hi] = this.domain;
    const tx = (event.clientX - box.left) / box.width;
    const ty = (event.clientY - box.top) / box.height;
    return { x1: lo + tx * (hi - lo), x2: hi - ty * (hi - lo) };
  }
}

/** A dataset's picture: its points on a small canvas. */
export function drawThumbnail(
  canvas: HTMLCanvasElement,
  points: playground.Points,
  domain: readonly [number, number],
): void {
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  const size = canvas.width;
  ctx.fillStyle = 'white';
  ctx.fillRect(0, 0, size, size);
  drawPoints(ctx, points, domain, size, { radius: points.y.length === 1 ? 4 : 1.6, outline: null });
}
