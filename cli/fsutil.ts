// Files the command line reads and writes. Writes are atomic (a crash, a full disk or Ctrl-C never leaves a
// half-written model behind), and file-system errors become one-line messages that name the file.
import { randomBytes } from 'node:crypto';
import { open, readFile, realpath, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
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
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    throw fileError('read', what, shown, reason(e), e);
  }
}

/** Read a whole binary file, with the same messages as `readTextFile`. */
export async function readBinaryFile(path: string, what = 'file', shown = path): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (e) {
    throw fileError('read', what, shown, reason(e), e);
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
 * that file behind — nothing can run at such a moment — named `.<name>.<random>.tmp` next to the target;
 * the target itself is never partial. A file being replaced keeps its permission bits, and a symlink
 * keeps pointing where it did: the file it points to is the one replaced.
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  options: WriteOptions = {},
): Promise<void> {
  const what = options.what ?? 'file';
  // Write through a symlink (model.json -> runs/7/model.json) rather than replace the link with a file.
  const target = await realpath(path).catch(() => path);
  const dir = dirname(target);
  // Unique per call, so concurrent writers (and leftovers of killed ones) never share a temporary file.
  const temp = join(dir, `.${basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
  let handle: FileHandle | null = null;
  let created = false;
  try {
    const mode = await existingMode(target);
    // 'wx': fail rather than write through a file (or symlink) someone else put at this name.
    handle = await open(temp, 'wx', mode ?? 0o666);
    created = true;
    // open's mode is reduced by the umask; the replaced file's own bits are what its owner chose.
    if (mode !== undefined) await handle.chmod(mode);
    await handle.writeFile(data);
    await handle.sync();
    await handle.close();
    handle = null;
    await rename(temp, target);
    created = false;
  } catch (e) {
    await handle?.close().catch(() => {});
    if (created) await unlink(temp).catch(() => {});
    throw fileError('write', what, path, await writeReason(e, dir), e);
  }
  await syncDirectory(dir);
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
