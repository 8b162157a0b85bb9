// bench/sklearn-compare.ts needs Debian's python3-sklearn; without it the script says so and exits 0, so
// `npm run bench:sklearn` never fails on a machine that lacks it. (The comparison itself is a benchmark,
// run by hand; its table is in the README.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';

test('bench:sklearn skips cleanly, with a message, when no python imports scikit-learn', () => {
  const script = new URL('../bench/sklearn-compare.ts', import.meta.url).pathname;
  const out = execFileSync(process.execPath, ['--import', 'tsx', script], {
    encoding: 'utf8',
    env: { ...process.env, PYTHON: '/nonexistent/python3' },
  });
  assert.match(out, /^bench:sklearn skipped: no python3 that imports scikit-learn/);
});
