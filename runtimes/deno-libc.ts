/**
 * libc's socket calls through Deno's FFI, for runtimes/bare-socket.ts (loaded only under
 * --master; needs --allow-ffi, which `deno run -A` gives). Null where FFI is not allowed: tsgi
 * then starts a launcher (whose bind needs `-A` too, and says so).
 */
import { LIBC_SYMBOLS, type Libc, type LibcCall, libcOf } from './bare-socket.ts';

interface DenoFfi {
  permissions: { querySync(d: { name: 'ffi' }): { state: string } };
  dlopen(path: string, symbols: Record<string, { parameters: string[]; result: string }>): { symbols: Record<keyof typeof LIBC_SYMBOLS, LibcCall> };
  UnsafePointerView: new (pointer: unknown) => { getInt32(offset?: number): number };
}
const Deno = (globalThis as unknown as { Deno: DenoFfi }).Deno;

/** Deno's FFI names a pointer argument `buffer` (a byte array) and a pointer result `pointer`. */
const denoType = (type: string, result: boolean) => (type !== 'ptr' ? type : result ? 'pointer' : 'buffer');

export function denoLibc(): Libc | null {
  if (Deno.permissions.querySync({ name: 'ffi' }).state !== 'granted') return null;
  const symbols = Object.fromEntries(
    Object.entries(LIBC_SYMBOLS).map(([name, s]) => [name, { parameters: s.args.map((t) => denoType(t, false)), result: denoType(s.result, true) }]),
  );
  const f = Deno.dlopen('libc.so.6', symbols).symbols;
  const errnoAt = new Deno.UnsafePointerView((f.__errno_location as unknown as () => unknown)());
  return libcOf(f, () => errnoAt.getInt32(0));
}
