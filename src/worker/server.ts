/**
 * A serving core: the app loaded once, answering uwsgi (--socket), HTTP (--http-socket), FastCGI
 * (--fastcgi-socket) and SCGI (--scgi-socket) on
 * every socket — bound here (a single process without --master), inherited as fds (a worker, or
 * a worker's thread), or a TCP port bound with SO_REUSEPORT by the runtime's own HTTP server.
 */
import { queueDrained } from '../stats/proc.ts';
import type { Conn, ListenAddress, Listener, NativeHttpTarget, Runtime } from '../../runtimes/types.ts';
import { ConfigError } from '../config/index.ts';
import { log } from '../log.ts';
import { appIndex, loadApps, mountHandler, type MountedApp } from './mount.ts';
import { requestLogger } from './reqlog.ts';
import { bindListener, bindSocket, formatAddress, parseSocketAddress, removeSocketFile, type SocketAddress } from './bind.ts';
import { CoreCounters } from './counters.ts';
import { handleHttpConn, type HttpServerOptions } from './http1.ts';
import { nativeHandler } from './native-http.ts';
import { handleInternalConn } from './internal.ts';
import { handleUwsgiConn, type UwsgiServerOptions } from './uwsgi.ts';
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
  const { serve: options, appDir, core, workerId = 0 } = setup;
  const apps = setup.apps ?? (await loadApps(options.app, options.mounts, options.callable, appDir));
  const counters = new CoreCounters(core);
  if (!options.disableLogging) {
    counters.logger = requestLogger(options.logFormat, { pid: rt.pid, wid: workerId, core, requests: () => counters.totals.requests });
  }
  const listeners = new CoreListeners(rt, setup, serverOptions(options, apps, counters), counters);
  try {
    for (const src of setup.sources) await listeners.add(src);
  } catch (e) {
    await listeners.close();
    throw e;
  }
  return {
    apps,
    counters,
    addresses: listeners.addresses(),
    async stop(mercyMs: number) {
      // The last copy of a socket to close resets what the kernel has queued on it: take that first.
      await Promise.all(setup.sources.flatMap((src) => ('fd' in src ? [queueDrained(src.fd, 1000)] : [])));
      await listeners.close();
      counters.drain();
      return counters.idle(mercyMs);
    },
  };
}

/** What the protocol servers are given: one set for the CGI-style ones, one for HTTP. */
function serverOptions(options: ServeOptions, apps: MountedApp[], counters: CoreCounters): { vars: UwsgiServerOptions; http: HttpServerOptions } {
  const handler = mountHandler(apps, options.manageScriptName);
  const appOf = apps.length > 1 ? appIndex(apps, options.manageScriptName) : undefined;
  const common = { handler, bufferSize: options.bufferSize, limitPost: options.limitPost, headTimeoutMs: options.socketTimeout * 1000, counters, appOf };
  return { vars: common, http: { ...common, keepAlive: options.httpKeepalive, measureBodies: !options.disableLogging || options.stats } };
}

type ConnServer = (conn: Conn) => void;

/** How each protocol serves a connection: one row a protocol (`internal`: the router's uwsgi, with streamed bodies and kept connections). */
function connServers(o: { vars: UwsgiServerOptions; http: HttpServerOptions }): Record<Proto | 'internal', ConnServer> {
  return {
    uwsgi: (conn) => handleUwsgiConn(conn, o.vars),
    internal: (conn) => handleInternalConn(conn, o.vars),
    http: (conn) => handleHttpConn(conn, o.http),
    fastcgi: (conn) => handleFastCgiConn(conn, o.vars),
    scgi: (conn) => handleScgiConn(conn, o.vars),
  };
}

/** The core's sockets: each source bound or taken over, served by its protocol or by the runtime's own HTTP server. */
class CoreListeners {
  readonly #rt: Runtime;
  readonly #setup: CoreSetup;
  readonly #servers: Record<Proto | 'internal', ConnServer>;
  readonly #native: (t: NativeHttpTarget) => Promise<Listener>;
  readonly #listeners: Listener[] = [];
  readonly #unixPaths: string[] = [];

  constructor(rt: Runtime, setup: CoreSetup, o: { vars: UwsgiServerOptions; http: HttpServerOptions }, counters: CoreCounters) {
    this.#rt = rt;
    this.#setup = setup;
    this.#servers = connServers(o);
    const s = setup.serve;
    const nativeOptions = {
      maxBodySize: s.limitPost,
      maxHeadSize: s.bufferSize,
      backlog: s.listen,
      accepted: () => counters.accepted(),
      headTimeoutMs: s.socketTimeout * 1000,
    };
    const handler = nativeHandler(o.http);
    this.#native = (t) => rt.serveHttp(t, handler, nativeOptions);
  }

  addresses(): ListenAddress[] {
    return this.#listeners.map((l) => l.address);
  }

  async add(src: SocketSource): Promise<void> {
    const onConn = this.#servers['fd' in src && src.internal ? 'internal' : src.proto];
    if ('reuse' in src) return void this.#listeners.push(await this.#native({ kind: 'tcp', ...src.reuse, reusePort: true }));
    if ('fd' in src) {
      const l = this.#nativeFor(src.proto, 'fd') ? await this.#native({ kind: 'fd', fd: src.fd }) : await this.#rt.listenFd(src.fd, onConn);
      return void this.#listeners.push(l);
    }
    const { serve, cwd } = this.#setup;
    const bindOptions = { mode: serve.chmodSocket, backlog: serve.listen };
    const native = this.#nativeFor(src.proto, parseSocketAddress(src.spec, cwd).kind);
    const open = (t: SocketAddress) =>
      this.#native(t.kind === 'unix' ? { kind: 'unix', path: t.path } : { kind: 'tcp', host: t.host, port: t.port, reusePort: false });
    const s = native ? await bindListener(this.#rt, src.spec, cwd, open, bindOptions) : await bindSocket(this.#rt, src.spec, cwd, onConn, bindOptions);
    this.#listeners.push(s.listener);
    if (s.address.kind === 'unix') this.#unixPaths.push(s.address.path);
    if (!this.#setup.quiet) this.#logBound(src.proto, s.address, native);
  }

  /** Stop accepting; --vacuum removes the UNIX socket files bound here. */
  async close(): Promise<void> {
    await Promise.all(this.#listeners.map((l) => l.close()));
    if (this.#setup.serve.vacuum) this.#unixPaths.forEach(removeSocketFile);
  }

  /** HTTP goes to the runtime's own server wherever it can listen (runtimes/types.ts). */
  #nativeFor(proto: Proto, kind: NativeHttpTarget['kind']): boolean {
    return proto === 'http' && nativeHttp(this.#rt, kind, this.#setup.serve.httpKeepalive);
  }

  #logBound(proto: Proto, address: SocketAddress, native: boolean): void {
    const where = address.kind === 'unix' ? `UNIX address ${address.path}` : `TCP address ${formatAddress(address)}`;
    const chmod = this.#setup.serve.chmodSocket;
    const mode = address.kind === 'unix' && chmod !== undefined ? ` (mode ${chmod.toString(8)})` : '';
    const server = native ? ` (${this.#rt.name}'s own HTTP server)` : '';
    log(`${proto} socket ${this.#listeners.length - 1} bound to ${where}${mode}${server}`);
  }
}
