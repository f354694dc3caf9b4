/**
 * tsgi behind Debian's Apache httpd 2.4: `--socket` behind mod_proxy_uwsgi and `--http-socket`
 * behind mod_proxy_http, both under `ProxyPass /u/`, with the request set every front door passes,
 * and the path and mount point the app sees (Apache sends SCRIPT_NAME=/u and PATH_INFO below it);
 * then nginx with `uwsgi_param SCRIPT_NAME /u` in front of `--mount /u=… --manage-script-name`.
 * On the runtime running this file.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { APACHE_MISSING, type Apache, hasApache, startApache } from './apache.ts';
import { requestSet } from './request-set.ts';
import { cleanup, fetchFresh, freePort, hasNginx, rawExchange, RUNTIME, startNginx, startTsgi, tempDir, type Proc } from './helpers.ts';

const APP = 'test/fixtures/apps/echo.ts';
const skip = hasApache ? '' : ` (skipped: ${APACHE_MISSING})`;

let tsgi: Proc;
let apache: Apache;
const port = { uwsgi: 0, http: 0 };
let sockPath = '';

/** What /echo says the app saw. */
async function echo(res: Response): Promise<{ url: string; headers: Record<string, string> }> {
  expect(res.status).toBe(200);
  return (await res.json()) as { url: string; headers: Record<string, string> };
}

beforeAll(async () => {
  if (!hasApache) return;
  port.uwsgi = await freePort();
  port.http = await freePort();
  sockPath = join(tempDir(), 'app.sock');
  tsgi = await startTsgi([
    ...['--socket', `127.0.0.1:${port.uwsgi}`, '--socket', sockPath, '--chmod-socket'],
    ...['--http-socket', `127.0.0.1:${port.http}`, '--app', APP],
  ]);
  // The README's examples.
  apache = await startApache(`ProxyPass "/u/" "uwsgi://127.0.0.1:${port.uwsgi}/"
ProxyPass "/x/" "unix:${sockPath}|uwsgi://localhost/"
ProxyPass "/h/" "http://127.0.0.1:${port.http}/"
ProxyPreserveHost On
<Location "/h/">
  RequestHeader set X-Forwarded-Prefix "/h"
</Location>`);
}, 60_000);

afterAll(async () => {
  await apache?.stop();
  await tsgi?.stop();
  await cleanup();
});

describe.skipIf(!hasApache).each([
  ['mod_proxy_uwsgi → --socket', '/u'],
  ['mod_proxy_uwsgi → --socket on a UNIX socket', '/x'],
  ['mod_proxy_http → --http-socket', '/h'],
] as const)(`Apache %s under ProxyPass ${'%s'}/ (${RUNTIME})${skip}`, (_name, base) => {
  requestSet(
    (path) => apache.url(`${base}${path}`),
    () => `127.0.0.1:${apache.port}`,
    () => `${tsgi.output()}\n--- Apache error_log:\n${apache.errorLog()}`,
    // Apache joins the two lines itself, before tsgi sees them.
    ', ',
  );
});

describe.skipIf(!hasApache)(`what the app sees behind Apache's ProxyPass /u/ uwsgi://… (${RUNTIME})${skip}`, () => {
  test('the path below /u with the encoding and query the client sent, the mount point in x-forwarded-prefix', async () => {
    const j = await echo(await fetchFresh(apache.url('/u/echo?x=1&y=two%20words')));
    expect(j.url).toBe(`http://127.0.0.1:${apache.port}/echo?x=1&y=two%20words`);
    expect(j.headers['x-forwarded-prefix']).toBe('/u');
  });

  test('an encoded space, "?" and UTF-8 in the path stay encoded as sent', async () => {
    // The echo app answers other paths with "hello PATH".
    for (const [sent, seen] of [
      ['/u/a/b%20c?x=1', '/a/b%20c'],
      ['/u/a%3Fb?q', '/a%3Fb'],
      ['/u/caf%C3%A9', '/caf%C3%A9'],
      ['/u/', '/'],
    ]) {
      const res = await fetchFresh(apache.url(sent));
      expect(await res.text()).toBe(`hello ${seen}\n`);
    }
  });

  test('behind mod_proxy_http the path comes stripped, and the mount point from RequestHeader', async () => {
    const j = await echo(await fetchFresh(apache.url('/h/echo?x=1')));
    expect(j.url).toBe(`http://127.0.0.1:${apache.port}/echo?x=1`);
    expect(j.headers['x-forwarded-prefix']).toBe('/h');
  });

  test('a client cannot choose the mount point: X-Forwarded-Prefix is replaced by SCRIPT_NAME', async () => {
    const j = await echo(await fetchFresh(apache.url('/u/echo'), { headers: { 'x-forwarded-prefix': '/evil' } }));
    expect(j.headers['x-forwarded-prefix']).toBe('/u');
  });

  test('a chunked upload: mod_proxy_uwsgi refuses it itself (411), mod_proxy_http passes it to --http-socket', async () => {
    const enc = new TextEncoder();
    const upload = (path: string) =>
      rawExchange(
        { port: apache.port },
        [
          enc.encode(`POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n`),
          enc.encode('5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n'),
        ],
        30_000,
      );
    const uwsgi = (await upload('/u/upload')).data.toString();
    expect(uwsgi).toMatch(/^HTTP\/1\.1 411 /);
    const http = (await upload('/h/upload')).data.toString();
    expect(http, apache.errorLog()).toMatch(/^HTTP\/1\.1 200 /);
    expect(http).toContain('"length":11');
  });
});

describe.skipIf(!hasNginx)(
  `nginx uwsgi_param SCRIPT_NAME /u → --mount /u=… --manage-script-name (${RUNTIME})${hasNginx ? '' : ' (skipped: nginx is not installed)'}`,
  () => {
    let mounted: Proc;
    let nginx: Proc;
    let front = 0;

    beforeAll(async () => {
      const upstream = await freePort();
      // Under a master: the option reaches the workers with their state.
      mounted = await startTsgi([
        '--master',
        '--socket',
        `127.0.0.1:${upstream}`,
        '--mount',
        `/u=${APP}`,
        '--manage-script-name',
        '--app',
        'test/fixtures/apps/mount-b.ts',
      ]);
      front = await freePort();
      nginx = await startNginx(
        `server { listen 127.0.0.1:${front};
        location /u/ { include /etc/nginx/uwsgi_params; uwsgi_param SCRIPT_NAME /u; uwsgi_pass 127.0.0.1:${upstream}; }
        location / { include /etc/nginx/uwsgi_params; uwsgi_pass 127.0.0.1:${upstream}; } }`,
        front,
      );
    }, 60_000);

    afterAll(async () => {
      await nginx?.stop('SIGQUIT');
      await mounted?.stop();
    });

    test('the app mounted at /u sees the path below it and /u as its mount point', async () => {
      const j = await echo(await fetchFresh(`http://127.0.0.1:${front}/u/echo?a=%20b`));
      expect(new URL(j.url).pathname + new URL(j.url).search).toBe('/echo?a=%20b');
      expect(j.headers['x-forwarded-prefix']).toBe('/u');
    });

    test('a path under no mountpoint goes to --app as it is, whatever X-Forwarded-Prefix the client sends', async () => {
      const res = await fetchFresh(`http://127.0.0.1:${front}/other`);
      expect(await res.text()).toBe('b sees /other');
      const forged = await fetchFresh(`http://127.0.0.1:${front}/echo`, { headers: { 'x-forwarded-prefix': '/u' } });
      expect(await forged.text()).toBe('b sees /echo');
    });
  },
);
