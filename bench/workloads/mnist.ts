/**
 * The README's command-line recipes as a user runs them: the command line, in a child process, wall time
 * from start to the saved model (start-up, loading the idx files, training on all 60,000 training images,
 * the test-set evaluation and writing the model file). The test accuracy is read back from the model file.
 * `mnist`: full MNIST to ≥ 98% with 784-256-10 ReLU, SGD + momentum 0.9, lr 0.05, batch 64, 20 epochs.
 * `mnist-cnn` and `fashion-cnn`: the CNN recipes (issue #12's bars: ≥ 99.2% in ≤ 3 minutes; ≥ 91%).
 * No peer runs them: brain.js has no softmax cross-entropy, and tfjs's rates are in the mlp and cnn rows.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { median, progress } from '../harness.js';
import type { BenchConfig } from '../types.js';

/** The recipe (README, "The command line"). */
export const MNIST_ARGS = [
  'train',
  '--data',
  'mnist',
  '--layers',
  '256',
  '--optimizer',
  'momentum',
  '--lr',
  '0.05',
  '--batch-size',
  '64',
  '--epochs',
  '20',
  '--val',
  '0',
  '--quiet',
];

/** The CNN recipes' network (README, "The command line"). */
export const CNN_ARCH =
  'conv 16 5 relu, maxpool 2, conv 32 5 relu, maxpool 2, flatten, linear 128 relu, dropout 0.25, linear';

/** The arguments of a CNN recipe on `data` for `epochs` epochs. */
function cnnArgs(data: string, epochs: number): string[] {
  return [
    'train',
    '--data',
    data,
    '--arch',
    CNN_ARCH,
    '--scale',
    'unit',
    '--lr',
    '0.001',
    '--batch-size',
    '64',
    '--epochs',
    String(epochs),
    '--val',
    '0',
    '--quiet',
  ];
}

/** A recipe: its command and its bars (null: no time bar). */
export interface Recipe {
  args: string[];
  /** Runs in a full bench (a slow recipe runs once). */
  reps: number;
  maxSeconds: number | null;
  minAccuracy: number;
}

/** The recipes by workload name. */
export const RECIPES: Readonly<Record<'mnist' | 'mnist-cnn' | 'fashion-cnn', Recipe>> = {
  mnist: { args: MNIST_ARGS, reps: 3, maxSeconds: 60, minAccuracy: 0.98 },
  'mnist-cnn': { args: cnnArgs('mnist', 6), reps: 1, maxSeconds: 180, minAccuracy: 0.992 },
  'fashion-cnn': { args: cnnArgs('fashion-mnist', 20), reps: 1, maxSeconds: null, minAccuracy: 0.91 },
};

/** One run: wall seconds, test accuracy, and the process's resident memory as each epoch ended. */
export interface MnistRun {
  seconds: number;
  accuracy: number;
  /** RSS in bytes read from /proc when each epoch's line arrived (empty where /proc is absent). */
  rssByEpoch: number[];
}

/** The process's resident set size from /proc (Linux), or null. */
function rssOf(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/**
 * Run the command line on `args` (without --quiet, so each epoch prints a line) and read the child's RSS
 * as each epoch line arrives; rejects on a non-zero exit with its stderr.
 */
function runRecipe(argv: string[], cwd: string): Promise<number[]> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, argv, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
    const rss: number[] = [];
    let err = '';
    let pending = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      err = (err + chunk).slice(-20_000);
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines)
        if (/^epoch \d+\/\d+/.test(line.trim())) {
          const r = child.pid === undefined ? null : rssOf(child.pid);
          if (r !== null) rss.push(r);
        }
    });
    child.on('error', fail);
    child.on('exit', (code) =>
      code === 0 ? done(rss) : fail(new Error(`recipe exited with ${code}:\n${err}`)),
    );
  });
}

/** Largest relative spread of RSS from epoch 2 to the last: (max − min) / min; null with under 3 epochs. */
export function rssSpread(rss: readonly number[]): number | null {
  const tail = rss.slice(1);
  if (tail.length < 2) return null;
  return (Math.max(...tail) - Math.min(...tail)) / Math.min(...tail);
}

/** A recipe's figures: every run, the median time, and the command. */
export interface MnistResult {
  /** The workload name (`mnist`, `mnist-cnn`, `fashion-cnn`). */
  name: string;
  command: string;
  runs: MnistRun[];
  medianSeconds: number;
  /** Lowest test accuracy over the runs (they are bit-identical, so all the same). */
  accuracy: number;
  kernels: string;
}

/** Run the `mnist` recipe. */
export function mnistWorkload(cfg: BenchConfig): Promise<MnistResult> {
  return recipeWorkload('mnist', cfg);
}

/** Run one recipe `reps` times (once, for 1–2 epochs, with --quick). */
export async function recipeWorkload(name: keyof typeof RECIPES, cfg: BenchConfig): Promise<MnistResult> {
  const recipe = RECIPES[name];
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
  const tsx = import.meta.resolve('tsx');
  const dir = mkdtempSync(path.join(tmpdir(), 'chainrule-bench-mnist-'));
  // --quick: a short smoke run, once.
  const quickEpochs = name === 'mnist' ? '2' : '1';
  const args = cfg.quick
    ? recipe.args.map((a, i) => (recipe.args[i - 1] === '--epochs' ? quickEpochs : a))
    : recipe.args;
  const reps = cfg.quick ? 1 : recipe.reps;
  const runs: MnistRun[] = [];
  let kernels = '';
  try {
    for (let r = 0; r < reps; r++) {
      const out = path.join(dir, `${name}-${r}.json`);
      const started = performance.now();
      const rssByEpoch = await runRecipe(
        [
          '--import',
          tsx,
          path.join(root, 'cli/main.ts'),
          ...args.filter((a) => a !== '--quiet'),
          '--out',
          out,
        ],
        root,
      );
      const seconds = (performance.now() - started) / 1000;
      const training = (
        JSON.parse(readFileSync(out, 'utf8')) as {
          training: { test: { accuracy: number }; kernels: string };
        }
      ).training;
      kernels = training.kernels;
      runs.push({ seconds, accuracy: training.test.accuracy, rssByEpoch });
      const spread = rssSpread(rssByEpoch);
      progress(
        `${name} run ${r + 1}/${reps}: ${seconds.toFixed(1)} s, test accuracy ${(training.test.accuracy * 100).toFixed(2)}%` +
          (spread === null ? '' : `, RSS epoch 2→last within ${(spread * 100).toFixed(1)}%`),
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return {
    name,
    command: `chainrule ${args.map((a) => (a.includes(' ') ? `"${a}"` : a)).join(' ')}`,
    runs,
    medianSeconds: median(runs.map((r) => r.seconds)),
    accuracy: Math.min(...runs.map((r) => r.accuracy)),
    kernels,
  };
}
