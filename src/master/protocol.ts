/**
 * What the launcher, the master and the workers tell each other. The state a child starts from
 * travels in the TSGI_STATE environment variable; the rest goes over the IPC channel as JSON.
 */
import type { FdSource, ReuseSource, ServeOptions } from '../worker/server.ts';

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
  touchReload: string[];
  pidfile?: string;
  /** --http ADDR: a router process in front of the workers (--http-timeout, --static-map). */
  http?: { address: string; timeout: number; staticMaps: string[] };
  /** --stats ADDR, served by the master (--stats-http, --stats-minified). */
  stats?: { address: string; http: boolean; minified: boolean };
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
}

/** The --http router: where it listens, where the workers are, what it serves itself. */
export interface RouterState {
  /** The --http socket (never given to workers). */
  listen: InheritedSocket;
  /** The workers' internal uwsgi socket (a UNIX socket in a private temp directory). */
  upstream: string;
  /** The --http socket's TCP port (0 for a UNIX socket), for SERVER_PORT. */
  port: number;
  /** --http-timeout, seconds. */
  timeout: number;
  /** --static-map /PREFIX=DIR entries. */
  staticMaps: string[];
}

/** Master → router: how many workers are ready (0: answer 502 at once), or stop. */
export type RouterMessage = { t: 'workers'; ready: number } | { t: 'stop' };

export const STATE_ENV = 'TSGI_STATE';

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
}

/** Upper bounds (seconds) of the request-duration histogram. */
export const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export function emptyTotals(): CoreTotals {
  return { requests: 0, exceptions: 0, tx: 0, totalMs: 0, buckets: new Array<number>(DURATION_BUCKETS.length + 1).fill(0) };
}

export type WorkerMessage =
  | { t: 'ready'; cores: number; loadMs: number }
  | { t: 'status'; totals: CoreTotals[]; busy: BusyRequest[]; rss: number }
  | { t: 'busy'; req: BusyRequest }
  | { t: 'recycle'; reason: string };

export type MasterMessage = { t: 'stop' };

export function isWorkerMessage(m: unknown): m is WorkerMessage {
  return typeof m === 'object' && m !== null && typeof (m as { t?: unknown }).t === 'string';
}
