/**
 * The router's wait for a worker. While the master says no worker is ready (they are starting,
 * the only one is being replaced, or they back off after crashes), requests wait here in the order
 * they came, as they wait in the workers' socket backlog behind uWSGI's router, and all go on
 * the moment a worker is ready. The router does not connect meanwhile: a connection would sit
 * in the internal socket's backlog (the master holds it listening) with the answer timer
 * running, and past the backlog's size connecting fails at once.
 *
 * Bounded: at most `max` requests wait (--listen, the backlog uWSGI's requests would wait in),
 * each holding only its head (its body is not read yet), and each at most `ms`
 * (--http-connect-timeout). Past either, admit() says why, for a 503.
 */

interface Waiter {
  admit(refusal: string | null): void;
}

export class WorkerGate {
  private ready = 0;
  /** In arrival order (a Set keeps insertion order). */
  private readonly waiting = new Set<Waiter>();
  private readonly max: number;
  private readonly ms: number;

  constructor(max: number, ms: number) {
    this.max = max;
    this.ms = ms;
  }

  /** The master's word: workers ready to answer. Above 0, every waiting request goes on, in order. */
  workers(ready: number): void {
    this.ready = ready;
    if (ready === 0) return;
    const all = [...this.waiting];
    this.waiting.clear();
    for (const w of all) w.admit(null);
  }

  /** May a request go to the workers now (a worker is ready)? */
  get open(): boolean {
    return this.ready > 0;
  }

  /**
   * null when the request may go to the workers now (no promise: the usual case costs nothing);
   * else a wait that resolves null when it may, or with why not (a 503).
   */
  admit(signal?: AbortSignal): Promise<string | null> | null {
    if (this.ready > 0) return null;
    if (signal?.aborted) return Promise.resolve('the client went away');
    if (this.waiting.size >= this.max) {
      return Promise.resolve(`${this.waiting.size} requests already wait for a worker to be ready (the queue holds --listen ${this.max})`);
    }
    return new Promise((resolve) => {
      const waiter: Waiter = {
        admit: (refusal) => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', left);
          this.waiting.delete(waiter);
          resolve(refusal);
        },
      };
      const left = () => waiter.admit('the client went away while waiting for a worker');
      const timer = setTimeout(
        () =>
          waiter.admit(
            `no worker was ready within --http-connect-timeout ${this.ms / 1000} s (they are starting, or their app fails to load: see the tsgi log)`,
          ),
        this.ms,
      );
      signal?.addEventListener('abort', left, { once: true });
      this.waiting.add(waiter);
    });
  }
}
