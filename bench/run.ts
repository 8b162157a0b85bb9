/**
 * The benchmark suite: chainrule against brain.js, tfjs (cpu) and tfjs (wasm) on the same workloads, in
 * one process. Prints a table to stdout (progress to stderr) and writes the figures to a JSON file.
 *
 *   npx tsx bench/run.ts                 full run (~6 minutes on 2 cores), writes bench/results.json
 *   npx tsx bench/run.ts --quick         smoke run: fewer runs, smaller sizes
 *   npx tsx bench/run.ts --only seed     just some workloads (comma-separated: seed, mlp, matmul, cnn, gpt,
 *                                        lstm, gru, rnn, mnist, mnist-cnn, fashion-cnn)
 *   npx tsx bench/run.ts --out FILE      write the JSON elsewhere
 *
 * A run with --quick or --only writes bench/results.partial.json unless --out is given, so it never
 * overwrites the full run's bench/results.json.
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { kernels } from '../src/index.js';
import { median, progress, type Figure } from './harness.js';
import { loadBrain } from './peers/brain.js';
import { loadTf } from './peers/tfjs.js';
import { ratio, renderTable } from './table.js';
import { isFigure, PEERS, type BenchConfig, type Row } from './types.js';
import { cnnWorkload } from './workloads/cnn.js';
import { matmulWorkload } from './workloads/matmul.js';
import { gptWorkload } from './workloads/gpt.js';
import { DEFAULT_ROW, mlpWorkload } from './workloads/mlp.js';
import { RECIPES, recipeWorkload, rssSpread, type MnistResult } from './workloads/mnist.js';
import { recurrentWorkload } from './workloads/recurrent.js';
import { seedWorkload } from './workloads/seed.js';

const WORKLOADS: Record<string, (cfg: BenchConfig) => Promise<Row[]>> = {
  seed: seedWorkload,
  mlp: mlpWorkload,
  matmul: matmulWorkload,
  cnn: cnnWorkload,
  gpt: gptWorkload,
  lstm: recurrentWorkload('lstm'),
  // W6's shape with the other two cells (no bars): how a GRU and a plain tanh RNN compare.
  gru: recurrentWorkload('gru'),
  rnn: recurrentWorkload('rnn'),
  // The command-line recipes are not table rows (their figures are wall times and accuracies): run in
  // main, reported below the table, with their bars (RECIPES in workloads/mnist.ts).
  mnist: async () => [],
  'mnist-cnn': async () => [],
  'fashion-cnn': async () => [],
};

/**
 * The speed targets (2 cores): each is checked against chainrule's best row for it (any kernel set), so
 * the list says which are met on this machine and by how much the others fall short.
 */
const TARGETS: { test: (r: Row) => boolean; bar: string; min: number; unit: string }[] = [
  ...['A·B', 'A·Bᵀ', 'Aᵀ·B'].map((layout) => ({
    test: (r: Row) => r.workload === 'matmul' && r.name.startsWith(`matmul n=1024 ${layout} (`),
    bar: `matmul float32 n=1024 ${layout}`,
    min: 60,
    unit: 'GFLOP/s',
  })),
  {
    test: (r) => r.workload === 'seed' && r.name.includes('fit()'),
    bar: 'seed network through fit',
    min: 4_000_000,
    unit: 'steps/s',
  },
  {
    test: (r) => r.workload === 'mlp' && r.name.startsWith('MLP 784-128-10,'),
    bar: 'MLP 784-128-10, batch 64',
    min: 80_000,
    unit: 'samples/s',
  },
  {
    // Fast by default: the same bar for a program that makes no opt-in call.
    test: (r) =>
      r.workload === 'mlp' && r.name.startsWith('MLP 784-128-10,') && r.name.includes(`(${DEFAULT_ROW}:`),
    bar: 'MLP 784-128-10, batch 64, default kernels (no opt-in call)',
    min: 80_000,
    unit: 'samples/s',
  },
  {
    test: (r) => r.workload === 'mlp' && r.name.startsWith('MLP 784-512-512-10,'),
    bar: 'MLP 784-512-512-10, batch 256',
    min: 15_000,
    unit: 'samples/s',
  },
  {
    test: (r) => r.workload === 'cnn' && r.name.startsWith('CNN W4'),
    bar: 'CNN W4, batch 64, Adam, float32',
    min: 5_000,
    unit: 'samples/s',
  },
  {
    test: (r) => r.workload === 'gpt',
    bar: 'char GPT (vocab 65, context 64, width 128, 4 heads, 4 blocks), batch 32, AdamW',
    min: 10_000,
    unit: 'tokens/s',
  },
  {
    test: (r) => r.workload === 'lstm',
    bar: 'LSTM W6 (1→64, 32 steps, linear 1), batch 32, Adam, float32',
    min: 5_000,
    unit: 'sequences/s',
  },
];

interface Args {
  quick: boolean;
  only: string[] | null;
  out: string | null;
}

/** A bad command line: reported without a stack trace. */
class UsageError extends Error {}

function usage(): string {
  return `usage: tsx bench/run.ts [--quick] [--only ${Object.keys(WORKLOADS).join(',')}] [--out FILE]`;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { quick: false, only: null, out: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${a} needs a value\n${usage()}`);
      return v;
    };
    if (a === '--quick') args.quick = true;
    else if (a === '--only') args.only = value().split(',').filter(Boolean);
    else if (a.startsWith('--only=')) args.only = a.slice(7).split(',').filter(Boolean);
    else if (a === '--out') args.out = value();
    else if (a.startsWith('--out=')) args.out = a.slice(6);
    else if (a === '--help' || a === '-h') {
      process.stdout.write(usage() + '\n');
      process.exit(0);
    } else throw new UsageError(`unknown argument ${JSON.stringify(a)}\n${usage()}`);
  }
  for (const name of args.only ?? [])
    if (!(name in WORKLOADS))
      throw new UsageError(
        `--only: unknown workload ${JSON.stringify(name)}; expected ${Object.keys(WORKLOADS).join(', ')}`,
      );
  return args;
}

function figureJson(f: Figure) {
  return { median: f.median, runs: f.runs, callsPerRun: f.callsPerRun, rates: f.rates, note: f.note };
}

interface Bar {
  bar: string;
  measured: string;
  met: boolean;
}

const fmtRate = (x: number) =>
  x >= 100 ? Math.round(x).toLocaleString('en-US') : x.toLocaleString('en-US', { maximumFractionDigits: 1 });

/** Each target against the best matching row; targets with no row in this run are left out. */
function bars(rows: readonly Row[]): Bar[] {
  const out: Bar[] = [];
  for (const t of TARGETS) {
    const matching = rows.filter(t.test);
    if (matching.length === 0) continue;
    const best = matching.reduce((a, b) => (b.ours.median > a.ours.median ? b : a));
    out.push({
      bar: `${t.bar}: ≥ ${fmtRate(t.min)} ${t.unit}`,
      measured: `${fmtRate(best.ours.median)} ${t.unit}, ${best.name}`,
      met: best.ours.median >= t.min,
    });
  }
  return out;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const cfg: BenchConfig = { quick: args.quick, reps: args.quick ? 3 : 5, minReps: args.quick ? 1 : 3 };
  const names = args.only ?? Object.keys(WORKLOADS);
  const started = performance.now();
  const loadBefore = os.loadavg()[0];
  progress(`${args.quick ? 'quick' : 'full'} run: ${names.join(', ')}; ${cfg.reps} timed runs per figure`);

  const rows: Row[] = [];
  const recipes: MnistResult[] = [];
  for (const name of names) {
    if (Object.hasOwn(RECIPES, name)) recipes.push(await recipeWorkload(name as keyof typeof RECIPES, cfg));
    else rows.push(...(await WORKLOADS[name](cfg)));
  }
  const mnist = recipes.find((r) => r.name === 'mnist') ?? null;

  const tf = await loadTf();
  const { version: brainVersion } = await loadBrain();
  const cpus = os.cpus();
  const notes = [
    `Figures are medians of ${cfg.reps} timed runs after warm-up; * marks a median of fewer runs ` +
      `(at least ${cfg.minReps}) where a run of a slow backend is long (see "note" in the JSON).`,
    `ours/peer above 1 means chainrule is faster. chainrule's default kernel set here (no opt-in call): ` +
      `'${kernels().name}'; the seed rows and the "matmul op" rows run on it.`,
    `tfjs ${tf.version}: cpu = pure-JS backend; wasm = WebAssembly backend, ` +
      `SIMD ${tf.wasmSimd ? 'on' : 'off'}, ${tf.wasmThreads} thread` +
      `${tf.wasmThreads === 1 ? '' : 's'} (tfjs never enables its multithreaded wasm build under Node).`,
    `seed: tfjs has no float64, so its seed loop runs in float32, ${args.quick ? 200 : 2000} steps per run ` +
      `(tf.train.sgd.minimize in tf.tidy); brain.js ${brainVersion} rejects momentum 0, so it runs with ` +
      `momentum 1e-12 (same work) and errorThresh Number.MIN_VALUE (its rate counts the iterations it ` +
      `reports running).`,
    'mlp: tfjs uses dense(softmax) + categoricalCrossentropy on one-hot targets; chainrule uses ' +
      "fit(..., { loss: 'crossEntropy' }) on logits and class indices. brain.js cannot express softmax " +
      'cross-entropy or a matrix product: n/a.',
    'gpt: tokens/s = batch·context per training step (zeroGrad, forward, cross-entropy, backward, AdamW step) ' +
      'on random tokens; brain.js and tfjs have no trainable transformer (attention, layer norm) out of the box: n/a.',
    'lstm: sequences/s = training windows of 32 steps per second (fit, one epoch per timed call); the peers ' +
      'train a 128-window set per call; brain.js LSTMTimeStep trains one 33-value sequence at a time (its own update, a loss on every step). ' +
      'Each figure\'s "note" in the JSON adds its rate per CPU-second (user + system time of all threads), which shared cores disturb less than wall time.',
    'gru, rnn: W6 with nn.GRU / nn.RNN (tanh) in place of the LSTM, tfjs layers.gru (reset gate before the recurrent product, ' +
      "PyTorch's and chainrule's after it) / layers.simpleRNN (tanh), brain.js GRUTimeStep / RNNTimeStep; no bars. " +
      "brain.js 1.6's RNN cell is ReLU, hard-wired (its activation option is never read): its rnn figure is a ReLU RNN's, at learning rate 1e-3 (NaN at its default 0.01).",
    'matmul: 2·n³ flops per product; "(… kernel)" rows call a kernel set\'s matmul directly, "(matmul op)" (n ≤ 512) goes ' +
      'through the public matmul(a, b) (output allocation and graph node included) and is compared with ' +
      "the peers' A·B.",
    '"default kernels" rows run chainrule as a program that makes no opt-in call does (in Node: the WebAssembly SIMD set with a thread per core, compiled on first use); ' +
      '"reference" rows on the pure TypeScript kernels; ' +
      '"wasm" rows on the WebAssembly SIMD kernel set loaded explicitly (loadWasmKernels with its defaults: relaxed-SIMD FMA in float32 products where the runtime has it, which Node 20 does not; ' +
      '"threads2" rows split large matmuls over 2 worker threads), ' +
      'copies of the operands into and out of wasm memory included; float64 rows have no peer (tfjs has no float64).',
  ];
  if (args.quick) notes.push('--quick: smaller sizes and fewer runs; indicative only.');
  const short = rows.flatMap((r) =>
    [['chainrule', r.ours] as const, ...PEERS.map((p) => [p, r.peers[p]] as const)]
      .filter(([, f]) => isFigure(f) && f.runs < cfg.reps)
      .map(([who, f]) => `${r.name} / ${who}: ${(f as Figure).note}`),
  );

  const barList = bars(rows);
  if (!args.quick)
    for (const r of recipes) {
      const { maxSeconds, minAccuracy } = RECIPES[r.name as keyof typeof RECIPES];
      barList.push({
        bar: `${r.name}: ≥ ${minAccuracy * 100}% test accuracy${maxSeconds ? `, ≤ ${maxSeconds} s wall` : ''}`,
        measured: `median ${r.medianSeconds.toFixed(1)} s of ${r.runs.length} run${r.runs.length === 1 ? '' : 's'}, ${(r.accuracy * 100).toFixed(2)}% (${r.kernels} kernels)`,
        met: (maxSeconds === null || r.medianSeconds <= maxSeconds) && r.accuracy >= minAccuracy,
      });
      // Issue #12's memory bar: the MNIST CNN run's RSS flat (±5%) from epoch 2 to the last.
      const spreads = r.runs.map((x) => rssSpread(x.rssByEpoch));
      if (r.name === 'mnist-cnn' && spreads.every((x) => x !== null))
        barList.push({
          bar: `${r.name}: RSS flat (±5%) from epoch 2 to the last`,
          measured: spreads.map((x) => `${((x as number) * 100).toFixed(1)}%`).join(', '),
          met: spreads.every((x) => (x as number) <= 0.1),
        });
    }
  const out: string[] = [renderTable(rows, cfg.reps), ''];
  for (const r of recipes)
    out.push(
      `${r.name} (${r.command}): ${r.runs.map((x) => `${x.seconds.toFixed(1)} s`).join(', ')}; ` +
        `test accuracy ${(r.accuracy * 100).toFixed(2)}%, ${r.kernels} kernels` +
        r.runs
          .map((x) => rssSpread(x.rssByEpoch))
          .filter((x): x is number => x !== null)
          .map(
            (x, i) =>
              (i === 0 ? '; RSS from epoch 2 to the last within ' : ', ') + `${(x * 100).toFixed(1)}%`,
          )
          .join('') +
        '.',
      '',
    );
  for (const n of notes) out.push(`- ${n}`);
  if (short.length > 0) {
    out.push('- Fewer runs:');
    for (const s of short) out.push(`    ${s}`);
  }
  if (barList.length > 0) {
    out.push('', 'Bars:');
    for (const b of barList)
      out.push(`  ${b.met ? 'MET    ' : 'NOT MET'}  ${b.bar} (measured ${b.measured})`);
  }
  const seconds = (performance.now() - started) / 1000;
  const loadAfter = os.loadavg()[0];
  out.push(
    '',
    `${cpus[0]?.model ?? 'unknown cpu'} ×${cpus.length}, Node ${process.version}, ${seconds.toFixed(0)} s, ` +
      `1-minute load average ${loadBefore.toFixed(2)} before, ${loadAfter.toFixed(2)} after ` +
      `(this process alone adds ~1; much more means other work competed for the cores).`,
  );
  process.stdout.write(out.join('\n') + '\n');

  const json = {
    date: new Date().toISOString(),
    node: process.version,
    platform: `${os.platform()} ${os.arch()}`,
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    loadAverage: { before: loadBefore, after: loadAfter },
    quick: args.quick,
    workloadsRun: names,
    seconds,
    versions: { tfjs: tf.version, 'brain.js': brainVersion },
    chainruleKernels: kernels().name,
    tfjsWasm: {
      simd: tf.wasmSimd,
      threads: tf.wasmThreads,
      multithreadSupported: tf.wasmMultithreadSupported,
    },
    workloads: rows.map((r) => ({
      workload: r.workload,
      name: r.name,
      unit: r.unit,
      ours: figureJson(r.ours),
      peers: Object.fromEntries(
        PEERS.map((p) => {
          const f = r.peers[p];
          return [p, isFigure(f) ? figureJson(f) : f];
        }),
      ),
      ratios: Object.fromEntries(PEERS.map((p) => [p, ratio(r.ours, r.peers[p])])),
      runs: Object.fromEntries([
        ['chainrule', r.ours.runs],
        ...PEERS.map((p) => {
          const f = r.peers[p];
          return [p, isFigure(f) ? f.runs : null];
        }),
      ]),
    })),
    mnist,
    recipes,
    bars: barList,
    notes,
  };
  const here = path.dirname(fileURLToPath(import.meta.url));
  const file = args.out ?? path.join(here, args.quick || args.only ? 'results.partial.json' : 'results.json');
  writeFileSync(file, await formatJson(JSON.stringify(json, null, 2) + '\n', file));
  progress(`wrote ${path.relative(process.cwd(), file)} (median spread check: ${spread(rows)})`);
}

/** Format as the repository's Prettier would (so `prettier --check` stays clean); as is without it. */
async function formatJson(text: string, file: string): Promise<string> {
  try {
    const prettier = await import('prettier');
    const options = (await prettier.resolveConfig(file)) ?? {};
    return await prettier.format(text, { ...options, parser: 'json' });
  } catch {
    return text;
  }
}

/** Largest (max − min) / median over all figures: a rough noise indicator for the log. */
function spread(rows: readonly Row[]): string {
  let worst = 0;
  let where = '';
  for (const r of rows)
    for (const [who, f] of [['chainrule', r.ours] as const, ...PEERS.map((p) => [p, r.peers[p]] as const)]) {
      if (!isFigure(f) || f.rates.length < 2) continue;
      const s = (Math.max(...f.rates) - Math.min(...f.rates)) / median(f.rates);
      if (s > worst) {
        worst = s;
        where = `${r.name} / ${who}`;
      }
    }
  return worst > 0 ? `widest ${(worst * 100).toFixed(0)}% at ${where}` : 'n/a';
}

main().catch((e: unknown) => {
  const text = e instanceof UsageError ? e.message : e instanceof Error ? (e.stack ?? e.message) : String(e);
  process.stderr.write(`${text}\n`);
  process.exit(1);
});
