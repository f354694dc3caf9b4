/**
 * One serving process: load the app, bind every --socket, answer the uwsgi protocol on each.
 */
import { readFileSync } from 'node:fs';
import type { Runtime } from '../../runtimes/types.ts';
import { log } from '../log.ts';
import { loadApp, type LoadedApp } from './app.ts';
import { bindSocket, formatAddress, removeSocketFile, type BoundSocket } from './bind.ts';
import { handleUwsgiConn, type RequestCounters } from './uwsgi.ts';

export const VERSION: string = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

export interface ServeOptions {
  /** uwsgi protocol sockets (--socket). */
  sockets: string[];
  app?: string;
  callable?: string;
  chdir?: string;
  /** --chmod-socket as a file mode. */
  chmodSocket?: number;
  vacuum: boolean;
  bufferSize: number;
  /** Listen backlog (--listen). */
  listen?: number;
  /** KEY=VALUE pairs for the app's environment (--env). */
  env: string[];
}

export interface RunningServer {
  app: LoadedApp;
  sockets: BoundSocket[];
  /** Requests being answered now. */
  inflight(): number;
  /** Stop accepting; wait up to `mercyMs` for in-flight requests; remove files with --vacuum. */
  stop(mercyMs: number): Promise<void>;
}

export async function startServer(rt: Runtime, options: ServeOptions, cwd: string): Promise<RunningServer> {
  if (options.sockets.length === 0) {
    throw new Error('nothing to serve on: give --socket ADDRESS (host:port, :port or a UNIX socket path)');
  }
  for (const pair of options.env) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new Error(`--env ${pair}: expected KEY=VALUE`);
    process.env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  const started = Date.now();
  let inflight = 0;
  let idle: (() => void) | null = null;
  let requests = 0;
  const counters: RequestCounters = {
    started: () => {
      inflight++;
      requests++;
    },
    finished: () => {
      inflight--;
      if (inflight === 0 && idle) idle();
    },
  };

  // Sockets are bound relative to the directory tsgi was started in (as uWSGI does); the app
  // is looked up after --chdir.
  const appDir = options.chdir ? (process.chdir(options.chdir), process.cwd()) : cwd;
  const app = await loadApp(options.app, options.callable, appDir);

  const sockets: BoundSocket[] = [];
  try {
    for (const spec of options.sockets) {
      const s = await bindSocket(rt, spec, cwd, (conn) => handleUwsgiConn(conn, { handler: app.handler, bufferSize: options.bufferSize, counters }), {
        mode: options.chmodSocket,
        backlog: options.listen,
      });
      sockets.push(s);
      const where = s.address.kind === 'unix' ? `UNIX address ${s.address.path}` : `TCP address ${formatAddress(s.address)}`;
      const mode = s.address.kind === 'unix' && options.chmodSocket !== undefined ? ` (mode ${options.chmodSocket.toString(8)})` : '';
      log(`uwsgi socket ${sockets.length - 1} bound to ${where}${mode}`);
    }
  } catch (e) {
    await Promise.all(sockets.map((s) => s.listener.close()));
    if (options.vacuum) for (const s of sockets) if (s.address.kind === 'unix') removeSocketFile(s.address.path);
    throw e;
  }
  log(`app 0 (${app.file}, callable: ${app.callable}) ready in ${Date.now() - started} ms`);

  return {
    app,
    sockets,
    inflight: () => inflight,
    async stop(mercyMs: number) {
      await Promise.all(sockets.map((s) => s.listener.close()));
      if (inflight > 0) {
        log(`waiting up to ${Math.round(mercyMs / 1000)} s for ${inflight} request(s) in flight`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            log(`${inflight} request(s) still running after ${Math.round(mercyMs / 1000)} s: giving up on them`);
            resolve();
          }, mercyMs);
          idle = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      if (options.vacuum) for (const s of sockets) if (s.address.kind === 'unix') removeSocketFile(s.address.path);
      log(`served ${requests} request(s)`);
    },
  };
}
