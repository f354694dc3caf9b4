/**
 * One request per connection over a vars decoder (uwsgi's --socket, --scgi-socket): bytes → the
 * protocol's decoder → the CGI vars → Request → app → the answer in the protocol's head style →
 * close. The protocols differ only in their decoder, their answer's first line (an HTTP status
 * line or a CGI `Status:` line) and the words of their log lines (a CgiProtocol).
 */
import type { Conn } from '../../runtimes/types.ts';
import { encodeResponseHead, getVar, type UwsgiVars } from '../codec/index.ts';
import { describePeer, log } from '../log.ts';
import { BodyStream } from './body.ts';
import { Deadlines } from './deadlines.ts';
import { Exchange } from './exchange.ts';
import { Gone } from './respond.ts';
import type { WebSocketLimits } from '../master/protocol.ts';
import { WebSocketConnection } from './websocket.ts';
import { bodylessMethod, logHeadTimeout, PostLimit, refusalBytes, requestOrRefusal, type VarsServerOptions, varsFacts } from './vars.ts';

/** What a vars decoder (UwsgiDecoder, ScgiDecoder) tells its connection. */
export interface VarsEvents {
  /** The whole head is in; contentLength null: a body of unknown length (the router's streamed bodies). */
  onHead(head: { size: number }, vars: UwsgiVars, contentLength: number | null): void;
  onBody(chunk: Uint8Array): void;
  onBodyEnd(): void;
  onError(error: Error & { code: string }): void;
}

export interface VarsDecoder {
  push(chunk: Uint8Array): void;
  end(): void;
  readonly state: string;
}

/** What makes one protocol of this kind. */
export interface CgiProtocol {
  decoder(events: VarsEvents): VarsDecoder;
  /** The answer's head has a CGI `Status:` line (SCGI) instead of an HTTP status line (uwsgi). */
  cgi: boolean;
  /** In the log line for an HTTP client: `a uwsgi socket`. */
  socket: string;
  /** The 400 an HTTP client gets: `This is a uwsgi protocol socket (tsgi --socket)`. */
  notHttp: string;
  /** The log line's start for a malformed request: `bad uwsgi packet`. */
  bad: string;
  /** The 426's text when the app accepts a WebSocket where this protocol cannot carry one. */
  noWebSockets: string;
}

/** One connection: one request, one answer, then close. */
export class CgiConnection {
  readonly #conn: Conn;
  readonly #o: VarsServerOptions;
  readonly #p: CgiProtocol;
  readonly #gone = new Gone();
  readonly #limit: PostLimit;
  /** Says that this accepted connection has started its request (or closed): a stop waits for it. */
  readonly #served: (() => void) | undefined;
  readonly #decoder: VarsDecoder;
  /** Where this connection waits for its whole head (--socket-timeout). */
  readonly #deadlines: Deadlines;
  #vars: UwsgiVars | null = null;
  #varsSize = 0;
  #body: BodyStream | null = null;
  /** The app gets a body: not GET or HEAD, and a CONTENT_LENGTH other than 0 (or a streamed one). */
  #bodyWanted = false;
  /** The 413 to give instead of calling the app (--limit-post). */
  #tooLarge: string | null = null;
  #dispatched = false;
  /** An answer has begun (the app's, or tsgi's own 400 or 413): another one goes nowhere. */
  #responding = false;

  constructor(conn: Conn, o: VarsServerOptions, protocol: CgiProtocol) {
    this.#conn = conn;
    this.#o = o;
    this.#p = protocol;
    this.#limit = new PostLimit(o.limitPost);
    this.#served = o.counters?.accepted();
    this.#decoder = protocol.decoder({
      onHead: (head, vars, length) => this.#onHead(head.size, vars, length),
      onBody: (chunk) => this.#onBody(chunk),
      onBodyEnd: () => this.#body?.end(),
      onError: (error) => this.#onError(error),
    });
    // Slow or idle clients must not hold connections forever.
    this.#deadlines = Deadlines.of(o.headTimeoutMs);
    this.#deadlines.add(this);
    conn.onData = (chunk) => this.#onData(chunk);
    conn.onEnd = () => this.#onEnd();
    conn.onClose = () => this.#onClose();
  }

  get #peer(): string {
    return describePeer({ address: this.#conn.remoteAddress, port: this.#conn.remotePort });
  }

  #onHead(size: number, vars: UwsgiVars, length: number | null): void {
    this.#vars = vars;
    this.#varsSize = size;
    this.#tooLarge = this.#limit.announced(vars);
    const bodyless = bodylessMethod(vars);
    this.#bodyWanted = !bodyless && length !== 0;
    this.#body = new BodyStream(this.#conn, { dropping: bodyless || this.#tooLarge !== null });
  }

  #onBody(chunk: Uint8Array): void {
    const over = this.#limit.count(chunk.length);
    if (over !== null) this.#overLimit(over);
    this.#body?.push(chunk);
  }

  /**
   * The body grew past --limit-post: before the app, a 413 in its place; after, the app's read
   * fails, its req.signal aborts and a 413 goes out unless the app has answered. The rest is dropped.
   */
  #overLimit(text: string): void {
    const body = this.#body as BodyStream;
    body.refuse(text);
    if (!this.#dispatched) {
      this.#tooLarge ??= text;
      return;
    }
    this.#gone.abort();
    if (!this.#responding) this.#refuse(413, text);
  }

  #onError(error: Error & { code: string }): void {
    this.#body?.fail(error);
    if (this.#responding) return;
    if (error.code === 'looks-like-http') {
      log(`tsgi: HTTP request from ${this.#peer} on ${this.#p.socket}: use --http-socket for HTTP clients`);
      this.#refuse(400, `${this.#p.notHttp}; HTTP clients need --http-socket or --http.`);
      void this.#close(null);
      return;
    }
    // A connection closed before sending anything whole (health checks, port scans): no log line.
    if (error.code !== 'truncated-header' || this.#vars !== null) log(`tsgi: ${this.#p.bad} from ${this.#peer}: ${error.message}`);
    this.#conn.destroy();
  }

  /** --socket-timeout passed before the whole head came. */
  expire(): void {
    if (this.#vars !== null) return;
    logHeadTimeout(this.#peer, this.#o.headTimeoutMs);
    this.#conn.destroy();
  }

  #onData(chunk: Uint8Array): void {
    this.#decoder.push(chunk);
    if (this.#vars !== null && !this.#dispatched) this.#dispatch(this.#vars, this.#body as BodyStream);
  }

  #onEnd(): void {
    const state = this.#decoder.state;
    if (state !== 'done' && state !== 'error') this.#decoder.end();
    // Neither nginx nor Apache half-closes; the router does when its client did (src/router/proxy.ts).
    if (this.#dispatched) this.#gone.inputEnded();
  }

  #onClose(): void {
    this.#served?.();
    this.#deadlines.remove(this);
    this.#body?.fail('the connection closed');
    this.#gone.abort();
  }

  /** tsgi's own answer (400, 413) in place of the app's. */
  #refuse(status: number, text: string): void {
    this.#responding = true;
    this.#conn.write(refusalBytes(status, text, this.#p.cgi));
  }

  /**
   * Close once the rest of the body is in (or after 5 s): closing over unread bytes resets the
   * connection under the answer, and nginx would answer 502.
   */
  async #close(body: BodyStream | null): Promise<void> {
    if (body !== null && !body.done) await body.drain(5000);
    this.#conn.end();
  }

  #dispatch(vars: UwsgiVars, body: BodyStream): void {
    this.#dispatched = true;
    this.#deadlines.remove(this);
    if (this.#tooLarge !== null) {
      log(`tsgi: bad request from ${this.#peer}: ${this.#tooLarge} (413)`);
      this.#refuse(413, this.#tooLarge);
      void this.#close(body);
      return;
    }
    const req = requestOrRefusal(vars, this.#bodyWanted ? body.take() : null, this.#gone, this.#peer);
    if (typeof req === 'string') {
      this.#refuse(400, req);
      void this.#close(body);
      return;
    }
    void this.#respond(req, vars, body);
  }

  async #respond(req: Request, vars: UwsgiVars, body: BodyStream): Promise<void> {
    const o = this.#o;
    const method = req.method;
    const cgi = this.#p.cgi;
    const exchange = new Exchange({
      conn: this.#conn,
      handler: o.handler,
      uri: getVar(vars, 'REQUEST_URI') ?? req.url,
      gone: this.#gone,
      body,
      counters: o.counters,
      writer: (res) => ({
        head: (contentLength) => encodeResponseHead(res, { method, contentLength, cgi }),
        bodyless: () => encodeResponseHead(res, { method, cgi }),
      }),
      facts: (r, head) => varsFacts(vars, this.#varsSize, head, o.appOf?.(r) ?? 0),
      onStart: () => this.#served?.(),
      onAnswer: () => {
        if (this.#responding) return false;
        return (this.#responding = true);
      },
      upgrade: o.webSockets && {
        remoteAddress: this.#conn.remoteAddress,
        start: (session) => WebSocketConnection.start(this.#conn, session, o.webSockets as WebSocketLimits, new Uint8Array(0)),
      },
      noUpgrade: this.#p.noWebSockets,
    });
    const outcome = await exchange.run(req);
    if (outcome === 'upgraded') return;
    if (outcome === 'failed') this.#conn.destroy();
    // The app took part of the body and no more: drop the rest, and close only once it is in.
    else await this.#close(body);
    exchange.finish();
  }
}
