/**
 * The master's side of the --http router: spawn it, respawn it when it dies (with the workers'
 * back-off), tell it how many workers are ready, stop it with the rest.
 */
import type { Child, Runtime } from '../../runtimes/types.ts';
import { log } from '../log.ts';
import { type ChildState, isRouterReport, type RouterMessage, STATE_ENV } from '../master/protocol.ts';
import { Respawn } from '../master/respawn.ts';

export class RouterSupervisor {
  readonly #rt: Runtime;
  readonly #env: Record<string, string>;
  readonly #entry: string;
  readonly #fds: number[];
  readonly #onReady: () => void;
  readonly #respawn = new Respawn();
  #child: Child | null = null;
  #ready = false;
  #readyWorkers = 0;
  #stopping = false;

  /** `onReady` runs each time the router is up and accepting (after a respawn too). */
  constructor(rt: Runtime, state: ChildState, entry: string, fds: number[], onReady: () => void) {
    this.#rt = rt;
    this.#env = { ...(process.env as Record<string, string>), [STATE_ENV]: JSON.stringify({ ...state, role: 'router' } satisfies ChildState) };
    this.#entry = entry;
    this.#fds = fds;
    this.#onReady = onReady;
  }

  start(): void {
    if (this.#stopping) return;
    const c = this.#rt.spawnSelf({ args: [this.#entry], env: this.#env, fds: this.#fds, ipc: true });
    this.#child = c;
    this.#ready = false;
    log(`spawned tsgi http router (pid: ${c.pid})`);
    c.onMessage = (m) => this.#onMessage(c, m);
    void c.exited.then((how) => this.#onExit(c, how));
  }

  /** The router is up and accepting. */
  ready(): boolean {
    return this.#ready;
  }

  /** Workers ready to answer, told to the router now and after every respawn. */
  workers(ready: number): void {
    this.#readyWorkers = ready;
    if (this.#child && this.#ready) this.#send(this.#child, { t: 'workers', ready });
  }

  /**
   * Stop it, gracefully (SIGTERM: it finishes its requests; one still starting exits at once) or
   * now (SIGKILL), and respawn it no more. Resolves when it has exited.
   */
  async stop(graceful: boolean): Promise<void> {
    this.#stopping = true;
    this.#respawn.cancel();
    const c = this.#child;
    if (!c) return;
    c.kill(graceful ? 'SIGTERM' : 'SIGKILL');
    await c.exited;
  }

  #send(c: Child, m: RouterMessage): void {
    c.send(m);
  }

  #onMessage(c: Child, m: unknown): void {
    if (c !== this.#child || this.#stopping || !isRouterReport(m)) return;
    this.#respawn.ready();
    this.#ready = true;
    this.#send(c, { t: 'workers', ready: this.#readyWorkers });
    log(`tsgi http router (pid: ${c.pid}) ready`);
    this.#onReady();
  }

  #onExit(c: Child, how: { code: number | null; signal: string | null }): void {
    if (this.#child !== c) return;
    const early = !this.#ready;
    this.#child = null;
    this.#ready = false;
    if (this.#stopping) return;
    const secs = this.#respawn.died(early);
    log(
      `DAMN ! tsgi http router (pid: ${c.pid}) died: ${how.signal ? `killed by ${how.signal}` : `exit code ${how.code}`}; respawning${secs ? ` in ${secs} s` : ''}`,
    );
    this.#respawn.after(secs, () => this.start());
  }
}
