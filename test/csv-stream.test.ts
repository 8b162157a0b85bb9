// CSV read in pieces: wherever a file is cut (inside quotes, between '\r' and '\n', inside a UTF-8
// character, inside an invalid byte sequence), the table and every error are those of reading it whole.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CsvParser, parseCsv, type CsvOptions } from '../src/index.js';
import { readCsv } from '../cli/csv.js';
import type { Table } from '../src/data/table.js';

/** Everything a table says, in a form deepEqual compares (NaN included). */
function snapshot(t: Table): unknown {
  return {
    numRows: t.numRows,
    lines: Array.from({ length: t.numRows }, (_, r) => t.lineOf!(r)),
    columns: t.columns.map((c) => ({
      name: c.name,
      kind: c.values instanceof Float64Array ? 'numeric' : 'text',
      values: Array.from(c.values as ArrayLike<unknown>, (v) => (Number.isNaN(v) ? 'NaN' : v)),
      textCells: c.textCells ? [...c.textCells] : undefined,
    })),
  };
}

/** The table's snapshot, or the error's name, message and line. */
function outcome(read: () => Table): unknown {
  try {
    return snapshot(read());
  } catch (e) {
    const err = e as Error & { line?: number };
    return { error: err.name, message: err.message, line: err.line };
  }
}

function inPieces(pieces: string[], options?: CsvOptions): Table {
  const p = new CsvParser('d.csv', options);
  for (const piece of pieces) p.push(piece);
  return p.end();
}

const TRICKY: Array<[string, CsvOptions?]> = [
  ['\uFEFFage,city\r\n30,"New\r\nYork"\r\n41,Paris\r\n'],
  ['a,b,c\n"x, y","say ""hi""","two\nlines"\n1,2,3\n'],
  ['a,b\r1,2\r\r3,4'],
  ['\n\na\n1\n\n2\n   \n3\n\n\n'],
  ['name\nx\n""\ny\n'],
  ['x,y\n"a" ,1\n"" , 2\n"""",3'],
  ['v\nx\ny\n1\n2\n3\n'],
  ['code,x\n1.0,1\n007,2\n-0,3\n 7 ,4\nA12,5\nB7,6\nC,7\nD,8\nE,9\n'],
  ['a,b,c,d\n1,x,NA,\n2,y,?,\n3,4,null,\nabc,5,, NaN \n'],
  ['zip,n\n007,1\n1.0,2\n', { kinds: { zip: 'text', n: 'numeric' } }],
  ['a;b\n"1;5";2,5\n3;4\n', { delimiter: ';' }],
  ['a\tb\n "x" \t2\n', { delimiter: '\t' }],
  ['city,n\nZürich,1\n"東京\n駅",2\n😀,3\n'],
  // Errors: each must come with the same line, however the text is cut.
  ['a,b\n1,2\n"open,3\n4,5\n'],
  ['a,b\n1,2\n"x"y,3\n'],
  ['a,b,c,d,e\n1,"multi\r\nline",3,4,5\n1,2,3,4\n'],
  ['a,a\n1,2\n'],
  ['a;b\n1;2\n'],
  ['a\n'],
  [''],
  ['\r\n\r\n'],
];

describe('CsvParser: any cut gives the table or error of the whole text', () => {
  test('every cut into two pieces, and one character at a time', () => {
    for (const [text, options] of TRICKY) {
      const whole = outcome(() => parseCsv(text, 'd.csv', options));
      for (let cut = 0; cut <= text.length; cut++)
        assert.deepEqual(
          outcome(() => inPieces([text.slice(0, cut), text.slice(cut)], options)),
          whole,
          `${JSON.stringify(text)} cut at ${cut}`,
        );
      assert.deepEqual(
        outcome(() => inPieces([...text], options)),
        whole,
        `${JSON.stringify(text)} by characters`,
      );
    }
  });

  test('a column that turns to text keeps every earlier cell as written', () => {
    const t = parseCsv('v\n1.0\n007\n-0\n 7 \n1e3\n0.5\nx\ny\nz\nw\nq\nr\ns\n', 'd.csv');
    assert.deepEqual(t.columns[0].values, [
      '1.0',
      '007',
      '-0',
      ' 7 ',
      '1e3',
      '0.5',
      'x',
      'y',
      'z',
      'w',
      'q',
      'r',
      's',
    ]);
    // A tie stays text too, from storage that held numbers.
    assert.deepEqual(parseCsv('v\n1.50\nx\n', 'd.csv').columns[0].values, ['1.50', 'x']);
  });

  test('every spelling of a number survives the turn to text', () => {
    const cells = [
      '0',
      '-0',
      '0.0',
      '-0.0',
      '-0.000',
      '1.50',
      '-12.3400',
      '9.995',
      '0.1',
      '1e-7',
      '0.0000001',
    ];
    cells.push('0.00000010', '123456789012345', '1234567890123456', '12345678.1234567', '1.23456789012345');
    cells.push('99999999999999999999999', '+2', '.5', '5.', ' 7', '7 ', '0x10', '1E3', 'Infinity', '00.5');
    let seed = 7;
    for (let i = 0; i < 300; i++) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      const v = (seed / 2 ** 31 - 0.5) * 10 ** ((seed % 13) - 6);
      cells.push(v.toFixed(seed % 9), String(v), v.toPrecision(1 + (seed % 16)));
    }
    const words = cells.map((_, i) => `w${i}`);
    const all = [...cells, ...words, 'w'];
    const t = parseCsv(`v\n${all.join('\n')}\n`, 'd.csv');
    assert.deepEqual(t.columns[0].values, all);
  });

  test('more rows than a block of storage, and a column that turns to text after it', () => {
    const rows = Array.from({ length: 70000 }, (_, i) => `${i},${i % 3 === 0 ? 'NA' : i / 4}`);
    const text = `a,b\n${rows.join('\n')}\n`;
    const t = inPieces(text.match(/[^]{1,7777}/g)!);
    assert.equal(t.numRows, 70000);
    assert.equal(t.lineOf!(69999), 70001);
    assert.deepEqual(snapshot(t), snapshot(parseCsv(text, 'd.csv')));
    assert.equal((t.columns[1].values as Float64Array)[69998], 69998 / 4);
    const numbers = Array.from({ length: 66000 }, (_, i) => (i / 8).toFixed(i % 4));
    const words = Array.from({ length: 66001 }, (_, i) => `w${i}`);
    assert.deepEqual(parseCsv(`v\n${[...numbers, ...words].join('\n')}`, 'd.csv').columns[0].values, [
      ...numbers,
      ...words,
    ]);
  });

  test('push after end is a programming error', () => {
    const p = new CsvParser('d.csv');
    p.push('a\n1\n');
    p.end();
    assert.throws(() => p.push('2\n'), /push after end/);
  });
});

describe('readCsv in small pieces', () => {
  test('every piece size gives the same table or error, UTF-8 split anywhere', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'chainrule-csv-stream-'));
    try {
      const files: Array<[string, Buffer]> = [
        ['bom.csv', Buffer.from('\uFEFFage,city\r\n30,"New\r\nYork"\r\n41,Zürich\r\n')],
        ['multibyte.csv', Buffer.from('city,n\n東京,1\n"😀\n😀",2\nÉ,3\n')],
        ['fffd.csv', Buffer.from('a\n\uFFFD\n')],
        ['latin1.csv', Buffer.from('city,n\nParis,1\nZ\xfcrich,2\n', 'latin1')],
        // A CSV error on line 2 and bad bytes on line 4: not UTF-8 is said first, as for the whole file.
        [
          'both.csv',
          Buffer.concat([Buffer.from('a,b\n1\n2,3\n'), Buffer.from([0xe6, 0x9d, 0x41]), Buffer.from(',1\n')]),
        ],
        ['truncated.csv', Buffer.concat([Buffer.from('a\n1\n'), Buffer.from([0xf0, 0x9f, 0x98])])],
        [
          'surrogate.csv',
          Buffer.concat([Buffer.from('a\n1\n2\n'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('\n')]),
        ],
        ['utf16.csv', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('a,b\n1,2\n', 'utf16le')])],
        ['empty.csv', Buffer.alloc(0)],
      ];
      const expected: Record<string, unknown> = {
        'latin1.csv': 3,
        'both.csv': 4,
        'truncated.csv': 3,
        'surrogate.csv': 4,
      };
      for (const [name, bytes] of files) {
        const path = join(dir, name);
        await writeFile(path, bytes);
        const whole = await outcomeAsync(() => readCsv(path, name, {}, 1 << 20));
        if (expected[name] !== undefined)
          assert.deepEqual(whole, {
            error: 'CsvError',
            message: `${name}:${expected[name] as number}: the file is not valid UTF-8 text (perhaps Latin-1 or Windows-1252); save it as UTF-8`,
            line: expected[name],
          });
        for (let size = 1; size <= bytes.length + 1; size++)
          assert.deepEqual(
            await outcomeAsync(() => readCsv(path, name, {}, size)),
            whole,
            `${name} in ${size}-byte pieces`,
          );
      }
    } finally {
      await rm(dir, { recursive: true });
    }
  });
});

async function outcomeAsync(read: () => Promise<Table>): Promise<unknown> {
  try {
    return snapshot(await read());
  } catch (e) {
    const err = e as Error & { line?: number };
    return { error: err.name, message: err.message, line: err.line };
  }
}
