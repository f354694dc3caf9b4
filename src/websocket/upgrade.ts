/**
 * tsgi's portable WebSocket API: in a fetch handler, `return upgradeWebSocket(req, handlers,
 * options)`. The same app runs on Node, Bun and Deno, behind every front door that can carry a
 * WebSocket (tsgi's HTTP/1.1 server, the runtime's own server, the --http router).
 *
 * The answer is a Response the front door recognises (a table from Response to its session):
 * it then writes the 101 and runs the WebSocket. A front door that cannot carry one (--socket,
 * --scgi-socket, --fastcgi-socket: nginx's uwsgi_pass and the like do not upgrade) sends the
 * Response as it is, a 426 that says why. A request that is no valid upgrade gets a 400.
 */
import { handshakeRefusal } from '../codec/websocket.ts';
import { Session, type UpgradeOptions, type WebSocketHandlers } from './session.ts';

export { ServerWebSocket, type UpgradeOptions, type WebSocketHandlers, WS_STATE } from './session.ts';

/**
 * The table of accepted upgrades, one per process: kept on globalThis under a registered symbol,
 * so that an app that imports its own copy of tsgi (another path to the same package) still
 * reaches the one its front door reads.
 */
const PENDING = Symbol.for('tsgi.websocket.pending');
type Pending = WeakMap<Response, Session<unknown>>;
const holder = globalThis as typeof globalThis & { [PENDING]?: Pending };
const pending: Pending = (holder[PENDING] ??= new WeakMap());

/** What a front door that cannot carry WebSockets answers, unless it says better. */
export const NO_WEBSOCKETS = 'this front door cannot carry WebSockets: serve this route with --http-socket or --http';

export function upgradeWebSocket<T = unknown>(req: Request, handlers: WebSocketHandlers<T>, options: UpgradeOptions<T> = {}): Response {
  const refused = handshakeRefusal(req.method, req.headers);
  if (refused) {
    const headers: Record<string, string> = { 'content-type': 'text/plain; charset=utf-8' };
    if (refused.status === 426) headers['sec-websocket-version'] = '13';
    return new Response(`${refused.why}\n`, { status: refused.status, headers });
  }
  const res = new Response(`${NO_WEBSOCKETS}\n`, { status: 426, headers: { 'content-type': 'text/plain; charset=utf-8' } });
  pending.set(res, new Session(req, handlers, options) as Session<unknown>);
  return res;
}

/** The session of an answer that accepts a WebSocket, left in the table, or null. */
export function pendingUpgrade(res: Response): Session<unknown> | null {
  return pending.get(res) ?? null;
}

/** The session of an answer that accepts a WebSocket (taken once), or null. */
export function takeUpgrade(res: Response): Session<unknown> | null {
  const session = pending.get(res);
  if (session === undefined) return null;
  pending.delete(res);
  return session;
}
