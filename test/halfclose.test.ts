/**
 * Half-closed clients: a client that sends its request and shuts down its write side
 * (shutdown(SHUT_WR): node's socket.end(), `nc -N`) is done sending, not gone. Every front door,
 * on every socket kind, must still send it the whole answer — of an app that answers after an
 * await, with and without a request body. A client that really goes (a full close, or a reset)
 * must still cancel the app's answer stream.
 */
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { encodePacket } from '../src/codec/index.ts';
import { cleanup, freePort, RUNTIME, startTsgi, tempDir, type Proc } from './helpers.ts';

const APP = 'test/fixtures/apps/halfclose.ts';
const BODY = 100 * 1024;

type Target = { port: number } | { path: string };

interface Door {
  name: string;
  proto: 'uwsgi' | 'http';
  target: () => Target;
  tsgi: () => Proc;
  /**
   * Served by Bun.serve or Deno.serve: neither keeps a half-closed connection (Bun's server
   * closes at the client's FIN; Deno.serve runs hyper's HTTP/1 server without half_close), so a
   * half-closed client loses its answer there, upstream. README.md says so; use --socket behind
   * nginx, or --http-socket on a UNIX socket, where clients half-close.
   */
  runtimeServer: boolean;
}

function connect(t: Target): net.Socket {
  return 'port' in t ? net.connect({ port: t.port, host: '127.0.0.1', allowHalfOpen: true }) : net.connect({ path: t.path, allowHalfOpen: true });
}

function request(proto: 'uwsgi' | 'http', method: string, path: string, body: Uint8Array): Uint8Array {
  if (proto === 'uwsgi') {
    const vars = {
      REQUEST_METHOD: method,
      REQUEST_URI: path,
      PATH_INFO: path.split('?')[0],
      QUERY_STRING: path.split('?')[1] ?? '',
      SERVER_PROTOCOL: 'HTTP/1.1',
      HTTP_HOST: 'x',
      CONTENT_LENGTH: String(body.length),
    };
    return Buffer.concat([encodePacket(vars), body]);
  }
  return Buffer.concat([Buffer.from(`${method} ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: ${body.length}\r\n\r\n`), body]);
}

/** Send the request, half-close, read until the server closes (bounded). */
function halfClosedExchange(t: Target, bytes: Uint8Array, ms = 20_000): Promise<{ data: Buffer; closed: boolean }> {
  return new Promise((resolve) => {
    const s = connect(t);
    const parts: Buffer[] = [];
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ data: Buffer.concat(parts), closed: false });
    }, ms);
    s.on('data', (d: Buffer) => parts.push(d));
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ data: Buffer.concat(parts), closed: true });
    });
    s.on('connect', () => s.end(bytes));
  });
}

/** Status, headers and the body (chunked coding undone) of a raw HTTP/1.1 answer. */
function parseAnswer(data: Buffer): { status: number; headers: Map<string, string>; body: string } {
  const text = data.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  expect(end, `no answer head in ${JSON.stringify(text.slice(0, 200))}`).toBeGreaterThan(0);
  const lines = text.slice(0, end).split('\r\n');
  const headers = new Map<string, string>();
  for (const l of lines.slice(1)) headers.set(l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim());
  let body = text.slice(end + 4);
  if (headers.get('transfer-encoding') === 'chunked') {
    let out = '';
    for (let i = 0; ; ) {
      const nl = body.indexOf('\r\n', i);
      const size = parseInt(body.slice(i, nl), 16);
      if (!size) break;
      out += body.slice(nl + 2, nl + 2 + size);
      i = nl + 2 + size + 2;
    }
    body = out;
  }
  return { status: Number(lines[0].split(' ')[1]), headers, body };
}

function expectWholeAnswer(data: Buffer, method: string, body: Uint8Array): void {
  const a = parseAnswer(data);
  expect(a.status).toBe(200);
  const sum = body.reduce((s, b) => (s + b) % 65536, 0);
  expect(a.body.startsWith(`answer ${method} ${body.length} bytes, sum ${sum}\n`)).toBe(true);
  expect(a.body.length).toBe(100_000);
  expect(a.body.endsWith('end\n')).toBe(true);
  if (a.headers.has('content-length')) expect(Number(a.headers.get('content-length'))).toBe(100_000);
}

let nextId = 0;

/** The client reads the first chunk of an endless answer, then goes (close, or reset): the app's stream is cancelled. */
async function clientGoes(door: Door, how: 'close' | 'reset'): Promise<void> {
  const id = `${door.name.replace(/\W+/g, '-')}-${how}-${nextId++}`;
  const s = connect(door.target());
  s.on('error', () => {});
  await new Promise<void>((resolve) => {
    s.once('data', () => resolve());
    s.on('connect', () => s.write(request(door.proto, 'GET', `/forever?id=${id}`, new Uint8Array(0))));
  });
  if (how === 'reset') s.resetAndDestroy();
  else s.destroy();
  await door.tsgi().waitFor(new RegExp(`body stream cancelled: ${id}\\n`), 20_000);
}

const procs: Record<'single' | 'master' | 'closing', Proc | null> = { single: null, master: null, closing: null };
const ports: Record<string, number> = {};
let dir = '';

beforeAll(async () => {
  dir = tempDir();
  for (const k of ['uwsgi', 'http', 'mUwsgi', 'mHttp', 'router', 'cRouter', 'cHttp']) ports[k] = await freePort();
  // One process, the servers each socket kind gets without --master.
  procs.single = await startTsgi([
    '--socket',
    `127.0.0.1:${ports.uwsgi}`,
    '--socket',
    join(dir, 'uwsgi.sock'),
    '--http-socket',
    `127.0.0.1:${ports.http}`,
    '--http-socket',
    join(dir, 'http.sock'),
    '--app',
    APP,
  ]);
  // Workers on inherited sockets (or SO_REUSEPORT), and the --http router.
  procs.master = await startTsgi([
    '--master',
    '--processes',
    '1',
    '--socket',
    `127.0.0.1:${ports.mUwsgi}`,
    '--http-socket',
    join(dir, 'm-http.sock'),
    '--http-socket',
    `127.0.0.1:${ports.mHttp}`,
    '--http',
    `127.0.0.1:${ports.router}`,
    '--app',
    APP,
  ]);
  // --http-keepalive off: Deno's router and workers serve with tsgi's HTTP/1.1 server then.
  procs.closing = await startTsgi([
    '--master',
    '--processes',
    '1',
    '--http-keepalive=false',
    '--http-socket',
    `127.0.0.1:${ports.cHttp}`,
    '--http',
    `127.0.0.1:${ports.cRouter}`,
    '--app',
    APP,
  ]);
}, 120_000);

afterAll(async () => {
  for (const p of Object.values(procs)) await p?.stop();
  await cleanup();
});

const bunOrDeno = RUNTIME === 'bun' || RUNTIME === 'deno';
const doors: Door[] = [
  { name: '--socket TCP', proto: 'uwsgi', target: () => ({ port: ports.uwsgi }), tsgi: () => procs.single as Proc, runtimeServer: false },
  { name: '--socket UNIX', proto: 'uwsgi', target: () => ({ path: join(dir, 'uwsgi.sock') }), tsgi: () => procs.single as Proc, runtimeServer: false },
  { name: '--http-socket TCP', proto: 'http', target: () => ({ port: ports.http }), tsgi: () => procs.single as Proc, runtimeServer: bunOrDeno },
  { name: '--http-socket UNIX', proto: 'http', target: () => ({ path: join(dir, 'http.sock') }), tsgi: () => procs.single as Proc, runtimeServer: false },
  {
    name: '--master --socket TCP (inherited fd)',
    proto: 'uwsgi',
    target: () => ({ port: ports.mUwsgi }),
    tsgi: () => procs.master as Proc,
    runtimeServer: false,
  },
  {
    name: '--master --http-socket UNIX (inherited fd)',
    proto: 'http',
    target: () => ({ path: join(dir, 'm-http.sock') }),
    tsgi: () => procs.master as Proc,
    runtimeServer: false,
  },
  { name: '--master --http-socket TCP', proto: 'http', target: () => ({ port: ports.mHttp }), tsgi: () => procs.master as Proc, runtimeServer: bunOrDeno },
  { name: '--http router', proto: 'http', target: () => ({ port: ports.router }), tsgi: () => procs.master as Proc, runtimeServer: bunOrDeno },
  // Bun.serve honours Connection: close, so it serves with keep-alive off too; Deno.serve does not.
  {
    name: '--http-keepalive=false --http-socket TCP',
    proto: 'http',
    target: () => ({ port: ports.cHttp }),
    tsgi: () => procs.closing as Proc,
    runtimeServer: RUNTIME === 'bun',
  },
  {
    name: '--http-keepalive=false --http router',
    proto: 'http',
    target: () => ({ port: ports.cRouter }),
    tsgi: () => procs.closing as Proc,
    runtimeServer: RUNTIME === 'bun',
  },
];

describe.each(doors)(`$name (${RUNTIME})`, (door) => {
  const limit = door.runtimeServer ? ` (skipped on ${RUNTIME}: its own HTTP server drops half-closed connections, upstream)` : '';

  test.skipIf(door.runtimeServer)(`a half-closed GET gets its whole answer${limit}`, async () => {
    const r = await halfClosedExchange(door.target(), request(door.proto, 'GET', '/', new Uint8Array(0)));
    expect(r.closed).toBe(true);
    expectWholeAnswer(r.data, 'GET', new Uint8Array(0));
  });

  test.skipIf(door.runtimeServer)(`a half-closed POST with a ${BODY}-byte body gets its whole answer${limit}`, async () => {
    const body = new Uint8Array(BODY);
    for (let i = 0; i < body.length; i++) body[i] = (i * 13 + 5) & 255;
    const r = await halfClosedExchange(door.target(), request(door.proto, 'POST', '/', body));
    expect(r.closed).toBe(true);
    expectWholeAnswer(r.data, 'POST', body);
  });

  test('a client that closes mid-answer cancels the answer stream', () => clientGoes(door, 'close'), 30_000);

  // A reset is TCP's (a UNIX socket has none).
  if ('port' in door.target()) {
    test('a client that resets mid-answer cancels the answer stream', () => clientGoes(door, 'reset'), 30_000);
  }
});
