/**
 * The app behind the runtime's own HTTP server (Bun's serve(), Deno's serve(), node:http through
 * Hono's Node adapter): the same limits, errors and counters as tsgi's HTTP/1.1 server
 * (http1.ts), which parses requests itself.
 *
 * - A request head above --buffer-size gets 431 (sized as it arrived: request line and header
 *   lines; Bun refuses heads above 16 KiB itself, whatever --buffer-size says).
 * - A body above --limit-post gets 413: at once by Content-Length; a chunked body is counted as
 *   the app reads it, and a 413 replaces the app's answer when it overflows.
 * - --http-keepalive off: every answer says `Connection: close`.
 * - Body bytes (the request log, tx in --stats) are measured when something reads them
 *   (measureBodies): a body complete at once becomes bytes of known length, a stream is counted.
 */
import type { HttpHandler, Peer } from '../../runtimes/types.ts';
import { describePeer, log } from '../log.ts';
import type { HttpServerOptions } from './http1.ts';
import { forwardedRequest } from './forwarded.ts';
import type { RequestFacts } from './reqlog.ts';
import { appFailed, checked, plainAnswer, settlesSoon, unbufferedEvents } from './respond.ts';
import { pendingUpgrade } from '../websocket/upgrade.ts';

/** Bytes of the head as the client sent it: "METHOD target HTTP/1.1", header lines, CRLFs. */
function headSize(req: Request, target: string): number {
  let n = req.method.length + target.length + 12;
  req.headers.forEach((value, name) => {
    n += name.length + value.length + 4;
  });
  return n + 2;
}

export function nativeHandler(o: HttpServerOptions): HttpHandler {
  return (req, peer) => {
    if (o.trustedProxies) ({ req, peer } = forwardedRequest(o.trustedProxies, req, peer));
    const url = req.url;
    // The target as sent: the URL from the path on (the scheme and host came from Host).
    const target = url.slice(url.indexOf('/', url.indexOf('//') + 2));
    const refused = refusal(req, peer, target, o);
    if (refused) {
      log(`tsgi: bad request from ${describePeer(peer)}: ${refused.why} (${refused.status})`);
      return plainAnswer(refused.status, refused.why);
    }
    const limited = o.limitPost > 0 ? new ChunkedLimit(req, o.limitPost) : null;
    if (limited) req = limited.req;
    const id = o.counters?.started(req.method, target) ?? 0;
    const done = (res: Response, threw: boolean): Response | Promise<Response> => {
      if (limited?.overflowed) {
        log(`tsgi: bad request from ${describePeer(peer)}: request body above --limit-post ${o.limitPost} bytes (413)`);
        res = plainAnswer(413, `request body above --limit-post ${o.limitPost} bytes`);
      }
      const facts = (r: Response) => nativeFacts(req, r, target, peer, o.appOf?.(req) ?? 0);
      // A WebSocket: the runtime's server takes it from here; counted and logged when it closes.
      const session = o.webSockets ? pendingUpgrade(res) : null;
      if (session) session.attach(peer.address, o.counters?.upgraded?.(id, session, () => facts(res)) ?? null);
      return session ? res : account(res, threw, o, id, facts);
    };
    return callNow(o.handler, req, peer, target, done);
  };
}

/** A head above --buffer-size (431), or a Content-Length above --limit-post (413): why, or null. */
function refusal(req: Request, peer: Peer, target: string, o: HttpServerOptions): { status: number; why: string } | null {
  // The server's own count where it has one: req.headers made Hono's Node adapter build a
  // Headers object on every request (2.8 % of a Node --http-socket worker's samples).
  if ((peer.headBytes ?? headSize(req, target)) > o.bufferSize) return { status: 431, why: `request head above --buffer-size ${o.bufferSize} bytes` };
  if (o.limitPost <= 0) return null;
  // Headers only: touching req.body makes Hono's Node adapter build a stream, and a body the app
  // then ignores was no longer drained by node:http (the kept-alive connection broke).
  const length = req.headers.get('content-length');
  if (length !== null && Number(length) > o.limitPost) return { status: 413, why: `request body of ${length} bytes is above --limit-post ${o.limitPost}` };
  return null;
}

/** A chunked body (no Content-Length) counted as the app reads it: its read fails past --limit-post. */
class ChunkedLimit {
  readonly req: Request;
  overflowed = false;

  constructor(req: Request, limit: number) {
    this.req = req;
    if (req.headers.has('content-length') || !req.headers.has('transfer-encoding') || req.body === null) return;
    let seen = 0;
    const counted = req.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform: (chunk, controller) => {
          seen += chunk.length;
          if (seen <= limit) return controller.enqueue(chunk);
          this.overflowed = true;
          controller.error(new Error(`request body above --limit-post ${limit} bytes`));
        },
      }),
    );
    // signal: the runtime's req.signal, which a Request made from another follows only when told.
    this.req = new Request(req, { body: counted, duplex: 'half', signal: req.signal } as RequestInit);
  }
}

/**
 * Count the answer (its body measured when the request log or --stats read sizes); an event
 * stream says X-Accel-Buffering: no; --http-keepalive off closes.
 */
function account(answer: Response, threw: boolean, o: HttpServerOptions, id: number, facts: (r: Response) => RequestFacts): Response | Promise<Response> {
  const counters = o.counters;
  const out = (r: Response) => (o.keepAlive ? r : closing(r));
  // A body the app gave whole: its size is known without reading it, and it is no stream to
  // unbuffer (nor are the headers read: that made Hono's Node adapter build a Headers object).
  const kept = o.keptSize?.(answer) ?? null;
  if (kept !== null) {
    counters?.finished(id, answer.status, kept, threw, o.measureBodies ? () => facts(answer) : undefined);
    return out(answer);
  }
  const res = unbufferedEvents(answer);
  const length = res.headers.get('content-length');
  if (!counters || !o.measureBodies) {
    // Nobody reads the sizes (no request log, no stats): tx counts Content-Length only.
    counters?.finished(id, res.status, length === null ? 0 : Number(length), threw);
    return out(res);
  }
  const finish = (r: Response, bytes: number) => counters.finished(id, r.status, bytes, threw, () => facts(r));
  // `res.body` is read only here: the getter builds a stream (Deno; Hono's Node adapter builds
  // the whole undici Response), which halved hello world when it was read on every request.
  if (length !== null || res.body === null) {
    finish(res, length === null ? 0 : Number(length));
    return out(res);
  }
  // The request log says how many bytes went out: read what the app made.
  return measured(res, finish).then(out);
}

/**
 * Call the app. An app that answers at once is answered at once: the runtime's server takes a
 * Response faster than a Promise (Bun: measured), so no await on this path.
 */
function callNow(
  handler: HttpHandler,
  req: Request,
  peer: Peer,
  target: string,
  done: (res: Response, threw: boolean) => Response | Promise<Response>,
): Response | Promise<Response> {
  let out: Response | Promise<Response>;
  try {
    out = handler(req, peer);
  } catch (e) {
    return done(appFailed(req, target, e), true);
  }
  if (out instanceof Response) return done(out, false);
  return Promise.resolve(out).then(
    (res) => {
      try {
        return done(checked(res), false);
      } catch (e) {
        return done(appFailed(req, target, e), true);
      }
    },
    (e: unknown) => done(appFailed(req, target, e), true),
  );
}

/** The request log's facts, from the Request and Response objects (sizes as they would be on the wire). */
function nativeFacts(req: Request, res: Response, target: string, peer: Peer, app: number): RequestFacts {
  let vars = 12;
  req.headers.forEach(() => vars++);
  let headers = 0;
  // "HTTP/1.1 200 \r\n" and the blank line; not the reason phrase: reading res.statusText makes
  // Hono's Node adapter build the whole undici Response, and then send it through its stream.
  let bytes = 17;
  res.headers.forEach((value, name) => {
    headers++;
    bytes += name.length + value.length + 4;
  });
  return {
    method: req.method,
    uri: target,
    proto: 'HTTP/1.1',
    addr: peer.address,
    host: req.headers.get('host') ?? '',
    uagent: req.headers.get('user-agent') ?? '',
    referer: req.headers.get('referer') ?? '',
    vars,
    varsBytes: headSize(req, target),
    headers,
    headersBytes: bytes,
    cl: Number(req.headers.get('content-length') ?? 0),
    app,
  };
}

/**
 * An answer whose size the log needs: a body complete at once (a string, bytes) becomes bytes
 * with a known length; a streaming one is counted as it goes, and finish() runs at its end.
 */
async function measured(res: Response, finish: (r: Response, bytes: number) => void): Promise<Response> {
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const first = await reader.read();
  if (first.done) {
    reader.releaseLock();
    const r = new Response(null, res);
    finish(r, 0);
    return r;
  }
  const secondRead = reader.read();
  const second = await settlesSoon(secondRead);
  if (second?.value.done) {
    reader.releaseLock();
    const r = new Response(first.value as Uint8Array<ArrayBuffer>, res);
    finish(r, first.value.length);
    return r;
  }
  let sent = 0;
  // Chunks in order: the first, then the read already asked for, then fresh reads.
  let queued: Array<Promise<ReadableStreamReadResult<Uint8Array>>> = [Promise.resolve(first), secondRead];
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const r = await (queued.shift() ?? reader.read());
      if (r.done) {
        controller.close();
        finish(res, sent);
        return;
      }
      sent += r.value.length;
      controller.enqueue(r.value);
    },
    cancel(reason) {
      queued = [];
      // The app's stream first: nothing the log line does may keep it running.
      const cancelled = reader.cancel(reason);
      finish(res, sent);
      return cancelled;
    },
  });
  return new Response(body, res);
}

/** --http-keepalive off: the answer says `Connection: close`. */
function closing(res: Response): Response {
  try {
    res.headers.set('connection', 'close');
    return res;
  } catch {
    // Immutable headers (a fetch() result, Response.redirect): copy the response.
    const copy = new Response(res.body, res);
    copy.headers.set('connection', 'close');
    return copy;
  }
}
