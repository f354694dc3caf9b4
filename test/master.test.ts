/**
 * --master: workers sharing one socket, respawn, graceful reload under load, harakiri,
 * max-requests, graceful stop, and no orphans — with real processes and real signals.
 */
import { existsSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { encodePacket } from '../src/codec/index.ts';
import { cleanup, freePort, rawExchange, run, RUNTIME, startTsgi, tempDir, tsgiCommand, type Proc, exitedCleanly, alive } from './helpers.ts';

afterAll(cleanup);

const APP = 'test/fixtures/apps/echo.ts';
const get = (path: string) => encodePacket({ REQUEST_METHOD: 'GET', REQUEST_URI: path, HTTP_HOST: 'x' });

/** One request over the uwsgi protocol; the body on success, null on failure. */
async function ask(target: { port: number } | { path: string }, path: string, ms = 15_000): Promise<string | null> {
  const r = await rawExchange(target, [get(path)], ms);
  const text = r.data.toString();
  if (!text.startsWith('HTTP/1.1 200 ')) return null;
  return text.slice(text.indexOf('\r\n\r\n') + 4);
}

async function until(cond: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return cond();
}

/** Cores busy with a request, per the --stats document at `stats` (0 if it cannot be read). */
async function busyCores(stats: string): Promise<number> {
  const r = await rawExchange({ path: stats }, []);
  try {
    const doc = JSON.parse(r.data.toString()) as { workers: Array<{ cores: Array<{ in_request: number }> }> };
    return doc.workers.reduce((n, w) => n + w.cores.filter((c) => c.in_request).length, 0);
  } catch {
    return 0;
  }
}

function workerPids(p: Proc): number[] {
  return [...p.output().matchAll(/spawned tsgi worker \d+ \(pid: (\d+)/g)].map((m) => Number(m[1]));
}
function masterPid(p: Proc): number {
  return Number(/tsgi master \(pid: (\d+)\)/.exec(p.output())?.[1]);
}
async function readyWorkers(p: Proc, n: number): Promise<void> {
  await until(() => (p.output().match(/ready in \d+ ms \(app loaded/g) ?? []).length >= n, 30_000);
}

describe(`--master (${RUNTIME})`, () => {
  test('two workers both answer: distinct pids, neither the master nor the launcher', async () => {
    const port = await freePort();
    const p = await startTsgi(['--master', '--processes', '2', '--socket', `127.0.0.1:${port}`, '--app', APP]);
    await readyWorkers(p, 2);
    const seen = new Set<string>();
    for (let i = 0; i < 60 && seen.size < 2; i++) {
      const [a, b] = await Promise.all([ask({ port }, '/pid'), ask({ port }, '/sleep?ms=20')]);
      if (a) seen.add(a);
      if (b) seen.add(b.split(' in ')[1].trim());
    }
    expect(seen.size).toBe(2);
    const pids = [...seen].map(Number);
    expect(pids).not.toContain(masterPid(p));
    expect(pids).not.toContain(p.child.pid);
    for (const pid of pids) expect(workerPids(p)).toContain(pid);
    expect(exitedCleanly(p, await p.stop())).toBe(true);
    const all = [...pids, masterPid(p)];
    expect(await until(() => all.every((pid) => !alive(pid)), 5000)).toBe(true);
  });

  test('kill -9 of a worker is repaired and service goes on', async () => {
    const port = await freePort();
    const p = await startTsgi(['--master', '--processes', '2', '--socket', `127.0.0.1:${port}`, '--app', APP]);
    await readyWorkers(p, 2);
    const victim = workerPids(p)[0];
    process.kill(victim, 'SIGKILL');
    await p.waitFor(new RegExp(`worker 1 \\(pid: ${victim}\\) died: killed by SIGKILL`));
    await readyWorkers(p, 3);
    for (let i = 0; i < 20; i++) expect(await ask({ port }, '/echo')).not.toBeNull();
    await p.stop();
  });

  test('SIGHUP under load: no failed request, every worker pid replaced', async () => {
    const port = await freePort();
    const p = await startTsgi(['--master', '--processes', '2', '--socket', `127.0.0.1:${port}`, '--app', APP]);
    await readyWorkers(p, 2);
    const before = workerPids(p);
    let sent = 0;
    let failed = 0;
    let ok = 0;
    let running = true;
    const client = async () => {
      while (running) {
        sent++;
        if ((await ask({ port }, '/sleep?ms=30')) === null) failed++;
        else ok++;
      }
    };
    const clients = [client(), client(), client(), client()];
    await until(() => ok >= 20, 30_000);
    p.signal('SIGHUP');
    await p.waitFor(/reload done: every worker replaced/, 30_000);
    // Requests after the reload too, served by the new workers.
    const atReload = ok + failed;
    await until(() => ok + failed >= atReload + 20, 30_000);
    running = false;
    await Promise.all(clients);
    const after = workerPids(p).filter((pid) => !before.includes(pid));
    expect(after).toHaveLength(2);
    await until(() => before.every((pid) => !alive(pid)), 10_000);
    for (const pid of before) expect(alive(pid)).toBe(false);
    console.log(`[${RUNTIME}] SIGHUP reload under load: ${sent} requests sent, ${failed} failed`);
    expect(sent).toBeGreaterThan(20);
    expect(failed).toBe(0);
    await p.stop();
  });

  test('harakiri cuts a 10 s request after about 2 s and the next request works', async () => {
    const port = await freePort();
    const p = await startTsgi(['--master', '--processes', '1', '--harakiri', '2', '--socket', `127.0.0.1:${port}`, '--app', APP]);
    await readyWorkers(p, 1);
    const t0 = Date.now();
    const r = await rawExchange({ port }, [get('/sleep?ms=10000')], 15_000);
    const took = Date.now() - t0;
    expect(r.closed).toBe(true);
    expect(r.data.toString()).not.toMatch(/^HTTP\/1\.1 200/);
    expect(took).toBeGreaterThan(1900);
    expect(took).toBeLessThan(8000);
    expect(p.output()).toMatch(/HARAKIRI ON WORKER 1 \(pid: \d+\): GET \/sleep\?ms=10000/);
    expect(await ask({ port }, '/echo')).not.toBeNull();
    await p.stop();
  });

  test('--max-requests recycles a worker', async () => {
    const port = await freePort();
    const p = await startTsgi(['--master', '--processes', '1', '--max-requests', '5', '--socket', `127.0.0.1:${port}`, '--app', APP]);
    await readyWorkers(p, 1);
    // A stopping worker first takes what the kernel has queued on the socket (up to 1 s), so on a
    // busy machine it may answer more than 5: ask until another pid answers, every ask answered.
    const answers: string[] = [];
    const recycled = await until(async () => {
      const pid = await ask({ port }, '/pid');
      expect(pid).not.toBeNull();
      answers.push(pid as string);
      return new Set(answers).size >= 2;
    }, 30_000);
    expect(recycled, `answered by ${[...new Set(answers)].join(', ')} in ${answers.length} requests`).toBe(true);
    expect(answers.filter((pid) => pid === answers[0]).length).toBeGreaterThanOrEqual(5);
    expect(p.output()).toMatch(/max-requests 5 reached/);
    await p.stop();
  });

  test('SIGTERM: exit 0, no process left, UNIX socket and pidfile gone with --vacuum', async () => {
    const dir = tempDir();
    const sock = join(dir, 'm.sock');
    const pidfile = join(dir, 'tsgi.pid');
    const p = await startTsgi(['--master', '--processes', '2', '--socket', sock, '--vacuum', '--pidfile', pidfile, '--app', APP]);
    await readyWorkers(p, 2);
    expect(Number(readFileSync(pidfile, 'utf8'))).toBe(masterPid(p));
    expect(await ask({ path: sock }, '/echo')).not.toBeNull();
    const pids = [...workerPids(p), masterPid(p)];
    expect(exitedCleanly(p, await p.stop('SIGTERM'))).toBe(true);
    await until(() => pids.every((pid) => !alive(pid)), 5000);
    for (const pid of pids) expect(alive(pid)).toBe(false);
    expect(existsSync(sock)).toBe(false);
    expect(existsSync(pidfile)).toBe(false);
  });

  test('SIGQUIT stops now: a request in flight is cut, no worker is left', async () => {
    const port = await freePort();
    const stats = join(tempDir(), 'stats.sock');
    const p = await startTsgi(['--master', '--processes', '2', '--socket', `127.0.0.1:${port}`, '--stats', stats, '--app', APP]);
    await readyWorkers(p, 2);
    const workers = [...workerPids(p), masterPid(p)];
    const slow = rawExchange({ port }, [get('/sleep?ms=8000')], 15_000);
    expect(await until(async () => (await busyCores(stats)) === 1, 15_000)).toBe(true);
    const t0 = Date.now();
    p.signal('SIGQUIT');
    const cut = await slow;
    expect(cut.data.toString()).not.toMatch(/^HTTP\/1\.1 200/);
    expect(Date.now() - t0).toBeLessThan(5000);
    await p.waitFor(/SIGQUIT: stopping now/);
    expect(await until(() => workers.every((pid) => !alive(pid)), 5000)).toBe(true);
  });

  test('kill -9 of the master: no worker left after a few seconds', async () => {
    const port = await freePort();
    const p = await startTsgi(['--master', '--processes', '2', '--socket', `127.0.0.1:${port}`, '--app', APP]);
    await readyWorkers(p, 2);
    const workers = workerPids(p);
    process.kill(masterPid(p), 'SIGKILL');
    expect(await until(() => workers.every((pid) => !alive(pid)), 8000)).toBe(true);
    const { code } = await p.exited;
    expect(code).not.toBe(0);
  });

  test('--threads 2: two event loops in one worker accept on the same socket', async () => {
    const port = await freePort();
    const stats = join(tempDir(), 'stats.sock');
    const p = await startTsgi(['--master', '--processes', '1', '--threads', '2', '--socket', `127.0.0.1:${port}`, '--stats', stats, '--app', APP]);
    expect(p.output()).toMatch(/spawned tsgi worker 1 \(pid: \d+, cores: 2\)/);
    // The first request blocks its event loop for 4 s; the one sent once it spins can only be
    // taken by the other thread.
    const first = ask({ port }, '/spin?ms=4000');
    expect(await until(async () => (await busyCores(stats)) === 1, 15_000)).toBe(true);
    const second = await ask({ port }, '/spin?ms=10');
    const a = (await first) as string;
    expect(a).not.toBeNull();
    expect(second).not.toBeNull();
    const [pidA, threadA] = a.split(':');
    const [pidB, threadB] = (second as string).split(':');
    expect(pidA).toBe(pidB);
    expect(threadA).not.toBe(threadB);
    expect(exitedCleanly(p, await p.stop())).toBe(true);
  });

  test('--touch-reload reloads when the file is touched; SIGUSR2 writes worker stats to the log', async () => {
    const port = await freePort();
    const touch = join(tempDir(), 'reload.txt');
    writeFileSync(touch, 'x');
    const p = await startTsgi(['--master', '--processes', '1', '--touch-reload', touch, '--socket', `127.0.0.1:${port}`, '--app', APP]);
    await readyWorkers(p, 1);
    expect(await ask({ port }, '/echo')).not.toBeNull();
    // Workers report their status every second: SIGUSR2 until the report has the request (of
    // this worker, then of the slot after the reload).
    const reportShows = (pid: number) => {
      const line = new RegExp(`worker 1: pid ${pid}, (idle|busy), requests 1, exceptions 0, avg [\\d.]+ ms, rss \\d+ MiB, respawns 0, harakiri 0`);
      return until(async () => {
        process.kill(masterPid(p), 'SIGUSR2');
        return p.waitFor(line, 1000).then(
          () => true,
          () => false,
        );
      }, 30_000);
    };
    expect(await reportShows(workerPids(p)[0])).toBe(true);
    const was = statSync(touch).mtime;
    writeFileSync(touch, 'y');
    utimesSync(touch, was, new Date(was.getTime() + 2000)); // a later mtime, whatever the clock's resolution
    await p.waitFor(/reload\.txt touched: reloading workers gracefully/, 10_000);
    await p.waitFor(/reload done: every worker replaced/, 20_000);
    expect(workerPids(p)).toHaveLength(2);
    expect(await reportShows(workerPids(p)[1])).toBe(true);
    await p.stop();
  });

  // Deno opens its inspector on SIGUSR1 even with a listener, so tsgi leaves SIGUSR1 alone there (Runtime.signals).
  test.skipIf(RUNTIME === 'deno')('SIGUSR1 to the launcher reaches the master, which writes worker stats to the log (Node, Bun)', async () => {
    const port = await freePort();
    const p = await startTsgi(['--master', '--processes', '1', '--socket', `127.0.0.1:${port}`, '--app', APP]);
    await readyWorkers(p, 1);
    p.signal('SIGUSR1');
    await p.waitFor(/worker 1: pid \d+, (idle|busy), requests \d+/, 10_000);
    expect(exitedCleanly(p, await p.stop())).toBe(true);
  });

  test('--reload-on-rss recycles a worker above the limit', async () => {
    const port = await freePort();
    const p = await startTsgi(['--master', '--processes', '1', '--reload-on-rss', '1', '--socket', `127.0.0.1:${port}`, '--app', APP]);
    await p.waitFor(/rss \d+ MiB above --reload-on-rss 1: recycling/, 10_000);
    await until(() => workerPids(p).length >= 2, 10_000);
    expect(await ask({ port }, '/echo')).not.toBeNull();
    await p.stop();
  });

  test('a worker whose app fails at startup is not respawned in a tight loop', async () => {
    const dir = tempDir();
    const app = join(dir, 'bad.mjs');
    writeFileSync(app, 'throw new Error("no database configured");\nexport default () => new Response("x");\n');
    const port = await freePort();
    const [cmd, pre] = tsgiCommand();
    const p = run(cmd, [...pre, '--master', '--processes', '1', '--socket', `127.0.0.1:${port}`, '--app', app]);
    await p.waitFor(/respawning in \d+ s/, 20_000);
    const spawned = workerPids(p).length;
    expect(spawned).toBeLessThan(6);
    await p.stop();
  });
});
