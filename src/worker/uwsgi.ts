/**
 * The uwsgi protocol server (--socket): one request per connection (nginx never reuses uwsgi
 * connections). Bytes → UwsgiDecoder → Request → app → Response → raw HTTP/1.1 bytes → close.
 * The --http router's internal socket speaks uwsgi with tsgi's extensions: internal.ts.
 */
import type { Conn } from '../../runtimes/types.ts';
import { UwsgiDecoder } from '../codec/index.ts';
import { CgiConnection, type CgiProtocol } from './cgi-conn.ts';
import type { VarsServerOptions } from './vars.ts';

export type UwsgiServerOptions = VarsServerOptions;

function uwsgiProtocol(o: UwsgiServerOptions): CgiProtocol {
  return {
    decoder: (events) => new UwsgiDecoder(events, { bufferSize: o.bufferSize }),
    cgi: false,
    socket: 'a uwsgi socket',
    notHttp: 'This is a uwsgi protocol socket (tsgi --socket)',
    bad: 'bad uwsgi packet',
    noWebSockets: '--socket (uwsgi, as from nginx uwsgi_pass) cannot carry WebSockets: serve this route with --http-socket (nginx proxy_pass) or --http',
  };
}

export function handleUwsgiConn(conn: Conn, options: UwsgiServerOptions): void {
  new CgiConnection(conn, options, uwsgiProtocol(options));
}
