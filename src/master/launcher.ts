/**
 * Starting with --master. The process the user started binds every socket, hands the bare fds
 * to the master (a child in a process group of its own) and closes its own copies: a process
 * holding a listening Server would keep accepting, the master must not (DESIGN.md). It then
 * stays as a thin parent that forwards signals and exits with the master's exit code.
 *
 * Sockets from systemd (LISTEN_FDS/LISTEN_PID) are already bare fds: then this process is the
 * master itself.
 */
import type { InheritableSocket, Runtime, Signal } from '../../runtimes/types.ts';
import { ConfigError } from '../config/index.ts';
import { log, reopenLog } from '../log.ts';
import { bindWith, formatAddress } from '../worker/bind.ts';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NOTHING_TO_SERVE, type Proto, reusePortHttp, socketSpecs, type ServeOptions } from '../worker/server.ts';
import { runMaster } from './master.ts';
import { type ChildState, type InheritedSocket, type MasterOptions, type RouterState, STATE_ENV } from './protocol.ts';

/** systemd socket activation: fds 3… when LISTEN_PID is this process. */
export function systemdFds(pid: number, env: Record<string, string | undefined>): number[] | null {
  const n = Number(env.LISTEN_FDS ?? '');
  if (!Number.isInteger(n) || n <= 0) return null;
  if (env.LISTEN_PID !== undefined && Number(env.LISTEN_PID) !== pid) return null;
  return Array.from({ length: n }, (_, i) => 3 + i);
}

/**
 * systemd's fds as sockets: matched in order with --socket, then --http-socket options (all
 * uwsgi when none are given).
 */
export function activatedSockets(fds: number[], serve: ServeOptions): InheritedSocket[] {
  const specs = socketSpecs(serve);
  if (specs.length > 0 && specs.length !== fds.length) {
    throw new ConfigError(
      `systemd passed ${fds.length} socket(s) (LISTEN_FDS) but ${specs.length} --socket/--http-socket option(s) are given: make them match, or give none`,
    );
  }
  const sockets: InheritedSocket[] = fds.map((fd, i) => ({
    proto: specs[i]?.proto ?? 'uwsgi',
    spec: specs[i]?.spec ?? `fd ${fd}`,
    fd,
    display: `inherited fd ${fd} (systemd)`,
  }));
  sockets.forEach((s, i) => log(`${s.proto} socket ${i} is ${s.display}`));
  return sockets;
}

const MIGRATE_REQ = '/proc/sys/net/ipv4/tcp_migrate_req';

/**
 * --reuse-port without the kernel's accept-queue migration: say what it costs, once. tsgi does
 * not change the setting (it is the system's, per network namespace, and needs root).
 */
function warnMigrateReq(): void {
  let value: string;
  try {
    value = readFileSync(MIGRATE_REQ, 'utf8').trim();
  } catch {
    log('tsgi: --reuse-port: this kernel has no net.ipv4.tcp_migrate_req (Linux 5.14+): a worker that stops resets the connections queued on its socket');
    return;
  }
  if (value === '1') return;
  log(
    `tsgi: --reuse-port: net.ipv4.tcp_migrate_req is ${value}: a worker that stops (reload, recycle, crash) resets the connections queued on its socket; \`sysctl -w net.ipv4.tcp_migrate_req=1\` (root) hands them to the other workers`,
  );
}

export async function runLauncher(rt: Runtime, serve: ServeOptions, master: MasterOptions, cwd: string): Promise<void> {
  const activated = systemdFds(rt.pid, process.env);
  if (activated) {
    const sockets = activatedSockets(activated, serve);
    delete process.env.LISTEN_FDS;
    delete process.env.LISTEN_PID;
    delete process.env.LISTEN_FDNAMES;
    return runMaster(rt, { role: 'master', serve, master, sockets, cwd });
  }

  const specs = socketSpecs(serve);
  if (specs.length === 0 && !master.http) {
    throw new ConfigError(NOTHING_TO_SERVE);
  }
  const sockets: InheritedSocket[] = [];
  const handles: InheritableSocket[] = [];
  let router: RouterState | undefined;

  /** Bind one socket: an fd for the children, or (the runtime's own HTTP server) a port to share. */
  async function bindOne(proto: Proto, spec: string, what: string): Promise<{ socket: InheritedSocket; port: number }> {
    const { address, bound: handle } = await bindWith(rt, spec, cwd, (t) => rt.bindInheritable(t, { backlog: serve.listen }), {
      mode: serve.chmodSocket,
      backlog: serve.listen,
    });
    const actual = address.kind === 'tcp' && handle.address.kind === 'tcp' ? { ...address, port: handle.address.port } : address;
    const port = actual.kind === 'tcp' ? actual.port : 0;
    const display = actual.kind === 'unix' ? `UNIX address ${actual.path}` : `TCP address ${formatAddress(actual)}`;
    if (proto === 'http' && actual.kind === 'tcp' && reusePortHttp(rt, serve)) {
      // --reuse-port: each process binds the port for the runtime's own HTTP server. Binding
      // it here first makes "address in use" fail now, with one line.
      await handle.close();
      log(`${what} bound to ${display} (${rt.name}'s own HTTP server, SO_REUSEPORT: --reuse-port)`);
      return { socket: { proto, spec, reuse: { host: actual.host, port }, display }, port };
    }
    const mode = actual.kind === 'unix' && serve.chmodSocket !== undefined ? ` (mode ${serve.chmodSocket.toString(8)})` : '';
    log(`${what} bound to ${display}${mode}`);
    handles.push(handle);
    return { socket: { proto, spec, fd: 2 + handles.length, display, unixPath: actual.kind === 'unix' ? actual.path : undefined }, port };
  }

  try {
    for (const { proto, spec } of specs) sockets.push((await bindOne(proto, spec, `${proto} socket ${sockets.length}`)).socket);
    if (master.http) {
      const { socket: listen, port } = await bindOne('http', master.http.address, 'http router');
      // The workers' side of the router: a uwsgi socket in a directory only we can enter.
      const upstream = join(mkdtempSync(join(tmpdir(), 'tsgi-')), 'uwsgi.sock');
      sockets.push((await bindOne('uwsgi', upstream, `uwsgi socket ${sockets.length} (the router's, internal)`)).socket);
      router = { listen, upstream, port, timeout: master.http.timeout, staticMaps: master.http.staticMaps };
    }
  } catch (e) {
    await Promise.all(handles.map((h) => h.close()));
    throw e;
  }
  if ([...sockets, ...(router ? [router.listen] : [])].some((s) => 'reuse' in s)) warnMigrateReq();

  const state: ChildState = { role: 'master', serve, master, sockets, cwd, router };
  const child = rt.spawnSelf({
    args: [process.argv[1]],
    env: { ...(process.env as Record<string, string>), [STATE_ENV]: JSON.stringify(state) },
    fds: handles.map((h) => h.fd),
    ipc: true,
    detached: true,
  });
  await Promise.all(handles.map((h) => h.close()));

  const forward: Array<Exclude<Signal, 'SIGKILL'>> = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR2'];
  if (rt.name !== 'deno') forward.push('SIGUSR1');
  for (const sig of forward) rt.onSignal(sig, () => child.kill(sig));
  rt.onSignal('SIGHUP', reopenLog);
  let reported: number | undefined;
  child.onMessage = (m) => {
    if ((m as { t?: string }).t === 'exit') reported = (m as { code: number }).code;
  };
  const how = await child.exited;
  rt.exit(reported ?? how.code ?? 1);
}
