/**
 * Changing the process's user and groups through node:process (Node, Bun; Deno for the gid and
 * uid). glibc applies setgroups, setgid and setuid to every thread of the process (measured on
 * all three runtimes: every /proc/self/task/N/status shows the new ids).
 */
import type { Identity } from './types.ts';

export function nodeIds(): { uid: number; gid: number } {
  return { uid: process.geteuid?.() ?? -1, gid: process.getegid?.() ?? -1 };
}

/** setgroups, setgid, setuid: in this order, while the process still may. */
export function nodeSetIdentity(id: Identity, setgroups: (groups: number[]) => void = nodeSetGroups): void {
  if (!process.setgid || !process.setuid) throw new Error('this runtime has no process.setgid/process.setuid');
  setgroups(id.groups);
  process.setgid(id.gid);
  if (id.uid !== undefined) process.setuid(id.uid);
}

function nodeSetGroups(groups: number[]): void {
  if (!process.setgroups) throw new Error('this runtime has no process.setgroups');
  process.setgroups(groups);
}
