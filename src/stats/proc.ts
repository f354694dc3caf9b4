/**
 * Figures the OS keeps (Linux /proc): a process's memory, a listening socket's queue.
 */
import { readFileSync } from 'node:fs';
import { socketInode, tcpListeners } from '../../runtimes/procnet.ts';

/** Resident and virtual size of a process, in bytes (0 when it is gone). */
export function procMemory(pid: number): { rss: number; vsz: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
    return { rss: kb('VmRSS'), vsz: kb('VmSize') };
  } catch {
    return { rss: 0, vsz: 0 };
  }
}

/**
 * Connections waiting in a listening TCP socket's accept queue (this process's fd), as uWSGI's
 * listen_queue. 0 for UNIX sockets, whose queue /proc does not show.
 */
export function listenQueue(fd: number): number {
  const inode = socketInode(fd);
  return (inode && tcpListeners().find((l) => l.inode === inode)?.queue) || 0;
}

/**
 * Resolves once the accept queue of a listening TCP socket (this process's fd) is empty, or after
 * `ms`: what a last close would reset is taken first. At once for UNIX sockets (no queue figure).
 */
export async function queueDrained(fd: number, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (listenQueue(fd) > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
}
