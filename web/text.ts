// The Text page's wiring: state ↔ URL, controls → worker, worker frames → drawing. The names list is a
// file built next to the page (names.txt); a pasted text or a dropped file is read here and sent over.
import { decodeText, playground } from './lib.js';
import { mountNav } from './nav.js';
import { download } from './page.js';
import { AttentionView, GradientView, Tip, drawChart, showChar } from './text.draw.js';
import type { FromTextWorker, Inspection, TextFrame, ToTextWorker } from './text.protocol.js';
import {
  DEFAULT_TEXT_STATE,
  MAX_URL_TEXT,
  textConfigOf,
  textStateFromHash,
  textStateToHash,
  type TextState,
} from './text.state.js';

const byId = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
mountNav(byId('pages'), 'text.html');

const worker = new Worker(new URL('./text.worker.js', import.meta.url), { type: 'module' });
const post = (message: ToTextWorker) => worker.postMessage(message);

const parsed = textStateFromHash(location.hash);
let state: TextState = parsed.state;
let runId = 0;
let playing = false;
let stats: playground.TextStats[] = [];
let step: number | null = null;
let digest: string | null = null;
let samples: string[] = [];
let inspection: Inspection | null = null;
let kernelSet: string | null = null;
/** The dropped or picked file's text (never in the URL), and a long pasted text. */
let fileText: { name: string; text: string } | null = null;
let longPaste: string | null = null;
let namesText: Promise<string> | null = null;

const tip = new Tip(byId('card'));
const attentionView = new AttentionView(byId('attention'), tip);
const gradientView = new GradientView(byId('gradients'), tip);

function status(text: string): void {
  byId('status').textContent = text;
}

/** The prompt as typed: ⏎ stands for a newline. */
const promptText = (typed: string) => typed.replaceAll('⏎', '\n');
const typedPrompt = (prompt: string) => prompt.replaceAll('\n', '⏎');

// ---- Controls: the settings' choices, each also taking a value a URL brings.
const CHOICES: Record<string, readonly (string | number)[]> = {
  model: ['gpt', 'lstm'],
  embed: [8, 16, 24, 32, 48, 64, 96, 128],
  layers: [1, 2, 3, 4],
  heads: [1, 2, 4, 8],
  hidden: [32, 64, 128, 256],
  context: [4, 8, 12, 16, 24, 32, 48, 64],
  lr: [0.0003, 0.001, 0.002, 0.003, 0.005, 0.01, 0.02, 0.03],
  batch: [8, 16, 32, 64, 128],
};
const LABELS: Record<string, string> = { gpt: 'GPT', lstm: 'LSTM' };

function fillSelects(): void {
  for (const [key, values] of Object.entries(CHOICES)) {
    const select = byId<HTMLSelectElement>(key);
    const current = state[key as keyof TextState];
    const all = values.includes(current as never) ? values : [...values, current];
    select.replaceChildren(
      ...all.map((v) => {
        const o = document.createElement('option');
        o.value = String(v);
        o.textContent = LABELS[String(v)] ?? String(v);
        return o;
      }),
    );
    select.value = String(current);
  }
  byId<HTMLInputElement>('seed').value = String(state.seed);
  for (const r of document.querySelectorAll<HTMLInputElement>('input[name=corpus]'))
    r.checked = r.value === state.corpus;
  byId('paste-box').hidden = state.corpus !== 'pasted';
  byId('file-box').hidden = state.corpus !== 'file';
  if (state.corpus === 'pasted' && byId<HTMLTextAreaElement>('text').value === '')
    byId<HTMLTextAreaElement>('text').value = longPaste ?? state.text;
  byId<HTMLTextAreaElement>('prompt').value = typedPrompt(state.prompt);
  document.body.className = state.model;
}

/** Store the state in the URL (replacing the entry: every control change is not a history step). */
function writeUrl(): void {
  window.history.replaceState(null, '', textStateToHash(state));
}

// ---- The corpus.
async function corpusText(): Promise<{ text: string; source: string } | string> {
  if (state.corpus === 'names') {
    namesText ??= fetch('names.txt').then((r) => {
      if (!r.ok) throw new Error(`names.txt: HTTP ${r.status}`);
      return r.text();
    });
    return { text: await namesText, source: 'the names list' };
  }
  if (state.corpus === 'pasted') {
    const text = longPaste ?? state.text;
    if (text.length === 0) return 'Paste a text, then press “Train on this text”.';
    return { text, source: 'the pasted text' };
  }
  if (!fileText)
    return 'This page trains on a file you drop or pick. A URL cannot carry a file: drop it again, or choose another text.';
  return { text: fileText.text, source: fileText.name };
}

/** Start a new run (step 0) from the state. */
async function restart(): Promise<void> {
  const id = ++runId;
  // The old run stops now, even when no new one can start (no text yet).
  if (playing) post({ type: 'pause' });
  playing = false;
  step = null;
  digest = null;
  stats = [];
  samples = [];
  inspection = null;
  updatePlayer();
  let corpus: { text: string; source: string } | string;
  try {
    corpus = await corpusText();
  } catch (e) {
    corpus = `Cannot load the text: ${(e as Error).message}`;
  }
  if (id !== runId) return;
  if (typeof corpus === 'string') {
    byId('corpus-info').textContent = corpus;
    return;
  }
  post({ type: 'init', run: id, config: textConfigOf(state), ...corpus, prompt: state.prompt });
}

function setState(next: TextState, rerun = true): void {
  state = next;
  // Heads must divide the width: a width they do not divide takes one head.
  if (state.model === 'gpt' && state.embed % state.heads !== 0) state.heads = 1;
  fillSelects();
  writeUrl();
  if (rerun) void restart();
}

// ---- Frames.
function updatePlayer(): void {
  const b = byId('play');
  b.classList.toggle('playing', playing);
  b.setAttribute('aria-pressed', String(playing));
  b.setAttribute('aria-label', playing ? 'Pause' : 'Play');
  byId('step-count').textContent = step === null ? '–' : step.toLocaleString('en-US');
}

function show(frame: TextFrame): void {
  step = frame.step;
  playing = frame.playing;
  digest = frame.digest;
  stats.push(...frame.stats);
  const lastLoss = [...stats].reverse().find((s) => s.loss !== null);
  const lastVal = [...stats].reverse().find((s) => s.valLoss !== undefined);
  byId('loss').textContent = lastLoss?.loss != null ? lastLoss.loss.toFixed(3) : '–';
  byId('val-loss').textContent =
    lastVal?.valLoss !== undefined ? `${lastVal.valLoss.toFixed(3)} (step ${lastVal.step})` : '–';
  drawChart(byId<HTMLCanvasElement>('chart'), stats);
  if (frame.sample !== null) {
    samples = [frame.sample];
    const lines =
      state.corpus === 'names' ? frame.sample.split('\n').filter((l) => l !== '') : [frame.sample];
    byId('samples').textContent = `step ${frame.step}:\n${lines.join('\n')}`;
  }
  if (frame.inspection) {
    inspection = frame.inspection;
    const i = frame.inspection;
    byId('prompt-note').textContent = i.note ?? '';
    if (i.gradients) gradientView.update(i.gradients);
    else gradientView.clear();
    if (i.attention) attentionView.update(i.attention);
    else attentionView.clear();
  }
  updatePlayer();
}

worker.onmessage = (event: MessageEvent<FromTextWorker>) => {
  const m = event.data;
  if (m.type === 'kernels') {
    kernelSet = m.name;
    byId('kernels').textContent = `Training on the ${m.name} kernels in a worker, in float64.`;
    return;
  }
  if (m.run !== runId) return;
  switch (m.type) {
    case 'ready':
      byId('corpus-info').textContent =
        `${m.characters.toLocaleString('en-US')} characters, ${m.vocabulary.length} distinct (${m.vocabulary.map(showChar).join('')}); ` +
        `the first ${m.trainCharacters.toLocaleString('en-US')} train, the rest validate. ${m.parameters.toLocaleString('en-US')} parameters.`;
      status('');
      show(m.frame);
      return;
    case 'frame':
      show(m.frame);
      return;
    case 'exported': {
      download(m);
      status(
        m.format === 'onnx'
          ? `Saved ${m.filename}: ids [batch, length] int64 → logits [batch, length, vocab], float32`
          : `Saved ${m.filename}: chainrule generate --model ${m.filename}`,
      );
      return;
    }
    case 'error':
      status(m.message);
      if (m.fatal) byId('corpus-info').textContent = m.message;
      playing = false;
      updatePlayer();
      return;
    default:
      m satisfies never;
  }
};

// ---- Wiring.
byId('play').addEventListener('click', () => {
  if (step === null) return;
  playing = !playing;
  post({ type: playing ? 'play' : 'pause' });
  updatePlayer();
});
byId('step').addEventListener('click', () => post({ type: 'step' }));
byId('reset').addEventListener('click', () => void restart());
for (const key of Object.keys(CHOICES))
  byId<HTMLSelectElement>(key).addEventListener('change', (e) => {
    const raw = (e.target as HTMLSelectElement).value;
    setState({ ...state, [key]: key === 'model' ? raw : Number(raw) });
  });
byId<HTMLInputElement>('seed').addEventListener('change', (e) => {
  const v = Number((e.target as HTMLInputElement).value);
  if (Number.isInteger(v) && v >= 0 && v < 2 ** 32) setState({ ...state, seed: v });
  else status('The seed is a whole number from 0 to 4294967295.');
});
for (const r of document.querySelectorAll<HTMLInputElement>('input[name=corpus]'))
  r.addEventListener('change', () => setState({ ...state, corpus: r.value as TextState['corpus'] }));
byId('use-text').addEventListener('click', () => {
  const text = byId<HTMLTextAreaElement>('text').value;
  longPaste = [...text].length > MAX_URL_TEXT ? text : null;
  setState({ ...state, corpus: 'pasted', text: longPaste ? '' : text });
  if (longPaste) status(`The text has over ${MAX_URL_TEXT} characters, so the URL does not keep it.`);
});
let promptTimer: ReturnType<typeof setTimeout> | null = null;
byId<HTMLTextAreaElement>('prompt').addEventListener('input', (e) => {
  const typed = (e.target as HTMLTextAreaElement).value;
  if (promptTimer !== null) clearTimeout(promptTimer);
  promptTimer = setTimeout(() => {
    state = { ...state, prompt: promptText(typed) };
    writeUrl();
    post({ type: 'prompt', prompt: state.prompt });
  }, 150);
});

async function useFile(file: File): Promise<void> {
  try {
    const text = decodeText(new Uint8Array(await file.arrayBuffer()), file.name);
    fileText = { name: file.name, text };
    setState({ ...state, corpus: 'file', text: '' });
  } catch (e) {
    status((e as Error).message);
  }
}
byId('file-pick').addEventListener('click', () => byId('file').click());
byId<HTMLInputElement>('file').addEventListener('change', (e) => {
  const f = (e.target as HTMLInputElement).files?.[0];
  if (f) void useFile(f);
});
document.addEventListener('dragover', (e) => e.preventDefault());
document.addEventListener('drop', (e) => {
  e.preventDefault();
  const f = e.dataTransfer?.files[0];
  if (f) void useFile(f);
});
byId('export').addEventListener('click', () => post({ type: 'export', format: 'chainrule' }));
byId('export-onnx').addEventListener('click', () => post({ type: 'export', format: 'onnx' }));

/** What the browser tests read: the numbers on the page, as the worker sent them. */
(window as unknown as { chainruleText: unknown }).chainruleText = {
  state: () => state,
  history: () => stats,
  step: () => step,
  digest: () => digest,
  samples: () => samples,
  inspection: () => inspection,
  playing: () => playing,
  kernels: () => kernelSet,
};

if (parsed.ignored.length > 0) status(`Ignored in the URL: ${parsed.ignored.join(', ')}`);
if (location.hash === '') state = { ...DEFAULT_TEXT_STATE };
fillSelects();
writeUrl();
void restart();
