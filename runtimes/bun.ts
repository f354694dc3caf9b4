/**
 * Bun adapter: Bun.listen / Bun.connect for stream sockets (faster than node:net on Bun, see
 * bench/README.md; and the API that takes an inherited fd — docs/ARCHITECTURE.md), node:child_process for
 * children. Bun's socket.write may write part of a buffer: the rest is queued and flushed on drain.
 */
import type {
  Conn,
  ConnHandler,
  HttpHandler,
  Listener,
  ListenOptions,
  NativeHttpOptions,
  NativeHttpTarget,
  NativeWebSocketOptions,
  Peer,
  Runtime,
  WebSocketSession,
  WebSocketTransport,
} from './types.ts';
import { HIGH_WATER, QueuedConn } from './queued-conn.ts';
import { Deadlines } from './deadlines.ts';
import { LINGER_MS } from './linger.ts';
import { RUNTIME_UP, saveCompileCache, typescriptLoader } from './boot.mjs';
import {
  ALL_SIGNALS,
  importFile,
  nodeBindInheritable,
  nodeParentChannel,
  nodeSpawnThread,
  nodeThreadChannel,
  processOnSignal,
  spawnChild,
} from './node-compat.ts';
import { toBindError } from './bind-error.ts';
import { nodeIds, nodeSetIdentity } from './identity.ts';
import { keepResponseBodies, keepResponseSizes } from './kept-body.ts';

// The slice of Bun's API this adapter uses, typed here so the project needs no bun-types.
interface BunSocket {
  data: BunConn;
  write(data: Uint8Array): number;
  end(): void;
  /** Send FIN and keep reading (measured: shutdown(true) sends no FIN and ends our reading). */
  shutdown(halfClose?: boolean): void;
  terminate(): void;
  pause(): void;
  resume(): void;
  setNoDelay?(noDelay: boolean): boolean;
  readonly remoteAddress: string;
  readonly remotePort?: number;
}
interface BunSocketHandler {
  open(s: BunSocket): void;
  data(s: BunSocket, chunk: Uint8Array): void;
  drain(s: BunSocket): void;
  end(s: BunSocket): void;
  close(s: BunSocket, error?: Error): void;
  error(s: BunSocket, error: Error): void;
}
interface BunListener {
  stop(closeActive?: boolean): void;
  readonly hostname?: string;
  readonly port?: number;
}
type BunListenTarget = { hostname: string; port: number } | { unix: string } | { fd: number };
interface BunSocketOptions {
  socket: BunSocketHandler;
  /** Keep the socket when the peer half-closes (Bun closes it at the peer's FIN otherwise). */
  allowHalfOpen: boolean;
}
interface BunServer {
  readonly port: number;
  readonly hostname: string;
  requestIP(req: Request): { address: string; port: number } | null;
  stop(closeActiveConnections?: boolean): Promise<void> | void;
  upgrade(req: Request, options: { data: WebSocketSession; headers?: Record<string, string> }): boolean;
}
/** Bun's ServerWebSocket, as tsgi uses it. */
interface BunServerWebSocket {
  readonly data: WebSocketSession;
  send(data: string | Uint8Array): number;
  close(code?: number, reason?: string): void;
  ping(data?: Uint8Array): number;
  getBufferedAmount(): number;
}
interface BunWebSocketHandlers {
  maxPayloadLength: number;
  idleTimeout: number;
  sendPings: boolean;
  open(ws: BunServerWebSocket): void;
  message(ws: BunServerWebSocket, message: string | Uint8Array): void;
  drain(ws: BunServerWebSocket): void;
  close(ws: BunServerWebSocket, code: number, reason: string): void;
}
interface BunServeOptions {
  hostname: string;
  port: number;
  reusePort: boolean;
  maxRequestBodySize?: number;
  fetch(req: Request, server: BunServer): Response | undefined | Promise<Response | undefined>;
  error(e: Error): Response;
  websocket?: BunWebSocketHandlers;
}
interface BunGlobal {
  version: string;
  serve(options: BunServeOptions): BunServer;
  listen(options: BunListenTarget & BunSocketOptions): BunListener;
  connect(options: ({ hostname: string; port: number } | { unix: string }) & BunSocketOptions): Promise<BunSocket>;
}
const Bun = (globalThis as unknown as { Bun: BunGlobal }).Bun;

/** Connections that sent their FIN and wait for the peer's (one timer for all of them). */
const lingering = Deadlines.of(LINGER_MS);

/** Per-socket state: the Conn handed to the core, with its pending-write queue. */
class BunConn extends QueuedConn {
  private readonly socket: BunSocket;
  private address: string | undefined;
  constructor(socket: BunSocket) {
    super();
    this.socket = socket;
  }
  get remoteAddress(): string {
    this.address ??= this.socket.remoteAddress ?? '';
    return this.address;
  }
  get remotePort(): number {
    return this.socket.remotePort ?? 0;
  }
  pause(): void {
    this.socket.pause();
  }
  resume(): void {
    this.socket.resume();
  }
  write(chunk: Uint8Array): boolean {
    if (this.closed || this.ending) return false;
    if (this.queued === 0) {
      const n = this.socket.write(chunk);
      if (n >= chunk.length) return true;
      chunk = chunk.subarray(Math.max(n, 0));
    }
    this.queue.push(chunk);
    this.queued += chunk.length;
    return this.queued < HIGH_WATER;
  }
  end(): void {
    if (this.closed || this.ending) return;
    this.ending = true;
    if (this.queued === 0) this.finish();
  }
  /**
   * Everything is written: FIN, and close once the peer does (or after LINGER_MS), reading and
   * dropping what it still sends. Bun's socket.end() closed at once: bytes arriving after it
   * reset the connection, and the peer could lose the end of the answer.
   */
  private finish(): void {
    if (this.ended) return this.socket.end();
    this.socket.shutdown();
    lingering.add(this);
  }
  /** The peer did not close its side within LINGER_MS of our FIN. */
  expire(): void {
    this.socket.terminate();
  }
  override inputEnded(): void {
    super.inputEnded();
    if (this.ending && !this.halfClose && this.queued === 0) this.socket.end();
  }
  closeWrite(): void {
    if (this.closed || this.ending) return;
    this.ending = true;
    this.halfClose = true;
    if (this.queued === 0) this.socket.shutdown();
  }
  destroy(): void {
    this.socket.terminate();
  }
  /** Bun says the socket can take more: write what is queued. */
  flush(): void {
    while (this.queue.length > 0) {
      const head = this.queue[0];
      const n = this.socket.write(head);
      if (n <= 0) break;
      this.queued -= n;
      if (n < head.length) {
        this.queue[0] = head.subarray(n);
        break;
      }
      this.queue.shift();
    }
    if (this.queued < HIGH_WATER) this.wake();
    if (this.queued === 0 && this.ending) {
      if (this.halfClose) this.socket.shutdown();
      else this.finish();
    }
  }
  /** Bun closed the socket (either side, or an error). */
  gone(error?: Error): void {
    lingering.remove(this);
    this.closedBy(error);
  }
}

/** `stream`: 'unix' for a UNIX socket, which has no Nagle to turn off (setNoDelay cost 2.6 % of a uwsgi worker's samples). */
function handler(onOpen: (conn: BunConn) => void, stream: 'tcp' | 'unix' | 'fd'): BunSocketHandler {
  const noDelay = stream !== 'unix';
  return {
    open(s) {
      if (noDelay) s.setNoDelay?.(true);
      s.data = new BunConn(s);
      onOpen(s.data);
    },
    data: (s, chunk) => s.data.onData?.(chunk),
    drain: (s) => s.data.flush(),
    end: (s) => s.data.inputEnded(),
    close: (s, error) => s.data?.gone(error),
    error: (s, error) => s.data?.gone(error),
  };
}

function listen(target: BunListenTarget, onConn: ConnHandler, what: string): BunListener {
  try {
    const stream = 'unix' in target ? 'unix' : 'fd' in target ? 'fd' : 'tcp';
    return Bun.listen({ ...target, socket: handler(onConn, stream), allowHalfOpen: true });
  } catch (e) {
    throw toBindError(e, what);
  }
}

async function connect(target: { hostname: string; port: number } | { unix: string }): Promise<Conn> {
  let conn: BunConn | undefined;
  await Bun.connect({ ...target, socket: handler((c) => (conn = c), 'unix' in target ? 'unix' : 'tcp'), allowHalfOpen: true });
  if (!conn) throw new Error('Bun.connect resolved before its socket opened');
  return conn;
}

/** The client's address, asked of Bun only when used (requestIP cost 13 % of hello world). */
class BunPeer implements Peer {
  private ip: { address: string; port: number } | null | undefined;
  private readonly server: BunServer;
  private readonly req: Request;
  constructor(server: BunServer, req: Request) {
    this.server = server;
    this.req = req;
  }
  private get(): { address: string; port: number } | null {
    if (this.ip === undefined) this.ip = this.server.requestIP(this.req);
    return this.ip;
  }
  get address(): string {
    return this.get()?.address ?? '';
  }
  get port(): number {
    return this.get()?.port ?? 0;
  }
}

/** Bun's ServerWebSocket as a session's transport. */
class BunTransport implements WebSocketTransport {
  readonly #ws: BunServerWebSocket;
  constructor(ws: BunServerWebSocket) {
    this.#ws = ws;
  }
  get bufferedAmount(): number {
    return this.#ws.getBufferedAmount();
  }
  send(data: string | Uint8Array): number {
    // Bun: -1 queued above its backpressure mark (drain follows), 0 dropped, else the bytes sent.
    return this.#ws.send(data);
  }
  ping(data: Uint8Array): void {
    this.#ws.ping(data);
  }
  close(code: number, reason: string): void {
    this.#ws.close(code, reason);
  }
}

/** The app accepted a WebSocket: Bun's server.upgrade() takes the request (undefined: Bun answers the 101). */
function bunUpgrade(ws: NativeWebSocketOptions, server: BunServer, req: Request, res: Response): Response | undefined {
  const session = ws.accepted(res);
  if (session === null) return res;
  if (server.upgrade(req, { data: session, headers: session.protocol ? { 'sec-websocket-protocol': session.protocol } : undefined })) return undefined;
  session.closed(1006, '');
  return new Response('this request cannot be upgraded to a WebSocket\n', { status: 400 });
}

/**
 * Bun's WebSocket server with tsgi's limits: messages up to --websockets-max-size, and Bun's
 * pings (sendPings) with one idle timeout: no data, pongs included, for ping-freq + pong-tolerance.
 */
function bunWebSocketHandlers(ws: NativeWebSocketOptions): BunWebSocketHandlers {
  return {
    maxPayloadLength: ws.maxMessage,
    idleTimeout: Math.min(960, Math.max(1, Math.ceil((ws.pingMs + ws.pongMs) / 1000))),
    sendPings: true,
    open: (s) => s.data.opened(new BunTransport(s)),
    // A binary message is a Buffer: a Uint8Array.
    message: (s, message) => void s.data.message(message),
    drain: (s) => s.data.drained(),
    close: (s, code, reason) => s.data.closed(code, reason),
  };
}

/** Bun.serve on TCP. Its own limits apply too: request heads above 16 KiB get 431 from Bun. */
function serveHttp(target: NativeHttpTarget, handler: HttpHandler, options: NativeHttpOptions): Promise<Listener> {
  if (target.kind !== 'tcp') return Promise.reject(new Error(`Bun.serve cannot serve a shared ${target.kind} socket here`));
  let server: BunServer;
  try {
    server = Bun.serve({
      hostname: target.host,
      port: target.port,
      reusePort: target.reusePort,
      // 0 would refuse every body: "no limit" is the largest size Bun takes.
      maxRequestBodySize: options.maxBodySize > 0 ? options.maxBodySize : Number.MAX_SAFE_INTEGER,
      fetch: (req, srv) => {
        const out = handler(req, new BunPeer(srv, req));
        const ws = options.webSockets;
        if (ws === undefined) return out;
        return out instanceof Response ? bunUpgrade(ws, srv, req, out) : out.then((res) => bunUpgrade(ws, srv, req, res));
      },
      websocket: options.webSockets && bunWebSocketHandlers(options.webSockets),
      // The core's handler answers errors itself; this is for Bun's own failures.
      error: (e) => new Response(`Internal Server Error: ${e.message}\n`, { status: 500 }),
    });
  } catch (e) {
    return Promise.reject(toBindError(e, `${target.host}:${target.port}`));
  }
  return Promise.resolve({
    address: { kind: 'tcp', host: server.hostname, port: server.port },
    close: async () => {
      // Stop accepting; requests in flight finish (the core waits for them).
      await server.stop(false);
    },
  });
}

export function createBunRuntime(): Runtime {
  const execPath = process.execPath;
  return {
    name: 'bun',
    version: Bun.version,
    socketApi: 'Bun.listen',
    typescript: typescriptLoader,
    saveCompileCache,
    keptBodies: keepResponseBodies,
    lazyRequests: async () => null,
    keptSizes: keepResponseSizes,
    up: RUNTIME_UP,
    importModule: importFile,
    async listenTcp(host: string, port: number, onConn: ConnHandler, _options?: ListenOptions): Promise<Listener> {
      // Bun.listen has no backlog option: the kernel default (SOMAXCONN) applies.
      const l = listen({ hostname: host, port }, onConn, `${host}:${port}`);
      return { address: { kind: 'tcp', host: l.hostname ?? host, port: l.port ?? port }, close: async () => l.stop() };
    },
    async listenUnix(path: string, onConn: ConnHandler): Promise<Listener> {
      const l = listen({ unix: path }, onConn, path);
      return { address: { kind: 'unix', path }, close: async () => l.stop() };
    },
    async listenFd(fd: number, onConn: ConnHandler): Promise<Listener> {
      const l = listen({ fd }, onConn, `fd ${fd}`);
      return { address: { kind: 'fd', fd }, close: async () => l.stop() };
    },
    serveHttp,
    serveHttps: async (target, handler, options, tls) => (await import('./node-tls.ts')).serveHttps(target, handler, options, tls, false),
    tls: { server: 'node:http2', h2: true, clientCerts: true, sni: true },
    nativeHttpKinds: ['tcp'],
    nativeHttpHonorsClose: true,
    nativeHttpTakesOver: false,
    nodeHttpServer: false,
    bindInheritable: nodeBindInheritable,
    bareBinder: async () => {
      const [{ BareSockets }, { bunLibc }] = await Promise.all([import('./bare-socket.ts'), import('./bun-libc.ts')]);
      return new BareSockets(await bunLibc()).bind;
    },
    parentChannel: nodeParentChannel,
    spawnThread: nodeSpawnThread,
    threadChannel: nodeThreadChannel,
    connectTcp: (host, port) => connect({ hostname: host, port }),
    connectUnix: (path) => connect({ unix: path }),
    spawnSelf: (o) => spawnChild(execPath, [], o),
    onSignal: processOnSignal,
    signals: ALL_SIGNALS,
    pid: process.pid,
    ids: nodeIds,
    identityProblem: () => null,
    setIdentity: (id) => nodeSetIdentity(id),
    rss: () => process.memoryUsage.rss(),
    exit: (code) => process.exit(code),
    execPath,
    execArgs: [],
  };
}
