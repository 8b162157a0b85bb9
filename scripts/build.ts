// `npm run build`: everything the package ships, into a fresh dist/ (a file deleted from the sources must
// not live on in the tarball).
//
//   dist/src/       the library as ES modules + .d.ts (tsc)        import 'chainrule'
//   dist/cjs/       one CommonJS bundle + .d.cts declarations      require('chainrule')
//   dist/browser/   one minified ES module, kernels inside         import 'chainrule/browser', <script type="module">
//   dist/cli/       the command line (tsc); bin.js is the binary   npx chainrule
//   dist/data/      the datasets the command line ships (digits)
//   dist/web/       the playground page                            chainrule playground
//
// tsc's output carries no source maps: the .ts sources are not shipped, and maps pointing at them would
// lead debuggers to files that are not there. The esbuild bundles' maps embed their sources.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildWeb } from '../web/build.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const DIST = join(ROOT, 'dist');

/** Every file under `dir` whose name ends with `suffix`, recursively. */
function filesUnder(dir: string, suffix: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith(suffix))
    .map((f) => join(dir, f));
}

/**
 * The CommonJS twin of an ES module declaration file: relative specifiers `./x.js` become `./x.cjs`, which
 * TypeScript resolves to `./x.d.cts`, so a CommonJS consumer sees CommonJS declarations throughout.
 */
function toCommonJsDeclaration(text: string): string {
  return text.replace(/((?:from\s+|import\s*\(\s*)(['"])\.{1,2}\/[^'"]*?)\.js\2/g, '$1.cjs$2');
}

rmSync(DIST, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', join(ROOT, 'tsconfig.build.json')], { stdio: 'inherit' });
cpSync(join(ROOT, 'data'), join(DIST, 'data'), { recursive: true });

const entry = join(ROOT, 'src', 'index.ts');
// CommonJS: for require() in Node 20 (which cannot require an ES module without a flag).
await build({
  entryPoints: [entry],
  outfile: join(DIST, 'cjs', 'index.cjs'),
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  logLevel: 'warning',
});
for (const file of filesUnder(join(DIST, 'src'), '.d.ts')) {
  const out = join(DIST, 'cjs', relative(join(DIST, 'src'), file)).replace(/\.d\.ts$/, '.d.cts');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, toCommonJsDeclaration(readFileSync(file, 'utf8')));
}
// The browser: one file, no imports, for a <script type="module"> or a CDN.
await build({
  entryPoints: [entry],
  outfile: join(DIST, 'browser', 'chainrule.js'),
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  minify: true,
  sourcemap: true,
  legalComments: 'none',
  logLevel: 'warning',
});
await buildWeb(join(DIST, 'web'));
process.stdout.write('built dist/: src, cjs, browser, cli, data, web\n');
