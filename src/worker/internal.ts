/**
 * The --http router's internal socket, served in each worker: uwsgi packets from tsgi's own
 * router only (a UNIX socket in a private directory), with its streamed bodies (TSGI_BODY,
 * src/codec/frames.ts), WebSockets (the router relays the client's upgraded connection) and
 * connections kept open (TSGI_KEEP): a request that asks for it gets an answer framed by
 * Content-Length or chunked, and the connection then takes the next packet. The answer says
 * `connection: close` when the worker will take no other (it stops, or the router half-closed);
 * a request without TSGI_KEEP is answered as on --socket, and closed. After the app's 101 the
 * connection is the WebSocket's, never back to the next request.
 *
 * A kept connection that waits for its next request is closed after --socket-timeout (the
 * router drops its idle ones before, src/router/pool.ts), and at once when the worker stops: the
 * router then sends a request that had nothing but its head again, on a fresh connection.
 * The connection itself is a CgiConnection (cgi-conn.ts) of the protocol below.
 */
import type { Conn } from '../../runtimes/types.ts';
import { chunkFrame, encodeResponseHead, getVar, KEEP_CONNECTION_VAR, lastChunk, UwsgiDecoder, type UwsgiVars } from '../codec/index.ts';
import { CgiConnection, type CgiProtocol, type Ending, type KeptConnections } from './cgi-conn.ts';
import type { AnswerWriter } from './exchange.ts';
import type { VarsServerOptions } from './vars.ts';

export function handleInternalConn(conn: Conn, options: VarsServerOptions): void {
  new CgiConnection(conn, options, internalProtocol(options));
}

function internalProtocol(o: VarsServerOptions): CgiProtocol {
  return {
    decoder: (events) => new UwsgiDecoder(events, { bufferSize: o.bufferSize, streamedBodies: true }),
    cgi: false,
    socket: "the router's internal socket",
    notHttp: "This is the tsgi --http router's internal socket",
    bad: 'bad uwsgi packet from the router on its internal socket',
    noWebSockets: 'this worker was started without WebSockets on the --http router',
    kept: KEPT,
  };
}

/** Kept only if the router asked, and while the router still sends and the worker does not stop; never after a switch of protocols. */
const KEPT: KeptConnections = {
  ending(vars: UwsgiVars, res: Response, closing: boolean): Ending {
    if (getVar(vars, KEEP_CONNECTION_VAR) !== '1') return 'raw';
    return closing || res.status === 101 ? 'last' : 'kept';
  },
  writer: (res, method, ending) => new KeptAnswerWriter(res, method, ending),
};

/** The framing of one answer the router asked to keep the connection for: by its Content-Length, else chunked. */
class KeptAnswerWriter implements AnswerWriter {
  readonly frame: AnswerWriter['frame'];
  readonly trailer: AnswerWriter['trailer'];
  readonly #res: Response;
  readonly #method: string;
  readonly #ending: Ending;
  readonly #chunked: boolean;

  constructor(res: Response, method: string, ending: Ending) {
    this.#res = res;
    this.#method = method;
    this.#ending = ending;
    this.#chunked = !res.headers.has('content-length');
    this.frame = this.#chunked ? chunkFrame : undefined;
    this.trailer = this.#chunked ? lastChunk : undefined;
  }

  head = (contentLength: number | undefined): Uint8Array =>
    encodeResponseHead(this.#res, { method: this.#method, contentLength, extra: this.#extra(contentLength === undefined && this.#chunked) });

  bodyless = (): Uint8Array => encodeResponseHead(this.#res, { method: this.#method, extra: this.#extra(false) });

  #extra(chunked: boolean): string {
    return (chunked ? 'transfer-encoding: chunked\r\n' : '') + (this.#ending === 'last' ? 'connection: close\r\n' : '');
  }
}
