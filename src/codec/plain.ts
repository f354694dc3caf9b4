/**
 * "Would the URL parser or Headers change this?" — the rule shared by the two places that skip
 * the runtime's objects when the answer is no: the --http router's raw fast path
 * (src/router/raw.ts: a head straight to uwsgi vars) and a lazy Request built from the vars
 * (request.ts, Runtime.lazyRequests). Each test answers true only for what is certainly kept as
 * it is; anything it is unsure of goes the runtime's way.
 */

/** A path the URL parser keeps as it is (no character it would encode; dot segments are checked apart). */
const PLAIN_PATH = /^\/[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*$/;
/** A query the URL parser keeps as it is (printable ASCII but " # ' < >). */
const PLAIN_QUERY = /^[\x21\x24-\x26\x28-\x3b\x3d\x3f-\x7e]*$/;
/** A header value Headers keeps as it is: printable ASCII (tabs inside), no space at either end. */
const PLAIN_VALUE = /^(?:[\x21-\x7e](?:[\t\x20-\x7e]*[\x21-\x7e])?)?$/;
/** A lowercase header name Headers takes (an RFC 9110 token). */
const PLAIN_NAME = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;
/** A Host whose URL hostname is itself (port aside): a lowercase name not ending in a number, or a dotted IPv4 address as URL writes it. */
const PLAIN_HOST = /^(?:(?:[a-z0-9-]+\.)*[a-z-][a-z0-9-]*|(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d))(?::(\d{1,5}))?$/;

/** An origin-form request target (path[?query]) that the URL parser writes back as it is: no dot segment, nothing it encodes. */
export function plainTarget(target: string): boolean {
  const q = target.indexOf('?');
  const path = q === -1 ? target : target.slice(0, q);
  if (!PLAIN_PATH.test(path) || path.includes('/.') || (path.includes('%') && /%2e/i.test(path))) return false;
  return q === -1 || PLAIN_QUERY.test(target.slice(q + 1));
}

/** The hostname (SERVER_NAME) of a plain Host, or null. */
export function plainHostname(host: string): string | null {
  const m = PLAIN_HOST.exec(host);
  if (m === null || host.includes('xn--') || (m[1] !== undefined && Number(m[1]) > 65535)) return null;
  return m[1] === undefined ? host : host.slice(0, host.length - m[1].length - 1);
}

/** A plain Host that a URL of this scheme writes back as it is: its port, if any, without a leading 0 and not the scheme's default. */
export function canonicalHost(host: string, scheme: 'http' | 'https'): boolean {
  const name = plainHostname(host);
  if (name === null) return false;
  if (name.length === host.length) return true;
  const port = host.slice(name.length + 1);
  return port.charCodeAt(0) !== 0x30 && port !== (scheme === 'https' ? '443' : '80');
}

/** A header value Headers keeps as it is. */
export function plainValue(value: string): boolean {
  return PLAIN_VALUE.test(value);
}

/** Names found plain: the same few recur on every request (bounded: names come from peers). */
const plainNames = new Set<string>();

/** A lowercase header name Headers takes as it is. */
export function plainName(name: string): boolean {
  if (plainNames.has(name)) return true;
  if (!PLAIN_NAME.test(name)) return false;
  if (plainNames.size < 256) plainNames.add(name);
  return true;
}
