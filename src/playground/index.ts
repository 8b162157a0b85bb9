/**
 * The library side of the playground page: its configuration, data, features, penalties and runs. Pure and browser-safe;
 * `web/` imports it, and so do the Node tests, which therefore check what the page's worker runs.
 */
export {
  ACTIVATION_LABELS,
  CHOICES,
  DATASETS,
  DATASET_NAMES,
  DEFAULT_CONFIG,
  FEATURE_LABELS,
  FEATURE_NAMES,
  LIMITS,
  SEED_PRESET,
  PlaygroundConfigError,
  checkConfig,
  outputKind,
  presetFor,
  presetFixesSeed,
  type DatasetName,
  type FeatureName,
  type HiddenActivation,
  type LossChoice,
  type OptimizerChoice,
  type OutputKind,
  type PlaygroundConfig,
  type ProblemType,
  type RegularizationChoice,
} from './config.js';
export {
  PlaygroundDataError,
  generatePoints,
  playgroundData,
  pointsFromTable,
  splitPoints,
  type CsvColumns,
  type GeneratedDataset,
  type PlaygroundData,
  type Points,
  type TablePoints,
} from './data.js';
export { FEATURE_FUNCTIONS, featureMatrix } from './features.js';
export { penalty } from './regularization.js';
export {
  DOMAIN,
  PlaygroundRun,
  buildModel,
  createRun,
  featureGrids,
  gridPoints,
  type EpochStats,
  type Grids,
  type LayerParameters,
} from './run.js';
export { explainStep, type PlaygroundExplanation } from './explain.js';
export {
  DEFAULT_TEXT_CONFIG,
  TEXT_LIMITS,
  TextConfigError,
  TextRun,
  VALIDATE_EVERY,
  checkTextConfig,
  createTextRun,
  nextCharLoss,
  type AttentionMaps,
  type EmbeddingGradients,
  type HeadAttention,
  type TextConfig,
  type TextCorpusKind,
  type TextModelKind,
  type TextStats,
} from './text.js';
export {
  DEFAULT_IMAGE_CONFIG,
  FOLDER_IMAGE_SHAPE,
  IMAGE_DATASETS,
  IMAGE_DATASET_NAMES,
  IMAGE_LEARNING_RATES,
  IMAGE_LIMITS,
  IMAGE_PRESETS,
  ImageConfigError,
  checkImageConfig,
  decodeImageSet,
  drawingToImage,
  encodeImageSet,
  folderImageSet,
  type FolderImage,
  type ImageConfig,
  type ImageDatasetName,
  type ImageSet,
  type ImageSplit,
} from './images.js';
export {
  ImageRun,
  createImageRun,
  predictedClass,
  imageInputs,
  type ImageEvaluation,
  type InspectedLayer,
  type InspectedParameter,
  type Inspection,
} from './images-run.js';
export { explainCell, layerName, num, type CellExplanation, type CellPlace } from './images-formulas.js';
/** The names list's fixed shuffle (the library's `shuffleLines`), kept here for the Text page's callers. */
export { shuffleLines } from '../data/text.js';
