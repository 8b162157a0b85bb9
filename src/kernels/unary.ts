/**
 * The elementwise unary ops, one entry each: the reference forward loop and, right below it, the
 * derivative loop (PyTorch's formula in PyTorch's order, so results keep their bits). An activation's
 * entry also says what the layers above need to know of it: its parameter (a spec field, carried to the
 * kernels as `p0`), its PyTorch module, its ONNX nodes and the derivative a learner derives by hand (the
 * teaching views' independent oracle). The reference kernels, the WebAssembly set, the layers, model specs,
 * ONNX export, the fused step, the trace, the command line and the playground read this table, so a new
 * op is one entry here plus what the compiler then names (its wasm body, its test cases).
 *
 * Kernels know nothing of tensors: loops over flat typed arrays, no allocation per element.
 */
import { erfc } from '../special.js';
import type { Storage } from './types.js';
// Portable elementary functions: the same bits in every JavaScript engine, so a run in a browser equals
// the same run in Node (Math.exp and friends differ in the last bit between engines).
import { exp, expm1, log, log1p, pow, tanh } from '../libm.js';
// Float32 data computes some ops in float32 arithmetic (`src/libm32.ts`), as the WebAssembly set does in
// f32x4 lanes with the same operations: four lanes instead of two and polynomials of float32 length.
import {
  exp32,
  expm1Neg32,
  gelu32,
  geluGrad32,
  log32,
  sigmoid32,
  silu32,
  siluGrad32,
  softplus32,
  softplusGrad32,
  tanh32,
} from '../libm32.js';

const SQRT1_2 = Math.SQRT1_2;
const INV_SQRT_2PI = 0.3989422804014327; // 1/√(2π)

/**
 * The elementwise activations (unary ops that are also layers), each with the name of its one parameter
 * (the field of its layer spec and module, passed to the kernels as `p0`), or null when it has none.
 */
export interface ActivationParams {
  sigmoid: null;
  tanh: null;
  relu: null;
  leakyRelu: 'slope';
  gelu: null;
  softplus: null;
  elu: 'alpha';
  silu: null;
}

/** The elementwise activations' op names. */
export type ActivationOp = keyof ActivationParams;

/** Elementwise unary operations; `p0`/`p1` carry the scalar parameters their entries name. */
export type UnaryOp =
  | ActivationOp
  | 'neg'
  | 'exp'
  | 'log'
  | 'sqrt'
  | 'abs'
  | 'pow' // p0 = exponent
  | 'clamp' // p0 = min, p1 = max
  | 'addScalar' // p0
  | 'mulScalar' // p0
  | 'divScalar' // x / p0 (not x · (1/p0), which rounds differently)
  | 'rsubScalar' // p0 - x
  | 'rdivScalar'; // p0 / x

/** out[i] = op(x[i]). */
export type UnaryForward = (x: Storage, out: Storage, p0: number, p1: number) => void;

/**
 * out[i] = g[i] · op'(x[i]) given the input x and the forward output y (whichever the derivative is
 * cheaper from).
 */
export type UnaryGrad = (x: Storage, y: Storage, g: Storage, out: Storage, p0: number, p1: number) => void;

/**
 * Where an activation's ONNX nodes go: `onnx.ts` hands each entry one of these, scoped to the layer, so
 * the table needs nothing of the exporter but this.
 */
export interface OnnxNodes {
  /** The model's element type: onnxruntime runs some ops in float32 only, so double models compose. */
  readonly dtype: 'float32' | 'float64';
  /** Add a node with one output; returns the output's name. */
  node(
    op: string,
    inputs: string[],
    attributes?: ({ name: string; float: number } | { name: string; int: number })[],
  ): string;
  /** A scalar constant of the model's dtype. */
  scalar(value: number): string;
  /** A Cast node to the given element type. */
  cast(x: string, to: 'float32' | 'float64'): string;
}

/** An activation's parameter, by name with PyTorch's default; null for one without (distributes over K). */
export type ParamOf<K extends ActivationOp> = K extends ActivationOp
  ? ActivationParams[K] extends string
    ? { readonly name: ActivationParams[K]; readonly default: number }
    : null
  : never;

/** What the layers above the kernels need to know of an activation. */
export interface ActivationInfo<K extends ActivationOp = ActivationOp> {
  /** PyTorch's module name, which is also ours (`nn.SiLU`). */
  readonly module: string;
  /**
   * Its one parameter, if any: the field of its layer spec and module (passed to the kernels as `p0`) and
   * PyTorch's default. Without one, `p0` is 0.
   */
  readonly param: ParamOf<K>;
  /** The ONNX nodes computing it from `x`; returns the output's name. */
  onnx(g: OnnxNodes, x: string, p: number): string;
  /**
   * The local derivative da/dz at pre-activation `z` with activation value `a`, as a learner derives it
   * (written apart from `grad` on purpose: the trace checks autograd against it), and its formula in the
   * unit's names.
   */
  readonly trace: {
    derivative(z: number, a: number, p: number): number;
    formula(z: string, a: string, p: number): string;
  };
}

/** One unary op: forward and derivative, and for an activation, what the layers need to know. */
export type UnaryEntry<K extends UnaryOp> = {
  readonly forward: UnaryForward;
  readonly grad: UnaryGrad;
} & (K extends ActivationOp ? { readonly activation: ActivationInfo<K> } : { readonly activation?: never });

/** Every unary op, typed over the union so none can be missed. */
export const UNARY: { readonly [K in UnaryOp]: UnaryEntry<K> } = {
  neg: {
    forward: (x, out) => {
      for (let i = 0; i < x.length; i++) out[i] = -x[i];
    },
    grad: (_x, _y, g, out) => {
      for (let i = 0; i < g.length; i++) out[i] = -g[i];
    },
  },
  exp: {
    forward: (x, out) => {
      if (x instanceof Float32Array) for (let i = 0; i < x.length; i++) out[i] = exp32(x[i]);
      else for (let i = 0; i < x.length; i++) out[i] = exp(x[i]);
    },
    grad: (_x, y, g, out) => {
      for (let i = 0; i < g.length; i++) out[i] = g[i] * y[i];
    },
  },
  log: {
    forward: (x, out) => {
      if (x instanceof Float32Array) for (let i = 0; i < x.length; i++) out[i] = log32(x[i]);
      else for (let i = 0; i < x.length; i++) out[i] = log(x[i]);
    },
    grad: (x, _y, g, out) => {
      for (let i = 0; i < g.length; i++) out[i] = g[i] / x[i];
    },
  },
  sqrt: {
    forward: (x, out) => {
      for (let i = 0; i < x.length; i++) out[i] = Math.sqrt(x[i]);
    },
    grad: (_x, y, g, out) => {
      for (let i = 0; i < g.length; i++) out[i] = g[i] / (2 * y[i]);
    },
  },
  abs: {
    forward: (x, out) => {
      for (let i = 0; i < x.length; i++) out[i] = Math.abs(x[i]);
    },
    // x = 0: subgradient 0, as PyTorch.
    grad: (x, _y, g, out) => {
      for (let i = 0; i < g.length; i++) {
        const v = x[i];
        out[i] = v > 0 ? g[i] : v < 0 ? -g[i] : 0;
      }
    },
  },
  sigmoid: {
    forward: (x, out) => {
      if (x instanceof Float32Array) for (let i = 0; i < x.length; i++) out[i] = sigmoid32(x[i]);
      else for (let i = 0; i < x.length; i++) out[i] = 1 / (1 + exp(-x[i]));
    },
    grad: (_x, y, g, out) => {
      for (let i = 0; i < g.length; i++) out[i] = g[i] * (1 - y[i]) * y[i];
    },
    activation: {
      module: 'Sigmoid',
      param: null,
      onnx: (g, x) => g.node('Sigmoid', [x]),
      trace: { derivative: (_z, a) => a * (1 - a), formula: (_z, a) => `${a} * (1 - ${a})` },
    },
  },
  tanh: {
    forward: (x, out) => {
      if (x instanceof Float32Array) for (let i = 0; i < x.length; i++) out[i] = tanh32(x[i]);
      else for (let i = 0; i < x.length; i++) out[i] = tanh(x[i]);
    },
    grad: (_x, y, g, out) => {
      for (let i = 0; i < g.length; i++) out[i] = g[i] * (1 - y[i] * y[i]);
    },
    activation: {
      module: 'Tanh',
      param: null,
      onnx: (g, x) => g.node('Tanh', [x]),
      trace: { derivative: (_z, a) => 1 - a * a, formula: (_z, a) => `1 - ${a}^2` },
    },
  },
  relu: {
    // NaN stays NaN, as PyTorch.
    forward: (x, out) => {
      for (let i = 0; i < x.length; i++) {
        const v = x[i];
        out[i] = v > 0 || v !== v ? v : 0;
      }
    },
    // x = 0: subgradient 0, as PyTorch.
    grad: (_x, y, g, out) => {
      for (let i = 0; i < g.length; i++) out[i] = y[i] > 0 ? g[i] : 0;
    },
    activation: {
      module: 'ReLU',
      param: null,
      onnx: (g, x) => g.node('Relu', [x]),
      trace: { derivative: (z) => (z > 0 ? 1 : 0), formula: (z) => `1 if ${z} > 0, else 0` },
    },
  },
  leakyRelu: {
    forward: (x, out, slope) => {
      for (let i = 0; i < x.length; i++) {
        const v = x[i];
        out[i] = v > 0 ? v : v * slope;
      }
    },
    grad: (x, _y, g, out, slope) => {
      for (let i = 0; i < g.length; i++) out[i] = x[i] > 0 ? g[i] : g[i] * slope;
    },
    activation: {
      module: 'LeakyReLU',
      param: { name: 'slope', default: 0.01 },
      onnx: (g, x, slope) => {
        if (g.dtype === 'float32') return g.node('LeakyRelu', [x], [{ name: 'alpha', float: slope }]);
        // onnxruntime has no double LeakyRelu, and its alpha attribute is a float32: compose it in double,
        // Relu(x) − slope·Relu(−x), which is x or slope·x exactly as the library computes it.
        const pos = g.node('Relu', [x]);
        const neg = g.node('Relu', [g.node('Neg', [x])]);
        return g.node('Sub', [pos, g.node('Mul', [neg, g.scalar(slope)])]);
      },
      trace: {
        derivative: (z, _a, slope) => (z > 0 ? 1 : slope),
        formula: (z, _a, slope) => `1 if ${z} > 0, else ${slope}`,
      },
    },
  },
  gelu: {
    // Φ(x) = erfc(−x/√2)/2 rather than (1 + erf(x/√2))/2: the latter cancels to 0 for x below about −8
    // (gelu(−10) ≈ −7.6e−23 would come out −0); the two agree to an ulp elsewhere.
    // Float32: the same Φ-based form in float32 arithmetic (gelu32, within 4 ulps; see src/libm32.ts).
    forward: (x, out) => {
      if (x instanceof Float32Array) for (let i = 0; i < x.length; i++) out[i] = gelu32(x[i]);
      else
        for (let i = 0; i < x.length; i++) {
          const v = x[i];
          out[i] = v * 0.5 * erfc(-v * SQRT1_2);
        }
    },
    grad: (x, _y, g, out) => {
      if (x instanceof Float32Array) {
        for (let i = 0; i < g.length; i++) out[i] = Math.fround(g[i] * geluGrad32(x[i]));
        return;
      }
      for (let i = 0; i < g.length; i++) {
        const v = x[i];
        // erfc for the same reason as in the forward.
        const cdf = 0.5 * erfc(-v * SQRT1_2);
        const pdf = exp(-0.5 * v * v) * INV_SQRT_2PI;
        out[i] = g[i] * (cdf + v * pdf);
      }
    },
    activation: {
      module: 'GELU',
      param: null,
      // 0.5·x·(1 + erf(x/√2)): opset 17 has Erf but not Gelu (opset 20). onnxruntime has no double Erf,
      // so a float64 model computes erf in float32 (relative error about 1e-7 in that term).
      onnx: (g, x) => {
        const scaled = g.node('Mul', [x, g.scalar(Math.SQRT1_2)]);
        const erf =
          g.dtype === 'float32'
            ? g.node('Erf', [scaled])
            : g.cast(g.node('Erf', [g.cast(scaled, 'float32')]), 'float64');
        const onePlus = g.node('Add', [erf, g.scalar(1)]);
        return g.node('Mul', [g.node('Mul', [x, g.scalar(0.5)]), onePlus]);
      },
      trace: {
        // Φ(z) + z·φ(z); erfc keeps Φ accurate far into the negative tail.
        derivative: (z) => 0.5 * erfc(-z * SQRT1_2) + z * Math.exp(-0.5 * z * z) * INV_SQRT_2PI,
        formula: (z) => `Φ(${z}) + ${z} * φ(${z})`,
      },
    },
  },
  softplus: {
    // max(x, 0) + log1p(exp(-|x|)): exact in both tails, where PyTorch switches to x above 20.
    forward: (x, out) => {
      if (x instanceof Float32Array) for (let i = 0; i < x.length; i++) out[i] = softplus32(x[i]);
      else
        for (let i = 0; i < x.length; i++) {
          const v = x[i];
          out[i] = v > 0 ? v + log1p(exp(-v)) : log1p(exp(v));
        }
    },
    // d/dx log(1 + eˣ) = σ(x), written so neither tail overflows.
    grad: (x, _y, g, out) => {
      if (x instanceof Float32Array) {
        for (let i = 0; i < g.length; i++) out[i] = softplusGrad32(x[i], g[i]);
        return;
      }
      for (let i = 0; i < g.length; i++) {
        const v = x[i];
        if (v >= 0) out[i] = g[i] / (1 + exp(-v));
        else {
          const e = exp(v);
          out[i] = (g[i] * e) / (1 + e);
        }
      }
    },
    activation: {
      module: 'Softplus',
      param: null,
      onnx: (g, x) => {
        if (g.dtype === 'float32') return g.node('Softplus', [x]);
        // In double, the library's stable form: max(x, 0) + log(1 + exp(−|x|)).
        const negAbs = g.node('Neg', [g.node('Abs', [x])]);
        const onePlus = g.node('Add', [g.node('Exp', [negAbs]), g.scalar(1)]);
        return g.node('Add', [g.node('Relu', [x]), g.node('Log', [onePlus])]);
      },
      trace: {
        // σ(z), in the form that cannot overflow on either side.
        derivative: (z) => (z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z))),
        formula: (z) => `sigmoid(${z})`,
      },
    },
  },
  elu: {
    // Float32: alpha rounded to float32, e^x − 1 by expm1Neg32 (src/libm32.ts), float32 arithmetic.
    forward: (x, out, alpha) => {
      if (x instanceof Float32Array) {
        const a = Math.fround(alpha);
        for (let i = 0; i < x.length; i++) {
          const v = x[i];
          out[i] = v > 0 ? v : a * expm1Neg32(v);
        }
        return;
      }
      for (let i = 0; i < x.length; i++) {
        const v = x[i];
        out[i] = v > 0 ? v : alpha * expm1(v);
      }
    },
    // x = 0 takes the exponential branch (slope alpha), as PyTorch.
    grad: (x, _y, g, out, alpha) => {
      if (x instanceof Float32Array) {
        const a = Math.fround(alpha);
        for (let i = 0; i < g.length; i++) {
          const v = x[i];
          out[i] = v > 0 ? g[i] : Math.fround(g[i] * a) * exp32(v);
        }
        return;
      }
      for (let i = 0; i < g.length; i++) {
        const v = x[i];
        out[i] = v > 0 ? g[i] : g[i] * alpha * exp(v);
      }
    },
    activation: {
      module: 'ELU',
      param: { name: 'alpha', default: 1 },
      onnx: (g, x, alpha) => {
        if (g.dtype === 'float32') return g.node('Elu', [x], [{ name: 'alpha', float: alpha }]);
        // In double: Relu(x) + alpha·(exp(min(x, 0)) − 1); min keeps exp from overflowing for large x.
        const neg = g.node('Min', [x, g.scalar(0)]);
        const em1 = g.node('Sub', [g.node('Exp', [neg]), g.scalar(1)]);
        return g.node('Add', [g.node('Relu', [x]), g.node('Mul', [em1, g.scalar(alpha)])]);
      },
      trace: {
        derivative: (z, _a, alpha) => (z > 0 ? 1 : alpha * Math.exp(z)),
        formula: (z, _a, alpha) => `1 if ${z} > 0, else ${alpha} * exp(${z})`,
      },
    },
  },
  silu: {
    // x·σ(x) as PyTorch's CPU kernel computes it: x / (1 + e⁻ˣ). Large negative x gives x/∞ = −0, as there.
    // Float32: silu32 (src/libm32.ts), the same form in float32 arithmetic.
    forward: (x, out) => {
      if (x instanceof Float32Array) for (let i = 0; i < x.length; i++) out[i] = silu32(x[i]);
      else
        for (let i = 0; i < x.length; i++) {
          const v = x[i];
          out[i] = v / (1 + exp(-v));
        }
    },
    // PyTorch's silu_backward: g·σ·(1 + x·(1 − σ)), σ = 1/(1 + e⁻ˣ), multiplied left to right. Float32:
    // siluGrad32, the same with 1 − σ as e⁻ˣ·σ for x > 0 (float32's σ rounds to 1 long before e⁻ˣ is 0).
    grad: (x, _y, g, out) => {
      if (x instanceof Float32Array) {
        for (let i = 0; i < g.length; i++) out[i] = siluGrad32(x[i], g[i]);
        return;
      }
      for (let i = 0; i < g.length; i++) {
        const v = x[i];
        const s = 1 / (1 + exp(-v));
        out[i] = g[i] * s * (1 + v * (1 - s));
      }
    },
    activation: {
      module: 'SiLU',
      param: null,
      // opset 17 has no SiLU/Swish op: x·Sigmoid(x), which onnxruntime fuses into its float-only QuickGelu;
      // so a double model spells out the kernel's x / (1 + exp(−x)), which it leaves alone.
      onnx: (g, x) => {
        if (g.dtype === 'float32') return g.node('Mul', [x, g.node('Sigmoid', [x])]);
        const onePlus = g.node('Add', [g.node('Exp', [g.node('Neg', [x])]), g.scalar(1)]);
        return g.node('Div', [x, onePlus]);
      },
      trace: {
        // d/dz z·σ(z) = σ(z) + z·σ(z)(1 − σ(z)) = σ(z)·(1 + z·(1 − σ(z))).
        derivative: (z) => {
          const s = 1 / (1 + Math.exp(-z));
          return s * (1 + z * (1 - s));
        },
        formula: (z) => `sigmoid(${z}) * (1 + ${z} * (1 - sigmoid(${z})))`,
      },
    },
  },
  pow: {
    forward: (x, out, e) => {
      const n = x.length;
      if (e === 2) for (let i = 0; i < n; i++) out[i] = x[i] * x[i];
      else for (let i = 0; i < n; i++) out[i] = pow(x[i], e);
    },
    grad: (x, _y, g, out, e) => {
      const n = g.length;
      if (e === 0) out.fill(0);
      else if (e === 2) for (let i = 0; i < n; i++) out[i] = g[i] * 2 * x[i];
      else for (let i = 0; i < n; i++) out[i] = g[i] * e * pow(x[i], e - 1);
    },
  },
  clamp: {
    forward: (x, out, lo, hi) => {
      for (let i = 0; i < x.length; i++) {
        const v = x[i];
        out[i] = v < lo ? lo : v > hi ? hi : v;
      }
    },
    // The bounds themselves pass the gradient, as PyTorch.
    grad: (x, _y, g, out, lo, hi) => {
      for (let i = 0; i < g.length; i++) {
        const v = x[i];
        out[i] = v >= lo && v <= hi ? g[i] : 0;
      }
    },
  },
  addScalar: {
    forward: (x, out, s) => {
      for (let i = 0; i < x.length; i++) out[i] = x[i] + s;
    },
    grad: (_x, _y, g, out) => out.set(g),
  },
  mulScalar: {
    forward: (x, out, s) => {
      for (let i = 0; i < x.length; i++) out[i] = x[i] * s;
    },
    grad: (_x, _y, g, out, s) => {
      for (let i = 0; i < g.length; i++) out[i] = g[i] * s;
    },
  },
  divScalar: {
    forward: (x, out, s) => {
      for (let i = 0; i < x.length; i++) out[i] = x[i] / s;
    },
    grad: (_x, _y, g, out, s) => {
      for (let i = 0; i < g.length; i++) out[i] = g[i] / s;
    },
  },
  rsubScalar: {
    forward: (x, out, s) => {
      for (let i = 0; i < x.length; i++) out[i] = s - x[i];
    },
    grad: (_x, _y, g, out) => {
      for (let i = 0; i < g.length; i++) out[i] = -g[i];
    },
  },
  rdivScalar: {
    forward: (x, out, s) => {
      for (let i = 0; i < x.length; i++) out[i] = s / x[i];
    },
    grad: (x, y, g, out) => {
      for (let i = 0; i < g.length; i++) out[i] = (-g[i] * y[i]) / x[i];
    },
  },
};

/** The activation ops, in the table's order (for choices and messages). */
export const ACTIVATION_OPS = (Object.keys(UNARY) as UnaryOp[]).filter(
  (op): op is ActivationOp => UNARY[op].activation !== undefined,
);

/** An activation's table entry (its `activation` part). */
export function activationInfo<K extends ActivationOp>(op: K): ActivationInfo<K> {
  return (UNARY[op] as UnaryEntry<ActivationOp>).activation as ActivationInfo<K>;
}

/** PyTorch's default for an activation's parameter (0 for one without). */
export function defaultParam(op: ActivationOp): number {
  return activationInfo(op).param?.default ?? 0;
}
