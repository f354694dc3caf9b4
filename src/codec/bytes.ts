/**
 * Byte strings (one char per byte, latin1 0..255) ⇄ bytes, without TextDecoder: the WHATWG
 * "latin1" decoder is really windows-1252 and would change bytes 0x80–0x9F.
 */

/** Below this many bytes a plain loop beats creating a subarray for String.fromCharCode.apply. */
const SHORT = 8;
/** Arguments per String.fromCharCode.apply call (JavaScriptCore caps apply at 65536). */
const APPLY_CHUNK = 8192;

/** Bytes [start, end) → byte string. */
export function latin1(bytes: Uint8Array, start = 0, end = bytes.length): string {
  const n = end - start;
  if (n <= SHORT) {
    let s = '';
    for (let i = start; i < end; i++) s += String.fromCharCode(bytes[i]);
    return s;
  }
  if (n <= APPLY_CHUNK) return String.fromCharCode.apply(null, bytes.subarray(start, end) as unknown as number[]);
  let s = '';
  for (let i = start; i < end; i += APPLY_CHUNK) {
    s += String.fromCharCode.apply(null, bytes.subarray(i, Math.min(end, i + APPLY_CHUNK)) as unknown as number[]);
  }
  return s;
}

/**
 * Byte string → bytes, into `out` at `offset` when given. A char above 0xFF is not a byte:
 * RangeError (encode text to UTF-8 first, e.g. with TextEncoder, then take its bytes).
 */
export function fromLatin1(s: string, out?: Uint8Array, offset = 0): Uint8Array {
  const b = out ?? new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff) throw new RangeError(`character U+${c.toString(16).padStart(4, '0')} at index ${i} is not a byte (use a byte string)`);
    b[offset + i] = c;
  }
  return b;
}

/**
 * The var names nginx sends on (nearly) every request. Decoding a key that is one of these returns
 * the constant instead of a new string: no allocation, and later comparisons and Map lookups hit
 * an internalized string with its hash already computed.
 */
const KNOWN_KEYS = [
  'QUERY_STRING',
  'REQUEST_METHOD',
  'CONTENT_TYPE',
  'CONTENT_LENGTH',
  'REQUEST_URI',
  'PATH_INFO',
  'DOCUMENT_ROOT',
  'SERVER_PROTOCOL',
  'REQUEST_SCHEME',
  'HTTPS',
  'REMOTE_ADDR',
  'REMOTE_PORT',
  'SERVER_PORT',
  'SERVER_NAME',
  'SCRIPT_NAME',
  'UWSGI_SCHEME',
  'HTTP_HOST',
  'HTTP_USER_AGENT',
  'HTTP_ACCEPT',
  'HTTP_ACCEPT_ENCODING',
  'HTTP_ACCEPT_LANGUAGE',
  'HTTP_CONNECTION',
  'HTTP_COOKIE',
  'HTTP_REFERER',
  'HTTP_ORIGIN',
  'HTTP_AUTHORIZATION',
  'HTTP_CACHE_CONTROL',
  'HTTP_PRAGMA',
  'HTTP_CONTENT_LENGTH',
  'HTTP_CONTENT_TYPE',
  'HTTP_IF_NONE_MATCH',
  'HTTP_IF_MODIFIED_SINCE',
  'HTTP_UPGRADE_INSECURE_REQUESTS',
  'HTTP_X_FORWARDED_FOR',
  'HTTP_X_FORWARDED_PROTO',
  'HTTP_X_FORWARDED_HOST',
  'HTTP_X_REAL_IP',
  'HTTP_X_REQUESTED_WITH',
  'HTTP_SEC_FETCH_DEST',
  'HTTP_SEC_FETCH_MODE',
  'HTTP_SEC_FETCH_SITE',
  'HTTP_SEC_FETCH_USER',
  'HTTP_DNT',
  'HTTP_TE',
  'HTTP_UPGRADE',
  'HTTP_RANGE',
];

/** KNOWN_KEYS by length; each entry with its bytes. */
const BY_LENGTH: Array<Array<{ name: string; bytes: Uint8Array }>> = [];
for (const name of KNOWN_KEYS) {
  (BY_LENGTH[name.length] ??= []).push({ name, bytes: fromLatin1(name) });
}

/** Like latin1(), for var names: a known name comes back as the shared constant. */
export function latin1Key(bytes: Uint8Array, start: number, end: number): string {
  const candidates = BY_LENGTH[end - start];
  if (candidates !== undefined) {
    next: for (let c = 0; c < candidates.length; c++) {
      const k = candidates[c].bytes;
      // From the end: most names share their first bytes ("HTTP_", "REQUEST_", "SERVER_").
      for (let i = k.length - 1; i >= 0; i--) if (bytes[start + i] !== k[i]) continue next;
      return candidates[c].name;
    }
  }
  return latin1(bytes, start, end);
}

/** The chunks joined into one buffer (`total` is their summed length, when the caller knows it). */
export function concatBytes(parts: readonly Uint8Array[], total = parts.reduce((n, p) => n + p.length, 0)): Uint8Array {
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
