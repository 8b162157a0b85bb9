/**
 * The closed forms a learner derives by hand: each activation's local derivative (its entry in the unary
 * op table, `kernels/unary.ts`, holds it beside the kernels) and each loss's derivative with respect to
 * the output, as a value computed from the forward pass and as the formula that says how. The trace
 * multiplies these along the chain and compares the products with autograd, so they are written
 * independently of the ops' backward code on purpose.
 */
import { activationInfo } from '../kernels/unary.js';
import type { Notation, TraceActivation, TraceLoss } from './network.js';

/** dσ/dz at pre-activation `z` with activation value `a` (the derivative PyTorch uses at kinks). */
export function localDerivative(act: TraceActivation, param: number, z: number, a: number): number {
  return act === 'identity' ? 1 : activationInfo(act).trace.derivative(z, a, param);
}

/** How the local derivative is computed, in the names of the unit (`h1 * (1 - h1)`). */
export function localFormula(act: TraceActivation, param: number, z: string, a: string): string {
  return act === 'identity' ? '1' : activationInfo(act).trace.formula(z, a, param);
}

/** The activation applied to `z`, as a formula (`sigmoid(z_h1)`, `leakyRelu(z, 0.01)`; just `z` for identity). */
export function activationFormula(act: TraceActivation, param: number, z: string): string {
  if (act === 'identity') return z;
  return activationInfo(act).param ? `${act}(${z}, ${param})` : `${act}(${z})`;
}

/** What the loss function is, in the names of the output and target units (Σ_rows: over the batch). */
export function lossFormula(
  loss: TraceLoss,
  notation: Notation,
  rows: number,
  outputs: number,
  labels: Int32Array | null,
): string {
  const n = rows * outputs;
  const overRows = rows > 1 ? 'Σ_rows ' : '';
  switch (loss) {
    case 'mseHalfSum':
      if (notation === 'seed') return `0.5 * ${overRows}(output - y)^2`;
      return outputs === 1 ? `0.5 * ${overRows}(out_0 - y_0)^2` : `0.5 * ${overRows}Σ_j (out_j - y_j)^2`;
    case 'mse':
      return n === 1 ? '(out_0 - y_0)^2' : `${overRows}Σ_j (out_j - y_j)^2 / ${n}`;
    case 'bce': {
      const body =
        outputs === 1
          ? '(y_0 * log(out_0) + (1 - y_0) * log(1 - out_0))'
          : 'Σ_j (y_j * log(out_j) + (1 - y_j) * log(1 - out_j))';
      return `-${overRows}${body}${n > 1 ? ` / ${n}` : ''}`;
    }
    case 'crossEntropy': {
      if (labels && rows === 1) return `-log(softmax(out)_${labels[0]})`;
      const body = labels ? 'log(softmax(out)_label)' : 'Σ_j y_j * log(softmax(out)_j)';
      return `-${overRows}${body}${rows > 1 ? ` / ${rows}` : ''}`;
    }
    default:
      return loss satisfies never;
  }
}

/** d_loss/d_out_j as a formula in the unit's names. */
export function lossGradientFormula(
  loss: TraceLoss,
  out: string,
  y: string,
  j: number,
  rows: number,
  outputs: number,
): string {
  const n = rows * outputs;
  switch (loss) {
    case 'mseHalfSum':
      return `${out} - ${y}`;
    case 'mse':
      return n === 1 ? `2 * (${out} - ${y})` : `2 * (${out} - ${y}) / ${n}`;
    case 'bce':
      return `(${out} - ${y}) / (${out} * (1 - ${out})${n > 1 ? ` * ${n}` : ''})`;
    case 'crossEntropy':
      return `softmax(out)_${j} - ${y}${rows > 1 ? ` / ${rows}` : ''}`;
    default:
      return loss satisfies never;
  }
}

/**
 * d_loss/d_out for every row and output, from the outputs and the targets (one-hot rows for class
 * labels). Cross-entropy with probability rows that do not sum to 1 gets the general softmax·Σy − y.
 */
export function lossGradients(loss: TraceLoss, out: number[][], target: number[][]): number[][] {
  const rows = out.length;
  const n = rows * (out[0]?.length ?? 0);
  return out.map((o, r) => {
    const y = target[r];
    switch (loss) {
      case 'mseHalfSum':
        return o.map((v, j) => v - y[j]);
      case 'mse':
        return o.map((v, j) => (2 * (v - y[j])) / n);
      case 'bce':
        return o.map((v, j) => (v - y[j]) / (v * (1 - v) * n));
      case 'crossEntropy': {
        // Shifted by the largest logit so exp cannot overflow; the shift cancels in the ratio.
        const top = Math.max(...o);
        const e = o.map((v) => Math.exp(v - top));
        const total = e.reduce((s, v) => s + v, 0);
        const ySum = y.reduce((s, v) => s + v, 0);
        return e.map((v, j) => ((v / total) * ySum - y[j]) / rows);
      }
      default:
        return loss satisfies never;
    }
  });
}
