// Build the playground pages into a folder of static files: index.html, style.css, main.js and worker.js
// (the Images page: images.html, images.css, images.js, images.worker.js and its data in images/)
// (bundled by esbuild, with source maps), and a `_headers` file that asks hosts which read it (Netlify,
// Cloudflare Pages) for the cross-origin isolation headers. `tsx web/build.ts [outDir]`.
import { build } from 'esbuild';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { loadText } from '../cli/sequence-data.js';
import { writeImageAssets } from './images.assets.js';

/** This folder: the page's sources. */
export const WEB_SOURCE = dirname(fileURLToPath(import.meta.url));

/** Where `npm run build:web` puts the page. */
export const WEB_OUT = join(WEB_SOURCE, '..', 'dist', 'web');

/** The headers that make the page cross-origin isolated (so worker threads may share memory). */
export const ISOLATION_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
} as const;

/** Options of {@link buildWeb}. */
export interface BuildOptions {
  /** Minify the bundles (default true). */
  minify?: boolean;
}

/** Build the page into `outDir` (created if needed); returns the files written, relative to it. */
export async function buildWeb(outDir: string = WEB_OUT, options: BuildOptions = {}): Promise<string[]> {
  await mkdir(outDir, { recursive: true });
  await build({
    entryPoints: {
      main: join(WEB_SOURCE, 'main.ts'),
      worker: join(WEB_SOURCE, 'worker.ts'),
      text: join(WEB_SOURCE, 'text.ts'),
      'text.worker': join(WEB_SOURCE, 'text.worker.ts'),
      // The Images page (web/images.*).
      images: join(WEB_SOURCE, 'images.ts'),
      'images.worker': join(WEB_SOURCE, 'images.worker.ts'),
    },
    outdir: outDir,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: options.minify ?? true,
    sourcemap: true,
    logLevel: 'silent',
  });
  await copyFile(join(WEB_SOURCE, 'index.html'), join(outDir, 'index.html'));
  await copyFile(join(WEB_SOURCE, 'style.css'), join(outDir, 'style.css'));
  for (const file of ['images.html', 'images.css'])
    await copyFile(join(WEB_SOURCE, file), join(outDir, file));
  const imageAssets = await writeImageAssets(outDir);
  const text = await buildTextPage(outDir);
  const headers = Object.entries(ISOLATION_HEADERS).map(([k, v]) => `  ${k}: ${v}`);
  await writeFile(join(outDir, '_headers'), `/*\n${headers.join('\n')}\n`);
  return [
    ...['index.html', 'style.css', 'main.js', 'main.js.map', 'worker.js', 'worker.js.map', '_headers'],
    ...[
      'images.html',
      'images.css',
      'images.js',
      'images.js.map',
      'images.worker.js',
      'images.worker.js.map',
    ],
    ...imageAssets,
    ...text,
  ];
}

/**
 * The Text page's static files (its scripts are bundled with the others): the page, its styles, and the
 * built-in names list as `names.txt` — the very text `chainrule train --data names` reads, from the same
 * devDependencies, so the page needs no network and trains on the command line's corpus.
 */
async function buildTextPage(outDir: string): Promise<string[]> {
  await copyFile(join(WEB_SOURCE, 'text.html'), join(outDir, 'text.html'));
  await copyFile(join(WEB_SOURCE, 'text.css'), join(outDir, 'text.css'));
  await writeFile(join(outDir, 'names.txt'), (await loadText('names', outDir)).text);
  return [
    'text.html',
    'text.css',
    'text.js',
    'text.js.map',
    'text.worker.js',
    'text.worker.js.map',
    'names.txt',
  ];
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const out = resolve(process.argv[2] ?? WEB_OUT);
  try {
    const files = await buildWeb(out);
    process.stdout.write(`playground built into ${out}: ${files.join(', ')}\n`);
  } catch (e) {
    process.stderr.write(`build:web: ${(e as Error).message}\n`);
    process.exitCode = 1;
  }
}
