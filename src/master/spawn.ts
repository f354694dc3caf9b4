/**
 * How a tsgi process starts another: the same runtime on tsgi's entry, its role and whole starting
 * state as JSON in TSGI_STATE (docs/ARCHITECTURE.md, "How a process learns its role"), every
 * inherited fd at the same number, and a message channel.
 */
import type { Child, Runtime } from '../../runtimes/types.ts';
import { type ChildState, STATE_ENV } from './protocol.ts';

/** Start `entry` as a child that runs as `state.role` (`detached`: in a process group of its own). */
export function spawnChild(rt: Runtime, entry: string, state: ChildState, fds: number[], detached = false): Child {
  const env = { ...(process.env as Record<string, string>), [STATE_ENV]: JSON.stringify({ ...state, parent: rt.pid }) };
  // What this process compiled, the child would compile again: it shares most of the modules.
  rt.saveCompileCache();
  return rt.spawnSelf({ args: [entry], env, fds, ipc: true, ...(detached ? { detached } : {}) });
}

/** The master's children: workers and the router, each with every fd the launcher handed over. */
export class ChildSpawner {
  readonly #rt: Runtime;
  readonly #state: ChildState;
  readonly #entry: string;
  /** This process's fds of every socket, the router's too, in the order the children get them (3, 4, …); none when they inherit them in place. */
  readonly fds: number[];

  constructor(rt: Runtime, state: ChildState, entry: string) {
    const { held, inPlace, ...children } = state;
    this.#rt = rt;
    this.#state = children;
    this.#entry = entry;
    const all = state.router ? [...state.sockets, ...state.router.listens.map((l) => l.socket)] : state.sockets;
    this.fds = inPlace ? [] : (held ?? all.flatMap((s) => ('fd' in s ? [s.fd] : [])).sort((a, b) => a - b));
  }

  worker(workerId: number): Child {
    return spawnChild(this.#rt, this.#entry, { ...this.#state, role: 'worker', workerId }, this.fds);
  }

  router(): Child {
    return spawnChild(this.#rt, this.#entry, { ...this.#state, role: 'router' }, this.fds);
  }
}
