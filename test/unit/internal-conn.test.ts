// The --http router's internal socket in a worker (src/worker/internal.ts) over an in-memory
// connection: streamed bodies, and connections kept open for the router's next request.
import { describe, expect, it } from 'vitest';
import { concatBytes, frameHead, LAST_FRAME } from '../../src/codec/index.ts';
import { CoreCounters } from '../../src/worker/counters.ts';
import { handleInternalConn } from '../../src/worker/internal.ts';
import type { VarsServerOptions } from '../../src/worker/vars.ts';
import { MemoryConn } from './memory-conn.ts';
import { packet } from './uwsgi-packet.ts';

type Handler = VarsServerOptions['handler'];

function serve(handler: Handler, extra: Partial<VarsServerOptions> = {}): MemoryConn {
  const conn = new MemoryConn('', 0);
  handleInternalConn(conn, { handler, bufferSize: 4096, limitPost: 0, headTimeoutMs: 5000, ...extra });
  return conn;
}

const KEEP: Array<[string, string]> = [['TSGI_KEEP', '1']];

/** The answers written so far, split at each status line. */
function answers(conn: MemoryConn): string[] {
  return conn
    .text()
    .split(/(?=HTTP\/1\.1 )/)
    .filter((s) => s.length > 0);
}

describe('internal socket connection (in memory)', () => {
  it('TSGI_KEEP: answers framed by Content-Length, then the next request on the same connection', async () => {
    const conn = serve(async (req) => new Response(`${req.method} ${new URL(req.url).pathname} ${await req.text()}`));
    conn.send(packet('GET', '/one', undefined, KEEP));
    await conn.until(() => answers(conn).length === 1 && answers(conn)[0].endsWith('GET /one '));
    expect(conn.closed).toBe(false);
    expect(answers(conn)[0]).toMatch(/content-length: 9\r\n/);
    expect(answers(conn)[0]).not.toMatch(/connection: close/);
    // The next packet and its body in one chunk with the end of nothing: read as a new request.
    conn.send(packet('POST', '/two', 'hello', KEEP));
    await conn.until(() => answers(conn).length === 2 && answers(conn)[1].endsWith('POST /two hello'));
    expect(conn.closed).toBe(false);
  });

  it('a body of unknown length goes out chunked; a second request that came glued to the first body is served after it', async () => {
    const conn = serve(async (req) => {
      if (req.method === 'GET') return new Response('plain');
      const text = await req.text();
      return new Response(
        new ReadableStream({
          start(c) {
            c.enqueue(new TextEncoder().encode(`got ${text}`));
            setTimeout(() => {
              c.enqueue(new TextEncoder().encode(' later'));
              c.close();
            }, 5);
          },
        }),
      );
    });
    const first = packet('POST', '/up', undefined, [...KEEP, ['TSGI_BODY', 'chunked']]);
    conn.send(concatBytes([first, frameHead(3), new TextEncoder().encode('abc'), LAST_FRAME, packet('GET', '/next', undefined, KEEP)]));
    await conn.until(() => answers(conn).length === 2 && answers(conn)[1].endsWith('plain'));
    expect(answers(conn)[0]).toMatch(/transfer-encoding: chunked\r\n/);
    expect(answers(conn)[0]).toMatch(/\r\n\r\n7\r\ngot abc\r\n6\r\n later\r\n0\r\n\r\n$/);
    expect(conn.closed).toBe(false);
  });

  it('without TSGI_KEEP: answered as on --socket and closed', async () => {
    const conn = serve(() => new Response('once'));
    conn.send(packet('GET', '/', undefined));
    await conn.until((c) => c.closed);
    expect(conn.ending).toBe('end');
    expect(conn.text()).toMatch(/\r\n\r\nonce$/);
    expect(conn.text()).not.toMatch(/connection: close|transfer-encoding/);
  });

  it('a stop: the answer in flight says connection: close and the connection closes; an idle kept one closes at once', async () => {
    const counters = new CoreCounters(0);
    let release: () => void = () => {};
    const held = new Promise<void>((r) => (release = r));
    const conn = serve(
      async (req) => {
        if (new URL(req.url).pathname === '/slow') await held;
        return new Response('ok');
      },
      { counters },
    );
    conn.send(packet('GET', '/slow', undefined, KEEP));
    const idle = serve(() => new Response('ok'), { counters });
    idle.send(packet('GET', '/fast', undefined, KEEP));
    await idle.until(() => idle.text().endsWith('ok'));
    counters.drain();
    await idle.until((c) => c.closed);
    release();
    await conn.until((c) => c.closed);
    expect(conn.text()).toMatch(/connection: close\r\n(?:[^\r\n]+\r\n)*\r\nok$/);
  });

  it("--limit-post: a streamed body that grows past it: the app's read fails, a 413 goes out and the connection closes", async () => {
    let failed: (e: unknown) => void = () => {};
    const failure = new Promise<unknown>((resolve) => (failed = resolve));
    const conn = serve(
      async (req) => {
        await req.text().catch(failed);
        return new Response('late');
      },
      { limitPost: 10 },
    );
    conn.send(packet('POST', '/up', undefined, [...KEEP, ['TSGI_BODY', 'chunked']]));
    const piece = new TextEncoder().encode('x'.repeat(8));
    conn.send(concatBytes([frameHead(8), piece]));
    conn.send(concatBytes([frameHead(8), piece]));
    expect(String(await failure)).toMatch(/larger than --limit-post 10/);
    conn.send(LAST_FRAME);
    await conn.until((c) => c.closed);
    expect(conn.text()).toMatch(/^HTTP\/1\.1 413 [\s\S]*connection: close[\s\S]*larger than --limit-post 10\n$/);
    expect(conn.text()).not.toMatch(/late/);
  });
});
