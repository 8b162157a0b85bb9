// The README's ten-line example runs as printed and does what its comments say.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';

test("the README's example runs and learns XOR", () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const code = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(code, 'README has a ```ts block');
  assert.ok(code.split('\n').filter((l) => l.trim()).length <= 11, 'about ten lines');
  const file = new URL('../examples/.readme-example.tmp.ts', import.meta.url);
  writeFileSync(file, code.replace("from 'chainrule'", "from '../src/index.js'"));
  try {
    const out = execFileSync(process.execPath, ['--import', 'tsx', file.pathname], { encoding: 'utf8' });
    assert.match(out, /epoch: 500/);
    assert.match(out, /accuracy: 1 /);
    const rows = JSON.parse(out.slice(out.lastIndexOf('}') + 1).replace(/\s/g, '')) as number[][];
    assert.deepEqual(
      rows.map(([v]) => Math.round(v)),
      [0, 1, 1, 0],
    );
  } finally {
    rmSync(file, { force: true });
  }
});

test("the README's CNN runs and separates its bars", () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const code = /## A CNN in ten lines[\s\S]*?```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(code, 'README has the CNN example');
  assert.ok(code.split('\n').filter((l) => l.trim()).length <= 11, 'about ten lines');
  const file = new URL('../examples/.readme-cnn.tmp.ts', import.meta.url);
  writeFileSync(file, code.replace("from 'chainrule'", "from '../src/index.js'"));
  try {
    const out = execFileSync(process.execPath, ['--import', 'tsx', file.pathname], { encoding: 'utf8' });
    assert.match(out, /metrics: \{ accuracy: 1 \}/);
  } finally {
    rmSync(file, { force: true });
  }
});
