/**
 * Which sockets the options ask for and who serves them: what the launcher needs to bind, without
 * the serving core (src/worker/server.ts, whose protocols and codec load Node's fetch classes).
 */
import type { NativeHttpTarget, Runtime } from '../../runtimes/types.ts';
import type { Proto, ServeOptions } from '../master/protocol.ts';
import { parseTlsPort, type TlsFiles } from '../tls/spec.ts';

export const NOTHING_TO_SERVE =
  'nothing to serve on: give --socket ADDRESS (uwsgi, for nginx), --http-socket ADDRESS (HTTP), --fastcgi-socket ADDRESS (FastCGI), --scgi-socket ADDRESS (SCGI) or --http ADDRESS (HTTP router); an address is host:port, :port or a UNIX socket path';

/** Does the runtime's own HTTP server serve this kind of socket (else tsgi's HTTP/1.1 server)? */
export function nativeHttp(rt: Runtime, kind: NativeHttpTarget['kind'], keepAlive: boolean): boolean {
  return rt.nativeHttpKinds.includes(kind) && (keepAlive || rt.nativeHttpHonorsClose);
}

/**
 * Is a master's TCP HTTP port bound by every process with SO_REUSEPORT for the runtime's own
 * server, rather than served from the one socket the master holds? Only with --reuse-port, and
 * only where that server takes no fd (Bun, Deno). Each process then has an accept queue of its
 * own: one that stops resets the connections queued on it, unless the kernel migrates them
 * (net.ipv4.tcp_migrate_req), and nothing accepts while no worker listens.
 */
export function reusePortHttp(rt: Runtime, options: ServeOptions): boolean {
  return options.reusePort === true && nativeHttp(rt, 'tcp', options.httpKeepalive) && !nativeHttp(rt, 'fd', options.httpKeepalive);
}

/** Every socket of the options, in the order they are numbered in logs and stats. */
export function socketSpecs(options: ServeOptions): Array<{ proto: Proto; spec: string; tls?: TlsFiles }> {
  const of = (proto: Proto, specs: string[]) => specs.map((spec) => ({ proto, spec }));
  const https = options.httpsSockets.map((s) => {
    const { address, files } = parseTlsPort(s, 'https-socket');
    return { proto: 'http' as const, spec: address, tls: files };
  });
  return [
    ...of('uwsgi', options.sockets),
    ...of('http', options.httpSockets),
    ...https,
    ...of('fastcgi', options.fastcgiSockets),
    ...of('scgi', options.scgiSockets),
  ];
}
