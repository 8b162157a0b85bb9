// chainrule playground: build the playground page and serve it on 127.0.0.1 until Ctrl-C. The server
// sends the headers that make the page cross-origin isolated (COOP + COEP), the right MIME types, and
// nothing outside the page's folder.
import { createReadStream, existsSync } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CommandSpec, Flags } from '../args.js';
import { UserError } from '../errors.js';
import type { IO } from '../io.js';

/** The playground command's flags and help. */
export const playgroundSpec: CommandSpec = {
  name: 'playground',
  summary: 'Build the playground page and serve it on 127.0.0.1: train a network in your browser.',
  usage: 'chainrule playground [--port 8080] [--dir <folder>]',
  flags: [
    {
      name: 'port',
      type: 'integer',
      min: 0,
      max: 65535,
      placeholder: 'n',
      defaultText: '8080',
      description: 'Port on 127.0.0.1 (0: any free port)',
    },
    {
      name: 'dir',
      type: 'string',
      placeholder: 'folder',
      description: 'Serve this built page (e.g. dist/web) instead of building it',
    },
  ],
  examples: ['chainrule playground', 'chainrule playground --port 0'],
  details:
    'In a clone of the repository the page is built first (esbuild, into dist/web); an installed package ' +
    'serves the page it ships. The URL goes to stdout; the Text page (a small GPT or an LSTM learning ' +
    'to write) is text.html beside it. Ctrl-C stops the server.',
};

/** Content types by file extension; anything else is sent as bytes. */
const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.csv': 'text/csv; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.wasm': 'application/wasm',
  '.bin': 'application/octet-stream',
};

/** Sent with every response: cross-origin isolation (SharedArrayBuffer for workers) and no sniffing. */
const HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'X-Content-Type-Options': 'nosniff',
  'Cache-Control': 'no-cache',
} as const;

/** A running server. */
export interface PlaygroundServer {
  /** `http://127.0.0.1:<port>/` */
  url: string;
  port: number;
  close(): Promise<void>;
}

function reply(res: ServerResponse, code: number, text: string, extra: Record<string, string> = {}): void {
  res.writeHead(code, { ...HEADERS, 'Content-Type': 'text/plain; charset=utf-8', ...extra });
  res.end(`${text}\n`);
}

/** The file a request path names inside `root`, or null when it is outside or not a file. */
async function fileFor(root: string, pathname: string): Promise<string | null> {
  const wanted = resolve(root, `.${pathname.endsWith('/') ? `${pathname}index.html` : pathname}`);
  if (wanted !== root && !wanted.startsWith(root + sep)) return null;
  try {
    let path = await realpath(wanted);
    // A symbolic link must not lead out of the folder either.
    if (path !== root && !path.startsWith(root + sep)) return null;
    let s = await stat(path);
    if (s.isDirectory()) {
      path = join(path, 'index.html');
      s = await stat(path);
    }
    return s.isFile() ? path : null;
  } catch {
    return null;
  }
}

async function handle(root: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD')
    return reply(res, 405, 'method not allowed', { Allow: 'GET, HEAD' });
  let pathname: string;
  try {
    pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
  } catch {
    return reply(res, 400, 'bad request: the path is not valid percent-encoding');
  }
  if (pathname.includes('\0')) return reply(res, 400, 'bad request');
  const file = await fileFor(root, pathname);
  if (!file) return reply(res, 404, 'not found');
  const size = (await stat(file)).size;
  res.writeHead(200, {
    ...HEADERS,
    'Content-Type': MIME[extname(file).toLowerCase()] ?? 'application/octet-stream',
    'Content-Length': String(size),
  });
  if (req.method === 'HEAD') return void res.end();
  createReadStream(file)
    .on('error', () => res.destroy())
    .pipe(res);
}

/**
 * Serve the folder `root` on `host` (default 127.0.0.1) and `port` (0: any free one). Resolves once the
 * server listens; a port in use becomes a `UserError` that suggests `--port 0`.
 */
export async function servePlayground(options: {
  root: string;
  port: number;
  host?: string;
}): Promise<PlaygroundServer> {
  const root = await realpath(resolve(options.root));
  const host = options.host ?? '127.0.0.1';
  const server = createServer((req, res) => {
    handle(root, req, res).catch(() => {
      if (!res.headersSent) reply(res, 500, 'internal error');
      else res.destroy();
    });
  });
  await new Promise<void>((done, fail) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      fail(
        e.code === 'EADDRINUSE'
          ? new UserError(`playground: port ${options.port} on ${host} is in use`, {
              hint: 'try --port 0 (any free port)',
            })
          : new UserError(`playground: cannot listen on ${host}:${options.port}: ${e.message}`),
      ),
    );
    server.listen(options.port, host, () => done());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host}:${port}/`,
    port,
    close: () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}

/** The shape of web/build.ts, loaded only in a clone (it needs esbuild, a development dependency). */
interface WebBuilder {
  buildWeb(outDir: string): Promise<string[]>;
  WEB_OUT: string;
}

/** The folder to serve: `--dir`, or the page built from web/ in a clone, or the page a package ships. */
async function pageFolder(dir: string | undefined, io: IO): Promise<string> {
  if (dir !== undefined) {
    const folder = resolve(io.cwd, dir);
    if (!existsSync(join(folder, 'index.html')))
      throw new UserError(`playground: --dir ${dir}: no index.html in '${folder}'`, {
        hint: 'build it with npm run build:web',
      });
    return folder;
  }
  const source = new URL('../../web/build.ts', import.meta.url);
  if (existsSync(fileURLToPath(source))) {
    let builder: WebBuilder;
    try {
      builder = (await import(source.href)) as WebBuilder;
    } catch (e) {
      throw new UserError(`playground: cannot load the page builder: ${(e as Error).message}`, {
        hint: 'install the development dependencies (npm ci) and run it with tsx (npm run playground)',
      });
    }
    io.err('chainrule playground: building the page…\n');
    await builder.buildWeb(builder.WEB_OUT);
    return builder.WEB_OUT;
  }
  // Installed from a package: dist/cli/commands/ → dist/web/.
  const shipped = fileURLToPath(new URL('../../web/', import.meta.url));
  if (!existsSync(join(shipped, 'index.html')))
    throw new UserError('playground: this installation has no built page', {
      hint: 'run it from a clone: npm run playground',
    });
  return shipped;
}

/** Run `chainrule playground`: serve until Ctrl-C (the IO's abort signal); returns the exit code. */
export async function playgroundCommand(flags: Flags, _positionals: string[], io: IO): Promise<number> {
  const root = await pageFolder(flags.dir as string | undefined, io);
  const server = await servePlayground({ root, port: (flags.port as number | undefined) ?? 8080 });
  io.err(`chainrule playground: serving ${root} (cross-origin isolated); Ctrl-C stops it\n`);
  io.err(`chainrule playground: the Text page (a small GPT learns to write) is ${server.url}text.html\n`);
  io.out(`${server.url}\n`);
  io.err(`chainrule playground: the Images page (a CNN on digits or MNIST) is ${server.url}images.html\n`);
  await new Promise<void>((done) => {
    if (io.signal?.aborted) return done();
    io.signal?.addEventListener('abort', () => done(), { once: true });
  });
  await server.close();
  io.err('chainrule playground: stopped\n');
  return 0;
}
