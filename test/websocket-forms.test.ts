/**
 * WebSocket apps written for a runtime's own API, run unchanged by tsgi (src/websocket/forms.ts):
 * the Bun shape ({ fetch(req, server) with server.upgrade(req, { data }), websocket: {…} }) and
 * Hono's hono/bun helper built on it (on Bun: hono/bun needs the Bun global), through the --http router;
 * and, on Deno, Deno.upgradeWebSocket(req) both on Deno.serve (--http-socket) and behind the router.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { cleanup, fetchFresh, freePort, type Proc, RUNTIME, startTsgi, tsgiFails } from './helpers.ts';
import { WsClient } from './ws-client.ts';

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
    const c = await WsClient.open(`ws://127.0.0.1:${port}/ws`);
    expect(await c.next()).toBe('hono says hi');
    c.ws.send('x');
    expect(await c.next()).toBe('echo: x');
    const b = new Uint8Array(70_000).map((_, i) => (i * 3) & 255);
    c.ws.send(b);
    const got = await c.next();
    expect(got instanceof Uint8Array && sha(got)).toBe(sha(b));
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
    const c = await WsClient.open(`ws://127.0.0.1:${port}/`);
    expect(await c.next()).toBe('deno says hi');
    c.ws.send('x');
    expect(await c.next()).toBe('echo: x');
    const b = new Uint8Array(100_000).map((_, i) => (i * 7) & 255);
    c.ws.send(b);
    const got = await c.next();
    expect(got instanceof Uint8Array && sha(got)).toBe(sha(b));
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
