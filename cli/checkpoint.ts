// Checkpoints written behind training: each is a snapshot copied at an epoch boundary (one moment of the
// run), turned into text and written while training goes on. At most one write is in flight; a newer
// snapshot replaces one still waiting, so no stale copy queues up and a write never holds a later
// moment's weights under an earlier epoch's label.
import {
  checkpointFromSnapshot,
  modelFromJSON,
  parseCheckpoint,
  stringifyModelFile,
  type CheckpointSnapshot,
  type ModelFile,
} from '../src/index.js';
import { UserError } from './errors.js';
import { writeFileAtomic } from './fsutil.js';

/**
 * Serializing runs on the training thread; after a write, the next waits until this many times the
 * serializing time has passed, so checkpoints take at most about a fifth of the run however often asked.
 */
const DUTY = 4;

/** The text of a checkpoint, checked with its own reader first: a file chainrule cannot read is never written. */
export function checkpointText(snap: CheckpointSnapshot, shown: string): string {
  const text = stringifyModelFile(checkpointFromSnapshot(snap));
  try {
    parseCheckpoint(text, shown);
  } catch (e) {
    throw new Error(
      `refusing to write checkpoint '${shown}' that its reader rejects: ${(e as Error).message}`,
      {
        cause: e,
      },
    );
  }
  return text;
}

/** Writes checkpoint snapshots to one path in the background, newest first, one at a time. */
export class CheckpointWriter {
  private inFlight: Promise<void> | null = null;
  private queued: CheckpointSnapshot | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private notBefore = 0;
  /** The first failure; later snapshots are dropped and `flush` throws it. */
  private failure: Error | null = null;
  /** Epoch of the last checkpoint on disk (-1: none written by this writer). */
  written = -1;

  constructor(
    private readonly path: string,
    private readonly shown: string,
    /** Called once when a write fails (training stops). */
    private readonly onFailure: () => void,
  ) {}

  /** The failure, if a write failed. */
  get error(): Error | null {
    return this.failure;
  }

  /** Hand over a snapshot: written now if the writer is idle, else replacing any waiting one. */
  offer(snap: CheckpointSnapshot): void {
    if (this.failure) return;
    this.queued = snap;
    this.pump(false);
  }

  /** Write what is waiting, then resolve once nothing is in flight; throws a write's failure. */
  async flush(): Promise<void> {
    this.pump(true);
    while (this.inFlight) {
      await this.inFlight;
      this.pump(true);
    }
    if (this.failure) throw this.failure;
  }

  private pump(now: boolean): void {
    if (this.inFlight || !this.queued || this.failure) return;
    const wait = this.notBefore - performance.now();
    if (!now && wait > 0) {
      this.timer ??= setTimeout(() => {
        this.timer = null;
        this.pump(false);
      }, wait);
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const snap = this.queued;
    this.queued = null;
    this.inFlight = this.write(snap).finally(() => {
      this.inFlight = null;
      this.pump(false);
    });
  }

  private async write(snap: CheckpointSnapshot): Promise<void> {
    try {
      const started = performance.now();
      const text = checkpointText(snap, this.shown);
      const cpu = performance.now() - started;
      await writeFileAtomic(this.path, text, { what: 'checkpoint' });
      this.written = snap.epoch;
      this.notBefore = performance.now() + DUTY * cpu;
    } catch (e) {
      // Never an unhandled rejection: the failure is kept, training is told to stop, flush reports it.
      const message = (e as Error).message;
      this.failure = new UserError(
        `${message}; training stopped` +
          (this.written >= 0
            ? `, the checkpoint of epoch ${this.written} is kept`
            : ', any checkpoint there before is kept'),
        { exitCode: 1 },
      );
      this.queued = null;
      this.onFailure();
    }
  }
}

/** The text of a model file, checked with its own reader first: a file chainrule cannot read is never written. */
export function checkedModelText(file: ModelFile, shown: string): string {
  const text = stringifyModelFile(file);
  try {
    modelFromJSON(text, shown);
  } catch (e) {
    throw new Error(
      `refusing to write model file '${shown}' that its reader rejects: ${(e as Error).message}`,
      {
        cause: e,
      },
    );
  }
  return text;
}
