/**
 * `tsgi top ADDR`: a terminal view of a stats server, like uwsgitop — tsgi's (`--stats`, with
 * or without `--stats-http`) or uWSGI's own, since both speak uWSGI's schema. Refreshed each
 * second: per worker its pid, status, requests, req/s (from the change since the last read),
 * average response time, RSS, exceptions, respawns; sorted (s cycles the column); q quits.
 */
import type { Runtime } from '../../runtimes/types.ts';
import { askStats, statsTarget } from './ask.ts';

/** The slice of uWSGI's stats schema the view reads (tsgi and uWSGI both send it). */
export interface StatsDoc {
  version?: string;
  pid?: number;
  load?: number;
  listen_queue?: number;
  workers?: Array<{
    id: number;
    pid: number;
    requests: number;
    exceptions?: number;
    status?: string;
    rss?: number;
    avg_rt?: number;
    respawn_count?: number;
    tx?: number;
  }>;
  tsgi?: { runtime?: string; runtime_version?: string };
}

export const SORTS = ['requests', 'rps', 'avg', 'rss', 'id'] as const;
export type SortKey = (typeof SORTS)[number];

interface Row {
  id: number;
  pid: number;
  status: string;
  requests: number;
  rps: number;
  avg: number;
  rss: number;
  exceptions: number;
  respawns: number;
  tx: number;
}

function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)}M`;
}

/** Read one document: connect, read to the end, strip an HTTP head (--stats-http), parse. */
export async function readStats(rt: Runtime, address: string, cwd: string): Promise<StatsDoc> {
  // http://host:port: a --stats-http server, which waits for a request; a plain one answers at
  // connect and closes (writing to it could meet a reset that loses the answer).
  const text = await askStats(rt, address, cwd, statsTarget(address).http ? 'GET / HTTP/1.0\r\n\r\n' : null);
  const body = text.startsWith('HTTP/') ? text.slice(text.indexOf('\r\n\r\n') + 4) : text;
  try {
    return JSON.parse(body) as StatsDoc;
  } catch {
    throw new Error(`${address} did not answer with uWSGI's stats JSON (got ${JSON.stringify(body.slice(0, 60))})`);
  }
}

/** The screen for `doc`, given the previous document and the seconds between them. */
export function renderTop(address: string, doc: StatsDoc, prev: StatsDoc | null, seconds: number, sort: SortKey, width = 100): string {
  const before = new Map((prev?.workers ?? []).map((w) => [w.id, w]));
  const rows: Row[] = (doc.workers ?? []).map((w) => {
    const p = before.get(w.id);
    const delta = p && p.pid === w.pid ? Math.max(0, w.requests - p.requests) : 0;
    return {
      id: w.id,
      pid: w.pid,
      status: w.status ?? '?',
      requests: w.requests,
      rps: seconds > 0 ? delta / seconds : 0,
      avg: (w.avg_rt ?? 0) / 1000,
      rss: w.rss ?? 0,
      exceptions: w.exceptions ?? 0,
      respawns: w.respawn_count ?? 0,
      tx: w.tx ?? 0,
    };
  });
  const key: Record<SortKey, (r: Row) => number> = {
    requests: (r) => -r.requests,
    rps: (r) => -r.rps,
    avg: (r) => -r.avg,
    rss: (r) => -r.rss,
    id: (r) => r.id,
  };
  rows.sort((a, b) => key[sort](a) - key[sort](b) || a.id - b.id);
  const total = rows.reduce((n, r) => n + r.requests, 0);
  const rps = rows.reduce((n, r) => n + r.rps, 0);
  const busy = rows.filter((r) => r.status === 'busy').length;
  const server = doc.tsgi ? `tsgi ${doc.version ?? ''} on ${doc.tsgi.runtime ?? '?'} ${doc.tsgi.runtime_version ?? ''}` : `uWSGI ${doc.version ?? ''}`;
  const lines = [
    `${server} - ${address} - master pid ${doc.pid ?? '?'} - ${new Date().toLocaleTimeString()}`,
    `workers: ${rows.length}  busy: ${busy}  load: ${doc.load ?? 0}  listen queue: ${doc.listen_queue ?? 0}  requests: ${total}  req/s: ${rps.toFixed(1)}`,
    '',
    `${'WID'.padStart(4)} ${'PID'.padStart(8)} ${'STATUS'.padEnd(8)} ${'REQ'.padStart(10)} ${'RPS'.padStart(8)} ${'AVG(ms)'.padStart(9)} ${'RSS'.padStart(9)} ${'EXC'.padStart(6)} ${'RESP'.padStart(5)} ${'TX'.padStart(9)}`,
    ...rows.map(
      (r) =>
        `${String(r.id).padStart(4)} ${String(r.pid).padStart(8)} ${r.status.slice(0, 8).padEnd(8)} ${String(r.requests).padStart(10)} ${r.rps.toFixed(1).padStart(8)} ${r.avg.toFixed(2).padStart(9)} ${mib(r.rss).padStart(9)} ${String(r.exceptions).padStart(6)} ${String(r.respawns).padStart(5)} ${mib(r.tx).padStart(9)}`,
    ),
    '',
    `sorted by ${sort} - s: next sort - q: quit`,
  ];
  return lines.map((l) => l.slice(0, width)).join('\n');
}

/** Run the view until q (or Ctrl-C). */
export async function runTop(rt: Runtime, address: string | undefined, cwd: string): Promise<void> {
  if (!address) {
    process.stderr.write('usage: tsgi top ADDR   (a --stats address: host:port, a UNIX socket path, or http://host:port for --stats-http)\n');
    return rt.exit(2);
  }
  const out = process.stdout;
  let prev: StatsDoc | null = null;
  let prevAt = 0;
  let sort: SortKey = 'requests';
  let last: StatsDoc | null = null;
  let stopped = false;
  const draw = () => {
    if (!last) return;
    const seconds = prevAt ? (Date.now() - prevAt) / 1000 : 0;
    out.write(`\x1b[H\x1b[2J${renderTop(address, last, prev, seconds, sort, out.columns || 100)}\n`);
  };
  const quit = (code: number) => {
    stopped = true;
    if (process.stdin.isTTY) process.stdin.setRawMode(false);
    out.write('\x1b[?25h\x1b[?1049l');
    rt.exit(code);
  };
  out.write('\x1b[?1049h\x1b[?25l');
  if (process.stdin.isTTY) process.stdin.setRawMode(true);
  process.stdin.on('data', (d: Buffer) => {
    const k = d.toString();
    if (k === 'q' || k === '\x03') quit(0);
    if (k === 's') {
      sort = SORTS[(SORTS.indexOf(sort) + 1) % SORTS.length];
      draw();
    }
  });
  let current: StatsDoc | null = null;
  let currentAt = 0;
  while (!stopped) {
    try {
      const doc = await readStats(rt, address, cwd);
      prev = current;
      prevAt = currentAt;
      current = doc;
      currentAt = Date.now();
      last = doc;
      draw();
    } catch (e) {
      out.write(`\x1b[H\x1b[2Jtsgi top: ${(e as Error).message}; retrying (q quits)\n`);
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}
