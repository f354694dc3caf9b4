// Bare Node HTTPS server for bench/https.sh: the hello world of examples/hello.ts (same body, same
// content-type) on node:cluster + node:http2's secure server with HTTP/1.1 allowed (h2 and
// http/1.1 by ALPN, as tsgi's --https), no tsgi, no Request/Response objects.
//   node bench/https/node-tls.mjs PORT PROCESSES CERT KEY
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import http2 from 'node:http2';

const [port, processes, cert, key] = [Number(process.argv[2]), Number(process.argv[3] ?? 1), process.argv[4], process.argv[5]];

if (cluster.isPrimary) {
  for (let i = 0; i < processes; i++) cluster.fork();
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.on(sig, () => {
      for (const w of Object.values(cluster.workers ?? {})) w?.kill(sig);
      process.exit(0);
    });
  }
} else {
  http2
    .createSecureServer({ allowHTTP1: true, cert: readFileSync(cert), key: readFileSync(key), minVersion: 'TLSv1.2' }, (req, res) => {
      const path = new URL(req.url ?? '/', 'https://localhost').pathname;
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`Hello from tsgi: ${req.method} ${path}\n`);
    })
    .listen(port, '127.0.0.1');
}
