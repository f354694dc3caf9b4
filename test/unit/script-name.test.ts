/**
 * SCRIPT_NAME/PATH_INFO → the path and mount point the app sees (varsToRequest), as each web
 * server sends them (the vars are the ones Apache 2.4 and nginx 1.22 were seen sending), and how a
 * web server's split meets --mount and --manage-script-name (Mounts, mountHandler). No peers.
 */
import { describe, expect, test } from 'vitest';
import { type UwsgiVars, varsToRequest } from '../../src/codec/index.ts';
import { PREFIX_HEADER } from '../../src/codec/request.ts';
import type { FetchHandler } from '../../src/worker/app.ts';
import { appIndex, type MountedApp, mountHandler } from '../../src/worker/mount.ts';

function seen(vars: Record<string, string>): { url: string; prefix: string | null } {
  const req = varsToRequest([['HTTP_HOST', 'h'], ...Object.entries(vars)] as UwsgiVars, null);
  return { url: req.url, prefix: req.headers.get(PREFIX_HEADER) };
}

describe('varsToRequest: the path the app routes on, and its mount point', () => {
  test("nginx's stock uwsgi_params (no SCRIPT_NAME): REQUEST_URI as the client sent it, no mount point", () => {
    expect(seen({ QUERY_STRING: 'x=1', REQUEST_URI: '/u/a/b%20c?x=1', PATH_INFO: '/u/a/b c' })).toEqual({
      url: 'http://h/u/a/b%20c?x=1',
      prefix: null,
    });
    // An empty SCRIPT_NAME (Apache's `ProxyPass /r uwsgi://…/r`) splits nothing either.
    expect(seen({ REQUEST_URI: '/r/x', SCRIPT_NAME: '', PATH_INFO: '/r/x' })).toEqual({ url: 'http://h/r/x', prefix: null });
  });

  test('Apache mod_proxy_uwsgi under ProxyPass /u/: the path below /u, encoding and query as sent', () => {
    expect(seen({ REQUEST_URI: '/u/a/b%20c?x=1', SCRIPT_NAME: '/u', PATH_INFO: '/a/b c', QUERY_STRING: 'x=1' })).toEqual({
      url: 'http://h/a/b%20c?x=1',
      prefix: '/u',
    });
  });

  test('Apache at /u/ itself (SCRIPT_NAME=/u/, PATH_INFO=/): the app sees /, the mount point /u', () => {
    expect(seen({ REQUEST_URI: '/u/', SCRIPT_NAME: '/u/', PATH_INFO: '/', QUERY_STRING: '' })).toEqual({ url: 'http://h/', prefix: '/u' });
    expect(seen({ REQUEST_URI: '/u/?k=v', SCRIPT_NAME: '/u/', PATH_INFO: '/', QUERY_STRING: 'k=v' })).toEqual({ url: 'http://h/?k=v', prefix: '/u' });
  });

  test('encoded characters keep the encoding the client chose: %3F stays in the path, UTF-8 and %2B as sent', () => {
    expect(seen({ REQUEST_URI: '/u/a%3Fb?q', SCRIPT_NAME: '/u', PATH_INFO: '/a?b', QUERY_STRING: 'q' }).url).toBe('http://h/a%3Fb?q');
    expect(seen({ REQUEST_URI: '/u/%C3%A9t%C3%A9', SCRIPT_NAME: '/u', PATH_INFO: '/\u00c3\u00a9t\u00c3\u00a9' }).url).toBe('http://h/%C3%A9t%C3%A9');
    expect(seen({ REQUEST_URI: '/u/a%2Bb+c', SCRIPT_NAME: '/u', PATH_INFO: '/a+b+c' }).url).toBe('http://h/a%2Bb+c');
    // Raw UTF-8 bytes in REQUEST_URI (nginx passes them as they came).
    expect(seen({ REQUEST_URI: '/u/caf\u00c3\u00a9', SCRIPT_NAME: '/u', PATH_INFO: '/caf\u00c3\u00a9' }).url).toBe('http://h/caf%C3%A9');
    // "%2541" is "%41", not "A".
    expect(seen({ REQUEST_URI: '/u/%2541', SCRIPT_NAME: '/u', PATH_INFO: '/%41' }).url).toBe('http://h/%2541');
    // A SCRIPT_NAME with a space: the mount point is a URL path.
    expect(seen({ REQUEST_URI: '/my%20app/x', SCRIPT_NAME: '/my app', PATH_INFO: '/x' })).toEqual({ url: 'http://h/x', prefix: '/my%20app' });
  });

  test("nginx with uwsgi_param SCRIPT_NAME /u and the stock PATH_INFO (the whole path): the app routes on PATH_INFO, as uWSGI's", () => {
    expect(seen({ QUERY_STRING: 'x=1', REQUEST_URI: '/u/a/b%20c?x=1', PATH_INFO: '/u/a/b c', SCRIPT_NAME: '/u' })).toEqual({
      url: 'http://h/u/a/b%20c?x=1',
      prefix: '/u',
    });
  });

  test('nginx with SCRIPT_NAME /u and PATH_INFO split by fastcgi_split_path_info-style config: the path below /u', () => {
    expect(seen({ QUERY_STRING: '', REQUEST_URI: '/u/a/b', PATH_INFO: '/a/b', SCRIPT_NAME: '/u' })).toEqual({ url: 'http://h/a/b', prefix: '/u' });
  });

  test("Apache mod_proxy_fcgi (SCRIPT_NAME is the whole path, no PATH_INFO): nothing is split, REQUEST_URI's path", () => {
    expect(seen({ REQUEST_URI: '/u/a/b%20c?x=1', SCRIPT_NAME: '/u/a/b c', QUERY_STRING: 'x=1' })).toEqual({
      url: 'http://h/u/a/b%20c?x=1',
      prefix: null,
    });
  });

  test('fallbacks: a REQUEST_URI that does not end with PATH_INFO (rewritten, merged slashes) or none at all: PATH_INFO encoded', () => {
    // Apache `ProxyPass /v/ uwsgi://…/w/` rewrites the path; uWSGI's app would route on /w/y.
    expect(seen({ REQUEST_URI: '/v/y', SCRIPT_NAME: '/v', PATH_INFO: '/w/y%' }).url).toBe('http://h/w/y%25');
    // Apache merges the slashes of "/u//x" in PATH_INFO.
    expect(seen({ REQUEST_URI: '/u//x', SCRIPT_NAME: '/u', PATH_INFO: '/x' }).url).toBe('http://h/x');
    expect(seen({ SCRIPT_NAME: '/u', PATH_INFO: '/a b?#%', QUERY_STRING: 'z' })).toEqual({ url: 'http://h/a%20b%3F%23%25?z', prefix: '/u' });
    expect(seen({ REQUEST_URI: '/other', SCRIPT_NAME: '/u', PATH_INFO: '' }).url).toBe('http://h/');
    // No QUERY_STRING: REQUEST_URI's query.
    expect(seen({ REQUEST_URI: '/u/a?k', SCRIPT_NAME: '/u', PATH_INFO: '/a' }).url).toBe('http://h/a?k');
    // An absolute REQUEST_URI keeps its origin.
    expect(seen({ REQUEST_URI: 'http://o.example/u/x?k', SCRIPT_NAME: '/u', PATH_INFO: '/x' }).url).toBe('http://o.example/x?k');
  });

  test("the web server's mount point replaces an X-Forwarded-Prefix the client sent", () => {
    expect(seen({ HTTP_X_FORWARDED_PREFIX: '/evil', REQUEST_URI: '/u/a', SCRIPT_NAME: '/u', PATH_INFO: '/a' }).prefix).toBe('/u');
    // Without a split the header is the client's, as any other.
    expect(seen({ HTTP_X_FORWARDED_PREFIX: '/p', REQUEST_URI: '/a', PATH_INFO: '/a' }).prefix).toBe('/p');
  });
});

/** An app that answers with its name, the path and the mount point it sees. */
function app(name: string, prefix: string): MountedApp {
  const handler: FetchHandler = (req) => new Response(`${name} ${new URL(req.url).pathname} ${req.headers.get(PREFIX_HEADER) ?? '-'}`);
  return { prefix, handler, file: `${name}.ts`, callable: 'default' };
}

/** --app at the root, --mount /u and /u/api (longest first, as loadApps sorts them). */
const APPS = [app('api', '/u/api'), app('u', '/u'), app('root', '')];

async function through(vars: Record<string, string>, manage: boolean, apps = APPS): Promise<string> {
  const req = varsToRequest([['HTTP_HOST', 'h'], ...Object.entries(vars)] as UwsgiVars, null);
  return (await mountHandler(apps, manage)(req)).text();
}

describe('a web server split meets --mount (Mounts)', () => {
  test('no SCRIPT_NAME: the longest mountpoint of the path, split there, the prefix as mount point (with or without --manage-script-name)', async () => {
    for (const manage of [false, true]) {
      expect(await through({ REQUEST_URI: '/u/api/x?q', PATH_INFO: '/u/api/x' }, manage)).toBe('api /x /u/api');
      expect(await through({ REQUEST_URI: '/u', PATH_INFO: '/u' }, manage)).toBe('u / /u');
      expect(await through({ REQUEST_URI: '/ux', PATH_INFO: '/ux' }, manage)).toBe('root /ux -');
    }
  });

  test("Apache's mod_proxy_fcgi/scgi (the whole path in SCRIPT_NAME, no PATH_INFO): --mount strips its prefix from the path", async () => {
    expect(await through({ REQUEST_URI: '/u/a/b%20c?x=1', SCRIPT_NAME: '/u/a/b c', QUERY_STRING: 'x=1' }, false)).toBe('u /a/b%20c /u');
  });

  test('a SCRIPT_NAME that is a mountpoint picks that app, the path as the web server split it (the --http router, uWSGI without --manage-script-name)', async () => {
    expect(await through({ REQUEST_URI: '/u/api/x', SCRIPT_NAME: '/u/api', PATH_INFO: '/x' }, false)).toBe('api /x /u/api');
    // nginx: `uwsgi_param SCRIPT_NAME /u` with the whole path in PATH_INFO: uWSGI's app sees /u/a.
    expect(await through({ REQUEST_URI: '/u/a', SCRIPT_NAME: '/u', PATH_INFO: '/u/a' }, false)).toBe('u /u/a /u');
  });

  test('--manage-script-name: PATH_INFO under a mountpoint is split there and the mountpoint becomes the mount point', async () => {
    expect(await through({ REQUEST_URI: '/u/a/b%20c?x=1', SCRIPT_NAME: '/u', PATH_INFO: '/u/a/b c', QUERY_STRING: 'x=1' }, true)).toBe('u /a/b%20c /u');
    expect(await through({ REQUEST_URI: '/u/api/x', SCRIPT_NAME: '/u', PATH_INFO: '/u/api/x' }, true)).toBe('api /x /u/api');
    // A PATH_INFO under no mountpoint: the SCRIPT_NAME still picks the app, as uWSGI's.
    expect(await through({ REQUEST_URI: '/u/api/x', SCRIPT_NAME: '/u/api', PATH_INFO: '/x' }, true)).toBe('api /x /u/api');
  });

  test("Apache's /u in front, --mount /api behind: the mountpoint replaces SCRIPT_NAME (as uWSGI's --manage-script-name), with or without the option", async () => {
    const apps = [app('api', '/api'), app('root', '')];
    const vars = { REQUEST_URI: '/u/api/x', SCRIPT_NAME: '/u', PATH_INFO: '/api/x' };
    expect(await through(vars, false, apps)).toBe('api /x /api');
    expect(await through(vars, true, apps)).toBe('api /x /api');
    // A client's X-Forwarded-Prefix is replaced too.
    expect(await through({ HTTP_X_FORWARDED_PREFIX: '/evil', REQUEST_URI: '/api/x', PATH_INFO: '/api/x' }, false, apps)).toBe('api /x /api');
    expect(await through({ REQUEST_URI: '/u/x', SCRIPT_NAME: '/u', PATH_INFO: '/x' }, false, apps)).toBe('root /x /u');
  });

  test("a client's X-Forwarded-Prefix never picks an app (it could pass a web server's rules for another prefix)", async () => {
    expect(await through({ HTTP_X_FORWARDED_PREFIX: '/u/api', REQUEST_URI: '/x', PATH_INFO: '/x' }, false)).toBe('root /x /u/api');
    // As over HTTP (--http-socket).
    const res = await mountHandler(APPS, false)(new Request('http://h/x', { headers: { 'x-forwarded-prefix': '/u' } }));
    expect(await res.text()).toBe('root /x /u');
  });

  test('no --app: a path under no mountpoint gets a 404 that names them', async () => {
    const apps = [app('api', '/api')];
    const res = await mountHandler(apps, false)(new Request('http://h/other'));
    expect(res.status).toBe(404);
    expect(await res.text()).toBe('no app is mounted at /other (mountpoints: /api)\n');
  });

  test("the request log's app id is the app that answers: by the path's mountpoint, or by the web server's SCRIPT_NAME", () => {
    const of = appIndex(APPS, false);
    const at = (url: string) => of(new Request(url));
    expect([at('http://h/u/api/x'), at('http://h/u/x'), at('http://h/x')]).toEqual([0, 1, 2]);
    // The --http router's split: SCRIPT_NAME=/u/api, the URL already below it.
    const split = varsToRequest(
      [
        ['HTTP_HOST', 'h'],
        ['REQUEST_URI', '/u/api/x'],
        ['SCRIPT_NAME', '/u/api'],
        ['PATH_INFO', '/x'],
      ] as UwsgiVars,
      null,
    );
    expect(new URL(split.url).pathname).toBe('/x');
    expect(of(split)).toBe(0);
  });
});
