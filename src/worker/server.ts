/**
 * A serving core: the app loaded once, answering uwsgi (--socket), HTTP (--http-socket) and FastCGI (--fastcgi-socket) on
 * every socket — bound here (a single process without --master), inherited as fds (a worker, or
 * a worker's thread), or a TCP port bound with SO_REUSEPORT by the runtime's own HTTP server.
 */
import { queueDrained } from '../stats/proc.ts';
import type { Conn, ListenAddress, Listener, NativeHttpTarget, Runtime } from '../../runtimes/types.ts';
import { ConfigError } from '../config/index.ts';
import { log } from '../log.ts';
import { appIndex, loadApps, mountHandler, type MountedApp } from './mount.ts';
import { requestLogger } from './reqlog.ts';
import { bindListener, bindSocket, formatAddress, parseSocketAddress, removeSocketFile } from './bind.ts';
import { CoreCounters } from './counters.ts';
import { handleHttpConn, type HttpServerOptions } from './http1.ts';
import { nativeHandler } from './native-http.ts';
import { handleUwsgiConn } from './uwsgi.ts';
import { handleFastCgiConn } from './fastcgi.ts';
import { handleScgiConn } from './scgi.ts';
import type { Proto, ServeOptions, SocketSource } from '../master/protocol.ts';

export const NOTHING_TO_SERVE =
  'nothing to serve on: give --socket ADDRESS (uwsgi, for nginx), --http-socket ADDRESS (HTTP), --fastcgi-socket ADDRESS (FastCGI), --scgi-socket ADDRESS (SCGI) or --http ADDRESS (HTTP router); an address is host:port, :port or a UNIX socket path';

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
  const of = (proto: Proto, specs: string[]) => specs.map((spec) => ({ proto, spec }));
  return [...of('uwsgi', options.sockets), ...of('http', options.httpSockets), ...of('fastcgi', options.fastcgiSockets), ...of('scgi', options.scgiSockets)];
}

export interface ServingCore {
  /** The apps, longest mountpoint first; the --app has prefix "". */
  apps: MountedApp[];
  /** Where it accepts, in the order of the sources. */
  addresses: ListenAddress[];
  counters: CoreCounters;
  /** Stop accepting, then wait up to `mercyMs` for requests in flight. False if some did not finish. */
  stop(mercyMs: number): Promise<boolean>;
}

/** What a core starts from. */
export interface CoreSetup {
  serve: ServeOptions;
  /** The directory the app's paths are resolved in (after --chdir). */
  appDir: string;
  /** The directory tsgi was started in (socket paths are resolved there). */
  cwd: string;
  sources: SocketSource[];
  /** The core's number in its worker (0 for the main thread). */
  core: number;
  /** Do not log each bound socket (workers: the launcher logged them). */
  quiet?: boolean;
  workerId?: number;
  /** Apps already in hand (serve({ fetch })); else --app and --mount are loaded. */
  apps?: MountedApp[];
}

export async function startCore(rt: Runtime, setup: CoreSetup): Promise<ServingCore> {
  const { serve: options, appDir, cwd, sources, core, quiet = false, workerId = 0 } = setup;
  const apps = setup.apps ?? (await loadApps(options.app, options.mounts, options.callable, appDir));
  const app = { handler: mountHandler(apps, options.manageScriptName) };
  const counters = new CoreCounters(core);
  if (!options.disableLogging) {
    counters.logger = requestLogger(options.logFormat, { pid: rt.pid, wid: workerId, core, requests: () => counters.totals.requests });
  }
  const appOf = apps.length > 1 ? appIndex(apps, options.manageScriptName) : undefined;
  const headTimeoutMs = options.socketTimeout * 1000;
  const uwsgiOptions = { handler: app.handler, bufferSize: options.bufferSize, limitPost: options.limitPost, headTimeoutMs, counters, appOf };
  const onUwsgi = (conn: Conn) => handleUwsgiConn(conn, uwsgiOptions);
  const internalOptions = { ...uwsgiOptions, streamedBodies: true };
  const onInternal = (conn: Conn) => handleUwsgiConn(conn, internalOptions);
  const onScgi = (conn: Conn) => handleScgiConn(conn, uwsgiOptions);
  const httpOptions: HttpServerOptions = {
    handler: app.handler,
    bufferSize: options.bufferSize,
    limitPost: options.limitPost,
    headTimeoutMs,
    keepAlive: options.httpKeepalive,
    counters,
    appOf,
    measureBodies: !options.disableLogging || options.stats,
  };
  const onHttp = (conn: Conn) => handleHttpConn(conn, httpOptions);
  const onFastCgi = (conn: Conn) => handleFastCgiConn(conn, uwsgiOptions);
  const nativeOptions = {
    maxBodySize: options.limitPost,
    maxHeadSize: options.bufferSize,
    backlog: options.listen,
    accepted: () => counters.accepted(),
    headTimeoutMs,
  };
  const serveNative = (t: NativeHttpTarget) => rt.serveHttp(t, nativeHandler(httpOptions), nativeOptions);
  const listeners: Listener[] = [];
  const unixPaths: string[] = [];
  try {
    for (const src of sources) {
      const onConn =
        src.proto === 'http'
          ? onHttp
          : src.proto === 'fastcgi'
            ? onFastCgi
            : src.proto === 'scgi'
              ? onScgi
              : 'fd' in src && src.internal
                ? onInternal
                : onUwsgi;
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
    addresses: listeners.map((l) => l.address),
    async stop(mercyMs: number) {
      // The last copy of a socket to close resets what the kernel has queued on it: take that first.
      await Promise.all(sources.flatMap((src) => ('fd' in src ? [queueDrained(src.fd, 1000)] : [])));
      await Promise.all(listeners.map((l) => l.close()));
      counters.drain();
      const done = await counters.idle(mercyMs);
      if (options.vacuum) unixPaths.forEach(removeSocketFile);
      return done;
    },
  };
}
