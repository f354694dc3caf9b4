// What req.signal costs per request, in objects alone: a Request as tsgi's own servers build it,
// without a signal, following an AbortSignal given in its init (eager), and with the signal made
// only when read (lazy: a Request subclass whose signal getter makes the AbortController).
// Variants run in turns, 7 rounds; the median and the best round are printed.
//   node bench/request-signal.mjs; bun bench/request-signal.mjs; deno run bench/request-signal.mjs
const N = 20000;
const headers = [
  ['host', 'x'],
  ['user-agent', 'wrk'],
  ['accept', '*/*'],
];

/** The lazy signal's source, as src/worker/respond.ts's Gone: an AbortController made on first use. */
class Source {
  controller = null;
  signal() {
    this.controller ??= new AbortController();
    return this.controller.signal;
  }
}
class LazyRequest extends Request {
  #source;
  constructor(url, init, source) {
    super(url, init);
    this.#source = source;
  }
  get signal() {
    return this.#source.signal();
  }
}

const variants = {
  'Request (no signal)': () => new Request('http://x/a', { method: 'GET', headers }),
  'Request + signal (eager)': () => new Request('http://x/a', { method: 'GET', headers, signal: new Source().signal() }),
  'lazy, signal not read': () => new LazyRequest('http://x/a', { method: 'GET', headers }, new Source()),
  'lazy, signal read': () => new LazyRequest('http://x/a', { method: 'GET', headers }, new Source()).signal,
  'lazy, signal read + listener': () => new LazyRequest('http://x/a', { method: 'GET', headers }, new Source()).signal.addEventListener('abort', () => {}),
};

// Keep the last objects alive so that nothing is optimized away.
const keep = new Array(64);
function round(f) {
  const t = performance.now();
  for (let i = 0; i < N; i++) keep[i & 63] = f();
  return ((performance.now() - t) * 1000) / N;
}
for (const f of Object.values(variants)) round(f); // warm up
const times = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
for (let r = 0; r < 7; r++) for (const [name, f] of Object.entries(variants)) times[name].push(round(f));
const runtime = typeof Deno !== 'undefined' ? `deno ${Deno.version.deno}` : typeof Bun !== 'undefined' ? `bun ${Bun.version}` : `node ${process.versions.node}`;
console.log(runtime);
for (const [name, t] of Object.entries(times)) {
  t.sort((a, b) => a - b);
  console.log(`  ${name.padEnd(30)} median ${t[3].toFixed(2).padStart(6)} µs   best ${t[0].toFixed(2).padStart(6)} µs`);
}
