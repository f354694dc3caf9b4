/**
 * What the launcher, the master and the workers tell each other. The state a child starts from
 * travels in the TSGI_STATE environment variable; the rest goes over the IPC channel as JSON.
 */

import type { Identity } from '../../runtimes/types.ts';
import type { TlsFiles } from '../tls/spec.ts';

export type Proto = 'uwsgi' | 'http' | 'fastcgi' | 'scgi';

/** How tsgi's own WebSocket codec (and, where they take them, the runtimes' servers) limit and watch a WebSocket. */
export interface WebSocketLimits {
  /** Largest message in bytes (a bigger one: close 1009). */
  maxMessage: number;
  /** Ping every pingMs; close when no pong came within pongMs of a ping. */
  pingMs: number;
  pongMs: number;
}

export interface ServeOptions {
  /** uwsgi protocol sockets (--socket). */
  sockets: string[];
  /** SCGI sockets (--scgi-socket). */
  scgiSockets: string[];
  /** HTTP sockets (--http-socket). */
  httpSockets: string[];
  /** HTTPS sockets, ADDR,CERT,KEY[,CIPHERS[,CA]] (--https-socket). */
  httpsSockets: string[];
  /** DOMAIN,CERT,KEY certificates of every TLS port (--sni). */
  sni: string[];
  /** FastCGI sockets (--fastcgi-socket). */
  fastcgiSockets: string[];
  /** Largest request body on HTTP sockets, 0: no limit (--limit-post). */
  limitPost: number;
  /** Keep-alive with HTTP clients (--http-keepalive). */
  httpKeepalive: boolean;
  /** --websockets-max-size (in bytes), --websockets-ping-freq and --websockets-pong-tolerance (in ms). */
  webSockets: WebSocketLimits;
  app?: string;
  callable?: string;
  chdir?: string;
  /** --chmod-socket as a file mode. */
  chmodSocket?: number;
  /** --chown-socket, resolved: the owner of the UNIX sockets tsgi creates. */
  socketOwner?: { uid: number; gid: number };
  /** --trusted-proxy CIDRs: peers whose Forwarded / X-Forwarded-* headers are believed (src/worker/forwarded.ts). */
  trustedProxies: string[];
  vacuum: boolean;
  bufferSize: number;
  /** Seconds a connection may take to send its request head (--socket-timeout). */
  socketTimeout: number;
  /** Seconds an HTTPS connection may stay idle, no traffic either way (--http-timeout). */
  httpTimeout: number;
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
  /** A path under a --mount prefix is split there even when the web server sent a SCRIPT_NAME (--manage-script-name). */
  manageScriptName: boolean;
  /** KEY=VALUE pairs for the app's environment (--env). */
  env: string[];
}

/**
 * Where a core accepts: a socket to bind here (a single process), an inherited fd, or a TCP
 * port every worker binds with SO_REUSEPORT for the runtime's own HTTP server (Bun, Deno).
 */
export type FdSource = {
  proto: Proto;
  spec: string;
  fd: number;
  display: string;
  /** The --http router's internal socket: the router's streamed bodies are taken there only (src/codec/frames.ts). */
  internal?: boolean;
  /** An --https-socket: its certificate files. */
  tls?: TlsFiles;
};
export type ReuseSource = { proto: 'http'; spec: string; reuse: { host: string; port: number }; display: string };
export type SocketSource = { proto: Proto; spec: string; tls?: TlsFiles } | FdSource | ReuseSource;

/** Options of the master and its workers (beyond what one serving process needs). */
export interface MasterOptions {
  processes: number;
  threads: number;
  /** Recycle a worker after this many requests (0: never). */
  maxRequests: number;
  /** Kill a worker whose request runs longer than this many seconds (0: never). */
  harakiri: number;
  /** Recycle a worker above this resident size in MiB (0: never). */
  reloadOnRss: number;
  /** Seconds a worker may take to finish its requests when it is reloaded or recycled. */
  workerReloadMercy: number;
  /** Seconds the whole reload or stop may take. */
  reloadMercy: number;
  /** --shutdown-delay: seconds between SIGTERM and the graceful stop, reporting not ready meanwhile. */
  shutdownDelay: number;
  touchReload: string[];
  pidfile?: string;
  /** --uid and --gid, resolved: every process becomes this once the sockets are bound (src/privilege/drop.ts). */
  identity?: Identity;
  /**
   * --http ADDR and --https ADDR,CERT,KEY…: a router process in front of the workers
   * (--http-timeout, --http-connect-timeout, --static-map; --http-to-https ADDR: a port that redirects).
   */
  http?: { address?: string; https: string[]; redirect?: string; timeout: number; connectTimeout: number; staticMaps: string[] };
  /** --stats ADDR, served by the master (--stats-http, --stats-minified). */
  stats?: { address: string; http: boolean; minified: boolean; owner?: { uid: number; gid: number } };
}

/**
 * A listening socket as a child gets it: an fd it inherits (3, 4, … in this order), or a TCP
 * port each worker binds with SO_REUSEPORT (the runtime's own HTTP server, --reuse-port on Bun
 * and Deno). `spec` is what the user wrote, `display` how logs show it ("TCP address
 * 127.0.0.1:3031"), `unixPath` a UNIX socket's path for --vacuum.
 */
export type InheritedSocket = (FdSource | ReuseSource) & { unixPath?: string };

export interface ChildState {
  role: 'master' | 'worker' | 'router';
  /** With --http: what the router process needs. */
  router?: RouterState;
  serve: ServeOptions;
  master: MasterOptions;
  sockets: InheritedSocket[];
  /** For workers: their id (1..N), as in uWSGI. */
  workerId?: number;
  /** The directory tsgi was started in. */
  cwd: string;
  /**
   * A master that bound the sockets itself (no launcher, Runtime.bareBinder): its own fds of them,
   * in the order its children get them (3, 4, …). Without it, the master has them at 3, 4, … too.
   */
  held?: number[];
  /** The pid of the process that spawned this one (its channel's other end). */
  parent?: number;
  /**
   * A master whose sockets its children inherit at the master's own numbers (Deno's bare binder:
   * not close-on-exec, named by their numbers in `sockets`): spawn passes no fds.
   */
  inPlace?: boolean;
}

/** One client-facing port of the router: --http, an --https (with its certificates), or --http-to-https. */
export interface RouterListen {
  socket: InheritedSocket;
  /** Its TCP port (0 for a UNIX socket), for SERVER_PORT. */
  port: number;
  tls?: TlsFiles;
  /** --http-to-https: answers 308 to this port (the first --https). */
  redirectTo?: number;
}

/** The --http router: where it listens, where the workers are, what it serves itself. */
export interface RouterState {
  /** The --http, --https and --http-to-https sockets (never given to workers). */
  listens: RouterListen[];
  /** The workers' internal uwsgi socket (a UNIX socket in a private temp directory). */
  upstream: string;
  /** --http-timeout, seconds. */
  timeout: number;
  /** --http-connect-timeout, seconds: how long a request waits while no worker is ready. */
  connectTimeout: number;
  /** --static-map /PREFIX=DIR entries. */
  staticMaps: string[];
}

/**
 * Master → router: how many workers are ready (0: requests wait). The master stops its
 * children with signals (SIGTERM: gracefully, SIGKILL): a signal reaches a child that is still
 * starting, a message could arrive before it listens and be lost.
 */
export type RouterMessage = { t: 'workers'; ready: number };

/** Router → master: it listens. */
export type RouterReport = { t: 'ready' };

export const STATE_ENV = 'TSGI_STATE';

/** Exit code of a worker whose app could not be loaded (the master backs off on repeats). */
export const EXIT_APP_FAILED = 22;

/**
 * Does a worker that recycles itself (--max-requests, --reload-on-rss) keep accepting until its
 * replacement is ready, as in a reload? Yes when a port is bound by every worker itself
 * (--reuse-port): no socket outlives the worker there, so it must not close before another one
 * listens. On sockets the master holds, it stops at once: the kernel queues for the next one.
 */
export function recycleHandsOver(state: ChildState): boolean {
  return state.sockets.some((s) => 'reuse' in s);
}

/** A request running on a core, as the master sees it (for harakiri and stats). */
export interface BusyRequest {
  core: number;
  /** ms since the epoch. */
  since: number;
  method: string;
  uri: string;
  /** performance.now() at the start, for durations finer than a millisecond (this process only). */
  t?: number;
}

export interface CoreTotals {
  requests: number;
  exceptions: number;
  /** Body bytes sent. */
  tx: number;
  /** Sum of request durations in ms, for averages. */
  totalMs: number;
  /** Requests per duration bucket (DURATION_BUCKETS, then +Inf), for the Prometheus histogram. */
  buckets: number[];
  /** WebSockets open now (a gauge, not a total). */
  websockets: number;
}

/** Upper bounds (seconds) of the request-duration histogram. */
export const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export function emptyTotals(): CoreTotals {
  return { requests: 0, exceptions: 0, tx: 0, totalMs: 0, websockets: 0, buckets: new Array<number>(DURATION_BUCKETS.length + 1).fill(0) };
}

export type WorkerMessage =
  | { t: 'ready'; cores: number; loadMs: number }
  | { t: 'status'; totals: CoreTotals[]; busy: BusyRequest[]; rss: number }
  | { t: 'busy'; req: BusyRequest }
  | { t: 'recycle'; reason: string };

/**
 * Master → launcher (the process the user started, or serve()): it handles signals now (the
 * launcher holds the ones it gets until then: before, a signal would kill the master); it runs
 * as the --uid user now (the launcher may drop too: it can still signal it); every
 * worker (and the router) is up; a reload is done; the code it exits with.
 */
export type LauncherMessage = { t: 'started' } | { t: 'dropped' } | { t: 'ready' } | { t: 'reloaded' } | { t: 'exit'; code: number };

/** What a thread of a worker (--threads) starts from: src/master/thread.ts reads it. */
export interface ThreadData {
  state: ChildState;
  core: number;
  appDir: string;
}

export type ThreadMessage =
  | { t: 'ready' }
  | { t: 'failed'; error: string }
  | { t: 'status'; totals: CoreTotals; oldest: BusyRequest | null }
  | { t: 'busy'; req: BusyRequest }
  | { t: 'stopped'; done: boolean };

/** A worker's main thread → its thread. */
export type ThreadCommand = { t: 'stop' };

/**
 * A guard for one message set, from the set's tags (the Record makes the compiler check that
 * every tag is listed). Only tsgi's own processes send on these channels: the tag says the rest.
 */
export function tagGuard<M extends { t: string }>(tags: Record<M['t'], true>): (m: unknown) => m is M {
  return (m): m is M => {
    const t = typeof m === 'object' && m !== null ? (m as { t?: unknown }).t : undefined;
    return typeof t === 'string' && Object.hasOwn(tags, t);
  };
}

export const isWorkerMessage = tagGuard<WorkerMessage>({ ready: true, status: true, busy: true, recycle: true });
export const isRouterMessage = tagGuard<RouterMessage>({ workers: true });
export const isRouterReport = tagGuard<RouterReport>({ ready: true });
export const isLauncherMessage = tagGuard<LauncherMessage>({ started: true, dropped: true, ready: true, reloaded: true, exit: true });
export const isThreadMessage = tagGuard<ThreadMessage>({ ready: true, failed: true, status: true, busy: true, stopped: true });
export const isThreadCommand = tagGuard<ThreadCommand>({ stop: true });
