/**
 * The router's idle connections to the workers' internal socket, kept for the next request
 * (src/worker/internal.ts answers on them in turn). At most `max` wait; the most recently used
 * goes first. One idle for `idleMs` is closed by the router, before the worker's --socket-timeout
 * would close it under a request being sent. One the worker closes meanwhile (it stops for a
 * reload, or died) leaves the pool as soon as the close is seen; a request that meets such a
 * close before any answer is sent again on a fresh connection (src/router/proxy.ts).
 */
import type { Conn } from '../../runtimes/types.ts';

interface Idle {
  conn: Conn;
  /** When it came back (Date.now()). */
  since: number;
}

export class UpstreamPool {
  readonly #open: () => Promise<Conn>;
  readonly #max: number;
  readonly #idleMs: number;
  /** Oldest first. */
  readonly #idle: Idle[] = [];
  #sweep: ReturnType<typeof setTimeout> | undefined;
  #closed = false;

  constructor(open: () => Promise<Conn>, max: number, idleMs: number) {
    this.#open = open;
    this.#max = max;
    this.#idleMs = idleMs;
  }

  /** An idle connection, the most recently used; null if none waits. */
  take(): Conn | null {
    const idle = this.#idle.pop();
    return idle === undefined ? null : idle.conn;
  }

  /** A new connection to the workers. */
  open(): Promise<Conn> {
    return this.#open();
  }

  /** A connection whose exchange is over and that the worker keeps: kept for the next request, or closed past the bound. */
  give(conn: Conn): void {
    if (this.#closed || this.#idle.length >= this.#max) return conn.end();
    const idle: Idle = { conn, since: Date.now() };
    // Nothing is expected from an idle connection: bytes or a close make it useless.
    conn.onData = () => this.#drop(idle);
    conn.onEnd = () => this.#drop(idle);
    conn.onClose = () => this.#forget(idle);
    conn.resume();
    this.#idle.push(idle);
    this.#sweep ??= setTimeout(() => this.#expire(), this.#idleMs);
  }

  /** The router stops: close the idle connections, keep none from now on. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#sweep);
    for (const idle of this.#idle.splice(0)) idle.conn.end();
  }

  #drop(idle: Idle): void {
    this.#forget(idle);
    idle.conn.destroy();
  }

  #forget(idle: Idle): void {
    const i = this.#idle.indexOf(idle);
    if (i !== -1) this.#idle.splice(i, 1);
  }

  /** Close those idle for idleMs (the oldest are first), and look again while any are left. */
  #expire(): void {
    this.#sweep = undefined;
    const limit = Date.now() - this.#idleMs;
    let n = 0;
    while (n < this.#idle.length && this.#idle[n].since <= limit) n++;
    for (const idle of this.#idle.splice(0, n)) idle.conn.end();
    if (this.#idle.length > 0) this.#sweep = setTimeout(() => this.#expire(), this.#idleMs);
  }
}
