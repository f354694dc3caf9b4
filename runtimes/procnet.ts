/**
 * Linux /proc readers shared by the Node adapter (finding a bound socket's fd on Deno) and the
 * stats (a listening socket's accept queue).
 */
import { readFileSync, readlinkSync } from 'node:fs';

export interface TcpListener {
  /** Local port. */
  port: number;
  inode: string;
  /** Connections waiting in the accept queue (rx_queue of a LISTEN socket). */
  queue: number;
}

/** Every TCP socket in LISTEN state, from /proc/net/tcp and tcp6. */
export function tcpListeners(): TcpListener[] {
  const out: TcpListener[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length <= 9 || f[3] !== '0A') continue;
      out.push({ port: parseInt(f[1].split(':').pop() ?? '0', 16), inode: f[9], queue: parseInt(f[4].split(':')[1] ?? '0', 16) });
    }
  }
  return out;
}

/** Inodes of UNIX sockets bound at this path, from /proc/net/unix. */
export function unixInodes(path: string): string[] {
  const out: string[] = [];
  for (const line of readFileSync('/proc/net/unix', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 8 && f[7] === path) out.push(f[6]);
  }
  return out;
}

/** The socket inode behind one of this process's fds, or '' if it is not a socket. */
export function socketInode(fd: number | string): string {
  try {
    return /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`))?.[1] ?? '';
  } catch {
    return '';
  }
}
