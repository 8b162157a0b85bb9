// Atomic writes and readable file errors: a write killed half-way leaves the old file whole, errors name
// the file and the reason, and no temporary file outlives a failed write that could clean up after itself.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkOutputPath, readTextFile, removeStaleTemps, writeFileAtomic } from '../cli/fsutil.js';
import { UserError } from '../cli/errors.js';

const root = mkdtempSync(join(tmpdir(), 'chainrule-fsutil-'));
after(() => rmSync(root, { recursive: true, force: true }));
let count = 0;
/** A fresh empty folder per test, so leftover files are easy to see. */
const folder = () => {
  const dir = join(root, `t${count++}`);
  mkdirSync(dir);
  return dir;
};

async function rejection(p: Promise<unknown>): Promise<UserError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof UserError, `expected a UserError, got ${String(e)}`);
    assert.equal(e.exitCode, 2);
    return e;
  }
  assert.fail('no error');
}

describe('writeFileAtomic', () => {
  test('writes a new file, text or bytes, leaving nothing else behind', async () => {
    const dir = folder();
    await writeFileAtomic(join(dir, 'a.json'), '{"é": 1}\n');
    await writeFileAtomic(join(dir, 'b.bin'), new Uint8Array([0, 255, 7]));
    assert.equal(readFileSync(join(dir, 'a.json'), 'utf8'), '{"é": 1}\n');
    assert.deepEqual([...readFileSync(join(dir, 'b.bin'))], [0, 255, 7]);
    assert.deepEqual(readdirSync(dir).sort(), ['a.json', 'b.bin']);
  });

  test('replaces an existing file, keeping its permission bits', async () => {
    const dir = folder();
    const path = join(dir, 'm.json');
    writeFileSync(path, 'old content that is longer than the new');
    chmodSync(path, 0o640);
    await writeFileAtomic(path, 'new');
    assert.equal(readFileSync(path, 'utf8'), 'new');
    assert.equal(statSync(path).mode & 0o777, 0o640);
    assert.deepEqual(readdirSync(dir), ['m.json']);
  });

  test('writing through a symlink replaces the file it points to, not the link', async () => {
    const dir = folder();
    mkdirSync(join(dir, 'runs'));
    writeFileSync(join(dir, 'runs', 'real.json'), 'old');
    symlinkSync(join('runs', 'real.json'), join(dir, 'link.json'));
    await writeFileAtomic(join(dir, 'link.json'), 'new');
    assert.ok(lstatSync(join(dir, 'link.json')).isSymbolicLink());
    assert.equal(readFileSync(join(dir, 'runs', 'real.json'), 'utf8'), 'new');
    assert.deepEqual(readdirSync(join(dir, 'runs')), ['real.json']);
  });

  test('concurrent writes to one target: one complete version wins', async () => {
    const dir = folder();
    const path = join(dir, 'm.json');
    const versions = Array.from({ length: 8 }, (_, i) => String(i).repeat(100_000 + i));
    await Promise.all(versions.map((v) => writeFileAtomic(path, v)));
    assert.ok(versions.includes(readFileSync(path, 'utf8')));
    assert.deepEqual(readdirSync(dir), ['m.json']);
  });

  test('a missing folder gives a clear error and creates nothing', async () => {
    const dir = folder();
    const path = join(dir, 'nope', 'm.json');
    const e = await rejection(writeFileAtomic(path, 'x', { what: 'model file' }));
    assert.equal(
      e.message,
      `cannot write model file '${path}': the folder '${join(dir, 'nope')}' does not exist`,
    );
    assert.equal((e.cause as NodeJS.ErrnoException).code, 'ENOENT');
    assert.deepEqual(readdirSync(dir), []);
  });

  test('a folder in the way fails, and the temporary file is removed', async () => {
    const dir = folder();
    mkdirSync(join(dir, 'm.json'));
    const e = await rejection(writeFileAtomic(join(dir, 'm.json'), 'x'));
    assert.equal(
      e.message,
      `cannot write file '${join(dir, 'm.json')}': a folder of that name is in the way`,
    );
    assert.deepEqual(readdirSync(dir), ['m.json']);
  });

  test(
    'a read-only folder fails with "permission denied"',
    { skip: process.getuid?.() === 0 && 'root may write anywhere' },
    async () => {
      const dir = folder();
      chmodSync(dir, 0o500);
      try {
        const e = await rejection(writeFileAtomic(join(dir, 'm.json'), 'x'));
        assert.match(e.message, /: permission denied$/);
      } finally {
        chmodSync(dir, 0o700);
      }
    },
  );

  test('a process killed (SIGKILL) half-way through leaves the old file whole', async () => {
    const dir = folder();
    const target = join(dir, 'model.json');
    writeFileSync(target, 'the old model');
    const size = 64 * 1024 * 1024;
    // The child starts an atomic write of 64 MB and, from its own event loop (which keeps turning while the
    // write runs in the thread pool), SIGKILLs itself once the temporary file is partly written: a kill
    // that provably lands mid-write, with no chance for any cleanup code to run.
    const child = `
      import { readdirSync, statSync } from 'node:fs';
      import { join } from 'node:path';
      import { writeFileAtomic } from ${JSON.stringify(new URL('../cli/fsutil.ts', import.meta.url).href)};
      const [dir, target, size] = process.argv.slice(2);
      const watch = () => {
        for (const name of readdirSync(dir)) {
          if (!name.endsWith('.tmp')) continue;
          const written = statSync(join(dir, name)).size;
          if (written > 0 && written < Number(size)) process.kill(process.pid, 'SIGKILL');
        }
        setImmediate(watch);
      };
      watch();
      await writeFileAtomic(target, new Uint8Array(Number(size)).fill(66));
      console.log('the write finished before the kill');
    `;
    const script = join(root, `child-${count++}.mjs`);
    writeFileSync(script, child);
    // tsx by its resolved URL, so the child finds it whatever its working folder.
    const tsx = import.meta.resolve('tsx');
    const r = spawnSync(process.execPath, ['--import', tsx, script, dir, target, String(size)], {
      cwd: dir,
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(r.signal, 'SIGKILL', `child: status ${r.status}, ${r.stdout}${r.stderr}`);
    assert.equal(readFileSync(target, 'utf8'), 'the old model');
    // The temporary file stays: nothing runs at SIGKILL. It is partial, unique and hidden (.model.json.*.tmp).
    const leftovers = readdirSync(dir).filter((n) => n !== 'model.json');
    assert.equal(leftovers.length, 1, `left behind: ${leftovers.join(', ')}`);
    assert.match(leftovers[0], /^\.model\.json\.\d+-[0-9a-f]{12}\.tmp$/);
    assert.ok(statSync(join(dir, leftovers[0])).size < size);
    // The next run removes it: its writer (the process id in its name) is gone.
    assert.deepEqual(await removeStaleTemps(target), [join(dir, leftovers[0])]);
    assert.deepEqual(readdirSync(dir), ['model.json']);
  });
});

describe('output paths', () => {
  test('a device, FIFO or folder at the output name is refused, never replaced', async () => {
    const dir = folder();
    const fifo = join(dir, 'pipe');
    spawnSync('mkfifo', [fifo]);
    const cases: [string, string][] = [[fifo, 'a named pipe \\(FIFO\\)']];
    // A device node of our own (a null device, as /dev/null), where we may make one: never the system's.
    const device = join(dir, 'null');
    if (spawnSync('mknod', ['-m', '666', device, 'c', '1', '3']).status === 0)
      cases.push([device, 'a character device']);
    for (const [path, kind] of cases) {
      const e = await rejection(writeFileAtomic(path, 'x', { what: 'model file' }));
      assert.match(
        e.message,
        new RegExp(`cannot write model file '${path}': it is ${kind}; chainrule writes only regular files`),
      );
      await assert.rejects(checkOutputPath(path, '--out'), new RegExp(`--out '${path}': it is ${kind}`));
    }
    assert.ok(statSync(fifo).isFIFO());
    if (cases.length > 1) assert.ok(statSync(device).isCharacterDevice());
    await assert.rejects(checkOutputPath(dir, '--out'), /it is a folder/);
    await assert.rejects(
      checkOutputPath(join(dir, 'no', 'm.json'), '--out'),
      /the folder '.*no' does not exist/,
    );
    await checkOutputPath(join(dir, 'new.json'), '--out');
  });
});

describe('readTextFile', () => {
  test('reads UTF-8 text', async () => {
    const dir = folder();
    writeFileSync(join(dir, 'a.csv'), 'x,y\n1,é\n');
    assert.equal(await readTextFile(join(dir, 'a.csv'), 'data file'), 'x,y\n1,é\n');
  });

  test('missing files, folders and bad paths become one-line messages', async () => {
    const dir = folder();
    writeFileSync(join(dir, 'file'), '');
    const cases: [string, string][] = [
      ['m.json', 'no such file'],
      ['.', 'it is a folder, not a file'],
      ['file/m.json', 'a part of the path is not a folder'],
    ];
    for (const [name, why] of cases) {
      const path = join(dir, name);
      const e = await rejection(readTextFile(path, 'model file'));
      assert.equal(e.message, `cannot read model file '${path}': ${why}`);
    }
  });

  test(
    'an unreadable file says "permission denied"',
    { skip: process.getuid?.() === 0 && 'root may read anything' },
    async () => {
      const dir = folder();
      writeFileSync(join(dir, 'secret'), 'x');
      chmodSync(join(dir, 'secret'), 0o000);
      const e = await rejection(readTextFile(join(dir, 'secret'), 'data file'));
      assert.match(e.message, /^cannot read data file '.*secret': permission denied$/);
    },
  );
});
