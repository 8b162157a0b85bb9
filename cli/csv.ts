// CSV files from disk: the bytes must be UTF-8 text; the library's CsvParser (src/data/csv.ts, pure, also
// what a browser page uses through parseCsv) makes the table. The file is read in pieces and each piece
// handed to the parser, so memory holds the table, not the file. Its CsvError is bad input: main.ts turns
// it into exit code 2.
import { open, type FileHandle } from 'node:fs/promises';
import { CsvError, CsvParser, type CsvOptions, type Table } from '../src/index.js';

export { CsvError, parseCsv, writeCsv } from '../src/index.js';

/** Bytes read at a time: large enough that reading costs little, small next to any table worth streaming. */
export const CSV_CHUNK_BYTES = 1 << 20;

function fail(file: string, line: number | undefined, detail: string): CsvError {
  return new CsvError(line === undefined ? `${file}: ${detail}` : `${file}:${line}: ${detail}`, file, line);
}

/**
 * Read a UTF-8 CSV file into a table (see the library's `parseCsv` for the rules and `options`). A file
 * that is missing, unreadable, or not UTF-8 gives a `CsvError` such as `cannot read CSV 'x.csv': no such
 * file`; messages name the file as `shown` (the path as the user wrote it). The file is read
 * `chunkBytes` at a time; the result, and every error, do not depend on it.
 */
export async function readCsv(
  path: string,
  shown = path,
  options: CsvOptions = {},
  chunkBytes = CSV_CHUNK_BYTES,
): Promise<Table> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (e) {
    throw readError(e, shown);
  }
  try {
    const parser = new CsvParser(shown, options);
    // Two bytes at least in the first piece, for the UTF-16 check.
    const buffer = Buffer.allocUnsafe(Math.max(2, chunkBytes));
    const read = async (at: number, length: number): Promise<number> => {
      try {
        return (await handle.read(buffer, at, length, null)).bytesRead;
      } catch (e) {
        throw readError(e, shown);
      }
    };
    let filled = 0;
    for (let n = -1; n !== 0 && filled < 2; filled += n) n = await read(filled, buffer.length - filled);
    // Excel's "Unicode text" is UTF-16; decoded as UTF-8 it would be one column of garbage.
    if (
      filled >= 2 &&
      ((buffer[0] === 0xff && buffer[1] === 0xfe) || (buffer[0] === 0xfe && buffer[1] === 0xff))
    )
      throw fail(shown, undefined, 'the file is UTF-16 text; save it as UTF-8 (CSV UTF-8 in Excel)');
    const decoder = new TextDecoder('utf-8', { fatal: true });
    try {
      for (let n = filled; n > 0; n = await read(0, chunkBytes))
        parser.push(decoder.decode(buffer.subarray(0, n), { stream: true }));
      parser.push(decoder.decode());
      return parser.end();
    } catch (e) {
      // Not UTF-8 is the first thing to say about a file, wherever the bad bytes are, as when the whole
      // file was decoded before parsing.
      if (e instanceof CsvError || e instanceof TypeError) {
        const line = await firstInvalidUtf8Line(handle, buffer, shown);
        if (line !== undefined)
          throw fail(
            shown,
            line,
            'the file is not valid UTF-8 text (perhaps Latin-1 or Windows-1252); save it as UTF-8',
          );
      }
      throw e;
    }
  } finally {
    await handle.close();
  }
}

function readError(e: unknown, shown: string): CsvError {
  return new CsvError(`cannot read CSV '${shown}': ${describeReadError(e)}`, shown);
}

function describeReadError(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return 'no such file';
  if (code === 'EISDIR') return 'it is a directory';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  return e instanceof Error ? e.message : String(e);
}

/**
 * The line (1-based, a count of '\n' bytes) where the first byte sequence that is not UTF-8 starts, or
 * undefined when the whole file is UTF-8. Reads the file again from the start: only bad input comes here.
 */
async function firstInvalidUtf8Line(
  handle: FileHandle,
  buffer: Buffer,
  shown: string,
): Promise<number | undefined> {
  let line = 1;
  let need = 0; // continuation bytes still expected
  let lo = 0x80; // the range the next continuation byte must be in (narrower after E0, ED, F0, F4)
  let hi = 0xbf;
  for (let position = 0; ;) {
    let n: number;
    try {
      n = (await handle.read(buffer, 0, buffer.length, position)).bytesRead;
    } catch (e) {
      throw readError(e, shown);
    }
    if (n === 0) return need > 0 ? line : undefined;
    position += n;
    for (let i = 0; i < n; i++) {
      const b = buffer[i];
      if (need > 0) {
        if (b < lo || b > hi) return line;
        need--;
        lo = 0x80;
        hi = 0xbf;
      } else if (b < 0x80) {
        if (b === 10) line++;
      } else if (b >= 0xc2 && b <= 0xdf) need = 1;
      else if (b >= 0xe0 && b <= 0xef) {
        need = 2;
        if (b === 0xe0) lo = 0xa0;
        if (b === 0xed) hi = 0x9f;
      } else if (b >= 0xf0 && b <= 0xf4) {
        need = 3;
        if (b === 0xf0) lo = 0x90;
        if (b === 0xf4) hi = 0x8f;
      } else return line;
    }
  }
}
