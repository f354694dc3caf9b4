// tsgi's HTTP/1.1 server over an in-memory connection: framing, keep-alive and refusals.
import { describe, expect, it } from 'vitest';
import { handleHttpConn, type HttpServerOptions } from '../../src/worker/http1.ts';
import { MemoryConn } from './memory-conn.ts';

function serve(handler: HttpServerOptions['handler'], extra: Partial<HttpServerOptions> = {}): MemoryConn {
  const conn = new MemoryConn();
  handleHttpConn(conn, { handler, bufferSize: 4096, limitPost: 0, headTimeoutMs: 5000, keepAlive: true, ...extra });
  return conn;
}

const answers = (c: MemoryConn) =>
  c
    .text()
    .split(/(?=HTTP\/1\.1 \d{3} )/)
    .filter(Boolean);

describe('HTTP/1.1 connection (in memory)', () => {
  it('answers pipelined requests in order on one kept-alive connection', async () => {
    const conn = serve(async (req) => {
      const path = new URL(req.url).pathname;
      // The first answer is the slowest: order must still hold.
      if (path === '/1') await new Promise((r) => setImmediate(r));
      return new Response(path);
    });
    conn.send('GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\nGET /3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    await conn.until((c) => c.closed);
    const got = answers(conn);
    expect(got).toHaveLength(3);
    expect(got.map((a) => a.slice(a.indexOf('\r\n\r\n') + 4))).toEqual(['/1', '/2', '/3']);
    expect(conn.ending).toBe('end');
  });

  it('--socket-timeout: a connection without a whole head, and a kept one idle after its answer, are closed once it is over', async () => {
    const ms = 300;
    const t0 = performance.now();
    const partial = serve(() => new Response('never'), { headTimeoutMs: ms });
    partial.send('GET / HTTP/1.1\r\nHost: a\r\n');
    const idle = serve(() => new Response('one'), { headTimeoutMs: ms });
    idle.send('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
    await partial.until((c) => c.closed, 20_000);
    await idle.until((c) => c.closed, 20_000);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(ms - 20);
    expect(partial.ending).toBe('destroy');
    expect(partial.text()).toBe('');
    expect(idle.text()).toMatch(/^HTTP\/1\.1 200 [\s\S]*one$/);
  });

  it('reads a chunked body split anywhere', async () => {
    const conn = serve(async (req) => new Response(`got ${await req.text()}`));
    const wire = 'POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n';
    for (const ch of wire) conn.send(ch);
    await conn.until((c) => c.closed);
    expect(conn.text()).toMatch(/^HTTP\/1\.1 200 [\s\S]*got hello world$/);
  });

  it('refuses a body above --limit-post with 413 before calling the app', async () => {
    let called = false;
    const conn = serve(
      () => {
        called = true;
        return new Response('x');
      },
      { limitPost: 10 },
    );
    conn.send('POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world');
    await conn.until((c) => c.text().includes('\r\n\r\n'));
    expect(conn.text()).toMatch(/^HTTP\/1\.1 413 /);
    expect(called).toBe(false);
  });

  it('refuses a head above --buffer-size with 431', async () => {
    const conn = serve(() => new Response('x'), { bufferSize: 256 });
    conn.send(`GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${'b'.repeat(400)}\r\n\r\n`);
    await conn.until((c) => c.text().includes('\r\n\r\n'));
    expect(conn.text()).toMatch(/^HTTP\/1\.1 431 /);
  });

  it('refuses Content-Length together with Transfer-Encoding (request smuggling) with 400', async () => {
    const conn = serve(() => new Response('x'));
    conn.send('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n');
    await conn.until((c) => c.text().includes('\r\n\r\n'));
    expect(conn.text()).toMatch(/^HTTP\/1\.1 400 /);
  });

  it('sends no body for HEAD, and keeps the length the app gave', async () => {
    const conn = serve(() => new Response('twelve bytes', { headers: { 'content-length': '12' } }));
    conn.send('HEAD / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    await conn.until((c) => c.closed);
    expect(conn.text()).toMatch(/content-length: 12\r\n/i);
    expect(conn.text().endsWith('\r\n\r\n')).toBe(true);
  });

  it('frames a streamed answer of unknown length as chunked', async () => {
    const conn = serve(
      () =>
        new Response(
          new ReadableStream({
            start(c) {
              c.enqueue(new TextEncoder().encode('ab'));
              c.enqueue(new TextEncoder().encode('cd'));
              c.close();
            },
          }),
        ),
    );
    conn.send('GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    await conn.until((c) => c.closed);
    expect(conn.text()).toMatch(/transfer-encoding: chunked\r\n/i);
    expect(conn.text()).toMatch(/\r\n\r\n2\r\nab\r\n2\r\ncd\r\n0\r\n\r\n$/);
  });
});
