/**
 * The master: holds the listening sockets as bare fds (it never accepts on them), and composes its
 * parts: the workers (src/master/pool.ts: spawn, respawn, reload, recycle, harakiri), the --http
 * router's supervisor, the --stats server, --touch-reload, the signals and the stop sequence
 * (src/master/shutdown.ts). The workers are on the path to the first answer: this module loads
 * what spawning them needs, and the other parts when they are configured (the stats server
 * still before the workers, so that a bad --stats address stops tsgi at once).
 */
import { phase } from '../phases.ts';
import { writeFileSync } from 'node:fs';
import type { ParentChannel, Runtime } from '../../runtimes/types.ts';
import { log } from '../log.ts';
import type { RouterSupervisor } from '../router/supervise.ts';
import type { health } from '../stats/health.ts';
import { WorkerPool } from './pool.ts';
import { type ChildState, type LauncherMessage, recycleHandsOver } from './protocol.ts';
import { Shutdown } from './shutdown.ts';
import { handleMasterSignals } from './signals.ts';
import { ChildSpawner } from './spawn.ts';
import { closeFd } from './fds.ts';
import { dropPrivileges } from '../privilege/drop.ts';

/** A master that bound its sockets itself (no launcher): how it closes them, and what it calls once it handles signals. */
export interface SelfBound {
  close(): void;
  handling(): void;
}

export async function runMaster(rt: Runtime, state: ChildState, self?: SelfBound): Promise<void> {
  await new Master(rt, state, self).run();
}

class Master {
  readonly #rt: Runtime;
  readonly #state: ChildState;
  readonly #parent: ParentChannel | null;
  readonly #spawner: ChildSpawner;
  readonly #pool: WorkerPool;
  readonly #shutdown: Shutdown;
  #router: RouterSupervisor | null = null;
  #announced = false;

  readonly #self: SelfBound | undefined;

  constructor(rt: Runtime, state: ChildState, self?: SelfBound) {
    this.#self = self;
    this.#rt = rt;
    this.#state = state;
    this.#parent = rt.parentChannel(state.parent);
    this.#spawner = new ChildSpawner(rt, state, process.argv[1]);
    this.#pool = new WorkerPool(state.master, recycleHandsOver(state), (id) => this.#spawner.worker(id), {
      ready: () => this.#workerReady(),
      gone: () => this.#tellRouter(),
      reloaded: () => this.#tell({ t: 'reloaded' }),
    });
    const fds = this.#spawner.fds;
    const close = self ? () => self.close() : () => fds.forEach(closeFd);
    this.#shutdown = new Shutdown(rt, state, close, this.#pool, this.#parent);
  }

  async run(): Promise<void> {
    phase('master: modules imported');
    const m = this.#state.master;
    if (m.pidfile) writeFileSync(m.pidfile, `${this.#rt.pid}\n`);
    log(`tsgi master (pid: ${this.#rt.pid}) on ${this.#rt.name} ${this.#rt.version}: ${m.processes} worker(s) × ${m.threads} core(s)`);
    this.#handleSignals();
    this.#tell({ t: 'started' });
    this.#self?.handling();
    // The stats server is bound before any worker starts, so a bad address stops tsgi at once.
    if (!(await this.#startStats()) || this.#shutdown.stopping) return; // a signal came while it was starting
    // Every socket is bound (the stats one last) and the pidfile written: the router and the
    // workers start as the user.
    if (!this.#drop()) return;
    this.#pool.start();
    phase('master: workers spawned');
    await this.#startRouter();
    setInterval(() => this.#pool.harakiri(), 250);
    if (m.touchReload.length > 0) {
      const { TouchReload } = await import('./touch.ts');
      new TouchReload(m.touchReload, this.#state.cwd, (why) => this.#pool.reload(why));
    }
  }

  #handleSignals(): void {
    const stop = (signal: string, graceful: boolean) => void this.#shutdown.stop(signal, graceful);
    // The router is not replaced by a reload: a SIGHUP reaches it to read its certificates again.
    const reload = (why: string) => {
      this.#pool.reload(why);
      this.#router?.signal('SIGHUP');
    };
    const logStats = () => void import('./snapshot.ts').then((s) => s.logStats(this.#pool.slots));
    handleMasterSignals(this.#rt, { stop, reload, logStats });
    if (this.#parent) this.#parent.onDisconnect = () => stop('the launcher is gone', true);
  }

  /** --uid, --gid: false when the system refused (the master has finished then). */
  #drop(): boolean {
    try {
      dropPrivileges(this.#rt, this.#state.master.identity, 'tsgi master');
      if (this.#state.master.identity) this.#tell({ t: 'dropped' });
      return true;
    } catch (e) {
      log(`tsgi: ${(e as Error).message}`);
      this.#shutdown.finish(1);
      return false;
    }
  }

  /** --stats: false when its address cannot be bound (the master has finished then). */
  async #startStats(): Promise<boolean> {
    const stats = this.#state.master.stats;
    if (!stats) return true;
    try {
      const [{ startStatsServer, stopStatsServer }, { statsSnapshot }, { health: check }] = await Promise.all([
        import('../stats/server.ts'),
        import('./snapshot.ts'),
        import('../stats/health.ts'),
      ]);
      const snapshot = () => statsSnapshot(this.#rt, this.#state, this.#pool.slots);
      const readiness = () => this.#readiness(check);
      const server = await startStatsServer(this.#rt, stats, this.#state.cwd, snapshot, readiness);
      this.#shutdown.attach({ stats: () => stopStatsServer(server) });
      return true;
    } catch (e) {
      log(`tsgi: --stats ${stats.address}: ${(e as Error).message}`);
      this.#shutdown.finish(1);
      return false;
    }
  }

  /** What /readyz and `tsgi check` answer: ready once every worker started, not from the first stop signal. */
  #readiness(check: typeof health) {
    const m = this.#state.master;
    return check({ started: this.#announced, stopping: this.#shutdown.draining, serving: this.#pool.serving(), workers: m.processes });
  }

  /** --http: the router starts with the workers (it serves once one of them is ready). */
  async #startRouter(): Promise<void> {
    if (!this.#state.router) return;
    const { RouterSupervisor } = await import('../router/supervise.ts');
    if (this.#shutdown.stopping) return; // a stop signal came while it loaded
    this.#router = new RouterSupervisor(
      () => this.#spawner.router(),
      () => this.#announce(),
    );
    this.#shutdown.attach({ router: this.#router });
    this.#router.start();
  }

  /** A worker became ready. */
  #workerReady(): void {
    this.#announce();
    this.#tellRouter();
  }

  /** Once every worker (and the router) is up: the line scripts and tests wait for. */
  #announce(): void {
    // With --http, the router too (its supervisor may still be loading when a worker is ready).
    const routerUp = !this.#state.router || this.#router?.ready() === true;
    if (this.#announced || !this.#pool.ready() || !routerUp) return;
    this.#announced = true;
    this.#tell({ t: 'ready' });
    const rt = this.#rt;
    const m = this.#state.master;
    log(`tsgi is ready: master pid ${rt.pid}, ${m.processes} worker(s) × ${m.threads} core(s)${this.#router ? ', http router' : ''}, ${rt.name} ${rt.version}`);
  }

  #tellRouter(): void {
    this.#router?.workers(this.#pool.serving());
  }

  #tell(msg: LauncherMessage): void {
    this.#parent?.send(msg);
  }
}
