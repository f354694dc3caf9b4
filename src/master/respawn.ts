/**
 * When to start a child again after it died, for the workers' slots and the router alike: at
 * once, or, when it keeps dying before it is ready, after 1, 2, 4 … 30 s. A pending start is
 * cancelled by a stop, and replaced by a reload's start.
 */
export class Respawn {
  #failures = 0;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #start: (() => void) | null = null;

  /** The child became ready: the next death respawns at once. */
  ready(): void {
    this.#failures = 0;
  }

  /** A child died (`early`: before it was ready). Returns the pause before the next start, in seconds. */
  died(early: boolean): number {
    if (early) this.#failures++;
    return this.#failures <= 1 ? 0 : Math.min(30, 2 ** (this.#failures - 2));
  }

  /** A child died (`early`: before it was ready): `tell` the pause (seconds), then `start` after it. */
  restart(early: boolean, tell: (secs: number) => void, start: () => void): void {
    const secs = this.died(early);
    tell(secs);
    this.after(secs, start);
  }

  /** Deaths before readiness in a row. */
  get failures(): number {
    return this.#failures;
  }

  /** Run `start` after `secs` (at once for 0), replacing a start already pending. */
  after(secs: number, start: () => void): void {
    this.cancel();
    if (secs <= 0) return start();
    this.#start = start;
    this.#timer = setTimeout(() => this.#fire(), secs * 1000);
  }

  #fire(): void {
    const start = this.#start;
    this.cancel();
    start?.();
  }

  /** Forget the pending start (if any). */
  cancel(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#start = null;
  }
}
