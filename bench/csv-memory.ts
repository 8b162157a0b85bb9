/**
 * CSV memory check: peak resident set size (VmHWM, by /usr/bin/time -v) of `chainrule train` (1 epoch,
 * one hidden layer of 8) and `chainrule predict` on a generated numeric CSV of about 100 MB, each a child
 * process through the command line. Reading streams, so the peak should follow the parsed table (8 bytes
 * a cell) rather than copies of the file. No assertion: the garbage collector decides the figures.
 *
 *   npx tsx bench/csv-memory.ts                            this checkout, 100 MB
 *   npx tsx bench/csv-memory.ts --mb 20                    a smaller file
 *   npx tsx bench/csv-memory.ts --cli /other/cli/main.ts   another checkout's command line (before/after)
 */
import { spawnSync } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const megabytes = Number(flag('--mb', '100'));
const cli = flag('--cli', fileURLToPath(new URL('../cli/main.ts', import.meta.url)));
const COLUMNS = 16;

/** A CSV of random decimals (features) and a 0/1 label, about `bytes` long, written in pieces. */
async function writeData(path: string, bytes: number): Promise<number> {
  const out = createWriteStream(path);
  const header = [...Array.from({ length: COLUMNS }, (_, j) => `x${j}`), 'label'].join(',') + '\n';
  out.write(header);
  let written = header.length;
  let rows = 0;
  let seed = 1;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  while (written < bytes) {
    const lines: string[] = [];
    for (let k = 0; k < 1000; k++, rows++) {
      const cells = Array.from({ length: COLUMNS }, () => (rand() * 100 - 50).toFixed(4));
      cells.push(String(Number(cells[0]) > 0 ? 1 : 0));
      lines.push(cells.join(','));
    }
    const piece = lines.join('\n') + '\n';
    written += piece.length;
    if (!out.write(piece)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((resolve, reject) => out.end((e?: Error) => (e ? reject(e) : resolve())));
  return rows;
}

/** Run the command line under /usr/bin/time -v: its peak RSS in MiB and wall time in seconds. */
function peak(args: string[], cwd: string): { mib: number; seconds: number } {
  const tsx = import.meta.resolve('tsx');
  const started = performance.now();
  const r = spawnSync('/usr/bin/time', ['-v', process.execPath, '--import', tsx, cli, ...args], {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'ignore', 'pipe'],
    maxBuffer: 1 << 26,
  });
  const seconds = (performance.now() - started) / 1000;
  const kb = /Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr);
  if (r.status !== 0 || !kb) throw new Error(`chainrule ${args.join(' ')} failed:\n${r.stderr.slice(-2000)}`);
  return { mib: Number(kb[1]) / 1024, seconds };
}

const dir = await mkdtemp(join(tmpdir(), 'chainrule-csv-memory-'));
try {
  const data = join(dir, 'data.csv');
  const rows = await writeData(data, megabytes * 1e6);
  const size = (await stat(data)).size / 2 ** 20;
  console.log(`${cli}\n${data}: ${size.toFixed(0)} MiB, ${rows} rows x ${COLUMNS + 1} columns`);
  const train = peak(
    [
      'train',
      '--data',
      data,
      '--target',
      'label',
      '--layers',
      '8',
      '--epochs',
      '1',
      '--batch-size',
      '256',
      '--quiet',
      '--out',
      join(dir, 'm.json'),
    ],
    dir,
  );
  console.log(`train    peak RSS ${train.mib.toFixed(0)} MiB  (${train.seconds.toFixed(1)} s)`);
  const predict = peak(
    ['predict', '--model', join(dir, 'm.json'), '--data', data, '--out', join(dir, 'p.csv')],
    dir,
  );
  console.log(`predict  peak RSS ${predict.mib.toFixed(0)} MiB  (${predict.seconds.toFixed(1)} s)`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
