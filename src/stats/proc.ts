/**
 * Figures the OS keeps (Linux /proc): a process's memory, a listening socket's queue.
 */
import { readFileSync, readlinkSync } from 'node:fs';

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
 * listen_queue: the rx_queue column of /proc/net/tcp for a socket in LISTEN state. 0 for UNIX
 * sockets, whose queue /proc does not show.
 */
export function listenQueue(fd: number): number {
  let inode = '';
  try {
    inode = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`))?.[1] ?? '';
  } catch {
    return 0;
  }
  if (!inode) return 0;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length > 9 && f[9] === inode && f[3] === '0A') return parseInt(f[4].split(':')[1] ?? '0', 16);
    }
  }
  return 0;
}
