/**
 * The master's view of its workers: one worker process, and a slot (1..N) that workers come and
 * go in, as uWSGI's worker ids do. A reload keeps per slot the serving worker and the fresh one
 * (`current`, `next`): the fresh one takes over when it is ready.
 */
import type { Child } from '../../runtimes/types.ts';
import { Supervised } from './child.ts';
import { type BusyRequest, type CoreTotals, emptyTotals, type WorkerMessage } from './protocol.ts';
import { Respawn } from './respawn.ts';

/** One running worker process, and what its reports say. */
export class WorkerChild extends Supervised {
  readonly id: number;
  /** ms its app took to load (its 'ready' says). */
  loadMs = 0;
  /** Set when we asked it to stop (reload, recycle, stop): its exit is expected. */
  retiring = false;
  totals: CoreTotals[] = [];
  busy: BusyRequest[] = [];
  rss = 0;

  constructor(id: number, child: Child) {
    super(child);
    this.id = id;
  }

  /** Ready and not on its way out: it takes requests. */
  get serving(): boolean {
    return this.readyAt !== null && !this.retiring;
  }

  /** A report: its totals each second, or a core that became busy. */
  report(msg: Extract<WorkerMessage, { t: 'status' | 'busy' }>): void {
    if (msg.t === 'busy') {
      this.busy = [...this.busy.filter((b) => b.core !== msg.req.core), msg.req];
      return;
    }
    this.totals = msg.totals;
    this.busy = msg.busy;
    this.rss = msg.rss;
  }

  /** The request running longer than `limitMs`, if any. */
  stuck(now: number, limitMs: number): BusyRequest | undefined {
    return this.busy.find((b) => now - b.since > limitMs);
  }

  /**
   * Stop it gracefully, once: SIGTERM reaches it at any moment of its life (a message could arrive
   * before it listens); one still starting holds no request and exits at once.
   */
  retire(mercySecs: number, overdue: () => void): void {
    if (this.retiring || !this.running) return;
    this.retiring = true;
    this.terminate(mercySecs, overdue);
  }
}

/** Add the totals of several cores (and of a slot's past) together. */
export function addTotals(into: CoreTotals, from: CoreTotals[]): CoreTotals {
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

/** A worker slot: what survives respawns. */
export class WorkerSlot {
  readonly id: number;
  /** The worker serving the slot, or starting to (none while a respawn waits out its pause). */
  current: WorkerChild | null = null;
  /** A reload's fresh worker, starting: it takes over from `current` when it is ready. */
  next: WorkerChild | null = null;
  respawns = 0;
  harakiris = 0;
  /** When to start a worker again after one died (the back-off for deaths at startup). */
  readonly respawn = new Respawn();
  /** What the workers that ran in this slot before had done. */
  #past = emptyTotals();
  /** Requests at the previous stats document, for delta_requests. */
  #seenRequests = 0;

  constructor(id: number) {
    this.id = id;
  }

  /** Its serving worker is ready (a reload's fresh one is not in yet). */
  get settled(): boolean {
    return !!this.current?.readyAt && !this.next;
  }

  /** The workers a fresh start stops at once: a fresh one of an earlier reload, and one still starting. */
  stale(): WorkerChild[] {
    const starting = this.current && !this.current.readyAt ? [this.current] : [];
    return this.next ? [this.next, ...starting] : starting;
  }

  /** A fresh worker: beside a ready one, which serves until the fresh one is ready (a reload), else in the slot. */
  place(w: WorkerChild): void {
    if (this.current?.readyAt) {
      this.next = w;
      return;
    }
    this.current = w;
    this.next = null;
  }

  /** A worker is ready: a reload's fresh one takes over. Returns the worker it replaces (to retire). */
  promote(w: WorkerChild): WorkerChild | null {
    if (w !== this.next) return null;
    const old = this.current;
    this.current = w;
    this.next = null;
    return old;
  }

  /**
   * The slot's worker died or is recycling: a reload's fresh worker, if one is starting, takes
   * its place (true); else the slot is empty until a new one is started (false).
   */
  takeOver(): boolean {
    this.respawns++;
    this.current = this.next;
    this.next = null;
    return this.current !== null;
  }

  /** A worker of this slot has exited: what it did counts in the slot's totals. */
  left(w: WorkerChild): void {
    this.#past = addTotals(this.#past, w.totals);
  }

  /** What every worker of this slot has done. */
  totals(): CoreTotals {
    return addTotals(this.#past, this.current?.totals ?? []);
  }

  /** Requests since the previous call (the stats document's delta_requests). */
  deltaRequests(requests: number): number {
    const delta = requests - this.#seenRequests;
    this.#seenRequests = requests;
    return delta;
  }
}
