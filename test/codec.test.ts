/**
 * The uwsgi codec against real nginx captures (test/vectors, from shared/vectors), round trips,
 * every split point, and every malformed-input path.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import {
  bodyAllowed,
  encodePacket,
  encodeResponseHead,
  encodeVars,
  getVar,
  requestToVars,
  statusReason,
  UwsgiDecoder,
  varsToRequest,
  type PacketHead,
  type UwsgiProtocolError,
  type UwsgiVars,
} from '../src/codec/index.ts';

const vector = (name: string) => new Uint8Array(readFileSync(new URL(`./vectors/${name}`, import.meta.url)));
const GET = vector('nginx-1.22-get.bin');
const POST = vector('nginx-1.22-post.bin');
const text = (b: Uint8Array) => new TextDecoder().decode(b);

interface Decoded {
  head?: PacketHead;
  vars?: UwsgiVars;
  contentLength?: number;
  body: Uint8Array[];
  ended: number;
  error?: UwsgiProtocolError;
}

function decode(chunks: Uint8Array[], options?: { bufferSize?: number }, end = false): Decoded {
  const out: Decoded = { body: [], ended: 0 };
  const d = new UwsgiDecoder(
    {
      onHead: (head, vars, contentLength) => Object.assign(out, { head, vars, contentLength }),
      onBody: (c) => out.body.push(c.slice()),
      onBodyEnd: () => out.ended++,
      onError: (e) => {
        if (out.error) throw new Error('onError called twice');
        out.error = e;
      },
    },
    options,
  );
  for (const c of chunks) d.push(c);
  if (end) d.end();
  return out;
}

const joined = (b: Uint8Array[]) => {
  const all = new Uint8Array(b.reduce((n, c) => n + c.length, 0));
  let o = 0;
  for (const c of b) {
    all.set(c, o);
    o += c.length;
  }
  return all;
};

describe('nginx captures', () => {
  test('GET: header, every var as nginx sent it, no body', () => {
    expect(Array.from(GET.subarray(0, 4))).toEqual([0x00, 0x76, 0x01, 0x00]);
    const r = decode([GET]);
    expect(r.error).toBeUndefined();
    expect(r.head).toEqual({ modifier1: 0, size: 374, modifier2: 0 });
    expect(r.contentLength).toBe(0);
    expect(r.ended).toBe(1);
    const v = r.vars as UwsgiVars;
    expect(getVar(v, 'REQUEST_METHOD')).toBe('GET');
    expect(getVar(v, 'REQUEST_URI')).toBe('/path/x?a=1');
    expect(getVar(v, 'QUERY_STRING')).toBe('a=1');
    expect(getVar(v, 'PATH_INFO')).toBe('/path/x');
    // Empty values are sent, not left out.
    expect(getVar(v, 'CONTENT_TYPE')).toBe('');
    expect(getVar(v, 'CONTENT_LENGTH')).toBe('');
    expect(getVar(v, 'SERVER_NAME')).toBe('');
    // $host: without the client's port.
    expect(getVar(v, 'HTTP_HOST')).toBe('127.0.0.1');
    expect(getVar(v, 'HTTP_X_TEST')).toBe('yes');
    expect(getVar(v, 'REQUEST_SCHEME')).toBe('http');
  });

  test('POST: the 11-byte body follows the vars block directly', () => {
    expect(POST[1] | (POST[2] << 8)).toBe(464);
    const r = decode([POST]);
    expect(r.head?.size).toBe(464);
    expect(r.contentLength).toBe(11);
    expect(text(joined(r.body))).toBe('hello=world');
    expect(r.ended).toBe(1);
    const v = r.vars as UwsgiVars;
    expect(getVar(v, 'CONTENT_LENGTH')).toBe('11');
    expect(getVar(v, 'HTTP_CONTENT_LENGTH')).toBe('11');
    expect(getVar(v, 'CONTENT_TYPE')).toBe('application/x-www-form-urlencoded');
    expect(getVar(v, 'HTTP_CONTENT_TYPE')).toBe('application/x-www-form-urlencoded');
  });

  test('GET → Request: URL, method, headers without nginx doubles', () => {
    const v = decode([GET]).vars as UwsgiVars;
    const req = varsToRequest(v, null);
    expect(req.method).toBe('GET');
    expect(req.url).toBe('http://127.0.0.1/path/x?a=1');
    expect(req.headers.get('x-test')).toBe('yes');
    expect(req.headers.get('host')).toBe('127.0.0.1');
    expect(req.headers.has('content-type')).toBe(false);
    expect(req.headers.has('content-length')).toBe(false);
  });

  test('POST → Request: body text and single content headers', async () => {
    const r = decode([POST]);
    const req = varsToRequest(r.vars as UwsgiVars, joined(r.body) as Uint8Array<ArrayBuffer>);
    expect(req.method).toBe('POST');
    expect(req.url).toBe('http://127.0.0.1/submit');
    expect(req.headers.get('content-type')).toBe('application/x-www-form-urlencoded');
    expect(req.headers.get('content-length')).toBe('11');
    expect(await req.text()).toBe('hello=world');
  });

  test.each([
    ['GET', GET],
    ['POST', POST],
  ])('%s decoded the same at every split point, and one byte at a time', (_, pkt) => {
    const whole = decode([pkt]);
    for (let i = 0; i <= pkt.length; i++) {
      const r = decode([pkt.subarray(0, i), pkt.subarray(i)]);
      expect(r.vars).toEqual(whole.vars);
      expect(joined(r.body)).toEqual(joined(whole.body));
      expect(r.ended).toBe(1);
    }
    const bytes = Array.from(pkt, (b) => new Uint8Array([b]));
    const r = decode(bytes);
    expect(r.vars).toEqual(whole.vars);
    expect(text(joined(r.body))).toBe(text(joined(whole.body)));
  });
});

describe('round trips', () => {
  // A small deterministic generator, so a failure can be replayed.
  function rng(seed: number) {
    return () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
  }
  const byteString = (r: () => number, n: number) => Array.from({ length: n }, () => String.fromCharCode(Math.floor(r() * 256))).join('');

  test('random vars: empty values, duplicates, latin1 bytes 0x80–0xFF', () => {
    const r = rng(42);
    for (let round = 0; round < 200; round++) {
      const vars: UwsgiVars = [];
      const n = Math.floor(r() * 20);
      for (let i = 0; i < n; i++) vars.push([byteString(r, 1 + Math.floor(r() * 12)), byteString(r, Math.floor(r() * 40))]);
      if (n > 0 && r() < 0.3) vars.push([vars[0][0], 'duplicate']);
      const pkt = encodePacket(vars.filter(([k]) => k !== 'CONTENT_LENGTH'));
      const cut = Math.floor(r() * pkt.length);
      const out = decode([pkt.subarray(0, cut), pkt.subarray(cut)]);
      expect(out.error).toBeUndefined();
      expect(out.vars).toEqual(vars.filter(([k]) => k !== 'CONTENT_LENGTH'));
    }
  });

  test('a 65535-byte block, the largest there is', () => {
    const value = 'v'.repeat(65535 - 4 - 1);
    const pkt = encodePacket([['K', value]]);
    expect(pkt.length).toBe(4 + 65535);
    expect(decode([pkt]).vars).toEqual([['K', value]]);
    expect(() => encodeVars([['K', value + 'x']])).toThrow(RangeError);
  });

  test('Request → vars (as nginx) → packet → decoder → Request', async () => {
    const original = new Request('https://example.com:8443/caf%C3%A9/x?q=%C3%A9t%C3%A9&b=2', {
      method: 'PUT',
      headers: { 'x-one': '1', accept: 'text/html', 'content-type': 'text/plain', 'content-length': '5' },
      body: 'hello',
    });
    const vars = requestToVars(original, { remoteAddr: '10.0.0.1', remotePort: 5555, serverName: 'example.com', serverPort: 8443, scheme: 'https' });
    expect(getVar(vars, 'HTTPS')).toBe('on');
    expect(getVar(vars, 'PATH_INFO')).toBe('/caf\u00c3\u00a9/x'); // UTF-8 bytes as a byte string
    const body = new TextEncoder().encode('hello');
    const out = decode([encodePacket(vars), body]);
    expect(out.contentLength).toBe(5);
    const req = varsToRequest(out.vars as UwsgiVars, joined(out.body) as Uint8Array<ArrayBuffer>);
    expect(req.method).toBe('PUT');
    expect(req.url).toBe(original.url);
    expect(req.headers.get('x-one')).toBe('1');
    expect(req.headers.get('accept')).toBe('text/html');
    expect(req.headers.get('content-type')).toBe('text/plain');
    expect(await req.text()).toBe('hello');
  });

  test('URL from SERVER_NAME:SERVER_PORT and PATH_INFO + QUERY_STRING when nginx sends no HTTP_HOST/REQUEST_URI', () => {
    const req = varsToRequest(
      [
        ['REQUEST_METHOD', 'GET'],
        ['SERVER_NAME', 'app.local'],
        ['SERVER_PORT', '8080'],
        ['PATH_INFO', '/p'],
        ['QUERY_STRING', 'x=1'],
      ],
      null,
    );
    expect(req.url).toBe('http://app.local:8080/p?x=1');
    const https = varsToRequest([['HTTPS', 'on'], ['SERVER_NAME', 'a'], ['SERVER_PORT', '443'], ['REQUEST_URI', '/']], null);
    expect(https.url).toBe('https://a/');
  });

  test('repeated headers are appended, GET bodies dropped', () => {
    const req = varsToRequest(
      [
        ['REQUEST_METHOD', 'GET'],
        ['REQUEST_URI', '/'],
        ['HTTP_X_A', '1'],
        ['HTTP_X_A', '2'],
      ],
      new Uint8Array([1, 2, 3]),
    );
    expect(req.headers.get('x-a')).toBe('1, 2');
    expect(req.body).toBeNull();
  });

  test('a URL that cannot be built is a TypeError that says why', () => {
    expect(() => varsToRequest([['HTTP_HOST', 'bad host'], ['REQUEST_URI', '/']], null)).toThrow(/not valid/);
  });
});

describe('malformed input: an error, never a crash', () => {
  test('truncated header, then end', () => {
    const r = decode([new Uint8Array([0, 10])], undefined, true);
    expect(r.error?.code).toBe('truncated-header');
  });

  test('truncated vars, then end', () => {
    const r = decode([GET.subarray(0, 100)], undefined, true);
    expect(r.error?.code).toBe('truncated-header');
    expect(r.vars).toBeUndefined();
  });

  test('size beyond --buffer-size names the size and the option', () => {
    const big = encodePacket([['HTTP_COOKIE', 'c'.repeat(5000)]]);
    const r = decode([big], { bufferSize: 4096 });
    expect(r.error?.code).toBe('block-too-large');
    expect(r.error?.message).toBe('invalid request block size: 5015 (max 4096); raise --buffer-size (at most 65535)');
    expect(r.vars).toBeUndefined();
  });

  test('a key length past the block', () => {
    const r = decode([new Uint8Array([0, 4, 0, 0, 5, 0, 0x41, 0x42])]);
    expect(r.error?.code).toBe('bad-vars');
    expect(r.error?.message).toMatch(/key of 5 bytes at offset 6/);
  });

  test('a value length past the block', () => {
    const r = decode([new Uint8Array([0, 6, 0, 0, 1, 0, 0x41, 9, 0, 0x42])]);
    expect(r.error?.code).toBe('bad-vars');
    expect(r.error?.message).toMatch(/value of 9 bytes for A/);
  });

  test('a lone byte where a key length should be', () => {
    const r = decode([new Uint8Array([0, 1, 0, 0, 7])]);
    expect(r.error?.code).toBe('bad-vars');
  });

  test('HTTP sent to a uwsgi socket', () => {
    const r = decode([new TextEncoder().encode('GET / HTTP/1.1\r\nHost: x\r\n\r\n')]);
    expect(r.error?.code).toBe('looks-like-http');
    expect(r.error?.message).toMatch(/--http-socket/);
  });

  test('a modifier1 other than 0', () => {
    expect(decode([new Uint8Array([5, 0, 0, 0])]).error?.code).toBe('unsupported-modifier');
  });

  test('a CONTENT_LENGTH that is not a number', () => {
    for (const bad of ['abc', '-1', '1e3', ' 5']) {
      expect(decode([encodePacket({ CONTENT_LENGTH: bad })]).error?.code).toBe('bad-content-length');
    }
  });

  test('a body shorter than CONTENT_LENGTH, then end', () => {
    const r = decode([encodePacket({ CONTENT_LENGTH: '10' }), new Uint8Array(4)], undefined, true);
    expect(r.error?.code).toBe('truncated-body');
    expect(joined(r.body).length).toBe(4);
    expect(r.ended).toBe(0);
  });

  test('bytes after the body are ignored (the body is never read to end of stream)', () => {
    const r = decode([encodePacket({ CONTENT_LENGTH: '3' }), new Uint8Array([1, 2, 3, 4, 5])]);
    expect(Array.from(joined(r.body))).toEqual([1, 2, 3]);
    expect(r.ended).toBe(1);
    expect(r.error).toBeUndefined();
  });

  test('input after an error is ignored', () => {
    const out: string[] = [];
    const d = new UwsgiDecoder({ onHead: () => out.push('head'), onBody: () => out.push('body'), onBodyEnd: () => out.push('end'), onError: () => out.push('error') });
    d.push(new Uint8Array([9, 0, 0, 0]));
    d.push(GET);
    d.end();
    expect(out).toEqual(['error']);
    expect(d.state).toBe('error');
  });
});

describe('response head', () => {
  const head = (res: Response, method = 'GET', contentLength?: number) => text(encodeResponseHead(res, { method, contentLength }));

  test('status line with reason phrase, headers, blank line', () => {
    const h = head(new Response('x', { status: 404, headers: { 'x-a': '1' } }), 'GET', 1);
    expect(h.startsWith('HTTP/1.1 404 Not Found\r\n')).toBe(true);
    expect(h).toContain('x-a: 1\r\n');
    expect(h).toContain('content-length: 1\r\n');
    expect(h.endsWith('\r\n\r\n')).toBe(true);
    expect(statusReason(418)).toBe("I'm a teapot");
    expect(statusReason(799)).toBe('Unknown');
    expect(head(new Response(null, { status: 200, statusText: 'Fine' }))).toMatch(/^HTTP\/1\.1 200 Fine\r\n/);
  });

  test('two Set-Cookie headers stay apart', () => {
    const h = new Headers();
    h.append('set-cookie', 'a=1');
    h.append('set-cookie', 'b=2; HttpOnly');
    const s = head(new Response('', { headers: h }));
    expect(s.match(/^set-cookie: .*$/gim)).toEqual(['set-cookie: a=1', 'set-cookie: b=2; HttpOnly']);
  });

  test('HEAD, 204 and 304 get no added Content-Length; HEAD keeps the app\'s own', () => {
    expect(head(new Response(null, { status: 204 }), 'GET', 0)).not.toContain('content-length');
    expect(head(new Response(null, { status: 304 }), 'GET', 0)).not.toContain('content-length');
    expect(head(new Response('abc'), 'HEAD', 3)).not.toContain('content-length');
    expect(head(new Response('abc', { headers: { 'content-length': '3' } }), 'HEAD')).toContain('content-length: 3');
    expect(bodyAllowed('HEAD', 200)).toBe(false);
    expect(bodyAllowed('GET', 204)).toBe(false);
    expect(bodyAllowed('GET', 304)).toBe(false);
    expect(bodyAllowed('GET', 101)).toBe(false);
    expect(bodyAllowed('POST', 201)).toBe(true);
  });

  test('an app\'s Transfer-Encoding is dropped (the body goes raw, then close)', () => {
    const s = head(new Response('x', { headers: { 'transfer-encoding': 'chunked', 'x-b': '2' } }));
    expect(s).not.toMatch(/transfer-encoding/i);
    expect(s).toContain('x-b: 2');
  });
});
