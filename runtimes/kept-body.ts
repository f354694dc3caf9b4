/**
 * Bodies the app gave its Response as a string or bytes, kept so that a server writes them as
 * they are instead of reading them back through the Response's stream. On Node that read is the
 * dearest part of an answer on the uwsgi path (bench/request-objects.mjs: ≈ 8–13 µs against
 * ≈ 4 µs for the Response itself); Hono's Node adapter avoids it the same way for node:http.
 *
 * keepResponseBodies() replaces the global Response with a subclass that notes such a body. Every
 * Response the runtime makes elsewhere (fetch(), Response.json()) still passes `instanceof
 * Response`; it has no kept body, and is read through its stream as before. A kept body is used
 * only while the Response's body is unread: once anything read it, the stream is the truth.
 */
const KEPT = Symbol('tsgi.keptBody');
const INSTALLED = Symbol.for('tsgi.keptBodies');

type Kept = Response & { [KEPT]?: string | Uint8Array };

const encoder = new TextEncoder();

/** The kept body of `res` as bytes, or null (none kept, or the body was read). */
export function keptBody(res: Response): Uint8Array | null {
  const body = (res as Kept)[KEPT];
  if (body === undefined || res.bodyUsed) return null;
  return typeof body === 'string' ? encoder.encode(body) : body;
}

/** Install the subclass as the global Response (once per process); returns keptBody. */
export function keepResponseBodies(): (res: Response) => Uint8Array | null {
  const g = globalThis as typeof globalThis & { [INSTALLED]?: true };
  if (g[INSTALLED]) return keptBody;
  const Base = globalThis.Response;
  class KeptResponse extends Base {
    constructor(body?: BodyInit | null, init?: ResponseInit) {
      super(body, init);
      if (typeof body === 'string' || body instanceof Uint8Array) (this as Kept)[KEPT] = body;
    }
    /** Responses made by the runtime (fetch(), Response.json()) are Responses too. */
    static override [Symbol.hasInstance](value: unknown): boolean {
      return value instanceof Base;
    }
  }
  Object.defineProperty(KeptResponse, 'name', { value: 'Response' });
  globalThis.Response = KeptResponse;
  g[INSTALLED] = true;
  return keptBody;
}
