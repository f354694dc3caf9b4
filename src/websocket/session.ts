/**
 * One WebSocket the app accepted: the portable `ws` object its handlers get (ServerWebSocket),
 * and the session its transport — tsgi's codec over a Conn, or the runtime's own server — tells
 * what happens (runtimes/types.ts WebSocketSession). Nothing here knows which transport it is.
 */
import type { WebSocketSession, WebSocketTransport } from '../../runtimes/types.ts';
import { WS_CLOSE } from '../codec/websocket.ts';
import { describeError, log } from '../log.ts';

/** readyState values, as the browser's WebSocket has them. */
export const WS_STATE = { connecting: 0, open: 1, closing: 2, closed: 3 } as const;

/** What the app's handlers are called with (all optional). */
export interface WebSocketHandlers<T = unknown> {
  open?(ws: ServerWebSocket<T>): void | Promise<void>;
  /** A whole message: text as a string, binary as a Uint8Array. */
  message?(ws: ServerWebSocket<T>, data: string | Uint8Array): void | Promise<void>;
  /** The send queue went below its high-water mark after send() returned -1. */
  drain?(ws: ServerWebSocket<T>): void;
  /** The WebSocket closed: the peer's (or tsgi's) close code, 1006 when it went without one. */
  close?(ws: ServerWebSocket<T>, code: number, reason: string): void;
}

export interface UpgradeOptions<T = unknown> {
  /** Per-connection data, as ws.data. */
  data?: T;
  /** The subprotocol to answer with (one the client offered in Sec-WebSocket-Protocol). */
  protocol?: string;
}

/** How a session's end is counted and logged (the core's counters, src/worker/counters.ts). */
export type SessionClosed = (end: { code: number; received: number; sent: number }) => void;

const encoder = new TextEncoder();

/** Bytes of a message: a string's UTF-8 length, counted without encoding it. */
export function byteLength(data: string | Uint8Array): number {
  if (typeof data !== 'string') return data.length;
  let n = 0;
  for (let i = 0; i < data.length; i++) {
    const c = data.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < data.length) {
      n += 4; // a surrogate pair
      i++;
    } else n += 3;
  }
  return n;
}

/** The `ws` an app's handlers get: send, close, ping, backpressure, and what the upgrade request said. */
export class ServerWebSocket<T = unknown> {
  /** Per-connection data (the upgrade's options.data). */
  data: T;
  /** The upgrade request: its URL, Origin, cookies. */
  readonly request: Request;
  readonly protocol: string;
  #session: Session<T>;

  constructor(session: Session<T>, request: Request, data: T, protocol: string) {
    this.#session = session;
    this.request = request;
    this.data = data;
    this.protocol = protocol;
  }

  /** The client's address ("" for a UNIX socket peer). */
  get remoteAddress(): string {
    return this.#session.remoteAddress;
  }

  /** 0 connecting, 1 open, 2 closing, 3 closed. */
  get readyState(): number {
    return this.#session.state;
  }

  /** Bytes queued for the client and not yet sent. */
  get bufferedAmount(): number {
    return this.#session.transport?.bufferedAmount ?? 0;
  }

  /**
   * Send a message (a string as text, bytes as binary): the bytes queued; -1 when the queue is
   * above its high-water mark (the message is queued: wait for the drain handler before more);
   * 0 when the WebSocket is not open.
   */
  send(data: string | ArrayBuffer | ArrayBufferView): number {
    return this.#session.send(typeof data === 'string' ? data : bytesOf(data));
  }

  /** Start the close handshake (code 1000 or 3000–4999; reason: 123 bytes of UTF-8 at most). */
  close(code: number = WS_CLOSE.normal, reason = ''): void {
    this.#session.close(code, reason);
  }

  ping(data: string | ArrayBuffer | ArrayBufferView = new Uint8Array(0)): void {
    this.#session.transport?.ping(typeof data === 'string' ? encoder.encode(data) : bytesOf(data));
  }
}

function bytesOf(data: ArrayBuffer | ArrayBufferView): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return new Uint8Array(data);
}

/** One accepted WebSocket, from the app's answer to its close. */
export class Session<T = unknown> implements WebSocketSession {
  readonly key: string;
  readonly protocol: string;
  readonly ws: ServerWebSocket<T>;
  readonly #handlers: WebSocketHandlers<T>;
  transport: WebSocketTransport | null = null;
  state: number = WS_STATE.connecting;
  remoteAddress = '';
  #onClosed: SessionClosed | null = null;
  #received = 0;
  #sent = 0;
  /** goAway() came before the handshake was done: close once it is. */
  #leaving = false;

  constructor(req: Request, handlers: WebSocketHandlers<T>, options: UpgradeOptions<T>) {
    this.key = (req.headers.get('sec-websocket-key') ?? '').trim();
    this.protocol = options.protocol ?? '';
    this.#handlers = handlers;
    this.ws = new ServerWebSocket<T>(this, req, options.data as T, this.protocol);
  }

  /** A front door took the session: who the client is, and how its end is counted. */
  attach(remoteAddress: string, onClosed: SessionClosed | null): void {
    this.remoteAddress = remoteAddress;
    this.#onClosed = onClosed;
  }

  opened(transport: WebSocketTransport): void {
    this.transport = transport;
    this.state = WS_STATE.open;
    this.#call('open', () => this.#handlers.open?.(this.ws));
    if (this.#leaving) this.goAway();
  }

  message(data: string | Uint8Array): Promise<void> | undefined {
    this.#received += byteLength(data);
    return this.#call('message', () => this.#handlers.message?.(this.ws, data));
  }

  drained(): void {
    this.#call('drain', () => this.#handlers.drain?.(this.ws));
  }

  closed(code: number, reason: string): void {
    if (this.state === WS_STATE.closed) return;
    this.state = WS_STATE.closed;
    this.#call('close', () => this.#handlers.close?.(this.ws, code, reason));
    this.#onClosed?.({ code, received: this.#received, sent: this.#sent });
  }

  send(data: string | Uint8Array): number {
    if (this.state !== WS_STATE.open || this.transport === null) return 0;
    const n = this.transport.send(data);
    this.#sent += byteLength(data);
    return n;
  }

  close(code: number, reason: string): void {
    if (this.state !== WS_STATE.open || this.transport === null) return;
    this.state = WS_STATE.closing;
    this.transport.close(code, reason);
  }

  /** The worker stops (reload, recycle, SIGTERM): the client is to reconnect elsewhere. */
  goAway(): void {
    this.#leaving = true;
    this.close(WS_CLOSE.goingAway, 'server going away');
  }

  /** Run a handler; one that throws or rejects is logged and closes the WebSocket with 1011. */
  #call(name: string, f: () => void | Promise<void>): Promise<void> | undefined {
    const fail = (e: unknown) => {
      log(`tsgi: WebSocket ${name} handler of ${new URL(this.ws.request.url).pathname} failed: ${describeError(e)}`);
      this.close(WS_CLOSE.serverError, 'server error');
    };
    try {
      const out = f();
      return out instanceof Promise ? out.catch(fail) : undefined;
    } catch (e) {
      fail(e);
      return undefined;
    }
  }
}
