/**
 * Bytes from a Conn become a body stream: a request body in a worker (uwsgi, HTTP/1.1, …), or
 * the worker's answer body in the router. The protocol's decoder pushes the body bytes it finds;
 * the app (or the runtime's HTTP server) reads them from `stream()` with backpressure: above the
 * high-water mark the Conn is paused, and a read resumes it.
 */
import type { Conn } from '../../runtimes/types.ts';
import { concatBytes } from '../codec/index.ts';

/** Bytes a body stream holds before the Conn is paused. */
const HIGH_WATER = 64 * 1024;

export interface BodyOptions {
  /** Nothing is wanted from the start (GET, HEAD): bytes are read and dropped. */
  dropping?: boolean;
  /**
   * The reader cancelled the stream. Default: keep reading the rest and drop it (a request
   * body: the peer must be able to finish sending). The router's answer body closes instead.
   */
  onCancel?: () => void;
}

/** What a body stream steers on its connection. */
export type Flow = Pick<Conn, 'pause' | 'resume'>;

export class BodyStream {
  readonly #conn: Flow;
  readonly #onCancel: (() => void) | undefined;
  #early: Uint8Array[] = [];
  #earlyBytes = 0;
  #controller: ReadableStreamDefaultController<Uint8Array> | null = null;
  #dropping: boolean;
  #done = false;
  /** Ended, failed or gone: nothing more will come. */
  #over = false;
  #wake: (() => void) | null = null;

  constructor(conn: Flow, options: BodyOptions = {}) {
    this.#conn = conn;
    this.#dropping = options.dropping ?? false;
    this.#onCancel = options.onCancel;
  }

  /** The whole body has been read from the Conn. */
  get done(): boolean {
    return this.#done;
  }

  /** Body bytes from the decoder: to the reader, held until there is one, or dropped. */
  push(chunk: Uint8Array): void {
    if (this.#dropping) return;
    const c = this.#controller;
    if (c === null) {
      this.#early.push(chunk);
      this.#earlyBytes += chunk.length;
      return;
    }
    c.enqueue(chunk);
    if ((c.desiredSize ?? 0) <= 0) this.#conn.pause();
  }

  /** The last body byte has come. */
  end(): void {
    this.#done = true;
    this.#controller?.close();
    this.#controller = null;
    this.#finish();
  }

  /**
   * The body will not come whole (a broken body, a closed connection): the reader fails with
   * `error` (a message: an Error made only if a reader is there to get it).
   */
  fail(error: Error | string): void {
    this.#error(error);
    this.#finish();
  }

  /**
   * The body is refused (it grew past --limit-post): the reader fails with `error`, and the rest
   * is read and dropped — drain() still waits for its end.
   */
  refuse(error: Error | string): void {
    this.#error(error);
    this.drop();
  }

  /** Read the rest and throw it away (the answer does not want it). */
  drop(): void {
    this.#dropping = true;
    this.#early = [];
    this.#conn.resume();
  }

  /**
   * The body for the app: the bytes themselves when they are all here already (much faster to
   * read than a stream), else a stream that starts with the bytes that came early.
   */
  take(): Uint8Array<ArrayBuffer> | ReadableStream<Uint8Array> {
    const early = this.#early;
    this.#early = [];
    if (this.#done) return (early.length === 1 ? early[0] : concatBytes(early, this.#earlyBytes)) as Uint8Array<ArrayBuffer>;
    return new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          this.#controller = controller;
          for (const c of early) controller.enqueue(c);
        },
        pull: () => this.#conn.resume(),
        cancel: () => this.#cancelled(),
      },
      { highWaterMark: HIGH_WATER, size: (c) => c.byteLength },
    );
  }

  /**
   * Drop the rest if the answer leaves the body alone — not read, not locked, not streamed back —
   * so that neither side waits on the other (nginx sends the whole body before it reads) and
   * closing never meets unread bytes, which would reset the connection under the answer.
   */
  dropIfUntouched(req: Request, res: Response): void {
    if (this.#done) return;
    if (req.body === null || (!req.bodyUsed && !req.body.locked && res.body !== req.body)) this.drop();
  }

  /** Drop the rest, and resolve once it has been read (or will never be), or after `ms`. */
  drain(ms: number): Promise<void> {
    if (this.#over) return Promise.resolve();
    this.drop();
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.#wake?.(), ms);
      this.#wake = () => {
        clearTimeout(timer);
        this.#wake = null;
        resolve();
      };
    });
  }

  #error(error: Error | string): void {
    this.#controller?.error(typeof error === 'string' ? new Error(error) : error);
    this.#controller = null;
  }

  #cancelled(): void {
    this.#controller = null;
    if (this.#onCancel) {
      this.#dropping = true;
      this.#onCancel();
    } else this.drop();
  }

  #finish(): void {
    this.#over = true;
    this.#wake?.();
  }
}
