// The seed notebook's training run as its explicit loop: forward, loss, backward, SGD update, repeat.
// Run: npx tsx examples/seed.ts
import { losses, nn, optim, random, tensor } from '../src/index.js';

random.seed(42); // np.random.seed(42)
const model = new nn.Sequential(
  new nn.Linear(2, 2, { init: 'rand', dtype: 'float64' }), // w1…w4 = np.random.rand(2, 2), b1 = b2 = 0
  new nn.Sigmoid(), // h1, h2
  new nn.Linear(2, 1, { init: 'rand', dtype: 'float64' }), // w5, w6 = np.random.rand(2, 1), b3 = 0
  new nn.Sigmoid(), // output
);
const X = tensor([[0.5, 0.6]], { dtype: 'float64' });
const y = tensor([[0.8]], { dtype: 'float64' });
const optimizer = new optim.SGD(model.parameters(), { lr: 0.1 });
const epochs = 100;

for (let epoch = 1; epoch <= epochs; epoch++) {
  const output = model.forward(X); // forward pass
  const loss = losses.mse(output, y, { reduction: 'sum' }).mul(0.5); // 0.5 · Σ(output − y)²
  optimizer.zeroGrad();
  loss.backward(); // chain rule: d_loss/d_w for every weight, through the forward pass's weights
  optimizer.step(); // w ← w − learning_rate · d_loss/d_w
  if (epoch % 10 === 0) console.log(`Epoch [${epoch}/${epochs}], Loss: ${loss.item()}`);
}
