/**
 * HTTPS: --https-socket on the workers (one process) and --https on the router (a master and
 * workers), HTTP/2 and HTTP/1.1 by ALPN (curl and Node's http2 client), SNI, client
 * certificates (mTLS) and the subject the app sees, --http-to-https, and the startup errors of
 * bad certificates. Certificates are made by the test (test/tls-helpers.ts).
 */
import http2 from 'node:http2';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { cleanup, freePort, type Proc, RUNTIME, startTsgi, tsgiFails } from './helpers.ts';
import { curl, makeCerts, servedCN, type TestCerts } from './tls-helpers.ts';

const APP = 'test/fixtures/apps/tls.ts';
/** Deno's node:tls (rustls) cannot ask for client certificates: tsgi refuses a CA there (measured). */
const MTLS = RUNTIME !== 'deno';
const SUBJECT = 'O=Acme,CN=client one';

let certs: TestCerts;
beforeAll(() => {
  certs = makeCerts();
});
afterAll(cleanup);

const resolveTo = (name: string, port: number) => ['--resolve', `${name}:${port}:127.0.0.1`];

/** One GET with Node's http2 client, the test CA trusted. */
function h2get(port: number, path: string, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`https://localhost:${port}`, { ca: readFileSync(ca) });
    session.on('error', reject);
    const req = session.request({ ':path': path });
    let body = '';
    let status = 0;
    req.setEncoding('utf8');
    req.on('response', (h) => (status = Number(h[':status'])));
    req.on('data', (d: string) => (body += d));
    req.on('end', () => {
      session.close();
      resolve({ status, body });
    });
    req.on('error', reject);
    req.end();
  });
}

describe('--https-socket: the workers speak HTTPS (one process)', () => {
  let port: number;
  let mtlsPort: number;
  let srv: Proc;
  beforeAll(async () => {
    [port, mtlsPort] = [await freePort(), await freePort()];
    const args = ['--app', APP, '--https-socket', `127.0.0.1:${port},${certs.a.cert},${certs.a.key}`, '--sni', `b.test,${certs.b.cert},${certs.b.key}`];
    if (MTLS) args.push('--https-socket', `127.0.0.1:${mtlsPort},${certs.a.cert},${certs.a.key},,${certs.ca}`);
    srv = await startTsgi(args);
  }, 90_000);
  afterAll(() => srv?.stop());

  test('HTTP/1.1 and HTTP/2 by ALPN on one port; the app sees https: in req.url; the startup line says so', async () => {
    const one = await curl(`https://a.test:${port}/x?y=1`, ['--http1.1', ...resolveTo('a.test', port)], certs.ca);
    expect(one.status).toBe(200);
    expect(one.version).toBe('1.1');
    expect(JSON.parse(one.body).url).toBe(`https://a.test:${port}/x?y=1`);
    const two = await curl(`https://a.test:${port}/x`, ['--http2', ...resolveTo('a.test', port)], certs.ca);
    expect(two.status).toBe(200);
    expect(two.version).toBe('2');
    expect(JSON.parse(two.body).url).toBe(`https://a.test:${port}/x`);
    expect(srv.output()).toMatch(/https socket 0 bound to TCP address 127\.0\.0\.1:\d+ \(node:http2: TLS 1\.2\+, HTTP\/2 and HTTP\/1\.1 by ALPN\)/);
  }, 60_000);

  test("Node's http2 client", async () => {
    const r = await h2get(port, '/h2', certs.ca);
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body).url).toBe(`https://localhost:${port}/h2`);
  }, 60_000);

  test('TLS 1.1 is refused (TLS 1.2+ only)', async () => {
    const r = await curl(`https://a.test:${port}/`, ['--tlsv1.1', '--tls-max', '1.1', ...resolveTo('a.test', port)], certs.ca);
    expect(r.status).toBe(0);
  }, 60_000);

  test('SNI picks the certificate: b.test gets its own, a.test and no name the default', async () => {
    expect(await servedCN(port, 'b.test')).toBe('b.test');
    expect(await servedCN(port, 'a.test')).toBe('a.test');
    const b = await curl(`https://b.test:${port}/`, ['--http2', ...resolveTo('b.test', port)], certs.ca);
    expect(b.status).toBe(200);
    expect(JSON.parse(b.body).url).toBe(`https://b.test:${port}/`);
  }, 60_000);

  test('a client cannot forge the client-certificate header on a TLS port', async () => {
    const r = await curl(`https://a.test:${port}/`, ['-H', 'x-tsgi-client-cert-subject: CN=admin', ...resolveTo('a.test', port)], certs.ca);
    expect(JSON.parse(r.body).subject).toBeNull();
  }, 60_000);

  test.skipIf(!MTLS)(
    "mTLS: a client certificate of the CA is accepted and its subject reaches the app; none, or another CA's, is refused",
    async () => {
      const tlsArgs = (p: { cert: string; key: string }) => ['--cert', p.cert, '--key', p.key];
      const forged = ['-H', 'x-tsgi-client-cert-subject: CN=admin'];
      for (const v of ['--http1.1', '--http2']) {
        const ok = await curl(`https://a.test:${mtlsPort}/`, [v, ...tlsArgs(certs.client), ...forged, ...resolveTo('a.test', mtlsPort)], certs.ca);
        expect(ok.status).toBe(200);
        expect(JSON.parse(ok.body).subject).toBe(SUBJECT);
      }
      expect((await curl(`https://a.test:${mtlsPort}/`, resolveTo('a.test', mtlsPort), certs.ca)).status).toBe(0);
      expect((await curl(`https://a.test:${mtlsPort}/`, [...tlsArgs(certs.stranger), ...resolveTo('a.test', mtlsPort)], certs.ca)).status).toBe(0);
    },
    60_000,
  );
});

describe('--https on the router (a master, two workers)', () => {
  let https: number;
  let mtls: number;
  let redirect: number;
  let plain: number;
  let srv: Proc;
  beforeAll(async () => {
    [https, mtls, redirect, plain] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const args = ['--app', APP, '--processes', '2', '--http', `127.0.0.1:${plain}`, '--https', `127.0.0.1:${https},${certs.a.cert},${certs.a.key}`];
    if (MTLS) args.push('--https', `127.0.0.1:${mtls},${certs.a.cert},${certs.a.key},,${certs.ca}`);
    args.push('--http-to-https', `127.0.0.1:${redirect}`, '--sni', `b.test,${certs.b.cert},${certs.b.key}`);
    srv = await startTsgi(args);
  }, 90_000);
  afterAll(() => srv?.stop());

  test('HTTP/1.1 and HTTP/2; the workers get REQUEST_SCHEME=https and HTTPS=on (the app sees https:)', async () => {
    for (const [v, want] of [
      ['--http1.1', '1.1'],
      ['--http2', '2'],
    ]) {
      const r = await curl(`https://a.test:${https}/p?q=1`, [v, ...resolveTo('a.test', https)], certs.ca);
      expect(r.status).toBe(200);
      expect(r.version).toBe(want);
      expect(JSON.parse(r.body).url).toBe(`https://a.test:${https}/p?q=1`);
    }
    expect(await servedCN(https, 'b.test')).toBe('b.test');
    expect((await h2get(https, '/n', certs.ca)).status).toBe(200);
    expect(srv.output()).toMatch(/https router bound to TCP address 127\.0\.0\.1:\d+ \(node:http2: TLS 1\.2\+, HTTP\/2 and HTTP\/1\.1 by ALPN\)/);
  }, 60_000);

  test('the plain --http port still answers, and the router drops a client-certificate header a client sent', async () => {
    const r = await curl(`http://127.0.0.1:${plain}/`, ['-H', 'x-tsgi-client-cert-subject: CN=admin']);
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toEqual({ url: `http://127.0.0.1:${plain}/`, subject: null });
  }, 60_000);

  test('--http-to-https answers 308 to the same host and path on the https port', async () => {
    const r = await curl(`http://a.test:${redirect}/some/path?x=1`, resolveTo('a.test', redirect));
    expect(r.status).toBe(308);
    expect(r.headers).toMatch(new RegExp(`location: https://a\\.test:${https}/some/path\\?x=1`, 'i'));
    const followed = await curl(`http://a.test:${redirect}/f`, ['-L', ...resolveTo('a.test', redirect), ...resolveTo('a.test', https)], certs.ca);
    expect(followed.status).toBe(200);
    expect(JSON.parse(followed.body).url).toBe(`https://a.test:${https}/f`);
  }, 60_000);

  test.skipIf(!MTLS)(
    'mTLS on the router: the verified subject reaches the workers',
    async () => {
      const r = await curl(
        `https://a.test:${mtls}/`,
        ['--http2', '--cert', certs.client.cert, '--key', certs.client.key, ...resolveTo('a.test', mtls)],
        certs.ca,
      );
      expect(r.status).toBe(200);
      expect(JSON.parse(r.body).subject).toBe(SUBJECT);
      expect((await curl(`https://a.test:${mtls}/`, resolveTo('a.test', mtls), certs.ca)).status).toBe(0);
    },
    60_000,
  );
});

describe('the TLS options from an ini file, a JSON file and the environment', () => {
  test('--https-socket from ini, --sni from TSGI_SNI; --https from JSON', async () => {
    const port = await freePort();
    const ini = join(certs.dir, 'tls.ini');
    writeFileSync(ini, `[uwsgi]\napp = ${APP}\nhttps-socket = 127.0.0.1:${port},${certs.a.cert},${certs.a.key}\n`);
    const one = await startTsgi([ini], { env: { TSGI_SNI: `b.test,${certs.b.cert},${certs.b.key}` } });
    try {
      expect(await servedCN(port, 'b.test')).toBe('b.test');
      expect((await curl(`https://a.test:${port}/`, resolveTo('a.test', port), certs.ca)).status).toBe(200);
    } finally {
      await one.stop();
    }
    const json = join(certs.dir, 'tls.json');
    writeFileSync(json, JSON.stringify({ uwsgi: { app: APP, https: [`127.0.0.1:${port},${certs.a.cert},${certs.a.key}`] } }));
    const two = await startTsgi([json]);
    try {
      const r = await curl(`https://a.test:${port}/`, ['--http2', ...resolveTo('a.test', port)], certs.ca);
      expect(r.version).toBe('2');
      expect(JSON.parse(r.body).url).toBe(`https://a.test:${port}/`);
    } finally {
      await two.stop();
    }
  }, 120_000);
});

describe('bad certificates stop tsgi at startup with one line naming the file', () => {
  for (const where of ['https-socket', 'https'] as const) {
    test(`--${where}: a missing certificate, a key that does not match`, async () => {
      const port = await freePort();
      const missing = `${certs.dir}/nope.pem`;
      const a = await tsgiFails(['--app', APP, `--${where}`, `127.0.0.1:${port},${missing},${certs.a.key}`]);
      expect(a.code).not.toBe(0);
      expect(a.output).toContain(`--${where}: cannot read the certificate ${missing}: no such file`);
      const b = await tsgiFails(['--app', APP, `--${where}`, `127.0.0.1:${port},${certs.a.cert},${certs.b.key}`]);
      expect(b.code).not.toBe(0);
      expect(b.output).toContain(`--${where}: the key ${certs.b.key} does not match the certificate ${certs.a.cert}`);
    }, 90_000);
  }

  test('a malformed --https value and --http-to-https without --https are refused', async () => {
    const a = await tsgiFails(['--app', APP, '--https', '127.0.0.1:1,only-a-cert.pem']);
    expect(a.output).toMatch(/--https 127\.0\.0\.1:1,only-a-cert\.pem: expected ADDR,CERT,KEY\[,CIPHERS\[,CA\]\]/);
    const b = await tsgiFails(['--app', APP, '--http-socket', '127.0.0.1:1', '--http-to-https', '127.0.0.1:2']);
    expect(b.output).toContain('--http-to-https needs an --https port');
  }, 60_000);

  test.skipIf(MTLS)(
    'Deno: a CA (client certificates) is refused with the reason',
    async () => {
      const port = await freePort();
      const r = await tsgiFails(['--app', APP, '--https-socket', `127.0.0.1:${port},${certs.a.cert},${certs.a.key},,${certs.ca}`]);
      expect(r.code).not.toBe(0);
      expect(r.output).toContain('--https-socket: a CA (client certificates, mTLS) is not available on deno');
    },
    60_000,
  );
});
