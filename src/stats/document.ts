/**
 * The stats document in uWSGI's schema (what `--stats` writes; uwsgitop and friends read it),
 * and the same figures in Prometheus' text exposition format.
 */
import { DURATION_BUCKETS } from '../master/protocol.ts';
import type { Health } from './health.ts';

export interface CoreView {
  id: number;
  requests: number;
  inRequest: boolean;
}

export interface WorkerView {
  id: number;
  pid: number;
  busy: boolean;
  requests: number;
  /** Requests since the previous stats document. */
  deltaRequests: number;
  exceptions: number;
  harakiriCount: number;
  respawnCount: number;
  /** Bytes, from the OS. */
  rss: number;
  vsz: number;
  /** Sum of request durations, µs. */
  runningTimeUs: number;
  /** Seconds since the epoch. */
  lastSpawn: number;
  /** Body bytes sent. */
  tx: number;
  avgRtUs: number;
  inFlight: number;
  /** WebSockets open now. */
  websockets: number;
  /** Requests per duration bucket (DURATION_BUCKETS, then +Inf). */
  buckets: number[];
  /** Sum of request durations, seconds, for the histogram. */
  durationSum: number;
  cores: CoreView[];
  appStartupMs: number;
}

export interface StatsInput {
  version: string;
  pid: number;
  uid: number;
  gid: number;
  cwd: string;
  chdir: string;
  sockets: Array<{ name: string; proto: string; queue: number; maxQueue: number }>;
  workers: WorkerView[];
  runtime: { name: string; version: string; socketApi: string };
  /** Readiness, as /readyz answers it (the stats server adds it). */
  health?: Health;
}

/** uWSGI's keys, in uWSGI's order; tsgi's own figures under "tsgi". */
export function statsDocument(s: StatsInput): Record<string, unknown> {
  return {
    version: s.version,
    listen_queue: listenQueue(s),
    listen_queue_errors: 0,
    signal_queue: 0,
    load: s.workers.reduce((n, w) => n + w.inFlight, 0),
    pid: s.pid,
    uid: s.uid,
    gid: s.gid,
    cwd: s.cwd,
    locks: [{ 'user 0': 0 }, { signal: 0 }, { filemon: 0 }, { timer: 0 }, { rbtimer: 0 }, { cron: 0 }, { rpc: 0 }, { snmp: 0 }],
    sockets: s.sockets.map((k) => ({ name: k.name, proto: k.proto, queue: k.queue, max_queue: k.maxQueue, shared: 0, can_offload: 0 })),
    workers: s.workers.map((w) => workerDocument(w, s.chdir)),
    tsgi: {
      runtime: s.runtime.name,
      runtime_version: s.runtime.version,
      socket_api: s.runtime.socketApi,
      ...(s.health && { ready: s.health.ready, state: s.health.state }),
    },
  };
}

/** Connections waiting in every socket's accept queue. */
function listenQueue(s: StatsInput): number {
  return s.sockets.reduce((n, k) => n + k.queue, 0);
}

/** One worker of the document: uWSGI's keys (the figures tsgi has no use for are 0), its one app, its cores. */
function workerDocument(w: WorkerView, chdir: string): Record<string, unknown> {
  return {
    id: w.id,
    pid: w.pid,
    accepting: 1,
    requests: w.requests,
    delta_requests: w.deltaRequests,
    exceptions: w.exceptions,
    harakiri_count: w.harakiriCount,
    signals: 0,
    signal_queue: 0,
    status: w.busy ? 'busy' : 'idle',
    rss: w.rss,
    vsz: w.vsz,
    running_time: w.runningTimeUs,
    last_spawn: w.lastSpawn,
    respawn_count: w.respawnCount,
    tx: w.tx,
    avg_rt: w.avgRtUs,
    websockets: w.websockets,
    apps: [{ id: 0, modifier1: 0, mountpoint: '', startup_time: Math.round(w.appStartupMs / 1000), requests: w.requests, exceptions: w.exceptions, chdir }],
    cores: w.cores.map(coreDocument),
  };
}

function coreDocument(c: CoreView): Record<string, unknown> {
  return {
    id: c.id,
    requests: c.requests,
    static_requests: 0,
    routed_requests: 0,
    offloaded_requests: 0,
    write_errors: 0,
    read_errors: 0,
    in_request: c.inRequest ? 1 : 0,
    vars: [],
    req_info: {},
  };
}

/** uWSGI writes the document pretty-printed with tabs; --stats-minified writes one line. */
export function statsJson(s: StatsInput, minified: boolean): string {
  return JSON.stringify(statsDocument(s), null, minified ? undefined : '\t') + '\n';
}

/** The per-worker Prometheus metrics: name, type, help, the figure. */
const WORKER_METRICS: ReadonlyArray<[string, 'counter' | 'gauge', string, (w: WorkerView) => number]> = [
  ['tsgi_worker_requests_total', 'counter', 'Requests answered by the worker.', (w) => w.requests],
  ['tsgi_worker_exceptions_total', 'counter', 'Requests whose handler threw or rejected.', (w) => w.exceptions],
  ['tsgi_worker_rss_bytes', 'gauge', 'Resident memory of the worker process.', (w) => w.rss],
  ['tsgi_worker_respawns_total', 'counter', 'Times the worker slot was respawned.', (w) => w.respawnCount],
  ['tsgi_worker_harakiri_total', 'counter', 'Workers killed by --harakiri.', (w) => w.harakiriCount],
  ['tsgi_worker_requests_in_flight', 'gauge', 'Requests being answered now.', (w) => w.inFlight],
  ['tsgi_worker_websockets', 'gauge', 'WebSockets open now.', (w) => w.websockets],
  ['tsgi_worker_tx_bytes_total', 'counter', 'Response body bytes sent.', (w) => w.tx],
];

/** The Prometheus text exposition format (version 0.0.4). */
export function prometheusText(s: StatsInput): string {
  const out: string[] = [];
  const metric = (name: string, type: string, help: string, rows: Array<[string, number]>) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, v] of rows) out.push(`${name}${labels} ${v}`);
  };
  for (const [name, type, help, figure] of WORKER_METRICS)
    metric(
      name,
      type,
      help,
      s.workers.map((w) => [`{worker="${w.id}"}`, figure(w)]),
    );
  out.push('# HELP tsgi_request_duration_seconds Time from request to the last byte of the answer.', '# TYPE tsgi_request_duration_seconds histogram');
  for (const w of s.workers) out.push(...durationHistogram(w));
  if (s.health)
    metric('tsgi_ready', 'gauge', 'Whether the host takes requests (1) or not (0: starting, shutting down), as /readyz answers.', [
      ['', s.health.ready ? 1 : 0],
    ]);
  metric('tsgi_listen_queue', 'gauge', "Connections waiting in the sockets' accept queues.", [['', listenQueue(s)]]);
  return out.join('\n') + '\n';
}

/** One worker's request durations: the cumulative buckets, the sum and the count. */
function durationHistogram(w: WorkerView): string[] {
  const out: string[] = [];
  let cumulative = 0;
  DURATION_BUCKETS.forEach((le, i) => {
    cumulative += w.buckets[i] ?? 0;
    out.push(`tsgi_request_duration_seconds_bucket{worker="${w.id}",le="${le}"} ${cumulative}`);
  });
  cumulative += w.buckets[DURATION_BUCKETS.length] ?? 0;
  out.push(`tsgi_request_duration_seconds_bucket{worker="${w.id}",le="+Inf"} ${cumulative}`);
  out.push(`tsgi_request_duration_seconds_sum{worker="${w.id}"} ${w.durationSum}`);
  out.push(`tsgi_request_duration_seconds_count{worker="${w.id}"} ${cumulative}`);
  return out;
}
