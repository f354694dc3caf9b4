// Bare node:http with Hono's Node adapter (@hono/node-server), the layer tsgi --http-socket uses on
// Node, and the hello world of examples/hello.ts: what the adapter costs without tsgi around it.
//   node bench/http/hono-bare.mjs PORT
import http from 'node:http';
import { getRequestListener } from '@hono/node-server';

const port = Number(process.argv[2] ?? 8080);
const listener = getRequestListener((req) => {
  const url = new URL(req.url);
  return new Response(`Hello from tsgi: ${req.method} ${url.pathname}\n`, { headers: { 'content-type': 'text/plain; charset=utf-8' } });
});
http.createServer(listener).listen(port, '127.0.0.1');
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
