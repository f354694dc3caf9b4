/**
 * The tsgi command: read the configuration, start serving, handle signals.
 */
import { getRuntime } from '../runtimes/detect.ts';
import type { Runtime } from '../runtimes/types.ts';
import { BindError } from '../runtimes/types.ts';
import { ConfigError, loadConfig, renderHelp, type TsgiOptions } from './config/index.ts';
import { describeError, log } from './log.ts';
import { AppLoadError } from './worker/app.ts';
import { startServer, VERSION, type RunningServer } from './worker/server.ts';

/** How long a graceful stop waits for requests in flight. */
const STOP_MERCY_MS = 60_000;

function fail(rt: Runtime, message: string, code: number): never {
  process.stderr.write(`tsgi: ${message}\n`);
  return rt.exit(code);
}

/** Errors in the user's hands (config, app, sockets) are one line; anything else gets a stack. */
function userMessage(e: unknown): string | null {
  if (e instanceof ConfigError || e instanceof AppLoadError || e instanceof BindError) return e.message;
  return null;
}

export async function main(argv: string[]): Promise<void> {
  const rt = await getRuntime();
  let options: TsgiOptions;
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
  } catch (e) {
    const m = userMessage(e);
    return fail(rt, m ?? describeError(e), 2);
  }

  // A bad request or a bug in one handler must never take the server down.
  process.on('unhandledRejection', (e) => log(`tsgi: unhandled rejection: ${describeError(e)}`));
  process.on('uncaughtException', (e) => log(`tsgi: uncaught exception: ${describeError(e)}`));

  log(`*** Starting tsgi ${VERSION} on ${rt.name} ${rt.version} (${rt.socketApi}) ***`);
  log(`current working directory: ${process.cwd()}`);
  let server: RunningServer;
  try {
    server = await startServer(
      rt,
      {
        sockets: options.socket,
        app: options.app,
        callable: options.callable,
        chdir: options.chdir,
        chmodSocket: options.chmodSocket,
        vacuum: options.vacuum,
        bufferSize: options.bufferSize,
        listen: options.listen,
        env: options.env,
      },
      process.cwd(),
    );
  } catch (e) {
    const m = userMessage(e) ?? (e instanceof Error && !e.stack?.includes('\n    at ') ? e.message : null);
    return fail(rt, m ?? describeError(e), 1);
  }
  log(`tsgi is ready: pid ${rt.pid}, 1 process (no master), ${rt.name} ${rt.version}`);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      log(`${signal} again: stopping now`);
      return rt.exit(1);
    }
    stopping = true;
    log(`${signal} received: stopping gracefully`);
    void server.stop(STOP_MERCY_MS).then(() => {
      log('goodbye');
      rt.exit(0);
    });
  };
  rt.onSignal('SIGTERM', () => stop('SIGTERM'));
  rt.onSignal('SIGINT', () => stop('SIGINT'));
  rt.onSignal('SIGQUIT', () => {
    log('SIGQUIT received: stopping now');
    if (options.vacuum) void server.stop(0).finally(() => rt.exit(0));
    else rt.exit(0);
  });
  rt.onSignal('SIGHUP', () => log('SIGHUP received: reloading needs --master; ignored'));
}
