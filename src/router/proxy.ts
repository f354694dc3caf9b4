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
import { encodePacket, frameHead, LAST_FRAME, latin1, requestToVars, statusReason, STREAMED_BODY, STREAMED_BODY_VAR, type UwsgiVars } from '../codec/index.ts';
import { log } from '../log.ts';
import type { WorkerGate } from './gate.ts';

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
}

/** Answer heads from a worker are small; a bigger one is a broken worker. */
const MAX_ANSWER_HEAD = 64 * 1024;

/** A 503 asks the client to come back this many seconds later. */
export const RETRY_AFTER_S = 1;

export function gatewayError(status: 502 | 503 | 504, why: string): Response {
  const title = `${status} ${statusReason(status)}`;
  const body = `<!doctype html><title>${title}</title><h1>${title}</h1><p>tsgi http router: ${why.replace(/[<&]/g, (c) => (c === '<' ? '&lt;' : '&amp;'))}</p>\n`;
  const headers: Record<string, string> = { 'content-type': 'text/html; charset=utf-8' };
  if (status === 503) headers['retry-after'] = String(RETRY_AFTER_S);
  return new Response(body, { status, headers });
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

  return new Promise<Response>((resolve) => {
    let head: Uint8Array | null = null;
    let stream: ReadableStreamDefaultController<Uint8Array> | null = null;
    let answered = false;
    // The client stopped sending before the whole answer was passed on: it went, or it half-closed
    // (TCP cannot tell which until a write fails). Pass the FIN on: the app's req.signal aborts in
    // the worker, and an answer that still comes is forwarded (a gone client's server cancels it,
    // and the worker's connection is closed then). Not once the answer is over.
    const signal = req.signal;
    // The FIN goes after the whole request: before it, the worker would read a truncated one.
    let requestSent = false;
    let finPending = false;
    const clientGone = () => {
      if (answered && stream === null) return;
      if (requestSent) conn.closeWrite();
      else finPending = true;
    };
    const over = () => signal.removeEventListener('abort', clientGone);
    const expire = () => {
      if (answered) return;
      answered = true;
      over();
      log(`tsgi http router: no answer from a worker within --http-timeout ${o.timeoutMs / 1000} s: ${req.method} ${req.url}`);
      conn.destroy();
      resolve(gatewayError(504, `no answer from a worker within --http-timeout ${o.timeoutMs / 1000} s`));
    };
    // Counted from the last piece of the request body the worker took: an upload longer than
    // --http-timeout is no timeout while it moves.
    let timer = setTimeout(expire, o.timeoutMs);
    const moved = () => {
      if (answered) return;
      clearTimeout(timer);
      timer = setTimeout(expire, o.timeoutMs);
    };
    const fail = (why: string) => {
      if (answered) return;
      answered = true;
      clearTimeout(timer);
      over();
      log(`tsgi http router: ${why}: ${req.method} ${req.url}`);
      conn.destroy();
      resolve(gatewayError(502, why));
    };

    conn.onData = (chunk) => {
      if (stream) {
        stream.enqueue(chunk);
        if ((stream.desiredSize ?? 0) <= 0) conn.pause();
        return;
      }
      if (answered) return;
      const all: Uint8Array = head === null ? chunk : new Uint8Array(head.length + chunk.length);
      if (head !== null) {
        all.set(head);
        all.set(chunk, head.length);
      }
      head = all;
      let end = -1;
      for (let i = all.indexOf(13); i !== -1 && i + 3 < all.length; i = all.indexOf(13, i + 1)) {
        if (all[i + 1] === 10 && all[i + 2] === 13 && all[i + 3] === 10) {
          end = i;
          break;
        }
      }
      if (end === -1) {
        if (all.length > MAX_ANSWER_HEAD) fail(`a worker sent an answer head above ${MAX_ANSWER_HEAD} bytes`);
        return;
      }
      let parsed: AnswerHead;
      try {
        parsed = parseAnswerHead(latin1(all, 0, end));
      } catch (e) {
        return fail(`a worker sent a malformed answer: ${(e as Error).message}`);
      }
      answered = true;
      clearTimeout(timer);
      const rest = all.subarray(end + 4);
      const noBody = req.method === 'HEAD' || parsed.status === 204 || parsed.status === 304 || parsed.status < 200;
      const length = Number(parsed.headers.get('content-length') ?? -1);
      if (!noBody && length >= 0 && rest.length >= length) {
        // The whole answer came with its head (small answers do): hand it over as bytes, which
        // the runtime's server sends much faster than a stream.
        over();
        conn.end();
        resolve(new Response(rest.slice(0, length), { status: parsed.status, statusText: parsed.statusText, headers: parsed.headers }));
        return;
      }
      let responseBody: ReadableStream<Uint8Array> | null = null;
      if (!noBody) {
        responseBody = new ReadableStream<Uint8Array>(
          {
            start(controller) {
              stream = controller;
              if (rest.length > 0) controller.enqueue(rest.slice());
            },
            pull() {
              conn.resume();
            },
            cancel() {
              // The client went away: so does the worker's connection.
              stream = null;
              conn.destroy();
            },
          },
          { highWaterMark: 64 * 1024, size: (c) => c.byteLength },
        );
      }
      resolve(new Response(responseBody, { status: parsed.status, statusText: parsed.statusText, headers: parsed.headers }));
    };
    // The worker closes the connection after its answer: that ends the body.
    conn.onEnd = () => {
      if (!answered) return fail('a worker closed the connection without answering (did it die? see the tsgi log)');
      over();
      stream?.close();
      stream = null;
      // Our side too: a half-open connection keeps its fd (Bun and Deno do not close it for us).
      conn.end();
    };
    conn.onClose = (error) => {
      if (!answered) return fail(`a worker closed the connection without answering${error ? ` (${error.message})` : ''}`);
      over();
      if (stream) {
        if (error) stream.error(error);
        else stream.close();
        stream = null;
      }
    };
    if (signal.aborted) clientGone();
    else signal.addEventListener('abort', clientGone);
    conn.write(encodePacket(vars));
    void sendBody(conn, body, framed, moved).then(() => {
      requestSent = true;
      if (finPending) conn.closeWrite();
    });
  });
}
