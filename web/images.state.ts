// The Images page's state ↔ its URL hash: the run's whole configuration (dataset, network, optimizer,
// learning rate, batch, seed) plus whether gradients are shown. A link naming a dataset starts from that
// dataset's preset, whole. No DOM here: the Node tests parse the same URLs the page does.
import { playground } from './lib.js';
import { boolField, hashParams, intField, oneOf, readFields, writeHash, type Fields } from './page.js';

/** Everything the Images page remembers in its URL. */
export interface ImagesState extends playground.ImageConfig {
  /** Show the gradient maps of one step on the current image. */
  showGradients: boolean;
}

const { IMAGE_DATASET_NAMES, IMAGE_LIMITS, IMAGE_PRESETS } = playground;

/** The table: each field's parser and text form, in URL order. */
const FIELDS: Fields<ImagesState> = {
  dataset: oneOf(IMAGE_DATASET_NAMES),
  arch: {
    parse: (raw) => (raw.trim() !== '' && raw.length <= IMAGE_LIMITS.maxArchLength ? raw.trim() : undefined),
    format: String,
  },
  optimizer: oneOf(playground.CHOICES.optimizer),
  learningRate: {
    parse: (raw) => {
      const v = Number(raw);
      return raw.trim() !== '' && Number.isFinite(v) && v > 0 ? v : undefined;
    },
    format: String,
  },
  batchSize: intField(1, IMAGE_LIMITS.maxBatchSize),
  seed: intField(0, IMAGE_LIMITS.maxSeed),
  showGradients: boolField,
};

/** The fields in URL order. */
export const IMAGES_KEYS = Object.keys(FIELDS) as (keyof ImagesState)[];

/** The state a link naming only `dataset` gives: the dataset's preset, gradients shown. */
export function presetState(dataset: playground.ImageDatasetName, seed: number): ImagesState {
  return { ...IMAGE_PRESETS[dataset], seed, showGradients: true };
}

/** The page's default: the 8×8 digits' preset. */
export const DEFAULT_IMAGES_STATE: Readonly<ImagesState> = presetState('digits', 1);

/** The run's configuration within a state. */
export function imageConfigOf(state: ImagesState): playground.ImageConfig {
  const { showGradients: _g, ...config } = state;
  return config;
}

/** Whether two states describe the same run. */
export function sameImageRun(a: ImagesState, b: ImagesState): boolean {
  return IMAGES_KEYS.every((k) => k === 'showGradients' || String(a[k]) === String(b[k]));
}

/** The state as a URL hash, every field written. */
export function imagesStateToHash(state: ImagesState): string {
  return writeHash(FIELDS, state);
}

/**
 * A state from a URL hash: the named dataset's preset (digits when none), then every field the hash gives;
 * the seed `seed` when it gives none. Fields that do not parse are listed in `ignored`.
 */
export function imagesStateFromHash(
  hash: string,
  seed = DEFAULT_IMAGES_STATE.seed,
): { state: ImagesState; ignored: string[] } {
  const params = hashParams(hash);
  const dataset = FIELDS.dataset.parse(params.get('dataset') ?? '') ?? 'digits';
  const state = presetState(dataset, seed);
  const ignored = readFields(params, FIELDS, state);
  return { state, ignored };
}
