/**
 * What the Images page shows when a cell is hovered: the cell's number and the formula that made it —
 * the convolution's sum for a feature-map cell, Σ δ·patch for a kernel's gradient, the winning input of a
 * max-pool window, softmax for a probability — with its first terms in numbers and the sum recomputed from
 * them (`recomputed`, a check the tests hold to the library's value). All of it reads an {@link Inspection};
 * this is the one module to change when the per-layer trace (src/trace/) takes over the formulas.
 */
import { elementwiseOf, type LayerSpec } from '../nn/spec.js';
import { pair, type InspectedLayer, type Inspection } from './images-run.js';

/** Which cell: a value or gradient of the input, of a layer's output or of its weight or bias. */
export type CellPlace =
  | { of: 'input' | 'inputGrad' | 'probability'; index: number }
  | { of: 'value' | 'grad' | 'weight' | 'weightGrad' | 'bias' | 'biasGrad'; layer: number; index: number };

/** A hovered cell explained. */
export interface CellExplanation {
  /** The number shown in the cell. */
  value: number;
  /** What the cell is, with its position: `conv2d 1 map 3 [4, 7]`. */
  title: string;
  /** The formula in symbols. */
  formula: string;
  /** The first terms in numbers (`0.12·0.5 + …, 72 terms`), or '' when there is no sum. */
  terms: string;
  /** The formula evaluated from the shown numbers in float64 (NaN where the formula is not a sum). */
  recomputed: number;
}

type Conv = Extract<LayerSpec, { type: 'conv2d' }>;
type Pool = Extract<LayerSpec, { type: 'maxPool2d' | 'avgPool2d' }>;

/** A number as the cards show it. */
export function num(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  return a >= 1e4 || a < 1e-3 ? v.toExponential(3) : v.toPrecision(4).replace(/\.?0+$/, '');
}

/** Sum of products with the first terms written out. */
class Sum {
  total = 0;
  count = 0;
  private readonly shown: string[] = [];
  add(a: number, b: number): void {
    this.total += a * b;
    if (this.count++ < 4) this.shown.push(`${num(a)}·${num(b)}`);
  }
  addOne(a: number): void {
    this.total += a;
    if (this.count++ < 4) this.shown.push(num(a));
  }
  text(start = ''): string {
    const more = this.count > 4 ? ` + … (${this.count} terms)` : this.count === 0 ? '0 (no terms)' : '';
    return `${start}${this.shown.join(' + ')}${more}`;
  }
}

/** Padding of a convolution along both axes, 'same' and 'valid' resolved as PyTorch does. */
function convPadding(spec: Conv): [number, number] {
  if (spec.padding === 'valid') return [0, 0];
  if (spec.padding === 'same') {
    const [kh, kw] = pair(spec.kernel);
    const [dh, dw] = pair(spec.dilation);
    return [Math.floor((dh * (kh - 1)) / 2), Math.floor((dw * (kw - 1)) / 2)];
  }
  return pair(spec.padding);
}

/** Where (c, i, j) of a [C, H, W] layout is. */
function position(shape: readonly number[], index: number): string {
  if (shape.length !== 3) return `[${index}]`;
  const [, h, w] = shape;
  const c = Math.floor(index / (h * w));
  const r = index % (h * w);
  return `[${c}, ${Math.floor(r / w)}, ${r % w}]`;
}

function coords(shape: readonly number[], index: number): [number, number, number] {
  const [, h, w] = shape;
  const r = index % (h * w);
  return [Math.floor(index / (h * w)), Math.floor(r / w), r % w];
}

/** The geometry of a convolution or pooling window: the input index read by tap (u, v) of output (i, j). */
function tap(
  inShape: readonly number[],
  spec: Conv | Pool,
  channel: number,
  i: number,
  j: number,
  u: number,
  v: number,
): number {
  const [, ih, iw] = inShape;
  const [sh, sw] = pair(spec.stride);
  const [ph, pw] = spec.type === 'conv2d' ? convPadding(spec) : pair(spec.padding);
  const [dh, dw] = spec.type === 'avgPool2d' ? [1, 1] : pair(spec.dilation);
  const r = i * sh - ph + u * dh;
  const q = j * sw - pw + v * dw;
  return r < 0 || q < 0 || r >= ih || q >= iw ? -1 : (channel * ih + r) * iw + q;
}

/** The name of layer `k` of an inspection as the page writes it: its type and its rank among its type. */
export function layerName(inspection: Inspection, k: number): string {
  const type = inspection.layers[k].spec.type;
  const rank = inspection.layers.slice(0, k + 1).filter((l) => l.spec.type === type).length;
  return `${type} ${rank}`;
}

/** The input of layer `k` (the image for the first) with its gradient. */
function inputOf(
  inspection: Inspection,
  k: number,
): { shape: number[]; values: Float64Array; grad: Float64Array } {
  return k === 0 ? inspection.input : inspection.layers[k - 1];
}

/** Explain one cell of an inspection (see {@link CellPlace}). */
export function explainCell(inspection: Inspection, place: CellPlace): CellExplanation {
  switch (place.of) {
    case 'input': {
      const value = inspection.input.values[place.index];
      return {
        value,
        title: `input x${position(inspection.input.shape, place.index)}`,
        formula: 'x = pixel / maxValue (the image as the network sees it)',
        terms: '',
        recomputed: value,
      };
    }
    case 'probability': {
      const p = inspection.probabilities;
      const logits = inspection.layers[inspection.layers.length - 1].values;
      let max = -Infinity;
      for (const z of logits) max = Math.max(max, z);
      const sum = new Sum();
      for (const z of logits) sum.addOne(Math.exp(z - max));
      const j = place.index;
      return {
        value: p[j],
        title: `probability of class ${j}`,
        formula: `p_${j} = e^{z_${j}} / Σ_k e^{z_k}   (z: the logits; computed as e^{z − max z})`,
        terms: `e^{${num(logits[j])} − ${num(max)}} / (${sum.text()})`,
        recomputed: Math.exp(logits[j] - max) / sum.total,
      };
    }
    case 'inputGrad':
      return gradient(inspection, -1, place.index);
    case 'grad':
      return gradient(inspection, place.layer, place.index);
    case 'value':
      return value(inspection, place.layer, place.index);
    case 'weight':
    case 'bias': {
      const l = inspection.layers[place.layer];
      const p = place.of === 'weight' ? l.weight : l.bias;
      if (!p) throw new RangeError(`explainCell: layer ${place.layer} has no ${place.of}`);
      const v = p.values[place.index];
      const where =
        place.of === 'weight' && p.shape.length === 4
          ? kernelPosition(p.shape, place.index)
          : `[${place.index}]`;
      return {
        value: v,
        title: `${layerName(inspection, place.layer)} ${place.of} ${where}`,
        formula: `${place.of === 'weight' ? 'w' : 'b'}${where}: a parameter, changed by every optimizer step`,
        terms: '',
        recomputed: v,
      };
    }
    case 'weightGrad':
    case 'biasGrad':
      return parameterGradient(inspection, place.layer, place.of === 'weightGrad', place.index);
    default:
      return place satisfies never;
  }
}

function kernelPosition(shape: readonly number[], index: number): string {
  const [, i, kh, kw] = shape;
  const per = i * kh * kw;
  const o = Math.floor(index / per);
  const [k, u, v] = coords([i, kh, kw], index % per);
  return `[${o}, ${k}, ${u}, ${v}]`;
}

/** A layer's output cell: the forward formula of its layer type. */
function value(inspection: Inspection, k: number, index: number): CellExplanation {
  const layer = inspection.layers[k];
  const input = inputOf(inspection, k);
  const v = layer.values[index];
  const title = `${layerName(inspection, k)} output${position(layer.shape, index)}`;
  const spec = layer.spec;
  const act = elementwiseOf(spec);
  if (act) {
    const z = input.values[index];
    const relu = act.op === 'relu';
    return {
      value: v,
      title,
      formula: relu ? 'a = relu(z) = max(0, z)' : `a = ${act.op}(z)`,
      terms: `z = ${num(z)}`,
      recomputed: relu ? Math.max(0, z) : NaN,
    };
  }
  switch (spec.type) {
    case 'conv2d': {
      const [o, i, j] = coords(layer.shape, index);
      const w = layer.weight!;
      const [, inPer, kh, kw] = w.shape;
      const group = Math.floor(o / (spec.out / spec.groups));
      const bias = layer.bias ? layer.bias.values[o] : 0;
      const sum = new Sum();
      for (let c = 0; c < inPer; c++)
        for (let u = 0; u < kh; u++)
          for (let s = 0; s < kw; s++) {
            const at = tap(input.shape, spec, group * inPer + c, i, j, u, s);
            if (at >= 0) sum.add(w.values[((o * inPer + c) * kh + u) * kw + s], input.values[at]);
          }
      const [sh] = pair(spec.stride);
      const ij = sh === 1 ? `${i}+u, ${j}+v` : `${sh * i}+u, ${sh * j}+v`;
      return {
        value: v,
        title,
        formula: `z[${o}, ${i}, ${j}] = b[${o}] + Σ_{c<${inPer}, u<${kh}, v<${kw}} w[${o}, c, u, v]·x[c, ${ij}]${convPadding(spec)[0] ? ' (x = 0 in the padding)' : ''}`,
        terms: `${num(bias)} + ${sum.text()}`,
        recomputed: bias + sum.total,
      };
    }
    case 'maxPool2d': {
      const route = layer.routes ? layer.routes[index] : -1;
      const [kh, kw] = pair(spec.kernel);
      return {
        value: v,
        title,
        formula: `max of the ${kh}×${kw} window; the winner routes the whole gradient back`,
        terms:
          route >= 0
            ? `won by ${k === 0 ? 'x' : layerName(inspection, k - 1)}${position(input.shape, route)} = ${num(input.values[route])}`
            : '',
        recomputed: route >= 0 ? input.values[route] : NaN,
      };
    }
    case 'avgPool2d': {
      const [c, i, j] = coords(layer.shape, index);
      const [kh, kw] = pair(spec.kernel);
      const sum = new Sum();
      for (let u = 0; u < kh; u++)
        for (let s = 0; s < kw; s++) {
          const at = tap(input.shape, spec, c, i, j, u, s);
          if (at >= 0) sum.addOne(input.values[at]);
        }
      return {
        value: v,
        title,
        formula: `the mean of the ${kh}×${kw} window`,
        terms: `(${sum.text()}) / ${spec.countIncludePad ? kh * kw : sum.count}`,
        recomputed: sum.total / (spec.countIncludePad ? kh * kw : sum.count),
      };
    }
    case 'linear': {
      const w = layer.weight!;
      const out = spec.out;
      const bias = layer.bias ? layer.bias.values[index] : 0;
      const sum = new Sum();
      for (let i = 0; i < spec.in; i++) sum.add(input.values[i], w.values[i * out + index]);
      return {
        value: v,
        title: k === inspection.layers.length - 1 ? `logit z_${index}` : title,
        formula: `z_${index} = b_${index} + Σ_{i<${spec.in}} h_i·W[i, ${index}]`,
        terms: `${num(bias)} + ${sum.text()}`,
        recomputed: bias + sum.total,
      };
    }
    case 'flatten':
      return {
        value: v,
        title,
        formula: `the same number as ${layerName(inspection, k - 1)}${position(input.shape, index)}, laid out flat`,
        terms: '',
        recomputed: input.values[index],
      };
    default:
      return { value: v, title, formula: `the ${spec.type} layer's output`, terms: '', recomputed: NaN };
  }
}

/**
 * ∂L/∂(output of layer k) at `index` (k = −1: the input), written as the chain rule through the layer
 * that reads it (layer k + 1), or as p − onehot for the logits.
 */
function gradient(inspection: Inspection, k: number, index: number): CellExplanation {
  const layers = inspection.layers;
  const here = k < 0 ? inspection.input : layers[k];
  const g = here.grad[index];
  const name = k < 0 ? 'x' : layerName(inspection, k);
  const title = `∂L/∂${name}${position(here.shape, index)}`;
  if (k === layers.length - 1) {
    const hot = index === inspection.label ? 1 : 0;
    return {
      value: g,
      title: `∂L/∂z_${index} (the logit)`,
      formula: `∂L/∂z_j = p_j − [j = label]   (cross-entropy after softmax; label ${inspection.label})`,
      terms: `${num(inspection.probabilities[index])} − ${hot}`,
      recomputed: inspection.probabilities[index] - hot,
    };
  }
  const next: InspectedLayer = layers[k + 1];
  const spec = next.spec;
  const act = elementwiseOf(spec);
  if (act) {
    const z = here.values[index];
    const relu = act.op === 'relu';
    return {
      value: g,
      title,
      formula: relu
        ? `∂L/∂z = ∂L/∂a · [z > 0]   (relu passes the gradient where z > 0)`
        : `∂L/∂z = ∂L/∂a · ${act.op}′(z)`,
      terms: `${num(next.grad[index])} · ${relu ? (z > 0 ? 1 : 0) : `${act.op}′(${num(z)})`}`,
      recomputed: relu ? next.grad[index] * (z > 0 ? 1 : 0) : NaN,
    };
  }
  switch (spec.type) {
    case 'maxPool2d': {
      const sum = new Sum();
      next.routes?.forEach((r, o) => {
        if (r === index) sum.addOne(next.grad[o]);
      });
      return {
        value: g,
        title,
        formula: 'Σ of ∂L/∂(pool output) over the windows this cell won; 0 where it lost',
        terms: sum.count ? sum.text() : 'won no window: 0',
        recomputed: sum.total,
      };
    }
    case 'flatten':
      return {
        value: g,
        title,
        formula: `the gradient of the same number in ${layerName(inspection, k + 1)}`,
        terms: '',
        recomputed: next.grad[index],
      };
    case 'linear': {
      const w = next.weight!;
      const sum = new Sum();
      for (let j = 0; j < spec.out; j++) sum.add(w.values[index * spec.out + j], next.grad[j]);
      return {
        value: g,
        title,
        formula: `∂L/∂h_${index} = Σ_{j<${spec.out}} W[${index}, j]·∂L/∂z_j`,
        terms: sum.text(),
        recomputed: sum.total,
      };
    }
    case 'conv2d': {
      // Every output (o, i, j) and tap (u, v) that read this input cell.
      const w = next.weight!;
      const [, inPer, kh, kw] = w.shape;
      const [c] = coords(here.shape, index);
      const group = Math.floor(c / inPer);
      const outPer = spec.out / spec.groups;
      const [, oh, ow] = next.shape;
      const sum = new Sum();
      for (let o = group * outPer; o < (group + 1) * outPer; o++)
        for (let i = 0; i < oh; i++)
          for (let j = 0; j < ow; j++)
            for (let u = 0; u < kh; u++)
              for (let s = 0; s < kw; s++)
                if (tap(here.shape, spec, c, i, j, u, s) === index)
                  sum.add(
                    w.values[((o * inPer + (c - group * inPer)) * kh + u) * kw + s],
                    next.grad[(o * oh + i) * ow + j],
                  );
      return {
        value: g,
        title,
        formula: `∂L/∂x[c, p, q] = Σ_{o, u, v} w[o, c, u, v]·δ[o, p−u, q−v]   (δ = ∂L/∂ ${layerName(inspection, k + 1)}: a full convolution with the flipped kernels)`,
        terms: sum.text(),
        recomputed: sum.total,
      };
    }
    default:
      return { value: g, title, formula: `through the ${spec.type} layer`, terms: '', recomputed: NaN };
  }
}

/** A convolution's or Linear's ∂L/∂w or ∂L/∂b for the inspected step. */
function parameterGradient(
  inspection: Inspection,
  k: number,
  weight: boolean,
  index: number,
): CellExplanation {
  const layer = inspection.layers[k];
  const input = inputOf(inspection, k);
  const p = weight ? layer.weight : layer.bias;
  if (!p) throw new RangeError(`explainCell: layer ${k} has no ${weight ? 'weight' : 'bias'}`);
  const g = p.grad[index];
  const spec = layer.spec;
  const sum = new Sum();
  if (spec.type === 'conv2d') {
    const [, oh, ow] = layer.shape;
    if (!weight) {
      for (let n = 0; n < oh * ow; n++) sum.addOne(layer.grad[index * oh * ow + n]);
      return {
        value: g,
        title: `∂L/∂b[${index}] of ${layerName(inspection, k)}`,
        formula: `∂L/∂b[${index}] = Σ_{i, j} δ[${index}, i, j]   (δ = ∂L/∂ its output map)`,
        terms: sum.text(),
        recomputed: sum.total,
      };
    }
    const [, inPer, kh, kw] = p.shape;
    const per = inPer * kh * kw;
    const o = Math.floor(index / per);
    const [c, u, v] = coords([inPer, kh, kw], index % per);
    const group = Math.floor(o / (spec.out / spec.groups));
    for (let i = 0; i < oh; i++)
      for (let j = 0; j < ow; j++) {
        const at = tap(input.shape, spec, group * inPer + c, i, j, u, v);
        if (at >= 0) sum.add(layer.grad[(o * oh + i) * ow + j], input.values[at]);
      }
    return {
      value: g,
      title: `∂L/∂w${kernelPosition(p.shape, index)} of ${layerName(inspection, k)}`,
      formula: `∂L/∂w[${o}, ${c}, ${u}, ${v}] = Σ_{i, j} δ[${o}, i, j]·x[${c}, i+${u}, j+${v}]   (Σ patch·δ over every position the kernel visited)`,
      terms: sum.text(),
      recomputed: sum.total,
    };
  }
  if (spec.type === 'linear') {
    if (!weight)
      return {
        value: g,
        title: `∂L/∂b_${index} of ${layerName(inspection, k)}`,
        formula: `∂L/∂b_j = ∂L/∂z_j`,
        terms: num(layer.grad[index]),
        recomputed: layer.grad[index],
      };
    const i = Math.floor(index / spec.out);
    const j = index % spec.out;
    sum.add(input.values[i], layer.grad[j]);
    return {
      value: g,
      title: `∂L/∂W[${i}, ${j}] of ${layerName(inspection, k)}`,
      formula: `∂L/∂W[i, j] = h_i·∂L/∂z_j`,
      terms: sum.text(),
      recomputed: sum.total,
    };
  }
  return { value: g, title: `gradient of a ${spec.type} parameter`, formula: '', terms: '', recomputed: NaN };
}
