/**
 * A WebSocket over a raw connection (Conn) with tsgi's own codec (src/codec/websocket.ts): after
 * the app accepted the upgrade on tsgi's HTTP/1.1 server, on the worker's internal uwsgi socket
 * the --http router talks to, or on node:http's 'upgrade' event. It writes the 101 head, then
 * frames both ways:
 *
 * - backpressure: send() returns -1 once the Conn is above its high-water mark, and the app's
 *   drain handler runs when it is below again; reading stops while many of the app's message
 *   handlers are still pending (their promises), so a slow app slows its client;
 * - a ping every --websockets-ping-freq, and the connection closed when no pong comes within
 *   --websockets-pong-tolerance;
 * - a message above --websockets-max-size closes with 1009, an invalid frame with 1002, text
 *   that is not UTF-8 with 1007;
 * - the close handshake: a peer's close frame is answered with the same code; after ours, the
 *   peer has CLOSE_WAIT_MS to answer (or, after a protocol error, to close) before the connection
 *   is dropped.
 */
import type { Conn, WebSocketSession, WebSocketTransport } from '../../runtimes/types.ts';
import { encodeClosePayload, encodeFrame, WebSocketDecoder, WebSocketError, webSocketAccept, WS_CLOSE, WS_OPCODE } from '../codec/websocket.ts';
import { describePeer, log } from '../log.ts';
import type { WebSocketLimits } from '../master/protocol.ts';

/** How long the peer may take to answer our close frame. */
const CLOSE_WAIT_MS = 5000;
/** Reading stops while this many of the app's message handlers are pending, and resumes at half. */
const MAX_PENDING_HANDLERS = 64;

const encoder = new TextEncoder();

type State = 'opening' | 'open' | 'closing' | 'closed';

export class WebSocketConnection implements WebSocketTransport {
  readonly #conn: Conn;
  readonly #session: WebSocketSession;
  readonly #limits: WebSocketLimits;
  readonly #decoder: WebSocketDecoder;
  #state: State = 'opening';
  /** Bytes written since the Conn went above its high-water mark (0: below it). */
  #queued = 0;
  #backedUp = false;
  #handlersPending = 0;
  #pausedForHandlers = false;
  #closeSent = 0;
  #pingTimer: ReturnType<typeof setInterval> | undefined;
  #pongTimer: ReturnType<typeof setTimeout> | undefined;
  #closeTimer: ReturnType<typeof setTimeout> | undefined;

  /** Take over `conn` for `session`: `head` holds the bytes read past the upgrade request. */
  static start(conn: Conn, session: WebSocketSession, limits: WebSocketLimits, head: Uint8Array): WebSocketConnection {
    return new WebSocketConnection(conn, session, limits, head);
  }

  private constructor(conn: Conn, session: WebSocketSession, limits: WebSocketLimits, head: Uint8Array) {
    this.#conn = conn;
    this.#session = session;
    this.#limits = limits;
    this.#decoder = new WebSocketDecoder(
      {
        message: (data) => this.#message(data),
        ping: (payload) => this.#write(WS_OPCODE.pong, payload),
        pong: () => this.#pong(),
        close: (code, reason) => this.#peerClosed(code, reason),
      },
      { maxMessage: limits.maxMessage },
    );
    conn.pause();
    conn.onData = (chunk) => this.#onData(chunk);
    conn.onEnd = () => this.#onEnd();
    conn.onClose = () => this.#finish(this.#closeSent || WS_CLOSE.abnormal, '');
    void this.#open(head);
  }

  get bufferedAmount(): number {
    return this.#queued;
  }

  send(data: string | Uint8Array): number {
    if (this.#state !== 'open') return 0;
    const text = typeof data === 'string';
    const n = this.#write(text ? WS_OPCODE.text : WS_OPCODE.binary, text ? encoder.encode(data) : data);
    return this.#backedUp ? -1 : n;
  }

  ping(data: Uint8Array): void {
    if (this.#state === 'open') this.#write(WS_OPCODE.ping, data.subarray(0, 125));
  }

  close(code: number, reason: string): void {
    if (this.#closeSent !== 0 || this.#state === 'closed') return;
    this.#closeSent = code;
    this.#state = 'closing';
    this.#write(WS_OPCODE.close, encodeClosePayload(code, reason));
    this.#closeTimer = setTimeout(() => this.#conn.destroy(), CLOSE_WAIT_MS);
  }

  async #open(head: Uint8Array): Promise<void> {
    const accept = await webSocketAccept(this.#session.key);
    if (this.#state !== 'opening') return;
    const protocol = this.#session.protocol ? `sec-websocket-protocol: ${this.#session.protocol}\r\n` : '';
    this.#conn.write(
      encoder.encode(`HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: ${accept}\r\n${protocol}\r\n`),
    );
    this.#state = 'open';
    this.#session.opened(this);
    if (this.#limits.pingMs > 0) this.#pingTimer = setInterval(() => this.#pingNow(), this.#limits.pingMs);
    if (head.length > 0) this.#onData(head);
    if (!this.#pausedForHandlers) this.#conn.resume();
  }

  /** Write one frame; returns its size. */
  #write(opcode: number, payload: Uint8Array): number {
    const frame = encodeFrame(opcode, payload);
    const below = this.#conn.write(frame);
    if (this.#backedUp) this.#queued += frame.length;
    else if (!below) this.#backUp(frame.length);
    return frame.length;
  }

  #backUp(n: number): void {
    this.#backedUp = true;
    this.#queued = n;
    void this.#conn.drained().then(() => {
      this.#backedUp = false;
      this.#queued = 0;
      if (this.#state === 'open') this.#session.drained();
    });
  }

  #onData(chunk: Uint8Array): void {
    if (this.#state === 'closed') return;
    try {
      this.#decoder.push(chunk);
    } catch (e) {
      if (!(e instanceof WebSocketError)) throw e;
      log(
        `tsgi: WebSocket from ${describePeer({ address: this.#conn.remoteAddress, port: this.#conn.remotePort })}: ${e.message} (closing with ${e.closeCode})`,
      );
      this.#failWith(e.closeCode, e.message);
    }
  }

  /**
   * The peer broke the protocol: our close frame, then the end. What the peer still sends (the
   * rest of an oversized message) is read and dropped until it closes, CLOSE_WAIT_MS at most:
   * closing over unread bytes would reset the connection, and the peer could lose the close frame.
   */
  #failWith(code: number, reason: string): void {
    if (this.#closeSent === 0) this.#write(WS_OPCODE.close, encodeClosePayload(code, reason));
    this.#closeSent = code;
    this.#finish(code, reason);
    const conn = this.#conn;
    const cap = setTimeout(() => conn.destroy(), CLOSE_WAIT_MS);
    conn.onData = () => {};
    conn.onEnd = () => {
      clearTimeout(cap);
      conn.end();
    };
    conn.onClose = () => clearTimeout(cap);
    conn.closeWrite();
    conn.resume();
  }

  #message(data: string | Uint8Array): void {
    if (this.#state !== 'open') return;
    const pending = this.#session.message(data);
    if (pending === undefined) return;
    this.#handlersPending++;
    if (this.#handlersPending >= MAX_PENDING_HANDLERS && !this.#pausedForHandlers) {
      this.#pausedForHandlers = true;
      this.#conn.pause();
    }
    void pending.finally(() => {
      this.#handlersPending--;
      if (this.#pausedForHandlers && this.#handlersPending <= MAX_PENDING_HANDLERS / 2) {
        this.#pausedForHandlers = false;
        this.#conn.resume();
      }
    });
  }

  #pingNow(): void {
    if (this.#pongTimer !== undefined || this.#state !== 'open') return;
    this.#write(WS_OPCODE.ping, new Uint8Array(0));
    this.#pongTimer = setTimeout(() => {
      log(
        `tsgi: WebSocket from ${describePeer({ address: this.#conn.remoteAddress, port: this.#conn.remotePort })}: no pong within --websockets-pong-tolerance ${this.#limits.pongMs / 1000} s: closing`,
      );
      this.#finish(WS_CLOSE.abnormal, 'no pong');
      this.#conn.destroy();
    }, this.#limits.pongMs);
  }

  #pong(): void {
    clearTimeout(this.#pongTimer);
    this.#pongTimer = undefined;
  }

  /** The peer's close frame: answered with the same code (unless we sent ours first), then the end. */
  #peerClosed(code: number, reason: string): void {
    if (this.#closeSent === 0) this.#write(WS_OPCODE.close, encodeClosePayload(code, reason));
    this.#finish(code, reason);
    this.#conn.end();
  }

  /** The peer sent its FIN without a close frame. */
  #onEnd(): void {
    this.#finish(this.#closeSent || WS_CLOSE.abnormal, '');
    this.#conn.end();
  }

  #finish(code: number, reason: string): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    clearInterval(this.#pingTimer);
    clearTimeout(this.#pongTimer);
    clearTimeout(this.#closeTimer);
    this.#session.closed(code, reason);
  }
}
