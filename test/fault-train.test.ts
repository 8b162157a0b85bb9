// The fault suite, training: real child processes killed with SIGKILL at random moments and interrupted
// with Ctrl-C (SIGINT), then resumed; checkpoint writes that fail; bad input that must be named, not
// reported as a bug. "The bits of an uninterrupted run" means the final model's weights, byte for byte.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkpointEpoch, runCli, startCli, temps, until, weightsOf } from './helpers/kills.js';
import { Rng } from './helpers/faults.js';

let dir = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'chainrule-fault-train-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** A run long enough to be killed in the middle (a few seconds), short enough for CI. */
const RUN = ['train', '--data', 'digits', '--layers', '32', '--epochs', '60', '--seed', '3', '--quiet'];

describe('fault suite: kill -9 and Ctrl-C', () => {
  let reference = '';
  before(async () => {
    const r = await runCli([...RUN, '--out', 'ref.json'], dir);
    assert.equal(r.code, 0, r.err);
    reference = weightsOf(join(dir, 'ref.json'));
  });

  test('kill -9 at random moments, then --resume: the bits of the uninterrupted run, every time', async () => {
    const rng = new Rng(11);
    for (let k = 0; k < 3; k++) {
      const out = `k${k}.json`;
      const ckpt = join(dir, `k${k}.ckpt.json`);
      const child = startCli([...RUN, '--checkpoint-every', '1', '--out', out], dir);
      // After the first checkpoint, at a random moment while writes are (likely) in flight.
      await until(() => checkpointEpoch(ckpt) >= 1, 60_000, 'the first checkpoint');
      await new Promise((r) => setTimeout(r, rng.int(400)));
      child.proc.kill('SIGKILL');
      const { signal } = await child.exited;
      const at = checkpointEpoch(ckpt);
      assert.ok(at >= 1, `a whole checkpoint is on disk (killed by ${signal})`);
      const r = await runCli(['train', '--resume', `k${k}.ckpt.json`, '--quiet'], dir);
      assert.equal(r.code, 0, r.err);
      assert.equal(weightsOf(join(dir, out)), reference, `resumed after epoch ${at}`);
      // The killed writer's temporary file, if any, is gone after the resumed run.
      assert.deepEqual(temps(dir, `k${k}.ckpt.json`), []);
    }
  });

  test('Ctrl-C saves the moment it stopped, part way through an epoch (exit 130); --resume gives the same bits', async () => {
    const child = startCli([...RUN.filter((a) => a !== '--quiet'), '--out', 'c.json'], dir);
    await until(() => /epoch +5\//.test(child.stderr()), 60_000, 'epoch 5');
    child.proc.kill('SIGINT');
    const { code } = await child.exited;
    assert.equal(code, 130, child.stderr());
    const m = /interrupted in epoch (\d+) after batch (\d+) of 45; saved that moment to c\.ckpt\.json/.exec(
      child.stderr(),
    );
    assert.ok(m, child.stderr());
    assert.equal(checkpointEpoch(join(dir, 'c.ckpt.json')), Number(m[1]) - 1);
    const r = await runCli(['train', '--resume', 'c.ckpt.json', '--quiet'], dir);
    assert.equal(r.code, 0, r.err);
    assert.equal(weightsOf(join(dir, 'c.json')), reference);
  });

  test('an epoch of thousands of batch-size-1 steps interrupted in the middle resumes to the same bits', async () => {
    const args = [
      'train',
      '--data',
      'spiral',
      '--size',
      '4000',
      '--batch-size',
      '1',
      '--layers',
      '8',
      '--epochs',
      '2',
      '--quiet',
    ];
    const ref = await runCli([...args, '--out', 'sref.json'], dir);
    assert.equal(ref.code, 0, ref.err);
    const child = startCli([...args.filter((a) => a !== '--quiet'), '--out', 's.json'], dir);
    await until(() => /^model:/m.test(child.stderr()), 60_000, 'training to start');
    await new Promise((r) => setTimeout(r, 150));
    child.proc.kill('SIGINT');
    assert.equal((await child.exited).code, 130, child.stderr());
    assert.match(child.stderr(), /interrupted in epoch [12] after batch \d+ of 3200/);
    const r = await runCli(['train', '--resume', 's.ckpt.json', '--quiet'], dir);
    assert.equal(r.code, 0, r.err);
    assert.equal(weightsOf(join(dir, 's.json')), weightsOf(join(dir, 'sref.json')));
  });

  test('Ctrl-C acts within a batch, even in an epoch of thousands of steps; a second Ctrl-C exits at once', async () => {
    // 200,000 samples with batch size 1: an epoch of 160,000 steps, one stretch of the event loop before.
    const args = [
      'train',
      '--data',
      'spiral',
      '--size',
      '200000',
      '--batch-size',
      '1',
      '--epochs',
      '5',
      '--out',
      'b.json',
    ];
    const child = startCli(args, dir);
    await until(() => /^model:/m.test(child.stderr()), 60_000, 'training to start');
    await new Promise((r) => setTimeout(r, 300));
    const sent = performance.now();
    child.proc.kill('SIGINT');
    const { code, at } = await child.exited;
    assert.equal(code, 130, child.stderr());
    // Not a timed assertion on speed: a bound far above any batch, far below an epoch of a loaded machine.
    assert.ok(at - sent < 20_000, `stopped ${(at - sent).toFixed(0)} ms after Ctrl-C`);
    assert.match(
      child.stderr(),
      /interrupted in epoch 1 after batch \d+ of 160000; saved that moment to b\.ckpt\.json/,
    );

    const again = startCli(args, dir);
    await until(() => /^model:/m.test(again.stderr()), 60_000, 'training to start');
    again.proc.kill('SIGINT');
    again.proc.kill('SIGINT');
    assert.equal((await again.exited).code, 130);
  });
});

describe('fault suite: failed writes and bad input', () => {
  test('a checkpoint write that fails stops training with exit 1, naming the file; nothing half-written', async () => {
    const sub = join(dir, 'gone');
    mkdirSync(sub);
    const child = startCli(
      [...RUN, '--epochs', '400', '--checkpoint-every', '1', '--out', 'gone/m.json'],
      dir,
    );
    await until(() => checkpointEpoch(join(sub, 'm.ckpt.json')) >= 1, 60_000, 'the first checkpoint');
    rmSync(sub, { recursive: true });
    const { code } = await child.exited;
    assert.equal(code, 1, child.stderr());
    assert.match(
      child.stderr(),
      /chainrule: cannot write checkpoint '.*gone\/m\.ckpt\.json': the folder '.*gone' does not exist; training stopped/,
    );
    assert.doesNotMatch(child.stderr(), /\n\s+at |internal error|Unhandled/);
  });

  test(
    'a read-only folder: the checkpoint write fails with exit 1 and the previous checkpoint is kept',
    { skip: process.getuid?.() === 0 && 'root may write anywhere' },
    async () => {
      const sub = join(dir, 'ro');
      mkdirSync(sub);
      const child = startCli(
        [...RUN, '--epochs', '400', '--checkpoint-every', '1', '--out', 'ro/m.json'],
        dir,
      );
      await until(() => checkpointEpoch(join(sub, 'm.ckpt.json')) >= 1, 60_000, 'the first checkpoint');
      chmodSync(sub, 0o500);
      try {
        const { code } = await child.exited;
        assert.equal(code, 1, child.stderr());
        assert.match(
          child.stderr(),
          /cannot write checkpoint .*: permission denied; training stopped, the checkpoint of epoch \d+ is kept/,
        );
        assert.ok(checkpointEpoch(join(sub, 'm.ckpt.json')) >= 1);
      } finally {
        chmodSync(sub, 0o700);
      }
    },
  );

  test('a full disk: a failed checkpoint write is exit 1 and keeps the last whole checkpoint', async (t) => {
    // A 200 KB file system of our own, where one may be mounted (root on Linux); skipped elsewhere.
    const mnt = join(dir, 'tiny');
    mkdirSync(mnt);
    if (spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=200k', 'tmpfs', mnt]).status !== 0) {
      t.skip('cannot mount a small file system here');
      return;
    }
    try {
      const r = await runCli(
        [...RUN, '--epochs', '100', '--checkpoint-every', '1', '--out', 'tiny/m.json'],
        dir,
      );
      assert.equal(r.code, 1, r.err);
      assert.match(
        r.err,
        /cannot write checkpoint '.*tiny\/m\.ckpt\.json': no space left on the device; training stopped, the checkpoint of epoch \d+ is kept/,
      );
      assert.ok(checkpointEpoch(join(mnt, 'm.ckpt.json')) >= 1);
      assert.deepEqual(readdirSync(mnt), ['m.ckpt.json']);
      // The model file too: exit 1 when the disk is full after training.
      rmSync(join(mnt, 'm.ckpt.json'));
      writeFileSync(join(mnt, 'filler'), new Uint8Array(190_000));
      const m = await runCli([...RUN, '--epochs', '2', '--out', 'tiny/m.json'], dir);
      assert.equal(m.code, 1, m.err);
      assert.match(
        m.err,
        /cannot write model file '.*tiny\/m\.json': no space left on the device; nothing was saved/,
      );
      assert.deepEqual(readdirSync(mnt), ['filler']);
    } finally {
      spawnSync('umount', [mnt]);
    }
  });

  test('a cell whose square overflows is bad input naming the cell, and no model file is written', async () => {
    writeFileSync(join(dir, 'huge.csv'), 'a,b,y\n1,2,3\n1e300,2,4\n3,4,5\n2,2,2\n');
    const r = await runCli(['train', '--data', 'huge.csv', '--epochs', '2', '--out', 'huge.json'], dir);
    assert.equal(r.code, 2);
    assert.match(
      r.err,
      /huge\.csv:3: column 'a' holds 1e\+300, which its scaling .* too large to scale \(its deviation overflows/,
    );
    const n = await runCli(
      ['train', '--data', 'huge.csv', '--epochs', '2', '--scale', 'none', '--out', 'huge.json'],
      dir,
    );
    assert.equal(n.code, 2);
    assert.match(
      n.err,
      /huge\.csv:3: column 'a' holds 1e\+300, which its scaling \(mean 0, deviation 1\) turns into Infinity/,
    );
    writeFileSync(join(dir, 'const.csv'), 'a,b,y\n1e308,2,3\n1e308,2,4\n1e308,4,5\n1e308,2,2\n');
    const c = await runCli(['train', '--data', 'const.csv', '--epochs', '2', '--out', 'huge.json'], dir);
    assert.equal(c.code, 2, c.err);
    assert.match(
      c.err,
      /const\.csv:\d: column 'a' holds 1e\+308, which its scaling .* too large to scale \(its mean overflows/,
    );
    assert.throws(() => readFileSync(join(dir, 'huge.json')));
  });

  test('user errors are exit 2 naming the flag or field, never "internal error"', async () => {
    const cases: [string[], RegExp][] = [
      [['train', '--data', 'iris', '--lr', '0x10'], /--lr: expected a number, got '0x10'/],
      [
        ['train', '--data', 'iris', '--layers', '100000,100000'],
        /--layers 100000,100000 .* parameters; the limit is/,
      ],
      [['train', '--data', 'iris', '--size', '1e9'], /--size: expected a value ≤ 10000000/],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(args, dir);
      assert.equal(r.code, 2, r.err);
      assert.match(r.err, message);
      assert.doesNotMatch(r.err, /internal error/);
    }
  });

  test('checkpoint settings are checked by the rules of their flags', async () => {
    const r = await runCli(
      [
        'train',
        '--data',
        'xor',
        '--size',
        '40',
        '--epochs',
        '1',
        '--checkpoint-every',
        '1',
        '--quiet',
        '--out',
        's.json',
      ],
      dir,
    );
    assert.equal(r.code, 0, r.err);
    const doc = JSON.parse(readFileSync(join(dir, 's.ckpt.json'), 'utf8')) as {
      sha256?: unknown;
      training: { settings: Record<string, unknown> };
    };
    // An edited file without its digest (a hand-made one) still gets every setting checked.
    delete doc.sha256;
    for (const [key, value, message] of [
      ['batchSize', 0, /training\.settings\.batchSize: expected a value ≥ 1, got 0/],
      ['seed', -1, /training\.settings\.seed: expected a value ≥ 0, got -1/],
      ['lr', -1, /training\.settings\.lr: expected a value > 0, got -1/],
      ['layers', [100000, 100000], /parameters; the limit is/],
      ['layers', [3], /training\.settings \(layers 3, relu\) do not describe the checkpoint's architecture/],
    ] as const) {
      const edited = structuredClone(doc);
      edited.training.settings[key] = value;
      writeFileSync(join(dir, 'bad.ckpt.json'), JSON.stringify(edited));
      const b = await runCli(['train', '--resume', 'bad.ckpt.json', '--epochs', '3'], dir);
      assert.equal(b.code, 2, b.err);
      assert.match(b.err, message);
    }
    // With its digest, the same edit is named as corruption.
    const withDigest = JSON.parse(readFileSync(join(dir, 's.ckpt.json'), 'utf8')) as typeof doc;
    withDigest.training.settings.batchSize = 0;
    writeFileSync(join(dir, 'bad.ckpt.json'), JSON.stringify(withDigest));
    const d = await runCli(['train', '--resume', 'bad.ckpt.json', '--epochs', '3'], dir);
    assert.equal(d.code, 2);
    assert.match(d.err, /bad\.ckpt\.json: the file is corrupt: "training" changed since chainrule wrote it/);
  });
});
