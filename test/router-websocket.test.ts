/**
 * The --http router's relay of upgraded connections (src/router/upgrade.ts), in this process:
 * the router's app on tsgi's HTTP/1.1 server (and on node:http where the runtime's server can
 * hand a connection over), in front of a stand-in worker on a UNIX socket that answers `101`
 * and echoes raw bytes. No frame is parsed on the way, so any bytes do.
 */
import { createHash } from 'node:crypto';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { getRuntime } from '../runtimes/detect.ts';
import type { Conn, Listener } from '../runtimes/types.ts';
import { concatBytes, latin1 } from '../src/codec/index.ts';
import { WorkerGate } from '../src/router/gate.ts';
import { UpstreamPool } from '../src/router/pool.ts';
import type { ProxyOptions } from '../src/router/proxy.ts';
import { routerApp } from '../src/router/router.ts';
import { Relays } from '../src/router/upgrade.ts';
import { handleHttpConn } from '../src/worker/http1.ts';
import { cleanup, freePort, hasNginx, type Proc, RUNTIME, startNginx, startTsgi, tempDir, until } from './helpers.ts';
import { WsClient } from './ws-client.ts';

const rt = await getRuntime();
const listeners: Listener[] = [];
const procs: Proc[] = [];
afterAll(async () => {
  for (const p of procs) await p.stop('SIGQUIT');
  for (const l of listeners) await l.close();
  await cleanup();
});

/** What the stand-in worker saw: the request's vars, and whether its connection closed. */
interface WorkerSide {
  vars: Map<string, string>;
  closed: boolean;
  conn: Conn;
}

/** Vars out of a uwsgi packet: (u16 LE length, name, u16 LE length, value) pairs after a 4-byte head. */
function readVars(b: Uint8Array, size: number): Map<string, string> {
  const vars = new Map<string, string>();
  let i = 4;
  const u16 = () => {
    const n = b[i] | (b[i + 1] << 8);
    i += 2;
    return n;
  };
  while (i < 4 + size) {
    const k = latin1(b, i + 2, i + 2 + (b[i] | (b[i + 1] << 8)));
    i += 2 + k.length;
    const vl = u16();
    vars.set(k, latin1(b, i, i + vl));
    i += vl;
  }
  return vars;
}

/**
 * A stand-in worker: `answer` decides the answer head for the request's vars; after a 101 it
 * sends "hello" and echoes every byte.
 */
async function standInWorker(path: string, answer: (vars: Map<string, string>) => string): Promise<WorkerSide[]> {
  const seen: WorkerSide[] = [];
  listeners.push(
    await rt.listenUnix(path, (conn) => {
      let buf: Uint8Array = new Uint8Array(0);
      let side: WorkerSide | null = null;
      conn.onData = (chunk) => {
        if (side !== null) {
          conn.write(chunk);
          return;
        }
        buf = concatBytes([buf, chunk]);
        if (buf.length < 4) return;
        const size = buf[1] | (buf[2] << 8);
        if (buf.length < 4 + size) return;
        side = { vars: readVars(buf, size), closed: false, conn };
        seen.push(side);
        const head = answer(side.vars);
        conn.write(new TextEncoder().encode(head));
        if (head.startsWith('HTTP/1.1 101')) conn.write(new TextEncoder().encode('hello'));
        else conn.end();
      };
      conn.onEnd = () => conn.end();
      conn.onClose = () => {
        if (side) side.closed = true;
      };
    }),
  );
  return seen;
}

const SWITCH = 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n';

/** The router's app in front of the stand-in, on tsgi's HTTP/1.1 server or the runtime's own; resolves with its port. */
async function router(upstream: string, server: 'tsgi' | 'native', relays: Relays): Promise<number> {
  const workers = new WorkerGate(10, 10_000);
  workers.workers(1);
  const proxy: ProxyOptions = {
    pool: new UpstreamPool(() => rt.connectUnix(upstream), 8, 60_000),
    upstream,
    workers,
    timeoutMs: 10_000,
    serverPort: 0,
    relays,
    upgrades: server === 'tsgi' || rt.nativeHttpTakesOver,
  };
  const app = routerApp([], [], proxy);
  const handler = (req: Request, peer: { address: string; port: number }) => app.fetch(req, { peer });
  const l =
    server === 'tsgi'
      ? await rt.listenTcp('127.0.0.1', 0, (conn) => handleHttpConn(conn, { handler, bufferSize: 4096, limitPost: 0, headTimeoutMs: 10_000, keepAlive: true }))
      : await rt.serveHttp({ kind: 'tcp', host: '127.0.0.1', port: 0, reusePort: false }, handler, { maxBodySize: 0, maxHeadSize: 4096 });
  listeners.push(l);
  if (l.address.kind !== 'tcp') throw new Error('not a TCP listener');
  return l.address.port;
}

/** A raw client: collects everything it reads. */
class Client {
  readonly socket: net.Socket;
  data = Buffer.alloc(0);
  closed = false;

  constructor(port: number) {
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.on('data', (d) => {
      this.data = Buffer.concat([this.data, d]);
    });
    this.socket.on('error', () => {});
    this.socket.on('close', () => {
      this.closed = true;
    });
  }

  upgrade(path = '/ws'): void {
    this.socket.write(
      `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
    );
  }

  text(): string {
    return this.data.toString('latin1');
  }
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const servers: Array<'tsgi' | 'native'> = rt.nativeHttpTakesOver ? ['tsgi', 'native'] : ['tsgi'];

describe.each(servers)('router relay of an upgraded connection (%s HTTP server)', (server) => {
  /** A stand-in worker that switches, the router before it, and a client whose upgrade was relayed (the worker's hello is in). */
  async function upgraded(): Promise<{ seen: WorkerSide[]; relays: Relays; c: Client }> {
    const sock = join(tempDir(), 'w.sock');
    const seen = await standInWorker(sock, () => SWITCH);
    const relays = new Relays();
    const c = new Client(await router(sock, server, relays));
    c.upgrade();
    expect(await until(() => c.text().includes('hello'), 20_000)).toBe(true);
    return { seen, relays, c };
  }

  test('the upgrade headers reach the worker; after its 101 bytes go both ways (1 MiB echoed); closing the client closes the worker side', async () => {
    const dir = tempDir();
    const sock = join(dir, 'w.sock');
    const seen = await standInWorker(sock, () => SWITCH);
    const relays = new Relays();
    const port = await router(sock, server, relays);
    const c = new Client(port);
    c.upgrade();
    expect(await until(() => c.text().includes('hello'), 20_000)).toBe(true);
    expect(c.text()).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\n[\s\S]*sec-websocket-accept: x\r\n\r\nhello$/i);
    const vars = seen[0].vars;
    expect(vars.get('HTTP_UPGRADE')).toBe('websocket');
    expect(vars.get('HTTP_CONNECTION')?.toLowerCase()).toBe('upgrade');
    expect(vars.get('HTTP_SEC_WEBSOCKET_KEY')).toBe('dGhlIHNhbXBsZSBub25jZQ==');
    expect(vars.get('HTTP_SEC_WEBSOCKET_VERSION')).toBe('13');
    expect(relays.size).toBe(1);

    const big = new Uint8Array(1024 * 1024);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 255;
    const before = c.data.length;
    c.socket.write(big);
    expect(await until(() => c.data.length >= before + big.length, 30_000)).toBe(true);
    expect(sha(c.data.subarray(before))).toBe(sha(big));

    c.socket.end();
    expect(await until(() => seen[0].closed && c.closed, 20_000)).toBe(true);
    expect(relays.size).toBe(0);
  });

  test('the worker closing its side closes the client', async () => {
    const { seen, relays, c } = await upgraded();
    seen[0].conn.end();
    expect(await until(() => c.closed, 20_000)).toBe(true);
    expect(relays.size).toBe(0);
  });

  test("a worker's answer other than 101 is passed on as an answer", async () => {
    const sock = join(tempDir(), 'w.sock');
    await standInWorker(sock, () => 'HTTP/1.1 426 Upgrade Required\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\nno ws\n');
    const c = new Client(await router(sock, server, new Relays()));
    c.upgrade();
    expect(await until(() => c.text().includes('no ws'), 20_000)).toBe(true);
    expect(c.text()).toMatch(/^HTTP\/1\.1 426 /);
  });

  test('a router stop closes the relays it still has (Relays.closeAll)', async () => {
    const { seen, relays, c } = await upgraded();
    await relays.idle(10);
    relays.closeAll();
    expect(await until(() => c.closed && seen[0].closed, 20_000)).toBe(true);
  });
});

test('where the HTTP server cannot hand a connection over, an upgrade request gets a 501 saying so, before any worker', async () => {
  const sock = join(tempDir(), 'w.sock');
  const seen = await standInWorker(sock, () => SWITCH);
  const workers = new WorkerGate(10, 10_000);
  workers.workers(1);
  const app = routerApp([], [], {
    pool: new UpstreamPool(() => rt.connectUnix(sock), 8, 60_000),
    upstream: sock,
    workers,
    timeoutMs: 10_000,
    serverPort: 0,
    relays: new Relays(),
    upgrades: false,
  });
  const req = new Request('http://x/ws', { headers: { connection: 'Upgrade', upgrade: 'websocket' } });
  const res = await app.fetch(req, { peer: { address: '127.0.0.1', port: 1 } });
  expect(res.status).toBe(501);
  expect(await res.text()).toMatch(/--reuse-port/);
  expect(seen).toHaveLength(0);
});

test('behind nginx proxy_pass with the Upgrade headers, the relay carries the upgraded connection (1 MiB each way)', async () => {
  if (!hasNginx) throw new Error('nginx is not installed: apt-get install -y nginx-light');
  const sock = join(tempDir(), 'w.sock');
  const seen = await standInWorker(sock, () => SWITCH);
  const relays = new Relays();
  const routerPort = await router(sock, 'tsgi', relays);
  const front = await freePort();
  procs.push(
    await startNginx(
      `server { listen 127.0.0.1:${front};
        location / { proxy_pass http://127.0.0.1:${routerPort}; proxy_http_version 1.1;
          proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection "upgrade"; } }`,
      front,
    ),
  );
  const c = new Client(front);
  c.upgrade();
  expect(await until(() => c.text().includes('hello'), 20_000)).toBe(true);
  expect(c.text()).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\n/);
  expect(seen[0].vars.get('HTTP_UPGRADE')).toBe('websocket');
  const big = new Uint8Array(1024 * 1024).map((_, i) => (i * 13) & 255);
  const before = c.data.length;
  c.socket.write(big);
  expect(await until(() => c.data.length >= before + big.length, 30_000)).toBe(true);
  expect(sha(c.data.subarray(before))).toBe(sha(big));
  c.socket.end();
  expect(await until(() => seen[0].closed, 20_000)).toBe(true);
});

describe(`WebSockets end to end through the --http router (${RUNTIME})`, () => {
  let tsgi: Proc;
  let port: number;
  let uwsgiPort: number;

  beforeAll(async () => {
    port = await freePort();
    uwsgiPort = await freePort();
    tsgi = await startTsgi([
      ...['--master', '--processes', '1', '--http', `127.0.0.1:${port}`, '--socket', `127.0.0.1:${uwsgiPort}`],
      ...['--app', 'test/fixtures/apps/ws-echo.ts'],
    ]);
    procs.push(tsgi);
  }, 90_000);

  test('behind nginx proxy_pass (Upgrade headers) to the router: a WebSocket echoes', async () => {
    if (!hasNginx) throw new Error('nginx is not installed: apt-get install -y nginx-light');
    const front = await freePort();
    procs.push(
      await startNginx(
        `server { listen 127.0.0.1:${front};
          location / { proxy_pass http://127.0.0.1:${port}; proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection "upgrade"; } }`,
        front,
      ),
    );
    const c = await WsClient.open(`ws://127.0.0.1:${front}/ws`);
    const b = new Uint8Array(300_000).map((_, i) => (i * 5) & 255);
    c.ws.send(b);
    const got = await c.next(60_000);
    expect(got instanceof Uint8Array && sha(got)).toBe(sha(b));
    c.ws.send('text');
    expect(await c.next()).toBe('text');
    c.ws.close(1000);
    expect((await c.closing()).code).toBe(1000);
  });

  test('behind nginx uwsgi_pass (--socket), which cannot upgrade: a clear 426 that names the front doors that can', async () => {
    if (!hasNginx) throw new Error('nginx is not installed: apt-get install -y nginx-light');
    const front = await freePort();
    procs.push(
      await startNginx(`server { listen 127.0.0.1:${front}; location / { include /etc/nginx/uwsgi_params; uwsgi_pass 127.0.0.1:${uwsgiPort}; } }`, front),
    );
    const c = new Client(front);
    c.upgrade('/ws');
    expect(await until(() => c.closed || /or --http\n/.test(c.text()), 20_000)).toBe(true);
    expect(c.text()).toMatch(/^HTTP\/1\.1 426 /);
    expect(c.text()).toMatch(
      /--socket \(uwsgi, as from nginx uwsgi_pass\) cannot carry WebSockets: serve this route with --http-socket \(nginx proxy_pass\) or --http\n/,
    );
    c.socket.destroy();
  });

  test('text and binary messages up to 1 MiB are echoed', async () => {
    const c = await WsClient.open(`ws://127.0.0.1:${port}/ws`);
    c.ws.send('hello');
    expect(await c.next()).toBe('hello');
    for (const size of [0, 125, 126, 65535, 65536, 1024 * 1024]) {
      const b = new Uint8Array(size).map((_, i) => (i * 31) & 255);
      c.ws.send(b);
      const got = await c.next(60_000);
      expect(got instanceof Uint8Array && sha(got)).toBe(sha(b));
    }
    c.ws.close(1000, 'done');
    expect((await c.closing()).code).toBe(1000);
  });

  test('the server closing (4000) reaches the client', async () => {
    const c = await WsClient.open(`ws://127.0.0.1:${port}/ws`);
    c.ws.send('bye');
    expect(await c.closing()).toEqual({ code: 4000, reason: 'bye' });
  });

  test('a reload of the workers with open sockets: each client gets 1001 and reconnects to a new worker', async () => {
    const clients = await Promise.all([1, 2, 3].map(() => WsClient.open(`ws://127.0.0.1:${port}/ws`)));
    const before = new Set<string>();
    for (const c of clients) {
      c.ws.send('pid');
      before.add(String(await c.next()));
    }
    tsgi.signal('SIGHUP');
    for (const c of clients) expect((await c.closing(60_000)).code).toBe(1001);
    // Reconnect (the new worker may still be starting: retry, bounded).
    let again: WsClient | null = null;
    for (let i = 0; i < 100 && again === null; i++) {
      again = await WsClient.open(`ws://127.0.0.1:${port}/ws`).catch(() => null);
      if (again === null) await new Promise((r) => setTimeout(r, 200));
    }
    if (again === null) throw new Error('could not reconnect after the reload');
    again.ws.send('pid');
    const pid = String(await again.next());
    expect(before.has(pid)).toBe(false);
    again.ws.close();
  });
});
