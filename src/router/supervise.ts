/**
 * The master's side of the --http router: spawn it, respawn it when it dies (with the workers'
 * back-off), tell it how many workers are ready, stop it with the rest.
 */
import type { Child, Runtime } from '../../runtimes/types.ts';
import { log } from '../log.ts';
import { type ChildState, isRouterReport, type RouterMessage, STATE_ENV } from '../master/protocol.ts';

export interface RouterSupervisor {
  /** The router is up and accepting (after a respawn too). */
  ready(): boolean;
  /** Workers ready to answer, told to the router now and after every respawn. */
  workers(ready: number): void;
  /** Stop it: gracefully (it finishes its requests) or at once. Resolves when it has exited. */
  stop(graceful: boolean): Promise<void>;
}

export function superviseRouter(
  rt: Runtime,
  state: ChildState,
  entry: string,
  fds: number[],
  stopping: () => boolean,
  onReady: () => void,
): RouterSupervisor {
  let child: Child | null = null;
  let isReady = false;
  let readyWorkers = 0;
  let failures = 0;
  const send = (c: Child, m: RouterMessage) => c.send(m);

  function spawn(): void {
    const c = rt.spawnSelf({
      args: [entry],
      env: { ...(process.env as Record<string, string>), [STATE_ENV]: JSON.stringify({ ...state, role: 'router' } satisfies ChildState) },
      fds,
      ipc: true,
    });
    child = c;
    isReady = false;
    log(`spawned tsgi http router (pid: ${c.pid})`);
    c.onMessage = (m) => {
      if (!isRouterReport(m)) return;
      failures = 0;
      isReady = true;
      send(c, { t: 'workers', ready: readyWorkers });
      log(`tsgi http router (pid: ${c.pid}) ready`);
      onReady();
    };
    void c.exited.then((how) => {
      if (child !== c) return;
      child = null;
      isReady = false;
      if (stopping()) return;
      if (!isReady) failures++;
      const delay = failures <= 1 ? 0 : Math.min(30, 2 ** (failures - 2));
      log(`DAMN ! tsgi http router (pid: ${c.pid}) died: ${how.signal ? `killed by ${how.signal}` : `exit code ${how.code}`}; respawning${delay ? ` in ${delay} s` : ''}`);
      setTimeout(() => {
        if (!stopping()) spawn();
      }, delay * 1000);
    });
  }
  spawn();

  return {
    ready: () => isReady,
    workers(n) {
      readyWorkers = n;
      if (child && isReady) send(child, { t: 'workers', ready: n });
    },
    async stop(graceful) {
      const c = child;
      if (!c) return;
      if (graceful) send(c, { t: 'stop' });
      else c.kill('SIGKILL');
      await c.exited;
    },
  };
}
