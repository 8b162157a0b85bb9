// CSV reading and writing: the quoting rules, numeric detection, and error messages that name the right
// line even after quoted fields that span lines and blank lines.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CsvError, parseCsv, readCsv, writeCsv } from '../cli/csv.js';
import type { Table } from '../src/data/table.js';

const dataFile = (name: string) => fileURLToPath(new URL(`./data/${name}`, import.meta.url));

function values(table: Table, name: string): unknown[] {
  const c = table.columns.find((col) => col.name === name);
  assert.ok(c, `no column ${name}`);
  return Array.from(c.values as ArrayLike<unknown>);
}

function lines(table: Table): number[] {
  return Array.from({ length: table.numRows }, (_, r) => table.lineOf!(r));
}

/** Assert that parsing throws a CsvError with exactly this message and line. */
function throwsCsv(text: string, message: string, line: number | undefined) {
  assert.throws(
    () => parseCsv(text, 'data.csv'),
    (e: unknown) => {
      assert.ok(e instanceof CsvError, `expected a CsvError, got ${String(e)}`);
      assert.ok(e instanceof Error);
      assert.equal(e.message, message);
      assert.equal(e.file, 'data.csv');
      assert.equal(e.line, line);
      return true;
    },
  );
}

describe('parseCsv', () => {
  test('numbers become Float64Array, text stays string[]', () => {
    const t = parseCsv('x,name\n1,a\n2.5,b\n', 'd.csv');
    assert.equal(t.source, 'd.csv');
    assert.equal(t.numRows, 2);
    assert.deepEqual(
      t.columns.map((c) => c.name),
      ['x', 'name'],
    );
    assert.ok(t.columns[0].values instanceof Float64Array);
    assert.deepEqual(values(t, 'x'), [1, 2.5]);
    assert.ok(Array.isArray(t.columns[1].values));
    assert.deepEqual(values(t, 'name'), ['a', 'b']);
  });

  test('quoted fields keep commas, doubled quotes and line breaks', () => {
    const t = parseCsv('a,b,c\n"x, y","say ""hi""","two\nlines"\n1,2,3\n', 'd.csv');
    assert.deepEqual(values(t, 'a'), ['x, y', '1']);
    assert.deepEqual(values(t, 'b'), ['say "hi"', '2']);
    assert.deepEqual(values(t, 'c'), ['two\nlines', '3']);
    assert.deepEqual(lines(t), [2, 4]);
  });

  test('CRLF line ends and a UTF-8 byte order mark', () => {
    const t = parseCsv('\uFEFFage,city\r\n30,"New\r\nYork"\r\n41,Paris\r\n', 'd.csv');
    assert.deepEqual(
      t.columns.map((c) => c.name),
      ['age', 'city'],
    );
    assert.deepEqual(values(t, 'age'), [30, 41]);
    // Line breaks inside quoted fields read as '\n' whatever the file uses.
    assert.deepEqual(values(t, 'city'), ['New\nYork', 'Paris']);
    assert.deepEqual(lines(t), [2, 4]);
  });

  test('old Mac CR line ends', () => {
    const t = parseCsv('a,b\r1,2\r3,4', 'd.csv');
    assert.deepEqual(values(t, 'b'), [2, 4]);
  });

  test('blank and whitespace-only lines are skipped; a trailing newline is optional', () => {
    const expected = [1, 2, 3];
    for (const text of ['a\n1\n2\n3', 'a\n1\n2\n3\n', '\n\na\n1\n\n2\n   \n3\n\n\n']) {
      const t = parseCsv(text, 'd.csv');
      assert.deepEqual(values(t, 'a'), expected, JSON.stringify(text));
    }
    assert.deepEqual(lines(parseCsv('\n\na\n1\n\n2\n   \n3\n\n\n', 'd.csv')), [4, 6, 8]);
  });

  test('a quoted empty field in a one-column file is a value, not a blank line', () => {
    const t = parseCsv('name\nx\n""\ny\n', 'd.csv');
    assert.deepEqual(values(t, 'name'), ['x', '', 'y']);
  });

  test('numeric detection is strict and trims spaces around numbers', () => {
    const t = parseCsv('a,b,c,d,e\n1e3, 7 ,.5,+2,5.\n-0.5,8,-.25,0,1E-2\n', 'd.csv');
    assert.deepEqual(values(t, 'a'), [1000, -0.5]);
    assert.deepEqual(values(t, 'b'), [7, 8]);
    assert.deepEqual(values(t, 'c'), [0.5, -0.25]);
    assert.deepEqual(values(t, 'd'), [2, 0]);
    assert.deepEqual(values(t, 'e'), [5, 0.01]);
    assert.deepEqual(values(parseCsv('a\n\t8\n\u00A09\u00A0\n', 'd.csv'), 'a'), [8, 9]);
    for (const bad of ['"1,5"', '12abc', 'Infinity', '0x10', '1_000', '1e999', '--1', '1.2.3']) {
      const s = parseCsv(`v\n1\n${bad}\n`, 'd.csv');
      assert.ok(Array.isArray(s.columns[0].values), `${bad} should make a text column`);
    }
  });

  test('a column that turns out to be text keeps the spelling of its numbers', () => {
    const t = parseCsv('code,x\n1.0,1\n007,2\nA12,3\nB7,4\n', 'd.csv');
    assert.deepEqual(values(t, 'code'), ['1.0', '007', 'A12', 'B7']);
    assert.deepEqual(values(t, 'x'), [1, 2, 3, 4]);
    // Words leading early, numbers winning in the end: numeric after all.
    const late = parseCsv('v\nx\ny\n1\n2\n3\n', 'd.csv');
    assert.deepEqual(values(late, 'v'), [NaN, NaN, 1, 2, 3]);
    assert.deepEqual(
      [...late.columns[0].textCells!],
      [
        [0, 'x'],
        [1, 'y'],
      ],
    );
  });

  test('the rule: numbers outnumber words, missing values not counted', () => {
    // One stray word or NA leaves a column of numbers numeric; the cells are kept as written.
    const t = parseCsv('a,b,c,d\n1,x,NA,\n2,y,?,\n3,4,null,\nabc,5,, NaN \n', 'd.csv');
    assert.deepEqual(values(t, 'a'), [1, 2, 3, NaN]);
    assert.deepEqual([...t.columns[0].textCells!], [[3, 'abc']]);
    assert.deepEqual(values(t, 'b'), ['x', 'y', '4', '5'], 'a tie is text');
    // Only missing values: text (a constant column).
    assert.deepEqual(values(t, 'c'), ['NA', '?', 'null', '']);
    assert.deepEqual(values(t, 'd'), ['', '', '', ' NaN ']);
    const n = parseCsv('a,b\n1,NA\n,2\n', 'd.csv');
    assert.deepEqual(values(n, 'a'), [1, NaN]);
    assert.deepEqual([...n.columns[0].textCells!], [[1, '']]);
    assert.deepEqual(values(n, 'b'), [NaN, 2]);
    assert.equal(parseCsv('a\n1\n', 'd.csv').columns[0].textCells, undefined);
  });

  test('kinds chosen by the caller: text keeps the spelling, numeric keeps the words aside', () => {
    const t = parseCsv('zip,n,w\n007,1,a\n1.0,2,b\n', 'd.csv', {
      kinds: { zip: 'text', w: 'numeric', x: 'text' },
    });
    assert.deepEqual(values(t, 'zip'), ['007', '1.0']);
    assert.deepEqual(values(t, 'n'), [1, 2]);
    assert.deepEqual(values(t, 'w'), [NaN, NaN]);
    assert.deepEqual(
      [...t.columns[2].textCells!],
      [
        [0, 'a'],
        [1, 'b'],
      ],
    );
  });

  test('another delimiter: semicolons, tabs', () => {
    const t = parseCsv('a;b\n"1;5";2,5\n3;4\n', 'd.csv', { delimiter: ';' });
    assert.deepEqual(values(t, 'a'), ['1;5', '3']);
    assert.deepEqual(values(t, 'b'), ['2,5', '4']);
    const tab = parseCsv('a\tb\n "x" \t2\n', 'd.csv', { delimiter: '\t' });
    assert.deepEqual(values(tab, 'a'), [' "x" ']);
    assert.deepEqual(values(tab, 'b'), [2]);
    assert.equal(writeCsv([['1;5', '2']], ['a', 'b'], { delimiter: ';' }), 'a;b\n"1;5";2\n');
    assert.throws(
      () => parseCsv('a\n1\n', 'd.csv', { delimiter: ';;' }),
      /the delimiter must be one character/,
    );
  });

  test('empty cells are kept in text columns; an all-empty column is text', () => {
    const t = parseCsv('a,b,c\nx,,1\n,, 2\n', 'd.csv');
    assert.deepEqual(values(t, 'a'), ['x', '']);
    assert.deepEqual(values(t, 'b'), ['', '']);
    assert.deepEqual(values(t, 'c'), [1, 2]);
  });

  test('header names are trimmed', () => {
    const t = parseCsv(' a , b\n1,2\n', 'd.csv');
    assert.deepEqual(
      t.columns.map((c) => c.name),
      ['a', 'b'],
    );
  });

  test('lineOf refuses rows outside the table', () => {
    const t = parseCsv('a\n1\n', 'd.csv');
    assert.throws(() => t.lineOf!(1), RangeError);
    assert.throws(() => t.lineOf!(-1), RangeError);
  });
});

describe('parseCsv errors name the file and line', () => {
  test('wrong field count, after a multi-line quoted field and a blank line', () => {
    // Line 2 starts a record spanning lines 2–4, line 5 is blank, line 6 is fine, line 7 is short.
    throwsCsv(
      'id,note,x,y,label\n1,"a note\nover three\nlines",0.5,1.5,yes\n\n2,plain,0.25,1.25,no\n3,short,0.75,yes\n',
      'data.csv:7: expected 5 fields (as in the header), found 4',
      7,
    );
    throwsCsv('a,b\n1,2,3\n', 'data.csv:2: expected 2 fields (as in the header), found 3', 2);
    throwsCsv('a,b\n1,2,\n', 'data.csv:2: expected 2 fields (as in the header), found 3', 2);
  });

  test('empty and duplicate column names', () => {
    throwsCsv('a,b,,d\n1,2,3,4\n', 'data.csv:1: empty column name in header (column 3)', 1);
    throwsCsv('age,x,age\n1,2,3\n', "data.csv:1: duplicate column name 'age' (columns 1 and 3)", 1);
    throwsCsv('age, age\n1,2\n', "data.csv:1: duplicate column name 'age' (columns 1 and 2)", 1);
    // The header is the first non-blank line, wherever it is.
    throwsCsv('\n\na,\n1,2\n', 'data.csv:3: empty column name in header (column 2)', 3);
  });

  test('an empty cell in a numeric column is kept, with its line, for the preprocessing to name', () => {
    const t = parseCsv('x,age,note\n1,20,"multi\nline"\n2,30,a\n3,,b\n4,41,c\n', 'data.csv');
    assert.deepEqual(values(t, 'age'), [20, 30, NaN, 41]);
    assert.deepEqual([...t.columns[1].textCells!], [[2, '']]);
    assert.equal(t.lineOf!(2), 5);
  });

  test('no data rows, empty file', () => {
    throwsCsv('a,b\n', 'data.csv: no data rows', undefined);
    throwsCsv('a,b\n\n\n', 'data.csv: no data rows', undefined);
    throwsCsv('', 'data.csv: the file is empty (expected a header row)', undefined);
    throwsCsv('\uFEFF\r\n  \n', 'data.csv: the file is empty (expected a header row)', undefined);
  });

  test('unterminated quote: the line where the quote opens', () => {
    throwsCsv(
      'a,b\n1,"two\nlines"\n2,"never\nclosed\n3,4\n',
      "data.csv:4: unterminated quoted field: the '\"' that opens it is never closed",
      4,
    );
  });

  test('a closing quote followed by more text', () => {
    throwsCsv(
      'a,b\n1,"ok"\n2,"bad"x\n',
      "data.csv:3: malformed quoted field: a closing '\"' must be followed by a comma or the end of the line " +
        '(write "" for a quote inside a quoted field)',
      3,
    );
  });

  test('a file separated by semicolons or tabs', () => {
    throwsCsv(
      'a;b;c\n1;2;3\n',
      "data.csv:1: the header is a single column 'a;b;c'; fields must be separated by commas, and this file looks separated by ';'",
      1,
    );
    throwsCsv(
      'a\tb\n1\t2\n',
      "data.csv:1: the header is a single column 'a\tb'; fields must be separated by commas, and this file looks separated by tabs",
      1,
    );
    assert.throws(() => parseCsv('a,b\n1,2\n', 'd.csv', { delimiter: ';' }), {
      message:
        "d.csv:1: the header is a single column 'a,b'; fields must be separated by ';', and this file looks separated by commas",
      likelyDelimiter: ',',
    });
  });
});

describe('readCsv', () => {
  test('reads a file with quoted multi-line fields and blank lines', async () => {
    const path = dataFile('flowers.csv');
    const t = await readCsv(path);
    assert.equal(t.source, path);
    assert.equal(t.numRows, 6);
    assert.deepEqual(values(t, 'sepal_length'), [5.1, 4.9, 7.0, 6.4, 6.3, 5.8]);
    assert.deepEqual(values(t, 'color'), ['red', 'blue', 'red', 'dark\ngreen', 'blue', 'red, dark']);
    assert.deepEqual(lines(t), [2, 3, 5, 6, 8, 9]);
  });

  test('a short row after a multi-line field: the line is right', async () => {
    const path = dataFile('short-row.csv');
    await assert.rejects(readCsv(path), {
      name: 'CsvError',
      message: `${path}:7: expected 5 fields (as in the header), found 4`,
      line: 7,
    });
  });

  test('a missing file, a directory', async () => {
    await assert.rejects(readCsv('no-such-file.csv'), {
      name: 'CsvError',
      message: "cannot read CSV 'no-such-file.csv': no such file",
      file: 'no-such-file.csv',
      line: undefined,
    });
    const dir = fileURLToPath(new URL('./data', import.meta.url));
    await assert.rejects(readCsv(dir), { message: `cannot read CSV '${dir}': it is a directory` });
  });

  test('text that is not UTF-8', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'chainrule-csv-'));
    try {
      const latin1 = join(dir, 'latin1.csv');
      await writeFile(latin1, Buffer.from('city,n\nParis,1\nZ\xfcrich,2\n', 'latin1'));
      await assert.rejects(readCsv(latin1), {
        name: 'CsvError',
        message: `${latin1}:3: the file is not valid UTF-8 text (perhaps Latin-1 or Windows-1252); save it as UTF-8`,
        line: 3,
      });
      const utf16 = join(dir, 'utf16.csv');
      await writeFile(
        utf16,
        Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('a,b\n1,2\n', 'utf16le')]),
      );
      await assert.rejects(readCsv(utf16), {
        message: `${utf16}: the file is UTF-16 text; save it as UTF-8 (CSV UTF-8 in Excel)`,
      });
      // A genuine U+FFFD is fine.
      const fffd = join(dir, 'fffd.csv');
      await writeFile(fffd, 'a\n\uFFFD\n');
      assert.deepEqual(values(await readCsv(fffd), 'a'), ['\uFFFD']);
    } finally {
      await rm(dir, { recursive: true });
    }
  });
});

describe('writeCsv', () => {
  test('quotes only what needs quoting', () => {
    assert.equal(
      writeCsv(
        [
          ['1', 'a,b'],
          ['x"y', ' s'],
          ['', 'two\nlines'],
        ],
        ['h1', 'h 2'],
      ),
      'h1,h 2\n1,"a,b"\n"x""y"," s"\n,"two\nlines"\n',
    );
    assert.equal(writeCsv([[''], ['x']], ['name']), 'name\n""\nx\n');
  });

  test('round trip through parseCsv', () => {
    const header = ['text', 'number', 'odd "name", with comma'];
    const rows = [
      ['plain', '1.5', 'a'],
      ['with, comma', '-2', ''],
      ['"quoted"', '1e-7', 'line\nbreak'],
      [' padded ', '0', 'tail\r\nCRLF'],
      ['', '123456789.125', 'ünïcödé ✓'],
    ];
    const t = parseCsv(writeCsv(rows, header), 'out.csv');
    assert.deepEqual(
      t.columns.map((c) => c.name),
      header,
    );
    assert.deepEqual(
      values(t, 'text'),
      rows.map((r) => r[0]),
    );
    assert.deepEqual(
      values(t, 'number'),
      rows.map((r) => Number(r[1])),
    );
    // CRLF inside a value reads back as '\n', as every line break inside a quoted field does.
    assert.deepEqual(
      values(t, header[2]),
      rows.map((r) => r[2].replace('\r\n', '\n')),
    );
  });

  test('refuses rows of the wrong width', () => {
    assert.throws(() => writeCsv([['1']], ['a', 'b']), /row 0 has 1 fields, the header has 2/);
  });
});
