/**
 * WebSocket apps written for a runtime's own API, run unchanged by tsgi (src/websocket/forms.ts):
 * the Bun shape ({ fetch(req, server) with server.upgrade(req, { data }), websocket: {…} }) and
 * Hono's hono/bun helper built on it (on Bun: hono/bun needs the Bun global), through the --http router;
 * and, on Deno, Deno.upgradeWebSocket(req) both on Deno.serve (--http-socket) and behind the router.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, symlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { cleanup, fetchFresh, freePort, type Proc, RUNTIME, rawExchange, startTsgi, tempDir, tsgiFails } from './helpers.ts';
import { WsClient } from './ws-client.ts';
import { RawClient, WS_OPCODE } from './ws-frames.ts';

const procs: Proc[] = [];
afterAll(async () => {
  for (const p of procs) await p.stop();
  await cleanup();
});

async function router(app: string): Promise<number> {
  const port = await freePort();
  procs.push(await startTsgi(['--master', '--processes', '1', '--http', `127.0.0.1:${port}`, '--app', app]));
  return port;
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Open `url`, expect the app's greeting, then a text echo and a binary echo of `size` bytes (`step`: the byte pattern). */
async function echoes(url: string, greeting: string, size: number, step: number): Promise<WsClient> {
  const c = await WsClient.open(url);
  expect(await c.next()).toBe(greeting);
  c.ws.send('x');
  expect(await c.next()).toBe('echo: x');
  const b = new Uint8Array(size).map((_, i) => (i * step) & 255);
  c.ws.send(b);
  const got = await c.next();
  expect(got instanceof Uint8Array && sha(got)).toBe(sha(b));
  return c;
}

describe(`Bun's shape: fetch(req, server) + websocket handlers (${RUNTIME})`, () => {
  let port: number;
  beforeAll(async () => {
    port = await router('test/fixtures/apps/ws-bun.ts');
  }, 90_000);

  test('server.upgrade(req, { data }) accepts; open, message and close get ws.data', async () => {
    const c = await WsClient.open(`ws://127.0.0.1:${port}/ws?user=ada`);
    expect(await c.next()).toBe('welcome ada');
    c.ws.send('hi');
    expect(await c.next()).toBe('ada: hi');
    const b = new Uint8Array(200_000).map((_, i) => i & 255);
    c.ws.send(b);
    const got = await c.next();
    expect(got instanceof Uint8Array && sha(got)).toBe(sha(b));
    c.ws.send('bye');
    expect(await c.closing()).toEqual({ code: 4001, reason: 'bye' });
  });

  test('a plain request: server.upgrade() is false and fetch answers', async () => {
    const res = await fetchFresh(`http://127.0.0.1:${port}/ws`);
    expect(res.status).toBe(400);
    expect(await res.text()).toBe('not a WebSocket');
  });
});

// hono/bun reads the Bun global as it loads: a hono/bun app is a Bun app (elsewhere its import fails).
describe.skipIf(RUNTIME !== 'bun')(`Hono's hono/bun upgradeWebSocket + websocket export (${RUNTIME})`, () => {
  let port: number;
  beforeAll(async () => {
    port = await router('test/fixtures/apps/ws-hono-bun.ts');
  }, 90_000);

  test('onOpen, onMessage (text and binary) work unchanged', async () => {
    const c = await echoes(`ws://127.0.0.1:${port}/ws`, 'hono says hi', 70_000, 3);
    c.ws.close(1000);
    expect((await c.closing()).code).toBe(1000);
    expect(await (await fetchFresh(`http://127.0.0.1:${port}/`)).text()).toBe('plain');
  });
});

// Deno.upgradeWebSocket is Deno's API: the app is a Deno app.
describe.skipIf(RUNTIME !== 'deno')(`Deno.upgradeWebSocket(req) in the app (${RUNTIME})`, () => {
  const doors: Array<[string, () => Promise<number>]> = [
    ['the --http router (tsgi serves the request)', () => router('test/fixtures/apps/ws-deno.ts')],
    [
      '--http-socket on Deno.serve (Deno serves it)',
      async () => {
        const port = await freePort();
        procs.push(await startTsgi(['--http-socket', `127.0.0.1:${port}`, '--app', 'test/fixtures/apps/ws-deno.ts']));
        return port;
      },
    ],
  ];
  test.each(doors)('%s: open, text and binary echo, close', async (_name, start) => {
    const port = await start();
    const c = await echoes(`ws://127.0.0.1:${port}/`, 'deno says hi', 100_000, 7);
    c.ws.send('bye');
    expect(await c.closing()).toEqual({ code: 4002, reason: 'bye' });
    expect(await (await fetchFresh(`http://127.0.0.1:${port}/`)).text()).toBe('plain');
  });
});

// hono/deno calls Deno.upgradeWebSocket: a Deno app.
describe.skipIf(RUNTIME !== 'deno')(`Hono's hono/deno upgradeWebSocket (${RUNTIME})`, () => {
  test('behind the --http router: onOpen and onMessage work unchanged', async () => {
    const port = await router('test/fixtures/apps/ws-hono-deno.ts');
    const c = await WsClient.open(`ws://127.0.0.1:${port}/ws`);
    expect(await c.next()).toBe('hono on deno says hi');
    c.ws.send('y');
    expect(await c.next()).toBe('echo: y');
    c.ws.close(1000);
    expect((await c.closing()).code).toBe(1000);
  });
});

test.skipIf(RUNTIME === 'bun')(`a hono/bun app elsewhere than on Bun: the load error says to run it on Bun (${RUNTIME})`, async () => {
  const port = await freePort();
  const r = await tsgiFails(['--http-socket', `127.0.0.1:${port}`, '--app', 'test/fixtures/apps/ws-hono-bun.ts']);
  expect(r.code).not.toBe(0);
  expect(r.output).toMatch(/uses the Bun global: run tsgi on Bun/);
});

// @hono/node-ws is a Node library (ws on node:http's 'upgrade' event): a Node app. It is a
// devDependency; NODEWS_NODE_MODULES may name another node_modules that has it.
const nodeModules = resolve(process.env.NODEWS_NODE_MODULES ?? 'node_modules');
const haveNodeWs = existsSync(join(nodeModules, '@hono/node-ws'));
describe.skipIf(RUNTIME !== 'node' || !haveNodeWs)(`Hono's @hono/node-ws with export { injectWebSocket } (${RUNTIME})`, () => {
  let port: number;
  let sock: string;
  let proc: Proc;
  beforeAll(async () => {
    // The app in a directory of its own, whose node_modules has @hono/node-ws and hono.
    const dir = tempDir();
    copyFileSync('test/fixtures/apps/ws-node-ws.mjs', join(dir, 'app.mjs'));
    symlinkSync(nodeModules, join(dir, 'node_modules'));
    port = await freePort();
    sock = join(dir, 'app.sock');
    proc = await startTsgi(['--http-socket', `127.0.0.1:${port}`, '--http-socket', sock, '--app', join(dir, 'app.mjs')]);
    procs.push(proc);
  }, 90_000);

  test('--http-socket on TCP (node:http): onOpen, text and binary echo through ws', async () => {
    const c = await echoes(`ws://127.0.0.1:${port}/ws`, 'node-ws says hi', 300_000, 5);
    c.ws.close(1000);
    expect((await c.closing()).code).toBe(1000);
    expect(await (await fetchFresh(`http://127.0.0.1:${port}/`)).text()).toBe('plain');
  });

  test('--http-socket on a UNIX socket: the upgrade goes to ws; a plain route asked to upgrade gets one answer', async () => {
    const c = await RawClient.open({ path: sock }, '/ws');
    expect(await c.answered()).toMatch(/^HTTP\/1\.1 101 /);
    expect(new TextDecoder().decode((await c.frame(0)).payload)).toBe('node-ws says hi');
    c.send(WS_OPCODE.binary, new Uint8Array([1, 2, 3]));
    expect([...(await c.frame(1)).payload]).toEqual([1, 2, 3]);
    c.destroy();
    // node-ws answers a route that is no node-ws route with the app's status, alone on the socket.
    const plain = await rawExchange({ path: sock }, [
      new TextEncoder().encode(
        'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
      ),
    ]);
    expect(plain.data.toString('latin1').match(/HTTP\/1\.1 /g)).toHaveLength(1);
    expect(proc.output()).not.toMatch(/upgrade request failed/);
  });
});
