/**
 * HTTP in front of the app: `--http-socket` (TCP straight from clients, UNIX behind a real
 * nginx with proxy_pass) and the `--http` router, with two workers each, on the runtime running
 * this file. The request set of the nginx → --socket tests, then what only HTTP has: chunked
 * uploads, keep-alive, limits (413, 431), static files, mounts, 503 and 504.
 */
import { readdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  cleanup,
  fetchFresh,
  freePort,
  hasNginx,
  rawExchange,
  run,
  RUNTIME,
  startNginx,
  startTsgi,
  tempDir,
  tsgiCommand,
  until,
  type Proc,
} from './helpers.ts';
import { requestSet, sha256 } from './request-set.ts';

const APP = 'test/fixtures/apps/echo.ts';
const LIMIT = 3_000_000;
const COMMON = [
  '--processes',
  '2',
  '--app',
  APP,
  '--mount',
  '/a=test/fixtures/apps/mount-a.ts',
  '--mount',
  '/b=test/fixtures/apps/mount-b.ts',
  '--limit-post',
  String(LIMIT),
  '--buffer-size',
  '8192',
];

let socketSrv: Proc;
let router: Proc;
let nginx: Proc;
let sockPath: string;
let staticDir: string;
const port = { socket: 0, nginx: 0, router: 0 };

beforeAll(async () => {
  if (!hasNginx) throw new Error('nginx is not installed: run .ci/run (it installs nginx-light) or apt-get install -y nginx-light');
  const dir = tempDir();
  sockPath = join(dir, 'http.sock');
  staticDir = join(dir, 'public');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(staticDir);
  writeFileSync(join(staticDir, 'site.css'), 'body { color: teal }\n');
  writeFileSync(join(dir, 'secret.txt'), 'THE SECRET\n');
  port.socket = await freePort();
  port.router = await freePort();
  port.nginx = await freePort();
  [socketSrv, router] = await Promise.all([
    startTsgi(['--http-socket', `127.0.0.1:${port.socket}`, '--http-socket', sockPath, '--chmod-socket', ...COMMON]),
    startTsgi(['--http', `127.0.0.1:${port.router}`, '--static-map', `/static=${staticDir}`, '--http-timeout', '2', ...COMMON]),
  ]);
  const proxy = `proxy_pass http://unix:${sockPath}:; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host $http_host; proxy_buffering off;`;
  nginx = await startNginx(`server { listen 127.0.0.1:${port.nginx}; location / { ${proxy} } }`, port.nginx);
}, 90_000);

afterAll(async () => {
  await nginx?.stop('SIGQUIT');
  await Promise.all([socketSrv?.stop(), router?.stop()]);
  await cleanup();
});

const fronts = [
  ['--http-socket over TCP', 'socket'],
  ['--http-socket over UNIX behind nginx proxy_pass', 'nginx'],
  ['--http router', 'router'],
] as const;

describe.each(fronts)(`%s (${RUNTIME})`, (_name, which) => {
  const host = () => `127.0.0.1:${port[which]}`;
  requestSet(
    (path) => `http://${host()}${path}`,
    host,
    () => (which === 'router' ? router : socketSrv).output(),
  );
});

/**
 * The three ways in without nginx: raw bytes straight to the server. Under a master, all three
 * are served from the master's one socket (tsgi's HTTP/1.1 server on Bun and Deno, node:http on
 * Node), so pipelining and chunked trailers work everywhere (Bun.serve, which --reuse-port
 * uses, mishandles both: see the README).
 */
const direct = [
  ['--http-socket TCP', () => ({ port: port.socket })],
  ['--http-socket UNIX', () => ({ path: sockPath })],
  ['--http router', () => ({ port: port.router })],
] as const;

/** One connection, requests sent one after the other, each after the previous answer. */
async function session(target: { port: number } | { path: string }, requests: string[]): Promise<Array<{ status: number; head: string; body: string }>> {
  const s = 'port' in target ? net.connect(target.port, '127.0.0.1') : net.connect(target.path);
  let buf = Buffer.alloc(0);
  s.on('data', (d: Buffer) => (buf = Buffer.concat([buf, d])));
  s.on('error', () => {});
  await new Promise((r) => s.once('connect', r));
  const out: Array<{ status: number; head: string; body: string }> = [];
  try {
    for (const req of requests) {
      buf = Buffer.alloc(0);
      s.write(latin1(req));
      for (const end = Date.now() + 20_000; Date.now() < end; ) {
        const got = complete(buf);
        if (got) {
          out.push(got);
          break;
        }
        await new Promise((r) => setTimeout(r, 25));
      }
    }
  } finally {
    s.destroy();
  }
  return out;
}

/** A whole answer (Content-Length or chunked) at the start of `b`, or null. */
function complete(b: Buffer): { status: number; head: string; body: string } | null {
  const text = b.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  if (end === -1) return null;
  const len = /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, end));
  if (len ? text.length < end + 4 + Number(len[1]) : !text.endsWith('\r\n0\r\n\r\n')) return null;
  return responses(b)[0];
}

const latin1 = (s: string) => Buffer.from(s, 'latin1');

function responses(data: Buffer): Array<{ status: number; head: string; body: string }> {
  // Split a stream of answers to requests without bodies or with Content-Length / chunked bodies.
  const out: Array<{ status: number; head: string; body: string }> = [];
  let rest = data.toString('latin1');
  while (rest.length > 0) {
    const end = rest.indexOf('\r\n\r\n');
    if (end === -1) break;
    const head = rest.slice(0, end);
    rest = rest.slice(end + 4);
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1]);
    const len = /\r\ncontent-length: *(\d+)/i.exec(head);
    let body = '';
    if (len) {
      body = rest.slice(0, Number(len[1]));
      rest = rest.slice(Number(len[1]));
    } else if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
      for (;;) {
        const nl = rest.indexOf('\r\n');
        const n = parseInt(rest.slice(0, nl), 16);
        rest = rest.slice(nl + 2);
        if (n === 0) {
          rest = rest.slice(rest.indexOf('\r\n') + 2);
          break;
        }
        body += rest.slice(0, n);
        rest = rest.slice(n + 2);
      }
    } else {
      body = rest;
      rest = '';
    }
    out.push({ status, head, body });
  }
  return out;
}

describe.each(direct)(`%s, raw HTTP/1.1 (${RUNTIME})`, (_name, target) => {
  test('a chunked upload reaches the app whole', async () => {
    const body = new Uint8Array(300_000);
    for (let i = 0; i < body.length; i++) body[i] = (i * 13 + 5) & 255;
    const parts: Buffer[] = [latin1('POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n')];
    for (let off = 0; off < body.length; off += 70_000) {
      const piece = body.subarray(off, off + 70_000);
      parts.push(latin1(`${piece.length.toString(16)};ext=1\r\n`), Buffer.from(piece), latin1('\r\n'));
    }
    parts.push(latin1('0\r\nX-Trailer: yes\r\n\r\n'));
    const { data } = await rawExchange(target(), parts);
    const [res] = responses(data);
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ length: body.length, sha256: sha256(body) });
  });

  test('keep-alive: one connection serves request after request', async () => {
    const got = await session(target(), [
      'GET /pid HTTP/1.1\r\nHost: t\r\n\r\n',
      'POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc',
      'GET /pid HTTP/1.1\r\nHost: t\r\n\r\n',
    ]);
    // Three answers came on the one connection: it was kept open between them.
    expect(got.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(got.map((r) => /\r\nconnection: *close/i.test(r.head))).toEqual([false, false, false]);
    expect((JSON.parse(got[1].body) as { length: number }).length).toBe(3);
  });

  test('keep-alive: pipelined requests answered in order on one connection', async () => {
    const req =
      'GET /echo?n=1 HTTP/1.1\r\nHost: t\r\n\r\nPOST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabcGET /echo?n=3 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n';
    const { data, closed } = await rawExchange(target(), [latin1(req)]);
    const got = responses(data);
    expect(got.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(got[0].head.toLowerCase()).not.toContain('connection: close');
    expect((JSON.parse(got[0].body) as { url: string }).url).toContain('/echo?n=1');
    expect((JSON.parse(got[1].body) as { length: number }).length).toBe(3);
    expect((JSON.parse(got[2].body) as { url: string }).url).toContain('/echo?n=3');
    expect(closed).toBe(true);
  });

  test('a body above --limit-post gets 413, by Content-Length and chunked', async () => {
    const byLength = await rawExchange(target(), [latin1(`POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: ${LIMIT + 1}\r\n\r\n`), new Uint8Array(1000)]);
    expect(responses(byLength.data)[0]?.status).toBe(413);
    const chunk = new Uint8Array(1_000_000);
    const chunks = [latin1('POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n')];
    for (let i = 0; i < 4; i++) chunks.push(latin1(`${chunk.length.toString(16)}\r\n`), Buffer.from(chunk), latin1('\r\n'));
    chunks.push(latin1('0\r\n\r\n'));
    const chunked = await rawExchange(target(), chunks);
    expect(responses(chunked.data)[0]?.status).toBe(413);
  });

  test('a request head above --buffer-size gets 431', async () => {
    const { data } = await rawExchange(target(), [latin1(`GET /echo HTTP/1.1\r\nHost: t\r\nX-Big: ${'b'.repeat(10_000)}\r\n\r\n`)]);
    expect(responses(data)[0]?.status).toBe(431);
  });

  test('two mounts: each app sees the path below its mountpoint', async () => {
    const got = await session(
      target(),
      ['/a/x/y?q=1', '/b', '/about'].map((p) => `GET ${p} HTTP/1.1\r\nHost: t\r\n\r\n`),
    );
    expect(got.map((r) => r.body.trim())).toEqual(['a sees /x/y', 'b sees /', 'hello /about']);
  });
});

describe(`the --http router serves --static-map (${RUNTIME})`, () => {
  const url = (p: string) => `http://127.0.0.1:${port.router}${p}`;

  test('a file, with its type, ETag and a 304', async () => {
    const res = await fetchFresh(url('/static/site.css'));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect(await res.text()).toBe('body { color: teal }\n');
    const again = await fetchFresh(url('/static/site.css'), { headers: { 'if-none-match': res.headers.get('etag') ?? '' } });
    expect(again.status).toBe(304);
  });

  test('a missing file falls through to the app', async () => {
    const res = await fetchFresh(url('/static/none.css'));
    expect(await res.text()).toBe('hello /static/none.css\n');
  });

  test('traversal attempts never reach the file outside', async () => {
    for (const p of [
      '/static/../secret.txt',
      '/static/%2e%2e/secret.txt',
      '/static/..%2fsecret.txt',
      '/static/..%5csecret.txt',
      '/static/%2e%2e%2f%2e%2e%2fsecret.txt',
    ]) {
      const { data } = await rawExchange({ port: port.router }, [latin1(`GET ${p} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n`)]);
      expect(data.toString('latin1'), p).not.toContain('THE SECRET');
      // Refused (403), or the URL parser resolved the dots and the app answers "/secret.txt".
      const [res] = responses(data);
      if (res.status !== 403) expect(res.body, p).toBe('hello /secret.txt\n');
    }
  });
});

describe(`the --http router's gateway errors (${RUNTIME})`, () => {
  test('the router closes its connections to the workers (no fd leak)', async () => {
    const pid = Number(/spawned tsgi http router \(pid: (\d+)\)/.exec(router.output())?.[1]);
    const fds = () => readdirSync(`/proc/${pid}/fd`).length;
    const before = fds();
    for (let i = 0; i < 300; i++) await (await fetchFresh(`http://127.0.0.1:${port.router}/pid`)).arrayBuffer();
    await until(() => fds() < before + 20);
    expect(fds()).toBeLessThan(before + 20);
  });

  test('504 when a worker answers after --http-timeout', async () => {
    const started = Date.now();
    const res = await fetchFresh(`http://127.0.0.1:${port.router}/sleep?ms=6000`);
    expect(res.status).toBe(504);
    expect(await res.text()).toContain('--http-timeout 2 s');
    expect(Date.now() - started).toBeLessThan(5000);
    // The worker's request is cut, the other worker still answers.
    expect((await fetchFresh(`http://127.0.0.1:${port.router}/echo`)).status).toBe(200);
  });

  test('503 with Retry-After and a line of text when no worker gets ready (an app that fails to load)', async () => {
    const p = await freePort();
    const [cmd, pre] = tsgiCommand();
    const broken = run(cmd, [...pre, '--http', `127.0.0.1:${p}`, '--app', 'test/fixtures/apps/broken.ts', '--http-connect-timeout', '1']);
    try {
      await broken.waitFor(/tsgi http router \(pid: \d+\) ready/, 30_000);
      await broken.waitFor(/DAMN ! tsgi worker 1/, 30_000);
      const res = await fetchFresh(`http://127.0.0.1:${p}/`);
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('1');
      expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8');
      expect(await res.text()).toMatch(/^tsgi http router: no worker was ready within --http-connect-timeout 1 s .*\n$/);
    } finally {
      await broken.stop();
    }
  }, 60_000);
});

describe(`keep-alive off, and the router's supervision (${RUNTIME})`, () => {
  test('--http-keepalive=false: every answer closes its connection', async () => {
    const p = await freePort();
    const srv = await startTsgi(['--http-socket', `127.0.0.1:${p}`, '--app', APP, '--http-keepalive=false']);
    try {
      // An HTTP/1.1 request asks for keep-alive; the server says close and closes (within the
      // 10 s rawExchange waits; a kept connection would stay open for --socket-timeout and more).
      const started = Date.now();
      const { data, closed } = await rawExchange({ port: p }, [latin1('GET /pid HTTP/1.1\r\nHost: t\r\n\r\n')]);
      const got = responses(data);
      expect(got).toHaveLength(1);
      expect(got[0].head.toLowerCase()).toContain('connection: close');
      expect(closed).toBe(true);
      expect(Date.now() - started).toBeLessThan(3000);
    } finally {
      await srv.stop();
    }
  });

  test('a router killed with SIGKILL is respawned by the master and serves again', async () => {
    const pid = Number(/spawned tsgi http router \(pid: (\d+)\)/.exec(router.output())?.[1]);
    process.kill(pid, 'SIGKILL');
    await router.waitFor(new RegExp(`DAMN ! tsgi http router \\(pid: ${pid}\\) died`), 10_000);
    const again = await router.waitFor(new RegExp(`spawned tsgi http router \\(pid: (?!${pid}\\))\\d+\\)`), 15_000);
    const fresh = /pid: (\d+)/.exec(again)?.[1];
    await router.waitFor(new RegExp(`tsgi http router \\(pid: ${fresh}\\) ready`), 15_000);
    const res = await fetchFresh(`http://127.0.0.1:${port.router}/echo`);
    expect(res.status).toBe(200);
    await res.arrayBuffer();
  });
});
