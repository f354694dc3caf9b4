/**
 * The FastCGI codec against real nginx and Apache captures (test/vectors), every record type,
 * byte-by-byte chunking, 4-byte lengths, several requests at once, malformed input, the encoders.
 * Runs on Node, Bun and Deno.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import {
  encodeEndRequest,
  encodeGetValuesResult,
  encodePairs,
  encodeRecord,
  encodeRequest,
  encodeStream,
  encodeUnknownType,
  FastCgiDecoder,
  type FastCgiErrorCode,
  FCGI,
  FCGI_STATUS,
  getVar,
  type UwsgiVars,
  varsToRequest,
} from '../../src/codec/index.ts';

const vector = (name: string) => new Uint8Array(readFileSync(new URL(`../vectors/${name}`, import.meta.url)));
const bytes = (s: string) => new TextEncoder().encode(s);
const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
};

interface Seen {
  id: number;
  role?: number;
  keepConn?: boolean;
  vars?: UwsgiVars;
  size?: number;
  body: number[];
  ended: boolean;
  aborted: boolean;
}

/** Everything a decoder reports, by request (in BEGIN order; an id begun again is a new entry). */
class Recorder {
  requests: Seen[] = [];
  getValues: string[][] = [];
  unknown: number[] = [];
  error: { code: FastCgiErrorCode; message: string } | null = null;
  readonly decoder: FastCgiDecoder;

  constructor(maxParams = 65535) {
    this.decoder = new FastCgiDecoder(
      {
        onBegin: (id, role, keepConn) => this.requests.push({ id, role, keepConn, body: [], ended: false, aborted: false }),
        onParams: (id, vars, size) => Object.assign(this.last(id), { vars, size }),
        onStdin: (id, chunk) => this.last(id).body.push(...chunk),
        onStdinEnd: (id) => {
          this.last(id).ended = true;
        },
        onAbort: (id) => {
          this.last(id).aborted = true;
        },
        onGetValues: (names) => this.getValues.push(names),
        onUnknownType: (type) => this.unknown.push(type),
        onError: (e) => {
          expect(this.error).toBeNull();
          this.error = { code: e.code, message: e.message };
        },
      },
      { maxParams },
    );
  }

  last(id: number): Seen {
    const r = this.requests.findLast((s) => s.id === id);
    if (!r) throw new Error(`no request ${id}`);
    return r;
  }

  pushAll(b: Uint8Array, step = b.length): this {
    for (let i = 0; i < b.length; i += step) this.decoder.push(b.slice(i, i + step));
    return this;
  }
}

const body = (s: Seen) => new Uint8Array(s.body);
const begin = (id: number, role = 1, flags = 0) => encodeRecord(FCGI.BEGIN_REQUEST, id, new Uint8Array([role >> 8, role & 255, flags, 0, 0, 0, 0, 0]));

describe('real peers (test/vectors)', () => {
  test('nginx GET: BEGIN_REQUEST (responder, no keep-conn), the params of fastcgi_params, an empty body', () => {
    const r = new Recorder().pushAll(vector('nginx-1.22-fastcgi-get.bin'));
    expect(r.error).toBeNull();
    expect(r.requests).toHaveLength(1);
    const [q] = r.requests;
    expect(q).toMatchObject({ id: 1, role: 1, keepConn: false, size: 469, ended: true });
    const vars = q.vars as UwsgiVars;
    expect(vars[0]).toEqual(['QUERY_STRING', 'a=1']);
    expect(getVar(vars, 'REQUEST_URI')).toBe('/path/x?a=1');
    expect(getVar(vars, 'SCRIPT_NAME')).toBe('/path/x');
    expect(getVar(vars, 'HTTP_X_TEST')).toBe('yes');
    expect(getVar(vars, 'CONTENT_LENGTH')).toBe('');
    expect(q.body).toEqual([]);
    const req = varsToRequest(vars, null);
    expect(req.url).toBe('http://127.0.0.1/path/x?a=1');
    expect(req.headers.get('x-test')).toBe('yes');
    expect(r.decoder.active).toBe(1);
    r.decoder.ended(1);
    expect(r.decoder.idle).toBe(true);
  });

  test('nginx POST: the body in one STDIN record, then an empty one', () => {
    const r = new Recorder().pushAll(vector('nginx-1.22-fastcgi-post.bin'));
    const [q] = r.requests;
    expect(new TextDecoder().decode(body(q))).toBe('hello=world');
    expect(q.ended).toBe(true);
    expect(getVar(q.vars as UwsgiVars, 'CONTENT_LENGTH')).toBe('11');
  });

  test('nginx big headers: 4-byte name and value lengths', () => {
    const r = new Recorder().pushAll(vector('nginx-1.22-fastcgi-bigheaders.bin'));
    expect(r.error).toBeNull();
    const vars = r.requests[0].vars as UwsgiVars;
    expect(getVar(vars, 'HTTP_X_BIG')).toBe('b'.repeat(20000));
    expect(getVar(vars, `HTTP_X_LONG_NAME_${'N'.repeat(200)}`)).toBe('v');
  });

  test('nginx fastcgi_keep_conn: two requests with id 1 on one connection, each with FCGI_KEEP_CONN', () => {
    const v = vector('nginx-1.22-fastcgi-keepconn.bin');
    const r = new Recorder();
    // The second BEGIN_REQUEST comes after the first answer: end request 1 when its input is whole.
    r.decoder.push(v.slice(0, 8));
    const dec = r.decoder;
    for (let i = 8; i < v.length; i++) {
      dec.push(v.slice(i, i + 1));
      if (r.requests.at(-1)?.ended && dec.active === 1) dec.ended(1);
    }
    expect(r.error).toBeNull();
    expect(r.requests.map((q) => [q.id, q.keepConn, getVar(q.vars as UwsgiVars, 'REQUEST_URI'), q.ended])).toEqual([
      [1, true, '/keep/one?a=1', true],
      [1, true, '/keep/two', true],
    ]);
  });

  test('Apache GET: SCRIPT_NAME is the whole path, no PATH_INFO, repeated headers merged', () => {
    const r = new Recorder().pushAll(vector('apache-2.4-fcgi-get.bin'), 3);
    const vars = r.requests[0].vars as UwsgiVars;
    expect(r.requests[0].keepConn).toBe(false);
    expect(getVar(vars, 'SCRIPT_NAME')).toBe('/f/a/b c');
    expect(getVar(vars, 'PATH_INFO')).toBeUndefined();
    expect(getVar(vars, 'REQUEST_URI')).toBe('/f/a/b%20c?x=1');
    expect(getVar(vars, 'HTTP_X_DUP')).toBe('1, 2');
    expect(getVar(vars, 'CONTENT_LENGTH')).toBeUndefined();
  });

  test('Apache chunked upload: no CONTENT_LENGTH, 8 KiB STDIN records read to the empty one', () => {
    const r = new Recorder().pushAll(vector('apache-2.4-fcgi-chunked.bin'), 1000);
    const [q] = r.requests;
    expect(getVar(q.vars as UwsgiVars, 'CONTENT_LENGTH')).toBeUndefined();
    expect(q.body).toHaveLength(20000);
    expect(q.ended).toBe(true);
  });

  test('Apache POST and enablereuse (FCGI_KEEP_CONN, two requests)', () => {
    const p = new Recorder().pushAll(vector('apache-2.4-fcgi-post.bin'));
    expect(new TextDecoder().decode(body(p.requests[0]))).toBe('hello=world');
    const v = vector('apache-2.4-fcgi-reuse.bin');
    const r = new Recorder();
    for (let i = 0; i < v.length; i++) {
      r.decoder.push(v.slice(i, i + 1));
      if (r.requests.at(-1)?.ended && r.decoder.active === 1) r.decoder.ended(1);
    }
    expect(r.error).toBeNull();
    expect(r.requests.map((q) => [q.keepConn, getVar(q.vars as UwsgiVars, 'REQUEST_URI')])).toEqual([
      [true, '/r/one?a=1'],
      [true, '/r/two'],
    ]);
  });

  test('every split point of every vector gives the same events', () => {
    for (const name of ['nginx-1.22-fastcgi-get.bin', 'nginx-1.22-fastcgi-post.bin', 'apache-2.4-fcgi-chunked.bin']) {
      const v = vector(name);
      const whole = new Recorder().pushAll(v);
      for (let at = 1; at < v.length; at += name.includes('chunked') ? 1999 : 1) {
        const r = new Recorder();
        r.decoder.push(v.slice(0, at));
        r.decoder.push(v.slice(at));
        expect(r.requests).toEqual(whole.requests);
      }
      expect(new Recorder().pushAll(v, 1).requests).toEqual(whole.requests);
    }
  });
});

describe('records', () => {
  test('params split across PARAMS records, a pair cut in the middle', () => {
    const pairs = encodePairs({ REQUEST_METHOD: 'GET', REQUEST_URI: '/x', HTTP_HOST: 'h' });
    const input = concat(
      begin(3),
      encodeRecord(FCGI.PARAMS, 3, pairs.subarray(0, 5)),
      encodeRecord(FCGI.PARAMS, 3, pairs.subarray(5)),
      encodeRecord(FCGI.PARAMS, 3),
      encodeRecord(FCGI.STDIN, 3),
    );
    const r = new Recorder().pushAll(input, 1);
    expect(r.requests[0].vars).toEqual([
      ['REQUEST_METHOD', 'GET'],
      ['REQUEST_URI', '/x'],
      ['HTTP_HOST', 'h'],
    ]);
    expect(r.requests[0].size).toBe(pairs.length);
  });

  test('4-byte lengths both ways: a 200 000-byte value spans four PARAMS records', () => {
    const big = 'x'.repeat(200_000);
    const input = encodeRequest(
      1,
      [
        ['HTTP_X', big],
        ['N'.repeat(300), ''],
      ],
      bytes('b'),
    );
    const r = new Recorder(1 << 20).pushAll(input, 4099);
    expect(r.error).toBeNull();
    expect(r.requests[0].vars).toEqual([
      ['HTTP_X', big],
      ['N'.repeat(300), ''],
    ]);
  });

  test('several requests at once, interleaved (multiplexing)', () => {
    const a = encodeRequest(1, { REQUEST_URI: '/a' }, bytes('AAAA'));
    const b = encodeRequest(2, { REQUEST_URI: '/b' }, bytes('BB'));
    // Records of each, interleaved one by one: both are 5 records (begin, params, params end, stdin, stdin end).
    const recordsOf = (x: Uint8Array) => {
      const out: Uint8Array[] = [];
      for (let o = 0; o < x.length; ) {
        const n = 8 + ((x[o + 4] << 8) | x[o + 5]) + x[o + 6];
        out.push(x.subarray(o, o + n));
        o += n;
      }
      return out;
    };
    const ra = recordsOf(a);
    const rb = recordsOf(b);
    const r = new Recorder();
    for (let i = 0; i < ra.length; i++) r.pushAll(concat(ra[i], rb[i]), 3);
    expect(r.requests.map((q) => [q.id, getVar(q.vars as UwsgiVars, 'REQUEST_URI'), new TextDecoder().decode(body(q)), q.ended])).toEqual([
      [1, '/a', 'AAAA', true],
      [2, '/b', 'BB', true],
    ]);
    expect(r.decoder.active).toBe(2);
  });

  test('ABORT_REQUEST for an active id is reported; for an answered one ignored, as its late STDIN', () => {
    const r = new Recorder();
    r.pushAll(concat(begin(1), encodeRecord(FCGI.PARAMS, 1), encodeRecord(FCGI.ABORT_REQUEST, 1)));
    expect(r.requests[0].aborted).toBe(true);
    r.decoder.ended(1);
    r.requests[0].aborted = false;
    r.pushAll(concat(encodeRecord(FCGI.STDIN, 1, bytes('late')), encodeRecord(FCGI.STDIN, 1), encodeRecord(FCGI.ABORT_REQUEST, 1)));
    expect(r.requests[0]).toMatchObject({ aborted: false, body: [], ended: false });
    expect(r.error).toBeNull();
  });

  test('GET_VALUES → the names; GET_VALUES_RESULT answers the known ones only', () => {
    const ask = encodeRecord(FCGI.GET_VALUES, 0, encodePairs({ FCGI_MAX_CONNS: '', FCGI_MAX_REQS: '', FCGI_MPXS_CONNS: '', OTHER: '' }));
    const r = new Recorder().pushAll(ask, 1);
    expect(r.getValues).toEqual([['FCGI_MAX_CONNS', 'FCGI_MAX_REQS', 'FCGI_MPXS_CONNS', 'OTHER']]);
    const out = encodeGetValuesResult(r.getValues[0], { FCGI_MAX_CONNS: '100', FCGI_MAX_REQS: '100', FCGI_MPXS_CONNS: '1' });
    expect([...out.subarray(0, 8)]).toEqual([1, FCGI.GET_VALUES_RESULT, 0, 0, 0, out.length - 8 - out[6], out[6], 0]);
    expect(out.length % 8).toBe(0);
    const back = new Recorder();
    back.decoder.push(concat(new Uint8Array([1, FCGI.GET_VALUES, 0, 0]), out.subarray(4)));
    expect(back.getValues).toEqual([['FCGI_MAX_CONNS', 'FCGI_MAX_REQS', 'FCGI_MPXS_CONNS']]);
  });

  test('unknown record types are reported and skipped (content and padding)', () => {
    const r = new Recorder().pushAll(concat(encodeRecord(42, 0, bytes('whatever')), encodeRecord(FCGI.DATA, 1, bytes('x')), encodeRequest(1, { A: 'b' })), 1);
    expect(r.unknown).toEqual([42, FCGI.DATA]);
    expect(r.requests[0].vars).toEqual([['A', 'b']]);
  });

  test('a role other than responder is reported with the role', () => {
    const r = new Recorder().pushAll(begin(7, 2, 1));
    expect(r.requests[0]).toMatchObject({ id: 7, role: 2, keepConn: true });
  });

  test('end(): clean between records, an error inside a record or a request', () => {
    const whole = new Recorder().pushAll(vector('nginx-1.22-fastcgi-post.bin'));
    whole.decoder.end();
    expect(whole.error).toBeNull();
    const cut = new Recorder().pushAll(vector('nginx-1.22-fastcgi-post.bin').slice(0, 30));
    cut.decoder.end();
    expect(cut.error?.code).toBe('truncated');
    const open = new Recorder().pushAll(concat(begin(1), encodeRecord(FCGI.PARAMS, 1)));
    open.decoder.end();
    expect(open.error?.code).toBe('truncated');
    expect(open.error?.message).toContain("request 1's STDIN");
  });
});

describe('malformed input: one clear error, then nothing', () => {
  const cases: Array<[string, Uint8Array, FastCgiErrorCode, RegExp, number?]> = [
    ['a version other than 1', new Uint8Array([2, 1, 0, 1, 0, 8, 0, 0]), 'bad-version', /version 2/],
    ['a uwsgi packet', new Uint8Array([0, 0x76, 1, 0, 0, 0, 0, 0]), 'bad-version', /uwsgi_pass needs --socket/],
    ['an HTTP request', bytes('GET / HTTP/1.1\r\n\r\n'), 'looks-like-http', /--http-socket/],
    ['BEGIN_REQUEST of the wrong size', encodeRecord(FCGI.BEGIN_REQUEST, 1, new Uint8Array(4)), 'bad-record', /4 bytes/],
    ['BEGIN_REQUEST with id 0', begin(0), 'bad-record', /id 0/],
    ['BEGIN_REQUEST for an active id', concat(begin(1), begin(1)), 'duplicate-request', /still active/],
    ['STDIN for an id never begun', encodeRecord(FCGI.STDIN, 9, bytes('x')), 'unknown-request', /STDIN for request 9/],
    ['PARAMS for an id never begun', encodeRecord(FCGI.PARAMS, 4), 'unknown-request', /PARAMS for request 4/],
    ['STDIN before the params ended', concat(begin(1), encodeRecord(FCGI.STDIN, 1, bytes('x'))), 'out-of-order', /before its PARAMS ended/],
    ['PARAMS after the params ended', concat(begin(1), encodeRecord(FCGI.PARAMS, 1), encodeRecord(FCGI.PARAMS, 1)), 'out-of-order', /after its PARAMS ended/],
    ['STDIN after the empty STDIN', concat(encodeRequest(1, {}), encodeRecord(FCGI.STDIN, 1, bytes('x'))), 'out-of-order', /after its empty STDIN/],
    ['params above the limit', encodeRequest(1, { HTTP_X: 'y'.repeat(200) }), 'params-too-large', /larger than 100 bytes; raise --buffer-size/, 100],
    [
      'a pair whose value runs past the block',
      concat(begin(1), encodeRecord(FCGI.PARAMS, 1, new Uint8Array([1, 9, 0x41, 0x42])), encodeRecord(FCGI.PARAMS, 1)),
      'bad-params',
      /offset 0/,
    ],
    [
      'a 4-byte length cut short',
      concat(begin(1), encodeRecord(FCGI.PARAMS, 1, new Uint8Array([1, 0x80, 0])), encodeRecord(FCGI.PARAMS, 1)),
      'bad-params',
      /runs past the end/,
    ],
  ];
  test.each(cases)('%s', (_what, input, code, message, maxParams) => {
    for (const step of [input.length, 1]) {
      const r = new Recorder(maxParams).pushAll(concat(input, encodeRequest(5, { A: 'b' })), step);
      expect(r.error?.code).toBe(code);
      expect(r.error?.message).toMatch(message);
      expect(r.requests.some((q) => q.id === 5)).toBe(false);
    }
  });
});

describe('encoders', () => {
  test('STDOUT: records of at most 65535 bytes, each padded to 8', () => {
    const data = new Uint8Array(65535 * 2 + 10).map((_, i) => i & 255);
    const out = encodeStream(FCGI.STDOUT, 513, data);
    const lengths: number[] = [];
    const got: Uint8Array[] = [];
    for (let o = 0; o < out.length; ) {
      expect([out[0], out[o + 1], (out[o + 2] << 8) | out[o + 3]]).toEqual([1, FCGI.STDOUT, 513]);
      const n = (out[o + 4] << 8) | out[o + 5];
      expect((n + out[o + 6]) % 8).toBe(0);
      lengths.push(n);
      got.push(out.subarray(o + 8, o + 8 + n));
      o += 8 + n + out[o + 6];
    }
    expect(lengths).toEqual([65535, 65535, 10]);
    expect(Buffer.compare(concat(...got), data)).toBe(0);
    expect(encodeStream(FCGI.STDOUT, 1, new Uint8Array(0))).toHaveLength(0);
    expect(() => encodeRecord(FCGI.STDOUT, 1, new Uint8Array(65536))).toThrow(RangeError);
  });

  test('END_REQUEST: the empty STDOUT, then appStatus (u32 BE) and protocolStatus', () => {
    expect([...encodeEndRequest(2, 0x01020304)]).toEqual([1, 6, 0, 2, 0, 0, 0, 0, 1, 3, 0, 2, 0, 8, 0, 0, 1, 2, 3, 4, 0, 0, 0, 0]);
    expect([...encodeEndRequest(1, 0, FCGI_STATUS.UNKNOWN_ROLE, false)]).toEqual([1, 3, 0, 1, 0, 8, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0]);
    expect(encodeEndRequest(1, 0, FCGI_STATUS.CANT_MPX_CONN, false)[12]).toBe(1);
  });

  test('UNKNOWN_TYPE names the type, on request id 0', () => {
    expect([...encodeUnknownType(42)]).toEqual([1, 11, 0, 0, 0, 8, 0, 0, 42, 0, 0, 0, 0, 0, 0, 0]);
  });

  test('pairs: 1-byte lengths below 128, 4-byte from 128, byte strings kept', () => {
    const p = encodePairs([
      ['A', 'x'.repeat(127)],
      ['B', 'y'.repeat(128)],
      ['\xff', '\x00\x80'],
    ]);
    expect([...p.subarray(0, 2)]).toEqual([1, 127]);
    expect([...p.subarray(130, 135)]).toEqual([1, 0x80, 0, 0, 128]);
    const r = new Recorder().pushAll(concat(begin(1), encodeRecord(FCGI.PARAMS, 1, p), encodeRecord(FCGI.PARAMS, 1)));
    expect(r.requests[0].vars?.[2]).toEqual(['\xff', '\x00\x80']);
  });
});
