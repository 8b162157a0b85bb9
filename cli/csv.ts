// CSV files in and out. Papa Parse splits records (quotes, embedded commas and newlines); this file decides
// what a table is: a header row, equal field counts, numeric or text columns, and line numbers that point
// at the file as an editor shows it.
import { readFile } from 'node:fs/promises';
import Papa from 'papaparse';
import { makeTable, type Column, type Table } from '../src/index.js';
import { UserError } from './errors.js';

/**
 * A CSV file that cannot be read or does not make a table. `line` is the 1-based line of the file (the
 * header is line 1, blank lines and lines inside quoted fields count) where the offending record starts,
 * or undefined when the problem is the whole file. A `UserError`, so the command line prints the message
 * and exits with code 2 instead of showing a stack trace.
 */
export class CsvError extends UserError {
  /** The path or name of the file, as the message shows it. */
  readonly file: string;
  /** 1-based line in the file, or undefined for whole-file problems. */
  readonly line: number | undefined;

  constructor(message: string, file: string, line?: number) {
    super(message);
    this.name = 'CsvError';
    this.file = file;
    this.line = line;
  }
}

function fail(file: string, line: number | undefined, detail: string): CsvError {
  return new CsvError(line === undefined ? `${file}: ${detail}` : `${file}:${line}: ${detail}`, file, line);
}

/**
 * Read a UTF-8 CSV file into a table (see {@link parseCsv} for the rules). A file that is missing,
 * unreadable, or not UTF-8 gives a `CsvError` such as `cannot read CSV 'x.csv': no such file`; messages
 * name the file as `shown` (the path as the user wrote it).
 */
export async function readCsv(path: string, shown = path): Promise<Table> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new CsvError(`cannot read CSV '${shown}': ${describeReadError(e)}`, shown);
  }
  return parseCsv(decodeUtf8(bytes, shown), shown);
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

// A decimal number, optionally signed, with an optional exponent: '1e3', '-0.5', '.5', '5.' pass; '1,5',
// '12abc', '0x10', 'Infinity', 'NaN' and '' do not (Number() would accept some of those).
const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** Growing per-column storage: numbers while every cell so far is a number, then text. */
interface ColumnBuilder {
  readonly name: string;
  numbers: Float64Array | null;
  strings: string[] | null;
  /** Rows before this one were stored as numbers and must be read again as text (0: none). */
  backfillTo: number;
  /** First row whose cell was empty while the column was numeric, or -1. */
  firstEmpty: number;
  /** Whether any cell held a number (a column of only empty cells is text). */
  sawNumber: boolean;
}

function addCell(b: ColumnBuilder, cell: string, row: number, capacity: number): void {
  if (b.strings === null) {
    const v = parseNumber(cell);
    if (v === v) {
      b.numbers ??= new Float64Array(capacity);
      b.numbers[row] = v;
      b.sawNumber = true;
      return;
    }
    if (cell.trim() === '') {
      b.numbers ??= new Float64Array(capacity);
      b.numbers[row] = NaN;
      if (b.firstEmpty < 0) b.firstEmpty = row;
      return;
    }
    // Text: the column is a string column after all. The numbers seen so far lost their spelling
    // ('1.0', '007'), so those rows are re-read from the file afterwards.
    b.numbers = null;
    b.strings = new Array<string>(row);
    b.backfillTo = row;
  }
  b.strings.push(cell);
}

/**
 * The number a cell spells (surrounding whitespace allowed), or NaN. Short unsigned integers — pixel
 * values, counts, ids — are converted digit by digit, the rest checked with `NUMBER` and `Number()`: a
 * large file has tens of millions of cells, and this is most of the time spent on each.
 */
function parseNumber(cell: string): number {
  const n = cell.length;
  if (n > 0 && n <= 15) {
    let v = 0;
    let i = 0;
    for (; i < n; i++) {
      const d = cell.charCodeAt(i) - 48;
      if (d < 0 || d > 9) break;
      v = v * 10 + d;
    }
    if (i === n) return v;
  }
  let t = cell;
  if (!NUMBER.test(t)) {
    t = cell.trim();
    if (t === cell || !NUMBER.test(t)) return NaN;
  }
  const v = Number(t);
  // '1e999' spells a number but not a finite one: keep such a column as text rather than hold Infinity.
  return v - v === 0 ? v : NaN;
}

/**
 * Parse CSV text into a table; `source` names the file in messages. Pure: no file system access.
 *
 * The first non-blank record is the header; every other record must have as many fields. Fields may be
 * quoted ("a, b", "say ""hi""", line breaks inside); CRLF and CR line ends and a UTF-8 byte order mark
 * are accepted, blank lines are skipped (in a one-column file an empty cell is a blank line; write `""`
 * to keep it). Header names are trimmed. A column is numeric when it holds at least one number and every
 * non-empty cell is a decimal number (surrounding spaces ignored): it becomes a Float64Array. Other columns
 * keep their cells verbatim as strings; line breaks inside them read as `\n`. An empty cell in a numeric
 * column is an error: chainrule does not guess missing values.
 *
 * The table's `lineOf(row)` gives the line each data row starts on, for later messages. Errors are
 * `CsvError`s naming the line, e.g. `data.csv:7: expected 5 fields (as in the header), found 4`.
 */
export function parseCsv(text: string, source: string): Table {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  // One newline convention, so Papa Parse cannot mistake a stray '\r' for a field's content and line
  // numbers are a count of '\n'.
  if (text.includes('\r')) text = text.replace(/\r\n?/g, '\n');
  // Every data row follows at least one '\n' (the header's), so this bounds the number of rows.
  let capacity = 0;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) capacity++;

  let header: string[] | null = null;
  let builders: ColumnBuilder[] = [];
  const lines = new Int32Array(capacity);
  let numRows = 0;
  forEachRecord(text, source, (fields, line) => {
    if (header === null) {
      header = checkHeader(fields, line, source);
      builders = header.map((name) => ({
        name,
        numbers: null,
        strings: null,
        backfillTo: 0,
        firstEmpty: -1,
        sawNumber: false,
      }));
      return true;
    }
    if (fields.length !== header.length)
      throw fail(source, line, `expected ${header.length} fields (as in the header), found ${fields.length}`);
    lines[numRows] = line;
    for (let c = 0; c < fields.length; c++) addCell(builders[c], fields[c], numRows, capacity);
    numRows++;
    return true;
  });
  if (header === null) throw fail(source, undefined, 'the file is empty (expected a header row)');
  if (numRows === 0) throw fail(source, undefined, 'no data rows');

  for (const b of builders) {
    if (b.numbers !== null && !b.sawNumber) {
      // Only empty cells: keep them as text (they may be spaces), a constant column.
      b.numbers = null;
      b.strings = new Array<string>(numRows);
      b.backfillTo = numRows;
    }
    if (b.numbers !== null && b.firstEmpty >= 0)
      throw fail(
        source,
        lines[b.firstEmpty],
        `column '${b.name}' is empty (it holds numbers elsewhere; missing values are not filled in)`,
      );
  }
  backfill(text, source, builders);

  const columns: Column[] = builders.map((b) => ({
    name: b.name,
    values:
      b.numbers !== null ? (numRows === capacity ? b.numbers : b.numbers.slice(0, numRows)) : b.strings!,
  }));
  const rowLines = numRows === capacity ? lines : lines.slice(0, numRows);
  return makeTable(source, columns, (row) => {
    if (!(row >= 0 && row < numRows))
      throw new RangeError(`lineOf: row ${row} is outside the table's ${numRows} rows`);
    return rowLines[row];
  });
}

function checkHeader(fields: string[], line: number, source: string): string[] {
  const names = fields.map((f) => f.trim());
  const firstColumn = new Map<string, number>();
  names.forEach((name, i) => {
    if (name === '') throw fail(source, line, `empty column name in header (column ${i + 1})`);
    const earlier = firstColumn.get(name);
    if (earlier !== undefined)
      throw fail(source, line, `duplicate column name '${name}' (columns ${earlier + 1} and ${i + 1})`);
    firstColumn.set(name, i);
  });
  // A semicolon- or tab-separated file reads as one column with a strange name; say so now rather than
  // at '--target price is not a column'.
  if (names.length === 1) {
    const sep = [';', '\t', '|'].find((s) => names[0].includes(s));
    if (sep !== undefined)
      throw fail(
        source,
        line,
        `the header is a single column '${names[0]}'; fields must be separated by commas, ` +
          `and this file looks separated by ${sep === '\t' ? 'tabs' : `'${sep}'`}`,
      );
  }
  return names;
}

/** Re-read the leading rows of columns that turned out to be text, keeping each cell's exact spelling. */
function backfill(text: string, source: string, builders: ColumnBuilder[]): void {
  const pending = builders.map((b, c) => ({ b, c })).filter(({ b }) => b.backfillTo > 0);
  if (pending.length === 0) return;
  const end = Math.max(...pending.map(({ b }) => b.backfillTo));
  let row = -1; // the header
  forEachRecord(text, source, (fields) => {
    if (row >= 0) for (const { b, c } of pending) if (row < b.backfillTo) b.strings![row] = fields[c];
    row++;
    return row < end;
  });
}

/**
 * Call `visit` with each non-blank record and the line it starts on; `visit` returns false to stop.
 * Papa Parse's quote errors become `CsvError`s. Parsing is streamed record by record so a large file
 * never exists as one array of all its cells.
 */
function forEachRecord(
  text: string,
  source: string,
  visit: (fields: string[], line: number) => boolean,
): void {
  // Lines are counted incrementally: positions asked for only ever increase.
  let countedTo = 0;
  let countedLine = 1;
  const lineAt = (pos: number): number => {
    for (let i = text.indexOf('\n', countedTo); i !== -1 && i < pos; i = text.indexOf('\n', i + 1))
      countedLine++;
    countedTo = Math.max(countedTo, pos);
    return countedLine;
  };
  let recordStart = 0;
  let failure: unknown = null;
  Papa.parse<string[]>(text, {
    delimiter: ',',
    newline: '\n',
    quoteChar: '"',
    escapeChar: '"',
    header: false,
    dynamicTyping: false,
    skipEmptyLines: false,
    step: (result, parser) => {
      if (failure !== null) return;
      const start = recordStart;
      const end = result.meta.cursor;
      recordStart = end;
      try {
        const line = lineAt(start);
        if (result.errors.length > 0) {
          const e = result.errors.reduce((a, b) => ((a.index ?? 0) <= (b.index ?? 0) ? a : b));
          // index points just past the opening quote of the field in question.
          const at = lineAt(Math.max(start, (e.index ?? start + 1) - 1));
          throw fail(
            source,
            at,
            e.code === 'MissingQuotes'
              ? "unterminated quoted field: the '\"' that opens it is never closed"
              : "malformed quoted field: a closing '\"' must be followed by a comma or the end of the line " +
                  '(write "" for a quote inside a quoted field)',
          );
        }
        const fields = result.data;
        // A blank line reads as one empty field; a lone "" is a real (empty) value, so look at the text.
        if (fields.length === 1 && fields[0].trim() === '' && text.slice(start, end).trim() === '') return;
        if (!visit(fields, line)) parser.abort();
      } catch (e) {
        failure = e;
        parser.abort();
      }
    },
  });
  if (failure !== null) throw failure;
}

/**
 * CSV text for `header` and `rows`: comma-separated, `\n` line ends, a final newline. A field is quoted
 * when it contains a comma, quote or line break, begins or ends with whitespace, or is a lone empty field
 * (which would otherwise read as a blank line); quotes inside are doubled. `parseCsv` reads it back
 * to the same cells.
 */
export function writeCsv(rows: string[][], header: string[]): string {
  const width = header.length;
  const out: string[] = [formatRecord(header)];
  rows.forEach((row, i) => {
    if (row.length !== width)
      throw new Error(`writeCsv: row ${i} has ${row.length} fields, the header has ${width}`);
    out.push(formatRecord(row));
  });
  return out.join('\n') + '\n';
}

const NEEDS_QUOTES = /[",\n\r]|^\s|\s$/;

function formatRecord(fields: string[]): string {
  if (fields.length === 1 && fields[0] === '') return '""';
  return fields.map((f) => (NEEDS_QUOTES.test(f) ? `"${f.replaceAll('"', '""')}"` : f)).join(',');
}
