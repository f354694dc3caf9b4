// The --http router's fast path (src/router/raw.ts): from a parsed request head it makes the
// very vars the Request way makes (proxy.ts varsFor over the Request tsgi's HTTP/1.1 server
// builds), or it does not take the request. And it answers through the same exchange.
import { describe, expect, it } from 'vitest';
import type { RawReply, RawRequestHead } from '../../runtimes/types.ts';
import { appendHeader, buildRequest } from '../../src/codec/index.ts';
import { varsFor } from '../../src/router/proxy.ts';
import { rawHandler, rawVars } from '../../src/router/raw.ts';
import { memoryProxy } from './memory-proxy.ts';

const peer = { address: '127.0.0.1', port: 5000 };

function head(method: string, target: string, headers: string[]): RawRequestHead {
  return { method, target, v11: true, headers, headBytes: 100, peer };
}

/** The vars the Request way sends for the same head (null if it cannot even build the Request). */
function viaRequest(h: RawRequestHead): Array<[string, string]> | null {
  const headers = new Headers();
  let host = 'localhost';
  for (let i = 0; i < h.headers.length; i += 2) {
    appendHeader(headers, h.headers[i], h.headers[i + 1]);
    if (h.headers[i].toLowerCase() === 'host') host = h.headers[i + 1];
  }
  let req: Request;
  try {
    req = buildRequest(h.method, 'http', host, h.target, headers, null, undefined);
  } catch {
    return null;
  }
  return varsFor(req, peer, '', 8080, false);
}

const BASE = ['Host', 'example.test:8080', 'User-Agent', 'wrk', 'Accept', '*/*'];

describe('raw vars', () => {
  it('a plain GET: the same vars in the same order as the Request way', () => {
    const h = head('GET', '/hello/world?a=1&b=%20x', BASE);
    const raw = rawVars(h, 8080);
    expect(raw).not.toBeNull();
    expect(raw).toEqual(viaRequest(h));
    expect(raw).toContainEqual(['SERVER_NAME', 'example.test']);
    expect(raw).toContainEqual(['TSGI_KEEP', '1']);
  });

  it('repeated headers are joined as Headers joins them (cookie with "; "), names sorted', () => {
    const h = head('GET', '/', ['Host', 'a.test', 'X-B', '1', 'Cookie', 'a=1', 'x-b', '2', 'cookie', 'b=2', 'Accept', 'text/html']);
    expect(rawVars(h, 8080)).toEqual(viaRequest(h));
  });

  it('every head it takes gives the vars the Request way gives (paths, queries, hosts, methods, values)', () => {
    const targets = [
      '/',
      '/a/b',
      '//x',
      '/a%20b',
      '/%C3%A9t%C3%A9',
      '/a/./b',
      '/a/../b',
      '/%2e%2E/x',
      '/a?',
      '/a?x=1&y',
      "/a?q='x'",
      '/a?q="x"',
      '/a?<b>',
      '/a?q=%zz',
      '/a|b',
      '/a^b',
      '/a{b}',
      '/a`b',
      '/a\\b',
      '/a#f',
      '/~user/x.js',
      "/a!$&'()*+,;=:@",
    ];
    const hosts = [
      'example.test',
      'EXAMPLE.test',
      'a..b',
      'foo.123',
      '0x7f.1',
      '127.1',
      '127.0.0.1',
      '127.000.0.1',
      '10.0.0.1:80',
      'xn--nxasmq6b.test',
      '[::1]:8080',
      'localhost:0080',
      'host:99999',
      'a-b.c-d',
      '1host.test',
      'host.',
      'h_o.test',
    ];
    const methods = ['GET', 'HEAD', 'OPTIONS', 'DELETE', 'get', 'POST', 'PUT', 'PATCH'];
    const values = ['plain', ' padded ', 'a\tb', 'café', '', 'x'.repeat(300)];
    let taken = 0;
    let cases = 0;
    for (const target of targets)
      for (const host of hosts)
        for (const method of methods.slice(0, 3)) {
          const h = head(method, target, ['Host', host, 'X-Test', 'v']);
          cases++;
          const raw = rawVars(h, 8080);
          if (raw === null) continue;
          taken++;
          expect(raw, `${method} ${target} Host: ${host}`).toEqual(viaRequest(h));
        }
    for (const method of methods)
      for (const value of values) {
        const h = head(method, '/x', ['Host', 'a.test', 'X-Value', value]);
        const raw = rawVars(h, 8080);
        if (raw !== null) expect(raw, `${method} X-Value: ${JSON.stringify(value)}`).toEqual(viaRequest(h));
      }
    // Most of the plain ones are taken: the fast path is not empty.
    expect(taken).toBeGreaterThan(cases / 8);
  });

  it('what it leaves to the Request way', () => {
    const no = (method: string, target: string, headers: string[]) =>
      expect(rawVars(head(method, target, headers), 80), `${method} ${target} ${headers}`).toBeNull();
    no('POST', '/', ['Host', 'a.test']);
    no('DELETE', '/', ['Host', 'a.test', 'Content-Length', '0']);
    no('GET', '/', ['Host', 'a.test', 'Transfer-Encoding', 'chunked']);
    no('GET', '/ws', ['Host', 'a.test', 'Connection', 'Upgrade', 'Upgrade', 'websocket']);
    no('GET', '/', ['Host', 'a.test', 'X-Tsgi-Client-Cert-Subject', 'CN=forged']);
    no('GET', '/', ['User-Agent', 'no host']);
    no('GET', '/', ['Host', 'a.test', 'Host', 'b.test']);
    no('GET', 'http://a.test/', ['Host', 'a.test']);
    no('OPTIONS', '*', ['Host', 'a.test']);
    no('GET', '/a/../b', ['Host', 'a.test']);
    no('GET', '/', ['Host', 'A.test']);
    no('GET', '/', ['Host', 'a.test', 'X', 'caf\u00e9']);
  });
});

/** A RawReply that records what the router writes. */
class RecordingReply implements RawReply {
  onDrain: (() => void) | null = null;
  onGone: (() => void) | null = null;
  onAbort: (() => void) | null = null;
  status = 0;
  headers: string[] = [];
  body = '';
  ended = false;
  destroyed = false;
  head(status: number, _reason: string, headers: string[]): void {
    this.status = status;
    this.headers = headers;
  }
  answer(status: number, reason: string, headers: string[], close: boolean, body: Uint8Array | null): void {
    this.head(status, reason, headers);
    if (body !== null) this.write(body);
    this.end();
  }
  write(chunk: Uint8Array): boolean {
    this.body += new TextDecoder().decode(chunk);
    return true;
  }
  end(): void {
    this.ended = true;
  }
  destroy(): void {
    this.destroyed = true;
  }
}

async function waitFor(test: () => boolean): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (test()) return;
    await new Promise((r) => setTimeout(r, 2));
  }
  throw new Error(`condition not met: ${test}`);
}

describe('raw exchange (in memory)', () => {
  function setup(timeoutMs = 60_000, ready = 1) {
    const { o, pool, opened } = memoryProxy(timeoutMs, ready);
    return { raw: rawHandler({ proxy: o, bufferSize: 4096, keepAlive: true }), pool, opened };
  }

  it('a chunked answer goes to the reply piece by piece, and the connection back to the pool', async () => {
    const { raw, pool, opened } = setup();
    const reply = new RecordingReply();
    expect(raw(head('GET', '/', ['Host', 'a.test']), reply)).toBe(true);
    await waitFor(() => opened.length === 1 && opened[0].written.length > 0);
    opened[0].send('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n');
    await waitFor(() => reply.body === 'abc');
    expect(reply.status).toBe(200);
    expect(reply.headers).toEqual(['content-type', 'text/plain']);
    expect(reply.ended).toBe(false);
    opened[0].send('2\r\nde\r\n0\r\n\r\n');
    await waitFor(() => reply.ended);
    expect(reply.body).toBe('abcde');
    expect(pool.take()).toBe(opened[0]);
  });

  it('no worker ready, a head above --buffer-size: not taken (the Request way answers 503, 431)', () => {
    expect(setup(60_000, 0).raw(head('GET', '/', ['Host', 'a.test']), new RecordingReply())).toBe(false);
    expect(setup().raw({ ...head('GET', '/', ['Host', 'a.test']), headBytes: 5000 }, new RecordingReply())).toBe(false);
  });

  it('504 when no answer head comes within --http-timeout', async () => {
    const { raw, opened } = setup(50);
    const reply = new RecordingReply();
    raw(head('GET', '/slow', ['Host', 'a.test']), reply);
    await waitFor(() => reply.ended);
    expect(reply.status).toBe(504);
    expect(reply.body).toContain('--http-timeout');
    expect(opened[0].ending).toBe('destroy');
  });

  it('a client gone mid-answer: the worker connection is closed, not pooled', async () => {
    const { raw, pool, opened } = setup();
    const reply = new RecordingReply();
    raw(head('GET', '/', ['Host', 'a.test']), reply);
    await waitFor(() => opened.length === 1 && opened[0].written.length > 0);
    opened[0].send('HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc');
    await waitFor(() => reply.body === 'abc');
    reply.onGone?.();
    reply.onAbort?.();
    await waitFor(() => opened[0].ending === 'destroy');
    expect(pool.take()).toBeNull();
  });
});
