/**
 * The --http router's fast path (src/router/raw.ts) on the router's default server (node:http on
 * Node, tsgi's HTTP/1.1 server on Bun and Deno): a request without a body goes from the parsed
 * head to the worker and back without a Request or Response. It is taken (the worker's header
 * lines come through in the worker's order, where a Response would list them sorted), and it
 * behaves on one kept-alive client connection: a streamed answer, HEAD, 204, a 504, a client that
 * leaves mid-answer.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { cleanup, freePort, type Proc, RUNTIME, startTsgi } from './helpers.ts';

const APP = 'test/fixtures/apps/echo.ts';

interface Answer {
  status: number;
  /** Header lines as sent, lowercase names. */
  lines: Array<[string, string]>;
  body: Buffer;
}

/** HTTP/1.1 requests one after the other on one client connection, answers read by their framing. */
class KeptConnection {
  readonly #socket: net.Socket;
  #buf = Buffer.alloc(0);
  #wake: (() => void) | null = null;
  closed = false;

  constructor(port: number) {
    this.#socket = net.connect(port, '127.0.0.1');
    this.#socket.on('data', (d) => {
      this.#buf = Buffer.concat([this.#buf, d]);
      this.#wake?.();
    });
    this.#socket.on('error', () => {});
    this.#socket.on('close', () => {
      this.closed = true;
      this.#wake?.();
    });
  }

  async #need(test: () => boolean, ms = 30_000): Promise<void> {
    const end = Date.now() + ms;
    while (!test()) {
      if (this.closed) throw new Error('the connection closed');
      if (Date.now() > end) throw new Error('no answer in time');
      await new Promise<void>((r) => {
        this.#wake = r;
        setTimeout(r, 100);
      });
    }
  }

  #take(n: number): Buffer {
    const out = this.#buf.subarray(0, n);
    this.#buf = this.#buf.subarray(n);
    return out;
  }

  async request(method: string, path: string): Promise<Answer> {
    this.#socket.write(`${method} ${path} HTTP/1.1\r\nHost: raw.test\r\nUser-Agent: router-raw-test\r\n\r\n`);
    await this.#need(() => this.#buf.indexOf('\r\n\r\n') !== -1);
    const end = this.#buf.indexOf('\r\n\r\n');
    const [statusLine, ...rest] = this.#take(end + 4)
      .subarray(0, end)
      .toString('latin1')
      .split('\r\n');
    const lines = rest.map((l): [string, string] => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]);
    const status = Number(statusLine.split(' ')[1]);
    const get = (name: string) => lines.find(([n]) => n === name)?.[1];
    if (method === 'HEAD' || status === 204 || status === 304) return { status, lines, body: Buffer.alloc(0) };
    if (get('transfer-encoding') === 'chunked') return { status, lines, body: await this.#chunked() };
    const length = Number(get('content-length'));
    await this.#need(() => this.#buf.length >= length);
    return { status, lines, body: Buffer.from(this.#take(length)) };
  }

  async #chunked(): Promise<Buffer> {
    const parts: Buffer[] = [];
    for (;;) {
      await this.#need(() => this.#buf.indexOf('\r\n') !== -1);
      const size = Number.parseInt(this.#take(this.#buf.indexOf('\r\n') + 2).toString('latin1'), 16);
      await this.#need(() => this.#buf.length >= size + 2);
      parts.push(Buffer.from(this.#take(size)));
      this.#take(2);
      if (size === 0) return Buffer.concat(parts);
    }
  }

  /** Send a request and read `bytes` of its answer, then go. */
  async leaveDuring(path: string, bytes: number): Promise<void> {
    this.#socket.write(`GET ${path} HTTP/1.1\r\nHost: raw.test\r\n\r\n`);
    await this.#need(() => this.#buf.length >= bytes);
    this.close();
  }

  close(): void {
    this.#socket.destroy();
  }
}

function pattern(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = i % 251;
  return b;
}

afterAll(cleanup);

describe(`--http's fast path for requests without a body (${RUNTIME})`, () => {
  let tsgi: Proc;
  let port: number;

  beforeAll(async () => {
    port = await freePort();
    tsgi = await startTsgi(['--http', `127.0.0.1:${port}`, '--processes', '2', '--http-timeout', '2', '--app', APP, '--disable-logging']);
  }, 60_000);

  afterAll(async () => {
    await tsgi?.stop();
  });

  test("it is taken: the worker's header lines come in the worker's order (a Response would sort them)", async () => {
    const c = new KeptConnection(port);
    try {
      // The worker writes the app's headers, then the Content-Length it adds.
      const get = await c.request('GET', '/head');
      expect(get.status).toBe(200);
      expect(get.body.toString()).toBe('twelve bytes');
      const names = get.lines.map(([n]) => n);
      expect(names.indexOf('x-head')).toBeGreaterThanOrEqual(0);
      expect(names.indexOf('x-head')).toBeLessThan(names.indexOf('content-length'));
    } finally {
      c.close();
    }
  });

  test('one kept-alive client connection: a streamed 3 MiB answer, HEAD, 204, and 20 GETs, in turn', { timeout: 120_000 }, async () => {
    const c = new KeptConnection(port);
    try {
      const big = await c.request('GET', `/big?bytes=${3 * 1024 * 1024}`);
      expect(big.status).toBe(200);
      expect(big.body.equals(pattern(3 * 1024 * 1024))).toBe(true);
      const head = await c.request('HEAD', '/head');
      expect(head.status).toBe(200);
      expect(head.lines).toContainEqual(['x-head', 'yes']);
      const none = await c.request('GET', '/nocontent');
      expect(none.status).toBe(204);
      expect(none.lines).toContainEqual(['x-empty', '1']);
      for (let i = 0; i < 20; i++) {
        const echo = await c.request('GET', `/echo?i=${i}`);
        expect(echo.status).toBe(200);
        const seen = JSON.parse(echo.body.toString()) as { method: string; url: string; headers: Record<string, string> };
        expect(seen.url).toBe(`http://raw.test/echo?i=${i}`);
        expect(seen.headers['user-agent']).toBe('router-raw-test');
      }
      expect(c.closed).toBe(false);
    } finally {
      c.close();
    }
  });

  test('a client that goes mid-answer: the next requests are answered (that worker connection is not kept)', { timeout: 120_000 }, async () => {
    for (let i = 0; i < 3; i++) {
      const leaving = new KeptConnection(port);
      await leaving.leaveDuring(`/big?bytes=${64 * 1024 * 1024}`, 256 * 1024);
      const c = new KeptConnection(port);
      try {
        for (let j = 0; j < 4; j++) expect((await c.request('GET', '/pid')).status).toBe(200);
      } finally {
        c.close();
      }
    }
  });

  test('504 when the worker answers after --http-timeout; the client connection goes on', { timeout: 60_000 }, async () => {
    const c = new KeptConnection(port);
    try {
      const started = Date.now();
      const late = await c.request('GET', '/sleep?ms=6000');
      expect(late.status).toBe(504);
      expect(late.body.toString()).toContain('--http-timeout 2 s');
      expect(Date.now() - started).toBeLessThan(5000);
      expect((await c.request('GET', '/echo')).status).toBe(200);
    } finally {
      c.close();
    }
  });
});
