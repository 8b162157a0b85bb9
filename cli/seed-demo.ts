// `chainrule demo` (and `npm start`): the seed notebook's training run, with correct backpropagation, printed in its format.
import { fit, NOTEBOOK_LOSSES, optim, random, SEED_SETUP, seedData, seedNetwork } from '../src/index.js';

/** Train the seed network and write the notebook-style log through `write`; returns the printed losses. */
export async function runSeedDemo(write: (line: string) => void): Promise<number[]> {
  const { epochs, learningRate } = SEED_SETUP;
  random.seed(SEED_SETUP.seed);
  const model = seedNetwork(random.defaultStream);
  const data = seedData();
  const optimizer = new optim.SGD(model.parameters(), { lr: learningRate });
  const printed: number[] = [];
  await fit(model, data, {
    loss: 'mseHalfSum',
    optimizer,
    epochs,
    batchSize: 1,
    shuffle: false,
    onEpochEnd: ({ epoch, loss }) => {
      if (epoch % 10 !== 0) return;
      printed.push(loss);
      write(`Epoch [${epoch}/${epochs}], Loss: ${loss}`);
    },
  });
  const rel = printed.map((v, i) => Math.abs(v - NOTEBOOK_LOSSES[i]) / NOTEBOOK_LOSSES[i]);
  const fmt = (v: number) => v.toExponential(1);
  write(
    `The notebook printed ${NOTEBOOK_LOSSES[0]} … ${NOTEBOOK_LOSSES[NOTEBOOK_LOSSES.length - 1]}, ` +
      `${fmt(Math.min(...rel))} to ${fmt(Math.max(...rel))} off these (relative): it computes the hidden ` +
      "layer's gradient through w5/w6 after updating them, while correct backpropagation, as here, uses " +
      'the weights of the forward pass.',
  );
  return printed;
}
