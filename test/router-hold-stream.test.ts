/**
 * The --http router while no worker is ready (requests wait, in order, then 503), and request
 * bodies of unknown length streamed to the workers as they arrive (tsgi's frames on the
 * internal socket, never on a public --socket).
 */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { encodePacket } from '../src/codec/index.ts';
import { WorkerGate } from '../src/router/gate.ts';
import { cleanup, fetchFresh, freePort, rawExchange, run, RUNTIME, startTsgi, tempDir, tsgiCommand, type Proc } from './helpers.ts';

const APP = 'test/fixtures/apps/held.ts';
const latin1 = (s: string) => Buffer.from(s, 'latin1');

afterAll(cleanup);

/** Start tsgi without waiting for its workers (their app may be held back). */
function startRouter(args: string[], gate?: string): Proc {
  const [cmd, pre] = tsgiCommand();
  return run(cmd, [...pre, ...args], gate ? { env: { APP_GATE_FILE: gate } } : {});
}

/** Resolves once the port accepts connections (bounded). */
async function accepting(port: number): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing accepts on port ${port}`);
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe("the router's wait for a worker (WorkerGate)", () => {
  test('requests wait in arrival order and all go on when a worker is ready', async () => {
    const gate = new WorkerGate(10, 60_000);
    const order: number[] = [];
    const waits = [0, 1, 2, 3].map((i) =>
      (gate.admit() ?? Promise.reject(new Error('admitted with no worker ready'))).then((why) => {
        order.push(i);
        return why;
      }),
    );
    gate.workers(0);
    await Promise.resolve();
    expect(order).toEqual([]);
    gate.workers(2);
    expect(await Promise.all(waits)).toEqual([null, null, null, null]);
    expect(order).toEqual([0, 1, 2, 3]);
    // Workers ready: no wait at all (not even a promise).
    expect(gate.admit()).toBeNull();
  });

  test('a full queue refuses at once; a wait past the bound is refused; a client that leaves frees its place', async () => {
    const gate = new WorkerGate(2, 50);
    const aborted = new AbortController();
    const first = gate.admit(aborted.signal);
    const second = gate.admit();
    expect(await gate.admit()).toMatch(/2 requests already wait for a worker .*--listen 2/);
    aborted.abort();
    expect(await first).toMatch(/went away/);
    const third = gate.admit();
    expect(await second).toMatch(/no worker was ready within --http-connect-timeout 0.05 s/);
    expect(await third).toMatch(/--http-connect-timeout/);
  });
});

describe(`--http while no worker is ready (${RUNTIME})`, () => {
  test('requests sent as soon as the router port accepts are all answered once the app loads (no 502)', async () => {
    const dir = tempDir();
    const release = join(dir, 'go');
    const port = await freePort();
    const tsgi = startRouter(['--http', `127.0.0.1:${port}`, '--processes', '2', '--app', APP, '--http-connect-timeout', '300'], release);
    try {
      // On Bun and Deno the launcher binds the port only to check it is free, and closes it
      // before it spawns the router, which binds it again (SO_REUSEPORT): a connection in
      // between meets a closing socket. On Node the router's socket accepts from the start.
      await tsgi.waitFor(/spawned tsgi http router/, 60_000);
      await accepting(port);
      const url = `http://127.0.0.1:${port}`;
      let settled = 0;
      const send = (init?: RequestInit) =>
        fetchFresh(`${url}/upload`, init).then(async (r) => {
          settled++;
          return { status: r.status, body: await r.text() };
        });
      const early = [send(), send({ method: 'POST', body: 'x'.repeat(1000) }), send()];
      // Once the master has told the router that no worker is ready (this answered 502 before).
      await tsgi.waitFor(/tsgi http router \(pid: \d+\) ready/, 60_000);
      const late = [send(), send({ method: 'POST', body: 'held body' }), send()];
      await tsgi.waitFor(/spawned tsgi worker 2/, 60_000);
      expect(settled).toBe(0);
      writeFileSync(release, '');
      const all = await Promise.all([...early, ...late]);
      expect(all.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
      expect((JSON.parse(all[1].body) as { length: number }).length).toBe(1000);
      expect((JSON.parse(all[4].body) as { length: number }).length).toBe(9);
    } finally {
      await tsgi.stop();
    }
  }, 180_000);

  test('a request while the only worker restarts waits for the new one', async () => {
    const dir = tempDir();
    const release = join(dir, 'go');
    writeFileSync(release, '');
    const port = await freePort();
    const tsgi = await startTsgi(['--http', `127.0.0.1:${port}`, '--app', APP], { env: { APP_GATE_FILE: release } });
    try {
      const before = await (await fetchFresh(`http://127.0.0.1:${port}/pid`)).text();
      process.kill(Number(before), 'SIGKILL');
      await tsgi.waitFor(new RegExp(`DAMN ! tsgi worker 1 \\(pid: ${before}\\) died`), 30_000);
      const res = await fetchFresh(`http://127.0.0.1:${port}/pid`);
      expect(res.status).toBe(200);
      expect(await res.text()).not.toBe(before);
    } finally {
      await tsgi.stop();
    }
  }, 120_000);

  test('past --http-connect-timeout with no worker ready: 503 with Retry-After', async () => {
    const dir = tempDir();
    const port = await freePort();
    const tsgi = startRouter(['--http', `127.0.0.1:${port}`, '--app', APP, '--http-connect-timeout', '1'], join(dir, 'never'));
    try {
      await tsgi.waitFor(/tsgi http router \(pid: \d+\) ready/, 60_000);
      const started = Date.now();
      const res = await fetchFresh(`http://127.0.0.1:${port}/`);
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('1');
      expect(await res.text()).toContain('no worker was ready within --http-connect-timeout 1 s');
      expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    } finally {
      await tsgi.stop();
    }
  }, 120_000);
});

describe(`--http streams a chunked upload to the worker as it arrives (${RUNTIME})`, () => {
  let tsgi: Proc;
  let port = 0;
  const LIMIT = 6 * 1024 * 1024;

  beforeAll(async () => {
    port = await freePort();
    tsgi = await startTsgi(['--http', `127.0.0.1:${port}`, '--processes', '2', '--app', APP, '--limit-post', String(LIMIT), '--http-timeout', '3']);
  }, 90_000);
  afterAll(() => tsgi?.stop());

  /**
   * Send a chunked request's head and first piece, wait for the answer's head, then `then` the
   * connection (send the rest, or close). Resolves with what came back.
   */
  function firstPieceThen(then: (s: net.Socket) => void): Promise<{ head: string; data: string }> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1');
      let data = '';
      let head = '';
      const timer = setTimeout(() => {
        s.destroy();
        reject(new Error(`no answer head while the upload was unfinished; got ${JSON.stringify(data)}`));
      }, 30_000);
      s.on('error', () => {});
      s.on('data', (d: Buffer) => {
        data += d.toString('latin1');
        if (!head && data.includes('\r\n\r\n')) {
          head = data.slice(0, data.indexOf('\r\n\r\n'));
          clearTimeout(timer);
          then(s);
        }
      });
      s.on('close', () => resolve({ head, data }));
      s.on('connect', () => s.write(latin1('POST /first HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n')));
    });
  }

  test('the app reads the first piece and answers before the client sends the rest', async () => {
    const got = await firstPieceThen((s) => s.write(latin1('6\r\n world\r\n0\r\n\r\n')));
    expect(got.head).toMatch(/^HTTP\/1\.1 200/);
    expect(got.data).toContain('first: hello');
  }, 60_000);

  test('…and when the client closes after the answer instead, the router goes on serving', async () => {
    const got = await firstPieceThen((s) => s.destroy());
    expect(got.head).toMatch(/^HTTP\/1\.1 200/);
    const res = await fetchFresh(`http://127.0.0.1:${port}/pid`);
    expect(res.status).toBe(200);
    await res.text();
  }, 60_000);

  /** A chunked upload of `body` in pieces of `piece` bytes, raw. */
  function chunked(path: string, body: Uint8Array, piece: number): Uint8Array[] {
    const parts: Uint8Array[] = [latin1(`POST ${path} HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n`)];
    for (let off = 0; off < body.length; off += piece) {
      const p = body.subarray(off, off + piece);
      parts.push(latin1(`${p.length.toString(16)}\r\n`), p, latin1('\r\n'));
    }
    parts.push(latin1('0\r\n\r\n'));
    return parts;
  }

  test('a 5 MiB chunked upload arrives whole (hashed end to end)', async () => {
    const body = new Uint8Array(5 * 1024 * 1024);
    for (let i = 0; i < body.length; i++) body[i] = (i * 7 + (i >> 13)) & 255;
    const { data } = await rawExchange({ port }, chunked('/upload', body, 100_000), 60_000);
    const text = data.toString('latin1');
    expect(text).toMatch(/^HTTP\/1\.1 200/);
    const json = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4).replace(/^[0-9a-f]+\r\n([\s\S]*?)\r\n0\r\n\r\n$/, '$1')) as {
      length: number;
      sha256: string;
      te: string;
    };
    expect(json).toEqual({ length: body.length, sha256: sha256(body), te: 'chunked' });
  }, 90_000);

  test('an upload that lasts longer than --http-timeout but keeps moving is not cut (no 504)', async () => {
    // Eight pieces 600 ms apart: 4.8 s in all, against --http-timeout 3.
    const s = net.connect(port, '127.0.0.1');
    let data = '';
    s.on('data', (d: Buffer) => (data += d.toString('latin1')));
    s.on('error', () => {});
    const closed = new Promise((r) => s.on('close', r));
    await new Promise((r) => s.once('connect', r));
    s.write(latin1('POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n'));
    for (let i = 0; i < 8; i++) {
      s.write(latin1('4\r\npart\r\n'));
      await new Promise((r) => setTimeout(r, 600));
    }
    s.write(latin1('0\r\n\r\n'));
    await closed;
    expect(data).toMatch(/^HTTP\/1\.1 200/);
    expect(data).toContain('"length":32');
  }, 60_000);

  test('--limit-post refuses a chunked upload above it (413)', async () => {
    const { data } = await rawExchange({ port }, chunked('/upload', new Uint8Array(LIMIT + 1_000_000), 1_000_000), 60_000);
    expect(data.toString('latin1')).toMatch(/^HTTP\/1\.1 413/);
    const res = await fetchFresh(`http://127.0.0.1:${port}/pid`);
    expect(res.status).toBe(200);
    await res.text();
  }, 90_000);
});

describe(`a public --socket never takes the router's framing (${RUNTIME})`, () => {
  test('TSGI_BODY from nginx is an ordinary var: CONTENT_LENGTH frames the body', async () => {
    const dir = tempDir();
    const sock = join(dir, 'app.sock');
    const tsgi = await startTsgi(['--socket', sock, '--app', APP]);
    try {
      const vars: Array<[string, string]> = [
        ['REQUEST_METHOD', 'POST'],
        ['REQUEST_URI', '/upload'],
        ['HTTP_HOST', 't'],
        ['CONTENT_LENGTH', '9'],
        ['TSGI_BODY', 'chunked'],
      ];
      // Nine body bytes that would be a frame head and a piece, were they read as frames.
      const body = new Uint8Array([5, 0, 0, 0, 104, 101, 108, 108, 111]);
      const { data } = await rawExchange({ path: sock }, [encodePacket(vars), body]);
      const text = data.toString('latin1');
      expect(text).toMatch(/^HTTP\/1\.1 200/);
      expect(JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4))).toMatchObject({ length: 9, sha256: sha256(body) });
    } finally {
      await tsgi.stop();
    }
  }, 60_000);
});
