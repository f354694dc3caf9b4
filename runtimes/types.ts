/**
 * The runtime seam: everything the core (src/) needs from Node, Bun or Deno that is not plain
 * web-standard JavaScript. One implementation per runtime in runtimes/{node,bun,deno}.ts; the
 * core never names a runtime. Runtime detection lives in runtimes/detect.ts only.
 */

export type RuntimeName = 'node' | 'bun' | 'deno';

/** A connected, duplex byte stream (an accepted or an outgoing socket). */
export interface Conn {
  /** Peer address ("127.0.0.1", "::1"; "" for UNIX sockets) and port (0 for UNIX sockets). */
  readonly remoteAddress: string;
  readonly remotePort: number;
  /**
   * Bytes read from the peer. Each chunk is owned by the receiver (the adapter never reuses its
   * memory). Set before the first event-loop turn after the connection is handed over.
   */
  onData: ((chunk: Uint8Array) => void) | null;
  /**
   * The peer will send nothing more (it half-closed, or the connection is gone). At most once.
   * A half-closed connection stays writable: the peer still reads the answer (an adapter never
   * closes on the peer's FIN by itself).
   */
  onEnd: (() => void) | null;
  /** The connection is gone: closed by either side, failed, or destroyed. At most once. */
  onClose: ((error?: Error) => void) | null;
  /** Stop delivering onData until resume(): the kernel buffer fills and the peer is slowed. */
  pause(): void;
  resume(): void;
  /**
   * Queue bytes for the peer. The bytes are copied or fully owned by the adapter after the call.
   * Returns false when the queue is above the high-water mark: wait for drained() before more.
   */
  write(chunk: Uint8Array): boolean;
  /** Resolves when the write queue is below the high-water mark (at once if already so). */
  drained(): Promise<void>;
  /** Flush everything queued, then close. */
  end(): void;
  /**
   * Flush everything queued, then half-close: the peer reads the end of input (FIN) and may still
   * answer; reading goes on until it closes. Nothing more may be written.
   */
  closeWrite(): void;
  /** Close at once, dropping what is queued. */
  destroy(): void;
}

export type ConnHandler = (conn: Conn) => void;

/** Who sent a request: "127.0.0.1", "::1" ("" for a UNIX socket peer) and port (0 for UNIX). */
export interface Peer {
  address: string;
  port: number;
  /**
   * On a TLS port that asks for client certificates (mTLS): the verified certificate's subject
   * as an RFC 2253 string ("CN=client one,O=Acme", as nginx's $ssl_client_s_dn). Else undefined.
   */
  readonly clientSubject?: string;
  /**
   * Bytes of the request head as the client sent it (request line, header lines, CRLFs), where
   * the server has them without building req.headers (node:http's raw headers: Hono's adapter
   * builds a Headers object when req.headers is read). Absent: the core counts req.headers.
   */
  readonly headBytes?: number;
}

/**
 * The runtime's HTTP server hands each request over with `req.signal` meaning "the client went
 * away": it aborts with clientGone() when the client goes before the answer is complete, and
 * never after a complete answer.
 */
export type HttpHandler = (req: Request, peer: Peer) => Response | Promise<Response>;

/**
 * A request head as an HTTP server parsed it, for a raw handler (the --http router's fast path,
 * src/router/raw.ts): no Request, no Headers.
 */
export interface RawRequestHead {
  readonly method: string;
  /** The request target as sent ("/path?query"). */
  readonly target: string;
  /** HTTP/1.1 (else HTTP/1.0). */
  readonly v11: boolean;
  /** The header lines as sent, flat: name, value, name, value, … (values without surrounding spaces). */
  readonly headers: readonly string[];
  /** Bytes of the head as sent: request line, header lines, CRLFs. */
  readonly headBytes: number;
  readonly peer: Peer;
}

/** Where a raw handler writes its answer (the server frames it and decides the connection's keep-alive). */
export interface RawReply {
  /**
   * The answer head: status, reason phrase, header pairs (flat, no Connection or Transfer-Encoding).
   * A body without Content-Length streams in the server's framing. `close`: the connection closes after it.
   */
  head(status: number, reason: string, headers: string[], close: boolean): void;
  /** The whole answer at once, as head(), the body (none on HEAD, 1xx, 204, 304) and end() in one write. */
  answer(status: number, reason: string, headers: string[], close: boolean, body: Uint8Array | null): void;
  /** Body bytes (none on HEAD, 1xx, 204, 304). False above the high-water mark: wait for onDrain. */
  write(chunk: Uint8Array): boolean;
  /** Called when writes may go on after write() said false. */
  onDrain: (() => void) | null;
  /** The answer is complete. */
  end(): void;
  /** The answer will not complete: the client's connection closes at once. */
  destroy(): void;
  /** The client went (closed, or sent its FIN: TCP cannot tell which) before the answer was complete: at most once. */
  onGone: (() => void) | null;
  /** The client's connection closed before the answer was complete (after onGone): nothing more can be written. */
  onAbort: (() => void) | null;
}

/**
 * Tried by the server first, for every request: true when it takes the request (and answers on
 * `reply`), false when it is not its own (then the server builds a Request for the handler as
 * usual). It takes only requests without a body (the server reads none for it).
 */
export type RawHandler = (head: RawRequestHead, reply: RawReply) => boolean;

/**
 * Where the runtime's own HTTP server listens: TCP (reusePort: several processes and threads
 * bind the same port, the kernel spreads connections), a UNIX socket path, or an inherited fd.
 * Runtime.nativeHttpKinds says which a runtime takes.
 */
export type NativeHttpTarget = { kind: 'tcp'; host: string; port: number; reusePort: boolean } | { kind: 'unix'; path: string } | { kind: 'fd'; fd: number };

export interface NativeHttpOptions {
  /** Largest request body (0: no limit): the runtime answers 413 above it, where it can. */
  maxBodySize: number;
  /** Largest request head the runtime should let through (--buffer-size), where it can be set. */
  maxHeadSize: number;
  /** Listen backlog, where the runtime takes one. */
  backlog?: number;
  /**
   * Told of each accepted connection, where the server shows them (node:http): the call it
   * returns is made once the connection has started a request or closed. A graceful stop waits
   * for those (see CoreCounters.accepted in src/worker/counters.ts).
   */
  accepted?: () => () => void;
  /** After close(), how long a connection that has sent no request yet may take to send one. */
  headTimeoutMs?: number;
  /** serveHttps: a connection with no traffic either way for this long is closed (--http-timeout). */
  idleTimeoutMs?: number;
  /** Carry the WebSockets the app accepts (the upgrade request reaches the handler as any other). */
  webSockets?: NativeWebSocketOptions;
  /**
   * The app's `injectWebSocket` export (@hono/node-ws), where the server is a node:http server
   * (nodeHttpServer): called with it, and the 'upgrade' listeners it adds answer that server's
   * upgrade requests instead of tsgi's handling (one answer to each).
   */
  injectServer?: (server: unknown) => void;
  /** Tried before the handler on each request without a body (node:http; see RawHandler). */
  raw?: RawHandler;
}

/**
 * What carries one WebSocket's frames: tsgi's own codec over a Conn (src/worker/websocket.ts), or
 * the runtime's server (Bun.serve's ServerWebSocket, Deno.upgradeWebSocket's socket).
 */
export interface WebSocketTransport {
  /** Queue a message: the bytes queued, or -1 when the queue is above its high-water mark (wait for the session's drained()). */
  send(data: string | Uint8Array): number;
  ping(data: Uint8Array): void;
  /** Start the close handshake; the transport ends the connection once the peer answers, or after a bounded wait. */
  close(code: number, reason: string): void;
  /** Bytes queued and not yet handed to the kernel (0 where the runtime does not say). */
  readonly bufferedAmount: number;
}

/** One WebSocket the app accepted (src/websocket/session.ts), told what happens on it by its transport. */
export interface WebSocketSession {
  /** The request's Sec-WebSocket-Key. */
  readonly key: string;
  /** The subprotocol to answer with (Sec-WebSocket-Protocol), or "". */
  readonly protocol: string;
  /** The handshake is done: messages may flow. */
  opened(transport: WebSocketTransport): void;
  /** A whole message; the app's handler's promise, if it returned one (a transport may stop reading while many are pending). */
  message(data: string | Uint8Array): Promise<void> | undefined;
  /** The send queue went below its high-water mark. */
  drained(): void;
  /** The WebSocket is closed (1006: without a close frame). Called once, also when it never opened. */
  closed(code: number, reason: string): void;
}

/**
 * The runtime's HTTP server and WebSockets (NativeHttpOptions.webSockets): which answers accept
 * one, and how the runtime's own WebSocket server (Bun, Deno) is to limit them; node:http has
 * none and hands the raw connection to tsgi's codec.
 */
export interface NativeWebSocketOptions {
  /** The app's answer accepts a WebSocket: its session; null for a plain answer. */
  accepted(res: Response): WebSocketSession | null;
  /** Run a session with tsgi's own codec over a raw connection; `head`: bytes read past the request head. */
  overConn(session: WebSocketSession, conn: Conn, head: Uint8Array): void;
  /** Largest message in bytes. */
  maxMessage: number;
  /** Ping every pingMs, close without a pong in pongMs (where the runtime has one idle timeout: pingMs + pongMs). */
  pingMs: number;
  pongMs: number;
}

/** Certificates as PEM text, read and checked by the core (src/tls/material.ts). */
export interface TlsMaterial {
  cert: string;
  key: string;
  /** OpenSSL cipher list for TLS 1.2 (undefined: the runtime's defaults). */
  ciphers?: string;
  /** Client certificates are required and verified against this CA (mTLS). */
  ca?: string;
  /** Other certificates, chosen by the name the client asks for (SNI). */
  sni: Array<{ name: string; cert: string; key: string }>;
  /** A handshake not done within this many ms is dropped (--socket-timeout). */
  handshakeTimeoutMs: number;
}

/** What the runtime's TLS server does (measured: README, "Exposing tsgi to the internet"). */
export interface TlsSupport {
  /** The server that terminates TLS, for the startup line ("node:http2"). */
  readonly server: string;
  /** HTTP/2 by ALPN next to HTTP/1.1. */
  readonly h2: boolean;
  /** Client certificates (the CA field of --https). */
  readonly clientCerts: boolean;
  /** Several certificates by server name (--sni). */
  readonly sni: boolean;
}

/** Where a listener is bound, as it is shown to users. */
export type ListenAddress = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string } | { kind: 'fd'; fd: number };

export interface Listener {
  readonly address: ListenAddress;
  /**
   * A TLS listener: new handshakes use these certificates from now on; established connections
   * keep theirs. Throws (and keeps the old ones) when the runtime refuses them.
   */
  setTls?(tls: TlsMaterial): void;
  /** Stop accepting. A UNIX socket's file is left alone (the caller decides, see --vacuum). */
  close(): Promise<void>;
}

export interface ListenOptions {
  /** Listen backlog, where the runtime lets us set it. */
  backlog?: number;
}

/** A bound, listening socket held only as a file descriptor, for children to inherit. */
export interface InheritableSocket {
  readonly fd: number;
  readonly address: ListenAddress;
  /** Children inherit it at this same number (not close-on-exec): spawn passes nothing for it. */
  readonly inPlace?: boolean;
  /** Close this process's copy (children keep theirs). */
  close(): Promise<void>;
}

/** Binds a listening socket that no server of this process accepts on (libc through the runtime's FFI). */
export type BareBinder = (
  target: { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string },
  options?: ListenOptions,
) => Promise<InheritableSocket>;

/** The message channel to the parent, in a process spawned with `ipc: true`. */
export interface ParentChannel {
  send(message: unknown): void;
  onMessage: ((message: unknown) => void) | null;
  /** The parent is gone (exited or killed): the channel closed. */
  onDisconnect: (() => void) | null;
}

/** A thread (another event loop in this process) started with spawnThread. */
export interface Thread {
  send(message: unknown): void;
  onMessage: ((message: unknown) => void) | null;
  /** Resolves with the thread's exit code. */
  readonly exited: Promise<number>;
  terminate(): void;
}

/** Inside a thread: what it was started with, and the channel to its parent. */
export interface ThreadChannel {
  readonly data: unknown;
  send(message: unknown): void;
  onMessage: ((message: unknown) => void) | null;
}

export interface SpawnOptions {
  args: string[];
  cwd?: string;
  env?: Record<string, string>;
  /** File descriptors the child inherits as fd 3, 4, … in this order. */
  fds?: number[];
  /** Open a message channel to the child (JSON values). */
  ipc?: boolean;
  /** Start the child in a process group of its own (a terminal's Ctrl-C does not reach it). */
  detached?: boolean;
}

export interface Child {
  readonly pid: number;
  send(message: unknown): void;
  onMessage: ((message: unknown) => void) | null;
  kill(signal?: Signal): void;
  /** Resolves when the child has exited: its exit code, or the signal that ended it. */
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
}

/**
 * Who a process runs as after --uid and --gid: the supplementary groups and the gid are set
 * first, then the uid (none with --gid alone), so the process still has the right to set them.
 */
export interface Identity {
  uid?: number;
  gid: number;
  groups: number[];
}

export type Signal = 'SIGTERM' | 'SIGINT' | 'SIGHUP' | 'SIGQUIT' | 'SIGUSR1' | 'SIGUSR2' | 'SIGKILL';

/**
 * A request as the CGI-style servers have it (src/codec/request.ts), every part already in the
 * form the runtime's `Request` would give it back: what a lazy Request (Runtime.lazyRequests)
 * answers with before it needs the real one.
 */
export interface RequestParts {
  readonly method: string;
  readonly url: string;
  /** Header name (lower case) → value, as `new Headers(headers)` takes them. */
  readonly headers: Record<string, string>;
  /** False: the Request's body is null (GET, HEAD, nothing sent). */
  readonly hasBody: boolean;
  /** The request's signal, made when asked (src/codec/request.ts: SignalSource), or null: the Request's own. */
  signal(): AbortSignal | null;
  /** The runtime's Request of these parts (made once), with `headers` (the app's, if it made or changed them). */
  real(headers: Headers | Record<string, string>): Request;
}

export interface Runtime {
  readonly name: RuntimeName;
  /** e.g. "20.20.2" for Node, "1.4.5" for Bun, "2.9.6" for Deno. */
  readonly version: string;
  /** The API this adapter uses for stream sockets, for the startup line and benchmarks. */
  readonly socketApi: string;
  /**
   * How this process runs TypeScript, for the startup line: "node type stripping", "tsx (why)",
   * "bun's own", "deno's own" (decided by runtimes/boot.mjs before any TypeScript loads).
   */
  typescript(): string;
  /**
   * Write what this process compiled so far to the runtime's compile cache now, not at its exit,
   * so that the processes it starts next find it (Node's type stripping: runtimes/boot.mjs; Bun
   * and Deno keep their own caches: nothing to do).
   */
  saveCompileCache(): void;
  /**
   * A body the app gave its Response as a string or bytes, written as it is rather than read
   * through the Response's stream by the CGI-style protocols and tsgi's own HTTP/1.1 server
   * (runtimes/kept-body.ts, which replaces the global Response with a subclass that keeps it,
   * the same one keptSizes installs): the reader of kept bodies, installed by this call. Every
   * runtime has one; null would make the writers read the stream.
   */
  keptBodies(): ((res: Response) => Uint8Array | null) | null;
  /**
   * Where building the runtime's `Request` for every request on the CGI-style sockets and tsgi's
   * own HTTP/1.1 server is worth avoiding: the maker of a lazy one (runtimes/lazy-request.ts, loaded only by this call: it reads
   * the global `Request`, which on Node loads undici, ≈ 9 MiB in a launcher or master), installed by this call — it
   * replaces the global `Request` and `fetch` with ones that take a lazy Request, so it is called
   * before the app is imported. Node: the vars of a GET made into undici's Request and read
   * (method, url, a header) 5.3–5.4 µs, into the lazy one 3.7 µs (`node bench/vars-request.mjs`,
   * three runs); Deno: 10.0–10.3 against 3.2–3.4 µs. Null on Bun (2.1–3.2 against 1.2–2.1 µs:
   * little to save): the globals stay.
   */
  lazyRequests(): Promise<((parts: RequestParts) => Request) | null>;
  /**
   * The size of a body the app gave its Response as a string or bytes, known without reading it:
   * what the request log and --stats count behind the runtime's own HTTP server. Installs the same
   * subclass as keptBodies (runtimes/kept-body.ts), on every runtime; null for a stream, no body,
   * or a Response made before the call. Reading the body back to count it tripled the CPU of a
   * logged hello world on Node and Deno (bench/README.md).
   */
  keptSizes(): (res: Response) => number | null;
  /** When this process's runtime had started and began to run tsgi's first module (performance.now() and CPU time, ms): the first start-up phase. */
  readonly up: { at: number; cpuMs: number };
  /**
   * Import one of the user's modules (an app) by absolute path. Node strips types where it can
   * and loads with tsx what stripping cannot run (.tsx/.jsx, enums, decorators, imports without
   * the .ts extension), saying so on stderr; Bun and Deno import it as it is.
   */
  importModule(file: string): Promise<Record<string, unknown>>;
  listenTcp(host: string, port: number, onConn: ConnHandler, options?: ListenOptions): Promise<Listener>;
  /** Listen on a UNIX socket path. The caller has dealt with stale files (see src/worker/bind.ts). */
  listenUnix(path: string, onConn: ConnHandler, options?: ListenOptions): Promise<Listener>;
  /** Accept on an inherited, already listening socket fd (from a parent or systemd). */
  listenFd(fd: number, onConn: ConnHandler): Promise<Listener>;
  /**
   * The runtime's own HTTP server, which beats HTTP/1.1 parsed in JavaScript over a Conn:
   * Bun.serve and Deno.serve (TCP only: they take no fd, so they serve a master's port only with
   * --reuse-port, each process binding it with SO_REUSEPORT), node:http with Hono's Node adapter
   * (TCP, UNIX, fd). Where the runtime's server cannot go, tsgi's own HTTP/1.1 server
   * (src/worker/http1.ts) serves. close() stops accepting; requests in flight finish.
   */
  serveHttp(target: NativeHttpTarget, handler: HttpHandler, options: NativeHttpOptions): Promise<Listener>;
  /**
   * The runtime's HTTPS server (TLS 1.2+; HTTP/2 and HTTP/1.1 by ALPN where `tls.h2`), on every
   * target kind (an inherited fd too), with the same handler contract as serveHttp. The
   * listener's setTls swaps the certificates for new handshakes.
   */
  serveHttps(target: NativeHttpTarget, handler: HttpHandler, options: NativeHttpOptions, tls: TlsMaterial): Promise<Listener>;
  /** What serveHttps does here. */
  readonly tls: TlsSupport;
  /** The targets serveHttp takes on this runtime. */
  readonly nativeHttpKinds: ReadonlyArray<NativeHttpTarget['kind']>;
  /**
   * Does the runtime's server close a connection after an answer that says `Connection: close`
   * (--http-keepalive off)? Deno.serve sends the header and keeps the connection (measured).
   */
  readonly nativeHttpHonorsClose: boolean;
  /**
   * Can the runtime's own server hand a connection over (takeoverAnswer)? node:http can (its
   * 'upgrade' event gives the socket); Bun.serve and Deno.serve give no raw socket.
   */
  readonly nativeHttpTakesOver: boolean;
  /** Is serveHttp's server a node:http server, which an app's injectWebSocket (@hono/node-ws) can be given? */
  readonly nodeHttpServer: boolean;

  /**
   * Where the runtime has its own WebSocket upgrade call for apps (Deno.upgradeWebSocket): let it
   * take requests its own server did not make too, with `fallback` (tsgi's portable WebSocket in
   * that API's shape). A runtime without such a call leaves this out.
   */
  adoptNativeUpgrade?(fallback: NativeUpgrade): void;

  /**
   * Bind a listening socket for children to inherit (the launcher of --master). Connections
   * that arrive before the caller closes it are refused; close it right after spawning.
   */
  bindInheritable(target: { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string }, options?: ListenOptions): Promise<InheritableSocket>;
  /**
   * Bind without a server of this runtime: a bare fd that this process never accepts on, so the
   * process the user started can be the master itself (no launcher). Bun (libc through bun:ffi,
   * runtimes/bare-socket.ts); null on Node (no FFI) and on Deno (its child_process clears
   * O_NONBLOCK on the fds it passes: runtimes/deno.ts). One runtime process less under --master.
   */
  bareBinder(): Promise<BareBinder | null>;
  /**
   * The channel to the parent, when this process was spawned with `ipc: true`; else null.
   * `parentPid`: the parent's pid as the parent said it (ChildState.parent): the channel then also
   * says the parent is gone when this process outlives it, though the channel's close came before
   * anyone listened (Bun then still says `process.connected`).
   */
  parentChannel(parentPid?: number): ParentChannel | null;

  connectTcp(host: string, port: number): Promise<Conn>;
  connectUnix(path: string): Promise<Conn>;

  /** Spawn this same runtime running `args` (a script and its arguments). Its stdout and stderr are ours. */
  spawnSelf(options: SpawnOptions): Child;

  /** Start a thread running `moduleUrl` (a file: URL); it reads `data` through threadChannel(). */
  spawnThread(moduleUrl: string, data: unknown): Thread;
  /** In a thread started with spawnThread: its data and channel; null on a main thread. */
  threadChannel(): ThreadChannel | null;

  /** Run handler on a signal. Returns a function that removes it. */
  onSignal(signal: Exclude<Signal, 'SIGKILL'>, handler: () => void): () => void;
  /**
   * The signals tsgi may take for itself here. Not SIGUSR1 on Deno: it opens the inspector on
   * :9229 even when the process listens for the signal (measured).
   */
  readonly signals: ReadonlyArray<Exclude<Signal, 'SIGKILL'>>;
  readonly pid: number;
  /** This process's effective user and group ids. */
  ids(): { uid: number; gid: number };
  /**
   * Why this process cannot change its user and groups on this runtime (null: it can): tsgi then
   * refuses --uid and --gid at startup rather than run as root.
   */
  identityProblem(): string | null;
  /** Become `id`, in every thread of the process (groups, gid, then uid). Throws what the system refused. */
  setIdentity(id: Identity): void;
  /** Resident set size of this process, in bytes. */
  rss(): number;
  exit(code: number): never;
  /** How to run a module of this project on this runtime from the command line (for children). */
  readonly execPath: string;
  readonly execArgs: string[];
}

/**
 * A connection handed over by an HTTP server once an answer says so: `take` gets the raw
 * connection and the bytes the client sent after the request head; the server writes nothing
 * more on it (the --http router's relay after a worker's `101`, src/router/upgrade.ts).
 */
export type Takeover = (conn: Conn, rest: Uint8Array) => void;

const takeovers = new WeakMap<Response, Takeover>();

/**
 * The answer that asks the server for the connection. Servers that can hand it over (tsgi's
 * HTTP/1.1 server, node:http's 'upgrade') look for it with takeoverOf(); any other writes it
 * as it is: `fallback`, a refusal saying why the connection could not be taken.
 */
export function takeoverAnswer(take: Takeover, fallback: Response): Response {
  takeovers.set(fallback, take);
  return fallback;
}

/** The connection taker an answer carries, if it is a takeover answer. */
export function takeoverOf(res: Response): Takeover | undefined {
  return takeovers.get(res);
}

/** A runtime's upgrade call in an app: the request (and its options) → the socket and the answer to return. */
export type NativeUpgrade = (req: Request, options?: { protocol?: string }) => { socket: unknown; response: Response };

/** Why req.signal aborts, on every front door and runtime: the client went before the answer was complete. */
export function clientGone(): DOMException {
  return new DOMException('the client went away before the answer was complete', 'AbortError');
}

/** Errors the adapters raise for bind problems, with a code the core maps to a clear message. */
export class BindError extends Error {
  readonly code: string;
  constructor(message: string, code: string) {
    super(message);
    this.code = code;
    this.name = 'BindError';
  }
}
