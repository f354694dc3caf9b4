/**
 * The FastCGI server (--fastcgi-socket), the responder role: records → FastCgiDecoder → one
 * FastCgiExchange per request id → Request → app → Response → STDOUT records (a CGI head, then
 * the body, streamed with backpressure) → END_REQUEST. Several requests may be in flight on one
 * connection (their records interleave whole), and a request with FCGI_KEEP_CONN leaves the
 * connection open for the next (nginx's `fastcgi_keep_conn on`, Apache's `enablereuse=on`).
 */
import type { Conn } from '../../runtimes/types.ts';
import {
  concatBytes,
  encodeEndRequest,
  encodeGetValuesResult,
  encodeResponseHead,
  encodeStream,
  encodeUnknownType,
  FastCgiDecoder,
  type FastCgiProtocolError,
  FCGI,
  FCGI_RESPONDER,
  FCGI_STATUS,
  getVar,
  type UwsgiVars,
} from '../codec/index.ts';
import { describePeer, log } from '../log.ts';
import { BodyStream } from './body.ts';
import { Exchange } from './exchange.ts';
import { type AnswerSink, Gone } from './respond.ts';
import { bodylessMethod, logHeadTimeout, PostLimit, refusalBytes, requestOrRefusal, type VarsServerOptions, varsFacts } from './vars.ts';

/** A FastCGI socket takes what every vars protocol takes (--buffer-size bounds one request's params). */
export type FastCgiServerOptions = VarsServerOptions;

/** Requests in flight on one connection before a new one is refused (OVERLOADED); GET_VALUES says so. */
const MAX_REQS = 100;
const VALUES = { FCGI_MAX_CONNS: '1000', FCGI_MAX_REQS: String(MAX_REQS), FCGI_MPXS_CONNS: '1' };

/**
 * How long a kept connection waits for its next request: longer than nginx's upstream
 * keepalive_timeout (60 s by default), so that the web server closes an idle connection first
 * and never sends a request down one tsgi is closing (nginx would answer a POST with 502).
 */
const KEPT_IDLE_MS = 75_000;

export function handleFastCgiConn(conn: Conn, options: FastCgiServerOptions): void {
  new FastCgiConn(conn, options);
}

/** One connection: its decoder, its requests in flight, when it closes. */
class FastCgiConn {
  readonly conn: Conn;
  readonly options: FastCgiServerOptions;
  readonly #decoder: FastCgiDecoder;
  readonly #exchanges = new Map<number, FastCgiExchange>();
  /** False once a request came without FCGI_KEEP_CONN: the connection closes after its answer. */
  #keep = true;
  #closed = false;
  #peerEnded = false;
  /** Requests whose app has been asked and whose END_REQUEST has not gone out. */
  #running = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** The timer is a kept connection's wait for its next request (KEPT_IDLE_MS), not --socket-timeout. */
  #keptIdle = false;
  /** A graceful stop waits for this connection until it starts a request or closes (counters.accepted). */
  #awaited: (() => void) | undefined;
  readonly #forgetDrain: (() => void) | undefined;

  constructor(conn: Conn, options: FastCgiServerOptions) {
    this.conn = conn;
    this.options = options;
    this.#awaited = options.counters?.accepted();
    this.#decoder = new FastCgiDecoder(
      {
        onBegin: (id, role, keepConn) => this.#begin(id, role, keepConn),
        onParams: (id, vars, size) => this.#exchanges.get(id)?.start(vars, size),
        onStdin: (id, chunk) => this.#exchanges.get(id)?.push(chunk),
        onStdinEnd: (id) => this.#exchanges.get(id)?.stdinEnd(),
        onAbort: (id) => this.#exchanges.get(id)?.abort(),
        onGetValues: (names) => conn.write(encodeGetValuesResult(names, VALUES)),
        onUnknownType: (type) => conn.write(encodeUnknownType(type)),
        onError: (e) => this.#protocolError(e),
      },
      { maxParams: options.bufferSize },
    );
    this.#forgetDrain = options.counters?.onDrain(() => {
      if (this.#exchanges.size === 0) this.close(false);
    });
    this.#idleTimer(false);
    conn.onData = (chunk) => this.#onData(chunk);
    conn.onEnd = () => {
      this.#peerEnded = true;
      this.#decoder.end();
      for (const x of this.#exchanges.values()) x.inputEnded();
      if (this.#exchanges.size === 0) this.close(false);
    };
    conn.onClose = () => {
      this.#closed = true;
      this.#awaited?.();
      this.#forgetDrain?.();
      clearTimeout(this.#timer);
      for (const x of this.#exchanges.values()) x.gone();
    };
  }

  get closed(): boolean {
    return this.#closed;
  }

  get peer(): string {
    return describePeer({ address: this.conn.remoteAddress, port: this.conn.remotePort });
  }

  /** A request's answer is about to be made: a stop now waits for the request, not the connection. */
  started(): void {
    this.#running++;
    this.#keptIdle = false;
    clearTimeout(this.#timer);
    this.#awaited?.();
    this.#awaited = undefined;
  }

  /** END_REQUEST for `id` is written: on a connection kept open, the id is free for the next request at once. */
  answered(id: number): void {
    if (this.#closing()) return; // the exchange stays, to read its body to its end
    this.#exchanges.delete(id);
    this.#decoder.ended(id);
  }

  /** A request is over: the connection waits for the next one, or closes. */
  finished(): void {
    this.#running--;
    if (this.#closed) return;
    if (!this.#closing()) {
      // Its body may have paused the Conn (a full stream the app then read to its end): the next request must get through.
      this.conn.resume();
      if (this.#exchanges.size === 0) this.#idleTimer(true);
      return;
    }
    if (this.#running > 0) return;
    // Close once every body is in (the exchanges stay to read them; its empty STDIN, ABORT_REQUEST or a close ends
    // one): closing over unread bytes resets the connection.
    void Promise.all([...this.#exchanges.values()].map((x) => x.body.drain(5000))).then(() => this.close(false));
  }

  /** No request after the ones in flight: one came without FCGI_KEEP_CONN, the web server half-closed, or a stop began. */
  #closing(): boolean {
    return !this.#keep || this.#peerEnded || this.options.counters?.draining === true;
  }

  close(now: boolean): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    if (now) this.conn.destroy();
    else this.conn.end();
  }

  #begin(id: number, role: number, keepConn: boolean): void {
    if (role !== FCGI_RESPONDER) {
      this.conn.write(encodeEndRequest(id, 0, FCGI_STATUS.UNKNOWN_ROLE, false));
      this.#decoder.ended(id);
      return;
    }
    if (this.#exchanges.size >= MAX_REQS) {
      this.conn.write(encodeEndRequest(id, 0, FCGI_STATUS.OVERLOADED, false));
      this.#decoder.ended(id);
      return;
    }
    if (!keepConn) this.#keep = false;
    this.#exchanges.set(id, new FastCgiExchange(this, id));
  }

  #onData(chunk: Uint8Array): void {
    this.#decoder.push(chunk);
    // A kept connection's next request has begun: it must come whole within --socket-timeout.
    if (this.#keptIdle && this.#running === 0 && !this.#decoder.idle) this.#idleTimer(false);
  }

  /**
   * No request being answered: the first (or the next, begun) must come whole within
   * --socket-timeout; a kept connection with nothing begun waits KEPT_IDLE_MS, then closes.
   */
  #idleTimer(kept: boolean): void {
    clearTimeout(this.#timer);
    this.#keptIdle = kept;
    this.#timer = setTimeout(
      () => {
        if (this.#running > 0 || this.#closed) return;
        if (kept) return this.close(false);
        if (!this.#decoder.idle) logHeadTimeout(this.peer, this.options.headTimeoutMs, 'FastCGI request');
        this.close(true);
      },
      kept ? KEPT_IDLE_MS : this.options.headTimeoutMs,
    );
    if (this.options.counters?.draining) this.#awaited ??= this.options.counters.accepted();
  }

  #protocolError(e: FastCgiProtocolError): void {
    const silent = e.code === 'truncated' && this.#exchanges.size === 0 && this.#decoder.idle;
    if (!silent) log(`tsgi: bad FastCGI record from ${this.peer}: ${e.message}`);
    if (e.code === 'looks-like-http' && this.#exchanges.size === 0) {
      this.conn.write(refusalBytes(400, 'This is a FastCGI socket (tsgi --fastcgi-socket); HTTP clients need --http-socket or --http.', false));
      return this.close(false);
    }
    this.close(true);
  }
}

/** One request id: its params → Request → an Exchange (the app, its answer in STDOUT records) → END_REQUEST. */
class FastCgiExchange {
  readonly #owner: FastCgiConn;
  readonly #id: number;
  readonly body: BodyStream;
  readonly #gone = new Gone();
  /** This request's STDOUT: every write the Exchange makes goes out in records of this id. */
  readonly #stdout: AnswerSink;
  #vars: UwsgiVars = [];
  #size = 0;
  readonly #limit: PostLimit;
  #aborted = false;
  /** An answer has begun (the app's, or tsgi's own 400 or 413): another one goes nowhere. */
  #answering = false;
  /** END_REQUEST is written; then the exchange is over. */
  #endSent = false;
  #done = false;
  /** The next write is the whole answer (its length was known, or it has no body): END_REQUEST goes with it. */
  #whole = false;

  constructor(owner: FastCgiConn, id: number) {
    this.#owner = owner;
    this.#id = id;
    this.body = new BodyStream(owner.conn);
    this.#limit = new PostLimit(owner.options.limitPost);
    const conn = owner.conn;
    this.#stdout = { write: (b) => conn.write(this.#records(b)), drained: () => conn.drained() };
  }

  /** The params are in: make the Request and ask the app. */
  start(vars: UwsgiVars, size: number): void {
    this.#vars = vars;
    this.#size = size;
    this.#owner.started();
    const tooLarge = this.#limit.announced(vars);
    if (tooLarge !== null) return this.#refuseTooLarge(tooLarge);
    const bodyless = bodylessMethod(vars);
    if (bodyless) this.body.drop();
    const req = requestOrRefusal(vars, bodyless ? null : this.body.take(), this.#gone, () => this.#owner.peer, this.#owner.options.lazyRequest);
    if (typeof req === 'string') return this.#refuse(400, req);
    void this.#respond(req);
  }

  /** Body bytes from STDIN records, counted against --limit-post (a chunked upload has no CONTENT_LENGTH). */
  push(chunk: Uint8Array): void {
    const over = this.#limit.count(chunk.length);
    if (over !== null) {
      // The app's read fails, its req.signal aborts, the rest is dropped; a 413 unless the app has answered already.
      this.body.refuse(over);
      this.#gone.abort();
      if (!this.#answering) this.#refuseTooLarge(over);
    }
    this.body.push(chunk);
  }

  /** The empty STDIN record: the body is whole. */
  stdinEnd(): void {
    this.body.end();
  }

  /** ABORT_REQUEST: the app's req.signal aborts, the answer stops, END_REQUEST follows. */
  abort(): void {
    this.#aborted = true;
    this.body.fail(new Error('the web server aborted the request (ABORT_REQUEST)'));
    this.#gone.abort();
  }

  /** The web server sent its last byte: req.signal aborts; the answer is still written. */
  inputEnded(): void {
    this.#gone.inputEnded();
  }

  /** The connection closed. */
  gone(): void {
    this.body.fail(new Error('the connection closed'));
    this.#gone.abort();
  }

  async #respond(req: Request): Promise<void> {
    const o = this.#owner.options;
    const method = req.method;
    const exchange = new Exchange({
      conn: this.#stdout,
      handler: o.handler,
      uri: getVar(this.#vars, 'REQUEST_URI') ?? req.url,
      gone: this.#gone,
      body: this.body,
      counters: o.counters,
      wholeBody: o.wholeBody,
      writer: (res) => ({
        head: (contentLength) => {
          this.#whole = contentLength !== undefined;
          return encodeResponseHead(res, { method, contentLength, cgi: true });
        },
        bodyless: () => {
          this.#whole = true;
          return encodeResponseHead(res, { method, cgi: true });
        },
      }),
      facts: (r, head) => varsFacts(this.#vars, this.#size, head, o.appOf?.(r) ?? 0),
      noUpgrade: '--fastcgi-socket cannot carry WebSockets: serve this route with --http-socket (nginx proxy_pass) or --http',
      onAnswer: () => {
        if (this.#answering || this.#owner.closed) return false;
        return (this.#answering = true);
      },
    });
    const outcome = await exchange.run(req);
    // The web server must not take a cut answer for a whole one: only a close says so.
    if (outcome === 'failed') this.#owner.close(true);
    else this.#end(this.#aborted ? 1 : 0);
    exchange.finish();
  }

  /** Bytes of the answer in STDOUT records; the whole answer (one write) ends the request in the same write. */
  #records(b: Uint8Array): Uint8Array {
    if (!this.#whole) return encodeStream(FCGI.STDOUT, this.#id, b);
    this.#whole = false;
    this.#endSent = true;
    this.#owner.answered(this.#id);
    return concatBytes([encodeStream(FCGI.STDOUT, this.#id, b), encodeEndRequest(this.#id, 0)]);
  }

  /** A body above --limit-post: logged as on every door, then the 413. */
  #refuseTooLarge(text: string): void {
    log(`tsgi: bad request from ${this.#owner.peer}: ${text} (413)`);
    this.#refuse(413, text);
  }

  /** tsgi's own answer in place of the app's (400 before it, 413). */
  #refuse(status: number, text: string): void {
    this.#answering = true;
    this.#stdout.write(refusalBytes(status, text, true));
    this.#end(0);
  }

  /** The empty STDOUT and END_REQUEST; the connection goes on with what follows. */
  #end(appStatus: number): void {
    if (this.#done) return;
    this.#done = true;
    if (!this.#endSent) {
      this.#endSent = true;
      if (!this.#owner.closed) this.#owner.conn.write(encodeEndRequest(this.#id, appStatus));
      this.#owner.answered(this.#id);
    }
    this.#owner.finished();
  }
}
