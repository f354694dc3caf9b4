/**
 * `tsgi top` in a real terminal (a tmux pane): against tsgi's --stats and against a real uWSGI
 * stats socket; it refreshes, shows req/s from traffic, changes sort on s and quits on q.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { cleanup, fetchFresh, freePort, ROOT, run, RUNTIME, startTsgi, tsgiCommand, until } from './helpers.ts';

const TMUX = '/usr/bin/tmux';
const UWSGI = '/usr/bin/uwsgi';

afterAll(cleanup);

const tmux = (...args: string[]) => execFileSync(TMUX, args, { encoding: 'utf8' });

/** Run `tsgi top ADDR` in a detached tmux session; returns the pane reader and a closer. */
function topIn(session: string, addr: string): { screen: () => string; keys: (k: string) => void; alive: () => boolean; kill: () => void } {
  const [cmd, pre] = tsgiCommand();
  const line = [cmd, ...pre, 'top', addr].map((a) => `'${a}'`).join(' ');
  tmux('new-session', '-d', '-s', session, '-x', '120', '-y', '25', `cd '${ROOT}' && ${line}`);
  return {
    screen: () => tmux('capture-pane', '-p', '-t', session),
    keys: (k) => void tmux('send-keys', '-t', session, k),
    alive: () => {
      try {
        tmux('has-session', '-t', session);
        return true;
      } catch {
        return false;
      }
    },
    kill: () => {
      try {
        tmux('kill-session', '-t', session);
      } catch {
        // already gone
      }
    },
  };
}

describe(`tsgi top (${RUNTIME})`, () => {
  test('against tsgi --stats: workers, live req/s, sort, quit', async () => {
    if (!existsSync(TMUX)) throw new Error('tmux is not installed: run .ci/run or apt-get install -y tmux');
    const [http, stats] = [await freePort(), await freePort()];
    const srv = await startTsgi([
      '--http-socket',
      `127.0.0.1:${http}`,
      '--processes',
      '2',
      '--stats',
      `127.0.0.1:${stats}`,
      '--app',
      'test/fixtures/apps/echo.ts',
      '--disable-logging',
    ]);
    const pids = [...srv.output().matchAll(/spawned tsgi worker \d \(pid: (\d+)/g)].map((m) => m[1]);
    const top = topIn(`tsgi-top-${RUNTIME}-${process.pid}`, `127.0.0.1:${stats}`);
    let traffic = true;
    const load = (async () => {
      while (traffic) await (await fetchFresh(`http://127.0.0.1:${http}/pid`)).text();
    })();
    try {
      expect(await until(() => /WID +PID +STATUS +REQ +RPS/.test(top.screen()), 30_000)).toBe(true);
      expect(top.screen()).toMatch(new RegExp(`tsgi \\S+ on ${RUNTIME} `));
      for (const pid of pids) expect(top.screen()).toContain(pid);
      // req/s comes from the change between two reads: it shows while traffic runs.
      expect(await until(() => /req\/s: [1-9]/.test(top.screen()))).toBe(true);
      const before = Number(/requests: (\d+)/.exec(top.screen())?.[1]);
      expect(await until(() => Number(/requests: (\d+)/.exec(top.screen())?.[1]) > before)).toBe(true);
      top.keys('s');
      expect(await until(() => top.screen().includes('sorted by rps'))).toBe(true);
      top.keys('q');
      expect(await until(() => !top.alive())).toBe(true);
    } finally {
      traffic = false;
      await load;
      top.kill();
      await srv.stop();
    }
  }, 120_000);

  test("against a real uWSGI's stats socket", async () => {
    if (!existsSync(UWSGI)) throw new Error('uwsgi is not installed: run .ci/run or apt-get install -y uwsgi uwsgi-plugin-python3');
    const [http, stats] = [await freePort(), await freePort()];
    const u = run(UWSGI, [
      '--plugin',
      'python3',
      '--http-socket',
      `127.0.0.1:${http}`,
      '--stats',
      `127.0.0.1:${stats}`,
      '--wsgi-file',
      join(ROOT, 'bench/hello.py'),
      '--processes',
      '2',
      '--master',
      '--disable-logging',
    ]);
    await u.waitFor(/spawned uWSGI worker 2/, 20_000);
    // uWSGI's --http-socket closes after each answer: a fresh connection per request.
    for (let i = 0; i < 10; i++) expect(await (await fetchFresh(`http://127.0.0.1:${http}/`)).text()).toContain('Hello');
    const top = topIn(`tsgi-top-uwsgi-${RUNTIME}-${process.pid}`, `127.0.0.1:${stats}`);
    try {
      expect(await until(() => /uWSGI 2\.\S+ - 127\.0\.0\.1/.test(top.screen()), 30_000)).toBe(true);
      expect(top.screen()).toMatch(/workers: 2 .* requests: 10 /);
      top.keys('q');
      expect(await until(() => !top.alive())).toBe(true);
    } finally {
      top.kill();
      await u.stop('SIGINT');
    }
  }, 120_000);
});
