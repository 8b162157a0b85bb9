// Where a command writes: data to stdout, talk to stderr. Tests pass their own; main() passes the process's.

/** A command's output channels and terminal facts. */
export interface IO {
  /** Data (JSON lines, CSV, tables meant for other programs). */
  out(text: string): void;
  /** Talk: progress, summaries, warnings. */
  err(text: string): void;
  /** Whether stderr is a terminal (live progress bars) or a pipe/file (one plain line per epoch). */
  readonly isTTY: boolean;
  /** Terminal width for progress bars. */
  readonly columns: number;
  /** Working directory that relative paths resolve against. */
  readonly cwd: string;
  /** Aborted on Ctrl-C: training stops after the current batch and saves a checkpoint. */
  readonly signal?: AbortSignal;
}

/** The process's own channels. */
export function processIO(signal?: AbortSignal): IO {
  // A reader that went away (`| head`) is not an error: stop quietly, as Unix tools do.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
  return {
    out: (t) => void process.stdout.write(t),
    err: (t) => void process.stderr.write(t),
    isTTY: process.stderr.isTTY === true,
    columns: process.stderr.columns ?? 80,
    cwd: process.cwd(),
    ...(signal ? { signal } : {}),
  };
}
