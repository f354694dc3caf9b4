/**
 * The SCGI request codec (https://python.ca/scgi/protocol.txt), pure TypeScript.
 *
 * A request: a netstring header — the decimal length, `:`, that many bytes of `NAME\0VALUE\0`
 * pairs, `,` — whose first pair is CONTENT_LENGTH and which holds `SCGI=1`, then exactly
 * CONTENT_LENGTH body bytes. The vars come out as the uwsgi decoder gives them (UwsgiVars, byte
 * strings), so one mapping (varsToRequest) builds the Request for both protocols. The answer is
 * a CGI-style head (`Status: 200 OK`, encodeResponseHead with `cgi`) and the body; the server
 * closes to end it.
 *
 * Incremental: bytes in any chunking (one at a time too). The header is parsed in place when it
 * arrives whole in one chunk, else gathered once into a buffer of the announced size; body
 * chunks are handed on as subarrays of pushed chunks. It never waits for the end of the stream.
 */
import { latin1, latin1Key } from './bytes.ts';
import { show } from './decoder.ts';
import { CodecError, type UwsgiVars } from './types.ts';

export type ScgiErrorCode =
  | 'looks-like-http'
  | 'bad-netstring'
  | 'header-too-large'
  | 'bad-header'
  | 'bad-content-length'
  | 'not-scgi'
  | 'truncated-header'
  | 'truncated-body';

/** A request that is not valid SCGI. The message is written for the server's log. */
export class ScgiProtocolError extends CodecError<ScgiErrorCode> {
  override name = 'ScgiProtocolError';
}

export interface ScgiHandlers {
  /** Once, when the whole header is in: `size` is the netstring's length (the pairs' bytes). */
  onHead(head: { size: number }, vars: UwsgiVars, contentLength: number): void;
  /** Body bytes (subarrays of pushed chunks); exactly contentLength in all. */
  onBody(chunk: Uint8Array): void;
  /** Once, right after the last body byte (right after onHead when there is no body). */
  onBodyEnd(): void;
  /** At most once; the decoder ignores input after it. */
  onError(error: ScgiProtocolError): void;
}

export type ScgiState = 'length' | 'header' | 'body' | 'done' | 'error';

const COLON = 0x3a;
const COMMA = 0x2c;
const isDigit = (c: number) => c >= 0x30 && c <= 0x39;
const isUpper = (c: number) => c >= 0x41 && c <= 0x5a;

export class ScgiDecoder {
  readonly #handlers: ScgiHandlers;
  readonly #bufferSize: number;
  #st: ScgiState = 'length';
  /** The netstring's length, as its digits come; then the header's size. */
  #size = 0;
  #digits = 0;
  /** The header and its `,` when they arrive split. */
  #block: Uint8Array | null = null;
  #have = 0;
  /** Body bytes still to come. */
  #remaining = 0;

  /** `bufferSize`: the largest header accepted, in bytes (--buffer-size). */
  constructor(handlers: ScgiHandlers, options: { bufferSize: number }) {
    this.#handlers = handlers;
    this.#bufferSize = options.bufferSize;
  }

  /** length → header → body → done, or error. */
  get state(): ScgiState {
    return this.#st;
  }

  /** Bytes from the peer. The decoder keeps (subarrays of) the chunk: the caller must not reuse it. */
  push(chunk: Uint8Array): void {
    let off = 0;
    if (this.#st === 'length') {
      off = this.#length(chunk);
      if (off < 0) return;
    }
    if (this.#st === 'header') {
      off = this.#header(chunk, off);
      if (off < 0) return;
    }
    if (this.#st === 'body' && off < chunk.length) this.#body(off === 0 ? chunk : chunk.subarray(off));
  }

  /** The peer closed its side. Only an error when the request is incomplete. */
  end(): void {
    if (this.#st === 'length' || this.#st === 'header') {
      const got = this.#st === 'length' ? this.#digits : this.#digits + 1 + this.#have;
      const of = this.#st === 'length' ? 'a netstring header' : `the ${this.#digits + 2 + this.#size}-byte netstring header`;
      this.#fail('truncated-header', `connection closed after ${got} bytes of ${of}`);
    } else if (this.#st === 'body') {
      this.#fail('truncated-body', `connection closed with ${this.#remaining} body bytes missing (CONTENT_LENGTH)`);
    }
  }

  /** The length digits and the `:`; returns where the header starts in `chunk`, or -1 (more to come, or failed). */
  #length(chunk: Uint8Array): number {
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i];
      if (c === COLON && this.#digits > 0) {
        this.#st = 'header';
        return i + 1;
      }
      if (!isDigit(c)) return this.#badStart(c);
      if (this.#digits === 1 && this.#size === 0) {
        this.#fail('bad-netstring', 'malformed netstring: its length has a leading zero');
        return -1;
      }
      this.#size = this.#size * 10 + (c - 0x30);
      this.#digits++;
      if (this.#size > this.#bufferSize) {
        this.#fail('header-too-large', `an SCGI header of more than ${this.#bufferSize} bytes (--buffer-size): raise --buffer-size (at most 65535)`);
        return -1;
      }
    }
    return -1;
  }

  /** Byte `c` where a length digit or its ':' belongs: -1. */
  #badStart(c: number): -1 {
    if (this.#digits === 0 && isUpper(c)) {
      this.#fail(
        'looks-like-http',
        'an HTTP request came to an SCGI socket: this is an SCGI socket (for scgi_pass or mod_proxy_scgi); HTTP clients need --http-socket or --http',
      );
      return -1;
    }
    const what = c === COLON ? "a ':' with no length before it" : `byte 0x${c.toString(16).padStart(2, '0')} where a digit or ':' belongs`;
    this.#fail('bad-netstring', `malformed netstring: ${what} (an SCGI request starts with its header's length, as in "70:")`);
    return -1;
  }

  /** Gather the header and its `,` from chunk[off…); returns where the body starts, or -1. */
  #header(chunk: Uint8Array, off: number): number {
    const need = this.#size + 1;
    let block = this.#block;
    if (block === null && chunk.length - off >= need) {
      // The usual case: the whole header is in this chunk; parse it in place.
      return this.#parse(chunk, off) ? off + need : -1;
    }
    block ??= this.#block = new Uint8Array(need);
    const take = Math.min(need - this.#have, chunk.length - off);
    block.set(chunk.subarray(off, off + take), this.#have);
    this.#have += take;
    if (this.#have < need) return -1;
    this.#block = null;
    return this.#parse(block, 0) ? off + take : -1;
  }

  /** Parse the pairs in buf[start, start + size) and check the `,` after them. */
  #parse(buf: Uint8Array, start: number): boolean {
    const end = start + this.#size;
    if (buf[end] !== COMMA) {
      return this.#fail(
        'bad-netstring',
        `malformed netstring: byte 0x${buf[end].toString(16).padStart(2, '0')} after the ${this.#size}-byte header where ',' belongs`,
      );
    }
    const vars: UwsgiVars = [];
    let o = start;
    while (o < end) {
      const nul = buf.indexOf(0, o);
      if (nul < 0 || nul >= end) return this.#fail('bad-header', `malformed SCGI header: a name with no NUL after it at offset ${o - start}`);
      const vnul = buf.indexOf(0, nul + 1);
      const name = latin1Key(buf, o, nul);
      if (vnul < 0 || vnul >= end) return this.#fail('bad-header', `malformed SCGI header: the value of ${show(name)} has no NUL after it`);
      if (nul === o) return this.#fail('bad-header', `malformed SCGI header: an empty name at offset ${o - start}`);
      vars.push([name, latin1(buf, nul + 1, vnul)]);
      o = vnul + 1;
    }
    const length = this.#check(vars);
    if (length === false) return false;
    this.#remaining = length;
    this.#st = length > 0 ? 'body' : 'done';
    this.#handlers.onHead({ size: this.#size }, vars, length);
    if (length === 0) this.#handlers.onBodyEnd();
    return true;
  }

  /** CONTENT_LENGTH first and a number, no other CONTENT_LENGTH that differs, SCGI=1: the body's length. */
  #check(vars: UwsgiVars): number | false {
    if (vars.length === 0 || vars[0][0] !== 'CONTENT_LENGTH') {
      const first = vars.length === 0 ? 'an empty header' : `${show(vars[0][0])} first`;
      return this.#fail('bad-content-length', `the SCGI header must start with CONTENT_LENGTH; it has ${first}`);
    }
    const value = vars[0][1];
    let length = 0;
    for (let i = 0; i < value.length; i++) {
      const c = value.charCodeAt(i);
      if (!isDigit(c)) return this.#fail('bad-content-length', `CONTENT_LENGTH ${show(value)} is not a number of bytes`);
      length = length * 10 + (c - 0x30);
    }
    if (value.length === 0) return this.#fail('bad-content-length', 'CONTENT_LENGTH is empty (a request with no body says 0)');
    if (length > Number.MAX_SAFE_INTEGER) return this.#fail('bad-content-length', `CONTENT_LENGTH ${show(value)} is too large`);
    let scgi: string | undefined;
    for (let i = 1; i < vars.length; i++) {
      const [k, v] = vars[i];
      if (k === 'CONTENT_LENGTH' && v !== value) return this.#fail('bad-content-length', `two different CONTENT_LENGTH values (${show(value)} and ${show(v)})`);
      if (k === 'SCGI') scgi ??= v;
    }
    if (scgi !== '1') {
      return this.#fail(
        'not-scgi',
        scgi === undefined ? 'the header has no SCGI=1 (the SCGI spec requires it)' : `SCGI ${show(scgi)}: tsgi speaks SCGI version 1`,
      );
    }
    return length;
  }

  #body(chunk: Uint8Array): void {
    if (chunk.length < this.#remaining) {
      this.#remaining -= chunk.length;
      this.#handlers.onBody(chunk);
      return;
    }
    // The last body bytes; anything after them is not ours.
    const last = chunk.length === this.#remaining ? chunk : chunk.subarray(0, this.#remaining);
    this.#remaining = 0;
    this.#st = 'done';
    this.#handlers.onBody(last);
    this.#handlers.onBodyEnd();
  }

  #fail(code: ScgiErrorCode, message: string): false {
    if (this.#st !== 'error') {
      this.#st = 'error';
      this.#block = null;
      this.#handlers.onError(new ScgiProtocolError(code, message));
    }
    return false;
  }
}
