/**
 * A worker process under the master: load the app, accept on the inherited sockets, report to
 * the master, stop gracefully when told to (reload, recycle, stop) or when the master is gone.
 */
import type { Runtime } from '../../runtimes/types.ts';
import { describeError, log } from '../log.ts';
import { prepareProcess, startCore, type ServingCore } from '../worker/server.ts';
import { AppLoadError } from '../worker/app.ts';
import type { ChildState, MasterMessage, WorkerMessage } from './protocol.ts';

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
  let core: ServingCore;
  try {
    const appDir = prepareProcess(state.serve, state.cwd);
    const sources = state.sockets.map((s) => ({ spec: s.spec, fd: s.fd, display: s.display }));
    core = await startCore(rt, state.serve, appDir, state.cwd, sources, 0, true);
  } catch (e) {
    const msg = e instanceof AppLoadError ? e.message : describeError(e);
    log(`tsgi worker ${id} (pid: ${rt.pid}): ${msg}`);
    return rt.exit(EXIT_APP_FAILED);
  }
  const cores = [core];
  const m = state.master;

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
  const recycle = (reason: string) => {
    if (stopping) return;
    send({ t: 'recycle', reason });
    void stop(`${reason}: recycling`);
  };

  const status = () => {
    const busy = cores.flatMap((c) => {
      const o = c.counters.oldest();
      return o ? [o] : [];
    });
    return { t: 'status' as const, totals: cores.map((c) => c.counters.totals), busy, rss: rt.rss() };
  };
  const beat = setInterval(() => {
    const s = status();
    send(s);
    if (m.reloadOnRss > 0 && s.rss > m.reloadOnRss * 1024 * 1024) {
      recycle(`rss ${Math.round(s.rss / 1048576)} MiB above --reload-on-rss ${m.reloadOnRss}`);
    }
  }, 1000);

  for (const c of cores) {
    c.counters.onBusy = (req) => send({ t: 'busy', req });
    if (m.maxRequests > 0) {
      c.counters.onFinished = () => {
        const total = cores.reduce((n, k) => n + k.counters.totals.requests, 0);
        if (total >= m.maxRequests) recycle(`max-requests ${m.maxRequests} reached`);
      };
    }
  }

  channel.onMessage = (msg) => {
    if ((msg as MasterMessage).t === 'stop') void stop('');
  };
  channel.onDisconnect = () => void stop('the master is gone: stopping');
  rt.onSignal('SIGTERM', () => void stop('SIGTERM: stopping gracefully'));

  send({ t: 'ready', cores: cores.length, loadMs: Date.now() - started });
}
