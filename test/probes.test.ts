/**
 * Readiness and liveness for load balancers and Kubernetes: /readyz and /livez on the
 * --stats-http server, the ready flag in the stats JSON and /metrics, `tsgi check ADDR` (exit
 * 0 ready, 1 not ready, 2 unreachable), and --shutdown-delay (after SIGTERM: not ready at once,
 * serving on for the delay, then the graceful stop; a second signal ends the wait).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { cleanup, exitedCleanly, fetchFresh, freePort, type Proc, run, startTsgi, tempDir, tsgiCommand, until } from './helpers.ts';

afterAll(cleanup);

const ECHO = 'test/fixtures/apps/echo.ts';

async function probe(stats: number, path: string): Promise<{ status: number; body: string }> {
  const r = await fetchFresh(`http://127.0.0.1:${stats}${path}`);
  return { status: r.status, body: await r.text() };
}

/** `tsgi check ADDR`: its exit code and the line it printed. */
async function tsgiCheck(addr: string): Promise<{ code: number | null; line: string }> {
  const [cmd, pre] = tsgiCommand();
  const p = run(cmd, [...pre, 'check', addr]);
  const timer = setTimeout(() => p.signal('SIGKILL'), 30_000);
  const { code } = await p.exited;
  clearTimeout(timer);
  return { code, line: p.output().trim() };
}

async function served(port: number): Promise<boolean> {
  return (await fetchFresh(`http://127.0.0.1:${port}/head`)).status === 200;
}

function serving(http: number, stats: number, extra: string[] = []): Promise<Proc> {
  return startTsgi(['--http-socket', `127.0.0.1:${http}`, '--processes', '2', '--stats', `127.0.0.1:${stats}`, '--stats-http', '--app', ECHO, ...extra]);
}

describe('readiness and liveness probes', () => {
  test('a ready host: /readyz and /livez answer 200, the JSON and /metrics say ready, tsgi check exits 0', async () => {
    const [http, stats] = [await freePort(), await freePort()];
    const srv = await serving(http, stats);
    expect(await probe(stats, '/readyz')).toEqual({ status: 200, body: 'ready (2 of 2 worker(s) serving)\n' });
    expect(await probe(stats, '/livez')).toEqual({ status: 200, body: 'alive\n' });
    const doc = (await (await fetchFresh(`http://127.0.0.1:${stats}/json`)).json()) as { tsgi: { ready: boolean; state: string } };
    expect(doc.tsgi).toMatchObject({ ready: true, state: 'ready' });
    expect(await (await fetchFresh(`http://127.0.0.1:${stats}/metrics`)).text()).toMatch(/^tsgi_ready 1$/m);
    expect(await tsgiCheck(`127.0.0.1:${stats}`)).toEqual({ code: 0, line: `tsgi check: 127.0.0.1:${stats}: ready (2 of 2 worker(s) serving)` });
    expect(exitedCleanly(srv, await srv.stop())).toBe(true);
  }, 90_000);

  test('not ready while the workers start, ready once they serve', async () => {
    const [http, stats] = [await freePort(), await freePort()];
    const gate = join(tempDir(), 'gate');
    const [cmd, pre] = tsgiCommand();
    const env = { TEST_APP_GATE: gate };
    const srv = run(
      cmd,
      [...pre, '--http-socket', `127.0.0.1:${http}`, '--stats', `127.0.0.1:${stats}`, '--stats-http', '--app', 'test/fixtures/apps/gated.ts'],
      { env },
    );
    await srv.waitFor(/stats server enabled/);
    await srv.waitFor(/spawned tsgi worker 1/);
    expect(await probe(stats, '/readyz')).toEqual({ status: 503, body: 'starting (0 of 1 worker(s) serving)\n' });
    expect((await probe(stats, '/livez')).status).toBe(200);
    const c = await tsgiCheck(`127.0.0.1:${stats}`);
    expect(c.code).toBe(1);
    expect(c.line).toBe(`tsgi check: 127.0.0.1:${stats}: not ready: starting (0 of 1 worker(s) serving)`);
    writeFileSync(gate, 'go');
    await srv.waitFor(/tsgi is ready/, 60_000);
    expect((await probe(stats, '/readyz')).status).toBe(200);
    expect(exitedCleanly(srv, await srv.stop())).toBe(true);
  }, 90_000);

  test('tsgi check: exit 2 with one line when nothing answers, and it reads a plain --stats server', async () => {
    const nobody = await freePort();
    const c = await tsgiCheck(`127.0.0.1:${nobody}`);
    expect(c.code).toBe(2);
    expect(c.line).toMatch(new RegExp(`^tsgi check: 127\\.0\\.0\\.1:${nobody}: unreachable: .+$`));
    expect((await tsgiCheck('')).code).toBe(2);
    const [sock, stats] = [await freePort(), await freePort()];
    const srv = await startTsgi(['--socket', `127.0.0.1:${sock}`, '--stats', `127.0.0.1:${stats}`, '--app', ECHO]);
    expect(await tsgiCheck(`127.0.0.1:${stats}`)).toEqual({ code: 0, line: `tsgi check: 127.0.0.1:${stats}: ready` });
    expect(exitedCleanly(srv, await srv.stop())).toBe(true);
  }, 90_000);

  test('--shutdown-delay: after SIGTERM not ready at once, alive and serving on; a second SIGTERM ends the wait and stops gracefully', async () => {
    const [http, stats] = [await freePort(), await freePort()];
    const srv = await serving(http, stats, ['--shutdown-delay', '120']);
    srv.signal('SIGTERM');
    await srv.waitFor(/not ready from now on; serving 120 s more \(--shutdown-delay\)/);
    expect(await probe(stats, '/readyz')).toEqual({ status: 503, body: 'shutting down (2 of 2 worker(s) serving)\n' });
    expect((await probe(stats, '/livez')).status).toBe(200);
    expect((await tsgiCheck(`127.0.0.1:${stats}`)).code).toBe(1);
    expect(await (await fetchFresh(`http://127.0.0.1:${stats}/metrics`)).text()).toMatch(/^tsgi_ready 0$/m);
    // The sockets stay open: new connections are still answered.
    for (let i = 0; i < 5; i++) expect(await served(http)).toBe(true);
    expect(srv.output()).not.toMatch(/stopping gracefully \(workers/);
    srv.signal('SIGTERM');
    await srv.waitFor(/SIGTERM during --shutdown-delay: the wait is over/);
    const r = await srv.exited;
    expect(srv.output()).toMatch(/SIGTERM: stopping gracefully \(workers finish their requests\)/);
    expect(exitedCleanly(srv, r)).toBe(true);
  }, 90_000);

  test('--shutdown-delay runs out by itself, then the graceful stop begins', async () => {
    const [http, stats] = [await freePort(), await freePort()];
    const srv = await serving(http, stats, ['--shutdown-delay', '1']);
    const t0 = Date.now();
    srv.signal('SIGTERM');
    const r = await srv.exited;
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1000);
    const out = srv.output();
    expect(out.indexOf('serving 1 s more (--shutdown-delay)')).toBeGreaterThan(0);
    expect(out.indexOf('SIGTERM: stopping gracefully')).toBeGreaterThan(out.indexOf('serving 1 s more'));
    expect(exitedCleanly(srv, r)).toBe(true);
  }, 90_000);

  test('SIGINT does not wait out --shutdown-delay (a person at a terminal)', async () => {
    const [http, stats] = [await freePort(), await freePort()];
    const srv = await serving(http, stats, ['--shutdown-delay', '120']);
    srv.signal('SIGINT');
    const r = await srv.exited;
    expect(srv.output()).not.toMatch(/--shutdown-delay\)/);
    expect(exitedCleanly(srv, r)).toBe(true);
  }, 90_000);

  test('--shutdown-delay in one process (no master): serves on after SIGTERM until a second one', async () => {
    const http = await freePort();
    const srv = await startTsgi(['--http-socket', `127.0.0.1:${http}`, '--app', ECHO, '--shutdown-delay', '120']);
    srv.signal('SIGTERM');
    await srv.waitFor(/serving 120 s more \(--shutdown-delay\)/);
    for (let i = 0; i < 5; i++) expect(await served(http)).toBe(true);
    srv.signal('SIGTERM');
    const r = await srv.exited;
    expect(srv.output()).toMatch(/the wait is over[\s\S]*SIGTERM: stopping gracefully/);
    expect(exitedCleanly(srv, r)).toBe(true);
    expect(await until(async () => !(await served(http).catch(() => false)), 10_000)).toBe(true);
  }, 90_000);
});
