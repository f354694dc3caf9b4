/**
 * Starting tsgi: app forms, --callable, and the one-line errors for what users get wrong.
 */
import { chmodSync, writeFileSync, existsSync, statSync } from 'node:fs';
import net from 'node:net';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { encodePacket } from '../src/codec/index.ts';
import { cleanup, freePort, rawExchange, RUNTIME, startTsgi, tempDir, tsgiFails, exitedCleanly } from './helpers.ts';

afterAll(cleanup);

const get = (path: string) => encodePacket({ REQUEST_METHOD: 'GET', REQUEST_URI: path, HTTP_HOST: 'x' });

describe(`tsgi startup (${RUNTIME})`, () => {
  test('a Hono app picked with --callable app, and the startup lines', async () => {
    const port = await freePort();
    const p = await startTsgi(['--socket', `127.0.0.1:${port}`, '--app', 'examples/hono-app.ts', '--callable', 'app']);
    const out = p.output();
    expect(out).toContain(`uwsgi socket 0 bound to TCP address 127.0.0.1:${port}`);
    expect(out).toMatch(new RegExp(`on ${RUNTIME} \\d+\\.\\d+`));
    expect(out).toMatch(/app 0 \(.*examples\/hono-app\.ts, callable: app\)/);
    const r = await rawExchange({ port }, [get('/hello/tsgi')]);
    expect(r.data.toString()).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(r.data.toString()).toContain('{"hello":"tsgi"}');
    expect(exitedCleanly(p, await p.stop())).toBe(true);
  });

  test('--chdir and --wsgi-file (alias of --app), an object with fetch', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'obj.ts'), `export default { fetch: (req: Request) => new Response('object ' + new URL(req.url).pathname) };\n`);
    const port = await freePort();
    const p = await startTsgi(['--socket', `127.0.0.1:${port}`, '--chdir', dir, '--wsgi-file', 'obj.ts']);
    const r = await rawExchange({ port }, [get('/x')]);
    expect(r.data.toString()).toMatch(/\r\n\r\nobject \/x$/);
    await p.stop();
  });

  test('--buffer-size refuses a larger vars block, says what to raise, and lives on', async () => {
    const port = await freePort();
    const p = await startTsgi(['--socket', `127.0.0.1:${port}`, '--app', 'examples/hello.ts', '--buffer-size', '4096']);
    const big = encodePacket({ REQUEST_METHOD: 'GET', REQUEST_URI: '/', HTTP_HOST: 'x', HTTP_COOKIE: 'c'.repeat(5000) });
    const r = await rawExchange({ port }, [big]);
    expect(r.closed).toBe(true);
    expect(r.data.length).toBe(0);
    await p.waitFor(/--buffer-size/);
    expect(p.output()).toMatch(/5\d\d\d.*4096|4096.*5\d\d\d/);
    const ok = await rawExchange({ port }, [get('/')]);
    expect(ok.data.toString()).toMatch(/^HTTP\/1\.1 200 OK/);
    await p.stop();
  });

  test('--socket-timeout closes a connection that sends no whole request head', async () => {
    const port = await freePort();
    const p = await startTsgi(['--socket', `127.0.0.1:${port}`, '--app', 'examples/hello.ts', '-z', '1']);
    const t0 = Date.now();
    const r = await rawExchange({ port }, [new Uint8Array([0, 100])], 10_000);
    expect(r.closed).toBe(true);
    expect(Date.now() - t0).toBeLessThan(5000);
    await p.waitFor(/sent no whole request within --socket-timeout 1 s: closing/);
    const ok = await rawExchange({ port }, [get('/')]);
    expect(ok.data.toString()).toMatch(/^HTTP\/1\.1 200 OK/);
    await p.stop();
  });

  test('a UNIX socket: bare --chmod-socket means 666, a stale file is replaced, --vacuum removes it', async () => {
    const dir = tempDir();
    const path = join(dir, 's.sock');
    // A stale socket file, as a dead server leaves it: bound, nobody listening.
    execFileSync('python3', ['-c', 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', path]);
    expect(existsSync(path)).toBe(true);
    const p = await startTsgi(['--socket', path, '--chmod-socket', '--vacuum', '--app', 'examples/hello.ts']);
    expect(statSync(path).mode & 0o777).toBe(0o666);
    const r = await rawExchange({ path }, [get('/u')]);
    expect(r.data.toString()).toContain('Hello from tsgi: GET /u');
    // A second server on the same live path is refused.
    const second = await tsgiFails(['--socket', path, '--app', 'examples/hello.ts']);
    expect(second.code).not.toBe(0);
    expect(second.output).toMatch(/a running server answers there/);
    expect(exitedCleanly(p, await p.stop())).toBe(true);
    expect(existsSync(path)).toBe(false);
  });

  test('without --master, SIGTERM waits --reload-mercy for a request in flight, then exits', async () => {
    const dir = tempDir();
    // An answer whose body never ends: the request stays in flight until the process goes.
    writeFileSync(
      join(dir, 'endless.ts'),
      "export default () => new Response(new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode('started\\n')); } }));\n",
    );
    const port = await freePort();
    const p = await startTsgi(['--socket', `127.0.0.1:${port}`, '--reload-mercy', '2', '--app', join(dir, 'endless.ts')]);
    const client = net.connect(port, '127.0.0.1');
    client.on('error', () => {});
    const started = new Promise<void>((resolve) => {
      let seen = '';
      client.on('data', (d) => {
        seen += d.toString('latin1');
        if (seen.includes('started')) resolve();
      });
    });
    client.write(get('/'));
    await started;
    const t0 = Date.now();
    p.signal('SIGTERM');
    await p.waitFor(/requests still running after 2 s: exiting anyway/, 20_000);
    expect((await p.exited).code).toBe(0);
    expect(Date.now() - t0).toBeLessThan(20_000);
    client.destroy();
  });

  test('--chmod-socket=660 sets that mode', async () => {
    const path = join(tempDir(), 'm.sock');
    const p = await startTsgi(['--socket', path, '--chmod-socket=660', '--app', 'examples/hello.ts']);
    expect(statSync(path).mode & 0o777).toBe(0o660);
    await p.stop();
  });
});

describe(`startup errors are one clear line and a non-zero exit (${RUNTIME})`, () => {
  test('a missing app', async () => {
    const r = await tsgiFails(['--socket', '127.0.0.1:0', '--app', 'nope/missing.ts']);
    expect(r.code).not.toBe(0);
    expect(r.output).toMatch(/app not found: nope\/missing\.ts/);
  });

  test('no app at all', async () => {
    const r = await tsgiFails(['--socket', '127.0.0.1:0']);
    expect(r.code).not.toBe(0);
    expect(r.output).toMatch(/no app given/);
  });

  test('a missing callable names the exports', async () => {
    const r = await tsgiFails(['--socket', '127.0.0.1:0', '--app', 'examples/hono-app.ts', '--callable', 'application']);
    expect(r.code).not.toBe(0);
    expect(r.output).toMatch(/no export named 'application' \(its exports: app\)/);
  });

  test('an export that is not a handler', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'bad.ts'), 'export default 42;\n');
    const r = await tsgiFails(['--socket', '127.0.0.1:0', '--app', join(dir, 'bad.ts')]);
    expect(r.code).not.toBe(0);
    expect(r.output).toMatch(/is a number, not a fetch handler/);
  });

  test('an app that fails to load', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'throws.ts'), 'throw new Error("cannot start: no DATABASE_URL");\nexport default () => new Response("x");\n');
    const r = await tsgiFails(['--socket', '127.0.0.1:0', '--app', join(dir, 'throws.ts')]);
    expect(r.code).not.toBe(0);
    expect(r.output).toMatch(/cannot load app .*throws\.ts: cannot start: no DATABASE_URL/);
  });

  test('a port in use', async () => {
    const busy = net.createServer();
    const port = await new Promise<number>((r) => busy.listen(0, '127.0.0.1', () => r((busy.address() as net.AddressInfo).port)));
    try {
      const r = await tsgiFails(['--socket', `127.0.0.1:${port}`, '--app', 'examples/hello.ts']);
      expect(r.code).not.toBe(0);
      expect(r.output).toMatch(new RegExp(`cannot bind TCP address 127\\.0\\.0\\.1:${port}: address already in use`));
    } finally {
      busy.close();
    }
  });

  // Node (libuv) reports a missing directory as "permission denied", Bun as "Failed to listen":
  // the line says what is wrong on every runtime and at every bind site.
  test.each([
    ['--socket', ['--socket', '/nonexistent-dir-for-tsgi/sub/app.sock']],
    ['--http-socket', ['--http-socket', '/nonexistent-dir-for-tsgi/sub/app.sock']],
    ['--socket with --master (bound for the workers)', ['--master', '--socket', '/nonexistent-dir-for-tsgi/sub/app.sock']],
    ['--http-socket with --master', ['--master', '--http-socket', '/nonexistent-dir-for-tsgi/sub/app.sock']],
    ['--http (the router)', ['--http', '/nonexistent-dir-for-tsgi/sub/app.sock']],
  ])('a UNIX socket path in a directory that does not exist: %s', async (_name, args) => {
    const r = await tsgiFails([...args, '--app', 'examples/hello.ts']);
    expect(r.code).not.toBe(0);
    expect(r.output).toContain('cannot create UNIX socket /nonexistent-dir-for-tsgi/sub/app.sock: the directory /nonexistent-dir-for-tsgi/sub does not exist');
    expect(r.output).not.toMatch(/permission denied|Failed to listen/);
  });

  test('--stats on a UNIX path in a directory that does not exist', async () => {
    const r = await tsgiFails(['--socket', '127.0.0.1:0', '--stats', '/nonexistent-dir-for-tsgi/stats.sock', '--app', 'examples/hello.ts']);
    expect(r.code).not.toBe(0);
    expect(r.output).toContain(
      '--stats /nonexistent-dir-for-tsgi/stats.sock: cannot create UNIX socket /nonexistent-dir-for-tsgi/stats.sock: the directory /nonexistent-dir-for-tsgi does not exist',
    );
  });

  test('a UNIX socket path under a file', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'file'), 'x');
    const r = await tsgiFails(['--socket', join(dir, 'file', 'app.sock'), '--app', 'examples/hello.ts']);
    expect(r.code).not.toBe(0);
    expect(r.output).toContain(`cannot create UNIX socket ${join(dir, 'file', 'app.sock')}: ${join(dir, 'file')} is not a directory`);
  });

  test.skipIf(process.getuid?.() === 0)('a UNIX socket in a directory this user cannot write (skipped as root: root writes everywhere)', async () => {
    const dir = tempDir();
    chmodSync(dir, 0o555);
    const r = await tsgiFails(['--socket', join(dir, 'app.sock'), '--app', 'examples/hello.ts']);
    expect(r.code).not.toBe(0);
    expect(r.output).toContain(`cannot create UNIX socket ${join(dir, 'app.sock')}: permission denied: this user cannot create files in ${dir}`);
  });

  test('a host name that does not resolve', async () => {
    const r = await tsgiFails(['--http-socket', 'no-such-host.invalid:3031', '--app', 'examples/hello.ts']);
    expect(r.code).not.toBe(0);
    expect(r.output).toContain('cannot bind TCP address no-such-host.invalid:3031: the host name no-such-host.invalid does not resolve');
  });

  test('nothing to serve on', async () => {
    const r = await tsgiFails(['--app', 'examples/hello.ts']);
    expect(r.code).not.toBe(0);
    expect(r.output).toMatch(/nothing to serve on/);
  });
});
