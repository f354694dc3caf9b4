/**
 * The request set every way in to an app must pass (nginx → --socket, --http-socket, the --http
 * router): methods, headers, big bodies both ways, HEAD, 204, Set-Cookie, streaming, errors.
 * Uses the app in test/fixtures/apps/echo.ts.
 */
import { createHash } from 'node:crypto';
import { expect, test } from 'vitest';
import { fetchFresh, rawExchange, until } from './helpers.ts';

export function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

/**
 * `url(path)`: where to send; `host`: the Host the app sees (and its URL's authority);
 * `output()`: the tsgi log so far; `cookieJoin`: how the front joins two Cookie lines before tsgi
 * sees them (Apache httpd merges repeated request header lines itself, Cookie too, with ", ").
 */
export function requestSet(url: (path: string) => string, host: () => string, output: () => string, cookieJoin = '; '): void {
  test('GET with a query string and headers', async () => {
    const res = await fetchFresh(url('/echo?a=1&b=two%20words'), { headers: { 'X-Test': 'yes', 'Accept-Language': 'fr' } });
    expect(res.status).toBe(200);
    const j = (await res.json()) as { method: string; url: string; headers: Record<string, string> };
    expect(j.method).toBe('GET');
    expect(j.url).toBe(`http://${host()}/echo?a=1&b=two%20words`);
    expect(j.headers['x-test']).toBe('yes');
    expect(j.headers['accept-language']).toBe('fr');
    expect(j.headers.host).toBe(host());
  });

  test('POST of 1 MiB: the app sees every byte', async () => {
    const body = new Uint8Array(1024 * 1024);
    for (let i = 0; i < body.length; i++) body[i] = (i * 7 + 3) & 255;
    const res = await fetchFresh(url('/upload'), { method: 'POST', body, headers: { 'content-type': 'application/octet-stream' } });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ length: body.length, sha256: sha256(body) });
  });

  test('a 2 MiB POST the app ignores, answered with 5 MiB', async () => {
    const res = await fetchFresh(url('/big'), { method: 'POST', body: new Uint8Array(2 * 1024 * 1024) });
    expect(res.status).toBe(200);
    expect((await res.arrayBuffer()).byteLength).toBe(5 * 1024 * 1024);
  });

  test('HEAD: headers and no body', async () => {
    const res = await fetchFresh(url('/head'), { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-head')).toBe('yes');
    expect((await res.arrayBuffer()).byteLength).toBe(0);
  });

  test('204 No Content', async () => {
    const res = await fetchFresh(url('/nocontent'));
    expect(res.status).toBe(204);
    expect(res.headers.get('x-empty')).toBe('1');
    expect(await res.text()).toBe('');
  });

  test(`two Cookie lines from the client reach the app as one cookie header joined with "${cookieJoin}"`, async () => {
    const u = new URL(url('/echo'));
    const head = `GET ${u.pathname} HTTP/1.1\r\nHost: ${u.host}\r\nCookie: a=1\r\nX-Two: 1\r\nCookie: b=2\r\nX-Two: 2\r\nConnection: close\r\n\r\n`;
    const r = await rawExchange({ port: Number(u.port) }, [new TextEncoder().encode(head)]);
    const text = r.data.toString();
    expect(text).toMatch(/^HTTP\/1\.1 200 /);
    const j = JSON.parse(text.slice(text.indexOf('{'), text.lastIndexOf('}') + 1)) as { headers: Record<string, string> };
    expect(j.headers.cookie).toBe(`a=1${cookieJoin}b=2`);
    expect(j.headers['x-two']).toBe('1, 2');
  });

  test('two Set-Cookie headers stay apart', async () => {
    const res = await fetchFresh(url('/cookies'));
    expect(res.headers.getSetCookie()).toEqual(['a=1; Path=/', 'b=2; Path=/; HttpOnly']);
  });

  test('a 5 MiB streamed response arrives whole', async () => {
    const res = await fetchFresh(url('/big'));
    const got = new Uint8Array(await res.arrayBuffer());
    expect(got.length).toBe(5 * 1024 * 1024);
    const want = new Uint8Array(got.length);
    for (let i = 0; i < want.length; i++) want[i] = i % 251;
    expect(sha256(got)).toBe(sha256(want));
  });

  test('a slowly streamed response reaches the client chunk by chunk', async () => {
    const res = await fetchFresh(url('/slow'));
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
    const res = await fetchFresh(url('/throw'));
    expect(res.status).toBe(500);
    await res.arrayBuffer();
    const rej = await fetchFresh(url('/reject'));
    expect(rej.status).toBe(500);
    await rej.arrayBuffer();
    const ok = await fetchFresh(url('/echo'));
    expect(ok.status).toBe(200);
    await ok.arrayBuffer();
    // The worker's log line travels on its own pipe: it may come after the answers.
    await until(() => output().includes('boom (thrown on purpose by the test app)'));
    expect(output()).toContain('boom (thrown on purpose by the test app)');
  });
}
