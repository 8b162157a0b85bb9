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

/**
 * The process's own channels. A reader that goes away (`chainrule predict … | head`: EPIPE) ends that
 * channel's output quietly and the command carries on, so `train` still saves its model; any other write
 * failure (a full disk under `> file`) is one line on stderr and exit status 1 (see {@link writeFailed}).
 */
export function processIO(signal?: AbortSignal): IO {
  // A reader that went away (`| head`) is not an error: stop quietly, as Unix tools do.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
  return {
    out: channel(process.stdout, 'stdout'),
    err: channel(process.stderr, 'stderr'),
    isTTY: process.stderr.isTTY === true,
    columns: process.stderr.columns ?? 80,
    cwd: process.cwd(),
    ...(signal ? { signal } : {}),
  };
}

let failed = false;

/** Whether writing to stdout or stderr failed for a reason other than a reader that left. */
export function writeFailed(): boolean {
  return failed;
}

/** A writer to `stream` that stops once writing fails (never an unhandled 'error' event). */
function channel(stream: NodeJS.WriteStream, name: string): (text: string) => void {
  let open = true;
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (!open) return;
    open = false;
    // EPIPE: the reader closed its end (head, less, grep -m); that is how pipes end, not a failure.
    if (e.code === 'EPIPE' || e.code === 'ERR_STREAM_DESTROYED') return;
    failed = true;
    if (stream !== process.stderr) process.stderr.write(`chainrule: cannot write to ${name}: ${e.message}\n`);
  });
  return (text) => {
    if (open) stream.write(text);
  };
}
