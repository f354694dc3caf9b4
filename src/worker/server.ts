/**
 * A serving core: the app loaded once, answering the uwsgi protocol on every socket — bound
 * here (a single process without --master) or inherited as fds (a worker, or a worker's thread).
 */
import { readFileSync } from 'node:fs';
import type { Listener, Runtime } from '../../runtimes/types.ts';
import { ConfigError } from '../config/index.ts';
import { log } from '../log.ts';
import { loadApp, type LoadedApp } from './app.ts';
import { bindSocket, formatAddress, removeSocketFile } from './bind.ts';
import { CoreCounters } from './counters.ts';
import { handleUwsgiConn } from './uwsgi.ts';

export const VERSION: string = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

export const NOTHING_TO_SERVE = 'nothing to serve on: give --socket ADDRESS (host:port, :port or a UNIX socket path)';

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
  /** Seconds a connection may take to send its request head (--socket-timeout). */
  socketTimeout: number;
  /** Listen backlog (--listen). */
  listen?: number;
  /** KEY=VALUE pairs for the app's environment (--env). */
  env: string[];
}

/** --env and --chdir: done once per process, before the app is loaded. Returns the app's directory. */
export function prepareProcess(options: ServeOptions, cwd: string): string {
  for (const pair of options.env) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new ConfigError(`--env ${pair}: expected KEY=VALUE`);
    process.env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  if (!options.chdir) return cwd;
  try {
    process.chdir(options.chdir);
  } catch (e) {
    throw new ConfigError(`--chdir ${options.chdir}: ${(e as Error).message}`);
  }
  return process.cwd();
}

/** Where a core accepts: a socket to bind, or an inherited fd with how to show it. */
export type SocketSource = { spec: string } | { spec: string; fd: number; display: string };

export interface ServingCore {
  app: LoadedApp;
  counters: CoreCounters;
  /** Stop accepting, then wait up to `mercyMs` for requests in flight. False if some did not finish. */
  stop(mercyMs: number): Promise<boolean>;
}

export async function startCore(
  rt: Runtime,
  options: ServeOptions,
  appDir: string,
  cwd: string,
  sources: SocketSource[],
  core: number,
  quiet = false,
): Promise<ServingCore> {
  const app = await loadApp(options.app, options.callable, appDir);
  const counters = new CoreCounters(core);
  const onConn = (conn: Parameters<typeof handleUwsgiConn>[0]) =>
    handleUwsgiConn(conn, { handler: app.handler, bufferSize: options.bufferSize, headTimeoutMs: options.socketTimeout * 1000, counters });
  const listeners: Listener[] = [];
  const unixPaths: string[] = [];
  try {
    for (const src of sources) {
      if ('fd' in src) {
        listeners.push(await rt.listenFd(src.fd, onConn));
        continue;
      }
      const s = await bindSocket(rt, src.spec, cwd, onConn, { mode: options.chmodSocket, backlog: options.listen });
      listeners.push(s.listener);
      if (s.address.kind === 'unix') unixPaths.push(s.address.path);
      const where = s.address.kind === 'unix' ? `UNIX address ${s.address.path}` : `TCP address ${formatAddress(s.address)}`;
      const mode = s.address.kind === 'unix' && options.chmodSocket !== undefined ? ` (mode ${options.chmodSocket.toString(8)})` : '';
      if (!quiet) log(`uwsgi socket ${listeners.length - 1} bound to ${where}${mode}`);
    }
  } catch (e) {
    await Promise.all(listeners.map((l) => l.close()));
    if (options.vacuum) unixPaths.forEach(removeSocketFile);
    throw e;
  }
  return {
    app,
    counters,
    async stop(mercyMs: number) {
      await Promise.all(listeners.map((l) => l.close()));
      const done = await counters.idle(mercyMs);
      if (options.vacuum) unixPaths.forEach(removeSocketFile);
      return done;
    },
  };
}
