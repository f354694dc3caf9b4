// Resolving --uid, --gid and --chown-socket from passwd/group text, and the startup refusal of
// a runtime that cannot change its user (a stand-in runtime: every runtime here can, measured).
import { describe, expect, test } from 'vitest';
import type { Identity, Runtime } from '../../runtimes/types.ts';
import { ConfigError, loadConfig } from '../../src/config/index.ts';
import { Accounts, parseGroup, parsePasswd, resolveIdentity, resolveOwner } from '../../src/privilege/accounts.ts';
import { checkIdentity, dropPrivileges } from '../../src/privilege/drop.ts';

const PASSWD =
  'root:x:0:0:root:/root:/bin/bash\nwww-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\nbroken line\n';
const GROUP = 'root:x:0:\nwww-data:x:33:\nssl-cert:x:110:www-data,postgres\nnogroup:x:65534:\nadm:x:4:syslog,www-data\n';
const accounts = new Accounts(parsePasswd(PASSWD), parseGroup(GROUP));

describe('accounts', () => {
  test('a user name: its uid, primary group and supplementary groups (initgroups)', () => {
    expect(resolveIdentity(accounts, 'www-data', undefined)).toEqual({ uid: 33, gid: 33, groups: [33, 110, 4] });
    expect(resolveIdentity(accounts, '33', undefined)).toEqual({ uid: 33, gid: 33, groups: [33, 110, 4] });
  });
  test('--gid replaces the primary group; --gid alone sets only the group', () => {
    expect(resolveIdentity(accounts, 'nobody', 'nogroup')).toEqual({ uid: 65534, gid: 65534, groups: [65534] });
    expect(resolveIdentity(accounts, 'www-data', '65534')).toEqual({ uid: 33, gid: 65534, groups: [65534, 110, 4] });
    expect(resolveIdentity(accounts, undefined, 'ssl-cert')).toEqual({ gid: 110, groups: [110] });
    expect(resolveIdentity(accounts, undefined, undefined)).toBeNull();
  });
  test('a number with no entry stands for itself, but then needs --gid', () => {
    expect(resolveIdentity(accounts, '4242', '4243')).toEqual({ uid: 4242, gid: 4243, groups: [4243] });
    expect(() => resolveIdentity(accounts, '4242', undefined)).toThrow(/--uid 4242: .*give --gid too/);
  });
  test('unknown names: a ConfigError that says where to look', () => {
    expect(() => resolveIdentity(accounts, 'nosuch', undefined)).toThrow(ConfigError);
    expect(() => resolveIdentity(accounts, 'nosuch', undefined)).toThrow('--uid nosuch: no such user in /etc/passwd');
    expect(() => resolveIdentity(accounts, 'nobody', 'nosuch')).toThrow('--gid nosuch: no such group in /etc/group');
  });
  test('--chown-socket USER[:GROUP]', () => {
    expect(resolveOwner(accounts, 'www-data')).toEqual({ uid: 33, gid: 33 });
    expect(resolveOwner(accounts, 'www-data:ssl-cert')).toEqual({ uid: 33, gid: 110 });
    expect(resolveOwner(accounts, undefined)).toBeUndefined();
    expect(() => resolveOwner(accounts, 'www-data:nosuch')).toThrow('--chown-socket nosuch: no such group');
  });
});

/** A runtime that only answers the identity questions. */
function fakeRuntime(o: { uid: number; gid?: number; problem?: string | null; set?: (id: Identity) => void }): Runtime {
  const rt = {
    pid: 1,
    ids: () => ({ uid: o.uid, gid: o.gid ?? o.uid }),
    identityProblem: () => o.problem ?? null,
    setIdentity: o.set ?? (() => {}),
  };
  return rt as unknown as Runtime;
}

describe('the drop', () => {
  const nobody: Identity = { uid: 65534, gid: 65534, groups: [65534] };
  test('a runtime that cannot change its user: --uid refused at startup with its reason', () => {
    const rt = fakeRuntime({ uid: 0, problem: 'Xrt cannot change its user: no setuid; run tsgi under systemd User= instead' });
    expect(() => checkIdentity(rt, nobody)).toThrow(ConfigError);
    expect(() => checkIdentity(rt, nobody)).toThrow('--uid/--gid: Xrt cannot change its user: no setuid; run tsgi under systemd User= instead');
  });
  test('not root: refused, unless it is that user already', () => {
    expect(() => checkIdentity(fakeRuntime({ uid: 1000 }), nobody)).toThrow('only root can change its user: tsgi runs as uid 1000');
    expect(() => checkIdentity(fakeRuntime({ uid: 65534 }), nobody)).not.toThrow();
  });
  test('dropPrivileges: once, with the whole identity; a child of a dropped master does nothing', () => {
    const calls: Identity[] = [];
    dropPrivileges(fakeRuntime({ uid: 0, set: (id) => calls.push(id) }), nobody, 'test');
    dropPrivileges(fakeRuntime({ uid: 65534, set: (id) => calls.push(id) }), nobody, 'test');
    dropPrivileges(fakeRuntime({ uid: 0, set: (id) => calls.push(id) }), undefined, 'test');
    expect(calls).toEqual([nobody]);
  });
  test('a refusal by the system is a clear line naming the process', () => {
    const rt = fakeRuntime({
      uid: 0,
      set: () => {
        throw new Error('EPERM, Operation not permitted');
      },
    });
    expect(() => dropPrivileges(rt, nobody, 'tsgi worker 1')).toThrow('tsgi worker 1 (pid: 1): cannot become uid 65534, gid 65534, groups 65534: EPERM');
  });
});

describe('the options, from every source', () => {
  test('command line and environment reach the fields (ini/JSON keys are the same table)', () => {
    const cmd = loadConfig(
      ['--uid', 'nobody', '--umask', '027', '--trusted-proxy', '10.0.0.0/8', '--trusted-proxy', '::1'],
      { UWSGI_GID: 'nogroup', TSGI_CHOWN_SOCKET: 'www-data:www-data' },
      '/',
    );
    if (cmd.kind !== 'serve') throw new Error('expected serve');
    expect(cmd.options).toMatchObject({ uid: 'nobody', gid: 'nogroup', umask: 0o27, chownSocket: 'www-data:www-data', trustedProxy: ['10.0.0.0/8', '::1'] });
    expect(() => loadConfig(['--trusted-proxy', 'example.com'], {}, '/')).toThrow("--trusted-proxy: trusted-proxy: 'example.com' is not an IP address");
  });
});
