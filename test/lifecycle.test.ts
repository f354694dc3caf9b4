/**
 * A signal at any moment of a child's life ends as the README's signal table says: SIGTERM stops
 * gracefully (exit 0, nothing left running, sockets and pidfile vacuumed, well before
 * --reload-mercy when nothing is in flight), SIGHUP reloads (every slot ends up served by a fresh
 * worker, none leaked), SIGQUIT and a second SIGTERM stop now. The moments — a worker starting
 * (first start, respawn after kill -9 or harakiri, respawn in back-off), a reload under way, the
 * router starting or respawning, a worker recycling, the master itself starting — are hit with
 * an app whose loading the test holds (test/fixtures/apps/gated.ts), not by racing.
 */
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { encodePacket } from '../src/codec/index.ts';
import { Respawn } from '../src/master/respawn.ts';
import { cleanup, exitedCleanly, freePort, rawExchange, run, RUNTIME, tempDir, tsgiCommand, type Proc, alive } from './helpers.ts';

afterAll(cleanup);

const APP = 'test/fixtures/apps/gated.ts';
/** Large on purpose: a stop with nothing in flight must not wait for it. */
const RELOAD_MERCY = 60;
/** How long such a stop may take on a loaded machine (far below RELOAD_MERCY). */
const PROMPTLY_MS = 25_000;
const TEST_MS = 120_000;

interface Tsgi {
  p: Proc;
  sock: string;
  pidfile: string;
  gate: string;
}

/** Start tsgi on the gated app, serving a UNIX socket with --vacuum and a pidfile; gate: the gate file's content, or null (closed). */
function launch(gate: 'go' | 'fail' | null, args: string[], reloadMercy = RELOAD_MERCY): Tsgi {
  const dir = tempDir();
  const t = { sock: join(dir, 'app.sock'), pidfile: join(dir, 'tsgi.pid'), gate: join(dir, 'gate') };
  if (gate) writeFileSync(t.gate, gate);
  const [cmd, pre] = tsgiCommand();
  const p = run(
    cmd,
    [...pre, '--master', '--socket', t.sock, '--vacuum', '--pidfile', t.pidfile, '--reload-mercy', String(reloadMercy), '--app', APP, ...args],
    { env: { TEST_APP_GATE: t.gate } },
  );
  return { p, ...t };
}

const openGate = (t: Tsgi, content: 'go' | 'fail' = 'go') => writeFileSync(t.gate, content);
const closeGate = (t: Tsgi) => rmSync(t.gate, { force: true });
/** Let the requests the app holds (GET /hold) answer. */
const release = (t: Tsgi) => writeFileSync(`${t.gate}.release`, '');

async function until(cond: () => boolean, ms: number, what: string, p: Proc): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}; output:\n${p.output()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const count = (p: Proc, re: RegExp) => (p.output().match(new RegExp(re, 'g')) ?? []).length;
const workerPids = (p: Proc, from = 0) =>
  [
    ...p
      .output()
      .slice(from)
      .matchAll(/spawned tsgi worker \d+ \(pid: (\d+)/g),
  ].map((m) => Number(m[1]));
/** Every pid the log announced (master, workers, router), and the launcher's. */
const announcedPids = (p: Proc) => [...new Set([...p.output().matchAll(/\(pid: (\d+)/g)].map((m) => Number(m[1]))), p.child.pid ?? -1];

/** Wait until n workers have been spawned in all (the n-th is then starting: the gate holds it). */
const spawned = (t: Tsgi, n: number) => until(() => workerPids(t.p).length >= n, 60_000, `${n} spawned workers`, t.p);
const tsgiReady = (t: Tsgi) => t.p.waitFor(/tsgi is ready/, 60_000);

const request = (t: Tsgi, path: string, ms = 60_000) =>
  rawExchange({ path: t.sock }, [encodePacket({ REQUEST_METHOD: 'GET', REQUEST_URI: path, HTTP_HOST: 'x' })], ms);
/** A request the app holds until release(); resolves when a worker has it. */
async function held(t: Tsgi): Promise<{ answer: ReturnType<typeof request>; pid: number }> {
  const before = count(t.p, /holding a request/);
  const answer = request(t, '/hold', 90_000);
  await until(() => count(t.p, /holding a request/) > before, 30_000, 'the app to hold the request', t.p);
  const pid = Number([...t.p.output().matchAll(/gated app \(pid: (\d+)\): holding a request/g)].at(-1)?.[1]);
  return { answer, pid };
}
const body = (r: { data: Buffer }) => {
  const text = r.data.toString();
  return text.startsWith('HTTP/1.1 200 ') ? text.slice(text.indexOf('\r\n\r\n') + 4) : null;
};

/**
 * Send `sig` to what the user started and check the end: exit (code 0, or 1 for a forced stop)
 * within `ms`, no announced pid alive, socket and pidfile vacuumed.
 */
async function endsCleanly(t: Tsgi, sig: NodeJS.Signals | null, { ms = PROMPTLY_MS, code = 0 } = {}): Promise<void> {
  const t0 = Date.now();
  if (sig) t.p.signal(sig);
  const timeout = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), ms));
  const r = await Promise.race([t.p.exited, timeout]);
  if (r === 'timeout') throw new Error(`still running ${ms} ms after ${sig ?? 'the stop'}; output:\n${t.p.output()}`);
  if (code === 0) expect(exitedCleanly(t.p, r), t.p.output()).toBe(true);
  // Deno's child_process reports a child we signalled as killed by the signal (see exitedCleanly).
  else if (!(RUNTIME === 'deno' && r.code === null)) expect(r.code, t.p.output()).toBe(code);
  expect(t.p.output()).toMatch(/goodbye from the tsgi master/);
  expect(Date.now() - t0).toBeLessThan(ms);
  const pids = announcedPids(t.p);
  await until(() => pids.every((pid) => !alive(pid)), 10_000, `pids ${pids.filter(alive).join(', ')} to be gone`, t.p);
  expect(existsSync(t.sock)).toBe(false);
  expect(existsSync(t.pidfile)).toBe(false);
}

test('Respawn: at once, then 1, 2, 4 … 30 s for deaths before readiness in a row; readiness resets it', () => {
  const r = new Respawn();
  const pauses = Array.from({ length: 8 }, () => r.died(true));
  expect(pauses).toEqual([0, 1, 2, 4, 8, 16, 30, 30]);
  expect(r.died(false)).toBe(30); // a death after readiness counts no failure, the streak stays
  r.ready();
  expect([r.died(false), r.died(true), r.died(true)]).toEqual([0, 0, 1]);
  let started = 0;
  r.after(0, () => started++);
  expect(started).toBe(1);
  r.after(30, () => started++);
  r.cancel();
  r.after(0, () => started++);
  expect(started).toBe(2);
});

describe(`signals at every moment of a child's life (${RUNTIME})`, () => {
  describe('SIGTERM while a worker is starting', () => {
    test('first start', { timeout: TEST_MS }, async () => {
      const t = launch(null, ['--processes', '2']);
      await spawned(t, 2);
      await endsCleanly(t, 'SIGTERM');
    });

    test('respawn after kill -9 (the other worker is serving)', { timeout: TEST_MS }, async () => {
      const t = launch('go', ['--processes', '2']);
      await tsgiReady(t);
      closeGate(t);
      process.kill(workerPids(t.p)[0], 'SIGKILL');
      await spawned(t, 3);
      await endsCleanly(t, 'SIGTERM');
    });

    test('respawn after harakiri', { timeout: TEST_MS }, async () => {
      const t = launch('go', ['--processes', '2', '--harakiri', '2']);
      await tsgiReady(t);
      closeGate(t);
      const slow = request(t, '/sleep?ms=30000');
      await t.p.waitFor(/HARAKIRI ON WORKER/, 30_000);
      await spawned(t, 3);
      await endsCleanly(t, 'SIGTERM');
      expect(body(await slow)).toBeNull();
    });

    test('the gate opens after the signal: the late worker does not keep the master waiting', { timeout: TEST_MS }, async () => {
      const t = launch('go', ['--processes', '2']);
      await tsgiReady(t);
      closeGate(t);
      process.kill(workerPids(t.p)[1], 'SIGKILL');
      await spawned(t, 3);
      t.p.signal('SIGTERM');
      await t.p.waitFor(/SIGTERM: stopping gracefully/);
      openGate(t);
      await endsCleanly(t, null);
    });

    test('respawn waiting out its back-off after failed app loads', { timeout: TEST_MS }, async () => {
      const t = launch('fail', ['--processes', '2']);
      await t.p.waitFor(/died at startup \d+ times in a row: respawning in \d+ s/, 60_000);
      await endsCleanly(t, 'SIGTERM');
    });

    test('SIGQUIT: stop now', { timeout: TEST_MS }, async () => {
      const t = launch(null, ['--processes', '2']);
      await spawned(t, 2);
      await endsCleanly(t, 'SIGQUIT');
    });
  });

  describe('SIGTERM during a reload', () => {
    test('fresh workers starting', { timeout: TEST_MS }, async () => {
      const t = launch('go', ['--processes', '2']);
      await tsgiReady(t);
      closeGate(t);
      t.p.signal('SIGHUP');
      await spawned(t, 4);
      await endsCleanly(t, 'SIGTERM');
    });

    test('an old worker retiring finishes its request, then everything stops', { timeout: TEST_MS }, async () => {
      const t = launch('go', ['--processes', '1']);
      await tsgiReady(t);
      const { answer, pid } = await held(t);
      t.p.signal('SIGHUP');
      await t.p.waitFor(/reload done: every worker replaced/, 60_000);
      t.p.signal('SIGTERM');
      await t.p.waitFor(/SIGTERM: stopping gracefully/);
      expect(alive(pid)).toBe(true); // still finishing its request
      release(t);
      expect(body(await answer)).toBe(String(pid));
      await endsCleanly(t, null);
    });
  });

  describe('SIGTERM while the router is starting', () => {
    test('first start', { timeout: TEST_MS }, async () => {
      const port = await freePort();
      const t = launch('go', ['--processes', '1', '--http', `127.0.0.1:${port}`]);
      await t.p.waitFor(/spawned tsgi http router/, 60_000);
      await endsCleanly(t, 'SIGTERM');
    });

    test('respawn after kill -9', { timeout: TEST_MS }, async () => {
      const port = await freePort();
      const t = launch('go', ['--processes', '1', '--http', `127.0.0.1:${port}`]);
      await tsgiReady(t);
      const router = Number(/spawned tsgi http router \(pid: (\d+)/.exec(t.p.output())?.[1]);
      process.kill(router, 'SIGKILL');
      await until(() => count(t.p, /spawned tsgi http router/) >= 2, 30_000, 'the router respawned', t.p);
      await endsCleanly(t, 'SIGTERM');
    });
  });

  test('SIGTERM while a recycled worker (max-requests) is replaced', { timeout: TEST_MS }, async () => {
    const t = launch('go', ['--processes', '1', '--max-requests', '1']);
    await tsgiReady(t);
    closeGate(t);
    expect(body(await request(t, '/pid'))).toBe(String(workerPids(t.p)[0]));
    await spawned(t, 2);
    await endsCleanly(t, 'SIGTERM');
  });

  test('SIGTERM twice: the second stops now (exit 1), cutting the request in flight', { timeout: TEST_MS }, async () => {
    const t = launch('go', ['--processes', '1']);
    await tsgiReady(t);
    const { answer } = await held(t);
    t.p.signal('SIGTERM');
    await t.p.waitFor(/SIGTERM: stopping gracefully/);
    await endsCleanly(t, 'SIGTERM', { code: 1 });
    expect(body(await answer)).toBeNull();
  });

  test('a request longer than --reload-mercy is cut at --reload-mercy; exit 0', { timeout: TEST_MS }, async () => {
    const t = launch('go', ['--processes', '1'], 3);
    await tsgiReady(t);
    const { answer } = await held(t);
    await endsCleanly(t, 'SIGTERM', { ms: 3000 + PROMPTLY_MS });
    expect(t.p.output()).toMatch(/workers still running after --reload-mercy 3 s: killing them/);
    expect(body(await answer)).toBeNull();
  });

  describe('SIGHUP', () => {
    test('during startup: every slot ends up served by a fresh worker, none leaked', { timeout: TEST_MS }, async () => {
      const t = launch(null, ['--processes', '2']);
      await spawned(t, 2);
      const at = t.p.output().length;
      t.p.signal('SIGHUP');
      await t.p.waitFor(/SIGHUP: reloading workers gracefully/);
      await spawned(t, 4);
      openGate(t);
      await tsgiReady(t);
      await servedByExactly(t, workerPids(t.p, at), 2);
      await endsCleanly(t, 'SIGTERM');
    });

    test('twice quickly: the workers of the second reload serve, none leaked', { timeout: TEST_MS }, async () => {
      const t = launch('go', ['--processes', '2']);
      await tsgiReady(t);
      closeGate(t);
      t.p.signal('SIGHUP');
      await spawned(t, 4);
      const at = t.p.output().length;
      t.p.signal('SIGHUP');
      await spawned(t, 6);
      openGate(t);
      await t.p.waitFor(/reload done: every worker replaced/, 60_000);
      await servedByExactly(t, workerPids(t.p, at), 2);
      await endsCleanly(t, 'SIGTERM');
    });

    test('during a respawn back-off: a worker starts now, and none more when the pause ends', { timeout: TEST_MS }, async () => {
      const t = launch('fail', ['--processes', '1']);
      // The third failure in a row pauses 2 s: time enough to send SIGHUP inside the pause.
      const line = await t.p.waitFor(/died at startup 3 times in a row: respawning in \d+ s/, 90_000);
      const pause = Number(/in (\d+) s/.exec(line)?.[1]) * 1000;
      const due = Date.now() + pause;
      openGate(t);
      const at = t.p.output().length;
      t.p.signal('SIGHUP');
      await tsgiReady(t);
      // The pause the reload cut short must not start a second worker for the slot.
      await until(() => Date.now() > due + 2000, pause + 5000, 'the end of the pause', t.p);
      await servedByExactly(t, workerPids(t.p, at), 1);
      await endsCleanly(t, 'SIGTERM');
    });
  });

  describe('a signal to the launcher before the master handles signals', () => {
    test('SIGTERM: held, then a graceful stop', { timeout: TEST_MS }, async () => {
      const t = launch('go', ['--processes', '1']);
      await t.p.waitFor(/uwsgi socket 0 bound to/, 60_000);
      await endsCleanly(t, 'SIGTERM');
    });

    test('SIGHUP: held, then tsgi starts and serves', { timeout: TEST_MS }, async () => {
      const t = launch('go', ['--processes', '1']);
      await t.p.waitFor(/uwsgi socket 0 bound to/, 60_000);
      t.p.signal('SIGHUP');
      await tsgiReady(t);
      expect(body(await request(t, '/pid'))).not.toBeNull();
      await endsCleanly(t, 'SIGTERM');
    });
  });
});

/** `slots` workers were spawned since the reload, they are the live ones, and they answer. */
async function servedByExactly(t: Tsgi, pids: number[], slots: number): Promise<void> {
  expect(pids, 'workers spawned since the reload').toHaveLength(slots);
  const live = workerPids(t.p).filter(alive);
  await until(() => workerPids(t.p).filter(alive).length <= pids.length, 10_000, 'retiring workers to leave', t.p);
  expect(workerPids(t.p).filter(alive).sort(), `live workers before: ${live.join(', ')}`).toEqual([...pids].sort());
  const answered = body(await request(t, '/pid'));
  expect(pids.map(String)).toContain(answered);
}
