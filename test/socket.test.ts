/**
 * `tsgi --socket` on TCP and on a UNIX socket, with a real nginx (uwsgi_pass + the stock
 * uwsgi_params) in front, on the runtime running this test file.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { encodePacket } from '../src/codec/index.ts';
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

function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

describe.each(['tcp', 'unix'] as const)(`nginx → tsgi --socket over %s (${RUNTIME})`, (kind) => {
  const url = (path: string) => `http://127.0.0.1:${front[kind]}${path}`;

  test('GET with a query string and headers', async () => {
    const res = await fetch(url('/echo?a=1&b=two%20words'), { headers: { 'X-Test': 'yes', 'Accept-Language': 'fr' } });
    expect(res.status).toBe(200);
    const j = (await res.json()) as { method: string; url: string; headers: Record<string, string> };
    expect(j.method).toBe('GET');
    expect(j.url).toBe(`http://127.0.0.1/echo?a=1&b=two%20words`);
    expect(j.headers['x-test']).toBe('yes');
    expect(j.headers['accept-language']).toBe('fr');
    expect(j.headers.host).toBe('127.0.0.1');
  });

  test('POST of 1 MiB: the app sees every byte', async () => {
    const body = new Uint8Array(1024 * 1024);
    for (let i = 0; i < body.length; i++) body[i] = (i * 7 + 3) & 255;
    const res = await fetch(url('/upload'), { method: 'POST', body, headers: { 'content-type': 'application/octet-stream' } });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ length: body.length, sha256: sha256(body) });
  });

  test('a 2 MiB POST the app ignores, answered with 5 MiB', async () => {
    const res = await fetch(url('/big'), { method: 'POST', body: new Uint8Array(2 * 1024 * 1024) });
    expect(res.status).toBe(200);
    expect((await res.arrayBuffer()).byteLength).toBe(5 * 1024 * 1024);
  });

  test('HEAD: headers and no body', async () => {
    const res = await fetch(url('/head'), { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-head')).toBe('yes');
    expect((await res.arrayBuffer()).byteLength).toBe(0);
  });

  test('204 No Content', async () => {
    const res = await fetch(url('/nocontent'));
    expect(res.status).toBe(204);
    expect(res.headers.get('x-empty')).toBe('1');
    expect(await res.text()).toBe('');
  });

  test('two Set-Cookie headers stay apart', async () => {
    const res = await fetch(url('/cookies'));
    expect(res.headers.getSetCookie()).toEqual(['a=1; Path=/', 'b=2; Path=/; HttpOnly']);
  });

  test('a 5 MiB streamed response arrives whole', async () => {
    const res = await fetch(url('/big'));
    const got = new Uint8Array(await res.arrayBuffer());
    expect(got.length).toBe(5 * 1024 * 1024);
    const want = new Uint8Array(got.length);
    for (let i = 0; i < want.length; i++) want[i] = i % 251;
    expect(sha256(got)).toBe(sha256(want));
  });

  test('a slowly streamed response reaches the client chunk by chunk', async () => {
    const res = await fetch(url('/slow'));
    const reader = res.body!.getReader();
    const first = await reader.read();
    const firstAt = Date.now();
    expect(new TextDecoder().decode(first.value)).toMatch(/^chunk 0 /);
    let text = new TextDecoder().decode(first.value);
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      text += new TextDecoder().decode(r.value);
    }
    const doneAt = Date.now();
    expect(text.trim().split('\n')).toHaveLength(4);
    // The first chunk came before the others were even produced (they are 300 ms apart).
    expect(doneAt - firstAt).toBeGreaterThan(600);
  });

  test('an app that throws answers 500, and the next request works', async () => {
    const res = await fetch(url('/throw'));
    expect(res.status).toBe(500);
    await res.arrayBuffer();
    const rej = await fetch(url('/reject'));
    expect(rej.status).toBe(500);
    await rej.arrayBuffer();
    const ok = await fetch(url('/echo'));
    expect(ok.status).toBe(200);
    await ok.arrayBuffer();
    expect(tsgi.output()).toContain('boom (thrown on purpose by the test app)');
  });
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
