// runtimes/kept-body.ts: the Response subclass that keeps a string or bytes body (installed on
// Node's uwsgi-family workers); the module is plain JavaScript, so it is checked on every runtime.
import { describe, expect, it } from 'vitest';
import { keepResponseBodies, keptBody } from '../../runtimes/kept-body.ts';

const Original = globalThis.Response;
const read = keepResponseBodies();
const text = (b: Uint8Array | null) => (b === null ? null : new TextDecoder().decode(b));

describe('kept Response bodies', () => {
  it('installs once: the global is a subclass, named Response, and a second call changes nothing', () => {
    expect(globalThis.Response).not.toBe(Original);
    expect(Object.getPrototypeOf(globalThis.Response)).toBe(Original);
    expect(globalThis.Response.name).toBe('Response');
    const now = globalThis.Response;
    expect(keepResponseBodies()).toBe(keptBody);
    expect(globalThis.Response).toBe(now);
    expect(read).toBe(keptBody);
  });

  it('a string body is kept as UTF-8 bytes, a byte body as it is; the status and headers are the Response’s', async () => {
    const r = new Response('héllo ✓', { status: 201, headers: { 'x-a': '1' } });
    expect(text(read(r))).toBe('héllo ✓');
    expect(r.status).toBe(201);
    expect(r.headers.get('x-a')).toBe('1');
    const bytes = new Uint8Array([0, 1, 2, 255]);
    expect(read(new Response(bytes))).toBe(bytes);
    // The stream still gives the same bytes to whoever reads it.
    expect(await r.text()).toBe('héllo ✓');
  });

  it('no kept body: a stream, no body, Response.json(), a read body', async () => {
    expect(read(new Response(new ReadableStream({ start: (c) => c.close() })))).toBeNull();
    expect(read(new Response(null, { status: 204 }))).toBeNull();
    const json = Response.json({ a: 1 });
    expect(json instanceof Response).toBe(true);
    expect(read(json)).toBeNull();
    const used = new Response('once');
    await used.text();
    expect(read(used)).toBeNull();
  });

  it('the runtime’s own Responses (fetch) and the app’s subclasses are still `instanceof Response`', async () => {
    const fetched = await fetch('data:text/plain,hi');
    expect(fetched instanceof Response).toBe(true);
    expect(await fetched.text()).toBe('hi');
    expect(new Original('x') instanceof Response).toBe(true);
    class Mine extends Response {}
    const mine = new Mine('mine');
    expect(mine instanceof Response && mine instanceof Original).toBe(true);
    expect(text(read(mine))).toBe('mine');
    expect(await mine.clone().text()).toBe('mine');
  });
});
