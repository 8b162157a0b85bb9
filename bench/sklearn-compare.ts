/**
 * How good are the command line's defaults? chainrule's `train` with no flags but the target and the seed,
 * against scikit-learn's MLPClassifier / MLPRegressor with matched settings (the same layers, activation,
 * optimizer, learning rate, batch size, epochs, no weight decay) and with scikit-learn's early stopping,
 * on breast cancer, wine and diabetes as Debian's python3-sklearn ships them. Each seed splits the rows
 * 80/20 once; both libraries train on the same training CSV and are scored on the same test CSV; the
 * table shows the mean (± standard deviation) over 5 seeds: accuracy for the two classification sets,
 * R² for diabetes.
 *
 *   npm run bench:sklearn            prints a Markdown table; writes bench/sklearn-results.json
 *   npm run bench:sklearn -- --seeds 2
 *   npm run bench:sklearn -- --with '--epochs 200'     another chainrule row, with these flags (repeatable)
 *
 * scikit-learn runs in python3 (PYTHON=... to choose one); without a python that imports sklearn the
 * script says so and exits 0. chainrule runs as a user runs it: the command line, one process per command.
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { random, writeCsv } from '../src/index.js';

const run = promisify(execFile);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** A python that imports sklearn, and the folder of the data files it ships; null when there is none. */
function findSklearn(): { python: string; dataDir: string; version: string } | null {
  const candidates = process.env.PYTHON ? [process.env.PYTHON] : ['python3', '/usr/bin/python3'];
  for (const python of candidates) {
    const r = spawnSync(
      python,
      [
        '-c',
        'import os, sklearn, sklearn.datasets as d; print(sklearn.__version__); print(os.path.join(os.path.dirname(d.__file__), "data"))',
      ],
      { encoding: 'utf8' },
    );
    if (r.status !== 0) continue;
    const [version, dataDir] = r.stdout.trim().split('\n');
    if (
      ['breast_cancer.csv', 'wine_data.csv', 'diabetes_target.csv.gz'].every((f) =>
        existsSync(path.join(dataDir, f)),
      )
    )
      return { python, dataDir, version };
  }
  return null;
}

interface Dataset {
  name: string;
  task: 'classification' | 'regression';
  header: string[];
  rows: string[][];
}

/** breast_cancer.csv and wine_data.csv: a first line "n,features,class names…", then features and a class index. */
function sklearnCsv(file: string, name: string): Dataset {
  const lines = readFileSync(file, 'utf8').trim().split('\n');
  const rows = lines.slice(1).map((l) => l.split(','));
  const features = rows[0].length - 1;
  const header = [...Array.from({ length: features }, (_, i) => `x${i + 1}`), 'target'];
  return { name, task: 'classification', header, rows };
}

/** diabetes: the features (space-separated) and the target in two gzipped files. */
function diabetes(dir: string): Dataset {
  const text = (f: string) =>
    gunzipSync(readFileSync(path.join(dir, f)))
      .toString('utf8')
      .trim()
      .split('\n');
  const x = text('diabetes_data_raw.csv.gz').map((l) => l.trim().split(/\s+/));
  const y = text('diabetes_target.csv.gz').map((l) => String(Number(l.trim())));
  if (x.length !== y.length) throw new Error(`diabetes: ${x.length} rows of features, ${y.length} targets`);
  const header = ['age', 'sex', 'bmi', 'bp', 's1', 's2', 's3', 's4', 's5', 's6', 'target'];
  return { name: 'diabetes', task: 'regression', header, rows: x.map((r, i) => [...r, y[i]]) };
}

/** What each chainrule row runs, beyond `--data train.csv --target target --seed s`. */
const CHAINRULE: { label: string; flags: string[] }[] = [
  { label: 'chainrule `train`, defaults (early stopping, patience 10)', flags: [] },
  {
    label: 'chainrule `train --patience 0` (no early stopping: the old default)',
    flags: ['--patience', '0'],
  },
];

/** chainrule's defaults, which the matched scikit-learn model copies (see cli/commands/train.ts). */
const DEFAULTS = { layers: [64, 32], lr: 0.005, batch: 32, epochs: 50, val: 0.2 };

const PYTHON = String.raw`
import json, sys, warnings
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.metrics import accuracy_score, r2_score
warnings.filterwarnings("ignore", category=ConvergenceWarning)
jobs = json.load(sys.stdin)
out = []
for job in jobs:
    def load(f):
        a = np.loadtxt(f, delimiter=",", skiprows=1)
        return a[:, :-1], a[:, -1]
    xtr, ytr = load(job["train"])
    xte, yte = load(job["test"])
    d = job["defaults"]
    common = dict(hidden_layer_sizes=tuple(d["layers"]), activation="relu", solver="adam",
                  learning_rate_init=d["lr"], batch_size=d["batch"], max_iter=d["epochs"], alpha=0.0,
                  shuffle=True, random_state=job["seed"])
    if job["early"]:
        common.update(early_stopping=True, validation_fraction=d["val"], n_iter_no_change=10)
    else:
        # Every epoch, as chainrule with --patience 0 (no stop on a flat training loss either).
        common.update(n_iter_no_change=d["epochs"] + 1)
    Model = MLPClassifier if job["task"] == "classification" else MLPRegressor
    model = make_pipeline(StandardScaler(), Model(**common))
    if job["task"] == "regression":
        # As chainrule standardizes a regression target; scored in the target's units.
        m, s = ytr.mean(), ytr.std()
        model.fit(xtr, (ytr - m) / s)
        score = r2_score(yte, model.predict(xte) * s + m)
    else:
        model.fit(xtr, ytr.astype(int))
        score = accuracy_score(yte.astype(int), model.predict(xte))
    out.append(score)
print(json.dumps(out))
`;

interface Split {
  dataset: Dataset;
  seed: number;
  train: string;
  test: string;
}

function mean(v: number[]): number {
  return v.reduce((a, b) => a + b, 0) / v.length;
}

function std(v: number[]): number {
  const m = mean(v);
  return Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / v.length);
}

async function chainruleScore(split: Split, flags: string[], dir: string): Promise<number> {
  const tsx = import.meta.resolve('tsx');
  const cli = path.join(root, 'cli', 'main.ts');
  const model = path.join(dir, `model-${split.dataset.name}-${split.seed}-${flags.join('')}.json`);
  const node = (args: string[]) =>
    run(process.execPath, ['--import', tsx, cli, ...args], { cwd: dir, maxBuffer: 1 << 26 });
  await node([
    'train',
    '--data',
    split.train,
    '--target',
    'target',
    '--seed',
    String(split.seed),
    '--out',
    model,
    '--quiet',
    ...flags,
  ]);
  const r = await node(['eval', '--model', model, '--data', split.test, '--json']);
  const m = JSON.parse(r.stdout) as { accuracy?: number; r2?: number };
  return (split.dataset.task === 'classification' ? m.accuracy : m.r2) as number;
}

async function main(): Promise<void> {
  const seedsAt = process.argv.indexOf('--seeds');
  const seeds = seedsAt > 0 ? Number(process.argv[seedsAt + 1]) : 5;
  const rows = [...CHAINRULE];
  process.argv.forEach((a, i) => {
    if (a === '--with') {
      const flags = process.argv[i + 1].split(' ').filter(Boolean);
      rows.push({ label: `chainrule \`train ${flags.join(' ')}\``, flags });
    }
  });
  const sk = findSklearn();
  if (!sk) {
    console.log(
      'bench:sklearn skipped: no python3 that imports scikit-learn with its data files (Debian: apt-get install python3-sklearn; or set PYTHON)',
    );
    return;
  }
  const datasets = [
    sklearnCsv(path.join(sk.dataDir, 'breast_cancer.csv'), 'breast cancer'),
    sklearnCsv(path.join(sk.dataDir, 'wine_data.csv'), 'wine'),
    diabetes(sk.dataDir),
  ];
  const dir = mkdtempSync(path.join(os.tmpdir(), 'chainrule-sklearn-'));
  try {
    const splits: Split[] = [];
    for (const dataset of datasets)
      for (let seed = 0; seed < seeds; seed++) {
        // 80/20 by a seeded permutation; both libraries read the same two files.
        const perm = new random.RandomState(seed).permutation(dataset.rows.length);
        const nTest = Math.round(dataset.rows.length * 0.2);
        const pick = (from: number, to: number) =>
          Array.from(perm.subarray(from, to), (i) => dataset.rows[i]);
        const base = path.join(dir, `${dataset.name.replace(' ', '-')}-${seed}`);
        writeFileSync(`${base}-test.csv`, writeCsv(pick(0, nTest), dataset.header));
        writeFileSync(`${base}-train.csv`, writeCsv(pick(nTest, dataset.rows.length), dataset.header));
        splits.push({ dataset, seed, train: `${base}-train.csv`, test: `${base}-test.csv` });
      }

    const scores = new Map<string, number[]>();
    const add = (label: string, dataset: string, v: number) => {
      const key = `${label}\u0000${dataset}`;
      scores.set(key, [...(scores.get(key) ?? []), v]);
    };
    const skLabels = {
      matched: `scikit-learn ${sk.version} MLP, matched settings`,
      early: `scikit-learn ${sk.version} MLP, matched + \`early_stopping=True\``,
    };
    for (const early of [false, true]) {
      process.stderr.write(`scikit-learn (${early ? 'early stopping' : 'matched'})…\n`);
      const jobs = splits.map((s) => ({
        train: s.train,
        test: s.test,
        seed: s.seed,
        task: s.dataset.task,
        early,
        defaults: DEFAULTS,
      }));
      const out = execFileSync(sk.python, ['-c', PYTHON], { input: JSON.stringify(jobs), encoding: 'utf8' });
      (JSON.parse(out) as number[]).forEach((v, i) =>
        add(early ? skLabels.early : skLabels.matched, splits[i].dataset.name, v),
      );
    }
    for (const c of rows) {
      process.stderr.write(`${c.label}…\n`);
      for (const s of splits) add(c.label, s.dataset.name, await chainruleScore(s, c.flags, dir));
    }

    const labels = [...rows.map((c) => c.label), skLabels.matched, skLabels.early];
    const heads = datasets.map((d) => `${d.name} (${d.task === 'classification' ? 'accuracy' : 'R²'})`);
    const cell = (label: string, d: Dataset) => {
      const v = scores.get(`${label}\u0000${d.name}`)!;
      const f = (x: number) => (d.task === 'classification' ? `${(x * 100).toFixed(1)}%` : x.toFixed(3));
      const spread = d.task === 'classification' ? `${(std(v) * 100).toFixed(1)}` : std(v).toFixed(3);
      return `${f(mean(v))} ± ${spread}`;
    };
    const lines = [
      `| | ${heads.join(' | ')} |`,
      `| --- | ${heads.map(() => '---').join(' | ')} |`,
      ...labels.map((l) => `| ${l} | ${datasets.map((d) => cell(l, d)).join(' | ')} |`),
    ];
    console.log(lines.join('\n'));
    const machine = `${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, Node ${process.version}`;
    console.log(`\n${new Date().toISOString().slice(0, 10)}, ${machine}; mean ± std over ${seeds} seeds`);
    writeFileSync(
      path.join(root, 'bench', 'sklearn-results.json'),
      JSON.stringify(
        {
          date: new Date().toISOString(),
          machine,
          sklearn: sk.version,
          seeds,
          defaults: DEFAULTS,
          scores: Object.fromEntries(
            labels.map((l) => [
              l,
              Object.fromEntries(datasets.map((d) => [d.name, scores.get(`${l}\u0000${d.name}`)])),
            ]),
          ),
        },
        null,
        2,
      ) + '\n',
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
