/**
 * Workload 4: full MNIST to ≥ 98% test accuracy, as a user runs it: the command line, in a child process,
 * wall time from start to the saved model (start-up, loading the idx files, 20 epochs of 784-256-10 ReLU
 * with SGD + momentum 0.9, lr 0.05, batch 64 on all 60,000 training images, the test-set evaluation and
 * writing the model file). The test accuracy is read back from the model file. No peer runs it: brain.js
 * has no softmax cross-entropy, and tfjs's MLP rate is in the mlp rows.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
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

/** One run: wall seconds and test accuracy. */
export interface MnistRun {
  seconds: number;
  accuracy: number;
}

/** The MNIST figures: every run, the median time, and the command. */
export interface MnistResult {
  command: string;
  runs: MnistRun[];
  medianSeconds: number;
  /** Lowest test accuracy over the runs (they are bit-identical, so all the same). */
  accuracy: number;
  kernels: string;
}

export async function mnistWorkload(cfg: BenchConfig): Promise<MnistResult> {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
  const tsx = import.meta.resolve('tsx');
  const dir = mkdtempSync(path.join(tmpdir(), 'chainrule-bench-mnist-'));
  // --quick: a 2-epoch smoke run, once.
  const args = cfg.quick
    ? MNIST_ARGS.map((a, i) => (MNIST_ARGS[i - 1] === '--epochs' ? '2' : a))
    : MNIST_ARGS;
  const reps = cfg.quick ? 1 : 3;
  const runs: MnistRun[] = [];
  let kernels = '';
  try {
    for (let r = 0; r < reps; r++) {
      const out = path.join(dir, `mnist-${r}.json`);
      const started = performance.now();
      await promisify(execFile)(
        process.execPath,
        ['--import', tsx, path.join(root, 'cli/main.ts'), ...args, '--out', out],
        { cwd: root, maxBuffer: 1 << 24 },
      );
      const seconds = (performance.now() - started) / 1000;
      const training = (
        JSON.parse(readFileSync(out, 'utf8')) as {
          training: { test: { accuracy: number }; kernels: string };
        }
      ).training;
      kernels = training.kernels;
      runs.push({ seconds, accuracy: training.test.accuracy });
      progress(
        `mnist run ${r + 1}/${reps}: ${seconds.toFixed(1)} s, test accuracy ${(training.test.accuracy * 100).toFixed(2)}%`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return {
    command: `chainrule ${args.join(' ')}`,
    runs,
    medianSeconds: median(runs.map((r) => r.seconds)),
    accuracy: Math.min(...runs.map((r) => r.accuracy)),
    kernels,
  };
}
