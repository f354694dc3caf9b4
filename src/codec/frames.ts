/**
 * Streamed request bodies between tsgi's --http router and its workers: a framing of tsgi's own,
 * accepted only on the router's internal socket.
 *
 * A uwsgi packet says CONTENT_LENGTH before the body, so a body of unknown length (a chunked
 * upload) would have to be read whole before the worker sees a byte. For such a body the router
 * sends the var `TSGI_BODY=chunked` (and an empty CONTENT_LENGTH) and, after the vars block, the
 * body as frames:
 *
 *     u32 LE length ≥ 1, then that many body bytes     (a piece of the body, as it came)
 *     …
 *     u32 LE 0                                         (the end of the body; nothing follows)
 *
 * The decoder hands body bytes on as they arrive, also from a frame not yet whole: it keeps at
 * most the 3 bytes of a split length, whatever the frame sizes. On any other socket (a --socket
 * nginx talks to) the var is an ordinary var and CONTENT_LENGTH frames the body, as in uwsgi: a
 * var nginx's config could add never switches a public socket to this framing.
 */

/** The var that announces framed body pieces instead of CONTENT_LENGTH bytes, and its one value. */
export const STREAMED_BODY_VAR = 'TSGI_BODY';
export const STREAMED_BODY = 'chunked';

/** The frame that ends a body. */
export const LAST_FRAME: Uint8Array = new Uint8Array(4);

/** The 4-byte head of a frame of `length` bytes (1 … 2^32 - 1). */
export function frameHead(length: number): Uint8Array {
  if (!Number.isInteger(length) || length < 1 || length > 0xffffffff) throw new RangeError(`a body frame of ${length} bytes`);
  return new Uint8Array([length & 255, (length >>> 8) & 255, (length >>> 16) & 255, length >>> 24]);
}

export interface FrameHandlers {
  /** Body bytes (subarrays of pushed chunks), in order. */
  onData(chunk: Uint8Array): void;
  /** Once, at the end frame. */
  onEnd(): void;
}

/** Frames in any chunking → body bytes, then the end. */
export class FrameDecoder {
  private readonly handlers: FrameHandlers;
  /** Bytes still to come of the current frame's data (0: a length is next). */
  private left = 0;
  /** Bytes of a length read so far, and their value. */
  private lengthBytes = 0;
  private length = 0;
  private ended = false;

  constructor(handlers: FrameHandlers) {
    this.handlers = handlers;
  }

  /** The end frame has come. */
  get done(): boolean {
    return this.ended;
  }

  /** Where a stream that stops now was cut, for an error line. */
  get cut(): string {
    return this.left > 0 ? `${this.left} bytes short of a frame's end` : this.lengthBytes > 0 ? 'inside a frame length' : 'before the end frame';
  }

  /**
   * Bytes from the peer; the decoder keeps (subarrays of) them. Returns how many belong to the
   * body: all of them, or up to the end frame's last byte (what follows is not the body's).
   */
  push(chunk: Uint8Array): number {
    let off = 0;
    const n = chunk.length;
    while (off < n && !this.ended) {
      if (this.left > 0) {
        const take = Math.min(this.left, n - off);
        this.left -= take;
        this.handlers.onData(off === 0 && take === n ? chunk : chunk.subarray(off, off + take));
        off += take;
        continue;
      }
      this.length += chunk[off++] * 2 ** (8 * this.lengthBytes);
      if (++this.lengthBytes < 4) continue;
      this.left = this.length;
      this.lengthBytes = 0;
      this.length = 0;
      if (this.left === 0) {
        this.ended = true;
        this.handlers.onEnd();
      }
    }
    return off;
  }
}

/**
 * The var by which tsgi's router asks for a connection kept open (its one value "1"), on the
 * internal socket only (src/worker/internal.ts): the worker frames its answer (Content-Length or
 * chunked), says `connection: close` when it will not take another request, and otherwise
 * reads the next packet on the same connection.
 */
export const KEEP_CONNECTION_VAR = 'TSGI_KEEP';
