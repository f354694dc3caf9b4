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
import type { Conn, HttpHandler, Peer } from '../../runtimes/types.ts';
import { appendHeader, bodyAllowed, buildRequest, concatBytes, encodeResponseHead, latin1 } from '../codec/index.ts';
import { describePeer, log } from '../log.ts';
import { headStats, type RequestFacts } from './reqlog.ts';
import { BodyWait, callApp, Gone, writeBody } from './respond.ts';
import type { RequestCounters } from './counters.ts';

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
  appOf?: (url: string) => number;
  /** Behind the runtime's own server: measure answer bodies (request log or --stats read them). */
  measureBodies?: boolean;
}

/** A refusal before the app: status and why (the body the client gets, and the log line). */
export class HttpError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

interface Head {
  /** Bytes of the head, request line to the blank line. */
  size: number;
  method: string;
  target: string;
  v11: boolean;
  headers: Headers;
  host: string;
  contentLength: number | null;
  chunked: boolean;
  /** The client asked to close (Connection: close), or HTTP/1.0 without keep-alive. */
  close: boolean;
  expectContinue: boolean;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const DIGITS = /^[0-9]+$/;
const textEncoder = new TextEncoder();
const CONTINUE = textEncoder.encode('HTTP/1.1 100 Continue\r\n\r\n');
const LAST_CHUNK = textEncoder.encode('0\r\n\r\n');
const CRLF = textEncoder.encode('\r\n');

/** Index of the CRLFCRLF that ends a head starting at `from`, or -1. */
function headEnd(b: Uint8Array, from: number): number {
  for (let i = b.indexOf(10, from); i !== -1; i = b.indexOf(10, i + 1)) {
    if (i >= 3 && b[i - 1] === 13 && b[i - 2] === 10 && b[i - 3] === 13) return i - 3;
  }
  return -1;
}

function trimOws(s: string): string {
  let a = 0;
  let z = s.length;
  while (a < z && (s.charCodeAt(a) === 32 || s.charCodeAt(a) === 9)) a++;
  while (z > a && (s.charCodeAt(z - 1) === 32 || s.charCodeAt(z - 1) === 9)) z--;
  return a === 0 && z === s.length ? s : s.slice(a, z);
}

/** The request line and headers (bytes start..end, CRLFCRLF excluded). Throws HttpError. */
export function parseHead(b: Uint8Array, start: number, end: number): Head {
  const lines = latin1(b, start, end).split('\r\n');
  const line = lines[0];
  const sp1 = line.indexOf(' ');
  const sp2 = line.indexOf(' ', sp1 + 1);
  if (sp1 <= 0 || sp2 <= sp1 + 1 || line.indexOf(' ', sp2 + 1) !== -1) throw new HttpError(400, `malformed request line ${JSON.stringify(line.slice(0, 100))}`);
  const method = line.slice(0, sp1);
  const target = line.slice(sp1 + 1, sp2);
  const version = line.slice(sp2 + 1);
  if (!TOKEN.test(method)) throw new HttpError(400, `malformed method ${JSON.stringify(method.slice(0, 40))}`);
  let v11: boolean;
  if (version === 'HTTP/1.1') v11 = true;
  else if (version === 'HTTP/1.0') v11 = false;
  else if (/^HTTP\/[0-9]\.[0-9]$/.test(version)) throw new HttpError(505, `${version} is not supported here (HTTP/1.0 and HTTP/1.1 are)`);
  else throw new HttpError(400, `malformed HTTP version ${JSON.stringify(version.slice(0, 20))}`);
  for (let i = 0; i < target.length; i++) {
    const c = target.charCodeAt(i);
    if (c < 0x21 || c === 0x7f) throw new HttpError(400, 'control character in the request target');
  }
  if (target.charCodeAt(0) !== 0x2f && !/^https?:\/\//i.test(target) && !(target === '*' && method === 'OPTIONS')) {
    throw new HttpError(400, `malformed request target ${JSON.stringify(target.slice(0, 100))}`);
  }

  const headers = new Headers();
  let host: string | null = null;
  let contentLength: number | null = null;
  let te: string | null = null;
  let connection = '';
  let expect: string | null = null;
  for (let i = 1; i < lines.length; i++) {
    const h = lines[i];
    const colon = h.indexOf(':');
    const c0 = h.charCodeAt(0);
    if (c0 === 32 || c0 === 9) throw new HttpError(400, 'folded header lines are not allowed');
    if (colon <= 0) throw new HttpError(400, `malformed header line ${JSON.stringify(h.slice(0, 60))}`);
    const name = h.slice(0, colon);
    if (!TOKEN.test(name)) throw new HttpError(400, `malformed header name ${JSON.stringify(name.slice(0, 60))}`);
    const value = trimOws(h.slice(colon + 1));
    try {
      appendHeader(headers, name, value);
    } catch {
      throw new HttpError(400, `invalid value for header ${name}`);
    }
    switch (name.length) {
      case 4:
        if (name.toLowerCase() === 'host') {
          if (host !== null) throw new HttpError(400, 'more than one Host header');
          host = value;
        }
        break;
      case 6:
        if (name.toLowerCase() === 'expect') expect = value.toLowerCase();
        break;
      case 10:
        if (name.toLowerCase() === 'connection') connection += `,${value.toLowerCase()}`;
        break;
      case 14:
        if (name.toLowerCase() === 'content-length') {
          // "5, 5" (a proxy's repeat) is one length; anything else is ambiguous.
          for (const part of value.split(',')) {
            const p = trimOws(part);
            if (!DIGITS.test(p) || p.length > 15) throw new HttpError(400, `invalid Content-Length ${JSON.stringify(value.slice(0, 40))}`);
            const n = Number(p);
            if (contentLength !== null && contentLength !== n) throw new HttpError(400, 'conflicting Content-Length headers');
            contentLength = n;
          }
        }
        break;
      case 17:
        if (name.toLowerCase() === 'transfer-encoding') te = te === null ? value : `${te},${value}`;
        break;
    }
  }
  let chunked = false;
  if (te !== null) {
    const codings = te.toLowerCase().split(',').map(trimOws).filter(Boolean);
    if (codings.length !== 1 || codings[0] !== 'chunked')
      throw new HttpError(501, `transfer coding ${JSON.stringify(te.slice(0, 40))} is not supported (only chunked)`);
    // Both framings at once is how requests are smuggled past proxies: refused.
    if (contentLength !== null) throw new HttpError(400, 'both Transfer-Encoding and Content-Length');
    if (!v11) throw new HttpError(400, 'Transfer-Encoding in an HTTP/1.0 request');
    chunked = true;
  }
  if (host === null && v11) throw new HttpError(400, 'HTTP/1.1 request without a Host header');
  if (expect !== null && expect !== '100-continue') throw new HttpError(417, `unsupported expectation ${JSON.stringify(expect.slice(0, 40))}`);
  const close = v11 ? /(^|,)\s*close\s*(,|$)/.test(connection) : !/(^|,)\s*keep-alive\s*(,|$)/.test(connection);
  return { method, target, v11, headers, host: host ?? 'localhost', contentLength, chunked, close, expectContinue: expect !== null, size: end - start + 4 };
}

/** Reads one request body (Content-Length or chunked) out of the connection's bytes. */
class BodyReader {
  done = false;
  /** Body bytes seen so far. */
  received = 0;
  /** Fixed length: bytes still to come; chunked: bytes left in the current chunk. */
  private left: number;
  private state: 'size' | 'data' | 'cr' | 'lf' | 'trailer' = 'size';
  private line = '';
  private readonly chunked: boolean;

  constructor(length: number | null, chunked: boolean) {
    this.chunked = chunked;
    this.left = length ?? 0;
    if (!chunked && this.left === 0) this.done = true;
  }

  /** Take body bytes from `b`, handing body pieces to `out`; returns how many bytes were used. Throws HttpError. */
  feed(b: Uint8Array, out: (piece: Uint8Array) => void): number {
    if (!this.chunked) {
      const n = Math.min(this.left, b.length);
      if (n > 0) out(n === b.length ? b : b.subarray(0, n));
      this.left -= n;
      this.received += n;
      this.done = this.left === 0;
      return n;
    }
    let i = 0;
    while (i < b.length && !this.done) {
      switch (this.state) {
        case 'data': {
          const n = Math.min(this.left, b.length - i);
          out(b.subarray(i, i + n));
          i += n;
          this.left -= n;
          this.received += n;
          if (this.left === 0) this.state = 'cr';
          break;
        }
        case 'cr':
        case 'lf': {
          const want = this.state === 'cr' ? 13 : 10;
          if (b[i++] !== want) throw new HttpError(400, 'malformed chunked body: a chunk does not end with CRLF');
          this.state = this.state === 'cr' ? 'lf' : 'size';
          break;
        }
        case 'size':
        case 'trailer': {
          const nl = b.indexOf(10, i);
          const to = nl === -1 ? b.length : nl;
          this.line += latin1(b, i, to);
          if (this.line.length > 4096) throw new HttpError(400, 'malformed chunked body: a chunk-size or trailer line above 4 KiB');
          i = nl === -1 ? b.length : nl + 1;
          if (nl === -1) break;
          let line = this.line;
          this.line = '';
          if (line.endsWith('\r')) line = line.slice(0, -1);
          if (this.state === 'trailer') {
            if (line === '') this.done = true;
            break;
          }
          const semi = line.indexOf(';');
          const hex = trimOws(semi === -1 ? line : line.slice(0, semi));
          if (!/^[0-9a-fA-F]{1,12}$/.test(hex)) throw new HttpError(400, `malformed chunk size ${JSON.stringify(line.slice(0, 40))}`);
          this.left = parseInt(hex, 16);
          this.state = this.left === 0 ? 'trailer' : 'data';
          break;
        }
      }
    }
    return i;
  }
}

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

export function handleHttpConn(conn: Conn, o: HttpServerOptions): void {
  const peer: Peer = { address: conn.remoteAddress, port: conn.remotePort };
  // The request in progress learns when the connection goes: one per request (a kept-alive
  // connection's single AbortSignal collected a listener per Request following it).
  let gone = new Gone();
  // Set while a stop must wait for this connection's next request (see CoreCounters.accepted).
  let awaited = o.counters?.accepted();
  let pending: Uint8Array | null = null;
  // head: waiting for a request head; body: reading a body; wait: the answer is being made
  // (pipelined bytes wait); closed: nothing more is read.
  let state: 'head' | 'body' | 'wait' | 'closed' = 'head';
  let body: BodyReader | null = null;
  let stream: ReadableStreamDefaultController<Uint8Array> | null = null;
  let drop = false;
  let bodyDone = true;
  let headWritten = false;
  let peerEnded = false;
  let served = 0;
  const bodyWait = new BodyWait();
  let timer: ReturnType<typeof setTimeout> | undefined = setTimeout(idle, o.headTimeoutMs);

  function idle(): void {
    timer = undefined;
    if (state !== 'head') return;
    if (pending !== null) log(`tsgi: ${describePeer(peer)} sent no whole request head within --socket-timeout ${o.headTimeoutMs / 1000} s: closing`);
    close(true);
  }

  // A function, so that TypeScript does not narrow `state` across awaits.
  const closed = () => state === 'closed';

  function close(now: boolean): void {
    if (state === 'closed' && !now) return;
    state = 'closed';
    if (timer !== undefined) clearTimeout(timer);
    if (now) conn.destroy();
    else conn.end();
  }

  /** Answer with an error before (or instead of) the app, then close. */
  function reject(e: HttpError): void {
    log(`tsgi: bad request from ${describePeer(peer)}: ${e.message} (${e.status})`);
    stream?.error(e);
    stream = null;
    if (headWritten || state === 'closed') return close(true);
    headWritten = true;
    const text = textEncoder.encode(`${e.message}\n`);
    const res = new Response(null, { status: e.status, headers: { 'content-type': 'text/plain; charset=utf-8' } });
    conn.write(concatBytes([encodeResponseHead(res, { method: 'GET', contentLength: text.length, extra: `connection: close\r\n${date()}` }), text]));
    linger();
  }

  /**
   * Close after a refusal without resetting the connection under the answer: what the client
   * still sends (the rest of a refused body) is read and dropped until it has been quiet for
   * 200 ms, 5 s at most. Closing over unread bytes would send a reset, and the client could lose
   * the answer (seen on Bun).
   */
  function linger(): void {
    state = 'closed';
    if (timer !== undefined) clearTimeout(timer);
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

  conn.onData = (chunk) => {
    if (state === 'closed') return;
    pending = pending === null ? chunk : concatBytes([pending, chunk]);
    pump();
  };
  conn.onEnd = () => {
    peerEnded = true;
    // The client sends nothing more: it went or half-closed (req.signal aborts, as on node:http,
    // Bun's and Deno's servers); an answer in progress is still written.
    gone.inputEnded();
    if (state === 'body') {
      stream?.error(new Error('the client closed the connection before the end of the request body'));
      stream = null;
      bodyWait.done();
    }
    if (state === 'head') close(false);
  };
  // A stop waits for the next request of a kept-alive connection (the client may be sending it
  // now: closing under it would fail it), up to --socket-timeout, and answers it with close.
  const forget = o.counters?.onDrain(() => {
    if (state === 'head') awaited ??= o.counters?.accepted();
  });
  conn.onClose = () => {
    awaited?.();
    forget?.();
    state = 'closed';
    if (timer !== undefined) clearTimeout(timer);
    stream?.error(new Error('the connection closed'));
    stream = null;
    bodyWait.done();
    gone.abort();
  };

  function pump(): void {
    try {
      while (pending !== null && (state === 'head' || state === 'body')) {
        if (state === 'head') {
          if (!readHead()) return;
          continue;
        }
        const b: Uint8Array = pending;
        const used = (body as BodyReader).feed(b, deliver);
        pending = used < b.length ? b.subarray(used) : null;
        if ((body as BodyReader).done) bodyEnded();
      }
      // A pipelined request waits for the answer in progress: hold at most a head's worth.
      if (state === 'wait' && pending !== null && pending.length > o.bufferSize) conn.pause();
    } catch (e) {
      if (e instanceof HttpError) reject(e);
      else throw e;
    }
  }

  function deliver(piece: Uint8Array): void {
    if (o.limitPost > 0 && (body as BodyReader).received + piece.length > o.limitPost) {
      throw new HttpError(413, `request body above --limit-post ${o.limitPost} bytes`);
    }
    if (drop || stream === null) return;
    stream.enqueue(piece);
    if ((stream.desiredSize ?? 0) <= 0) conn.pause();
  }

  function bodyEnded(): void {
    bodyDone = true;
    stream?.close();
    stream = null;
    bodyWait.done();
    state = 'wait';
  }

  /** Parse a head out of `pending` and hand the request to the app. False: more bytes needed. */
  function readHead(): boolean {
    const b = pending as Uint8Array;
    let start = 0;
    // Stray CRLFs between requests are allowed (RFC 9112 2.2).
    while (start < b.length && (b[start] === 13 || b[start] === 10)) start++;
    if (start === b.length) {
      pending = null;
      return false;
    }
    const end = headEnd(b, start);
    if ((end === -1 ? b.length - start : end - start) > o.bufferSize) {
      throw new HttpError(431, `request head above --buffer-size ${o.bufferSize} bytes`);
    }
    if (end === -1) return false;
    const head = parseHead(b, start, end);
    pending = end + 4 < b.length ? b.subarray(end + 4) : null;
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    if (head.contentLength !== null && o.limitPost > 0 && head.contentLength > o.limitPost) {
      throw new HttpError(413, `request body of ${head.contentLength} bytes is above --limit-post ${o.limitPost}`);
    }
    dispatch(head);
    return true;
  }

  function dispatch(head: Head): void {
    headWritten = false;
    drop = bodyless(head.method);
    body = new BodyReader(head.contentLength, head.chunked);
    bodyDone = body.done;
    let reqBody: BodyInit | null = null;
    if (!bodyDone) {
      if (head.expectContinue) conn.write(CONTINUE);
      const p = pending;
      if (!drop && !head.chunked && p !== null && p.length >= (head.contentLength as number)) {
        // The whole body is here already: hand it over as bytes.
        const n = head.contentLength as number;
        const bytes = p.slice(0, n);
        reqBody = bytes as Uint8Array<ArrayBuffer>;
        pending = n < p.length ? p.subarray(n) : null;
        body.feed(bytes, () => {});
        bodyDone = true;
      } else if (!drop) {
        reqBody = new ReadableStream<Uint8Array>(
          {
            start(controller) {
              stream = controller;
            },
            pull() {
              conn.resume();
            },
            cancel() {
              // The app does not want the rest: keep reading and dropping it.
              drop = true;
              stream = null;
              conn.resume();
            },
          },
          { highWaterMark: 64 * 1024, size: (c) => c.byteLength },
        );
      }
    }
    state = bodyDone ? 'wait' : 'body';
    if (served++ > 0) gone = new Gone();
    let req: Request;
    try {
      req = buildRequest(head.method, 'http', head.host, head.target, head.headers, reqBody, gone);
    } catch (e) {
      throw new HttpError(400, (e as Error).message);
    }
    void respond(req, head);
  }

  /** Resolves when the body has been read to its end (or the peer is gone), or after `ms`. */
  function bodyRead(ms: number): Promise<void> {
    return bodyDone || state === 'closed' ? Promise.resolve() : bodyWait.until(ms);
  }

  async function respond(req: Request, head: Head): Promise<void> {
    const id = o.counters?.started(req.method, head.target) ?? 0;
    awaited?.();
    awaited = undefined;
    const signal = gone;
    const { res, threw } = await callApp(o.handler, req, head.target, peer);
    if (state === 'closed' || headWritten) {
      // Refused meanwhile (a body above --limit-post) or the client is gone.
      o.counters?.finished(id, res.status, 0, threw);
      if (res.body) void res.body.cancel().catch(() => {});
      return;
    }
    // An answer that leaves the body alone: read the rest and drop it (see uwsgi.ts).
    const untouched = req.body === null || (!req.bodyUsed && !req.body.locked && res.body !== req.body);
    if (!bodyDone && untouched) {
      drop = true;
      conn.resume();
    }
    const method = req.method;
    let keep = o.keepAlive && !head.close && !peerEnded && !o.counters?.draining;
    const chunked = head.v11 && !res.headers.has('content-length');
    let bytes = 0;
    let sentHead: Uint8Array | null = null;
    let failed = threw;
    const extra = (streaming: boolean) => {
      // HTTP/1.0 has no chunks: a body of unknown length ends when the connection closes.
      if (streaming && !head.v11 && !res.headers.has('content-length')) keep = false;
      const conn = keep ? (head.v11 ? '' : 'connection: keep-alive\r\n') : 'connection: close\r\n';
      return (streaming && chunked ? 'transfer-encoding: chunked\r\n' : '') + conn + date();
    };
    try {
      headWritten = true;
      if (!bodyAllowed(method, res.status)) {
        conn.write((sentHead = encodeResponseHead(res, { method, extra: extra(false) })));
        if (res.body) void res.body.cancel().catch(() => {});
      } else {
        bytes = await writeBody(
          conn,
          res.body,
          {
            head: (contentLength) => (sentHead = encodeResponseHead(res, { method, contentLength, extra: extra(contentLength === undefined) })),
            frame: chunked ? (c) => concatBytes([textEncoder.encode(`${c.length.toString(16)}\r\n`), c, CRLF]) : undefined,
            trailer: chunked ? () => LAST_CHUNK : undefined,
          },
          signal,
        );
      }
      signal.settled();
    } catch (e) {
      failed = true;
      signal.settled();
      log(`tsgi: response body failed on ${method} ${head.target}: ${(e as Error).message}`);
      close(true);
    }
    o.counters?.finished(id, res.status, bytes, failed, () => httpFacts(head, peer, sentHead, o.appOf?.(req.url) ?? 0));
    if (closed()) return;
    if (!keep || peerEnded) {
      if (!bodyDone) {
        // Close only once the body is in: closing over unread bytes resets the connection.
        drop = true;
        conn.resume();
        await bodyRead(5000);
      }
      return close(false);
    }
    if (!bodyDone) {
      drop = true;
      conn.resume();
      await bodyRead(o.headTimeoutMs);
      if (!bodyDone) return close(true);
    }
    // Ready for the next request on this connection (a stop waits for it, as in onDrain).
    state = 'head';
    body = null;
    if (o.counters?.draining) awaited ??= o.counters.accepted();
    timer = setTimeout(idle, o.headTimeoutMs);
    conn.resume();
    pump();
  }
}

/** The request log's facts of an HTTP request: its CGI variables would be its headers and 12 more. */
function httpFacts(head: Head, peer: Peer, sent: Uint8Array | null, app: number): RequestFacts {
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
