/**
 * Certificates change without downtime, on --https-socket (one process) and on the --https
 * router (a master): when the files change, new handshakes get the new certificate while an
 * HTTP/2 stream opened before goes on to its end; a broken new certificate is logged and the old
 * one kept; SIGHUP reads them again too.
 */
import http2 from 'node:http2';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { cleanup, freePort, type Proc, startTsgi, until } from './helpers.ts';
import { makeCerts, servedCN, type TestCerts } from './tls-helpers.ts';

let certs: TestCerts;
beforeAll(() => {
  certs = makeCerts();
});
afterAll(cleanup);

/** An HTTP/2 stream of /stream?until=FILE: its text so far, its end, and whether the server said GOAWAY. */
function openStream(port: number, until: string, ca: string): { text(): string; ended: Promise<string>; close(): void; goaway(): boolean } {
  const session = http2.connect(`https://localhost:${port}`, { ca: readFileSync(ca) });
  session.on('error', () => {});
  let goaway = false;
  session.on('goaway', () => (goaway = true));
  const req = session.request({ ':path': `/stream?until=${encodeURIComponent(until)}` });
  let text = '';
  req.setEncoding('utf8');
  req.on('data', (d: string) => (text += d));
  const ended = new Promise<string>((resolve, reject) => {
    req.on('end', () => resolve(text));
    req.on('error', reject);
  });
  req.end();
  return { text: () => text, ended, close: () => session.close(), goaway: () => goaway };
}

function install(pair: { cert: string; key: string }, dir: string): void {
  // The key first: a poll between the two writes sees a mismatch, logs it and keeps the old pair.
  copyFileSync(pair.key, join(dir, 'cur.key'));
  copyFileSync(pair.cert, join(dir, 'cur.pem'));
}

const MODES = [
  { name: '--https-socket (one process)', args: (spec: string) => ['--https-socket', spec] },
  { name: '--https on the router (a master)', args: (spec: string) => ['--https', spec, '--processes', '1'] },
];

for (const mode of MODES) {
  describe(`certificate reload: ${mode.name}`, () => {
    let port: number;
    let srv: Proc;
    let dir: string;
    beforeAll(async () => {
      dir = certs.dir;
      install(certs.a, dir);
      port = await freePort();
      srv = await startTsgi(['--app', 'test/fixtures/apps/tls.ts', ...mode.args(`127.0.0.1:${port},${join(dir, 'cur.pem')},${join(dir, 'cur.key')}`)]);
    }, 90_000);
    afterAll(() => srv?.stop());

    test('a swap of the files: new handshakes get the new certificate, an open HTTP/2 stream completes', async () => {
      expect(await servedCN(port, 'a.test')).toBe('a.test');
      const stop = join(dir, `stop-${port}`);
      const stream = openStream(port, stop, certs.ca);
      expect(await until(() => stream.text().includes('tick'), 30_000)).toBe(true);
      const reloads = (srv.output().match(/certificates reloaded/g) ?? []).length;
      install(certs.a2, dir);
      expect(await until(() => (srv.output().match(/certificates reloaded/g) ?? []).length > reloads, 30_000)).toBe(true);
      expect(await servedCN(port, 'a.test')).toBe('a.test v2');
      // The stream opened before goes on, then ends whole.
      const before = stream.text().length;
      expect(await until(() => stream.text().length > before, 30_000)).toBe(true);
      writeFileSync(stop, '');
      expect(await stream.ended).toMatch(/^(tick\n)+done\n$/);
      stream.close();
    }, 90_000);

    test('a broken new certificate is logged with its file, and the old one kept', async () => {
      const cur = join(dir, 'cur.pem');
      writeFileSync(cur, 'not a certificate\n');
      await srv.waitFor(new RegExp(`${cur.replaceAll('.', '\\.')} is not a PEM certificate.*: keeping the certificates in use`), 30_000);
      expect(await servedCN(port, 'a.test')).toBe('a.test v2');
    }, 90_000);

    test('SIGHUP reads the certificates again', async () => {
      install(certs.a, dir);
      srv.signal('SIGHUP');
      await srv.waitFor(/certificates reloaded \(SIGHUP\)/, 30_000);
      expect(await servedCN(port, 'a.test')).toBe('a.test');
    }, 90_000);
  });
}

describe('a graceful stop with an HTTP/2 stream open', () => {
  test('the session gets GOAWAY, the open stream finishes, then tsgi exits', async () => {
    const port = await freePort();
    const srv = await startTsgi(['--app', 'test/fixtures/apps/tls.ts', '--https-socket', `127.0.0.1:${port},${certs.a.cert},${certs.a.key}`]);
    const stop = join(certs.dir, `stop-${port}`);
    const stream = openStream(port, stop, certs.ca);
    expect(await until(() => stream.text().includes('tick'), 30_000)).toBe(true);
    srv.signal('SIGTERM');
    expect(await until(() => stream.goaway(), 30_000)).toBe(true);
    writeFileSync(stop, '');
    expect(await stream.ended).toMatch(/^(tick\n)+done\n$/);
    stream.close();
    await srv.exited;
    expect(srv.output()).toMatch(/goodbye/);
  }, 90_000);
});
