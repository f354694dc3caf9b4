/**
 * `tsgi --socket` on TCP and on a UNIX socket, with a real nginx (uwsgi_pass + the stock
 * uwsgi_params) in front, on the runtime running this test file.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { encodePacket } from '../src/codec/index.ts';
import { requestSet, sha256 } from './request-set.ts';
import { cleanup, freePort, hasNginx, rawExchange, RUNTIME, startNginx, startTsgi, tempDir, type Proc } from './helpers.ts';

const APP = 'test/fixtures/apps/echo.ts';

let tsgi: Proc;
let nginx: Proc;
let uwsgiPort: number;
let sockPath: string;
const front: Record<'tcp' | 'unix', number> = { tcp: 0, unix: 0 };

beforeAll(async () => {
  if (!hasNginx) throw new Error('nginx is not installed: run .ci/run (it installs nginx-light) or apt-get install -y nginx-light');
  uwsgiPort = await freePort();
  sockPath = join(tempDir(), 'app.sock');
  tsgi = await startTsgi(['--socket', `127.0.0.1:${uwsgiPort}`, '--socket', sockPath, '--chmod-socket', '--vacuum', '--app', APP]);
  front.tcp = await freePort();
  front.unix = await freePort();
  const location = (pass: string) => `location / { include /etc/nginx/uwsgi_params; uwsgi_pass ${pass}; }
    location /slow { include /etc/nginx/uwsgi_params; uwsgi_pass ${pass}; uwsgi_buffering off; }`;
  nginx = await startNginx(
    `server { listen 127.0.0.1:${front.tcp}; ${location(`127.0.0.1:${uwsgiPort}`)} }
  server { listen 127.0.0.1:${front.unix}; ${location(`unix:${sockPath}`)} }`,
    front.unix,
  );
}, 60_000);

afterAll(async () => {
  await nginx?.stop('SIGQUIT');
  await tsgi?.stop();
  await cleanup();
});

describe.each(['tcp', 'unix'] as const)(`nginx → tsgi --socket over %s (${RUNTIME})`, (kind) => {
  const url = (path: string) => `http://127.0.0.1:${front[kind]}${path}`;

  requestSet(
    url,
    () => '127.0.0.1',
    () => tsgi.output(),
  );
});

describe(`malformed packets straight to the socket (${RUNTIME})`, () => {
  const target = () => ({ port: uwsgiPort });
  const good = () => encodePacket({ REQUEST_METHOD: 'GET', REQUEST_URI: '/ok', HTTP_HOST: 'x' });

  async function stillAnswers(): Promise<void> {
    const r = await rawExchange(target(), [good()]);
    expect(r.data.toString()).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(r.data.toString()).toContain('hello /ok');
  }

  test('a well-formed packet gets a raw HTTP/1.1 answer and a close', async () => {
    const r = await rawExchange(target(), [good()]);
    expect(r.closed).toBe(true);
    expect(r.data.toString()).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nhello \/ok\n$/);
  });

  test('a truncated header, then close', async () => {
    const r = await rawExchange(target(), [new Uint8Array([0, 10])], 3000);
    expect(r.data.length).toBe(0);
    await stillAnswers();
  });

  test('HTTP sent to a uwsgi socket gets a 400 that says so', async () => {
    const r = await rawExchange(target(), [new TextEncoder().encode('GET / HTTP/1.1\r\nHost: x\r\n\r\n')]);
    expect(r.closed).toBe(true);
    expect(r.data.toString()).toMatch(/^HTTP\/1\.1 400 /);
    expect(r.data.toString()).toContain('--http-socket');
    await stillAnswers();
  });

  test('a key length past the block', async () => {
    const vars = new Uint8Array([5, 0, 0x41, 0x42]); // says 5 key bytes, has 2
    const head = new Uint8Array([0, vars.length, 0, 0]);
    const r = await rawExchange(target(), [head, vars]);
    expect(r.closed).toBe(true);
    expect(r.data.length).toBe(0);
    await stillAnswers();
  });

  test('a body shorter than CONTENT_LENGTH, then close', async () => {
    const pkt = encodePacket({ REQUEST_METHOD: 'POST', REQUEST_URI: '/upload', CONTENT_LENGTH: '100', HTTP_HOST: 'x' });
    const r = await rawExchange(target(), [pkt, new Uint8Array(10)], 3000);
    void r;
    await stillAnswers();
  });

  test('a non-zero modifier1 and garbage', async () => {
    const r = await rawExchange(target(), [new Uint8Array([7, 4, 0, 0, 1, 2, 3, 4])]);
    expect(r.closed).toBe(true);
    const g = await rawExchange(target(), [crypto.getRandomValues(new Uint8Array(3000))]);
    expect(g.closed).toBe(true);
    await stillAnswers();
  });

  test('a 1 MiB body streamed back while it arrives (full duplex, straight to the socket)', async () => {
    // nginx sends a whole request body before it reads the answer, so this is for direct clients.
    const body = new Uint8Array(1024 * 1024);
    for (let i = 0; i < body.length; i++) body[i] = (i * 13 + 5) & 255;
    const pkt = encodePacket({ REQUEST_METHOD: 'POST', REQUEST_URI: '/stream-echo', CONTENT_LENGTH: String(body.length), HTTP_HOST: 'x' });
    const r = await rawExchange(target(), [pkt, body]);
    const got = r.data.subarray(r.data.indexOf('\r\n\r\n') + 4);
    expect(r.data.toString('latin1', 0, 15)).toBe('HTTP/1.1 200 OK');
    expect(got.length).toBe(body.length);
    expect(sha256(got)).toBe(sha256(body));
  });

  test('a POST whose body the app ignores, with a 5 MiB answer: no deadlock with a sender that reads late', async () => {
    const body = new Uint8Array(2 * 1024 * 1024);
    const pkt = encodePacket({ REQUEST_METHOD: 'POST', REQUEST_URI: '/big', CONTENT_LENGTH: String(body.length), HTTP_HOST: 'x' });
    const r = await rawExchange(target(), [pkt, body]);
    expect(r.closed).toBe(true);
    expect(r.data.length).toBeGreaterThan(5 * 1024 * 1024);
  });

  test('the body is read exactly, never to end of stream (nginx keeps its side open)', async () => {
    const body = new TextEncoder().encode('0123456789');
    const pkt = encodePacket({ REQUEST_METHOD: 'POST', REQUEST_URI: '/upload', CONTENT_LENGTH: String(body.length), HTTP_HOST: 'x' });
    // rawExchange never half-closes: an answer proves the server did not wait for EOF.
    const r = await rawExchange(target(), [pkt, body]);
    expect(r.closed).toBe(true);
    expect(r.data.toString()).toContain(`"length":10`);
  });
});

describe(`--limit-post on --socket and --scgi-socket, straight to the sockets (${RUNTIME})`, () => {
  let limited: Proc;
  let uwsgi: number;
  let scgi: number;
  const body = 'x'.repeat(1000);

  beforeAll(async () => {
    uwsgi = await freePort();
    scgi = await freePort();
    limited = await startTsgi(['--socket', `127.0.0.1:${uwsgi}`, '--scgi-socket', `127.0.0.1:${scgi}`, '--limit-post', '100', '--app', APP]);
  }, 60_000);

  afterAll(async () => {
    await limited?.stop();
  });

  const vars = (length: number) => ({ REQUEST_METHOD: 'POST', REQUEST_URI: '/up', HTTP_HOST: 'x', CONTENT_LENGTH: String(length) });

  test('uwsgi: a CONTENT_LENGTH above it gets 413, one under it reaches the app', async () => {
    const big = await rawExchange({ port: uwsgi }, [encodePacket(vars(body.length)), new TextEncoder().encode(body)]);
    expect(big.data.toString()).toMatch(/^HTTP\/1\.1 413 [\s\S]*larger than --limit-post 100\n$/);
    const small = await rawExchange({ port: uwsgi }, [encodePacket(vars(10)), new TextEncoder().encode('x'.repeat(10))]);
    expect(small.data.toString()).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
  });

  test('SCGI: a CONTENT_LENGTH above it gets a CGI-style 413', async () => {
    const pairs = Object.entries({ CONTENT_LENGTH: String(body.length), SCGI: '1', REQUEST_METHOD: 'POST', REQUEST_URI: '/up', HTTP_HOST: 'x' });
    const header = pairs.map(([k, v]) => `${k}\0${v}\0`).join('');
    const r = await rawExchange({ port: scgi }, [new TextEncoder().encode(`${header.length}:${header},${body}`)]);
    expect(r.data.toString()).toMatch(/^Status: 413 [\s\S]*larger than --limit-post 100\n$/);
  });
});
