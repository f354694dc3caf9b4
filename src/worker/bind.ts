/**
 * Socket addresses as uWSGI users write them, and binding them with clear errors.
 *
 * - `host:port`, `:port` (all interfaces, as in uWSGI), `[v6]:port`: TCP;
 * - anything else (a path, `app.sock`): a UNIX socket, bound at a temporary name and renamed
 *   into place, so a stale socket file is replaced atomically and a closing server never unlinks
 *   the live path. A path where a server still answers is refused.
 */
import { accessSync, chmodSync, chownSync, constants, lstatSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { basename, dirname, join, resolve } from 'node:path';
import type { ConnHandler, Listener, Runtime } from '../../runtimes/types.ts';
import { BindError } from '../../runtimes/types.ts';

export type SocketAddress = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };

/** The longest UNIX socket path Linux takes (sun_path is 108 bytes with the NUL). */
const UNIX_PATH_MAX = 107;
const utf8Length = (s: string): number => new TextEncoder().encode(s).length;

export function parseSocketAddress(spec: string, cwd: string): SocketAddress {
  const s = spec.trim();
  if (s === '') throw new BindError('empty socket address', 'EINVAL');
  if (s.startsWith('@')) {
    throw new BindError(`${s}: abstract UNIX sockets are not supported; use a path such as /run/tsgi/app.sock`, 'EINVAL');
  }
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^/:\s]*)):(\d+)$/.exec(s);
  if (m) {
    const port = Number(m[3]);
    if (port > 65535) throw new BindError(`${s}: port ${port} is out of range (0-65535)`, 'EINVAL');
    const host = m[1] ?? (m[2] || '0.0.0.0');
    return { kind: 'tcp', host, port };
  }
  if (s.includes('/') || !s.includes(':')) return { kind: 'unix', path: resolve(cwd, s) };
  throw new BindError(`${s}: not a socket address (use host:port, :port, or a UNIX socket path)`, 'EINVAL');
}

export function formatAddress(a: SocketAddress): string {
  return a.kind === 'unix' ? a.path : a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

export interface BoundSocket {
  spec: string;
  address: SocketAddress;
  listener: Listener;
}

export interface BindOptions {
  /** File mode for UNIX sockets (--chmod-socket). */
  mode?: number;
  /** Owner of UNIX sockets (--chown-socket). */
  owner?: { uid: number; gid: number };
  backlog?: number;
}

/**
 * Why no UNIX socket can be made at `path`, read from the file system, or null when its
 * directory looks fine. The runtimes' errors do not say: libuv (Node) reports a missing directory
 * as EACCES, Bun as "Failed to listen", and procfs refuses a socket with ENOENT.
 */
function unixPathProblem(path: string): string | null {
  const dir = dirname(path);
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(dir);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'ENOENT') return `the directory ${dir} does not exist (create it, or choose another path)`;
    if (code === 'ENOTDIR') return `${dir} is not a directory (a part of that path is a file)`;
    if (code === 'EACCES') return `permission denied: this user cannot reach the directory ${dir}`;
    return null;
  }
  if (!st.isDirectory()) return `${dir} is not a directory`;
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch {
    return `permission denied: this user cannot create files in ${dir} (choose a directory it can write, e.g. /run/tsgi/)`;
  }
  return null;
}

/** A host name (not an IP address) that does not resolve. */
async function unresolvable(host: string): Promise<boolean> {
  if (isIP(host) !== 0) return false;
  try {
    await lookup(host);
    return false;
  } catch {
    return true;
  }
}

/** One line that says what is wrong with binding `a`, whatever the runtime's error said. */
async function explain(e: unknown, a: SocketAddress): Promise<BindError> {
  const where = a.kind === 'unix' ? `UNIX socket ${a.path}` : `TCP address ${formatAddress(a)}`;
  const code = (e as { code?: string }).code ?? 'EUNKNOWN';
  const detail = (e as Error).message ?? String(e);
  if (code === 'EADDRINUSE') {
    return new BindError(`cannot bind ${where}: address already in use (another server listens there: stop it or pick another address)`, code);
  }
  if (a.kind === 'unix') {
    const problem = unixPathProblem(a.path);
    if (problem) return new BindError(`cannot create ${where}: ${problem}`, code);
    return new BindError(`cannot create ${where}: ${detail}`, code);
  }
  if (await unresolvable(a.host)) {
    return new BindError(`cannot bind ${where}: the host name ${a.host} does not resolve (use an IP address, or a name in /etc/hosts)`, 'ENOTFOUND');
  }
  switch (code) {
    case 'EACCES':
    case 'EPERM':
      return new BindError(`cannot bind ${where}: permission denied (ports below 1024 need privileges: use a higher port)`, code);
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
      return new BindError(`cannot bind ${where}: no such local address`, code);
    default:
      return new BindError(`cannot bind ${where}: ${detail}`, code);
  }
}

/** Is a live server answering on this UNIX socket path? */
async function answers(rt: Runtime, path: string): Promise<boolean> {
  try {
    const c = await rt.connectUnix(path);
    c.destroy();
    return true;
  } catch {
    return false;
  }
}

/** What is bound: a listener accepting here, or a bare fd for children (the --master launcher). */
interface Closable {
  close(): Promise<void>;
}
type Opener<T extends Closable> = (target: SocketAddress) => Promise<T>;

async function bindUnix<T extends Closable>(rt: Runtime, path: string, open: Opener<T>, options: BindOptions): Promise<T> {
  const a: SocketAddress = { kind: 'unix', path };
  if (utf8Length(path) > UNIX_PATH_MAX) {
    throw new BindError(`cannot create UNIX socket ${path}: path longer than ${UNIX_PATH_MAX} bytes`, 'ENAMETOOLONG');
  }
  let exists = false;
  try {
    const st = lstatSync(path);
    exists = true;
    if (!st.isSocket()) {
      throw new BindError(`cannot create UNIX socket ${path}: a file that is not a socket is there (remove it or choose another path)`, 'EEXIST');
    }
  } catch (e) {
    if (e instanceof BindError) throw e;
  }
  if (exists && (await answers(rt, path))) {
    throw new BindError(`cannot bind UNIX socket ${path}: a running server answers there (stop it or choose another path)`, 'EADDRINUSE');
  }
  // Bind at a temporary name in the same directory, set the mode, then rename into place.
  let tmp = join(dirname(path), `.${basename(path)}.${process.pid}`);
  if (utf8Length(tmp) > UNIX_PATH_MAX) {
    if (exists) unlinkSync(path);
    tmp = path;
  }
  let bound: T;
  try {
    bound = await open({ kind: 'unix', path: tmp });
  } catch (e) {
    throw await explain(e, a);
  }
  try {
    if (options.mode !== undefined) chmodSync(tmp, options.mode);
    if (options.owner !== undefined) chownSync(tmp, options.owner.uid, options.owner.gid);
    if (tmp !== path) renameSync(tmp, path);
  } catch (e) {
    await bound.close();
    throw await explain(e, a);
  }
  return bound;
}

/**
 * Bind one socket address with `open` (the runtime's listen, or an inheritable bind), handling
 * stale UNIX socket files, --chmod-socket and errors users can act on.
 */
export async function bindWith<T extends Closable>(
  rt: Runtime,
  spec: string,
  cwd: string,
  open: Opener<T>,
  options: BindOptions = {},
): Promise<{ address: SocketAddress; bound: T }> {
  const address = parseSocketAddress(spec, cwd);
  if (address.kind === 'unix') return { address, bound: await bindUnix(rt, address.path, open, options) };
  try {
    return { address, bound: await open(address) };
  } catch (e) {
    throw await explain(e, address);
  }
}

/** Bind a socket of this process that accepts connections (the runtime's listen). */
export function bindSocket(rt: Runtime, spec: string, cwd: string, onConn: ConnHandler, options: BindOptions = {}): Promise<BoundSocket> {
  return bindListener(
    rt,
    spec,
    cwd,
    (t) => (t.kind === 'unix' ? rt.listenUnix(t.path, onConn, options) : rt.listenTcp(t.host, t.port, onConn, options)),
    options,
  );
}

/** Bind with any listener (the runtime's listen, or its own HTTP server). */
export async function bindListener(rt: Runtime, spec: string, cwd: string, open: Opener<Listener>, options: BindOptions = {}): Promise<BoundSocket> {
  const { address, bound } = await bindWith(rt, spec, cwd, open, options);
  const listener: Listener = address.kind === 'unix' ? { address: { kind: 'unix', path: address.path }, close: () => bound.close() } : bound;
  const actual: SocketAddress =
    address.kind === 'tcp' && bound.address.kind === 'tcp' ? { kind: 'tcp', host: address.host, port: bound.address.port } : address;
  return { spec, address: actual, listener };
}

/** --vacuum: remove a UNIX socket file we created, if it is still a socket. */
export function removeSocketFile(path: string): void {
  try {
    if (lstatSync(path).isSocket()) unlinkSync(path);
  } catch {
    // already gone
  }
}
