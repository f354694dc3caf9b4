/**
 * The master: holds the listening sockets as bare fds (it never accepts on them), spawns the
 * workers, respawns the dead, reloads gracefully, cuts stuck requests (harakiri), recycles
 * workers (max-requests, reload-on-rss) and answers signals.
 */
import { rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { closeFd } from './fds.ts';
import { dirname, resolve } from 'node:path';
import { RouterSupervisor } from '../router/supervise.ts';
import type { Child, Runtime } from '../../runtimes/types.ts';
import { log, reopenLog } from '../log.ts';
import { removeSocketFile } from '../worker/bind.ts';
import {
  type BusyRequest,
  type ChildState,
  type CoreTotals,
  emptyTotals,
  type LauncherMessage,
  STATE_ENV,
  isWorkerMessage,
  recycleHandsOver,
} from './protocol.ts';
import { Respawn } from './respawn.ts';
import { ShutdownDelay } from './drain.ts';
import { health } from '../stats/health.ts';
import type { StatsInput } from '../stats/document.ts';
import { listenQueue, procMemory } from '../stats/proc.ts';
import { startStatsServer, stopStatsServer } from '../stats/server.ts';
import { VERSION } from '../version.ts';
import type { BoundSocket } from '../worker/bind.ts';
import { EXIT_APP_FAILED } from './worker.ts';

/** One running worker process. */
interface Worker {
  id: number;
  child: Child;
  pid: number;
  spawnedAt: number;
  readyAt: number | null;
  loadMs: number;
  /** Set when we asked it to stop (reload, recycle, stop): its exit is expected. */
  retiring: boolean;
  totals: CoreTotals[];
  busy: BusyRequest[];
  rss: number;
}

/** A worker slot (1..N): what survives respawns, as uWSGI's worker ids do. */
interface Slot {
  id: number;
  /** The worker serving the slot, or starting to (none while a respawn waits out its pause). */
  current: Worker | null;
  /** A reload's fresh worker, starting: it takes over from `current` when it is ready. */
  next: Worker | null;
  respawns: number;
  harakiris: number;
  /** When to start a worker again after one died (the back-off for deaths at startup). */
  respawn: Respawn;
  /** What the workers that ran in this slot before had done. */
  past: CoreTotals;
  /** Requests at the previous stats document, for delta_requests. */
  seenRequests: number;
}

/** Add the totals of several cores (and of a slot's past) together. */
function addTotals(into: CoreTotals, from: CoreTotals[]): CoreTotals {
  const t = { ...into, buckets: into.buckets.slice() };
  for (const c of from) {
    t.requests += c.requests;
    t.exceptions += c.exceptions;
    t.tx += c.tx;
    t.totalMs += c.totalMs;
    c.buckets.forEach((n, i) => (t.buckets[i] = (t.buckets[i] ?? 0) + n));
  }
  return t;
}

const sum = (t: CoreTotals[], k: 'requests' | 'exceptions' | 'tx' | 'totalMs') => t.reduce((n, c) => n + c[k], 0);

export async function runMaster(rt: Runtime, state: ChildState): Promise<void> {
  const m = state.master;
  const entry = process.argv[1];
  // Every fd the launcher handed over (3, 4, …), the router's too: children get them all, at the same numbers.
  const all = state.router ? [...state.sockets, state.router.listen] : state.sockets;
  const fds = all.flatMap((s) => ('fd' in s ? [s.fd] : [])).sort((a, b) => a - b);
  const slots: Slot[] = [];
  const alive = new Set<Worker>();
  let stopping = false;
  let reloading = false;
  let announced = false;
  let finished = false;
  const parent = rt.parentChannel();
  let router: RouterSupervisor | null = null;
  const delay = new ShutdownDelay(m.shutdownDelay);

  if (m.pidfile) writeFileSync(m.pidfile, `${rt.pid}\n`);
  log(`tsgi master (pid: ${rt.pid}) on ${rt.name} ${rt.version}: ${m.processes} worker(s) × ${m.threads} core(s)`);

  function spawn(slot: Slot): Worker {
    const child = rt.spawnSelf({
      args: [entry],
      env: { ...(process.env as Record<string, string>), [STATE_ENV]: JSON.stringify({ ...state, role: 'worker', workerId: slot.id }) },
      fds,
      ipc: true,
    });
    const w: Worker = {
      id: slot.id,
      child,
      pid: child.pid,
      spawnedAt: Date.now(),
      readyAt: null,
      loadMs: 0,
      retiring: false,
      totals: [],
      busy: [],
      rss: 0,
    };
    alive.add(w);
    log(`spawned tsgi worker ${slot.id} (pid: ${w.pid}, cores: ${m.threads})`);
    child.onMessage = (msg) => onMessage(slot, w, msg);
    void child.exited.then((how) => onExit(slot, w, how));
    return w;
  }

  function onMessage(slot: Slot, w: Worker, msg: unknown): void {
    if (!isWorkerMessage(msg)) return;
    switch (msg.t) {
      case 'ready':
        // One told to stop while it started is on its way out.
        if (w.retiring || stopping) break;
        w.readyAt = Date.now();
        w.loadMs = msg.loadMs;
        slot.respawn.ready();
        log(`tsgi worker ${slot.id} (pid: ${w.pid}) ready in ${w.readyAt - w.spawnedAt} ms (app loaded in ${msg.loadMs} ms)`);
        if (w === slot.next) {
          // Reload: the fresh worker takes over the slot, the old one finishes and leaves.
          const old = slot.current;
          slot.current = w;
          slot.next = null;
          if (old) retire(old);
        }
        announce();
        tellRouter();
        if (reloading && slots.every((s) => s.current?.readyAt && !s.next)) {
          reloading = false;
          log('reload done: every worker replaced');
          parent?.send({ t: 'reloaded' } satisfies LauncherMessage);
        }
        break;
      case 'status':
        w.totals = msg.totals;
        w.busy = msg.busy;
        w.rss = msg.rss;
        break;
      case 'busy':
        w.busy = [...w.busy.filter((b) => b.core !== msg.req.core), msg.req];
        break;
      case 'recycle': {
        log(`tsgi worker ${slot.id} (pid: ${w.pid}): ${msg.reason}, respawning it`);
        // With --reuse-port it serves on until its replacement is ready (the 'ready' of the fresh
        // worker retires it): its own accept queue is not dropped. Else it stops now, as expected.
        if (recycleHandsOver(state)) {
          if (slot.current === w && !slot.next) {
            slot.respawns++;
            renew(slot);
          }
          break;
        }
        w.retiring = true;
        if (slot.current === w && !takeOver(slot)) renew(slot);
        break;
      }
    }
  }

  /** Once every worker (and the router) is up: the line scripts and tests wait for. */
  function announce(): void {
    if (announced || !slots.every((s) => s.current?.readyAt) || (router && !router.ready())) return;
    announced = true;
    parent?.send({ t: 'ready' } satisfies LauncherMessage);
    log(`tsgi is ready: master pid ${rt.pid}, ${m.processes} worker(s) × ${m.threads} core(s)${router ? ', http router' : ''}, ${rt.name} ${rt.version}`);
  }

  function tellRouter(): void {
    router?.workers(serving());
  }

  function serving(): number {
    return [...alive].filter((w) => w.readyAt !== null && !w.retiring).length;
  }

  /**
   * Stop a worker gracefully: SIGTERM reaches it at any moment of its life (a message could
   * arrive before it listens); one still starting holds no request and exits at once.
   */
  function retire(w: Worker): void {
    if (w.retiring || !alive.has(w)) return;
    w.retiring = true;
    w.child.kill('SIGTERM');
    const timer = setTimeout(() => {
      if (alive.has(w)) {
        log(`tsgi worker ${w.id} (pid: ${w.pid}) still running after --worker-reload-mercy ${m.workerReloadMercy} s: killing it`);
        w.child.kill('SIGKILL');
      }
    }, m.workerReloadMercy * 1000);
    void w.child.exited.then(() => clearTimeout(timer));
  }

  function onExit(slot: Slot, w: Worker, how: { code: number | null; signal: string | null }): void {
    alive.delete(w);
    tellRouter();
    slot.past = addTotals(slot.past, w.totals);
    if (stopping) return;
    const what = how.signal ? `killed by ${how.signal}` : `exit code ${how.code}`;
    if (w.retiring) {
      log(`tsgi worker ${slot.id} (pid: ${w.pid}) left (${what})`);
      return;
    }
    if (w === slot.next) {
      // A fresh worker of a reload died before taking over: keep the old one, try again.
      log(`tsgi worker ${slot.id} (pid: ${w.pid}) died during reload (${what}); the old worker keeps serving`);
      slot.next = null;
      return respawnLater(slot, true);
    }
    if (w !== slot.current) return;
    const why = how.code === EXIT_APP_FAILED ? 'the app failed to load (see above)' : what;
    log(`DAMN ! tsgi worker ${slot.id} (pid: ${w.pid}) died: ${why}`);
    if (!takeOver(slot)) respawnLater(slot, !w.readyAt);
  }

  /**
   * The slot's worker died or is recycling: a reload's fresh worker, if one is starting, takes
   * its place (true); else the slot is empty until a new one is started (false).
   */
  function takeOver(slot: Slot): boolean {
    slot.respawns++;
    slot.current = slot.next;
    slot.next = null;
    return slot.current !== null;
  }

  /** Start the slot's worker again: at once, or after a growing pause when it keeps dying at startup. */
  function respawnLater(slot: Slot, early: boolean): void {
    const secs = slot.respawn.died(early);
    if (secs > 0) log(`tsgi worker ${slot.id} died at startup ${slot.respawn.failures} times in a row: respawning in ${secs} s`);
    slot.respawn.after(secs, () => renew(slot));
  }

  /**
   * Start a fresh worker in a slot. A ready worker keeps serving until the fresh one is ready
   * (a reload); one still starting, or a fresh one of an earlier reload, is stopped now; a
   * respawn waiting out its pause is not waited for.
   */
  function renew(slot: Slot): void {
    if (stopping) return;
    slot.respawn.cancel();
    if (slot.next) retire(slot.next);
    const serving = slot.current?.readyAt ? slot.current : null;
    if (slot.current && !serving) retire(slot.current);
    const w = spawn(slot);
    slot.next = serving ? w : null;
    if (!serving) slot.current = w;
  }

  function reload(why: string): void {
    if (stopping) return;
    log(`${why}: reloading workers gracefully`);
    reloading = true;
    for (const slot of slots) renew(slot);
  }

  /** uWSGI's harakiri: a request running too long gets its whole worker killed and replaced. */
  function harakiri(): void {
    if (m.harakiri <= 0) return;
    const now = Date.now();
    for (const w of alive) {
      const stuck = w.busy.find((b) => now - b.since > m.harakiri * 1000);
      if (!stuck || w.child.pid <= 0) continue;
      const slot = slots[w.id - 1];
      slot.harakiris++;
      log(
        `HARAKIRI ON WORKER ${w.id} (pid: ${w.pid}): ${stuck.method} ${stuck.uri} running for ${((now - stuck.since) / 1000).toFixed(1)} s (--harakiri ${m.harakiri})`,
      );
      w.busy = [];
      w.child.kill('SIGKILL');
    }
  }

  function statsLine(): void {
    for (const slot of slots) {
      const w = slot.current;
      const all = addTotals(slot.past, w?.totals ?? []);
      const ms = w ? sum(w.totals, 'totalMs') : 0;
      const n = w ? sum(w.totals, 'requests') : 0;
      log(
        `worker ${slot.id}: pid ${w?.pid ?? '-'}, ${w?.busy.length ? 'busy' : 'idle'}, requests ${all.requests}, exceptions ${all.exceptions}, avg ${n ? (ms / n).toFixed(1) : 0} ms, rss ${Math.round((w?.rss ?? 0) / 1048576)} MiB, respawns ${slot.respawns}, harakiri ${slot.harakiris}`,
      );
    }
  }

  /** The figures of every slot, for --stats (uWSGI's schema) and /metrics. */
  function snapshot(): StatsInput {
    const now = Date.now();
    return {
      version: VERSION,
      pid: rt.pid,
      uid: process.getuid?.() ?? 0,
      gid: process.getgid?.() ?? 0,
      cwd: process.cwd(),
      chdir: state.serve.chdir ?? '',
      sockets: state.sockets.map((s) => ({ name: s.spec, proto: s.proto, queue: 'fd' in s ? listenQueue(s.fd) : 0, maxQueue: state.serve.listen ?? 100 })),
      runtime: { name: rt.name, version: rt.version, socketApi: rt.socketApi },
      workers: slots.map((slot) => {
        const w = slot.current;
        const all = addTotals(slot.past, w?.totals ?? []);
        const delta = all.requests - slot.seenRequests;
        slot.seenRequests = all.requests;
        const mem = w ? procMemory(w.pid) : { rss: 0, vsz: 0 };
        const inFlight = w?.busy.length ?? 0;
        return {
          id: slot.id,
          pid: w?.pid ?? 0,
          busy: inFlight > 0,
          requests: all.requests,
          deltaRequests: delta,
          exceptions: all.exceptions,
          harakiriCount: slot.harakiris,
          respawnCount: slot.respawns,
          rss: mem.rss,
          vsz: mem.vsz,
          runningTimeUs: Math.round(all.totalMs * 1000),
          lastSpawn: Math.floor((w?.spawnedAt ?? now) / 1000),
          tx: all.tx,
          avgRtUs: all.requests ? Math.round((all.totalMs * 1000) / all.requests) : 0,
          inFlight,
          buckets: all.buckets,
          durationSum: all.totalMs / 1000,
          cores: Array.from({ length: m.threads }, (_, id) => ({
            id,
            requests: w?.totals[id]?.requests ?? 0,
            inRequest: w?.busy.some((b) => b.core === id) ?? false,
          })),
          appStartupMs: w?.loadMs ?? 0,
        };
      }),
    };
  }

  async function stop(signal: string, graceful: boolean): Promise<void> {
    if (!stopping && delay.holds(signal, () => void stop(signal, true))) return;
    if (stopping) {
      log(`${signal} again: stopping now`);
      for (const w of alive) w.child.kill('SIGKILL');
      void router?.stop(false);
      return finish(1);
    }
    stopping = true;
    for (const slot of slots) slot.respawn.cancel();
    log(graceful ? `${signal}: stopping gracefully (workers finish their requests)` : `${signal}: stopping now`);
    // The listening sockets close once the workers close theirs: a connection that arrives later
    // is refused (a balancer tries the next host) instead of waiting in a queue nobody accepts
    // from, to be reset when the master exits.
    for (const fd of fds) closeFd(fd);
    const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), m.reloadMercy * 1000));
    // The router first: the requests it has taken still need the workers (else they got 502).
    const routerGone = router?.stop(graceful);
    if (graceful && routerGone) await Promise.race([routerGone, timeout]);
    // SIGTERM: ready workers finish their requests, starting ones exit at once (see retire).
    const workers = [...alive];
    for (const w of workers) w.child.kill(graceful ? 'SIGTERM' : 'SIGKILL');
    const all = Promise.all([...workers.map((w) => w.child.exited), routerGone]);
    if ((await Promise.race([all, timeout])) === 'timeout') {
      log(`workers still running after --reload-mercy ${m.reloadMercy} s: killing them`);
      for (const w of alive) w.child.kill('SIGKILL');
      void router?.stop(false);
      await all;
    }
    finish(0);
  }

  /** Vacuum and exit, once: a graceful stop cut short by a second signal must not report 0 after it. */
  function finish(code: number): void {
    if (finished) return;
    finished = true;
    if (stats) stopStatsServer(stats);
    // The router's internal socket lives in a directory of its own.
    if (state.router) rmSync(dirname(state.router.upstream), { recursive: true, force: true });
    if (state.serve.vacuum) {
      for (const s of state.sockets) if (s.unixPath) removeSocketFile(s.unixPath);
      if (m.pidfile) {
        try {
          unlinkSync(m.pidfile);
        } catch {
          // already gone
        }
      }
    }
    log(`goodbye from the tsgi master (pid: ${rt.pid})`);
    // Tell the launcher how we end (some runtimes misreport a signalled child's exit), and
    // give the message a moment to leave.
    parent?.send({ t: 'exit', code } satisfies LauncherMessage);
    setTimeout(() => rt.exit(code), parent ? 50 : 0);
  }

  rt.onSignal('SIGTERM', () => void stop('SIGTERM', true));
  rt.onSignal('SIGINT', () => void stop('SIGINT', true));
  rt.onSignal('SIGQUIT', () => void stop('SIGQUIT', false));
  rt.onSignal('SIGHUP', () => {
    reopenLog();
    reload('SIGHUP');
  });
  rt.onSignal('SIGUSR2', statsLine);
  // SIGUSR1 as in uWSGI, where the runtime lets us have it (Runtime.signals).
  if (rt.signals.includes('SIGUSR1')) rt.onSignal('SIGUSR1', statsLine);

  if (parent) parent.onDisconnect = () => void stop('the launcher is gone', true);
  parent?.send({ t: 'started' } satisfies LauncherMessage);

  // The stats server is bound before any worker starts, so a bad address stops tsgi at once.
  let stats: BoundSocket | null = null;
  if (m.stats) {
    try {
      const readiness = () => health({ started: announced, stopping: stopping || delay.draining, serving: serving(), workers: m.processes });
      stats = await startStatsServer(rt, m.stats, state.cwd, snapshot, readiness);
    } catch (e) {
      log(`tsgi: --stats ${m.stats.address}: ${(e as Error).message}`);
      return finish(1);
    }
  }
  if (stopping) return; // a signal came while the stats server was starting
  if (state.router) {
    router = new RouterSupervisor(rt, state, entry, fds, announce);
    router.start();
  }
  for (let id = 1; id <= m.processes; id++) {
    const slot: Slot = { id, current: null, next: null, respawns: 0, harakiris: 0, respawn: new Respawn(), past: emptyTotals(), seenRequests: 0 };
    slots.push(slot);
    renew(slot);
  }
  setInterval(harakiri, 250);

  // --touch-reload: reload when a file's mtime changes (polled each second, as uWSGI does).
  if (m.touchReload.length > 0) {
    const mtime = (f: string) => {
      try {
        return statSync(f).mtimeMs;
      } catch {
        return 0;
      }
    };
    const files = m.touchReload.map((f) => resolve(state.cwd, f));
    const seen = files.map(mtime);
    setInterval(() => {
      files.forEach((f, i) => {
        const t = mtime(f);
        if (t !== seen[i]) {
          seen[i] = t;
          reload(`${f} touched`);
        }
      });
    }, 1000);
  }
}
