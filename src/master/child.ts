/**
 * A child process the master supervises (a worker, the router): when it started, when it became
 * ready, whether it still runs, and how it is stopped. The master never stops a child with a
 * message (one sent before the child listens is lost): SIGTERM asks it to finish its requests (one
 * still starting exits at once), SIGKILL ends it.
 */
import type { Child } from '../../runtimes/types.ts';

export type ExitStatus = { code: number | null; signal: string | null };

/** How a child ended, for log lines. */
export function describeExit(how: ExitStatus): string {
  return how.signal ? `killed by ${how.signal}` : `exit code ${how.code}`;
}

export class Supervised {
  readonly child: Child;
  readonly pid: number;
  readonly spawnedAt = Date.now();
  /** When it said it is ready (null while it starts). */
  readyAt: number | null = null;
  #running = true;

  constructor(child: Child) {
    this.child = child;
    this.pid = child.pid;
    void child.exited.then(() => (this.#running = false));
  }

  get running(): boolean {
    return this.#running;
  }

  /** Stop it, gracefully (SIGTERM) or now (SIGKILL). Resolves when it has exited. */
  async stop(graceful: boolean): Promise<void> {
    this.child.kill(graceful ? 'SIGTERM' : 'SIGKILL');
    await this.child.exited;
  }

  kill(): void {
    this.child.kill('SIGKILL');
  }

  /** SIGTERM now; SIGKILL if it still runs after `mercySecs` (`overdue` runs first, to say so). */
  terminate(mercySecs: number, overdue: () => void): void {
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => {
      if (!this.#running) return;
      overdue();
      this.kill();
    }, mercySecs * 1000);
    void this.child.exited.then(() => clearTimeout(timer));
  }
}
