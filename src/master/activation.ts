/**
 * systemd socket activation (LISTEN_FDS, LISTEN_PID): the sockets systemd bound, as bare fds.
 * A module of its own: a single process reads it too, and loads no launcher.
 */
import { ConfigError } from '../config/index.ts';
import { log } from '../log.ts';
import { socketSpecs } from '../worker/sockets.ts';
import type { InheritedSocket, ServeOptions } from './protocol.ts';

/** systemd socket activation: fds 3… when LISTEN_PID is this process. */
export function systemdFds(pid: number, env: Record<string, string | undefined>): number[] | null {
  const n = Number(env.LISTEN_FDS ?? '');
  if (!Number.isInteger(n) || n <= 0) return null;
  if (env.LISTEN_PID !== undefined && Number(env.LISTEN_PID) !== pid) return null;
  return Array.from({ length: n }, (_, i) => 3 + i);
}

/**
 * systemd's fds as sockets: matched in order with --socket, --http-socket, then --fastcgi-socket options (all
 * uwsgi when none are given).
 */
export function activatedSockets(fds: number[], serve: ServeOptions): InheritedSocket[] {
  const specs = socketSpecs(serve);
  if (specs.length > 0 && specs.length !== fds.length) {
    throw new ConfigError(
      `systemd passed ${fds.length} socket(s) (LISTEN_FDS) but ${specs.length} --socket/--http-socket/--fastcgi-socket/--scgi-socket option(s) are given: make them match, or give none`,
    );
  }
  const sockets: InheritedSocket[] = fds.map((fd, i) => ({
    proto: specs[i]?.proto ?? 'uwsgi',
    spec: specs[i]?.spec ?? `fd ${fd}`,
    fd,
    display: `inherited fd ${fd} (systemd)`,
    tls: specs[i]?.tls,
  }));
  sockets.forEach((s, i) => log(`${s.proto} socket ${i} is ${s.display}`));
  return sockets;
}
