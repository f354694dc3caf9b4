/**
 * TSGI_STARTUP_PHASES (src/phases.ts): each process of a start writes its start-up phases, from
 * the runtime up to accepting, so that a cold start can be taken apart per process and phase
 * (bench/footprint.mjs phases). Without the variable no phase line is written. Runs on Node, Bun
 * and Deno.
 */
import { afterAll, describe, expect, test } from 'vitest';
import { cleanup, freePort, hasLauncher, startTsgi } from './helpers.ts';

afterAll(cleanup);

const APP = 'test/fixtures/apps/echo.ts';

/** The phase lines of a start, as "pid phase". */
function phases(output: string): string[] {
  return [...output.matchAll(/^tsgi phase: pid (\d+) ([^:]+(?:: [^:+]+)?): \+\d+ ms from spawn, \d+ ms into this process, CPU \d+ ms$/gm)].map(
    (m) => `${m[1]} ${m[2]}`,
  );
}

describe('start-up phases', () => {
  test('with --master: the launcher (where there is one), the master and the worker each write theirs, in the order of a start', async () => {
    const port = await freePort();
    const p = await startTsgi(['--master', '--processes', '1', '--http-socket', `127.0.0.1:${port}`, '--app', APP], {
      env: { TSGI_STARTUP_PHASES: String(Date.now()) },
    });
    await p.waitFor(/worker 1: app loaded, accepting/, 30_000);
    const lines = phases(p.output());
    const names = lines.map((l) => l.slice(l.indexOf(' ') + 1));
    // Node and Deno: a launcher binds and spawns the master; Bun: the process started binds and is the master.
    const launcher = hasLauncher(p);
    const bound = launcher ? ['launcher: sockets bound', 'launcher: master spawned'] : ['master: sockets bound'];
    for (const want of ['runtime up', ...bound, 'master: workers spawned', 'worker 1: app loaded, accepting']) {
      expect(names).toContain(want);
    }
    const order = [bound[bound.length - 1], 'master: workers spawned', 'worker 1: app loaded, accepting'].map((n) => names.indexOf(n));
    expect(order).toEqual([...order].sort((a, b) => a - b));
    // Each process with its runtime-up line.
    expect(new Set(lines.filter((l) => l.endsWith(' runtime up')).map((l) => l.split(' ')[0])).size).toBe(launcher ? 3 : 2);
    await p.stop();
  });

  test('without the variable: no phase line', async () => {
    const port = await freePort();
    const p = await startTsgi(['--http-socket', `127.0.0.1:${port}`, '--app', APP]);
    expect(p.output()).not.toMatch(/tsgi phase:/);
    await p.stop();
  });
});
