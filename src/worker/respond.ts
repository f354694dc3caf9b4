/**
 * Writing a Response to a connection: the head, then the body streamed with backpressure.
 * A body that is complete in its first chunk goes out in one write with a Content-Length.
 */
import { clientGone, type Conn } from '../../runtimes/types.ts';
import { concatBytes, encodeResponseHead, type SignalSource } from '../codec/index.ts';
import { describeError, log } from '../log.ts';

/**
 * "The client is gone", for one request: what writeBody watches, and where req.signal comes from
 * (the Request reads signal() only when the app reads req.signal, see src/codec/request.ts). On
 * Node 20 an AbortSignal costs ≈ 10 µs and a Request that follows one ≈ 40 µs more (measured:
 * bench/request-signal.mjs); this costs nothing until the app asks or the client goes.
 * A connection that closes once the answer is over (settled()) is not the client going.
 */
export class Gone implements SignalSource {
  /** The connection is gone: stop writing the answer. */
  aborted = false;
  /** The peer sent its last byte (a close or a half-close): the app's signal aborts, the answer is still written. */
  private ended = false;
  private over = false;
  private controller: AbortController | null = null;
  private listener: (() => void) | null = null;

  /** An AbortSignal that aborts when the client goes (created on first use). */
  signal(): AbortSignal {
    if (this.controller === null) {
      this.controller = new AbortController();
      if (this.aborted || this.ended) this.controller.abort(clientGone());
    }
    return this.controller.signal;
  }

  /** Call `f` when the client goes (one listener: the body writer's). */
  onAbort(f: (() => void) | null): void {
    this.listener = f;
  }

  /** The answer is over (written whole, or failed on the app's side): a close is no longer the client going. */
  settled(): void {
    this.over = true;
  }

  /**
   * The peer sent its last byte before the answer was over: it went, or it half-closed, which TCP
   * cannot tell apart until a write fails. req.signal aborts; the answer goes on being written.
   */
  inputEnded(): void {
    if (this.ended || this.aborted || this.over) return;
    this.ended = true;
    this.controller?.abort(clientGone());
  }

  /** The connection closed before the answer was over: the client went. */
  abort(): void {
    if (this.aborted || this.over) return;
    this.aborted = true;
    if (!this.ended) this.controller?.abort(clientGone());
    this.listener?.();
  }
}

/**
 * Bun leaves Content-Type out of the headers of a Response made from a string (Bun's serve() adds
 * text/plain when it sends it); Node and Deno put it in the headers at once. Found by feature,
 * once: on such a runtime the type comes from the body's Blob, which is known at once for string
 * and Blob bodies; a streamed body gets none, as everywhere.
 */
const LAZY_BODY_TYPE = new Response('x').headers.get('content-type') === null;

async function addBodyType(res: Response): Promise<void> {
  const copy = res.clone();
  const blob = await settlesSoon(copy.blob());
  if (blob === null) {
    void copy.body?.cancel().catch(() => {});
    return;
  }
  if (!blob.value.type) return;
  try {
    res.headers.set('content-type', blob.value.type);
  } catch {
    // Immutable headers (a fetch() result): leave them as they are.
  }
}

/**
 * Ask the app. A throw, a rejection or something that is not a Response is logged and answered
 * with a 500; `threw` says so (the worker's exception count).
 */
export async function callApp<P extends unknown[]>(
  handler: (req: Request, ...rest: P) => Response | Promise<Response>,
  req: Request,
  uri: string,
  ...rest: P
): Promise<{ res: Response; threw: boolean }> {
  try {
    const res = checked(await handler(req, ...rest));
    if (LAZY_BODY_TYPE && res.body !== null && !res.headers.has('content-type')) await addBodyType(res);
    return { res, threw: false };
  } catch (e) {
    return { res: appFailed(req, uri, e), threw: true };
  }
}

/** The app's answer, or a TypeError saying what it returned instead of a Response. */
export function checked(res: unknown): Response {
  if (res instanceof Response) return res;
  throw new TypeError(`the app returned ${res === undefined ? 'undefined' : typeof res}, not a Response`);
}

/** Log the app's failure; the 500 the client gets. */
export function appFailed(req: Request, uri: string, e: unknown): Response {
  log(`tsgi: app error on ${req.method} ${uri}: ${describeError(e)}`);
  return plainAnswer(500, 'Internal Server Error');
}

/**
 * nginx buffers what an upstream answers (uwsgi_buffering, fastcgi_buffering, scgi_buffering
 * and proxy_buffering are on by default), which holds an event stream's events back: an answer
 * of type text/event-stream says `X-Accel-Buffering: no`, unless the app set that header
 * itself (`yes` keeps nginx's buffering). nginx reads the header and does not pass it on.
 */
export function unbufferedEvents(res: Response): Response {
  const type = res.headers.get('content-type');
  if (type === null || !/^\s*text\/event-stream\s*(;|$)/i.test(type) || res.headers.has('x-accel-buffering')) return res;
  try {
    res.headers.set('x-accel-buffering', 'no');
    return res;
  } catch {
    // Immutable headers (a fetch() result): copy the response.
    const copy = new Response(res.body, res);
    copy.headers.set('x-accel-buffering', 'no');
    return copy;
  }
}

const PLAIN_TEXT = { 'content-type': 'text/plain; charset=utf-8' };
const textEncoder = new TextEncoder();

/**
 * tsgi's own short answer, one line of plain text: a refusal before the app (every protocol, the
 * router), or an error in place of the app's answer. `headers` are added (e.g. Retry-After).
 * No `Connection: close`: the server that sends it drains or closes as it knows best (node:http
 * closing at once over an unread body reset the connection under the answer).
 */
export function plainAnswer(status: number, text: string, headers: Record<string, string> = {}): Response {
  return new Response(`${text}\n`, { status, headers: { ...PLAIN_TEXT, ...headers } });
}

/**
 * plainAnswer as the bytes of an HTTP/1.1 answer after which the connection closes, for a
 * connection that answers before (or instead of) the app. `extra`: more header lines, each
 * ending in CRLF.
 */
export function plainAnswerBytes(status: number, text: string, extra = ''): Uint8Array {
  const body = textEncoder.encode(`${text}\n`);
  const head = encodeResponseHead(new Response(null, { status, headers: PLAIN_TEXT }), {
    method: 'GET',
    contentLength: body.length,
    extra: `connection: close\r\n${extra}`,
  });
  return concatBytes([head, body]);
}

type Chunk = ReadableStreamReadResult<Uint8Array>;

/**
 * Does `p` settle within a few microtask turns? A body built from a string or bytes reports
 * its end in one or two turns on every runtime (measured: Node 2, Bun 1, Deno 1), a streaming
 * body that is still producing does not, and its first chunk must not wait for the second.
 */
export async function settlesSoon<T>(p: Promise<T>, turns = 8): Promise<{ value: T } | null> {
  let out: { value: T } | null = null;
  let failed: { error: unknown } | null = null;
  p.then(
    (value) => (out = { value }),
    (error: unknown) => (failed = { error }),
  );
  for (let i = 0; i < turns && out === null && failed === null; i++) await null;
  if (failed) throw (failed as { error: unknown }).error;
  return out;
}

/** Small first chunks are glued to the head (one write, one packet); big ones go separately. */
const GLUE_LIMIT = 16 * 1024;

export interface BodyWriter {
  /** Encode the head; contentLength is given when the whole body is known up front. */
  head(contentLength: number | undefined): Uint8Array;
  /** Frame a body chunk (identity for raw bodies, chunked encoding for HTTP/1.1). */
  frame?(chunk: Uint8Array): Uint8Array;
  /** Bytes that end the body (e.g. the last chunk of chunked encoding). */
  trailer?(): Uint8Array;
}

/** Where an answer is written: a Conn, or a view of one (FastCGI wraps every write in its request id's STDOUT records). */
export type AnswerSink = Pick<Conn, 'write' | 'drained'>;

/**
 * Write head and body. Resolves with the bytes of body written, after the last byte is queued.
 * Rejects if the body stream fails; the caller decides what to do with the connection then.
 */
export async function writeBody(conn: AnswerSink, body: ReadableStream<Uint8Array> | null, w: BodyWriter, gone: Gone): Promise<number> {
  if (body === null) {
    conn.write(w.head(0));
    return 0;
  }
  const reader = body.getReader();
  // The peer went away: stop the app's stream (a pending read then ends as done).
  gone.onAbort(() => void reader.cancel(new Error('client closed the connection')).catch(() => {}));
  // A body read to its end keeps its reader: releasing the lock of a closed stream costs a
  // rejected `closed` promise (3 % of a Deno uwsgi worker's samples) and frees nothing.
  let ended = false;
  try {
    const first: Chunk = await reader.read();
    if (first.done) {
      ended = true;
      conn.write(w.head(0));
      return 0;
    }
    const secondRead = reader.read();
    const second = await settlesSoon(secondRead);
    if (second?.value.done) {
      ended = true;
      conn.write(concatBytes([w.head(first.value.length), first.value]));
      return first.value.length;
    }
    writeFirst(conn, w, first.value);
    return await writeRest(conn, reader, secondRead, w, gone, first.value.length);
  } finally {
    gone.onAbort(null);
    if (!ended) reader.releaseLock();
  }
}

/** The head and the first chunk of a streamed body: one write when the chunk is small. */
function writeFirst(conn: AnswerSink, w: BodyWriter, chunk: Uint8Array): void {
  const firstOut = w.frame ? w.frame(chunk) : chunk;
  if (firstOut.length <= GLUE_LIMIT) conn.write(concatBytes([w.head(undefined), firstOut]));
  else {
    conn.write(w.head(undefined));
    conn.write(firstOut);
  }
}

/** The rest of a streamed body, with backpressure, then its trailer; resolves with the body bytes sent in all. */
async function writeRest(
  conn: AnswerSink,
  reader: ReadableStreamDefaultReader<Uint8Array>,
  next: Promise<Chunk>,
  w: BodyWriter,
  gone: Gone,
  sent: number,
): Promise<number> {
  const frame = w.frame ?? ((c: Uint8Array) => c);
  for (;;) {
    const r = await next;
    if (r.done || gone.aborted) break;
    sent += r.value.length;
    if (!conn.write(frame(r.value))) await conn.drained();
    next = reader.read();
  }
  if (w.trailer && !gone.aborted) conn.write(w.trailer());
  return sent;
}
