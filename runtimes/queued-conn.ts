/**
 * What the Bun and Deno connections share: the handlers, the accounting of a pending-write
 * queue (both runtimes may write part of a buffer), drain waiters, and the once-only end of
 * input and of the connection.
 */
import type { Conn } from './types.ts';

/** Above this many queued bytes, write() says wait (drained()). */
export const HIGH_WATER = 64 * 1024;

export abstract class QueuedConn implements Conn {
  onData: Conn['onData'] = null;
  onEnd: Conn['onEnd'] = null;
  onClose: Conn['onClose'] = null;
  protected queue: Uint8Array[] = [];
  protected queued = 0;
  protected ending = false;
  /** ending by closeWrite(): a FIN once the queue is out, and reading goes on. */
  protected halfClose = false;
  protected closed = false;
  protected ended = false;
  private waiters: Array<() => void> = [];

  /** The peer's address, asked of the runtime only when used (most connections never are). */
  abstract get remoteAddress(): string;
  abstract get remotePort(): number;

  abstract pause(): void;
  abstract resume(): void;
  abstract write(chunk: Uint8Array): boolean;
  abstract end(): void;
  abstract closeWrite(): void;
  abstract destroy(): void;

  drained(): Promise<void> {
    if (this.closed || this.queued < HIGH_WATER) return Promise.resolve();
    return new Promise((r) => this.waiters.push(r));
  }

  /** The peer sends nothing more. */
  inputEnded(): void {
    if (this.ended) return;
    this.ended = true;
    this.onEnd?.();
  }

  /** The connection is gone: drop the queue, wake writers, tell the handlers once. */
  protected closedBy(error?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.queue = [];
    this.queued = 0;
    this.wake();
    this.inputEnded();
    this.onClose?.(error);
  }

  protected wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}
