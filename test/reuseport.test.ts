/**
 * A TCP --http-socket port under a master never refuses or resets a connection once it has
 * accepted one: not at cold start (the launcher binds the port, hands it on, the workers start
 * accepting), not while SIGHUP replaces every worker under load, not while --max-requests
 * recycles them. Every client opens a new connection per request (`Connection: close`), so no
 * request can hide behind a kept-alive connection.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { afterAll, describe, expect, test } from 'vitest';
import { cleanup, freePort, run, RUNTIME, startTsgi, tsgiCommand, type Proc } from './helpers.ts';

afterAll(cleanup);

const APP = 'test/fixtures/apps/echo.ts';

type Outcome = 'ok' | 'refused' | 'reset' | 'bad';

/** One request on a new connection: 'refused' if nothing accepted it, else how it ended. */
function exchange(port: number, path: string, ms = 20_000): Promise<Outcome> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let connected = false;
    let data = '';
    let error: string | undefined;
    const timer = setTimeout(() => s.destroy(new Error('timeout')), ms);
    s.setEncoding('latin1');
    s.on('connect', () => {
      connected = true;
      s.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    });
    s.on('data', (d: string) => (data += d));
    s.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
    s.on('close', () => {
      clearTimeout(timer);
      if (!connected) return resolve(error === 'ECONNREFUSED' ? 'refused' : 'reset');
      if (data.startsWith('HTTP/1.1 200 ') && data.includes('\r\n\r\n')) return resolve('ok');
      resolve(error ? 'reset' : 'bad');
    });
  });
}

/** Outcomes of a set of clients, with a sample of what failed. */
class Tally {
  ok = 0;
  failed = 0;
  readonly kinds = new Map<Outcome, number>();
  add(o: Outcome): void {
    if (o === 'ok') this.ok++;
    else this.failed++;
    this.kinds.set(o, (this.kinds.get(o) ?? 0) + 1);
  }
  toString(): string {
    return `${this.ok} ok, ${this.failed} failed (${[...this.kinds].map(([k, n]) => `${k} ${n}`).join(', ')})`;
  }
}

/** `n` clients asking `path` on new connections until stop() (each finishes its request). */
function load(port: number, n: number, path: string, tally: Tally): { stop(): Promise<void> } {
  let running = true;
  const client = async () => {
    while (running) tally.add(await exchange(port, path));
  };
  const clients = Array.from({ length: n }, client);
  return {
    async stop() {
      running = false;
      await Promise.all(clients);
    },
  };
}

/**
 * A client that keeps its connection: requests one after the other on it, and a new connection
 * only when the server says `Connection: close` (or closes after an answer). A connection that
 * goes while a request waits for its answer fails that request.
 */
async function keepAliveClient(port: number, running: () => boolean, tally: Tally): Promise<void> {
  while (running()) {
    const s = net.connect(port, '127.0.0.1');
    let buf = '';
    let connected = false;
    let closed = false;
    let wake = () => {};
    const next = () => new Promise<void>((r) => (wake = r));
    s.setEncoding('latin1');
    s.on('connect', () => {
      connected = true;
      wake();
    });
    s.on('data', (d: string) => {
      buf += d;
      wake();
    });
    s.on('error', () => {});
    s.on('close', () => {
      closed = true;
      wake();
    });
    while (!connected && !closed) await next();
    if (!connected) {
      tally.add('refused');
      continue;
    }
    while (running()) {
      s.write('GET /head HTTP/1.1\r\nHost: x\r\n\r\n');
      let answer: { ok: boolean; close: boolean } | null = null;
      while (!answer) {
        const end = buf.indexOf('\r\n\r\n');
        const head = end < 0 ? '' : buf.slice(0, end).toLowerCase();
        const length = Number(/\r\ncontent-length: *(\d+)/.exec(head)?.[1] ?? 0);
        if (end >= 0 && buf.length >= end + 4 + length) {
          answer = { ok: head.startsWith('http/1.1 200 '), close: /\r\nconnection: *close/.test(head) };
          buf = buf.slice(end + 4 + length);
        } else if (closed) break;
        else await next();
      }
      if (!answer) {
        tally.add('reset');
        break;
      }
      tally.add(answer.ok ? 'ok' : 'bad');
      if (answer.close) break;
    }
    s.destroy();
  }
}

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  return cond();
}

const serving = ['--master', '--processes', '2', '--disable-logging', '--app', APP];

describe(`TCP --http-socket never refuses or resets an accepted connection (${RUNTIME})`, () => {
  test('cold start: from the first accepted connection on, no refusal and no reset', async () => {
    const port = await freePort();
    // Clients hammer the port before tsgi binds it: refusals count only after the first accept.
    let accepted = false;
    let stopping = false;
    const before = { refused: 0 };
    const after = new Tally();
    const hammer = async () => {
      while (!stopping) {
        const o = await exchange(port, '/echo');
        if (!accepted && o === 'refused') {
          before.refused++;
          continue;
        }
        accepted = true;
        after.add(o);
      }
    };
    const hammers = Array.from({ length: 16 }, hammer);
    const [cmd, pre] = tsgiCommand();
    let p: Proc | undefined;
    try {
      p = run(cmd, [...pre, ...serving, '--http-socket', `127.0.0.1:${port}`]);
      await p.waitFor(/tsgi is ready/, 30_000);
      const atReady = after.ok + after.failed;
      // "A while after": 500 more requests (bounded).
      await until(() => after.ok + after.failed >= atReady + 500, 20_000);
    } finally {
      stopping = true;
      await Promise.all(hammers);
      await p?.stop();
    }
    console.log(`[${RUNTIME}] cold start: ${before.refused} refused before the first accept, then ${after}`);
    expect(after.ok).toBeGreaterThan(0);
    expect(after.failed).toBe(0);
  }, 120_000);

  test('SIGHUP under 32 clients (a new connection per request): no failed request', async () => {
    const port = await freePort();
    const p = await startTsgi([...serving, '--http-socket', `127.0.0.1:${port}`]);
    const tally = new Tally();
    const clients = load(port, 32, '/sleep?ms=2', tally);
    try {
      await until(() => tally.ok + tally.failed >= 500, 20_000);
      p.signal('SIGHUP');
      await p.waitFor(/reload done: every worker replaced/, 30_000);
      const atDone = tally.ok + tally.failed;
      await until(() => tally.ok + tally.failed >= atDone + 1000, 30_000);
    } finally {
      await clients.stop();
      await p.stop();
    }
    console.log(`[${RUNTIME}] SIGHUP under load: ${tally}`);
    expect(tally.ok).toBeGreaterThan(1500);
    expect(tally.failed).toBe(0);
  }, 120_000);

  test('SIGHUP under 32 keep-alive clients: no request fails on a connection the old worker kept', async () => {
    const port = await freePort();
    const p = await startTsgi([...serving, '--http-socket', `127.0.0.1:${port}`]);
    const tally = new Tally();
    let running = true;
    const clients = Array.from({ length: 32 }, () => keepAliveClient(port, () => running, tally));
    try {
      await until(() => tally.ok + tally.failed >= 1000, 20_000);
      p.signal('SIGHUP');
      await p.waitFor(/reload done: every worker replaced/, 30_000);
      // The old workers have left: every connection they kept was closed by then.
      await until(() => (p.output().match(/\) left \(/g) ?? []).length >= 2, 30_000);
      const atDone = tally.ok + tally.failed;
      await until(() => tally.ok + tally.failed >= atDone + 1000, 30_000);
    } finally {
      running = false;
      await Promise.all(clients);
      await p.stop();
    }
    console.log(`[${RUNTIME}] SIGHUP under keep-alive load: ${tally}`);
    expect(tally.ok).toBeGreaterThan(1500);
    expect(tally.failed).toBe(0);
  }, 120_000);

  test('--max-requests recycling under 32 clients: no failed request', async () => {
    const port = await freePort();
    const p = await startTsgi([...serving, '--max-requests', '300', '--http-socket', `127.0.0.1:${port}`]);
    const tally = new Tally();
    const clients = load(port, 32, '/echo', tally);
    const recycled = () => (p.output().match(/max-requests 300 reached/g) ?? []).length;
    try {
      // Every worker recycled at least twice.
      await until(() => recycled() >= 4 && tally.ok + tally.failed >= 1500, 60_000);
    } finally {
      await clients.stop();
      await p.stop();
    }
    console.log(`[${RUNTIME}] --max-requests 300 under load: ${recycled()} recycles, ${tally}`);
    expect(recycled()).toBeGreaterThanOrEqual(4);
    expect(tally.failed).toBe(0);
  }, 120_000);

  test('--reuse-port: Bun.serve / Deno.serve in each worker, with a warning unless the kernel migrates accept queues', async () => {
    const port = await freePort();
    const p = await startTsgi([...serving, '--reuse-port', '--http-socket', `127.0.0.1:${port}`]);
    try {
      for (let i = 0; i < 20; i++) expect(await exchange(port, '/echo')).toBe('ok');
      let migrates = false;
      try {
        migrates = readFileSync('/proc/sys/net/ipv4/tcp_migrate_req', 'utf8').trim() === '1';
      } catch {
        // a kernel before 5.14
      }
      if (RUNTIME === 'node') {
        // node:http takes the master's socket: nothing to opt into, nothing to warn about.
        expect(p.output()).not.toMatch(/SO_REUSEPORT|tcp_migrate_req/);
      } else {
        expect(p.output()).toMatch(
          new RegExp(`http socket 0 bound to TCP address 127\\.0\\.0\\.1:${port} \\(${RUNTIME}'s own HTTP server, SO_REUSEPORT: --reuse-port\\)`),
        );
        if (migrates) expect(p.output()).not.toMatch(/tcp_migrate_req/);
        else expect(p.output()).toMatch(/--reuse-port: .*tcp_migrate_req.*resets the connections queued on its socket/);
      }
    } finally {
      await p.stop();
    }
  }, 120_000);
});
