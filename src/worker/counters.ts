/**
 * Per-core request accounting: totals for stats, requests in flight for harakiri and for
 * graceful stops. One instance per event loop (core).
 */
import type { BusyRequest, CoreTotals } from '../master/protocol.ts';

export class CoreCounters {
  readonly totals: CoreTotals = { requests: 0, exceptions: 0, tx: 0, totalMs: 0 };
  private readonly inflight = new Map<number, BusyRequest>();
  private nextId = 1;
  private idleWaiters: Array<() => void> = [];
  /** Called when the core goes from idle to busy (the master must know at once, for harakiri). */
  onBusy: ((req: BusyRequest) => void) | null = null;
  /** Called after each finished request with the running count (for --max-requests). */
  onFinished: ((requests: number) => void) | null = null;

  constructor(readonly core: number) {}

  started(method: string, uri: string): number {
    const id = this.nextId++;
    const req: BusyRequest = { core: this.core, since: Date.now(), method, uri };
    this.inflight.set(id, req);
    if (this.inflight.size === 1) this.onBusy?.(req);
    return id;
  }

  finished(id: number, _status: number, bytes: number, threw: boolean): void {
    const req = this.inflight.get(id);
    if (!req) return;
    this.inflight.delete(id);
    const t = this.totals;
    t.requests++;
    t.tx += bytes;
    t.totalMs += Date.now() - req.since;
    if (threw) t.exceptions++;
    if (this.inflight.size === 0 && this.idleWaiters.length > 0) {
      const w = this.idleWaiters;
      this.idleWaiters = [];
      for (const f of w) f();
    }
    this.onFinished?.(t.requests);
  }

  get busy(): number {
    return this.inflight.size;
  }

  /** The oldest request in flight, if any. */
  oldest(): BusyRequest | undefined {
    let o: BusyRequest | undefined;
    for (const r of this.inflight.values()) if (!o || r.since < o.since) o = r;
    return o;
  }

  /** Resolves when no request is in flight, or after `ms` (then with false). */
  idle(ms: number): Promise<boolean> {
    if (this.inflight.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      this.idleWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }
}
