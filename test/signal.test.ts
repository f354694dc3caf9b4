/**
 * req.signal means "the client went away", on every front door: `--socket` (tsgi's uwsgi server,
 * TCP and UNIX), `--http-socket` (TCP: Bun.serve / Deno.serve / node:http with Hono's adapter;
 * UNIX: tsgi's HTTP/1.1 server on Bun and Deno, node:http on Node) and the `--http` router in
 * front of a worker. A client that goes before the answer is complete aborts it with an
 * AbortError DOMException; a complete answer leaves it alone; Deno prints no deprecation warning
 * about its legacy abort-after-success. The app (test/fixtures/apps/signal.ts) reports what each
 * request's signal saw through /state?id=…, asked on fresh connections.
 */
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { encodePacket } from '../src/codec/index.ts';
import { cleanup, freePort, RUNTIME, startTsgi, tempDir, type Proc } from './helpers.ts';

const APP = 'test/fixtures/apps/signal.ts';

type Target = { port: number } | { path: string };
interface Door {
  proto: 'uwsgi' | 'http';
  target: Target;
  proc: Proc;
}

let single: Proc;
let router: Proc;
const doors: Record<string, Door> = {};

beforeAll(async () => {
  const dir = tempDir();
  const [uwsgiPort, httpPort, routerPort] = await Promise.all([freePort(), freePort(), freePort()]);
  const uwsgiPath = join(dir, 'uwsgi.sock');
  const httpPath = join(dir, 'http.sock');
  [single, router] = await Promise.all([
    startTsgi([
      '--socket',
      `127.0.0.1:${uwsgiPort}`,
      '--socket',
      uwsgiPath,
      '--http-socket',
      `127.0.0.1:${httpPort}`,
      '--http-socket',
      httpPath,
      '--limit-post',
      '1000000',
      '--app',
      APP,
    ]),
    startTsgi(['--http', `127.0.0.1:${routerPort}`, '--app', APP]),
  ]);
  doors['--socket TCP'] = { proto: 'uwsgi', target: { port: uwsgiPort }, proc: single };
  doors['--socket UNIX'] = { proto: 'uwsgi', target: { path: uwsgiPath }, proc: single };
  doors['--http-socket TCP'] = { proto: 'http', target: { port: httpPort }, proc: single };
  doors['--http-socket UNIX'] = { proto: 'http', target: { path: httpPath }, proc: single };
  doors['--http router'] = { proto: 'http', target: { port: routerPort }, proc: router };
}, 90_000);

afterAll(async () => {
  await Promise.all([single?.stop(), router?.stop()]);
  await cleanup();
});

function connect(t: Target): net.Socket {
  return 'port' in t ? net.connect(t.port, '127.0.0.1') : net.connect(t.path);
}

function requestBytes(proto: Door['proto'], target: string): Uint8Array {
  if (proto === 'http') return new TextEncoder().encode(`GET ${target} HTTP/1.1\r\nHost: signal.test\r\nConnection: close\r\n\r\n`);
  const q = target.indexOf('?');
  return encodePacket({
    REQUEST_METHOD: 'GET',
    REQUEST_URI: target,
    PATH_INFO: q === -1 ? target : target.slice(0, q),
    QUERY_STRING: q === -1 ? '' : target.slice(q + 1),
    SERVER_PROTOCOL: 'HTTP/1.1',
    HTTP_HOST: 'signal.test',
  });
}

/** Is this (head and body so far) a whole answer: Content-Length bytes, or chunked to its last chunk? */
function whole(data: Buffer): { status: number; body: string } | null {
  const end = data.indexOf('\r\n\r\n');
  if (end === -1) return null;
  const head = data.subarray(0, end).toString('latin1');
  const body = data.subarray(end + 4);
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1]);
  const length = /\r\ncontent-length: *(\d+)/i.exec(head);
  if (length) return body.length >= Number(length[1]) ? { status, body: body.subarray(0, Number(length[1])).toString() } : null;
  if (/\r\ntransfer-encoding: *chunked/i.test(head)) return body.subarray(-5).toString() === '0\r\n\r\n' ? { status, body: '' } : null;
  return null;
}

/** An answer that ends when the connection does (uwsgi answers of unknown length). */
function closeDelimited(data: Buffer): { status: number; body: string } | null {
  const end = data.indexOf('\r\n\r\n');
  if (end === -1) return null;
  return { status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(data.subarray(0, end).toString('latin1'))?.[1]), body: data.subarray(end + 4).toString() };
}

/** One request on a fresh connection; the whole answer (or all until the server closes), then our side closes. */
function exchange(door: Door, target: string, ms = 20_000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const s = connect(door.target);
    let data = Buffer.alloc(0);
    let answer: { status: number; body: string } | null = null;
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no whole answer to ${target} within ${ms} ms: ${JSON.stringify(data.toString())}`));
    }, ms);
    s.on('error', () => {});
    s.on('data', (d: Buffer) => {
      data = Buffer.concat([data, d]);
      answer = whole(data);
      if (answer) s.destroy();
    });
    s.on('close', () => {
      clearTimeout(timer);
      answer ??= closeDelimited(data);
      if (answer) resolve(answer);
      else reject(new Error(`the connection closed before a whole answer to ${target}: ${JSON.stringify(data.toString())}`));
    });
    s.on('connect', () => s.write(requestBytes(door.proto, target)));
  });
}

interface State {
  state: 'unknown' | 'started' | 'aborted';
  aborted?: boolean;
  name?: string;
  domException?: boolean;
  reason?: string;
}

async function state(door: Door, id: string): Promise<State> {
  const r = await exchange(door, `/state?id=${id}`);
  expect(r.status).toBe(200);
  return JSON.parse(r.body) as State;
}

/** Ask /state until `ok` holds (bounded). */
async function stateWhen(door: Door, id: string, ok: (s: State) => boolean, ms = 20_000): Promise<State> {
  const until = Date.now() + ms;
  for (;;) {
    const s = await state(door, id);
    if (ok(s)) return s;
    if (Date.now() > until) throw new Error(`request ${id}: /state still says ${JSON.stringify(s)} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Send a request and go once `gone()` says so (the answer is not complete then): with a FIN
 * (end(): what a closing client sends, and nothing left unread that would turn it into a reset),
 * or with a reset. Returns the socket, for the caller to destroy.
 */
async function abandon(
  door: Door,
  target: string,
  how: 'close' | 'reset',
  gone: (received: Buffer) => boolean | Promise<boolean>,
  bytes = requestBytes(door.proto, target),
): Promise<net.Socket> {
  const s = connect(door.target);
  let data = Buffer.alloc(0);
  s.on('error', () => {});
  s.on('data', (d: Buffer) => (data = Buffer.concat([data, d])));
  await new Promise<void>((resolve) => s.once('connect', () => resolve()));
  s.write(bytes);
  const until = Date.now() + 20_000;
  while (!(await gone(data))) {
    if (Date.now() > until) throw new Error(`${target}: the moment to go never came; received ${JSON.stringify(data.toString())}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  expect(whole(data)).toBeNull();
  if (how === 'reset') s.resetAndDestroy();
  else s.end();
  return s;
}

let seq = 0;
const newId = () => `${RUNTIME}-${process.pid}-${++seq}`;

const names = ['--socket TCP', '--socket UNIX', '--http-socket TCP', '--http-socket UNIX', '--http router'];

describe.each(names)(`req.signal through %s (${RUNTIME})`, (name) => {
  const door = () => doors[name];

  const expectAbortError = (s: State) => {
    expect(s.aborted).toBe(true);
    expect(s.name).toBe('AbortError');
    expect(s.domException).toBe(true);
  };

  // Deno.serve (--http-socket TCP, and the router's front on Deno) with --unstable-no-legacy-abort,
  // Deno 2.9.6: a connection reset in the middle of a streamed answer cancels the body ("resource
  // closed") but info.completed resolves and req.signal never aborts (30 of 30 tries; a FIN works).
  const denoServe = RUNTIME === 'deno' && (name === '--http-socket TCP' || name === '--http router');
  // A reset is a TCP thing: UNIX sockets have only the close.
  const tcp = !name.includes('UNIX');
  test.each(['close', ...(tcp ? ['reset' as const] : [])] as const)(
    'a client that goes (%s) while the app waits: the signal aborts with an AbortError DOMException',
    async (how) => {
      const id = newId();
      const s = await abandon(door(), `/wait?id=${id}`, how, async () => (await state(door(), id)).state === 'started');
      expectAbortError(await stateWhen(door(), id, (st) => st.state === 'aborted'));
      s.destroy();
    },
    60_000,
  );

  test.each(['close', ...(tcp && !denoServe ? ['reset' as const] : [])] as const)(
    'a client that goes (%s) in the middle of a streamed answer: the signal aborts with an AbortError DOMException',
    async (how) => {
      const id = newId();
      const s = await abandon(door(), `/stream?id=${id}`, how, (data) => data.includes('tick'));
      expectAbortError(await stateWhen(door(), id, (st) => st.state === 'aborted'));
      s.destroy();
    },
    60_000,
  );

  // A chunked upload under --limit-post is counted on its way to the app (src/worker/native-http.ts):
  // the app's Request is another one then. The router reads such a body whole before it forwards.
  // Deno.serve (Deno 2.9.6, plain, without tsgi too) does not abort req.signal when the client
  // closes in the middle of a request body the app has not read.
  test.skipIf(!name.startsWith('--http-socket') || denoServe)(
    'a client that goes in the middle of a counted chunked upload: the signal aborts with an AbortError DOMException',
    async () => {
      const id = newId();
      const head = `POST /wait?id=${id} HTTP/1.1\r\nHost: signal.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n`;
      const s = await abandon(door(), `/wait?id=${id}`, 'close', async () => (await state(door(), id)).state === 'started', new TextEncoder().encode(head));
      expectAbortError(await stateWhen(door(), id, (st) => st.state === 'aborted'));
      s.destroy();
    },
    60_000,
  );

  test.each(['/ok', '/ok-stream'])(
    'after a complete answer from %s the signal stays unaborted',
    async (path) => {
      const id = newId();
      const r = await exchange(door(), `${path}?id=${id}`);
      expect(r.status).toBe(200);
      // Our side is closed: a server that took that for the client going would abort now. Several
      // requests after it, each a round trip on a fresh connection, see the state.
      for (let i = 0; i < 5; i++) expect(await state(door(), id)).toEqual({ state: 'started', aborted: false });
    },
    60_000,
  );
});

test(`no deprecation warning about the signal in the output (${RUNTIME})`, async () => {
  // Deno prints its once per process, after a request that read req.signal was answered.
  const id = newId();
  for (const [i, name] of names.entries()) {
    await exchange(doors[name], `/ok?id=${id}-${i}`);
    await state(doors[name], `${id}-${i}`);
  }
  for (const p of [single, router]) expect(p.output()).not.toMatch(/legacy|no-legacy-abort|request\.signal/i);
});
