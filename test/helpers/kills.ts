// Real child processes of the command line for the fault suite: start a training run, kill it (SIGKILL)
// or interrupt it (SIGINT) at a chosen moment, and compare what a resume gives with an uninterrupted run.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import type { IO } from '../../cli/io.js';
import { main } from '../../cli/main.js';

const MAIN = new URL('../../cli/main.ts', import.meta.url).pathname;

/** A running `chainrule` child with its stderr collected. */
export interface Child {
  proc: ChildProcess;
  stderr: () => string;
  /** Resolves with the exit code (or 128 + signal number) and the time it took. */
  exited: Promise<{ code: number; signal: NodeJS.Signals | null; at: number }>;
}

/** Start `chainrule <args>` in `cwd` (through tsx, as the tests run the sources). */
export function startCli(args: string[], cwd: string): Child {
  const tsx = import.meta.resolve('tsx');
  const proc = spawn(process.execPath, ['--import', tsx, MAIN, ...args], {
    cwd,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  proc.stderr?.setEncoding('utf8');
  proc.stderr?.on('data', (d: string) => (err += d));
  const exited = new Promise<{ code: number; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    proc.on('exit', (code, signal) => resolve({ code: code ?? -1, signal, at: performance.now() })),
  );
  return { proc, stderr: () => err, exited };
}

/** Resolves once `check()` holds (polled every few ms), or rejects after `ms`. */
export async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const end = performance.now() + ms;
  while (!check()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Run the command line in this process; its exit code and stderr. */
export async function runCli(args: string[], cwd: string): Promise<{ code: number; err: string }> {
  let err = '';
  const io: IO = { out: () => {}, err: (t) => void (err += t), isTTY: false, columns: 80, cwd };
  const code = await main(args, io);
  return { code, err };
}

/** A model file's weights as text (its base64 strings), what "the bits of a run" means here. */
export function weightsOf(path: string): string {
  return JSON.stringify((JSON.parse(readFileSync(path, 'utf8')) as { weights: unknown }).weights);
}

/** The epoch a checkpoint file holds, or -1 when there is none (or it is being replaced). */
export function checkpointEpoch(path: string): number {
  if (!existsSync(path)) return -1;
  try {
    return (JSON.parse(readFileSync(path, 'utf8')) as { checkpoint: { epoch: number } }).checkpoint.epoch;
  } catch {
    return -1;
  }
}

/** Leftover temporary files next to `file`. */
export function temps(dir: string, file: string): string[] {
  return readdirSync(dir).filter((n) => n.startsWith(`.${file}.`) && n.endsWith('.tmp'));
}
