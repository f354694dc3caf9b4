/**
 * The master's workers: start one per slot, respawn the dead (with back-off), reload gracefully
 * (SIGHUP, --touch-reload), recycle (--max-requests, --reload-on-rss, decided by the worker), cut
 * stuck requests (--harakiri).
 */
import type { Child } from '../../runtimes/types.ts';
import { log } from '../log.ts';
import { describeExit, type ExitStatus } from './child.ts';
import { EXIT_APP_FAILED, isWorkerMessage, type MasterOptions } from './protocol.ts';
import { WorkerChild, WorkerSlot } from './slot.ts';

/** What the pool tells the master. */
export interface PoolEvents {
  /** A worker became ready (it serves now). */
  ready(): void;
  /** A worker has exited. */
  gone(): void;
  /** A reload is done: every worker was replaced. */
  reloaded(): void;
}

export class WorkerPool {
  readonly #m: MasterOptions;
  readonly #spawn: (workerId: number) => Child;
  readonly #events: PoolEvents;
  /** --reuse-port: a recycling worker serves on until its replacement is ready (see recycleHandsOver). */
  readonly #handsOver: boolean;
  readonly slots: WorkerSlot[];
  readonly #alive = new Set<WorkerChild>();
  #stopping = false;
  #reloading = false;

  constructor(m: MasterOptions, handsOver: boolean, spawn: (workerId: number) => Child, events: PoolEvents) {
    this.#m = m;
    this.#handsOver = handsOver;
    this.#spawn = spawn;
    this.#events = events;
    this.slots = Array.from({ length: m.processes }, (_, i) => new WorkerSlot(i + 1));
  }

  /** Start a worker in every slot. */
  start(): void {
    for (const slot of this.slots) this.#renew(slot);
  }

  /** Every slot has a ready worker. */
  ready(): boolean {
    return this.slots.every((s) => s.current?.readyAt);
  }

  /** Workers ready and not on their way out. */
  serving(): number {
    return [...this.#alive].filter((w) => w.serving).length;
  }

  /** Every worker process still running. */
  running(): WorkerChild[] {
    return [...this.#alive];
  }

  /** Replace every worker: each ready one serves until its fresh one is ready. */
  reload(why: string): void {
    if (this.#stopping) return;
    log(`${why}: reloading workers gracefully`);
    this.#reloading = true;
    for (const slot of this.slots) this.#renew(slot);
  }

  /** Start no more workers (the stop sequence ends the running ones). */
  stop(): void {
    this.#stopping = true;
    for (const slot of this.slots) slot.respawn.cancel();
  }

  /** uWSGI's harakiri: a request running too long gets its whole worker killed and replaced. */
  harakiri(): void {
    if (this.#m.harakiri <= 0) return;
    const now = Date.now();
    for (const w of this.#alive) {
      const stuck = w.stuck(now, this.#m.harakiri * 1000);
      if (!stuck || w.pid <= 0) continue;
      this.slots[w.id - 1].harakiris++;
      const secs = ((now - stuck.since) / 1000).toFixed(1);
      log(`HARAKIRI ON WORKER ${w.id} (pid: ${w.pid}): ${stuck.method} ${stuck.uri} running for ${secs} s (--harakiri ${this.#m.harakiri})`);
      w.busy = [];
      w.kill();
    }
  }

  #startWorker(slot: WorkerSlot): WorkerChild {
    const w = new WorkerChild(slot.id, this.#spawn(slot.id));
    this.#alive.add(w);
    log(`spawned tsgi worker ${slot.id} (pid: ${w.pid}, cores: ${this.#m.threads})`);
    w.child.onMessage = (msg) => this.#onMessage(slot, w, msg);
    void w.child.exited.then((how) => this.#onExit(slot, w, how));
    return w;
  }

  /**
   * Start a fresh worker in a slot. A ready worker keeps serving until the fresh one is ready
   * (a reload); one still starting, or a fresh one of an earlier reload, is stopped now; a
   * respawn waiting out its pause is not waited for.
   */
  #renew(slot: WorkerSlot): void {
    if (this.#stopping) return;
    slot.respawn.cancel();
    for (const w of slot.stale()) this.#retire(w);
    slot.place(this.#startWorker(slot));
  }

  #retire(w: WorkerChild): void {
    w.retire(this.#m.workerReloadMercy, () =>
      log(`tsgi worker ${w.id} (pid: ${w.pid}) still running after --worker-reload-mercy ${this.#m.workerReloadMercy} s: killing it`),
    );
  }

  #onMessage(slot: WorkerSlot, w: WorkerChild, msg: unknown): void {
    if (!isWorkerMessage(msg)) return;
    if (msg.t === 'ready') this.#onReady(slot, w, msg.loadMs);
    else if (msg.t === 'recycle') this.#onRecycle(slot, w, msg.reason);
    else w.report(msg);
  }

  #onReady(slot: WorkerSlot, w: WorkerChild, loadMs: number): void {
    // One told to stop while it started is on its way out.
    if (w.retiring || this.#stopping) return;
    w.readyAt = Date.now();
    w.loadMs = loadMs;
    slot.respawn.ready();
    log(`tsgi worker ${slot.id} (pid: ${w.pid}) ready in ${w.readyAt - w.spawnedAt} ms (app loaded in ${loadMs} ms)`);
    // Reload: the fresh worker takes over the slot, the old one finishes and leaves.
    const old = slot.promote(w);
    if (old) this.#retire(old);
    this.#events.ready();
    if (this.#reloading && this.slots.every((s) => s.settled)) {
      this.#reloading = false;
      log('reload done: every worker replaced');
      this.#events.reloaded();
    }
  }

  #onRecycle(slot: WorkerSlot, w: WorkerChild, reason: string): void {
    log(`tsgi worker ${slot.id} (pid: ${w.pid}): ${reason}, respawning it`);
    // With --reuse-port it serves on until its replacement is ready (the 'ready' of the fresh
    // worker retires it): its own accept queue is not dropped. Else it stops now, as expected.
    if (this.#handsOver) {
      if (slot.current === w && !slot.next) {
        slot.respawns++;
        this.#renew(slot);
      }
      return;
    }
    w.retiring = true;
    if (slot.current === w && !slot.takeOver()) this.#renew(slot);
  }

  #onExit(slot: WorkerSlot, w: WorkerChild, how: ExitStatus): void {
    this.#alive.delete(w);
    this.#events.gone();
    slot.left(w);
    if (this.#stopping) return;
    const what = describeExit(how);
    if (w.retiring) return log(`tsgi worker ${slot.id} (pid: ${w.pid}) left (${what})`);
    if (w === slot.next) {
      // A fresh worker of a reload died before taking over: keep the old one, try again.
      log(`tsgi worker ${slot.id} (pid: ${w.pid}) died during reload (${what}); the old worker keeps serving`);
      slot.next = null;
      return this.#respawnLater(slot, true);
    }
    if (w !== slot.current) return;
    log(`DAMN ! tsgi worker ${slot.id} (pid: ${w.pid}) died: ${how.code === EXIT_APP_FAILED ? 'the app failed to load (see above)' : what}`);
    if (!slot.takeOver()) this.#respawnLater(slot, !w.readyAt);
  }

  /** Start the slot's worker again: at once, or after a growing pause when it keeps dying at startup. */
  #respawnLater(slot: WorkerSlot, early: boolean): void {
    const tell = (secs: number) => {
      if (secs > 0) log(`tsgi worker ${slot.id} died at startup ${slot.respawn.failures} times in a row: respawning in ${secs} s`);
    };
    slot.respawn.restart(early, tell, () => this.#renew(slot));
  }
}
