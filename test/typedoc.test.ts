// The API reference (npm run docs) builds from the TSDoc without a warning: typedoc.json treats warnings
// as errors, so a broken {@link}, a public type that names an unexported one, or a bad tag fails here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

test('npm run docs: TypeDoc builds the API reference with no warnings', async () => {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const typedoc = join(root, 'node_modules', 'typedoc', 'bin', 'typedoc');
  const out = mkdtempSync(join(tmpdir(), 'chainrule-docs-'));
  try {
    // The project's own typedoc.json (treatWarningsAsErrors), written elsewhere so the test leaves no trace.
    const r = await run(process.execPath, [typedoc, '--out', out], { cwd: root }).catch(
      (e: { code: number; stdout: string; stderr: string }) => e,
    );
    const text = `${r.stdout}${r.stderr}`;
    assert.doesNotMatch(text, /\[warning\]|\[error\]/, text);
    assert.ok(!('code' in r) || r.code === 0, text);
    for (const page of [
      'index.html',
      'functions/parseCsv.html',
      'functions/fit.html',
      'functions/predictTable.html',
    ])
      assert.ok(existsSync(join(out, page)), `${page} in the reference`);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
