/**
 * The privilege drop (--uid, --gid): each tsgi process becomes the user once everything that
 * needs root is done — the launcher once the master has, the master once the stats socket is
 * bound, before any worker or the router starts (so they start as the user; each checks it).
 * Where and why: docs/ARCHITECTURE.md, "Privileges".
 */
import { chownSync } from 'node:fs';
import type { Identity, Runtime } from '../../runtimes/types.ts';
import { ConfigError } from '../config/error.ts';
import { log } from '../log.ts';

export const ROOT_WARNING = '*** WARNING: you are running tsgi as root !!! (use the --uid flag) ***';

function describe(id: Identity): string {
  const user = id.uid === undefined ? '' : `uid ${id.uid}, `;
  return `${user}gid ${id.gid}, groups ${id.groups.join(',')}`;
}

/** Does this process run as `id` already (a child of a master that dropped)? */
function isAlready(rt: Runtime, id: Identity): boolean {
  const now = rt.ids();
  return (id.uid === undefined || now.uid === id.uid) && now.gid === id.gid;
}

/**
 * At startup, before any socket is bound: refuse what cannot be done (a runtime that cannot
 * change its user, a user that is not root), and warn when root goes on without --uid.
 */
export function checkIdentity(rt: Runtime, id: Identity | undefined): void {
  if (!id) {
    if (rt.ids().uid === 0) log(ROOT_WARNING);
    return;
  }
  const problem = rt.identityProblem();
  if (problem) throw new ConfigError(`--uid/--gid: ${problem}`);
  const now = rt.ids();
  if (now.uid !== 0 && !isAlready(rt, id)) {
    throw new ConfigError(`--uid/--gid: only root can change its user: tsgi runs as uid ${now.uid} (start it as root, or leave --uid and --gid out)`);
  }
  if (id.uid === undefined && now.uid === 0) log(ROOT_WARNING);
}

/** Become `id` (nothing to do when this process is that already). `who` names the process in the log. */
export function dropPrivileges(rt: Runtime, id: Identity | undefined, who: string): void {
  if (!id || isAlready(rt, id)) return;
  try {
    rt.setIdentity(id);
  } catch (e) {
    throw new ConfigError(`${who} (pid: ${rt.pid}): cannot become ${describe(id)}: ${(e as Error).message}`);
  }
  log(`${who} (pid: ${rt.pid}): now running as ${describe(id)}`);
}

/** A file tsgi made as root that the user must still use after the drop (the router's socket, the --logto file). */
export function handOver(path: string, id: Identity | undefined): void {
  // -1 leaves the owner as it is (--gid alone).
  if (id) chownSync(path, id.uid ?? -1, id.gid);
}
