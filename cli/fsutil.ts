// Files the command line reads and writes. Writes are atomic (a crash, a full disk or Ctrl-C never leaves a
// half-written model behind), and file-system errors become one-line messages that name the file.
import { randomBytes } from 'node:crypto';
import {
  lstat,
  open,
  readdir,
  readFile,
  realpath,
  rename,
  stat,
  unlink,
  type FileHandle,
} from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { UserError } from './errors.js';

/** Error codes worth a plain sentence; anything else keeps Node's own message. */
const REASONS: Record<string, string> = {
  ENOENT: 'no such file',
  EISDIR: 'it is a folder, not a file',
  ENOTDIR: 'a part of the path is not a folder',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'the file system is read-only',
  ENAMETOOLONG: 'the name is too long',
  EMFILE: 'too many open files',
};

function reason(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  return (err.code && REASONS[err.code]) || err.message;
}

/** A UserError for a failed read or write, keeping the system error as its cause for debugging. */
function fileError(
  verb: 'read' | 'write',
  what: string,
  path: string,
  why: string,
  cause: unknown,
): UserError {
  const err = new UserError(`cannot ${verb} ${what} '${path}': ${why}`);
  (err as Error).cause = cause;
  return err;
}

/**
 * Read a UTF-8 text file (`shown` is the path as the user wrote it, for messages). Missing files, folders and permission problems become a `UserError` such as
 * `cannot read model file 'm.json': no such file`, which the CLI prints without a stack trace.
 */
export async function readTextFile(path: string, what = 'file', shown = path): Promise<string> {
  await checkReadable(path, what, shown, MAX_TEXT_BYTES);
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    throw fileError('read', what, shown, reason(e), e);
  }
}

/** The largest text file read whole (a JavaScript string holds at most about 2²⁹ characters). */
export const MAX_TEXT_BYTES = 512 * 2 ** 20;

/** The largest binary file read whole. */
export const MAX_BINARY_BYTES = 2 * 2 ** 30;

/**
 * Before reading a file whole: it must be a regular file (a folder, FIFO or device is named as such) no
 * larger than `limit` bytes, so reading it cannot exhaust memory or block forever.
 */
async function checkReadable(path: string, what: string, shown: string, limit: number): Promise<void> {
  let s: Stats;
  try {
    s = await stat(path);
  } catch (e) {
    throw fileError('read', what, shown, reason(e), e);
  }
  if (s.isDirectory()) throw fileError('read', what, shown, reason({ code: 'EISDIR' }), null);
  if (!s.isFile()) throw fileError('read', what, shown, `it is ${kindOf(s)}, not a file`, null);
  if (s.size > limit)
    throw fileError(
      'read',
      what,
      shown,
      `it is ${(s.size / 2 ** 20).toFixed(0)} MiB, over the limit of ${limit / 2 ** 20} MiB for a ${what}`,
      null,
    );
}

/** Read a whole binary file, with the same messages as `readTextFile`. */
export async function readBinaryFile(path: string, what = 'file', shown = path): Promise<Uint8Array> {
  await checkReadable(path, what, shown, MAX_BINARY_BYTES);
  try {
    return new Uint8Array(await readFile(path));
  } catch (e) {
    throw fileError('read', what, shown, reason(e), e);
  }
}

/** What a file-system entry that is not a regular file is, in words ('a folder', 'a named pipe (FIFO)'...). */
export function kindOf(s: Stats): string {
  if (s.isFile()) return 'a regular file';
  if (s.isDirectory()) return 'a folder';
  if (s.isFIFO()) return 'a named pipe (FIFO)';
  if (s.isCharacterDevice()) return 'a character device';
  if (s.isBlockDevice()) return 'a block device';
  if (s.isSocket()) return 'a socket';
  return 'not a regular file';
}

/**
 * Check, before any work, that an output path can take a new file: nothing there or a regular file
 * (through symlinks), in a folder that exists. A folder, FIFO or device at that name is refused rather
 * than replaced (`--out /dev/null` must not replace the device with a file). `flag` names the option.
 */
export async function checkOutputPath(path: string, flag: string, shown = path): Promise<void> {
  const s = await stat(path).catch(() => null);
  if (s && !s.isFile())
    throw new UserError(
      `${flag} '${shown}': it is ${kindOf(s)}; chainrule writes only regular files (or creates one)`,
    );
  if (!s) {
    const dir = dirname(path);
    const d = await stat(dir).catch(() => null);
    if (!d || !d.isDirectory()) throw new UserError(`${flag} '${shown}': the folder '${dir}' does not exist`);
  }
}

/**
 * Remove temporary files that `writeFileAtomic` left next to `path` when its process was killed outright:
 * those of processes no longer running (the name carries the writer's process id). Best effort.
 */
export async function removeStaleTemps(path: string): Promise<string[]> {
  const target = await realpath(path).catch(() => path);
  const dir = dirname(target);
  const base = basename(target);
  const removed: string[] = [];
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return removed;
  }
  const prefix = `.${base}.`;
  for (const name of names) {
    if (!name.startsWith(prefix) || !name.endsWith('.tmp')) continue;
    const m = /^(\d+)-[0-9a-f]+$/.exec(name.slice(prefix.length, -'.tmp'.length));
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || alive(pid)) continue;
    const file = join(dir, name);
    const st = await lstat(file).catch(() => null);
    if (!st?.isFile()) continue;
    await unlink(file).then(
      () => removed.push(file),
      () => {},
    );
  }
  return removed;
}

/** Whether a process with this id exists (EPERM: it does, owned by someone else). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Options of `writeFileAtomic`. */
export interface WriteOptions {
  /** What the file is, for messages: `cannot write model file 'm.json': ...` (default `'file'`). */
  what?: string;
}

/**
 * Write `data` to `path` so that `path` always holds either its old content or all of the new: the data
 * goes to a temporary file in the same folder (same file system, so the rename is atomic), which is
 * flushed to disk and then renamed over the target; the folder is flushed too, so the rename survives a
 * power cut. On any error the temporary file is removed and a `UserError` names the file and the reason.
 *
 * A process killed outright (SIGKILL, power loss) between creating and renaming the temporary file leaves
 * that file behind — nothing can run at such a moment — named `.<name>.<pid>-<random>.tmp` next to the
 * target, which `removeStaleTemps` cleans up later; the target itself is never partial. Anything at
 * `path` but a regular file (a folder, a FIFO, `/dev/null`) is refused, not replaced. A file being replaced keeps its permission bits, and a symlink
 * keeps pointing where it did: the file it points to is the one replaced. `data` may be pieces of text
 * made as they are written; an error while making them is thrown as it is, and nothing is written.
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array | Iterable<string>,
  options: WriteOptions = {},
): Promise<void> {
  const what = options.what ?? 'file';
  // Write through a symlink (model.json -> runs/7/model.json) rather than replace the link with a file.
  const target = await realpath(path).catch(() => path);
  const dir = dirname(target);
  // Unique per call, so concurrent writers (and leftovers of killed ones) never share a temporary file;
  // the process id lets `removeStaleTemps` tell a killed writer's leftovers from a live one's.
  const temp = join(dir, `.${basename(target)}.${process.pid}-${randomBytes(6).toString('hex')}.tmp`);
  let handle: FileHandle | null = null;
  let created = false;
  // Replace a regular file or nothing: never a device, FIFO or folder that happens to have the name.
  const existing = await stat(target).catch(() => null);
  if (existing && !existing.isFile())
    throw fileError(
      'write',
      what,
      path,
      existing.isDirectory()
        ? 'a folder of that name is in the way'
        : `it is ${kindOf(existing)}; chainrule writes only regular files (or creates one)`,
      null,
    );
  try {
    const mode = await existingMode(target);
    // 'wx': fail rather than write through a file (or symlink) someone else put at this name.
    handle = await open(temp, 'wx', mode ?? 0o666);
    created = true;
    // open's mode is reduced by the umask; the replaced file's own bits are what its owner chose.
    if (mode !== undefined) await handle.chmod(mode);
    if (typeof data === 'string' || data instanceof Uint8Array) await handle.writeFile(data);
    // Text made a piece at a time (predictions of a large file) is written as it comes.
    else await writePieces(handle, data);
    await handle.sync();
    await handle.close();
    handle = null;
    await rename(temp, target);
    created = false;
  } catch (e) {
    await handle?.close().catch(() => {});
    if (created) await unlink(temp).catch(() => {});
    // The data's own failure (bad input found while making it) is that error, not the file's.
    if (e instanceof MakingFailed) throw e.cause;
    throw fileError('write', what, path, await writeReason(e, dir), e);
  }
  await syncDirectory(dir);
}

/** An error thrown while making the pieces of a file, not while writing them. */
class MakingFailed extends Error {
  constructor(override readonly cause: unknown) {
    super('making the data failed');
  }
}

async function writePieces(handle: FileHandle, pieces: Iterable<string>): Promise<void> {
  const it = pieces[Symbol.iterator]();
  for (;;) {
    let next: IteratorResult<string>;
    try {
      next = it.next();
    } catch (e) {
      throw new MakingFailed(e);
    }
    if (next.done) return;
    await handle.write(next.value);
  }
}

/** The permission bits of an existing file at `path`, or undefined when there is none to keep. */
async function existingMode(path: string): Promise<number | undefined> {
  try {
    const s = await stat(path);
    return s.isFile() ? s.mode & 0o7777 : undefined;
  } catch {
    return undefined;
  }
}

/** Why a write failed, in words; ENOENT while creating the temporary file means the folder is missing. */
async function writeReason(e: unknown, dir: string): Promise<string> {
  const code = (e as NodeJS.ErrnoException).code;
  if ((code === 'ENOENT' || code === 'ENOTDIR') && !(await isFolder(dir))) return noFolder(dir);
  // rename onto a folder fails with EISDIR (Linux) or EPERM (Windows); say which thing is a folder.
  if (code === 'EISDIR') return FOLDER_IN_THE_WAY;
  return reason(e);
}

const FOLDER_IN_THE_WAY = 'a folder of that name is in the way';
const noFolder = (dir: string) => `the folder '${dir}' does not exist`;
const isFolder = (path: string) =>
  stat(path).then(
    (s) => s.isDirectory(),
    () => false,
  );

/**
 * Fail now, before a long run, when `writeFileAtomic(path)` would fail at its end for want of a folder: the
 * folder missing (or a file), or a folder where the file should go. Same messages as the write's own.
 */
export async function checkWritable(path: string, options: WriteOptions = {}): Promise<void> {
  const target = await realpath(path).catch(() => path);
  const why = !(await isFolder(dirname(target)))
    ? noFolder(dirname(target))
    : (await isFolder(target))
      ? FOLDER_IN_THE_WAY
      : null;
  if (why) throw fileError('write', options.what ?? 'file', path, why, undefined);
}

/**
 * Flush the folder's entry list so a completed rename is durable. Not every platform can open a folder
 * (Windows cannot; there the rename is already as durable as the OS makes it), so failures are ignored:
 * the data itself is already on disk and in place.
 */
async function syncDirectory(dir: string): Promise<void> {
  let handle: FileHandle | null = null;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch {
    // See above: best effort by design.
  } finally {
    await handle?.close().catch(() => {});
  }
}
