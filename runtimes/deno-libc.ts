/**
 * libc's socket calls through Deno's FFI, for runtimes/bare-socket.ts (loaded only under
 * --master; needs --allow-ffi, which `deno run -A` gives). Null where FFI is not allowed: tsgi
 * then keeps a launcher.
 */
import type { Libc } from './bare-socket.ts';

type Fn = (...args: Array<number | Uint8Array>) => number;
interface DenoFfi {
  permissions: { querySync(d: { name: 'ffi' }): { state: string } };
  dlopen(path: string, symbols: Record<string, { parameters: string[]; result: string }>): { symbols: Record<string, Fn> };
  UnsafePointerView: new (pointer: unknown) => { getInt32(offset?: number): number };
}
const Deno = (globalThis as unknown as { Deno: DenoFfi }).Deno;

const I = 'i32';
const B = 'buffer';
const SYMBOLS = {
  socket: { parameters: [I, I, I], result: I },
  setsockopt: { parameters: [I, I, I, B, 'u32'], result: I },
  bind: { parameters: [I, B, 'u32'], result: I },
  listen: { parameters: [I, I], result: I },
  getsockname: { parameters: [I, B, B], result: I },
  close: { parameters: [I], result: I },
  __errno_location: { parameters: [], result: 'pointer' },
};

export function denoLibc(): Libc | null {
  if (Deno.permissions.querySync({ name: 'ffi' }).state !== 'granted') return null;
  const f = Deno.dlopen('libc.so.6', SYMBOLS).symbols;
  const errnoAt = new Deno.UnsafePointerView((f.__errno_location as unknown as () => unknown)());
  return {
    socket: (domain, type, protocol) => f.socket(domain, type, protocol),
    setsockopt: (fd, level, name, value, length) => f.setsockopt(fd, level, name, value, length),
    bind: (fd, address, length) => f.bind(fd, address, length),
    listen: (fd, backlog) => f.listen(fd, backlog),
    getsockname: (fd, address, length) => f.getsockname(fd, address, length),
    close: (fd) => f.close(fd),
    errno: () => errnoAt.getInt32(0),
  };
}
