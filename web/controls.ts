// The settings: toolbar selects, data sliders, toggles, dataset buttons and the hidden-layer +/− buttons.
// They read from and write to the page state only through `render` and the `change` callback.
import { columnPitch, NODE } from './draw/network.js';
import { drawThumbnail } from './draw/heatmap.js';
import { optim, playground } from './lib.js';
import type { PageState } from './state.js';

/** What the controls ask of the page. */
export interface ControlEvents {
  /** Settings changed (the page decides whether the run restarts). */
  change(patch: Partial<PageState>): void;
  pickDataset(dataset: playground.DatasetName): void;
  play(): void;
  step(): void;
  reset(): void;
  regenerate(): void;
}

const LABELS: Record<string, string> = {
  ...playground.ACTIVATION_LABELS,
  none: 'None',
  L1: 'L1',
  L2: 'L2',
  classification: 'Classification',
  regression: 'Regression',
  ...Object.fromEntries(Object.entries(optim.OPTIMIZERS).map(([name, o]) => [name, o.label])),
  squared: 'Squared error ½(o − y)²',
  crossEntropy: 'Cross-entropy',
};

const byId = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

function fillSelect(
  select: HTMLSelectElement,
  values: readonly (string | number)[],
  current: string | number,
): void {
  const all = values.includes(current) ? values : [...values, current];
  const key = all.join('|');
  if (select.dataset.options !== key) {
    select.replaceChildren(
      ...all.map((v) => {
        const o = document.createElement('option');
        o.value = String(v);
        o.textContent = LABELS[String(v)] ?? String(v);
        return o;
      }),
    );
    select.dataset.options = key;
  }
  select.value = String(current);
}

export class Controls {
  private readonly play = byId<HTMLButtonElement>('play');
  private readonly epoch = byId<HTMLOutputElement>('epoch');
  private readonly datasetButtons = new Map<playground.DatasetName, HTMLButtonElement>();

  constructor(private readonly events: ControlEvents) {
    this.play.addEventListener('click', () => events.play());
    byId('step').addEventListener('click', () => events.step());
    byId('reset').addEventListener('click', () => events.reset());
    byId('regenerate').addEventListener('click', () => events.regenerate());
    const selects: [keyof PageState, (v: string) => unknown][] = [
      ['learningRate', Number],
      ['activation', String],
      ['regularization', String],
      ['regularizationRate', Number],
      ['problem', String],
      ['optimizer', String],
      ['loss', String],
    ];
    for (const [key, parse] of selects) {
      const select = byId<HTMLSelectElement>(key);
      select.addEventListener('change', () =>
        events.change({ [key]: parse(select.value) } as Partial<PageState>),
      );
    }
    for (const key of ['trainRatio', 'noise', 'batchSize'] as const) {
      const input = byId<HTMLInputElement>(key);
      input.addEventListener('input', () => this.sliderText(key, Number(input.value)));
      input.addEventListener('change', () => events.change({ [key]: Number(input.value) }));
    }
    for (const key of ['showTestData', 'discretize', 'showGradients'] as const) {
      const box = byId<HTMLInputElement>(key);
      box.addEventListener('change', () => events.change({ [key]: box.checked }));
    }
    this.buildDatasets();
  }

  /** One button per dataset with its picture (the CSV one opens the file picker). */
  private buildDatasets(): void {
    const root = byId('datasets');
    for (const name of playground.DATASET_NAMES) {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'dataset';
      b.dataset.dataset = name;
      b.title = playground.DATASETS[name].label;
      b.setAttribute('aria-label', `Dataset: ${playground.DATASETS[name].label}`);
      const canvas = document.createElement('canvas');
      canvas.width = canvas.height = 48;
      if (name === 'seed')
        drawThumbnail(canvas, playground.playgroundData(playground.SEED_PRESET).train, [0, 1]);
      else if (name !== 'csv')
        drawThumbnail(canvas, playground.generatePoints(name, 0, 0, 200), playground.DOMAIN);
      const label = document.createElement('span');
      label.textContent = name === 'seed' ? 'seed 2‑2‑1' : name === 'csv' ? 'CSV' : name;
      b.append(canvas, label);
      b.addEventListener('click', () => this.events.pickDataset(name));
      this.datasetButtons.set(name, b);
      root.append(b);
    }
  }

  private sliderText(key: 'trainRatio' | 'noise' | 'batchSize', v: number): void {
    byId<HTMLOutputElement>(`${key}-value`).value = key === 'trainRatio' ? `${v}%` : String(v);
  }

  /** Show `state` in every control. */
  render(state: PageState, csvLoaded: boolean): void {
    const C = playground.CHOICES;
    fillSelect(byId('learningRate'), C.learningRate, state.learningRate);
    fillSelect(byId('activation'), C.activation, state.activation);
    fillSelect(byId('regularization'), C.regularization, state.regularization);
    fillSelect(byId('regularizationRate'), C.regularizationRate, state.regularizationRate);
    fillSelect(byId('problem'), C.problem, state.problem);
    fillSelect(byId('optimizer'), C.optimizer, state.optimizer);
    fillSelect(byId('loss'), C.loss, state.loss);
    // Cross-entropy needs two classes.
    const ce = byId<HTMLSelectElement>('loss').querySelector(
      'option[value="crossEntropy"]',
    ) as HTMLOptionElement;
    ce.disabled = state.problem === 'regression';
    for (const key of ['trainRatio', 'noise', 'batchSize'] as const) {
      byId<HTMLInputElement>(key).value = String(state[key]);
      this.sliderText(key, state[key]);
    }
    const seedRun = state.dataset === 'seed';
    byId<HTMLInputElement>('trainRatio').disabled = seedRun;
    byId<HTMLInputElement>('noise').disabled = seedRun || state.dataset === 'csv';
    for (const key of ['showTestData', 'discretize', 'showGradients'] as const)
      byId<HTMLInputElement>(key).checked = state[key];
    for (const [name, b] of this.datasetButtons) {
      b.classList.toggle('selected', name === state.dataset);
      b.setAttribute('aria-pressed', String(name === state.dataset));
      const own = playground.DATASETS[name].problem;
      b.hidden = own !== null && own !== state.problem && name !== 'seed';
      if (name === 'csv') b.disabled = !csvLoaded;
    }
    byId<HTMLOutputElement>('seed-value').value = String(state.seed);
    this.renderLayers(state.hidden);
  }

  /** The hidden-layer buttons: add or remove a layer, and a neuron in each layer. */
  private renderLayers(hidden: readonly number[]): void {
    const root = byId('layer-controls');
    const pitch = columnPitch((root.parentElement?.clientWidth ?? Infinity) - 56, hidden.length);
    const key = `${hidden.join(',')}@${pitch}`;
    if (root.dataset.hidden === key) return;
    root.dataset.hidden = key;
    const button = (text: string, label: string, disabled: boolean, onClick: () => void) => {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'plus-minus';
      b.textContent = text;
      b.setAttribute('aria-label', label);
      b.disabled = disabled;
      b.addEventListener('click', onClick);
      return b;
    };
    const set = (next: number[]) => this.events.change({ hidden: next });
    const { maxLayers, maxNeurons } = playground.LIMITS;
    const head = document.createElement('div');
    head.className = 'layers-head';
    const title = document.createElement('span');
    title.textContent = `${hidden.length} hidden layer${hidden.length === 1 ? '' : 's'}`;
    head.append(
      button('+', 'Add a hidden layer', hidden.length >= maxLayers, () => set([...hidden, 2])),
      button('−', 'Remove the last hidden layer', hidden.length === 0, () => set(hidden.slice(0, -1))),
      title,
    );
    const row = document.createElement('div');
    row.className = 'layers-row';
    hidden.forEach((n, l) => {
      const col = document.createElement('div');
      col.className = 'layer-col';
      col.style.left = `${(l + 1) * pitch + NODE / 2 - 40}px`;
      const change = (d: number) => set(hidden.map((v, i) => (i === l ? v + d : v)));
      const text = document.createElement('span');
      text.textContent = `${n} neuron${n === 1 ? '' : 's'}`;
      col.append(
        button('+', `Add a neuron to hidden layer ${l + 1}`, n >= maxNeurons, () => change(1)),
        button('−', `Remove a neuron from hidden layer ${l + 1}`, n <= 1, () => change(-1)),
        text,
      );
      row.append(col);
    });
    const features = document.createElement('div');
    features.className = 'layer-col features-title';
    features.textContent = 'Features';
    row.prepend(features);
    const focused = root.contains(document.activeElement)
      ? document.activeElement?.getAttribute('aria-label')
      : null;
    root.replaceChildren(head, row);
    // Keep the keyboard's place: the same button, or the other one of its pair when it became disabled.
    if (focused) {
      const buttons = [...root.querySelectorAll<HTMLButtonElement>('button')];
      const same = buttons.find((b) => b.getAttribute('aria-label') === focused);
      (same && !same.disabled ? same : buttons.find((b) => !b.disabled))?.focus();
    }
  }

  /** Show playing or paused. */
  setPlaying(playing: boolean): void {
    this.play.setAttribute('aria-label', playing ? 'Pause' : 'Play');
    this.play.setAttribute('aria-pressed', String(playing));
    this.play.classList.toggle('playing', playing);
  }

  /** The epoch counter, as TensorFlow Playground writes it (000,123). */
  setEpoch(epoch: number): void {
    const s = String(epoch).padStart(6, '0');
    this.epoch.value = `${s.slice(0, -3)},${s.slice(-3)}`;
  }

  /** The loss read-outs. */
  setLosses(stats: playground.EpochStats | null): void {
    const f = (v: number | null) => (v === null ? '–' : Number.isFinite(v) ? v.toFixed(3) : String(v));
    const pc = (v: number | null) => (v === null ? '–' : `${(v * 100).toFixed(1)}%`);
    byId<HTMLOutputElement>('train-loss').value = f(stats?.trainLoss ?? null);
    byId<HTMLOutputElement>('test-loss').value = f(stats?.testLoss ?? null);
    // Accuracy only means something for a classification (the stats say null otherwise).
    const accuracy = stats?.trainAccuracy ?? null;
    for (const row of document.querySelectorAll<HTMLElement>('.losses .accuracy'))
      row.hidden = accuracy === null;
    byId<HTMLOutputElement>('train-accuracy').value = pc(accuracy);
    byId<HTMLOutputElement>('test-accuracy').value = pc(stats?.testAccuracy ?? null);
  }
}
