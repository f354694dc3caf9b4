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
import { log } from '../log.ts';
import { bindWith, formatAddress } from '../worker/bind.ts';
import { NOTHING_TO_SERVE, type ServeOptions } from '../worker/server.ts';
import { runMaster } from './master.ts';
import { type ChildState, type InheritedSocket, type MasterOptions, STATE_ENV } from './protocol.ts';

/** systemd socket activation: fds 3… when LISTEN_PID is this process. */
export function systemdFds(pid: number, env: Record<string, string | undefined>): number[] | null {
  const n = Number(env.LISTEN_FDS ?? '');
  if (!Number.isInteger(n) || n <= 0) return null;
  if (env.LISTEN_PID !== undefined && Number(env.LISTEN_PID) !== pid) return null;
  return Array.from({ length: n }, (_, i) => 3 + i);
}

export async function runLauncher(rt: Runtime, serve: ServeOptions, master: MasterOptions, cwd: string): Promise<void> {
  const activated = systemdFds(rt.pid, process.env);
  if (activated) {
    if (serve.sockets.length > 0 && serve.sockets.length !== activated.length) {
      throw new ConfigError(
        `systemd passed ${activated.length} socket(s) (LISTEN_FDS) but ${serve.sockets.length} --socket option(s) are given: make them match, or give none`,
      );
    }
    const sockets: InheritedSocket[] = activated.map((fd, i) => ({
      spec: serve.sockets[i] ?? `fd ${fd}`,
      fd,
      display: `inherited fd ${fd} (systemd)`,
    }));
    sockets.forEach((s, i) => log(`uwsgi socket ${i} is ${s.display}`));
    delete process.env.LISTEN_FDS;
    delete process.env.LISTEN_PID;
    delete process.env.LISTEN_FDNAMES;
    return runMaster(rt, { role: 'master', serve, master, sockets, cwd });
  }

  if (serve.sockets.length === 0) {
    throw new ConfigError(NOTHING_TO_SERVE);
  }
  const bound: Array<{ socket: InheritedSocket; handle: InheritableSocket }> = [];
  try {
    for (const spec of serve.sockets) {
      const { address, bound: handle } = await bindWith(rt, spec, cwd, (t) => rt.bindInheritable(t, { backlog: serve.listen }), {
        mode: serve.chmodSocket,
        backlog: serve.listen,
      });
      const actual = address.kind === 'tcp' && handle.address.kind === 'tcp' ? { ...address, port: handle.address.port } : address;
      const display = actual.kind === 'unix' ? `UNIX address ${actual.path}` : `TCP address ${formatAddress(actual)}`;
      const mode = actual.kind === 'unix' && serve.chmodSocket !== undefined ? ` (mode ${serve.chmodSocket.toString(8)})` : '';
      log(`uwsgi socket ${bound.length} bound to ${display}${mode}`);
      bound.push({ socket: { spec, fd: 3 + bound.length, display, unixPath: actual.kind === 'unix' ? actual.path : undefined }, handle });
    }
  } catch (e) {
    await Promise.all(bound.map((b) => b.handle.close()));
    throw e;
  }

  const state: ChildState = { role: 'master', serve, master, sockets: bound.map((b) => b.socket), cwd };
  const child = rt.spawnSelf({
    args: [process.argv[1]],
    env: { ...(process.env as Record<string, string>), [STATE_ENV]: JSON.stringify(state) },
    fds: bound.map((b) => b.handle.fd),
    ipc: true,
    detached: true,
  });
  await Promise.all(bound.map((b) => b.handle.close()));

  const forward: Array<Exclude<Signal, 'SIGKILL'>> = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR2'];
  if (rt.name !== 'deno') forward.push('SIGUSR1');
  for (const sig of forward) rt.onSignal(sig, () => child.kill(sig));
  let reported: number | undefined;
  child.onMessage = (m) => {
    if ((m as { t?: string }).t === 'exit') reported = (m as { code: number }).code;
  };
  const how = await child.exited;
  rt.exit(reported ?? how.code ?? 1);
}
