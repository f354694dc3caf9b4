/**
 * The SCGI server (--scgi-socket): one request per connection, as nginx's scgi_pass and Apache's
 * mod_proxy_scgi send it. Bytes → ScgiDecoder → the uwsgi vars → Request → app → a CGI-style
 * answer (`Status: 200 OK`, headers, body) → close: the close ends the answer (Apache reads
 * until it; nginx also takes the Status: form).
 */
import type { Conn } from '../../runtimes/types.ts';
import { concatBytes, encodeResponseHead, getVar, ScgiDecoder, type ScgiProtocolError, type UwsgiVars, varsToRequest } from '../codec/index.ts';
import { describePeer, log } from '../log.ts';
import { BodyStream } from './body.ts';
import { Exchange } from './exchange.ts';
import { Gone, plainAnswer } from './respond.ts';
import { type UwsgiServerOptions, varsFacts } from './uwsgi.ts';

/** What an SCGI socket takes: the uwsgi server's options, less the router's streamed bodies. */
export type ScgiServerOptions = Omit<UwsgiServerOptions, 'streamedBodies'>;

function peer(conn: Conn): string {
  return describePeer({ address: conn.remoteAddress, port: conn.remotePort });
}

export function handleScgiConn(conn: Conn, options: ScgiServerOptions): void {
  new ScgiConnection(conn, options);
}

/** One SCGI connection: one request, one answer, then close. */
class ScgiConnection {
  readonly #conn: Conn;
  readonly #o: ScgiServerOptions;
  readonly #gone = new Gone();
  /** Says that this accepted connection has started its request (or closed): a stop waits for it. */
  readonly #served: (() => void) | undefined;
  readonly #decoder: ScgiDecoder;
  readonly #headTimer: ReturnType<typeof setTimeout>;
  #vars: UwsgiVars | null = null;
  #size = 0;
  #body: BodyStream | null = null;
  /** The app gets a body: not GET or HEAD, and a CONTENT_LENGTH other than 0. */
  #bodyWanted = false;
  #dispatched = false;
  #responding = false;

  constructor(conn: Conn, o: ScgiServerOptions) {
    this.#conn = conn;
    this.#o = o;
    this.#served = o.counters?.accepted();
    this.#decoder = new ScgiDecoder(
      {
        onHead: (head, vars, length) => this.#onHead(head.size, vars, length),
        onBody: (chunk) => this.#body?.push(chunk),
        onBodyEnd: () => this.#body?.end(),
        onError: (error) => this.#onError(error),
      },
      { bufferSize: o.bufferSize },
    );
    // Slow or idle clients must not hold connections forever.
    this.#headTimer = setTimeout(() => this.#headTimeout(), o.headTimeoutMs);
    conn.onData = (chunk) => this.#onData(chunk);
    conn.onEnd = () => this.#onEnd();
    conn.onClose = () => this.#onClose();
  }

  #onHead(size: number, vars: UwsgiVars, length: number): void {
    this.#vars = vars;
    this.#size = size;
    // Case-insensitive, as varsToRequest treats the method.
    const method = (getVar(vars, 'REQUEST_METHOD') ?? 'GET').toUpperCase();
    const dropping = method === 'GET' || method === 'HEAD';
    this.#bodyWanted = !dropping && length !== 0;
    this.#body = new BodyStream(this.#conn, { dropping });
  }

  #onError(error: ScgiProtocolError): void {
    this.#body?.fail(error);
    if (this.#responding) return;
    const conn = this.#conn;
    if (error.code === 'looks-like-http') {
      log(`tsgi: HTTP request from ${peer(conn)} on an SCGI socket: use --http-socket for HTTP clients`);
      void this.#refuse('This is an SCGI socket (tsgi --scgi-socket); HTTP clients need --http-socket or --http.');
      return;
    }
    // A connection closed before sending anything whole (health checks, port scans): no log line.
    if (error.code !== 'truncated-header' || this.#vars !== null) log(`tsgi: bad SCGI request from ${peer(conn)}: ${error.message}`);
    conn.destroy();
  }

  #headTimeout(): void {
    if (this.#vars !== null) return;
    log(`tsgi: ${peer(this.#conn)} sent no whole request within --socket-timeout ${this.#o.headTimeoutMs / 1000} s: closing`);
    this.#conn.destroy();
  }

  #onData(chunk: Uint8Array): void {
    this.#decoder.push(chunk);
    if (this.#vars !== null && !this.#dispatched) this.#dispatch(this.#vars, this.#body as BodyStream);
  }

  #onEnd(): void {
    const state = this.#decoder.state;
    if (state !== 'done' && state !== 'error') this.#decoder.end();
    // Neither nginx nor Apache half-closes before the answer (test/vectors/README.md).
    if (this.#dispatched) this.#gone.inputEnded();
  }

  #onClose(): void {
    this.#served?.();
    clearTimeout(this.#headTimer);
    this.#body?.fail(new Error('the connection closed'));
    this.#gone.abort();
  }

  /** A 400 before the app, CGI-style, then close. */
  async #refuse(text: string): Promise<void> {
    this.#responding = true;
    const res = plainAnswer(400, text);
    const body = new Uint8Array(await res.arrayBuffer());
    this.#conn.write(concatBytes([encodeResponseHead(res, { method: 'GET', contentLength: body.length, cgi: true }), body]));
    this.#conn.end();
  }

  #dispatch(vars: UwsgiVars, body: BodyStream): void {
    this.#dispatched = true;
    clearTimeout(this.#headTimer);
    let req: Request;
    try {
      req = varsToRequest(vars, this.#bodyWanted ? body.take() : null, this.#gone);
    } catch (e) {
      log(`tsgi: bad request from ${peer(this.#conn)}: ${(e as Error).message}`);
      void this.#refuse(`Bad Request: ${(e as Error).message}`);
      return;
    }
    void this.#respond(req, vars, body);
  }

  async #respond(req: Request, vars: UwsgiVars, body: BodyStream): Promise<void> {
    const o = this.#o;
    const method = req.method;
    const exchange = new Exchange({
      conn: this.#conn,
      handler: o.handler,
      uri: getVar(vars, 'REQUEST_URI') ?? req.url,
      gone: this.#gone,
      body,
      counters: o.counters,
      writer: (res) => ({
        head: (contentLength) => encodeResponseHead(res, { method, contentLength, cgi: true }),
        bodyless: () => encodeResponseHead(res, { method, cgi: true }),
      }),
      facts: (r, head) => varsFacts(vars, this.#size, head, o.appOf?.(r) ?? 0),
      onStart: () => this.#served?.(),
      onAnswer: () => (this.#responding = true),
    });
    const outcome = await exchange.run(req);
    if (outcome === 'failed') this.#conn.destroy();
    else {
      // The app took part of the body and no more: drop the rest, and close only once it is in
      // (closing over unread bytes resets the connection under the answer).
      if (!body.done) await body.drain(5000);
      this.#conn.end();
    }
    exchange.finish();
  }
}
