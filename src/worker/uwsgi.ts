/**
 * The uwsgi protocol server: one request per connection (nginx never reuses uwsgi connections).
 * Bytes → UwsgiDecoder → Request → app → Response → raw HTTP/1.1 bytes → close.
 */
import type { Conn } from '../../runtimes/types.ts';
import { UwsgiDecoder, bodyAllowed, concatBytes, encodeResponseHead, getVar, varsToRequest, type UwsgiVars } from '../codec/index.ts';
import { describeError, describePeer, log } from '../log.ts';
import type { FetchHandler } from './app.ts';
import type { RequestCounters } from './counters.ts';
import { type RequestFacts, headStats } from './reqlog.ts';
import { BodyWait, callApp, Gone, writeBody } from './respond.ts';

export interface UwsgiServerOptions {
  handler: FetchHandler;
  /** Largest vars block accepted (--buffer-size). */
  bufferSize: number;
  /** A connection that has not sent its whole request head by then is closed (--socket-timeout). */
  headTimeoutMs: number;
  counters?: RequestCounters;
  /** Which app (mountpoint index) answers a URL, for the request log. */
  appOf?: (url: string) => number;
  /** The --http router's internal socket: take its streamed bodies (TSGI_BODY, src/codec/frames.ts). */
  streamedBodies?: boolean;
}

const textEncoder = new TextEncoder();

/** A short plain-text response written straight to the connection (errors before the app). */
function plainResponse(conn: Conn, status: number, reason: string, text: string): void {
  const body = textEncoder.encode(text + '\n');
  conn.write(
    textEncoder.encode(
      `HTTP/1.1 ${status} ${reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`,
    ),
  );
  conn.write(body);
  conn.end();
}

function peer(conn: Conn): string {
  return describePeer({ address: conn.remoteAddress, port: conn.remotePort });
}

export function handleUwsgiConn(conn: Conn, options: UwsgiServerOptions): void {
  const gone = new Gone();
  const served = options.counters?.accepted();
  let vars: UwsgiVars | null = null;
  let varsSize = 0;
  /** null: a streamed body, of unknown length. */
  let contentLength: number | null = 0;
  let dispatched = false;
  let responding = false;
  // Body bytes that arrived before the request was dispatched, and the stream fed afterwards.
  let early: Uint8Array[] = [];
  let earlyBytes = 0;
  let bodyDone = false;
  let stream: ReadableStreamDefaultController<Uint8Array> | null = null;
  let drop = false; // read the body and throw it away (GET/HEAD, or an answer that ignores it)
  const bodyWait = new BodyWait();

  /** Resolves when the body has been read to its end (or the peer is gone), or after `ms`. */
  function bodyRead(ms: number): Promise<void> {
    return bodyDone ? Promise.resolve() : bodyWait.until(ms);
  }

  const decoder = new UwsgiDecoder(
    {
      onHead(head, v, length) {
        vars = v;
        varsSize = head.size;
        contentLength = length;
        // Case-insensitive, as varsToRequest treats the method.
        const method = (getVar(v, 'REQUEST_METHOD') ?? 'GET').toUpperCase();
        drop = method === 'GET' || method === 'HEAD';
      },
      onBody(chunk) {
        if (drop) return;
        if (stream) {
          stream.enqueue(chunk);
          if ((stream.desiredSize ?? 0) <= 0) conn.pause();
        } else {
          early.push(chunk);
          earlyBytes += chunk.length;
        }
      },
      onBodyEnd() {
        bodyDone = true;
        stream?.close();
        bodyWait.done();
      },
      onError(error) {
        bodyWait.done();
        if (stream) stream.error(error);
        if (responding) return;
        if (error.code === 'looks-like-http') {
          log(`tsgi: HTTP request from ${peer(conn)} on a uwsgi socket: use --http-socket for HTTP clients`);
          plainResponse(conn, 400, 'Bad Request', 'This is a uwsgi protocol socket (tsgi --socket); HTTP clients need --http-socket or --http.');
          return;
        }
        if (error.code === 'truncated-header' && vars === null && early.length === 0 && !dispatched) {
          // A connection closed before sending anything whole (health checks, port scans).
          conn.destroy();
          return;
        }
        log(`tsgi: bad uwsgi packet from ${peer(conn)}: ${error.message}`);
        conn.destroy();
      },
    },
    { bufferSize: options.bufferSize, streamedBodies: options.streamedBodies },
  );

  // Slow or idle clients must not hold connections forever.
  const headTimer = setTimeout(() => {
    if (vars !== null) return;
    log(`tsgi: ${peer(conn)} sent no whole request within --socket-timeout ${options.headTimeoutMs / 1000} s: closing`);
    conn.destroy();
  }, options.headTimeoutMs);

  conn.onData = (chunk) => {
    decoder.push(chunk);
    if (vars !== null && !dispatched) dispatch();
  };
  conn.onEnd = () => {
    if (decoder.state !== 'done' && decoder.state !== 'error') decoder.end();
    // nginx never half-closes; the router does when its client did (src/router/proxy.ts).
    if (dispatched) gone.inputEnded();
  };
  conn.onClose = () => {
    served?.();
    clearTimeout(headTimer);
    bodyWait.done();
    gone.abort();
  };

  function takeEarly(): Uint8Array {
    return early.length === 1 ? early[0] : concatBytes(early, earlyBytes);
  }

  function dispatch(): void {
    dispatched = true;
    clearTimeout(headTimer);
    const v = vars as UwsgiVars;
    let body: BodyInit | null = null;
    if (!drop && contentLength !== 0) {
      if (bodyDone) body = takeEarly() as Uint8Array<ArrayBuffer>;
      else {
        const pending = early;
        body = new ReadableStream<Uint8Array>(
          {
            start(controller) {
              stream = controller;
              for (const c of pending) controller.enqueue(c);
            },
            pull() {
              conn.resume();
            },
            cancel() {
              // The app does not want the rest: keep reading and dropping it.
              drop = true;
              conn.resume();
            },
          },
          { highWaterMark: 64 * 1024, size: (c) => c.byteLength },
        );
      }
      early = [];
    }
    let req: Request;
    try {
      req = varsToRequest(v, body, gone);
    } catch (e) {
      log(`tsgi: bad request from ${peer(conn)}: ${(e as Error).message}`);
      responding = true;
      plainResponse(conn, 400, 'Bad Request', `Bad Request: ${(e as Error).message}`);
      return;
    }
    void respond(req);
  }

  async function respond(req: Request): Promise<void> {
    const counters = options.counters;
    const uri = getVar(vars as UwsgiVars, 'REQUEST_URI') ?? req.url;
    const id = counters?.started(req.method, uri) ?? 0;
    served?.();
    const answer = await callApp(options.handler, req, uri);
    const res = answer.res;
    let threw = answer.threw;
    responding = true;
    // An answer that leaves the request body alone: read the rest of it and drop it as the answer
    // goes out, so neither side waits on the other (nginx sends the whole body before it reads)
    // and closing never meets unread bytes, which would reset the connection under the answer.
    // An app that reads the body, or streams it back, keeps it.
    const untouched = req.body === null || (!req.bodyUsed && !req.body.locked && res.body !== req.body);
    if (!bodyDone && untouched) {
      drop = true;
      conn.resume();
    }
    const method = req.method;
    const status = res.status;
    let bytes = 0;
    let sentHead: Uint8Array | null = null;
    const head = (contentLength?: number) => (sentHead = encodeResponseHead(res, { method, contentLength }));
    try {
      if (!bodyAllowed(method, status)) {
        conn.write(head());
        if (res.body) void res.body.cancel().catch(() => {});
      } else {
        bytes = await writeBody(conn, res.body, { head }, gone);
      }
      gone.settled();
      if (!bodyDone) {
        // The app took part of the body and no more: drop the rest, and close only once it is
        // in (closing over unread bytes resets the connection, and nginx would answer 502).
        drop = true;
        conn.resume();
        await bodyRead(5000);
      }
      conn.end();
    } catch (e) {
      threw = true;
      gone.settled();
      log(`tsgi: response body failed on ${method} ${uri}: ${describeError(e)}`);
      conn.destroy();
    }
    counters?.finished(id, status, bytes, threw, () => varsFacts(vars as UwsgiVars, varsSize, sentHead, options.appOf?.(req.url) ?? 0));
  }
}

/** The request log's facts from the vars nginx sent (uwsgi, FastCGI). */
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
