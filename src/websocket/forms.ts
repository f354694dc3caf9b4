/**
 * Apps written for a runtime's own WebSocket API, served unchanged on tsgi's portable one
 * (upgrade.ts), on every front door that carries WebSockets and on every runtime:
 *
 * - Bun's shape, as `Bun.serve` takes it: `export default { fetch(req, server) { if
 *   (server.upgrade(req, { data })) return; … }, websocket: { open, message, close, drain } }`.
 *   Hono's `hono/bun` helper (`upgradeWebSocket` in routes, `export default { fetch: app.fetch,
 *   websocket }`) is built on it and runs as it is.
 *
 * `server` here is an UpgradeServer: upgrade() accepts a WebSocket for the request (false when
 * the request is no valid WebSocket handshake, as on Bun), and the handlers get tsgi's
 * ServerWebSocket (data, send, close, ping, readyState, bufferedAmount, remoteAddress). Bun's
 * publish/subscribe and its other server methods are not there.
 */
import { handshakeRefusal } from '../codec/websocket.ts';
import { type ServerWebSocket, upgradeWebSocket, type WebSocketHandlers } from './upgrade.ts';

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
