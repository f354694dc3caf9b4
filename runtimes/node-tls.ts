/**
 * The HTTPS server of every runtime: node:http2's secure server with HTTP/1.1 allowed (ALPN picks
 * h2 or http/1.1 on the same port), Hono's Node adapter between it and the fetch handler. Node,
 * Bun and Deno all run it (measured: README, "Exposing tsgi to the internet"), on TCP, UNIX
 * sockets and inherited fds alike — Bun.serve and Deno.serve take no fd, so the one server
 * serves every path (the router and workers under a master too).
 *
 * Certificates change for new handshakes with setTls (setSecureContext; the SNI contexts are
 * replaced in one step), established connections keep theirs.
 */
import http2 from 'node:http2';
import tls from 'node:tls';
import { keepLazyRequests } from './lazy-request.ts';
import { listenOn } from './node-listen.ts';
import { clientGone, type HttpHandler, type Listener, type NativeHttpOptions, type NativeHttpTarget, type Peer, type TlsMaterial } from './types.ts';

type Incoming = http2.Http2ServerRequest | import('node:http').IncomingMessage;
type Outgoing = http2.Http2ServerResponse | import('node:http').ServerResponse;

/** A subject as RFC 2253 writes it (last field first, as nginx's $ssl_client_s_dn): "CN=client one,O=Acme". */
export function rfc2253(subject: Record<string, string | string[]>): string {
  const esc = (v: string) => v.replace(/[,+"\\<>;=]/g, (c) => `\\${c}`);
  const parts: string[] = [];
  for (const [k, v] of Object.entries(subject)) for (const one of Array.isArray(v) ? v : [v]) parts.push(`${k}=${esc(one)}`);
  return parts.reverse().join(',');
}

/** The client's address and, on an mTLS port, its verified certificate's subject. */
class TlsPeer implements Peer {
  readonly #socket: tls.TLSSocket;
  readonly #mtls: boolean;
  #subject: string | undefined | null = null;

  constructor(socket: tls.TLSSocket, mtls: boolean) {
    this.#socket = socket;
    this.#mtls = mtls;
  }
  get address(): string {
    return this.#socket.remoteAddress ?? '';
  }
  get port(): number {
    return this.#socket.remotePort ?? 0;
  }
  get clientSubject(): string | undefined {
    if (this.#subject !== null) return this.#subject;
    const cert = this.#mtls && this.#socket.authorized ? this.#socket.getPeerCertificate() : null;
    this.#subject = cert?.subject ? rfc2253(cert.subject as unknown as Record<string, string>) : undefined;
    return this.#subject;
  }
}

/** The certificates of one port: the default context's options, and the SNI contexts. */
class Contexts {
  #byName = new Map<string, tls.SecureContext>();

  /** Options for the default certificate (createSecureServer, setSecureContext). */
  static options(m: TlsMaterial): tls.SecureContextOptions {
    return { cert: m.cert, key: m.key, ciphers: m.ciphers, ca: m.ca, minVersion: 'TLSv1.2' };
  }

  /** Build every context first: a bad one throws before anything changes. Returns the commit. */
  prepare(m: TlsMaterial): () => void {
    const next = new Map<string, tls.SecureContext>();
    for (const s of m.sni) next.set(s.name.toLowerCase(), tls.createSecureContext({ ...Contexts.options(m), cert: s.cert, key: s.key }));
    return () => {
      this.#byName = next;
    };
  }

  /** The context for a server name: exact, then `*.rest`; undefined: the default certificate. */
  find(name: string): tls.SecureContext | undefined {
    const n = name.toLowerCase();
    const dot = n.indexOf('.');
    return this.#byName.get(n) ?? (dot > 0 ? this.#byName.get(`*${n.slice(dot)}`) : undefined);
  }
}

/** The app's req.signal: aborts with clientGone() when the answer's stream closes before it is finished. */
function watchClient(req: Request, outgoing: Outgoing): void {
  let controller: AbortController | null = null;
  Object.defineProperty(req, 'signal', {
    configurable: true,
    get(): AbortSignal {
      if (controller !== null) return controller.signal;
      const c = (controller = new AbortController());
      if (outgoing.destroyed) c.abort(clientGone());
      else outgoing.once('close', () => !outgoing.writableFinished && c.abort(clientGone()));
      return c.signal;
    },
  });
}

/**
 * Connections idle for `ms` are closed: an HTTP/2 session by its own timer (which its streams'
 * frames refresh), an HTTP/1.1 connection by its socket's (a stalled request head, slowloris).
 * Not the socket's timer for HTTP/2: the session's frames bypass it on Node and Bun, and a long
 * answer was cut (measured).
 */
function closeIdle(server: http2.Http2SecureServer, ms: number): void {
  server.on('session', (session: http2.ServerHttp2Session) => session.setTimeout(ms, () => session.destroy()));
  server.on('secureConnection', (socket: tls.TLSSocket) => {
    if (socket.alpnProtocol === 'h2') return;
    socket.setTimeout(ms, () => socket.destroy());
  });
}

/**
 * Serve HTTPS on `target`. `overrideGlobals`: let Hono's adapter put its light Request and
 * Response in place of the global ones (Node, as node-http.ts does); Bun and Deno keep theirs.
 */
export async function serveHttps(
  target: NativeHttpTarget,
  handler: HttpHandler,
  options: NativeHttpOptions,
  m: TlsMaterial,
  overrideGlobals: boolean,
): Promise<Listener> {
  const { getRequestListener } = await import('@hono/node-server');
  const mtls = m.ca !== undefined;
  const listener = getRequestListener(
    (req, env) => {
      const { incoming, outgoing } = env as { incoming: Incoming; outgoing: Outgoing };
      watchClient(req, outgoing);
      return handler(req, new TlsPeer(incoming.socket as tls.TLSSocket, mtls));
    },
    { overrideGlobalObjects: overrideGlobals },
  );
  keepLazyRequests();
  const contexts = new Contexts();
  contexts.prepare(m)();
  const server = secureServer(m, contexts);
  server.on('request', (req: Incoming, res: Outgoing) => {
    // Held as an accepted connection until the answer's stream closes: a graceful stop waits for
    // its last bytes, which HTTP/2 sends after the app's body has ended (an exit at that moment
    // lost the end of a streamed answer: measured).
    const settle = options.accepted?.();
    if (settle) res.once('close', settle);
    void listener(req as never, res as never);
  });
  const sessions = sessionsOf(server);
  // A client that fails its handshake (garbage, a wrong certificate, a timeout) is closed (Deno
  // leaves the socket open otherwise: measured).
  server.on('tlsClientError', (_e: Error, socket: tls.TLSSocket) => socket.destroy());
  if (options.idleTimeoutMs) closeIdle(server, options.idleTimeoutMs);
  server.on('sessionError', () => {});
  const address = await listenOn(server, target, options.backlog, 'HTTPS server');
  return {
    address,
    setTls(next: TlsMaterial): void {
      // All built before any is used: a refused certificate changes nothing.
      const commit = contexts.prepare(next);
      server.setSecureContext(Contexts.options(next));
      commit();
    },
    // Stop accepting (not waiting for the connections to close): requests and HTTP/2 streams in flight finish.
    close: async () => {
      server.close();
      for (const session of sessions) session.close();
    },
  };
}

/** node:http2's TLS server, HTTP/1.1 too, with the certificates of `contexts` (one per --sni name). */
function secureServer(m: TlsMaterial, contexts: Contexts): http2.Http2SecureServer {
  const mtls = m.ca !== undefined;
  return http2.createSecureServer({
    ...Contexts.options(m),
    allowHTTP1: true,
    requestCert: mtls,
    rejectUnauthorized: mtls,
    handshakeTimeout: m.handshakeTimeoutMs,
    // Only when there are SNI certificates: Deno asks the callback with an empty name for clients that send none.
    ...(m.sni.length > 0 ? { SNICallback: (name: string, cb: (e: Error | null, ctx?: tls.SecureContext) => void) => cb(null, contexts.find(name)) } : {}),
  });
}

/** The server's open HTTP/2 sessions, told to go away at close() (GOAWAY: the client opens no more streams here, the open ones finish). */
function sessionsOf(server: http2.Http2SecureServer): Set<http2.ServerHttp2Session> {
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (session: http2.ServerHttp2Session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
  });
  return sessions;
}
