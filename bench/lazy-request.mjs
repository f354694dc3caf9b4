// Would a lazy Request (an object whose prototype chain has Request.prototype, building the
// runtime's Request only when asked, as srvx's NodeRequest and @hono/node-server's lightweight
// Request do) survive what apps do with a request? It passes `instanceof Request`, but the
// runtime's own code checks its internal slots: prints what each use gives, per runtime.
//   node bench/lazy-request.mjs; bun bench/lazy-request.mjs; deno run bench/lazy-request.mjs
class LazyRequest {
  #real = null;
  get url() {
    return 'http://x/a';
  }
  get method() {
    return 'GET';
  }
  get real() {
    this.#real ??= new Request(this.url);
    return this.#real;
  }
}
Object.setPrototypeOf(LazyRequest.prototype, Request.prototype);
const lazy = new LazyRequest();
console.log('instanceof Request:', lazy instanceof Request);
const uses = [
  ['new Request(req)', () => new Request(lazy)],
  ['new Request(req, { headers })', () => new Request(lazy, { headers: { a: '1' } })],
  ["new Request('http://y/', req) (req as init)", () => new Request('http://y/', lazy)],
  ['Request.prototype.clone.call(req)', () => Request.prototype.clone.call(lazy)],
];
for (const [what, f] of uses) {
  try {
    f();
    console.log(`${what}: works`);
  } catch (e) {
    console.log(`${what}: throws ${e.constructor.name}: ${e.message}`);
  }
}
try {
  await fetch(lazy);
  console.log('fetch(req): works');
} catch (e) {
  console.log(`fetch(req): rejects: ${e.message}`);
}
