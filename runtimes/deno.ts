/**
 * Deno adapter: Deno.listen / Deno.connect with raw conn.read into a buffer and conn.write in a
 * loop (the stream API is ≈2.5× slower, docs/ARCHITECTURE.md); node:net only for inherited fds, which
 * Deno.listen cannot take; node:child_process for children.
 */
import type {
  Conn,
  ConnHandler,
  HttpHandler,
  Listener,
  ListenOptions,
  NativeHttpOptions,
  NativeHttpTarget,
  NativeUpgrade,
  NativeWebSocketOptions,
  Peer,
  Runtime,
  Signal,
  WebSocketSession,
  WebSocketTransport,
} from './types.ts';
import { HIGH_WATER, QueuedConn } from './queued-conn.ts';
import { LINGER_MS } from './linger.ts';
import { Deadlines } from './deadlines.ts';
import { RUNTIME_UP, saveCompileCache, typescriptLoader } from './boot.mjs';
import { importFile, nodeBindInheritable, nodeListenFd, nodeParentChannel, nodeSpawnThread, nodeThreadChannel, spawnChild } from './node-compat.ts';
import { toBindError } from './bind-error.ts';
import { nodeIds } from './identity.ts';
import { denoIdentityProblem, denoSetIdentity } from './deno-identity.ts';
import { keepResponseBodies, keepResponseSizes } from './kept-body.ts';

// The slice of Deno's API this adapter uses, typed here so the project needs no Deno types.
interface DenoConn {
  read(p: Uint8Array): Promise<number | null>;
  write(p: Uint8Array): Promise<number>;
  close(): void;
  closeWrite(): Promise<void>;
  setNoDelay?(noDelay?: boolean): void;
  readonly remoteAddr: { transport: string; hostname?: string; port?: number; path?: string };
}
interface DenoListener extends AsyncIterable<DenoConn> {
  accept(): Promise<DenoConn>;
  close(): void;
  readonly addr: { hostname?: string; port?: number; path?: string };
}
interface DenoHttpServer {
  readonly addr: { hostname: string; port: number };
  shutdown(): Promise<void>;
}
interface DenoServeInit {
  hostname: string;
  port: number;
  reusePort: boolean;
  onListen(addr: { hostname: string; port: number }): void;
  onError(e: unknown): Response;
}
interface DenoGlobal {
  version: { deno: string };
  serve(
    options: DenoServeInit,
    handler: (req: Request, info: { remoteAddr: { hostname: string; port: number } }) => Response | Promise<Response>,
  ): DenoHttpServer;
  execPath(): string;
  listen(o: { hostname: string; port: number; transport?: 'tcp' } | { transport: 'unix'; path: string }): DenoListener;
  connect(o: { hostname: string; port: number; transport?: 'tcp' } | { transport: 'unix'; path: string }): Promise<DenoConn>;
  addSignalListener(s: Signal, h: () => void): void;
  removeSignalListener(s: Signal, h: () => void): void;
  memoryUsage(): { rss: number };
  upgradeWebSocket(req: Request, options: { protocol?: string; idleTimeout?: number }): { socket: WebSocket; response: Response };
  exit(code: number): never;
  pid: number;
}
const Deno = (globalThis as unknown as { Deno: DenoGlobal }).Deno;

const READ_SIZE = 64 * 1024;

/**
 * Read buffers of connections that have closed, for the next ones: a fresh 64 KiB buffer per
 * connection (zeroed, then collected) was 11 % of a uwsgi worker's samples and much of its GC
 * (one request per connection, `deno --cpu-prof`). A connection reads into a small pooled buffer
 * (a request head fits) and switches to a 64 KiB one of its own once a read fills it (a body);
 * the small one is taken back only once the connection's read loop is over (no read is pending
 * on it). At most POOL_SIZE are kept (2 MiB).
 */
class ReadBuffers {
  static readonly SMALL = 16 * 1024;
  static readonly POOL_SIZE = 128;
  readonly #free: Uint8Array[] = [];

  take(): Uint8Array {
    return this.#free.pop() ?? new Uint8Array(ReadBuffers.SMALL);
  }

  give(buf: Uint8Array): void {
    if (buf.length === ReadBuffers.SMALL && this.#free.length < ReadBuffers.POOL_SIZE) this.#free.push(buf);
  }
}
const readBuffers = new ReadBuffers();

/**
 * Deno.upgradeWebSocket takes only requests Deno.serve made: behind
 * tsgi's own servers (the router's internal socket, UNIX sockets, a master's port) the app's
 * call gets tsgi's portable WebSocket in its shape instead.
 */
function adoptNativeUpgrade(fallback: NativeUpgrade): void {
  if (fromDenoServe !== null) return;
  const own = Deno.upgradeWebSocket.bind(Deno);
  const served = new WeakSet<Request>();
  fromDenoServe = served;
  // Deno's call does not throw on another request: its socket would never open.
  Deno.upgradeWebSocket = (req, options) => (served.has(req) ? own(req, options ?? {}) : (fallback(req, options) as ReturnType<typeof own>));
}

/** The requests Deno.serve made, once adoptNativeUpgrade needs to tell them apart. */
let fromDenoServe: WeakSet<Request> | null = null;

/** Connections that sent their FIN and wait for the peer's (one timer for all of them). */
const lingering = Deadlines.of(LINGER_MS);

class DenoStreamConn extends QueuedConn {
  private paused = false;
  private resumeReading: (() => void) | null = null;
  private writing = false;

  private readonly conn: DenoConn;

  constructor(conn: DenoConn, tcp: boolean) {
    super();
    this.conn = conn;
    // UNIX sockets have no Nagle to turn off.
    if (tcp) {
      try {
        conn.setNoDelay?.(true);
      } catch {
        // a connection already reset: its reads say so
      }
    }
  }
  get remoteAddress(): string {
    return this.conn.remoteAddr.hostname ?? '';
  }
  get remotePort(): number {
    return this.conn.remoteAddr.port ?? 0;
  }

  /** The read loop: one buffer, each chunk copied out so the receiver owns it. */
  async run(): Promise<void> {
    const pooled = readBuffers.take();
    let buf = pooled;
    let error: Error | undefined;
    try {
      while (!this.closed) {
        if (this.paused) await new Promise<void>((r) => (this.resumeReading = r));
        if (this.closed) break;
        const n = await this.conn.read(buf);
        if (n === null) break;
        this.onData?.(buf.slice(0, n));
        if (n === buf.length && buf.length < READ_SIZE) buf = new Uint8Array(READ_SIZE);
      }
    } catch (e) {
      if (!this.closed) error = e as Error;
    }
    readBuffers.give(pooled);
    this.inputEnded();
    if (error) this.shut(error);
    else if (this.ending && !this.writing) this.shut();
    // Otherwise the peer half-closed and an answer may still be coming: end() closes then.
  }
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
    const r = this.resumeReading;
    this.resumeReading = null;
    r?.();
  }
  write(chunk: Uint8Array): boolean {
    if (this.closed || this.ending) return false;
    this.queue.push(chunk);
    this.queued += chunk.length;
    if (!this.writing) void this.pump();
    return this.queued < HIGH_WATER;
  }
  end(): void {
    if (this.closed || this.ending) return;
    this.ending = true;
    if (!this.writing) void this.finish();
  }
  destroy(): void {
    this.shut();
  }
  private async pump(): Promise<void> {
    this.writing = true;
    try {
      while (this.queue.length > 0 && !this.closed) {
        let chunk = this.queue[0];
        // Coalesce small pending chunks into one write.
        if (this.queue.length > 1 && this.queued <= READ_SIZE) {
          chunk = new Uint8Array(this.queued);
          let o = 0;
          for (const c of this.queue) {
            chunk.set(c, o);
            o += c.length;
          }
          this.queue = [chunk];
        }
        let off = 0;
        while (off < chunk.length) off += await this.conn.write(chunk.subarray(off));
        this.queue.shift();
        this.queued -= chunk.length;
        if (this.queued < HIGH_WATER) this.wake();
      }
    } catch (e) {
      this.writing = false;
      this.shut(e as Error);
      return;
    }
    this.writing = false;
    if (this.halfClose) void this.sendFin();
    else if (this.ending) void this.finish();
  }
  closeWrite(): void {
    if (this.closed || this.ending) return;
    this.ending = true;
    this.halfClose = true;
    if (!this.writing) void this.sendFin();
  }
  /** FIN after what is queued; reading goes on until the peer closes. */
  private async sendFin(): Promise<void> {
    try {
      await this.conn.closeWrite();
    } catch {
      this.shut();
    }
  }
  /**
   * Everything is written: half-close, and close once the peer does (or after a while), so that
   * bytes the peer is still sending never meet a closed socket (which would reset the connection).
   */
  private async finish(): Promise<void> {
    if (this.ended) return this.shut();
    try {
      await this.conn.closeWrite();
    } catch {
      return this.shut();
    }
    lingering.add(this);
    this.onEnd = () => this.shut();
  }
  /** The peer did not close its side within LINGER_MS of our FIN (lingering). */
  expire(): void {
    this.shut();
  }
  private shut(error?: Error): void {
    if (this.closed) return;
    lingering.remove(this);
    try {
      this.conn.close();
    } catch {
      // already closed by the peer
    }
    this.closedBy(error);
    this.resume();
  }
}

function serve(listener: DenoListener, onConn: ConnHandler, tcp: boolean): void {
  void (async () => {
    for (;;) {
      let raw: DenoConn;
      try {
        raw = await listener.accept();
      } catch (e) {
        const name = (e as Error).name;
        if (name === 'BadResource' || name === 'Interrupted') return; // listener closed
        process.stderr.write(`tsgi: accept failed: ${(e as Error).message}\n`);
        await new Promise((r) => setTimeout(r, 10));
        continue;
      }
      const conn = new DenoStreamConn(raw, tcp);
      onConn(conn);
      void conn.run();
    }
  })();
}

function listen(o: { hostname: string; port: number } | { transport: 'unix'; path: string }, onConn: ConnHandler, what: string): DenoListener {
  let l: DenoListener;
  try {
    l = Deno.listen(o);
  } catch (e) {
    throw toBindError(e, what);
  }
  serve(l, onConn, !('transport' in o));
  return l;
}

async function connect(o: { hostname: string; port: number } | { transport: 'unix'; path: string }): Promise<Conn> {
  const raw = await Deno.connect(o);
  const conn = new DenoStreamConn(raw, !('transport' in o));
  // Start reading once the caller has set its handlers: the caller's continuation runs before
  // any read can complete (a read needs an I/O turn). A timer here cost ≥ 1 ms per connection.
  queueMicrotask(() => void conn.run());
  return conn;
}

function closeListener(l: DenoListener): Promise<void> {
  try {
    l.close();
  } catch {
    // already closed
  }
  return Promise.resolve();
}

/**
 * The client's address, read from Deno's info only when used. Deno throws ("Request closed") when
 * it is first read after the client went (a request log line written as a reset cancels the
 * answer): unknown then, as for a UNIX socket peer.
 */
class DenoPeer implements Peer {
  private addr: { hostname: string; port: number } | undefined;
  private readonly info: { remoteAddr: { hostname: string; port: number } };
  constructor(info: { remoteAddr: { hostname: string; port: number } }) {
    this.info = info;
  }
  private get(): { hostname: string; port: number } {
    if (this.addr === undefined) {
      try {
        this.addr = this.info.remoteAddr;
      } catch {
        this.addr = { hostname: '', port: 0 };
      }
    }
    return this.addr;
  }
  get address(): string {
    return this.get().hostname;
  }
  get port(): number {
    return this.get().port;
  }
}

const encoder = new TextEncoder();
/** Bytes of a message (a string as UTF-8). */
function byteLength(data: string | Uint8Array): number {
  return typeof data === 'string' ? encoder.encode(data).length : data.length;
}

/** Deno's server-side WebSocket as a session's transport. */
class DenoTransport implements WebSocketTransport {
  readonly #socket: WebSocket;
  readonly #session: WebSocketSession;
  #draining = false;

  constructor(socket: WebSocket, session: WebSocketSession) {
    this.#socket = socket;
    this.#session = session;
  }

  get bufferedAmount(): number {
    return this.#socket.bufferedAmount;
  }

  send(data: string | Uint8Array): number {
    this.#socket.send(data as string | Uint8Array<ArrayBuffer>);
    if (this.#socket.bufferedAmount < HIGH_WATER) return byteLength(data);
    this.#watchDrain();
    return -1;
  }

  /** Deno's WebSocket has no ping of its own to send: its idleTimeout pings instead. */
  ping(_data: Uint8Array): void {}

  close(code: number, reason: string): void {
    this.#socket.close(code, reason);
  }

  /** Deno tells nothing when its queue empties: look every 10 ms. */
  #watchDrain(): void {
    if (this.#draining) return;
    this.#draining = true;
    const timer = setInterval(() => {
      if (this.#socket.bufferedAmount >= HIGH_WATER && this.#socket.readyState === WebSocket.OPEN) return;
      clearInterval(timer);
      this.#draining = false;
      if (this.#socket.readyState === WebSocket.OPEN) this.#session.drained();
    }, 10);
  }
}

/**
 * The app accepted a WebSocket: Deno.upgradeWebSocket on the Request Deno.serve gave (another
 * Request object cannot be upgraded), with Deno's pings: a ping after pingFreq + pongTolerance of
 * silence, and the close when no pong follows. Messages above --websockets-max-size are closed
 * here with 1009, since Deno has no limit to set.
 */
function denoUpgrade(ws: NativeWebSocketOptions, req: Request, res: Response): Response {
  const session = ws.accepted(res);
  if (session === null) return res;
  let upgraded: { socket: WebSocket; response: Response };
  try {
    upgraded = Deno.upgradeWebSocket(req, { protocol: session.protocol || undefined, idleTimeout: Math.max(1, Math.ceil((ws.pingMs + ws.pongMs) / 1000)) });
  } catch (e) {
    session.closed(1006, '');
    return new Response(`this request cannot be upgraded to a WebSocket: ${(e as Error).message}\n`, { status: 400 });
  }
  const { socket } = upgraded;
  socket.binaryType = 'arraybuffer';
  const transport = new DenoTransport(socket, session);
  socket.onopen = () => session.opened(transport);
  socket.onmessage = (e: MessageEvent<string | ArrayBuffer>) => {
    const data = typeof e.data === 'string' ? e.data : new Uint8Array(e.data);
    if (byteLength(data) > ws.maxMessage) return socket.close(1009, 'message too big');
    void session.message(data);
  };
  socket.onclose = (e: CloseEvent) => session.closed(e.code, e.reason);
  return upgraded.response;
}

/**
 * Deno.serve on TCP; with reusePort (Linux) several processes share the port — Deno wants
 * --unstable-net for that, which the children get (execArgs). Deno.serve has no body limit:
 * the core's handler enforces --limit-post.
 */
function serveHttp(target: NativeHttpTarget, handler: HttpHandler, options: NativeHttpOptions): Promise<Listener> {
  if (target.kind !== 'tcp') return Promise.reject(new Error(`Deno.serve cannot serve a shared ${target.kind} socket here`));
  let server: DenoHttpServer;
  try {
    server = Deno.serve(
      {
        hostname: target.host,
        port: target.port,
        reusePort: target.reusePort,
        onListen() {},
        onError: (e) => new Response(`Internal Server Error: ${(e as Error).message}\n`, { status: 500 }),
      },
      (req, info) => {
        fromDenoServe?.add(req);
        const out = handler(req, new DenoPeer(info));
        const ws = options.webSockets;
        if (ws === undefined) return out;
        return out instanceof Response ? denoUpgrade(ws, req, out) : out.then((res) => denoUpgrade(ws, req, res));
      },
    );
  } catch (e) {
    return Promise.reject(toBindError(e, `${target.host}:${target.port}`));
  }
  return Promise.resolve({
    address: { kind: 'tcp', host: server.addr.hostname, port: server.addr.port },
    // Stops accepting and resolves once requests in flight are answered.
    close: () => server.shutdown(),
  });
}

export function createDenoRuntime(): Runtime {
  const execPath = Deno.execPath();
  // --unstable-no-legacy-abort: Deno.serve's req.signal aborts only when the client goes, not
  // after every answer too (Deno 2.9's default, deprecated; deno.json says it for this process).
  const execArgs = ['run', '-A', '--unstable-net', '--unstable-no-legacy-abort'];
  return {
    name: 'deno',
    version: Deno.version.deno,
    socketApi: 'Deno.listen',
    typescript: typescriptLoader,
    saveCompileCache,
    keptBodies: keepResponseBodies,
    lazyRequests: async () => (await import('./lazy-request.ts')).lazyRequests(),
    keptSizes: keepResponseSizes,
    up: RUNTIME_UP,
    importModule: importFile,
    async listenTcp(host: string, port: number, onConn: ConnHandler, _options?: ListenOptions): Promise<Listener> {
      // Deno.listen has no backlog option: the kernel default (SOMAXCONN) applies.
      const l = listen({ hostname: host, port }, onConn, `${host}:${port}`);
      return { address: { kind: 'tcp', host: l.addr.hostname ?? host, port: l.addr.port ?? port }, close: () => closeListener(l) };
    },
    async listenUnix(path: string, onConn: ConnHandler): Promise<Listener> {
      const l = listen({ transport: 'unix', path }, onConn, path);
      return { address: { kind: 'unix', path }, close: () => closeListener(l) };
    },
    listenFd: nodeListenFd,
    serveHttp,
    nativeHttpKinds: ['tcp'],
    serveHttps: async (target, handler, options, tls) => (await import('./node-tls.ts')).serveHttps(target, handler, options, tls, false),
    tls: { server: 'node:http2', h2: true, clientCerts: false, sni: true },
    nativeHttpHonorsClose: false,
    nativeHttpTakesOver: false,
    nodeHttpServer: false,
    adoptNativeUpgrade,
    bindInheritable: nodeBindInheritable,
    // Measured on Deno 2.9: its node:child_process clears O_NONBLOCK on every fd it is given by
    // number, and the flag is the socket's, shared with the router and the workers (after a
    // respawn the router's accept blocked its event loop). So the bare sockets are not
    // close-on-exec and the children inherit them at the master's own numbers, untouched.
    bareBinder: async () => {
      const [{ BareSockets }, { denoLibc }] = await Promise.all([import('./bare-socket.ts'), import('./deno-libc.ts')]);
      const libc = denoLibc();
      return libc ? new BareSockets(libc, { inPlace: true }).bind : null;
    },
    parentChannel: nodeParentChannel,
    spawnThread: nodeSpawnThread,
    threadChannel: nodeThreadChannel,
    connectTcp: (host, port) => connect({ hostname: host, port }),
    connectUnix: (path) => connect({ transport: 'unix', path }),
    spawnSelf: (o) => spawnChild(execPath, execArgs, o),
    onSignal(signal, handler) {
      Deno.addSignalListener(signal, handler);
      return () => Deno.removeSignalListener(signal, handler);
    },
    signals: ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR2'],
    pid: Deno.pid,
    ids: nodeIds,
    identityProblem: denoIdentityProblem,
    setIdentity: denoSetIdentity,
    rss: () => Deno.memoryUsage().rss,
    exit: (code) => Deno.exit(code),
    execPath,
    execArgs,
  };
}
