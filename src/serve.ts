/**
 * serve(): start from code what the tsgi command starts, from an object with the option table's
 * names in camelCase (`httpSocket`, `processes`, `harakiri`, …). With a master (processes,
 * threads, stats, http, master: true) the workers load `app` from its file, as the command's do;
 * without one, this process serves, and may be given a handler (`fetch`) instead of a file.
 * The launcher or the serving core loads when serve() starts the one it needs.
 */
import { getRuntime } from '../runtimes/detect.ts';
import type { ListenAddress, Runtime } from '../runtimes/types.ts';
import { ConfigError, configFromObject, type ObjectValue, type TsgiOptions } from './config/index.ts';
import { log, logTo } from './log.ts';
import type { Launcher } from './master/launcher.ts';
import { masterOptions, needsMaster, serveOptions } from './plan.ts';
import { compileLogFormat } from './worker/reqlog.ts';
import { checkIdentity } from './privilege/drop.ts';
import { type FetchHandler, toHandler } from './worker/app.ts';
import type { MountedApp } from './worker/mount.ts';
import type { ServingCore } from './worker/server.ts';
import { NOTHING_TO_SERVE, socketSpecs } from './worker/sockets.ts';

type Field<T> = T extends ReadonlyArray<infer U> ? U | readonly U[] : T | string;

/** The options of serve(): every option of `tsgi --help`, in camelCase; lists for repeatable ones. */
export type ServeConfig = {
  [K in Exclude<keyof TsgiOptions, 'ini' | 'json' | 'inherit' | 'setPlaceholder'>]?: Field<TsgiOptions[K]>;
} & {
  /** A handler in this file (a function, or an object with fetch such as a Hono app): served by this process, no master. */
  fetch?: FetchHandler | { fetch: FetchHandler };
};

/** A running tsgi, started by serve(). */
export interface TsgiServer {
  /** Resolves once every worker (and the router) can serve; rejects if tsgi could not start. */
  readonly ready: Promise<void>;
  /** Where it listens, in the order the options name them (--socket, --http-socket, --http); empty until ready. */
  readonly addresses: readonly ListenAddress[];
  /** The first of them, as "host:port" or a UNIX socket path. */
  readonly address: string;
  /** Graceful reload (SIGHUP): fresh workers take over, none of the requests is lost. Needs a master. */
  reload(): Promise<void>;
  /** Graceful stop (SIGTERM): requests in flight are answered, then everything exits. */
  stop(): Promise<void>;
}

/** The part of a running tsgi that differs with and without a master. */
interface Running {
  addresses: readonly ListenAddress[];
  reload(): Promise<void>;
  stop(): Promise<void>;
}

function formatListen(a: ListenAddress): string {
  if (a.kind === 'unix') return a.path;
  if (a.kind === 'fd') return `fd ${a.fd}`;
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

class Server implements TsgiServer {
  readonly ready: Promise<void>;
  #running: Running | null = null;
  #stopped: Promise<void> | null = null;

  constructor(start: () => Promise<Running>) {
    this.ready = start().then((r) => {
      this.#running = r;
    });
  }

  get addresses(): readonly ListenAddress[] {
    return this.#running?.addresses ?? [];
  }

  get address(): string {
    const first = this.addresses[0];
    return first ? formatListen(first) : '';
  }

  async reload(): Promise<void> {
    await this.ready;
    await (this.#running as Running).reload();
  }

  stop(): Promise<void> {
    this.#stopped ??= this.ready.then(
      () => (this.#running as Running).stop(),
      () => {},
    );
    return this.#stopped;
  }
}

/** A master and its workers, in child processes. */
class MasterRunning implements Running {
  readonly #launcher: Launcher;
  readonly #mercyMs: number;

  constructor(launcher: Launcher, mercyMs: number) {
    this.#launcher = launcher;
    this.#mercyMs = mercyMs;
  }

  get addresses(): readonly ListenAddress[] {
    return this.#launcher.addresses;
  }

  async reload(): Promise<void> {
    const done = this.#launcher.reloaded();
    this.#launcher.signal('SIGHUP');
    await done;
  }

  async stop(): Promise<void> {
    this.#launcher.signal('SIGTERM');
    const { code } = await this.#launcher.exited;
    if (code !== 0) throw new Error(`the tsgi master exited with code ${code} (--reload-mercy ${this.#mercyMs / 1000} s)`);
  }
}

/** One serving core in this process (no master). */
class CoreRunning implements Running {
  readonly #core: ServingCore;
  readonly #mercyMs: number;

  constructor(core: ServingCore, mercyMs: number) {
    this.#core = core;
    this.#mercyMs = mercyMs;
  }

  get addresses(): readonly ListenAddress[] {
    return this.#core.addresses;
  }

  reload(): Promise<void> {
    return Promise.reject(new ConfigError('reload() needs a master: give master: true (workers are reloaded, this process is not)'));
  }

  async stop(): Promise<void> {
    if (!(await this.#core.stop(this.#mercyMs))) log(`requests still running after ${this.#mercyMs / 1000} s: stopped anyway`);
  }
}

/** Start tsgi. Bad options throw ConfigError at once; problems binding or loading reject `ready`. */
export function serve(config: ServeConfig): TsgiServer {
  const { fetch, ...rest } = config;
  const { options, notes } = configFromObject(rest as Record<string, ObjectValue | undefined>);
  if (options.logFormat !== undefined) compileLogFormat(options.logFormat);
  const root = fetch === undefined ? undefined : toHandler(fetch, 'serve() option fetch');
  if (root && needsMaster(options)) {
    throw new ConfigError(
      'serve({ fetch }) serves in this process: with master, processes, threads, stats or http, give app: FILE so that every worker loads it',
    );
  }
  if (root && options.app !== undefined) throw new ConfigError('serve(): give fetch or app, not both');
  return new Server(async () => {
    const rt = await getRuntime();
    if (options.umask !== undefined) process.umask(options.umask);
    if (options.logto !== undefined) logTo(options.logto);
    for (const n of notes) log(n);
    return needsMaster(options) ? startMaster(rt, options) : startHere(rt, options, root);
  });
}

async function startMaster(rt: Runtime, options: TsgiOptions): Promise<Running> {
  const master = masterOptions(options);
  checkIdentity(rt, master.identity);
  const { Launcher } = await import('./master/launcher.ts');
  const launcher = await Launcher.start(rt, serveOptions(options), master, process.cwd());
  await Promise.race([launcher.ready, launcher.exited]);
  await launcher.ready;
  return new MasterRunning(launcher, options.reloadMercy * 1000);
}

async function startHere(rt: Runtime, options: TsgiOptions, root: FetchHandler | undefined): Promise<Running> {
  const serve = serveOptions(options);
  const cwd = process.cwd();
  const sources = socketSpecs(serve);
  if (sources.length === 0) throw new ConfigError(NOTHING_TO_SERVE);
  const [{ prepareProcess, startCore }, { loadApps }] = await Promise.all([import('./worker/server.ts'), import('./worker/mount.ts')]);
  const appDir = prepareProcess(serve, cwd);
  let apps: MountedApp[] | undefined;
  if (root) {
    const mounted = serve.mounts.length > 0 ? await loadApps(undefined, serve.mounts, serve.callable, appDir) : [];
    apps = [...mounted, { prefix: '', handler: root, file: '(serve() option fetch)', callable: 'fetch' }];
  }
  const core = await startCore(rt, { serve, appDir, cwd, sources, core: 0, apps });
  return new CoreRunning(core, options.reloadMercy * 1000);
}
