/** A TLS port's certificates for a process, and what this runtime's TLS server cannot do (refused at startup). */
import type { Runtime, TlsMaterial } from '../../runtimes/types.ts';
import { ConfigError } from '../config/error.ts';
import type { ServeOptions } from '../master/protocol.ts';
import { loadTls } from './material.ts';
import { parseSni, type TlsFiles } from './spec.ts';

/** The certificates of a port, read now; handshakes get --socket-timeout. Throws TlsError naming the file. */
export function tlsMaterial(option: string, files: TlsFiles, serve: ServeOptions, cwd: string): TlsMaterial {
  return loadTls(option, files, serve.sni.map(parseSni), cwd, serve.socketTimeout * 1000);
}

/** Refuse, with one line, what the runtime cannot serve; read the files once (the launcher: before any child starts). */
export function checkTls(rt: Runtime, option: string, files: TlsFiles, serve: ServeOptions, cwd: string): void {
  const cannot = (what: string) =>
    new ConfigError(
      `--${option}: ${what} is not available on ${rt.name}: its TLS server (${rt.tls.server}) cannot do it (README: "Exposing tsgi to the internet")`,
    );
  if (files.ca !== undefined && !rt.tls.clientCerts) throw cannot('a CA (client certificates, mTLS)');
  if (serve.sni.length > 0 && !rt.tls.sni) throw cannot('--sni');
  tlsMaterial(option, files, serve, cwd);
}

/** What a TLS port serves here, for the startup lines: "node:http2: TLS 1.2+, HTTP/2 and HTTP/1.1 by ALPN". */
export function tlsSummary(rt: Runtime): string {
  return `${rt.tls.server}: TLS 1.2+, ${rt.tls.h2 ? 'HTTP/2 and HTTP/1.1 by ALPN' : `HTTP/1.1 only (${rt.name}'s TLS server has no HTTP/2)`}`;
}
