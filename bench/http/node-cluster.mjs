// Bare Node HTTP server for bench/http-vs-bare.sh: the hello world of examples/hello.ts (same body,
// same content-type) on node:cluster + node:http, no tsgi, no Request/Response objects.
//   node bench/http/node-cluster.mjs PORT [PROCESSES=1]
// The primary forks PROCESSES workers and serves nothing itself; node:cluster's default
// scheduling on Linux is round-robin (the primary accepts and hands connections to the workers);
// NODE_CLUSTER_SCHED_POLICY=none makes the workers accept on the shared socket themselves.
import cluster from 'node:cluster';
import http from 'node:http';

const port = Number(process.argv[2] ?? 8080);
const processes = Number(process.argv[3] ?? 1);

if (cluster.isPrimary) {
  for (let i = 0; i < processes; i++) cluster.fork();
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.on(sig, () => {
      for (const w of Object.values(cluster.workers ?? {})) w?.kill(sig);
      process.exit(0);
    });
  }
} else {
  http
    .createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://localhost').pathname;
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(`Hello from tsgi: ${req.method} ${path}\n`);
    })
    .listen(port, '127.0.0.1');
}
