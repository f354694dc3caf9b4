/**
 * tsgi's portable WebSocket API: in a fetch handler, `return upgradeWebSocket(req, handlers,
 * options)`. The same app runs on Node, Bun and Deno, behind every front door that can carry a
 * WebSocket (tsgi's HTTP/1.1 server, the runtime's own server, the --http router).
 *
 * The answer is a Response the front door recognises (by a token in a header, for the table of
 * accepted upgrades): it then writes the 101 and runs the WebSocket. A front door that cannot carry one (--socket,
 * --scgi-socket, --fastcgi-socket: nginx's uwsgi_pass and the like do not upgrade) sends the
 * Response as it is, a 426 that says why. A request that is no valid upgrade gets a 400.
 */
import { handshakeRefusal } from '../codec/websocket.ts';
import { Session, type UpgradeOptions, type WebSocketHandlers } from './session.ts';

export { ServerWebSocket, type UpgradeOptions, type WebSocketHandlers, WS_STATE } from './session.ts';

/**
 * The accepted upgrades, by a random token the Response carries in a header: frameworks copy a
 * Response to change its headers (Hono does, for a header set after the handler), and a copy
 * keeps the headers, not the object's identity. One table per process, on globalThis under a
 * registered symbol, so that an app that imports its own copy of tsgi reaches the one its front
 * door reads. An upgrade no front door takes (the app answered with something else) is dropped
 * after PENDING_MS.
 */
const TOKEN_HEADER = 'x-tsgi-websocket';
const PENDING_MS = 60_000;
const PENDING = Symbol.for('tsgi.websocket.pending');
type Pending = Map<string, { session: Session<unknown>; at: number }>;
const holder = globalThis as typeof globalThis & { [PENDING]?: Pending };
const pending: Pending = (holder[PENDING] ??= new Map());

/** Forget the upgrades older than PENDING_MS (the table is in the order they came). */
function sweep(now: number): void {
  for (const [token, p] of pending) {
    if (now - p.at < PENDING_MS) return;
    pending.delete(token);
  }
}

/** What a front door that cannot carry WebSockets answers, unless it says better. */
export const NO_WEBSOCKETS = 'this front door cannot carry WebSockets: serve this route with --http-socket or --http';

export function upgradeWebSocket<T = unknown>(req: Request, handlers: WebSocketHandlers<T>, options: UpgradeOptions<T> = {}): Response {
  const refused = handshakeRefusal(req.method, req.headers);
  if (refused) {
    const headers: Record<string, string> = { 'content-type': 'text/plain; charset=utf-8' };
    if (refused.status === 426) headers['sec-websocket-version'] = '13';
    return new Response(`${refused.why}\n`, { status: refused.status, headers });
  }
  const now = Date.now();
  sweep(now);
  const token = crypto.randomUUID();
  pending.set(token, { session: new Session(req, handlers, options) as Session<unknown>, at: now });
  return new Response(`${NO_WEBSOCKETS}\n`, { status: 426, headers: { 'content-type': 'text/plain; charset=utf-8', [TOKEN_HEADER]: token } });
}

/** The session of an answer that accepts a WebSocket, left in the table, or null. */
export function pendingUpgrade(res: Response): Session<unknown> | null {
  // Every answer passes here: with no upgrade pending, not even its headers are read.
  if (pending.size === 0) return null;
  const token = res.headers.get(TOKEN_HEADER);
  return token === null ? null : (pending.get(token)?.session ?? null);
}

/** The session of an answer that accepts a WebSocket (taken once), or null. */
export function takeUpgrade(res: Response): Session<unknown> | null {
  if (pending.size === 0) return null;
  const token = res.headers.get(TOKEN_HEADER);
  if (token === null) return null;
  const p = pending.get(token);
  pending.delete(token);
  return p?.session ?? null;
}
