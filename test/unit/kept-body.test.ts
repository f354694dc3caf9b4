// runtimes/kept-body.ts: the Response subclass that keeps a string or bytes body (installed on
// Node's uwsgi-family workers); the module is plain JavaScript, so it is checked on every runtime.
import { describe, expect, it } from 'vitest';
import { keepResponseBodies, keepResponseSizes, keptBody, keptSize, utf8Length } from '../../runtimes/kept-body.ts';

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

describe('kept sizes', () => {
  it('is the UTF-8 length of a kept string (as TextEncoder makes it), the length of kept bytes, null otherwise', () => {
    for (const s of ['', 'hello', 'héllo ✓', '😀 and \uD800 alone', 'a\uDC00b', 'x'.repeat(1000) + 'é']) {
      expect(keptSize(new Response(s))).toBe(new TextEncoder().encode(s).length);
      expect(utf8Length(s)).toBe(new TextEncoder().encode(s).length);
    }
    expect(keptSize(new Response(new Uint8Array(7)))).toBe(7);
    expect(keptSize(new Response(null))).toBeNull();
    expect(keptSize(new Response(new ReadableStream()))).toBeNull();
    expect(keptSize(Response.json({ a: 1 }))).toBeNull();
  });

  it('installs again on top of a global Response replaced since (as Hono’s Node adapter does), and both keep bodies', () => {
    const before = globalThis.Response;
    class Other extends before {}
    globalThis.Response = Other;
    try {
      expect(keepResponseSizes()).toBe(keptSize);
      expect(globalThis.Response).not.toBe(Other);
      expect(Object.getPrototypeOf(globalThis.Response)).toBe(Other);
      const top = new Response('top ✓');
      expect(top instanceof Other && top instanceof Original).toBe(true);
      expect(keptSize(top)).toBe(7);
      expect(keptSize(new before('old'))).toBe(3);
      expect(keepResponseSizes()).toBe(keptSize);
      expect(Object.getPrototypeOf(globalThis.Response)).toBe(Other);
    } finally {
      globalThis.Response = before;
    }
  });
});
