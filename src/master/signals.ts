/**
 * The master's signals, as containers and systemd expect: SIGTERM and SIGINT stop gracefully,
 * SIGQUIT at once, SIGHUP reopens --logto and reloads the workers, SIGUSR2 (and SIGUSR1 where
 * the runtime lets us have it, Runtime.signals) logs the workers' figures.
 */
import type { Runtime } from '../../runtimes/types.ts';
import { reopenLog } from '../log.ts';

export interface SignalActions {
  stop(signal: string, graceful: boolean): void;
  reload(why: string): void;
  logStats(): void;
}

export function handleMasterSignals(rt: Runtime, on: SignalActions): void {
  rt.onSignal('SIGTERM', () => on.stop('SIGTERM', true));
  rt.onSignal('SIGINT', () => on.stop('SIGINT', true));
  rt.onSignal('SIGQUIT', () => on.stop('SIGQUIT', false));
  rt.onSignal('SIGHUP', () => {
    reopenLog();
    on.reload('SIGHUP');
  });
  rt.onSignal('SIGUSR2', () => on.logStats());
  if (rt.signals.includes('SIGUSR1')) rt.onSignal('SIGUSR1', () => on.logStats());
}
