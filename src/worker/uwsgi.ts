/**
 * The uwsgi protocol server: one request per connection (nginx never reuses uwsgi connections).
 * Bytes → UwsgiDecoder → Request → app → Response → raw HTTP/1.1 bytes → close.
 */
import type { Conn } from '../../runtimes/types.ts';
import { encodeResponseHead, getVar, UwsgiDecoder, type UwsgiProtocolError, type UwsgiVars, varsToRequest } from '../codec/index.ts';
import { describePeer, log } from '../log.ts';
import type { FetchHandler } from './app.ts';
import { BodyStream } from './body.ts';
import type { RequestCounters } from './counters.ts';
import { Exchange } from './exchange.ts';
import { headStats, type RequestFacts } from './reqlog.ts';
import { Gone, plainAnswerBytes } from './respond.ts';

export interface UwsgiServerOptions {
  handler: FetchHandler;
  /** Largest vars block accepted (--buffer-size). */
  bufferSize: number;
  /** A connection that has not sent its whole request head by then is closed (--socket-timeout). */
  headTimeoutMs: number;
  counters?: RequestCounters;
  /** Which app (mountpoint index) answers a URL, for the request log. */
  appOf?: (req: Request) => number;
  /** The --http router's internal socket: take its streamed bodies (TSGI_BODY, src/codec/frames.ts). */
  streamedBodies?: boolean;
}

function peer(conn: Conn): string {
  return describePeer({ address: conn.remoteAddress, port: conn.remotePort });
}

export function handleUwsgiConn(conn: Conn, options: UwsgiServerOptions): void {
  new UwsgiConnection(conn, options);
}

/** One uwsgi connection: one packet, one answer, then close. */
class UwsgiConnection {
  readonly #conn: Conn;
  readonly #o: UwsgiServerOptions;
  readonly #gone = new Gone();
  /** Says that this accepted connection has started its request (or closed): a stop waits for it. */
  readonly #served: (() => void) | undefined;
  readonly #decoder: UwsgiDecoder;
  readonly #headTimer: ReturnType<typeof setTimeout>;
  #vars: UwsgiVars | null = null;
  #varsSize = 0;
  #body: BodyStream | null = null;
  /** The app gets a body: not GET or HEAD, and a CONTENT_LENGTH other than 0 (or a streamed one). */
  #bodyWanted = false;
  #dispatched = false;
  #responding = false;

  constructor(conn: Conn, o: UwsgiServerOptions) {
    this.#conn = conn;
    this.#o = o;
    this.#served = o.counters?.accepted();
    this.#decoder = new UwsgiDecoder(
      {
        onHead: (head, vars, length) => this.#onHead(head.size, vars, length),
        onBody: (chunk) => this.#body?.push(chunk),
        onBodyEnd: () => this.#body?.end(),
        onError: (error) => this.#onError(error),
      },
      { bufferSize: o.bufferSize, streamedBodies: o.streamedBodies },
    );
    // Slow or idle clients must not hold connections forever.
    this.#headTimer = setTimeout(() => this.#headTimeout(), o.headTimeoutMs);
    conn.onData = (chunk) => this.#onData(chunk);
    conn.onEnd = () => this.#onEnd();
    conn.onClose = () => this.#onClose();
  }

  #onHead(size: number, vars: UwsgiVars, length: number | null): void {
    this.#vars = vars;
    this.#varsSize = size;
    // Case-insensitive, as varsToRequest treats the method.
    const method = (getVar(vars, 'REQUEST_METHOD') ?? 'GET').toUpperCase();
    const dropping = method === 'GET' || method === 'HEAD';
    this.#bodyWanted = !dropping && length !== 0;
    this.#body = new BodyStream(this.#conn, { dropping });
  }

  #onError(error: UwsgiProtocolError): void {
    this.#body?.fail(error);
    if (this.#responding) return;
    const conn = this.#conn;
    if (error.code === 'looks-like-http') {
      log(`tsgi: HTTP request from ${peer(conn)} on a uwsgi socket: use --http-socket for HTTP clients`);
      this.#refuse('This is a uwsgi protocol socket (tsgi --socket); HTTP clients need --http-socket or --http.');
      return;
    }
    // A connection closed before sending anything whole (health checks, port scans): no log line.
    if (error.code !== 'truncated-header' || this.#vars !== null) log(`tsgi: bad uwsgi packet from ${peer(conn)}: ${error.message}`);
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
    // nginx never half-closes; the router does when its client did (src/router/proxy.ts).
    if (this.#dispatched) this.#gone.inputEnded();
  }

  #onClose(): void {
    this.#served?.();
    clearTimeout(this.#headTimer);
    this.#body?.fail('the connection closed');
    this.#gone.abort();
  }

  /** A 400 before the app, then close. */
  #refuse(text: string): void {
    this.#responding = true;
    this.#conn.write(plainAnswerBytes(400, text));
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
      this.#refuse(`Bad Request: ${(e as Error).message}`);
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
        head: (contentLength) => encodeResponseHead(res, { method, contentLength }),
        bodyless: () => encodeResponseHead(res, { method }),
      }),
      facts: (r, head) => varsFacts(vars, this.#varsSize, head, o.appOf?.(r) ?? 0),
      onStart: () => this.#served?.(),
      onAnswer: () => (this.#responding = true),
    });
    const outcome = await exchange.run(req);
    if (outcome === 'failed') this.#conn.destroy();
    else {
      // The app took part of the body and no more: drop the rest, and close only once it is in
      // (closing over unread bytes resets the connection, and nginx would answer 502).
      if (!body.done) await body.drain(5000);
      this.#conn.end();
    }
    exchange.finish();
  }
}

/** The request log's facts from the vars the web server sent (uwsgi, FastCGI, SCGI). */
export function varsFacts(vars: UwsgiVars, size: number, head: Uint8Array | null, app: number): RequestFacts {
  const v = (k: string) => getVar(vars, k) ?? '';
  const h = head ? headStats(head) : { headers: 0, bytes: 0 };
  return {
    method: v('REQUEST_METHOD'),
    uri: v('REQUEST_URI'),
    proto: v('SERVER_PROTOCOL'),
    addr: v('REMOTE_ADDR'),
    host: v('HTTP_HOST'),
    uagent: v('HTTP_USER_AGENT'),
    referer: v('HTTP_REFERER'),
    vars: vars.length,
    varsBytes: size,
    headers: h.headers,
    headersBytes: h.bytes,
    cl: Number(v('CONTENT_LENGTH')) || 0,
    app,
  };
}
