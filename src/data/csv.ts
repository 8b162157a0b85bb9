/**
 * CSV text in and out, with no file system and no dependency, so the command line, the playground and a
 * browser page read a file the same way. This file decides what a table is: a header row, equal field
 * counts, numeric or text columns by a rule that can be stated and overridden, and line numbers that point
 * at the file as an editor shows it.
 */
import { asNumeric, isMissingValue, makeTable, parseNumber, type Column, type Table } from './table.js';

/** What a column holds: numbers, or text (categories, class names, identifiers). */
export type ColumnKind = 'numeric' | 'text';

/** Options of {@link parseCsv}. */
export interface CsvOptions {
  /** The character between fields (default `','`); `'\t'` for tab-separated files. */
  delimiter?: string;
  /**
   * Kinds chosen by the caller, by column name, instead of the rule: `'text'` keeps every cell as written
   * (`'007'` stays `'007'`), `'numeric'` reads numbers and keeps the cells that are not in `textCells`.
   * Names that are not columns of the file are ignored.
   */
  kinds?: Readonly<Record<string, ColumnKind>>;
}

/**
 * CSV text that does not make a table. `line` is the 1-based line of the file (the header is line 1,
 * blank lines and lines inside quoted fields count) where the offending record starts, or undefined when
 * the problem is the whole file. The message starts with `file:line:`, ready to show as it is.
 */
export class CsvError extends Error {
  /** The path or name of the file, as the message shows it. */
  readonly file: string;
  /** 1-based line in the file, or undefined for whole-file problems. */
  readonly line: number | undefined;
  /** For a header that reads as one column: the delimiter the file seems to use instead. */
  readonly likelyDelimiter: string | undefined;

  constructor(message: string, file: string, line?: number, likelyDelimiter?: string) {
    super(message);
    this.name = 'CsvError';
    this.file = file;
    this.line = line;
    this.likelyDelimiter = likelyDelimiter;
  }
}

function fail(file: string, line: number | undefined, detail: string, likelyDelimiter?: string): CsvError {
  return new CsvError(
    line === undefined ? `${file}: ${detail}` : `${file}:${line}: ${detail}`,
    file,
    line,
    likelyDelimiter,
  );
}

/** How a delimiter is named in messages. */
function delimiterName(d: string): string {
  return d === ',' ? 'commas' : d === '\t' ? 'tabs' : `'${d}'`;
}

/**
 * Parse CSV text into a table; `source` names the file in messages.
 *
 * The first non-blank record is the header; every other record must have as many fields. Fields may be
 * quoted (`"a, b"`, `"say ""hi"""`, line breaks inside); CRLF and CR line ends and a UTF-8 byte order mark
 * are accepted, blank lines are skipped (in a one-column file an empty cell is a blank line; write `""`
 * to keep it). Header names are trimmed.
 *
 * Which columns are numeric, the rule: a column is numeric when more of its cells are numbers (decimal,
 * spaces around allowed) than are words, not counting missing values (`''`, `NA`, `NaN`, `null`, `?`, see
 * {@link isMissingValue}); it becomes a Float64Array with NaN wherever a cell held no number, and those
 * cells, as written, in the column's `textCells`. So one stray `NA` or typo leaves a column of numbers
 * numeric, and the preprocessing names it. Other columns keep their cells verbatim as strings; line breaks
 * inside them read as `\n`. `options.kinds` overrides the rule per column.
 *
 * The table's `lineOf(row)` gives the line each data row starts on, for later messages. Errors are
 * {@link CsvError}s naming the line, e.g. `data.csv:7: expected 5 fields (as in the header), found 4`.
 */
export function parseCsv(text: string, source: string, options: CsvOptions = {}): Table {
  const delimiter = options.delimiter ?? ',';
  if (delimiter.length !== 1 || delimiter === '"' || delimiter === '\n' || delimiter === '\r')
    throw new CsvError(
      `${source}: the delimiter must be one character other than a quote or a line break, got ${JSON.stringify(delimiter)}`,
      source,
    );
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  // One newline convention, so line numbers are a count of '\n' and a stray '\r' is never content.
  if (text.includes('\r')) text = text.replace(/\r\n?/g, '\n');
  // Every data row follows at least one '\n' (the header's), so this bounds the number of rows.
  let capacity = 0;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) capacity++;

  let header: string[] | null = null;
  let builders: ColumnBuilder[] = [];
  const lines = new Int32Array(capacity);
  let numRows = 0;
  forEachRecord(text, source, delimiter, (fields, line) => {
    if (header === null) {
      header = checkHeader(fields, line, source, delimiter);
      builders = header.map((name) => newBuilder(name, options.kinds?.[name], capacity));
      return true;
    }
    if (fields.length !== header.length)
      throw fail(source, line, `expected ${header.length} fields (as in the header), found ${fields.length}`);
    lines[numRows] = line;
    for (let c = 0; c < fields.length; c++) addCell(builders[c], fields[c], numRows);
    numRows++;
    return true;
  });
  if (header === null) throw fail(source, undefined, 'the file is empty (expected a header row)');
  if (numRows === 0) throw fail(source, undefined, 'no data rows');

  // The rule, for the columns the caller left to it: numeric when numbers outnumber words.
  for (const b of builders) {
    const numeric = b.forced ? b.forced === 'numeric' : b.numberCount > b.wordCount;
    if (!numeric && b.strings === null) {
      b.strings = new Array<string>(numRows);
      b.backfillTo = numRows;
      b.numbers = null;
      b.textCells = null;
    }
  }
  backfill(text, source, delimiter, builders);

  const columns: Column[] = builders.map((b) => {
    const numeric = b.forced ? b.forced === 'numeric' : b.numberCount > b.wordCount;
    if (b.numbers !== null) {
      const values = numRows === capacity ? b.numbers : b.numbers.slice(0, numRows);
      const cells = b.textCells;
      return { name: b.name, values, ...(cells && cells.size > 0 ? { textCells: cells } : {}) };
    }
    const strings = b.strings as string[];
    // Stored as text while words led, numbers won in the end.
    return numeric ? asNumeric({ name: b.name, values: strings }) : { name: b.name, values: strings };
  });
  const rowLines = numRows === capacity ? lines : lines.slice(0, numRows);
  return makeTable(source, columns, (row) => {
    if (!(row >= 0 && row < numRows))
      throw new RangeError(`lineOf: row ${row} is outside the table's ${numRows} rows`);
    return rowLines[row];
  });
}

/**
 * Growing storage for one column: numbers (with the cells that are not) while numbers lead, else text.
 * Counts decide the kind at the end.
 */
interface ColumnBuilder {
  readonly name: string;
  readonly forced: ColumnKind | undefined;
  readonly capacity: number;
  numbers: Float64Array | null;
  textCells: Map<number, string> | null;
  strings: string[] | null;
  /** Rows before this one were stored as numbers and must be read again as text (0: none). */
  backfillTo: number;
  /** Cells that are numbers, and cells that are neither numbers nor missing values. */
  numberCount: number;
  wordCount: number;
}

function newBuilder(name: string, forced: ColumnKind | undefined, capacity: number): ColumnBuilder {
  return {
    name,
    forced,
    capacity,
    numbers: null,
    textCells: null,
    strings: forced === 'text' ? [] : null,
    backfillTo: 0,
    numberCount: 0,
    wordCount: 0,
  };
}

function addCell(b: ColumnBuilder, cell: string, row: number): void {
  if (b.strings !== null) {
    b.strings.push(cell);
    if (b.forced === undefined) {
      const v = parseNumber(cell);
      if (v === v) b.numberCount++;
      else if (!isMissingValue(cell)) b.wordCount++;
    }
    return;
  }
  b.numbers ??= new Float64Array(b.capacity);
  const v = parseNumber(cell);
  if (v === v) {
    b.numbers[row] = v;
    b.numberCount++;
    return;
  }
  b.numbers[row] = NaN;
  (b.textCells ??= new Map()).set(row, cell);
  if (isMissingValue(cell)) return;
  b.wordCount++;
  // Words lead: store text from here on. The numbers so far lost their spelling ('1.0', '007'), so those
  // rows are read again from the file afterwards.
  if (b.forced === undefined && b.wordCount > b.numberCount) {
    b.numbers = null;
    b.textCells = null;
    b.strings = new Array<string>(row);
    b.strings.push(cell);
    b.backfillTo = row;
  }
}

function checkHeader(fields: string[], line: number, source: string, delimiter: string): string[] {
  const names = fields.map((f) => f.trim());
  const firstColumn = new Map<string, number>();
  names.forEach((name, i) => {
    if (name === '') throw fail(source, line, `empty column name in header (column ${i + 1})`);
    const earlier = firstColumn.get(name);
    if (earlier !== undefined)
      throw fail(source, line, `duplicate column name '${name}' (columns ${earlier + 1} and ${i + 1})`);
    firstColumn.set(name, i);
  });
  // A file with another separator reads as one column with a strange name; say so now rather than at
  // '--target price is not a column'.
  if (names.length === 1) {
    const other = [',', ';', '\t', '|'].find((s) => s !== delimiter && names[0].includes(s));
    if (other !== undefined)
      throw fail(
        source,
        line,
        `the header is a single column '${names[0]}'; fields must be separated by ${delimiterName(delimiter)}, ` +
          `and this file looks separated by ${delimiterName(other)}`,
        other,
      );
  }
  return names;
}

/** Read again the leading rows of columns that turned out to be text, keeping each cell's exact spelling. */
function backfill(text: string, source: string, delimiter: string, builders: ColumnBuilder[]): void {
  const pending = builders.map((b, c) => ({ b, c })).filter(({ b }) => b.backfillTo > 0);
  if (pending.length === 0) return;
  const end = Math.max(...pending.map(({ b }) => b.backfillTo));
  let row = -1; // the header
  forEachRecord(text, source, delimiter, (fields) => {
    if (row >= 0) for (const { b, c } of pending) if (row < b.backfillTo) b.strings![row] = fields[c];
    row++;
    return row < end;
  });
}

const QUOTE = 34;
const NEWLINE = 10;
const SPACE = 32;
const TAB = 9;

/**
 * Call `visit` with each non-blank record and the line it starts on; `visit` returns false to stop. The
 * text has '\n' line ends only. A field is quoted when its first character is '"'; inside, '""' is a
 * quote and line breaks are content; after the closing quote only spaces may come before the delimiter
 * or the line end. Records are handed over one at a time, so a large file never exists as one array of
 * all its cells.
 */
function forEachRecord(
  text: string,
  source: string,
  delimiter: string,
  visit: (fields: string[], line: number) => boolean,
): void {
  const n = text.length;
  const D = delimiter.charCodeAt(0);
  let pos = 0;
  let line = 1;
  while (pos < n) {
    const recordLine = line;
    const fields: string[] = [];
    let quoted = false;
    for (;;) {
      if (pos < n && text.charCodeAt(pos) === QUOTE) {
        quoted = true;
        const openLine = line;
        let value = '';
        let from = pos + 1;
        for (;;) {
          const q = text.indexOf('"', from);
          if (q < 0)
            throw fail(source, openLine, "unterminated quoted field: the '\"' that opens it is never closed");
          for (let i = text.indexOf('\n', from); i !== -1 && i < q; i = text.indexOf('\n', i + 1)) line++;
          if (text.charCodeAt(q + 1) === QUOTE) {
            value += text.slice(from, q + 1);
            from = q + 2;
            continue;
          }
          value += text.slice(from, q);
          pos = q + 1;
          break;
        }
        let c = text.charCodeAt(pos);
        while ((c === SPACE || c === TAB) && c !== D) c = text.charCodeAt(++pos);
        fields.push(value);
        if (pos >= n) break;
        if (c === D) {
          pos++;
          continue;
        }
        if (c === NEWLINE) {
          pos++;
          line++;
          break;
        }
        throw fail(
          source,
          openLine,
          `malformed quoted field: a closing '"' must be followed by ${delimiter === ',' ? 'a comma' : `the delimiter '${delimiter === '\t' ? '\\t' : delimiter}'`} or the end of the line ` +
            '(write "" for a quote inside a quoted field)',
        );
      }
      let i = pos;
      let c = 0;
      for (; i < n; i++) {
        c = text.charCodeAt(i);
        if (c === D || c === NEWLINE) break;
      }
      fields.push(text.slice(pos, i));
      if (i >= n) {
        pos = n;
        break;
      }
      pos = i + 1;
      if (c === NEWLINE) {
        line++;
        break;
      }
    }
    // A blank line reads as one empty field; a lone "" is a real (empty) value.
    if (fields.length === 1 && !quoted && fields[0].trim() === '') continue;
    if (!visit(fields, recordLine)) return;
  }
}

/** Options of {@link writeCsv}. */
export interface WriteCsvOptions {
  /** The character between fields (default `','`). */
  delimiter?: string;
}

/**
 * CSV text for `header` and `rows`: `\n` line ends and a final newline. A field is quoted when it contains
 * the delimiter, a quote or a line break, begins or ends with whitespace, or is a lone empty field (which
 * would otherwise read as a blank line); quotes inside are doubled. {@link parseCsv} reads it back to the
 * same cells.
 */
export function writeCsv(rows: string[][], header: string[], options: WriteCsvOptions = {}): string {
  const delimiter = options.delimiter ?? ',';
  const width = header.length;
  const out: string[] = [formatRecord(header, delimiter)];
  rows.forEach((row, i) => {
    if (row.length !== width)
      throw new Error(`writeCsv: row ${i} has ${row.length} fields, the header has ${width}`);
    out.push(formatRecord(row, delimiter));
  });
  return out.join('\n') + '\n';
}

function formatRecord(fields: string[], delimiter: string): string {
  if (fields.length === 1 && fields[0] === '') return '""';
  const quote = (f: string) =>
    f.includes(delimiter) || /["\n\r]|^\s|\s$/.test(f) ? `"${f.replaceAll('"', '""')}"` : f;
  return fields.map(quote).join(delimiter);
}
