/**
 * Apps written for a runtime's own WebSocket API, served unchanged on tsgi's portable one
 * (upgrade.ts), on every front door that carries WebSockets and on every runtime:
 *
 * - Bun's shape, as Bun's serve() takes it: `export default { fetch(req, server) { if
 *   (server.upgrade(req, { data })) return; … }, websocket: { open, message, close, drain } }`.
 *   Hono's `hono/bun` helper (`upgradeWebSocket` in routes, `export default { fetch: app.fetch,
 *   websocket }`) is built on it and runs as it is.
 *
 * - Deno's: the app calls Deno's upgradeWebSocket(req), sets `socket.onmessage = …` on the socket
 *   it gets and returns its `response` (and Hono's `hono/deno` on it). Deno's own call serves the requests of
 *   Deno's serve(); for any other (behind the router, a UNIX socket, a master's port) the runtime
 *   adapter calls denoStyleUpgrade instead (Runtime.adoptNativeUpgrade): a DenoStyleSocket,
 *   the browser's WebSocket interface over tsgi's portable one.
 *
 * `server` here is an UpgradeServer: upgrade() accepts a WebSocket for the request (false when
 * the request is no valid WebSocket handshake, as on Bun), and the handlers get tsgi's
 * ServerWebSocket (data, send, close, ping, readyState, bufferedAmount, remoteAddress). Bun's
 * publish/subscribe and its other server methods are not there.
 */
import { handshakeRefusal } from '../codec/websocket.ts';
import { type ServerWebSocket, upgradeWebSocket, type WebSocketHandlers, WS_STATE } from './upgrade.ts';

/** The `websocket` handlers of a Bun-shaped app. */
export interface BunWebSocketHandlers {
  open?(ws: ServerWebSocket): unknown;
  message?(ws: ServerWebSocket, message: string | Uint8Array): unknown;
  close?(ws: ServerWebSocket, code: number, reason: string): unknown;
  drain?(ws: ServerWebSocket): unknown;
}

export interface BunUpgradeOptions {
  /** Per-connection data, as ws.data. */
  data?: unknown;
  /** Headers for the 101: only Sec-WebSocket-Protocol (the subprotocol chosen) is taken. */
  headers?: HeadersInit;
}

type BunFetch = (req: Request, server: UpgradeServer) => unknown;

/** An app's default export in Bun's shape: a fetch method and `websocket` handlers. */
export function isBunShaped(value: unknown): value is { fetch: BunFetch; websocket: BunWebSocketHandlers } {
  if (value === null || typeof value !== 'object') return false;
  const v = value as { fetch?: unknown; websocket?: unknown };
  return typeof v.fetch === 'function' && v.websocket !== null && typeof v.websocket === 'object';
}

/**
 * Bytes whose .buffer is exactly them: Hono's helper passes `message.buffer` on. A copy by the
 * constructor: a Buffer's slice() is a view.
 */
function ownBuffer(b: Uint8Array): Uint8Array {
  return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? b : new Uint8Array(b);
}

/** Bun's handlers as tsgi's (their results are not awaited, as on Bun). */
function portable(h: BunWebSocketHandlers): WebSocketHandlers {
  return {
    open: (ws) => void h.open?.(ws),
    message: (ws, data) => void h.message?.(ws, typeof data === 'string' ? data : ownBuffer(data)),
    close: (ws, code, reason) => void h.close?.(ws, code, reason),
    drain: (ws) => void h.drain?.(ws),
  };
}

/** The `server` a Bun-shaped app's fetch gets second. */
export class UpgradeServer {
  readonly #handlers: WebSocketHandlers;
  readonly #accepted = new WeakMap<Request, Response>();

  constructor(websocket: BunWebSocketHandlers) {
    this.#handlers = portable(websocket);
  }

  /** Accept a WebSocket for `req` (the answer fetch returns then does not matter); false when `req` is no WebSocket handshake. */
  upgrade(req: Request, options: BunUpgradeOptions = {}): boolean {
    if (handshakeRefusal(req.method, req.headers) !== null) return false;
    const protocol = new Headers(options.headers).get('sec-websocket-protocol') ?? undefined;
    this.#accepted.set(req, upgradeWebSocket(req, this.#handlers, { data: options.data, protocol }));
    return true;
  }

  /** What `req` is answered: the accepted WebSocket if fetch called upgrade(), else what fetch returned. */
  answer(req: Request, out: unknown): Response {
    const accepted = this.#accepted.get(req);
    if (accepted === undefined) return out as Response;
    this.#accepted.delete(req);
    if (out instanceof Response) void out.body?.cancel().catch(() => {});
    return accepted;
  }
}

/** A fetch handler for a Bun-shaped app: its fetch gets an UpgradeServer second. */
export function bunShapedHandler(app: { fetch: BunFetch; websocket: BunWebSocketHandlers }): (req: Request) => Response | Promise<Response> {
  const server = new UpgradeServer(app.websocket);
  return (req) => {
    const out = app.fetch.call(app, req, server);
    if (out instanceof Promise) return out.then((r: unknown) => server.answer(req, r));
    return server.answer(req, out);
  };
}

/**
 * The socket Deno's upgradeWebSocket() gives, on tsgi's portable WebSocket: the browser's WebSocket
 * interface (readyState, send, close, bufferedAmount, protocol, binaryType; open, message,
 * close and error events, as `on…` properties and listeners).
 */
export class DenoStyleSocket extends EventTarget {
  readonly CONNECTING = WS_STATE.connecting;
  readonly OPEN = WS_STATE.open;
  readonly CLOSING = WS_STATE.closing;
  readonly CLOSED = WS_STATE.closed;
  readonly url: string;
  // Deno's default (the browser's is 'blob').
  binaryType: 'blob' | 'arraybuffer' = 'arraybuffer';
  onopen: ((e: Event) => void) | null = null;
  onmessage: ((e: MessageEvent) => void) | null = null;
  onclose: ((e: CloseEvent) => void) | null = null;
  onerror: ((e: Event) => void) | null = null;
  #ws: ServerWebSocket | null = null;
  #state: number = WS_STATE.connecting;
  #protocol: string;

  constructor(url: string, protocol: string) {
    super();
    this.url = url;
    this.#protocol = protocol;
  }

  get readyState(): number {
    return this.#ws?.readyState ?? this.#state;
  }

  get protocol(): string {
    return this.#protocol;
  }

  get bufferedAmount(): number {
    return this.#ws?.bufferedAmount ?? 0;
  }

  get extensions(): string {
    return '';
  }

  send(data: string | ArrayBufferLike | ArrayBufferView | Blob): void {
    if (this.#ws === null) throw new DOMException('the WebSocket is not open yet', 'InvalidStateError');
    const ws = this.#ws;
    if (data instanceof Blob) void data.arrayBuffer().then((b) => ws.send(b));
    else if (typeof data === 'string' || ArrayBuffer.isView(data)) ws.send(data);
    else ws.send(new Uint8Array(data));
  }

  close(code?: number, reason?: string): void {
    this.#ws?.close(code, reason);
  }

  /** The handlers that drive it (upgradeWebSocket's). */
  handlers(): WebSocketHandlers {
    return {
      open: (ws) => {
        this.#ws = ws;
        this.#emit('open', new Event('open'));
      },
      message: (_ws, data) => {
        const payload = typeof data === 'string' ? data : this.binaryType === 'arraybuffer' ? new Uint8Array(data).buffer : new Blob([new Uint8Array(data)]);
        this.#emit('message', new MessageEvent('message', { data: payload }));
      },
      close: (_ws, code, reason) => {
        this.#state = WS_STATE.closed;
        this.#ws = null;
        this.#emit('close', new CloseEvent('close', { code, reason, wasClean: code !== 1006 }));
      },
    };
  }

  #emit(type: 'open' | 'message' | 'close', e: Event): void {
    const on = type === 'open' ? this.onopen : type === 'message' ? this.onmessage : this.onclose;
    (on as ((e: Event) => void) | null)?.call(this, e);
    this.dispatchEvent(e);
  }
}

/** Deno's upgradeWebSocket()'s answer for a request Deno's serve() did not make: a DenoStyleSocket and tsgi's upgrade answer. */
export function denoStyleUpgrade(req: Request, options: { protocol?: string } = {}): { socket: DenoStyleSocket; response: Response } {
  const refused = handshakeRefusal(req.method, req.headers);
  if (refused !== null) throw new TypeError(`Deno's upgradeWebSocket(): ${refused.why}`);
  const socket = new DenoStyleSocket(req.url, options.protocol ?? '');
  return { socket, response: upgradeWebSocket(req, socket.handlers(), { protocol: options.protocol }) };
}
