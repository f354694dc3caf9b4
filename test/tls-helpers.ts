/**
 * Certificates for the HTTPS tests, made with Debian's openssl into a temp dir (a test CA, server
 * certificates for a.test and b.test, clients signed by the CA and by another one), and the clients
 * that check what a server answers (curl, openssl s_client).
 */
import { execFile, execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './helpers.ts';

export interface Pair {
  cert: string;
  key: string;
}

export interface TestCerts {
  dir: string;
  ca: string;
  /** CN a.test, for a.test, localhost and 127.0.0.1. */
  a: Pair;
  /** CN a.test v2: the same names, another certificate (a swap). */
  a2: Pair;
  /** CN b.test, for b.test (SNI). */
  b: Pair;
  /** CN client one, O Acme: signed by the test CA. */
  client: Pair;
  /** Signed by another CA: refused. */
  stranger: Pair;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function selfSigned(dir: string, name: string, subject: string): Pair {
  openssl(['req', '-x509', ...EC, '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', subject], dir);
  return { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
}

function signed(dir: string, ca: string, name: string, subject: string, ext: string): Pair {
  writeFileSync(join(dir, `${name}.ext`), `${ext}\n`);
  openssl(['req', ...EC, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject], dir);
  openssl(
    [
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      `${ca}.pem`,
      '-CAkey',
      `${ca}.key`,
      '-CAcreateserial',
      '-days',
      '2',
      '-out',
      `${name}.pem`,
      '-extfile',
      `${name}.ext`,
    ],
    dir,
  );
  return { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
}

export function makeCerts(): TestCerts {
  const dir = tempDir('tsgi-tls-');
  const ca = selfSigned(dir, 'ca', '/CN=tsgi test CA');
  selfSigned(dir, 'other-ca', '/CN=another CA');
  const server = (names: string) => `subjectAltName=${names}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE`;
  const aNames = server('DNS:a.test,DNS:localhost,IP:127.0.0.1');
  const client = 'extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE';
  return {
    dir,
    ca: ca.cert,
    a: signed(dir, 'ca', 'a', '/CN=a.test', aNames),
    a2: signed(dir, 'ca', 'a2', '/CN=a.test v2', aNames),
    b: signed(dir, 'ca', 'b', '/CN=b.test', server('DNS:b.test')),
    client: signed(dir, 'ca', 'client', '/CN=client one/O=Acme', client),
    stranger: signed(dir, 'other-ca', 'stranger', '/CN=stranger', client),
  };
}

/** The base64 SHA-256 of a certificate's public key (Chromium's --ignore-certificate-errors-spki-list). */
export function spkiHash(cert: string): string {
  const pub = execFileSync('openssl', ['x509', '-in', cert, '-pubkey', '-noout']);
  const der = execFileSync('openssl', ['pkey', '-pubin', '-outform', 'der'], { input: pub });
  return execFileSync('openssl', ['dgst', '-sha256', '-binary'], { input: der }).toString('base64');
}

export interface CurlResult {
  /** 0 when no answer came (a refused handshake). */
  status: number;
  /** "1.1" or "2". */
  version: string;
  body: string;
  headers: string;
  exitCode: number;
}

/** curl with the test CA trusted; `args` add --http2, --cert …; `url` as in the test. */
export function curl(url: string, args: string[] = [], ca?: string): Promise<CurlResult> {
  const all = ['-sS', '--max-time', '30', '-D', '-', '-o', '-', '-w', '\n@@%{http_code} %{http_version}', ...(ca ? ['--cacert', ca] : []), ...args, url];
  return new Promise((resolve) => {
    execFile('curl', all, { encoding: 'utf8' }, (error, stdout) => {
      const at = stdout.lastIndexOf('\n@@');
      const [code, version] = stdout.slice(at + 3).split(' ');
      // One head per answer (-L follows redirects): the last is the final answer's.
      let body = stdout.slice(0, Math.max(at, 0));
      let headers = '';
      while (body.startsWith('HTTP/') && body.includes('\r\n\r\n')) {
        const split = body.indexOf('\r\n\r\n');
        headers = body.slice(0, split);
        body = body.slice(split + 4);
      }
      resolve({
        status: Number(code),
        version: version ?? '',
        headers,
        body,
        exitCode: error ? Number((error as { code?: number }).code ?? 1) : 0,
      });
    });
  });
}

/** The CN of the certificate a server shows for `servername` (openssl s_client). */
export function servedCN(port: number, servername: string): Promise<string> {
  return new Promise((resolve) => {
    const child = execFile(
      'openssl',
      ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', servername],
      { encoding: 'utf8', timeout: 30_000 },
      (_e, stdout) => resolve(/subject=.*?CN\s*=\s*([^,\n]+)/.exec(stdout)?.[1]?.trim() ?? ''),
    );
    child.stdin?.end();
  });
}
