// The Text page's state: one typed table of fields (URL key = field name), so the whole state — seed,
// corpus, model size, learning rate, batch, context, prompt, and a pasted text when it is short — round-
// trips through the URL's hash. A dropped file never goes into the URL. No DOM here: the Node tests parse
// the same URLs the page does.
import { playground } from './lib.js';

/** Everything the Text page remembers. */
export interface TextState extends playground.TextConfig {
  /** The prompt whose attention and embedding gradients are drawn. */
  prompt: string;
  /** The pasted text, when the corpus is 'pasted' and the text is at most {@link MAX_URL_TEXT} characters. */
  text: string;
}

/** Longest pasted text kept in the URL (characters); a longer one must be pasted again after a reload. */
export const MAX_URL_TEXT = 2000;

interface Field<T> {
  parse(raw: string): T | undefined;
  format(value: T): string;
}

function int([lo, hi]: readonly [number, number]): Field<number> {
  return {
    parse: (raw) => {
      const v = Number(raw);
      return raw.trim() !== '' && Number.isInteger(v) && v >= lo && v <= hi ? v : undefined;
    },
    format: String,
  };
}

function oneOf<T extends string>(values: readonly T[]): Field<T> {
  return { parse: (raw) => values.find((v) => v === raw), format: (v) => v };
}

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
const FIELDS: { readonly [K in keyof TextState]-?: Field<TextState[K]> } = {
  corpus: oneOf(['names', 'pasted', 'file'] as const),
  model: oneOf(['gpt', 'lstm'] as const),
  embed: int(L.embed),
  layers: int(L.layers),
  heads: int(L.heads),
  hidden: int(L.hidden),
  context: int(L.context),
  lr: rate,
  batch: int(L.batch),
  seed: int(L.seed),
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
  const params = new URLSearchParams();
  for (const key of TEXT_STATE_KEYS) {
    if (key === 'text' && (state.corpus !== 'pasted' || [...state.text].length > MAX_URL_TEXT)) continue;
    params.set(key, FIELDS[key].format(state[key] as never));
  }
  return `#${params.toString()}`;
}

/** A state from a URL hash; missing fields take the defaults, fields that do not parse are listed in `ignored`. */
export function textStateFromHash(hash: string): { state: TextState; ignored: string[] } {
  const params = new URLSearchParams(hash.replace(/^#/, ''));
  const state = { ...DEFAULT_TEXT_STATE } as TextState;
  const ignored: string[] = [];
  const writable = state as unknown as Record<string, unknown>;
  for (const key of TEXT_STATE_KEYS) {
    const raw = params.get(key);
    if (raw === null) continue;
    const value = FIELDS[key].parse(raw);
    if (value === undefined) ignored.push(`${key}=${raw}`);
    else writable[key] = value;
  }
  if (state.model === 'gpt' && state.embed % state.heads !== 0) {
    ignored.push(`heads=${state.heads}`);
    state.heads = DEFAULT_TEXT_STATE.heads;
    if (state.embed % state.heads !== 0) state.heads = 1;
  }
  return { state, ignored };
}
