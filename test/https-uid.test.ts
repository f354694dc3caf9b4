/**
 * --https / --https-socket with --uid: the serving processes read the certificates as the user
 * after the privilege drop, so the launcher (still root) checks that the user can reach and read
 * every file: a root-only key, or a key in a directory only root can enter, stops tsgi at
 * startup with one line naming the path and the fix; a key the user's group can read serves as
 * nobody. The tests need root (they run as root in CI and here).
 */
import { chmodSync, chownSync, copyFileSync, mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { cleanup, freePort, ROOT, RUNTIME, startTsgi, tempDir, tsgiFails } from './helpers.ts';
import { curl, makeCerts, type TestCerts } from './tls-helpers.ts';

const APP = join(ROOT, 'test/fixtures/apps/identity.ts');
const NOBODY = 65534;
const isRoot = process.getuid?.() === 0;
const AS_NOBODY = ['--uid', 'nobody', '--gid', 'nogroup'];

let certs: TestCerts;
beforeAll(() => {
  certs = makeCerts();
});
afterAll(cleanup);

/** A copy of the a.test certificate and key in `dir`, the key root:GID with `mode`. */
function keyIn(dir: string, gid: number, mode: number): { cert: string; key: string } {
  const cert = join(dir, 'fullchain.pem');
  const key = join(dir, 'privkey.pem');
  copyFileSync(certs.a.cert, cert);
  copyFileSync(certs.a.key, key);
  chmodSync(cert, 0o644);
  chownSync(key, 0, gid);
  chmodSync(key, mode);
  return { cert, key };
}

function uidOf(pid: number): string {
  const line = /^Uid:\s*(.*)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? '';
  return line.trim().replace(/\s+/g, ' ');
}

describe.skipIf(!isRoot)(`HTTPS with --uid (${RUNTIME}; needs root)`, () => {
  test('a key only root can read: --https and --https-socket stop at startup with one line naming the key and the fix', async () => {
    const { cert, key } = keyIn(tempDir(), 0, 0o600);
    const router = await tsgiFails([...AS_NOBODY, '--https', `127.0.0.1:${await freePort()},${cert},${key}`, '--app', APP]);
    expect(router.code).not.toBe(0);
    expect(router.output).toContain(`--https: nobody (--uid) cannot read ${key} (root:root, mode 0600)`);
    expect(router.output).toContain(`give its group access: chgrp nogroup ${key} && chmod g+r ${key}`);
    expect(router.output).not.toContain('spawned');
    const socket = await tsgiFails([...AS_NOBODY, '--https-socket', `127.0.0.1:${await freePort()},${cert},${key}`, '--app', APP]);
    expect(socket.code).not.toBe(0);
    expect(socket.output).toContain(`--https-socket: nobody (--uid) cannot read ${key}`);
  }, 120_000);

  test('a readable key in a directory only root can enter (/etc/letsencrypt-style 0700): the directory is named', async () => {
    const live = join(tempDir(), 'live');
    mkdirSync(live, { mode: 0o700 });
    chmodSync(live, 0o700);
    const { cert, key } = keyIn(live, NOBODY, 0o640);
    const r = await tsgiFails([...AS_NOBODY, '--https', `127.0.0.1:${await freePort()},${cert},${key}`, '--app', APP]);
    expect(r.code).not.toBe(0);
    expect(r.output).toContain(`--https: nobody (--uid) cannot enter the directory ${live} (root:root, mode 0700)`);
    expect(r.output).toContain(`chgrp nogroup ${live} && chmod g+x ${live}`);
  }, 60_000);

  test('a symlinked key (live/ -> archive/, as certbot makes them) in a directory only root can enter: the target directory is named', async () => {
    const dir = tempDir();
    const [live, archive] = [join(dir, 'live'), join(dir, 'archive')];
    mkdirSync(live);
    chmodSync(live, 0o755);
    mkdirSync(archive);
    chmodSync(archive, 0o700);
    const { cert, key } = keyIn(archive, NOBODY, 0o640);
    symlinkSync(cert, join(live, 'fullchain.pem'));
    symlinkSync(key, join(live, 'privkey.pem'));
    const r = await tsgiFails([...AS_NOBODY, '--https', `127.0.0.1:${await freePort()},live/fullchain.pem,live/privkey.pem`, '--app', APP], {
      cwd: dir,
    });
    expect(r.code).not.toBe(0);
    expect(r.output).toContain(`--https: nobody (--uid) cannot enter the directory ${archive} (root:root, mode 0700)`);
  }, 60_000);

  test('a key the group nogroup can read (root:nogroup 0640): --https and --https-socket serve as nobody', async () => {
    const { cert, key } = keyIn(tempDir(), NOBODY, 0o640);
    const [routerPort, socketPort] = [await freePort(), await freePort()];
    const p = await startTsgi([
      ...AS_NOBODY,
      '--https',
      `127.0.0.1:${routerPort},${cert},${key}`,
      '--https-socket',
      `127.0.0.1:${socketPort},${cert},${key}`,
      '--app',
      APP,
    ]);
    for (const port of [routerPort, socketPort]) {
      const r = await curl(`https://localhost:${port}/`, ['--resolve', `localhost:${port}:127.0.0.1`], certs.ca);
      expect({ port, status: r.status }).toEqual({ port, status: 200 });
      const answer = JSON.parse(r.body) as { pid: number; url: string; status: { Uid: string } };
      expect(answer.url).toBe(`https://localhost:${port}/`);
      expect(answer.status.Uid).toBe('65534 65534 65534 65534');
      expect(uidOf(answer.pid)).toBe('65534 65534 65534 65534');
    }
    const router = Number(/spawned tsgi http router \(pid: (\d+)\)/.exec(p.output())?.[1]);
    expect(uidOf(router)).toBe('65534 65534 65534 65534');
    await p.stop();
  }, 120_000);
});
