// The --http router's side of its kept connections to the workers (src/router/proxy.ts,
// src/router/pool.ts) over in-memory connections: the test plays the worker.
import { describe, expect, it } from 'vitest';
import { forward } from '../../src/router/proxy.ts';
import { MemoryConn } from './memory-conn.ts';
import { memoryProxy } from './memory-proxy.ts';

const setup = () => memoryProxy();

const peer = { address: '127.0.0.1', port: 5000 };
const OK = 'HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok';

/** Resolves once the router has written a whole vars packet (and the body, if `bytes` says how much more) to `c`. */
async function received(c: MemoryConn, bytes = 0): Promise<void> {
  await c.until(() => {
    const all = c.written.reduce((n, w) => n + w.length, 0);
    const head = c.written[0];
    return head !== undefined && all >= 4 + (head[1] | (head[2] << 8)) + bytes;
  });
}

/** Resolves once `test` holds (checked every 2 ms, 1 s at most); each check runs it once. */
async function waitFor(test: () => boolean): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (test()) return;
    await new Promise((r) => setTimeout(r, 2));
  }
  throw new Error(`condition not met: ${test}`);
}

describe('router upstream connections (in memory)', () => {
  it('an upgrade request takes a fresh connection, never an idle one, and after the 101 the connection never goes back to the pool', async () => {
    const { o, pool, opened } = setup();
    const idle = new MemoryConn('', 0);
    pool.give(idle);
    const upgrade = new Request('http://example.test/ws', { headers: { connection: 'Upgrade', upgrade: 'websocket' } });
    const answer = forward(upgrade, peer, '', o);
    await waitFor(() => opened.length === 1);
    await received(opened[0]);
    expect(idle.written.length).toBe(0);
    opened[0].send('HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\ncontent-length: 0\r\n\r\n');
    await answer;
    expect(opened[0].closed).toBe(false);
    expect(pool.take()).toBe(idle);
    expect(pool.take()).toBeNull();
  });

  it('asks to keep the connection; an answer framed by Content-Length leaves it in the pool for the next request', async () => {
    const { o, pool, opened } = setup();
    const answer = forward(new Request('http://example.test/a'), peer, '', o);
    await waitFor(() => opened.length === 1);
    await received(opened[0]);
    expect(opened[0].text()).toContain('TSGI_KEEP');
    opened[0].send(OK);
    const res = await answer;
    expect(await res.text()).toBe('ok');
    expect(opened[0].closed).toBe(false);
    const second = forward(new Request('http://example.test/b'), peer, '', o);
    await received(opened[0], 0);
    await opened[0].until((c) => c.text().includes('/b'));
    opened[0].send(OK);
    expect(await (await second).text()).toBe('ok');
    expect(opened.length).toBe(1);
    expect(pool.take()).toBe(opened[0]);
  });

  it('a chunked answer is passed on piece by piece, without its framing; the connection goes back once it is over', async () => {
    const { o, pool, opened } = setup();
    const answer = forward(new Request('http://example.test/s'), peer, '', o);
    await waitFor(() => opened.length === 1);
    await received(opened[0]);
    opened[0].send('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n');
    const res = await answer;
    expect(res.headers.get('transfer-encoding')).toBeNull();
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe('hello');
    expect(pool.take()).toBeNull();
    opened[0].send('6\r\n world\r\n0\r\n\r\n');
    expect(new TextDecoder().decode((await reader.read()).value)).toBe(' world');
    expect((await reader.read()).done).toBe(true);
    expect(pool.take()).toBe(opened[0]);
  });

  it('a client that cancels an answer whose bytes are all in leaves the pooled connection alone', async () => {
    const { o, pool, opened } = setup();
    const answer = forward(new Request('http://example.test/big'), peer, '', o);
    await waitFor(() => opened.length === 1);
    await received(opened[0]);
    opened[0].send('HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhello');
    const res = await answer;
    opened[0].send('world');
    await waitFor(() => pool.take() === opened[0]);
    pool.give(opened[0]);
    await (res.body as ReadableStream<Uint8Array>).cancel();
    expect(opened[0].closed).toBe(false);
    expect(pool.take()).toBe(opened[0]);
  });

  it('connection: close leaves the connection out of the pool, and the header out of the answer', async () => {
    const { o, pool, opened } = setup();
    const closing = forward(new Request('http://example.test/c'), peer, '', o);
    await waitFor(() => opened.length === 1);
    await received(opened[0]);
    opened[0].send('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok');
    const res = await closing;
    expect(res.headers.get('connection')).toBeNull();
    expect(await res.text()).toBe('ok');
    expect(opened[0].ending).toBe('end');
    expect(pool.take()).toBeNull();
  });

  it('a pooled connection the worker closed before answering: a bodyless request is sent again, once, on a fresh one', async () => {
    const { o, pool, opened } = setup();
    const stale = new MemoryConn('', 0);
    pool.give(stale);
    const answer = forward(new Request('http://example.test/again'), peer, '', o);
    await received(stale);
    stale.halfClose();
    await waitFor(() => opened.length === 1);
    await received(opened[0]);
    expect(opened[0].text()).toContain('/again');
    opened[0].send(OK);
    const res = await answer;
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('ok');
  });

  it('a request with a body takes a fresh connection, and is not sent again when that one closes before answering (502)', async () => {
    const { o, pool, opened } = setup();
    const idle = new MemoryConn('', 0);
    pool.give(idle);
    const answer = forward(new Request('http://example.test/up', { method: 'POST', body: 'data', headers: { 'content-length': '4' } }), peer, '', o);
    await waitFor(() => opened.length === 1);
    await received(opened[0], 4);
    expect(idle.written.length).toBe(0);
    opened[0].halfClose();
    const res = await answer;
    expect(res.status).toBe(502);
    expect(opened.length).toBe(1);
  });

  it('a bodyless DELETE takes a fresh connection too (not safe to send twice)', async () => {
    const { o, pool, opened } = setup();
    const idle = new MemoryConn('', 0);
    pool.give(idle);
    const answer = forward(new Request('http://example.test/thing', { method: 'DELETE' }), peer, '', o);
    await waitFor(() => opened.length === 1);
    await received(opened[0]);
    expect(idle.written.length).toBe(0);
    opened[0].halfClose();
    expect((await answer).status).toBe(502);
  });

  it('an idle connection the worker closes leaves the pool', async () => {
    const { pool } = setup();
    const a = new MemoryConn('', 0);
    const b = new MemoryConn('', 0);
    pool.give(a);
    pool.give(b);
    b.halfClose();
    expect(pool.take()).toBe(a);
    expect(pool.take()).toBeNull();
  });
});
