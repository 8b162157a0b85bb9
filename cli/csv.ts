// CSV files from disk: the bytes must be UTF-8 text; the library's parseCsv (src/data/csv.ts, pure, also
// what a browser page uses) makes the table. Its CsvError is bad input: main.ts turns it into exit code 2.
import { readFile } from 'node:fs/promises';
import { CsvError, parseCsv, type CsvOptions, type Table } from '../src/index.js';

export { CsvError, parseCsv, writeCsv } from '../src/index.js';

function fail(file: string, line: number | undefined, detail: string): CsvError {
  return new CsvError(line === undefined ? `${file}: ${detail}` : `${file}:${line}: ${detail}`, file, line);
}

/**
 * Read a UTF-8 CSV file into a table (see the library's `parseCsv` for the rules and `options`). A file
 * that is missing, unreadable, or not UTF-8 gives a `CsvError` such as `cannot read CSV 'x.csv': no such
 * file`; messages name the file as `shown` (the path as the user wrote it).
 */
export async function readCsv(path: string, shown = path, options: CsvOptions = {}): Promise<Table> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new CsvError(`cannot read CSV '${shown}': ${describeReadError(e)}`, shown);
  }
  return parseCsv(decodeUtf8(bytes, shown), shown, options);
}

function describeReadError(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return 'no such file';
  if (code === 'EISDIR') return 'it is a directory';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  return e instanceof Error ? e.message : String(e);
}

function decodeUtf8(bytes: Buffer, path: string): string {
  // Excel's "Unicode text" is UTF-16; decoded as UTF-8 it would be one column of garbage.
  if (
    bytes.length >= 2 &&
    ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff))
  )
    throw fail(path, undefined, 'the file is UTF-16 text; save it as UTF-8 (CSV UTF-8 in Excel)');
  let text: string;
  try {
    text = bytes.toString('utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_STRING_TOO_LONG')
      throw new CsvError(
        `cannot read CSV '${path}': at ${(bytes.length / 2 ** 20).toFixed(0)} MiB it is too large to read as one string`,
        path,
      );
    throw e;
  }
  // Lossy decoding turns bad bytes into U+FFFD silently; check strictly only when one appears, since a
  // file may also contain U+FFFD legitimately.
  const replaced = text.indexOf('\uFFFD');
  if (replaced >= 0) {
    try {
      new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      throw fail(
        path,
        lineAtOffset(text, replaced),
        'the file is not valid UTF-8 text (perhaps Latin-1 or Windows-1252); save it as UTF-8',
      );
    }
  }
  return text;
}

function lineAtOffset(text: string, offset: number): number {
  let line = 1;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) line++;
  return line;
}
