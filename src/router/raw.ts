/**
 * The --http router's fast path: the common request (GET, HEAD, OPTIONS or DELETE without a body,
 * not an upgrade, on a port with no --static-map, --mount or --trusted-proxy) goes from the head
 * the HTTP server parsed straight to the uwsgi vars, and the worker's answer straight back to the
 * client's connection as status, header pairs and body bytes (RawHandler, runtimes/types.ts):
 * no Request, Headers, AbortSignal or Response on the way, which the router otherwise builds and
 * takes apart again for each request (its CPU per request is what limits it against uWSGI's
 * router). The exchange with the worker is proxy.ts's (UpstreamExchange, with this Delivery).
 *
 * Anything the vars would not come out of exactly as requestToVars makes them (a path or query
 * the URL parser rewrites, a Host it normalizes, a header value with other than printable ASCII)
 * is not taken: it goes the Request way, as does a request while no worker is ready (its wait
 * and 503 are gate.ts's) and a head above --buffer-size (its 431 is the server's handler's).
 */
import type { Conn, RawHandler, RawReply, RawRequestHead } from '../../runtimes/types.ts';
import { encodePacket, KEEP_CONNECTION_VAR, percentDecode, plainHostname, plainTarget, plainValue, statusReason, type UwsgiVars } from '../codec/index.ts';
import { CLIENT_CERT_HEADER } from '../tls/client-cert.ts';
import type { RequestCounters } from '../worker/counters.ts';
import { type AnswerHead, type BodySink, type Delivery, exchange, gatewayText, type Lease, type ProxyOptions } from './proxy.ts';

export interface RawOptions {
  proxy: ProxyOptions;
  /** --buffer-size: a bigger head is not taken (it gets its 431 the usual way). */
  bufferSize: number;
  /** --http-keepalive. */
  keepAlive: boolean;
  counters?: RequestCounters;
}

/** Methods without a body that the fast path takes. */
const METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'DELETE']);

/** Headers that send a request the Request way: a body, an upgrade, what the port owns, what Headers keeps apart. */
const NOT_RAW = new Set(['content-length', 'transfer-encoding', 'upgrade', 'set-cookie', CLIENT_CERT_HEADER]);

/**
 * The uwsgi vars proxy.ts sends for this request (requestToVars' with TSGI_KEEP), in the same
 * order: HTTP_* as Headers lists them (sorted, repeated ones joined); null when the fast path
 * does not take it.
 */
export function rawVars(head: RawRequestHead, serverPort: number): UwsgiVars | null {
  const { method, target } = head;
  if (!METHODS.has(method)) return null;
  if (!plainTarget(target)) return null;
  const q = target.indexOf('?');
  const path = q === -1 ? target : target.slice(0, q);
  const query = q === -1 ? '' : target.slice(q + 1);
  const fields = headerFields(head.headers);
  if (fields === null) return null;
  const host = fields.get('host');
  const serverName = host === undefined ? null : plainHostname(host);
  if (serverName === null) return null;
  const vars: UwsgiVars = [
    ['QUERY_STRING', query],
    ['REQUEST_METHOD', method],
    ['CONTENT_TYPE', fields.get('content-type') ?? ''],
    ['CONTENT_LENGTH', ''],
    ['REQUEST_URI', target],
    ['PATH_INFO', percentDecode(path)],
    ['DOCUMENT_ROOT', ''],
    ['SERVER_PROTOCOL', 'HTTP/1.1'],
    ['REQUEST_SCHEME', 'http'],
    ['REMOTE_ADDR', head.peer.address],
    ['REMOTE_PORT', String(head.peer.port)],
    ['SERVER_PORT', String(serverPort)],
    ['SERVER_NAME', serverName],
  ];
  for (const name of [...fields.keys()].sort()) vars.push([`HTTP_${name.toUpperCase().replaceAll('-', '_')}`, fields.get(name) as string]);
  vars.push([KEEP_CONNECTION_VAR, '1']);
  return vars;
}

/** The header pairs by lowercase name, repeated ones joined as appendHeader joins them; null if one sends the request the Request way. */
function headerFields(h: readonly string[]): Map<string, string> | null {
  const fields = new Map<string, string>();
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i].toLowerCase();
    const value = h[i + 1];
    if (NOT_RAW.has(name) || !plainValue(value)) return null;
    const prev = fields.get(name);
    if (prev === undefined) fields.set(name, value);
    else if (name === 'host') return null;
    else fields.set(name, `${prev}${name === 'cookie' ? '; ' : ', '}${value}`);
  }
  return fields;
}

/** The fast path's handler for the router's servers (undefined where a port routes or trusts proxies: see router.ts). */
export function rawHandler(o: RawOptions): RawHandler {
  return (head, reply) => {
    if (!o.proxy.workers.open || head.headBytes > o.bufferSize) return false;
    const vars = rawVars(head, o.proxy.serverPort);
    if (vars === null) return false;
    const delivery = new RawDelivery(head, reply, o);
    exchange({ delivery, packet: encodePacket(vars), body: null, framed: false }, o.proxy, true);
    return true;
  };
}

const encoder = new TextEncoder();

/** The worker's answer written straight to the client's connection (RawReply), counted as the server's handler counts one. */
class RawDelivery implements Delivery {
  readonly #head: RawRequestHead;
  readonly #reply: RawReply;
  readonly #o: RawOptions;
  readonly #id: number;
  #status = 0;
  #bytes = 0;
  #finished = false;
  #gone = false;
  #watch: (() => void) | null = null;
  /** While the answer body streams: the exchange's call for a client gone. */
  #cancel: (() => void) | null = null;

  constructor(head: RawRequestHead, reply: RawReply, o: RawOptions) {
    this.#head = head;
    this.#reply = reply;
    this.#o = o;
    this.#id = o.counters?.started(head.method, head.target) ?? 0;
    reply.onGone = () => {
      this.#gone = true;
      this.#watch?.();
    };
    reply.onAbort = () => {
      this.#cancel?.();
      this.#finish();
    };
  }

  get method(): string {
    return this.#head.method;
  }

  describe(): string {
    const h = this.#head.headers;
    let host = '';
    for (let i = 0; i < h.length; i += 2) if (h[i].toLowerCase() === 'host') host = h[i + 1];
    return `${this.#head.method} http://${host}${this.#head.target}`;
  }

  watchClient(f: (() => void) | null): void {
    this.#watch = f;
    if (f !== null && this.#gone) f();
  }

  refuse(status: 502 | 504, why: string): void {
    const body = encoder.encode(`${gatewayText(why)}\n`);
    this.#answer(status, statusReason(status), ['content-type', 'text/plain; charset=utf-8', 'content-length', String(body.length)], body);
  }

  whole(head: AnswerHead, body: Uint8Array | null): void {
    this.#answer(head.status, head.statusText, head.headers, body);
  }

  stream(head: AnswerHead, flow: Lease, cancelled: () => void): BodySink {
    this.#writeHead(head.status, head.statusText, head.headers);
    this.#cancel = cancelled;
    const reply = this.#reply;
    reply.onDrain = () => flow.resume();
    return {
      push: (chunk) => {
        this.#bytes += chunk.length;
        if (!reply.write(chunk)) flow.pause();
      },
      end: () => {
        this.#cancel = null;
        reply.end();
        this.#finish();
      },
      fail: () => {
        this.#cancel = null;
        reply.destroy();
        this.#finish();
      },
    };
  }

  /** Never asked for (an upgrade request is not taken): a 101 to another request is a broken worker. */
  switched(conn: Conn): void {
    conn.destroy();
    this.refuse(502, 'a worker switched protocols on a request that did not ask to');
  }

  #answer(status: number, reason: string, headers: string[], body: Uint8Array | null): void {
    this.#status = status;
    const sent = body !== null && body.length > 0 && this.#head.method !== 'HEAD' ? body : null;
    this.#bytes += sent?.length ?? 0;
    this.#reply.answer(status, reason, headers, !this.#o.keepAlive, sent);
    this.#finish();
  }

  #writeHead(status: number, reason: string, headers: string[]): void {
    this.#status = status;
    this.#reply.head(status, reason, headers, !this.#o.keepAlive);
  }

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#o.counters?.finished(this.#id, this.#status, this.#bytes, false);
  }
}
