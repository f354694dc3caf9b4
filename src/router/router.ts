/**
 * The --http router process: uWSGI's HTTP router, a Hono app on the runtime's HTTP server in
 * front of the workers. --static-map prefixes are answered here from disk (src/router/static.ts);
 * --mount prefixes and everything else go to the workers over uwsgi (proxy.ts), with SCRIPT_NAME
 * and PATH_INFO split at the mountpoint. The master supervises it like a worker: it respawns it
 * when it dies and tells it how many workers are ready.
 */
import { queueDrained } from '../stats/proc.ts';
import { closeFd, foreignFds } from '../master/fds.ts';
import { Hono } from 'hono';
import type { HttpHandler, Listener, NativeHttpOptions, ParentChannel, Peer, Runtime } from '../../runtimes/types.ts';
import { describeError, log, reopenLog } from '../log.ts';
import { type ChildState, isRouterMessage, type RouterListen, type RouterReport } from '../master/protocol.ts';
import { tlsMaterial } from '../tls/check.ts';
import { ownClientCert } from '../tls/client-cert.ts';
import { toHttps } from '../tls/redirect.ts';
import { CertReload } from '../tls/reload.ts';
import { parseSni, type TlsFiles, tlsFilesOf } from '../tls/spec.ts';
import { CoreCounters } from '../worker/counters.ts';
import { handleHttpConn, type HttpServerOptions } from '../worker/http1.ts';
import { parseMount } from '../worker/mount.ts';
import { nativeHandler } from '../worker/native-http.ts';
import { trustedProxies } from '../worker/forwarded.ts';
import { nativeHttp } from '../worker/sockets.ts';
import { WorkerGate } from './gate.ts';
import { dropPrivileges } from '../privilege/drop.ts';
import { UpstreamPool } from './pool.ts';
import { forward, type ProxyOptions } from './proxy.ts';
import { rawHandler } from './raw.ts';
import { parseStaticMap, staticMap } from './static.ts';
import { Relays } from './upgrade.ts';

type Env = { Bindings: { peer: Peer } };

/** The router's Hono app: static maps first, then one route per mountpoint, then the rest. */
export function routerApp(staticMaps: Array<{ prefix: string; dir: string }>, mountpoints: string[], proxy: ProxyOptions): Hono<Env> {
  const app = new Hono<Env>();
  for (const s of staticMaps) app.use(staticMap(s.prefix, s.dir));
  // Longest first: /api/v2 before /api.
  for (const p of [...mountpoints].sort((a, b) => b.length - a.length)) {
    app.all(p, (c) => forward(c.req.raw, c.env.peer, p, proxy));
    app.all(`${p}/*`, (c) => forward(c.req.raw, c.env.peer, p, proxy));
  }
  app.all('*', (c) => forward(c.req.raw, c.env.peer, '', proxy));
  return app;
}

/** Every request to the workers when there is nothing to route (no static map, no mount); else the Hono app. */
function routerHandler(statics: Array<{ prefix: string; dir: string }>, mountpoints: string[], proxy: ProxyOptions): HttpServerOptions['handler'] {
  if (statics.length === 0 && mountpoints.length === 0) return (req, peer) => forward(req, peer, '', proxy);
  const app = routerApp(statics, mountpoints, proxy);
  return (req, peer) => app.fetch(req, { peer });
}

export async function runRouter(rt: Runtime, state: ChildState): Promise<void> {
  const channel = rt.parentChannel(state.parent);
  if (!state.router || !channel) {
    log('tsgi http router: started without a master; exiting');
    return rt.exit(1);
  }
  for (const fd of foreignFds(state, 'router')) closeFd(fd);
  await new Router(rt, state, state.router, channel).run();
}

type RouterState = NonNullable<ChildState['router']>;

/** Idle connections to the workers the router keeps at most (more go on with a new connection each). */
const MAX_IDLE_UPSTREAM = 256;

/** The router process: its listener, the gate that holds requests until a worker is ready, the stop. */
class Router {
  readonly #rt: Runtime;
  readonly #state: ChildState;
  readonly #r: RouterState;
  readonly #channel: ParentChannel;
  /** Requests wait until the master says a worker is ready (at once after a respawn of the router). */
  readonly #workers: WorkerGate;
  readonly #counters = new CoreCounters(0);
  /** Upgraded connections (WebSockets) relayed to the workers. */
  readonly #relays = new Relays();
  /** Idle connections to the workers, closed by the router before the workers' --socket-timeout would. */
  readonly #pool: UpstreamPool;
  #listeners: Listener[] = [];
  readonly #certs: CertReload;
  #stopping = false;

  constructor(rt: Runtime, state: ChildState, r: RouterState, channel: ParentChannel) {
    this.#rt = rt;
    this.#state = state;
    this.#r = r;
    this.#channel = channel;
    this.#workers = new WorkerGate(state.serve.listen ?? 100, r.connectTimeout * 1000);
    this.#certs = new CertReload(state.cwd);
    this.#pool = new UpstreamPool(() => rt.connectUnix(r.upstream), MAX_IDLE_UPSTREAM, (state.serve.socketTimeout * 1000) / 2);
  }

  async run(): Promise<void> {
    const rt = this.#rt;
    rt.onSignal('SIGINT', () => {});
    rt.onSignal('SIGHUP', () => {
      reopenLog();
      this.#certs.reload('SIGHUP');
    });
    rt.onSignal('SIGTERM', () => void this.#stop('SIGTERM: stopping gracefully'));
    this.#channel.onDisconnect = () => void this.#stop('the master is gone: stopping');
    try {
      this.#listeners = await this.#listenAll();
      // After the ports are served (their certificates read as root), before any request.
      dropPrivileges(rt, this.#state.master.identity, 'tsgi http router');
    } catch (e) {
      log(`tsgi http router (pid: ${rt.pid}): ${describeError(e)}`);
      return rt.exit(1);
    }
    this.#channel.onMessage = (m) => {
      if (isRouterMessage(m)) this.#workers.workers(m.ready);
    };
    this.#channel.send({ t: 'ready' } satisfies RouterReport);
  }

  /** Every client-facing port (--http, --https, --http-to-https). */
  async #listenAll(): Promise<Listener[]> {
    const out: Listener[] = [];
    try {
      for (const l of this.#r.listens) out.push(await this.#listen(l));
    } catch (e) {
      await Promise.all(out.map((l) => l.close()));
      throw e;
    }
    return out;
  }

  /**
   * One port: TLS by the runtime's HTTPS server (its certificates watched); plain HTTP by the
   * runtime's own HTTP server where it can take the socket, else tsgi's HTTP/1.1.
   */
  async #listen(l: RouterListen): Promise<Listener> {
    const rt = this.#rt;
    const serve = this.#state.serve;
    const listen = l.socket;
    const options = this.#httpOptions(l);
    const nativeOptions: NativeHttpOptions = {
      maxBodySize: serve.limitPost,
      maxHeadSize: serve.bufferSize,
      accepted: () => this.#counters.accepted(),
      headTimeoutMs: options.headTimeoutMs,
    };
    if (l.tls && 'fd' in listen) return this.#listenTls(l.tls, listen.fd, nativeHandler(options), nativeOptions);
    if ('reuse' in listen) return rt.serveHttp({ kind: 'tcp', ...listen.reuse, reusePort: true }, nativeHandler(options), nativeOptions);
    if (nativeHttp(rt, 'fd', serve.httpKeepalive)) {
      return rt.serveHttp({ kind: 'fd', fd: listen.fd }, nativeHandler(options), { ...nativeOptions, raw: options.raw });
    }
    return rt.listenFd(listen.fd, (conn) => handleHttpConn(conn, options));
  }

  async #listenTls(tls: TlsFiles, fd: number, handler: HttpHandler, nativeOptions: NativeHttpOptions): Promise<Listener> {
    const { serve, cwd } = this.#state;
    const load = () => tlsMaterial('https', tls, serve, cwd);
    const listener = await this.#rt.serveHttps({ kind: 'fd', fd }, handler, { ...nativeOptions, idleTimeoutMs: this.#r.timeout * 1000 }, load());
    this.#certs.add({ what: `https router port (fd ${fd})`, listener, load, files: tlsFilesOf(tls, serve.sni.map(parseSni)) });
    return listener;
  }

  #httpOptions(l: RouterListen): HttpServerOptions {
    const { serve, cwd } = this.#state;
    const r = this.#r;
    const proxy: ProxyOptions = {
      pool: this.#pool,
      upstream: r.upstream,
      workers: this.#workers,
      timeoutMs: r.timeout * 1000,
      serverPort: l.port,
      relays: this.#relays,
      // Bun's serve() and Deno's serve() (--reuse-port there) give no raw connection to relay; nor does the TLS server.
      upgrades: !l.tls && (!('reuse' in l.socket) || this.#rt.nativeHttpTakesOver),
    };
    const statics = r.staticMaps.map((s) => parseStaticMap(s, cwd));
    const mountpoints = serve.mounts.map((m) => parseMount(m).prefix);
    const to = l.redirectTo;
    const trusted = trustedProxies(serve.trustedProxies);
    // The fast path (raw.ts) where every request of the port goes to the workers as it came.
    const raw = to === undefined && !l.tls && statics.length === 0 && mountpoints.length === 0 && trusted === undefined;
    return {
      // Every router port owns the client-certificate header: only a verified certificate sets it.
      handler: to !== undefined ? (req) => toHttps(req, to) : ownClientCert(routerHandler(statics, mountpoints, proxy)),
      bufferSize: serve.bufferSize,
      limitPost: serve.limitPost,
      headTimeoutMs: serve.socketTimeout * 1000,
      keepAlive: serve.httpKeepalive,
      counters: this.#counters,
      trustedProxies: trusted,
      raw: raw ? rawHandler({ proxy, bufferSize: serve.bufferSize, keepAlive: serve.httpKeepalive, counters: this.#counters }) : undefined,
    };
  }

  /** Stop accepting and finish the requests in flight; one still starting has none: it exits now. */
  async #stop(why: string): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    log(`tsgi http router (pid: ${this.#rt.pid}): ${why}`);
    if (this.#listeners.length > 0) {
      // The router holds the ports' last copies: closing one resets what the kernel has queued, so
      // take that first (a stop closes every other copy at once, and new handshakes are refused).
      await Promise.all(this.#r.listens.flatMap((l) => ('fd' in l.socket ? [queueDrained(l.socket.fd, 1000)] : [])));
      await Promise.all(this.#listeners.map((l) => l.close()));
      this.#counters.drain();
      const mercy = this.#state.master.workerReloadMercy * 1000;
      await Promise.all([this.#counters.idle(mercy), this.#relays.idle(mercy)]);
      // The workers close their WebSockets on a stop (1001); what is left is closed now.
      this.#relays.closeAll();
    }
    this.#pool.close();
    this.#rt.exit(0);
  }
}
