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
 * For text that arrives in pieces (a file read as a stream), {@link CsvParser} gives the same table.
 */
export function parseCsv(text: string, source: string, options: CsvOptions = {}): Table {
  const parser = new CsvParser(source, options);
  parser.push(text);
  return parser.end();
}

/**
 * {@link parseCsv} for text that arrives in pieces: `push` each piece in order, then `end` for the table.
 * Pieces may split the file anywhere (inside a quoted field, between `\r` and `\n`); the table, and every
 * error with its line, are those `parseCsv` gives for the whole text. Only the unfinished record is held
 * between pieces, so memory is the table's, not the file's. An error may come from `push` (as soon as the
 * record that has it is complete) or from `end`.
 */
export class CsvParser {
  private readonly source: string;
  private readonly options: CsvOptions;
  private readonly delimiter: string;
  /** Text not yet made into records: the unfinished last record, '\n' line ends only. */
  private rest = '';
  /** A '\r' at the end of the last piece: its meaning depends on whether '\n' comes next. */
  private pendingCR = false;
  private started = false;
  private ended = false;
  /** The line `rest` starts on. */
  private line = 1;
  private header: string[] | null = null;
  private builders: ColumnBuilder[] = [];
  private lines = new Int32Array(INITIAL_ROWS);
  private numRows = 0;

  /** A parser for the file named `source` in messages; `options` as in {@link parseCsv}. */
  constructor(source: string, options: CsvOptions = {}) {
    const delimiter = options.delimiter ?? ',';
    if (delimiter.length !== 1 || delimiter === '"' || delimiter === '\n' || delimiter === '\r')
      throw new CsvError(
        `${source}: the delimiter must be one character other than a quote or a line break, got ${JSON.stringify(delimiter)}`,
        source,
      );
    this.source = source;
    this.options = options;
    this.delimiter = delimiter;
  }

  /** Add the next piece of the text; complete records in it are read now. */
  push(chunk: string): void {
    if (this.ended) throw new Error('CsvParser: push after end');
    if (chunk.length === 0) return;
    if (!this.started) {
      this.started = true;
      if (chunk.charCodeAt(0) === 0xfeff) chunk = chunk.slice(1);
    }
    if (this.pendingCR) {
      chunk = '\r' + chunk;
      this.pendingCR = false;
    }
    if (chunk.charCodeAt(chunk.length - 1) === 13) {
      chunk = chunk.slice(0, -1);
      this.pendingCR = true;
    }
    this.read(chunk, false);
  }

  /** The table of everything pushed; errors as {@link parseCsv}'s. */
  end(): Table {
    if (this.ended) throw new Error('CsvParser: end called twice');
    this.ended = true;
    this.read(this.pendingCR ? '\r' : '', true);
    const { source, builders, numRows } = this;
    if (this.header === null) throw fail(source, undefined, 'the file is empty (expected a header row)');
    if (numRows === 0) throw fail(source, undefined, 'no data rows');
    const columns: Column[] = builders.map((b) => {
      const numeric = b.forced ? b.forced === 'numeric' : b.numberCount > b.wordCount;
      if (b.numbers !== null && !numeric) toText(b, numRows);
      if (b.numbers !== null) {
        const values = joinBlocks(b.numbers, numRows);
        b.numbers = null; // each column's blocks go as soon as it is one array: the peak is one column more
        const cells = b.textCells;
        return { name: b.name, values, ...(cells && cells.size > 0 ? { textCells: cells } : {}) };
      }
      const strings = b.strings as string[];
      // Stored as text while words led, numbers won in the end.
      return numeric ? asNumeric({ name: b.name, values: strings }) : { name: b.name, values: strings };
    });
    const rowLines = this.lines.length === numRows ? this.lines : this.lines.slice(0, numRows);
    this.lines = new Int32Array(0);
    this.builders = [];
    return makeTable(source, columns, (row) => {
      if (!(row >= 0 && row < numRows))
        throw new RangeError(`lineOf: row ${row} is outside the table's ${numRows} rows`);
      return rowLines[row];
    });
  }

  private read(chunk: string, final: boolean): void {
    // One newline convention, so line numbers are a count of '\n' and a stray '\r' is never content.
    if (chunk.includes('\r')) chunk = chunk.replace(/\r\n?/g, '\n');
    const text = this.rest + chunk;
    const { consumed, line } = forEachRecord(text, this.source, this.delimiter, this.line, final, (f, l) =>
      this.record(f, l),
    );
    this.rest = consumed === 0 ? text : text.slice(consumed);
    this.line = line;
  }

  private record(fields: string[], line: number): void {
    const { source } = this;
    if (this.header === null) {
      this.header = checkHeader(fields, line, source, this.delimiter);
      this.builders = this.header.map((name) => newBuilder(name, this.options.kinds?.[name]));
      return;
    }
    if (fields.length !== this.header.length)
      throw fail(
        source,
        line,
        `expected ${this.header.length} fields (as in the header), found ${fields.length}`,
      );
    const row = this.numRows;
    if (row === this.lines.length) this.lines = grow(this.lines, row);
    this.lines[row] = line;
    for (let c = 0; c < fields.length; c++) addCell(this.builders[c], fields[c], row);
    this.numRows++;
  }
}

const INITIAL_ROWS = 1024;
/** Numbers are stored in blocks of this many rows (the first grows to it), joined once at the end. */
const BLOCK_BITS = 16;
const BLOCK_ROWS = 1 << BLOCK_BITS;

/** `a` in a new array at least twice as long and longer than `row`, its first `used` elements copied. */
function grow<T extends Int32Array | Float64Array | Uint8Array>(a: T, used: number, row = used): T {
  const length = Math.max(INITIAL_ROWS, a.length * 2, 2 * row);
  const bigger = new (a.constructor as new (n: number) => T)(length);
  bigger.set(a.subarray(0, used));
  return bigger;
}

/** The first `rows` numbers of `blocks` as one array. */
function joinBlocks(blocks: Float64Array[], rows: number): Float64Array {
  if (blocks.length === 1 && blocks[0].length === rows) return blocks[0];
  const values = new Float64Array(rows);
  for (let k = 0, at = 0; at < rows; k++, at += BLOCK_ROWS)
    values.set(blocks[k].subarray(0, Math.min(BLOCK_ROWS, rows - at)), at);
  return values;
}

/**
 * Growing storage for one column: numbers (with the cells that are not) while numbers lead, else text.
 * Counts decide the kind at the end.
 */
interface ColumnBuilder {
  readonly name: string;
  readonly forced: ColumnKind | undefined;
  /** The numbers, in blocks of {@link BLOCK_ROWS} rows. */
  numbers: Float64Array[] | null;
  /** Rows that hold NaN in `numbers`, as written. */
  textCells: Map<number, string> | null;
  /**
   * How each number was written, while the column may still turn out to be text (which keeps every cell
   * as written): per row the digits after the point, so the number's `toFixed(digits)` spells it again
   * (null while every number so far is a plain integer), or {@link KEEP} for the few cells with another
   * spelling (`007`, ` 7`, `1e3`, `-0`), which `spellings` holds.
   */
  digits: Uint8Array | null;
  spellings: Map<number, string> | null;
  strings: string[] | null;
  /** Cells that are numbers, and cells that are neither numbers nor missing values. */
  numberCount: number;
  wordCount: number;
}

function newBuilder(name: string, forced: ColumnKind | undefined): ColumnBuilder {
  return {
    name,
    forced,
    numbers: null,
    textCells: null,
    digits: null,
    spellings: null,
    strings: forced === 'text' ? [] : null,
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
  const blocks = (b.numbers ??= []);
  const k = row >>> BLOCK_BITS;
  const at = row & (BLOCK_ROWS - 1);
  let numbers = blocks[k];
  if (numbers === undefined) blocks.push((numbers = new Float64Array(k === 0 ? INITIAL_ROWS : BLOCK_ROWS)));
  else if (at === numbers.length) blocks[k] = numbers = grow(numbers, at);
  const v = parseNumber(cell);
  if (v === v) {
    numbers[at] = v;
    b.numberCount++;
    if (b.forced === undefined) {
      const d = fractionDigits(cell, v);
      if (d !== 0) {
        if (b.digits === null) b.digits = new Uint8Array(Math.max(INITIAL_ROWS, 2 * row));
        else if (row >= b.digits.length) b.digits = grow(b.digits, b.digits.length, row);
        b.digits[row] = d;
        if (d === KEEP) (b.spellings ??= new Map()).set(row, cell);
      }
    }
    return;
  }
  numbers[at] = NaN;
  (b.textCells ??= new Map()).set(row, cell);
  if (isMissingValue(cell)) return;
  b.wordCount++;
  // Words lead: store text from here on, the rows so far as they were written.
  if (b.forced === undefined && b.wordCount > b.numberCount) toText(b, row + 1);
}

/** Turn a column stored as numbers into its first `rows` cells as written. */
function toText(b: ColumnBuilder, rows: number): void {
  const blocks = b.numbers as Float64Array[];
  const digits = b.digits;
  const strings = new Array<string>(rows);
  for (let r = 0; r < rows; r++) {
    const d = digits !== null && r < digits.length ? digits[r] : 0;
    const v = blocks[r >>> BLOCK_BITS][r & (BLOCK_ROWS - 1)];
    strings[r] = b.textCells?.get(r) ?? (d === KEEP ? (b.spellings?.get(r) as string) : v.toFixed(d));
  }
  b.strings = strings;
  b.numbers = null;
  b.textCells = null;
  b.digits = null;
  b.spellings = null;
}

/** A spelling that `toFixed` does not give back: the cell itself is kept. */
const KEEP = 255;

/**
 * For a cell that reads as the number `v`: the digits after its decimal point when it is written plainly
 * (`-12.50`: 2), so that `v.toFixed(digits)` is the cell again, else {@link KEEP}. Plain means an optional
 * '-', an integer part without leading zeros, and at most 15 digits in all, which a double holds exactly.
 */
function fractionDigits(cell: string, v: number): number {
  const n = cell.length;
  let i = cell.charCodeAt(0) === 45 ? 1 : 0;
  const first = i;
  while (i < n && isDigit(cell.charCodeAt(i))) i++;
  const integerDigits = i - first;
  if (integerDigits === 0 || (integerDigits > 1 && cell.charCodeAt(first) === 48)) return KEEP;
  if (v === 0 && first === 1) return KEEP; // '-0' reads as -0, which toFixed writes as '0'
  if (i === n) return integerDigits <= 15 ? 0 : KEEP;
  if (cell.charCodeAt(i) !== 46) return KEEP;
  const point = ++i;
  while (i < n && isDigit(cell.charCodeAt(i))) i++;
  const digits = i - point;
  return i === n && digits > 0 && integerDigits + digits <= 15 ? digits : KEEP;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
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

const QUOTE = 34;
const NEWLINE = 10;
const SPACE = 32;
const TAB = 9;

/**
 * Call `visit` with each non-blank record of `text` and the line it starts on (`text` starts on line
 * `line`), and say how much of the text was read and the line after it. The text has '\n' line ends
 * only. A field is quoted when its first character is '"'; inside, '""' is a quote and line breaks are
 * content; after the closing quote only spaces may come before the delimiter or the line end. Unless
 * `final`, a record that runs to the end of the text may go on in the next piece: it is left unread.
 * Records are handed over one at a time, so a large file never exists as one array of all its cells.
 */
function forEachRecord(
  text: string,
  source: string,
  delimiter: string,
  line: number,
  final: boolean,
  visit: (fields: string[], line: number) => void,
): { consumed: number; line: number } {
  const n = text.length;
  const D = delimiter.charCodeAt(0);
  let pos = 0;
  while (pos < n) {
    const recordStart = pos;
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
          if (q < 0) {
            if (!final) return { consumed: recordStart, line: recordLine };
            throw fail(source, openLine, "unterminated quoted field: the '\"' that opens it is never closed");
          }
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
        if (pos >= n) {
          // The piece may go on with '"' (this quote was the first of '""'), spaces, or the record.
          if (!final) return { consumed: recordStart, line: recordLine };
          break;
        }
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
      if (i >= n && !final) return { consumed: recordStart, line: recordLine };
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
    visit(fields, recordLine);
  }
  return { consumed: n, line };
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
  const width = header.length;
  const out: string[] = [csvLine(header, options)];
  rows.forEach((row, i) => {
    if (row.length !== width)
      throw new Error(`writeCsv: row ${i} has ${row.length} fields, the header has ${width}`);
    out.push(csvLine(row, options));
  });
  return out.join('\n') + '\n';
}

/**
 * One CSV record without its line end, quoted as {@link writeCsv} quotes: for writing a large CSV a piece
 * at a time.
 */
export function csvLine(fields: readonly string[], options: WriteCsvOptions = {}): string {
  return formatRecord(fields, options.delimiter ?? ',');
}

function formatRecord(fields: readonly string[], delimiter: string): string {
  if (fields.length === 1 && fields[0] === '') return '""';
  const quote = (f: string) =>
    f.includes(delimiter) || /["\n\r]|^\s|\s$/.test(f) ? `"${f.replaceAll('"', '""')}"` : f;
  return fields.map(quote).join(delimiter);
}
