/**
 * An in-memory Conn (runtimes/types.ts) for the protocol servers' unit tests: the test plays the
 * peer — it sends bytes, half-closes or goes — and reads what the server wrote, with no socket.
 */
import type { Conn } from '../../runtimes/types.ts';

const HIGH_WATER = 64 * 1024;

export class MemoryConn implements Conn {
  readonly remoteAddress: string;
  readonly remotePort: number;
  onData: Conn['onData'] = null;
  onEnd: Conn['onEnd'] = null;
  onClose: Conn['onClose'] = null;
  /** What the server wrote, in order. */
  readonly written: Uint8Array[] = [];
  /** The server called end() (flush, then close) or destroy() (close at once). */
  ending: 'end' | 'destroy' | null = null;
  paused = false;
  #queued = 0;
  #closed = false;
  #waiters: Array<() => void> = [];
  #changed: Array<() => void> = [];
  #inbox: Uint8Array[] = [];

  constructor(remoteAddress = '127.0.0.1', remotePort = 40000) {
    this.remoteAddress = remoteAddress;
    this.remotePort = remotePort;
  }

  // The server's side.
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    queueMicrotask(() => this.#deliver());
  }

  write(chunk: Uint8Array): boolean {
    if (this.#closed) return false;
    this.written.push(chunk.slice());
    this.#queued += chunk.length;
    this.#notify();
    return this.#queued < HIGH_WATER;
  }

  drained(): Promise<void> {
    if (this.#closed || this.#queued < HIGH_WATER) return Promise.resolve();
    return new Promise((r) => this.#waiters.push(r));
  }

  end(): void {
    this.ending ??= 'end';
    this.#close();
  }

  destroy(): void {
    this.ending ??= 'destroy';
    this.#close();
  }

  /** The server half-closed: the peer has read the end of the answer; the server may still read. */
  writeClosed = false;

  closeWrite(): void {
    this.writeClosed = true;
    this.#notify();
  }

  // The peer's side.
  /** Bytes from the peer, delivered as one onData call (held while the server has paused). */
  send(data: Uint8Array | string): void {
    this.#inbox.push(typeof data === 'string' ? new TextEncoder().encode(data) : data);
    this.#deliver();
  }

  /** The peer half-closes: it sends nothing more but still reads. */
  halfClose(): void {
    this.#inbox.push(new Uint8Array(0));
    this.#deliver();
  }

  /** The peer is gone (reset). */
  vanish(): void {
    this.#close(new Error('connection reset by peer'));
  }

  /** The peer reads everything written so far, so the server's writes may go on. */
  read(): void {
    this.#queued = 0;
    for (const f of this.#waiters.splice(0)) f();
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Everything written, as latin1 text. */
  text(): string {
    return this.written.map((c) => String.fromCharCode(...c)).join('');
  }

  /** Bytes written since the last read() — what a slow reader has not taken. */
  get unreadBytes(): number {
    return this.#queued;
  }

  /** Resolves when `test` holds, checked after each write and close (bounded by `ms`). */
  until(test: (c: MemoryConn) => boolean, ms = 5000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`MemoryConn: condition not met in ${ms} ms; written: ${JSON.stringify(this.text().slice(0, 500))}`)), ms);
      const check = () => {
        if (!test(this)) return this.#changed.push(check);
        clearTimeout(timer);
        resolve();
      };
      check();
    });
  }

  #deliver(): void {
    while (!this.paused && !this.#closed && this.#inbox.length > 0) {
      const chunk = this.#inbox.shift() as Uint8Array;
      if (chunk.length === 0) this.onEnd?.();
      else this.onData?.(chunk);
    }
  }

  #close(error?: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const f of this.#waiters.splice(0)) f();
    this.onClose?.(error);
    this.#notify();
  }

  #notify(): void {
    for (const f of this.#changed.splice(0)) f();
  }
}
