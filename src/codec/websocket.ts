/**
 * The WebSocket protocol (RFC 6455), pure TypeScript with web-standard APIs only: the opening
 * handshake's checks and Sec-WebSocket-Accept (WebCrypto SHA-1), an incremental frame decoder
 * for what a client sends, the frame encoder for what a server sends, and close frames.
 *
 * The decoder turns every input it cannot go on from into a WebSocketError whose closeCode is the
 * close frame to answer with: 1002 (protocol error: an unmasked client frame, RSV bits, an unknown
 * opcode, a fragmented or oversized control frame, a broken fragment sequence, a bad close
 * frame), 1007 (text or a close reason that is not UTF-8), 1009 (a message above the limit —
 * known from the frame header, before its payload is buffered).
 */
import { concatBytes } from './bytes.ts';
import { CodecError } from './types.ts';

export const WS_OPCODE = { continuation: 0, text: 1, binary: 2, close: 8, ping: 9, pong: 10 } as const;

/** The close codes tsgi sends. */
export const WS_CLOSE = {
  normal: 1000,
  goingAway: 1001,
  protocolError: 1002,
  noStatus: 1005,
  abnormal: 1006,
  badData: 1007,
  tooBig: 1009,
  serverError: 1011,
} as const;

export type WebSocketErrorCode = 'protocol' | 'bad-utf8' | 'too-big';

const CLOSE_OF: Record<WebSocketErrorCode, number> = { protocol: WS_CLOSE.protocolError, 'bad-utf8': WS_CLOSE.badData, 'too-big': WS_CLOSE.tooBig };

export class WebSocketError extends CodecError<WebSocketErrorCode> {
  override name = 'WebSocketError';
  /** The close code to answer with. */
  readonly closeCode: number;

  constructor(code: WebSocketErrorCode, message: string) {
    super(code, message);
    this.closeCode = CLOSE_OF[code];
  }
}

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const encoder = new TextEncoder();
const strict = new TextDecoder('utf-8', { fatal: true });

/** Is `key` a valid Sec-WebSocket-Key: the base64 of 16 bytes (24 chars, "==" at the end)? */
export function validWebSocketKey(key: string | null): boolean {
  return key !== null && /^[A-Za-z0-9+/]{21}[AQgw]==$/.test(key.trim());
}

/** Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key + GUID)). */
export async function webSocketAccept(key: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-1', encoder.encode(key.trim() + GUID)));
  return btoa(String.fromCharCode(...digest));
}

/**
 * Why an upgrade request cannot become a WebSocket (the 400 or 426 to answer with), or null if
 * it can: GET, `Upgrade: websocket`, `Connection: upgrade`, `Sec-WebSocket-Version: 13` and a
 * valid key.
 */
export function handshakeRefusal(method: string, headers: Headers): { status: number; why: string } | null {
  const tokens = (name: string) =>
    (headers.get(name) ?? '')
      .toLowerCase()
      .split(',')
      .map((t) => t.trim());
  if (method !== 'GET') return { status: 400, why: `a WebSocket upgrade must be a GET, not ${method}` };
  if (!tokens('upgrade').includes('websocket')) return { status: 400, why: 'no "Upgrade: websocket" header' };
  if (!tokens('connection').includes('upgrade')) return { status: 400, why: 'no "Connection: Upgrade" header' };
  if (headers.get('sec-websocket-version')?.trim() !== '13') return { status: 426, why: 'only Sec-WebSocket-Version 13 is served' };
  if (!validWebSocketKey(headers.get('sec-websocket-key'))) return { status: 400, why: 'missing or invalid Sec-WebSocket-Key (the base64 of 16 bytes)' };
  return null;
}

/** One frame: opcode, FIN and payload; `mask` (4 bytes) only for frames a client sends. */
export function encodeFrame(opcode: number, payload: Uint8Array, fin = true, mask?: Uint8Array): Uint8Array {
  const n = payload.length;
  const lengthBytes = n < 126 ? 0 : n < 65536 ? 2 : 8;
  const headLength = 2 + lengthBytes + (mask ? 4 : 0);
  const out = new Uint8Array(headLength + n);
  out[0] = (fin ? 0x80 : 0) | opcode;
  out[1] = (mask ? 0x80 : 0) | (lengthBytes === 0 ? n : lengthBytes === 2 ? 126 : 127);
  const view = new DataView(out.buffer);
  if (lengthBytes === 2) view.setUint16(2, n);
  if (lengthBytes === 8) {
    view.setUint32(2, Math.floor(n / 2 ** 32));
    view.setUint32(6, n >>> 0);
  }
  out.set(payload, headLength);
  if (mask) {
    out.set(mask, headLength - 4);
    for (let i = 0; i < n; i++) out[headLength + i] ^= mask[i & 3];
  }
  return out;
}

/** A close frame's payload: the code (u16) and a UTF-8 reason (cut to fit the 125 bytes of a control frame). */
export function encodeClosePayload(code: number, reason = ''): Uint8Array {
  if (code === WS_CLOSE.noStatus) return new Uint8Array(0);
  let text = encoder.encode(reason);
  // A fresh decoder: stream mode drops a character cut in two, and keeps no state after.
  if (text.length > 123) text = encoder.encode(new TextDecoder().decode(text.subarray(0, 123), { stream: true }));
  const out = new Uint8Array(2 + text.length);
  new DataView(out.buffer).setUint16(0, code);
  out.set(text, 2);
  return out;
}

/** Close codes a peer may send (RFC 6455 7.4; 1012–1014 registered since). */
function validCloseCode(code: number): boolean {
  return (code >= WS_CLOSE.normal && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

/** A close frame's code and reason; an empty payload is 1005 (no status). */
export function parseClosePayload(payload: Uint8Array): { code: number; reason: string } {
  if (payload.length === 0) return { code: WS_CLOSE.noStatus, reason: '' };
  if (payload.length === 1) throw new WebSocketError('protocol', 'a close frame of 1 byte (a code takes 2)');
  const code = (payload[0] << 8) | payload[1];
  if (!validCloseCode(code)) throw new WebSocketError('protocol', `close code ${code} may not be sent`);
  return { code, reason: utf8(payload.subarray(2), 'close reason') };
}

function utf8(bytes: Uint8Array, what: string): string {
  try {
    return strict.decode(bytes);
  } catch {
    throw new WebSocketError('bad-utf8', `${what} is not valid UTF-8`);
  }
}

export interface WebSocketFrameEvents {
  /** A whole message: text as a string, binary as bytes. */
  message(data: string | Uint8Array): void;
  ping(payload: Uint8Array): void;
  pong(payload: Uint8Array): void;
  close(code: number, reason: string): void;
}

export interface WebSocketDecoderOptions {
  /** Largest message, fragments together, in bytes (0: no limit). */
  maxMessage: number;
}

/** The frame being read: its header is in, `left` payload bytes are still to come. */
interface Frame {
  opcode: number;
  fin: boolean;
  mask: Uint8Array;
  left: number;
  /** Payload bytes unmasked so far (the mask's phase). */
  done: number;
  parts: Uint8Array[];
}

/**
 * What a client sends, decoded as it arrives in chunks of any size. Every frame must be masked.
 * push() throws a WebSocketError on the first input it cannot go on from; nothing after counts.
 */
export class WebSocketDecoder {
  readonly #events: WebSocketFrameEvents;
  readonly #max: number;
  /** Header bytes held until a whole header is in. */
  #head: Uint8Array | null = null;
  #frame: Frame | null = null;
  /** The data message being assembled from fragments: its opcode (0: none) and parts. */
  #messageOpcode = 0;
  #message: Uint8Array[] = [];
  #messageSize = 0;
  #closed = false;

  constructor(events: WebSocketFrameEvents, options: WebSocketDecoderOptions) {
    this.#events = events;
    this.#max = options.maxMessage;
  }

  push(chunk: Uint8Array): void {
    let b = chunk;
    while (b.length > 0 && !this.#closed) {
      if (this.#frame === null) {
        if (this.#head !== null) b = concatBytes([this.#head, b]);
        const used = this.#readHead(b);
        if (used === 0) {
          this.#head = b.slice();
          return;
        }
        this.#head = null;
        b = b.subarray(used);
        if ((this.#frame as Frame | null)?.left === 0) this.#frameDone();
        continue;
      }
      b = b.subarray(this.#readPayload(b));
    }
  }

  /** Parse a frame header at the start of `b`: its length, or 0 if it is not whole yet. */
  #readHead(b: Uint8Array): number {
    if (b.length < 2) return 0;
    // The first two bytes say enough to refuse: no need to wait for the rest of the header.
    if ((b[0] & 0x70) !== 0) throw new WebSocketError('protocol', 'a frame with RSV bits set (no extension was agreed)');
    if ((b[1] & 0x80) === 0) throw new WebSocketError('protocol', 'an unmasked frame from the client');
    const len7 = b[1] & 0x7f;
    const headLength = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + 4;
    if (b.length < headLength) return 0;
    const fin = (b[0] & 0x80) !== 0;
    const opcode = b[0] & 0x0f;
    const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
    let length = len7;
    if (len7 === 126) length = view.getUint16(2);
    if (len7 === 127) length = view.getUint32(2) * 2 ** 32 + view.getUint32(6);
    this.#check(opcode, fin, length);
    this.#frame = { opcode, fin, mask: b.slice(headLength - 4, headLength), left: length, done: 0, parts: [] };
    return headLength;
  }

  /** The rules a frame header must follow, before any of its payload is read. */
  #check(opcode: number, fin: boolean, length: number): void {
    if (opcode >= 8) {
      if (opcode > WS_OPCODE.pong) throw new WebSocketError('protocol', `unknown control opcode ${opcode}`);
      if (!fin) throw new WebSocketError('protocol', 'a fragmented control frame');
      if (length > 125) throw new WebSocketError('protocol', `a control frame of ${length} bytes (125 at most)`);
      return;
    }
    if (opcode > WS_OPCODE.binary) throw new WebSocketError('protocol', `unknown data opcode ${opcode}`);
    if (opcode === WS_OPCODE.continuation && this.#messageOpcode === 0)
      throw new WebSocketError('protocol', 'a continuation frame with no message to continue');
    if (opcode !== WS_OPCODE.continuation && this.#messageOpcode !== 0)
      throw new WebSocketError('protocol', 'a new message before the end of a fragmented one');
    if (this.#max > 0 && this.#messageSize + length > this.#max) {
      throw new WebSocketError('too-big', `a message of more than ${this.#max} bytes (--websockets-max-size)`);
    }
    if (opcode !== WS_OPCODE.continuation) this.#messageOpcode = opcode;
    this.#messageSize += length;
  }

  /** Unmask payload bytes from the start of `b` into the frame; returns how many were taken. */
  #readPayload(b: Uint8Array): number {
    const f = this.#frame as Frame;
    const n = Math.min(f.left, b.length);
    const part = b.slice(0, n);
    for (let i = 0; i < n; i++) part[i] ^= f.mask[(f.done + i) & 3];
    f.parts.push(part);
    f.done += n;
    f.left -= n;
    if (f.left === 0) this.#frameDone();
    return n;
  }

  #frameDone(): void {
    const f = this.#frame as Frame;
    this.#frame = null;
    const payload = f.parts.length === 1 ? f.parts[0] : concatBytes(f.parts);
    if (f.opcode >= 8) return this.#control(f.opcode, payload);
    this.#message.push(payload);
    if (!f.fin) return;
    const whole = this.#message.length === 1 ? this.#message[0] : concatBytes(this.#message);
    const text = this.#messageOpcode === WS_OPCODE.text;
    this.#messageOpcode = 0;
    this.#message = [];
    this.#messageSize = 0;
    this.#events.message(text ? utf8(whole, 'a text message') : whole);
  }

  #control(opcode: number, payload: Uint8Array): void {
    if (opcode === WS_OPCODE.ping) return this.#events.ping(payload);
    if (opcode === WS_OPCODE.pong) return this.#events.pong(payload);
    const { code, reason } = parseClosePayload(payload);
    this.#closed = true;
    this.#events.close(code, reason);
  }
}
