/**
 * A lazy Request for Node's and Deno's CGI-style sockets (uwsgi, SCGI, FastCGI, the router's internal
 * socket): `method`, `url`, `headers` and `signal` come straight from the parts the vars gave
 * (src/codec/request.ts decides when they are exactly what the real Request would give back), and
 * undici's Request — the vars of a GET made into it and read take 5.3 µs, into the lazy one 3.7
 * (bench/vars-request.mjs) — is made only when the app asks for anything else (its body, clone(),
 * cache…), once, from the same parts.
 *
 * undici checks its own internal slots: an object that merely has `Request.prototype` in its chain
 * breaks `new Request(req)`, `fetch(req)` (bench/lazy-request.mjs). lazyRequests() therefore puts
 * in the chain of the global `Request` a subclass whose constructor takes the real Request out of
 * a lazy one (input or init), and wraps the global `fetch` likewise. `instanceof Request` holds
 * for every Request the runtime makes. Left out: the runtime's own methods called on a lazy
 * Request (`Request.prototype.clone.call(req)`, a getter taken off the prototype) still refuse it.
 */
import type { RequestParts } from './types.ts';

const INSTALLED = Symbol.for('tsgi.lazyRequests');
const flags = globalThis as typeof globalThis & { [INSTALLED]?: true };
const INSPECT = Symbol.for('nodejs.util.inspect.custom');

/** The runtime's own Request: the root of the global's chain (another library may have put a subclass in its place). */
function runtimeRequest(): typeof Request {
  let c: typeof Request = globalThis.Request;
  while (Object.getPrototypeOf(c) !== Function.prototype) c = Object.getPrototypeOf(c);
  return c;
}

const Base = runtimeRequest();

/** Request.prototype's members answered by LazyRequest itself; every other one goes to the real Request. */
const OWN = new Set(['constructor', 'method', 'url', 'headers', 'signal', 'body', 'bodyUsed']);
/** Members that read the request's headers: the real Request gets the app's Headers first. */
const READS_HEADERS = new Set(['clone', 'blob', 'formData']);

type Inspect = (value: unknown, options: object) => string;

class LazyRequest {
  readonly #parts: RequestParts;
  #real: Request | null = null;
  /** The Headers the app was given (req.headers), once it asked. */
  #headers: Headers | null = null;

  constructor(parts: RequestParts) {
    this.#parts = parts;
  }

  get method(): string {
    return this.#parts.method;
  }

  get url(): string {
    return this.#parts.url;
  }

  get headers(): Headers {
    this.#headers ??= this.#real === null ? new Headers(this.#parts.headers) : this.#real.headers;
    return this.#headers;
  }

  get signal(): AbortSignal {
    return this.#parts.signal() ?? this.#made().signal;
  }

  get body(): ReadableStream<Uint8Array> | null {
    return this.#real === null && !this.#parts.hasBody ? null : this.#made().body;
  }

  /** Nothing can have read the body before the real Request exists. */
  get bodyUsed(): boolean {
    return this.#real?.bodyUsed === true;
  }

  /** util.inspect (console.log): the real Request's view. */
  [INSPECT](_depth: number, options: object, inspect: Inspect): string {
    return inspect(this.#synced(), options);
  }

  /** The real Request, made once (with the app's Headers if it has them). */
  #made(): Request {
    this.#real ??= this.#parts.real(this.#headers ?? this.#parts.headers);
    return this.#real;
  }

  /** The real Request with its headers made the app's: it got a copy of them, which the app may have changed since. */
  #synced(): Request {
    const real = this.#made();
    const app = this.#headers;
    if (app !== null && app !== real.headers) copyHeaders(app, real.headers);
    return real;
  }

  /** `v`, or the real Request of a lazy one: what the runtime's Request and fetch are given. */
  static unwrap<T>(v: T): T {
    return typeof v === 'object' && v !== null && #parts in v ? (v.#synced() as T) : v;
  }

  static {
    for (const key of Reflect.ownKeys(Base.prototype)) {
      if (typeof key !== 'string' || OWN.has(key)) continue;
      const d = Object.getOwnPropertyDescriptor(Base.prototype, key);
      if (d?.get) {
        Object.defineProperty(LazyRequest.prototype, key, {
          get(this: LazyRequest) {
            return Reflect.get(this.#made(), key);
          },
          enumerable: true,
          configurable: true,
        });
      } else if (typeof d?.value === 'function') {
        const headed = READS_HEADERS.has(key);
        Object.defineProperty(LazyRequest.prototype, key, {
          value: function (this: LazyRequest, ...args: unknown[]): unknown {
            const real = headed ? this.#synced() : this.#made();
            return Reflect.apply(Reflect.get(real, key), real, args);
          },
          enumerable: true,
          configurable: true,
          writable: true,
        });
      }
    }
  }
}
Object.setPrototypeOf(LazyRequest.prototype, Base.prototype);

function copyHeaders(from: Headers, to: Headers): void {
  for (const name of [...to.keys()]) to.delete(name);
  for (const [name, value] of from) to.append(name, value);
}

function makeLazy(parts: RequestParts): Request {
  return new LazyRequest(parts) as unknown as Request;
}

/**
 * The runtime's Request, taking the real Request out of a lazy one (input or init). Called by
 * itself (an app that kept the global at import) while a library's subclass of it is the global
 * (Hono's adapter on --http-socket), it makes that subclass's Request: the library's own light
 * requests are taken apart there.
 */
class UnwrappingRequest extends Base {
  // biome-ignore lint/correctness/noUnreachableSuper: super() is skipped only where the subclass's Request is made instead
  constructor(input: RequestInfo | URL, init?: RequestInit) {
    const top = globalThis.Request;
    if (new.target === UnwrappingRequest && top !== UnwrappingRequest && Object.prototype.isPrototypeOf.call(UnwrappingRequest, top)) {
      // biome-ignore lint/correctness/noConstructorReturn: the global subclass's Request stands for this one
      return Reflect.construct(top, [input, init]);
    }
    super(LazyRequest.unwrap(input), LazyRequest.unwrap(init));
  }
}
Object.defineProperty(UnwrappingRequest, 'name', { value: 'Request' });
// Every Request the runtime makes is a Request; the app's subclasses keep their own instanceof.
Object.defineProperty(UnwrappingRequest, Symbol.hasInstance, {
  value: function hasInstance(this: unknown, value: unknown): boolean {
    return this === UnwrappingRequest ? value instanceof Base : Function.prototype[Symbol.hasInstance].call(this, value);
  },
});

/**
 * UnwrappingRequest directly above the runtime's Request in the global's chain, unless it is
 * there: as the global, or under the subclass another library put in the global's place (Hono's
 * Node adapter, which --http-socket loads), whose `super()` then reaches it too.
 */
function placeUnwrapping(): void {
  let c = globalThis.Request;
  if (c === Base) {
    globalThis.Request = UnwrappingRequest;
    return;
  }
  while (c !== UnwrappingRequest && Object.getPrototypeOf(c) !== Base) c = Object.getPrototypeOf(c);
  if (c === UnwrappingRequest) return;
  Object.setPrototypeOf(c, UnwrappingRequest);
  Object.setPrototypeOf(c.prototype, UnwrappingRequest.prototype);
}

function installFetch(): void {
  const runtimeFetch = globalThis.fetch;
  globalThis.fetch = function fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
    return runtimeFetch(LazyRequest.unwrap(input), LazyRequest.unwrap(init));
  } as typeof globalThis.fetch;
}

/** Install the global Request and fetch that take a lazy Request (once per process, before the app is imported); returns the maker. */
export function lazyRequests(): (parts: RequestParts) => Request {
  if (!flags[INSTALLED]) {
    placeUnwrapping();
    installFetch();
    flags[INSTALLED] = true;
  }
  return makeLazy;
}

/**
 * After a library put its own Request subclass in the global's place (Hono's getRequestListener):
 * where lazy Requests are installed, the global's chain reaches UnwrappingRequest again. Needed
 * when the library's module was loaded before lazyRequests() (its class extends the runtime's
 * Request itself); one loaded after extends the global, UnwrappingRequest.
 */
export function keepLazyRequests(): void {
  if (flags[INSTALLED]) placeUnwrapping();
}
