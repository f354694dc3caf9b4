/**
 * The tsgi command: the user's command (src/command.ts: read the configuration, then serve — as
 * one process, or as a launcher, master and workers with --master), or one of tsgi's children
 * (master, workers, router), which come back here with their state in TSGI_STATE.
 */
import { getRuntime } from '../runtimes/detect.ts';
import type { Runtime } from '../runtimes/types.ts';
import { describeError, log, logTo } from './log.ts';
import { type ChildState, STATE_ENV } from './master/protocol.ts';
import { now, phase } from './phases.ts';

// Each role loads its own modules when it starts (docs/ARCHITECTURE.md, "What each process
// loads"): the launcher and the master hold no serving core, no codec and no router, and no
// child loads the configuration reader.

export async function main(argv: string[]): Promise<void> {
  const imported = now();
  const rt = await getRuntime();
  phase('runtime up', rt.up);
  phase('tsgi modules imported', imported);
  phase('runtime adapter loaded');
  // A bad request or a bug in one handler must never take the server down.
  process.on('unhandledRejection', (e) => log(`tsgi: unhandled rejection: ${describeError(e)}`));
  process.on('uncaughtException', (e) => log(`tsgi: uncaught exception: ${describeError(e)}`));

  const inherited = process.env[STATE_ENV];
  if (inherited) {
    delete process.env[STATE_ENV];
    const state = JSON.parse(inherited) as ChildState;
    if (state.serve.logto) logTo(state.serve.logto);
    return runChild(rt, state);
  }
  return (await import('./command.ts')).runCommand(rt, argv);
}

/**
 * A master, worker or router started by tsgi: its role's module, loaded in that process only.
 * Once it is up, what it compiled goes to the compile cache for its next replacement.
 */
async function runChild(rt: Runtime, state: ChildState): Promise<void> {
  phase(`${state.role}: state read`);
  if (state.role === 'router') await (await import('./router/router.ts')).runRouter(rt, state);
  else if (state.role === 'master') await (await import('./master/master.ts')).runMaster(rt, state);
  else await (await import('./master/worker.ts')).runWorker(rt, state);
  rt.saveCompileCache();
}
