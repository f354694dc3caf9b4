/**
 * The app behind the runtime's own HTTP server (Bun.serve, Deno.serve): the same limits, errors
 * and counters as tsgi's HTTP/1.1 server (http1.ts), which parses requests itself.
 *
 * - A request head above --buffer-size gets 431 (sized as it arrived: request line and header
 *   lines; Bun refuses heads above 16 KiB itself, whatever --buffer-size says).
 * - A body above --limit-post gets 413: at once by Content-Length; a chunked body is counted as
 *   the app reads it, and a 413 replaces the app's answer when it overflows.
 * - --http-keepalive off: every answer says `Connection: close`.
 * - tx counts Content-Length when the answer has one (a streamed answer's bytes are not seen here).
 */
import type { HttpHandler, Peer } from '../../runtimes/types.ts';
import { log } from '../log.ts';
import type { HttpServerOptions } from './http1.ts';
import { callApp } from './respond.ts';

function plain(status: number, text: string): Response {
  return new Response(`${text}\n`, { status, headers: { 'content-type': 'text/plain; charset=utf-8', connection: 'close' } });
}

/** Bytes of the head as the client sent it: "METHOD target HTTP/1.1", header lines, CRLFs. */
function headSize(req: Request, target: string): number {
  let n = req.method.length + target.length + 12;
  req.headers.forEach((value, name) => {
    n += name.length + value.length + 4;
  });
  return n + 2;
}

function describe(peer: Peer): string {
  return peer.address ? `${peer.address}:${peer.port}` : 'UNIX socket peer';
}

export function nativeHandler(o: HttpServerOptions): HttpHandler {
  return async (req, peer) => {
    const url = req.url;
    // The target as sent: the URL from the path on (the scheme and host came from Host).
    const target = url.slice(url.indexOf('/', url.indexOf('//') + 2));
    if (headSize(req, target) > o.bufferSize) {
      log(`tsgi: bad request from ${describe(peer)}: request head above --buffer-size ${o.bufferSize} bytes (431)`);
      return plain(431, `request head above --buffer-size ${o.bufferSize} bytes`);
    }
    let overflow = false;
    if (o.limitPost > 0 && req.body !== null) {
      const length = req.headers.get('content-length');
      if (length !== null && Number(length) > o.limitPost) {
        log(`tsgi: bad request from ${describe(peer)}: request body of ${length} bytes is above --limit-post ${o.limitPost} (413)`);
        return plain(413, `request body of ${length} bytes is above --limit-post ${o.limitPost}`);
      }
      if (length === null) {
        let seen = 0;
        const limit = o.limitPost;
        const counted = req.body.pipeThrough(
          new TransformStream<Uint8Array, Uint8Array>({
            transform(chunk, controller) {
              seen += chunk.length;
              if (seen > limit) {
                overflow = true;
                controller.error(new Error(`request body above --limit-post ${limit} bytes`));
              } else controller.enqueue(chunk);
            },
          }),
        );
        req = new Request(req, { body: counted, duplex: 'half' } as RequestInit);
      }
    }
    const id = o.counters?.started(req.method, target) ?? 0;
    let { res, threw } = await callApp(o.handler, req, target, peer);
    if (overflow) {
      log(`tsgi: bad request from ${describe(peer)}: request body above --limit-post ${o.limitPost} bytes (413)`);
      res = plain(413, `request body above --limit-post ${o.limitPost} bytes`);
    }
    const length = res.headers.get('content-length');
    o.counters?.finished(id, res.status, length === null ? 0 : Number(length), threw);
    if (!o.keepAlive) {
      try {
        res.headers.set('connection', 'close');
      } catch {
        // Immutable headers (a fetch() result, Response.redirect): copy the response.
        res = new Response(res.body, res);
        res.headers.set('connection', 'close');
      }
    }
    return res;
  };
}
