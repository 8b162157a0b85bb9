/**
 * An Images run: a convolutional network (the configuration's `--arch` line) trained on an image set with
 * the library's `Trainer`, one batch at a time or for a slice of time — the page's worker and the Node
 * tests call the same code, so a URL gives the same float64 weights in a browser and in Node. Besides
 * training, {@link ImageRun.inspect} opens one image up: every layer's maps, the class probabilities, and,
 * for one step on that image and a label, the gradient with respect to the input, to every map and every
 * kernel, and which input won each max-pool window — all read from the library's ops and autograd.
 */
import { describeLayer, fromSpec, type LayerSpec } from '../nn/spec.js';
import type { Sequential } from '../nn/layers.js';
import { modelToJSON } from '../io/modelfile.js';
import { modelFileOnnx } from '../io/onnx-modelfile.js';
import * as losses from '../losses.js';
import * as ops from '../ops.js';
import { makeOptimizer } from '../optim/byname.js';
import type { Optimizer } from '../optim/optimizer.js';
import { RandomState } from '../random.js';
import { noGrad, Tensor } from '../tensor.js';
import { PAUSED, Trainer } from '../train/index.js';
import { checkImageConfig, type ImageConfig, type ImageSet, type ImageSplit } from './images.js';

/** The test set's score at one moment. */
export interface ImageEvaluation {
  step: number;
  epoch: number;
  /** Mean cross-entropy over the test images. */
  testLoss: number;
  /** Share of test images whose largest logit is their class. */
  testAccuracy: number;
}

/** A parameter of a layer with its gradient from the inspected step. */
export interface InspectedParameter {
  shape: number[];
  values: Float64Array;
  grad: Float64Array;
}

/** One layer's part of an inspection: its output for the image and the step's gradient there. */
export interface InspectedLayer {
  /** The layer's position in the Sequential. */
  index: number;
  /** The layer's spec (kernel sizes, strides, paddings, the activation's name…). */
  spec: LayerSpec;
  /** The output's shape for one image: [C, H, W] for maps, [F] for vectors. */
  shape: number[];
  values: Float64Array;
  /** ∂L/∂(this output). */
  grad: Float64Array;
  /** A convolution's or Linear's weight and bias. */
  weight?: InspectedParameter;
  bias?: InspectedParameter;
  /** Max pooling: for each output cell, the flat index into the layer's input (one image) that won. */
  routes?: Int32Array;
}

/** One image opened up (see {@link ImageRun.inspect}). */
export interface Inspection {
  /** The label the step's loss is taken against. */
  label: number;
  /** The cross-entropy of the image against `label`. */
  loss: number;
  /** softmax(logits): the class probabilities. */
  probabilities: Float64Array;
  /** The index of the largest probability. */
  predicted: number;
  /** The image as the network sees it ([C, H, W], pixel / maxValue) and ∂L/∂input. */
  input: { shape: number[]; values: Float64Array; grad: Float64Array };
  /** Every layer after the input's unflatten, in order. */
  layers: InspectedLayer[];
}

/** Inputs of a split: [count, C·H·W] float64, pixel / maxValue. */
export function imageInputs(split: ImageSplit, size: number, maxValue: number): Tensor {
  const x = new Float64Array(split.count * size);
  for (let i = 0; i < x.length; i++) x[i] = split.pixels[i] / maxValue;
  return new Tensor(x, [split.count, size]);
}

/** A trainable Images run: build it with {@link createImageRun}. */
export class ImageRun {
  /** Batches trained so far. */
  steps = 0;
  /** Epochs completed. */
  epoch = 0;
  /** Every batch's loss, in order. */
  readonly losses: number[] = [];
  /** The test scores taken so far (after every epoch, and at epoch 0). */
  readonly evaluations: ImageEvaluation[] = [];
  readonly trainX: Tensor;
  readonly trainY: Tensor;
  readonly testX: Tensor;
  readonly testY: Tensor;
  private readonly trainer: Trainer;

  constructor(
    readonly config: ImageConfig,
    readonly set: ImageSet,
    readonly model: Sequential,
    readonly optimizer: Optimizer,
    /** The stream that shuffles every epoch. */
    readonly shuffle: RandomState,
  ) {
    const size = set.shape[0] * set.shape[1] * set.shape[2];
    this.trainX = imageInputs(set.train, size, set.maxValue);
    this.testX = imageInputs(set.test, size, set.maxValue);
    this.trainY = new Tensor(Float64Array.from(set.train.labels), [set.train.count]);
    this.testY = new Tensor(Float64Array.from(set.test.labels), [set.test.count]);
    this.trainer = new Trainer(
      model,
      { x: this.trainX, y: this.trainY, labels: true },
      {
        loss: 'crossEntropy',
        optimizer,
        batchSize: config.batchSize,
        shuffle: true,
        rng: shuffle,
        metrics: [],
        threshold: 0.5,
        fused: false,
      },
    );
  }

  /** Batches in one epoch. */
  get batchesPerEpoch(): number {
    return this.trainer.batches;
  }

  /**
   * Train batches until `performance.now()` passes `until` (at least one batch; the epoch's batches come
   * from one shuffle, whether it is trained in one call or many). Returns the batches trained; an epoch
   * that ends here is counted and, with `evaluateEpochs`, scored on the test set.
   */
  train(until: number, evaluateEpochs = true): number {
    const before = this.steps;
    const model = this.model;
    model.train();
    for (;;) {
      const result = this.trainer.run(
        this.epoch + 1,
        { onBatchEnd: (log) => (this.steps++, this.losses.push(log.loss)) },
        until,
      );
      if (result !== PAUSED) {
        this.epoch++;
        if (evaluateEpochs) this.evaluate();
      }
      if (result === PAUSED || performance.now() > until) return this.steps - before;
    }
  }

  /** Train exactly one batch (one optimizer step). */
  step(evaluateEpochs = true): void {
    this.train(-Infinity, evaluateEpochs);
  }

  /** Score the test set now (in evaluation mode, batches of 500) and record it. */
  evaluate(): ImageEvaluation {
    const n = this.testX.shape[0];
    let lossSum = 0;
    let right = 0;
    const size = this.testX.shape[1];
    this.model.eval();
    try {
      noGrad(() => {
        for (let from = 0; from < n; from += 500) {
          const to = Math.min(n, from + 500);
          const x = new Tensor(this.testX.data.subarray(from * size, to * size), [to - from, size]);
          const y = this.testY.data.subarray(from, to);
          const logits = this.model.forward(x);
          lossSum += losses.crossEntropy(logits, y, { reduction: 'sum' }).item();
          right += countRight(logits, y);
        }
      });
    } finally {
      this.model.train();
    }
    const e = {
      step: this.steps,
      epoch: this.epoch,
      testLoss: n ? lossSum / n : NaN,
      testAccuracy: n ? right / n : NaN,
    };
    this.evaluations.push(e);
    return e;
  }

  /**
   * The class probabilities for one image (C·H·W values in [0, 1]): a forward pass in evaluation mode and
   * no graph (what {@link inspect} reports as `probabilities`, without its backward and copies).
   */
  predict(image: ArrayLike<number>): Float64Array {
    const [c, h, w] = this.set.shape;
    if (image.length !== c * h * w)
      throw new RangeError(`predict: expected ${c}×${h}×${w} = ${c * h * w} values, got ${image.length}`);
    this.model.eval();
    try {
      return noGrad(() => {
        const out = this.model.forward(new Tensor(Float64Array.from(image), [1, c * h * w]));
        return Float64Array.from(ops.softmax(out, -1).data);
      });
    } finally {
      this.model.train();
    }
  }

  /**
   * Open `image` (C·H·W values in [0, 1]) up: run it forward in evaluation mode keeping every layer's
   * output, take the cross-entropy against `label` and run backward, as one training step on that image
   * would — without taking the step: the weights and the optimizer are untouched, and the parameters'
   * gradients are put back as they were. Max-pool routes come from the pooling op's own backward: the
   * gradient of the sum of its outputs is 1 exactly where an input won.
   */
  inspect(image: ArrayLike<number>, label: number): Inspection {
    const [c, h, w] = this.set.shape;
    if (image.length !== c * h * w)
      throw new RangeError(`inspect: expected ${c}×${h}×${w} = ${c * h * w} values, got ${image.length}`);
    if (!Number.isInteger(label) || label < 0 || label >= this.set.classes.length)
      throw new RangeError(`inspect: expected a label 0–${this.set.classes.length - 1}, got ${label}`);
    const params = this.model.parameters();
    const saved = params.map((p) => p.grad);
    for (const p of params) p.grad = null;
    this.model.eval();
    try {
      const x = new Tensor(Float64Array.from(image), [1, c * h * w], true);
      const outputs: Tensor[] = [];
      let out = x;
      for (const layer of this.model.layers) {
        out = layer.forward(out).retainGrad();
        outputs.push(out);
      }
      const loss = losses.crossEntropy(out, [label]);
      loss.backward();
      const probabilities = noGrad(() => Float64Array.from(ops.softmax(out, -1).data));
      const predicted = predictedClass(probabilities);
      const layers: InspectedLayer[] = [];
      const specs = this.model.layers.map((m) => describeLayer(m));
      this.model.layers.forEach((m, i) => {
        const spec = specs[i];
        if (!spec || spec.type === 'unflatten') return;
        const t = outputs[i];
        const layer: InspectedLayer = {
          index: i,
          spec,
          shape: t.shape.slice(1),
          values: Float64Array.from(t.data),
          grad: Float64Array.from(t.grad?.data ?? new Float64Array(t.size)),
        };
        const fields = m as unknown as { weight?: Tensor; bias?: Tensor | null };
        if ((spec.type === 'conv2d' || spec.type === 'linear') && fields.weight) {
          layer.weight = parameter(fields.weight);
          if (fields.bias) layer.bias = parameter(fields.bias);
        }
        if (spec.type === 'maxPool2d') layer.routes = poolRoutes(i === 0 ? x : outputs[i - 1], spec);
        layers.push(layer);
      });
      const first = specs[0]?.type === 'unflatten' ? outputs[0] : x;
      return {
        label,
        loss: loss.item(),
        probabilities,
        predicted,
        input: {
          shape: [c, h, w],
          values: Float64Array.from(first.data),
          grad: Float64Array.from(x.grad?.data ?? new Float64Array(x.size)),
        },
        layers,
      };
    } finally {
      params.forEach((p, k) => (p.grad = saved[k]));
      this.model.train();
    }
  }

  /** The facts a model file records about this run. */
  private training() {
    const last = this.evaluations[this.evaluations.length - 1];
    return {
      source: 'chainrule playground (images)',
      config: this.config,
      data: {
        name: this.set.name,
        shape: this.set.shape,
        classes: this.set.classes,
        source: this.set.source,
      },
      input: 'pixel / maxValue, flat C·H·W rows',
      maxValue: this.set.maxValue,
      steps: this.steps,
      epochs: this.epoch,
      final: last ? { testLoss: last.testLoss, testAccuracy: last.testAccuracy, step: last.step } : null,
    };
  }

  /** The trained network as a chainrule model file. */
  toModelFile(created?: Date): string {
    return modelToJSON(this.model, {
      task: 'classification',
      training: this.training(),
      ...(created ? { created } : {}),
    });
  }

  /**
   * The trained network as ONNX bytes: input [batch, C·H·W] (pixel / maxValue), output the logits, both
   * float32. The float64 weights are cast to float32, as `chainrule export --onnx --float32` casts them:
   * onnxruntime has no double Conv, so a float64 file would run only elsewhere.
   */
  toOnnx(): Uint8Array {
    return modelFileOnnx(this.model, null, {
      dtype: 'float32',
      docString: `chainrule playground (images) model; input: ${this.set.shape.join('×')} pixels / ${this.set.maxValue}, float32; output: logits of ${this.set.classes.join(', ')}`,
    }).bytes;
  }
}

function parameter(t: Tensor): InspectedParameter {
  return {
    shape: [...t.shape],
    values: Float64Array.from(t.data),
    grad: Float64Array.from(t.grad?.data ?? new Float64Array(t.size)),
  };
}

/** How many rows of `logits` have their largest value (the first, on ties) at the row's label. */
function countRight(logits: Tensor, labels: ArrayLike<number>): number {
  const [n, k] = logits.shape;
  const d = logits.data;
  let right = 0;
  for (let r = 0; r < n; r++) {
    let best = 0;
    for (let j = 1; j < k; j++) if (d[r * k + j] > d[r * k + best]) best = j;
    if (best === labels[r]) right++;
  }
  return right;
}

/** For each output cell of a max pooling of `input` (one image), the flat input index that won. */
function poolRoutes(input: Tensor, spec: Extract<LayerSpec, { type: 'maxPool2d' }>): Int32Array {
  const x = new Tensor(Float64Array.from(input.data), input.shape, true);
  const y = ops.maxPool2d(x, spec.kernel, {
    stride: spec.stride,
    padding: spec.padding,
    dilation: spec.dilation,
    ceilMode: spec.ceilMode,
  });
  // One backward per output cell would be exact for overlapping windows too; for the usual windows
  // (stride = kernel) one backward of the sum marks every winner, and each window holds exactly one.
  ops.sum(y).backward();
  const [, channels, ih, iw] = x.shape;
  const [, , oh, ow] = y.shape;
  const [kh, kw] = pair(spec.kernel);
  const [sh, sw] = pair(spec.stride);
  const [ph, pw] = pair(spec.padding);
  const [dh, dw] = pair(spec.dilation);
  const g = (x.grad as Tensor).data;
  const routes = new Int32Array(channels * oh * ow).fill(-1);
  for (let c = 0; c < channels; c++)
    for (let i = 0; i < oh; i++)
      for (let j = 0; j < ow; j++) {
        const target = y.data[(c * oh + i) * ow + j];
        search: for (let u = 0; u < kh; u++)
          for (let v = 0; v < kw; v++) {
            const r = i * sh - ph + u * dh;
            const q = j * sw - pw + v * dw;
            if (r < 0 || q < 0 || r >= ih || q >= iw) continue;
            const at = (c * ih + r) * iw + q;
            if (g[at] > 0 && x.data[at] === target) {
              routes[(c * oh + i) * ow + j] = at;
              break search;
            }
          }
      }
  return routes;
}

/** A window size as [height, width]. */
export function pair(s: number | readonly number[]): [number, number] {
  return typeof s === 'number' ? [s, s] : [s[0], s[1]];
}

/**
 * Build the run a configuration describes on `set`: the network from the architecture line (float64,
 * PyTorch's initialisation drawn from `RandomState(seed)`), the optimizer, and the shuffle stream
 * `RandomState(seed + 1 mod 2³²)`; the test set is scored once at step 0.
 */
export function createImageRun(config: ImageConfig, set: ImageSet): ImageRun {
  const { spec } = checkImageConfig(config, set.shape, set.classes.length);
  const model = fromSpec(spec, { dtype: 'float64', rng: new RandomState(config.seed) });
  const optimizer = makeOptimizer(config.optimizer, model.parameters(), config.learningRate);
  const run = new ImageRun(config, set, model, optimizer, new RandomState((config.seed + 1) % 2 ** 32));
  run.evaluate();
  return run;
}

/** The class with the highest probability (the first of equal ones): what the Images page shows. */
export function predictedClass(probabilities: ArrayLike<number>): number {
  let best = 0;
  for (let k = 1; k < probabilities.length; k++) if (probabilities[k] > probabilities[best]) best = k;
  return best;
}
