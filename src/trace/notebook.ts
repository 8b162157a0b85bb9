/**
 * The seed notebook's own update order beside backpropagation. The notebook updates w5/w6 first and
 * then sends the hidden layer's gradient through the updated weights; backpropagation differentiates
 * the forward pass that ran, so it uses the weights of that pass. Here both run from the notebook's
 * initialisation: the notebook's order in scalars written exactly as its numpy code computes them (so its
 * printed losses come out to the last digit), the correct one through `trace`, the library's autograd.
 */
import { RandomState } from '../random.js';
import { NOTEBOOK_LOSSES, SEED_SETUP, seedData, seedNetwork } from '../seed.js';
import { trace } from './step.js';

/** One printed row: the loss at an epoch in both orders. */
export interface NotebookLossRow {
  epoch: number;
  /** The notebook's order (equal to what the notebook printed). */
  notebook: number;
  /** Backpropagation, as the library computes it. */
  correct: number;
  /** |notebook − correct| / correct. */
  relDifference: number;
}

/** Where the two orders part: the first step's hidden-layer gradient. */
export interface NotebookFirstStep {
  /** The loss and output of the first forward pass (the same in both orders). */
  loss: number;
  output: number;
  /** w5 and w6 before the step and after the notebook's early update. */
  w5: { before: number; after: number };
  w6: { before: number; after: number };
  /** d_output/d_h1 and d_output/d_h2 = w5|w6 · output · (1 − output): with the pass's or the updated weights. */
  hidden: { name: string; formula: string; correct: number; notebook: number }[];
  /** The gradients of w1…w4, b1, b2 each order applies. */
  gradients: { name: string; correct: number; notebook: number; relDifference: number }[];
}

/** `compareNotebookOrder`'s result. */
export interface NotebookComparison {
  lr: number;
  epochs: number;
  /** Losses are compared every `every` epochs, as the notebook prints them. */
  every: number;
  firstStep: NotebookFirstStep;
  losses: NotebookLossRow[];
  /** What the notebook printed, for reference. */
  printed: readonly number[];
}

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

interface NotebookStep {
  loss: number;
  output: number;
  n5: number;
  n6: number;
  /** The hidden layer's error terms, through the updated w5/w6. */
  d1: number;
  d2: number;
  delta: number;
  h1: number;
  h2: number;
}

/**
 * The notebook's loop in scalars. Each expression is the notebook's numpy expression for a 1-row batch,
 * term for term and in its order, so every float rounds as it did there.
 */
function notebookRun(epochs: number): { losses: number[]; first: NotebookStep } {
  const rng = new RandomState(SEED_SETUP.seed);
  // weights_input_hidden[i][j] is input i → hidden j: [[w1, w3], [w2, w4]].
  const [w1, w3, w2, w4] = rng.rand(2, 2).data;
  const [w5, w6] = rng.rand(2, 1).data;
  let W = [w1, w2, w3, w4, w5, w6];
  let b = [0, 0, 0];
  const [x1, x2] = SEED_SETUP.x[0];
  const y = SEED_SETUP.y[0][0];
  const lr = SEED_SETUP.learningRate;
  const losses: number[] = [];
  let first: NotebookStep | null = null;
  for (let epoch = 1; epoch <= epochs; epoch++) {
    const [a1, a2, a3, a4, a5, a6] = W;
    const h1 = sigmoid(x1 * a1 + x2 * a2 + b[0]);
    const h2 = sigmoid(x1 * a3 + x2 * a4 + b[1]);
    const o = sigmoid(h1 * a5 + h2 * a6 + b[2]);
    const loss = 0.5 * (o - y) ** 2;
    const delta = (o - y) * (o * (1 - o));
    // weights_hidden_output is updated first...
    const n5 = a5 - lr * h1 * delta;
    const n6 = a6 - lr * h2 * delta;
    // ...and the hidden layer's gradient then flows through the updated n5, n6: the notebook's bug.
    const d1 = delta * n5 * (h1 * (1 - h1));
    const d2 = delta * n6 * (h2 * (1 - h2));
    W = [a1 - lr * x1 * d1, a2 - lr * x2 * d1, a3 - lr * x1 * d2, a4 - lr * x2 * d2, n5, n6];
    b = [b[0] - lr * d1, b[1] - lr * d2, b[2] - lr * delta];
    first ??= { loss, output: o, n5, n6, d1, d2, delta, h1, h2 };
    losses.push(loss);
  }
  return { losses, first: first as NotebookStep };
}

/**
 * Run the seed notebook's update order and correct backpropagation side by side from the notebook's
 * initialisation (`np.random.seed(42)`, lr 0.1, X = [[0.5, 0.6]], y = [[0.8]]) and report where they part
 * and the losses every `every` epochs. The "notebook" column equals the notebook's printed losses exactly.
 */
export function compareNotebookOrder(options: { epochs?: number; every?: number } = {}): NotebookComparison {
  const epochs = options.epochs ?? SEED_SETUP.epochs;
  const every = options.every ?? 10;
  if (!Number.isInteger(epochs) || epochs < 1 || !Number.isInteger(every) || every < 1)
    throw new RangeError(
      `compareNotebookOrder: epochs and every must be positive integers, got ${epochs}, ${every}`,
    );
  const lr = SEED_SETUP.learningRate;
  const nb = notebookRun(epochs);

  const model = seedNetwork();
  const { x, y } = seedData();
  const correct: number[] = [];
  let firstTrace: ReturnType<typeof trace> | null = null;
  for (let e = 0; e < epochs; e++) {
    const t = trace(model, x, y, { loss: 'mseHalfSum', lr, check: e === 0 });
    firstTrace ??= t;
    correct.push(t.loss.value);
  }
  const t = firstTrace as ReturnType<typeof trace>;
  const byName = new Map(t.parameters.map((p) => [p.name, p]));
  const param = (n: string) => byName.get(n) as (typeof t.parameters)[number];
  const f = nb.first;
  const o = f.output;
  const [x1, x2] = SEED_SETUP.x[0];
  // What the notebook subtracts, divided by lr: its gradient for each hidden parameter.
  const notebookGrad: Record<string, number> = {
    w1: x1 * f.d1,
    w2: x2 * f.d1,
    w3: x1 * f.d2,
    w4: x2 * f.d2,
    b1: f.d1,
    b2: f.d2,
  };
  const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b));
  const rows: NotebookLossRow[] = [];
  for (let e = every; e <= epochs; e += every)
    rows.push({
      epoch: e,
      notebook: nb.losses[e - 1],
      correct: correct[e - 1],
      relDifference: rel(nb.losses[e - 1], correct[e - 1]),
    });
  return {
    lr,
    epochs,
    every,
    firstStep: {
      loss: f.loss,
      output: o,
      w5: { before: param('w5').value, after: f.n5 },
      w6: { before: param('w6').value, after: f.n6 },
      hidden: [
        {
          name: 'd_output/d_h1',
          formula: 'w5 * output * (1 - output)',
          correct: param('w1').terms[0].factors[1].value,
          notebook: f.n5 * o * (1 - o),
        },
        {
          name: 'd_output/d_h2',
          formula: 'w6 * output * (1 - output)',
          correct: param('w3').terms[0].factors[1].value,
          notebook: f.n6 * o * (1 - o),
        },
      ],
      gradients: Object.entries(notebookGrad).map(([name, notebook]) => ({
        name,
        correct: param(name).grad,
        notebook,
        relDifference: rel(param(name).grad, notebook),
      })),
    },
    losses: rows,
    printed: NOTEBOOK_LOSSES,
  };
}
