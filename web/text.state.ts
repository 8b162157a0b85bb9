// The Text page's state: one typed table of fields (URL key = field name), so the whole state — seed,
// corpus, model size, learning rate, batch, context, prompt, and a pasted text when it is short — round-
// trips through the URL's hash. A dropped file never goes into the URL. No DOM here: the Node tests parse
// the same URLs the page does.
import { playground } from './lib.js';
import { hashParams, intField, oneOf, readFields, writeHash, type Field, type Fields } from './page.js';

/** Everything the Text page remembers. */
export interface TextState extends playground.TextConfig {
  /** The prompt whose attention and embedding gradients are drawn. */
  prompt: string;
  /** The pasted text, when the corpus is 'pasted' and the text is at most {@link MAX_URL_TEXT} characters. */
  text: string;
}

/** Longest pasted text kept in the URL (characters); a longer one must be pasted again after a reload. */
export const MAX_URL_TEXT = 2000;

const L = playground.TEXT_LIMITS;

const rate: Field<number> = {
  parse: (raw) => {
    const v = Number(raw);
    return raw.trim() !== '' && v >= L.lr[0] && v <= L.lr[1] ? v : undefined;
  },
  format: String,
};

const words = (max: number): Field<string> => ({
  parse: (raw) => ([...raw].length <= max ? raw : undefined),
  format: (v) => v,
});

/** The table: every field, its parser and its text form, in URL order. */
const FIELDS: Fields<TextState> = {
  corpus: oneOf(['names', 'pasted', 'file'] as const),
  model: oneOf(['gpt', 'lstm'] as const),
  embed: intField(...L.embed),
  layers: intField(...L.layers),
  heads: intField(...L.heads),
  hidden: intField(...L.hidden),
  context: intField(...L.context),
  lr: rate,
  batch: intField(...L.batch),
  seed: intField(...L.seed),
  prompt: words(64),
  text: words(MAX_URL_TEXT),
};

/** The state fields in URL order. */
export const TEXT_STATE_KEYS = Object.keys(FIELDS) as (keyof TextState)[];

/** The page's defaults: the library's default configuration on the names list, prompt "\nmar". */
export const DEFAULT_TEXT_STATE: Readonly<TextState> = {
  ...playground.DEFAULT_TEXT_CONFIG,
  prompt: '\nmar',
  text: '',
};

/** The run's configuration within a page state. */
export function textConfigOf(state: TextState): playground.TextConfig {
  const { prompt: _p, text: _t, ...config } = state;
  return config;
}

/** The state as a URL hash: every field, so the link is complete. A long pasted text is left out. */
export function textStateToHash(state: TextState): string {
  return writeHash(
    FIELDS,
    state,
    (key) => key === 'text' && (state.corpus !== 'pasted' || [...state.text].length > MAX_URL_TEXT),
  );
}

/** A state from a URL hash; missing fields take the defaults, fields that do not parse are listed in `ignored`. */
export function textStateFromHash(hash: string): { state: TextState; ignored: string[] } {
  const state = { ...DEFAULT_TEXT_STATE } as TextState;
  const ignored = readFields(hashParams(hash), FIELDS, state);
  if (state.model === 'gpt' && state.embed % state.heads !== 0) {
    ignored.push(`heads=${state.heads}`);
    state.heads = DEFAULT_TEXT_STATE.heads;
    if (state.embed % state.heads !== 0) state.heads = 1;
  }
  return { state, ignored };
}
