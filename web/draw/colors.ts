// The colour scale of TensorFlow Playground: orange for −1, a light grey for 0, blue for +1, clamped.

type RGB = readonly [number, number, number];

const NEGATIVE: RGB = [245, 147, 34];
const ZERO: RGB = [232, 234, 235];
const POSITIVE: RGB = [8, 119, 189];

/** The colour of a value in [−1, 1] (clamped); discretized, only the two ends. */
export function rgbOf(v: number, discretize = false): RGB {
  if (v !== v) return ZERO;
  if (discretize) return v >= 0 ? POSITIVE : NEGATIVE;
  const t = Math.max(-1, Math.min(1, v));
  const [a, b] = t < 0 ? [ZERO, NEGATIVE] : [ZERO, POSITIVE];
  const s = Math.abs(t);
  return [a[0] + (b[0] - a[0]) * s, a[1] + (b[1] - a[1]) * s, a[2] + (b[2] - a[2]) * s];
}

/** The CSS colour of a value. */
export function cssOf(v: number, discretize = false): string {
  const [r, g, b] = rgbOf(v, discretize);
  return `rgb(${r | 0}, ${g | 0}, ${b | 0})`;
}

/** The colours of a link by the sign of its weight. */
export const LINK_POSITIVE = 'rgb(8, 119, 189)';
export const LINK_NEGATIVE = 'rgb(245, 147, 34)';

/**
 * Paint `density`² values (from `values[offset]` on, rows from the top) into a canvas of that many pixels;
 * CSS scales it up.
 */
export function paintGrid(
  canvas: HTMLCanvasElement,
  values: Float32Array,
  offset: number,
  density: number,
  discretize: boolean,
): void {
  if (canvas.width !== density) canvas.width = canvas.height = density;
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  const image = ctx.createImageData(density, density);
  const px = image.data;
  for (let i = 0; i < density * density; i++) {
    const [r, g, b] = rgbOf(values[offset + i], discretize);
    px[4 * i] = r;
    px[4 * i + 1] = g;
    px[4 * i + 2] = b;
    px[4 * i + 3] = 255;
  }
  ctx.putImageData(image, 0, 0);
}
