/**
 * The SCGI codec against real nginx and Apache captures (test/vectors), every split point and
 * byte-by-byte chunking, the --buffer-size limit, every malformed-input path, vars → Request and
 * the CGI-style answer head. Runs on Node, Bun and Deno.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import {
  concatBytes,
  encodeResponseHead,
  getVar,
  ScgiDecoder,
  type ScgiErrorCode,
  type ScgiProtocolError,
  type UwsgiVars,
  varsToRequest,
} from '../../src/codec/index.ts';

const vector = (name: string) => new Uint8Array(readFileSync(new URL(`../vectors/${name}`, import.meta.url)));
const bytes = (s: string) => new TextEncoder().encode(s);
const utf8 = (b: Uint8Array) => new TextDecoder().decode(b);

/** An SCGI request from its pairs (byte strings) and body. */
function scgi(pairs: UwsgiVars, body = ''): Uint8Array {
  const header = pairs.map(([k, v]) => `${k}\0${v}\0`).join('');
  return bytes(`${header.length}:${header},${body}`);
}

interface Decoded {
  heads: Array<{ size: number; vars: UwsgiVars; length: number }>;
  body: Uint8Array;
  ends: number;
  errors: ScgiProtocolError[];
  decoder: ScgiDecoder;
}

/** Feed the chunks to a fresh decoder and record what it reports. */
function decode(chunks: Uint8Array[], bufferSize = 65535, end = false): Decoded {
  const parts: Uint8Array[] = [];
  const d: Omit<Decoded, 'body' | 'decoder'> = { heads: [], ends: 0, errors: [] };
  const decoder = new ScgiDecoder(
    {
      onHead: (head, vars, length) => d.heads.push({ size: head.size, vars, length }),
      onBody: (c) => parts.push(c.slice()),
      onBodyEnd: () => d.ends++,
      onError: (e) => d.errors.push(e),
    },
    { bufferSize },
  );
  for (const c of chunks) decoder.push(c);
  if (end) decoder.end();
  return { ...d, body: concatBytes(parts), decoder };
}

const oneByOne = (b: Uint8Array) => Array.from(b, (_, i) => b.subarray(i, i + 1));

function failsWith(chunks: Uint8Array[], code: ScgiErrorCode, message: RegExp, opts: { bufferSize?: number; end?: boolean } = {}): void {
  const r = decode(chunks, opts.bufferSize, opts.end);
  expect(r.errors.map((e) => e.code)).toEqual([code]);
  expect(r.errors[0].message).toMatch(message);
  expect(r.heads).toEqual([]);
  expect(r.decoder.state).toBe('error');
}

const GET = vector('nginx-1.22-scgi-get.bin');
const POST = vector('nginx-1.22-scgi-post.bin');
const BIG = vector('nginx-1.22-scgi-bigheaders.bin');
const AGET = vector('apache-2.4-scgi-get.bin');
const APOST = vector('apache-2.4-scgi-post.bin');
const ABIG = vector('apache-2.4-scgi-bigheaders.bin');

/** What nginx 1.22 sent with /etc/nginx/scgi_params (test/vectors/README.md). */
const GET_VARS: UwsgiVars = [
  ['CONTENT_LENGTH', '0'],
  ['REQUEST_METHOD', 'GET'],
  ['REQUEST_URI', '/path/x?a=1'],
  ['QUERY_STRING', 'a=1'],
  ['CONTENT_TYPE', ''],
  ['DOCUMENT_URI', '/path/x'],
  ['DOCUMENT_ROOT', '/var/www/html'],
  ['SCGI', '1'],
  ['SERVER_PROTOCOL', 'HTTP/1.1'],
  ['REQUEST_SCHEME', 'http'],
  ['REMOTE_ADDR', '127.0.0.1'],
  ['REMOTE_PORT', getVar(decode([GET]).heads[0].vars, 'REMOTE_PORT') ?? ''],
  ['SERVER_PORT', getVar(decode([GET]).heads[0].vars, 'SERVER_PORT') ?? ''],
  ['SERVER_NAME', ''],
  ['HTTP_HOST', '127.0.0.1'],
  ['HTTP_USER_AGENT', 'curl/7.88.1'],
  ['HTTP_ACCEPT', '*/*'],
  ['HTTP_X_TEST', 'yes'],
];

describe('real captures', () => {
  test('nginx GET: the vars in order, CONTENT_LENGTH 0 first, no body', () => {
    const r = decode([GET]);
    expect(r.errors).toEqual([]);
    expect(r.heads).toHaveLength(1);
    expect(r.heads[0].size).toBe(343);
    expect(r.heads[0].vars).toEqual(GET_VARS);
    expect(r.heads[0].length).toBe(0);
    expect(r.ends).toBe(1);
    expect(r.body.length).toBe(0);
    expect(r.decoder.state).toBe('done');
  });

  test('nginx POST: the 11-byte body after the comma', () => {
    const r = decode([POST]);
    expect(r.heads[0].length).toBe(11);
    expect(getVar(r.heads[0].vars, 'CONTENT_TYPE')).toBe('application/x-www-form-urlencoded');
    expect(getVar(r.heads[0].vars, 'HTTP_CONTENT_LENGTH')).toBe('11');
    expect(utf8(r.body)).toBe('hello=world');
    expect(r.ends).toBe(1);
  });

  test('Apache GET and POST: the client headers first, SCRIPT_NAME the whole path, no PATH_INFO', () => {
    const g = decode([AGET]);
    expect(g.errors).toEqual([]);
    const v = g.heads[0].vars;
    expect(v[0]).toEqual(['CONTENT_LENGTH', '0']);
    expect(v[1]).toEqual(['SCGI', '1']);
    expect(getVar(v, 'SCRIPT_NAME')).toBe('/s/path/x');
    expect(getVar(v, 'PATH_INFO')).toBeUndefined();
    expect(getVar(v, 'REQUEST_URI')).toBe('/s/path/x?a=1');
    const p = decode([APOST]);
    expect(utf8(p.body)).toBe('hello=world');
    expect(getVar(p.heads[0].vars, 'HTTP_CONTENT_LENGTH')).toBeUndefined();
  });

  test('every vector decodes the same byte by byte and at every split point', () => {
    for (const v of [GET, POST, BIG, AGET, APOST, ABIG]) {
      const whole = decode([v]);
      expect(whole.errors).toEqual([]);
      const bytewise = decode(oneByOne(v));
      expect(bytewise.heads).toEqual(whole.heads);
      expect(bytewise.body).toEqual(whole.body);
      expect(bytewise.ends).toBe(1);
      const step = v.length > 1000 ? 97 : 1;
      for (let i = 1; i < v.length; i += step) {
        const split = decode([v.subarray(0, i), v.subarray(i)]);
        expect(split.heads).toEqual(whole.heads);
        expect(split.body).toEqual(whole.body);
        expect(split.ends).toBe(1);
      }
    }
  });

  test('big headers: above --buffer-size refused as soon as the length says so, below it taken', () => {
    failsWith([BIG.subarray(0, 5)], 'header-too-large', /more than 4096 bytes \(--buffer-size\): raise --buffer-size/, { bufferSize: 4096 });
    failsWith([ABIG], 'header-too-large', /more than 9575 bytes/, { bufferSize: 9575 });
    const r = decode([ABIG], 9576);
    expect(r.errors).toEqual([]);
    expect(getVar(r.heads[0].vars, 'HTTP_X_BIG')).toBe('b'.repeat(6000));
  });

  test('vars → Request: the URL, headers and body as for uwsgi', async () => {
    const g = varsToRequest(decode([GET]).heads[0].vars, null);
    expect(g.method).toBe('GET');
    expect(g.url).toBe('http://127.0.0.1/path/x?a=1');
    expect(g.headers.get('x-test')).toBe('yes');
    const p = decode([APOST]);
    const req = varsToRequest(p.heads[0].vars, p.body as Uint8Array<ArrayBuffer>);
    expect(req.url).toBe(`http://${getVar(p.heads[0].vars, 'HTTP_HOST')}/s/submit`);
    expect(req.headers.get('content-type')).toBe('application/x-www-form-urlencoded');
    expect(await req.text()).toBe('hello=world');
  });
});

describe('framing', () => {
  const post = (body: string, pairs: UwsgiVars = []) =>
    scgi([['CONTENT_LENGTH', String(body.length)], ['SCGI', '1'], ['REQUEST_METHOD', 'POST'], ...pairs], body);

  test('the body is read by CONTENT_LENGTH: bytes after it are not the request', () => {
    const r = decode([concatBytes([post('0123456789'), bytes('garbage after')])]);
    expect(utf8(r.body)).toBe('0123456789');
    expect(r.ends).toBe(1);
    expect(r.decoder.state).toBe('done');
  });

  test('empty values, a value with bytes above 0x7F and a repeated name are kept as sent', () => {
    const header = concatBytes([bytes('CONTENT_LENGTH\x000\x00SCGI\x001\x00X\x00\x00HTTP_A\x00'), new Uint8Array([0xe9, 0x80, 0]), bytes('X\x002\x00')]);
    const raw = concatBytes([bytes(`${header.length}:`), header, bytes(',')]);
    const r = decode([raw]);
    expect(r.errors).toEqual([]);
    expect(r.heads[0].vars).toEqual([
      ['CONTENT_LENGTH', '0'],
      ['SCGI', '1'],
      ['X', ''],
      ['HTTP_A', '\xe9\x80'],
      ['X', '2'],
    ]);
  });

  test('end(): quiet when the request is whole, truncated-header or truncated-body when not', () => {
    const done = decode([post('abc')], 65535, true);
    expect(done.errors).toEqual([]);
    failsWith([], 'truncated-header', /after 0 bytes of a netstring header/, { end: true });
    failsWith([post('abc').subarray(0, 10)], 'truncated-header', /connection closed after 10 bytes of the \d+-byte netstring header/, { end: true });
    const body = decode([post('abcdef').subarray(0, post('abcdef').length - 2)], 65535, true);
    expect(body.errors.map((e) => e.message)).toEqual(['connection closed with 2 body bytes missing (CONTENT_LENGTH)']);
    expect(body.heads).toHaveLength(1);
  });
});

describe('malformed input: one clear error, then nothing', () => {
  const ok: UwsgiVars = [
    ['CONTENT_LENGTH', '0'],
    ['SCGI', '1'],
  ];

  test('an HTTP request', () => {
    failsWith([bytes('GET / HTTP/1.1\r\nHost: x\r\n\r\n')], 'looks-like-http', /HTTP request came to an SCGI socket.*--http-socket/);
  });

  test('a bad length', () => {
    failsWith([bytes('abc:')], 'bad-netstring', /byte 0x61 where a digit or ':' belongs/);
    failsWith([bytes(':x,')], 'bad-netstring', /a ':' with no length before it/);
    failsWith([bytes('012:')], 'bad-netstring', /leading zero/);
    failsWith([bytes('12x')], 'bad-netstring', /byte 0x78/);
    failsWith([crypto.getRandomValues(new Uint8Array(64)).map((b) => (b < 0x30 ? b : 0x01))], 'bad-netstring', /malformed netstring/);
  });

  test('no comma after the header', () => {
    const raw = scgi(ok);
    raw[raw.length - 1] = 0x3b;
    failsWith([raw], 'bad-netstring', /byte 0x3b after the 24-byte header where ',' belongs/);
  });

  test('pairs that do not end in NUL, an empty name', () => {
    failsWith([bytes('21:CONTENT_LENGTH\x000\x00SCGI,')], 'bad-header', /a name with no NUL after it at offset 17/);
    failsWith([bytes('23:CONTENT_LENGTH\x000\x00SCGI\x001,')], 'bad-header', /the value of "SCGI" has no NUL after it/);
    failsWith([bytes('26:CONTENT_LENGTH\x000\x00SCGI\x001\x00\x00\x00,')], 'bad-header', /an empty name at offset 24/);
  });

  test('CONTENT_LENGTH not first, not a number, empty, twice and different', () => {
    failsWith(
      [
        scgi([
          ['SCGI', '1'],
          ['CONTENT_LENGTH', '0'],
        ]),
      ],
      'bad-content-length',
      /must start with CONTENT_LENGTH; it has "SCGI" first/,
    );
    failsWith([bytes('0:,')], 'bad-content-length', /it has an empty header/);
    failsWith(
      [
        scgi([
          ['CONTENT_LENGTH', '-1'],
          ['SCGI', '1'],
        ]),
      ],
      'bad-content-length',
      /CONTENT_LENGTH "-1" is not a number/,
    );
    failsWith(
      [
        scgi([
          ['CONTENT_LENGTH', ''],
          ['SCGI', '1'],
        ]),
      ],
      'bad-content-length',
      /CONTENT_LENGTH is empty/,
    );
    failsWith(
      [
        scgi([
          ['CONTENT_LENGTH', '99999999999999999'],
          ['SCGI', '1'],
        ]),
      ],
      'bad-content-length',
      /too large/,
    );
    failsWith([scgi([...ok, ['CONTENT_LENGTH', '5']])], 'bad-content-length', /two different CONTENT_LENGTH values \("0" and "5"\)/);
    expect(decode([scgi([...ok, ['CONTENT_LENGTH', '0']])]).errors).toEqual([]);
  });

  test('no SCGI=1', () => {
    failsWith([scgi([['CONTENT_LENGTH', '0']])], 'not-scgi', /no SCGI=1/);
    failsWith(
      [
        scgi([
          ['CONTENT_LENGTH', '0'],
          ['SCGI', '2'],
        ]),
      ],
      'not-scgi',
      /SCGI "2"/,
    );
  });

  test('input after an error is ignored, and end() adds nothing', () => {
    const r = decode([bytes('x'), GET], 65535, true);
    expect(r.errors).toHaveLength(1);
    expect(r.heads).toEqual([]);
  });
});

describe('the answer head', () => {
  test('cgi: a Status line instead of the HTTP status line, the rest as for uwsgi', () => {
    const res = new Response(bytes('hi'), { status: 201, headers: { 'content-type': 'text/plain', 'x-a': '1' } });
    expect(utf8(encodeResponseHead(res, { method: 'GET', contentLength: 2, cgi: true }))).toBe(
      'Status: 201 Created\r\ncontent-type: text/plain\r\nx-a: 1\r\ncontent-length: 2\r\n\r\n',
    );
    expect(utf8(encodeResponseHead(new Response(null, { status: 299 }), { method: 'GET', cgi: true }))).toMatch(/^Status: 299 Unknown\r\n/);
  });
});
