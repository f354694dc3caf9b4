// What a fetch-handler request costs in objects alone, per runtime: Request (with and without an
// AbortSignal), Response, and reading a Response body. Plain JavaScript, no server.
//   node bench/request-objects.mjs; bun bench/request-objects.mjs; deno run bench/request-objects.mjs
const N = 100000;
const body = 'Hello from tsgi: GET /\n';
const headers = [
  ['host', 'x'],
  ['user-agent', 'wrk'],
  ['accept', '*/*'],
];
async function bench(name, f) {
  for (let i = 0; i < 5000; i++) await f();
  const t = performance.now();
  for (let i = 0; i < N; i++) await f();
  console.log(name.padEnd(28), (((performance.now() - t) * 1000) / N).toFixed(2), 'µs');
}
await bench('Request', () => new Request('http://x/a', { method: 'GET', headers }));
await bench('Request + AbortSignal', () => new Request('http://x/a', { method: 'GET', headers, signal: new AbortController().signal }));
await bench('Response', () => new Response(body));
await bench('Response + arrayBuffer()', () => new Response(body).arrayBuffer());
await bench('Response + body reader', async () => {
  const r = new Response(body).body.getReader();
  await r.read();
  await r.read();
});
