/**
 * The --http router's client side: one request → one uwsgi connection to the workers' internal
 * socket (the workers share it, so the kernel balances), the vars nginx's uwsgi_params would
 * send, the body streamed after them (one of unknown length in tsgi's frames,
 * src/codec/frames.ts), and the worker's raw HTTP/1.1 answer read back into a Response whose body
 * streams with backpressure both ways.
 *
 * While no worker is ready the request waits (gate.ts), then 503; 502 when the socket cannot be
 * reached, or when a worker closes without answering; 504 when no answer head arrives within
 * --http-timeout.
 */
import type { Conn, Peer } from '../../runtimes/types.ts';
import {
  concatBytes,
  encodePacket,
  frameHead,
  headEnd,
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
import { isUpgrade, type Relays, UpgradeRelay, upgradeRefused } from './upgrade.ts';

export interface ProxyOptions {
  /** Open a connection to the workers. */
  connect(): Promise<Conn>;
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
  return plainAnswer(status, `tsgi http router: ${why}`, status === 503 ? { 'retry-after': String(RETRY_AFTER_S) } : {});
}

/**
 * The uwsgi vars for a request: nginx's set, SCRIPT_NAME/PATH_INFO split at a mountpoint, and
 * TSGI_BODY for a body that goes in frames.
 */
function varsFor(req: Request, peer: Peer, scriptName: string, serverPort: number, framed: boolean): UwsgiVars {
  const url = new URL(req.url);
  const vars = requestToVars(req, {
    remoteAddr: peer.address,
    remotePort: peer.port,
    serverName: url.hostname,
    serverPort,
    scheme: url.protocol === 'https:' ? 'https' : 'http',
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
  return out;
}

interface AnswerHead {
  status: number;
  statusText: string;
  headers: Headers;
}

function parseAnswerHead(text: string): AnswerHead {
  const lines = text.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(lines[0]);
  if (!m) throw new Error(`not an HTTP answer: ${JSON.stringify(lines[0].slice(0, 60))}`);
  const headers = new Headers();
  for (let i = 1; i < lines.length; i++) {
    const colon = lines[i].indexOf(':');
    if (colon <= 0) throw new Error(`malformed header line ${JSON.stringify(lines[i].slice(0, 60))}`);
    headers.append(lines[i].slice(0, colon).trim(), lines[i].slice(colon + 1).trim());
  }
  return { status: Number(m[1]), statusText: m[2] ?? '', headers };
}

/**
 * Send the request body (if any) after the vars as it arrives, with backpressure: one piece at a
 * time, the next read once the connection takes more (then `moved()`). `framed`: each piece in a
 * frame, then the end frame (a body of unknown length).
 */
async function sendBody(conn: Conn, body: ReadableStream<Uint8Array> | null, framed: boolean, moved: () => void): Promise<void> {
  if (body === null) return;
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
  } catch (e) {
    // The client went away mid-body: the worker must not wait for the rest.
    log(`tsgi http router: request body failed: ${(e as Error).message}`);
    conn.destroy();
  }
}

export async function forward(req: Request, peer: Peer, scriptName: string, o: ProxyOptions): Promise<Response> {
  if (!o.upgrades && isUpgrade(req)) return upgradeRefused();
  const refused = await o.workers.admit(req.signal);
  if (refused !== null) {
    log(`tsgi http router: ${refused} (503): ${req.method} ${req.url}`);
    return gatewayError(503, refused);
  }
  // A body of unknown length (a chunked upload) goes in frames, as it arrives. A request with
  // neither Content-Length nor Transfer-Encoding has no body (RFC 9112 6.3).
  const sized = req.headers.has('content-length');
  const hasBody = sized || req.headers.has('transfer-encoding');
  const body = req.body !== null && hasBody && req.method !== 'GET' && req.method !== 'HEAD' ? req.body : null;
  const framed = body !== null && !sized;
  const vars = varsFor(req, peer, scriptName, o.serverPort, framed);
  let conn: Conn;
  try {
    conn = await o.connect();
  } catch (e) {
    log(`tsgi http router: cannot reach the workers at ${o.upstream}: ${(e as Error).message}`);
    return gatewayError(502, `cannot reach the workers at ${o.upstream}: ${(e as Error).message}`);
  }
  return new UpstreamExchange(conn, req, o).run(encodePacket(vars), body, framed);
}

/**
 * One request passed to a worker over its own uwsgi connection, and the worker's answer passed
 * back: its head parsed into a Response, its body streamed with backpressure (BodyStream).
 */
class UpstreamExchange {
  readonly #conn: Conn;
  readonly #req: Request;
  readonly #timeoutMs: number;
  readonly #relays: Relays;
  /** The answer head's bytes so far. */
  #head: Uint8Array | null = null;
  /** The answer body while it is being passed on. */
  #answer: BodyStream | null = null;
  #answered = false;
  /** The FIN goes after the whole request: before it, the worker would read a truncated one. */
  #requestSent = false;
  #finPending = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #resolve: (res: Response) => void = () => {};

  constructor(conn: Conn, req: Request, o: ProxyOptions) {
    this.#conn = conn;
    this.#req = req;
    this.#timeoutMs = o.timeoutMs;
    this.#relays = o.relays;
  }

  /** Send the vars packet and the body; resolves with the worker's answer, or a 502/504. */
  run(packet: Uint8Array, body: ReadableStream<Uint8Array> | null, framed: boolean): Promise<Response> {
    return new Promise<Response>((resolve) => {
      this.#resolve = resolve;
      const conn = this.#conn;
      this.#timer = setTimeout(() => this.#expire(), this.#timeoutMs);
      conn.onData = (chunk) => this.#onData(chunk);
      conn.onEnd = () => this.#onEnd();
      conn.onClose = (error) => this.#onClose(error);
      const signal = this.#req.signal;
      if (signal.aborted) this.#clientGone();
      else signal.addEventListener('abort', this.#clientGone);
      conn.write(packet);
      void sendBody(conn, body, framed, () => this.#moved()).then(() => this.#sent());
    });
  }

  /**
   * The client stopped sending before the whole answer was passed on: it went, or it half-closed
   * (TCP cannot tell which until a write fails). Pass the FIN on: the app's req.signal aborts in
   * the worker, and an answer that still comes is forwarded (a gone client's server cancels it,
   * and the worker's connection is closed then). Not once the answer is over.
   */
  #clientGone = (): void => {
    if (this.#answered && this.#answer === null) return;
    if (this.#requestSent) this.#conn.closeWrite();
    else this.#finPending = true;
  };

  #sent(): void {
    this.#requestSent = true;
    if (this.#finPending) this.#conn.closeWrite();
  }

  #over(): void {
    this.#req.signal.removeEventListener('abort', this.#clientGone);
  }

  /** Counted from the last piece of the request body the worker took: an upload longer than --http-timeout is no timeout while it moves. */
  #moved(): void {
    if (this.#answered) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#expire(), this.#timeoutMs);
  }

  #expire(): void {
    const s = this.#timeoutMs / 1000;
    this.#giveUp(504, `no answer from a worker within --http-timeout ${s} s`);
  }

  #fail(why: string): void {
    this.#giveUp(502, why);
  }

  #giveUp(status: 502 | 504, why: string): void {
    if (this.#answered) return;
    this.#answered = true;
    clearTimeout(this.#timer);
    this.#over();
    log(`tsgi http router: ${why}: ${this.#req.method} ${this.#req.url}`);
    this.#conn.destroy();
    this.#resolve(gatewayError(status, why));
  }

  #onData(chunk: Uint8Array): void {
    if (this.#answer !== null) this.#answer.push(chunk);
    else if (!this.#answered) this.#readHead(chunk);
  }

  #readHead(chunk: Uint8Array): void {
    const all = this.#head === null ? chunk : concatBytes([this.#head, chunk]);
    this.#head = all;
    const end = headEnd(all, 0);
    if (end === -1) {
      if (all.length > MAX_ANSWER_HEAD) this.#fail(`a worker sent an answer head above ${MAX_ANSWER_HEAD} bytes`);
      return;
    }
    let parsed: AnswerHead;
    try {
      parsed = parseAnswerHead(latin1(all, 0, end));
    } catch (e) {
      return this.#fail(`a worker sent a malformed answer: ${(e as Error).message}`);
    }
    this.#answered = true;
    clearTimeout(this.#timer);
    if (parsed.status === 101) return this.#switched(all.subarray(0, end + 4), all.subarray(end + 4));
    this.#resolve(this.#response(parsed, all.subarray(end + 4)));
  }

  /** The worker switched protocols: from now on its connection is relayed raw (upgrade.ts). */
  #switched(head: Uint8Array, rest: Uint8Array): void {
    this.#over();
    this.#resolve(new UpgradeRelay(this.#conn, head.slice(), rest.slice(), this.#relays).answer());
  }

  /** The Response for the client: `rest` is what came after the head. */
  #response(head: AnswerHead, rest: Uint8Array): Response {
    const init = { status: head.status, statusText: head.statusText, headers: head.headers };
    if (this.#req.method === 'HEAD' || head.status === 204 || head.status === 304 || head.status < 200) return new Response(null, init);
    const length = Number(head.headers.get('content-length') ?? -1);
    if (length >= 0 && rest.length >= length) {
      // The whole answer came with its head (small answers do): hand it over as bytes, which
      // the runtime's server sends much faster than a stream.
      this.#over();
      this.#conn.end();
      return new Response(rest.slice(0, length), init);
    }
    // A client that goes away cancels the body: so goes the worker's connection.
    const answer = new BodyStream(this.#conn, { onCancel: () => this.#cancelled() });
    if (rest.length > 0) answer.push(rest.slice());
    this.#answer = answer;
    return new Response(answer.take(), init);
  }

  #cancelled(): void {
    this.#answer = null;
    this.#conn.destroy();
  }

  /** The worker closes the connection after its answer: that ends the body. */
  #onEnd(): void {
    if (!this.#answered) return this.#fail('a worker closed the connection without answering (did it die? see the tsgi log)');
    this.#over();
    this.#answer?.end();
    this.#answer = null;
    // Our side too: a half-open connection keeps its fd (Bun and Deno do not close it for us).
    this.#conn.end();
  }

  #onClose(error?: Error): void {
    if (!this.#answered) return this.#fail(`a worker closed the connection without answering${error ? ` (${error.message})` : ''}`);
    this.#over();
    if (error) this.#answer?.fail(error);
    else this.#answer?.end();
    this.#answer = null;
  }
}
