/**
 * "Explain step": the chain-rule terms of one training step of a playground run, from the library's
 * teaching view `trace`. The step is taken on one training point, so each gradient is one product of named
 * factors; a batch's gradient is the mean of such per-point gradients. For the seed preset the names are
 * the notebook's (w1…w6, h1, output, d_loss/d_output…).
 */
import { Sequential, Sigmoid } from '../nn/layers.js';
import { tensor } from '../tensor.js';
import { trace, type StepTrace } from '../trace.js';
import { featureMatrix } from './features.js';
import type { PlaygroundRun } from './run.js';

/** A step explained, with what `trace` alone cannot know about the playground's step. */
export interface PlaygroundExplanation {
  /** The epochs the run had trained when the step was explained (the weights are those of that moment). */
  epoch: number;
  /** The training point (0-based) the step was taken on, and its coordinates and target. */
  sample: number;
  point: { x1: number; x2: number; y: number };
  trace: StepTrace;
  /**
   * How the explained step differs from what the run does: the penalty's gradient is added, the optimizer
   * is not plain SGD, or the batch holds more points. Empty when the run's step is exactly the traced one.
   */
  notes: string[];
}

/**
 * Explain one SGD step of `run` on training point `sample`, without changing the run. Squared error is
 * traced as ½·(o − y)² (the notebook's loss; the run's ½·mean over a batch of one); cross-entropy on a logit
 * as `bce` on σ(logit), which has the same gradient (σ(z) − y). Every gradient is checked against finite
 * differences (at most 64 per tensor in large networks).
 */
export function explainStep(run: PlaygroundRun, sample = 0): PlaygroundExplanation {
  const { train } = run.data;
  const n = train.y.length;
  if (!Number.isInteger(sample) || sample < 0 || sample >= n)
    throw new RangeError(`explainStep: sample must be an integer in [0, ${n}), got ${sample}`);
  const c = run.config;
  const point = { x1: train.x1[sample], x2: train.x2[sample], y: train.y[sample] };
  const x = featureMatrix([point.x1], [point.x2], c.features);
  const logit = run.kind === 'logit';
  const model = logit ? new Sequential(...run.model.layers, new Sigmoid()) : run.model;
  const y = tensor([[logit ? (point.y + 1) / 2 : point.y]], { dtype: 'float64' });
  const big = run.model.numParameters() > 200;
  const stepTrace = trace(model, x, y, {
    loss: logit ? 'bce' : 'mseHalfSum',
    lr: c.learningRate,
    update: false,
    check: big ? 64 : true,
  });
  const notes: string[] = [];
  if (c.regularization !== 'none' && c.regularizationRate > 0)
    notes.push(
      c.regularization === 'L2'
        ? `The run adds the L2 penalty's gradient ${c.regularizationRate}·w to each weight's gradient.`
        : `The run adds the L1 penalty's gradient ${c.regularizationRate}·sign(w) to each weight's gradient.`,
    );
  if (c.optimizer !== 'sgd')
    notes.push(
      c.optimizer === 'momentum'
        ? 'The run steps with momentum 0.9: it moves by lr × (0.9 × the previous move + this gradient), not lr × gradient.'
        : 'The run steps with Adam: each parameter moves by about lr in the direction of its averaged gradient.',
    );
  if (Math.min(c.batchSize, n) > 1)
    notes.push(
      `The run averages the gradients of ${Math.min(c.batchSize, n)} points per step; this is one point's share.`,
    );
  return { epoch: run.epoch, sample, point, trace: stepTrace, notes };
}
