// The command line in tests: in this process through main() (fast, output captured), or as a real child
// process for what only a process shows (exit status, no stack trace on stderr).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { main } from '../../cli/main.js';
import type { IO } from '../../cli/io.js';

/** A command's exit code and what it wrote. */
export interface Captured {
  code: number;
  out: string;
  err: string;
}

/** Run `chainrule args…` in this process with `cwd` as its working directory. */
export async function runCli(
  args: string[],
  cwd: string,
  options: { tty?: boolean; signal?: AbortSignal } = {},
): Promise<Captured> {
  let out = '';
  let err = '';
  const io: IO = {
    out: (t) => void (out += t),
    err: (t) => void (err += t),
    isTTY: options.tty ?? false,
    columns: 100,
    cwd,
    ...(options.signal ? { signal: options.signal } : {}),
  };
  const code = await main(args, io);
  return { code, out, err };
}

/** Run `chainrule args…` as a child process in `cwd`. */
export async function spawnCli(args: string[], cwd: string): Promise<Captured> {
  try {
    const tsx = import.meta.resolve('tsx');
    const entry = new URL('../../cli/main.ts', import.meta.url).pathname;
    const r = await promisify(execFile)(process.execPath, ['--import', tsx, entry, ...args], { cwd });
    return { code: 0, out: r.stdout, err: r.stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, out: x.stdout, err: x.stderr };
  }
}
