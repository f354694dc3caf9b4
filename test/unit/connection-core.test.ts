// The protocol-neutral connection core over an in-memory connection: BodyStream and Exchange.
import { describe, expect, it } from 'vitest';
import { encodeResponseHead } from '../../src/codec/index.ts';
import { BodyStream } from '../../src/worker/body.ts';
import type { RequestCounters } from '../../src/worker/counters.ts';
import { Exchange, type ExchangeSetup } from '../../src/worker/exchange.ts';
import type { RequestFacts } from '../../src/worker/reqlog.ts';
import { Gone, plainAnswer, plainAnswerBytes } from '../../src/worker/respond.ts';
import { MemoryConn } from './memory-conn.ts';

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

async function readAll(body: ReadableStream<Uint8Array> | Uint8Array): Promise<string> {
  if (body instanceof Uint8Array) return text(body);
  return new Response(body).text();
}

describe('BodyStream', () => {
  it('hands over the bytes themselves when the whole body is already here', async () => {
    const body = new BodyStream(new MemoryConn());
    body.push(bytes('he'));
    body.push(bytes('llo'));
    body.end();
    const taken = body.take();
    expect(taken).toBeInstanceOf(Uint8Array);
    expect(await readAll(taken)).toBe('hello');
  });

  it('streams the early chunks, then the rest as it comes', async () => {
    const body = new BodyStream(new MemoryConn());
    body.push(bytes('early '));
    const stream = body.take();
    expect(stream).toBeInstanceOf(ReadableStream);
    const all = readAll(stream);
    body.push(bytes('late'));
    body.end();
    expect(await all).toBe('early late');
    expect(body.done).toBe(true);
  });

  it('pauses the connection above 64 KiB unread and resumes it when the reader reads', async () => {
    const conn = new MemoryConn();
    const body = new BodyStream(conn);
    const stream = body.take() as ReadableStream<Uint8Array>;
    body.push(new Uint8Array(70 * 1024));
    expect(conn.paused).toBe(true);
    const reader = stream.getReader();
    await reader.read();
    await conn.until((c) => !c.paused);
    expect(conn.paused).toBe(false);
  });

  it('a cancelled stream drops the rest and keeps the connection reading', async () => {
    const conn = new MemoryConn();
    const body = new BodyStream(conn);
    const stream = body.take() as ReadableStream<Uint8Array>;
    body.push(new Uint8Array(70 * 1024));
    expect(conn.paused).toBe(true);
    await stream.cancel();
    expect(conn.paused).toBe(false);
    body.push(bytes('more'));
    body.end();
    expect(body.done).toBe(true);
  });

  it('a cancel can close instead (the router closes the worker connection)', async () => {
    let cancelled = 0;
    const body = new BodyStream(new MemoryConn(), { onCancel: () => cancelled++ });
    const stream = body.take() as ReadableStream<Uint8Array>;
    await stream.cancel();
    expect(cancelled).toBe(1);
    body.push(bytes('ignored'));
    body.end();
  });

  it('fails the reader when the body will not come whole', async () => {
    const body = new BodyStream(new MemoryConn());
    const stream = body.take() as ReadableStream<Uint8Array>;
    body.fail(new Error('cut short'));
    await expect(readAll(stream)).rejects.toThrow('cut short');
  });

  it('drain() resolves once the rest is in, when it fails, or after its bound', async () => {
    const a = new BodyStream(new MemoryConn());
    const draining = a.drain(60_000);
    a.end();
    await draining;
    const b = new BodyStream(new MemoryConn());
    const failing = b.drain(60_000);
    b.fail(new Error('gone'));
    await failing;
    await new BodyStream(new MemoryConn()).drain(1);
    const done = new BodyStream(new MemoryConn());
    done.end();
    await done.drain(60_000);
  });

  it('drops a body the answer leaves alone, keeps one the app reads', async () => {
    const conn = new MemoryConn();
    const untouched = new BodyStream(conn);
    const req = new Request('http://x/', { method: 'POST', body: untouched.take(), duplex: 'half' } as RequestInit);
    conn.pause();
    untouched.dropIfUntouched(req, new Response('ok'));
    expect(conn.paused).toBe(false);
    const read = new BodyStream(conn);
    const req2 = new Request('http://x/', { method: 'POST', body: read.take(), duplex: 'half' } as RequestInit);
    const reading = req2.text();
    conn.pause();
    read.dropIfUntouched(req2, new Response('ok'));
    expect(conn.paused).toBe(true);
    read.push(bytes('kept'));
    read.end();
    expect(await reading).toBe('kept');
  });
});

class Counted implements RequestCounters {
  readonly log: Array<{ status: number; bytes: number; threw: boolean; facts?: RequestFacts }> = [];
  logger = null;
  draining = false;
  started(): number {
    return 1;
  }
  finished(_id: number, status: number, bytes: number, threw: boolean, facts?: () => RequestFacts): void {
    this.log.push({ status, bytes, threw, facts: facts?.() });
  }
  accepted(): () => void {
    return () => {};
  }
  onDrain(): () => void {
    return () => {};
  }
}

function exchange(conn: MemoryConn, handler: ExchangeSetup['handler'], extra: Partial<ExchangeSetup> = {}) {
  const counters = new Counted();
  const ex = new Exchange({
    conn,
    handler,
    uri: '/x',
    gone: new Gone(),
    body: null,
    counters,
    writer: (res) => ({
      head: (contentLength) => encodeResponseHead(res, { method: 'GET', contentLength }),
      bodyless: () => encodeResponseHead(res, { method: 'GET' }),
    }),
    facts: (req, head) => ({ method: req.method, uri: '/x', headersBytes: head?.length ?? 0 }) as RequestFacts,
    ...extra,
  });
  return { ex, counters };
}

describe('Exchange', () => {
  it('writes the answer in the protocol framing and counts it with its facts', async () => {
    const conn = new MemoryConn();
    const { ex, counters } = exchange(conn, () => new Response('hello'));
    expect(await ex.run(new Request('http://x/x'))).toBe('written');
    ex.finish();
    expect(conn.text()).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*content-length: 5\r\n/);
    expect(conn.text()).toMatch(/\r\n\r\nhello$/);
    expect(counters.log).toEqual([{ status: 200, bytes: 5, threw: false, facts: expect.objectContaining({ method: 'GET' }) }]);
    expect(counters.log[0].facts?.headersBytes).toBeGreaterThan(0);
  });

  it('answers 500 for an app that throws, and counts the exception', async () => {
    const conn = new MemoryConn();
    const { ex, counters } = exchange(conn, () => {
      throw new Error('boom');
    });
    expect(await ex.run(new Request('http://x/x'))).toBe('written');
    ex.finish();
    expect(conn.text()).toMatch(/^HTTP\/1\.1 500 /);
    expect(counters.log[0]).toMatchObject({ status: 500, threw: true });
  });

  it('writes nothing when the connection can no longer take the answer', async () => {
    const conn = new MemoryConn();
    const { ex, counters } = exchange(conn, () => new Response('late'), { onAnswer: () => false });
    expect(await ex.run(new Request('http://x/x'))).toBe('abandoned');
    ex.finish();
    expect(conn.written).toEqual([]);
    expect(counters.log).toEqual([{ status: 200, bytes: 0, threw: false, facts: undefined }]);
  });

  it('reports a failed answer body, counted as an exception', async () => {
    const conn = new MemoryConn();
    const failing = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(bytes('part'));
      },
      pull(c) {
        c.error(new Error('app stream broke'));
      },
    });
    // With a type, Bun's body-type sniff (respond.ts addBodyType) does not read the stream first.
    const { ex, counters } = exchange(conn, () => new Response(failing, { headers: { 'content-type': 'text/plain' } }));
    expect(await ex.run(new Request('http://x/x'))).toBe('failed');
    ex.finish();
    expect(counters.log[0]).toMatchObject({ status: 200, threw: true });
  });
});

describe('plain answers', () => {
  it('one line of text, as a Response and as bytes that close the connection', async () => {
    const res = plainAnswer(503, 'no worker', { 'retry-after': '1' });
    expect(res.status).toBe(503);
    expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(res.headers.get('retry-after')).toBe('1');
    expect(await res.text()).toBe('no worker\n');
    const raw = text(plainAnswerBytes(400, 'bad'));
    expect(raw).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(raw).toContain('connection: close\r\n');
    expect(raw).toMatch(/content-length: 4\r\n[\s\S]*\r\n\r\nbad\n$/);
  });
});
