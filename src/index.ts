/**
 * chainrule: tensors with reverse-mode autodiff, layers, losses, optimizers and a training loop, in plain
 * TypeScript with no runtime dependencies. Runs unchanged in Node and browsers.
 *
 * @packageDocumentation
 */
export {
  Tensor,
  tensor,
  zeros,
  ones,
  full,
  arange,
  noGrad,
  isGradEnabled,
  type DType,
  type NestedArray,
  type TensorData,
  type TensorOptions,
  type GradNode,
} from './tensor.js';
export {
  add,
  sub,
  mul,
  div,
  neg,
  pow,
  exp,
  log,
  sqrt,
  abs,
  maximum,
  clamp,
  matmul,
  transpose,
  reshape,
  sum,
  mean,
  max,
  sigmoid,
  tanh,
  relu,
  leakyRelu,
  gelu,
  softplus,
  elu,
  softmax,
  logSoftmax,
  logSumExp,
  pick,
  cast,
  type ReduceOptions,
} from './ops.js';
export * as nn from './nn/index.js';
export * as losses from './losses.js';
export * as optim from './optim/index.js';
export * as random from './random.js';
export { gradCheck, type GradCheckOptions, type GradCheckResult, type GradCheckInput } from './gradcheck.js';
export {
  fit,
  evaluate,
  predict,
  TrainingDivergedError,
  type Dataset,
  type FitOptions,
  type History,
  type EpochLog,
  type BatchLog,
  type EarlyStopping,
  type MetricName,
  type StopReason,
  type EvaluateOptions,
} from './train.js';
export { kernels, setKernels, referenceKernels } from './kernels/index.js';
export {
  useWasmKernels,
  loadWasmKernels,
  wasmKernelsAvailable,
  type WasmKernelOptions,
} from './kernels/wasm/index.js';
export type { Kernels, Storage, UnaryOp, BinaryOp, BroadcastPlan } from './kernels/types.js';
/** The optimizer kernels' hyper-parameters: one named object per call (see `Kernels.sgd` and the rest). */
export type { SgdHyper, AdamHyper, RmspropHyper, AdagradHyper } from './kernels/types.js';
export { erf, erfc } from './special.js';
export { seedNetwork, seedData, SEED_SETUP, NOTEBOOK_LOSSES } from './seed.js';
export {
  toSpec,
  describeLayer,
  fromSpec,
  mlpSpec,
  validateSpec,
  ACTIVATIONS,
  ACTIVATION_NAMES,
  type ModelSpec,
  type LayerSpec,
  type LayerType,
  type ActivationSpec,
  type ActivationName,
  type FromSpecOptions,
  type MlpSpecOptions,
} from './nn/spec.js';
export {
  VERSION,
  MODEL_FORMAT,
  MODEL_FILE_VERSION,
  SUPPORTED_VERSIONS,
  ModelFileError,
  serializeModel,
  stringifyModelFile,
  modelToJSON,
  validateModelFile,
  parseModelFile,
  loadModel,
  modelFromJSON,
  serializeCheckpoint,
  checkpointToJSON,
  parseCheckpoint,
  type ModelFile,
  type CheckpointFile,
  type CheckpointState,
  type WeightEntry,
  type ModelMeta,
  type CheckpointOptions,
  type LoadOptions,
  type LoadedModel,
  type LoadedCheckpoint,
} from './io/modelfile.js';
export { encodeFloats, decodeFloats } from './io/base64.js';
export {
  inferTask,
  fitPreprocessing,
  transformFeatures,
  transformTarget,
  inverseTarget,
  checkPreprocessing,
  PreprocessError,
  type FeatureSpec,
  type TargetSpec,
  type Preprocessing,
  type Task,
  type FitPreprocessingOptions,
  type Scaling,
  type TargetTensors,
  type TargetPredictions,
} from './data/preprocess.js';
export { makeTable, selectRows, isNumeric, type Table, type Column } from './data/table.js';
export * as datasets from './data/generators.js';
export {
  toOnnx,
  onnxSignature,
  OnnxExportError,
  ONNX_IR_VERSION,
  ONNX_OPSET,
  type OnnxOptions,
  type OnnxSignature,
  type OnnxValue,
  type OnnxElementType,
} from './io/onnx.js';
export {
  toSafetensors,
  fromSafetensors,
  loadSafetensors,
  parseSafetensors,
  encodeSafetensors,
  SafetensorsError,
  SAFETENSORS_MAX_HEADER_SIZE,
  type SafetensorsFile,
  type SafetensorsTensor,
  type SafetensorsDType,
  type SafetensorsInput,
  type LoadSafetensorsOptions,
  type FromSafetensorsOptions,
  type ToSafetensorsOptions,
} from './io/safetensors.js';
export {
  trace,
  stepGraph,
  toDot,
  compareNotebookOrder,
  TraceError,
  TRACE_LOSSES,
  type TraceOptions,
  type StepTrace,
  type LayerTrace,
  type UnitTrace,
  type ParameterTrace,
  type ChainTerm,
  type Factor,
  type Notation,
  type TraceActivation,
  type TraceLoss,
  type StepGraph,
  type GraphNode,
  type GraphOptions,
  type DotOptions,
  type NotebookComparison,
  type NotebookFirstStep,
  type NotebookLossRow,
} from './trace.js';
export * as playground from './playground/index.js';
