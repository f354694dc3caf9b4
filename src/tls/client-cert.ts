/**
 * The verified client certificate's subject, as the app sees it: the request header
 * x-tsgi-client-cert-subject ("CN=client one,O=Acme", RFC 2253 as nginx's $ssl_client_s_dn). A
 * port that owns the header (every TLS port, every port of the router) drops whatever the client
 * sent in it and sets it only from a certificate it verified (mTLS). Behind the router, the
 * workers get it as the uwsgi var HTTP_X_TSGI_CLIENT_CERT_SUBJECT like any header, so the app
 * reads it the same way on every path. A plain --http-socket or --socket does not own it: what a
 * client or a web server in front sent there arrives as it is (strip it in that web server).
 */
import type { HttpHandler } from '../../runtimes/types.ts';

export const CLIENT_CERT_HEADER = 'x-tsgi-client-cert-subject';

/** `req` with the header set to `subject` (removed when undefined). */
function withSubject(req: Request, subject: string | undefined): Request {
  try {
    if (subject === undefined) req.headers.delete(CLIENT_CERT_HEADER);
    else req.headers.set(CLIENT_CERT_HEADER, subject);
    return req;
  } catch {
    // Immutable headers: a copy of the request (its body and signal follow).
    const headers = new Headers(req.headers);
    if (subject === undefined) headers.delete(CLIENT_CERT_HEADER);
    else headers.set(CLIENT_CERT_HEADER, subject);
    return new Request(req, { headers, signal: req.signal });
  }
}

/** The handler behind a port that owns the header. */
export function ownClientCert(handler: HttpHandler): HttpHandler {
  return (req, peer) => {
    const subject = peer.clientSubject;
    return handler(subject !== undefined || req.headers.has(CLIENT_CERT_HEADER) ? withSubject(req, subject) : req, peer);
  };
}
