/** Neural-network building blocks: `nn.Linear`, `nn.Sequential`, activations as modules, `nn.Module`. */
export { Module, type StateValue } from './module.js';
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
export { initLinear, INITS, type Init } from './init.js';
