/**
 * `tsgi --fastcgi-socket` behind a real nginx (`fastcgi_pass` with the stock fastcgi_params,
 * `fastcgi_keep_conn on` and an upstream with keepalive), over TCP and a UNIX socket, with
 * --master --processes 2; records straight at the socket (keep-conn, multiplexing, GET_VALUES,
 * unknown types and roles, ABORT_REQUEST, malformed input: the worker lives); a request the
 * client aborts mid-body; --limit-post and --buffer-size; the option from ini, JSON and env.
 */
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { encodePairs, encodeRecord, encodeRequest, FCGI, FCGI_STATUS, type UwsgiVars } from '../src/codec/index.ts';
import { cleanup, freePort, hasNginx, type Proc, RUNTIME, startNginx, startTsgi, tempDir, until } from './helpers.ts';
import { type Apache, hasApache, startApache } from './apache.ts';
import { requestSet, sha256 } from './request-set.ts';

const APP = 'test/fixtures/apps/echo.ts';
const SIGNAL_APP = 'test/fixtures/apps/signal.ts';

let tsgi: Proc;
let single: Proc;
let nginx: Proc;
let apaches: Apache[] = [];
let fcgiPort: number;
let singlePort: number;
let statsPort: number;
let sockPath: string;
const front: Record<'tcp' | 'unix' | 'single' | 'apache' | 'apacheReuse', number> = { tcp: 0, unix: 0, single: 0, apache: 0, apacheReuse: 0 };

beforeAll(async () => {
  if (!hasNginx) throw new Error('nginx is not installed: run .ci/run (it installs nginx-light) or apt-get install -y nginx-light');
  fcgiPort = await freePort();
  singlePort = await freePort();
  statsPort = await freePort();
  sockPath = join(tempDir(), 'app.sock');
  [tsgi, single] = await Promise.all([
    startTsgi([
      '--master',
      '--processes',
      '2',
      '--fastcgi-socket',
      `127.0.0.1:${fcgiPort}`,
      '--fastcgi-socket',
      sockPath,
      '--chmod-socket',
      '--vacuum',
      '--stats',
      `127.0.0.1:${statsPort}`,
      '--app',
      APP,
    ]),
    startTsgi([
      '--fastcgi-socket',
      `127.0.0.1:${singlePort}`,
      '--limit-post',
      '100000',
      '--buffer-size',
      '2048',
      '--socket-timeout',
      '1',
      '--app',
      SIGNAL_APP,
      '--mount',
      `/e=${APP}`,
    ]),
  ]);
  front.tcp = await freePort();
  front.unix = await freePort();
  front.single = await freePort();
  const location = (up: string) => `location / { include /etc/nginx/fastcgi_params; fastcgi_pass ${up}; fastcgi_keep_conn on; }
    location /slow { include /etc/nginx/fastcgi_params; fastcgi_pass ${up}; fastcgi_keep_conn on; fastcgi_buffering off; }`;
  nginx = await startNginx(
    `upstream fcgi_tcp { server 127.0.0.1:${fcgiPort}; keepalive 8; }
  upstream fcgi_unix { server unix:${sockPath}; keepalive 8; }
  upstream fcgi_single { server 127.0.0.1:${singlePort}; keepalive 8; }
  server { listen 127.0.0.1:${front.tcp}; ${location('fcgi_tcp')} }
  server { listen 127.0.0.1:${front.unix}; ${location('fcgi_unix')} }
  server { listen 127.0.0.1:${front.single};
    location / { include /etc/nginx/fastcgi_params; fastcgi_pass fcgi_single; fastcgi_keep_conn on;
      fastcgi_request_buffering off; fastcgi_buffering off; } }`,
    front.single,
  );
  if (hasApache) {
    // flushpackets=on: each STDOUT record goes to the client at once (a streamed answer streams).
    apaches = await Promise.all([
      startApache(`ProxyPass "/" "fcgi://127.0.0.1:${fcgiPort}/" flushpackets=on`),
      startApache(`ProxyPass "/" "fcgi://127.0.0.1:${fcgiPort}/" enablereuse=on flushpackets=on`),
    ]);
    [front.apache, front.apacheReuse] = apaches.map((a) => a.port);
  }
}, 90_000);

afterAll(async () => {
  await nginx?.stop('SIGQUIT');
  await Promise.all(apaches.map((a) => a.stop()));
  await Promise.all([tsgi?.stop(), single?.stop()]);
  await cleanup();
});

describe.each(['tcp', 'unix'] as const)(
  `nginx (fastcgi_keep_conn, upstream keepalive) → tsgi --fastcgi-socket over %s, --master --processes 2 (${RUNTIME})`,
  (kind) => {
    requestSet(
      (path) => `http://127.0.0.1:${front[kind]}${path}`,
      () => '127.0.0.1',
      () => tsgi.output(),
    );
  },
);

// Apache's mod_proxy_fcgi: a new connection per request (no FCGI_KEEP_CONN), or kept with enablereuse=on.
describe.each(['apache', 'apacheReuse'] as const)(`Apache httpd (mod_proxy_fcgi, %s) → tsgi --fastcgi-socket, --master --processes 2 (${RUNTIME})`, (kind) => {
  requestSet(
    (path) => `http://127.0.0.1:${front[kind]}${path}`,
    () => `127.0.0.1:${front[kind]}`,
    () => tsgi.output(),
    ', ',
  );

  test('a chunked upload (no CONTENT_LENGTH) is read to the empty STDIN record', async () => {
    const body = new Uint8Array(300_000).map((_, i) => (i * 31) & 255);
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        for (let o = 0; o < body.length; o += 50_000) c.enqueue(body.subarray(o, o + 50_000));
        c.close();
      },
    });
    const res = await fetch(`http://127.0.0.1:${front[kind]}/upload`, {
      method: 'POST',
      body: stream,
      duplex: 'half',
      headers: { connection: 'close' },
    } as RequestInit);
    expect(await res.json()).toEqual({ length: body.length, sha256: sha256(body) });
  });
});

interface Record_ {
  type: number;
  id: number;
  content: Buffer;
}

/** A FastCGI conversation straight at a socket: send, collect records until `ends` END_REQUESTs (or records), or a close. */
function talk(port: number, chunks: Uint8Array[], opts: { ends?: number; until?: (r: Record_[]) => boolean; ms?: number } = {}) {
  return new Promise<{ records: Record_[]; closed: boolean; socket: net.Socket }>((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    const records: Record_[] = [];
    const done = (closed: boolean) => {
      clearTimeout(timer);
      resolve({ records, closed, socket: s });
    };
    const enough = () => (opts.until ? opts.until(records) : records.filter((r) => r.type === FCGI.END_REQUEST).length >= (opts.ends ?? 1));
    const timer = setTimeout(() => done(false), opts.ms ?? 10_000);
    s.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 8) {
        const len = buf.readUInt16BE(4);
        const total = 8 + len + buf[6];
        if (buf.length < total) break;
        records.push({ type: buf[1], id: buf.readUInt16BE(2), content: buf.subarray(8, 8 + len) });
        buf = buf.subarray(total);
      }
      if (enough()) done(false);
    });
    s.on('error', () => {});
    s.on('close', () => done(true));
    s.on('connect', () => {
      for (const c of chunks) s.write(c);
    });
  });
}

/** The STDOUT of one request id, as text. */
const stdout = (records: Record_[], id: number) =>
  Buffer.concat(records.filter((r) => r.type === FCGI.STDOUT && r.id === id).map((r) => r.content)).toString('latin1');
const ends = (records: Record_[]) => records.filter((r) => r.type === FCGI.END_REQUEST).map((r) => [r.id, r.content.readUInt32BE(0), r.content[4]]);
const vars = (uri: string, extra: Record<string, string> = {}): UwsgiVars =>
  Object.entries({ REQUEST_METHOD: 'GET', REQUEST_URI: uri, HTTP_HOST: 'x', ...extra });
const hangUp = (s: net.Socket) => s.destroy();

describe(`records straight at the socket (${RUNTIME})`, () => {
  async function stillAnswers(): Promise<void> {
    const r = await talk(fcgiPort, [encodeRequest(1, vars('/ok'))]);
    expect(stdout(r.records, 1)).toMatch(/^Status: 200 OK\r\n[\s\S]*\r\n\r\nhello \/ok\n$/);
    hangUp(r.socket);
  }

  test('without FCGI_KEEP_CONN: Status head, body, empty STDOUT, END_REQUEST, then a close', async () => {
    const r = await talk(fcgiPort, [encodeRequest(1, vars('/ok'))], { ends: 2 });
    expect(r.closed).toBe(true);
    // The runtimes spell a string body's default type differently (UTF-8, utf-8).
    expect(stdout(r.records, 1)).toMatch(/^Status: 200 OK\r\ncontent-type: text\/plain;charset=utf-8\r\ncontent-length: 10\r\n\r\nhello \/ok\n$/i);
    expect(r.records.at(-2)).toMatchObject({ type: FCGI.STDOUT, id: 1, content: Buffer.alloc(0) });
    expect(ends(r.records)).toEqual([[1, 0, FCGI_STATUS.REQUEST_COMPLETE]]);
  });

  test('FCGI_KEEP_CONN: the connection stays open for the next request (same id)', async () => {
    const r = await talk(fcgiPort, [encodeRequest(1, vars('/one'), undefined, { keepConn: true })]);
    expect(r.closed).toBe(false);
    expect(stdout(r.records, 1)).toContain('hello /one');
    const second = new Promise<string>((resolve) => {
      let got = Buffer.alloc(0);
      r.socket.on('data', (d) => {
        got = Buffer.concat([got, d]);
        if (got.includes(Buffer.from([1, FCGI.END_REQUEST]))) resolve(got.toString('latin1'));
      });
    });
    r.socket.write(encodeRequest(1, vars('/two'), undefined, { keepConn: true }));
    expect(await second).toContain('hello /two');
    hangUp(r.socket);
  });

  test('FCGI_KEEP_CONN after a 1 MiB upload that filled the body stream (the Conn was paused): the next request is served', async () => {
    const body = new Uint8Array(1024 * 1024).map((_, i) => i & 255);
    const r = await talk(fcgiPort, [encodeRequest(1, vars('/upload', { REQUEST_METHOD: 'POST' }), body, { keepConn: true })]);
    expect(stdout(r.records, 1)).toContain(`"sha256":"${sha256(body)}"`);
    const next = await new Promise<string>((resolve) => {
      let got = Buffer.alloc(0);
      r.socket.on('data', (d) => {
        got = Buffer.concat([got, d]);
        if (got.includes(Buffer.from([1, FCGI.END_REQUEST]))) resolve(got.toString('latin1'));
      });
      r.socket.on('close', () => resolve(`closed: ${got.toString('latin1')}`));
      r.socket.write(encodeRequest(1, vars('/after-upload'), undefined, { keepConn: true }));
    });
    expect(next).toContain('hello /after-upload');
    hangUp(r.socket);
  });

  test('two requests multiplexed on one connection, their records interleaved: both answered', async () => {
    const a = encodeRequest(1, vars('/sleep?ms=300'), undefined, { keepConn: true });
    const b = encodeRequest(2, vars('/fast'), undefined, { keepConn: true });
    const r = await talk(fcgiPort, [a, b], { ends: 2 });
    const answered = ends(r.records).map(([id]) => id);
    expect(answered.sort()).toEqual([1, 2]);
    expect(stdout(r.records, 1)).toContain('slept 300 ms');
    expect(stdout(r.records, 2)).toContain('hello /fast');
    hangUp(r.socket);
  });

  test('GET_VALUES → GET_VALUES_RESULT (multiplexing: yes); an unknown type → UNKNOWN_TYPE', async () => {
    const ask = encodeRecord(FCGI.GET_VALUES, 0, encodePairs({ FCGI_MPXS_CONNS: '', FCGI_MAX_REQS: '', NOPE: '' }));
    const r = await talk(fcgiPort, [ask, encodeRecord(42, 0, new Uint8Array(3))], { until: (rs) => rs.length >= 2 });
    expect(r.records[0].type).toBe(FCGI.GET_VALUES_RESULT);
    expect(r.records[0].content.toString('latin1')).toBe('\x0f\x01FCGI_MPXS_CONNS1\x0d\x03FCGI_MAX_REQS100');
    expect(r.records[1]).toMatchObject({ type: FCGI.UNKNOWN_TYPE, id: 0 });
    expect(r.records[1].content[0]).toBe(42);
    hangUp(r.socket);
  });

  test('a role other than responder → END_REQUEST UNKNOWN_ROLE; the connection goes on', async () => {
    const r = await talk(fcgiPort, [encodeRequest(3, vars('/x'), undefined, { role: 2, keepConn: true }), encodeRequest(4, vars('/after'))], { ends: 2 });
    expect(ends(r.records)).toEqual([
      [3, 0, FCGI_STATUS.UNKNOWN_ROLE],
      [4, 0, FCGI_STATUS.REQUEST_COMPLETE],
    ]);
    expect(stdout(r.records, 4)).toContain('hello /after');
  });

  test('a 1 MiB POST in STDIN records reaches the app whole; the body is framed by STDIN, not CONTENT_LENGTH', async () => {
    const body = new Uint8Array(1024 * 1024).map((_, i) => (i * 13 + 5) & 255);
    const r = await talk(fcgiPort, [encodeRequest(1, vars('/upload', { REQUEST_METHOD: 'POST' }), body)]);
    expect(stdout(r.records, 1)).toContain(`{"length":${body.length},"sha256":"${sha256(body)}"}`);
    hangUp(r.socket);
  });

  const malformed: Array<[string, Uint8Array]> = [
    ['a version other than 1', new Uint8Array([2, 1, 0, 1, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0])],
    ['STDIN for a request never begun', encodeRecord(FCGI.STDIN, 7, new Uint8Array(5))],
    [
      'a name-value pair past its record',
      new Uint8Array([...encodeRequest(1, {}).subarray(0, 16), ...encodeRecord(FCGI.PARAMS, 1, new Uint8Array([1, 90, 65])), ...encodeRecord(FCGI.PARAMS, 1)]),
    ],
    ['garbage', crypto.getRandomValues(new Uint8Array(3000))],
  ];
  test.each(malformed)('%s: the connection closes, the log says why, the worker serves the next', async (_what, bytes) => {
    const r = await talk(fcgiPort, [bytes], { ms: 5000 });
    expect(r.closed).toBe(true);
    expect(await until(() => tsgi.output().includes('bad FastCGI record'))).toBe(true);
    await stillAnswers();
  });

  test('HTTP sent to a FastCGI socket gets a 400 that says so', async () => {
    const r = await talk(fcgiPort, [new TextEncoder().encode('GET / HTTP/1.1\r\nHost: x\r\n\r\n')], { ms: 5000 });
    expect(r.closed).toBe(true);
    await stillAnswers();
  });

  test('ABORT_REQUEST: the app sees req.signal abort, END_REQUEST follows, the connection goes on', async () => {
    const r = await talk(singlePort, [encodeRequest(1, vars('/wait?id=fa1'), undefined, { keepConn: true })], { until: () => true, ms: 0 });
    const state = async () => {
      const s = await talk(singlePort, [encodeRequest(1, vars('/state?id=fa1'))]);
      return stdout(s.records, 1);
    };
    expect(await until(async () => (await state()).includes('"state":"started"'))).toBe(true);
    const end = new Promise<Buffer>((resolve) => {
      let got = Buffer.alloc(0);
      r.socket.on('data', (d) => {
        got = Buffer.concat([got, d]);
        if (got.includes(Buffer.from([1, FCGI.END_REQUEST, 0, 1]))) resolve(got);
      });
    });
    r.socket.write(encodeRecord(FCGI.ABORT_REQUEST, 1));
    await end;
    expect(await state()).toContain('"state":"aborted"');
    expect(r.socket.destroyed).toBe(false);
    hangUp(r.socket);
  });

  test('--socket-timeout closes a connection that sends no whole request, not a kept one waiting for its next', async () => {
    const kept = await talk(singlePort, [encodeRequest(1, vars('/ok'), undefined, { keepConn: true })]);
    expect(stdout(kept.records, 1)).toContain('ok');
    const partial = await talk(singlePort, [encodeRequest(1, vars('/ok')).subarray(0, 20)], { ms: 15_000 });
    expect(partial.closed).toBe(true);
    expect(await until(() => single.output().includes('sent no whole FastCGI request within --socket-timeout 1 s'))).toBe(true);
    // The kept connection was idle longer than --socket-timeout: still open, and it answers.
    expect(kept.socket.destroyed).toBe(false);
    const next = new Promise<string>((resolve) => {
      let got = Buffer.alloc(0);
      kept.socket.on('data', (d) => {
        got = Buffer.concat([got, d]);
        if (got.includes(Buffer.from([1, FCGI.END_REQUEST]))) resolve(got.toString('latin1'));
      });
      kept.socket.on('close', () => resolve('closed'));
    });
    kept.socket.write(encodeRequest(1, vars('/ok'), undefined, { keepConn: true }));
    expect(await next).toContain('ok\n');
    hangUp(kept.socket);
  });

  test('--buffer-size bounds the params: a bigger request is refused with a log line', async () => {
    const r = await talk(singlePort, [encodeRequest(1, vars('/ok', { HTTP_X_BIG: 'b'.repeat(3000) }))], { ms: 5000 });
    expect(r.closed).toBe(true);
    expect(await until(() => single.output().includes('raise --buffer-size'))).toBe(true);
  });

  test('--limit-post: 413 by CONTENT_LENGTH, and for a body without one as it passes the limit', async () => {
    const big = new Uint8Array(200_000);
    const byLength = await talk(singlePort, [encodeRequest(1, vars('/ok', { REQUEST_METHOD: 'POST', CONTENT_LENGTH: String(big.length) }), big)]);
    expect(stdout(byLength.records, 1)).toMatch(/^Status: 413 /);
    // No CONTENT_LENGTH (Apache's chunked uploads): counted as it comes to an app that reads it.
    const streamed = await talk(singlePort, [encodeRequest(1, vars('/e/upload', { REQUEST_METHOD: 'POST' }), big)]);
    expect(stdout(streamed.records, 1)).toMatch(/^Status: 413 /);
    expect(ends(streamed.records)).toEqual([[1, 0, FCGI_STATUS.REQUEST_COMPLETE]]);
    // Logged as on every door.
    expect(await until(() => /bad request from .*larger than --limit-post \d+ \(413\)/.test(single.output()))).toBe(true);
  });
});

describe(`a client that goes mid-body, through nginx (fastcgi_request_buffering off) (${RUNTIME})`, () => {
  test("the app's req.signal aborts, and the next request is served", async () => {
    const s = net.connect(front.single, '127.0.0.1');
    await new Promise((r) => s.once('connect', r));
    s.write('POST /wait?id=mid HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n');
    s.write(new Uint8Array(10_000));
    const state = async () => (await fetch(`http://127.0.0.1:${front.single}/state?id=mid`, { headers: { connection: 'close' } })).text();
    expect(await until(async () => (await state()).includes('"state":"started"'))).toBe(true);
    s.destroy();
    expect(await until(async () => (await state()).includes('"state":"aborted"'))).toBe(true);
    const ok = await fetch(`http://127.0.0.1:${front.single}/ok?id=after`, { headers: { connection: 'close' } });
    expect(await ok.text()).toBe('ok\n');
  });
});

describe(`stats and the request log (${RUNTIME})`, () => {
  test('the stats document names both sockets "fastcgi"; requests are logged as on --socket', async () => {
    const doc = await new Promise<string>((resolve) => {
      const c = net.connect(statsPort, '127.0.0.1');
      let text = '';
      c.on('data', (d) => (text += d.toString()));
      c.on('close', () => resolve(text));
    });
    const stats = JSON.parse(doc) as { sockets: Array<{ name: string; proto: string }> };
    expect(stats.sockets.map((k) => k.proto)).toEqual(['fastcgi', 'fastcgi']);
    expect(tsgi.output()).toMatch(/\{\d+ vars in \d+ bytes\} \[[^\]]+\] GET \/echo\?a=1&b=two%20words => generated \d+ bytes in \d+ msecs \(HTTP\/1\.1 200\)/);
  });
});

describe(`--fastcgi-socket from ini, JSON and the environment (${RUNTIME})`, () => {
  test.each(['ini', 'json', 'env'] as const)('%s', async (how) => {
    const port = await freePort();
    const dir = tempDir();
    const args: string[] = [];
    let env: Record<string, string> = {};
    if (how === 'ini') {
      writeFileSync(join(dir, 'app.ini'), `[uwsgi]\nfastcgi-socket = 127.0.0.1:${port}\napp = ${join(process.cwd(), APP)}\n`);
      args.push(join(dir, 'app.ini'));
    } else if (how === 'json') {
      writeFileSync(join(dir, 'app.json'), JSON.stringify({ uwsgi: { 'fastcgi-socket': `127.0.0.1:${port}`, app: join(process.cwd(), APP) } }));
      args.push('--json', join(dir, 'app.json'));
    } else {
      env = { UWSGI_FASTCGI_SOCKET: `127.0.0.1:${port}` };
      args.push('--app', APP);
    }
    const p = await startTsgi(args, { env });
    try {
      expect(p.output()).toContain(`fastcgi socket 0 bound to TCP address 127.0.0.1:${port}`);
      const r = await talk(port, [encodeRequest(1, vars('/from-' + how))]);
      expect(stdout(r.records, 1)).toContain(`hello /from-${how}`);
    } finally {
      await p.stop();
    }
  });
});
