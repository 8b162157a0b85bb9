// Modules the suites build networks from, typed over the library's lists so a new op must get its case.
import { nn, type ActivationOp, type LayerType } from '../../src/index.js';

/**
 * One module of every elementwise activation of the op table, with non-default parameters where it has
 * them. Typed over the activations: a new one does not compile until it has its case here, and so in
 * every suite that uses this (the fused step's, ONNX export's).
 */
export const ACTIVATION_CASES: { [K in ActivationOp]: () => nn.Module } = {
  sigmoid: () => new nn.Sigmoid(),
  tanh: () => new nn.Tanh(),
  relu: () => new nn.ReLU(),
  leakyRelu: () => new nn.LeakyReLU(0.2),
  gelu: () => new nn.GELU(),
  softplus: () => new nn.Softplus(),
  elu: () => new nn.ELU(0.7),
  silu: () => new nn.SiLU(),
};

/** The sequence layers' spec types (text and series models). */
export type SequenceLayerType = 'embedding' | 'lstm' | 'gru' | 'rnn' | 'lastStep' | 'gpt';
/**
 * The layer types of a spec beyond Linear and the elementwise/softmax/identity/dropout layers: convolution,
 * pooling, reshaping and normalization. Suites that cover every layer type key their cases by it.
 */
export type ImageLayerType = Exclude<
  LayerType,
  ActivationOp | 'linear' | 'identity' | 'softmax' | 'dropout' | SequenceLayerType
>;
