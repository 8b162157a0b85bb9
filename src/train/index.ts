/**
 * Training: `fit` (epochs with validation, metrics, early stopping, schedulers), `evaluate`, `predict`,
 * and the `Trainer` they and the playground share.
 */
export { fit, evaluate, predict, type FitOptions, type EvaluateOptions, type EarlyStopping } from './fit.js';
export { Trainer, TrainingDivergedError, type TrainerOptions } from './step.js';
export { DataError, type Dataset } from './data.js';
export { type EpochLog, type BatchLog, type History, type StopReason } from './history.js';
export { FusedStep, type FusedLoss } from './fused.js';
