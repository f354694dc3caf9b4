// --uid, --gid, --chown-socket, --umask: every tsgi process runs as the user once the sockets are
// bound (read from /proc/PID/status), the app cannot write root's files, every socket is still
// served, a reload works after the drop. The tests need root (they run as root in CI and here).
import { existsSync, readFileSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { encodePacket } from '../src/codec/index.ts';
import { cleanup, fetchFresh, freePort, masterPid, rawExchange, ROOT, RUNTIME, run, startTsgi, tempDir, tsgiCommand, tsgiFails, until } from './helpers.ts';

afterAll(cleanup);

const APP = join(ROOT, 'test/fixtures/apps/identity.ts');
const NOBODY = 65534;
const isRoot = process.getuid?.() === 0;
const WARNING = '*** WARNING: you are running tsgi as root !!! (use the --uid flag) ***';

function ids(pid: number): { uid: number[]; gid: number[]; groups: number[] } {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) =>
    (new RegExp(`^${name}:(.*)$`, 'm').exec(text)?.[1] ?? '')
      .trim()
      .split(/\s+/)
      .filter((s) => s !== '')
      .map(Number);
  return { uid: field('Uid'), gid: field('Gid'), groups: field('Groups') };
}

/** A port below 1024 that is free on 127.0.0.1 (900–999), or null. */
async function privilegedPort(): Promise<number | null> {
  for (let port = 900; port < 1000; port++) {
    const free = await new Promise<boolean>((resolve) => {
      const s = net.createServer();
      s.once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (free) return port;
  }
  return null;
}

/** The stats document from a UNIX stats socket. */
function statsDoc(path: string): Promise<{ uid: number; gid: number; workers: Array<{ pid: number }> }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(path);
    let text = '';
    s.on('data', (d) => (text += d.toString()));
    s.on('error', reject);
    s.on('close', () => resolve(JSON.parse(text) as { uid: number; gid: number; workers: Array<{ pid: number }> }));
  });
}

interface AppAnswer {
  pid: number;
  url: string;
  status: { Uid: string; Gid: string; Groups: string };
  write: string;
}

async function uwsgiGet(path: string, uri: string): Promise<string> {
  const packet = encodePacket({
    REQUEST_METHOD: 'GET',
    REQUEST_URI: uri,
    PATH_INFO: uri.split('?')[0],
    QUERY_STRING: uri.split('?')[1] ?? '',
    SERVER_PROTOCOL: 'HTTP/1.1',
    HTTP_HOST: 'x',
    SERVER_NAME: 'x',
    SERVER_PORT: '80',
  });
  const { data } = await rawExchange({ path }, [packet]);
  return data.toString();
}

describe.skipIf(!isRoot)(`privilege drop (${RUNTIME}; needs root)`, () => {
  test('--uid nobody --gid nogroup: launcher, master, router and workers run as nobody; sockets served; reload works after the drop', async () => {
    const dir = tempDir();
    const rootFile = join(dir, 'root-owned');
    writeFileSync(rootFile, 'root\n');
    chmodSync(rootFile, 0o644);
    const sock = join(dir, 'app.sock');
    const stats = join(dir, 'stats.sock');
    const logfile = join(dir, 'tsgi.log');
    const port = (await privilegedPort()) ?? (await freePort());
    const [cmd, pre] = tsgiCommand();
    const p = run(cmd, [
      ...pre,
      '--uid',
      'nobody',
      '--gid',
      'nogroup',
      '--master',
      '--processes',
      '2',
      '--http',
      `127.0.0.1:${port}`,
      '--socket',
      sock,
      '--stats',
      stats,
      '--chown-socket',
      'nobody:nogroup',
      '--umask',
      '027',
      '--logto',
      logfile,
      '--app',
      APP,
    ]);
    const launcher = p.child.pid as number;
    const log = () => (existsSync(logfile) ? readFileSync(logfile, 'utf8') : '');
    // The launcher (Node, Deno; on Bun the process started is the master) drops once the master says it has.
    const dropped = () => masterPid(log()) === launcher || /tsgi launcher \(pid: \d+\): now running as uid 65534/.test(log());
    const up = () => log().includes('tsgi is ready') && dropped();
    expect(await until(up, 90_000), log()).toBe(true);
    const master = Number(/master pid (\d+)/.exec(log())?.[1]);
    const router = Number(/spawned tsgi http router \(pid: (\d+)\)/.exec(log())?.[1]);
    const doc = await statsDoc(stats);
    // The stats document says who the master runs as, as uWSGI's does.
    expect({ uid: doc.uid, gid: doc.gid }).toEqual({ uid: NOBODY, gid: NOBODY });
    const workers = doc.workers.map((w) => w.pid);
    expect(workers).toHaveLength(2);
    for (const pid of [launcher, master, router, ...workers]) {
      const who = ids(pid);
      expect({ pid, ...who }).toEqual({ pid, uid: [NOBODY, NOBODY, NOBODY, NOBODY], gid: [NOBODY, NOBODY, NOBODY, NOBODY], groups: [NOBODY] });
    }
    expect(log()).not.toContain(WARNING);

    // The app runs as nobody: root's 0644 file is not writable; the --http port (privileged when one was free) serves.
    const viaHttp = (await (await fetchFresh(`http://127.0.0.1:${port}/?write=${encodeURIComponent(rootFile)}`)).json()) as AppAnswer;
    expect(viaHttp.write).toBe('EACCES');
    expect(viaHttp.status.Uid).toBe('65534 65534 65534 65534');
    expect(readFileSync(rootFile, 'utf8')).toBe('root\n');
    // The --socket (uwsgi) is served too.
    expect(await uwsgiGet(sock, `/?write=${encodeURIComponent(rootFile)}`)).toContain('"write":"EACCES"');

    // --chown-socket: the UNIX sockets tsgi made belong to nobody:nogroup; --umask 027: no access for others.
    for (const path of [sock, stats]) {
      const st = statSync(path);
      expect({ path, uid: st.uid, gid: st.gid }).toEqual({ path, uid: NOBODY, gid: NOBODY });
    }
    expect(statSync(sock).mode & 0o777).toBe(0o750);
    // The --logto file is the user's: every process (the respawned ones too) still writes to it.
    expect(statSync(logfile).uid).toBe(NOBODY);

    // SIGHUP: a master that is not root any more respawns workers that serve the inherited sockets.
    p.signal('SIGHUP');
    expect(await until(() => log().includes('reload done: every worker replaced'), 60_000)).toBe(true);
    const fresh = (await statsDoc(stats)).workers.map((w) => w.pid);
    expect(fresh.some((pid) => workers.includes(pid))).toBe(false);
    for (const pid of fresh) expect(ids(pid).uid).toEqual([NOBODY, NOBODY, NOBODY, NOBODY]);
    const after = (await (await fetchFresh(`http://127.0.0.1:${port}/`)).json()) as AppAnswer;
    expect(fresh).toContain(after.pid);
    expect(await uwsgiGet(sock, '/')).toContain('"Uid":"65534 65534 65534 65534"');
    console.log(`[${RUNTIME}] --uid nobody: --http on port ${port}${port < 1024 ? ' (privileged)' : ' (no free port below 1024)'}`);
    await p.stop();
  }, 180_000);

  test('as root without --uid: the warning, once', async () => {
    const port = await freePort();
    const p = await startTsgi(['--http-socket', `127.0.0.1:${port}`, '--app', APP]);
    expect(p.output().split(WARNING).length - 1).toBe(1);
    const answer = (await (await fetchFresh(`http://127.0.0.1:${port}/`)).json()) as AppAnswer;
    expect(answer.status.Uid).toBe('0 0 0 0');
    await p.stop();
  }, 60_000);

  test('one process without a master: --chown-socket and --umask apply to the sockets it binds', async () => {
    const dir = tempDir();
    const sock = join(dir, 'one.sock');
    const p = await startTsgi(['--socket', sock, '--chown-socket', 'nobody', '--umask', '077', '--app', APP]);
    const st = statSync(sock);
    expect({ uid: st.uid, gid: st.gid, mode: st.mode & 0o777 }).toEqual({ uid: NOBODY, gid: NOBODY, mode: 0o700 });
    await p.stop();
  }, 60_000);

  test('an unknown user or group: a clear line at startup, nothing started', async () => {
    const port = await freePort();
    const user = await tsgiFails(['--uid', 'no-such-user-tsgi', '--http-socket', `127.0.0.1:${port}`, '--app', APP]);
    expect(user.code).not.toBe(0);
    expect(user.output).toContain('--uid no-such-user-tsgi: no such user in /etc/passwd');
    const group = await tsgiFails(['--uid', 'nobody', '--gid', 'no-such-group-tsgi', '--http-socket', `127.0.0.1:${port}`, '--app', APP]);
    expect(group.output).toContain('--gid no-such-group-tsgi: no such group in /etc/group');
    expect(group.output).not.toContain('bound to');
  }, 60_000);

  // Only Deno has a switch that takes the ability away (its node:process has no setgroups: tsgi
  // sets the groups through FFI, which needs --allow-ffi); the refusal itself is unit-tested on
  // every runtime (test/unit/privilege.test.ts).
  test.skipIf(RUNTIME !== 'deno')(
    'Deno without --allow-ffi: --uid is refused with a clear line, never run as root',
    async () => {
      const port = await freePort();
      const perms = ['--allow-read', '--allow-write', '--allow-net', '--allow-env', '--allow-run', '--allow-sys'];
      const p = run(process.execPath, ['run', ...perms, join(ROOT, 'bin/tsgi.js'), '--uid', 'nobody', '--http-socket', `127.0.0.1:${port}`, '--app', APP]);
      const { code } = await p.exited;
      expect(code).not.toBe(0);
      expect(p.output()).toContain('Deno cannot change its user here');
      expect(p.output()).toContain('systemd User=');
      expect(p.output()).not.toContain('tsgi is ready');
    },
    60_000,
  );
});
