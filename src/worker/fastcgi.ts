/**
 * The FastCGI server (--fastcgi-socket), the responder role: records → FastCgiDecoder → one
 * FastCgiExchange per request id → Request → app → Response → STDOUT records (a CGI head, then
 * the body, streamed with backpressure) → END_REQUEST. Several requests may be in flight on one
 * connection (their records interleave whole), and a request with FCGI_KEEP_CONN leaves the
 * connection open for the next (nginx's `fastcgi_keep_conn on`, Apache's `enablereuse=on`).
 */
import type { Conn } from '../../runtimes/types.ts';
import {
  bodyAllowed,
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
  varsToRequest,
} from '../codec/index.ts';
import { describeError, describePeer, log } from '../log.ts';
import type { FetchHandler } from './app.ts';
import type { RequestCounters } from './counters.ts';
import { callApp, Gone, settlesSoon } from './respond.ts';
import { varsFacts } from './uwsgi.ts';

export interface FastCgiServerOptions {
  handler: FetchHandler;
  /** Largest params of one request, in bytes (--buffer-size). */
  bufferSize: number;
  /** Largest request body, 0: no limit (--limit-post). */
  limitPost: number;
  /** A connection that has sent no whole request by then (at first, or between requests) is closed (--socket-timeout). */
  headTimeoutMs: number;
  counters?: RequestCounters;
  /** Which app (mountpoint index) answers a URL, for the request log. */
  appOf?: (url: string) => number;
}

/** Requests in flight on one connection before a new one is refused (OVERLOADED); GET_VALUES says so. */
const MAX_REQS = 100;
const VALUES = { FCGI_MAX_CONNS: '1000', FCGI_MAX_REQS: String(MAX_REQS), FCGI_MPXS_CONNS: '1' };
/** Bytes of a request body held for a slow reader before the connection is paused. */
const HIGH_WATER = 64 * 1024;

const textEncoder = new TextEncoder();

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
        onStdin: (id, chunk) => this.#exchanges.get(id)?.body.push(chunk),
        onStdinEnd: (id) => this.#exchanges.get(id)?.body.end(),
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
    this.#idleTimer();
    conn.onData = (chunk) => this.#decoder.push(chunk);
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
    clearTimeout(this.#timer);
    this.#awaited?.();
    this.#awaited = undefined;
  }

  /** END_REQUEST went out for `id`: the connection waits for the next request, or closes. */
  finished(id: number, body: RequestBody): void {
    this.#running--;
    this.#exchanges.delete(id);
    this.#decoder.ended(id);
    if (this.#closed || this.#exchanges.size > 0) return;
    if (!this.#keep || this.#peerEnded || this.options.counters?.draining) {
      // Close only once the body is in: closing over unread bytes resets the connection.
      void body.drain(5000).then(() => this.close(false));
      return;
    }
    this.#idleTimer();
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

  /** No request in flight: one must come whole within --socket-timeout. */
  #idleTimer(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      if (this.#running > 0 || this.#closed) return;
      if (!this.#decoder.idle) {
        log(`tsgi: ${this.peer} sent no whole FastCGI request within --socket-timeout ${this.options.headTimeoutMs / 1000} s: closing`);
      }
      this.close(true);
    }, this.options.headTimeoutMs);
    if (this.options.counters?.draining) this.#awaited ??= this.options.counters.accepted();
  }

  #protocolError(e: FastCgiProtocolError): void {
    const silent = e.code === 'truncated' && this.#exchanges.size === 0 && this.#decoder.idle;
    if (!silent) log(`tsgi: bad FastCGI record from ${this.peer}: ${e.message}`);
    if (e.code === 'looks-like-http' && this.#exchanges.size === 0) {
      const text = 'This is a FastCGI socket (tsgi --fastcgi-socket); HTTP clients need --http-socket or --http.\n';
      this.conn.write(
        textEncoder.encode(`HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\ncontent-length: ${text.length}\r\nconnection: close\r\n\r\n${text}`),
      );
      return this.close(false);
    }
    this.close(true);
  }
}

class LimitError extends Error {
  override name = 'LimitError';
}

/**
 * A request body as it comes in STDIN records: held until the app reads it (the bytes themselves
 * when they are all in before the app starts), pausing the connection above HIGH_WATER, counted
 * against --limit-post, or dropped.
 */
class RequestBody {
  readonly #conn: Conn;
  readonly #limit: number;
  readonly #onTooLarge: () => void;
  #early: Uint8Array[] = [];
  #earlyBytes = 0;
  #bytes = 0;
  #controller: ReadableStreamDefaultController<Uint8Array> | null = null;
  #dropping = false;
  #done = false;
  #over = false;
  #tooLarge = false;
  #wake: (() => void) | null = null;

  /** `onTooLarge`: the body went past `limit` (--limit-post, 0: none). */
  constructor(conn: Conn, limit: number, onTooLarge: () => void) {
    this.#conn = conn;
    this.#limit = limit;
    this.#onTooLarge = onTooLarge;
  }

  get done(): boolean {
    return this.#done;
  }

  push(chunk: Uint8Array): void {
    this.#bytes += chunk.length;
    if (this.#limit > 0 && this.#bytes > this.#limit && !this.#tooLarge) {
      this.#tooLarge = true;
      // The reader fails; the rest is read and dropped (closing over it would reset the connection).
      this.#controller?.error(new LimitError(`the request body is larger than --limit-post ${this.#limit}`));
      this.#controller = null;
      this.drop();
      this.#onTooLarge();
    }
    if (this.#dropping) return;
    const c = this.#controller;
    if (c === null) {
      this.#early.push(chunk);
      this.#earlyBytes += chunk.length;
      return;
    }
    c.enqueue(chunk);
    if ((c.desiredSize ?? 0) <= 0) this.#conn.pause();
  }

  end(): void {
    this.#done = true;
    this.#controller?.close();
    this.#controller = null;
    this.#finish();
  }

  fail(error: Error): void {
    this.#controller?.error(error);
    this.#controller = null;
    this.#finish();
  }

  drop(): void {
    this.#dropping = true;
    this.#early = [];
    this.#conn.resume();
  }

  /** The body for the app: its bytes when all are in, else a stream that starts with those that came. */
  take(): Uint8Array<ArrayBuffer> | ReadableStream<Uint8Array> {
    const early = this.#early;
    this.#early = [];
    if (this.#done) return (early.length === 1 ? early[0] : concatBytes(early, this.#earlyBytes)) as Uint8Array<ArrayBuffer>;
    return new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          this.#controller = controller;
          for (const c of early) controller.enqueue(c);
        },
        pull: () => this.#conn.resume(),
        cancel: () => {
          this.#controller = null;
          this.drop();
        },
      },
      { highWaterMark: HIGH_WATER, size: (c) => c.byteLength },
    );
  }

  /** Drop the rest if the answer leaves the body alone (not read, not locked, not streamed back). */
  dropIfUntouched(req: Request, res: Response): void {
    if (this.#done) return;
    if (req.body === null || (!req.bodyUsed && !req.body.locked && res.body !== req.body)) this.drop();
  }

  /** Drop the rest; resolves once it is in (or never will be), or after `ms`. */
  drain(ms: number): Promise<void> {
    if (this.#over) return Promise.resolve();
    this.drop();
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.#wake?.(), ms);
      this.#wake = () => {
        clearTimeout(timer);
        this.#wake = null;
        resolve();
      };
    });
  }

  #finish(): void {
    this.#over = true;
    this.#wake?.();
  }
}

/** Small first chunks go in the head's STDOUT record (one write with END_REQUEST for a short answer). */
const GLUE_LIMIT = 16 * 1024;

/** One request id: its params → Request → app → STDOUT records → END_REQUEST. */
class FastCgiExchange {
  readonly #owner: FastCgiConn;
  readonly #id: number;
  readonly body: RequestBody;
  readonly #gone = new Gone();
  #vars: UwsgiVars = [];
  #size = 0;
  #method = 'GET';
  #uri = '';
  /** The counters' id of the request. */
  #cid = 0;
  #aborted = false;
  /** The answer has begun (the app's, or tsgi's own 400 or 413). */
  #answering = false;

  constructor(owner: FastCgiConn, id: number) {
    this.#owner = owner;
    this.#id = id;
    this.body = new RequestBody(owner.conn, owner.options.limitPost, () => this.#tooLarge());
  }

  /** The params are in: make the Request and ask the app. */
  start(vars: UwsgiVars, size: number): void {
    this.#vars = vars;
    this.#size = size;
    this.#owner.started();
    const method = (this.#method = (getVar(vars, 'REQUEST_METHOD') ?? 'GET').toUpperCase());
    this.#uri = getVar(vars, 'REQUEST_URI') ?? '';
    this.#cid = this.#owner.options.counters?.started(method, this.#uri) ?? 0;
    const limit = this.#owner.options.limitPost;
    const length = Number(getVar(vars, 'CONTENT_LENGTH') || 0);
    if (limit > 0 && length > limit) {
      this.body.drop();
      void this.#answer(null, plain(413, `the request body (${length} bytes) is larger than --limit-post ${limit}`), false);
      return;
    }
    if (method === 'GET' || method === 'HEAD') this.body.drop();
    let req: Request;
    try {
      req = varsToRequest(vars, method === 'GET' || method === 'HEAD' ? null : this.body.take(), this.#gone);
    } catch (e) {
      log(`tsgi: bad request from ${this.#owner.peer}: ${(e as Error).message}`);
      void this.#answer(null, plain(400, `Bad Request: ${(e as Error).message}`), false);
      return;
    }
    void this.#respond(req);
  }

  /** ABORT_REQUEST: the app's req.signal aborts, the answer stops, END_REQUEST follows. */
  abort(): void {
    this.#aborted = true;
    this.body.fail(new Error('the web server aborted the request (ABORT_REQUEST)'));
    this.#gone.abort();
  }

  /** The body went past --limit-post: 413, unless the app has answered already; its req.signal aborts. */
  #tooLarge(): void {
    if (this.#answering) return;
    this.#gone.abort();
    void this.#answer(null, plain(413, `the request body is larger than --limit-post ${this.#owner.options.limitPost}`), false);
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
    const answer = await callApp(this.#owner.options.handler, req, this.#uri || req.url);
    const res = answer.res;
    if (this.#answering) {
      // Answered meanwhile (413): this answer goes nowhere.
      void res.body?.cancel().catch(() => {});
      return;
    }
    this.body.dropIfUntouched(req, res);
    await this.#answer(req, res, answer.threw);
  }

  /** Write the answer and END_REQUEST; count and log it. `req` null: tsgi's own answer (400, 413). */
  async #answer(req: Request | null, res: Response, threw: boolean): Promise<void> {
    const { conn, options } = this.#owner;
    this.#answering = true;
    const method = req?.method ?? this.#method;
    let head: Uint8Array | null = null;
    let bytes = 0;
    let failed = threw;
    try {
      bytes = await this.#write(res, method, (contentLength) => (head = encodeResponseHead(res, { method, contentLength, cgi: true })));
      this.#gone.settled();
      if (!this.#owner.closed) conn.write(encodeEndRequest(this.#id, failed || this.#aborted ? 1 : 0));
    } catch (e) {
      failed = true;
      this.#gone.settled();
      log(`tsgi: response body failed on ${method} ${this.#uri}: ${describeError(e)}`);
      // The web server must not take a cut answer for a whole one: only a close says so.
      this.#owner.close(true);
    }
    const url = req?.url ?? '';
    options.counters?.finished(this.#cid, res.status, bytes, failed, () => varsFacts(this.#vars, this.#size, head, url ? (options.appOf?.(url) ?? 0) : 0));
    this.#owner.finished(this.#id, this.body);
  }

  /** The head and body in STDOUT records, with backpressure. Resolves with the body bytes written. */
  async #write(res: Response, method: string, head: (contentLength: number | undefined) => Uint8Array): Promise<number> {
    const { conn } = this.#owner;
    const id = this.#id;
    if (!bodyAllowed(method, res.status) || res.body === null) {
      if (res.body) void res.body.cancel().catch(() => {});
      conn.write(encodeStream(FCGI.STDOUT, id, head(bodyAllowed(method, res.status) ? 0 : undefined)));
      return 0;
    }
    const reader = res.body.getReader();
    this.#gone.onAbort(() => void reader.cancel(new Error('the web server aborted the request')).catch(() => {}));
    try {
      const first = await reader.read();
      if (first.done) {
        conn.write(encodeStream(FCGI.STDOUT, id, head(0)));
        return 0;
      }
      const secondRead = reader.read();
      const second = await settlesSoon(secondRead);
      if (second?.value.done) {
        conn.write(encodeStream(FCGI.STDOUT, id, concatBytes([head(first.value.length), first.value])));
        return first.value.length;
      }
      const h = head(undefined);
      if (first.value.length <= GLUE_LIMIT) conn.write(encodeStream(FCGI.STDOUT, id, concatBytes([h, first.value])));
      else {
        conn.write(encodeStream(FCGI.STDOUT, id, h));
        conn.write(encodeStream(FCGI.STDOUT, id, first.value));
      }
      let sent = first.value.length;
      let next = secondRead;
      for (;;) {
        const r = await next;
        if (r.done || this.#gone.aborted) break;
        sent += r.value.length;
        next = reader.read();
        if (r.value.length === 0) continue;
        if (!conn.write(encodeStream(FCGI.STDOUT, id, r.value))) await conn.drained();
      }
      return sent;
    } finally {
      this.#gone.onAbort(null);
      reader.releaseLock();
    }
  }
}

/** A short plain-text answer of tsgi's own. */
function plain(status: number, text: string): Response {
  return new Response(`${text}\n`, { status, headers: { 'content-type': 'text/plain; charset=utf-8' } });
}
