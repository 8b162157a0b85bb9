/**
 * Text as a character-level corpus for language models: bytes checked and decoded as UTF-8, a vocabulary
 * of the text's code points (sorted, saved in the model file), the text as ids, a train/validation split
 * by position, windows of `context` characters with the next character of each position as its target,
 * and sampling of the next character from a model's logits. No file system: the command line reads the
 * bytes, the playground could pass a string.
 */
import type { Storage } from '../kernels/types.js';
import { exp } from '../libm.js';
import { RandomState } from '../random.js';
import { Tensor, allocStorage, type DType } from '../tensor.js';

/** Bad text or a prompt that does not fit the vocabulary; `source` names the file (or the prompt). */
export class TextDataError extends Error {
  constructor(
    message: string,
    /** The file or text at fault, as the caller named it. */
    readonly source: string,
  ) {
    super(`${source}: ${message}`);
    this.name = 'TextDataError';
  }
}

/** A character vocabulary: its code points as strings, sorted by code point; an id is a position. */
export interface Vocabulary {
  /** One entry per character (a whole code point, so an emoji is one character). */
  chars: string[];
}

/**
 * Decode bytes as UTF-8 text, refusing what is not text: an empty file, NUL bytes (binary data) and
 * invalid UTF-8 (the byte offset of the first bad sequence is named). A leading byte-order mark is dropped.
 */
export function decodeText(bytes: Uint8Array, source: string): string {
  if (bytes.length === 0) throw new TextDataError('the file is empty; a text corpus needs some text', source);
  const nul = bytes.indexOf(0);
  if (nul >= 0)
    throw new TextDataError(
      `a NUL byte at offset ${nul}: this looks like a binary file, not UTF-8 text`,
      source,
    );
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    const found = firstBadUtf8(bytes);
    // The decoder refused it; a form the scan does not know of is reported at the start.
    const at = found < 0 ? 0 : found;
    throw new TextDataError(
      `invalid UTF-8 at byte ${at}: this looks like a binary file or another encoding (save it as UTF-8)`,
      source,
    );
  }
}

/**
 * The offset of the first byte sequence that is not UTF-8 (a stray continuation byte, a lead byte without
 * its continuations, an overlong form, a surrogate or a code point past U+10FFFF); -1 when there is none.
 */
function firstBadUtf8(b: Uint8Array): number {
  for (let i = 0; i < b.length;) {
    const c = b[i];
    let n: number;
    let min: number;
    if (c < 0x80) {
      i++;
      continue;
    } else if (c >= 0xc2 && c <= 0xdf) [n, min] = [1, 0x80];
    else if (c >= 0xe0 && c <= 0xef) [n, min] = [2, 0x800];
    else if (c >= 0xf0 && c <= 0xf4) [n, min] = [3, 0x10000];
    else return i;
    let cp = c & (0x3f >> n);
    for (let k = 1; k <= n; k++) {
      if (i + k >= b.length || (b[i + k] & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (b[i + k] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += n + 1;
  }
  return -1;
}

/** The vocabulary of a text: every code point in it, sorted by code point. */
export function buildVocabulary(text: string): Vocabulary {
  const seen = new Set<number>();
  for (const ch of text) seen.add(ch.codePointAt(0) as number);
  return { chars: [...seen].sort((a, b) => a - b).map((c) => String.fromCodePoint(c)) };
}

/** A character as messages show it: visible characters quoted, others as U+XXXX. */
export function showChar(ch: string): string {
  const cp = ch.codePointAt(0) as number;
  const hex = `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;
  return cp < 0x20 || cp === 0x7f || /\s/u.test(ch) ? hex : `'${ch}' (${hex})`;
}

/**
 * The ids of a text's characters. A character outside the vocabulary fails, naming every such character
 * (up to ten) and `source` (the prompt, say).
 */
export function encodeText(vocab: Vocabulary, text: string, source: string): Int32Array {
  const index = new Map<string, number>();
  vocab.chars.forEach((c, i) => index.set(c, i));
  const ids: number[] = [];
  const missing = new Set<string>();
  for (const ch of text) {
    const id = index.get(ch);
    if (id === undefined) missing.add(ch);
    else ids.push(id);
  }
  if (missing.size > 0) {
    const list = [...missing];
    throw new TextDataError(
      `${list.length === 1 ? 'a character' : `${list.length} characters`} not in the model's vocabulary: ` +
        list.slice(0, 10).map(showChar).join(', ') +
        (list.length > 10 ? ', …' : '') +
        ` (the vocabulary has ${vocab.chars.length} characters from the training text)`,
      source,
    );
  }
  return Int32Array.from(ids);
}

/** The text of some ids. */
export function decodeIds(vocab: Vocabulary, ids: ArrayLike<number>): string {
  let s = '';
  for (let i = 0; i < ids.length; i++) s += vocab.chars[ids[i]];
  return s;
}

/** Check a vocabulary read from a model file; `what` names it in messages. */
export function checkVocabulary(value: unknown, what: string): Vocabulary {
  const v = value as Vocabulary | null;
  if (
    typeof v !== 'object' ||
    v === null ||
    !Array.isArray(v.chars) ||
    v.chars.length === 0 ||
    !v.chars.every((c) => typeof c === 'string' && [...c].length === 1) ||
    new Set(v.chars).size !== v.chars.length
  )
    throw new TextDataError('expected { chars: [...] } with distinct single characters', what);
  return { chars: [...v.chars] };
}

/** A corpus as ids, split by position: the first `trainEnd` ids train, the rest validate. */
export interface CharCorpus {
  vocab: Vocabulary;
  ids: Int32Array;
  /** The first validation position (= ids.length when there is no validation part). */
  trainEnd: number;
}

/**
 * A text as a corpus: the vocabulary, the ids, and the last `val` fraction held out for validation (a
 * split by position, so no window straddles both parts). Each part must hold a window of `context`
 * characters plus its next character; if not, the message says how long the text and each part are.
 */
export function charCorpus(text: string, context: number, val: number, source: string): CharCorpus {
  const vocab = buildVocabulary(text);
  const ids = encodeText(vocab, text, source);
  const n = ids.length;
  const trainEnd = val > 0 ? n - Math.round(n * val) : n;
  const need = context + 1;
  if (n < need || trainEnd < need)
    throw new TextDataError(
      `${n} characters${val > 0 ? ` (${trainEnd} for training with --val ${val})` : ''} are too few for a context of ${context}: ` +
        `a window needs ${need} characters; use a shorter --context or a longer text`,
      source,
    );
  if (val > 0 && n - trainEnd < need)
    throw new TextDataError(
      `the validation part (the last ${n - trainEnd} of ${n} characters, --val ${val}) is shorter than a window of ` +
        `${need} characters; use a larger --val, a shorter --context or --val 0`,
      source,
    );
  return { vocab, ids, trainEnd };
}

/**
 * Windows of ids as a batch: `x` [count, context] (ids as numbers) and `y` [count, context] with the next
 * id of each position. Window k starts at `starts[k]`, which must leave room for context + 1 ids.
 */
export function windowsAt(
  ids: Int32Array,
  starts: ArrayLike<number>,
  context: number,
  dtype: DType = 'float32',
): { x: Tensor; y: Tensor } {
  const n = starts.length;
  const x = allocStorage(dtype, n * context);
  const y = allocStorage(dtype, n * context);
  fillWindows(ids, starts, context, x, y);
  return { x: new Tensor(x, [n, context]), y: new Tensor(y, [n, context]) };
}

/**
 * {@link windowsAt} into arrays the caller owns (at least starts.length·context long each), so a training
 * loop can refill one batch in place every step.
 */
export function fillWindows(
  ids: Int32Array,
  starts: ArrayLike<number>,
  context: number,
  x: Storage,
  y: Storage,
): void {
  const n = starts.length;
  for (let k = 0; k < n; k++) {
    const s = starts[k];
    for (let t = 0; t < context; t++) {
      x[k * context + t] = ids[s + t];
      y[k * context + t] = ids[s + t + 1];
    }
  }
}

/**
 * `count` window starts drawn uniformly from [from, to − context − 1], written into `out` when given (its
 * length must be `count`) or a new array.
 */
export function randomStarts(
  from: number,
  to: number,
  context: number,
  count: number,
  rng: RandomState,
  out: Int32Array = new Int32Array(count),
): Int32Array {
  const span = to - from - context;
  if (span < 1) throw new RangeError(`randomStarts: [${from}, ${to}) holds no window of ${context + 1}`);
  if (out.length !== count)
    throw new RangeError(`randomStarts: out holds ${out.length} starts, expected count = ${count}`);
  for (let i = 0; i < count; i++) out[i] = from + Math.min(span - 1, Math.floor(rng.random() * span));
  return out;
}

/** Up to `max` non-overlapping window starts over [from, to), evenly spread (a fixed validation set). */
export function tiledStarts(from: number, to: number, context: number, max: number): Int32Array {
  const fit = Math.floor((to - from - 1) / context);
  const count = Math.max(0, Math.min(max, fit));
  const out = new Int32Array(count);
  const stride = count > 0 ? Math.floor((to - from - context - 1) / Math.max(count - 1, 1)) : 0;
  for (let i = 0; i < count; i++) out[i] = from + i * (count > 1 ? stride : 0);
  return out;
}

/** How the next character is drawn. */
export interface SamplingOptions {
  /** Logits are divided by it before the softmax; 0 picks the most likely character (default 1). */
  temperature?: number;
  /** Draw only among the k most likely characters (default: all). */
  topK?: number;
  rng: RandomState;
}

/**
 * The next id from one row of logits: greedy at temperature 0 or top-k 1, else a draw from the softmax of
 * logits / temperature over the top-k (ties at the k-th logit kept, so the draw does not depend on how a
 * sort breaks them). One uniform number per draw from `rng`, so a seed gives the same text every time.
 */
export function sampleNext(logits: ArrayLike<number>, options: SamplingOptions): number {
  const n = logits.length;
  const temperature = options.temperature ?? 1;
  if (!(temperature >= 0) || !Number.isFinite(temperature))
    throw new RangeError(`sampleNext: temperature must be a finite number ≥ 0, got ${temperature}`);
  const k = options.topK ?? n;
  if (!Number.isInteger(k) || k < 1)
    throw new RangeError(`sampleNext: topK must be a positive integer, got ${k}`);
  let best = 0;
  for (let i = 1; i < n; i++) if (logits[i] > logits[best]) best = i;
  if (temperature === 0 || k === 1) return best;
  let cutoff = -Infinity;
  if (k < n) {
    const sorted = Array.from(logits).sort((a, b) => b - a);
    cutoff = sorted[k - 1];
  }
  const max = logits[best];
  const w = new Float64Array(n);
  let total = 0;
  for (let i = 0; i < n; i++)
    if (logits[i] >= cutoff) {
      // libm's exp: the same bits in every engine, so a seed gives the same text everywhere.
      w[i] = exp((logits[i] - max) / temperature);
      total += w[i];
    }
  let u = options.rng.random() * total;
  for (let i = 0; i < n; i++) {
    if (w[i] === 0) continue;
    u -= w[i];
    if (u < 0) return i;
  }
  return best;
}

/**
 * The lines of a text in a fixed shuffled order (numpy's shuffle from seed 0, the same for every run seed),
 * empty lines left out. A sorted list (the built-in names) split by position would hold out only the names
 * from 's' on, and every window would hold names sharing a prefix; shuffled, the held-out tenth is like the
 * rest.
 */
export function shuffleLines(text: string): string {
  const lines = text.split('\n').filter((l) => l !== '');
  const order = new Int32Array(lines.length);
  for (let i = 0; i < order.length; i++) order[i] = i;
  new RandomState(0).shuffle(order);
  return Array.from(order, (i) => lines[i]).join('\n') + '\n';
}
