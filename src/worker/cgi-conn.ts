/**
 * Requests over a vars decoder (uwsgi's --socket, --scgi-socket, the --http router's internal
 * socket): bytes → the protocol's decoder → the CGI vars → Request → app → the answer in the
 * protocol's head style. The protocols differ only in their decoder, their answer's first line
 * (an HTTP status line or a CGI `Status:` line), the words of their log lines, and whether a
 * connection may take the next request (a CgiProtocol). Without that, one request, one answer,
 * then close; the router's internal socket keeps a connection the router asks to keep (internal.ts).
 */
import type { Conn } from '../../runtimes/types.ts';
import { concatBytes, encodeResponseHead, getVar, type UwsgiVars } from '../codec/index.ts';
import { describePeer, log } from '../log.ts';
import { BodyStream } from './body.ts';
import { Deadlines } from '../../runtimes/deadlines.ts';
import { type AnswerWriter, Exchange } from './exchange.ts';
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
  /** The bytes of the last push after the end of the request (the next one, on a kept connection), once; else null. */
  takeRest?(): Uint8Array | null;
  readonly state: string;
}

/**
 * How an answer ends on a protocol whose connections may be kept: `raw`, by the close (as on
 * --socket); `kept`, by its framing (Content-Length or chunked), and the next request follows;
 * `last`, framed too, with `connection: close` (the peer asked to keep it, the worker will not).
 */
export type Ending = 'raw' | 'kept' | 'last';

/** A protocol whose connections may take the next request (the router's internal socket). */
export interface KeptConnections {
  /** How the answer `res` to the request `vars` ends; `closing`: the peer half-closed or the worker stops. */
  ending(vars: UwsgiVars, res: Response, closing: boolean): Ending;
  /** The framing of an answer that does not end by the close. */
  writer(res: Response, method: string, ending: Ending): AnswerWriter;
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
  /** Connections that may take the next request; without it, one request a connection. */
  kept?: KeptConnections;
}

/** The state of one request on a connection; a new one for each. */
class CgiRequest {
  readonly gone = new Gone();
  readonly limit: PostLimit;
  vars: UwsgiVars | null = null;
  varsSize = 0;
  body: BodyStream | null = null;
  /** The app gets a body: not GET or HEAD, and a CONTENT_LENGTH other than 0 (or a streamed one). */
  bodyWanted = false;
  /** The 413 to give instead of calling the app (--limit-post). */
  tooLarge: string | null = null;
  dispatched = false;
  /** An answer has begun (the app's, or tsgi's own 400 or 413): another one goes nowhere. */
  responding = false;

  constructor(limitPost: number) {
    this.limit = new PostLimit(limitPost);
  }
}

/** One connection: a request, its answer, then close — or, on a protocol that keeps connections, the next request. */
export class CgiConnection {
  readonly #conn: Conn;
  readonly #o: VarsServerOptions;
  readonly #p: CgiProtocol;
  /** Says that this accepted connection has started its first request (or closed): a stop waits for it. */
  #served: (() => void) | undefined;
  /** Where this connection waits for its whole head (--socket-timeout). */
  readonly #deadlines: Deadlines;
  /** A stop closes a kept connection that waits for its next request. */
  readonly #forget: (() => void) | undefined;
  #decoder: VarsDecoder;
  #r: CgiRequest;
  /** Bytes of the next request that came before this one was over (kept connections). */
  #held: Uint8Array[] = [];
  /** Requests answered before this one (kept connections). */
  #answered = 0;
  #peerEnded = false;
  #closed = false;

  constructor(conn: Conn, o: VarsServerOptions, protocol: CgiProtocol) {
    this.#conn = conn;
    this.#o = o;
    this.#p = protocol;
    this.#served = o.counters?.accepted();
    this.#r = new CgiRequest(o.limitPost);
    this.#decoder = this.#newDecoder();
    // Slow or idle clients must not hold connections forever.
    this.#deadlines = Deadlines.of(o.headTimeoutMs);
    this.#deadlines.add(this);
    conn.onData = (chunk) => this.#onData(chunk);
    conn.onEnd = () => this.#onEnd();
    conn.onClose = () => this.#onClose();
    // The router sends again what it had queued for a kept connection that a stop closes.
    if (protocol.kept) {
      this.#forget = o.counters?.onDrain(() => {
        if (this.#waiting) this.#conn.end();
      });
    }
  }

  get #peer(): string {
    return describePeer({ address: this.#conn.remoteAddress, port: this.#conn.remotePort });
  }

  /** Kept open, between two requests. */
  get #waiting(): boolean {
    return this.#answered > 0 && this.#r.vars === null && this.#held.length === 0;
  }

  #newDecoder(): VarsDecoder {
    return this.#p.decoder({
      onHead: (head, vars, length) => this.#onHead(head.size, vars, length),
      onBody: (chunk) => this.#onBody(chunk),
      onBodyEnd: () => this.#r.body?.end(),
      onError: (error) => this.#onError(error),
    });
  }

  #onHead(size: number, vars: UwsgiVars, length: number | null): void {
    const r = this.#r;
    r.vars = vars;
    r.varsSize = size;
    r.tooLarge = r.limit.announced(vars);
    const bodyless = bodylessMethod(vars);
    r.bodyWanted = !bodyless && length !== 0;
    r.body = new BodyStream(this.#conn, { dropping: bodyless || r.tooLarge !== null });
  }

  #onBody(chunk: Uint8Array): void {
    const r = this.#r;
    const over = r.limit.count(chunk.length);
    if (over !== null) this.#overLimit(r, over);
    r.body?.push(chunk);
  }

  /**
   * The body grew past --limit-post: before the app, a 413 in its place; after, the app's read
   * fails, its req.signal aborts and a 413 goes out unless the app has answered. The rest is
   * dropped, and the connection takes no other request.
   */
  #overLimit(r: CgiRequest, text: string): void {
    (r.body as BodyStream).refuse(text);
    if (!r.dispatched) {
      r.tooLarge ??= text;
      return;
    }
    r.gone.abort();
    if (!r.responding) this.#refuse(r, 413, text);
  }

  #onError(error: Error & { code: string }): void {
    const r = this.#r;
    r.body?.fail(error);
    if (r.responding) return;
    if (error.code === 'looks-like-http') {
      log(`tsgi: HTTP request from ${this.#peer} on ${this.#p.socket}: use --http-socket for HTTP clients`);
      this.#refuse(r, 400, `${this.#p.notHttp}; HTTP clients need --http-socket or --http.`);
      void this.#close(null);
      return;
    }
    // A connection closed before sending anything whole (health checks, port scans, a kept one between two requests): no log line.
    if (error.code !== 'truncated-header' || r.vars !== null) log(`tsgi: ${this.#p.bad} from ${this.#peer}: ${error.message}`);
    this.#conn.destroy();
  }

  /** --socket-timeout passed before the whole head came (no log line for a kept connection's idle end). */
  expire(): void {
    if (this.#r.vars !== null) return;
    if (this.#answered === 0) logHeadTimeout(this.#peer, this.#o.headTimeoutMs);
    this.#conn.destroy();
  }

  #onData(chunk: Uint8Array): void {
    const decoder = this.#decoder;
    if (decoder.state === 'done') {
      if (this.#p.kept) this.#held.push(chunk);
      return;
    }
    decoder.push(chunk);
    const rest = this.#p.kept ? (decoder.takeRest?.() ?? null) : null;
    if (rest !== null) this.#held.push(rest);
    const r = this.#r;
    if (r.vars !== null && !r.dispatched) this.#dispatch(r, r.vars, r.body as BodyStream);
  }

  #onEnd(): void {
    this.#peerEnded = true;
    const state = this.#decoder.state;
    if (state !== 'done' && state !== 'error') this.#decoder.end();
    // Neither nginx nor Apache half-closes; the router does when its client did (src/router/proxy.ts).
    if (this.#r.dispatched) this.#r.gone.inputEnded();
  }

  #onClose(): void {
    this.#closed = true;
    this.#served?.();
    this.#forget?.();
    this.#deadlines.remove(this);
    this.#r.body?.fail('the connection closed');
    this.#r.gone.abort();
  }

  /** tsgi's own answer (400, 413) in place of the app's; the connection closes after it. */
  #refuse(r: CgiRequest, status: number, text: string): void {
    r.responding = true;
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

  #dispatch(r: CgiRequest, vars: UwsgiVars, body: BodyStream): void {
    r.dispatched = true;
    this.#deadlines.remove(this);
    if (r.tooLarge !== null) {
      log(`tsgi: bad request from ${this.#peer}: ${r.tooLarge} (413)`);
      this.#refuse(r, 413, r.tooLarge);
      void this.#close(body);
      return;
    }
    const req = requestOrRefusal(vars, r.bodyWanted ? body.take() : null, r.gone, () => this.#peer, this.#o.lazyRequest);
    if (typeof req === 'string') {
      this.#refuse(r, 400, req);
      void this.#close(body);
      return;
    }
    void this.#respond(r, req, vars, body);
  }

  async #respond(r: CgiRequest, req: Request, vars: UwsgiVars, body: BodyStream): Promise<void> {
    const o = this.#o;
    let ending = 'raw' as Ending;
    const exchange = new Exchange({
      conn: this.#conn,
      handler: o.handler,
      uri: getVar(vars, 'REQUEST_URI') ?? req.url,
      gone: r.gone,
      body,
      counters: o.counters,
      wholeBody: o.wholeBody,
      writer: (res) => {
        ending = this.#p.kept?.ending(vars, res, this.#closing) ?? 'raw';
        return this.#writer(res, req.method, ending);
      },
      facts: (q, head) => varsFacts(vars, r.varsSize, head, o.appOf?.(q) ?? 0),
      onStart: () => {
        this.#served?.();
        this.#served = undefined;
      },
      // A kept connection that closed meanwhile takes no answer (the router answered its client already).
      onAnswer: () => {
        if (r.responding || (this.#closed && this.#p.kept)) return false;
        return (r.responding = true);
      },
      upgrade: o.webSockets && {
        remoteAddress: this.#conn.remoteAddress,
        start: (session) => WebSocketConnection.start(this.#conn, session, o.webSockets as WebSocketLimits, this.#takeHeld()),
      },
      noUpgrade: this.#p.noWebSockets,
    });
    const outcome = await exchange.run(req);
    // A WebSocket has the connection from here: never back to the next request.
    if (outcome === 'upgraded') return;
    if (outcome === 'failed') this.#conn.destroy();
    else if (outcome === 'written' && ending === 'kept') await this.#next(body);
    // The app took part of the body and no more: drop the rest, and close only once it is in.
    else await this.#close(body);
    exchange.finish();
  }

  /** The peer half-closed, or the worker stops: the answer is the connection's last. */
  get #closing(): boolean {
    return this.#peerEnded || (this.#o.counters?.draining ?? false);
  }

  #writer(res: Response, method: string, ending: Ending): AnswerWriter {
    if (ending !== 'raw') return (this.#p.kept as KeptConnections).writer(res, method, ending);
    const cgi = this.#p.cgi;
    return {
      head: (contentLength) => encodeResponseHead(res, { method, contentLength, cgi }),
      bodyless: () => encodeResponseHead(res, { method, cgi }),
    };
  }

  /** The bytes that came after the request: the next request's, or a WebSocket's first frames. */
  #takeHeld(): Uint8Array {
    const held = concatBytes(this.#held);
    this.#held = [];
    return held;
  }

  /** The answer is out and kept: once the request body is in, read the next request. */
  async #next(body: BodyStream): Promise<void> {
    if (!body.done) await body.drain(this.#o.headTimeoutMs);
    if (this.#closed) return;
    if (!body.done || this.#decoder.state === 'error') return this.#conn.destroy();
    if (this.#closing) return this.#conn.end();
    this.#answered++;
    this.#r = new CgiRequest(this.#o.limitPost);
    this.#decoder = this.#newDecoder();
    this.#deadlines.add(this);
    this.#conn.resume();
    const held = this.#takeHeld();
    if (held.length > 0) this.#onData(held);
  }
}
