/**
 * The incremental uwsgi request decoder: bytes in any chunking (one at a time too) → the head
 * and vars, then exactly CONTENT_LENGTH body bytes. It never waits for the end of the stream:
 * nginx keeps its side open.
 */
import { MAX_VARS_SIZE, type PacketHead, UwsgiProtocolError, type UwsgiVars } from './types.ts';
import { latin1 } from './vars.ts';

export interface DecoderHandlers {
  /** Once, when the whole vars block is in. */
  onHead(head: PacketHead, vars: UwsgiVars, contentLength: number): void;
  /** Body bytes (subarrays of pushed chunks); exactly contentLength in all. */
  onBody(chunk: Uint8Array): void;
  /** Once, right after the last body byte (right after onHead when there is no body). */
  onBodyEnd(): void;
  /** At most once; the decoder ignores input after it. */
  onError(error: UwsgiProtocolError): void;
}

/** First four bytes of the HTTP methods a misdirected HTTP client would send. */
const HTTP_STARTS = new Set(['GET ', 'POST', 'HEAD', 'PUT ', 'DELE', 'OPTI', 'PATC', 'CONN', 'TRAC', 'PRI ']);

export class UwsgiDecoder {
  state: 'head' | 'vars' | 'body' | 'done' | 'error' = 'head';
  private readonly bufferSize: number;
  /** Header and vars bytes gathered so far (only while they arrive split). */
  private pending: Uint8Array | null = null;
  private head: PacketHead | null = null;
  private remaining = 0;

  constructor(
    private readonly handlers: DecoderHandlers,
    options: { bufferSize?: number } = {},
  ) {
    this.bufferSize = Math.min(options.bufferSize ?? MAX_VARS_SIZE, MAX_VARS_SIZE);
  }

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    if (this.state === 'body') return this.body(chunk);
    if (this.state !== 'head' && this.state !== 'vars') return;
    // Gather until the 4-byte header, then until the whole vars block, is in.
    let buf = chunk;
    if (this.pending) {
      buf = new Uint8Array(this.pending.length + chunk.length);
      buf.set(this.pending, 0);
      buf.set(chunk, this.pending.length);
      this.pending = null;
    }
    if (this.state === 'head') {
      if (buf.length < 4) {
        this.pending = buf;
        return;
      }
      if (!this.readHead(buf)) return;
      this.state = 'vars';
    }
    const size = (this.head as PacketHead).size;
    if (buf.length < 4 + size) {
      this.pending = buf;
      return;
    }
    if (!this.readVars(buf, size)) return;
    if ((this.state as string) === 'body' && buf.length > 4 + size) this.body(buf.subarray(4 + size));
  }

  end(): void {
    if (this.state === 'head' || this.state === 'vars') {
      const got = this.pending?.length ?? 0;
      const want = this.head ? `${4 + this.head.size}` : 'at least 4';
      this.fail(new UwsgiProtocolError('truncated-header', `connection closed after ${got} of ${want} header bytes`));
    } else if (this.state === 'body') {
      this.fail(new UwsgiProtocolError('truncated-body', `connection closed with ${this.remaining} body bytes missing (CONTENT_LENGTH)`));
    }
  }

  private readHead(buf: Uint8Array): boolean {
    const m1 = buf[0];
    const size = buf[1] | (buf[2] << 8);
    const m2 = buf[3];
    if (m1 >= 0x41 && m1 <= 0x5a && HTTP_STARTS.has(latin1(buf, 0, 4))) {
      return this.fail(
        new UwsgiProtocolError('looks-like-http', 'an HTTP request came to a uwsgi socket: HTTP clients need --http-socket or --http'),
      );
    }
    if (m1 !== 0) {
      return this.fail(new UwsgiProtocolError('unsupported-modifier', `unsupported modifier1 ${m1} (tsgi serves modifier1 0, a vars block)`));
    }
    if (size > this.bufferSize) {
      return this.fail(
        new UwsgiProtocolError(
          'block-too-large',
          `invalid request block size: ${size} (max ${this.bufferSize}); raise --buffer-size (at most ${MAX_VARS_SIZE})`,
          size,
          this.bufferSize,
        ),
      );
    }
    this.head = { modifier1: m1, size, modifier2: m2 };
    return true;
  }

  private readVars(buf: Uint8Array, size: number): boolean {
    const vars: UwsgiVars = [];
    const end = 4 + size;
    let o = 4;
    let contentLength = '';
    while (o < end) {
      if (o + 2 > end) return this.badVars(o, 'a key length');
      const kl = buf[o] | (buf[o + 1] << 8);
      o += 2;
      if (o + kl > end) return this.badVars(o, `a key of ${kl} bytes`);
      const key = latin1(buf, o, o + kl);
      o += kl;
      if (o + 2 > end) return this.badVars(o, `the value length of ${key}`);
      const vl = buf[o] | (buf[o + 1] << 8);
      o += 2;
      if (o + vl > end) return this.badVars(o, `a value of ${vl} bytes for ${key}`);
      const value = latin1(buf, o, o + vl);
      o += vl;
      vars.push([key, value]);
      if (key === 'CONTENT_LENGTH') contentLength = value;
    }
    let length = 0;
    if (contentLength !== '') {
      for (let i = 0; i < contentLength.length; i++) {
        const c = contentLength.charCodeAt(i);
        if (c < 0x30 || c > 0x39) {
          return this.fail(new UwsgiProtocolError('bad-content-length', `CONTENT_LENGTH ${JSON.stringify(contentLength.slice(0, 40))} is not a number`));
        }
      }
      length = Number(contentLength);
      if (!Number.isSafeInteger(length)) {
        return this.fail(new UwsgiProtocolError('bad-content-length', `CONTENT_LENGTH ${contentLength.slice(0, 40)} is too large`));
      }
    }
    this.remaining = length;
    this.state = length > 0 ? 'body' : 'done';
    this.handlers.onHead(this.head as PacketHead, vars, length);
    if (length === 0 && this.state === 'done') this.handlers.onBodyEnd();
    return true;
  }

  private body(chunk: Uint8Array): void {
    if (chunk.length > this.remaining) chunk = chunk.subarray(0, this.remaining);
    this.remaining -= chunk.length;
    if (this.remaining === 0) this.state = 'done';
    this.handlers.onBody(chunk);
    if (this.remaining === 0) this.handlers.onBodyEnd();
  }

  private badVars(offset: number, what: string): false {
    return this.fail(new UwsgiProtocolError('bad-vars', `malformed vars block: ${what} at offset ${offset} runs past the block's end`));
  }

  private fail(error: UwsgiProtocolError): false {
    if (this.state === 'error') return false;
    this.state = 'error';
    this.pending = null;
    this.handlers.onError(error);
    return false;
  }
}
