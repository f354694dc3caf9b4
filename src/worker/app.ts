/**
 * Loading the user's app: a module whose default export (or the export named by --callable) is
 * a fetch handler — a function (Request) => Response, or an object with a fetch method (Hono).
 */
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { getRuntime } from '../../runtimes/detect.ts';
import { bunShapedHandler, denoStyleUpgrade, isBunShaped } from '../websocket/forms.ts';
import { AppLoadError } from './app-error.ts';

export type FetchHandler = (req: Request) => Response | Promise<Response>;

export interface LoadedApp {
  handler: FetchHandler;
  /** Absolute path of the module. */
  file: string;
  /** The export used: "default" or the --callable name. */
  callable: string;
  /**
   * The module's `injectWebSocket` export (@hono/node-ws's), if it has one: tsgi gives it the
   * node:http server it serves the app on, as `serve()` would have (Runtime.nodeHttpServer).
   */
  injectWebSocket?: (server: unknown) => void;
}

export { AppLoadError };

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object without a fetch method' : `a ${typeof v}`;
}

/**
 * Turn an export into a handler, or explain why it is not one. An object with `fetch` and
 * `websocket` is in Bun's shape: its fetch gets a `server` whose upgrade() accepts a WebSocket
 * (src/websocket/forms.ts).
 */
export function toHandler(value: unknown, where: string): FetchHandler {
  if (typeof value === 'function') return value as FetchHandler;
  if (isBunShaped(value)) return bunShapedHandler(value);
  if (value !== null && typeof value === 'object') {
    const fetch = (value as { fetch?: unknown }).fetch;
    if (typeof fetch === 'function') return (fetch as FetchHandler).bind(value);
  }
  throw new AppLoadError(
    `${where} is ${describe(value)}, not a fetch handler: export a function (req) => Response, or an object with fetch(req) such as a Hono app`,
  );
}

/** An app (or a package it imports, such as hono/bun) written for another runtime: say which. */
function otherRuntime(e: Error): string {
  const m = e instanceof ReferenceError ? /^(Bun|Deno) is not defined/.exec(e.message) : null;
  return m ? ` (the app, or a package it imports, uses the ${m[1]} global: run tsgi on ${m[1]})` : '';
}

export async function loadApp(file: string | undefined, callable: string | undefined, cwd: string): Promise<LoadedApp> {
  if (!file) throw new AppLoadError('no app given: pass --app FILE (a module whose default export is a fetch handler)');
  const abs = resolve(cwd, file);
  if (!existsSync(abs) || !statSync(abs).isFile()) {
    throw new AppLoadError(`app not found: ${file} (looked for ${abs}; check --app and --chdir)`);
  }
  let mod: Record<string, unknown>;
  const rt = await getRuntime();
  // An app that calls its runtime's own upgrade (Deno's upgradeWebSocket()) works on every front door.
  rt.adoptNativeUpgrade?.(denoStyleUpgrade);
  try {
    mod = await rt.importModule(abs);
  } catch (e) {
    const err = e as Error;
    throw new AppLoadError(`cannot load app ${abs}: ${err.message ?? String(e)}${otherRuntime(err)}`, { cause: e });
  }
  const name = callable ?? 'default';
  if (!(name in mod) || mod[name] === undefined) {
    const exports = Object.keys(mod).join(', ') || 'none';
    throw new AppLoadError(
      callable
        ? `app ${abs} has no export named '${name}' (its exports: ${exports}); check --callable`
        : `app ${abs} has no default export (its exports: ${exports}); export default your app, or pass --callable NAME`,
    );
  }
  const inject = mod.injectWebSocket;
  const injectWebSocket = typeof inject === 'function' ? (inject as (server: unknown) => void) : undefined;
  return { handler: toHandler(mod[name], `export '${name}' of ${abs}`), file: abs, callable: name, injectWebSocket };
}
