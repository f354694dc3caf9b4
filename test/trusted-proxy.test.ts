// --trusted-proxy on --http-socket and the --http router: behind a trusted proxy the app's req.url
// has the client's scheme and the request log (behind the router: the REMOTE_ADDR the worker is
// sent) the client's address, from Forwarded or X-Forwarded-For/-Proto; from any other peer the
// same headers change nothing, and without --trusted-proxy nobody is believed.
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { cleanup, fetchFresh, freePort, type Proc, ROOT, RUNTIME, startTsgi, tsgiFails, until } from './helpers.ts';

afterAll(cleanup);

const APP = join(ROOT, 'test/fixtures/apps/echo.ts');
const FORMAT = ['--log-format', 'CLIENT=%(addr) URI=%(uri)'];

/** Ask /echo with these headers: the scheme of the app's req.url, and the address the request log wrote. */
async function ask(p: Proc, base: string, headers: Record<string, string> = {}): Promise<{ scheme: string; logged: string }> {
  const tag = Math.random().toString(36).slice(2);
  const res = await fetchFresh(`${base}/echo?t=${tag}`, { headers });
  const { url } = (await res.json()) as { url: string };
  const line = new RegExp(`CLIENT=(\\S+) URI=/echo\\?t=${tag}`);
  await until(() => line.test(p.output()), 15_000);
  return { scheme: new URL(url).protocol, logged: line.exec(p.output())?.[1] ?? '(no log line)' };
}

/** What a client that wants to pass for someone else sends. */
const SPOOF = { 'x-forwarded-for': '203.0.113.66', 'x-forwarded-proto': 'https', forwarded: 'for=198.51.100.66;proto=https' };

describe(`--trusted-proxy (${RUNTIME})`, () => {
  test('--http-socket, IPv4: X-Forwarded-For/-Proto and Forwarded from a trusted peer; a spoofed left part is skipped', async () => {
    const port = await freePort();
    const p = await startTsgi(['--http-socket', `127.0.0.1:${port}`, '--trusted-proxy', '127.0.0.1', '--trusted-proxy', '10.0.0.0/8', ...FORMAT, '--app', APP]);
    const base = `http://127.0.0.1:${port}`;
    expect(await ask(p, base)).toEqual({ scheme: 'http:', logged: '127.0.0.1' });
    expect(await ask(p, base, { 'x-forwarded-for': '203.0.113.9', 'x-forwarded-proto': 'https' })).toEqual({ scheme: 'https:', logged: '203.0.113.9' });
    // The client said "1.2.3.4"; a balancer (10.1.1.1, trusted) appended the address it saw.
    expect(await ask(p, base, { 'x-forwarded-for': '1.2.3.4, 203.0.113.9, 10.1.1.1', 'x-forwarded-proto': 'https' })).toEqual({
      scheme: 'https:',
      logged: '203.0.113.9',
    });
    expect(await ask(p, base, { forwarded: 'for=192.0.2.60;proto=https, for=10.2.2.2;proto=http', 'x-forwarded-for': '9.9.9.9' })).toEqual({
      scheme: 'https:',
      logged: '192.0.2.60',
    });
    await p.stop();
  }, 60_000);

  test('--http-socket: an untrusted peer, and no --trusted-proxy: the headers are not believed', async () => {
    const port = await freePort();
    const p = await startTsgi(['--http-socket', `127.0.0.1:${port}`, '--trusted-proxy', '10.0.0.0/8', ...FORMAT, '--app', APP]);
    expect(await ask(p, `http://127.0.0.1:${port}`, SPOOF)).toEqual({ scheme: 'http:', logged: '127.0.0.1' });
    await p.stop();
    const off = await freePort();
    const q = await startTsgi(['--http-socket', `127.0.0.1:${off}`, ...FORMAT, '--app', APP]);
    expect(await ask(q, `http://127.0.0.1:${off}`, SPOOF)).toEqual({ scheme: 'http:', logged: '127.0.0.1' });
    await q.stop();
  }, 60_000);

  test('--http-socket, IPv6: a trusted ::1 peer, Forwarded with a bracketed IPv6 client', async () => {
    const port = await freePort();
    const p = await startTsgi(['--http-socket', `[::1]:${port}`, '--trusted-proxy', '::1/128', ...FORMAT, '--app', APP]);
    const base = `http://[::1]:${port}`;
    expect(await ask(p, base, { forwarded: 'for="[2001:db8:cafe::17]:4711";proto=https' })).toEqual({ scheme: 'https:', logged: '2001:db8:cafe::17' });
    expect(await ask(p, base, { 'x-forwarded-for': '2001:db8::9' })).toEqual({ scheme: 'http:', logged: '2001:db8::9' });
    await p.stop();
  }, 60_000);

  test('--http router: the worker gets the client as REMOTE_ADDR and the scheme; spoofing from an untrusted peer changes nothing', async () => {
    const port = await freePort();
    const p = await startTsgi(['--http', `127.0.0.1:${port}`, '--processes', '1', '--trusted-proxy', '127.0.0.0/8', ...FORMAT, '--app', APP]);
    const base = `http://127.0.0.1:${port}`;
    expect(await ask(p, base, { 'x-forwarded-for': '1.2.3.4, 203.0.113.9', 'x-forwarded-proto': 'https' })).toEqual({
      scheme: 'https:',
      logged: '203.0.113.9',
    });
    expect(await ask(p, base, { forwarded: 'for="[2001:db8::5]";proto=https' })).toEqual({ scheme: 'https:', logged: '2001:db8::5' });
    await p.stop();
    const other = await freePort();
    const q = await startTsgi(['--http', `127.0.0.1:${other}`, '--processes', '1', '--trusted-proxy', '10.0.0.0/8', ...FORMAT, '--app', APP]);
    expect(await ask(q, `http://127.0.0.1:${other}`, SPOOF)).toEqual({ scheme: 'http:', logged: '127.0.0.1' });
    await q.stop();
  }, 120_000);

  test('a bad range stops tsgi at startup with a clear line', async () => {
    const r = await tsgiFails(['--http-socket', '127.0.0.1:0', '--trusted-proxy', '10.0.0.0/40', '--app', APP]);
    expect(r.code).toBe(2);
    expect(r.output).toContain("trusted-proxy: '10.0.0.0/40': the prefix length must be 0-32");
  }, 60_000);
});
