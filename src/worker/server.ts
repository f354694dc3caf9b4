/**
 * A serving core: the app loaded once, answering the uwsgi protocol on every socket — bound
 * here (a single process without --master) or inherited as fds (a worker, or a worker's thread).
 */
import { readFileSync } from 'node:fs';
import type { Conn, Listener, NativeHttpTarget, Runtime } from '../../runtimes/types.ts';
import { ConfigError } from '../config/index.ts';
import { log } from '../log.ts';
import { appIndex, loadApps, mountHandler, type MountedApp } from './mount.ts';
import { requestLogger } from './reqlog.ts';
import { bindListener, bindSocket, formatAddress, parseSocketAddress, removeSocketFile } from './bind.ts';
import { CoreCounters } from './counters.ts';
import { handleHttpConn, type HttpServerOptions } from './http1.ts';
import { nativeHandler } from './native-http.ts';
import { handleUwsgiConn } from './uwsgi.ts';


export const VERSION: string = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

export const NOTHING_TO_SERVE =
  'nothing to serve on: give --socket ADDRESS (uwsgi, for nginx), --http-socket ADDRESS (HTTP) or --http ADDRESS (HTTP router); an address is host:port, :port or a UNIX socket path';

export type Proto = 'uwsgi' | 'http';

export interface ServeOptions {
  /** uwsgi protocol sockets (--socket). */
  sockets: string[];
  /** HTTP sockets (--http-socket). */
  httpSockets: string[];
  /** Largest request body on HTTP sockets, 0: no limit (--limit-post). */
  limitPost: number;
  /** Keep-alive with HTTP clients (--http-keepalive). */
  httpKeepalive: boolean;
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
  /** --reuse-port: each process binds TCP HTTP ports itself for the runtime's own server. */
  reusePort?: boolean;
  /** A stats server reads the counters (--stats): answer sizes are measured. */
  stats: boolean;
  /** No request log lines (--disable-logging). */
  disableLogging: boolean;
  /** Request log line format, uWSGI's %(vars) (--log-format); uWSGI's line without it. */
  logFormat?: string;
  /** Log to this file instead of stderr (--logto). */
  logto?: string;
  /** Other apps, /PREFIX=FILE (--mount). */
  mounts: string[];
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

/**
 * Where a core accepts: a socket to bind here (a single process), an inherited fd, or a TCP
 * port every worker binds with SO_REUSEPORT for the runtime's own HTTP server (--reuse-port).
 */
export type FdSource = { proto: Proto; spec: string; fd: number; display: string };
export type ReuseSource = { proto: 'http'; spec: string; reuse: { host: string; port: number }; display: string };
export type SocketSource = { proto: Proto; spec: string } | FdSource | ReuseSource;

/** Does the runtime's own HTTP server serve this kind of socket (else tsgi's HTTP/1.1 server)? */
export function nativeHttp(rt: Runtime, kind: NativeHttpTarget['kind'], keepAlive: boolean): boolean {
  return rt.nativeHttpKinds.includes(kind) && (keepAlive || rt.nativeHttpHonorsClose);
}

/**
 * Is a master's TCP HTTP port bound by every process with SO_REUSEPORT for the runtime's own
 * server, rather than served from the one socket the master holds? Only with --reuse-port, and
 * only where that server takes no fd (Bun, Deno). Each process then has an accept queue of its
 * own: one that stops resets the connections queued on it, unless the kernel migrates them
 * (net.ipv4.tcp_migrate_req), and nothing accepts while no worker listens.
 */
export function reusePortHttp(rt: Runtime, options: ServeOptions): boolean {
  return options.reusePort === true && nativeHttp(rt, 'tcp', options.httpKeepalive) && !nativeHttp(rt, 'fd', options.httpKeepalive);
}

/** Every socket of the options, in the order they are numbered in logs and stats. */
export function socketSpecs(options: ServeOptions): Array<{ proto: Proto; spec: string }> {
  return [
    ...options.sockets.map((spec) => ({ proto: 'uwsgi' as const, spec })),
    ...options.httpSockets.map((spec) => ({ proto: 'http' as const, spec })),
  ];
}

export interface ServingCore {
  /** The apps, longest mountpoint first; the --app has prefix "". */
  apps: MountedApp[];
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
  workerId = 0,
): Promise<ServingCore> {
  const apps = await loadApps(options.app, options.mounts, options.callable, appDir);
  const app = { handler: mountHandler(apps) };
  const counters = new CoreCounters(core);
  if (!options.disableLogging) {
    counters.logger = requestLogger(options.logFormat, { pid: rt.pid, wid: workerId, core, requests: () => counters.totals.requests });
  }
  const appOf = apps.length > 1 ? appIndex(apps) : undefined;
  const headTimeoutMs = options.socketTimeout * 1000;
  const requestSignals = rt.requestSignals;
  const onUwsgi = (conn: Conn) => handleUwsgiConn(conn, { handler: app.handler, bufferSize: options.bufferSize, headTimeoutMs, counters, requestSignals, appOf });
  const httpOptions: HttpServerOptions = {
    handler: app.handler,
    bufferSize: options.bufferSize,
    limitPost: options.limitPost,
    headTimeoutMs,
    keepAlive: options.httpKeepalive,
    counters,
    requestSignals,
    appOf,
    measureBodies: !options.disableLogging || options.stats,
  };
  const onHttp = (conn: Conn) => handleHttpConn(conn, httpOptions);
  const nativeOptions = { maxBodySize: options.limitPost, maxHeadSize: options.bufferSize, backlog: options.listen, accepted: () => counters.accepted(), headTimeoutMs };
  const serveNative = (t: NativeHttpTarget) => rt.serveHttp(t, nativeHandler(httpOptions), nativeOptions);
  const listeners: Listener[] = [];
  const unixPaths: string[] = [];
  try {
    for (const src of sources) {
      const onConn = src.proto === 'http' ? onHttp : onUwsgi;
      // HTTP goes to the runtime's own server wherever it can listen (runtimes/types.ts).
      const native = (kind: NativeHttpTarget['kind']) => src.proto === 'http' && nativeHttp(rt, kind, options.httpKeepalive);
      if ('reuse' in src) {
        listeners.push(await serveNative({ kind: 'tcp', ...src.reuse, reusePort: true }));
        continue;
      }
      if ('fd' in src) {
        listeners.push(native('fd') ? await serveNative({ kind: 'fd', fd: src.fd }) : await rt.listenFd(src.fd, onConn));
        continue;
      }
      const bindOptions = { mode: options.chmodSocket, backlog: options.listen };
      const s = native(parseSocketAddress(src.spec, cwd).kind)
        ? await bindListener(
            rt,
            src.spec,
            cwd,
            (t) => serveNative(t.kind === 'unix' ? { kind: 'unix', path: t.path } : { kind: 'tcp', host: t.host, port: t.port, reusePort: false }),
            bindOptions,
          )
        : await bindSocket(rt, src.spec, cwd, onConn, bindOptions);
      listeners.push(s.listener);
      if (s.address.kind === 'unix') unixPaths.push(s.address.path);
      const where = s.address.kind === 'unix' ? `UNIX address ${s.address.path}` : `TCP address ${formatAddress(s.address)}`;
      const mode = s.address.kind === 'unix' && options.chmodSocket !== undefined ? ` (mode ${options.chmodSocket.toString(8)})` : '';
      const server = native(s.address.kind) ? ` (${rt.name}'s own HTTP server)` : '';
      if (!quiet) log(`${src.proto} socket ${listeners.length - 1} bound to ${where}${mode}${server}`);
    }
  } catch (e) {
    await Promise.all(listeners.map((l) => l.close()));
    if (options.vacuum) unixPaths.forEach(removeSocketFile);
    throw e;
  }
  return {
    apps,
    counters,
    async stop(mercyMs: number) {
      await Promise.all(listeners.map((l) => l.close()));
      counters.drain();
      const done = await counters.idle(mercyMs);
      if (options.vacuum) unixPaths.forEach(removeSocketFile);
      return done;
    },
  };
}
