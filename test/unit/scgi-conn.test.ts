// The SCGI server over an in-memory connection: no socket, no process.
import { describe, expect, it } from 'vitest';
import { handleScgiConn, type ScgiServerOptions } from '../../src/worker/scgi.ts';
import { MemoryConn } from './memory-conn.ts';

function serve(handler: ScgiServerOptions['handler'], extra: Partial<ScgiServerOptions> = {}): MemoryConn {
  const conn = new MemoryConn();
  handleScgiConn(conn, { handler, bufferSize: 4096, limitPost: 0, headTimeoutMs: 5000, ...extra });
  return conn;
}

/** An SCGI request as nginx sends it: CONTENT_LENGTH first, SCGI=1, then the body. */
function request(method: string, uri: string, body = ''): Uint8Array {
  const pairs: Array<[string, string]> = [
    ['CONTENT_LENGTH', String(body.length)],
    ['SCGI', '1'],
    ['REQUEST_METHOD', method],
    ['REQUEST_URI', uri],
    ['HTTP_HOST', 'example.test'],
  ];
  const header = pairs.map(([k, v]) => `${k}\0${v}\0`).join('');
  return new TextEncoder().encode(`${header.length}:${header},${body}`);
}

describe('SCGI connection (in memory)', () => {
  it('answers a GET CGI-style (a Status: line, no HTTP status line) and closes', async () => {
    const conn = serve((req) => new Response(`path ${new URL(req.url).pathname}`, { status: 201 }));
    conn.send(request('GET', '/a/b?x=1'));
    await conn.until((c) => c.closed);
    expect(conn.ending).toBe('end');
    expect(conn.text()).toMatch(/^Status: 201 Created\r\n[\s\S]*content-length: 9\r\n\r\npath \/a\/b$/);
  });

  it('gives the app a body that arrives byte by byte', async () => {
    const conn = serve(async (req) => new Response(`got ${await req.text()}`));
    for (const b of request('POST', '/up', 'hello body')) conn.send(new Uint8Array([b]));
    await conn.until((c) => c.closed);
    expect(conn.text()).toMatch(/\r\n\r\ngot hello body$/);
  });

  it('HEAD and 204: a Status line and headers, no body', async () => {
    const head = serve(() => new Response('twelve bytes', { headers: { 'x-a': '1' } }));
    head.send(request('HEAD', '/'));
    await head.until((c) => c.closed);
    expect(head.text()).toMatch(/^Status: 200 OK\r\n[\s\S]*x-a: 1\r\n\r\n$/);
    const none = serve(() => new Response(null, { status: 204 }));
    none.send(request('GET', '/'));
    await none.until((c) => c.closed);
    expect(none.text()).toMatch(/^Status: 204 No Content\r\n(?:[^\r]*\r\n)*\r\n$/);
  });

  it('refuses an HTTP request with a CGI-style 400 that says why', async () => {
    const conn = serve(() => new Response('never'));
    conn.send('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await conn.until((c) => c.closed);
    expect(conn.text()).toMatch(/^Status: 400 Bad Request\r\n[\s\S]*This is an SCGI socket[\s\S]*--http-socket/);
  });

  it('closes a malformed request or one above --buffer-size without calling the app', async () => {
    let called = false;
    const app = () => {
      called = true;
      return new Response('x');
    };
    for (const [bytes, bufferSize] of [
      [request('GET', `/${'a'.repeat(200)}`), 64],
      [new TextEncoder().encode('5:SCGI\x001\x00,'), 4096],
    ] as const) {
      const conn = serve(app, { bufferSize });
      conn.send(bytes);
      await conn.until((c) => c.closed);
      expect(conn.ending).toBe('destroy');
      expect(conn.text()).toBe('');
    }
    expect(called).toBe(false);
  });

  it('a peer that closes mid-body: the app sees its read fail', async () => {
    let failed: (e: unknown) => void = () => {};
    const failure = new Promise<unknown>((resolve) => (failed = resolve));
    const conn = serve(async (req) => {
      await req.text().catch(failed);
      return new Response('late');
    });
    const whole = request('POST', '/up', 'x'.repeat(100));
    conn.send(whole.subarray(0, whole.length - 40));
    conn.halfClose();
    expect(String(await failure)).toMatch(/connection closed with 40 body bytes missing/);
  });

  it('--limit-post: a CONTENT_LENGTH above it gets a CGI-style 413, the app is not called, the body is read before the close', async () => {
    let called = false;
    const conn = serve(
      () => {
        called = true;
        return new Response('never');
      },
      { limitPost: 10 },
    );
    const whole = request('POST', '/up', 'x'.repeat(100));
    conn.send(whole.subarray(0, whole.length - 50));
    await conn.until((c) => c.text().length > 0);
    expect(conn.text()).toMatch(/^Status: 413 [^\r]*\r\n[\s\S]*larger than --limit-post 10\n$/);
    // Not closed over the body still coming: that would reset the connection under the answer.
    expect(conn.closed).toBe(false);
    conn.send(whole.subarray(whole.length - 50));
    await conn.until((c) => c.closed);
    expect(conn.ending).toBe('end');
    expect(called).toBe(false);
  });

  it('--limit-post: a body at the limit reaches the app', async () => {
    const conn = serve(async (req) => new Response(`got ${await req.text()}`), { limitPost: 10 });
    conn.send(request('POST', '/up', 'x'.repeat(10)));
    await conn.until((c) => c.closed);
    expect(conn.text()).toMatch(/^Status: 200 OK\r\n[\s\S]*\r\n\r\ngot x{10}$/);
  });
});
