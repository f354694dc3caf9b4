/**
 * Per-core request accounting: totals for stats, requests in flight for harakiri and for
 * graceful stops. One instance per event loop (core).
 */
import { type BusyRequest, type CoreTotals, DURATION_BUCKETS, emptyTotals } from '../master/protocol.ts';
import type { RequestFacts, RequestLogger } from './reqlog.ts';

/** An open WebSocket, as the core's registry holds it. */
export interface OpenWebSocket {
  /** Close with 1001 Going Away (the core stops). */
  goAway(): void;
}

/** How a WebSocket ended: its close code, and the message bytes each way. */
export interface WebSocketEnd {
  code: number;
  received: number;
  sent: number;
}

/** What a protocol server tells about each request (a CoreCounters, or nothing). */
export interface RequestCounters {
  /** A request was handed to the app; returns its id for finished(). */
  started(method: string, uri: string): number;
  /** It finished: status sent, body bytes written, whether the app threw; what the request log says. */
  finished(id: number, status: number, bytes: number, threw: boolean, facts?: () => RequestFacts): void;
  /** Set when request log lines are written (they want the body's size). */
  readonly logger?: RequestLogger | null;
  /** A connection was accepted; the call returned says it has started a request or closed. */
  accepted(): () => void;
  /** The core has stopped accepting: answers close their connections. */
  readonly draining: boolean;
  /** Run `f` when the core starts draining; returns the call that forgets it. */
  onDrain(f: () => void): () => void;
  /**
   * The request `id` became a WebSocket: it no longer runs (harakiri leaves it alone), it is
   * open until the call returned is made; that counts it as a request and writes its log line.
   */
  upgraded?(id: number, socket: OpenWebSocket, facts?: () => RequestFacts): (end: WebSocketEnd) => void;
}

const BUSY_EVERY_MS = 100;

export class CoreCounters implements RequestCounters {
  readonly totals: CoreTotals = emptyTotals();
  private readonly inflight = new Map<number, BusyRequest>();
  /** Open WebSockets: a stop sends each 1001 and waits for them (idle()). */
  private readonly sockets = new Set<OpenWebSocket>();
  private nextId = 1;
  private idleWaiters: Array<() => void> = [];
  /** Accepted connections that have not started a request yet (see accepted()). */
  private unserved = 0;
  /**
   * Called when the core goes from idle to busy, at most every BUSY_EVERY_MS: the master must
   * learn it even if the request then blocks the event loop (harakiri, stats), but a message per
   * request would cost much (it halved Node's throughput). A blocked loop sends nothing more, so
   * the master keeps the last news: busy.
   */
  onBusy: ((req: BusyRequest) => void) | null = null;
  private lastBusyNews = 0;
  /** Called after each finished request with the running count (for --max-requests). */
  onFinished: ((requests: number) => void) | null = null;

  readonly core: number;

  constructor(core: number) {
    this.core = core;
  }

  started(method: string, uri: string): number {
    const id = this.nextId++;
    const req: BusyRequest = { core: this.core, since: Date.now(), method, uri, t: performance.now() };
    this.inflight.set(id, req);
    if (this.inflight.size === 1 && this.onBusy && req.since - this.lastBusyNews >= BUSY_EVERY_MS) {
      this.lastBusyNews = req.since;
      this.onBusy(req);
    }
    return id;
  }

  /** Writes the request log line (null: --disable-logging, or no log wanted). */
  logger: RequestLogger | null = null;

  /** `facts` is called only when a request log line is written. */
  finished(id: number, status: number, bytes: number, threw: boolean, facts?: () => RequestFacts): void {
    const req = this.inflight.get(id);
    if (!req) return;
    this.inflight.delete(id);
    const t = this.totals;
    t.requests++;
    t.tx += bytes;
    const ms = performance.now() - (req.t ?? 0);
    t.totalMs += ms;
    let b = 0;
    while (b < DURATION_BUCKETS.length && ms / 1000 > DURATION_BUCKETS[b]) b++;
    t.buckets[b]++;
    if (threw) t.exceptions++;
    if (this.logger && facts) this.logger(facts(), { status, size: bytes, ms, start: req.since });
    this.wakeIfIdle();
    this.onFinished?.(t.requests);
  }

  upgraded(id: number, socket: OpenWebSocket, facts?: () => RequestFacts): (end: WebSocketEnd) => void {
    const req = this.inflight.get(id);
    this.inflight.delete(id);
    this.sockets.add(socket);
    this.totals.websockets = this.sockets.size;
    // Accepted while the core stops: it goes at once (after its handshake, see Session.goAway).
    if (this.leaving) socket.goAway();
    return (end) => {
      if (!this.sockets.delete(socket)) return;
      const t = this.totals;
      t.websockets = this.sockets.size;
      t.requests++;
      t.tx += end.sent;
      const ms = performance.now() - (req?.t ?? 0);
      if (this.logger && facts && req) {
        this.logger(facts(), { status: 101, size: end.sent, ms, start: req.since, webSocket: { code: end.code, received: end.received } });
      }
      this.wakeIfIdle();
      this.onFinished?.(t.requests);
    };
  }

  /** Open WebSockets. */
  get websockets(): number {
    return this.sockets.size;
  }

  private leaving = false;

  /**
   * The core stops: every open WebSocket, and any accepted from now on, is closed with 1001 so
   * that its client reconnects to another worker. Called before the listeners close: Bun's
   * server.stop() resolves only once its WebSockets are closed (measured: the stop hung until
   * the mercy when the 1001 came after it).
   */
  closeWebSockets(): void {
    this.leaving = true;
    for (const socket of [...this.sockets]) socket.goAway();
  }

  /**
   * A connection was accepted (or, kept alive, waits for its next request while the core
   * drains): a graceful stop waits until it has started a request or closed. No other process
   * can answer it any more: a worker that exited over it would reset it. Returns the call that
   * says so (only the first counts).
   */
  accepted(): () => void {
    this.unserved++;
    let settled = false;
    return () => {
      if (settled) return;
      settled = true;
      this.unserved--;
      this.wakeIfIdle();
    };
  }

  /** The core has stopped accepting (drain()): answers close their connections. */
  get draining(): boolean {
    return this.drained;
  }
  private drained = false;
  private readonly drainWatchers = new Set<() => void>();

  /** Run `f` when the core starts draining; returns the call that forgets it. */
  onDrain(f: () => void): () => void {
    this.drainWatchers.add(f);
    return () => this.drainWatchers.delete(f);
  }

  /** The core stopped accepting: tell every connection (a kept-alive one waits for its last request). */
  drain(): void {
    this.drained = true;
    for (const f of [...this.drainWatchers]) f();
    this.drainWatchers.clear();
  }

  private wakeIfIdle(): void {
    if (this.inflight.size > 0 || this.unserved > 0 || this.sockets.size > 0 || this.idleWaiters.length === 0) return;
    const w = this.idleWaiters;
    this.idleWaiters = [];
    for (const f of w) f();
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

  /** Resolves when no request is in flight, no WebSocket is open and every accepted connection has started a request or closed; or after `ms` (then with false). */
  idle(ms: number): Promise<boolean> {
    if (this.inflight.size === 0 && this.unserved === 0 && this.sockets.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      this.idleWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }
}
