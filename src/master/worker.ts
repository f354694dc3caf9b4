/**
 * A worker process under the master: load the app, accept on the inherited sockets, report to
 * the master, stop gracefully when told to (reload, recycle, stop) or when the master is gone.
 */
import type { Runtime } from '../../runtimes/types.ts';
import { describeError, log } from '../log.ts';
import { prepareProcess, startCore, type ServingCore } from '../worker/server.ts';
import { AppLoadError } from '../worker/app.ts';
import { type BusyRequest, type ChildState, type CoreTotals, emptyTotals, type MasterMessage, recycleHandsOver, type WorkerMessage } from './protocol.ts';
import type { ThreadData, ThreadMessage } from './thread.ts';

/** A core as the worker's main thread sees it: its own, or a thread's (from its reports). */
interface CoreView {
  totals(): CoreTotals;
  oldest(): BusyRequest | undefined;
  stop(mercyMs: number): Promise<boolean>;
}

function localCore(core: ServingCore): CoreView {
  return { totals: () => core.counters.totals, oldest: () => core.counters.oldest(), stop: (ms) => core.stop(ms) };
}

/** Start core `id` as a thread; resolves when its app is loaded and it accepts. */
function threadCore(rt: Runtime, data: ThreadData, onBusy: (req: BusyRequest) => void): Promise<CoreView> {
  const thread = rt.spawnThread(new URL('./thread.ts', import.meta.url).href, data);
  let totals: CoreTotals = emptyTotals();
  let oldest: BusyRequest | undefined;
  let stopped: ((done: boolean) => void) | null = null;
  return new Promise((resolve, reject) => {
    thread.onMessage = (raw) => {
      const m = raw as ThreadMessage;
      switch (m.t) {
        case 'ready':
          resolve({
            totals: () => totals,
            oldest: () => oldest,
            stop: (ms) =>
              new Promise<boolean>((done) => {
                stopped = done;
                thread.send({ t: 'stop' });
                setTimeout(() => done(false), ms + 1000);
              }),
          });
          break;
        case 'failed':
          reject(new Error(m.error));
          break;
        case 'status':
          totals = m.totals;
          oldest = m.oldest ?? undefined;
          break;
        case 'busy':
          oldest = oldest && oldest.since < m.req.since ? oldest : m.req;
          onBusy(m.req);
          break;
        case 'stopped':
          stopped?.(m.done);
          break;
      }
    };
    void thread.exited.then((code) => reject(new Error(`core ${data.core} thread exited with code ${code}`)));
  });
}

/** Exit code of a worker whose app could not be loaded (the master backs off on repeats). */
export const EXIT_APP_FAILED = 22;

export async function runWorker(rt: Runtime, state: ChildState): Promise<void> {
  const id = state.workerId ?? 0;
  const channel = rt.parentChannel();
  if (!channel) {
    log(`tsgi worker ${id}: started without a master channel; exiting`);
    return rt.exit(1);
  }
  const send = (m: WorkerMessage) => channel.send(m);
  // Ctrl-C and the like are the master's business: it tells us when to stop.
  rt.onSignal('SIGINT', () => {});
  rt.onSignal('SIGHUP', () => {});

  const started = Date.now();
  const m = state.master;
  const busy = (req: BusyRequest) => send({ t: 'busy', req });
  let cores: CoreView[];
  let main: ServingCore;
  try {
    const appDir = prepareProcess(state.serve, state.cwd);
    main = await startCore(rt, state.serve, appDir, state.cwd, state.sockets, 0, true, id);
    main.counters.onBusy = busy;
    const threads = await Promise.all(
      Array.from({ length: m.threads - 1 }, (_, i) => threadCore(rt, { state, core: i + 1, appDir }, busy)),
    );
    cores = [localCore(main), ...threads];
  } catch (e) {
    const msg = e instanceof AppLoadError ? e.message : describeError(e);
    log(`tsgi worker ${id} (pid: ${rt.pid}): ${msg}`);
    return rt.exit(EXIT_APP_FAILED);
  }

  let stopping = false;
  const stop = async (why: string) => {
    if (stopping) return;
    stopping = true;
    clearInterval(beat);
    if (why) log(`tsgi worker ${id} (pid: ${rt.pid}): ${why}`);
    const done = await Promise.all(cores.map((c) => c.stop(m.workerReloadMercy * 1000)));
    if (done.includes(false)) log(`tsgi worker ${id} (pid: ${rt.pid}): requests still running after ${m.workerReloadMercy} s: exiting anyway`);
    rt.exit(0);
  };
  let recycling = false;
  const recycle = (reason: string) => {
    if (stopping || recycling) return;
    recycling = true;
    send({ t: 'recycle', reason });
    if (recycleHandsOver(state)) log(`tsgi worker ${id} (pid: ${rt.pid}): ${reason}: recycling once a replacement is ready`);
    else void stop(`${reason}: recycling`);
  };

  const totalRequests = () => cores.reduce((n, c) => n + c.totals().requests, 0);
  const status = () => {
    const inflight = cores.flatMap((c) => {
      const o = c.oldest();
      return o ? [o] : [];
    });
    return { t: 'status' as const, totals: cores.map((c) => c.totals()), busy: inflight, rss: rt.rss() };
  };
  const beat = setInterval(() => {
    const s = status();
    send(s);
    if (m.reloadOnRss > 0 && s.rss > m.reloadOnRss * 1024 * 1024) {
      recycle(`rss ${Math.round(s.rss / 1048576)} MiB above --reload-on-rss ${m.reloadOnRss}`);
    }
    if (m.maxRequests > 0 && totalRequests() >= m.maxRequests) recycle(`max-requests ${m.maxRequests} reached`);
  }, 1000);
  // The main core's count is known at once; threads' counts arrive with their reports.
  if (m.maxRequests > 0) {
    main.counters.onFinished = () => {
      if (totalRequests() >= m.maxRequests) recycle(`max-requests ${m.maxRequests} reached`);
    };
  }

  channel.onMessage = (msg) => {
    if ((msg as MasterMessage).t === 'stop') void stop('');
  };
  channel.onDisconnect = () => void stop('the master is gone: stopping');
  rt.onSignal('SIGTERM', () => void stop('SIGTERM: stopping gracefully'));

  send({ t: 'ready', cores: cores.length, loadMs: Date.now() - started });
}
