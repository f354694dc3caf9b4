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
