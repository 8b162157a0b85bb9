// The page's state: one typed table of fields, each with its URL key, parser and formatter, so that the
// whole state (seed included) round-trips through the URL's hash and a link reproduces a run.
// No DOM here: the Node tests parse the same URLs the page does.
import { playground } from './lib.js';
import {
  boolField,
  hashParams,
  intField,
  oneOf,
  readFields,
  writeHash,
  type Field,
  type Fields,
} from './page.js';

type Config = playground.PlaygroundConfig;

/** Everything the page remembers: the run's configuration plus display settings and CSV columns. */
export interface PageState extends Config {
  /** Colour the heatmap by class (sign) instead of by value. */
  discretize: boolean;
  /** Draw the test points on the heatmap. */
  showTestData: boolean;
  /** Draw each link's gradient of the last step. */
  showGradients: boolean;
  /** The CSV columns used as x₁, x₂ and label ('' when none is loaded). */
  csvX1: string;
  csvX2: string;
  csvLabel: string;
}

const { CHOICES, FEATURE_NAMES, LIMITS, DATASET_NAMES } = playground;

const positive: Field<number> = {
  parse: (raw) => {
    const v = Number(raw);
    return raw.trim() !== '' && Number.isFinite(v) && v > 0 ? v : undefined;
  },
  format: String,
};

const nonNegative: Field<number> = {
  parse: (raw) => (raw === '0' ? 0 : positive.parse(raw)),
  format: String,
};

const text: Field<string> = { parse: (raw) => raw, format: (v) => v };

const features: Field<playground.FeatureName[]> = {
  parse: (raw) => {
    const names = raw.split(',').filter((s) => s !== '');
    const known = names.every((n) => (FEATURE_NAMES as readonly string[]).includes(n));
    // Kept in the network's order whatever order the URL lists them in.
    return known && names.length > 0 ? FEATURE_NAMES.filter((f) => names.includes(f)) : undefined;
  },
  format: (v) => v.join(','),
};

const hidden: Field<number[]> = {
  parse: (raw) => {
    if (raw === '') return [];
    const sizes = raw.split(',').map(Number);
    const ok =
      sizes.length <= LIMITS.maxLayers &&
      sizes.every((n) => Number.isInteger(n) && n >= 1 && n <= LIMITS.maxNeurons);
    return ok ? sizes : undefined;
  },
  format: (v) => v.join(','),
};

/** The table: every state field, its URL key (the field's name) and its text form. */
const FIELDS: Fields<PageState> = {
  dataset: oneOf(DATASET_NAMES),
  problem: oneOf(CHOICES.problem),
  noise: intField(0, LIMITS.maxNoise),
  trainRatio: intField(LIMITS.minTrainRatio, 100),
  batchSize: intField(1, LIMITS.maxBatchSize),
  features,
  hidden,
  activation: oneOf(CHOICES.activation),
  learningRate: positive,
  regularization: oneOf(CHOICES.regularization),
  regularizationRate: nonNegative,
  optimizer: oneOf(CHOICES.optimizer),
  loss: oneOf(CHOICES.loss),
  seed: intField(0, LIMITS.maxSeed),
  discretize: boolField,
  showTestData: boolField,
  showGradients: boolField,
  csvX1: text,
  csvX2: text,
  csvLabel: text,
};

/** The state fields in URL order. */
export const STATE_KEYS = Object.keys(FIELDS) as (keyof PageState)[];

/** The page's defaults: TensorFlow Playground's, seed 1, display toggles off. */
export const DEFAULT_STATE: Readonly<PageState> = {
  ...playground.DEFAULT_CONFIG,
  features: [...playground.DEFAULT_CONFIG.features],
  hidden: [...playground.DEFAULT_CONFIG.hidden],
  discretize: false,
  showTestData: false,
  showGradients: false,
  csvX1: '',
  csvX2: '',
  csvLabel: '',
};

/**
 * Make a state consistent after a change: a built-in dataset fixes the problem type, cross-entropy needs
 * classification, the seed notebook's sample trains on its one point (100%), other sets on at most 90%.
 */
export function normalize(state: PageState): PageState {
  const s: PageState = { ...state, features: [...state.features], hidden: [...state.hidden] };
  const own = playground.DATASETS[s.dataset].problem;
  if (own) s.problem = own;
  if (s.problem === 'regression' && s.loss === 'crossEntropy') s.loss = 'squared';
  if (s.dataset === 'seed') s.trainRatio = 100;
  else if (s.trainRatio > LIMITS.maxTrainRatio) s.trainRatio = DEFAULT_STATE.trainRatio;
  return s;
}

/** The run's configuration within a page state. */
export function configOf(state: PageState): Config {
  const {
    discretize: _d,
    showTestData: _t,
    showGradients: _g,
    csvX1: _a,
    csvX2: _b,
    csvLabel: _c,
    ...config
  } = state;
  return { ...config, features: [...config.features], hidden: [...config.hidden] };
}

/** Whether two states describe the same run (display settings aside). */
export function sameRun(a: PageState, b: PageState): boolean {
  const keys: (keyof PageState)[] = [
    ...STATE_KEYS.filter((k) => !['discretize', 'showTestData', 'showGradients'].includes(k)),
  ];
  return keys.every((k) => FIELDS[k].format(a[k] as never) === FIELDS[k].format(b[k] as never));
}

/** The state as a URL hash: every field, so the link is complete (`#dataset=circle&…&seed=1&…`). */
export function stateToHash(state: PageState): string {
  return writeHash(FIELDS, state);
}

/**
 * A state from a URL hash (with or without '#'). Missing fields take the named dataset's preset (whole: the
 * seed notebook's network for `dataset=seed`), the seed `seed` when the hash has none and the preset fixes none; fields that do not parse are reported in `ignored` and take the defaults too.
 */
export function stateFromHash(
  hash: string,
  seed: number = DEFAULT_STATE.seed,
): { state: PageState; ignored: string[] } {
  const params = hashParams(hash);
  // A link naming a dataset starts from that dataset's preset, whole (the seed notebook's network for seed).
  const dataset = FIELDS.dataset.parse(params.get('dataset') ?? '') ?? DEFAULT_STATE.dataset;
  const preset = playground.presetFor(dataset);
  const state = {
    ...DEFAULT_STATE,
    ...preset,
    seed: playground.presetFixesSeed(dataset) ? preset.seed : seed,
  } as PageState;
  const ignored = readFields(params, FIELDS, state);
  return { state: normalize(state), ignored };
}
