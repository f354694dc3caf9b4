/** libc's socket calls through bun:ffi, for runtimes/bare-socket.ts (loaded only under --master). */
import { LIBC_SYMBOLS, type Libc, type LibcCall, libcOf } from './bare-socket.ts';

interface BunFfi {
  dlopen(path: string, symbols: Record<string, { args: readonly string[]; returns: string }>): { symbols: Record<keyof typeof LIBC_SYMBOLS, LibcCall> };
  read: { i32(pointer: number, offset: number): number };
}

export async function bunLibc(): Promise<Libc> {
  const specifier = 'bun:ffi';
  const ffi = (await import(specifier)) as BunFfi;
  const symbols = Object.fromEntries(Object.entries(LIBC_SYMBOLS).map(([name, s]) => [name, { args: s.args, returns: s.result }]));
  const f = ffi.dlopen('libc.so.6', symbols).symbols;
  const errnoAt = f.__errno_location();
  return libcOf(f, () => ffi.read.i32(errnoAt, 0));
}
