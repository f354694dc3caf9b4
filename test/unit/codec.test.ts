/**
 * The uwsgi codec against real nginx captures (test/vectors), every split point, round trips,
 * every malformed-input path, vars ⇄ Request and the response head. Runs on Node, Bun and Deno.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import {
  MAX_VARS_SIZE,
  UwsgiDecoder,
  UwsgiProtocolError,
  bodyAllowed,
  encodePacket,
  encodeResponseHead,
  encodeVars,
  getVar,
  requestToVars,
  statusReason,
  varsToRequest,
  type PacketHead,
  type UwsgiVars,
} from '../../src/codec/index.ts';
import { parseHead } from '../../src/codec/index.ts';

const vector = (name: string) => new Uint8Array(readFileSync(new URL(`../vectors/${name}`, import.meta.url)));
const GET = vector('nginx-1.22-get.bin');
const POST = vector('nginx-1.22-post.bin');
const utf8 = (b: Uint8Array) => new TextDecoder().decode(b);
const bytes = (s: string) => new TextEncoder().encode(s);
const onBun = typeof (globalThis as Record<string, unknown>).Bun !== 'undefined';

/** What nginx 1.22 sent, var by var (test/vectors/README.md). */
const GET_VARS: UwsgiVars = [
  ['QUERY_STRING', 'a=1'],
  ['REQUEST_METHOD', 'GET'],
  ['CONTENT_TYPE', ''],
  ['CONTENT_LENGTH', ''],
  ['REQUEST_URI', '/path/x?a=1'],
  ['PATH_INFO', '/path/x'],
  ['DOCUMENT_ROOT', '/usr/share/nginx/html'],
  ['SERVER_PROTOCOL', 'HTTP/1.1'],
  ['REQUEST_SCHEME', 'http'],
  ['REMOTE_ADDR', '127.0.0.1'],
  ['REMOTE_PORT', '54428'],
  ['SERVER_PORT', '19080'],
  ['SERVER_NAME', ''],
  ['HTTP_HOST', '127.0.0.1'],
  ['HTTP_USER_AGENT', 'curl/7.88.1'],
  ['HTTP_ACCEPT', '*/*'],
  ['HTTP_X_TEST', 'yes'],
];
const POST_VARS: UwsgiVars = [
  ['QUERY_STRING', ''],
  ['REQUEST_METHOD', 'POST'],
  ['CONTENT_TYPE', 'application/x-www-form-urlencoded'],
  ['CONTENT_LENGTH', '11'],
  ['REQUEST_URI', '/submit'],
  ['PATH_INFO', '/submit'],
  ['DOCUMENT_ROOT', '/usr/share/nginx/html'],
  ['SERVER_PROTOCOL', 'HTTP/1.1'],
  ['REQUEST_SCHEME', 'http'],
  ['REMOTE_ADDR', '127.0.0.1'],
  ['REMOTE_PORT', '54442'],
  ['SERVER_PORT', '19080'],
  ['SERVER_NAME', ''],
  ['HTTP_HOST', '127.0.0.1'],
  ['HTTP_USER_AGENT', 'curl/7.88.1'],
  ['HTTP_ACCEPT', '*/*'],
  ['HTTP_CONTENT_LENGTH', '11'],
  ['HTTP_CONTENT_TYPE', 'application/x-www-form-urlencoded'],
];

interface Decoded {
  head?: PacketHead;
  vars?: UwsgiVars;
  contentLength?: number;
  body: Uint8Array[];
  /** Handler calls in order: head, body, end, error. */
  calls: string[];
  error?: UwsgiProtocolError;
  decoder: UwsgiDecoder;
}

function decode(chunks: Uint8Array[], options?: { bufferSize?: number }, end = false): Decoded {
  const out = { body: [], calls: [] } as unknown as Decoded;
  out.decoder = new UwsgiDecoder(
    {
      onHead(head, vars, contentLength) {
        out.calls.push('head');
        Object.assign(out, { head, vars, contentLength });
      },
      onBody(c) {
        out.calls.push('body');
        out.body.push(c.slice());
      },
      onBodyEnd() {
        out.calls.push('end');
      },
      onError(e) {
        out.calls.push('error');
        out.error = e;
      },
    },
    options,
  );
  for (const c of chunks) out.decoder.push(c);
  if (end) out.decoder.end();
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const all = new Uint8Array(parts.reduce((n, c) => n + c.length, 0));
  let o = 0;
  for (const c of parts) {
    all.set(c, o);
    o += c.length;
  }
  return all;
}

const oneByOne = (b: Uint8Array) => Array.from(b, (x) => new Uint8Array([x]));
const toBytes = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));

/** Errors expected from decode(): the code, and exactly one onError. */
function failed(r: Decoded, code: string): UwsgiProtocolError {
  expect(r.error).toBeInstanceOf(UwsgiProtocolError);
  expect(r.error?.code).toBe(code);
  expect(r.calls.filter((c) => c === 'error')).toEqual(['error']);
  expect(r.decoder.state).toBe('error');
  return r.error as UwsgiProtocolError;
}

describe('nginx captures', () => {
  test('GET: the header, every var as nginx sent it, no body', () => {
    expect(Array.from(GET.subarray(0, 4))).toEqual([0x00, 0x76, 0x01, 0x00]);
    expect(GET.length).toBe(4 + 374);
    const r = decode([GET]);
    expect(r.error).toBeUndefined();
    expect(r.head).toEqual({ modifier1: 0, size: 374, modifier2: 0 });
    expect(r.vars).toEqual(GET_VARS);
    // Empty values are sent, not left out; SERVER_NAME is empty; HTTP_HOST has no port.
    expect(getVar(r.vars as UwsgiVars, 'CONTENT_TYPE')).toBe('');
    expect(getVar(r.vars as UwsgiVars, 'CONTENT_LENGTH')).toBe('');
    expect(getVar(r.vars as UwsgiVars, 'SERVER_NAME')).toBe('');
    expect(getVar(r.vars as UwsgiVars, 'HTTP_HOST')).toBe('127.0.0.1');
    expect(getVar(r.vars as UwsgiVars, 'HTTP_NOPE')).toBeUndefined();
    expect(r.contentLength).toBe(0);
    expect(r.calls).toEqual(['head', 'end']);
    expect(r.decoder.state).toBe('done');
  });

  test('POST: the 11-byte body follows the vars block directly, and is not copied', () => {
    expect(Array.from(POST.subarray(0, 4))).toEqual([0x00, 0xd0, 0x01, 0x00]);
    expect(POST.length).toBe(4 + 464 + 11);
    const seen: Uint8Array[] = [];
    const d = new UwsgiDecoder({ onHead() {}, onBody: (c) => seen.push(c), onBodyEnd() {}, onError() {} });
    d.push(POST);
    expect(seen.length).toBe(1);
    expect(seen[0].buffer).toBe(POST.buffer);
    expect(seen[0].byteOffset).toBe(4 + 464);

    const r = decode([POST]);
    expect(r.head).toEqual({ modifier1: 0, size: 464, modifier2: 0 });
    expect(r.vars).toEqual(POST_VARS);
    expect(r.contentLength).toBe(11);
    expect(utf8(concat(r.body))).toBe('hello=world');
    expect(r.calls).toEqual(['head', 'body', 'end']);
    expect(r.decoder.state).toBe('done');
  });

  test('GET → Request: URL, method, headers without nginx doubles', () => {
    const req = varsToRequest(GET_VARS, null);
    expect(req.method).toBe('GET');
    expect(req.url).toBe('http://127.0.0.1/path/x?a=1');
    expect(sorted(req.headers)).toEqual([
      ['accept', '*/*'],
      ['host', '127.0.0.1'],
      ['user-agent', 'curl/7.88.1'],
      ['x-test', 'yes'],
    ]);
    expect(req.body).toBeNull();
  });

  test('POST → Request: body text, content headers once, content-length kept in req.headers', async () => {
    const r = decode([POST]);
    const req = varsToRequest(r.vars as UwsgiVars, concat(r.body) as Uint8Array<ArrayBuffer>);
    expect(req.method).toBe('POST');
    expect(req.url).toBe('http://127.0.0.1/submit');
    expect(sorted(req.headers)).toEqual([
      ['accept', '*/*'],
      ['content-length', '11'],
      ['content-type', 'application/x-www-form-urlencoded'],
      ['host', '127.0.0.1'],
      ['user-agent', 'curl/7.88.1'],
    ]);
    expect(await req.text()).toBe('hello=world');
  });

  test('POST → Request with a streamed body (duplex: half)', async () => {
    const r = decode([POST]);
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(bytes('hello='));
        c.enqueue(bytes('world'));
        c.close();
      },
    });
    const req = varsToRequest(r.vars as UwsgiVars, body);
    expect(req.headers.get('content-length')).toBe('11');
    expect(await req.text()).toBe('hello=world');
  });

  test.each([
    ['GET', GET, GET_VARS, ''],
    ['POST', POST, POST_VARS, 'hello=world'],
  ])('%s decodes the same at every split point, and one byte at a time', (_, pkt, vars, body) => {
    const check = (r: Decoded) => {
      expect(r.error).toBeUndefined();
      expect(r.vars).toEqual(vars);
      expect(utf8(concat(r.body))).toBe(body);
      expect(r.calls.filter((c) => c !== 'body')).toEqual(['head', 'end']);
      expect(r.decoder.state).toBe('done');
    };
    for (let i = 0; i <= pkt.length; i++) check(decode([pkt.subarray(0, i), pkt.subarray(i)]));
    check(decode(oneByOne(pkt)));
    // And split in three, around the header and the vars block's end.
    for (const i of [1, 2, 3, 4, 5])
      for (const j of [pkt.length - 12, pkt.length - 11, pkt.length - 1]) check(decode([pkt.subarray(0, i), pkt.subarray(i, j), pkt.subarray(j)]));
  });

  test('bytes after the body are ignored: the body is never read to end of stream', () => {
    const r = decode([POST, bytes('GET / HTTP/1.1\r\n'), POST]);
    expect(utf8(concat(r.body))).toBe('hello=world');
    expect(r.calls).toEqual(['head', 'body', 'end']);
    r.decoder.end();
    expect(r.error).toBeUndefined();
    expect(r.decoder.state).toBe('done');
    const one = decode([concat([GET, bytes('trailing')])]);
    expect(one.calls).toEqual(['head', 'end']);
  });
});

function sorted(h: Headers): Array<[string, string]> {
  const all: Array<[string, string]> = [];
  h.forEach((v, k) => all.push([k, v]));
  return all.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

describe('encoding and round trips', () => {
  /** A small deterministic generator, so a failure replays. */
  function rng(seed: number) {
    return () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed / 0x100000000;
    };
  }
  const byteString = (r: () => number, n: number, lo = 0) => {
    let s = '';
    for (let i = 0; i < n; i++) s += String.fromCharCode(lo + Math.floor(r() * (256 - lo)));
    return s;
  };

  test('encodeVars and encodePacket write the documented layout', () => {
    expect(Array.from(encodeVars([['AB', 'xyz']]))).toEqual([2, 0, 0x41, 0x42, 3, 0, 0x78, 0x79, 0x7a]);
    expect(Array.from(encodeVars({ K: '' }))).toEqual([1, 0, 0x4b, 0, 0]);
    expect(Array.from(encodePacket({ K: 'v' }, { modifier2: 7 }))).toEqual([0, 6, 0, 7, 1, 0, 0x4b, 1, 0, 0x76]);
    expect(Array.from(encodePacket([]))).toEqual([0, 0, 0, 0]);
    expect(encodeVars([])).toEqual(new Uint8Array(0));
    const r = decode([encodePacket([['A', '1']], { modifier2: 9 })]);
    expect(r.head).toEqual({ modifier1: 0, size: 6, modifier2: 9 });
  });

  test('random vars: empty values, duplicate names, bytes 0x80–0xFF, nginx names; whole, split, byte by byte', () => {
    const r = rng(42);
    const names = ['HTTP_HOST', 'REQUEST_URI', 'HTTP_COOKIE', 'HTTPS', 'HTTP_HOSU', 'QUERY_STRINH', 'PATH_INF\u00d8'];
    for (let round = 0; round < 300; round++) {
      const vars: UwsgiVars = [];
      const n = Math.floor(r() * 20);
      for (let i = 0; i < n; i++) {
        const name = r() < 0.3 ? names[Math.floor(r() * names.length)] : byteString(r, Math.floor(r() * 14));
        const value = r() < 0.2 ? '' : byteString(r, Math.floor(r() * (r() < 0.1 ? 3000 : 40)), r() < 0.5 ? 0x80 : 0);
        vars.push([name, value]);
      }
      if (n > 0 && r() < 0.5) vars.push([vars[0][0], 'duplicate']);
      const clean = vars.filter(([k]) => k !== 'CONTENT_LENGTH');
      const pkt = encodePacket(clean);
      const cut = Math.floor(r() * (pkt.length + 1));
      for (const chunks of [[pkt], [pkt.subarray(0, cut), pkt.subarray(cut)], ...(round % 30 === 0 ? [oneByOne(pkt)] : [])]) {
        const out = decode(chunks);
        expect(out.error).toBeUndefined();
        expect(out.vars).toEqual(clean);
        expect(out.calls).toEqual(['head', 'end']);
      }
    }
  });

  test('every byte value survives in names and values', () => {
    let all = '';
    for (let i = 0; i < 256; i++) all += String.fromCharCode(i);
    const vars: UwsgiVars = [
      [all, all],
      ['\u0080\u0099\u00ff', '\u0000\u009f'],
    ];
    const pkt = encodePacket(vars);
    expect(Array.from(pkt.subarray(6, 6 + 256))).toEqual(Array.from({ length: 256 }, (_, i) => i));
    expect(decode([pkt]).vars).toEqual(vars);
  });

  test('a 65535-byte block, the largest there is, at the default buffer size', () => {
    const r = rng(7);
    const value = byteString(r, 65535 - 4 - 11);
    const pkt = encodePacket([['HTTP_COOKIE', value]]);
    expect(pkt.length).toBe(4 + 65535);
    expect(Array.from(pkt.subarray(0, 4))).toEqual([0, 0xff, 0xff, 0]);
    expect(decode([pkt]).vars).toEqual([['HTTP_COOKIE', value]]);
    expect(decode([pkt.subarray(0, 30000), pkt.subarray(30000)]).vars).toEqual([['HTTP_COOKIE', value]]);
    expect(decode([pkt], { bufferSize: 65535 }).head?.size).toBe(MAX_VARS_SIZE);
    // Many small vars filling the block.
    const many: UwsgiVars = [];
    for (let i = 0; i < 65535 / 15 - 1; i++) many.push([`K${String(i).padStart(4, '0')}`, `v${String(i).padStart(5, '0')}`]);
    const big = encodePacket(many);
    expect(big.length).toBeGreaterThan(65000);
    expect(decode(oneByOne(big)).vars).toEqual(many);
  });

  test('encodeVars refuses what a packet cannot hold', () => {
    expect(() => encodeVars([['K', 'v'.repeat(65535 - 5)]])).not.toThrow();
    expect(() => encodeVars([['K', 'v'.repeat(65535 - 4)]])).toThrow(RangeError);
    expect(() => encodeVars([['K', 'v'.repeat(65536)]])).toThrow(/is 65536 bytes; at most 65535 fit/);
    expect(() => encodeVars([['K'.repeat(65536), '']])).toThrow(RangeError);
    expect(() =>
      encodeVars([
        ['A', 'x'.repeat(40000)],
        ['B', 'x'.repeat(40000)],
      ]),
    ).toThrow(/block of 80010 bytes is larger than 65535/);
    expect(() => encodeVars([['K', '\u20ac']])).toThrow(/U\+20ac at index 0 is not a byte/);
    expect(() => encodePacket({ K: 'v'.repeat(65536) })).toThrow(RangeError);
  });
});

describe('vars → Request', () => {
  const url = (vars: UwsgiVars) => varsToRequest(vars, null).url;

  test('host from HTTP_HOST, else SERVER_NAME[:SERVER_PORT], else localhost', () => {
    expect(
      url([
        ['SERVER_NAME', 'app.local'],
        ['SERVER_PORT', '8080'],
        ['PATH_INFO', '/p'],
        ['QUERY_STRING', 'x=1'],
      ]),
    ).toBe('http://app.local:8080/p?x=1');
    expect(
      url([
        ['SERVER_NAME', 'app.local'],
        ['SERVER_PORT', '80'],
        ['PATH_INFO', '/p'],
        ['QUERY_STRING', ''],
      ]),
    ).toBe('http://app.local/p');
    expect(
      url([
        ['HTTPS', 'on'],
        ['SERVER_NAME', 'a'],
        ['SERVER_PORT', '443'],
        ['REQUEST_URI', '/'],
      ]),
    ).toBe('https://a/');
    expect(
      url([
        ['HTTPS', 'on'],
        ['SERVER_NAME', 'a'],
        ['SERVER_PORT', '80'],
        ['REQUEST_URI', '/'],
      ]),
    ).toBe('https://a:80/');
    expect(
      url([
        ['SERVER_NAME', '::1'],
        ['SERVER_PORT', '9000'],
        ['REQUEST_URI', '/'],
      ]),
    ).toBe('http://[::1]:9000/');
    expect(
      url([
        ['HTTP_HOST', 'h.example:81'],
        ['SERVER_NAME', 'a'],
        ['SERVER_PORT', '9'],
        ['REQUEST_URI', '/'],
      ]),
    ).toBe('http://h.example:81/');
    expect(url([['REQUEST_URI', '/x']])).toBe('http://localhost/x');
    expect(url([])).toBe('http://localhost/');
    expect(
      url([
        ['HTTP_HOST', 'b\u00c3\u00bccher.example'],
        ['REQUEST_URI', '/'],
      ]),
    ).toBe('http://xn--bcher-kva.example/');
  });

  test('scheme from REQUEST_SCHEME, else HTTPS on/1/yes', () => {
    for (const on of ['on', 'ON', '1', 'yes', 'Yes'])
      expect(
        url([
          ['HTTPS', on],
          ['HTTP_HOST', 'h'],
        ]),
      ).toBe('https://h/');
    for (const off of ['off', '', '0', 'no', 'true'])
      expect(
        url([
          ['HTTPS', off],
          ['HTTP_HOST', 'h'],
        ]),
      ).toBe('http://h/');
    expect(
      url([
        ['REQUEST_SCHEME', 'https'],
        ['HTTP_HOST', 'h'],
      ]),
    ).toBe('https://h/');
    expect(
      url([
        ['REQUEST_SCHEME', 'HTTP'],
        ['HTTPS', 'on'],
        ['HTTP_HOST', 'h'],
      ]),
    ).toBe('http://h/');
    expect(
      url([
        ['REQUEST_SCHEME', 'gopher'],
        ['HTTPS', 'on'],
        ['HTTP_HOST', 'h'],
      ]),
    ).toBe('https://h/');
  });

  test('path from REQUEST_URI, else PATH_INFO and QUERY_STRING; absolute and relative targets', () => {
    expect(
      url([
        ['HTTP_HOST', 'h'],
        ['REQUEST_URI', '/a?b=1'],
        ['PATH_INFO', '/ignored'],
        ['QUERY_STRING', 'z'],
      ]),
    ).toBe('http://h/a?b=1');
    expect(
      url([
        ['HTTP_HOST', 'h'],
        ['REQUEST_URI', ''],
        ['PATH_INFO', '/p'],
        ['QUERY_STRING', 'q'],
      ]),
    ).toBe('http://h/p?q');
    expect(
      url([
        ['HTTP_HOST', 'h'],
        ['REQUEST_URI', 'http://other.example:8/abs?x'],
      ]),
    ).toBe('http://other.example:8/abs?x');
    expect(
      url([
        ['HTTP_HOST', 'h'],
        ['REQUEST_URI', 'HTTPS://other.example/'],
      ]),
    ).toBe('https://other.example/');
    expect(
      url([
        ['HTTP_HOST', 'h'],
        ['REQUEST_URI', '*'],
      ]),
    ).toBe('http://h/*');
    expect(
      url([
        ['HTTP_HOST', 'h'],
        ['PATH_INFO', 'rel'],
      ]),
    ).toBe('http://h/rel');
    expect(
      url([
        ['HTTP_HOST', 'h'],
        ['REQUEST_URI', '/a/../b/./c'],
      ]),
    ).toBe('http://h/b/c');
  });

  test('URI bytes: UTF-8 as the URL parser would encode it, other bytes kept, # and \\ not reinterpreted', () => {
    // "/café?q=été" as nginx sends it: the raw UTF-8 bytes.
    expect(
      url([
        ['HTTP_HOST', 'h'],
        ['REQUEST_URI', '/caf\u00c3\u00a9?q=\u00c3\u00a9t\u00c3\u00a9'],
      ]),
    ).toBe('http://h/caf%C3%A9?q=%C3%A9t%C3%A9');
    expect(
      url([
        ['HTTP_HOST', 'h'],
        ['PATH_INFO', '/caf\u00c3\u00a9'],
        ['QUERY_STRING', ''],
      ]),
    ).toBe('http://h/caf%C3%A9');
    expect(
      url([
        ['HTTP_HOST', 'h'],
        ['REQUEST_URI', '/bad\u00ff\u00c3'],
      ]),
    ).toBe('http://h/bad%FF%C3');
    expect(
      url([
        ['HTTP_HOST', 'h'],
        ['REQUEST_URI', '/a#b'],
      ]),
    ).toBe('http://h/a%23b');
    expect(
      url([
        ['HTTP_HOST', 'h'],
        ['REQUEST_URI', '/static/..\\secret?x=\\'],
      ]),
    ).toBe('http://h/static/..%5Csecret?x=\\');
  });

  test('headers: HTTP_* renamed, repeats appended, latin1 values byte for byte', () => {
    const req = varsToRequest(
      [
        ['REQUEST_URI', '/'],
        ['HTTP_HOST', 'h'],
        ['HTTP_X_A', '1'],
        ['HTTP_ACCEPT_LANGUAGE', 'fr'],
        ['HTTP_X_A', '2'],
        ['HTTP_X_LATIN', 'caf\u00e9 \u00ff'],
        ['HTTP_', 'not a header'],
        ['HTTPS', 'off'],
      ],
      null,
    );
    expect(sorted(req.headers)).toEqual([
      ['accept-language', 'fr'],
      ['host', 'h'],
      ['x-a', '1, 2'],
      ['x-latin', 'caf\u00e9 \u00ff'],
    ]);
  });

  test('repeated HTTP_COOKIE vars join with "; " (RFC 6265), other repeats with ", ", on every runtime', () => {
    const req = varsToRequest(
      [
        ['REQUEST_URI', '/'],
        ['HTTP_HOST', 'h'],
        ['HTTP_COOKIE', 'a=1'],
        ['HTTP_X_A', '1'],
        ['HTTP_COOKIE', 'b=2; c=3'],
        ['HTTP_X_A', '2'],
        ['HTTP_COOKIE', 'd=4'],
      ],
      null,
    );
    expect(req.headers.get('cookie')).toBe('a=1; b=2; c=3; d=4');
    expect(req.headers.get('x-a')).toBe('1, 2');
    // One Cookie line is left as it is.
    expect(
      varsToRequest(
        [
          ['HTTP_HOST', 'h'],
          ['HTTP_COOKIE', 'a=1, b=2'],
        ],
        null,
      ).headers.get('cookie'),
    ).toBe('a=1, b=2');
  });

  test('repeated vars join as Headers.append joins them: each value without its surrounding whitespace', () => {
    const vars: Array<[string, string]> = [
      ['HTTP_HOST', 'h'],
      ['HTTP_X_A', ' 1 \t'],
      ['HTTP_X_A', '\t2 '],
      ['HTTP_COOKIE', 'a=1 '],
      ['HTTP_COOKIE', ' b=2'],
    ];
    const req = varsToRequest(vars, null);
    const expected = new Headers();
    expected.append('x-a', ' 1 \t');
    expected.append('x-a', '\t2 ');
    expect(req.headers.get('x-a')).toBe(expected.get('x-a'));
    expect(req.headers.get('x-a')).toBe('1, 2');
    expect(req.headers.get('cookie')).toBe('a=1; b=2');
  });

  test("tsgi's HTTP/1.1 parser joins repeated Cookie lines the same way", () => {
    const head = new TextEncoder().encode('GET / HTTP/1.1\r\nHost: h\r\nCookie: a=1\r\nX-A: 1\r\ncookie: b=2\r\nX-A: 2\r\n\r\n');
    const parsed = parseHead(head, 0, head.length - 4);
    expect(parsed.headers.get('cookie')).toBe('a=1; b=2');
    expect(parsed.headers.get('x-a')).toBe('1, 2');
  });

  test('CONTENT_TYPE and CONTENT_LENGTH: the CGI vars win, nginx HTTP_* copies only when they are missing', () => {
    const h = (vars: UwsgiVars) => sorted(varsToRequest([['REQUEST_METHOD', 'POST'], ['HTTP_HOST', 'h'], ...vars], null).headers).filter(([k]) => k !== 'host');
    expect(
      h([
        ['CONTENT_TYPE', 'a/b'],
        ['CONTENT_LENGTH', '3'],
        ['HTTP_CONTENT_TYPE', 'c/d'],
        ['HTTP_CONTENT_LENGTH', '9'],
      ]),
    ).toEqual([
      ['content-length', '3'],
      ['content-type', 'a/b'],
    ]);
    expect(
      h([
        ['HTTP_CONTENT_TYPE', 'c/d'],
        ['HTTP_CONTENT_LENGTH', '9'],
      ]),
    ).toEqual([
      ['content-length', '9'],
      ['content-type', 'c/d'],
    ]);
    expect(
      h([
        ['CONTENT_TYPE', ''],
        ['CONTENT_LENGTH', ''],
      ]),
    ).toEqual([]);
    expect(
      h([
        ['CONTENT_TYPE', ''],
        ['CONTENT_LENGTH', '0'],
      ]),
    ).toEqual([['content-length', '0']]);
  });

  test('the first REQUEST_METHOD, REQUEST_URI and HTTP_HOST win, as getVar', () => {
    const vars: UwsgiVars = [
      ['REQUEST_METHOD', 'PUT'],
      ['REQUEST_METHOD', 'DELETE'],
      ['REQUEST_URI', '/one'],
      ['REQUEST_URI', '/two'],
      ['HTTP_HOST', 'first'],
      ['HTTP_HOST', 'second'],
    ];
    const req = varsToRequest(vars, null);
    expect(req.method).toBe(getVar(vars, 'REQUEST_METHOD'));
    expect(req.url).toBe('http://first/one');
  });

  test('GET and HEAD never get a body; other methods do', async () => {
    const body = new Uint8Array([104, 105]);
    for (const m of ['GET', 'HEAD', 'get', 'head'])
      expect(
        varsToRequest(
          [
            ['REQUEST_METHOD', m],
            ['CONTENT_LENGTH', '2'],
          ],
          body,
        ).body,
      ).toBeNull();
    for (const m of ['POST', 'PUT', 'DELETE', 'PATCH', 'PROPFIND', 'OPTIONS']) {
      const req = varsToRequest(
        [
          ['REQUEST_METHOD', m],
          ['CONTENT_LENGTH', '2'],
        ],
        body,
      );
      expect(req.method).toBe(m);
      expect(await req.text()).toBe('hi');
    }
    expect(varsToRequest([['REQUEST_METHOD', '']], null).method).toBe('GET');
  });

  test("the signal is the request's", () => {
    const ac = new AbortController();
    const req = varsToRequest([['REQUEST_URI', '/']], null, { signal: () => ac.signal });
    expect(req.signal.aborted).toBe(false);
    ac.abort();
    expect(req.signal.aborted).toBe(true);
  });

  test('the signal is made only when read, and a clone keeps it', () => {
    let made = 0;
    const ac = new AbortController();
    const req = varsToRequest([['REQUEST_URI', '/']], null, {
      signal: () => {
        made++;
        return ac.signal;
      },
    });
    expect(made).toBe(0);
    const copy = req.clone();
    ac.abort(new DOMException('gone', 'AbortError'));
    expect(req.signal.aborted).toBe(true);
    expect(copy.signal.reason).toBeInstanceOf(DOMException);
    expect(copy.signal.aborted).toBe(true);
  });

  test('vars that make no valid request: a TypeError that says why', () => {
    const bad = (vars: UwsgiVars, message: RegExp) => {
      let caught: unknown;
      try {
        varsToRequest(vars, null);
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(TypeError);
      expect((caught as Error).message).toMatch(message);
    };
    bad(
      [
        ['HTTP_HOST', 'bad host'],
        ['REQUEST_URI', '/'],
      ],
      /^invalid request host "bad host"/,
    );
    bad(
      [
        ['HTTP_HOST', 'evil.example/x?'],
        ['REQUEST_URI', '/'],
      ],
      /^invalid request host "evil.example\/x\?"/,
    );
    bad(
      [
        ['HTTP_HOST', 'user@evil.example'],
        ['REQUEST_URI', '/'],
      ],
      /^invalid request host/,
    );
    bad(
      [
        ['HTTP_HOST', 'h:port'],
        ['REQUEST_URI', '/'],
      ],
      /^cannot make a request of "GET" "http:\/\/h:port\/"/,
    );
    bad([['HTTP_X_A', 'a\nb']], /^invalid request header from uwsgi var "HTTP_X_A"/);
    bad([['HTTP_X(Y', 'v']], /^invalid request header from uwsgi var "HTTP_X\(Y"/);
    bad([['CONTENT_TYPE', 'a\u0000b']], /^invalid request header from uwsgi var "CONTENT_TYPE or CONTENT_LENGTH"/);
    bad([['REQUEST_METHOD', 'G T']], /"G T"/);
    for (const m of ['TRACE', 'TRACK', 'CONNECT', 'connect']) bad([['REQUEST_METHOD', m]], /is not served \(fetch forbids CONNECT, TRACE and TRACK\)/);
  });

  test('an unknown but valid method: kept on Node and Deno, refused on Bun (which would make GET of it)', () => {
    if (onBun)
      expect(() => varsToRequest([['REQUEST_METHOD', 'FOO']], null)).toThrow(
        /method "FOO" is not valid or not supported by this runtime \(it made GET of it\)/,
      );
    else expect(varsToRequest([['REQUEST_METHOD', 'FOO']], null).method).toBe('FOO');
  });
});

describe('Request → vars (as nginx) → packet → decoder → Request', () => {
  const info = { remoteAddr: '10.0.0.1', remotePort: 5555, serverName: 'example.com', serverPort: 8443, scheme: 'https' as const };

  test("the vars nginx's uwsgi_params would send, in its order", () => {
    const req = new Request('https://example.com:8443/caf%C3%A9/a%2Fb%zz/x?q=%C3%A9t%C3%A9&b=2', {
      method: 'PUT',
      headers: { 'x-one': '1', 'content-type': 'text/plain', 'content-length': '5' },
      body: 'hello',
    });
    expect(requestToVars(req, { ...info, documentRoot: '/srv' })).toEqual([
      ['QUERY_STRING', 'q=%C3%A9t%C3%A9&b=2'],
      ['REQUEST_METHOD', 'PUT'],
      ['CONTENT_TYPE', 'text/plain'],
      ['CONTENT_LENGTH', '5'],
      ['REQUEST_URI', '/caf%C3%A9/a%2Fb%zz/x?q=%C3%A9t%C3%A9&b=2'],
      // Decoded to bytes, as $document_uri: UTF-8 bytes as a byte string, %2F decoded too, %zz kept.
      ['PATH_INFO', '/caf\u00c3\u00a9/a/b%zz/x'],
      ['DOCUMENT_ROOT', '/srv'],
      ['SERVER_PROTOCOL', 'HTTP/1.1'],
      ['REQUEST_SCHEME', 'https'],
      ['HTTPS', 'on'],
      ['REMOTE_ADDR', '10.0.0.1'],
      ['REMOTE_PORT', '5555'],
      ['SERVER_PORT', '8443'],
      ['SERVER_NAME', 'example.com'],
      ['HTTP_HOST', 'example.com:8443'],
      ['HTTP_CONTENT_LENGTH', '5'],
      ['HTTP_CONTENT_TYPE', 'text/plain'],
      ['HTTP_X_ONE', '1'],
    ]);
    const plain = requestToVars(new Request('http://h/', { headers: { host: 'h' } }), { ...info, scheme: 'http', serverPort: 80 });
    expect(getVar(plain, 'HTTPS')).toBeUndefined();
    expect(getVar(plain, 'REQUEST_SCHEME')).toBe('http');
    expect(getVar(plain, 'QUERY_STRING')).toBe('');
    expect(getVar(plain, 'CONTENT_LENGTH')).toBe('');
    expect(getVar(plain, 'DOCUMENT_ROOT')).toBe('');
    expect(plain.filter(([k]) => k === 'HTTP_HOST')).toEqual([['HTTP_HOST', 'h']]);
  });

  test.each([
    ['PUT', 'https://example.com:8443/caf%C3%A9/x?q=%C3%A9t%C3%A9&b=2', 'hello'],
    ['POST', 'http://example.com/form', 'a=1&b=\u00e9'],
    ['GET', 'http://127.0.0.1:8080/?', null],
    ['DELETE', 'https://example.com/items/7', null],
    ['PATCH', 'http://[::1]:9000/p?x=y%20z', '{"k":1}'],
  ])('%s %s keeps method, URL, headers and body', async (method, href, text) => {
    const body = text === null ? null : bytes(text);
    const headers = new Headers({ 'x-one': '1', accept: 'text/html', cookie: 'a=1; b=2' });
    if (body) {
      headers.set('content-type', 'text/plain;charset=utf-8');
      headers.set('content-length', String(body.length));
    }
    const original = new Request(href, { method, headers, body });
    const vars = requestToVars(original, { ...info, scheme: href.startsWith('https:') ? 'https' : 'http' });
    const out = decode([encodePacket(vars), ...(body ? [body] : [])]);
    expect(out.error).toBeUndefined();
    expect(out.calls.at(-1)).toBe('end');
    expect(out.contentLength).toBe(body ? body.length : 0);
    const req = varsToRequest(out.vars as UwsgiVars, out.body.length ? (concat(out.body) as Uint8Array<ArrayBuffer>) : null);
    expect(req.method).toBe(original.method);
    expect(req.url).toBe(original.url);
    const withHost = new Headers(original.headers);
    withHost.set('host', new URL(href).host);
    expect(sorted(req.headers)).toEqual(sorted(withHost));
    expect(await req.text()).toBe(text ?? '');
  });
});

describe('malformed input: an error, never a crash or a wait', () => {
  test('truncated header, then end', () => {
    expect(failed(decode([new Uint8Array([0, 10])], undefined, true), 'truncated-header').message).toBe('connection closed after 2 of at least 4 header bytes');
    expect(failed(decode([], undefined, true), 'truncated-header').message).toBe('connection closed after 0 of at least 4 header bytes');
  });

  test('truncated vars, then end', () => {
    for (const chunks of [[GET.subarray(0, 100)], oneByOne(GET.subarray(0, 100)), [GET.subarray(0, 4)]]) {
      const r = decode(chunks);
      expect(r.decoder.state).toBe('vars');
      r.decoder.end();
      const got = concat(chunks).length;
      expect(failed(r, 'truncated-header').message).toBe(`connection closed after ${got} of 378 header and vars bytes`);
      expect(r.calls).toEqual(['error']);
    }
  });

  test('a block beyond --buffer-size: refused at the header, naming the size and the option', () => {
    const pkt = encodePacket([['HTTP_COOKIE', 'c'.repeat(5000 - 4 - 11)]]);
    expect(pkt[1] | (pkt[2] << 8)).toBe(5000);
    for (const chunks of [[pkt], [pkt.subarray(0, 4)], oneByOne(pkt.subarray(0, 4))]) {
      const r = decode(chunks, { bufferSize: 4096 });
      const e = failed(r, 'block-too-large');
      expect(e.message).toBe('invalid request block size: 5000 (max 4096); raise --buffer-size (at most 65535)');
      expect(e.size).toBe(5000);
      expect(e.limit).toBe(4096);
      expect(r.calls).toEqual(['error']);
    }
    expect(decode([pkt], { bufferSize: 5000 }).error).toBeUndefined();
    expect(failed(decode([pkt], { bufferSize: 4999 }), 'block-too-large').limit).toBe(4999);
  });

  test('a name length past the block', () => {
    // Block of 4 bytes: name length 5, but only "AB" follows.
    const e = failed(decode([new Uint8Array([0, 4, 0, 0, 5, 0, 0x41, 0x42])]), 'bad-vars');
    expect(e.message).toBe("malformed vars block: a name length of 5 at offset 4 runs past the block's end");
    expect(e.offset).toBe(4);
    // The second var's name, after a good first one.
    const e2 = failed(decode([new Uint8Array([0, 10, 0, 0, 1, 0, 0x41, 1, 0, 0x42, 9, 0, 0x43, 0x44])]), 'bad-vars');
    expect(e2.message).toBe("malformed vars block: a name length of 9 at offset 10 runs past the block's end");
  });

  test('a value length past the block', () => {
    const e = failed(decode([new Uint8Array([0, 6, 0, 0, 1, 0, 0x41, 9, 0, 0x42])]), 'bad-vars');
    expect(e.message).toBe("malformed vars block: a value length of 9 for A at offset 7 runs past the block's end");
    // The value length itself cut by the block's end.
    const e2 = failed(decode([new Uint8Array([0, 4, 0, 0, 1, 0, 0x41, 3])]), 'bad-vars');
    expect(e2.message).toBe("malformed vars block: the value length of A at offset 7 runs past the block's end");
  });

  test('a lone byte where a name length should be', () => {
    const e = failed(decode([new Uint8Array([0, 1, 0, 0, 7])]), 'bad-vars');
    expect(e.message).toBe("malformed vars block: a name length at offset 4 runs past the block's end");
  });

  test('the bad-vars error arrives the same in any chunking', () => {
    const pkt = new Uint8Array([0, 6, 0, 0, 1, 0, 0x41, 9, 0, 0x42, 1, 2, 3]);
    expect(failed(decode(oneByOne(pkt)), 'bad-vars').offset).toBe(7);
  });

  test('HTTP sent to a uwsgi socket', () => {
    for (const line of [
      'GET / HTTP/1.1\r\nHost: x\r\n\r\n',
      'POST /x HTTP/1.1\r\n',
      'HEAD / HTTP/1.0',
      'PUT /',
      'DELETE /',
      'OPTIONS * HTTP/1.1',
      'PATCH /',
      'CONNECT h:443',
      'TRACE /',
      'PRI * HTTP/2.0\r\n',
      'PROPFIND /',
    ]) {
      for (const chunks of [[bytes(line)], oneByOne(bytes(line).subarray(0, 4))]) {
        const e = failed(decode(chunks), 'looks-like-http');
        expect(e.message).toContain(`(${JSON.stringify(line.slice(0, 4))}…)`);
        expect(e.message).toContain('this is a uwsgi socket');
        expect(e.message).toContain('HTTP clients need --http-socket or --http');
      }
    }
  });

  test('a modifier1 other than 0', () => {
    expect(failed(decode([new Uint8Array([5, 0, 0, 0])]), 'unsupported-modifier').message).toBe(
      "unsupported modifier1 5: tsgi serves modifier1 0 (a vars block, as nginx's uwsgi_pass sends)",
    );
    // A TLS ClientHello.
    expect(failed(decode([new Uint8Array([0x16, 0x03, 0x01, 0x02, 0x00])]), 'unsupported-modifier').message).toContain(
      'unsupported modifier1 22 (this looks like a TLS handshake)',
    );
    // Lower case is not a method: a plain modifier error.
    expect(failed(decode([bytes('get / HTTP/1.1')]), 'unsupported-modifier').message).toContain('modifier1 103');
  });

  test('a CONTENT_LENGTH that is not a number of bytes', () => {
    for (const bad of ['abc', '-1', '+1', '1e3', ' 5', '5 ', '0x10', '1.5', '99999999999999999999']) {
      const r = decode([encodePacket({ REQUEST_METHOD: 'POST', CONTENT_LENGTH: bad })]);
      const e = failed(r, 'bad-content-length');
      expect(e.message).toContain(JSON.stringify(bad));
      expect(r.calls).toEqual(['error']);
    }
    expect(
      failed(
        decode([
          encodePacket([
            ['CONTENT_LENGTH', '3'],
            ['CONTENT_LENGTH', '4'],
          ]),
        ]),
        'bad-content-length',
      ).message,
    ).toBe('two different CONTENT_LENGTH vars ("3" and "4")');
  });

  test('CONTENT_LENGTH missing, empty, zero, leading zeros, repeated with one value', () => {
    expect(decode([encodePacket({})]).contentLength).toBe(0);
    expect(decode([encodePacket({ CONTENT_LENGTH: '' })]).calls).toEqual(['head', 'end']);
    expect(decode([encodePacket({ CONTENT_LENGTH: '0' })]).calls).toEqual(['head', 'end']);
    const r = decode([encodePacket({ CONTENT_LENGTH: '007' }), bytes('1234567890')]);
    expect(r.contentLength).toBe(7);
    expect(utf8(concat(r.body))).toBe('1234567');
    expect(
      decode([
        encodePacket([
          ['CONTENT_LENGTH', '2'],
          ['CONTENT_LENGTH', '2'],
        ]),
        bytes('ab'),
      ]).calls,
    ).toEqual(['head', 'body', 'end']);
  });

  test('a body shorter than CONTENT_LENGTH, then end', () => {
    const r = decode([encodePacket({ CONTENT_LENGTH: '10' }), new Uint8Array(4)]);
    expect(r.decoder.state).toBe('body');
    r.decoder.end();
    expect(failed(r, 'truncated-body').message).toBe('connection closed with 6 body bytes missing (CONTENT_LENGTH)');
    expect(concat(r.body).length).toBe(4);
    expect(r.calls).toEqual(['head', 'body', 'error']);
  });

  test('input and end after an error are ignored; end after done is no error', () => {
    const r = decode([new Uint8Array([9, 0, 0, 0]), GET, POST], undefined, true);
    expect(r.calls).toEqual(['error']);
    r.decoder.end();
    expect(r.calls).toEqual(['error']);
    const ok = decode([GET], undefined, true);
    expect(ok.calls).toEqual(['head', 'end']);
    expect(ok.decoder.state).toBe('done');
  });

  test('states: head, vars, body, done', () => {
    const r = decode([]);
    expect(r.decoder.state).toBe('head');
    r.decoder.push(POST.subarray(0, 3));
    expect(r.decoder.state).toBe('head');
    r.decoder.push(POST.subarray(3, 10));
    expect(r.decoder.state).toBe('vars');
    r.decoder.push(POST.subarray(10, 4 + 464 + 1));
    expect(r.decoder.state).toBe('body');
    r.decoder.push(new Uint8Array(0));
    r.decoder.push(POST.subarray(4 + 464 + 1));
    expect(r.decoder.state).toBe('done');
    expect(utf8(concat(r.body))).toBe('hello=world');
  });
});

describe('response head', () => {
  const head = (res: Response, method = 'GET', contentLength?: number) => {
    const b = encodeResponseHead(res, { method, contentLength });
    let s = '';
    for (const x of b) s += String.fromCharCode(x);
    return s;
  };

  test('status line with the reason phrase, headers, content-length, blank line', () => {
    expect(head(new Response(null, { status: 404, headers: { 'content-type': 'text/plain', 'x-a': '1' } }), 'GET', 9)).toBe(
      'HTTP/1.1 404 Not Found\r\ncontent-type: text/plain\r\nx-a: 1\r\ncontent-length: 9\r\n\r\n',
    );
    expect(head(new Response(null, { status: 200, statusText: 'Fine' }))).toBe('HTTP/1.1 200 Fine\r\n\r\n');
    expect(head(new Response(null, { status: 599 }), 'GET', 0)).toBe('HTTP/1.1 599 Unknown\r\ncontent-length: 0\r\n\r\n');
  });

  test('reason phrases', () => {
    const expected: Record<number, string> = {
      100: 'Continue',
      101: 'Switching Protocols',
      103: 'Early Hints',
      200: 'OK',
      201: 'Created',
      204: 'No Content',
      206: 'Partial Content',
      226: 'IM Used',
      301: 'Moved Permanently',
      302: 'Found',
      304: 'Not Modified',
      307: 'Temporary Redirect',
      308: 'Permanent Redirect',
      400: 'Bad Request',
      401: 'Unauthorized',
      404: 'Not Found',
      405: 'Method Not Allowed',
      413: 'Content Too Large',
      418: "I'm a teapot",
      422: 'Unprocessable Content',
      429: 'Too Many Requests',
      431: 'Request Header Fields Too Large',
      451: 'Unavailable For Legal Reasons',
      500: 'Internal Server Error',
      502: 'Bad Gateway',
      503: 'Service Unavailable',
      504: 'Gateway Timeout',
      511: 'Network Authentication Required',
    };
    for (const [code, reason] of Object.entries(expected)) expect(statusReason(Number(code))).toBe(reason);
    for (const unknown of [0, 99, 209, 306, 419, 599, 799, 1000]) expect(statusReason(unknown)).toBe('Unknown');
  });

  test('a statusText that would break the status line is replaced (Bun lets CR LF through)', () => {
    const res = new Response(null, { status: 201 });
    Object.defineProperty(res, 'statusText', { value: 'x\r\nset-cookie: evil=1' });
    expect(head(res)).toBe('HTTP/1.1 201 Created\r\n\r\n');
  });

  test('two Set-Cookie headers stay apart', () => {
    const h = new Headers();
    h.append('set-cookie', 'a=1; Path=/');
    h.append('x-z', 'z');
    h.append('set-cookie', 'b=2; HttpOnly');
    expect(head(new Response(null, { headers: h }), 'GET', 0)).toBe(
      'HTTP/1.1 200 OK\r\nx-z: z\r\nset-cookie: a=1; Path=/\r\nset-cookie: b=2; HttpOnly\r\ncontent-length: 0\r\n\r\n',
    );
  });

  test("no content-length added without a body (HEAD, 204, 304); HEAD keeps the app's own", () => {
    expect(head(new Response(null, { status: 204 }), 'GET', 0)).toBe('HTTP/1.1 204 No Content\r\n\r\n');
    expect(head(new Response(null, { status: 204, headers: { 'content-length': '0' } }), 'GET')).toBe('HTTP/1.1 204 No Content\r\n\r\n');
    expect(head(new Response(null, { status: 304, headers: { etag: '"e"', 'content-length': '3' } }), 'GET', 0)).toBe(
      'HTTP/1.1 304 Not Modified\r\netag: "e"\r\n\r\n',
    );
    expect(head(new Response(null, { status: 304, headers: { 'content-length': '3' } }), 'HEAD')).toBe(
      'HTTP/1.1 304 Not Modified\r\ncontent-length: 3\r\n\r\n',
    );
    expect(head(new Response(null), 'HEAD', 3)).toBe('HTTP/1.1 200 OK\r\n\r\n');
    expect(head(new Response(null, { headers: { 'content-length': '3' } }), 'HEAD', 0)).toBe('HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\n');
    expect(head(new Response(null, { status: 204, headers: { 'content-length': '3' } }), 'HEAD')).toBe('HTTP/1.1 204 No Content\r\n\r\n');
  });

  test('bodyAllowed', () => {
    expect(bodyAllowed('HEAD', 200)).toBe(false);
    expect(bodyAllowed('GET', 100)).toBe(false);
    expect(bodyAllowed('GET', 101)).toBe(false);
    expect(bodyAllowed('GET', 199)).toBe(false);
    expect(bodyAllowed('GET', 204)).toBe(false);
    expect(bodyAllowed('GET', 304)).toBe(false);
    expect(bodyAllowed('GET', 200)).toBe(true);
    expect(bodyAllowed('POST', 201)).toBe(true);
    expect(bodyAllowed('GET', 205)).toBe(true);
    expect(bodyAllowed('DELETE', 500)).toBe(true);
  });

  test("the app's transfer-encoding is dropped; its content-length kept, never doubled", () => {
    expect(head(new Response(null, { headers: { 'transfer-encoding': 'chunked', 'x-b': '2' } }), 'GET', 5)).toBe(
      'HTTP/1.1 200 OK\r\nx-b: 2\r\ncontent-length: 5\r\n\r\n',
    );
    expect(head(new Response(null, { headers: { 'content-length': '4' } }), 'GET', 5)).toBe('HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\n');
    expect(head(new Response(null, { headers: { 'x-b': '2' } }), 'POST')).toBe('HTTP/1.1 200 OK\r\nx-b: 2\r\n\r\n');
  });

  test('header values are byte strings: one byte per char', () => {
    const b = encodeResponseHead(new Response(null, { headers: { 'x-l': 'caf\u00e9\u00ff' } }), { method: 'GET' });
    expect(Array.from(b)).toEqual(Array.from(toBytes('HTTP/1.1 200 OK\r\nx-l: caf\u00e9\u00ff\r\n\r\n')));
    expect(b.length).toBe('HTTP/1.1 200 OK\r\nx-l: caf??\r\n\r\n'.length);
  });

  test('Response.error() goes out as 502', () => {
    expect(head(Response.error(), 'GET')).toBe('HTTP/1.1 502 Bad Gateway\r\n\r\n');
    expect(head(Response.error(), 'GET', 0)).toBe('HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n');
  });
});
