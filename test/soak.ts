// `npm run soak`: the fault suite at length. Thousands of seeded mutations of every reader's input (the
// suites of test/fault-readers.test.ts, other seeds), and many training runs killed with SIGKILL or
// interrupted with SIGINT at random moments and resumed, compared bit for bit with an uninterrupted run.
// Prints one table; exits 1 if anything a user must never see happened. `npm run soak -- 0.2` runs a
// fifth of the cases.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  fuzzCheckpoints,
  fuzzCsv,
  fuzzFlags,
  fuzzModelFiles,
  fuzzSafetensors,
  Rng,
  table,
  tally,
  type Tally,
} from './helpers/faults.js';
import { checkpointEpoch, runCli, startCli, temps, until, weightsOf } from './helpers/kills.js';

const scale = Number(process.argv[2] ?? 1);
const n = (k: number) => Math.max(1, Math.round(k * scale));
const started = performance.now();
const rows: [string, Tally][] = [];
const step = (name: string, t: Tally) => {
  rows.push([name, t]);
  process.stderr.write(`${name}: ${t.cases} cases, ${((performance.now() - started) / 1000).toFixed(0)} s\n`);
  for (const e of t.examples) process.stderr.write(`  ${e}\n`);
};

step('model files', fuzzModelFiles(n(3000), 101));
step('checkpoints', fuzzCheckpoints(n(2000), 102));
step('safetensors', fuzzSafetensors(n(2000), 103));
step('csv', await fuzzCsv(n(800), 104));
step('flags', await fuzzFlags(n(800), 105));

// Kills: SIGKILL at a random moment (after the first checkpoint), or SIGINT, then --resume.
const dir = mkdtempSync(join(tmpdir(), 'chainrule-soak-'));
const RUN = ['train', '--data', 'digits', '--layers', '32', '--epochs', '60', '--seed', '3', '--quiet'];
const kills = tally();
let identical = 0;
let resumed = 0;
let staleTemps = 0;
try {
  const ref = await runCli([...RUN, '--out', 'ref.json'], dir);
  if (ref.code !== 0) throw new Error(ref.err);
  const reference = weightsOf(join(dir, 'ref.json'));
  const rng = new Rng(106);
  const total = n(30);
  for (let k = 0; k < total; k++) {
    const sigint = k % 5 === 4;
    const out = `k${k}.json`;
    const ckpt = join(dir, `k${k}.ckpt.json`);
    const child = startCli([...RUN, '--checkpoint-every', String(1 + rng.int(3)), '--out', out], dir);
    await until(() => checkpointEpoch(ckpt) >= 0, 120_000, 'the first checkpoint');
    await new Promise((r) => setTimeout(r, rng.int(1500)));
    child.proc.kill(sigint ? 'SIGINT' : 'SIGKILL');
    const exit = await child.exited;
    kills.cases++;
    if (/internal error|\n\s+at [^\n]*:\d+:\d+/.test(child.stderr())) kills.internal++;
    else if (sigint && exit.code !== 130 && exit.code !== 0) kills.crash++;
    const r = await runCli(['train', '--resume', `k${k}.ckpt.json`, '--quiet'], dir);
    if (r.code !== 0) {
      kills.rejected++;
      kills.examples.push(`kill #${k}: resume exit ${r.code}: ${r.err.slice(0, 160)}`);
      continue;
    }
    kills.accepted++;
    resumed++;
    if (weightsOf(join(dir, out)) === reference) identical++;
    else kills.examples.push(`kill #${k}: resumed run differs`);
    staleTemps += temps(dir, `k${k}.ckpt.json`).length + temps(dir, out).length;
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
step('kill -9 / Ctrl-C + resume', kills);

const sum = (k: keyof Tally) => rows.reduce((s, [, t]) => s + (t[k] as number), 0);
const lines = [
  table(rows),
  '',
  `crashes ${sum('crash')}, stack traces ${sum('stack')}, internal errors ${sum('internal')}, ` +
    `memory bombs ${sum('bomb')}, undetected corruptions ${sum('undetected')}, ` +
    `kill-resume bit-identical ${identical} of ${kills.cases} (${resumed} resumed), stale temporary files ${staleTemps}`,
  `(${((performance.now() - started) / 1000).toFixed(0)} s, Node ${process.version})`,
];
process.stdout.write(lines.join('\n') + '\n');
const bad = sum('crash') + sum('stack') + sum('internal') + sum('bomb') + sum('undetected');
process.exitCode = bad > 0 || identical !== kills.cases || staleTemps > 0 ? 1 : 0;
