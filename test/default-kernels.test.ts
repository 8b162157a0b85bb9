// The default kernel set: the WebAssembly SIMD kernels without any call in Node (compiled on first use,
// with a worker thread per core for large products), the reference set where asked for or where
// compiling is impossible, and `setKernels` before first use winning without compiling anything. The
// default is chosen once per process, so each case runs in a child process of its own.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { kernels, playground as pg, referenceKernels, setKernels } from '../src/index.js';
import { MAX_THREADS } from '../src/kernels/wasm/pool.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const INDEX = new URL('../src/index.ts', import.meta.url).href;
const POOL = new URL('../src/kernels/wasm/pool.ts', import.meta.url).href;

/** What a child printed, how it ended, and how long it took from spawn to exit (ms). */
interface Child {
  code: number | null;
  signal: string | null;
  out: string;
  err: string;
  ms: number;
}

/**
 * Counts the kernels' compiles: `compiled` in the child is the number of modules exporting `f32_gemm`
 * compiled (sync or async) since start-up (the loader's own WebAssembly does not count). Set up before the
 * library is imported.
 */
const COUNT_COMPILES = `
globalThis.compiled = 0;
const ours = (m) => WebAssembly.Module.exports(m).some((e) => e.name === 'f32_gemm');
const RealModule = WebAssembly.Module;
WebAssembly.Module = new Proxy(RealModule, {
  construct(t, args) {
    const m = Reflect.construct(t, args);
    if (ours(m)) globalThis.compiled++;
    return m;
  },
});
const realCompile = WebAssembly.compile;
WebAssembly.compile = async (...args) => {
  const m = await realCompile(...args);
  if (ours(m)) globalThis.compiled++;
  return m;
};
`;

/**
 * Run `code` (an ES module body; `lib` is the library) in `node --import tsx -e`, with the CHAINRULE_
 * variables of this process removed and `env` added; killed after `timeoutMs`.
 */
function child(code: string, env: Record<string, string> = {}, timeoutMs = 60_000): Promise<Child> {
  const vars: NodeJS.ProcessEnv = { ...process.env };
  for (const name of Object.keys(vars)) if (name.startsWith('CHAINRULE_')) delete vars[name];
  const source = `${COUNT_COMPILES}\nconst lib = await import(${JSON.stringify(INDEX)});\n${code}`;
  const started = performance.now();
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', source],
      { cwd: ROOT, env: { ...vars, ...env }, timeout: timeoutMs, killSignal: 'SIGKILL' },
      (error, stdout, stderr) => {
        const e = error as (Error & { code?: number | string; signal?: string }) | null;
        resolve({
          code: e ? (typeof e.code === 'number' ? e.code : null) : 0,
          signal: e?.signal ?? null,
          out: stdout,
          err: stderr,
          ms: performance.now() - started,
        });
      },
    );
  });
}

/** The child's last stdout line, parsed as JSON (what `report(…)` printed). */
function report(c: Child): Record<string, unknown> {
  assert.equal(c.code, 0, `the child failed (signal ${c.signal}):\n${c.err}`);
  const lines = c.out.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]) as Record<string, unknown>;
}

/** A wasm set's name, whatever the runtime's relaxed SIMD: 'wasm-simd' or 'wasm-simd-relaxed32'. */
const WASM = 'wasm-simd(-relaxed32)?';

/** The threads 'auto' gives here. */
const CORES = Math.min(MAX_THREADS, availableParallelism());

describe('the default kernels in Node', () => {
  test('the first kernels() call compiles the WebAssembly set, a thread per core; ready() is that set', async () => {
    const r = report(
      await child(`
const k = lib.kernels();
const same = (await lib.ready()) === k && lib.kernels() === k;
console.log(JSON.stringify({ name: k.name, same, compiled }));
`),
    );
    const threads = CORES > 1 ? `-threads${CORES}` : '';
    assert.match(String(r.name), new RegExp(`^${WASM}${threads}$`));
    assert.equal(r.same, true);
    assert.equal(r.compiled, 1, 'one module compiled, synchronously');
  });

  test('a product large enough for the workers runs on them, and the process still exits at once', async () => {
    // 256·256·256 = 2²⁴ multiply-adds, past the 2²² that wake the pool; two threads even on one core.
    const c = await child(
      `
const { poolStats } = await import(${JSON.stringify(POOL)});
const a = lib.ones([256, 256]);
// The first product waits up to 3 s for the workers to start; on a loaded machine they may start later.
let ok = true;
const until = Date.now() + 15000;
do ok &&= lib.matmul(a, a).data.every((v) => v === 256);
while (poolStats.jobs === 0 && Date.now() < until);
console.log(JSON.stringify({ name: lib.kernels().name, ok, jobs: poolStats.jobs }));
`,
      { CHAINRULE_THREADS: '2' },
      40_000,
    );
    const r = report(c);
    assert.match(String(r.name), new RegExp(`^${WASM}-threads2$`));
    assert.equal(r.ok, true);
    // Under --input-type=module too (this child's flags, which its workers inherit).
    assert.ok(Number(r.jobs) >= 1, 'a product was split with a worker');
    // Nothing keeps the process alive once the script is done: the workers are unref'd.
    assert.equal(c.signal, null);
    assert.ok(c.ms < 30_000, `the process took ${Math.round(c.ms)} ms to exit`);
  });

  test('CHAINRULE_KERNELS=reference selects the reference set and compiles nothing', async () => {
    const r = report(
      await child(
        `lib.matmul(lib.ones([64, 64]), lib.ones([64, 64]));
console.log(JSON.stringify({ name: lib.kernels().name, compiled }));`,
        { CHAINRULE_KERNELS: 'reference' },
      ),
    );
    assert.deepEqual(r, { name: 'reference', compiled: 0 });
  });

  test('CHAINRULE_KERNELS=wasm and CHAINRULE_THREADS choose the set and its threads', async () => {
    const show = `console.log(JSON.stringify({ name: lib.kernels().name }));`;
    const one = report(await child(show, { CHAINRULE_KERNELS: 'wasm', CHAINRULE_THREADS: '1' }));
    assert.match(String(one.name), new RegExp(`^${WASM}$`));
    const three = report(await child(show, { CHAINRULE_THREADS: '3' }));
    assert.match(String(three.name), new RegExp(`^${WASM}-threads3$`));
  });

  test('a bad CHAINRULE_KERNELS or CHAINRULE_THREADS is named on stderr once and the default used', async () => {
    const c = await child(
      `lib.kernels(); lib.kernels();
console.log(JSON.stringify({ name: lib.kernels().name }));`,
      { CHAINRULE_KERNELS: 'gpu', CHAINRULE_THREADS: 'many' },
    );
    const threads = CORES > 1 ? `-threads${CORES}` : '';
    assert.match(String(report(c).name), new RegExp(`^${WASM}${threads}$`));
    assert.equal(c.err.match(/CHAINRULE_KERNELS='gpu'/g)?.length, 1, c.err);
    assert.equal(c.err.match(/CHAINRULE_THREADS='many'/g)?.length, 1, c.err);
  });

  test('setKernels before first use wins and compiles nothing; handing back what it returned restores the default', async () => {
    const r = report(
      await child(`
const prev = lib.setKernels(lib.referenceKernels);
lib.matmul(lib.ones([64, 64]), lib.ones([64, 64]));
const during = { name: lib.kernels().name, compiled };
lib.setKernels(prev);
const after = { name: lib.kernels().name, compiled };
console.log(JSON.stringify({ during, after, prevName: prev.name }));
`),
    );
    assert.deepEqual(r.during, { name: 'reference', compiled: 0 });
    const after = r.after as { name: string; compiled: number };
    assert.match(after.name, new RegExp(`^${WASM}`));
    assert.equal(after.compiled, 1);
    assert.equal(r.prevName, after.name, 'used as a set, what setKernels returned is the default');
  });

  test('where compiling fails or SIMD is missing, the reference set, silently', async () => {
    const show = `lib.matmul(lib.ones([64, 64]), lib.ones([64, 64]));
console.log(JSON.stringify({ name: lib.kernels().name, ready: (await lib.ready()).name }));`;
    const refused = await child(
      `WebAssembly.Module = function () { throw new WebAssembly.CompileError('refused'); };\n${show}`,
    );
    assert.deepEqual(report(refused), { name: 'reference', ready: 'reference' });
    assert.equal(refused.err, '');
    const noSimd = await child(`WebAssembly.validate = () => false;\n${show}`);
    assert.deepEqual(report(noSimd), { name: 'reference', ready: 'reference' });
    assert.equal(noSimd.err, '');
  });

  test('ready(options) compiles a set with them and makes it active', async () => {
    const r = report(
      await child(`
const k = await lib.ready({ threads: 1, relaxed: false });
console.log(JSON.stringify({ name: k.name, active: lib.kernels() === k }));
`),
    );
    assert.deepEqual(r, { name: 'wasm-simd', active: true });
  });

  test('the command line runs on the default set, as the variables say', async () => {
    const cli = `const { main } = await import(${JSON.stringify(new URL('../cli/main.ts', import.meta.url).href)});
let err = '';
const io = { out: () => {}, err: (t) => void (err += t), isTTY: false, columns: 80, cwd: process.cwd() };
// A file of our own, never /dev/null: a model file replaces what is at --out, and only a regular file may be.
const out = (await import('node:path')).join((await import('node:os')).tmpdir(), 'chainrule-kernels-' + process.pid + '.json');
const code = await main(['train', '--data', 'xor', '--epochs', '1', '--out', out], io);
(await import('node:fs')).rmSync(out, { force: true });
console.log(JSON.stringify({ code, kernels: err.match(/; (\\S+) kernels/)?.[1] ?? err }));`;
    const ref = report(await child(cli, { CHAINRULE_KERNELS: 'reference' }));
    assert.deepEqual(ref, { code: 0, kernels: 'reference' });
    const wasm = report(await child(cli, { CHAINRULE_THREADS: '2' }));
    assert.equal(wasm.code, 0);
    assert.match(String(wasm.kernels), new RegExp(`^${WASM}-threads2$`));
  });
});

describe('float64 on the default set', () => {
  test("a playground run gives the reference set's bits (the browser test compares Chromium with this)", () => {
    const config = {
      ...pg.DEFAULT_CONFIG,
      dataset: 'xor',
      features: ['x1', 'x2', 'sinX1', 'x1x2'],
      hidden: [8, 8],
      regularization: 'L2',
      regularizationRate: 0.003,
      batchSize: 30,
      seed: 99,
    } as pg.PlaygroundConfig;
    const train = () => {
      const run = pg.createRun(config);
      for (let i = 0; i < 5; i++) run.trainEpoch();
      return Object.entries(run.model.stateDict()).map(([key, t]) => [key, Array.from(t.data)]);
    };
    assert.match(kernels().name, /^wasm-simd/);
    const onDefault = train();
    const prev = setKernels(referenceKernels);
    try {
      assert.deepEqual(onDefault, train());
    } finally {
      setKernels(prev);
    }
  });
});
