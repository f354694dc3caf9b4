/**
 * Listening sockets bound with libc's socket, bind and listen, through the runtime's FFI (Bun's
 * and Deno's; Node has none and uses runtimes/node-bare.ts): a bare fd that no server of this runtime accepts on. The process that
 * holds it can spawn children that serve on it and stay their master, with no launcher process in
 * front (docs/ARCHITECTURE.md, "Why a launcher"). The result is what a libuv listen gives on Linux:
 * SO_REUSEADDR on TCP, the backlog asked for (511 by default, as Node's), a dual-stack socket on
 * `::`, a host name resolved as `dns.lookup` does.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { toBindError } from './bind-error.ts';
import type { BareBinder, InheritableSocket, ListenAddress, ListenOptions } from './types.ts';

/** The libc calls a BareSockets needs; pointers are passed as byte arrays. */
export interface Libc {
  socket(domain: number, type: number, protocol: number): number;
  setsockopt(fd: number, level: number, name: number, value: Uint8Array, length: number): number;
  bind(fd: number, address: Uint8Array, length: number): number;
  listen(fd: number, backlog: number): number;
  getsockname(fd: number, address: Uint8Array, length: Uint8Array): number;
  close(fd: number): number;
  /** errno of the last failed call on this thread. */
  errno(): number;
}

/**
 * The libc symbols a Libc is made of, as FFI signatures (bun:ffi's type names; Deno's FFI names
 * a pointer argument `buffer` and a pointer result `pointer`): i32 and u32 values, pointers to
 * the bytes we pass, and `__errno_location`'s pointer to this thread's errno.
 */
export const LIBC_SYMBOLS = {
  socket: { args: ['i32', 'i32', 'i32'], result: 'i32' },
  setsockopt: { args: ['i32', 'i32', 'i32', 'ptr', 'u32'], result: 'i32' },
  bind: { args: ['i32', 'ptr', 'u32'], result: 'i32' },
  listen: { args: ['i32', 'i32'], result: 'i32' },
  getsockname: { args: ['i32', 'ptr', 'ptr'], result: 'i32' },
  close: { args: ['i32'], result: 'i32' },
  __errno_location: { args: [], result: 'ptr' },
} as const;

/** A symbol as the FFI gives it: a plain function of numbers and byte arrays. */
export type LibcCall = (...args: Array<number | Uint8Array>) => number;

/** The Libc of symbols opened from LIBC_SYMBOLS, with `errno` read through the runtime's pointer API. */
export function libcOf(f: Record<Exclude<keyof typeof LIBC_SYMBOLS, '__errno_location'>, LibcCall>, errno: () => number): Libc {
  return { socket: f.socket, setsockopt: f.setsockopt, bind: f.bind, listen: f.listen, getsockname: f.getsockname, close: f.close, errno };
}

const AF_UNIX = 1;
const AF_INET = 2;
const AF_INET6 = 10;
const SOCK_STREAM = 1;
/** The master's copy is never inherited by accident: children get it through spawn's fd list (unless `inPlace`). */
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SO_REUSEADDR = 2;
/** Node's default backlog. */
const BACKLOG = 511;
const SUN_PATH = 108;

/** The errno values a bind can end with, by their POSIX names (bind errors are matched on these). */
const ERRNO: Record<number, string> = {
  1: 'EPERM',
  2: 'ENOENT',
  13: 'EACCES',
  20: 'ENOTDIR',
  22: 'EINVAL',
  24: 'EMFILE',
  30: 'EROFS',
  36: 'ENAMETOOLONG',
  97: 'EAFNOSUPPORT',
  98: 'EADDRINUSE',
  99: 'EADDRNOTAVAIL',
};

type Target = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };

/** A sockaddr_in, sockaddr_in6 or sockaddr_un as bytes. */
function sockaddr(family: number, host: string, port: number): Uint8Array {
  if (family === AF_UNIX) {
    const path = new TextEncoder().encode(host);
    const out = new Uint8Array(2 + SUN_PATH);
    new DataView(out.buffer).setUint16(0, AF_UNIX, true);
    out.set(path.subarray(0, SUN_PATH - 1), 2);
    return out;
  }
  const out = new Uint8Array(family === AF_INET ? 16 : 28);
  const view = new DataView(out.buffer);
  view.setUint16(0, family, true);
  view.setUint16(2, port, false);
  if (family === AF_INET) out.set(host.split('.').map(Number), 4);
  else out.set(ipv6Bytes(host), 8);
  return out;
}

/** The 16 bytes of an IPv6 address in text form (`::` shortening, an embedded IPv4 tail). */
export function ipv6Bytes(text: string): Uint8Array {
  const address = text.replace(/%.*$/, '');
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(address);
  const head = v4 ? address.slice(0, -v4[1].length) : address;
  const groups = (part: string) => (part === '' ? [] : part.split(':').map((g) => Number.parseInt(g, 16)));
  const [left, right = null] = head.split('::');
  const tail = v4 ? v4[1].split('.').map(Number) : [];
  const words = [...groups(left.replace(/:$/, ''))];
  const after = right === null ? [] : groups(right.replace(/:$/, ''));
  const tailWords = tail.length ? [(tail[0] << 8) | tail[1], (tail[2] << 8) | tail[3]] : [];
  const fill = 8 - words.length - after.length - tailWords.length;
  const all = [...words, ...Array<number>(right === null ? 0 : fill).fill(0), ...after, ...tailWords];
  const out = new Uint8Array(16);
  all.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  });
  return out;
}

/** The address a listen on `host` binds: the host if it is one, else its first as `dns.lookup` gives. */
export async function resolveHost(host: string): Promise<{ ip: string; v6: boolean }> {
  const ip = isIP(host) !== 0 ? host : (await lookup(host)).address;
  return { ip, v6: isIP(ip) === 6 };
}

/** Binds listening sockets through `libc`; see the module comment. */
export class BareSockets {
  readonly #libc: Libc;
  readonly #inPlace: boolean;

  /**
   * `inPlace`: the children inherit each fd at its own number (it is not close-on-exec) instead of
   * getting it through spawn's fd list (Deno: passing it there clears O_NONBLOCK on the socket).
   */
  constructor(libc: Libc, options: { inPlace?: boolean } = {}) {
    this.#libc = libc;
    this.#inPlace = options.inPlace === true;
  }

  /** This object's bind, as the runtime seam's BareBinder. */
  readonly bind: BareBinder = (target, options) => this.#bind(target, options);

  async #bind(target: Target, options?: ListenOptions): Promise<InheritableSocket> {
    const what = target.kind === 'tcp' ? `${target.host}:${target.port}` : target.path;
    try {
      return target.kind === 'tcp' ? await this.#tcp(target.host, target.port, options) : this.#unix(target.path, options);
    } catch (e) {
      throw toBindError(e, what);
    }
  }

  async #tcp(host: string, port: number, options?: ListenOptions): Promise<InheritableSocket> {
    const { ip, v6 } = await resolveHost(host);
    const family = v6 ? AF_INET6 : AF_INET;
    const fd = this.#listen(family, sockaddr(family, ip, port), options);
    const address: ListenAddress = { kind: 'tcp', host, port: port === 0 ? this.#port(fd) : port };
    return this.#socket(fd, address);
  }

  #unix(path: string, options?: ListenOptions): InheritableSocket {
    return this.#socket(this.#listen(AF_UNIX, sockaddr(AF_UNIX, path, 0), options), { kind: 'unix', path });
  }

  /** socket, SO_REUSEADDR (TCP), bind, listen: the fd, or the errno as an error with its code. */
  #listen(family: number, address: Uint8Array, options?: ListenOptions): number {
    const libc = this.#libc;
    const fd = libc.socket(family, SOCK_STREAM | (this.#inPlace ? 0 : SOCK_CLOEXEC), 0);
    if (fd < 0) throw this.#error('socket');
    const fail = (call: string) => {
      const e = this.#error(call);
      libc.close(fd);
      return e;
    };
    const on = new Uint8Array(new Int32Array([1]).buffer);
    if (family !== AF_UNIX && libc.setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, on, 4) !== 0) throw fail('setsockopt');
    if (libc.bind(fd, address, address.length) !== 0) throw fail('bind');
    if (libc.listen(fd, options?.backlog ?? BACKLOG) !== 0) throw fail('listen');
    return fd;
  }

  /** The port the kernel chose for port 0. */
  #port(fd: number): number {
    const address = new Uint8Array(28);
    const length = new Uint8Array(new Uint32Array([28]).buffer);
    if (this.#libc.getsockname(fd, address, length) !== 0) throw this.#error('getsockname');
    return new DataView(address.buffer).getUint16(2, false);
  }

  #error(call: string): Error & { code: string } {
    const errno = this.#libc.errno();
    const code = ERRNO[errno] ?? `errno ${errno}`;
    return Object.assign(new Error(`${call} ${code}`), { code });
  }

  #socket(fd: number, address: ListenAddress): InheritableSocket {
    let open = true;
    const close = () => {
      if (open) this.#libc.close(fd);
      open = false;
      return Promise.resolve();
    };
    return this.#inPlace ? { fd, address, close, inPlace: true } : { fd, address, close };
  }
}
