/**
 * The --http router's upgraded connections (WebSockets): the client's `Upgrade` request goes to
 * a worker like any other (its headers become HTTP_UPGRADE, HTTP_CONNECTION,
 * HTTP_SEC_WEBSOCKET_* vars); when the worker answers `101 Switching Protocols`, the router
 * writes that head to the client and from then on relays raw bytes both ways, as uWSGI's router
 * does: no frame is parsed, a side whose peer reads slowly is paused, and when either side closes
 * both are closed. A worker's other answer to an upgrade request is passed on as any answer.
 *
 * The client's connection is asked of the HTTP server with takeoverAnswer (runtimes/types.ts):
 * tsgi's HTTP/1.1 server and node:http hand it over; Bun's serve() and Deno's serve() (the router with
 * --reuse-port on Bun or Deno) cannot, and such a request gets a 501 before it reaches a worker.
 */
import { type Conn, takeoverAnswer } from '../../runtimes/types.ts';
import { plainAnswer } from '../worker/respond.ts';

/** Does the request ask to switch protocols (`Connection: upgrade` and an `Upgrade` header)? */
export function isUpgrade(req: Request): boolean {
  const connection = req.headers.get('connection');
  return connection !== null && req.headers.has('upgrade') && /(^|,)\s*upgrade\s*(,|$)/i.test(connection);
}

/** The router's answer to an upgrade request when its HTTP server cannot hand connections over. */
export function upgradeRefused(): Response {
  return plainAnswer(
    501,
    "tsgi http router: the runtime's own HTTP server (--reuse-port on Bun or Deno) cannot relay an upgraded connection (WebSocket): run the router without --reuse-port, or send these paths to --http-socket",
  );
}

/** The router's open relays: counted, and closed by a stop after --worker-reload-mercy. */
export class Relays {
  readonly #open = new Set<UpgradeRelay>();
  #waiters: Array<() => void> = [];

  get size(): number {
    return this.#open.size;
  }

  add(r: UpgradeRelay): void {
    this.#open.add(r);
  }

  delete(r: UpgradeRelay): void {
    this.#open.delete(r);
    if (this.#open.size > 0) return;
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }

  /** Resolves when no relay is open, or after `ms`. */
  idle(ms: number): Promise<void> {
    if (this.#open.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Close every relay (both sides, after what is queued is flushed). */
  closeAll(): void {
    for (const r of [...this.#open]) r.close();
  }
}

/**
 * One upgraded connection: the worker's side from its `101` on, the client's once the server
 * hands it over (until then what the worker sends is held and its reading paused).
 */
export class UpgradeRelay {
  readonly #upstream: Conn;
  readonly #relays: Relays;
  /** The worker's 101 head, and what came after it, for the client. */
  readonly #held: Uint8Array[];
  #client: Conn | null = null;
  #upstreamOver = false;
  #closed = false;

  /** `head`: the worker's answer head as it came (its CRLFs too); `rest`: the bytes after it. */
  constructor(upstream: Conn, head: Uint8Array, rest: Uint8Array, relays: Relays) {
    this.#upstream = upstream;
    this.#relays = relays;
    this.#held = rest.length > 0 ? [head, rest] : [head];
    relays.add(this);
    upstream.pause();
    upstream.onData = (chunk) => this.#held.push(chunk);
    upstream.onEnd = () => this.#upstreamGone();
    upstream.onClose = () => this.#upstreamGone();
  }

  /** The answer for the client's HTTP server: hand the connection over, or (where it cannot) the 501. */
  answer(): Response {
    return takeoverAnswer((client, rest) => this.#attach(client, rest), upgradeRefused());
  }

  /** Close both sides (what is queued is flushed first). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#relays.delete(this);
    this.#upstream.end();
    this.#client?.end();
  }

  #upstreamGone(): void {
    this.#upstreamOver = true;
    // Before the hand-over the 101 and what followed still go to the client, then it closes.
    if (this.#client !== null) this.close();
  }

  #attach(client: Conn, rest: Uint8Array): void {
    this.#client = client;
    for (const b of this.#held) client.write(b);
    this.#held.length = 0;
    if (this.#closed || this.#upstreamOver) return this.close();
    const upstream = this.#upstream;
    if (rest.length > 0) upstream.write(rest);
    this.#pipe(client, upstream);
    this.#pipe(upstream, client);
    upstream.resume();
    client.resume();
  }

  /** Bytes from `from` to `to`; `from` waits while `to` cannot take more; either end closes both. */
  #pipe(from: Conn, to: Conn): void {
    from.onData = (chunk) => {
      if (to.write(chunk)) return;
      from.pause();
      void to.drained().then(() => from.resume());
    };
    from.onEnd = () => this.close();
    from.onClose = () => this.close();
  }
}
