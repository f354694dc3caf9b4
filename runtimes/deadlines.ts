/**
 * One timer for many equally long waits of connections, instead of one per connection: the head
 * timeouts (--socket-timeout) of a socket's connections, and the linger of connections closed
 * from tsgi's side (LINGER_MS, runtimes/linger.ts). A timer set and cleared for each connection
 * cost 3–4 % of a Deno uwsgi worker's samples (Deno's node-compatible timers: ≈ 2.5–3.4 CPU µs a
 * pair, Node 0.5–1.5, Bun 0.2–1). All waits of one Deadlines are equally long, so the order they
 * were added in is the order they expire in; the timer is set for the first one only. It stays
 * set when the last wait is removed, and then finds nothing when it fires (it is unref'd: it
 * holds no process up): clearing it whenever nothing waited, and setting a new one for the next
 * connection, was once per connection under load (the set empties each time a head comes in).
 * Runtime-neutral (global timers only): the core and the adapters share it.
 */
export interface Expiring {
  /** The wait is over and the connection is still waiting. */
  expire(): void;
}

export class Deadlines {
  static readonly #byLength = new Map<number, Deadlines>();

  /** The shared Deadlines of waits `ms` long. */
  static of(ms: number): Deadlines {
    let d = Deadlines.#byLength.get(ms);
    if (d === undefined) Deadlines.#byLength.set(ms, (d = new Deadlines(ms)));
    return d;
  }

  readonly #ms: number;
  /** Waiting connections and when each wait ends, in that order. */
  readonly #waiting = new Map<Expiring, number>();
  #timer: ReturnType<typeof setTimeout> | null = null;

  constructor(ms: number) {
    this.#ms = ms;
  }

  /** Call `c.expire()` in `ms` unless `c` is removed before. */
  add(c: Expiring): void {
    this.#waiting.set(c, performance.now() + this.#ms);
    if (this.#timer === null) this.#arm(this.#ms);
  }

  remove(c: Expiring): void {
    this.#waiting.delete(c);
  }

  #arm(ms: number): void {
    const timer = setTimeout(() => this.#sweep(), ms);
    timer.unref?.();
    this.#timer = timer;
  }

  #sweep(): void {
    this.#timer = null;
    const now = performance.now();
    for (const [c, at] of this.#waiting) {
      if (at > now) return this.#arm(at - now);
      this.#waiting.delete(c);
      c.expire();
    }
  }
}
