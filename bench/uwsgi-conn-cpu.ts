// CPU time of tsgi's own JavaScript per uwsgi connection — decoder, Request, app (hello world),
// answer, end — over an in-memory Conn (no socket, no kernel), measured with process.cpuUsage()
// so that a machine shared with other work still gives comparable figures. With tree roots as
// arguments (e.g. an export of an older commit), compares them round by round.
//   node bench/uwsgi-conn-cpu.ts [TREE...]; bun bench/uwsgi-conn-cpu.ts; deno run -A bench/uwsgi-conn-cpu.ts
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('..', import.meta.url));
const trees = process.argv.slice(2).length > 0 ? process.argv.slice(2) : [here];
type Serve = (conn: unknown, options: object) => void;
const serves: Serve[] = [];
for (const t of trees) serves.push(((await import(`${t}/src/worker/uwsgi.ts`)) as { handleUwsgiConn: Serve }).handleUwsgiConn);
const { MemoryConn } = await import('../test/unit/memory-conn.ts');
const { encodePacket } = await import('../src/codec/vars.ts');
// nginx's stock uwsgi_params for `GET /` from wrk.
const packet = encodePacket([
  ['QUERY_STRING', ''],
  ['REQUEST_METHOD', 'GET'],
  ['CONTENT_TYPE', ''],
  ['CONTENT_LENGTH', ''],
  ['REQUEST_URI', '/'],
  ['PATH_INFO', '/'],
  ['DOCUMENT_ROOT', '/usr/share/nginx/html'],
  ['SERVER_PROTOCOL', 'HTTP/1.1'],
  ['REQUEST_SCHEME', 'http'],
  ['REMOTE_ADDR', '127.0.0.1'],
  ['REMOTE_PORT', '40000'],
  ['SERVER_PORT', '8080'],
  ['SERVER_NAME', 'localhost'],
  ['HTTP_HOST', '127.0.0.1:8080'],
]);
const handler = (req: Request) =>
  new Response(`Hello from tsgi: ${req.method} ${new URL(req.url).pathname}\n`, { headers: { 'content-type': 'text/plain; charset=utf-8' } });

function one(serve: Serve): Promise<void> {
  const conn = new MemoryConn();
  serve(conn, { handler, bufferSize: 4096, limitPost: 0, headTimeoutMs: 4000 });
  return new Promise((resolve) => {
    const end = conn.end.bind(conn);
    conn.end = () => {
      end();
      resolve();
    };
    conn.send(packet);
  });
}

/** CPU µs per connection, 64 connections at a time. */
async function round(serve: Serve, n: number): Promise<number> {
  const start = process.cpuUsage();
  for (let i = 0; i < n; i += 64) await Promise.all(Array.from({ length: 64 }, () => one(serve)));
  const d = process.cpuUsage(start);
  return (d.user + d.system) / n;
}

const ROUNDS = 7;
const results: number[][] = serves.map(() => []);
for (const s of serves) await round(s, 5000);
for (let r = 0; r < ROUNDS; r++) for (let i = 0; i < serves.length; i++) results[i].push(await round(serves[i], 20000));
for (let i = 0; i < trees.length; i++) {
  const sorted = results[i].slice().sort((a, b) => a - b);
  console.log(`${trees[i]}: ${sorted[ROUNDS >> 1].toFixed(1)} CPU µs per connection (median of ${ROUNDS}; ${results[i].map((x) => x.toFixed(0)).join(' ')})`);
}
process.exit(0);
