/**
 * The master's figures: the stats document's input (--stats in uWSGI's schema, /metrics) and the
 * per-worker log lines of SIGUSR2 (and SIGUSR1 where the runtime lets us have it).
 */
import type { Runtime } from '../../runtimes/types.ts';
import { log } from '../log.ts';
import type { StatsInput, WorkerView } from '../stats/document.ts';
import { listenQueue, procMemory } from '../stats/proc.ts';
import { VERSION } from '../version.ts';
import { ownFd } from './fds.ts';
import type { ChildState, CoreTotals } from './protocol.ts';
import type { WorkerSlot } from './slot.ts';

const sum = (t: CoreTotals[], k: 'requests' | 'totalMs' | 'websockets') => t.reduce((n, c) => n + c[k], 0);

/** The figures of the master and every slot, now. Each call moves the slots' delta_requests on. */
export function statsSnapshot(rt: Runtime, state: ChildState, slots: WorkerSlot[]): StatsInput {
  return {
    version: VERSION,
    pid: rt.pid,
    uid: process.getuid?.() ?? 0,
    gid: process.getgid?.() ?? 0,
    cwd: process.cwd(),
    chdir: state.serve.chdir ?? '',
    sockets: state.sockets.map((s) => ({
      name: s.spec,
      proto: s.proto,
      queue: 'fd' in s ? listenQueue(ownFd(state, s.fd)) : 0,
      maxQueue: state.serve.listen ?? 100,
    })),
    runtime: { name: rt.name, version: rt.version, socketApi: rt.socketApi },
    workers: slots.map((slot) => workerView(slot, state.master.threads)),
  };
}

function workerView(slot: WorkerSlot, threads: number): WorkerView {
  const w = slot.current;
  const all = slot.totals();
  const mem = w ? procMemory(w.pid) : { rss: 0, vsz: 0 };
  const inFlight = w?.busy.length ?? 0;
  return {
    id: slot.id,
    pid: w?.pid ?? 0,
    busy: inFlight > 0,
    requests: all.requests,
    deltaRequests: slot.deltaRequests(all.requests),
    exceptions: all.exceptions,
    harakiriCount: slot.harakiris,
    respawnCount: slot.respawns,
    rss: mem.rss,
    vsz: mem.vsz,
    runningTimeUs: Math.round(all.totalMs * 1000),
    lastSpawn: Math.floor((w?.spawnedAt ?? Date.now()) / 1000),
    tx: all.tx,
    avgRtUs: all.requests ? Math.round((all.totalMs * 1000) / all.requests) : 0,
    inFlight,
    websockets: w ? sum(w.totals, 'websockets') : 0,
    buckets: all.buckets,
    durationSum: all.totalMs / 1000,
    cores: Array.from({ length: threads }, (_, id) => ({
      id,
      requests: w?.totals[id]?.requests ?? 0,
      inRequest: w?.busy.some((b) => b.core === id) ?? false,
    })),
    appStartupMs: w?.loadMs ?? 0,
  };
}

/** One log line per slot (SIGUSR2): its worker now, the slot's totals, respawns and harakiris. */
export function logStats(slots: WorkerSlot[]): void {
  for (const slot of slots) {
    const w = slot.current;
    const all = slot.totals();
    const ms = w ? sum(w.totals, 'totalMs') : 0;
    const n = w ? sum(w.totals, 'requests') : 0;
    log(
      `worker ${slot.id}: pid ${w?.pid ?? '-'}, ${w?.busy.length ? 'busy' : 'idle'}, requests ${all.requests}, exceptions ${all.exceptions}, avg ${n ? (ms / n).toFixed(1) : 0} ms, rss ${Math.round((w?.rss ?? 0) / 1048576)} MiB, respawns ${slot.respawns}, harakiri ${slot.harakiris}`,
    );
  }
}
