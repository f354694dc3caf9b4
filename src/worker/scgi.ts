/**
 * The SCGI server (--scgi-socket): one request per connection, as nginx's scgi_pass and Apache's
 * mod_proxy_scgi send it. Bytes → ScgiDecoder → the CGI vars → Request → app → a CGI-style
 * answer (`Status: 200 OK`, headers, body) → close: the close ends the answer (Apache reads
 * until it; nginx also takes the Status: form).
 */
import type { Conn } from '../../runtimes/types.ts';
import { ScgiDecoder } from '../codec/index.ts';
import { CgiConnection, type CgiProtocol } from './cgi-conn.ts';
import type { VarsServerOptions } from './vars.ts';

export type ScgiServerOptions = VarsServerOptions;

function scgiProtocol(o: ScgiServerOptions): CgiProtocol {
  return {
    decoder: (events) => new ScgiDecoder(events, { bufferSize: o.bufferSize }),
    cgi: true,
    socket: 'an SCGI socket',
    notHttp: 'This is an SCGI socket (tsgi --scgi-socket)',
    bad: 'bad SCGI request',
    noWebSockets: '--scgi-socket cannot carry WebSockets: serve this route with --http-socket (nginx proxy_pass) or --http',
  };
}

export function handleScgiConn(conn: Conn, options: ScgiServerOptions): void {
  new CgiConnection(conn, options, scgiProtocol(options));
}
