// The WebSocket codec (src/codec/websocket.ts): handshake checks, frames split anywhere, and each
// bad input closed with the right code.
import { describe, expect, it } from 'vitest';
import {
  concatBytes,
  encodeClosePayload,
  encodeFrame,
  handshakeRefusal,
  parseClosePayload,
  validWebSocketKey,
  WebSocketDecoder,
  WebSocketError,
  webSocketAccept,
  WS_OPCODE,
} from '../../src/codec/index.ts';
import { byteLength } from '../../src/websocket/session.ts';

const MASK = new Uint8Array([0x37, 0xfa, 0x21, 0x3d]);
const text = (s: string) => new TextEncoder().encode(s);

type Event = ['message', string | Uint8Array] | ['ping' | 'pong', Uint8Array] | ['close', number, string];

function decoder(maxMessage = 0): { d: WebSocketDecoder; events: Event[] } {
  const events: Event[] = [];
  const d = new WebSocketDecoder(
    {
      message: (data) => events.push(['message', data]),
      ping: (p) => events.push(['ping', p]),
      pong: (p) => events.push(['pong', p]),
      close: (code, reason) => events.push(['close', code, reason]),
    },
    { maxMessage },
  );
  return { d, events };
}

/** The close code a decoder answers these bytes with (null: none). */
function closeCodeOf(bytes: Uint8Array, maxMessage = 0): number | null {
  try {
    decoder(maxMessage).d.push(bytes);
    return null;
  } catch (e) {
    if (e instanceof WebSocketError) return e.closeCode;
    throw e;
  }
}

const masked = (opcode: number, payload: Uint8Array, fin = true) => encodeFrame(opcode, payload, fin, MASK);

describe('WebSocket handshake', () => {
  it('computes Sec-WebSocket-Accept as RFC 6455 1.3 shows', async () => {
    expect(await webSocketAccept('dGhlIHNhbXBsZSBub25jZQ==')).toBe('s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
  });

  it('takes only the base64 of 16 bytes as a key', () => {
    expect(validWebSocketKey('dGhlIHNhbXBsZSBub25jZQ==')).toBe(true);
    expect(validWebSocketKey(null)).toBe(false);
    expect(validWebSocketKey('dGhlIHNhbXBsZQ==')).toBe(false); // 10 bytes
    expect(validWebSocketKey('dGhlIHNhbXBsZSBub25jZQ')).toBe(false); // no padding
    expect(validWebSocketKey('dGhlIHNhbXBsZSBub25jZR==')).toBe(false); // bits past the 16th byte
  });

  it('refuses what is no valid upgrade: 400, or 426 for another version', () => {
    const h = (extra: Record<string, string>) =>
      new Headers({
        upgrade: 'websocket',
        connection: 'keep-alive, Upgrade',
        'sec-websocket-version': '13',
        'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
        ...extra,
      });
    expect(handshakeRefusal('GET', h({}))).toBeNull();
    expect(handshakeRefusal('POST', h({}))?.status).toBe(400);
    expect(handshakeRefusal('GET', h({ upgrade: 'h2c' }))?.status).toBe(400);
    expect(handshakeRefusal('GET', h({ connection: 'close' }))?.status).toBe(400);
    expect(handshakeRefusal('GET', h({ 'sec-websocket-key': 'short' }))?.status).toBe(400);
    expect(handshakeRefusal('GET', h({ 'sec-websocket-version': '8' }))?.status).toBe(426);
  });
});

describe('WebSocket frames', () => {
  it('decodes masked frames split at every byte, of each length form', () => {
    for (const size of [0, 5, 125, 126, 65535, 65536]) {
      const payload = new Uint8Array(size).map((_, i) => i & 0xff);
      const wire = masked(WS_OPCODE.binary, payload);
      const { d, events } = decoder();
      const step = size > 1000 ? 997 : 1;
      for (let i = 0; i < wire.length; i += step) d.push(wire.subarray(i, i + step));
      expect(events).toHaveLength(1);
      // Compared as text: a deep equality of 64 KiB arrays takes seconds.
      expect(Buffer.from(events[0][1] as Uint8Array).equals(Buffer.from(payload))).toBe(true);
    }
  });

  it('joins fragments, with control frames between them, and decodes text as UTF-8', () => {
    const { d, events } = decoder();
    const wire = concatBytes([
      masked(WS_OPCODE.text, text('héllo '), false),
      masked(WS_OPCODE.ping, text('p')),
      masked(WS_OPCODE.continuation, text('wör'), false),
      masked(WS_OPCODE.continuation, text('ld')),
      masked(WS_OPCODE.pong, new Uint8Array(0)),
      masked(WS_OPCODE.close, encodeClosePayload(1000, 'bye')),
    ]);
    d.push(wire);
    expect(events).toEqual([
      ['ping', text('p')],
      ['message', 'héllo wörld'],
      ['pong', new Uint8Array(0)],
      ['close', 1000, 'bye'],
    ]);
  });

  it('decodes a text message whose UTF-8 characters are split between fragments', () => {
    const { d, events } = decoder();
    const bytes = text('€');
    d.push(concatBytes([masked(WS_OPCODE.text, bytes.subarray(0, 1), false), masked(WS_OPCODE.continuation, bytes.subarray(1))]));
    expect(events).toEqual([['message', '€']]);
  });

  it('encodes unmasked server frames with the right length forms', () => {
    expect([...encodeFrame(WS_OPCODE.text, text('hi'))]).toEqual([0x81, 2, 104, 105]);
    const mid = encodeFrame(WS_OPCODE.binary, new Uint8Array(300));
    expect([...mid.subarray(0, 4)]).toEqual([0x82, 126, 1, 44]);
    const big = encodeFrame(WS_OPCODE.binary, new Uint8Array(70000));
    expect([...big.subarray(0, 10)]).toEqual([0x82, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70]);
    expect(encodeFrame(WS_OPCODE.ping, new Uint8Array(0), true)[0]).toBe(0x89);
  });
});

describe('WebSocket frames a server must refuse', () => {
  it('closes with 1002 for protocol errors', () => {
    expect(closeCodeOf(encodeFrame(WS_OPCODE.text, text('unmasked')))).toBe(1002);
    const rsv = masked(WS_OPCODE.text, text('x'));
    rsv[0] |= 0x40;
    expect(closeCodeOf(rsv)).toBe(1002);
    expect(closeCodeOf(masked(3, text('x')))).toBe(1002); // reserved data opcode
    expect(closeCodeOf(masked(11, text('x')))).toBe(1002); // reserved control opcode
    expect(closeCodeOf(masked(WS_OPCODE.ping, text('x'), false))).toBe(1002); // fragmented control
    expect(closeCodeOf(masked(WS_OPCODE.ping, new Uint8Array(126)))).toBe(1002); // control above 125
    expect(closeCodeOf(masked(WS_OPCODE.continuation, text('x')))).toBe(1002); // nothing to continue
    expect(closeCodeOf(concatBytes([masked(WS_OPCODE.text, text('a'), false), masked(WS_OPCODE.text, text('b'))]))).toBe(1002);
    expect(closeCodeOf(masked(WS_OPCODE.close, new Uint8Array([3])))).toBe(1002); // 1-byte close
    expect(closeCodeOf(masked(WS_OPCODE.close, encodeClosePayload(1006)))).toBe(1002); // may not be sent
  });

  it('closes with 1007 for text or a close reason that is not UTF-8', () => {
    expect(closeCodeOf(masked(WS_OPCODE.text, new Uint8Array([0xc3, 0x28])))).toBe(1007);
    expect(closeCodeOf(masked(WS_OPCODE.close, new Uint8Array([0x03, 0xe8, 0xff])))).toBe(1007);
  });

  it('closes with 1009 above the limit, from the header, before the payload is in', () => {
    const { d } = decoder(1000);
    const wire = masked(WS_OPCODE.binary, new Uint8Array(1001));
    // Only the header: the limit is known before any payload is buffered.
    expect(() => d.push(wire.subarray(0, 8))).toThrow(expect.objectContaining({ closeCode: 1009 }));
    // Fragments count together.
    expect(closeCodeOf(concatBytes([masked(WS_OPCODE.binary, new Uint8Array(600), false), masked(WS_OPCODE.continuation, new Uint8Array(600))]), 1000)).toBe(
      1009,
    );
    expect(closeCodeOf(masked(WS_OPCODE.binary, new Uint8Array(1000)), 1000)).toBeNull();
  });
});

describe('close frames', () => {
  it('round-trips code and reason; an empty payload is 1005', () => {
    expect(parseClosePayload(encodeClosePayload(4000, 'été'))).toEqual({ code: 4000, reason: 'été' });
    expect(parseClosePayload(new Uint8Array(0))).toEqual({ code: 1005, reason: '' });
    expect(encodeClosePayload(1005)).toHaveLength(0);
  });

  it('cuts a long reason to fit a control frame, on a character boundary', () => {
    const p = encodeClosePayload(1000, 'é'.repeat(100));
    expect(p.length).toBeLessThanOrEqual(125);
    expect(parseClosePayload(p).reason).toBe('é'.repeat(61));
  });
});

describe('message sizes', () => {
  it("counts a string's UTF-8 bytes as TextEncoder makes them", () => {
    for (const s of ['', 'abc', 'é', '€', '😀', 'a€😀é', '\ud800x']) expect(byteLength(s), s).toBe(new TextEncoder().encode(s).length);
  });
});
