/** brain.js (CommonJS), loaded on demand. */
import type { NeuralNetwork, recurrent } from 'brain.js';
import { createRequire } from 'node:module';

type BrainModule = {
  NeuralNetwork: typeof NeuralNetwork;
  recurrent: {
    LSTMTimeStep: typeof recurrent.LSTMTimeStep;
    GRUTimeStep: typeof recurrent.GRUTimeStep;
    RNNTimeStep: typeof recurrent.RNNTimeStep;
  };
};

/** The brain.js module and its version. */
export async function loadBrain(): Promise<{ brain: BrainModule; version: string }> {
  const mod = (await import('brain.js')) as unknown as { default: BrainModule };
  const require = createRequire(import.meta.url);
  const { version } = require('brain.js/package.json') as { version: string };
  return { brain: mod.default, version };
}
