// The FastCGI server over an in-memory connection (a peer that pauses for real): no socket, no process.
import { describe, expect, it } from 'vitest';
import { encodeRecord, encodeRequest, FCGI, FCGI_STATUS, type UwsgiVars } from '../../src/codec/index.ts';
import { type FastCgiServerOptions, handleFastCgiConn } from '../../src/worker/fastcgi.ts';
import { MemoryConn } from './memory-conn.ts';

type Handler = FastCgiServerOptions['handler'];

function serve(handler: Handler, extra: Partial<FastCgiServerOptions> = {}): MemoryConn {
  const conn = new MemoryConn();
  handleFastCgiConn(conn, { handler, bufferSize: 65535, limitPost: 0, headTimeoutMs: 5000, ...extra });
  return conn;
}

const vars = (uri: string, method = 'GET'): UwsgiVars => [
  ['REQUEST_METHOD', method],
  ['REQUEST_URI', uri],
  ['HTTP_HOST', 'example.test'],
];

interface Rec {
  type: number;
  id: number;
  content: Uint8Array;
}

/** The records the server wrote. */
function records(conn: MemoryConn): Rec[] {
  const all = new Uint8Array(conn.written.reduce((n, c) => n + c.length, 0));
  let o = 0;
  for (const c of conn.written) {
    all.set(c, o);
    o += c.length;
  }
  const out: Rec[] = [];
  for (let i = 0; i + 8 <= all.length; ) {
    const len = (all[i + 4] << 8) | all[i + 5];
    out.push({ type: all[i + 1], id: (all[i + 2] << 8) | all[i + 3], content: all.subarray(i + 8, i + 8 + len) });
    i += 8 + len + all[i + 6];
  }
  return out;
}

const stdout = (conn: MemoryConn, id: number) =>
  records(conn)
    .filter((r) => r.type === FCGI.STDOUT && r.id === id)
    .map((r) => String.fromCharCode(...r.content))
    .join('');
const ended = (conn: MemoryConn) => records(conn).filter((r) => r.type === FCGI.END_REQUEST);
const endedIds = (conn: MemoryConn) => ended(conn).map((r) => r.id);

describe('FastCGI connection (in memory)', () => {
  it('answers in STDOUT records with a CGI head, ends the request, and closes without FCGI_KEEP_CONN', async () => {
    const conn = serve((req) => new Response(`path ${new URL(req.url).pathname}`, { headers: { 'x-a': '1' } }));
    conn.send(encodeRequest(1, vars('/a/b?x=1')));
    await conn.until((c) => c.closed);
    expect(conn.ending).toBe('end');
    expect(stdout(conn, 1)).toMatch(/^Status: 200 OK\r\n[\s\S]*x-a: 1\r\n[\s\S]*\r\n\r\npath \/a\/b$/);
    expect(ended(conn).map((r) => [...r.content])).toEqual([[0, 0, 0, 0, FCGI_STATUS.REQUEST_COMPLETE, 0, 0, 0]]);
    // A whole small answer and its END_REQUEST go out in one write.
    expect(conn.written).toHaveLength(1);
  });

  it('keeps the connection for the next request after an upload that filled the body stream (the Conn paused)', async () => {
    const conn = serve(async (req) => new Response(`got ${(await req.arrayBuffer()).byteLength}`));
    const upload = encodeRequest(1, vars('/up', 'POST'), new Uint8Array(300_000), { keepConn: true });
    // In pieces, so that the body stream fills before the app reads it.
    for (let o = 0; o < upload.length; o += 16_384) conn.send(upload.subarray(o, o + 16_384));
    await conn.until((c) => endedIds(c).length === 1);
    expect(stdout(conn, 1)).toMatch(/got 300000$/);
    conn.send(encodeRequest(1, vars('/next'), undefined, { keepConn: true }));
    await conn.until((c) => endedIds(c).length === 2);
    expect(conn.closed).toBe(false);
  });

  it('multiplexes: a quick answer for id 2 goes out while id 1 still streams, in whole records', async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => (release = r));
    const conn = serve((req) => {
      if (new URL(req.url).pathname === '/quick') return new Response('quick');
      return new Response(
        new ReadableStream<Uint8Array>({
          async start(c) {
            c.enqueue(new TextEncoder().encode('first '));
            await gate;
            c.enqueue(new TextEncoder().encode('second'));
            c.close();
          },
        }),
      );
    });
    conn.send(encodeRequest(1, vars('/slow'), undefined, { keepConn: true }));
    await conn.until((c) => stdout(c, 1).includes('first'));
    conn.send(encodeRequest(2, vars('/quick'), undefined, { keepConn: true }));
    await conn.until((c) => endedIds(c).includes(2));
    expect(endedIds(conn)).toEqual([2]);
    release();
    await conn.until((c) => endedIds(c).length === 2);
    expect(stdout(conn, 1)).toMatch(/first second$/);
    expect(stdout(conn, 2)).toMatch(/quick$/);
  });

  it('streams a big answer with backpressure: stops at the high-water mark until the peer reads', async () => {
    const chunk = new Uint8Array(16_384);
    let pulls = 0;
    // (Bun's Response may read its source stream ahead: what tsgi controls is what it writes.)
    const conn = serve(
      () =>
        new Response(
          new ReadableStream<Uint8Array>({
            pull(c) {
              if (++pulls > 64) return c.close();
              c.enqueue(chunk);
            },
          }),
        ),
    );
    conn.send(encodeRequest(1, vars('/big')));
    await conn.until((c) => c.unreadBytes >= 64 * 1024);
    await new Promise((r) => setTimeout(r, 50));
    // Nothing more is written while the peer does not read: at most the write that crossed the mark.
    expect(conn.unreadBytes).toBeLessThan(64 * 1024 + 16_384 + 16);
    while (!conn.closed) {
      conn.read();
      await new Promise((r) => setTimeout(r, 0));
    }
    expect(stdout(conn, 1).length).toBeGreaterThan(64 * 16_384);
  });

  it('answers Status: 500 when the app throws, then ends the request', async () => {
    const conn = serve(() => {
      throw new Error('boom');
    });
    conn.send(encodeRequest(1, vars('/x')));
    await conn.until((c) => c.closed);
    expect(stdout(conn, 1)).toMatch(/^Status: 500 Internal Server Error\r\n/);
    expect(endedIds(conn)).toEqual([1]);
  });

  it('ABORT_REQUEST aborts req.signal and ends the request; the connection goes on', async () => {
    let signal: AbortSignal | null = null;
    const conn = serve(
      (req) =>
        new Promise<Response>((resolve) => {
          signal = req.signal;
          req.signal.addEventListener('abort', () => resolve(new Response('late')));
        }),
    );
    conn.send(encodeRequest(1, vars('/wait'), undefined, { keepConn: true }));
    await conn.until(() => signal !== null);
    conn.send(encodeRecord(FCGI.ABORT_REQUEST, 1));
    await conn.until((c) => endedIds(c).length === 1);
    expect((signal as AbortSignal | null)?.aborted).toBe(true);
    expect(conn.closed).toBe(false);
  });

  it('a peer that half-closes gets its answer, then the close', async () => {
    const conn = serve(() => new Response('bye'));
    conn.send(encodeRequest(1, vars('/x'), undefined, { keepConn: true }));
    conn.halfClose();
    await conn.until((c) => c.closed);
    expect(stdout(conn, 1)).toMatch(/bye$/);
    expect(conn.ending).toBe('end');
  });
});
