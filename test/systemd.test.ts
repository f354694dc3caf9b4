/**
 * systemd socket activation with the unit pair in examples/systemd: the files pass
 * `systemd-analyze verify`, and the service's tsgi arguments run under systemd-socket-activate
 * (which hands over LISTEN_FDS/LISTEN_PID exactly as systemd does).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { encodePacket } from '../src/codec/index.ts';
import { cleanup, exitedCleanly, rawExchange, ROOT, run, RUNTIME, tempDir, tsgiCommand } from './helpers.ts';

const ACTIVATE = '/usr/bin/systemd-socket-activate';
const unit = (name: string) => readFileSync(join(ROOT, 'examples/systemd', name), 'utf8');

afterAll(cleanup);

describe(`systemd socket activation (${RUNTIME})`, () => {
  test('the unit files pass systemd-analyze verify', () => {
    const out = execFileSync('systemd-analyze', ['verify', join(ROOT, 'examples/systemd/tsgi.socket'), join(ROOT, 'examples/systemd/tsgi.service')], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    expect(out).toBe('');
  });

  test("the service's tsgi arguments serve the socket systemd hands over; the master never accepts", async () => {
    expect(existsSync(ACTIVATE)).toBe(true);
    const exec = /^ExecStart=.*?tsgi\.js (.*)$/m.exec(unit('tsgi.service'));
    expect(exec).not.toBeNull();
    const args = (exec as RegExpExecArray)[1].split(/\s+/).map((a) => (a === 'app.ts' ? join(ROOT, 'test/fixtures/apps/echo.ts') : a));
    expect(/^ListenStream=\/run\/tsgi\/app\.sock$/m.test(unit('tsgi.socket'))).toBe(true);
    const sock = join(tempDir(), 'app.sock');
    const [cmd, pre] = tsgiCommand();
    const p = run(ACTIVATE, ['-l', sock, cmd, ...pre, ...args]);
    // Like systemd, systemd-socket-activate starts the service on the first connection, which
    // waits in the socket's queue until a worker takes it.
    await p.waitFor(/Listening on/);
    const first = await rawExchange({ path: sock }, [encodePacket({ REQUEST_METHOD: 'GET', REQUEST_URI: '/echo', HTTP_HOST: 'x' })], 30_000);
    expect(first.data.toString()).toMatch(/^HTTP\/1\.1 200 OK/);
    await p.waitFor(/tsgi is ready/, 30_000);
    expect(p.output()).toContain('uwsgi socket 0 is inherited fd 3 (systemd)');
    const master = Number(/tsgi master \(pid: (\d+)\)/.exec(p.output())?.[1]);
    expect(master).toBe(p.child.pid); // LISTEN_PID names the process systemd started
    const pids = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const r = await rawExchange({ path: sock }, [encodePacket({ REQUEST_METHOD: 'GET', REQUEST_URI: '/pid', HTTP_HOST: 'x' })]);
      expect(r.data.toString()).toMatch(/^HTTP\/1\.1 200 OK/);
      pids.add(r.data.toString().split('\r\n\r\n')[1]);
    }
    expect(pids.has(String(master))).toBe(false);
    expect(exitedCleanly(p, await p.stop('SIGTERM'))).toBe(true);
  });

  test('without --master too, and a --socket count that does not match is refused', async () => {
    const sock = join(tempDir(), 'one.sock');
    const [cmd, pre] = tsgiCommand();
    const p = run(ACTIVATE, ['-l', sock, cmd, ...pre, '--app', join(ROOT, 'examples/hello.ts')]);
    await p.waitFor(/Listening on/);
    const r = await rawExchange({ path: sock }, [encodePacket({ REQUEST_METHOD: 'GET', REQUEST_URI: '/sd', HTTP_HOST: 'x' })], 30_000);
    expect(r.data.toString()).toContain('Hello from tsgi: GET /sd');
    await p.stop();
    const two = join(tempDir(), 'two.sock');
    const bad = run(ACTIVATE, ['-l', two, cmd, ...pre, '--master', '--socket', ':1', '--socket', ':2', '--app', 'examples/hello.ts']);
    await bad.waitFor(/Listening on/);
    void rawExchange({ path: two }, [new Uint8Array(0)], 5000);
    await bad.waitFor(
      /systemd passed 1 socket\(s\) \(LISTEN_FDS\) but 2 --socket\/--http-socket\/--fastcgi-socket\/--scgi-socket option\(s\) are given/,
      20_000,
    );
    const { code } = await bad.exited;
    expect(code).not.toBe(0);
  });
});
