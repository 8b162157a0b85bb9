// XOR, the problem a single layer cannot solve: a 2-4-1 network learns it with backpropagation.
// Run: npx tsx examples/xor.ts [epochs]      (default 500)
import { fit, nn, optim, random, tensor } from '../src/index.js'; // in your project: from 'chainrule'

const epochs = Number(process.argv[2] ?? 500);
random.seed(0); // the initial weights are drawn from this stream: the same run every time

const model = new nn.Sequential(new nn.Linear(2, 4), new nn.Tanh(), new nn.Linear(4, 1), new nn.Sigmoid());
const x = tensor([
  [0, 0],
  [0, 1],
  [1, 0],
  [1, 1],
]);
const y = tensor([[0], [1], [1], [0]]);

const history = await fit(
  model,
  { x, y },
  {
    loss: 'bce',
    optimizer: new optim.Adam(model.parameters(), { lr: 0.05 }),
    epochs,
    batchSize: 4,
    metrics: ['accuracy'],
    onEpochEnd: (log) => {
      if (log.epoch % 100 === 0) console.log(`epoch ${log.epoch}: loss ${log.loss.toFixed(4)}`);
    },
  },
);

const last = history.epochs.at(-1)!;
console.log(`accuracy ${last.metrics.accuracy} after ${last.epoch} epochs`);
const out = model.forward(x).toArray() as number[][];
for (const [i, [a, b]] of [
  [0, 0],
  [0, 1],
  [1, 0],
  [1, 1],
].entries())
  console.log(`${a} xor ${b} → ${out[i][0].toFixed(3)}`);
