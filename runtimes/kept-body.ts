/**
 * Bodies the app gave its Response as a string or bytes, kept so that a server writes them as
 * they are instead of reading them back through the Response's stream, and knows their size
 * without reading them. On Node that read is the dearest part of an answer on the uwsgi path
 * (bench/request-objects.mjs: ≈ 8–13 µs against ≈ 4 µs for the Response itself); Hono's Node
 * adapter avoids it the same way for node:http. On Bun and Deno it is tsgi's own HTTP/1.1
 * server (a worker under --master) that gains most: one write, with no await before it. The
 * request log and --stats need every answer's size: behind the runtime's own HTTP server,
 * reading the body back to count it (and making a new Response of it) tripled a hello world's
 * CPU per request on Node and Deno (bench/README.md).
 *
 * keepResponseBodies() replaces the global Response with a subclass that notes such a body. Every
 * Response the runtime makes elsewhere (fetch(), Response.json()) still passes `instanceof
 * Response`; it has no kept body, and is read through its stream as before. A kept body is
 * written only while the Response's body is unread: once anything read it, the stream is the
 * truth. If something replaced the global since (Hono's Node adapter does, when node:http
 * starts serving), the subclass is installed again, on top of that one.
 */
const KEPT = Symbol.for('tsgi.keptBody');
/** Marks the installed subclass (Symbol.for: one per process, even if this module loads twice). */
const KEEPS = Symbol.for('tsgi.keepsBodies');

type Kept = Response & { [KEPT]?: string | Uint8Array };

const encoder = new TextEncoder();

/** The kept body of `res` as bytes, or null (none kept, or the body was read). */
export function keptBody(res: Response): Uint8Array | null {
  const body = (res as Kept)[KEPT];
  if (body === undefined || res.bodyUsed) return null;
  return typeof body === 'string' ? encoder.encode(body) : body;
}

/**
 * The byte size of the kept body of `res` (UTF-8 for a string), or null (none kept). Not checked
 * against a read: a body the app read before it answered is not sent by any server anyway.
 */
export function keptSize(res: Response): number | null {
  const body = (res as Kept)[KEPT];
  if (body === undefined) return null;
  return typeof body === 'string' ? utf8Length(body) : body.length;
}

/** The length of TextEncoder's UTF-8 of `s` (a lone surrogate becomes U+FFFD, 3 bytes). */
export function utf8Length(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 2;
      i++;
    } else n += 2;
  }
  return n;
}

type KeepingClass = typeof Response & { [KEEPS]?: true };

/** Install the subclass as the global Response, unless the global is it already; returns keptBody. */
export function keepResponseBodies(): (res: Response) => Uint8Array | null {
  // Own, not inherited: an app's or library's subclass of it that became the global is not it.
  if (Object.hasOwn(globalThis.Response as KeepingClass, KEEPS)) return keptBody;
  const Base = globalThis.Response;
  class KeptResponse extends Base {
    static readonly [KEEPS] = true;
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
  return keptBody;
}

/** Install the subclass (keepResponseBodies), for the sizes only; returns keptSize. */
export function keepResponseSizes(): (res: Response) => number | null {
  keepResponseBodies();
  return keptSize;
}
