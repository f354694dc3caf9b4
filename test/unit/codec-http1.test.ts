// The HTTP/1.1 request codec (src/codec/http1.ts): head parser and body decoder, no connection.
import { describe, expect, it } from 'vitest';
import { BodyReader, HttpError, headEnd, parseHead } from '../../src/codec/index.ts';

const enc = (s: string) => new TextEncoder().encode(s);

function head(text: string) {
  const b = enc(text);
  const end = headEnd(b, 0);
  expect(end).toBeGreaterThan(0);
  return parseHead(b, 0, end);
}

function refusal(text: string): { status: number; message: string } {
  try {
    head(text);
  } catch (e) {
    expect(e).toBeInstanceOf(HttpError);
    return { status: (e as HttpError).status, message: (e as HttpError).message };
  }
  throw new Error('parsed, but should have been refused');
}

/** Feed `wire` to a reader in pieces of `step` bytes; the body it hands out, and the bytes it did not use. */
function decode(reader: BodyReader, wire: string, step: number): { body: string; rest: string } {
  const b = enc(wire);
  let body = '';
  let i = 0;
  while (i < b.length && !reader.done) {
    const piece = b.subarray(i, Math.min(b.length, i + step));
    i += reader.feed(piece, (p) => (body += new TextDecoder().decode(p)));
  }
  return { body, rest: new TextDecoder().decode(b.subarray(i)) };
}

describe('parseHead', () => {
  it('reads the request line, headers, framing and connection wishes', () => {
    const h = head('POST /up?x=1 HTTP/1.1\r\nHost: example.test\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n');
    expect(h).toMatchObject({
      method: 'POST',
      target: '/up?x=1',
      v11: true,
      host: 'example.test',
      contentLength: 5,
      chunked: false,
      close: true,
      expectContinue: true,
    });
    expect(h.headers.get('content-length')).toBe('5');
    expect(h.size).toBe(enc('POST /up?x=1 HTTP/1.1\r\nHost: example.test\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n').length);
  });

  it('HTTP/1.0 closes unless it asks for keep-alive; it needs no Host', () => {
    expect(head('GET / HTTP/1.0\r\n\r\n')).toMatchObject({ v11: false, close: true, host: 'localhost' });
    expect(head('GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n').close).toBe(false);
  });

  it('takes a repeated equal Content-Length as one', () => {
    expect(head('PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\n').contentLength).toBe(5);
  });

  it('refuses what it must, with the status the client gets', () => {
    expect(refusal('GET / HTTP/1.1\r\n\r\n')).toMatchObject({ status: 400, message: expect.stringContaining('Host') });
    expect(refusal('GET / HTTP/2.0\r\nHost: h\r\n\r\n').status).toBe(505);
    expect(refusal('GET /\r\nHost: h\r\n\r\n').status).toBe(400);
    expect(refusal('POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n').status).toBe(501);
    expect(refusal('POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n').status).toBe(400);
    expect(refusal('POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n').status).toBe(400);
    expect(refusal('GET / HTTP/1.1\r\nHost: h\r\nExpect: something\r\n\r\n').status).toBe(417);
    expect(refusal('GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n').status).toBe(400);
    expect(refusal('GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n').status).toBe(400);
  });
});

describe('headEnd', () => {
  it('finds the blank line from an offset, or says there is none yet', () => {
    const b = enc('\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\nbody');
    expect(headEnd(b, 2)).toBe(b.length - 8);
    expect(headEnd(enc('GET / HTTP/1.1\r\nHost: h\r\n'), 0)).toBe(-1);
  });
});

describe('BodyReader', () => {
  it('a fixed length: takes exactly that many bytes, in any pieces', () => {
    for (const step of [1, 3, 100]) {
      const r = new BodyReader(5, false);
      expect(decode(r, 'helloGET /next', step)).toEqual({ body: 'hello', rest: 'GET /next' });
      expect(r.done).toBe(true);
      expect(r.received).toBe(5);
    }
    expect(new BodyReader(0, false).done).toBe(true);
  });

  it('chunked: sizes, extensions and trailers, in any pieces, and stops after the last chunk', () => {
    const wire = '5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\nNEXT';
    for (const step of [1, 2, 7, 1000]) {
      const r = new BodyReader(null, true);
      expect(decode(r, wire, step)).toEqual({ body: 'hello world', rest: 'NEXT' });
      expect(r.received).toBe(11);
    }
  });

  it('refuses a malformed chunked body with a 400', () => {
    const bad = (wire: string) => () => decode(new BodyReader(null, true), wire, 1000);
    expect(bad('zz\r\n')).toThrow(HttpError);
    expect(bad('3\r\nabcX')).toThrow(/CRLF/);
    expect(bad(`${'1'.repeat(5000)}`)).toThrow(/4 KiB/);
  });
});
