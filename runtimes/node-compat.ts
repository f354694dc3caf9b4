/**
 * The Node-compatible parts of the seam: node:net stream sockets, node:child_process children,
 * node:worker_threads threads, process signals. The Node adapter (node.ts) is made of them; Bun
 * and Deno reuse those whose Node-compatible API is the one that works there (inherited fds on
 * Deno, children and threads everywhere).
 */
import net from 'node:net';
import { readdirSync } from 'node:fs';
import { socketInode, tcpListeners, unixInodes } from './procnet.ts';
import { toBindError } from './bind-error.ts';
import { LINGER_MS } from './linger.ts';
import { Deadlines, type Expiring } from './deadlines.ts';
import { spawn } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import type {
  Child,
  Conn,
  ConnHandler,
  InheritableSocket,
  Listener,
  ListenOptions,
  ParentChannel,
  Signal,
  SpawnOptions,
  Thread,
  ThreadChannel,
} from './types.ts';

const HIGH_WATER = 64 * 1024;

/** Sockets that sent their FIN and wait for the peer's (one timer for all: socket.setTimeout set one per connection). */
const lingering = Deadlines.of(LINGER_MS);

/** Wrap a node:net socket (on Node, or Node-compatible APIs of Bun and Deno) as a Conn. */
export function wrapNodeSocket(socket: net.Socket): Conn {
  let closed = false;
  let ended = false;
  let failure: Error | undefined;
  let drainWaiters: Array<() => void> = [];
  let linger: Expiring | null = null;
  const wake = () => {
    const w = drainWaiters;
    drainWaiters = [];
    for (const f of w) f();
  };
  const endInput = () => {
    if (ended) return;
    ended = true;
    conn.onEnd?.();
  };
  const conn: Conn = {
    // Asked of the socket only when used (a getpeername per connection otherwise).
    get remoteAddress() {
      return socket.remoteAddress ?? '';
    },
    get remotePort() {
      return socket.remotePort ?? 0;
    },
    onData: null,
    onEnd: null,
    onClose: null,
    pause: () => socket.pause(),
    resume: () => socket.resume(),
    write: (chunk) => (closed ? false : socket.write(chunk)),
    drained: () => (closed || socket.writableLength < HIGH_WATER ? Promise.resolve() : new Promise((r) => drainWaiters.push(r))),
    end: () => {
      if (closed) return;
      socket.end();
      // Half-open sockets: give the peer a while to close its side, then drop it.
      if (linger === null) lingering.add((linger = { expire: () => socket.destroy() }));
    },
    closeWrite: () => {
      if (!closed) socket.end();
    },
    destroy: () => {
      socket.destroy();
    },
  };
  socket.setNoDelay?.(true);
  socket.on('data', (chunk: Buffer) => conn.onData?.(chunk));
  socket.on('drain', wake);
  socket.on('error', (e) => {
    failure = e;
  });
  socket.on('end', endInput);
  socket.on('close', () => {
    closed = true;
    if (linger !== null) lingering.remove(linger);
    wake();
    endInput();
    conn.onClose?.(failure);
  });
  return conn;
}

function nodeListen(target: net.ListenOptions, onConn: ConnHandler, what: string): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer({ noDelay: true, allowHalfOpen: true }, (socket) => onConn(wrapNodeSocket(socket)));
    server.once('error', (e) => reject(toBindError(e, what)));
    server.listen(target, () => {
      server.removeAllListeners('error');
      server.on('error', (e) => process.stderr.write(`tsgi: listener error on ${what}: ${e.message}\n`));
      resolve(server);
    });
  });
}

/**
 * Stop listening, now. Connections already accepted live on: their servers end them. (Node's
 * close callback waits for every connection to end, and a kept-alive client that is answered
 * in time never ends its connection: a stop waited on it until --worker-reload-mercy.)
 */
function closeServer(server: net.Server): Promise<void> {
  server.close();
  return Promise.resolve();
}

export async function nodeListenTcp(host: string, port: number, onConn: ConnHandler, options?: ListenOptions): Promise<Listener> {
  const server = await nodeListen({ host, port, backlog: options?.backlog }, onConn, `${host}:${port}`);
  const addr = server.address() as net.AddressInfo;
  return { address: { kind: 'tcp', host: addr.address, port: addr.port }, close: () => closeServer(server) };
}

export async function nodeListenUnix(path: string, onConn: ConnHandler, options?: ListenOptions): Promise<Listener> {
  const server = await nodeListen({ path, backlog: options?.backlog }, onConn, path);
  return { address: { kind: 'unix', path }, close: () => closeServer(server) };
}

export async function nodeListenFd(fd: number, onConn: ConnHandler): Promise<Listener> {
  const server = await nodeListen({ fd } as net.ListenOptions, onConn, `fd ${fd}`);
  return { address: { kind: 'fd', fd }, close: () => closeServer(server) };
}

export function nodeConnect(target: net.NetConnectOpts): Promise<Conn> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ ...target, allowHalfOpen: true });
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.removeListener('error', reject);
      resolve(wrapNodeSocket(socket));
    });
  });
}

/**
 * The fd number of a listening node:net Server. Node and Bun expose it on the handle; Deno's
 * node:net does not, so it is found through /proc (Linux), by the socket's inode.
 */
function serverFd(server: net.Server, target: { kind: 'tcp'; port: number } | { kind: 'unix'; path: string }): number {
  const direct = (server as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  if (typeof direct === 'number' && direct >= 0) return direct;
  const inodes = new Set(
    target.kind === 'tcp'
      ? tcpListeners()
          .filter((l) => l.port === target.port)
          .map((l) => l.inode)
      : unixInodes(target.path),
  );
  for (const name of readdirSync('/proc/self/fd')) {
    const inode = socketInode(name);
    if (inode && inodes.has(inode)) return Number(name);
  }
  throw new Error('cannot find the file descriptor of a listening socket (needs Linux /proc)');
}

export async function nodeBindInheritable(
  target: { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string },
  options?: ListenOptions,
): Promise<InheritableSocket> {
  const what = target.kind === 'tcp' ? `${target.host}:${target.port}` : target.path;
  const server = await new Promise<net.Server>((resolve, reject) => {
    // Connections accepted in the moment before the handoff are dropped (the peer retries).
    const s = net.createServer({ pauseOnConnect: true }, (socket) => socket.destroy());
    s.once('error', (e) => reject(toBindError(e, what)));
    const at = target.kind === 'tcp' ? { host: target.host, port: target.port } : { path: target.path };
    s.listen({ ...at, backlog: options?.backlog }, () => resolve(s));
  });
  const addr = server.address();
  const address: InheritableSocket['address'] =
    target.kind === 'tcp' && addr && typeof addr === 'object'
      ? { kind: 'tcp', host: target.host, port: addr.port }
      : { kind: 'unix', path: target.kind === 'unix' ? target.path : '' };
  const fd = serverFd(server, address.kind === 'tcp' ? { kind: 'tcp', port: address.port } : { kind: 'unix', path: address.path });
  return { fd, address, close: () => closeServer(server) };
}

/** The IPC channel to the parent (node:child_process 'ipc'), on all three runtimes. */
export function nodeParentChannel(parentPid?: number): ParentChannel | null {
  if (typeof process.send !== 'function') return null;
  const channel: ParentChannel = {
    send: (m) => {
      if (process.connected) process.send?.(m as object);
    },
    onMessage: null,
    onDisconnect: null,
  };
  let gone = false;
  const disconnected = () => {
    if (gone) return;
    gone = true;
    clearInterval(watch);
    channel.onDisconnect?.();
  };
  process.on('message', (m) => channel.onMessage?.(m));
  process.on('disconnect', disconnected);
  // A parent killed while this process was starting may close the channel before anyone listens
  // (a worker of a Deno master SIGKILLed during a reload was left running): the parent's pid is
  // the other sign, checked once a second as uWSGI's workers watch their master.
  const parent = parentPid ?? process.ppid;
  const watch = setInterval(() => {
    if (process.ppid !== parent || !process.connected) disconnected();
  }, PARENT_CHECK_MS);
  watch.unref();
  return channel;
}

/** How often a child checks that its parent is still there (see nodeParentChannel). */
const PARENT_CHECK_MS = 1000;

/** Threads through node:worker_threads (Node, Bun and Deno), booted by thread-boot.mjs. */
export function nodeSpawnThread(moduleUrl: string, data: unknown): Thread {
  const w = new Worker(new URL('./thread-boot.mjs', import.meta.url), { workerData: { module: moduleUrl, data } });
  const t: Thread = {
    send: (m) => w.postMessage(m),
    onMessage: null,
    exited: new Promise((resolve) => w.once('exit', resolve)),
    terminate: () => void w.terminate(),
  };
  w.on('message', (m) => t.onMessage?.(m));
  w.on('error', (e) => process.stderr.write(`tsgi: thread failed: ${e.stack ?? e.message}\n`));
  return t;
}

export function nodeThreadChannel(): ThreadChannel | null {
  if (isMainThread || !parentPort) return null;
  const port = parentPort;
  const ch: ThreadChannel = {
    data: (workerData as { data: unknown }).data,
    send: (m) => port.postMessage(m),
    onMessage: null,
  };
  port.on('message', (m) => ch.onMessage?.(m));
  return ch;
}

/** Spawn with node:child_process: works on Node, Bun and Deno alike. */
export function spawnChild(execPath: string, execArgs: string[], options: SpawnOptions): Child {
  // An fd the child gets at the same number is passed as 'inherit': Deno's child_process wraps
  // an fd given by number and, while spawning, accepted a connection on a listening one
  // (seen with Deno 2.9: a request sent during a respawn hung in the master).
  const fds = (options.fds ?? []).map((fd, i) => (fd === 3 + i ? ('inherit' as const) : fd));
  const stdio: Array<'inherit' | 'ipc' | number> = ['inherit', 'inherit', 'inherit', ...fds];
  if (options.ipc) stdio.push('ipc');
  const cp = spawn(execPath, [...execArgs, ...options.args], {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio,
    detached: options.detached ?? false,
  });
  const child: Child = {
    pid: cp.pid ?? -1,
    send: (m) => {
      if (cp.connected) cp.send(m as object);
    },
    onMessage: null,
    // process.kill, not cp.kill: Deno's ChildProcess.kill also closes the IPC channel and
    // reports the child as exited, though a child that handles the signal lives on.
    kill: (sig) => {
      try {
        if (cp.pid) process.kill(cp.pid, sig ?? 'SIGTERM');
      } catch {
        // already gone
      }
    },
    // Deno's node:child_process reports a child it signalled as exited at once, even when the
    // child handles the signal and lives on (Deno 2.9): believe 'exit' once the pid is gone.
    exited: new Promise((resolve) =>
      cp.once('exit', (code, signal) => {
        const pid = cp.pid ?? -1;
        const gone = () => {
          try {
            process.kill(pid, 0);
            return false;
          } catch {
            return true;
          }
        };
        if (pid <= 0 || gone()) return resolve({ code, signal });
        const timer = setInterval(() => {
          if (!gone()) return;
          clearInterval(timer);
          resolve({ code: null, signal: null });
        }, 100);
      }),
    ),
  };
  cp.on('message', (m) => child.onMessage?.(m));
  return child;
}

/** Import a module by absolute path, where the runtime runs TypeScript natively (Bun, Deno). */
export async function importFile(file: string): Promise<Record<string, unknown>> {
  return (await import(pathToFileURL(file).href)) as Record<string, unknown>;
}

/** Every signal tsgi handles: Node and Bun let a process have them all. */
export const ALL_SIGNALS: ReadonlyArray<Exclude<Signal, 'SIGKILL'>> = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];

export function processOnSignal(signal: Exclude<Signal, 'SIGKILL'>, handler: () => void): () => void {
  process.on(signal, handler);
  return () => process.off(signal, handler);
}
