// Where the runtime cannot bind bare sockets, a launcher binds them and starts the master
// (docs/ARCHITECTURE.md, "Why a launcher"): a Node whose process.binding has no tcp_wrap and
// pipe_wrap. Bun and Deno always can (Bun's FFI needs no permission; tsgi needs `deno run -A`,
// and without FFI Deno's launcher could not bind either: reading /proc/self/fd needs -A).
// With a launcher in front, tsgi serves, reloads and stops as a master alone does.
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { cleanup, exitedCleanly, freePort, hasLauncher, masterPid, ROOT, RUNTIME, run, until } from './helpers.ts';

afterAll(cleanup);

const APP = 'test/fixtures/apps/echo.ts';
const TSGI = join(ROOT, 'bin/tsgi.js');

/** tsgi on this Node with the bindings its bare binder needs taken away. */
const WITHOUT_BINDINGS = ['--require', join(ROOT, 'test/fixtures/no-bindings.cjs'), TSGI];

async function answers(port: number): Promise<boolean> {
  try {
    return (await fetch(`http://127.0.0.1:${port}/`)).status === 200;
  } catch {
    return false;
  }
}

describe.runIf(RUNTIME === 'node')('a launcher in front of the master', () => {
  test('it binds, the master serves, SIGHUP reloads every worker, SIGTERM stops with code 0', async () => {
    const port = await freePort();
    const p = run(process.execPath, [...WITHOUT_BINDINGS, '--master', '--processes', '2', '--http-socket', `127.0.0.1:${port}`, '--app', APP]);
    await p.waitFor(/tsgi is ready/, 30_000);
    expect(hasLauncher(p)).toBe(true);
    expect(masterPid(p.output())).not.toBe(p.child.pid);
    expect(await answers(port)).toBe(true);
    p.signal('SIGHUP');
    await p.waitFor(/reload done: every worker replaced/, 30_000);
    expect(await until(() => answers(port), 10_000)).toBe(true);
    expect(exitedCleanly(p, await p.stop('SIGTERM'))).toBe(true);
  }, 90_000);
});
