/**
 * How the master stops: the listening sockets close, the router stops first (the requests it has
 * taken still need the workers), then the workers, gracefully (SIGTERM) or at once (SIGQUIT, a
 * second signal, --reload-mercy run out: SIGKILL); then it vacuums and exits, once.
 */
import { rmSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import type { ParentChannel, Runtime } from '../../runtimes/types.ts';
import { log } from '../log.ts';
import type { RouterSupervisor } from '../router/supervise.ts';
import { removeSocketFile } from '../worker/bind.ts';
import { ShutdownDelay } from './drain.ts';
import type { WorkerPool } from './pool.ts';
import type { ChildState, LauncherMessage } from './protocol.ts';

export class Shutdown {
  readonly #rt: Runtime;
  readonly #state: ChildState;
  /** Closes this process's copies of the listening sockets. */
  readonly #closeSockets: () => void;
  readonly #pool: WorkerPool;
  readonly #parent: ParentChannel | null;
  #router: RouterSupervisor | null = null;
  /** Closes the --stats server (loaded and started only with --stats). */
  #stats: (() => void) | null = null;
  #stopping = false;
  #finished = false;
  readonly #delay: ShutdownDelay;

  constructor(rt: Runtime, state: ChildState, closeSockets: () => void, pool: WorkerPool, parent: ParentChannel | null) {
    this.#rt = rt;
    this.#state = state;
    this.#closeSockets = closeSockets;
    this.#pool = pool;
    this.#parent = parent;
    this.#delay = new ShutdownDelay(state.master.shutdownDelay);
  }

  get stopping(): boolean {
    return this.#stopping;
  }

  /** From the first stop signal on, --shutdown-delay's wait included: not ready. */
  get draining(): boolean {
    return this.#stopping || this.#delay.draining;
  }

  /** The parts started after the signal handlers: a stop ends them too. */
  attach(parts: { router?: RouterSupervisor; stats?: () => void }): void {
    this.#router = parts.router ?? this.#router;
    this.#stats = parts.stats ?? this.#stats;
  }

  /** On a stop signal (or the launcher gone): the stop sequence; a second one cuts it short. */
  async stop(signal: string, graceful: boolean): Promise<void> {
    if (!this.#stopping && this.#delay.holds(signal, () => void this.stop(signal, true))) return;
    if (this.#stopping) return this.#now(signal);
    this.#stopping = true;
    this.#pool.stop();
    log(graceful ? `${signal}: stopping gracefully (workers finish their requests)` : `${signal}: stopping now`);
    // The listening sockets close once the workers close theirs: a connection that arrives later
    // is refused (a balancer tries the next host) instead of waiting in a queue nobody accepts
    // from, to be reset when the master exits.
    this.#closeSockets();
    await this.#endChildren(graceful);
    this.finish(0);
  }

  /**
   * The router first, then the workers (SIGTERM: ready ones finish their requests, starting ones
   * exit at once), all within --reload-mercy: then SIGKILL.
   */
  async #endChildren(graceful: boolean): Promise<void> {
    const mercy = this.#state.master.reloadMercy;
    const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), mercy * 1000));
    const routerGone = this.#router?.stop(graceful);
    if (graceful && routerGone) await Promise.race([routerGone, timeout]);
    const all = Promise.all([...this.#pool.running().map((w) => w.stop(graceful)), routerGone]);
    if ((await Promise.race([all, timeout])) !== 'timeout') return;
    log(`workers still running after --reload-mercy ${mercy} s: killing them`);
    this.#killAll();
    await all;
  }

  #now(signal: string): void {
    log(`${signal} again: stopping now`);
    this.#killAll();
    this.finish(1);
  }

  #killAll(): void {
    for (const w of this.#pool.running()) w.kill();
    void this.#router?.stop(false);
  }

  /** Vacuum and exit, once: a graceful stop cut short by a second signal must not report 0 after it. */
  finish(code: number): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#stats?.();
    this.#vacuum();
    log(`goodbye from the tsgi master (pid: ${this.#rt.pid})`);
    // Tell the launcher how we end (some runtimes misreport a signalled child's exit), and
    // give the message a moment to leave.
    this.#parent?.send({ t: 'exit', code } satisfies LauncherMessage);
    setTimeout(() => this.#rt.exit(code), this.#parent ? 50 : 0);
  }

  /** The router's private directory always; with --vacuum the UNIX sockets and the pidfile. */
  #vacuum(): void {
    const state = this.#state;
    if (state.router) rmSync(dirname(state.router.upstream), { recursive: true, force: true });
    if (!state.serve.vacuum) return;
    for (const s of state.sockets) if (s.unixPath) removeSocketFile(s.unixPath);
    if (!state.master.pidfile) return;
    try {
      unlinkSync(state.master.pidfile);
    } catch {
      // already gone
    }
  }
}
