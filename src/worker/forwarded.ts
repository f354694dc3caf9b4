/**
 * --trusted-proxy on the HTTP front doors (--http-socket, the --http router): a request from a
 * trusted proxy is the client's, as its Forwarded / X-Forwarded-* headers say (the parsing is in
 * src/codec/forwarded.ts) — the peer the handler is given (the request log's address, the
 * router's REMOTE_ADDR) and the scheme of req.url. Other peers' headers are passed on as they
 * are and believed by nobody.
 */
import type { Peer } from '../../runtimes/types.ts';
import { TrustedProxies } from '../codec/forwarded.ts';

export { TrustedProxies };

/** The proxies to trust, or undefined when none is (the default: nothing is looked at). */
export function trustedProxies(specs: readonly string[]): TrustedProxies | undefined {
  return specs.length > 0 ? new TrustedProxies(specs) : undefined;
}

/**
 * Who sent a request, and over which scheme: the peer and `fallback`, unless a trusted proxy says
 * otherwise. `headers` is called only when a proxy is trusted (tsgi's HTTP/1.1 server makes its
 * Headers object only when something asks).
 */
export function forwardedClient(
  proxies: TrustedProxies | undefined,
  peer: Peer,
  headers: () => { get(name: string): string | null },
  fallback: 'http' | 'https',
): { peer: Peer; scheme: 'http' | 'https' } {
  const client = proxies?.client(peer, (name) => headers().get(name));
  if (!client) return { peer, scheme: fallback };
  return { peer: { address: client.address, port: client.port }, scheme: client.scheme ?? fallback };
}

/** The same for a Request the runtime's own server built: a new one when the scheme changes. */
export function forwardedRequest(proxies: TrustedProxies | undefined, req: Request, peer: Peer): { req: Request; peer: Peer } {
  if (!proxies) return { req, peer };
  const url = new URL(req.url);
  const here = url.protocol === 'https:' ? 'https' : 'http';
  const client = forwardedClient(proxies, peer, () => req.headers, here);
  if (client.scheme === here) return { req, peer: client.peer };
  url.protocol = `${client.scheme}:`;
  const init = { method: req.method, headers: req.headers, body: req.body, signal: req.signal, duplex: 'half' };
  return { req: new Request(url, init as RequestInit), peer: client.peer };
}
