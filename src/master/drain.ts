/**
 * --shutdown-delay: a SIGTERM first turns the host not ready (the stats server's /readyz answers
 * 503) while it keeps serving for the delay, so a balancer that polls readiness, or a Kubernetes
 * endpoint that is removed a moment after the signal, stops sending before the sockets close;
 * then the graceful stop begins as without the delay. A second SIGTERM or a SIGINT during the
 * wait ends it: the graceful stop begins at once (requests in flight still finish; one more
 * signal after that stops hard, as it does without the delay). SIGINT alone (a person at a
 * terminal) and SIGQUIT never wait.
 */
import { log } from '../log.ts';

export class ShutdownDelay {
  readonly #seconds: number;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #draining = false;

  constructor(seconds: number) {
    this.#seconds = seconds;
  }

  /** From the first SIGTERM until the process exits: report not ready. */
  get draining(): boolean {
    return this.#draining;
  }

  /**
   * A stop signal came. True: the stop waits, and `stop` is called when the delay is over. False:
   * stop now (no delay set, a signal that does not wait, the delay over, or cut short by this one).
   */
  holds(signal: string, stop: () => void): boolean {
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = null;
      log(`${signal} during --shutdown-delay: the wait is over`);
      return false;
    }
    if (this.#draining || this.#seconds <= 0 || signal !== 'SIGTERM') return false;
    this.#draining = true;
    log(`${signal}: not ready from now on; serving ${this.#seconds} s more (--shutdown-delay) before stopping gracefully`);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      stop();
    }, this.#seconds * 1000);
    return true;
  }
}
