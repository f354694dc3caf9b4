/**
 * HTTP/1.1 requests, pure (no Conn): the request head's parser and the request body's decoder
 * (Content-Length or chunked). What tsgi's HTTP/1.1 server (src/worker/http1.ts) reads with.
 * Refusals are HttpErrors: the status the client gets and why.
 */
import { latin1 } from './bytes.ts';
import { appendHeader } from './request.ts';

/** A refusal before the app: status and why (the body the client gets, and the log line). */
export class HttpError extends Error {
  readonly status: number;

  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

export interface HttpRequestHead {
  /** Bytes of the head, request line to the blank line. */
  size: number;
  method: string;
  target: string;
  v11: boolean;
  /** The header lines, flat: name, value, name, value, … (as sent; values trimmed). */
  pairs: string[];
  /** The headers as a Headers object, made on first use (a raw handler never asks). */
  readonly headers: Headers;
  host: string;
  contentLength: number | null;
  chunked: boolean;
  /** The client asked to close (Connection: close), or HTTP/1.0 without keep-alive. */
  close: boolean;
  expectContinue: boolean;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const INVALID_VALUE = /[\0\r\n]/;
const DIGITS = /^[0-9]+$/;

/** Index of the CRLFCRLF that ends a head starting at `from`, or -1. */
export function headEnd(b: Uint8Array, from: number): number {
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
export function parseHead(b: Uint8Array, start: number, end: number): HttpRequestHead {
  const lines = latin1(b, start, end).split('\r\n');
  const { method, target, v11 } = parseRequestLine(lines[0]);
  const h = new HeaderScan();
  for (let i = 1; i < lines.length; i++) h.add(lines[i]);
  const chunked = h.chunked(v11);
  if (h.host === null && v11) throw new HttpError(400, 'HTTP/1.1 request without a Host header');
  const expect = h.expect;
  if (expect !== null && expect !== '100-continue') throw new HttpError(417, `unsupported expectation ${JSON.stringify(expect.slice(0, 40))}`);
  const close = v11 ? /(^|,)\s*close\s*(,|$)/.test(h.connection) : !/(^|,)\s*keep-alive\s*(,|$)/.test(h.connection);
  let headers: Headers | null = null;
  const pairs = h.pairs;
  return {
    method,
    target,
    v11,
    pairs,
    get headers(): Headers {
      headers ??= headersOf(pairs);
      return headers;
    },
    host: h.host ?? 'localhost',
    contentLength: h.contentLength,
    chunked,
    close,
    expectContinue: expect !== null,
    size: end - start + 4,
  };
}

/** The Headers of flat header pairs (repeated headers joined as appendHeader joins them). */
function headersOf(pairs: string[]): Headers {
  const headers = new Headers();
  for (let i = 0; i < pairs.length; i += 2) {
    try {
      appendHeader(headers, pairs[i], pairs[i + 1]);
    } catch {
      throw new HttpError(400, `invalid value for header ${pairs[i]}`);
    }
  }
  return headers;
}

function parseRequestLine(line: string): { method: string; target: string; v11: boolean } {
  const sp1 = line.indexOf(' ');
  const sp2 = line.indexOf(' ', sp1 + 1);
  if (sp1 <= 0 || sp2 <= sp1 + 1 || line.indexOf(' ', sp2 + 1) !== -1) throw new HttpError(400, `malformed request line ${JSON.stringify(line.slice(0, 100))}`);
  const method = line.slice(0, sp1);
  const target = line.slice(sp1 + 1, sp2);
  if (!TOKEN.test(method)) throw new HttpError(400, `malformed method ${JSON.stringify(method.slice(0, 40))}`);
  const v11 = parseVersion(line.slice(sp2 + 1));
  for (let i = 0; i < target.length; i++) {
    const c = target.charCodeAt(i);
    if (c < 0x21 || c === 0x7f) throw new HttpError(400, 'control character in the request target');
  }
  if (target.charCodeAt(0) !== 0x2f && !/^https?:\/\//i.test(target) && !(target === '*' && method === 'OPTIONS')) {
    throw new HttpError(400, `malformed request target ${JSON.stringify(target.slice(0, 100))}`);
  }
  return { method, target, v11 };
}

/** True for HTTP/1.1, false for HTTP/1.0; throws for anything else. */
function parseVersion(version: string): boolean {
  if (version === 'HTTP/1.1') return true;
  if (version === 'HTTP/1.0') return false;
  if (/^HTTP\/[0-9]\.[0-9]$/.test(version)) throw new HttpError(505, `${version} is not supported here (HTTP/1.0 and HTTP/1.1 are)`);
  throw new HttpError(400, `malformed HTTP version ${JSON.stringify(version.slice(0, 20))}`);
}

/** The header lines of a request, one by one, and what the server reads from them. */
class HeaderScan {
  readonly pairs: string[] = [];
  host: string | null = null;
  contentLength: number | null = null;
  te: string | null = null;
  /** The Connection headers' values, lowercased, each after a comma. */
  connection = '';
  expect: string | null = null;

  add(h: string): void {
    const colon = h.indexOf(':');
    const c0 = h.charCodeAt(0);
    if (c0 === 32 || c0 === 9) throw new HttpError(400, 'folded header lines are not allowed');
    if (colon <= 0) throw new HttpError(400, `malformed header line ${JSON.stringify(h.slice(0, 60))}`);
    const name = h.slice(0, colon);
    if (!TOKEN.test(name)) throw new HttpError(400, `malformed header name ${JSON.stringify(name.slice(0, 60))}`);
    const value = trimOws(h.slice(colon + 1));
    // What Headers refuses in a value (a lone CR or LF, NUL): refused here, before any Headers is made.
    if (INVALID_VALUE.test(value)) throw new HttpError(400, `invalid value for header ${name}`);
    this.pairs.push(name, value);
    this.#note(name, value);
  }

  /** Keep what the server needs (the length first: most names are none of these). */
  #note(name: string, value: string): void {
    const n = name.length;
    if (n !== 4 && n !== 6 && n !== 10 && n !== 14 && n !== 17) return;
    const lower = name.toLowerCase();
    if (lower === 'host') {
      if (this.host !== null) throw new HttpError(400, 'more than one Host header');
      this.host = value;
    } else if (lower === 'expect') this.expect = value.toLowerCase();
    else if (lower === 'connection') this.connection += `,${value.toLowerCase()}`;
    else if (lower === 'content-length') this.#length(value);
    else if (lower === 'transfer-encoding') this.te = this.te === null ? value : `${this.te},${value}`;
  }

  /** "5, 5" (a proxy's repeat) is one length; anything else is ambiguous. */
  #length(value: string): void {
    for (const part of value.split(',')) {
      const p = trimOws(part);
      if (!DIGITS.test(p) || p.length > 15) throw new HttpError(400, `invalid Content-Length ${JSON.stringify(value.slice(0, 40))}`);
      const n = Number(p);
      if (this.contentLength !== null && this.contentLength !== n) throw new HttpError(400, 'conflicting Content-Length headers');
      this.contentLength = n;
    }
  }

  /** Is the body chunked? Refuses a coding other than chunked, and the framings that smuggle requests. */
  chunked(v11: boolean): boolean {
    const te = this.te;
    if (te === null) return false;
    const codings = te.toLowerCase().split(',').map(trimOws).filter(Boolean);
    if (codings.length !== 1 || codings[0] !== 'chunked') {
      throw new HttpError(501, `transfer coding ${JSON.stringify(te.slice(0, 40))} is not supported (only chunked)`);
    }
    // Both framings at once is how requests are smuggled past proxies: refused.
    if (this.contentLength !== null) throw new HttpError(400, 'both Transfer-Encoding and Content-Length');
    if (!v11) throw new HttpError(400, 'Transfer-Encoding in an HTTP/1.0 request');
    return true;
  }
}

/** Reads one request body (Content-Length or chunked) out of the connection's bytes. */
export class BodyReader {
  done = false;
  /** Body bytes seen so far. */
  received = 0;
  readonly #chunked: boolean;
  /** Fixed length: bytes still to come; chunked: bytes left in the current chunk. */
  #left: number;
  #state: 'size' | 'data' | 'cr' | 'lf' | 'trailer' = 'size';
  /** A chunk-size or trailer line so far. */
  #line = '';

  constructor(length: number | null, chunked: boolean) {
    this.#chunked = chunked;
    this.#left = length ?? 0;
    if (!chunked && this.#left === 0) this.done = true;
  }

  /** Take body bytes from `b`, handing body pieces to `out`; returns how many bytes were used. Throws HttpError. */
  feed(b: Uint8Array, out: (piece: Uint8Array) => void): number {
    if (!this.#chunked) return this.#data(b, 0, out);
    let i = 0;
    while (i < b.length && !this.done) {
      const state = this.#state;
      if (state === 'data') {
        i += this.#data(b, i, out);
        if (this.#left === 0) this.#state = 'cr';
      } else if (state === 'cr' || state === 'lf') {
        if (b[i++] !== (state === 'cr' ? 13 : 10)) throw new HttpError(400, 'malformed chunked body: a chunk does not end with CRLF');
        this.#state = state === 'cr' ? 'lf' : 'size';
      } else i = this.#lineBytes(b, i);
    }
    return i;
  }

  /** Body bytes from `b` at `i`, up to what is left; returns how many. */
  #data(b: Uint8Array, i: number, out: (piece: Uint8Array) => void): number {
    const n = Math.min(this.#left, b.length - i);
    if (n > 0) out(i === 0 && n === b.length ? b : b.subarray(i, i + n));
    this.#left -= n;
    this.received += n;
    if (!this.#chunked) this.done = this.#left === 0;
    return n;
  }

  /** Bytes of a chunk-size or trailer line from `i`; returns where they end. */
  #lineBytes(b: Uint8Array, i: number): number {
    const nl = b.indexOf(10, i);
    this.#line += latin1(b, i, nl === -1 ? b.length : nl);
    if (this.#line.length > 4096) throw new HttpError(400, 'malformed chunked body: a chunk-size or trailer line above 4 KiB');
    if (nl === -1) return b.length;
    const line = this.#line.endsWith('\r') ? this.#line.slice(0, -1) : this.#line;
    this.#line = '';
    if (this.#state === 'trailer') this.done = line === '';
    else this.#chunkSize(line);
    return nl + 1;
  }

  #chunkSize(line: string): void {
    const semi = line.indexOf(';');
    const hex = trimOws(semi === -1 ? line : line.slice(0, semi));
    if (!/^[0-9a-fA-F]{1,12}$/.test(hex)) throw new HttpError(400, `malformed chunk size ${JSON.stringify(line.slice(0, 40))}`);
    this.#left = parseInt(hex, 16);
    this.#state = this.#left === 0 ? 'trailer' : 'data';
  }
}
