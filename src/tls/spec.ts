/**
 * uWSGI's comma syntax for TLS ports and certificates:
 *
 * - `--https ADDR,CERT,KEY[,CIPHERS[,CA]]` (the router) and `--https-socket` (workers): an empty
 *   CIPHERS keeps the runtime's defaults; a CA makes client certificates required (mTLS);
 * - `--sni DOMAIN,CERT,KEY`: another certificate for clients that ask for DOMAIN (`*.example.com`
 *   takes one label), on every TLS port.
 *
 * File paths are resolved where tsgi was started (as socket paths are).
 */
import { ConfigError } from '../config/error.ts';

export interface TlsFiles {
  cert: string;
  key: string;
  ciphers?: string;
  ca?: string;
}

export interface SniFiles {
  name: string;
  cert: string;
  key: string;
}

export interface TlsPort {
  address: string;
  files: TlsFiles;
}

const HTTPS_FORM = 'ADDR,CERT,KEY[,CIPHERS[,CA]]';

/** `ADDR,CERT,KEY[,CIPHERS[,CA]]` → the address and the files; `option` names the flag in errors. */
export function parseTlsPort(spec: string, option: string): TlsPort {
  const parts = spec.split(',').map((p) => p.trim());
  const [address, cert, key, ciphers, ca] = parts;
  if (parts.length < 3 || parts.length > 5 || !address || !cert || !key) {
    throw new ConfigError(`--${option} ${spec}: expected ${HTTPS_FORM} (an address, a certificate file and its key file, comma-separated)`);
  }
  if (parts.length === 5 && !ca) throw new ConfigError(`--${option} ${spec}: the CA field is empty (leave it out for no client certificates)`);
  return { address, files: { cert, key, ciphers: ciphers || undefined, ca: ca || undefined } };
}

/** `DOMAIN,CERT,KEY`. */
export function parseSni(spec: string): SniFiles {
  const parts = spec.split(',').map((p) => p.trim());
  const [name, cert, key] = parts;
  if (parts.length !== 3 || !name || !cert || !key)
    throw new ConfigError(`--sni ${spec}: expected DOMAIN,CERT,KEY (a server name, a certificate file and its key file)`);
  if (!/^(\*\.)?[a-z0-9.-]+$/i.test(name)) throw new ConfigError(`--sni ${spec}: ${name} is not a server name (example.com, or *.example.com)`);
  return { name, cert, key };
}

/** Every file a port's certificates come from (the ones a reload watches). */
export function tlsFilesOf(files: TlsFiles, sni: SniFiles[]): string[] {
  return [files.cert, files.key, ...(files.ca ? [files.ca] : []), ...sni.flatMap((s) => [s.cert, s.key])];
}
