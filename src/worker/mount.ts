/**
 * --mount /PREFIX=FILE: several apps in one worker, each at its prefix, as uWSGI's mountpoints.
 * A request goes to the app with the longest prefix that matches whole path segments
 * ("/api" takes /api and /api/x, not /apix); the app sees the path below its prefix ("/api/x" →
 * "/x", "/api" → "/"), as a WSGI app sees PATH_INFO with SCRIPT_NAME split off, and the prefix in
 * x-forwarded-prefix. Requests under no prefix go to --app, or get a 404 that names the
 * mountpoints when there is no --app. A web server's own split (SCRIPT_NAME) comes in the same
 * header, and in scriptNameOf (src/codec/request.ts): Mounts says how the two meet.
 */
import { resolve } from 'node:path';
import { ConfigError } from '../config/index.ts';
import { PREFIX_HEADER, scriptNameOf } from '../codec/request.ts';
import { type FetchHandler, loadApp, type LoadedApp } from './app.ts';
import { plainAnswer } from './respond.ts';

export interface MountSpec {
  prefix: string;
  file: string;
}

export interface MountedApp extends LoadedApp {
  /** "" for the --app at the root. */
  prefix: string;
}

/** "/api=api.ts" → { prefix: "/api", file: "api.ts" }. A trailing "/" on the prefix is dropped. */
export function parseMount(spec: string): MountSpec {
  const eq = spec.indexOf('=');
  if (eq <= 0 || eq === spec.length - 1) throw new ConfigError(`--mount ${spec}: expected /PREFIX=FILE`);
  let prefix = spec.slice(0, eq).trim();
  const file = spec.slice(eq + 1).trim();
  if (!prefix.startsWith('/')) throw new ConfigError(`--mount ${spec}: the mountpoint must start with "/"`);
  while (prefix.length > 1 && prefix.endsWith('/')) prefix = prefix.slice(0, -1);
  if (prefix === '/') throw new ConfigError(`--mount ${spec}: mount at "/" is --app`);
  return { prefix, file };
}

/** Does `path` lie under `prefix` (whole segments)? */
export function underPrefix(path: string, prefix: string): boolean {
  return path.startsWith(prefix) && (path.length === prefix.length || path.charCodeAt(prefix.length) === 0x2f);
}

/** Load --app (if any) and every --mount; at least one app is needed. */
export async function loadApps(app: string | undefined, mounts: string[], callable: string | undefined, dir: string): Promise<MountedApp[]> {
  const specs = mounts.map(parseMount);
  const seen = new Set<string>();
  for (const m of specs) {
    if (seen.has(m.prefix)) throw new ConfigError(`--mount: ${m.prefix} is mounted twice`);
    seen.add(m.prefix);
  }
  const out: MountedApp[] = [];
  for (const m of specs) out.push({ prefix: m.prefix, ...(await loadApp(resolve(dir, m.file), callable, dir)) });
  if (app !== undefined || out.length === 0) out.push({ prefix: '', ...(await loadApp(app, callable, dir)) });
  // Longest prefix first, so the first match wins.
  return out.sort((a, b) => b.prefix.length - a.prefix.length);
}

/** The app that answers a request, and what changes on its way there. */
interface Choice {
  app: MountedApp;
  /** The mountpoint split off the path ('' when the path is the app's already). */
  split: string;
  /** The x-forwarded-prefix the app sees (null: as it came). */
  prefix: string | null;
}

/**
 * Which app answers a request, as uWSGI chooses. A request comes with its path and the mount point
 * the web server split off already (its SCRIPT_NAME, scriptNameOf: the --http router's split at a
 * mountpoint comes so; null without one, and never from a client's X-Forwarded-Prefix):
 *
 * 1. a mount point that is a --mount prefix picks that app, the path as it is (uWSGI picks the app
 *    by SCRIPT_NAME);
 * 2. else the longest --mount prefix the path lies under picks that app, which sees the path
 *    below it, and the prefix becomes the mount point, as uWSGI's --manage-script-name rewrites
 *    SCRIPT_NAME (one that came along, a client's X-Forwarded-Prefix too, is replaced);
 * 3. else --app, the request as it is; a 404 without one.
 *
 * --manage-script-name (uWSGI's option) puts 2 before 1: nginx's `uwsgi_param SCRIPT_NAME /u`
 * with the whole path in PATH_INFO ("/u/a") then reaches the app mounted at /u as "/a".
 */
export class Mounts {
  /** Longest prefix first; the --app (prefix '') last. */
  readonly #apps: MountedApp[];
  readonly #root: MountedApp | undefined;
  readonly #manage: boolean;

  constructor(apps: MountedApp[], manageScriptName: boolean) {
    this.#apps = apps;
    this.#root = apps.find((a) => a.prefix === '');
    this.#manage = manageScriptName;
  }

  choose(path: string, prefix: string | null): Choice | null {
    if (this.#manage) return this.#byPath(path) ?? this.#byPrefix(prefix) ?? this.#atRoot();
    return this.#byPrefix(prefix) ?? this.#byPath(path) ?? this.#atRoot();
  }

  /** The mountpoints, for a 404. */
  describe(): string {
    return this.#apps.map((a) => a.prefix).join(', ');
  }

  #byPrefix(prefix: string | null): Choice | null {
    if (prefix === null || prefix === '') return null;
    const app = this.#apps.find((a) => a.prefix === prefix);
    return app ? { app, split: '', prefix: null } : null;
  }

  #byPath(path: string): Choice | null {
    const app = this.#apps.find((a) => a.prefix !== '' && underPrefix(path, a.prefix));
    return app ? { app, split: app.prefix, prefix: app.prefix } : null;
  }

  #atRoot(): Choice | null {
    return this.#root ? { app: this.#root, split: '', prefix: null } : null;
  }
}

/** Which app answers a request: its index in `apps` (uWSGI's app id in the request log), chosen as mountHandler chooses. */
export function appIndex(apps: MountedApp[], manageScriptName: boolean): (req: Request) => number {
  const mounts = new Mounts(apps, manageScriptName);
  return (req) => {
    const c = mounts.choose(new URL(req.url).pathname, scriptNameOf(req) ?? null);
    return c ? apps.indexOf(c.app) : 0;
  };
}

/** One handler for all apps: a single root app is called directly. */
export function mountHandler(apps: MountedApp[], manageScriptName: boolean): FetchHandler {
  if (apps.length === 1 && apps[0].prefix === '') return apps[0].handler;
  const mounts = new Mounts(apps, manageScriptName);
  return (req) => {
    const url = new URL(req.url);
    const c = mounts.choose(url.pathname, scriptNameOf(req) ?? null);
    if (c === null) {
      return plainAnswer(404, `no app is mounted at ${url.pathname} (mountpoints: ${mounts.describe()})`);
    }
    if (c.split === '' && c.prefix === null) return c.app.handler(req);
    url.pathname = url.pathname.slice(c.split.length) || '/';
    const mounted = new Request(url, req);
    if (c.prefix !== null) mounted.headers.set(PREFIX_HEADER, c.prefix);
    return c.app.handler(mounted);
  };
}
