/**
 * The --http router keeps its connections to the workers open and reuses them
 * (src/router/pool.ts, src/worker/internal.ts), and loses no request to a kept connection
 * that a worker closes: a worker killed while its connections are idle, a graceful reload
 * under a steady stream of requests.
 */
import { afterAll, describe, expect, test } from 'vitest';
import { cleanup, fetchFresh, freePort, RUNTIME, startTsgi } from './helpers.ts';

const APP = 'test/fixtures/apps/sockets.ts';

afterAll(cleanup);

type Answer = { status: number; pid: number | null };

/** One request on a fresh client connection (never the client's keep-alive); a failure counts as status 0. */
async function ask(port: number, path = '/'): Promise<Answer> {
  try {
    const res = await fetchFresh(`http://127.0.0.1:${port}${path}`);
    const text = await res.text();
    return { status: res.status, pid: res.status === 200 ? (JSON.parse(text) as { pid: number }).pid : null };
  } catch {
    return { status: 0, pid: null };
  }
}

describe(`--http keeps its connections to the workers (${RUNTIME})`, () => {
  test('one after the other, requests reach the worker over the same connection', { timeout: 120_000 }, async () => {
    const port = await freePort();
    // --socket-timeout well above the test's pace: no idle connection is closed in between.
    const tsgi = await startTsgi(['--http', `127.0.0.1:${port}`, '--processes', '1', '--socket-timeout', '120', '--app', APP]);
    try {
      const seen: string[] = [];
      for (let i = 0; i < 5; i++) {
        const res = await fetchFresh(`http://127.0.0.1:${port}/sockets`);
        expect(res.status).toBe(200);
        seen.push(((await res.json()) as { sockets: string[] }).sockets.join(','));
      }
      // A new connection per request would show a new socket each time (besides the listening ones).
      expect(new Set(seen).size).toBe(1);
    } finally {
      await tsgi.stop();
    }
  });

  test('a worker killed while the router holds idle connections to it: the next requests are answered by its successor', { timeout: 120_000 }, async () => {
    const port = await freePort();
    const tsgi = await startTsgi(['--http', `127.0.0.1:${port}`, '--processes', '1', '--socket-timeout', '120', '--app', APP]);
    try {
      const first = await Promise.all([ask(port), ask(port), ask(port), ask(port)]);
      expect(first.map((a) => a.status)).toEqual([200, 200, 200, 200]);
      const old = first[0].pid as number;
      process.kill(old, 'SIGKILL');
      const after = await Promise.all([ask(port), ask(port), ask(port), ask(port)]);
      expect(after.map((a) => a.status)).toEqual([200, 200, 200, 200]);
      expect(after.every((a) => a.pid !== old)).toBe(true);
    } finally {
      await tsgi.stop();
    }
  });

  test('a graceful reload under a steady stream of requests loses none of them', { timeout: 180_000 }, async () => {
    const port = await freePort();
    const tsgi = await startTsgi(['--http', `127.0.0.1:${port}`, '--processes', '2', '--app', APP]);
    try {
      const answers: Answer[] = [];
      let reloaded = false;
      // Four clients, each sending its next request when the last is answered, until the reload is done and 20 more came.
      const client = async () => {
        let after = 0;
        while (after < 20) {
          answers.push(await ask(port));
          if (reloaded) after++;
        }
      };
      const clients = [client(), client(), client(), client()];
      const before = answers.length;
      tsgi.signal('SIGHUP');
      await tsgi.waitFor(/reload done: every worker replaced/, 120_000);
      reloaded = true;
      await Promise.all(clients);
      expect(answers.length).toBeGreaterThan(before);
      expect(answers.filter((a) => a.status !== 200)).toEqual([]);
    } finally {
      await tsgi.stop();
    }
  });
});
