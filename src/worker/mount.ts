/**
 * --mount /PREFIX=FILE: several apps in one worker, each at its prefix, as uWSGI's mountpoints.
 * A request goes to the app with the longest prefix that matches whole path segments
 * ("/api" takes /api and /api/x, not /apix); the app sees the path below its prefix ("/api/x" →
 * "/x", "/api" → "/"), as a WSGI app sees PATH_INFO with SCRIPT_NAME split off. Requests under
 * no prefix go to --app, or get a 404 that names the mountpoints when there is no --app.
 */
import { resolve } from 'node:path';
import { ConfigError } from '../config/index.ts';
import { type FetchHandler, loadApp, type LoadedApp } from './app.ts';

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

/** Which app answers a URL: its index in `apps` (uWSGI's app id in the request log). */
export function appIndex(apps: MountedApp[]): (url: string) => number {
  return (url) => {
    const path = new URL(url).pathname;
    const i = apps.findIndex((a) => a.prefix === '' || underPrefix(path, a.prefix));
    return Math.max(i, 0);
  };
}

/** One handler for all apps: a single root app is called directly. */
export function mountHandler(apps: MountedApp[]): FetchHandler {
  if (apps.length === 1 && apps[0].prefix === '') return apps[0].handler;
  const root = apps.find((a) => a.prefix === '');
  return (req) => {
    const url = new URL(req.url);
    for (const a of apps) {
      if (a.prefix === '' || !underPrefix(url.pathname, a.prefix)) continue;
      url.pathname = url.pathname.slice(a.prefix.length) || '/';
      return a.handler(new Request(url, req));
    }
    if (root) return root.handler(req);
    const points = apps.map((a) => a.prefix).join(', ');
    return new Response(`no app is mounted at ${url.pathname} (mountpoints: ${points})\n`, {
      status: 404,
      headers: { 'content-type': 'text/plain; charset=utf-8' },
    });
  };
}
