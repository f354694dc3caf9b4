// A real tsgi process with --socket (uwsgi) and --http-socket in one worker: on Node the app gets a
// lazy Request where the vars allow (runtimes/lazy-request.ts), and Hono's adapter replaces the
// global Request on the HTTP side; either way the app sees, copies and forwards with fetch(req)
// exactly what the runtime's Request gives (computed here by the same vars without the lazy path).
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { encodePacket, type UwsgiVars, varsToRequest } from '../src/codec/index.ts';
import { cleanup, echoServer, fetchFresh, freePort, type Proc, RUNTIME, rawExchange, startTsgi } from './helpers.ts';

let tsgi: Proc;
let socketPort: number;
let httpPort: number;
let upstream: Awaited<ReturnType<typeof echoServer>>;
let upstreamHost: string;

beforeAll(async () => {
  upstream = await echoServer();
  upstreamHost = upstream.host;
  socketPort = await freePort();
  httpPort = await freePort();
  tsgi = await startTsgi([
    '--socket',
    `127.0.0.1:${socketPort}`,
    '--http-socket',
    `127.0.0.1:${httpPort}`,
    '--app',
    'test/fixtures/apps/lazy-request.ts',
    '--disable-logging',
  ]);
}, 60_000);
afterAll(async () => {
  await tsgi?.stop();
  await upstream.close();
  await cleanup();
});

const bodyBytes: Uint8Array<ArrayBuffer> = new TextEncoder().encode('form=1&b=✓');

/** The app's JSON answer to these vars over uwsgi. */
async function ask(vars: UwsgiVars, body: Uint8Array<ArrayBuffer> | null): Promise<Record<string, unknown>> {
  const r = await rawExchange({ port: socketPort }, body ? [encodePacket(vars), body] : [encodePacket(vars)]);
  const text = r.data.toString();
  expect(text, text).toMatch(/^HTTP\/1\.1 200 /);
  return JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4));
}

/** What the app shows of the runtime's own Request of these vars. */
async function expected(vars: UwsgiVars, body: Uint8Array<ArrayBuffer> | null): Promise<Record<string, unknown>> {
  const req = varsToRequest(vars, body, undefined, null);
  return { method: req.method, url: req.url, headers: [...req.headers], body: await req.text(), cache: req.cache, instance: true };
}

function vars(method: string, path: string, host: string, extra: UwsgiVars = []): UwsgiVars {
  const v: UwsgiVars = [
    ['REQUEST_METHOD', method],
    ['REQUEST_URI', path],
    ['PATH_INFO', path.split('?')[0]],
    ['HTTP_HOST', host],
    ['HTTP_USER_AGENT', 'tsgi-test'],
    ['HTTP_COOKIE', 'a=1'],
    ['HTTP_COOKIE', 'b=2'],
    ...extra,
  ];
  if (method === 'POST') v.push(['CONTENT_TYPE', 'application/x-www-form-urlencoded'], ['CONTENT_LENGTH', String(bodyBytes.length)]);
  return v;
}

const LAZY = RUNTIME === 'bun' ? 'ServedRequest' : 'LazyRequest';

describe(`lazy Requests in a tsgi process (${RUNTIME})`, () => {
  test('the app reads headers and body: the lazy Request where the vars allow, the same answers as the runtime’s Request', async () => {
    for (const method of ['GET', 'POST']) {
      const body = method === 'POST' ? bodyBytes : null;
      const plain = vars(method, '/show?x=1', 'app.example:8080');
      expect(await ask(plain, body)).toEqual({ kind: LAZY, seen: await expected(plain, body) });
      // Not in the URL parser's form: the runtime's Request, as before.
      const odd = vars(method, '/a/../show?x=1', 'App.Example:8080');
      expect(await ask(odd, body)).toEqual({ kind: 'ServedRequest', seen: await expected(odd, body) });
      const copy = vars(method, '/copy', 'app.example');
      expect(await ask(copy, body)).toEqual({ kind: LAZY, copy: await expected(copy, body) });
    }
  });

  test('fetch(req) forwards the lazy Request to another local server: method, path, headers (one the app set) and body', async () => {
    for (const method of ['GET', 'POST']) {
      const body = method === 'POST' ? bodyBytes : null;
      const answer = await ask(vars(method, '/forward/x?y=2', upstreamHost), body);
      expect(answer.kind).toBe(LAZY);
      const up = answer.upstream as { method: string; url: string; headers: Record<string, string>; body: string };
      expect([up.method, up.url, up.body]).toEqual([method, '/forward/x?y=2', body ? 'form=1&b=✓' : '']);
      expect(up.headers).toMatchObject({ 'x-forwarded-by': 'app', cookie: 'a=1; b=2', 'user-agent': 'tsgi-test' });
    }
  });

  test('--http-socket in the same process (Hono’s adapter replaced the global Request after tsgi did): the HTTP side copies, the uwsgi side still forwards lazily', async () => {
    const res = await fetchFresh(`http://127.0.0.1:${httpPort}/copy`, { method: 'POST', body: 'over http' });
    const answer = (await res.json()) as { copy: { body: string; method: string; instance: boolean } };
    expect([answer.copy.method, answer.copy.body, answer.copy.instance]).toEqual(['POST', 'over http', true]);
    // The uwsgi side after the HTTP side has served: still lazy, still forwarded.
    const again = await ask(vars('GET', '/forward/after', upstreamHost), null);
    expect(again.kind).toBe(LAZY);
    expect((again.upstream as { url: string }).url).toBe('/forward/after');
  });
});

// Under a master, Bun's and Deno's workers serve the master's socket with tsgi's own HTTP/1.1
// server (Bun.serve and Deno.serve take no fd): Deno's gets lazy Requests there too; Bun has none.
describe.skipIf(RUNTIME === 'node')(`lazy Requests on tsgi's own HTTP/1.1 server (${RUNTIME})`, () => {
  let master: Proc;
  let port: number;
  beforeAll(async () => {
    port = await freePort();
    master = await startTsgi([
      '--master',
      '--processes',
      '1',
      '--http-socket',
      `127.0.0.1:${port}`,
      '--app',
      'test/fixtures/apps/lazy-request.ts',
      '--disable-logging',
    ]);
    await master.waitFor(/tsgi is ready/);
  }, 60_000);
  afterAll(async () => {
    await master?.stop();
  });

  /** The app's JSON answer to a request head written as given (and a body). */
  async function askHttp(head: string, body = ''): Promise<Record<string, unknown>> {
    const r = await rawExchange({ port }, [Buffer.from(`${head}\r\nconnection: close\r\n\r\n${body}`)]);
    const text = r.data.toString();
    expect(text, text).toMatch(/^HTTP\/1\.1 200 /);
    return JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4));
  }

  const LAZY_HTTP = RUNTIME === 'deno' ? 'LazyRequest' : 'ServedRequest';
  const headers = (host: string) => `host: ${host}\r\nuser-agent: tsgi-test\r\ncookie: a=1\r\ncookie: b=2`;

  test('a plain head: the lazy Request, with what the runtime’s Request would give; an odd one: the runtime’s', async () => {
    const seen = await askHttp(`GET /show?x=1 HTTP/1.1\r\n${headers('app.example:8080')}`);
    expect(seen.kind).toBe(LAZY_HTTP);
    expect(seen.seen).toMatchObject({ method: 'GET', url: 'http://app.example:8080/show?x=1', body: '', instance: true });
    const shown = new Map((seen.seen as { headers: [string, string][] }).headers);
    expect([shown.get('cookie'), shown.get('user-agent'), shown.get('host')]).toEqual(['a=1; b=2', 'tsgi-test', 'app.example:8080']);
    const odd = await askHttp(`GET /a/../show HTTP/1.1\r\n${headers('App.Example')}`);
    expect(odd.kind).toBe('ServedRequest');
    expect((odd.seen as { url: string }).url).toBe('http://app.example/show');
  });

  test('a POST copied and forwarded with fetch(req): method, path, headers and body', async () => {
    const form = 'form=1&b=✓';
    const length = Buffer.byteLength(form);
    const copy = await askHttp(`POST /copy HTTP/1.1\r\n${headers('app.example')}\r\ncontent-length: ${length}`, form);
    expect(copy.kind).toBe(LAZY_HTTP);
    expect(copy.copy).toMatchObject({ method: 'POST', body: form, instance: true });
    const sent = await askHttp(`POST /forward/x?y=2 HTTP/1.1\r\n${headers(upstreamHost)}\r\ncontent-length: ${length}`, form);
    expect(sent.kind).toBe(LAZY_HTTP);
    const up = sent.upstream as { method: string; url: string; headers: Record<string, string>; body: string };
    expect([up.method, up.url, up.body]).toEqual(['POST', '/forward/x?y=2', form]);
    expect(up.headers).toMatchObject({ 'x-forwarded-by': 'app', cookie: 'a=1; b=2', 'user-agent': 'tsgi-test' });
  });
});
