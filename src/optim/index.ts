/** Optimizers and learning-rate schedulers with PyTorch's update rules. */
export { Optimizer, type OptimizerState } from './optimizer.js';
export {
  SGD,
  Adam,
  AdamW,
  RMSprop,
  Adagrad,
  type SGDOptions,
  type AdamOptions,
  type RMSpropOptions,
  type AdagradOptions,
} from './optimizers.js';
export {
  LRScheduler,
  StepLR,
  ExponentialLR,
  CosineAnnealingLR,
  type CosineAnnealingOptions,
  ReduceLROnPlateau,
  type ReduceLROnPlateauOptions,
  type SchedulerState,
} from './schedulers.js';
export { clipGradNorm, type ClipGradNormOptions } from './clip.js';
export {
  OPTIMIZERS,
  OPTIMIZER_NAMES,
  makeOptimizer,
  type OptimizerName,
  type NamedOptimizer,
} from './byname.js';
