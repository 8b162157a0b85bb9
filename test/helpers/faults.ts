// The fault engine shared by the fault tests (`npm test`, a few hundred cases per reader) and the soak
// (`npm run soak`, thousands): seeded mutations of valid files and flags, run through the real readers
// and the real command line in this process, each outcome sorted into what a user may see (a result, a
// message with exit 1 or 2) and what they must never see (a crash, a stack trace, an "internal error", a
// memory bomb, a corrupted chainrule file that loads as if nothing happened).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IO } from '../../cli/io.js';
import { main } from '../../cli/main.js';
import { parseCsv } from '../../cli/csv.js';
import {
  checkpointToJSON,
  fromSafetensors,
  modelFromJSON,
  modelToJSON,
  nn,
  optim,
  parseCheckpoint,
  random,
  SafetensorsError,
  ModelFileError,
  tensor,
  toSafetensors,
  PreprocessError,
} from '../../src/index.js';

/** What one case did. */
export type Outcome =
  | 'accepted' // read, or the command succeeded
  | 'rejected' // a message naming the problem (exit 1 or 2, or the reader's own error class)
  | 'crash' // an exception escaped, or the process would have died
  | 'stack' // a stack trace reached the user
  | 'internal' // "internal error": a bug, not bad input
  | 'bomb' // more than BOMB_BYTES allocated
  | 'undetected'; // a chainrule file that changed in content loaded without complaint

/** Counts of outcomes, by kind. */
export type Tally = Record<Outcome, number> & { cases: number; examples: string[] };

export function tally(): Tally {
  return {
    cases: 0,
    accepted: 0,
    rejected: 0,
    crash: 0,
    stack: 0,
    internal: 0,
    bomb: 0,
    undetected: 0,
    examples: [],
  };
}

/** Allocation that counts as a memory bomb: the inputs here are all under a few MB. */
export const BOMB_BYTES = 1024 * 2 ** 20;

/** numpy's MT19937 seeded: every case is reproducible from (suite, seed, index). */
export class Rng {
  private readonly r: random.RandomState;
  constructor(seed: number) {
    this.r = new random.RandomState(seed);
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return n <= 1 ? 0 : Math.min(n - 1, Math.floor(this.r.random() * n));
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)];
  }
  chance(p: number): boolean {
    return this.r.random() < p;
  }
}

const EVIL_NUMBERS = [
  0,
  -1,
  1,
  2,
  1e8,
  1e9,
  100000000,
  2 ** 31,
  2 ** 53,
  1e300,
  -1e300,
  1.5,
  0.5,
  1e-300,
  123456789012,
];
const EVIL_VALUES: unknown[] = [
  ...EVIL_NUMBERS,
  null,
  true,
  '',
  'x',
  '1e9',
  [],
  {},
  [1e8],
  [100000, 100000],
  { type: 'linear', in: 1e8, out: 1e8, bias: true },
  'AAAA',
  'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
];

/** A deeply nested array, as text (JSON.parse takes it; recursive code would not). */
export function deepJSON(depth: number): string {
  return '['.repeat(depth) + ']'.repeat(depth);
}

/** Every path to a value in a JSON document, as key lists (arrays of more than 16 entries sampled). */
function paths(doc: unknown, rng: Rng, prefix: (string | number)[] = [], out: (string | number)[][] = []) {
  out.push(prefix);
  if (Array.isArray(doc)) {
    const n = doc.length;
    const idx = n <= 16 ? [...Array(n).keys()] : [0, 1, n - 1, rng.int(n), rng.int(n)];
    for (const i of idx) paths(doc[i], rng, [...prefix, i], out);
  } else if (doc && typeof doc === 'object')
    for (const [k, v] of Object.entries(doc)) paths(v, rng, [...prefix, k], out);
  return out;
}

function setPath(doc: unknown, path: (string | number)[], value: unknown): unknown {
  if (path.length === 0) return value;
  let node = doc as Record<string | number, unknown>;
  for (const k of path.slice(0, -1)) node = node[k] as Record<string | number, unknown>;
  node[path[path.length - 1]] = value;
  return doc;
}

/** A mutated copy of a JSON text: a structural change (a value replaced) or a textual one (bytes). */
export function mutateJSON(text: string, rng: Rng): string {
  const kind = rng.int(10);
  if (kind < 5) {
    const doc = JSON.parse(text) as unknown;
    const ps = paths(doc, rng);
    const p = rng.pick(ps);
    let value: unknown = rng.pick(EVIL_VALUES);
    // Deep nesting goes in as text: JSON.stringify itself would overflow the stack on it.
    if (kind === 4) value = '__DEEP__';
    if (kind === 3 && p.length > 0) {
      // Delete the key instead.
      const parent = p.slice(0, -1).reduce<unknown>((n, k) => (n as Record<string, unknown>)[k], doc);
      if (Array.isArray(parent)) parent.splice(p[p.length - 1] as number, 1);
      else delete (parent as Record<string, unknown>)[p[p.length - 1]];
      return JSON.stringify(doc);
    }
    const out = JSON.stringify(setPath(doc, p, value));
    return kind === 4 ? out.replace('"__DEEP__"', deepJSON(2000 + rng.int(200000))) : out;
  }
  return mutateText(text, rng);
}

/** A byte-level change of a text: a character replaced, a range dropped or repeated, a number grown, a cut. */
export function mutateText(text: string, rng: Rng): string {
  const n = text.length;
  const at = rng.int(n);
  switch (rng.int(7)) {
    case 0: {
      // One character, often a base64 letter for another: the change a bad disk or copy makes.
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=,:[]{}"-.e ';
      return text.slice(0, at) + rng.pick([...alphabet]) + text.slice(at + 1);
    }
    case 1:
      return text.slice(0, at) + text.slice(Math.min(n, at + 1 + rng.int(64)));
    case 2: {
      const len = 1 + rng.int(64);
      return text.slice(0, at + len) + text.slice(at, at + len) + text.slice(at + len);
    }
    case 3: {
      // A digit run made huge: 16 → 1600000000.
      const m = /\d+/g;
      m.lastIndex = at;
      const hit = m.exec(text);
      if (!hit) return text.slice(0, at);
      return (
        text.slice(0, hit.index) +
        hit[0] +
        rng.pick(['0000000', '00000000000', 'e300', '.5']) +
        text.slice(hit.index + hit[0].length)
      );
    }
    case 4:
      return text.slice(0, at);
    case 5:
      return text.slice(0, at) + String.fromCharCode(rng.int(0x3000)) + text.slice(at + 1);
    default: {
      // Swap two characters.
      const b = rng.int(n);
      const chars = [...text];
      [chars[at], chars[b]] = [chars[b], chars[at]];
      return chars.join('');
    }
  }
}

/** A mutated copy of binary bytes (a safetensors file): bytes flipped, the length field changed, a cut. */
export function mutateBytes(bytes: Uint8Array, rng: Rng): Uint8Array {
  const out = bytes.slice();
  const kind = rng.int(6);
  if (kind === 0) {
    const k = 1 + rng.int(4);
    for (let i = 0; i < k; i++) out[rng.int(out.length)] = rng.int(256);
    return out;
  }
  if (kind === 1) {
    // The header length: small, huge, off by a little.
    const view = new DataView(out.buffer);
    const n = Number(view.getBigUint64(0, true));
    const v = rng.pick([0, 1, n - 1, n + 1, n * 2, 2 ** 32, 99_000_000, 2 ** 52]);
    view.setBigUint64(0, BigInt(Math.max(0, v)), true);
    return out;
  }
  if (kind === 2) return out.slice(0, rng.int(out.length));
  // The header's JSON, changed structurally or textually, written back with its true length.
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  const n = Number(view.getBigUint64(0, true));
  const header = new TextDecoder().decode(bytes.subarray(8, 8 + n));
  let changed = mutateJSON(header.trimEnd(), rng);
  if (kind === 5) changed = changed.replace(/"shape":\[(\d+)/, (_m, d: string) => `"shape":[${d}00000000`);
  const h = new TextEncoder().encode(changed);
  const res = new Uint8Array(8 + h.length + bytes.length - 8 - n);
  new DataView(res.buffer).setBigUint64(0, BigInt(h.length), true);
  res.set(h, 8);
  res.set(bytes.subarray(8 + n), 8 + h.length);
  return res;
}

// ---------------------------------------------------------------------------------------------------
// Seed files: a trained model, a checkpoint with optimizer and early-stopping state, safetensors weights.

function smallModel(): nn.Sequential {
  const rng = new random.RandomState(3);
  return new nn.Sequential(
    new nn.Linear(4, 6, { rng }),
    new nn.Tanh(),
    new nn.Linear(6, 3, { rng }),
    new nn.Softmax(-1),
  );
}

const PRE = {
  features: [
    { name: 'a', kind: 'numeric', mean: 1.5, std: 0.5 },
    { name: 'b', kind: 'numeric', mean: -2, std: 3 },
    { name: 'c', kind: 'categorical', categories: ['x', 'y'] },
  ],
  target: { name: 'y', kind: 'classes', classes: ['p', 'q', 'r'] },
  inputSize: 4,
};

/** A valid model file's text. */
export function seedModelText(): string {
  return modelToJSON(smallModel(), { task: 'classification', preprocessing: PRE, training: { seed: 1 } });
}

/** A valid checkpoint's text (Adam state after two steps). */
export function seedCheckpointText(): string {
  const model = smallModel();
  const opt = new optim.Adam(model.parameters(), { lr: 0.01 });
  for (let i = 0; i < 2; i++) {
    opt.zeroGrad();
    model
      .forward(tensor([[1, 2, 0, 1]]))
      .sum()
      .backward();
    opt.step();
  }
  const rng = new random.RandomState(5);
  return checkpointToJSON(model, {
    optimizer: opt,
    rng,
    epoch: 2,
    history: [{ epoch: 1, loss: 1 }],
    task: 'classification',
    preprocessing: PRE,
    training: { seed: 1 },
    earlyStopping: { best: 0.5, bestEpoch: 1, sinceBest: 1, bestState: model.stateDict() },
    partialEpoch: {
      epoch: 3,
      batch: 1,
      lossSum: 0.75,
      order: Int32Array.from([2, 0, 1]),
      metrics: [2, 2, 1, 0.5, 0.25, -1],
      reference: 1.25,
    },
  });
}

/** A valid safetensors file of a 4-6-3 MLP. */
export function seedSafetensors(): Uint8Array {
  const rng = new random.RandomState(4);
  return toSafetensors(
    new nn.Sequential(new nn.Linear(4, 6, { rng }), new nn.ReLU(), new nn.Linear(6, 3, { rng })),
  );
}

// ---------------------------------------------------------------------------------------------------
// Running a case.

/** Whether an error is one of the library's own "bad input" errors. */
function isInputError(e: unknown): boolean {
  return (
    e instanceof ModelFileError ||
    e instanceof SafetensorsError ||
    e instanceof PreprocessError ||
    (e as Error)?.name === 'CsvError'
  );
}

/** Memory in use beyond the JavaScript heap: typed arrays, wasm memory. */
function external(): number {
  const m = process.memoryUsage();
  return m.arrayBuffers + m.external;
}

/** Run `fn`, sorting what happens; `record` gets a short description of a bad outcome. */
export function classifyCall(fn: () => void, t: Tally, label: string): Outcome {
  const before = external();
  const rssBefore = process.resourceUsage().maxRSS * 1024;
  let outcome: Outcome;
  try {
    fn();
    outcome = 'accepted';
  } catch (e) {
    outcome = isInputError(e) ? 'rejected' : 'internal';
    if (outcome === 'internal')
      note(t, `${label}: ${(e as Error)?.name}: ${(e as Error)?.message?.slice(0, 160)}`);
  }
  const grew = Math.max(external() - before, process.resourceUsage().maxRSS * 1024 - rssBefore);
  if (grew > BOMB_BYTES) {
    outcome = 'bomb';
    note(t, `${label}: ${(grew / 2 ** 20).toFixed(0)} MiB`);
  }
  t.cases++;
  t[outcome]++;
  return outcome;
}

function note(t: Tally, line: string): void {
  if (t.examples.length < 12) t.examples.push(line);
}

/** A temporary folder for the command-line cases, removed by `done`. */
export function scratch(): { dir: string; done: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'chainrule-fault-'));
  return { dir, done: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Run the command line in this process; sort the outcome by exit code and what reached stderr. */
export async function classifyCli(args: string[], dir: string, t: Tally, label: string): Promise<Outcome> {
  let out = '';
  let err = '';
  const io: IO = {
    out: (s) => void (out += s),
    err: (s) => void (err += s),
    isTTY: false,
    columns: 80,
    cwd: dir,
  };
  const before = external();
  const rssBefore = process.resourceUsage().maxRSS * 1024;
  let outcome: Outcome;
  let code = -1;
  try {
    code = await main(args, io);
    outcome = code === 0 ? 'accepted' : 'rejected';
  } catch (e) {
    outcome = 'crash';
    note(t, `${label}: ${(e as Error)?.message?.slice(0, 160)}`);
  }
  if (process.env.FAULT_DEBUG) console.log(code, label, '→', err.trim().split('\n').pop()?.slice(0, 150));
  if (/internal error/.test(err)) {
    outcome = 'internal';
    note(t, `${label}: ${err.trim().split('\n')[0].slice(0, 200)}`);
  } else if (/\n\s+at [^\n]*:\d+:\d+/.test(err)) {
    outcome = 'stack';
    note(t, `${label}: ${err.slice(0, 200)}`);
  } else if (outcome === 'rejected' && ![1, 2, 130].includes(code)) {
    outcome = 'crash';
    note(t, `${label}: exit ${code}`);
  }
  const grew = Math.max(external() - before, process.resourceUsage().maxRSS * 1024 - rssBefore);
  if (grew > BOMB_BYTES) {
    outcome = 'bomb';
    note(t, `${label}: ${(grew / 2 ** 20).toFixed(0)} MiB`);
  }
  t.cases++;
  t[outcome]++;
  void out;
  return outcome;
}

/** The document of a chainrule file without its digest, as canonical text: what "the content" is. */
function content(text: string): string | null {
  try {
    const doc = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text) as Record<string, unknown>;
    delete doc.sha256;
    return JSON.stringify(doc);
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------------
// The suites: each runs `n` seeded cases and returns the tally.

/** Mutated model files through `modelFromJSON`: a changed content that loads is an undetected corruption. */
export function fuzzModelFiles(n: number, seed: number): Tally {
  const t = tally();
  const base = seedModelText();
  const original = content(base);
  const rng = new Rng(seed);
  for (let i = 0; i < n; i++) {
    const text = mutateJSON(base, rng);
    const o = classifyCall(() => modelFromJSON(text, 'm.json'), t, `model #${i}`);
    if (o === 'accepted' && content(text) !== original) {
      t.accepted--;
      t.undetected++;
      note(t, `model #${i}: changed content loaded`);
    }
  }
  return t;
}

/** Mutated checkpoints through `parseCheckpoint`. */
export function fuzzCheckpoints(n: number, seed: number): Tally {
  const t = tally();
  const base = seedCheckpointText();
  const original = content(base);
  const rng = new Rng(seed);
  for (let i = 0; i < n; i++) {
    const text = mutateJSON(base, rng);
    const o = classifyCall(() => parseCheckpoint(text, 'c.json'), t, `checkpoint #${i}`);
    if (o === 'accepted' && content(text) !== original) {
      t.accepted--;
      t.undetected++;
      note(t, `checkpoint #${i}: changed content loaded`);
    }
  }
  return t;
}

/** Mutated safetensors files through `fromSafetensors` (no digest there: foreign files only must not crash or bomb). */
export function fuzzSafetensors(n: number, seed: number): Tally {
  const t = tally();
  const base = seedSafetensors();
  const rng = new Rng(seed);
  for (let i = 0; i < n; i++) {
    const bytes = mutateBytes(base, rng);
    classifyCall(() => fromSafetensors(bytes, { source: 'w.safetensors' }), t, `safetensors #${i}`);
  }
  return t;
}

const CSV_CELLS = [
  '1',
  '-2.5',
  '1e300',
  '-1e308',
  '1e38',
  '3.5e38',
  'NaN',
  'inf',
  '',
  '"a,b"',
  'x',
  '"',
  '0x10',
  '1e-320',
  ' 4 ',
  '٣',
  '1,5',
];

/** A random small CSV: a header and rows of (mostly) numbers, some evil. */
export function randomCsv(rng: Rng): string {
  const cols = 2 + rng.int(4);
  const rows = 3 + rng.int(12);
  const lines = [Array.from({ length: cols }, (_, j) => (rng.chance(0.05) ? '' : `c${j}`)).join(',')];
  for (let r = 0; r < rows; r++)
    lines.push(
      Array.from({ length: cols + (rng.chance(0.03) ? 1 : 0) }, (_, j) =>
        rng.chance(0.12)
          ? rng.pick(CSV_CELLS)
          : String(j === cols - 1 ? rng.int(3) : (rng.int(2000) - 1000) / 100),
      ).join(','),
    );
  let text = lines.join(rng.chance(0.1) ? '\r\n' : '\n');
  if (rng.chance(0.2)) text = mutateText(text, rng);
  return text;
}

/** Random CSVs through the parser, and some through `train` itself (one epoch). */
export async function fuzzCsv(n: number, seed: number, trainEvery = 4): Promise<Tally> {
  const t = tally();
  const rng = new Rng(seed);
  const { dir, done } = scratch();
  try {
    for (let i = 0; i < n; i++) {
      const text = randomCsv(rng);
      if (i % trainEvery !== 0) {
        classifyCall(() => parseCsv(text, 'd.csv'), t, `csv #${i}`);
        continue;
      }
      writeFileSync(join(dir, 'd.csv'), text);
      const extra = rng.pick([
        [],
        ['--scale', 'none'],
        ['--scale', 'minmax'],
        ['--task', 'regression'],
        ['--dtype', 'float64'],
      ]);
      await classifyCli(
        [
          'train',
          '--data',
          'd.csv',
          '--epochs',
          '1',
          '--layers',
          '3',
          '--quiet',
          '--out',
          'm.json',
          ...extra,
        ],
        dir,
        t,
        `csv-train #${i} ${JSON.stringify(text.slice(0, 80))}`,
      );
    }
  } finally {
    done();
  }
  return t;
}

/** Flag values, good and bad, for the flag fuzzer. */
const FLAG_VALUES: Record<string, string[]> = {
  data: ['xor', 'circle', 'nope', 'd.csv', 'd.csv', 'd.csv', '.', '', 'm.json'],
  layers: ['4', '3,3', '0', '-1', '100000,100000', '1e3', '0x10', 'a', '', '4,,4', '2.5'],
  epochs: ['1', '2', '0', '-1', '1.5', 'x', '0x2', '1e0'],
  lr: ['0.01', '0', '-1', '0x10', 'Infinity', 'NaN', '1e400', '1e-400', '1e6', '.5', '5.'],
  'batch-size': ['1', '8', '0', '-3', '1e9', 'x'],
  val: ['0', '0.2', '0.9', '1', '-0.1', 'x'],
  seed: ['0', '1', '-1', '4294967296', '1.5', 'x'],
  activation: ['relu', 'tanh', 'nope', ''],
  optimizer: ['sgd', 'adam', 'nope'],
  loss: ['mse', 'cross-entropy', 'huber', 'nope'],
  dtype: ['float32', 'float64', 'float16'],
  scale: ['standard', 'minmax', 'none', 'x'],
  size: ['10', '0', '1e9', '100000000', 'x'],
  noise: ['0', '0.1', '-1', 'x'],
  patience: ['1', '0', 'x'],
  'until-loss': ['0.5', '0', '-1', 'x'],
  task: ['classification', 'regression', 'x'],
  target: ['y', 'species', 'nope', ''],
  out: ['m.json', 'p.csv', 'sub/m.json', '.', 'fifo', 'm.json/x'],
  'checkpoint-every': ['1', '0', 'x'],
  resume: ['m.ckpt.json', 'nope.json', 'd.csv', '.'],
  model: ['m.json', 'nope.json', 'd.csv', '.', 'big.json'],
  format: ['csv', 'json', 'x'],
};

/** Random command lines (train, predict, eval, info) with good and bad flags, through `main`. */
export async function fuzzFlags(n: number, seed: number): Promise<Tally> {
  const t = tally();
  const rng = new Rng(seed);
  const { dir, done } = scratch();
  try {
    writeFileSync(join(dir, 'd.csv'), 'a,b,y\n1,2,0\n2,3,1\n3,1,0\n4,4,1\n5,0,0\n');
    writeFileSync(
      join(dir, 'big.json'),
      `{"format":"chainrule-model","version":1,"architecture":${deepJSON(100000)}}`,
    );
    const model = seedModelText();
    // A real run's model and checkpoint (with its settings), to mutate for info, predict and --resume.
    const silent: Tally = tally();
    await classifyCli(
      [
        'train',
        '--data',
        'xor',
        '--size',
        '40',
        '--epochs',
        '2',
        '--checkpoint-every',
        '1',
        '--quiet',
        '--out',
        'base.json',
      ],
      dir,
      silent,
      'base',
    );
    const { readFileSync } = await import('node:fs');
    const ckpt = readFileSync(join(dir, 'base.ckpt.json'), 'utf8');
    const trained = readFileSync(join(dir, 'base.json'), 'utf8');
    const commands: Record<string, string[]> = {
      train: [
        'data',
        'layers',
        'epochs',
        'lr',
        'batch-size',
        'val',
        'seed',
        'activation',
        'optimizer',
        'loss',
        'dtype',
        'scale',
        'size',
        'noise',
        'patience',
        'until-loss',
        'task',
        'target',
        'out',
        'checkpoint-every',
        'resume',
      ],
      predict: ['model', 'data', 'out'],
      eval: ['model', 'data'],
      info: [],
    };
    for (let i = 0; i < n; i++) {
      writeFileSync(
        join(dir, 'm.json'),
        rng.chance(0.5) ? mutateJSON(rng.pick([model, trained]), rng) : rng.pick([model, trained]),
      );
      writeFileSync(join(dir, 'm.ckpt.json'), rng.chance(0.6) ? mutateJSON(ckpt, rng) : ckpt);
      const command = rng.pick(['train', 'train', 'predict', 'eval', 'info']);
      const args = [command];
      const flags = commands[command];
      // Mostly one or two flags, each used once, so that many command lines get far enough to run.
      const k = flags.length === 0 ? 0 : 1 + rng.int(rng.chance(0.7) ? 2 : 4);
      for (let j = 0; j < k; j++) {
        const f = rng.pick(flags);
        if (args.includes(`--${f}`)) continue;
        // Values that start with a dash are given as --flag=value (as a user must).
        const v = rng.pick(FLAG_VALUES[f] ?? ['x']);
        if (v.startsWith('-')) args.push(`--${f}=${v}`);
        else args.push(`--${f}`, v);
      }
      if (command === 'train') {
        if (!args.includes('--epochs')) args.push('--epochs', args.includes('--resume') ? '3' : '1');
        if (!args.includes('--data') && !args.includes('--resume')) args.push('--data', 'xor');
        if (!args.includes('--size')) args.push('--size', '40');
        args.push('--quiet');
      }
      if (command === 'info') {
        args.push(
          rng.pick(['m.json', 'm.json', 'm.json', 'm.ckpt.json', 'big.json', 'd.csv', '.', 'nope.json']),
        );
        if (rng.chance(0.5)) args.push('--json');
      } else if (command !== 'train' && !args.includes('--model')) args.push('--model', 'm.json');
      if ((command === 'predict' || command === 'eval') && !args.includes('--data'))
        args.push('--data', 'd.csv');
      await classifyCli(args, dir, t, `flags #${i} ${args.join(' ')}`);
    }
  } finally {
    done();
  }
  return t;
}

/** The tallies of several suites as a table (one row per suite, then the totals). */
export function table(rows: [string, Tally][]): string {
  const cols: (keyof Tally)[] = [
    'cases',
    'accepted',
    'rejected',
    'crash',
    'stack',
    'internal',
    'bomb',
    'undetected',
  ];
  const names = ['suite', ...cols.map(String)];
  const all: string[][] = rows.map(([name, t]) => [name, ...cols.map((c) => String(t[c]))]);
  const total = cols.map((c) => String(rows.reduce((s, [, t]) => s + (t[c] as number), 0)));
  all.push(['total', ...total]);
  const widths = names.map((h, j) => Math.max(h.length, ...all.map((r) => r[j].length)));
  const line = (r: string[]) =>
    r.map((v, j) => (j === 0 ? v.padEnd(widths[j]) : v.padStart(widths[j]))).join('  ');
  return [line(names), ...all.map(line)].join('\n');
}
