/**
 * Node's HTTP server for --http-socket and the --http router: node:http (llhttp, keep-alive,
 * pipelining) with Hono's Node adapter (@hono/node-server) between node:http and the fetch
 * handler. The adapter's Request and Response stand in for undici's until the app needs the
 * real ones: measured on Node 20, hello world on node:http went from 0.2× (tsgi's own HTTP/1.1
 * server, with undici objects at ≈ 10 µs a Request, 10–30 µs a Response) to about 0.8× of
 * bare node:http. It replaces the global Request and Response with its own subclasses in the
 * processes that serve HTTP (its default; `instanceof` still holds).
 *
 * Imported lazily by runtimes/node.ts: Bun and Deno share that file and never load this one.
 */
import http from 'node:http';
import net from 'node:net';
import { clientGone, type HttpHandler, type Listener, type NativeHttpOptions, type NativeHttpTarget, type Peer, takeoverOf } from './types.ts';
import { listenOn } from './node-listen.ts';
import { keepLazyRequests } from './lazy-request.ts';
import { LINGER_MS } from './linger.ts';
import { wrapNodeSocket } from './node-compat.ts';
import { nodeHeadBytes, offerRaw } from './node-raw-http.ts';

/** The client's address, read from the socket only when used; the head's size from node:http's raw lines. */
class NodePeer implements Peer {
  private readonly incoming: http.IncomingMessage;
  constructor(incoming: http.IncomingMessage) {
    this.incoming = incoming;
  }
  get address(): string {
    return this.incoming.socket.remoteAddress ?? '';
  }
  get port(): number {
    return this.incoming.socket.remotePort ?? 0;
  }
  get headBytes(): number {
    return nodeHeadBytes(this.incoming);
  }
}

/**
 * The request's signal on node:http, made when the app first reads req.signal (an AbortSignal
 * costs ≈ 10 µs on Node 20): it aborts with clientGone() when the answer's connection closes,
 * or the client sends its FIN, before the answer is finished. Hono's adapter has a signal of its own, which aborts with a
 * string for a reason; the app sees this one.
 */
class ClientWatch {
  #controller: AbortController | null = null;

  readonly #outgoing: http.ServerResponse;

  constructor(outgoing: http.ServerResponse) {
    this.#outgoing = outgoing;
  }

  signal(): AbortSignal {
    if (this.#controller !== null) return this.#controller.signal;
    const controller = (this.#controller = new AbortController());
    const out = this.#outgoing;
    const closed = () => {
      if (!out.writableFinished) controller.abort(clientGone());
    };
    // The client's FIN while the answer is in progress counts as gone, as on tsgi's own servers
    // (TCP cannot tell a half-close from a close until a write fails): the answer is still written.
    const socket = out.socket;
    if (out.destroyed || socket?.readableEnded) {
      closed();
      return controller.signal;
    }
    socket?.once('end', closed);
    out.once('close', () => {
      socket?.off('end', closed);
      closed();
    });
    return controller.signal;
  }
}

const WATCH = Symbol('tsgi.clientWatch');
type Watched = Request & { [WATCH]: ClientWatch };
/** One accessor for every request (a getter made per request would give each object a shape of its own). */
const SIGNAL: PropertyDescriptor = {
  get(this: Watched): AbortSignal {
    return this[WATCH].signal();
  },
  configurable: true,
};

/**
 * The server's connections, for a graceful stop that loses none: a stop waits (up to
 * --socket-timeout, options.headTimeoutMs) for the next request of every connection between
 * requests — a fresh one, or a kept-alive one whose client may be sending it now — and every
 * answer after the stop says `Connection: close`.
 */
class Connections {
  /** Kept-alive connections between requests. */
  private readonly idle = new Set<net.Socket>();
  /** Connections a stop waits for, and the call that says they started a request (or closed). */
  private readonly awaited = new Map<net.Socket, () => void>();
  #stopping = false;

  private readonly options: NativeHttpOptions;

  constructor(options: NativeHttpOptions) {
    this.options = options;
  }

  opened(socket: net.Socket): void {
    lingerOnClose(socket);
    this.await(socket);
    socket.once('close', () => {
      this.idle.delete(socket);
      this.awaited.get(socket)?.();
      this.awaited.delete(socket);
    });
  }

  /** The server stops: every answer closes its connection. */
  get stopping(): boolean {
    return this.#stopping;
  }

  /** A request arrived on `socket`, before the app (or the raw handler) sees it. */
  request(socket: net.Socket, res: http.ServerResponse): void {
    this.idle.delete(socket);
    res.once('finish', () => {
      if (this.#stopping) this.await(socket);
      else this.idle.add(socket);
    });
  }

  /** The app has been called for the request on `socket` (it counts the request as started). */
  started(socket: net.Socket): void {
    const settle = this.awaited.get(socket);
    if (!settle) return;
    this.awaited.delete(socket);
    if (this.#stopping) socket.setTimeout(0);
    settle();
  }

  stop(): void {
    this.#stopping = true;
    for (const socket of this.idle) this.await(socket);
    this.idle.clear();
    for (const socket of this.awaited.keys()) this.limit(socket);
  }

  private await(socket: net.Socket): void {
    if (socket.destroyed || this.awaited.has(socket)) return;
    const settle = this.options.accepted?.();
    if (!settle) return;
    this.awaited.set(socket, settle);
    if (this.#stopping) this.limit(socket);
  }

  /** After a stop, a connection gets --socket-timeout to send its request, as in tsgi's own servers. */
  private limit(socket: net.Socket): void {
    const ms = this.options.headTimeoutMs;
    if (ms !== undefined) socket.setTimeout(ms, () => socket.destroy());
  }
}

/**
 * node:http closes a connection after its last answer (`Connection: close`) as soon as the answer
 * is out, also while the client is still sending a body the app never read: closing over unread
 * bytes resets the connection, and the client loses the end of the answer (*measured*: a 5 MiB
 * answer to an ignored 2 MiB upload came back cut on most tries). Close as tsgi's own server does:
 * FIN, read and drop what still comes, close when the client does (or after LINGER_MS).
 */
function lingerOnClose(socket: net.Socket): void {
  socket.destroySoon = function lingering(this: net.Socket): void {
    if (this.writable) this.end();
    this.resume();
    const timer = setTimeout(() => this.destroy(), LINGER_MS);
    this.once('end', () => this.destroy());
    this.once('close', () => clearTimeout(timer));
  };
}

export async function nodeServeHttp(target: NativeHttpTarget, handler: HttpHandler, options: NativeHttpOptions): Promise<Listener> {
  const { getRequestListener } = await import('@hono/node-server');
  const listener = getRequestListener((req, env) => {
    const { incoming, outgoing } = env as { incoming: http.IncomingMessage; outgoing: http.ServerResponse };
    (req as Watched)[WATCH] = new ClientWatch(outgoing);
    Object.defineProperty(req, 'signal', SIGNAL);
    return handler(req, new NodePeer(incoming));
  });
  keepLazyRequests();
  // Heads up to --buffer-size pass node:http (its default is 16 KiB); the core's handler
  // answers 431 above --buffer-size itself, with the same message on every runtime.
  const server = http.createServer({ maxHeaderSize: Math.max(options.maxHeadSize, 16 * 1024), noDelay: true });
  // A client that half-closes after its request still gets the answer: node:http otherwise ends
  // the socket at the client's FIN, and the answer is lost. No createServer option sets this;
  // node:http reads the property in its 'end' handler (Node 20: _http_server.js socketOnEnd).
  (server as http.Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
  const connections = new Connections(options);
  server.on('connection', (socket: net.Socket) => connections.opened(socket));
  const raw = options.raw;
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    connections.request(req.socket, res);
    if (raw !== undefined && offerRaw(raw, req, res, connections.stopping)) return connections.started(req.socket);
    if (connections.stopping) res.setHeader('connection', 'close');
    void listener(req, res);
    // The adapter calls the app at once, and the app counts the request as started.
    connections.started(req.socket);
  });
  // A request with `Upgrade:`: node:http gives it the raw socket and parses no more HTTP on it.
  // One listener answers it: the app's own (@hono/node-ws's injectWebSocket), else tsgi's.
  const appUpgrade = appUpgradeListeners(server, options.injectServer);
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    connections.started(socket);
    if (appUpgrade.length > 0) for (const l of appUpgrade) l.call(server, req, socket, head);
    else void upgradeRequest(req, socket, head, handler, options);
  });
  const address = await listenOn(server, target, options.backlog, 'HTTP server');
  return {
    address,
    close: async () => {
      // Stop accepting (net.Server's close: http.Server's also destroys every connection
      // without a request in progress, a fresh one whose request is not read yet too, which
      // reset it). Requests in flight finish, and the next request of a connection between
      // requests is answered (Connections): the core waits for both.
      net.Server.prototype.close.call(server);
      connections.stop();
    },
  };
}

type UpgradeListener = (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => void;

/**
 * The 'upgrade' listeners the app's injectWebSocket adds to `server` (@hono/node-ws: it runs the
 * app for the request and hands its node-ws routes to `ws`), taken off the server so that tsgi's
 * listener calls them in place of its own handling: node:http calls every listener, and two
 * would each write an answer on the one socket.
 */
function appUpgradeListeners(server: http.Server, inject: ((server: unknown) => void) | undefined): UpgradeListener[] {
  if (inject === undefined) return [];
  const before = new Set(server.listeners('upgrade'));
  inject(server);
  const added = server.listeners('upgrade').filter((l) => !before.has(l)) as UpgradeListener[];
  for (const l of added) server.off('upgrade', l);
  return added;
}

/**
 * A request that asks to switch protocols: the app (or the router) answers it as any request.
 * A takeover answer (the router's relay, takeoverAnswer) takes the raw socket; an answer that
 * accepts a WebSocket gets tsgi's codec on it; any other is written as a plain answer after which
 * the connection closes.
 */
async function upgradeRequest(
  incoming: http.IncomingMessage,
  socket: net.Socket,
  head: Buffer,
  handler: HttpHandler,
  options: NativeHttpOptions,
): Promise<void> {
  const headers = new Headers();
  for (let i = 0; i < incoming.rawHeaders.length; i += 2) headers.append(incoming.rawHeaders[i], incoming.rawHeaders[i + 1]);
  const url = `http://${incoming.headers.host ?? 'localhost'}${incoming.url ?? '/'}`;
  let res: Response;
  try {
    res = await handler(new Request(url, { method: incoming.method, headers }), new NodePeer(incoming));
  } catch (e) {
    process.stderr.write(`tsgi: upgrade request failed: ${(e as Error).message}\n`);
    socket.destroy();
    return;
  }
  const take = takeoverOf(res);
  if (take) return take(wrapNodeSocket(socket), head);
  const session = options.webSockets?.accepted(res);
  if (session) return options.webSockets?.overConn(session, wrapNodeSocket(socket), new Uint8Array(head));
  await writeClosing(socket, res);
}

/** An answer on a raw socket, delimited by the connection's close. */
async function writeClosing(socket: net.Socket, res: Response): Promise<void> {
  let head = `HTTP/1.1 ${res.status} ${res.statusText || http.STATUS_CODES[res.status] || ''}\r\n`;
  res.headers.forEach((value, name) => {
    if (name !== 'connection' && name !== 'transfer-encoding') head += `${name}: ${value}\r\n`;
  });
  socket.write(`${head}connection: close\r\n\r\n`, 'latin1');
  const reader = res.body?.getReader();
  try {
    for (let r = await reader?.read(); r && !r.done; r = await reader?.read()) {
      if (!socket.write(r.value)) await new Promise((resolve) => socket.once('drain', resolve));
    }
  } finally {
    socket.end();
  }
}
