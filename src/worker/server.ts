/**
 * A serving core: the app loaded once, answering uwsgi (--socket), HTTP (--http-socket), FastCGI
 * (--fastcgi-socket) and SCGI (--scgi-socket) on
 * every socket — bound here (a single process without --master), inherited as fds (a worker, or
 * a worker's thread), or a TCP port bound with SO_REUSEPORT by the runtime's own HTTP server.
 * Each protocol's server and the TLS code load when a socket of their kind is served: a start
 * loads only what its sockets need (issue #15, cold start).
 */
import { queueDrained } from '../stats/proc.ts';
import type { Conn, ListenAddress, Listener, NativeHttpOptions, NativeHttpTarget, NativeWebSocketOptions, Runtime, TlsMaterial } from '../../runtimes/types.ts';
import { takeUpgrade } from '../websocket/upgrade.ts';
import { WebSocketConnection } from './websocket.ts';
import type { LazyRequestMaker } from '../codec/index.ts';
import { ConfigError } from '../config/index.ts';
import { log } from '../log.ts';
import { appIndex, loadApps, mountHandler, type MountedApp } from './mount.ts';
import { requestLogger } from './reqlog.ts';
import { bindListener, bindSocket, formatAddress, parseSocketAddress, removeSocketFile, type SocketAddress } from './bind.ts';
import { CoreCounters } from './counters.ts';
import type { HttpServerOptions } from './http1.ts';
import { nativeHandler } from './native-http.ts';
import { trustedProxies } from './forwarded.ts';
import type { UwsgiServerOptions } from './uwsgi.ts';
import type { Proto, ServeOptions, SocketSource, WebSocketLimits } from '../master/protocol.ts';
import type { CertReload } from '../tls/reload.ts';
import { parseSni, type TlsFiles, tlsFilesOf } from '../tls/spec.ts';
import { nativeHttp } from './sockets.ts';

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

export interface ServingCore {
  /** The apps, longest mountpoint first; the --app has prefix "". */
  apps: MountedApp[];
  /** Where it accepts, in the order of the sources. */
  addresses: ListenAddress[];
  counters: CoreCounters;
  /** Stop accepting, then wait up to `mercyMs` for requests in flight. False if some did not finish. */
  stop(mercyMs: number): Promise<boolean>;
  /** --https-socket: read the certificates again for new handshakes (SIGHUP without a master). */
  reloadCertificates(why: string): void;
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
  const lazy = await lazyRequestsBeforeTheApp(rt, setup);
  const apps = setup.apps ?? (await loadApps(options.app, options.mounts, options.callable, appDir));
  const counters = new CoreCounters(core);
  if (!options.disableLogging) {
    counters.logger = requestLogger(options.logFormat, { pid: rt.pid, wid: workerId, core, requests: () => counters.totals.requests });
  }
  const listeners = new CoreListeners(rt, setup, serverOptions(rt, options, apps, counters, lazy), counters, nodeWsInject(apps));
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
    reloadCertificates: (why) => listeners.reloadCertificates(why),
    async stop(mercyMs: number) {
      // The last copy of a socket to close resets what the kernel has queued on it: take that first.
      await Promise.all(setup.sources.flatMap((src) => ('fd' in src ? [queueDrained(src.fd, 1000)] : [])));
      counters.closeWebSockets();
      await listeners.close();
      counters.drain();
      return counters.idle(mercyMs);
    },
  };
}

/** The app at the root (--app) with @hono/node-ws's injectWebSocket export, if any: node-ws runs the app for a path as it came. */
function nodeWsInject(apps: MountedApp[]): ((server: unknown) => void) | undefined {
  return apps.find((a) => a.prefix === '')?.injectWebSocket;
}

/** What the protocol servers are given: one set for the CGI-style ones, one for HTTP. */
type ServerOptions = { vars: UwsgiServerOptions; http: HttpServerOptions };

/**
 * The maker of lazy Requests for the CGI-style sockets and tsgi's own HTTP/1.1 server, where the
 * runtime has them (Runtime.lazyRequests, which replaces the global Request and fetch): installed
 * before the app is imported, so that an app that keeps the globals at import gets the replaced
 * ones. Not where every socket is the runtime's own HTTP server (its Requests are its own), nor
 * for apps already in hand (serve({ fetch })), imported before: they keep the runtime's Request.
 */
async function lazyRequestsBeforeTheApp(rt: Runtime, setup: CoreSetup): Promise<LazyRequestMaker | null> {
  // A TLS socket is the runtime's HTTPS server's (#addTls).
  const tsgiServes = (src: SocketSource) => !('tls' in src && src.tls) && !nativeServes(rt, setup.serve, src.proto, targetKind(src, setup.cwd));
  if (setup.apps !== undefined || !setup.sources.some(tsgiServes)) return null;
  return rt.lazyRequests();
}

/** HTTP goes to the runtime's own server wherever it can listen (runtimes/types.ts); everything else is tsgi's. */
function nativeServes(rt: Runtime, serve: ServeOptions, proto: Proto, kind: NativeHttpTarget['kind']): boolean {
  return proto === 'http' && nativeHttp(rt, kind, serve.httpKeepalive);
}

/** The kind of socket a source is, as the runtime's own server would be given it (a --reuse-port source binds its own TCP port). */
function targetKind(src: SocketSource, cwd: string): NativeHttpTarget['kind'] {
  if ('reuse' in src) return 'tcp';
  if ('fd' in src) return 'fd';
  return parseSocketAddress(src.spec, cwd).kind;
}

function serverOptions(rt: Runtime, options: ServeOptions, apps: MountedApp[], counters: CoreCounters, lazy: LazyRequestMaker | null): ServerOptions {
  const handler = mountHandler(apps, options.manageScriptName);
  const appOf = apps.length > 1 ? appIndex(apps, options.manageScriptName) : undefined;
  const common = { handler, bufferSize: options.bufferSize, limitPost: options.limitPost, headTimeoutMs: options.socketTimeout * 1000, counters, appOf };
  const webSockets = options.webSockets;
  const trusted = trustedProxies(options.trustedProxies);
  const wholeBody = onFirstUse(() => rt.keptBodies());
  return {
    vars: { ...common, wholeBody, lazyRequest: lazy },
    http: {
      ...common,
      wholeBody,
      lazyRequest: lazy,
      keepAlive: options.httpKeepalive,
      measureBodies: !options.disableLogging || options.stats,
      keptSize: onFirstUse(() => rt.keptSizes()),
      webSockets,
      trustedProxies: trusted,
    },
  };
}

/**
 * Kept bodies (Runtime.keptBodies, keptSizes: they replace the global Response) are installed at
 * the first answer that asks for them, so that a worker without such a socket keeps the globals,
 * and after the runtime's own server started (Hono's Node adapter replaces the global Response
 * then). That first answer's Response was made before: it is read through its stream.
 */
function onFirstUse<T>(install: () => ((res: Response) => T | null) | null): (res: Response) => T | null {
  let read: ((res: Response) => T | null) | null | undefined;
  return (res) => {
    if (read === undefined) read = install();
    return read === null ? null : read(res);
  };
}

/** How the runtime's own server carries WebSockets: sessions from the app's answers, tsgi's codec where it has none (node:http). */
function nativeWebSockets(limits: WebSocketLimits | undefined): NativeWebSocketOptions | undefined {
  if (limits === undefined) return undefined;
  return { ...limits, accepted: takeUpgrade, overConn: (session, conn, head) => void WebSocketConnection.start(conn, session, limits, head) };
}

type ConnServer = (conn: Conn) => void;

/**
 * How each protocol serves a connection, its module loaded when a socket of its kind is served:
 * one row a protocol (`internal`: the router's uwsgi, with streamed bodies, kept connections and
 * WebSockets — it relays the client's upgraded connection).
 */
const CONN_SERVERS: Record<Proto | 'internal', (o: ServerOptions) => Promise<ConnServer>> = {
  uwsgi: async (o) => {
    const { handleUwsgiConn } = await import('./uwsgi.ts');
    return (conn) => handleUwsgiConn(conn, o.vars);
  },
  internal: async (o) => {
    const { handleInternalConn } = await import('./internal.ts');
    const options = { ...o.vars, webSockets: o.http.webSockets };
    return (conn) => handleInternalConn(conn, options);
  },
  http: async (o) => {
    const { handleHttpConn } = await import('./http1.ts');
    return (conn) => handleHttpConn(conn, o.http);
  },
  fastcgi: async (o) => {
    const { handleFastCgiConn } = await import('./fastcgi.ts');
    return (conn) => handleFastCgiConn(conn, o.vars);
  },
  scgi: async (o) => {
    const { handleScgiConn } = await import('./scgi.ts');
    return (conn) => handleScgiConn(conn, o.vars);
  },
};

/** The core's sockets: each source bound or taken over, served by its protocol or by the runtime's own HTTP server. */
class CoreListeners {
  readonly #rt: Runtime;
  readonly #setup: CoreSetup;
  readonly #options: ServerOptions;
  readonly #servers = new Map<Proto | 'internal', Promise<ConnServer>>();
  readonly #nativeOptions: NativeHttpOptions;
  readonly #native: (t: NativeHttpTarget) => Promise<Listener>;
  /** The HTTPS side (handler, certificates and their watch), made with the first --https-socket. */
  #tls: Promise<TlsSide> | null = null;
  readonly #listeners: Listener[] = [];
  readonly #unixPaths: string[] = [];
  readonly #nodeWs: boolean;

  constructor(rt: Runtime, setup: CoreSetup, o: ServerOptions, counters: CoreCounters, injectWebSocket: ((server: unknown) => void) | undefined) {
    this.#rt = rt;
    this.#nodeWs = injectWebSocket !== undefined;
    this.#setup = setup;
    this.#options = o;
    const s = setup.serve;
    this.#nativeOptions = {
      maxBodySize: s.limitPost,
      maxHeadSize: s.bufferSize,
      backlog: s.listen,
      accepted: () => counters.accepted(),
      headTimeoutMs: s.socketTimeout * 1000,
      webSockets: nativeWebSockets(o.http.webSockets),
      injectServer: rt.nodeHttpServer ? injectWebSocket : undefined,
    };
    const handler = nativeHandler(o.http);
    this.#native = (t) => rt.serveHttp(t, handler, this.#nativeOptions);
  }

  /** SIGHUP: every TLS socket reads its certificates again. */
  reloadCertificates(why: string): void {
    void this.#tls?.then((t) => t.certs.reload(why));
  }

  /** The connection server of a protocol, loaded once. */
  #server(key: Proto | 'internal'): Promise<ConnServer> {
    let server = this.#servers.get(key);
    if (!server) {
      server = CONN_SERVERS[key](this.#options);
      this.#servers.set(key, server);
    }
    return server;
  }

  /** The TLS code, loaded with the first --https-socket. */
  #tlsSide(): Promise<TlsSide> {
    this.#tls ??= loadTlsSide(this.#rt, this.#setup, this.#options.http, this.#nativeOptions);
    return this.#tls;
  }

  addresses(): ListenAddress[] {
    return this.#listeners.map((l) => l.address);
  }

  async add(src: SocketSource): Promise<void> {
    if ('tls' in src && src.tls) return this.#addTls(src, src.tls);
    const internal = 'fd' in src && src.internal === true;
    if ('reuse' in src) return void this.#listeners.push(await this.#native({ kind: 'tcp', ...src.reuse, reusePort: true }));
    if ('fd' in src) {
      const native = this.#nativeFor(src.proto, targetKind(src, this.#setup.cwd));
      this.#sayNodeWs(src.proto, internal, native);
      const l = native
        ? await this.#native({ kind: 'fd', fd: src.fd })
        : await this.#rt.listenFd(src.fd, await this.#server(internal ? 'internal' : src.proto));
      return void this.#listeners.push(l);
    }
    const { serve, cwd } = this.#setup;
    const bindOptions = { mode: serve.chmodSocket, owner: serve.socketOwner, backlog: serve.listen };
    const native = this.#nativeFor(src.proto, targetKind(src, cwd));
    this.#sayNodeWs(src.proto, false, native);
    const open = (t: SocketAddress) =>
      this.#native(t.kind === 'unix' ? { kind: 'unix', path: t.path } : { kind: 'tcp', host: t.host, port: t.port, reusePort: false });
    const s = native
      ? await bindListener(this.#rt, src.spec, cwd, open, bindOptions)
      : await bindSocket(this.#rt, src.spec, cwd, await this.#server(src.proto), bindOptions);
    this.#listeners.push(s.listener);
    if (s.address.kind === 'unix') this.#unixPaths.push(s.address.path);
    if (!this.#setup.quiet) this.#logBound(src.proto, s.address, native);
  }

  /** An --https-socket: the runtime's HTTPS server on the inherited fd, or bound here; its certificates watched. */
  async #addTls(src: SocketSource, tls: TlsFiles): Promise<void> {
    const index = this.#listeners.length;
    const side = await this.#tlsSide();
    if (!('fd' in src)) side.check(tls);
    let l: Listener;
    if ('fd' in src) l = await side.serve({ kind: 'fd', fd: src.fd }, tls);
    else {
      const { serve, cwd } = this.#setup;
      const open = (t: SocketAddress) =>
        side.serve(t.kind === 'unix' ? { kind: 'unix', path: t.path } : { kind: 'tcp', host: t.host, port: t.port, reusePort: false }, tls);
      const s = await bindListener(this.#rt, src.spec, cwd, open, { mode: serve.chmodSocket, backlog: serve.listen });
      l = s.listener;
      if (s.address.kind === 'unix') this.#unixPaths.push(s.address.path);
      const where = s.address.kind === 'unix' ? `UNIX address ${s.address.path}` : `TCP address ${formatAddress(s.address)}`;
      if (!this.#setup.quiet) log(`https socket ${index} bound to ${where} (${side.summary})`);
    }
    this.#listeners.push(l);
    side.certs.add({
      what: `https socket ${index} (${src.spec})`,
      listener: l,
      load: () => side.material(tls),
      files: tlsFilesOf(tls, this.#setup.serve.sni.map(parseSni)),
    });
  }

  /** Stop accepting; --vacuum removes the UNIX socket files bound here. */
  async close(): Promise<void> {
    await Promise.all(this.#listeners.map((l) => l.close()));
    if (this.#setup.serve.vacuum) this.#unixPaths.forEach(removeSocketFile);
  }

  #nativeFor(proto: Proto, kind: NativeHttpTarget['kind']): boolean {
    return nativeServes(this.#rt, this.#setup.serve, proto, kind);
  }

  /**
   * An app with @hono/node-ws's injectWebSocket, on a socket that is no node:http server (tsgi's
   * own HTTP/1.1 server, the router's internal socket, Bun's serve(), Deno's serve()): its node-ws routes
   * cannot upgrade there. Said once, by the first worker's main thread.
   */
  #sayNodeWs(proto: Proto, internal: boolean, native: boolean): void {
    const { core = 0, workerId = 0 } = this.#setup;
    if (core !== 0 || workerId > 1 || !this.#nodeWs) return;
    if (!internal && (proto !== 'http' || (native && this.#rt.nodeHttpServer))) return;
    const where = internal ? "the --http router's workers" : native ? `${this.#rt.name}'s own HTTP server` : "tsgi's own HTTP/1.1 server";
    log(
      `tsgi: the app exports injectWebSocket (@hono/node-ws): its WebSocket routes do not upgrade on ${where}; serve them with --http-socket on TCP, a UNIX socket or an fd with tsgi on Node (node:http)`,
    );
  }

  #logBound(proto: Proto, address: SocketAddress, native: boolean): void {
    const where = address.kind === 'unix' ? `UNIX address ${address.path}` : `TCP address ${formatAddress(address)}`;
    const chmod = this.#setup.serve.chmodSocket;
    const mode = address.kind === 'unix' && chmod !== undefined ? ` (mode ${chmod.toString(8)})` : '';
    const server = native ? ` (${this.#rt.name}'s own HTTP server)` : '';
    log(`${proto} socket ${this.#listeners.length - 1} bound to ${where}${mode}${server}`);
  }
}

/** What a core's --https-sockets share: the runtime's HTTPS server with tsgi's handler, and the certificates' checks and watch. */
interface TlsSide {
  serve(t: NativeHttpTarget, tls: TlsFiles): Promise<Listener>;
  /** Read and check a port's files now (one line when they are bad). */
  check(tls: TlsFiles): void;
  material(tls: TlsFiles): TlsMaterial;
  readonly summary: string;
  readonly certs: CertReload;
}

async function loadTlsSide(rt: Runtime, setup: CoreSetup, http: HttpServerOptions, nativeOptions: NativeHttpOptions): Promise<TlsSide> {
  const [{ checkTls, tlsMaterial, tlsSummary }, { ownClientCert }, { CertReload }] = await Promise.all([
    import('../tls/check.ts'),
    import('../tls/client-cert.ts'),
    import('../tls/reload.ts'),
  ]);
  const s = setup.serve;
  const handler = nativeHandler({ ...http, handler: ownClientCert(http.handler) });
  const options = { ...nativeOptions, idleTimeoutMs: s.httpTimeout * 1000 };
  const material = (tls: TlsFiles) => tlsMaterial('https-socket', tls, s, setup.cwd);
  return {
    serve: (t, tls) => rt.serveHttps(t, handler, options, material(tls)),
    check: (tls) => checkTls(rt, 'https-socket', tls, s, setup.cwd),
    material,
    summary: tlsSummary(rt),
    certs: new CertReload(setup.cwd),
  };
}
