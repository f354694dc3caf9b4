// The lazy Request of the CGI-style sockets (runtimes/lazy-request.ts, Runtime.lazyRequests: Node
// and Deno): for every vars set below, what the app sees through the lazy path is what the runtime's
// Request gives, or the lazy path declined. On Bun there is no maker: the same checks hold for the
// runtime's Request, which both paths build.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getRuntime } from '../../runtimes/detect.ts';
import { lazyRequests } from '../../runtimes/lazy-request.ts';
import { echoServer, RUNTIME, run, scriptCommand } from '../helpers.ts';
import { type UwsgiVars, varsToRequest } from '../../src/codec/index.ts';
import { PlainParts } from '../../src/codec/request.ts';

const maker = await (await getRuntime()).lazyRequests();
const lazyOn = maker !== null;
const enc = new TextEncoder();

/** The runtime's own Request (the root of the global's chain). */
function runtimeRequest(): typeof Request {
  let c: typeof Request = globalThis.Request;
  while (Object.getPrototypeOf(c) !== Function.prototype) c = Object.getPrototypeOf(c);
  return c;
}
const BASE = runtimeRequest();
const GETTERS = Reflect.ownKeys(BASE.prototype).filter((k): k is string => typeof k === 'string' && !!Object.getOwnPropertyDescriptor(BASE.prototype, k)?.get);

class Source {
  asked = 0;
  readonly ctrl = new AbortController();
  signal(): AbortSignal {
    this.asked++;
    return this.ctrl.signal;
  }
}

type BodyKind = 'none' | 'bytes' | 'stream' | 'string';
function body(kind: BodyKind): BodyInit | null {
  if (kind === 'none') return null;
  if (kind === 'bytes') return enc.encode('hello bytes ✓');
  if (kind === 'string') return 'a string body';
  return new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(enc.encode('a streamed '));
      c.enqueue(enc.encode('body'));
      c.close();
    },
  });
}

const isLazy = (req: Request) => req.constructor.name === 'LazyRequest';

/** Everything a Request shows: every getter of the runtime's Request.prototype, then its text. */
async function view(req: Request): Promise<Record<string, unknown>> {
  const v: Record<string, unknown> = {};
  for (const k of GETTERS) {
    const x: unknown = Reflect.get(req, k);
    if (k === 'headers') v[k] = [...(x as Headers)];
    else if (k === 'signal') v[k] = (x as AbortSignal).aborted;
    else if (k === 'body') v[k] = x === null ? null : x instanceof ReadableStream;
    else v[k] = x;
  }
  v.instanceofRequest = req instanceof Request;
  v.tag = Object.prototype.toString.call(req);
  v.text = await req.text();
  v.bodyUsedAfter = req.bodyUsed;
  return v;
}

type Made = { req: Request } | { error: string };
function attempt(f: () => Request): Made {
  try {
    return { req: f() };
  } catch (e) {
    return { error: `${(e as Error).constructor.name}: ${(e as Error).message}` };
  }
}

// The vars sets: methods × hosts × targets, with headers and bodies going round.
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'get', 'post', 'patch', 'Delete', 'FOO', 'M-SEARCH', ''];
const HOSTS: (string | null)[] = [
  'example.com',
  'Example.COM',
  'example.com:80',
  'example.com:8080',
  'example.com:080',
  'example.com:443',
  '127.0.0.1',
  '127.0.0.1:3000',
  '[::1]',
  '[::1]:8080',
  '[0:0::1]',
  'xn--bcher-kva.de',
  'b\xc3\xbccher.de',
  'a.1',
  '0x7f.0.0.1',
  'host.',
  'local_host',
  'localhost:65536',
  'my-host.internal:65535',
  null,
];
const TARGETS = [
  '/',
  '/a/b',
  '/a/./b',
  '/a/../b',
  '/a/.',
  '/%2e%2E/x',
  '/.well-known/x',
  '/a%20b',
  '/a b',
  '/\xc3\xa9t\xc3\xa9',
  '/a\\b',
  '/a#b',
  '/~user/',
  '/a%zz',
  "/it's",
  '/a|b',
  '/a{b}^',
  '//x',
  'noslash',
  'http://other.host/abs',
  '/a?',
  '/a?x=1&y=2',
  '/a?q="x"',
  "/a?q='x'",
  '/a?q=<x>',
  '/a?q=\xc3\xa9',
  '/a?q=a b',
  '/a?q=^`{|}',
  '',
];
const HEADER_SETS: UwsgiVars[] = [
  [],
  [
    ['HTTP_USER_AGENT', 'curl/8.5.0'],
    ['HTTP_ACCEPT', '*/*'],
  ],
  [
    ['HTTP_COOKIE', 'a=1'],
    ['HTTP_COOKIE', 'b=2'],
    ['HTTP_X_A', 'one'],
    ['HTTP_X_A', ' two '],
  ],
  [['HTTP_USER_AGENT', 'caf\xc3\xa9/1.0']],
  [['HTTP_X_PAD', '  padded\t']],
  [['HTTP_X_TAB', 'a\tb']],
  [['HTTP_X_EMPTY', '']],
  [['HTTP_A B', 'bad name']],
  [['HTTP_X_DEL', 'a\x7fb']],
  [['HTTP_X_NUL', 'a\x00b']],
  [
    ['CONTENT_TYPE', 'application/json'],
    ['HTTP_CONTENT_TYPE', 'application/json'],
  ],
  [['HTTP_X_UPPER', 'Mixed Case Value']],
];
const BODIES: BodyKind[] = ['none', 'bytes', 'stream', 'string'];

function varsSets(): { vars: UwsgiVars; body: BodyKind; what: string }[] {
  const sets: { vars: UwsgiVars; body: BodyKind; what: string }[] = [];
  let n = 0;
  for (const method of METHODS) {
    for (let h = 0; h < HOSTS.length; h++) {
      // Every method meets every host; targets, headers and bodies go round.
      const target = TARGETS[(n * 7 + h) % TARGETS.length];
      const headers = HEADER_SETS[n % HEADER_SETS.length];
      const kind = BODIES[(n >> 1) % BODIES.length];
      const host = HOSTS[h];
      const vars: UwsgiVars = [];
      if (method) vars.push(['REQUEST_METHOD', method]);
      vars.push(['REQUEST_URI', target]);
      vars.push(['PATH_INFO', target.split('?')[0]]);
      if (n % 5 === 0) vars.push(['REQUEST_SCHEME', 'https']);
      if (host === null) vars.push(['SERVER_NAME', n % 2 ? '::1' : 'srv.example'], ['SERVER_PORT', n % 3 ? '8443' : '80']);
      else vars.push(['HTTP_HOST', host]);
      if (kind !== 'none') vars.push(['CONTENT_LENGTH', '15']);
      vars.push(...headers);
      if (n % 9 === 0) vars.push(['SCRIPT_NAME', '/app'], ['PATH_INFO', '/rest']);
      sets.push({ vars, body: kind, what: `${method || '(none)'} ${host} ${JSON.stringify(target)} headers#${n % HEADER_SETS.length} body:${kind}` });
      n++;
    }
  }
  // One part changed from a plain request at a time: each kind of change meets the comparison alone.
  const oneOff = (what: string, o: { method?: string; host?: string | null; target?: string; headers?: UwsgiVars; body?: BodyKind }) => {
    const method = o.method ?? 'POST';
    const target = o.target ?? '/a/b?x=1';
    const kind = o.body ?? 'bytes';
    const vars: UwsgiVars = [
      ['REQUEST_METHOD', method],
      ['REQUEST_URI', target],
    ];
    if (o.host === null) vars.push(['SERVER_NAME', '::1'], ['SERVER_PORT', '8443']);
    else vars.push(['HTTP_HOST', o.host ?? 'example.com:8080']);
    if (kind !== 'none') vars.push(['CONTENT_LENGTH', '15']);
    vars.push(...(o.headers ?? HEADER_SETS[1]));
    sets.push({ vars, body: kind, what: `one-off ${what}` });
  };
  for (const method of METHODS) oneOff(`method ${method}`, { method });
  for (const host of HOSTS) oneOff(`host ${host}`, { host });
  for (const target of TARGETS) oneOff(`target ${JSON.stringify(target)}`, { target });
  HEADER_SETS.forEach((headers, i) => oneOff(`headers#${i}`, { headers }));
  for (const body of BODIES) oneOff(`body ${body}`, { body });
  // Mostly plain ones too, the common case: most of these are taken lazily.
  for (const method of METHODS.slice(0, 7)) {
    for (const host of ['example.com', 'example.com:8080', '10.1.2.3:3000', 'my-host.internal']) {
      for (const target of ['/', '/a/b', '/a%20b/c?x=1&y=%C3%A9', '/api/v1/items?sort=-date&q=^`{|}', '//double', '/a?']) {
        const headers = [HEADER_SETS[0], HEADER_SETS[1], HEADER_SETS[2], HEADER_SETS[5], HEADER_SETS[6], HEADER_SETS[10]][n % 6];
        const kind = (['none', 'bytes', 'stream'] as const)[n % 3];
        const vars: UwsgiVars = [
          ['REQUEST_METHOD', method],
          ['REQUEST_URI', target],
          ['HTTP_HOST', host],
        ];
        if (n % 4 === 0) vars.push(['HTTPS', 'on']);
        if (kind !== 'none') vars.push(['CONTENT_LENGTH', '15']);
        vars.push(...headers);
        sets.push({ vars, body: kind, what: `${method} ${host} ${JSON.stringify(target)} (plain) body:${kind}` });
        n++;
      }
    }
  }
  return sets;
}

/** The app's Request by the path in use (lazy where the runtime has it) and by the runtime's Request alone. */
function both(vars: UwsgiVars, kind: BodyKind = 'none') {
  const lazySource = new Source();
  const realSource = new Source();
  return {
    lazy: varsToRequest(vars, body(kind), lazySource, maker),
    real: varsToRequest(vars, body(kind), realSource, null),
    lazySource,
    realSource,
  };
}

const POST: UwsgiVars = [
  ['REQUEST_METHOD', 'POST'],
  ['REQUEST_URI', '/submit?x=1'],
  ['HTTP_HOST', 'example.com:8080'],
  ['CONTENT_TYPE', 'text/plain'],
  ['CONTENT_LENGTH', '15'],
  ['HTTP_COOKIE', 'a=1'],
  ['HTTP_COOKIE', 'b=2'],
];
const GET: UwsgiVars = [
  ['REQUEST_METHOD', 'GET'],
  ['REQUEST_URI', '/page'],
  ['HTTP_HOST', 'example.com'],
  ['HTTP_ACCEPT', 'text/html'],
];

describe(`lazy Requests (${RUNTIME}: ${lazyOn ? 'lazy where the vars allow' : 'the runtime’s Request'})`, () => {
  it('a few hundred vars sets: every property and the text of the lazy path equal the runtime’s Request’s, or it declined', async () => {
    const sets = varsSets();
    expect(sets.length).toBeGreaterThan(400);
    let lazy = 0;
    let refused = 0;
    for (const s of sets) {
      const a = attempt(() => varsToRequest(s.vars, body(s.body), new Source(), maker));
      const b = attempt(() => varsToRequest(s.vars, body(s.body), new Source(), null));
      if ('error' in b) {
        refused++;
        expect(a, s.what).toEqual(b);
        continue;
      }
      expect('req' in a, s.what).toBe(true);
      const req = (a as { req: Request }).req;
      if (isLazy(req)) lazy++;
      expect(await view(req), s.what).toEqual(await view(b.req));
    }
    if (lazyOn) {
      // Both ways taken: a good share lazy, a good share declined (and the 400s still 400s).
      expect(lazy).toBeGreaterThan(sets.length / 3);
      expect(lazy).toBeLessThan(sets.length - refused);
    } else expect(lazy).toBe(0);
    expect(refused).toBeGreaterThan(0);
  });

  it('declines what the URL parser or Headers would change; takes the plain forms', () => {
    const one = (over: Record<string, string>) => {
      const v: Record<string, string> = { REQUEST_METHOD: 'GET', REQUEST_URI: '/a', HTTP_HOST: 'example.com', ...over };
      const made = attempt(() => varsToRequest(Object.entries(v), null, new Source(), maker));
      return 'req' in made && isLazy(made.req);
    };
    const plain: Record<string, string>[] = [
      {},
      { HTTP_HOST: 'example.com:8080' },
      { HTTP_HOST: '10.0.0.1' },
      { REQUEST_URI: '/a%20b?q=1&r' },
      { REQUEST_METHOD: 'PATCH' },
    ];
    for (const p of plain) expect(one(p), JSON.stringify(p)).toBe(lazyOn);
    const declined: Record<string, string>[] = [
      { HTTP_HOST: 'Example.com' },
      { HTTP_HOST: 'example.com:80' },
      { HTTP_HOST: 'example.com:08080' },
      { HTTP_HOST: '[::1]:8080' },
      { REQUEST_URI: '/a/../b' },
      { REQUEST_URI: '/%2e/b' },
      { REQUEST_URI: '/a b' },
      { REQUEST_URI: '/\xc3\xa9' },
      { REQUEST_URI: '/a?q=<x>' },
      { REQUEST_URI: 'http://example.com/a' },
      { REQUEST_METHOD: 'get' },
      { REQUEST_METHOD: 'patch' },
      { HTTP_X_A: ' padded' },
      { HTTP_X_A: 'caf\xc3\xa9' },
      { 'HTTP_A B': '1' },
    ];
    for (const d of declined) expect(one(d), JSON.stringify(d)).toBe(false);
  });

  it('the comparison sees a wrong part: a lazy Request from a URL not in the parser’s form differs from the real one', async () => {
    if (maker === null) return;
    const headers = { host: 'Example.com' };
    const wrong = maker(new PlainParts('GET', 'http://Example.com/a/./b', headers, null, new Source()));
    const real = new Request('http://Example.com/a/./b', { headers });
    expect(await view(wrong)).not.toEqual(await view(real));
  });

  it('instanceof Request, also for the runtime’s own Requests; an app’s subclass keeps its own instanceof', () => {
    const { lazy } = both(GET);
    expect(lazy instanceof Request).toBe(true);
    expect(new BASE('http://x/') instanceof Request).toBe(true);
    class Mine extends Request {}
    expect(new Mine('http://x/') instanceof Mine).toBe(true);
    expect(lazy instanceof Mine).toBe(false);
    expect(new Request('http://x/') instanceof Mine).toBe(false);
    expect(Request.name).toBe('Request');
  });

  it('new Request(req), new Request(req, { headers }), new Request(url, req), clone(): as from the runtime’s Request', async () => {
    for (const vars of [POST, GET]) {
      const kind: BodyKind = vars === POST ? 'stream' : 'none';
      let p = both(vars, kind);
      expect(await view(new Request(p.lazy))).toEqual(await view(new Request(p.real)));
      expect(p.lazy.bodyUsed).toBe(p.real.bodyUsed);
      p = both(vars, kind);
      expect(await view(new Request(p.lazy, { headers: { 'x-only': '1' } }))).toEqual(await view(new Request(p.real, { headers: { 'x-only': '1' } })));
      p = both(vars, kind);
      expect(await view(new Request('http://other.example/x', p.lazy))).toEqual(await view(new Request('http://other.example/x', p.real)));
      p = both(vars, kind);
      const [lc, rc] = [p.lazy.clone(), p.real.clone()];
      expect(lc instanceof Request).toBe(true);
      expect(await view(lc)).toEqual(await view(rc));
      expect(await view(p.lazy)).toEqual(await view(p.real));
    }
  });

  it('the body read twice: the second read throws as the runtime’s Request’s does; new Request(used) too', async () => {
    const { lazy, real } = both(POST, 'bytes');
    expect(await lazy.text()).toBe(await real.text());
    const again = (r: Request) =>
      r.text().then(
        () => 'read',
        (e: Error) => `${e.constructor.name}: ${e.message}`,
      );
    expect(await again(lazy)).toBe(await again(real));
    expect(await again(lazy)).not.toBe('read');
    expect(lazy.bodyUsed).toBe(true);
    expect(attempt(() => new Request(lazy))).toEqual(attempt(() => new Request(real)));
  });

  it('headers the app changed go with the request: before and after the runtime’s Request is made', async () => {
    // Changed before anything else was read.
    let p = both(POST, 'bytes');
    for (const r of [p.lazy, p.real]) r.headers.set('x-app', 'early');
    expect(await view(new Request(p.lazy))).toEqual(await view(new Request(p.real)));
    // Read, the real Request made (cache), then changed: clone(), new Request(req) and fetch's input carry the change.
    p = both(POST, 'bytes');
    const hs = [p.lazy.headers, p.real.headers];
    expect([p.lazy.cache, p.lazy.headers]).toEqual([p.real.cache, hs[0]]);
    for (const h of hs) {
      h.set('x-app', 'late');
      h.delete('cookie');
    }
    expect(p.lazy.headers).toBe(hs[0]);
    expect(await view(p.lazy.clone())).toEqual(await view(p.real.clone()));
    expect(await view(new Request(p.lazy))).toEqual(await view(new Request(p.real)));
    // blob() takes its type from the changed content-type.
    p = both(POST, 'bytes');
    p.lazy.headers.get('host');
    void p.lazy.redirect;
    for (const r of [p.lazy, p.real]) r.headers.set('content-type', 'application/x-changed');
    expect((await p.lazy.blob()).type).toBe((await p.real.blob()).type);
  });

  it('signal: asked of the source only when read; aborts with it; new Request(req) follows it only when told, clone() does', async () => {
    const p = both(POST, 'bytes');
    void [p.lazy.method, p.lazy.url, p.lazy.headers, p.lazy.cache, p.lazy.body];
    void [p.real.method, p.real.url, p.real.headers, p.real.cache, p.real.body];
    expect(p.lazySource.asked).toBe(p.realSource.asked);
    expect(p.lazySource.asked).toBe(0);
    const plain = [new Request(p.lazy.clone()), new Request(p.real.clone())];
    const told = [new Request('http://x/', { signal: p.lazy.signal }), new Request('http://x/', { signal: p.real.signal })];
    const clones = [p.lazy.clone(), p.real.clone()];
    p.lazySource.ctrl.abort();
    p.realSource.ctrl.abort();
    expect([p.lazy.signal.aborted, plain[0].signal.aborted, told[0].signal.aborted, clones[0].signal.aborted]).toEqual([
      p.real.signal.aborted,
      plain[1].signal.aborted,
      told[1].signal.aborted,
      clones[1].signal.aborted,
    ]);
    expect(p.lazy.signal.aborted).toBe(true);
  });

  describe('fetch(req) to a local server', () => {
    let server: Awaited<ReturnType<typeof echoServer>>;
    let base: string;
    beforeAll(async () => {
      server = await echoServer();
      base = `http://${server.host}`;
    });
    afterAll(() => server.close());

    const at = (vars: UwsgiVars) => vars.map(([k, v]): [string, string] => (k === 'HTTP_HOST' ? [k, base.slice(7)] : [k, v]));
    const echo = async (res: Response) => res.json();

    it('fetch(req), fetch(req, init), fetch(url, req): what the server gets is the same as from the runtime’s Request', async () => {
      for (const vars of [at(POST), at(GET)]) {
        const kind: BodyKind = vars[0][1] === 'POST' ? 'stream' : 'none';
        let p = both(vars, kind);
        if (vars[0][1] === 'GET') expect(isLazy(p.lazy)).toBe(lazyOn);
        expect(await echo(await fetch(p.lazy))).toEqual(await echo(await fetch(p.real)));
        p = both(vars, kind);
        const init = { headers: { 'x-init': '1' } };
        expect(await echo(await fetch(p.lazy, init))).toEqual(await echo(await fetch(p.real, init)));
        p = both(vars, kind);
        expect(await echo(await fetch(`${base}/as-init`, p.lazy))).toEqual(await echo(await fetch(`${base}/as-init`, p.real)));
        p = both(vars, kind);
        for (const r of [p.lazy, p.real]) r.headers.set('x-app', 'changed');
        expect(await echo(await fetch(p.lazy))).toEqual(await echo(await fetch(p.real)));
      }
    });
  });

  it('Hono’s Node adapter replaces the global Request too: both replacements hold in one process, in any order', async () => {
    for (const order of ['hono-first', 'tsgi-first', 'hono-loaded-first']) {
      const [cmd, args] = scriptCommand('test/fixtures/lazy-order.ts');
      const p = run(cmd, [...args, order]);
      const r = await p.exited;
      expect(r.code, p.output()).toBe(0);
      const out = JSON.parse(p.output().trim().split('\n').at(-1) as string);
      expect(out, order).toEqual({
        lazy: lazyOn,
        copy: 'POST http://x.example/a body',
        fetched: 'hi',
        honoLight: 'GET http://h.example/l',
        instance: true,
        again: true,
      });
    }
  });
});

it('lazyRequests() installs once (Node, Deno): a second call keeps the globals; Bun keeps its own untouched', () => {
  const installed = Symbol.for('tsgi.lazyRequests') in globalThis;
  expect(installed).toBe(lazyOn);
  if (!installed) return;
  const [r, f] = [globalThis.Request, globalThis.fetch];
  lazyRequests();
  expect([globalThis.Request, globalThis.fetch]).toEqual([r, f]);
});
