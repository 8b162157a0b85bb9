// The fault suite, readers: seeded mutations of every reader's input (model files, checkpoints,
// safetensors, CSV, command lines), a few hundred cases each, run in this process through the real
// readers and the real command line. None may crash, print a stack trace, call bad input an internal
// error, allocate a memory bomb, or load a changed chainrule file as if nothing happened. `npm run soak`
// runs the same suites with thousands of cases (test/soak.ts).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { fromSafetensors, modelFromJSON, sha256 } from '../src/index.js';
import {
  deepJSON,
  seedModelText,
  seedSafetensors,
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

describe('fault suite: the reported cases', () => {
  test('a 16 KB model file claiming 1e8 units fails at once with a message, allocating nothing big', () => {
    const doc = JSON.parse(seedModelText()) as Record<string, unknown> & {
      architecture: { layers: unknown[] };
    };
    delete doc.sha256;
    doc.architecture.layers[0] = { type: 'linear', in: 4, out: 1e8, bias: true };
    doc.architecture.layers[2] = { type: 'linear', in: 1e8, out: 3, bias: true };
    const text = JSON.stringify(doc);
    assert.ok(text.length < 16_000);
    const before = process.memoryUsage().arrayBuffers;
    assert.throws(
      () => modelFromJSON(text, 'bomb.json'),
      /bomb\.json: architecture: describes about 800000005 parameters, over the limit of 134217728/,
    );
    doc.architecture.layers[0] = { type: 'linear', in: 4, out: 1e6, bias: true };
    doc.architecture.layers[2] = { type: 'linear', in: 1e6, out: 3, bias: true };
    assert.throws(
      () => modelFromJSON(JSON.stringify(doc), 'bomb.json'),
      /describes about 8000005 parameters, but the weights hold only 51 values/,
    );
    assert.ok(process.memoryUsage().arrayBuffers - before < 64 * 2 ** 20);
  });

  test('one base64 letter changed in the weights is named as corruption', () => {
    const text = seedModelText();
    const at = text.indexOf('"data": "') + 12;
    const changed = text.slice(0, at) + (text[at] === 'A' ? 'B' : 'A') + text.slice(at + 1);
    assert.throws(
      () => modelFromJSON(changed, 'm.json'),
      /m\.json: the file is corrupt: "weights" changed since chainrule wrote it/,
    );
  });

  test('a softmax over an axis the data does not have is refused on load, naming the file', () => {
    const doc = JSON.parse(seedModelText()) as Record<string, unknown> & {
      architecture: { layers: unknown[] };
    };
    delete doc.sha256;
    doc.architecture.layers[3] = { type: 'softmax', axis: 5 };
    assert.throws(
      () => modelFromJSON(JSON.stringify(doc), 'ax.json'),
      /ax\.json: architecture: the model cannot run: /,
    );
  });

  test('JSON nested 100,000 deep is refused by every reader without a stack overflow', () => {
    const deep = `{"format":"chainrule-model","version":1,"architecture":${deepJSON(100_000)}}`;
    assert.throws(
      () => modelFromJSON(deep, 'deep.json'),
      /deep\.json: arrays and objects are nested more than 64 levels/,
    );
    const header = new TextEncoder().encode(`{"a":${deepJSON(100_000)}}`);
    const bytes = new Uint8Array(8 + header.length);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(header.length), true);
    bytes.set(header, 8);
    assert.throws(
      () => fromSafetensors(bytes, { source: 'deep.safetensors' }),
      /nests arrays and objects more than 64 levels/,
    );
  });

  test('safetensors with a spec claiming more than the file holds fails before building', () => {
    assert.throws(
      () =>
        fromSafetensors(seedSafetensors(), {
          source: 'w.safetensors',
          spec: { type: 'sequential', layers: [{ type: 'linear', in: 4, out: 1e8, bias: true }] },
        }),
      /w\.safetensors: the architecture describes about 500000000 parameters, but the file holds 51 values/,
    );
  });

  test('SHA-256 matches node:crypto', () => {
    for (const n of [0, 1, 55, 56, 63, 64, 65, 1000, 100_003]) {
      const b = new Uint8Array(n).map((_, i) => (i * 131 + 7) & 255);
      assert.equal(sha256(b), createHash('sha256').update(b).digest('hex'));
    }
    assert.equal(sha256('héllo ☃'), createHash('sha256').update('héllo ☃').digest('hex'));
  });
});
