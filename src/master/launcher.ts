/**
 * Starting with --master. The process the user started binds every socket, hands the bare fds
 * to the master (a child in a process group of its own) and closes its own copies: a process
 * holding a listening Server would keep accepting, the master must not (docs/ARCHITECTURE.md). It then
 * stays as a thin parent that forwards signals and exits with the master's exit code.
 *
 * Sockets from systemd (LISTEN_FDS/LISTEN_PID) are already bare fds, and a runtime that binds
 * without a server (Runtime.bareBinder: Bun, Node, Deno) makes them so: then this process is the master
 * itself.
 */
import { phase } from '../phases.ts';
import type { BareBinder, Child, InheritableSocket, ListenAddress, Runtime, Signal } from '../../runtimes/types.ts';
import { ConfigError } from '../config/index.ts';
import { log, reopenLog } from '../log.ts';
import { bindWith, formatAddress } from '../worker/bind.ts';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NOTHING_TO_SERVE, reusePortHttp, socketSpecs } from '../worker/sockets.ts';
import { activatedSockets, systemdFds } from './activation.ts';
import {
  type ChildState,
  type InheritedSocket,
  isLauncherMessage,
  type MasterOptions,
  type Proto,
  type RouterListen,
  type RouterState,
  type ServeOptions,
} from './protocol.ts';
import { spawnChild } from './spawn.ts';
import { dropPrivileges, handOver } from '../privilege/drop.ts';
import { parseSni, parseTlsPort, type TlsFiles, tlsFilesOf } from '../tls/spec.ts';
import { ReadableAs } from '../privilege/readable.ts';

type Relayed = Exclude<Signal, 'SIGKILL'>;

/**
 * The signals the launcher passes on to the master. One that arrives before the master handles
 * signals (while sockets are bound, while the master loads) is held until it says so: it would
 * kill the master, leaving sockets unvacuumed, or turn a SIGHUP into an exit.
 */
class SignalRelay {
  #master: Launcher | null = null;
  readonly #held: Relayed[] = [];

  constructor(rt: Runtime) {
    for (const sig of rt.signals) rt.onSignal(sig, () => this.#relay(sig));
  }

  /** The master handles signals now: pass on the held ones, then every one as it comes. */
  open(master: Launcher): void {
    this.#master = master;
    for (const sig of this.#held.splice(0)) master.signal(sig);
  }

  #relay(sig: Relayed): void {
    if (this.#master) this.#master.signal(sig);
    else this.#held.push(sig);
  }
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

/** The tsgi program that children run (bin/tsgi.js loads TypeScript where the runtime needs it). */
const ENTRY = fileURLToPath(new URL('../../bin/tsgi.js', import.meta.url));

/** How the master ends: the code it reported over IPC (some runtimes misreport a signalled child's exit), else its exit code. */
export interface MasterExit {
  code: number;
}

/**
 * The process the user started, under --master: it binds every socket, spawns the master with the
 * bare fds and closes its own copies. `ready` resolves once the master says every worker (and the
 * router) is up; `exited` when the master has gone.
 */
export class Launcher {
  readonly #child: Child;
  #reloads: Array<() => void> = [];
  readonly addresses: ListenAddress[];
  /** The master handles signals (before, a signal would kill it: signal() is for after this). */
  readonly started: Promise<void>;
  /** The master runs as the --uid user (never resolves without --uid/--gid). */
  readonly dropped: Promise<void>;
  readonly ready: Promise<void>;
  readonly exited: Promise<MasterExit>;

  private constructor(child: Child, addresses: ListenAddress[]) {
    this.#child = child;
    this.addresses = addresses;
    let reported: number | undefined;
    let listening: () => void = () => {};
    this.started = new Promise<void>((resolve) => (listening = resolve));
    let dropped: () => void = () => {};
    this.dropped = new Promise<void>((resolve) => (dropped = resolve));
    let announce: () => void = () => {};
    let fail: (e: Error) => void = () => {};
    this.ready = new Promise<void>((resolve, reject) => {
      announce = resolve;
      fail = reject;
    });
    child.onMessage = (m) => {
      if (!isLauncherMessage(m)) return;
      if (m.t === 'started') listening();
      else if (m.t === 'dropped') dropped();
      else if (m.t === 'ready') announce();
      else if (m.t === 'reloaded') this.#reloadDone();
      else reported = m.code;
    };
    this.exited = child.exited.then((how) => {
      const code = reported ?? how.code ?? 1;
      this.#reloadDone();
      fail(new Error(`the tsgi master exited (code ${code}) before it was ready`));
      return { code };
    });
    // A caller that awaits only `exited` must not see an unhandled rejection.
    this.ready.catch(() => {});
  }

  /** Bind what the options name, then start the master. Throws ConfigError/BindError before any child starts. */
  static async start(rt: Runtime, serve: ServeOptions, master: MasterOptions, cwd: string): Promise<Launcher> {
    giveLogFile(serve, master);
    const bound = await bindAll(rt, serve, master, cwd, (t, o) => rt.bindInheritable(t, o));
    const state: ChildState = { role: 'master', serve, master, sockets: bound.sockets, cwd, router: bound.router };
    const fds = bound.handles.map((h) => h.fd);
    phase('launcher: sockets bound');
    const child = spawnChild(rt, ENTRY, state, fds, true);
    phase('launcher: master spawned');
    await Promise.all(bound.handles.map((h) => h.close()));
    return new Launcher(child, bound.addresses);
  }

  /** Resolves when the master says a reload is done (every worker replaced), or when it exits. */
  reloaded(): Promise<void> {
    return new Promise((resolve) => this.#reloads.push(resolve));
  }

  #reloadDone(): void {
    for (const f of this.#reloads.splice(0)) f();
  }

  /** Pass a signal to the master (SIGHUP reloads, SIGTERM stops gracefully, SIGQUIT at once). */
  signal(sig: Relayed): void {
    this.#child.kill(sig);
  }
}

/** Every process reopens the --logto file (SIGHUP, logrotate), the master's children after the privilege drop: it is the user's. */
function giveLogFile(serve: ServeOptions, master: MasterOptions): void {
  if (serve.logto) handOver(serve.logto, master.identity);
}

interface Bound {
  sockets: InheritedSocket[];
  handles: InheritableSocket[];
  addresses: ListenAddress[];
  router?: RouterState;
}

/** Bind every socket with `bind`: fds for the children, or (the runtime's own HTTP server) ports to share. */
async function bindAll(rt: Runtime, serve: ServeOptions, master: MasterOptions, cwd: string, bind: BareBinder): Promise<Bound> {
  const specs = socketSpecs(serve);
  if (specs.length === 0 && !master.http) {
    throw new ConfigError(NOTHING_TO_SERVE);
  }
  const binder = new SocketBinder(rt, serve, cwd, master, bind);
  try {
    for (const { proto, spec, tls } of specs) await binder.socket(proto, spec, tls);
    if (master.http) await binder.router(master.http);
  } catch (e) {
    await binder.close();
    throw e;
  }
  const out = binder.bound;
  if ([...out.sockets, ...(out.router?.listens ?? []).map((l) => l.socket)].some((s) => 'reuse' in s)) warnMigrateReq();
  return out;
}

/** One bound socket: what the children get, the port, the address as bound. */
interface BoundOne {
  socket: InheritedSocket;
  port: number;
  address: ListenAddress;
}

/** Binds the sockets one by one, keeping what a child needs and the handles to hand over (or close). */
class SocketBinder {
  readonly #rt: Runtime;
  readonly #serve: ServeOptions;
  readonly #cwd: string;
  readonly #master: MasterOptions;
  readonly #readable: ReadableAs | null;
  readonly #bindFd: BareBinder;
  readonly bound: Bound = { sockets: [], handles: [], addresses: [] };

  constructor(rt: Runtime, serve: ServeOptions, cwd: string, master: MasterOptions, bind: BareBinder) {
    this.#rt = rt;
    this.#bindFd = bind;
    this.#serve = serve;
    this.#cwd = cwd;
    this.#master = master;
    this.#readable = ReadableAs.for(master.identity);
  }

  /** A port's certificates, read now, and readable by the --uid user the serving processes become (the TLS code loads with the first). */
  async #checkTls(option: string, files: TlsFiles): Promise<void> {
    const { checkTls } = await import('../tls/check.ts');
    checkTls(this.#rt, option, files, this.#serve, this.#cwd);
    const paths = tlsFilesOf(files, this.#serve.sni.map(parseSni)).map((f) => resolve(this.#cwd, f));
    this.#readable?.check(option, paths);
  }

  /** A --socket, --http-socket or --https-socket (its certificates checked now: a bad one stops tsgi with one line). */
  async socket(proto: Proto, spec: string, tls?: TlsFiles): Promise<void> {
    if (tls) await this.#checkTls('https-socket', tls);
    const one = await this.#bind(proto, spec, `${tls ? 'https' : proto} socket ${this.bound.sockets.length}`, tls);
    this.bound.sockets.push(tls ? { ...one.socket, tls } : one.socket);
    this.bound.addresses.push(one.address);
  }

  /**
   * The router's ports (--http, each --https, --http-to-https), and the workers' side of them: a
   * uwsgi socket in a directory only we can enter.
   */
  async router(http: NonNullable<MasterOptions['http']>): Promise<void> {
    const listens: RouterListen[] = [];
    if (http.address !== undefined) listens.push(await this.#routerPort(http.address, 'http router'));
    for (const spec of http.https) {
      const { address, files } = parseTlsPort(spec, 'https');
      await this.#checkTls('https', files);
      listens.push({ ...(await this.#routerPort(address, 'https router', files)), tls: files });
    }
    if (http.redirect !== undefined) {
      const to = listens.find((l) => l.tls)?.port ?? 443;
      listens.push({ ...(await this.#routerPort(http.redirect, `http-to-https router (308 to port ${to})`)), redirectTo: to });
    }
    const upstream = join(mkdtempSync(join(tmpdir(), 'tsgi-')), 'uwsgi.sock');
    const internal = (await this.#bind('uwsgi', upstream, `uwsgi socket ${this.bound.sockets.length} (the router's, internal)`)).socket;
    // The router connects to it, and the master removes it, after the privilege drop.
    handOver(dirname(upstream), this.#master.identity);
    handOver(upstream, this.#master.identity);
    this.bound.sockets.push({ ...internal, internal: true });
    const { timeout, connectTimeout, staticMaps } = http;
    this.bound.router = { listens, upstream, timeout, connectTimeout, staticMaps };
  }

  async #routerPort(spec: string, what: string, tls?: TlsFiles): Promise<RouterListen> {
    const { socket, port, address } = await this.#bind('http', spec, what, tls);
    this.bound.addresses.push(address);
    return { socket, port };
  }

  async close(): Promise<void> {
    await Promise.all(this.bound.handles.map((h) => h.close()));
  }

  /** Bind one socket: an fd for the children, or (the runtime's own HTTP server) a port to share. */
  async #bind(proto: Proto, spec: string, what: string, tls?: TlsFiles): Promise<BoundOne> {
    const rt = this.#rt;
    const serve = this.#serve;
    const { address, bound: handle } = await bindWith(rt, spec, this.#cwd, (t) => this.#bindFd(t, { backlog: serve.listen }), {
      mode: serve.chmodSocket,
      owner: serve.socketOwner,
      backlog: serve.listen,
    });
    const actual = address.kind === 'tcp' && handle.address.kind === 'tcp' ? { ...address, port: handle.address.port } : address;
    const port = actual.kind === 'tcp' ? actual.port : 0;
    const display = actual.kind === 'unix' ? `UNIX address ${actual.path}` : `TCP address ${formatAddress(actual)}`;
    if (proto === 'http' && !tls && actual.kind === 'tcp' && reusePortHttp(rt, serve)) {
      // --reuse-port: each process binds the port for the runtime's own HTTP server. Binding
      // it here first makes "address in use" fail now, with one line.
      await handle.close();
      log(`${what} bound to ${display} (${rt.name}'s own HTTP server, SO_REUSEPORT: --reuse-port)`);
      return { socket: { proto, spec, reuse: { host: actual.host, port }, display }, port, address: actual };
    }
    const mode = actual.kind === 'unix' && serve.chmodSocket !== undefined ? ` (mode ${serve.chmodSocket.toString(8)})` : '';
    const summary = tls ? ` (${(await import('../tls/check.ts')).tlsSummary(rt)})` : '';
    log(`${what} bound to ${display}${mode}${summary}`);
    this.bound.handles.push(handle);
    // The number the children have it at: 3, 4, … through spawn's fd list, or its own when inherited in place.
    const fd = handle.inPlace ? handle.fd : 2 + this.bound.handles.length;
    const socket = { proto, spec, fd, display, unixPath: actual.kind === 'unix' ? actual.path : undefined };
    return { socket, port, address: actual };
  }
}

/** The CLI under --master: start, pass on the user's signals, exit with the master's code. */
export async function runLauncher(rt: Runtime, serve: ServeOptions, master: MasterOptions, cwd: string): Promise<void> {
  const activated = systemdFds(rt.pid, process.env);
  if (activated) {
    giveLogFile(serve, master);
    const sockets = activatedSockets(activated, serve);
    delete process.env.LISTEN_FDS;
    delete process.env.LISTEN_PID;
    delete process.env.LISTEN_FDNAMES;
    // This process is the master: it loads the master's parts only now (a launcher needs none).
    const { runMaster } = await import('./master.ts');
    return runMaster(rt, { role: 'master', serve, master, sockets, cwd });
  }
  const bare = await rt.bareBinder();
  if (bare) return runBoundMaster(rt, serve, master, cwd, bare);
  const relay = new SignalRelay(rt);
  rt.onSignal('SIGHUP', reopenLog);
  const launcher = await Launcher.start(rt, serve, master, cwd);
  void launcher.started.then(() => relay.open(launcher));
  // Once the master is the user: before, a launcher that is no longer root could not signal it.
  void launcher.dropped.then(() => dropPrivileges(rt, master.identity, 'tsgi launcher'));
  const { code } = await launcher.exited;
  rt.exit(code);
}

/**
 * Where the runtime binds without a server (Runtime.bareBinder: Bun, Node, Deno), the process the user
 * started binds every socket as a bare fd and is the master itself: one runtime process less.
 */
async function runBoundMaster(rt: Runtime, serve: ServeOptions, master: MasterOptions, cwd: string, bare: BareBinder): Promise<void> {
  const early = new EarlySignals(rt);
  giveLogFile(serve, master);
  const bound = await bindAll(rt, serve, master, cwd, bare);
  phase('master: sockets bound');
  const { runMaster } = await import('./master.ts');
  const close = () => void Promise.all(bound.handles.map((h) => h.close()));
  const fds = bound.handles.some((h) => h.inPlace) ? { inPlace: true } : { held: bound.handles.map((h) => h.fd) };
  const state: ChildState = { role: 'master', serve, master, sockets: bound.sockets, cwd, router: bound.router, ...fds };
  return runMaster(rt, state, { close, handling: () => early.release() });
}

/**
 * A master without a launcher: the signals that arrive before it handles them (while it binds and
 * loads) are held, and raised again once it does, as the launcher's SignalRelay holds them.
 */
class EarlySignals {
  readonly #held: Relayed[] = [];
  readonly #off: Array<() => void>;

  constructor(rt: Runtime) {
    this.#off = rt.signals.map((sig) => rt.onSignal(sig, () => this.#held.push(sig)));
  }

  release(): void {
    for (const off of this.#off) off();
    for (const sig of this.#held.splice(0)) process.kill(process.pid, sig);
  }
}
