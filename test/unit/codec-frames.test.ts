/**
 * tsgi's streamed-body frames (src/codec/frames.ts), alone and inside uwsgi packets: decoded in
 * any chunking, ended once, refused when malformed, and taken only where the decoder is told to.
 */
import { describe, expect, test } from 'vitest';
import {
  concatBytes,
  encodePacket,
  FrameDecoder,
  frameHead,
  LAST_FRAME,
  UwsgiDecoder,
  type UwsgiProtocolError,
  type UwsgiVars,
} from '../../src/codec/index.ts';

const enc = new TextEncoder();

function framed(pieces: string[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const p of pieces) parts.push(frameHead(enc.encode(p).length), enc.encode(p));
  parts.push(LAST_FRAME);
  return concatBytes(parts);
}

/** The same bytes cut every way that matters: whole, one byte at a time, in threes. */
function cuttings(bytes: Uint8Array): Uint8Array[][] {
  const every = (n: number) => Array.from({ length: Math.ceil(bytes.length / n) }, (_, i) => bytes.slice(i * n, i * n + n));
  return [[bytes.slice()], every(1), every(3)];
}

describe('frameHead', () => {
  test('u32 little endian, 1 … 2^32 - 1', () => {
    expect([...frameHead(1)]).toEqual([1, 0, 0, 0]);
    expect([...frameHead(0x1234)]).toEqual([0x34, 0x12, 0, 0]);
    expect([...frameHead(0xffffffff)]).toEqual([255, 255, 255, 255]);
    expect(() => frameHead(0)).toThrow(RangeError);
    expect(() => frameHead(2 ** 32)).toThrow(RangeError);
  });
});

describe('FrameDecoder', () => {
  test('pieces in any chunking → the body, then one end; bytes after the end frame are not taken', () => {
    const frames = framed(['hello', ' ', 'world']);
    const bytes = concatBytes([frames, enc.encode('NEXT')]);
    for (const chunks of cuttings(bytes)) {
      const got: Uint8Array[] = [];
      let ends = 0;
      const d = new FrameDecoder({ onData: (c) => got.push(c.slice()), onEnd: () => ends++ });
      let taken = 0;
      for (const c of chunks) taken += d.push(c);
      expect(new TextDecoder().decode(concatBytes(got))).toBe('hello world');
      expect(ends).toBe(1);
      expect(d.done).toBe(true);
      expect(taken).toBe(bytes.length - 4);
    }
  });

  test('a big frame is handed on as it arrives, without waiting for its end', () => {
    const got: number[] = [];
    const d = new FrameDecoder({ onData: (c) => got.push(c.length), onEnd: () => {} });
    d.push(frameHead(1_000_000));
    d.push(new Uint8Array(300_000));
    d.push(new Uint8Array(300_000));
    expect(got).toEqual([300_000, 300_000]);
    expect(d.cut).toBe("400000 bytes short of a frame's end");
  });

  test('where a stream that stops was cut', () => {
    const d = new FrameDecoder({ onData: () => {}, onEnd: () => {} });
    expect(d.cut).toBe('before the end frame');
    d.push(new Uint8Array([3, 0]));
    expect(d.cut).toBe('inside a frame length');
  });
});

interface Run {
  lengths: Array<number | null>;
  body: string;
  calls: string[];
  error?: UwsgiProtocolError;
}

function decode(chunks: Uint8Array[], streamedBodies: boolean, end = false): Run {
  const out: Run = { lengths: [], body: '', calls: [] };
  const text = new TextDecoder();
  const d = new UwsgiDecoder(
    {
      onHead(_head, _vars, contentLength) {
        out.calls.push('head');
        out.lengths.push(contentLength);
      },
      onBody(c) {
        out.calls.push('body');
        out.body += text.decode(c);
      },
      onBodyEnd() {
        out.calls.push('end');
      },
      onError(e) {
        out.calls.push('error');
        out.error = e;
      },
    },
    { streamedBodies },
  );
  for (const c of chunks) d.push(c);
  if (end) d.end();
  return out;
}

const POST: UwsgiVars = [
  ['REQUEST_METHOD', 'POST'],
  ['REQUEST_URI', '/up'],
];

describe("UwsgiDecoder with streamed bodies (the router's internal socket)", () => {
  test('TSGI_BODY=chunked: no length, the pieces, then the end, in any chunking', () => {
    const packet = encodePacket([...POST, ['CONTENT_LENGTH', ''], ['TSGI_BODY', 'chunked']]);
    const body = framed(['first ', 'second']);
    const all = concatBytes([packet, body]);
    for (const chunks of cuttings(all)) {
      const r = decode(chunks, true);
      expect(r.lengths).toEqual([null]);
      expect(r.body).toBe('first second');
      expect(r.calls.at(-1)).toBe('end');
      expect(r.calls.filter((c) => c === 'end')).toHaveLength(1);
      expect(r.error).toBeUndefined();
    }
  });

  test('an empty streamed body ends at once', () => {
    const r = decode([encodePacket([...POST, ['TSGI_BODY', 'chunked']]), LAST_FRAME], true);
    expect(r.calls).toEqual(['head', 'end']);
  });

  test('closed before the end frame: truncated-body', () => {
    const r = decode([encodePacket([...POST, ['TSGI_BODY', 'chunked']]), frameHead(10), enc.encode('abc')], true, true);
    expect(r.error?.code).toBe('truncated-body');
    expect(r.error?.message).toContain("7 bytes short of a frame's end");
  });

  test('another framing, or a CONTENT_LENGTH too: refused', () => {
    expect(decode([encodePacket([...POST, ['TSGI_BODY', 'gzip']])], true).error?.code).toBe('bad-streamed-body');
    const both = decode([encodePacket([...POST, ['CONTENT_LENGTH', '3'], ['TSGI_BODY', 'chunked']])], true);
    expect(both.error?.code).toBe('bad-streamed-body');
    expect(both.calls).toEqual(['error']);
  });

  test('without streamedBodies (a public --socket) TSGI_BODY is an ordinary var: CONTENT_LENGTH frames the body', () => {
    const packet = encodePacket([...POST, ['CONTENT_LENGTH', '4'], ['TSGI_BODY', 'chunked']]);
    const r = decode([packet, new Uint8Array([1, 0, 0, 0]), enc.encode('rest')], false);
    expect(r.lengths).toEqual([4]);
    expect(r.body).toBe('\u0001\u0000\u0000\u0000');
    expect(r.error).toBeUndefined();
  });
});
