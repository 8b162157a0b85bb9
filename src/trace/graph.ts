/**
 * The computation graph of one training step: every tensor from the inputs and parameters to the loss,
 * with its value and its gradient after `backward()`, and a Graphviz DOT rendering of it. The graph is
 * the library's own (walked from the loss through each result's `GradNode`), so the picture shows what
 * autograd differentiates, op by op.
 */
import type { Sequential } from '../nn/layers.js';
import type { DType, NestedArray, Tensor } from '../tensor.js';
import { stepCopy, values } from './model.js';
import {
  isDenseNetwork,
  lossValue,
  copyNet,
  denseLayers,
  forward,
  inputTensor,
  namesFor,
  targetOf,
  traceLoss,
  type Notation,
  type TraceLoss,
  type TraceLossSpelling,
} from './network.js';

/** Options of `stepGraph`. */
export interface GraphOptions {
  /** The loss (default `'mseHalfSum'`). */
  loss?: TraceLossSpelling;
  /** Names for the tensors (default `'auto'`: the notebook's for its network). */
  notation?: Notation | 'auto';
  /** Precision (default float64). */
  dtype?: DType;
}

/** One tensor of the step's graph. */
export interface GraphNode {
  /** `n0`, `n1`, … in topological order (inputs before the results made from them). */
  id: string;
  /** Parameters, data (inputs and targets), other constants, op results, and the loss itself. */
  kind: 'parameter' | 'data' | 'constant' | 'op' | 'loss';
  /** The op that made it (`matmul`, `sigmoid`…), null for leaves. */
  op: string | null;
  /** The label the trace gave it (`hidden_output = [h1, h2]`, `L1.W`), or null. */
  name: string | null;
  shape: number[];
  value: number[];
  /** d_loss/d_tensor, or null where none flows (data, constants). */
  grad: number[] | null;
  /** Ids of the op's inputs, in the op's order. */
  inputs: string[];
}

/** A step's graph and its loss. */
export interface StepGraph {
  notation: Notation;
  loss: number;
  nodes: GraphNode[];
}

/**
 * Run the forward pass and backward pass of one step on a float64 copy of `model` (the model is not
 * changed) and return the graph autograd walked, every node with its value and gradient. Models, losses
 * and targets as for `trace`; a model with other layers (convolution, normalization, sequence layers) as
 * for `traceModel`, its parameters named by their state-dict keys.
 */
export function stepGraph(
  model: Sequential,
  x: Tensor | NestedArray,
  y: Tensor | NestedArray | ArrayLike<number>,
  options: GraphOptions = {},
): StepGraph {
  const lossName = traceLoss(options.loss, 'stepGraph');
  const dtype = options.dtype ?? 'float64';
  if (!isDenseNetwork(model)) return layerGraph(model, x, y, lossName);
  const layers = denseLayers(model);
  const names = namesFor(layers, lossName, options.notation ?? 'auto');
  const net = copyNet(layers, dtype);
  const X = inputTensor(x, layers[0].source.inFeatures, dtype);
  X.name = names.inputTensor;
  const C = layers[layers.length - 1].source.outFeatures;
  const target = targetOf(y, lossName, X.shape[0], C, dtype);
  if (target.kind === 'values') target.y.name = names.targetTensor;
  net.linears.forEach((lin, l) => {
    lin.weight.name = names.weightTensor[l];
    if (lin.bias) lin.bias.name = names.biasTensor[l];
  });
  const { loss } = forward(net, X, target, lossName, names);
  const params = new Set(net.linears.flatMap((l) => (l.bias ? [l.weight, l.bias] : [l.weight])));
  const data = new Set<Tensor>([X]);
  if (target.kind === 'values') data.add(target.y);
  return { notation: names.notation, ...walk(loss, params, data) };
}

/**
 * The graph of a model beyond Linear layers and activations (convolution, normalization, sequence
 * layers): a float64 copy in training mode with Dropout left out, as `traceModel` runs it; parameters
 * named by their state-dict keys, each layer's output by its index and class.
 */
function layerGraph(
  model: Sequential,
  x: Tensor | NestedArray,
  y: Tensor | NestedArray | ArrayLike<number>,
  lossName: TraceLoss,
): StepGraph {
  const { copy } = stepCopy(model);
  const X = values(x, 'x');
  X.name = 'x';
  for (const [key, p] of copy.namedParameters()) p.name = key;
  let a = X;
  copy.layers.forEach((m, i) => {
    a = m.forward(a);
    a.name = `${i}: ${m.constructor.name}`;
  });
  const C = a.shape[a.ndim - 1];
  const rows = a.size / C;
  const target = targetOf(y, lossName, rows, C, 'float64');
  if (target.kind === 'values') target.y.name = 'y';
  const loss = lossValue(lossName, a.ndim === 2 ? a : a.reshape(rows, C), target);
  loss.name = 'loss';
  const data = new Set<Tensor>([X]);
  if (target.kind === 'values') data.add(target.y);
  return { notation: 'systematic', ...walk(loss, new Set(copy.parameters()), data) };
}

/** Walk the graph from `loss`, backpropagate, and list every tensor with its value and gradient. */
function walk(loss: Tensor, params: Set<Tensor>, data: Set<Tensor>): { loss: number; nodes: GraphNode[] } {
  // Topological order by an iterative post-order walk; the graph is freed by backward(), so walk first.
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  const stack: [Tensor, number][] = [[loss, 0]];
  seen.add(loss);
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    const inputs = top[0]._node ? top[0]._node.inputs : [];
    if (top[1] < inputs.length) {
      const next = inputs[top[1]++];
      if (!seen.has(next)) {
        seen.add(next);
        stack.push([next, 0]);
      }
    } else {
      stack.pop();
      order.push(top[0]);
    }
  }
  const ids = new Map(order.map((t, n) => [t, `n${n}`]));
  const edges = new Map(
    order.map((t) => [t, t._node ? t._node.inputs.map((i) => ids.get(i) as string) : []]),
  );
  const ops = new Map(order.map((t) => [t, t._node ? t._node.op : null]));
  for (const t of order) if (!t.isLeaf) t.retainGrad();
  loss.backward();

  const nodes = order.map((t): GraphNode => {
    const op = ops.get(t) ?? null;
    const kind: GraphNode['kind'] =
      t === loss
        ? 'loss'
        : params.has(t)
          ? 'parameter'
          : op !== null
            ? 'op'
            : data.has(t)
              ? 'data'
              : 'constant';
    return {
      id: ids.get(t) as string,
      kind,
      op,
      name: t.name ?? null,
      shape: [...t.shape],
      value: Array.from(t.data),
      grad: t.grad ? Array.from(t.grad.data) : null,
      inputs: edges.get(t) ?? [],
    };
  });
  return { loss: loss.item(), nodes };
}

/** Options of `toDot`. */
export interface DotOptions {
  /** Significant digits of the numbers shown (default 6). */
  digits?: number;
  /** Numbers shown per tensor before `…` (default 6). */
  maxValues?: number;
  /** Graph title (default none). */
  title?: string;
}

const STYLE: Record<GraphNode['kind'], string> = {
  parameter: 'shape=box, style="rounded,filled", fillcolor="#dbeafe"',
  data: 'shape=box, style="filled", fillcolor="#f3f4f6"',
  constant: 'shape=box, style="filled", fillcolor="#f3f4f6"',
  op: 'shape=ellipse',
  loss: 'shape=doubleoctagon, style="filled", fillcolor="#fde68a"',
};

/** DOT's double-quoted string: backslashes and quotes escaped; `\n` is DOT's own line break. */
function quote(lines: string[]): string {
  return `"${lines.map((l) => l.replace(/\\/g, '\\\\').replace(/"/g, '\\"')).join('\\n')}"`;
}

/**
 * The graph as Graphviz DOT, left to right from inputs to the loss: parameters as blue boxes, data as
 * grey boxes, ops as ellipses; every node labelled with its name or op, shape, value and gradient.
 */
export function toDot(graph: StepGraph, options: DotOptions = {}): string {
  const digits = options.digits ?? 6;
  const max = options.maxValues ?? 6;
  const num = (v: number) => (Number.isFinite(v) ? String(Number(v.toPrecision(digits))) : String(v));
  const values = (v: number[]) =>
    v.length === 1 ? num(v[0]) : `[${v.slice(0, max).map(num).join(', ')}${v.length > max ? ', …' : ''}]`;
  const lines = [
    'digraph step {',
    '  rankdir=LR;',
    '  node [fontname="Helvetica", fontsize=10];',
    '  edge [color="#6b7280"];',
  ];
  if (options.title) lines.push(`  label=${quote([options.title])};`, '  labelloc=t;');
  for (const n of graph.nodes) {
    const label: string[] = [];
    if (n.op !== null) label.push(n.name ? `${n.op}: ${n.name}` : n.op);
    else label.push(n.name ?? n.kind);
    if (n.shape.length > 0) label.push(`shape [${n.shape.join('×')}]`);
    label.push(`value ${values(n.value)}`);
    label.push(n.grad ? `grad ${values(n.grad)}` : 'grad —');
    lines.push(`  ${n.id} [${STYLE[n.kind]}, label=${quote(label)}];`);
  }
  for (const n of graph.nodes) for (const i of n.inputs) lines.push(`  ${i} -> ${n.id};`);
  lines.push('}');
  return lines.join('\n') + '\n';
}
