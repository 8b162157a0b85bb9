// A page state that differs from the default in every field, for the URL round-trip tests (Node and browser).
import { DEFAULT_STATE, type PageState } from '../../web/state.js';

/** Every control moved off its default; `seed` varies per test. */
export function changedState(seed: number): PageState {
  return {
    ...DEFAULT_STATE,
    dataset: 'xor',
    noise: 15,
    trainRatio: 70,
    batchSize: 7,
    features: ['x1', 'x2', 'x1x2', 'sinX1'],
    hidden: [3, 5, 2],
    activation: 'relu',
    learningRate: 0.01,
    regularization: 'L2',
    regularizationRate: 0.003,
    optimizer: 'momentum',
    loss: 'crossEntropy',
    seed,
    discretize: true,
    showTestData: true,
    showGradients: true,
  };
}
