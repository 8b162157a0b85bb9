// The fault suite, readers: seeded mutations of every reader's input (model files, checkpoints,
// safetensors, CSV, command lines), a few hundred cases each, run in this process through the real
// readers and the real command line. None may crash, print a stack trace, call bad input an internal
// error, allocate a memory bomb, or load a changed chainrule file as if nothing happened. `npm run soak`
// runs the same suites with thousands of cases (test/soak.ts).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  fuzzCheckpoints,
  fuzzCsv,
  fuzzFlags,
  fuzzModelFiles,
  fuzzSafetensors,
  table,
  type Tally,
} from './helpers/faults.js';

function clean(name: string, t: Tally): void {
  const summary = `${table([[name, t]])}\n${t.examples.join('\n')}`;
  for (const bad of ['crash', 'stack', 'internal', 'bomb', 'undetected'] as const)
    assert.equal(t[bad], 0, summary);
  assert.ok(t.rejected > t.cases / 4, `most mutations are refused with a message\n${summary}`);
}

describe('fault suite: readers', () => {
  test('300 mutated model files: each refused with a message naming the file, or unchanged in content', () => {
    clean('model', fuzzModelFiles(300, 1));
  });

  test('300 mutated checkpoints', () => {
    clean('checkpoint', fuzzCheckpoints(300, 2));
  });

  test('300 mutated safetensors files', () => {
    clean('safetensors', fuzzSafetensors(300, 3));
  });

  test('200 random and mutated CSV files, a quarter of them trained on', async () => {
    clean('csv', await fuzzCsv(200, 4));
  });

  test('200 random command lines (train, predict, eval, info) over mutated model files and checkpoints', async () => {
    const t = await fuzzFlags(200, 5);
    clean('flags', t);
    assert.ok(t.accepted > 10, 'some command lines run');
  });
});
