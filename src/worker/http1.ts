/**
 * An HTTP/1.1 server on the runtime seam's raw connections (Conn), for --http-socket and the
 * --http router where the runtime's own HTTP server cannot serve (src/worker/server.ts
 * nativeHttp): on Bun and Deno for UNIX sockets and inherited fds — a master's TCP ports too,
 * unless --reuse-port — which Bun's serve() and Deno's serve() cannot take, and on Deno with
 * --http-keepalive off, since Deno's serve() keeps a connection that was answered
 * `Connection: close` (docs/ARCHITECTURE.md).
 *
 * Per connection: keep-alive (HTTP/1.1 by default, HTTP/1.0 on request), pipelined requests
 * answered in order, request bodies by Content-Length or chunked, streamed to the app with
 * backpressure, responses framed by Content-Length or chunked (close-delimited for HTTP/1.0),
 * no body on HEAD/1xx/204/304. Refusals: 400 for a malformed request, 413 above --limit-post,
 * 431 for a head above --buffer-size, 501 for an unknown transfer coding, 505 for HTTP/2+
 * spoken in clear, 417 for an expectation other than 100-continue.
 */
import { type Conn, type HttpHandler, type Peer, type RawHandler, type RawReply, type Takeover, takeoverOf } from '../../runtimes/types.ts';
import { Deadlines, type Expiring } from '../../runtimes/deadlines.ts';
import {
  BodyReader,
  bodyAllowed,
  chunkFrame,
  concatBytes,
  encodeResponseHead,
  fromLatin1,
  HttpError,
  type HttpRequestHead,
  headEnd,
  headToRequest,
  keepsLength,
  type LazyRequestMaker,
  lastChunk,
  parseHead,
  reasonPhrase,
} from '../codec/index.ts';
import { describePeer, log } from '../log.ts';
import { BodyStream } from './body.ts';
import type { RequestCounters } from './counters.ts';
import { type AnswerWriter, Exchange } from './exchange.ts';
import { headStats, type RequestFacts } from './reqlog.ts';
import { Gone, plainAnswerBytes } from './respond.ts';
import type { WebSocketLimits } from '../master/protocol.ts';
import type { Session } from '../websocket/session.ts';
import { WebSocketConnection } from './websocket.ts';
import { forwardedClient, type TrustedProxies } from './forwarded.ts';

export type { HttpHandler, Peer };

export interface HttpServerOptions {
  handler: HttpHandler;
  /** Largest request head, request line and headers, in bytes (--buffer-size): 431 above. */
  bufferSize: number;
  /** Largest request body in bytes (--limit-post; 0: no limit): 413 above. */
  limitPost: number;
  /** Time to send a whole request head, and to start the next one on a kept-alive connection (--socket-timeout). */
  headTimeoutMs: number;
  /** Keep connections open between requests (--http-keepalive). */
  keepAlive: boolean;
  counters?: RequestCounters;
  /** Which app (mountpoint index) answers a URL, for the request log. */
  appOf?: (req: Request) => number;
  /** Behind the runtime's own server: measure answer bodies (request log or --stats read them). */
  measureBodies?: boolean;
  /** tsgi's own HTTP/1.1 server: makes a lazy Request where the head allows one (Runtime.lazyRequests), else the runtime's Request. */
  lazyRequest?: LazyRequestMaker | null;
  /** tsgi's own HTTP/1.1 server: the app's body as it gave it, written without reading the Response's stream (Runtime.keptBodies), else null. */
  wholeBody?: (res: Response) => Uint8Array | null;
  /** Behind the runtime's own server: the size of a body the app gave as a string or bytes, without reading it (Runtime.keptSizes), else null. */
  keptSize?: (res: Response) => number | null;
  /** Carry the WebSockets the app accepts, with these limits (absent: a 426). */
  webSockets?: WebSocketLimits;
  /** --trusted-proxy: whose Forwarded / X-Forwarded-* headers name the client (src/worker/forwarded.ts). */
  trustedProxies?: TrustedProxies;
  /** Tried first for each request without a body (the --http router's fast path, src/router/raw.ts). */
  raw?: RawHandler;
}

const textEncoder = new TextEncoder();
const CONTINUE = textEncoder.encode('HTTP/1.1 100 Continue\r\n\r\n');

let dateSecond = 0;
let dateLine = '';
/** "date: …\r\n", made at most once a second. */
function date(): string {
  const now = Date.now();
  const s = Math.floor(now / 1000);
  if (s !== dateSecond) {
    dateSecond = s;
    dateLine = `date: ${new Date(now).toUTCString()}\r\n`;
  }
  return dateLine;
}

function bodyless(method: string): boolean {
  return method === 'GET' || method === 'HEAD';
}

/** The framing of one answer: Content-Length, chunked, or close-delimited (HTTP/1.0); and whether the connection is kept. */
class HttpAnswerWriter implements AnswerWriter {
  keep: boolean;
  readonly frame: AnswerWriter['frame'];
  readonly trailer: AnswerWriter['trailer'];
  readonly #res: Response;
  readonly #req: HttpRequestHead;
  readonly #chunked: boolean;

  constructor(res: Response, req: HttpRequestHead, keep: boolean) {
    this.#res = res;
    this.#req = req;
    this.keep = keep;
    this.#chunked = req.v11 && !res.headers.has('content-length');
    this.frame = this.#chunked ? chunkFrame : undefined;
    this.trailer = this.#chunked ? lastChunk : undefined;
  }

  head = (contentLength: number | undefined): Uint8Array =>
    encodeResponseHead(this.#res, { method: this.#req.method, contentLength, extra: this.#extra(contentLength === undefined) });

  bodyless = (): Uint8Array => encodeResponseHead(this.#res, { method: this.#req.method, extra: this.#extra(false) });

  #extra(streaming: boolean): string {
    // HTTP/1.0 has no chunks: a body of unknown length ends when the connection closes.
    if (streaming && !this.#req.v11 && !this.#res.headers.has('content-length')) this.keep = false;
    return (streaming && this.#chunked ? 'transfer-encoding: chunked\r\n' : '') + connectionLines(this.keep, this.#req.v11);
  }
}

/** The lines every answer ends its head with: whether the connection is kept, and the date. */
function connectionLines(keep: boolean, v11: boolean): string {
  return (keep ? (v11 ? '' : 'connection: keep-alive\r\n') : 'connection: close\r\n') + date();
}

/**
 * A raw handler's answer (RawReply) on one connection: the head as the handler gives it, framed
 * as HttpAnswerWriter frames a Response's (Content-Length, else chunked, else close-delimited).
 */
class RawHttpReply implements RawReply {
  onDrain: (() => void) | null = null;
  onGone: (() => void) | null = null;
  onAbort: (() => void) | null = null;
  readonly #conn: Conn;
  readonly #head: HttpRequestHead;
  readonly #keep: () => boolean;
  readonly #done: (keep: boolean) => void;
  #kept = false;
  #chunked = false;
  #gone = false;
  #over = false;

  constructor(conn: Conn, head: HttpRequestHead, keep: () => boolean, done: (keep: boolean) => void) {
    this.#conn = conn;
    this.#head = head;
    this.#keep = keep;
    this.#done = done;
  }

  head(status: number, reason: string, headers: string[], close: boolean): void {
    if (!this.#over) this.#conn.write(fromLatin1(this.#headText(status, reason, headers, close)));
  }

  /** Head and body in one write: one syscall for the answer, not two. */
  answer(status: number, reason: string, headers: string[], close: boolean, body: Uint8Array | null): void {
    if (this.#over) return;
    const head = fromLatin1(this.#headText(status, reason, headers, close));
    const rest = body === null || body.length === 0 ? null : this.#chunked ? chunkFrame(body) : body;
    this.#conn.write(rest === null ? head : concatBytes([head, rest]));
    this.end();
  }

  #headText(status: number, reason: string, headers: string[], close: boolean): string {
    const { method, v11 } = this.#head;
    this.#kept = !close && this.#keep();
    const keepLength = keepsLength(method, status);
    let head = `HTTP/1.1 ${status} ${reasonPhrase(status, reason)}\r\n`;
    let hasLength = false;
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i];
      if (name.length === 14 && name.toLowerCase() === 'content-length') {
        if (!keepLength) continue;
        hasLength = true;
      }
      head += `${name}: ${headers[i + 1]}\r\n`;
    }
    if (!hasLength && bodyAllowed(method, status)) {
      // HTTP/1.0 has no chunks: a body of unknown length ends when the connection closes.
      if (v11) head += 'transfer-encoding: chunked\r\n';
      else this.#kept = false;
      this.#chunked = v11;
    }
    return `${head}${connectionLines(this.#kept, v11)}\r\n`;
  }

  write(chunk: Uint8Array): boolean {
    if (this.#over) return true;
    const ok = this.#conn.write(this.#chunked ? chunkFrame(chunk) : chunk);
    if (!ok) void this.#conn.drained().then(() => this.onDrain?.());
    return ok;
  }

  end(): void {
    if (this.#over) return;
    this.#over = true;
    if (this.#chunked) this.#conn.write(lastChunk());
    this.#done(this.#kept);
  }

  destroy(): void {
    if (this.#over) return;
    this.#over = true;
    this.#conn.destroy();
  }

  /** The client sent its FIN (or closed). */
  gone(): void {
    if (this.#gone || this.#over) return;
    this.#gone = true;
    this.onGone?.();
  }

  /** The connection closed. */
  closed(): void {
    if (this.#over) return;
    this.gone();
    this.#over = true;
    this.onAbort?.();
  }
}

export function handleHttpConn(conn: Conn, o: HttpServerOptions): void {
  new HttpConnection(conn, o);
}

type State = 'head' | 'body' | 'wait' | 'closed';

/**
 * One HTTP/1.1 connection. States — head: waiting for a request head; body: reading a body;
 * wait: the answer is being made (pipelined bytes wait); closed: nothing more is read.
 */
class HttpConnection implements Expiring {
  readonly #conn: Conn;
  readonly #o: HttpServerOptions;
  readonly #peer: Peer;
  readonly #handler: (req: Request) => Response | Promise<Response>;
  readonly #forget: (() => void) | undefined;
  // The request in progress learns when the connection goes: one per request (a kept-alive
  // connection's single AbortSignal collected a listener per Request following it).
  #gone = new Gone();
  /** Set while a stop must wait for this connection's next request (see CoreCounters.accepted). */
  #awaited: (() => void) | undefined;
  #pending: Uint8Array | null = null;
  #state: State = 'head';
  #reader: BodyReader | null = null;
  #body: BodyStream | null = null;
  /** The answer (or a refusal) has started: a later refusal can only close. */
  #headWritten = false;
  #peerEnded = false;
  #served = 0;
  /** The shared head timeouts of --socket-timeout (one timer for all connections; expire() below). */
  readonly #deadlines: Deadlines;
  /** The connection waits for a (next) request head. */
  #waiting = false;
  /** The answer in progress of a request the raw handler took. */
  #raw: RawHttpReply | null = null;

  constructor(conn: Conn, o: HttpServerOptions) {
    this.#conn = conn;
    this.#o = o;
    const peer: Peer = { address: conn.remoteAddress, port: conn.remotePort };
    this.#peer = peer;
    this.#handler = (req) => o.handler(req, peer);
    this.#awaited = o.counters?.accepted();
    this.#deadlines = Deadlines.of(o.headTimeoutMs);
    this.#startTimer();
    conn.onData = (chunk) => this.#onData(chunk);
    conn.onEnd = () => this.#onEnd();
    conn.onClose = () => this.#onClose();
    // A stop waits for the next request of a kept-alive connection (the client may be sending it
    // now: closing under it would fail it), up to --socket-timeout, and answers it with close.
    this.#forget = o.counters?.onDrain(() => {
      if (this.#state === 'head') this.#awaited ??= o.counters?.accepted();
    });
  }

  /** A function, so that TypeScript does not narrow the state across awaits and calls. */
  #is(state: State): boolean {
    return this.#state === state;
  }

  /** Deadlines: no whole request head within --socket-timeout. */
  expire(): void {
    this.#waiting = false;
    if (!this.#is('head')) return;
    if (this.#pending !== null) {
      log(`tsgi: ${describePeer(this.#peer)} sent no whole request head within --socket-timeout ${this.#o.headTimeoutMs / 1000} s: closing`);
    }
    this.#close(true);
  }

  #startTimer(): void {
    this.#waiting = true;
    this.#deadlines.add(this);
  }

  #stopTimer(): void {
    if (!this.#waiting) return;
    this.#waiting = false;
    this.#deadlines.remove(this);
  }

  #close(now: boolean): void {
    if (this.#is('closed') && !now) return;
    this.#state = 'closed';
    this.#stopTimer();
    if (now) this.#conn.destroy();
    else this.#conn.end();
  }

  /** Answer with an error before (or instead of) the app, then close. */
  #reject(e: HttpError): void {
    log(`tsgi: bad request from ${describePeer(this.#peer)}: ${e.message} (${e.status})`);
    this.#body?.fail(e);
    if (this.#headWritten || this.#is('closed')) return this.#close(true);
    this.#headWritten = true;
    this.#conn.write(plainAnswerBytes(e.status, e.message, date()));
    this.#linger();
  }

  /**
   * Close after a refusal without resetting the connection under the answer: what the client
   * still sends (the rest of a refused body) is read and dropped until it has been quiet for
   * 200 ms, 5 s at most. Closing over unread bytes would send a reset, and the client could lose
   * the answer (seen on Bun).
   */
  #linger(): void {
    this.#state = 'closed';
    this.#stopTimer();
    const conn = this.#conn;
    const done = () => {
      clearTimeout(quiet);
      clearTimeout(cap);
      conn.end();
    };
    let quiet = setTimeout(done, 200);
    const cap = setTimeout(done, 5000);
    conn.onData = () => {
      clearTimeout(quiet);
      quiet = setTimeout(done, 200);
    };
    conn.onEnd = done;
    conn.resume();
  }

  #onData(chunk: Uint8Array): void {
    if (this.#is('closed')) return;
    this.#pending = this.#pending === null ? chunk : concatBytes([this.#pending, chunk]);
    this.#pump();
  }

  #onEnd(): void {
    this.#peerEnded = true;
    // The client sends nothing more: it went or half-closed (req.signal aborts, as on node:http,
    // Bun's and Deno's servers); an answer in progress is still written.
    this.#gone.inputEnded();
    this.#raw?.gone();
    if (this.#is('body')) this.#body?.fail('the client closed the connection before the end of the request body');
    if (this.#is('head')) this.#close(false);
  }

  #onClose(): void {
    this.#awaited?.();
    this.#forget?.();
    this.#state = 'closed';
    this.#stopTimer();
    this.#body?.fail('the connection closed');
    this.#gone.abort();
    this.#raw?.closed();
  }

  #pump(): void {
    try {
      while (this.#pending !== null && (this.#is('head') || this.#is('body'))) {
        if (!this.#is('head')) this.#feedBody(this.#pending);
        else if (!this.#readHead(this.#pending)) return;
      }
      // A pipelined request waits for the answer in progress: hold at most a head's worth.
      if (this.#is('wait') && this.#pending !== null && this.#pending.length > this.#o.bufferSize) this.#conn.pause();
    } catch (e) {
      if (e instanceof HttpError) this.#reject(e);
      else throw e;
    }
  }

  #feedBody(b: Uint8Array): void {
    const reader = this.#reader as BodyReader;
    const used = reader.feed(b, this.#deliver);
    this.#pending = used < b.length ? b.subarray(used) : null;
    if (!reader.done) return;
    this.#body?.end();
    this.#state = 'wait';
  }

  #deliver = (piece: Uint8Array): void => {
    const limit = this.#o.limitPost;
    if (limit > 0 && (this.#reader as BodyReader).received + piece.length > limit) {
      throw new HttpError(413, `request body above --limit-post ${limit} bytes`);
    }
    this.#body?.push(piece);
  };

  /** Parse a head out of `b` (the pending bytes) and hand the request to the app. False: more bytes needed. */
  #readHead(b: Uint8Array): boolean {
    const o = this.#o;
    let start = 0;
    // Stray CRLFs between requests are allowed (RFC 9112 2.2).
    while (start < b.length && (b[start] === 13 || b[start] === 10)) start++;
    if (start === b.length) {
      this.#pending = null;
      return false;
    }
    const end = headEnd(b, start);
    if ((end === -1 ? b.length - start : end - start) > o.bufferSize) {
      throw new HttpError(431, `request head above --buffer-size ${o.bufferSize} bytes`);
    }
    if (end === -1) return false;
    const head = parseHead(b, start, end);
    this.#pending = end + 4 < b.length ? b.subarray(end + 4) : null;
    this.#stopTimer();
    if (head.contentLength !== null && o.limitPost > 0 && head.contentLength > o.limitPost) {
      throw new HttpError(413, `request body of ${head.contentLength} bytes is above --limit-post ${o.limitPost}`);
    }
    if (!this.#takenRaw(head)) this.#dispatch(head);
    return true;
  }

  /** Does the raw handler take the request (one without a body)? Then it answers on a RawHttpReply. */
  #takenRaw(head: HttpRequestHead): boolean {
    const raw = this.#o.raw;
    if (raw === undefined || head.chunked || head.contentLength !== null) return false;
    const o = this.#o;
    const keep = () => o.keepAlive && !head.close && !this.#peerEnded && !o.counters?.draining;
    const reply = new RawHttpReply(this.#conn, head, keep, (kept) => this.#rawDone(reply, kept));
    const taken = raw({ method: head.method, target: head.target, v11: head.v11, headers: head.pairs, headBytes: head.size, peer: this.#peer }, reply);
    if (!taken) return false;
    this.#served++;
    this.#raw = reply;
    this.#headWritten = true;
    this.#state = 'wait';
    this.#awaited?.();
    this.#awaited = undefined;
    return true;
  }

  #rawDone(reply: RawHttpReply, kept: boolean): void {
    if (this.#raw === reply) this.#raw = null;
    if (!this.#is('closed')) void this.#afterAnswer(kept, null);
  }

  #dispatch(head: HttpRequestHead): void {
    this.#headWritten = false;
    const reader = new BodyReader(head.contentLength, head.chunked);
    const body = new BodyStream(this.#conn, { dropping: bodyless(head.method) });
    this.#reader = reader;
    this.#body = body;
    const reqBody = this.#requestBody(head, reader, body);
    this.#state = body.done ? 'wait' : 'body';
    if (this.#served++ > 0) this.#gone = new Gone();
    const o = this.#o;
    const client = forwardedClient(o.trustedProxies, this.#peer, () => head.headers, 'http');
    let req: Request;
    try {
      req = headToRequest(head.method, client.scheme, head.host, head.target, head.pairs, () => head.headers, reqBody, this.#gone, o.lazyRequest);
    } catch (e) {
      throw new HttpError(400, (e as Error).message);
    }
    void this.#respond(req, head, body, client.peer);
  }

  /** The app's body: none, the bytes when the whole body came with the head, or a stream. */
  #requestBody(head: HttpRequestHead, reader: BodyReader, body: BodyStream): BodyInit | null {
    if (reader.done) {
      body.end();
      return null;
    }
    if (head.expectContinue) this.#conn.write(CONTINUE);
    if (bodyless(head.method)) return null;
    const p = this.#pending;
    const n = head.contentLength ?? 0;
    if (!head.chunked && p !== null && p.length >= n) {
      const bytes = p.slice(0, n);
      this.#pending = n < p.length ? p.subarray(n) : null;
      reader.feed(bytes, () => {});
      body.push(bytes);
      body.end();
    }
    return body.take();
  }

  async #respond(req: Request, head: HttpRequestHead, body: BodyStream, peer: Peer): Promise<void> {
    const o = this.#o;
    let writer: HttpAnswerWriter | null = null;
    const exchange = new Exchange({
      conn: this.#conn,
      handler: peer === this.#peer ? this.#handler : (r) => o.handler(r, peer),
      uri: head.target,
      gone: this.#gone,
      body,
      counters: o.counters,
      wholeBody: o.wholeBody,
      writer: (res) => (writer = new HttpAnswerWriter(res, head, o.keepAlive && !head.close && !this.#peerEnded && !o.counters?.draining)),
      facts: (r, sent) => httpFacts(head, peer, sent, o.appOf?.(r) ?? 0),
      onStart: () => {
        this.#awaited?.();
        this.#awaited = undefined;
      },
      onAnswer: (res) => this.#takeAnswer(res),
      upgrade: o.webSockets && { remoteAddress: this.#conn.remoteAddress, start: (session) => this.#upgrade(session, o.webSockets as WebSocketLimits) },
    });
    const outcome = await exchange.run(req);
    if (outcome === 'failed') this.#close(true);
    exchange.finish();
    if (outcome !== 'written' || this.#is('closed')) return;
    await this.#afterAnswer((writer as HttpAnswerWriter | null)?.keep ?? false, body);
  }

  /** The app accepted a WebSocket: the connection is its from here, with the bytes that came after the request. */
  #upgrade(session: Session<unknown>, limits: WebSocketLimits): void {
    this.#handOver((conn, head) => WebSocketConnection.start(conn, session, limits, head));
  }

  /**
   * The app has answered: may the answer go out? Not if a refusal went meanwhile (a body above
   * --limit-post) or the client is gone; nor if the answer takes the connection over.
   */
  #takeAnswer(res: Response): boolean {
    if (this.#is('closed') || this.#headWritten) return false;
    this.#headWritten = true;
    const take = takeoverOf(res);
    if (take === undefined) return true;
    this.#handOver(take);
    return false;
  }

  /** The connection is no longer HTTP: give it, with the bytes read after the request head, to `take`. */
  #handOver(take: Takeover): void {
    this.#state = 'closed';
    this.#stopTimer();
    this.#awaited?.();
    this.#awaited = undefined;
    this.#forget?.();
    const conn = this.#conn;
    conn.onData = null;
    conn.onEnd = null;
    conn.onClose = null;
    const rest = this.#pending ?? new Uint8Array(0);
    this.#pending = null;
    take(conn, rest);
  }

  /** The answer is out: close, or wait for the next request once the body is in. */
  async #afterAnswer(keep: boolean, body: BodyStream | null): Promise<void> {
    if (!keep || this.#peerEnded) {
      // Close only once the body is in: closing over unread bytes resets the connection.
      if (body !== null && !body.done) await body.drain(5000);
      return this.#close(false);
    }
    if (body !== null && !body.done) {
      await body.drain(this.#o.headTimeoutMs);
      if (!body.done) return this.#close(true);
    }
    // Ready for the next request on this connection (a stop waits for it, as in onDrain).
    this.#state = 'head';
    this.#reader = null;
    if (this.#o.counters?.draining) this.#awaited ??= this.#o.counters.accepted();
    this.#startTimer();
    this.#conn.resume();
    this.#pump();
  }
}

/** The request log's facts of an HTTP request: its CGI variables would be its headers and 12 more. */
function httpFacts(head: HttpRequestHead, peer: Peer, sent: Uint8Array | null, app: number): RequestFacts {
  const h = sent ? headStats(sent) : { headers: 0, bytes: 0 };
  let n = 0;
  head.headers.forEach(() => n++);
  return {
    method: head.method,
    uri: head.target,
    proto: head.v11 ? 'HTTP/1.1' : 'HTTP/1.0',
    addr: peer.address,
    host: head.host,
    uagent: head.headers.get('user-agent') ?? '',
    referer: head.headers.get('referer') ?? '',
    vars: n + 12,
    varsBytes: head.size,
    headers: h.headers,
    headersBytes: h.bytes,
    cl: head.contentLength ?? 0,
    app,
  };
}
