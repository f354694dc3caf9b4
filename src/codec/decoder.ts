/**
 * The incremental uwsgi request decoder: bytes in any chunking (one at a time too) → the head
 * and vars, then exactly CONTENT_LENGTH body bytes — or, where `streamedBodies` is on (the
 * --http router's internal socket), a body in tsgi's frames when the vars say TSGI_BODY=chunked
 * (frames.ts). It never waits for the end of the stream: nginx keeps its side open.
 *
 * Copies are made only when the header or the vars block arrive split across chunks (then once,
 * into a buffer of the announced size); body chunks are handed on as subarrays of pushed chunks.
 */
import { latin1, latin1Key } from './bytes.ts';
import { FrameDecoder, STREAMED_BODY, STREAMED_BODY_VAR } from './frames.ts';
import { MAX_VARS_SIZE, type PacketHead, UwsgiProtocolError, type UwsgiVars } from './types.ts';

export interface DecoderHandlers {
  /** Once, when the whole vars block is in; contentLength null: a streamed body (frames.ts) of unknown length. */
  onHead(head: PacketHead, vars: UwsgiVars, contentLength: number | null): void;
  /** Body bytes (subarrays of pushed chunks); exactly contentLength in all. */
  onBody(chunk: Uint8Array): void;
  /** Once, right after the last body byte (right after onHead when there is no body). */
  onBodyEnd(): void;
  /** At most once; the decoder ignores input after it. */
  onError(error: UwsgiProtocolError): void;
}

export type DecoderState = 'head' | 'vars' | 'body' | 'done' | 'error';

const isUpper = (c: number) => c >= 0x41 && c <= 0x5a;

export class UwsgiDecoder {
  private readonly handlers: DecoderHandlers;
  private readonly bufferSize: number;
  private st: DecoderState = 'head';
  /** Header bytes, when the header arrives split. */
  private headBytes: Uint8Array | null = null;
  /** The vars block, when it arrives split. */
  private block: Uint8Array | null = null;
  /** Bytes gathered in headBytes or block. */
  private have = 0;
  private head: PacketHead | null = null;
  /** Body bytes still to come. */
  private remaining = 0;
  /** Take TSGI_BODY=chunked (the router's internal socket only). */
  private readonly streamedBodies: boolean;
  /** The body's frames, for a streamed body. */
  private frames: FrameDecoder | null = null;
  /** Bytes that came after the packet's end (the next request, on a connection kept open). */
  private rest: Uint8Array | null = null;

  /**
   * `bufferSize`: the largest vars block accepted (--buffer-size), at most and by default 65535.
   * `streamedBodies`: TSGI_BODY=chunked frames the body (frames.ts); off, it is an ordinary var.
   */
  constructor(handlers: DecoderHandlers, options: { bufferSize?: number; streamedBodies?: boolean } = {}) {
    this.handlers = handlers;
    this.bufferSize = Math.min(options.bufferSize ?? MAX_VARS_SIZE, MAX_VARS_SIZE);
    this.streamedBodies = options.streamedBodies ?? false;
  }

  /** head → vars → body → done, or error. */
  get state(): DecoderState {
    return this.st;
  }

  /**
   * The bytes of the last push that came after the end of the packet and its body (the next
   * request on a connection the router keeps open, src/worker/internal.ts), once; else null.
   */
  takeRest(): Uint8Array | null {
    const r = this.rest;
    this.rest = null;
    return r;
  }

  /** Bytes from the peer. The decoder keeps (subarrays of) the chunk: the caller must not reuse it. */
  push(chunk: Uint8Array): void {
    const n = chunk.length;
    if (n === 0) return;
    const st = this.st;
    if (st === 'body') return this.body(chunk);
    if (st === 'done' || st === 'error') return;
    let off = 0;
    if (st === 'head') {
      if (this.have === 0 && n >= 4) {
        if (!this.readHead(chunk, 0)) return;
        off = 4;
      } else {
        const hb = (this.headBytes ??= new Uint8Array(4));
        while (this.have < 4 && off < n) hb[this.have++] = chunk[off++];
        if (this.have < 4) return;
        this.have = 0;
        this.headBytes = null;
        if (!this.readHead(hb, 0)) return;
      }
    }
    const size = (this.head as PacketHead).size;
    let block = this.block;
    if (block === null) {
      if (n - off >= size) {
        // The usual case: the whole block is in this chunk; parse it in place.
        if (!this.readVars(chunk, off, off + size)) return;
        off += size;
      } else {
        block = this.block = new Uint8Array(size);
        block.set(off === 0 ? chunk : chunk.subarray(off));
        this.have = n - off;
        return;
      }
    } else {
      const take = Math.min(size - this.have, n - off);
      if (take < 16) for (let i = 0; i < take; i++) block[this.have + i] = chunk[off + i];
      else block.set(chunk.subarray(off, off + take), this.have);
      this.have += take;
      off += take;
      if (this.have < size) return;
      this.block = null;
      this.have = 0;
      if (!this.readVars(block, 0, size)) return;
    }
    if (off < n) {
      if (this.st === 'body') this.body(chunk.subarray(off));
      else if (this.st === 'done') this.rest = chunk.subarray(off);
    }
  }

  /** The peer closed its side. Only an error when the packet is incomplete. */
  end(): void {
    const st = this.st;
    if (st === 'head') {
      this.fail(new UwsgiProtocolError('truncated-header', `connection closed after ${this.have} of at least 4 header bytes`));
    } else if (st === 'vars') {
      const size = (this.head as PacketHead).size;
      this.fail(new UwsgiProtocolError('truncated-header', `connection closed after ${4 + this.have} of ${4 + size} header and vars bytes`));
    } else if (st === 'body' && this.frames) {
      this.fail(new UwsgiProtocolError('truncated-body', `connection closed ${this.frames.cut} (a streamed body, ${STREAMED_BODY_VAR})`));
    } else if (st === 'body') {
      this.fail(new UwsgiProtocolError('truncated-body', `connection closed with ${this.remaining} body bytes missing (CONTENT_LENGTH)`));
    }
  }

  private readHead(buf: Uint8Array, at: number): boolean {
    const m1 = buf[at];
    const size = buf[at + 1] | (buf[at + 2] << 8);
    const m2 = buf[at + 3];
    // "GET ", "POST", "PUT ", "PROPFIND"…: an HTTP request line (methods are upper case).
    if (isUpper(m1) && isUpper(buf[at + 1]) && isUpper(buf[at + 2]) && (isUpper(m2) || m2 === 0x20)) {
      return this.fail(
        new UwsgiProtocolError(
          'looks-like-http',
          `an HTTP request (${JSON.stringify(latin1(buf, at, at + 4))}…) came to a uwsgi socket: this is a uwsgi socket (for nginx's uwsgi_pass); HTTP clients need --http-socket or --http`,
        ),
      );
    }
    if (m1 !== 0) {
      const tls = m1 === 0x16 && buf[at + 1] === 0x03 ? ' (this looks like a TLS handshake)' : '';
      return this.fail(
        new UwsgiProtocolError(
          'unsupported-modifier',
          `unsupported modifier1 ${m1}${tls}: tsgi serves modifier1 0 (a vars block, as nginx's uwsgi_pass sends)`,
        ),
      );
    }
    if (size > this.bufferSize) {
      return this.fail(
        new UwsgiProtocolError(
          'block-too-large',
          `invalid request block size: ${size} (max ${this.bufferSize}); raise --buffer-size (at most ${MAX_VARS_SIZE})`,
          { size, limit: this.bufferSize },
        ),
      );
    }
    this.head = { modifier1: m1, size, modifier2: m2 };
    this.st = 'vars';
    return true;
  }

  /** Parse the vars block buf[start, end); `start` is packet offset 4. */
  private readVars(buf: Uint8Array, start: number, end: number): boolean {
    const vars: UwsgiVars = [];
    let o = start;
    let contentLength: string | undefined;
    let streamed: string | undefined;
    while (o < end) {
      if (o + 2 > end) return this.badVars(o - start + 4, 'a name length');
      const kl = buf[o] | (buf[o + 1] << 8);
      if (o + 2 + kl > end) return this.badVars(o - start + 4, `a name length of ${kl}`);
      o += 2;
      const key = latin1Key(buf, o, o + kl);
      o += kl;
      if (o + 2 > end) return this.badVars(o - start + 4, `the value length of ${key}`);
      const vl = buf[o] | (buf[o + 1] << 8);
      if (o + 2 + vl > end) return this.badVars(o - start + 4, `a value length of ${vl} for ${key}`);
      o += 2;
      const value = latin1(buf, o, o + vl);
      o += vl;
      vars.push([key, value]);
      if (key === 'CONTENT_LENGTH') {
        if (contentLength === undefined) contentLength = value;
        else if (value !== contentLength) {
          return this.fail(new UwsgiProtocolError('bad-content-length', `two different CONTENT_LENGTH vars (${show(contentLength)} and ${show(value)})`));
        }
      } else if (key === STREAMED_BODY_VAR && this.streamedBodies) streamed ??= value;
    }
    if (streamed !== undefined) return this.streamedBody(vars, streamed, contentLength);
    let length = 0;
    if (contentLength !== undefined) {
      for (let i = 0; i < contentLength.length; i++) {
        const d = contentLength.charCodeAt(i) - 0x30;
        if (d < 0 || d > 9) {
          return this.fail(new UwsgiProtocolError('bad-content-length', `CONTENT_LENGTH ${show(contentLength)} is not a number of bytes`));
        }
        length = length * 10 + d;
      }
      if (length > Number.MAX_SAFE_INTEGER) {
        return this.fail(new UwsgiProtocolError('bad-content-length', `CONTENT_LENGTH ${show(contentLength)} is too large`));
      }
    }
    this.remaining = length;
    this.st = length > 0 ? 'body' : 'done';
    this.handlers.onHead(this.head as PacketHead, vars, length);
    if (length === 0) this.handlers.onBodyEnd();
    return true;
  }

  /** TSGI_BODY on the router's internal socket: the body comes in frames. */
  private streamedBody(vars: UwsgiVars, value: string, contentLength: string | undefined): boolean {
    if (value !== STREAMED_BODY) {
      return this.fail(new UwsgiProtocolError('bad-streamed-body', `${STREAMED_BODY_VAR} ${show(value)}: the only framing is ${STREAMED_BODY}`));
    }
    if (contentLength) {
      return this.fail(new UwsgiProtocolError('bad-streamed-body', `both ${STREAMED_BODY_VAR} and CONTENT_LENGTH ${show(contentLength)}`));
    }
    this.frames = new FrameDecoder({
      onData: (chunk) => this.handlers.onBody(chunk),
      onEnd: () => {
        this.st = 'done';
        this.handlers.onBodyEnd();
      },
    });
    this.st = 'body';
    this.handlers.onHead(this.head as PacketHead, vars, null);
    return true;
  }

  private body(chunk: Uint8Array): void {
    if (this.frames) {
      const used = this.frames.push(chunk);
      if (used < chunk.length) this.rest = chunk.subarray(used);
      return;
    }
    if (chunk.length >= this.remaining) {
      // The last body bytes; anything after them is not ours.
      const last = chunk.length === this.remaining ? chunk : chunk.subarray(0, this.remaining);
      if (chunk.length > this.remaining) this.rest = chunk.subarray(this.remaining);
      this.remaining = 0;
      this.st = 'done';
      this.handlers.onBody(last);
      this.handlers.onBodyEnd();
      return;
    }
    this.remaining -= chunk.length;
    this.handlers.onBody(chunk);
  }

  private badVars(offset: number, what: string): false {
    return this.fail(new UwsgiProtocolError('bad-vars', `malformed vars block: ${what} at offset ${offset} runs past the block's end`, { offset }));
  }

  private fail(error: UwsgiProtocolError): false {
    if (this.st === 'error') return false;
    this.st = 'error';
    this.headBytes = null;
    this.block = null;
    this.handlers.onError(error);
    return false;
  }
}

/** A peer-supplied value, quoted and cut short for a log line. */
export function show(s: string): string {
  return JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}…` : s);
}
