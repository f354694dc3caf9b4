// The per-request cost of tsgi's wrapper around an app behind Bun.serve / Deno.serve / node:http
// (limits, counters): the app alone, wrapped, wrapped with counters. No server.
//   bun bench/native-wrapper.ts; deno run -A bench/native-wrapper.ts; npx tsx bench/native-wrapper.ts
import hello from '../examples/hello.ts';
import { CoreCounters } from '../src/worker/counters.ts';
import { nativeHandler } from '../src/worker/native-http.ts';

const req = new Request('http://127.0.0.1:8080/', { headers: { host: '127.0.0.1:8080', 'user-agent': 'wrk' } });
const peer = { address: '127.0.0.1', port: 5555 };
const base = { handler: hello, bufferSize: 65535, limitPost: 0, headTimeoutMs: 4000, keepAlive: true };
const N = 300000;
function bench(name: string, f: () => unknown): void {
  for (let i = 0; i < 20000; i++) f();
  const t = performance.now();
  for (let i = 0; i < N; i++) f();
  console.log(name.padEnd(22), (((performance.now() - t) * 1000) / N).toFixed(3), 'µs');
}
const wrapped = nativeHandler(base);
const counted = nativeHandler({ ...base, counters: new CoreCounters(0) });
bench('app', () => hello(req));
bench('wrapped', () => wrapped(req, peer));
bench('wrapped + counters', () => counted(req, peer));
