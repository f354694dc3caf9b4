/**
 * The --http router's internal socket, served in each worker: uwsgi packets from tsgi's own
 * router only (a UNIX socket in a private directory), with its streamed bodies (TSGI_BODY,
 * src/codec/frames.ts) and connections kept open (TSGI_KEEP): a request that asks for it gets
 * an answer framed by Content-Length or chunked, and the connection then takes the next packet.
 * The answer says `connection: close` when the worker will take no other (it stops, or the
 * router half-closed); a request without TSGI_KEEP is answered as on --socket, and closed.
 *
 * A kept connection that waits for its next request is closed after --socket-timeout (the
 * router drops its idle ones before, src/router/pool.ts), and at once when the worker stops: the
 * router then sends a request that had nothing but its head again, on a fresh connection.
 */
import type { Conn } from '../../runtimes/types.ts';
import { concatBytes, encodeResponseHead, getVar, KEEP_CONNECTION_VAR, UwsgiDecoder, type UwsgiProtocolError, type UwsgiVars } from '../codec/index.ts';
import { describePeer, log } from '../log.ts';
import { BodyStream } from './body.ts';
import { type AnswerWriter, Exchange } from './exchange.ts';
import { Gone } from './respond.ts';
import { bodylessMethod, logHeadTimeout, PostLimit, refusalBytes, requestOrRefusal, type VarsServerOptions, varsFacts } from './vars.ts';

export function handleInternalConn(conn: Conn, options: VarsServerOptions): void {
  new InternalConnection(conn, options);
}

const textEncoder = new TextEncoder();
const CRLF = textEncoder.encode('\r\n');
const LAST_CHUNK = textEncoder.encode('0\r\n\r\n');
const chunk = (c: Uint8Array) => concatBytes([textEncoder.encode(`${c.length.toString(16)}\r\n`), c, CRLF]);
const lastChunk = () => LAST_CHUNK;

/**
 * How an answer on the internal socket ends: `raw`, by the close (no TSGI_KEEP: as on --socket);
 * `kept`, by its framing (Content-Length or chunked), and the next request follows; `last`,
 * framed too, with `connection: close` (the router asked to keep it, the worker will not).
 */
type Ending = 'raw' | 'kept' | 'last';

/** The framing of one answer on the internal socket. */
class InternalAnswerWriter implements AnswerWriter {
  readonly frame: AnswerWriter['frame'];
  readonly trailer: AnswerWriter['trailer'];
  readonly #res: Response;
  readonly #method: string;
  readonly #ending: Ending;
  readonly #chunked: boolean;

  constructor(res: Response, method: string, ending: Ending) {
    this.#res = res;
    this.#method = method;
    this.#ending = ending;
    this.#chunked = ending !== 'raw' && !res.headers.has('content-length');
    this.frame = this.#chunked ? chunk : undefined;
    this.trailer = this.#chunked ? lastChunk : undefined;
  }

  head = (contentLength: number | undefined): Uint8Array =>
    encodeResponseHead(this.#res, { method: this.#method, contentLength, extra: this.#extra(contentLength === undefined && this.#chunked) });

  bodyless = (): Uint8Array => encodeResponseHead(this.#res, { method: this.#method, extra: this.#extra(false) });

  #extra(chunked: boolean): string {
    return (chunked ? 'transfer-encoding: chunked\r\n' : '') + (this.#ending === 'last' ? 'connection: close\r\n' : '');
  }
}

/** The state of one request on the connection; a new one for each. */
class InternalRequest {
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
  /** An answer has begun (the app's, or tsgi's own 400 or 413). */
  responding = false;

  constructor(limitPost: number) {
    this.limit = new PostLimit(limitPost);
  }
}

/** One connection from the router: requests one after the other, each answered before the next is read. */
class InternalConnection {
  readonly #conn: Conn;
  readonly #o: VarsServerOptions;
  /** Set while a stop must wait for this connection's request (the first; see CoreCounters.accepted). */
  #awaited: (() => void) | undefined;
  readonly #forget: (() => void) | undefined;
  #decoder: UwsgiDecoder;
  #r: InternalRequest;
  /** Bytes of the next request that came before this one was over. */
  #held: Uint8Array[] = [];
  #served = 0;
  #peerEnded = false;
  #closed = false;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(conn: Conn, o: VarsServerOptions) {
    this.#conn = conn;
    this.#o = o;
    this.#awaited = o.counters?.accepted();
    this.#r = new InternalRequest(o.limitPost);
    this.#decoder = this.#newDecoder();
    this.#timer = setTimeout(() => this.#headTimeout(), o.headTimeoutMs);
    conn.onData = (chunk) => this.#onData(chunk);
    conn.onEnd = () => this.#onEnd();
    conn.onClose = () => this.#onClose();
    // A stop closes a kept connection that waits for its next request: the router sends again what it had queued for it.
    this.#forget = o.counters?.onDrain(() => {
      if (this.#waiting) this.#conn.end();
    });
  }

  get #peer(): string {
    return describePeer({ address: this.#conn.remoteAddress, port: this.#conn.remotePort });
  }

  /** Kept open, between two requests. */
  get #waiting(): boolean {
    return this.#served > 0 && this.#r.vars === null && this.#held.length === 0;
  }

  #newDecoder(): UwsgiDecoder {
    return new UwsgiDecoder(
      {
        onHead: (head, vars, length) => this.#onHead(head.size, vars, length),
        onBody: (chunk) => this.#onBody(chunk),
        onBodyEnd: () => this.#r.body?.end(),
        onError: (error) => this.#onError(error),
      },
      { bufferSize: this.#o.bufferSize, streamedBodies: true },
    );
  }

  #onData(chunk: Uint8Array): void {
    const state = this.#decoder.state;
    if (state === 'done' || state === 'error') {
      if (state === 'done') this.#held.push(chunk);
      return;
    }
    this.#decoder.push(chunk);
    const rest = this.#decoder.takeRest();
    if (rest !== null) this.#held.push(rest);
    const r = this.#r;
    if (r.vars !== null && !r.dispatched) this.#dispatch(r);
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

  /** The body grew past --limit-post: as on --socket (src/worker/cgi-conn.ts), a 413 and no more requests here. */
  #overLimit(r: InternalRequest, text: string): void {
    (r.body as BodyStream).refuse(text);
    if (!r.dispatched) {
      r.tooLarge ??= text;
      return;
    }
    r.gone.abort();
    if (!r.responding) this.#refuse(r, 413, text);
  }

  #onError(error: UwsgiProtocolError): void {
    const r = this.#r;
    r.body?.fail(error);
    // A connection closed between two requests, or before its first: no log line.
    if (error.code !== 'truncated-header' || r.vars !== null) log(`tsgi: bad uwsgi packet from the router on its internal socket: ${error.message}`);
    this.#conn.destroy();
  }

  #headTimeout(): void {
    if (this.#r.vars !== null) return;
    if (this.#served === 0) logHeadTimeout(this.#peer, this.#o.headTimeoutMs);
    this.#conn.destroy();
  }

  #onEnd(): void {
    this.#peerEnded = true;
    const state = this.#decoder.state;
    if (state !== 'done' && state !== 'error') this.#decoder.end();
    // The router half-closes when its client went (src/router/proxy.ts): the app's req.signal aborts.
    if (this.#r.dispatched) this.#r.gone.inputEnded();
  }

  #onClose(): void {
    this.#closed = true;
    this.#awaited?.();
    this.#forget?.();
    clearTimeout(this.#timer);
    this.#r.body?.fail('the connection closed');
    this.#r.gone.abort();
  }

  /** tsgi's own answer (400, 413) in place of the app's; the connection closes after it. */
  #refuse(r: InternalRequest, status: number, text: string): void {
    r.responding = true;
    this.#conn.write(refusalBytes(status, text, false));
  }

  /** Close once the rest of the body is in (or after 5 s): closing over unread bytes resets the connection under the answer. */
  async #close(body: BodyStream | null): Promise<void> {
    if (body !== null && !body.done) await body.drain(5000);
    this.#conn.end();
  }

  #dispatch(r: InternalRequest): void {
    r.dispatched = true;
    clearTimeout(this.#timer);
    const vars = r.vars as UwsgiVars;
    const body = r.body as BodyStream;
    if (r.tooLarge !== null) {
      log(`tsgi: bad request from ${this.#peer}: ${r.tooLarge} (413)`);
      this.#refuse(r, 413, r.tooLarge);
      void this.#close(body);
      return;
    }
    const req = requestOrRefusal(vars, r.bodyWanted ? body.take() : null, r.gone, this.#peer);
    if (typeof req === 'string') {
      this.#refuse(r, 400, req);
      void this.#close(body);
      return;
    }
    void this.#respond(r, req, vars, body);
  }

  async #respond(r: InternalRequest, req: Request, vars: UwsgiVars, body: BodyStream): Promise<void> {
    const o = this.#o;
    const method = req.method;
    let ending = 'raw' as Ending;
    const exchange = new Exchange({
      conn: this.#conn,
      handler: o.handler,
      uri: getVar(vars, 'REQUEST_URI') ?? req.url,
      gone: r.gone,
      body,
      counters: o.counters,
      writer: (res) => {
        ending = this.#ending(vars, res);
        return new InternalAnswerWriter(res, method, ending);
      },
      facts: (q, head) => varsFacts(vars, r.varsSize, head, o.appOf?.(q) ?? 0),
      onStart: () => {
        this.#awaited?.();
        this.#awaited = undefined;
      },
      onAnswer: () => {
        if (r.responding || this.#closed) return false;
        return (r.responding = true);
      },
    });
    const outcome = await exchange.run(req);
    if (outcome === 'failed') this.#conn.destroy();
    else if (outcome === 'written' && ending === 'kept') await this.#next(body);
    else await this.#close(body);
    exchange.finish();
  }

  /** Kept only if the router asked, and while the router still sends and the worker does not stop; never after a switch of protocols. */
  #ending(vars: UwsgiVars, res: Response): Ending {
    if (getVar(vars, KEEP_CONNECTION_VAR) !== '1') return 'raw';
    return this.#peerEnded || this.#o.counters?.draining || res.status === 101 ? 'last' : 'kept';
  }

  /** The answer is out and kept: once the request body is in, read the next request. */
  async #next(body: BodyStream): Promise<void> {
    if (!body.done) await body.drain(this.#o.headTimeoutMs);
    if (this.#closed) return;
    if (!body.done) return this.#conn.destroy();
    if (this.#peerEnded || this.#o.counters?.draining) return this.#conn.end();
    this.#served++;
    this.#r = new InternalRequest(this.#o.limitPost);
    this.#decoder = this.#newDecoder();
    this.#timer = setTimeout(() => this.#headTimeout(), this.#o.headTimeoutMs);
    this.#conn.resume();
    const held = this.#held;
    this.#held = [];
    for (const c of held) this.#onData(c);
  }
}
