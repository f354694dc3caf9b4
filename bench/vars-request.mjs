// What the CGI-style sockets' Request costs per request, per runtime: the vars of a GET (as nginx's
// uwsgi_params send them) made into the runtime's Request (src/codec/request.ts) and into the lazy
// Request (runtimes/lazy-request.ts), each then read as a hello world app does (method, url, one
// header). Plain JavaScript over tsgi's modules, no server; the lazy line last (it replaces the
// global Request).
//   node bench/vars-request.mjs; bun bench/vars-request.mjs; deno run -A bench/vars-request.mjs
import { varsToRequest } from '../src/codec/index.ts';
import { lazyRequests } from '../runtimes/lazy-request.ts';

const N = 100000;
const vars = [
  ['QUERY_STRING', ''],
  ['REQUEST_METHOD', 'GET'],
  ['CONTENT_TYPE', ''],
  ['CONTENT_LENGTH', ''],
  ['REQUEST_URI', '/a'],
  ['PATH_INFO', '/a'],
  ['DOCUMENT_ROOT', '/var/www/html'],
  ['SERVER_PROTOCOL', 'HTTP/1.1'],
  ['REQUEST_SCHEME', 'http'],
  ['REMOTE_ADDR', '127.0.0.1'],
  ['REMOTE_PORT', '40000'],
  ['SERVER_PORT', '80'],
  ['SERVER_NAME', 'x'],
  ['HTTP_HOST', 'x'],
  ['HTTP_USER_AGENT', 'wrk'],
  ['HTTP_ACCEPT', '*/*'],
];
let sink = 0;
function bench(name, f) {
  for (let i = 0; i < 5000; i++) f();
  const t = performance.now();
  for (let i = 0; i < N; i++) f();
  console.log(name.padEnd(30), (((performance.now() - t) * 1000) / N).toFixed(2), 'µs');
}
function use(req) {
  sink += req.method.length + req.url.length + (req.headers.get('user-agent')?.length ?? 0);
}
bench('Request (runtime)', () => use(varsToRequest(vars, null)));
const lazy = lazyRequests();
bench('Request (lazy)', () => use(varsToRequest(vars, null, undefined, lazy)));
if (sink === 0) console.log('unused');
