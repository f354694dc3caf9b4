/**
 * The master's side of the --http router: spawn it, respawn it when it dies (with the workers'
 * back-off), tell it how many workers are ready, stop it with the rest.
 */
import type { Child } from '../../runtimes/types.ts';
import { log } from '../log.ts';
import { describeExit, type ExitStatus, Supervised } from '../master/child.ts';
import { isRouterReport, type RouterMessage } from '../master/protocol.ts';
import { Respawn } from '../master/respawn.ts';

export class RouterSupervisor {
  readonly #spawn: () => Child;
  readonly #onReady: () => void;
  readonly #respawn = new Respawn();
  #router: Supervised | null = null;
  #readyWorkers = 0;
  #stopping = false;

  /** `spawn` starts a router process; `onReady` runs each time the router is up and accepting (after a respawn too). */
  constructor(spawn: () => Child, onReady: () => void) {
    this.#spawn = spawn;
    this.#onReady = onReady;
  }

  start(): void {
    if (this.#stopping) return;
    const r = new Supervised(this.#spawn());
    this.#router = r;
    log(`spawned tsgi http router (pid: ${r.pid})`);
    r.child.onMessage = (m) => this.#onMessage(r, m);
    void r.child.exited.then((how) => this.#onExit(r, how));
  }

  /** The router is up and accepting. */
  ready(): boolean {
    return this.#router?.readyAt != null;
  }

  /** Workers ready to answer, told to the router now and after every respawn. */
  workers(ready: number): void {
    this.#readyWorkers = ready;
    if (this.#router?.readyAt) this.#send(this.#router, { t: 'workers', ready });
  }

  /** Pass a signal on to the router (SIGHUP: it reopens its log and reads its certificates again). */
  signal(sig: 'SIGHUP'): void {
    this.#router?.child.kill(sig);
  }

  /**
   * Stop it, gracefully (SIGTERM: it finishes its requests; one still starting exits at once) or
   * now (SIGKILL), and respawn it no more. Resolves when it has exited.
   */
  async stop(graceful: boolean): Promise<void> {
    this.#stopping = true;
    this.#respawn.cancel();
    await this.#router?.stop(graceful);
  }

  #send(r: Supervised, m: RouterMessage): void {
    r.child.send(m);
  }

  #onMessage(r: Supervised, m: unknown): void {
    if (r !== this.#router || this.#stopping || !isRouterReport(m)) return;
    this.#respawn.ready();
    r.readyAt = Date.now();
    this.#send(r, { t: 'workers', ready: this.#readyWorkers });
    log(`tsgi http router (pid: ${r.pid}) ready`);
    this.#onReady();
  }

  #onExit(r: Supervised, how: ExitStatus): void {
    if (this.#router !== r) return;
    this.#router = null;
    if (this.#stopping) return;
    const tell = (secs: number) => log(`DAMN ! tsgi http router (pid: ${r.pid}) died: ${describeExit(how)}; respawning${secs ? ` in ${secs} s` : ''}`);
    this.#respawn.restart(r.readyAt === null, tell, () => this.start());
  }
}
