/**
 * Which stream-socket API is fastest on this runtime? A server that answers every connection
 * with one fixed HTTP response and closes (the uwsgi pattern: one request per connection),
 * through the tsgi adapter named on the command line:
 *   native — this runtime's adapter (node:net on Node, Bun.listen on Bun, Deno.listen on Deno)
 *   node   — the node:net adapter (Node-compatible API) on whatever runtime runs this
 * Usage: <runtime> bench/socket-api.ts native|node PORT ; then wrk -t2 -c64 http://127.0.0.1:PORT/
 */
import { getRuntime } from '../runtimes/detect.ts';
import { nodeListenTcp } from '../runtimes/node-compat.ts';
import type { Conn } from '../runtimes/types.ts';

const [which = 'native', portArg = '18081'] = process.argv.slice(2);
const rt = await getRuntime();
const reply = new TextEncoder().encode('HTTP/1.1 200 OK\r\nContent-Length: 12\r\nConnection: close\r\n\r\nhello world\n');

function onConn(conn: Conn): void {
  let seen = '';
  conn.onData = (chunk) => {
    seen += String.fromCharCode.apply(null, Array.from(chunk));
    if (seen.includes('\r\n\r\n')) {
      conn.onData = null;
      conn.write(reply);
      conn.end();
    }
  };
}
const listen = which === 'node' ? nodeListenTcp : rt.listenTcp;
await listen('127.0.0.1', Number(portArg), onConn);
process.stderr.write(`listening on ${portArg} with ${which === 'node' ? 'node:net' : rt.socketApi} on ${rt.name} ${rt.version}\n`);
