/**
 * Inherited socket fds a process does not serve on. Every child gets every fd at the same number
 * (3, 4, …), so a process that keeps a copy it never accepts on keeps that socket listening: a
 * connection then waits in a queue nobody takes from, and is reset when the process exits.
 */
import { closeSync } from 'node:fs';
import type { ChildState } from './protocol.ts';

/** Close this process's copy of an inherited socket (the other processes keep theirs). */
export function closeFd(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // not an fd this runtime lets us close: the socket closes when this process exits
  }
}

/** The fds of `state` that a process in `role` does not serve on: the router serves only its own. */
export function foreignFds(state: ChildState, role: 'worker' | 'router'): number[] {
  const router = (state.router?.listens ?? []).flatMap((l) => ('fd' in l.socket ? [l.socket.fd] : []));
  if (role === 'worker') return router;
  return state.sockets.flatMap((s) => ('fd' in s ? [s.fd] : []));
}

/** This process's own fd of a socket its children get at `fd` (a master that bound the sockets itself holds them elsewhere). */
export function ownFd(state: ChildState, fd: number): number {
  return state.held?.[fd - 3] ?? fd;
}
