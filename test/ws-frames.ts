/**
 * The client's side of WebSocket frames, for tests that speak the protocol byte by byte (raw
 * sockets, in-memory connections): masked frames out, the server's unmasked frames parsed.
 */
import { concatBytes, encodeFrame, WS_OPCODE } from '../src/codec/index.ts';

export { WS_OPCODE };

/** A frame as a client sends it (masked). */
export function clientFrame(opcode: number, payload: Uint8Array | string, fin = true): Uint8Array {
  const bytes = typeof payload === 'string' ? new TextEncoder().encode(payload) : payload;
  return encodeFrame(opcode, bytes, fin, crypto.getRandomValues(new Uint8Array(4)));
}

export interface ServerFrame {
  opcode: number;
  fin: boolean;
  payload: Uint8Array;
}

/** The close code of a close frame's payload (1005 without one). */
export function closeCode(f: ServerFrame): number {
  return f.payload.length >= 2 ? (f.payload[0] << 8) | f.payload[1] : 1005;
}

/** Server frames out of bytes as they arrive. */
export class ServerFrames {
  readonly frames: ServerFrame[] = [];
  #buf: Uint8Array = new Uint8Array(0);

  push(chunk: Uint8Array): void {
    this.#buf = concatBytes([this.#buf, chunk]) as Uint8Array<ArrayBuffer>;
    for (;;) {
      const b = this.#buf;
      if (b.length < 2) return;
      const len7 = b[1] & 0x7f;
      const head = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0);
      if (b.length < head) return;
      const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
      const n = len7 === 126 ? view.getUint16(2) : len7 === 127 ? view.getUint32(6) : len7;
      if (b.length < head + n) return;
      this.frames.push({ opcode: b[0] & 0x0f, fin: (b[0] & 0x80) !== 0, payload: b.slice(head, head + n) });
      this.#buf = b.subarray(head + n);
    }
  }
}

/** A client's upgrade request head. */
export function upgradeRequest(path: string, extra: Record<string, string> = {}): string {
  const headers: Record<string, string> = {
    host: 'example.test',
    upgrade: 'websocket',
    connection: 'Upgrade',
    'sec-websocket-version': '13',
    'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
    ...extra,
  };
  return `GET ${path} HTTP/1.1\r\n${Object.entries(headers)
    .filter(([, v]) => v !== '')
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}\r\n`;
}

/** A WebSocket client on a raw socket: it sends what a test wants, well-formed or not, and reads the server's frames. */
export class RawClient {
  readonly frames = new ServerFrames();
  head = '';
  closed = false;
  readonly #socket: import('node:net').Socket;
  #changed: Array<() => void> = [];

  private constructor(socket: import('node:net').Socket) {
    this.#socket = socket;
    socket.on('data', (d: Buffer) => this.#onData(new Uint8Array(d)));
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      this.#notify();
    });
  }

  /** Connect and send an upgrade request (extra headers; '' drops one). */
  static async open(target: { port: number } | { path: string }, path = '/', extra: Record<string, string> = {}): Promise<RawClient> {
    const net = await import('node:net');
    const socket = 'port' in target ? net.connect(target.port, '127.0.0.1') : net.connect(target.path);
    const c = new RawClient(socket);
    socket.write(upgradeRequest(path, extra));
    return c;
  }

  write(bytes: Uint8Array): void {
    this.#socket.write(bytes);
  }

  send(opcode: number, payload: Uint8Array | string): void {
    this.write(clientFrame(opcode, payload));
  }

  destroy(): void {
    this.#socket.destroy();
  }

  /** The answer's head is in (101 or not). */
  async answered(ms = 15_000): Promise<string> {
    await this.until(() => this.head.endsWith('\r\n\r\n') || this.closed, ms);
    return this.head;
  }

  /** The n-th frame (from 0), once it is in. */
  async frame(n: number, ms = 15_000): Promise<ServerFrame> {
    await this.until(() => this.frames.frames.length > n || this.closed, ms);
    const f = this.frames.frames[n];
    if (!f) throw new Error(`the connection closed after ${this.frames.frames.length} frames; head: ${JSON.stringify(this.head)}`);
    return f;
  }

  until(test: () => boolean, ms = 15_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`RawClient: condition not met in ${ms} ms (${this.frames.frames.length} frames, head ${JSON.stringify(this.head)})`)),
        ms,
      );
      const check = () => {
        if (!test()) return void this.#changed.push(check);
        clearTimeout(timer);
        resolve();
      };
      check();
    });
  }

  #onData(chunk: Uint8Array): void {
    if (!this.head.endsWith('\r\n\r\n')) {
      const text = Buffer.from(chunk).toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      this.head += end === -1 ? text : text.slice(0, end + 4);
      if (end === -1) return this.#notify();
      chunk = chunk.subarray(end + 4);
    }
    if (this.head.startsWith('HTTP/1.1 101')) this.frames.push(chunk);
    this.#notify();
  }

  #notify(): void {
    for (const f of this.#changed.splice(0)) f();
  }
}
