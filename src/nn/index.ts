/**
 * Neural-network building blocks: `nn.Linear`, `nn.Sequential`, activations as modules, convolutions,
 * pooling, normalization, `nn.Module`.
 */
export { Module, type StateValue } from './module.js';
export {
  Embedding,
  RecurrentBase,
  RNN,
  LSTM,
  GRU,
  LastStep,
  type EmbeddingOptions,
  type RecurrentOptions,
  type RNNOptions,
  type RecurrentState,
  type RecurrentResult,
  type CellParameters,
} from './recurrent.js';
export {
  MultiheadAttention,
  OutProjection,
  type MultiheadAttentionOptions,
  type AttendOptions,
  type AttendResult,
} from './attention.js';
export { TransformerBlock, GPT, type TransformerBlockOptions, type GPTOptions } from './transformer.js';
export {
  Linear,
  Sigmoid,
  Tanh,
  ReLU,
  LeakyReLU,
  GELU,
  Softplus,
  ELU,
  SiLU,
  Activation,
  ACTIVATION_MODULES,
  Softmax,
  Identity,
  Dropout,
  Sequential,
  type LinearOptions,
} from './layers.js';
export {
  Conv1d,
  Conv2d,
  MaxPool1d,
  MaxPool2d,
  AvgPool2d,
  AdaptiveAvgPool2d,
  Flatten,
  Unflatten,
  type Conv1dOptions,
  type Conv2dOptions,
} from './conv.js';
export {
  BatchNorm,
  BatchNorm1d,
  BatchNorm2d,
  LayerNorm,
  type BatchNormOptions,
  type LayerNormOptions,
} from './norm.js';
export { initLinear, INITS, type Init } from './init.js';
