/**
 * Reading and checking certificates: every file readable, a certificate and a key in the PEM
 * text, the key matching the certificate. Each problem is one line naming the file, at startup
 * (the launcher and each serving process) and on a reload (the old certificates stay then).
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { TlsMaterial } from '../../runtimes/types.ts';
import { ConfigError } from '../config/error.ts';
import type { SniFiles, TlsFiles } from './spec.ts';

export class TlsError extends ConfigError {
  override name = 'TlsError';
}

function read(option: string, what: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as { code?: string }).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (e as Error).message;
    throw new TlsError(`--${option}: cannot read the ${what} ${file}: ${why}`);
  }
}

/** The certificate and key of `cert`/`key`, checked to belong together. */
function pair(option: string, certFile: string, keyFile: string): { cert: string; key: string } {
  const cert = read(option, 'certificate', certFile);
  const key = read(option, 'key', keyFile);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (e) {
    throw new TlsError(`--${option}: ${certFile} is not a PEM certificate (${(e as Error).message})`);
  }
  let privateKey: ReturnType<typeof createPrivateKey>;
  try {
    privateKey = createPrivateKey(key);
  } catch (e) {
    throw new TlsError(`--${option}: ${keyFile} is not a PEM private key (${(e as Error).message})`);
  }
  if (!x509.checkPrivateKey(privateKey)) throw new TlsError(`--${option}: the key ${keyFile} does not match the certificate ${certFile}`);
  return { cert, key };
}

function checkedCa(option: string, file: string): string {
  const ca = read(option, 'CA certificate', file);
  try {
    new X509Certificate(ca);
  } catch (e) {
    throw new TlsError(`--${option}: the CA ${file} is not a PEM certificate (${(e as Error).message})`);
  }
  return ca;
}

/** Read a port's certificates (paths relative to `cwd`). Throws TlsError naming the file. */
export function loadTls(option: string, files: TlsFiles, sni: SniFiles[], cwd: string, handshakeTimeoutMs: number): TlsMaterial {
  const at = (f: string) => resolve(cwd, f);
  const main = pair(option, at(files.cert), at(files.key));
  return {
    ...main,
    ciphers: files.ciphers,
    ca: files.ca ? checkedCa(option, at(files.ca)) : undefined,
    sni: sni.map((s) => ({ name: s.name, ...pair('sni', at(s.cert), at(s.key)) })),
    handshakeTimeoutMs,
  };
}
