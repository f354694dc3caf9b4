/**
 * The rules every protocol that carries CGI variables shares (uwsgi, SCGI, FastCGI): which
 * requests have a body, the vars → Request step with its 400 refusal, --limit-post, tsgi's own
 * answer in the protocol's head style, the head-timeout log line and the request log's facts.
 */
import type { WebSocketLimits } from '../master/protocol.ts';
import { concatBytes, encodeResponseHead, getVar, type LazyRequestMaker, type UwsgiVars, varsToRequest } from '../codec/index.ts';
import { log } from '../log.ts';
import type { FetchHandler } from './app.ts';
import type { RequestCounters } from './counters.ts';
import { headStats, type RequestFacts } from './reqlog.ts';
import { type Gone, plainAnswer, plainAnswerBytes } from './respond.ts';

/** What a socket of these protocols takes from the configuration. */
export interface VarsServerOptions {
  handler: FetchHandler;
  /** Largest vars block accepted (--buffer-size). */
  bufferSize: number;
  /** Largest request body, 0: no limit (--limit-post). */
  limitPost: number;
  /** A connection that has not sent its whole request head by then is closed (--socket-timeout). */
  headTimeoutMs: number;
  counters?: RequestCounters;
  /** The app's body as it gave it, where the runtime keeps it (Runtime.keptBodies): written without reading the Response's stream. */
  wholeBody?: (res: Response) => Uint8Array | null;
  /** Makes a lazy Request where the vars allow one, where the runtime has them (Runtime.lazyRequests); else the runtime's Request. */
  lazyRequest?: LazyRequestMaker | null;
  /** Which app (mountpoint index) answers a URL, for the request log. */
  appOf?: (req: Request) => number;
  /**
   * Carry the WebSockets the app accepts (the --http router's internal socket only: after the
   * 101 head, frames go raw both ways on the connection, as on HTTP/1.1); absent: a 426.
   */
  webSockets?: WebSocketLimits;
}

const textEncoder = new TextEncoder();

/** GET and HEAD: the app gets no body whatever the web server sends (case-insensitive, as varsToRequest treats the method). */
export function bodylessMethod(vars: UwsgiVars): boolean {
  const method = (getVar(vars, 'REQUEST_METHOD') ?? 'GET').toUpperCase();
  return method === 'GET' || method === 'HEAD';
}

/**
 * The app's Request, or (logged) the text of the 400 that refuses it. `peer` names the client
 * for the log line, asked only then: reading the peer's address and port on every request was
 * 7 % of a Bun uwsgi worker's samples (`bun --cpu-prof`, hello world).
 */
export function requestOrRefusal(vars: UwsgiVars, body: BodyInit | null, gone: Gone, peer: () => string, lazy?: LazyRequestMaker | null): Request | string {
  try {
    return varsToRequest(vars, body, gone, lazy);
  } catch (e) {
    log(`tsgi: bad request from ${peer()}: ${(e as Error).message}`);
    return `Bad Request: ${(e as Error).message}`;
  }
}

/**
 * --limit-post over one request (0: no limit): a CONTENT_LENGTH above it is refused before the
 * app, and so is a body that grows past it (a chunked upload, a streamed body, has none).
 */
export class PostLimit {
  readonly #limit: number;
  #received = 0;

  constructor(limit: number) {
    this.#limit = limit;
  }

  /** The 413's text if the CONTENT_LENGTH the web server announced is above the limit, else null. */
  announced(vars: UwsgiVars): string | null {
    const length = Number(getVar(vars, 'CONTENT_LENGTH') || 0);
    if (this.#limit > 0 && length > this.#limit) return `the request body (${length} bytes) is larger than --limit-post ${this.#limit}`;
    return null;
  }

  /** Count body bytes: the 413's text once, when they pass the limit, else null. */
  count(bytes: number): string | null {
    const before = this.#received;
    this.#received += bytes;
    if (this.#limit > 0 && before <= this.#limit && this.#received > this.#limit) return `the request body is larger than --limit-post ${this.#limit}`;
    return null;
  }
}

/**
 * tsgi's own one-line answer (a refusal) as bytes: an HTTP status line and `connection: close`
 * (uwsgi), or CGI-style with a `Status:` line (SCGI, FastCGI's STDOUT).
 */
export function refusalBytes(status: number, text: string, cgi: boolean): Uint8Array {
  if (!cgi) return plainAnswerBytes(status, text);
  const body = textEncoder.encode(`${text}\n`);
  const res = plainAnswer(status, text);
  return concatBytes([encodeResponseHead(res, { method: 'GET', contentLength: body.length, cgi: true }), body]);
}

/** The log line of a connection closed for sending no whole request within --socket-timeout. */
export function logHeadTimeout(peer: string, ms: number, what = 'request'): void {
  log(`tsgi: ${peer} sent no whole ${what} within --socket-timeout ${ms / 1000} s: closing`);
}

/** The request log's facts from the vars the web server sent. */
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
