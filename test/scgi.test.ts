/**
 * `tsgi --scgi-socket` with a master and two workers of two threads, on TCP and on a UNIX socket,
 * behind a real nginx (scgi_pass + the stock scgi_params) and a real Apache httpd
 * (mod_proxy_scgi), on the runtime running this test file: the request set every front door
 * passes, malformed netstrings straight at the socket, an upload whose sender closes halfway, and
 * the option from every configuration source.
 */
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { concatBytes } from '../src/codec/index.ts';
import { configFromObject, loadConfig } from '../src/config/index.ts';
import { APACHE_MISSING, type Apache, hasApache, startApache } from './apache.ts';
import { requestSet } from './request-set.ts';
import { cleanup, fetchFresh, freePort, hasNginx, type Proc, RUNTIME, rawExchange, startNginx, startTsgi, tempDir, until } from './helpers.ts';

const APP = 'test/fixtures/apps/echo.ts';

let tsgi: Proc;
let nginx: Proc;
let apache: Apache;
let scgiPort: number;
let statsPort: number;
let sockPath: string;
const front: Record<'tcp' | 'unix' | 'apache', number> = { tcp: 0, unix: 0, apache: 0 };

/** The master's stats document (uWSGI's schema). */
async function stats(): Promise<{ sockets: Array<{ name: string; proto: string }>; workers: Array<{ pid: number; respawn_count: number; status: string }> }> {
  const r = await rawExchange({ port: statsPort }, []);
  return JSON.parse(r.data.toString());
}

beforeAll(async () => {
  if (!hasNginx) throw new Error('nginx is not installed: run .ci/run (it installs nginx-light) or apt-get install -y nginx-light');
  if (!hasApache) throw new Error(`${APACHE_MISSING}: run .ci/run, it installs it`);
  scgiPort = await freePort();
  statsPort = await freePort();
  sockPath = join(tempDir(), 'app.sock');
  tsgi = await startTsgi([
    ...['--master', '--processes', '2', '--threads', '2', '--stats', `127.0.0.1:${statsPort}`],
    ...['--scgi-socket', `127.0.0.1:${scgiPort}`, '--scgi-socket', sockPath, '--chmod-socket', '--vacuum', '--app', APP],
  ]);
  front.tcp = await freePort();
  front.unix = await freePort();
  const location = (pass: string) => `location / { include /etc/nginx/scgi_params; scgi_pass ${pass}; }
    location /slow { include /etc/nginx/scgi_params; scgi_pass ${pass}; scgi_buffering off; }`;
  nginx = await startNginx(
    `server { listen 127.0.0.1:${front.tcp}; ${location(`127.0.0.1:${scgiPort}`)} }
  server { listen 127.0.0.1:${front.unix}; ${location(`unix:${sockPath}`)} }`,
    front.unix,
  );
  apache = await startApache(`ProxyPass / scgi://127.0.0.1:${scgiPort}/`);
  front.apache = apache.port;
}, 90_000);

afterAll(async () => {
  await nginx?.stop('SIGQUIT');
  await apache?.stop();
  await tsgi?.stop();
  await cleanup();
});

test(`the stats say proto "scgi" for both sockets (${RUNTIME})`, async () => {
  const doc = await stats();
  expect(doc.sockets.map((s) => [s.name, s.proto])).toEqual([
    [`127.0.0.1:${scgiPort}`, 'scgi'],
    [sockPath, 'scgi'],
  ]);
});

describe.each(['tcp', 'unix'] as const)(`nginx → tsgi --scgi-socket over %s, 2 workers × 2 threads (${RUNTIME})`, (kind) => {
  requestSet(
    (path) => `http://127.0.0.1:${front[kind]}${path}`,
    () => '127.0.0.1',
    () => tsgi.output(),
  );
});

describe(`Apache mod_proxy_scgi → tsgi --scgi-socket (${RUNTIME})`, () => {
  requestSet(
    (path) => `http://127.0.0.1:${front.apache}${path}`,
    () => `127.0.0.1:${front.apache}`,
    () => tsgi.output(),
    ', ',
  );
});

describe(`malformed netstrings straight to the socket (${RUNTIME})`, () => {
  const target = () => ({ port: scgiPort });
  const enc = new TextEncoder();
  const request = (pairs: Array<[string, string]>, body = '') => {
    const header = pairs.map(([k, v]) => `${k}\0${v}\0`).join('');
    return enc.encode(`${header.length}:${header},${body}`);
  };
  const good = () =>
    request([
      ['CONTENT_LENGTH', '0'],
      ['SCGI', '1'],
      ['REQUEST_METHOD', 'GET'],
      ['REQUEST_URI', '/ok'],
      ['HTTP_HOST', 'x'],
    ]);

  async function stillAnswers(): Promise<void> {
    const r = await rawExchange(target(), [good()]);
    expect(r.data.toString()).toMatch(/^Status: 200 OK\r\n/);
    expect(r.data.toString()).toContain('hello /ok');
  }

  test('a well-formed request gets a CGI-style answer (Status: line), then a close', async () => {
    const r = await rawExchange(target(), [good()]);
    expect(r.closed).toBe(true);
    expect(r.data.toString()).toMatch(/^Status: 200 OK\r\n[\s\S]*\r\n\r\nhello \/ok\n$/);
  });

  test('HTTP sent to an SCGI socket gets a 400 that says so', async () => {
    const r = await rawExchange(target(), [enc.encode('GET / HTTP/1.1\r\nHost: x\r\n\r\n')]);
    expect(r.closed).toBe(true);
    expect(r.data.toString()).toMatch(/^Status: 400 Bad Request\r\n/);
    expect(r.data.toString()).toContain('--http-socket');
    await stillAnswers();
  });

  test('a bad length, a missing comma, CONTENT_LENGTH not first, no SCGI=1: closed, logged, the worker lives', async () => {
    const before = (await stats()).workers.map((w) => w.pid);
    const bad = [
      enc.encode('12x:'),
      enc.encode('21:CONTENT_LENGTH\x000\x00SCGI\x001\x00;'),
      request([
        ['SCGI', '1'],
        ['CONTENT_LENGTH', '0'],
      ]),
      request([['CONTENT_LENGTH', '0']]),
      // Random bytes after one that is neither a digit nor a capital (those start a length or look like HTTP).
      concatBytes([new Uint8Array([0xff]), crypto.getRandomValues(new Uint8Array(3000))]),
    ];
    for (const b of bad) {
      const r = await rawExchange(target(), [b]);
      expect(r.closed).toBe(true);
      expect(r.data.length).toBe(0);
    }
    expect(await until(() => /bad SCGI request from .*no SCGI=1/.test(tsgi.output()))).toBe(true);
    expect(tsgi.output()).toMatch(/bad SCGI request from .*must start with CONTENT_LENGTH/);
    await stillAnswers();
    expect((await stats()).workers.map((w) => w.pid)).toEqual(before);
  });

  test('a header above --buffer-size is refused', async () => {
    const r = await rawExchange(target(), [enc.encode('70000:')]);
    expect(r.closed).toBe(true);
    expect(await until(() => /more than 65535 bytes \(--buffer-size\)/.test(tsgi.output()))).toBe(true);
    await stillAnswers();
  });

  test('a truncated header, then close', async () => {
    const r = await rawExchange(target(), [enc.encode('100:CONTENT_LENGTH\x00')], 3000);
    expect(r.data.length).toBe(0);
    await stillAnswers();
  });

  test('the body is read by CONTENT_LENGTH, never to end of stream', async () => {
    const pairs: Array<[string, string]> = [
      ['CONTENT_LENGTH', '10'],
      ['SCGI', '1'],
      ['REQUEST_METHOD', 'POST'],
      ['REQUEST_URI', '/upload'],
      ['HTTP_HOST', 'x'],
    ];
    // rawExchange never half-closes: an answer proves the server did not wait for EOF.
    const r = await rawExchange(target(), [request(pairs, '0123456789')]);
    expect(r.closed).toBe(true);
    expect(r.data.toString()).toContain('"length":10');
  });
});

// nginx cannot be the one that closes mid-body: it reads a body whole before it connects, and
// with scgi_request_buffering off nginx 1.22 sends CONTENT_LENGTH 0 (test/vectors/README.md).
test(`an upload whose sender closes halfway: the app's read fails, the worker lives and answers (${RUNTIME})`, async () => {
  const before = (await stats()).workers.map((w) => [w.pid, w.respawn_count]);
  const seen = tsgi.output().length;
  const header = `CONTENT_LENGTH\0${4 * 1024 * 1024}\0SCGI\x001\0REQUEST_METHOD\0POST\0REQUEST_URI\0/upload\0HTTP_HOST\0x\0`;
  await new Promise<void>((resolve) => {
    const s = net.connect(scgiPort, '127.0.0.1');
    s.on('error', () => {});
    s.on('connect', () => {
      s.write(`${header.length}:${header},`);
      s.write(new Uint8Array(256 * 1024));
      // Once the app is reading the body, the sender goes.
      void until(async () => (await stats()).workers.some((w) => w.status === 'busy'), 30_000).then(() => {
        s.destroy();
        resolve();
      });
    });
  });
  expect(await until(() => /bad SCGI request from .*: connection closed with \d+ body bytes missing/.test(tsgi.output().slice(seen)), 15_000)).toBe(true);
  expect(await until(() => /app error on POST \/upload/.test(tsgi.output().slice(seen)), 15_000)).toBe(true);
  const res = await fetchFresh(`http://127.0.0.1:${front.tcp}/upload`, { method: 'POST', body: 'after' });
  expect(await res.json()).toMatchObject({ length: 5 });
  expect((await stats()).workers.map((w) => [w.pid, w.respawn_count])).toEqual(before);
});

test('--scgi-socket from the command line, an ini file, a JSON file, the environment and serve()', () => {
  const dir = tempDir();
  const scgi = (argv: string[], env: Record<string, string> = {}) => {
    const cmd = loadConfig(argv, env, dir);
    if (cmd.kind !== 'serve') throw new Error(`expected serve, got ${cmd.kind}`);
    return cmd.options.scgiSocket;
  };
  expect(scgi(['--scgi-socket', ':4000', '--scgi-socket=/run/a.sock', '--app', 'x.ts'])).toEqual([':4000', '/run/a.sock']);
  writeFileSync(join(dir, 'app.ini'), '[uwsgi]\nscgi-socket = 127.0.0.1:4000\nscgi-socket = app.sock\napp = x.ts\n');
  expect(scgi([join(dir, 'app.ini')])).toEqual(['127.0.0.1:4000', 'app.sock']);
  writeFileSync(join(dir, 'app.json'), JSON.stringify({ uwsgi: { 'scgi-socket': [':4001'], app: 'x.ts' } }));
  expect(scgi([join(dir, 'app.json')])).toEqual([':4001']);
  expect(scgi([], { UWSGI_SCGI_SOCKET: ':4002', TSGI_APP: 'x.ts' })).toEqual([':4002']);
  expect(configFromObject({ scgiSocket: [':4003'], app: 'x.ts' }).options.scgiSocket).toEqual([':4003']);
});
