/**
 * Workload 5: a character-level GPT — vocabulary 65, context 64, width 128, 4 heads, 4 pre-norm blocks
 * (818,241 parameters), batch 32, AdamW (lr 3e-4, PyTorch's default weight decay 0.01), float32,
 * next-token cross-entropy — on seeded random token sequences. Reported in training tokens per second
 * (batch · context per step), through the public API: zeroGrad, forward, loss, backward, step.
 *
 * No peer trains a transformer out of the box: brain.js has no attention; tfjs has no trainable
 * multi-head attention or layer norm in tf.layers (a hand-written model would be measuring our code).
 */
import { kernels, losses, nn, optim, random, Tensor, tidy } from '../../src/index.js';
import { measure, progress, type Figure } from '../harness.js';
import type { BenchConfig, NotApplicable, PeerName, Row } from '../types.js';

/** The model and run sizes (issue #13's W5). */
export const GPT_SIZE = {
  vocabSize: 65,
  contextLength: 64,
  embedDim: 128,
  numHeads: 4,
  numLayers: 4,
  batch: 32,
} as const;

/** `batches` batches of random tokens: inputs [batch, context] and their next tokens, flat. */
export function syntheticBatches(batches: number): { x: Tensor; y: Float32Array }[] {
  const { vocabSize: V, contextLength: L, batch: B } = GPT_SIZE;
  const rng = new random.RandomState(1234);
  return Array.from({ length: batches }, () => {
    const seq = new Float32Array(B * (L + 1));
    for (let i = 0; i < seq.length; i++) seq[i] = Math.floor(rng.random() * V);
    const x = new Float32Array(B * L);
    const y = new Float32Array(B * L);
    for (let b = 0; b < B; b++) {
      x.set(seq.subarray(b * (L + 1), b * (L + 1) + L), b * L);
      y.set(seq.subarray(b * (L + 1) + 1, (b + 1) * (L + 1)), b * L);
    }
    return { x: new Tensor(x, [B, L]), y };
  });
}

/** A GPT of W5's size and its AdamW, and one training step on a batch (returns the loss). */
export function gptTrainer(seed = 7): { model: nn.GPT; step: (x: Tensor, y: Float32Array) => number } {
  const { vocabSize, contextLength, embedDim, numHeads, numLayers } = GPT_SIZE;
  const rng = new random.RandomState(seed);
  const model = new nn.GPT({ vocabSize, contextLength, embedDim, numHeads, numLayers, rng });
  const optimizer = new optim.AdamW(model.parameters(), { lr: 3e-4 });
  const step = (x: Tensor, y: Float32Array) =>
    tidy(() => {
      optimizer.zeroGrad();
      const logits = model.forward(x);
      const loss = losses.crossEntropy(logits.reshape(-1, vocabSize), y);
      loss.backward();
      optimizer.step();
      return loss.item();
    });
  return { model, step };
}

async function ours(cfg: BenchConfig): Promise<Figure> {
  const { contextLength: L, batch: B } = GPT_SIZE;
  const data = syntheticBatches(8);
  const { step } = gptTrainer();
  let i = 0;
  return measure({
    label: `chainrule GPT (${kernels().name} kernels)`,
    work: B * L,
    call: () => {
      const { x, y } = data[i++ % data.length];
      const loss = step(x, y);
      if (!Number.isFinite(loss)) throw new Error('gpt: chainrule loss is not finite');
    },
    warmupSeconds: cfg.quick ? 0 : 2,
    minRunSeconds: 0.5,
    reps: cfg.reps,
    minReps: cfg.minReps,
    maxSeconds: cfg.quick ? 5 : 40,
  });
}

export async function gptWorkload(cfg: BenchConfig): Promise<Row[]> {
  const { vocabSize, contextLength, embedDim, numHeads, numLayers, batch } = GPT_SIZE;
  progress(
    `gpt: vocab ${vocabSize}, context ${contextLength}, width ${embedDim}, ${numHeads} heads, ${numLayers} blocks, batch ${batch}`,
  );
  const figure = await ours(cfg);
  const na: NotApplicable = { na: 'no trainable transformer out of the box' };
  const peers: Record<PeerName, Figure | NotApplicable> = {
    'brain.js': { na: 'brain.js has no attention or layer norm' },
    'tfjs-cpu': na,
    'tfjs-wasm': na,
  };
  return [
    {
      workload: 'gpt',
      name: `char GPT ${vocabSize}/${contextLength}/${embedDim}, ${numHeads} heads, ${numLayers} blocks, AdamW, batch ${batch} (default kernels: ${kernels().name})`,
      unit: 'tokens/s',
      ours: figure,
      peers,
    },
  ];
}
