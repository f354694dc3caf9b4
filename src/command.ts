/**
 * The tsgi command as the user gave it: read the configuration, then serve — as one process, or
 * as a launcher, master and workers with --master (the launcher loads only then). Loaded by
 * src/cli.ts for the user's command only: tsgi's children skip the configuration reader.
 */
import type { Runtime } from '../runtimes/types.ts';
import { BindError } from '../runtimes/types.ts';
import { ConfigError, loadConfig, renderHelp, type TsgiOptions } from './config/index.ts';
import { describeError, log, logTo, reopenLog } from './log.ts';
import { compileLogFormat } from './worker/reqlog.ts';
import { ShutdownDelay } from './master/drain.ts';
import { activatedSockets, systemdFds } from './master/activation.ts';
import type { MasterOptions, ServeOptions, SocketSource } from './master/protocol.ts';
import { masterOptions, needsMaster, serveOptions } from './plan.ts';
import { AppLoadError } from './worker/app-error.ts';
import type { ServingCore } from './worker/server.ts';
import { NOTHING_TO_SERVE, socketSpecs } from './worker/sockets.ts';
import { VERSION } from './version.ts';
import { checkIdentity } from './privilege/drop.ts';
import { phase } from './phases.ts';

function fail(rt: Runtime, message: string, code: number): never {
  process.stderr.write(`tsgi: ${message}\n`);
  return rt.exit(code);
}

/** Errors in the user's hands (config, app, sockets) are one line; anything else gets a stack. */
function userMessage(e: unknown): string | null {
  if (e instanceof ConfigError || e instanceof AppLoadError || e instanceof BindError) return e.message;
  return null;
}

/** `tsgi top`, `tsgi check`, `--help`, `--version`, or serve. */
export async function runCommand(rt: Runtime, argv: string[]): Promise<void> {
  if (argv[0] === 'top') return (await import('./stats/top.ts')).runTop(rt, argv[1], process.cwd());
  if (argv[0] === 'check') {
    const r = await (await import('./stats/check.ts')).check(rt, argv[1], process.cwd());
    process.stdout.write(`tsgi check: ${r.line}\n`);
    return rt.exit(r.code);
  }

  let options: TsgiOptions;
  let notes: string[];
  let serve: ServeOptions;
  let master: MasterOptions;
  try {
    const cmd = loadConfig(argv, process.env, process.cwd());
    if (cmd.kind === 'help') {
      process.stdout.write(renderHelp());
      return;
    }
    if (cmd.kind === 'version') {
      process.stdout.write(`tsgi ${VERSION} (${rt.name} ${rt.version})\n`);
      return;
    }
    options = cmd.options;
    notes = cmd.notes;
    // --umask first: the sockets and the log file are created under it.
    if (options.umask !== undefined) process.umask(options.umask);
    serve = serveOptions(options);
    master = masterOptions(options);
    if (options.logFormat !== undefined) compileLogFormat(options.logFormat);
    if (options.logto !== undefined) {
      try {
        logTo(options.logto);
        process.stderr.write(`tsgi: logging to ${options.logto} (--logto)\n`);
      } catch (e) {
        throw new ConfigError(`--logto ${options.logto}: ${(e as Error).message}`);
      }
    }
  } catch (e) {
    return fail(rt, userMessage(e) ?? describeError(e), 2);
  }

  log(`*** Starting tsgi ${VERSION} on ${rt.name} ${rt.version} (${rt.socketApi}) ***`);
  log(`TypeScript: ${rt.typescript()}`);
  log(`current working directory: ${process.cwd()}`);
  for (const n of notes) log(n);
  try {
    checkIdentity(rt, master.identity);
  } catch (e) {
    return fail(rt, userMessage(e) ?? describeError(e), 2);
  }
  const cwd = process.cwd();
  // uWSGI runs several processes only under a master; tsgi starts one for --processes > 1 too.
  if (needsMaster(options)) {
    if (!options.master) log('--processes, --threads above 1, --stats, --http, --https, --uid and --gid need a master: starting one (add --master to say so)');
    try {
      // Only now: a single process needs no launcher (nor the TLS checks and privilege code it loads).
      const { runLauncher } = await import('./master/launcher.ts');
      return await runLauncher(rt, serve, master, cwd);
    } catch (e) {
      return fail(rt, userMessage(e) ?? describeError(e), 1);
    }
  }
  return runSingle(rt, serve, options.reloadMercy * 1000, new ShutdownDelay(options.shutdownDelay), cwd);
}

/**
 * Without --master: this process binds and serves, as uWSGI does without a master. A stop waits
 * out the --shutdown-delay (serving on), then mercyMs (--reload-mercy) for requests in flight.
 */
async function runSingle(rt: Runtime, serve: ServeOptions, mercyMs: number, delay: ShutdownDelay, cwd: string): Promise<void> {
  const started = Date.now();
  let core: ServingCore;
  try {
    const fds = systemdFds(rt.pid, process.env);
    let sources: SocketSource[] = socketSpecs(serve);
    if (fds) sources = activatedSockets(fds, serve);
    if (sources.length === 0) throw new ConfigError(NOTHING_TO_SERVE);
    const { prepareProcess, startCore } = await import('./worker/server.ts');
    const appDir = prepareProcess(serve, cwd);
    phase('single: serving core imported');
    core = await startCore(rt, { serve, appDir, cwd, sources, core: 0 });
    phase('single: app loaded, accepting');
  } catch (e) {
    return fail(rt, userMessage(e) ?? describeError(e), 1);
  }
  let stopping = false;
  const stop = (signal: string, mercyMs: number) => {
    if (!stopping && delay.holds(signal, () => stop(signal, mercyMs))) return;
    if (stopping) {
      log(`${signal} again: stopping now`);
      return rt.exit(1);
    }
    stopping = true;
    const busy = core.counters.busy;
    log(`${signal}: stopping${mercyMs > 0 ? ` gracefully${busy ? ` (${busy} request(s) in flight)` : ''}` : ' now'}`);
    void core.stop(mercyMs).then((done) => {
      if (!done) log(`requests still running after ${mercyMs / 1000} s: exiting anyway`);
      log(`served ${core.counters.totals.requests} request(s); goodbye`);
      rt.exit(0);
    });
  };
  rt.onSignal('SIGTERM', () => stop('SIGTERM', mercyMs));
  rt.onSignal('SIGINT', () => stop('SIGINT', mercyMs));
  rt.onSignal('SIGQUIT', () => stop('SIGQUIT', 0));
  rt.onSignal('SIGHUP', () => {
    reopenLog();
    log('SIGHUP: log file reopened; reloading needs --master');
    core.reloadCertificates('SIGHUP');
  });
  core.apps.forEach((a, i) => log(`app ${i} (mountpoint='${a.prefix}', ${a.file}, callable: ${a.callable}) ready in ${Date.now() - started} ms`));
  log(`tsgi is ready: pid ${rt.pid}, 1 process (no master), ${rt.name} ${rt.version}`);
  rt.saveCompileCache();
}
