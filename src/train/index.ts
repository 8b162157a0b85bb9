/**
 * Training: `fit` (epochs with validation, metrics, early stopping, schedulers), `evaluate`, `predict`,
 * and the `Trainer` they and the playground share.
 */
export {
  fit,
  evaluate,
  predict,
  earlyStoppingState,
  type FitOptions,
  type EvaluateOptions,
  type EarlyStopping,
  type EarlyStoppingState,
} from './fit.js';
export { Trainer, TrainingDivergedError, type TrainerOptions, type PartialEpoch } from './step.js';
export { DataError, type Dataset, type Split } from './data.js';
export { type EpochLog, type BatchLog, type History, type StopReason } from './history.js';
export { FusedStep, type FusedLoss } from './fused.js';
