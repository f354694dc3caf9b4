/**
 * A worker process under the master: load the app, accept on the inherited sockets, report to
 * the master, stop gracefully on SIGTERM (the master's reload, recycle, stop), when recycling, or
 * when the master is gone.
 */
import { phase } from '../phases.ts';
import type { ParentChannel, Runtime, Thread } from '../../runtimes/types.ts';
import { describeError, log } from '../log.ts';
import { prepareProcess, startCore, type ServingCore } from '../worker/server.ts';
import { AppLoadError } from '../worker/app.ts';
import { closeFd, foreignFds } from './fds.ts';
import { dropPrivileges } from '../privilege/drop.ts';
import {
  type BusyRequest,
  type ChildState,
  type CoreTotals,
  EXIT_APP_FAILED,
  emptyTotals,
  isThreadMessage,
  recycleHandsOver,
  type ThreadCommand,
  type ThreadData,
  type WorkerMessage,
} from './protocol.ts';

/** A core as the worker's main thread sees it: its own, or a thread's (from its reports). */
interface CoreView {
  totals(): CoreTotals;
  oldest(): BusyRequest | undefined;
  stop(mercyMs: number): Promise<boolean>;
}

function localCore(core: ServingCore): CoreView {
  return { totals: () => core.counters.totals, oldest: () => core.counters.oldest(), stop: (ms) => core.stop(ms) };
}

/** Core `id` as a thread: its app loads there; its reports arrive as messages. */
class ThreadCore implements CoreView {
  readonly #thread: Thread;
  readonly #onBusy: (req: BusyRequest) => void;
  #totals: CoreTotals = emptyTotals();
  #oldest: BusyRequest | undefined;
  #stopped: ((done: boolean) => void) | null = null;
  #up: { resolve: (core: CoreView) => void; reject: (e: Error) => void } | null = null;

  /** Start core `data.core` as a thread; resolves when its app is loaded and it accepts. */
  static start(rt: Runtime, data: ThreadData, onBusy: (req: BusyRequest) => void): Promise<CoreView> {
    return new Promise((resolve, reject) => {
      const core = new ThreadCore(rt.spawnThread(new URL('./thread.ts', import.meta.url).href, data), onBusy);
      core.#up = { resolve, reject };
      void core.#thread.exited.then((code) => reject(new Error(`core ${data.core} thread exited with code ${code}`)));
    });
  }

  private constructor(thread: Thread, onBusy: (req: BusyRequest) => void) {
    this.#thread = thread;
    this.#onBusy = onBusy;
    thread.onMessage = (m) => this.#onMessage(m);
  }

  totals(): CoreTotals {
    return this.#totals;
  }

  oldest(): BusyRequest | undefined {
    return this.#oldest;
  }

  /** Resolves with whether every request finished, or false a second after `mercyMs`. */
  stop(mercyMs: number): Promise<boolean> {
    return new Promise<boolean>((done) => {
      this.#stopped = done;
      this.#thread.send({ t: 'stop' } satisfies ThreadCommand);
      setTimeout(() => done(false), mercyMs + 1000);
    });
  }

  #onMessage(m: unknown): void {
    if (!isThreadMessage(m)) return;
    if (m.t === 'ready') this.#up?.resolve(this);
    else if (m.t === 'failed') this.#up?.reject(new Error(m.error));
    else if (m.t === 'status') {
      this.#totals = m.totals;
      this.#oldest = m.oldest ?? undefined;
    } else if (m.t === 'busy') {
      this.#oldest = this.#oldest && this.#oldest.since < m.req.since ? this.#oldest : m.req;
      this.#onBusy(m.req);
    } else this.#stopped?.(m.done);
  }
}

export async function runWorker(rt: Runtime, state: ChildState): Promise<void> {
  phase(`worker ${state.workerId ?? 0}: modules imported`);
  const channel = rt.parentChannel(state.parent);
  if (!channel) {
    log(`tsgi worker ${state.workerId ?? 0}: started without a master channel; exiting`);
    return rt.exit(1);
  }
  for (const fd of foreignFds(state, 'worker')) closeFd(fd);
  // Ctrl-C and the like are the master's business: it stops us with SIGTERM (or SIGKILL).
  rt.onSignal('SIGINT', () => {});
  rt.onSignal('SIGHUP', () => {});
  const worker = new WorkerProcess(rt, state, channel);
  // From the start: a worker told to stop while its app loads exits at once.
  rt.onSignal('SIGTERM', () => void worker.stop('SIGTERM: stopping gracefully'));
  channel.onDisconnect = () => void worker.stop('the master is gone: stopping');
  await worker.start();
}

/** A worker's cores, its reports to the master, and its stop (which may come before it is ready). */
class WorkerProcess {
  readonly #rt: Runtime;
  readonly #state: ChildState;
  readonly #channel: ParentChannel;
  readonly #id: number;
  /** Every core accepting so far (a thread's once it said ready), to stop them all. */
  readonly #up = new Set<CoreView>();
  /** All the cores in order, once the worker is ready (for its reports). */
  #cores: CoreView[] = [];
  #main: ServingCore | null = null;
  /** The stops under way: a core that becomes ready while the worker stops is stopped too. */
  readonly #stops: Promise<boolean>[] = [];
  #stopping = false;
  #recycling = false;
  #beat: ReturnType<typeof setInterval> | undefined;

  constructor(rt: Runtime, state: ChildState, channel: ParentChannel) {
    this.#rt = rt;
    this.#state = state;
    this.#channel = channel;
    this.#id = state.workerId ?? 0;
  }

  /** Load the app on every core, then report ready (unless told to stop meanwhile). */
  async start(): Promise<void> {
    const started = Date.now();
    const state = this.#state;
    const busy = (req: BusyRequest) => this.#send({ t: 'busy', req });
    try {
      dropPrivileges(this.#rt, state.master.identity, `tsgi worker ${this.#id}`);
      const appDir = prepareProcess(state.serve, state.cwd);
      const main = await startCore(this.#rt, { serve: state.serve, appDir, cwd: state.cwd, sources: state.sockets, core: 0, quiet: true, workerId: this.#id });
      main.counters.onBusy = busy;
      this.#main = main;
      const first = this.#add(localCore(main));
      const threads = Array.from({ length: state.master.threads - 1 }, (_, i) =>
        ThreadCore.start(this.#rt, { state, core: i + 1, appDir }, busy).then((c) => this.#add(c)),
      );
      this.#cores = [first, ...(await Promise.all(threads))];
      phase(`worker ${this.#id}: app loaded, accepting`);
    } catch (e) {
      if (this.#stopping) return; // a core failing while the worker stops: the stop goes on
      const msg = e instanceof AppLoadError ? e.message : describeError(e);
      log(`tsgi worker ${this.#id} (pid: ${this.#rt.pid}): ${msg}`);
      return this.#rt.exit(EXIT_APP_FAILED);
    }
    if (this.#stopping) return;
    this.#serve(started);
  }

  /** Stop accepting, let every core finish its requests (up to --worker-reload-mercy), exit. */
  async stop(why: string): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    clearInterval(this.#beat);
    log(`tsgi worker ${this.#id} (pid: ${this.#rt.pid}): ${why}`);
    for (const core of this.#up) this.#stops.push(core.stop(this.#mercyMs()));
    const done: boolean[] = [];
    while (done.length < this.#stops.length) done.push(...(await Promise.all(this.#stops.slice(done.length))));
    if (done.includes(false)) {
      log(`tsgi worker ${this.#id} (pid: ${this.#rt.pid}): requests still running after ${this.#state.master.workerReloadMercy} s: exiting anyway`);
    }
    if (this.#cores.length === 0) return this.#rt.exit(0);
    // The last report: the requests of its last second count in the slot's totals (stats after a reload).
    this.#send(this.#status());
    setTimeout(() => this.#rt.exit(0), 50);
  }

  #mercyMs(): number {
    return this.#state.master.workerReloadMercy * 1000;
  }

  #add(core: CoreView): CoreView {
    this.#up.add(core);
    if (this.#stopping) this.#stops.push(core.stop(this.#mercyMs()));
    return core;
  }

  /** Ready: report to the master each second, recycle on --max-requests and --reload-on-rss. */
  #serve(started: number): void {
    const m = this.#state.master;
    this.#beat = setInterval(() => this.#heartbeat(), 1000);
    // The main core's count is known at once; threads' counts arrive with their reports.
    if (m.maxRequests > 0 && this.#main) {
      this.#main.counters.onFinished = () => {
        if (this.#totalRequests() >= m.maxRequests) this.#recycle(`max-requests ${m.maxRequests} reached`);
      };
    }
    this.#send({ t: 'ready', cores: this.#cores.length, loadMs: Date.now() - started });
  }

  #heartbeat(): void {
    const m = this.#state.master;
    const s = this.#status();
    this.#send(s);
    if (m.reloadOnRss > 0 && s.rss > m.reloadOnRss * 1024 * 1024) {
      this.#recycle(`rss ${Math.round(s.rss / 1048576)} MiB above --reload-on-rss ${m.reloadOnRss}`);
    }
    if (m.maxRequests > 0 && this.#totalRequests() >= m.maxRequests) this.#recycle(`max-requests ${m.maxRequests} reached`);
  }

  #recycle(reason: string): void {
    if (this.#stopping || this.#recycling) return;
    this.#recycling = true;
    this.#send({ t: 'recycle', reason });
    // With --reuse-port it serves on until the master stops it, once a replacement is ready.
    if (recycleHandsOver(this.#state)) log(`tsgi worker ${this.#id} (pid: ${this.#rt.pid}): ${reason}: recycling once a replacement is ready`);
    else void this.stop(`${reason}: recycling`);
  }

  #totalRequests(): number {
    return this.#cores.reduce((n, c) => n + c.totals().requests, 0);
  }

  #status(): Extract<WorkerMessage, { t: 'status' }> {
    const busy = this.#cores.flatMap((c) => {
      const o = c.oldest();
      return o ? [o] : [];
    });
    return { t: 'status', totals: this.#cores.map((c) => c.totals()), busy, rss: this.#rt.rss() };
  }

  #send(m: WorkerMessage): void {
    this.#channel.send(m);
  }
}
