/**
 * One extra core (--threads) of a worker process: its own event loop and its own copy of the
 * app, accepting on the same inherited sockets, reporting to the worker's main thread.
 */
import { getRuntime } from '../../runtimes/detect.ts';
import { describeError, log, logTo } from '../log.ts';
import { startCore } from '../worker/server.ts';
import { isThreadCommand, type ThreadData, type ThreadMessage } from './protocol.ts';

const rt = await getRuntime();
const channel = rt.threadChannel();
if (!channel) throw new Error('src/master/thread.ts runs only as a thread');
const { state, core: id, appDir } = channel.data as ThreadData;
const send = (m: ThreadMessage) => channel.send(m);

try {
  if (state.serve.logto) logTo(state.serve.logto);
  const core = await startCore(rt, { serve: state.serve, appDir, cwd: state.cwd, sources: state.sockets, core: id, quiet: true, workerId: state.workerId });
  core.counters.onBusy = (req) => send({ t: 'busy', req });
  const beat = setInterval(() => send({ t: 'status', totals: core.counters.totals, oldest: core.counters.oldest() ?? null }), 500);
  channel.onMessage = (m) => {
    if (!isThreadCommand(m)) return;
    clearInterval(beat);
    void core.stop(state.master.workerReloadMercy * 1000).then((done) => {
      send({ t: 'status', totals: core.counters.totals, oldest: null });
      send({ t: 'stopped', done });
    });
  };
  send({ t: 'ready' });
} catch (e) {
  log(`tsgi worker ${state.workerId} core ${id}: ${describeError(e)}`);
  send({ t: 'failed', error: (e as Error).message });
}
