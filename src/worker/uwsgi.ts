/**
 * The uwsgi protocol server (--socket): one request per connection (nginx never reuses uwsgi
 * connections). Bytes → UwsgiDecoder → Request → app → Response → raw HTTP/1.1 bytes → close.
 */
import type { Conn } from '../../runtimes/types.ts';
import { UwsgiDecoder } from '../codec/index.ts';
import { CgiConnection, type CgiProtocol } from './cgi-conn.ts';
import type { VarsServerOptions } from './vars.ts';

export interface UwsgiServerOptions extends VarsServerOptions {
  /** The --http router's internal socket: take its streamed bodies (TSGI_BODY, src/codec/frames.ts). */
  streamedBodies?: boolean;
}

function uwsgiProtocol(o: UwsgiServerOptions): CgiProtocol {
  return {
    decoder: (events) => new UwsgiDecoder(events, { bufferSize: o.bufferSize, streamedBodies: o.streamedBodies }),
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
