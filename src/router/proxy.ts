/**
 * The --http router's client side: one request → one uwsgi exchange with a worker over the
 * workers' internal socket (the workers share it, so the kernel balances new connections): the
 * vars nginx's uwsgi_params would send and TSGI_KEEP, the body streamed after them (one of
 * unknown length in tsgi's frames, src/codec/frames.ts), and the worker's HTTP/1.1 answer
 * (framed by Content-Length or chunked) read back into a Response whose body streams with
 * backpressure both ways. The connection then goes back to the pool (pool.ts) for the next
 * request, unless the worker said `connection: close`.
 *
 * A GET, HEAD or OPTIONS takes an idle connection; if the worker closed it before answering (it
 * stops, or its idle time ran out on its side), the request, which is all in its vars, is sent
 * again once on a fresh connection. Any other request (a body, or a method that is not safe to
 * repeat) takes a fresh connection: it is never sent twice. So does an upgrade request: after the
 * worker's 101 the connection is relayed raw (upgrade.ts) and never goes back to the pool.
 *
 * While no worker is ready the request waits (gate.ts), then 503; 502 when the socket cannot be
 * reached, or when a worker closes without answering; 504 when no answer head arrives within
 * --http-timeout.
 */
import type { Conn, Peer } from '../../runtimes/types.ts';
import { Deadlines, type Expiring } from '../../runtimes/deadlines.ts';
import {
  BodyReader,
  concatBytes,
  encodePacket,
  frameHead,
  headEnd,
  KEEP_CONNECTION_VAR,
  LAST_FRAME,
  latin1,
  requestToVars,
  STREAMED_BODY,
  STREAMED_BODY_VAR,
  type UwsgiVars,
} from '../codec/index.ts';
import { log } from '../log.ts';
import { BodyStream } from '../worker/body.ts';
import { plainAnswer } from '../worker/respond.ts';
import type { WorkerGate } from './gate.ts';
import type { UpstreamPool } from './pool.ts';
import { isUpgrade, type Relays, UpgradeRelay, upgradeRefused } from './upgrade.ts';

export interface ProxyOptions {
  /** Connections to the workers: idle ones kept, new ones opened. */
  pool: UpstreamPool;
  /** How the workers' socket is shown in error pages and logs. */
  upstream: string;
  /** Where requests wait while no worker is ready. */
  workers: WorkerGate;
  /** --http-timeout in ms: the wait for the worker's answer head. */
  timeoutMs: number;
  /** The router's own port, for SERVER_PORT. */
  serverPort: number;
  /** The router's open upgraded connections (upgrade.ts). */
  relays: Relays;
  /** Can the client-facing server hand a connection over? If not, upgrade requests get a 501. */
  upgrades: boolean;
}

/** Answer heads from a worker are small; a bigger one is a broken worker. */
const MAX_ANSWER_HEAD = 64 * 1024;

/** A 503 asks the client to come back this many seconds later. */
export const RETRY_AFTER_S = 1;

/** The router's own answer when no worker answers: one line of text (a 503 asks to come back later). */
export function gatewayError(status: 502 | 503 | 504, why: string): Response {
  return plainAnswer(status, gatewayText(why), status === 503 ? { 'retry-after': String(RETRY_AFTER_S) } : {});
}

/** The line of a gateway error's answer (gatewayError). */
export function gatewayText(why: string): string {
  return `tsgi http router: ${why}`;
}

/** The host of a request URL (as URL.hostname gives it: an IPv6 address keeps its brackets) and whether it is https, without parsing it whole. */
function urlHost(url: string): { hostname: string; https: boolean } {
  const https = url.startsWith('https:');
  const start = https ? 8 : 7;
  let end = url.indexOf('/', start);
  if (end === -1) end = url.length;
  const host = url.slice(start, end);
  const colon = host.lastIndexOf(':');
  return { hostname: colon > host.lastIndexOf(']') ? host.slice(0, colon) : host, https };
}

/**
 * The uwsgi vars for a request: nginx's set, SCRIPT_NAME/PATH_INFO split at a mountpoint,
 * TSGI_BODY for a body that goes in frames, and TSGI_KEEP.
 */
export function varsFor(req: Request, peer: Peer, scriptName: string, serverPort: number, framed: boolean): UwsgiVars {
  const { hostname, https } = urlHost(req.url);
  const vars = requestToVars(req, {
    remoteAddr: peer.address,
    remotePort: peer.port,
    serverName: hostname,
    serverPort,
    scheme: https ? 'https' : 'http',
  });
  const out: UwsgiVars = [];
  for (const v of vars) {
    // A framed body keeps its Transfer-Encoding (the app sees what the client sent, as behind
    // --http-socket); a body of known length comes with CONTENT_LENGTH alone, as from nginx.
    if (v[0] === 'HTTP_TRANSFER_ENCODING' && !framed) continue;
    if (v[0] === 'PATH_INFO' && scriptName) out.push(['SCRIPT_NAME', scriptName], ['PATH_INFO', v[1].slice(scriptName.length) || '/']);
    else out.push(v);
  }
  if (framed) out.push([STREAMED_BODY_VAR, STREAMED_BODY]);
  out.push([KEEP_CONNECTION_VAR, '1']);
  return out;
}

export interface AnswerHead {
  status: number;
  statusText: string;
  /** For the client, flat (name, value, …): without the hop-by-hop headers of the worker's connection. */
  headers: string[];
  /** Content-Length, or null. */
  length: number | null;
  chunked: boolean;
  /** The worker said `connection: close`. */
  close: boolean;
}

function parseAnswerHead(text: string): AnswerHead {
  const lines = text.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(lines[0]);
  if (!m) throw new Error(`not an HTTP answer: ${JSON.stringify(lines[0].slice(0, 60))}`);
  const head: AnswerHead = { status: Number(m[1]), statusText: m[2] ?? '', headers: [], length: null, chunked: false, close: false };
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    const colon = line.indexOf(':');
    if (colon <= 0) throw new Error(`malformed header line ${JSON.stringify(line.slice(0, 60))}`);
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === 'connection') head.close = value.toLowerCase() === 'close';
    else if (name === 'transfer-encoding') head.chunked = value.toLowerCase() === 'chunked';
    else {
      if (name === 'content-length') head.length = Number(value);
      head.headers.push(name, value);
    }
  }
  return head;
}

/**
 * Send the request body (if any) after the vars as it arrives, with backpressure: one piece at a
 * time, the next read once the connection takes more (then `moved()`). `framed`: each piece in a
 * frame, then the end frame (a body of unknown length). Resolves false if the body failed.
 */
async function sendBody(conn: Conn, body: ReadableStream<Uint8Array> | null, framed: boolean, moved: () => void): Promise<boolean> {
  if (body === null) return true;
  const reader = body.getReader();
  try {
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      // An empty frame would end the body.
      if (r.value.length === 0) continue;
      if (framed) conn.write(frameHead(r.value.length));
      if (!conn.write(r.value)) await conn.drained();
      moved();
    }
    if (framed) conn.write(LAST_FRAME);
    return true;
  } catch (e) {
    // The client went away mid-body: the worker must not wait for the rest.
    log(`tsgi http router: request body failed: ${(e as Error).message}`);
    conn.destroy();
    return false;
  }
}

export function forward(req: Request, peer: Peer, scriptName: string, o: ProxyOptions): Promise<Response> {
  if (!o.upgrades && isUpgrade(req)) return Promise.resolve(upgradeRefused());
  const waiting = o.workers.admit(req.signal);
  if (waiting === null) return send(req, peer, scriptName, o);
  return waiting.then((refused) => {
    if (refused === null) return send(req, peer, scriptName, o);
    log(`tsgi http router: ${refused} (503): ${req.method} ${req.url}`);
    return gatewayError(503, refused);
  });
}

/**
 * The requests that go on a kept connection: safe ones without a body, which may be sent again
 * if the connection turns out closed (RFC 9110 9.2.1). Any other goes on a fresh connection.
 */
const RESENDABLE = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Where the answer body's bytes go while it streams. */
export interface BodySink {
  push(chunk: Uint8Array): void;
  end(): void;
  fail(why: Error | string): void;
}

/**
 * Where an exchange's outcome goes: a Response for the client-facing server's handler
 * (ResponseDelivery), or straight to the client's connection (raw.ts, the router's fast path).
 */
export interface Delivery {
  readonly method: string;
  /** The request for log lines ("GET http://host/path"). */
  describe(): string;
  /** Call `f` when the client goes (closes, or sends its FIN) before the answer is over; null forgets it. */
  watchClient(f: (() => void) | null): void;
  /** The router's own answer: no worker answered. */
  refuse(status: 502 | 504, why: string): void;
  /** The worker's answer, with no body or its whole body. */
  whole(head: AnswerHead, body: Uint8Array | null): void;
  /** The worker's answer, whose body streams: its bytes go to the sink returned; `flow` steers the worker's connection; `cancelled`: the client is gone. */
  stream(head: AnswerHead, flow: Lease, cancelled: () => void): BodySink;
  /** The worker switched protocols (101): `head` is its answer head, `rest` what came after. */
  switched(conn: Conn, head: Uint8Array, rest: Uint8Array): void;
}

/** What an exchange sends: the vars packet, then the body (if any), and where the answer goes. */
export interface Outgoing {
  delivery: Delivery;
  packet: Uint8Array;
  body: ReadableStream<Uint8Array> | null;
  framed: boolean;
}

/** The answer as a Response, for the handler of the client-facing server. */
class ResponseDelivery implements Delivery {
  readonly #req: Request;
  readonly #relays: Relays;
  readonly answer: Promise<Response>;
  #resolve: (res: Response) => void = () => {};
  #watch: (() => void) | null = null;

  constructor(req: Request, relays: Relays) {
    this.#req = req;
    this.#relays = relays;
    this.answer = new Promise((resolve) => (this.#resolve = resolve));
  }

  get method(): string {
    return this.#req.method;
  }

  describe(): string {
    return `${this.#req.method} ${this.#req.url}`;
  }

  watchClient(f: (() => void) | null): void {
    const signal = this.#req.signal;
    if (this.#watch !== null) signal.removeEventListener('abort', this.#watch);
    this.#watch = f;
    if (f === null) return;
    if (signal.aborted) f();
    else signal.addEventListener('abort', f);
  }

  refuse(status: 502 | 504, why: string): void {
    this.#resolve(gatewayError(status, why));
  }

  whole(head: AnswerHead, body: Uint8Array | null): void {
    this.#resolve(new Response(body as Uint8Array<ArrayBuffer> | null, responseInit(head)));
  }

  stream(head: AnswerHead, flow: Lease, cancelled: () => void): BodySink {
    // A client that goes away cancels the body: so goes the worker's connection.
    const answer = new BodyStream(flow, { onCancel: cancelled });
    this.#resolve(new Response(answer.take(), responseInit(head)));
    return answer;
  }

  switched(conn: Conn, head: Uint8Array, rest: Uint8Array): void {
    this.#resolve(new UpgradeRelay(conn, head, rest, this.#relays).answer());
  }
}

function responseInit(head: AnswerHead): ResponseInit {
  const headers = new Headers();
  const h = head.headers;
  for (let i = 0; i < h.length; i += 2) headers.append(h[i], h[i + 1]);
  return { status: head.status, statusText: head.statusText, headers };
}

function send(req: Request, peer: Peer, scriptName: string, o: ProxyOptions): Promise<Response> {
  // A body of unknown length (a chunked upload) goes in frames, as it arrives. A request with
  // neither Content-Length nor Transfer-Encoding has no body (RFC 9112 6.3).
  const sized = req.headers.has('content-length');
  const hasBody = sized || req.headers.has('transfer-encoding');
  // req.body last: on Node (Hono's adapter) it makes the whole undici Request.
  const body = hasBody && req.method !== 'GET' && req.method !== 'HEAD' ? req.body : null;
  const framed = body !== null && !sized;
  const delivery = new ResponseDelivery(req, o.relays);
  const out: Outgoing = { delivery, packet: encodePacket(varsFor(req, peer, scriptName, o.serverPort, framed)), body, framed };
  exchange(out, o, !isUpgrade(req));
  return delivery.answer;
}

/**
 * Pass `out` to a worker: a request without a body of a safe method on an idle connection when
 * one waits (`pooled`: it may go on one), any other on a new connection.
 */
export function exchange(out: Outgoing, o: ProxyOptions, pooled: boolean): void {
  const idle = pooled && out.body === null && RESENDABLE.has(out.delivery.method) ? o.pool.take() : null;
  if (idle !== null) new UpstreamExchange(idle, out, o, true).run();
  else void sendFresh(out, o);
}

/** On a new connection to the workers (502 if they cannot be reached). */
async function sendFresh(out: Outgoing, o: ProxyOptions): Promise<void> {
  let conn: Conn;
  try {
    conn = await o.pool.open();
  } catch (e) {
    log(`tsgi http router: cannot reach the workers at ${o.upstream}: ${(e as Error).message}`);
    return out.delivery.refuse(502, `cannot reach the workers at ${o.upstream}: ${(e as Error).message}`);
  }
  new UpstreamExchange(conn, out, o, false).run();
}

/**
 * The answer body's pause and resume for its BodyStream, while the exchange has the connection:
 * once the connection is back in the pool, a slow client's reads no longer steer it.
 */
export class Lease {
  readonly #conn: Conn;
  #held = true;

  constructor(conn: Conn) {
    this.#conn = conn;
  }

  pause(): void {
    if (this.#held) this.#conn.pause();
  }

  resume(): void {
    if (this.#held) this.#conn.resume();
  }

  end(): void {
    this.#held = false;
  }
}

/**
 * One request passed to a worker over a uwsgi connection, and the worker's answer passed back to
 * its Delivery: its head parsed, its body streamed with backpressure. Once both are over, the
 * connection goes back to the pool if the worker keeps it (#keepsConnection). The wait for the
 * answer head (--http-timeout) is one shared timer for all exchanges (Deadlines).
 */
class UpstreamExchange implements Expiring {
  readonly #conn: Conn;
  readonly #out: Outgoing;
  readonly #delivery: Delivery;
  readonly #o: ProxyOptions;
  readonly #deadlines: Deadlines;
  /** The connection came from the pool: a close before the answer may be sent again on a fresh one. */
  readonly #reused: boolean;
  readonly #lease: Lease;
  /** The answer head's bytes so far. */
  #head: Uint8Array | null = null;
  /** The answer body while it is being passed on. */
  #answer: BodySink | null = null;
  /** How the answer body ends (Content-Length or chunked); null: at the close (a worker that does not keep connections). */
  #framing: BodyReader | null = null;
  #answered = false;
  /** The whole answer is in. */
  #answerOver = false;
  /** The worker's answer says the connection may serve the next request (#keepsConnection). */
  #reusable = false;
  /** Something on this exchange makes the connection unfit for another request, whatever the answer says. */
  #spoiled = false;
  /** The FIN goes after the whole request: before it, the worker would read a truncated one. */
  #requestSent = false;
  #finPending = false;
  #released = false;

  constructor(conn: Conn, out: Outgoing, o: ProxyOptions, reused: boolean) {
    this.#conn = conn;
    this.#out = out;
    this.#delivery = out.delivery;
    this.#o = o;
    this.#deadlines = Deadlines.of(o.timeoutMs);
    this.#reused = reused;
    this.#lease = new Lease(conn);
  }

  /** Send the vars packet and the body; the worker's answer, or a 502/504, goes to the delivery. */
  run(): void {
    const conn = this.#conn;
    const out = this.#out;
    this.#deadlines.add(this);
    conn.onData = (chunk) => this.#onData(chunk);
    conn.onEnd = () => this.#onEnd();
    conn.onClose = (error) => this.#onClose(error);
    this.#delivery.watchClient(this.#clientGone);
    conn.write(out.packet);
    if (out.body === null) return this.#sent(true);
    // A connection that carried a body is not kept: the worker may still be reading (or
    // dropping) the rest of it when its answer is over (an app that ignores the body).
    this.#spoil();
    void sendBody(conn, out.body, out.framed, () => this.#moved()).then((ok) => this.#sent(ok));
  }

  /**
   * The client stopped sending before the whole answer was passed on: it went, or it half-closed
   * (TCP cannot tell which until a write fails). Pass the FIN on: the app's req.signal aborts in
   * the worker, and an answer that still comes is forwarded (a gone client's server cancels it,
   * and the worker's connection is closed then). Not once the answer is over.
   */
  #clientGone = (): void => {
    if (this.#answerOver) return;
    this.#spoil();
    if (this.#requestSent) this.#conn.closeWrite();
    else this.#finPending = true;
  };

  #sent(ok: boolean): void {
    this.#requestSent = true;
    if (!ok) return this.#spoil();
    if (this.#finPending) this.#conn.closeWrite();
    this.#releaseIfOver();
  }

  /** The connection will not go back to the pool. */
  #spoil(): void {
    this.#spoiled = true;
  }

  #over(): void {
    this.#delivery.watchClient(null);
  }

  /** Counted from the last piece of the request body the worker took: an upload longer than --http-timeout is no timeout while it moves. */
  #moved(): void {
    if (this.#answered) return;
    this.#deadlines.remove(this);
    this.#deadlines.add(this);
  }

  expire(): void {
    if (this.#answered) return;
    const s = this.#o.timeoutMs / 1000;
    this.#giveUp(504, `no answer from a worker within --http-timeout ${s} s`);
  }

  /**
   * The worker closed before answering. On a connection from the pool (a safe request, all in
   * its vars) with no byte of an answer, it most likely never read the request (it stopped, or
   * the connection's time was up): send it again, once, on a fresh connection.
   */
  #closedEarly(why: string): void {
    if (this.#answered) return;
    if (!this.#reused || this.#head !== null) return this.#giveUp(502, why);
    this.#answered = true;
    this.#deadlines.remove(this);
    this.#over();
    this.#conn.destroy();
    void sendFresh(this.#out, this.#o);
  }

  #giveUp(status: 502 | 504, why: string): void {
    if (this.#answered) return;
    this.#answered = true;
    this.#deadlines.remove(this);
    this.#over();
    log(`tsgi http router: ${why}: ${this.#delivery.describe()}`);
    this.#conn.destroy();
    this.#delivery.refuse(status, why);
  }

  #onData(chunk: Uint8Array): void {
    if (this.#answer !== null) this.#answerBytes(chunk);
    else if (this.#answerOver) this.#unexpected();
    else if (!this.#answered) this.#readHead(chunk);
  }

  /** Bytes after the end of the answer: the connection is of no further use. */
  #unexpected(): void {
    this.#spoil();
    if (!this.#released) this.#conn.destroy();
  }

  #readHead(chunk: Uint8Array): void {
    const all = this.#head === null ? chunk : concatBytes([this.#head, chunk]);
    this.#head = all;
    const end = headEnd(all, 0);
    if (end === -1) {
      if (all.length > MAX_ANSWER_HEAD) this.#giveUp(502, `a worker sent an answer head above ${MAX_ANSWER_HEAD} bytes`);
      return;
    }
    let parsed: AnswerHead;
    try {
      parsed = parseAnswerHead(latin1(all, 0, end));
    } catch (e) {
      return this.#giveUp(502, `a worker sent a malformed answer: ${(e as Error).message}`);
    }
    this.#answered = true;
    this.#deadlines.remove(this);
    if (parsed.status === 101) return this.#switched(all.subarray(0, end + 4), all.subarray(end + 4));
    this.#answerHead(parsed, all.subarray(end + 4));
  }

  /** The worker switched protocols: from now on its connection is relayed raw (upgrade.ts), never back to the pool. */
  #switched(head: Uint8Array, rest: Uint8Array): void {
    this.#spoil();
    this.#over();
    this.#delivery.switched(this.#conn, head.slice(), rest.slice());
  }

  /**
   * Does the connection serve the next request after this answer? Only if the worker framed the
   * answer and did not say close (a 101 never comes here: #switched).
   */
  #keepsConnection(head: AnswerHead, bodyless: boolean): boolean {
    return !head.close && (bodyless || head.chunked || head.length !== null);
  }

  /** The answer for the client: `rest` is what came after the head. */
  #answerHead(head: AnswerHead, rest: Uint8Array): void {
    const delivery = this.#delivery;
    const bodyless = delivery.method === 'HEAD' || head.status === 204 || head.status === 304 || head.status < 200;
    this.#reusable = this.#keepsConnection(head, bodyless);
    if (bodyless) {
      this.#answerEnded(rest.length);
      return delivery.whole(head, null);
    }
    const length = head.chunked ? -1 : (head.length ?? -1);
    if (length >= 0 && rest.length >= length) {
      // The whole answer came with its head (small answers do): hand it over as bytes, which
      // the runtime's server sends much faster than a stream.
      this.#answerEnded(rest.length - length);
      return delivery.whole(head, rest.slice(0, length));
    }
    this.#answer = delivery.stream(head, this.#lease, () => this.#cancelled());
    if (head.chunked || length >= 0) this.#framing = new BodyReader(head.chunked ? null : length, head.chunked);
    if (rest.length > 0) this.#answerBytes(rest.slice());
  }

  /** Answer body bytes: passed on up to the end its framing says. */
  #answerBytes(chunk: Uint8Array): void {
    const answer = this.#answer as BodySink;
    const framing = this.#framing;
    if (framing === null) return answer.push(chunk);
    let used: number;
    try {
      used = framing.feed(chunk, (piece) => answer.push(piece));
    } catch (e) {
      return this.#broken(`a worker sent a malformed answer body: ${(e as Error).message}`);
    }
    if (!framing.done) return;
    this.#answer = null;
    answer.end();
    this.#answerEnded(chunk.length - used);
  }

  /** The whole answer is in; `extra` bytes came after it. */
  #answerEnded(extra: number): void {
    this.#answerOver = true;
    this.#over();
    if (extra > 0) this.#spoil();
    this.#releaseIfOver();
  }

  /** Answer and request both over: the connection goes back to the pool, or is closed. */
  #releaseIfOver(): void {
    if (!this.#answerOver || !this.#requestSent || this.#released) return;
    this.#released = true;
    this.#lease.end();
    if (this.#reusable && !this.#spoiled) this.#o.pool.give(this.#conn);
    else this.#conn.end();
  }

  #broken(why: string): void {
    log(`tsgi http router: ${why}: ${this.#delivery.describe()}`);
    this.#spoil();
    this.#answer?.fail(why);
    this.#answer = null;
    this.#over();
    this.#conn.destroy();
  }

  /** The client cancelled the answer body: the worker's connection goes, unless the whole answer was in (then it is not this exchange's to close). */
  #cancelled(): void {
    this.#answer = null;
    if (this.#answerOver) return;
    this.#spoil();
    this.#conn.destroy();
  }

  /** The worker sends nothing more: that ends a body that ends at the close; a framed one was cut. */
  #onEnd(): void {
    if (!this.#answered) return this.#closedEarly('a worker closed the connection without answering (did it die? see the tsgi log)');
    this.#spoil();
    this.#over();
    if (this.#framing !== null) this.#answer?.fail('a worker closed the connection before the end of its answer');
    else this.#answer?.end();
    this.#answer = null;
    // Our side too: a half-open connection keeps its fd (Bun and Deno do not close it for us).
    if (!this.#released) this.#conn.end();
  }

  #onClose(error?: Error): void {
    if (!this.#answered) return this.#closedEarly(`a worker closed the connection without answering${error ? ` (${error.message})` : ''}`);
    this.#spoil();
    this.#over();
    if (error || this.#framing !== null) this.#answer?.fail(error ?? 'a worker closed the connection before the end of its answer');
    else this.#answer?.end();
    this.#answer = null;
  }
}
