/** libc's socket calls through bun:ffi, for runtimes/bare-socket.ts (loaded only under --master). */
import type { Libc } from './bare-socket.ts';

type Fn = (...args: Array<number | Uint8Array>) => number;
interface BunFfi {
  dlopen(path: string, symbols: Record<string, { args: string[]; returns: string }>): { symbols: Record<string, Fn> };
  read: { i32(pointer: number, offset: number): number };
}

const I = 'i32';
const P = 'ptr';
const SYMBOLS = {
  socket: { args: [I, I, I], returns: I },
  setsockopt: { args: [I, I, I, P, 'u32'], returns: I },
  bind: { args: [I, P, 'u32'], returns: I },
  listen: { args: [I, I], returns: I },
  getsockname: { args: [I, P, P], returns: I },
  close: { args: [I], returns: I },
  __errno_location: { args: [], returns: P },
};

export async function bunLibc(): Promise<Libc> {
  const specifier = 'bun:ffi';
  const ffi = (await import(specifier)) as BunFfi;
  const f = ffi.dlopen('libc.so.6', SYMBOLS).symbols;
  const errnoAt = f.__errno_location();
  return {
    socket: (domain, type, protocol) => f.socket(domain, type, protocol),
    setsockopt: (fd, level, name, value, length) => f.setsockopt(fd, level, name, value, length),
    bind: (fd, address, length) => f.bind(fd, address, length),
    listen: (fd, backlog) => f.listen(fd, backlog),
    getsockname: (fd, address, length) => f.getsockname(fd, address, length),
    close: (fd) => f.close(fd),
    errno: () => ffi.read.i32(errnoAt, 0),
  };
}
