/**
 * uwsgi vars ⇄ fetch Request, as nginx's stock uwsgi_params fill them.
 *
 * Which vars win: for every CGI var read here (REQUEST_METHOD, REQUEST_URI, HTTP_HOST…) the first
 * occurrence, as getVar() and the decoder's CONTENT_LENGTH; repeated HTTP_* vars all become
 * header values.
 */
import { latin1 } from './bytes.ts';
import { canonicalHost, plainName, plainTarget, plainValue } from './plain.ts';
import type { UwsgiVars } from './types.ts';

const utf8Decoder = new TextDecoder('utf-8');
const utf8Encoder = new TextEncoder();
const HEX = '0123456789ABCDEF';

/**
 * A raw request target (a byte string: the URI bytes as the client sent them) → a string the URL
 * parser takes byte for byte. Bytes ≥ 0x80 are percent-encoded: for UTF-8 URIs this is exactly
 * what the parser would make of the decoded text, and other bytes survive instead of becoming
 * U+FFFD. "#" (never part of a request target) is encoded so nothing becomes a fragment, and "\"
 * in the path too, which the URL parser would otherwise turn into "/" ("/static/..\x" → "/x").
 */
function targetForUrl(s: string): string {
  let i = 0;
  let inPath = true;
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80 || c === 0x23 || (inPath && c === 0x5c)) break;
    if (c === 0x3f) inPath = false;
  }
  if (i === s.length) return s;
  let out = s.slice(0, i);
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80 || c === 0x23 || (inPath && c === 0x5c)) out += `%${HEX[c >> 4]}${HEX[c & 15]}`;
    else {
      if (c === 0x3f) inPath = false;
      out += s[i];
    }
  }
  return out;
}

function hasHighBytes(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return true;
  return false;
}

/** A byte string carrying UTF-8 → text (for a host name, which the URL parser IDNA-encodes). */
function utf8Text(s: string): string {
  if (!hasHighBytes(s)) return s;
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
  return utf8Decoder.decode(b);
}

/** Text → the byte string of its UTF-8 bytes (for values going into vars). */
function utf8Bytes(s: string): string {
  return hasHighBytes(s) ? latin1(utf8Encoder.encode(s)) : s;
}

/** A Host that would move the URL's path, userinfo or query ("evil/x?", "a@b"): refused. */
function badHost(h: string): boolean {
  for (let i = 0; i < h.length; i++) {
    const c = h.charCodeAt(i);
    if (c <= 0x20 || c === 0x2f || c === 0x5c || c === 0x3f || c === 0x23 || c === 0x40) return true;
  }
  return false;
}

/** "http://" or "https://", any case. */
function isAbsoluteHttp(s: string): boolean {
  const c = s.charCodeAt(0);
  if (c !== 0x68 && c !== 0x48) return false;
  const p = s.slice(0, 8).toLowerCase();
  return p.startsWith('http://') || p === 'https://';
}

/** HTTP_ACCEPT_LANGUAGE → accept-language; memoized for the names that recur on every request. */
const headerNames = new Map<string, string>();
function headerName(cgi: string): string {
  let name = headerNames.get(cgi);
  if (name === undefined) {
    name = cgi.slice(5).toLowerCase().replaceAll('_', '-');
    // Names come from peers: bound the memo.
    if (headerNames.size < 256) headerNames.set(cgi, name);
  }
  return name;
}

function isOn(v: string): boolean {
  if (v.length === 0 || v.length > 3) return false;
  const l = v.toLowerCase();
  return l === 'on' || l === '1' || l === 'yes';
}

/**
 * Add one header line as a repeated header joins: Cookie lines with "; " (RFC 6265 §5.4), every
 * other header with ", " (RFC 9110 §5.3). Headers.append joins cookie with ", " on Deno (with
 * "; " on Node and Bun): the same lines make the same Request on all three runtimes.
 */
export function appendHeader(headers: Headers, name: string, value: string): void {
  if (name.length === 6 && name.toLowerCase() === 'cookie') {
    const prev = headers.get('cookie');
    if (prev !== null) return headers.set('cookie', `${prev}; ${value}`);
  }
  headers.append(name, value);
}

/** GET and HEAD, any case: the methods that never get a body. */
function bodyless(method: string): boolean {
  if (method.length === 3) return method === 'GET' || method.toUpperCase() === 'GET';
  if (method.length === 4) return method === 'HEAD' || method.toUpperCase() === 'HEAD';
  return false;
}

/**
 * The Request the app sees.
 *
 * - method: REQUEST_METHOD, else GET.
 * - URL: scheme from REQUEST_SCHEME (http or https), else HTTPS (on, 1, yes) → https, else http;
 *   host from HTTP_HOST, else SERVER_NAME[:SERVER_PORT unless the scheme's default], else
 *   localhost; path from REQUEST_URI (used as is when absolute), else PATH_INFO[?QUERY_STRING] —
 *   unless the web server split the path: a SCRIPT_NAME other than "" and "/" with a PATH_INFO
 *   (Apache's mod_proxy_uwsgi, nginx's `uwsgi_param SCRIPT_NAME`) makes the path PATH_INFO in
 *   REQUEST_URI's encoding (splitTarget) and the header x-forwarded-prefix SCRIPT_NAME (without
 *   its trailing "/"), replacing one the client sent. A SCRIPT_NAME without PATH_INFO (Apache's
 *   mod_proxy_fcgi sends the whole path there) splits nothing.
 * - headers: every HTTP_* var (HTTP_X_A → x-a; repeated ones joined as appendHeader says), CONTENT_TYPE and
 *   CONTENT_LENGTH when non-empty. nginx sends those two again as HTTP_CONTENT_TYPE and
 *   HTTP_CONTENT_LENGTH: these are used only when the CGI var is missing altogether.
 * - body: `body`, except for GET and HEAD (the server drains those bodies; their content-length
 *   header, if any, still says what the client sent).
 *
 * Throws a TypeError that says what is wrong when the vars make no valid URL, method or header;
 * the server answers 400. CONNECT, TRACE and TRACK are refused on every runtime (Node and Deno
 * refuse them, Bun would take them), and so is a method the runtime would change: Bun makes GET
 * of any method it does not know ("FOO", "G T") where Node and Deno keep or refuse it.
 *
 * `content-length` set here stays in `req.headers` on all three runtimes (measured on Node 20's
 * undici, Bun 1.4 and Deno 2.9; browsers would drop it as a forbidden header, servers do not), and
 * a Request whose body is a ReadableStream keeps it too: apps can read the length they will get.
 */
export function varsToRequest(vars: UwsgiVars, body: BodyInit | null, signal?: SignalSource, lazy?: LazyRequestMaker | null): Request {
  const headers: HeaderFields = Object.create(null);
  const f = scanVars(vars, headers);
  const proto = schemeOf(f);
  const authority = authorityOf(f, proto);
  const method = f.method || 'GET';
  const mount = f.scriptName && f.pathInfo !== undefined ? mountPoint(f.scriptName) : '';
  try {
    let target: string;
    if (mount) {
      headers[PREFIX_HEADER] = encodePath(mount);
      target = splitTarget(f.uri, f.pathInfo ?? '', f.query);
    } else target = f.uri || (f.query ? `${f.pathInfo ?? ''}?${f.query}` : (f.pathInfo ?? ''));
    const parts = lazy ? plainParts(method, proto, authority, target, headers, body, signal) : null;
    const req = parts !== null && lazy ? lazy(parts) : buildRequest(method, proto, authority, target, headers, body, signal, 'HTTP_HOST or SERVER_NAME');
    if (mount) scriptNames.set(req, mount);
    return req;
  } catch (error) {
    // Say which var made the header the runtime refused, if one did.
    checkHeaderVars(vars, f);
    throw error;
  }
}

/**
 * The app's Request of an HTTP/1.1 request head (src/worker/http1.ts; `pairs`: its header lines,
 * flat): a lazy one where the runtime has them and the parts are plain (plainParts), else
 * buildRequest's, with the head's Headers (`headers()`).
 */
export function headToRequest(
  m: string,
  proto: 'http' | 'https',
  authority: string,
  target: string,
  pairs: readonly string[],
  headers: () => Headers,
  body: BodyInit | null,
  signal: SignalSource,
  lazy: LazyRequestMaker | null | undefined,
): Request {
  if (lazy) {
    const fields: HeaderFields = Object.create(null);
    for (let i = 0; i < pairs.length; i += 2) addField(fields, pairs[i].toLowerCase(), pairs[i + 1]);
    const parts = plainParts(m, proto, authority, target, fields, body, signal);
    if (parts !== null) return lazy(parts);
  }
  return buildRequest(m, proto, authority, target, headers(), body, signal);
}

/**
 * Makes the app's Request from parts that are already in the form the runtime's Request would
 * give back (Runtime.lazyRequests: Node's lazy Request), instead of the runtime's Request.
 */
export type LazyRequestMaker = (parts: PlainParts) => Request;

/** The methods every runtime keeps exactly as given. */
const PLAIN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH']);

/**
 * The parts of a request whose Request would hold them exactly as they are, or null: a method
 * kept as given, a URL the parser writes back unchanged (plain.ts), header names and values
 * Headers takes unchanged (so nothing can throw once the app has started), a body that adds no
 * content-type. Anything else builds the runtime's Request at once, with its 400s.
 */
function plainParts(
  m: string,
  proto: 'http' | 'https',
  authority: string,
  target: string,
  headers: HeaderFields,
  body: BodyInit | null,
  signal: SignalSource | undefined,
): PlainParts | null {
  if (!PLAIN_METHODS.has(m) || !canonicalHost(authority, proto) || !plainTarget(target) || !plainFields(headers)) return null;
  const sent = bodyless(m) ? null : body;
  if (sent !== null && !(sent instanceof Uint8Array) && !(sent instanceof ReadableStream)) return null;
  return new PlainParts(m, `${proto}://${authority}${target}`, headers, sent, signal);
}

function plainFields(headers: HeaderFields): boolean {
  for (const name in headers) if (!plainName(name) || !plainValue(headers[name])) return false;
  return true;
}

/** A request's parts in the form its Request gives them back (plainParts), and that Request on demand (runtimes/types.ts: RequestParts). */
export class PlainParts {
  readonly method: string;
  readonly url: string;
  readonly headers: HeaderFields;
  readonly #body: BodyInit | null;
  readonly #source: SignalSource | undefined;

  constructor(method: string, url: string, headers: HeaderFields, body: BodyInit | null, source: SignalSource | undefined) {
    this.method = method;
    this.url = url;
    this.headers = headers;
    this.#body = body;
    this.#source = source;
  }

  get hasBody(): boolean {
    return this.#body !== null;
  }

  signal(): AbortSignal | null {
    return this.#source?.signal() ?? null;
  }

  real(headers: Headers | HeaderFields): Request {
    return served(this.url, requestInit(this.method, headers, this.#body), this.#source);
  }
}

/**
 * Header name → value, joined as appendHeader joins repeated lines. Handed to the Request as a
 * record: a Headers object built first is copied again by the Request (CPU time of varsToRequest
 * with nginx's stock vars: Deno 2.9 9.0 → 5.2 µs; Node 24 ≈ 3.7 and Bun 1.4 ≈ 1.8 µs either way).
 */
type HeaderFields = Record<string, string>;

/** HTTP whitespace around a header value (Headers strips it from every value it gets). */
function trimValue(v: string): string {
  let a = 0;
  let b = v.length;
  const ws = (c: number) => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
  while (a < b && ws(v.charCodeAt(a))) a++;
  while (b > a && ws(v.charCodeAt(b - 1))) b--;
  return a === 0 && b === v.length ? v : v.slice(a, b);
}

/** One more line of header `name` (lower case), joined as appendHeader joins them. */
function addField(fields: HeaderFields, name: string, value: string): void {
  const prev = fields[name];
  fields[name] = prev === undefined ? value : `${trimValue(prev)}${name === 'cookie' ? '; ' : ', '}${trimValue(value)}`;
}

/** The CGI vars varsToRequest reads (the first of each, as everywhere in the codec). */
interface CgiFields {
  method?: string;
  scheme?: string;
  https?: string;
  host?: string;
  serverName?: string;
  serverPort?: string;
  uri?: string;
  pathInfo?: string;
  scriptName?: string;
  query?: string;
  contentType?: string;
  contentLength?: string;
  httpContentType?: string;
  httpContentLength?: string;
}

const CGI_FIELDS: ReadonlyMap<string, keyof CgiFields> = new Map(
  Object.entries({
    REQUEST_METHOD: 'method',
    REQUEST_URI: 'uri',
    PATH_INFO: 'pathInfo',
    SCRIPT_NAME: 'scriptName',
    QUERY_STRING: 'query',
    CONTENT_TYPE: 'contentType',
    CONTENT_LENGTH: 'contentLength',
    REQUEST_SCHEME: 'scheme',
    HTTPS: 'https',
    SERVER_NAME: 'serverName',
    SERVER_PORT: 'serverPort',
    HTTP_HOST: 'host',
    HTTP_CONTENT_TYPE: 'httpContentType',
    HTTP_CONTENT_LENGTH: 'httpContentLength',
  } as const),
);

/** One pass over the vars: the CGI fields, and every HTTP_* var but the two body ones into `headers`. */
function scanVars(vars: UwsgiVars, headers: HeaderFields): CgiFields {
  const f: CgiFields = {};
  for (let i = 0; i < vars.length; i++) {
    const [k, v] = vars[i];
    const field = CGI_FIELDS.get(k);
    if (field !== undefined) f[field] ??= v;
    if (isHeaderVar(k)) addField(headers, headerName(k), v);
  }
  const type = f.contentType ?? f.httpContentType;
  if (type) headers['content-type'] = type;
  const length = f.contentLength ?? f.httpContentLength;
  if (length) headers['content-length'] = length;
  return f;
}

/** An HTTP_* var that becomes a header (the two body ones come from CONTENT_TYPE and CONTENT_LENGTH). */
function isHeaderVar(k: string): boolean {
  return k.length > 5 && k.charCodeAt(0) === 0x48 /* H */ && k.startsWith('HTTP_') && k !== 'HTTP_CONTENT_TYPE' && k !== 'HTTP_CONTENT_LENGTH';
}

/** Throws a TypeError naming the var whose header the runtime refuses, if there is one (the error path only). */
function checkHeaderVars(vars: UwsgiVars, f: CgiFields): void {
  const probe = new Headers();
  let k = 'CONTENT_TYPE or CONTENT_LENGTH';
  try {
    for (let i = 0; i < vars.length; i++) {
      if (!isHeaderVar(vars[i][0])) continue;
      k = vars[i][0];
      probe.append(headerName(k), vars[i][1]);
    }
    k = 'CONTENT_TYPE or CONTENT_LENGTH';
    const type = f.contentType ?? f.httpContentType;
    if (type) probe.set('content-type', type);
    const length = f.contentLength ?? f.httpContentLength;
    if (length) probe.set('content-length', length);
  } catch (error) {
    throw new TypeError(`invalid request header from uwsgi var ${JSON.stringify(k.slice(0, 60))}: ${(error as Error).message}`, { cause: error });
  }
}

/** REQUEST_SCHEME (http or https), else HTTPS (on, 1, yes) → https, else http. */
function schemeOf(f: CgiFields): 'http' | 'https' {
  const s = f.scheme !== undefined && f.scheme.length <= 5 ? f.scheme.toLowerCase() : '';
  if (s === 'http' || s === 'https') return s;
  return f.https !== undefined && isOn(f.https) ? 'https' : 'http';
}

/** HTTP_HOST, else SERVER_NAME[:SERVER_PORT unless the scheme's default], else localhost. */
function authorityOf(f: CgiFields, proto: 'http' | 'https'): string {
  if (f.host) return f.host;
  if (!f.serverName) return 'localhost';
  // An IPv6 address as SERVER_NAME comes without brackets.
  const name = f.serverName.includes(':') && f.serverName.charCodeAt(0) !== 0x5b ? `[${f.serverName}]` : f.serverName;
  const defaultPort = proto === 'https' ? '443' : '80';
  return f.serverPort && f.serverPort !== defaultPort ? `${name}:${f.serverPort}` : name;
}

/**
 * The mount point a web server's SCRIPT_NAME gave the requests made here. A client can send an
 * X-Forwarded-Prefix of its own, never this: apps are chosen by it (src/worker/mount.ts), so a
 * header cannot take a request past a web server's rules for another prefix.
 */
const scriptNames = new WeakMap<Request, string>();

/** The web server's mount point (SCRIPT_NAME without its trailing "/") of a request varsToRequest made, if it split the path. */
export function scriptNameOf(req: Request): string | undefined {
  return scriptNames.get(req);
}

/**
 * The request header that tells the app its mount point: the part of the client's path a web
 * server's SCRIPT_NAME or tsgi's --mount split off before the path the app sees (the header
 * Werkzeug's ProxyFix turns back into SCRIPT_NAME and Traefik's StripPrefix sets). Set here for a
 * SCRIPT_NAME, in src/worker/mount.ts for a mountpoint.
 */
export const PREFIX_HEADER = 'x-forwarded-prefix';

/** SCRIPT_NAME without its trailing "/" (Apache sends "/u/" for "/u/" itself): '' for "/". */
function mountPoint(scriptName: string): string {
  let end = scriptName.length;
  while (end > 0 && scriptName.charCodeAt(end - 1) === 0x2f) end--;
  return scriptName.slice(0, end);
}

/**
 * The target when a web server split the path into SCRIPT_NAME and PATH_INFO: the app routes on
 * PATH_INFO, as a WSGI app does under uWSGI. It is written as the end of REQUEST_URI's path that
 * decodes to PATH_INFO, so the client's encoding stays ("%20", "%2F", "%3F" as sent), else
 * (REQUEST_URI missing or rewritten) as PATH_INFO percent-encoded; then ?QUERY_STRING, or
 * REQUEST_URI's query when there is no QUERY_STRING. An absolute REQUEST_URI keeps its origin.
 */
function splitTarget(uri: string | undefined, pathInfo: string, query: string | undefined): string {
  let origin = '';
  let rest = uri ?? '';
  if (isAbsoluteHttp(rest)) {
    let p = rest.indexOf('//') + 2;
    while (p < rest.length && rest.charCodeAt(p) !== 0x2f && rest.charCodeAt(p) !== 0x3f) p++;
    origin = rest.slice(0, p);
    rest = rest.slice(p);
  }
  const q = rest.indexOf('?');
  const search = query ?? (q === -1 ? '' : rest.slice(q + 1));
  const path = rawSuffix(q === -1 ? rest : rest.slice(0, q), pathInfo) ?? encodePath(pathInfo);
  return `${origin}${path.charCodeAt(0) === 0x2f ? path : `/${path}`}${search ? `?${search}` : ''}`;
}

/**
 * The end of `raw` (a path as the client sent it, percent-encoded or not) that decodes to
 * `decoded` (a byte string, as PATH_INFO), or null. Read from the end, a "%XX" is one byte: the
 * same units as reading from the start, since a unit's "%" is never a hex digit of another.
 */
function rawSuffix(raw: string, decoded: string): string | null {
  let i = raw.length;
  for (let j = decoded.length; j > 0; j--) {
    if (i === 0) return null;
    let c = raw.charCodeAt(i - 1);
    let unit = 1;
    if (i >= 3 && raw.charCodeAt(i - 3) === 0x25) {
      const hi = hexValue(raw.charCodeAt(i - 2));
      const lo = hexValue(c);
      if (hi >= 0 && lo >= 0) {
        c = (hi << 4) | lo;
        unit = 3;
      }
    }
    if (c !== decoded.charCodeAt(j - 1)) return null;
    i -= unit;
  }
  return raw.slice(i);
}

/**
 * A decoded path (a byte string) → a URL path that reads back as the same bytes: "%", "?", "#",
 * spaces, controls and bytes ≥ 0x80 percent-encoded.
 */
function encodePath(path: string): string {
  let out = '';
  let from = 0;
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f || c === 0x25 || c === 0x3f || c === 0x23) {
      out += `${path.slice(from, i)}%${HEX[c >> 4]}${HEX[c & 15]}`;
      from = i + 1;
    }
  }
  return from === 0 ? path : out + path.slice(from);
}

/** Where a served request's signal comes from: asked only when the app reads req.signal. */
export interface SignalSource {
  signal(): AbortSignal;
}

/**
 * A Request whose signal is made only when the app reads it: a Request built following an
 * AbortSignal costs far more than one without (Node 20: ≈ 10 → 50 µs; Deno and Bun: double,
 * bench/request-signal.mjs). clone() keeps it; a Request made from this one with
 * `new Request(req, init)` follows it only when init says `signal: req.signal` (Node and Deno read
 * the Request's own slot there, Bun the getter).
 */
class ServedRequest extends Request {
  readonly #source: SignalSource;

  constructor(input: RequestInfo, init: RequestInit, source: SignalSource) {
    super(input, init);
    this.#source = source;
  }

  override get signal(): AbortSignal {
    return this.#source.signal();
  }

  override clone(): Request {
    return new ServedRequest(super.clone(), {}, this.#source);
  }
}

/** The init of a served Request: its body, unless GET or HEAD. */
function requestInit(m: string, headers: Headers | HeaderFields, body: BodyInit | null): RequestInit & { duplex?: 'half' } {
  const init: RequestInit & { duplex?: 'half' } = { method: m, headers };
  if (body !== null && !bodyless(m)) {
    init.body = body;
    // Node's fetch refuses a stream body without it.
    if (body instanceof ReadableStream) init.duplex = 'half';
  }
  return init;
}

/** The runtime's Request, following `signal` (a ServedRequest) when there is one. */
function served(url: string, init: RequestInit, signal: SignalSource | undefined): Request {
  return signal ? new ServedRequest(url, init, signal) : new Request(url, init);
}

/**
 * The checks and URL rules every protocol shares (uwsgi vars here, HTTP/1.1 in
 * src/worker/http1.ts): `authority` and `target` are byte strings as the client sent them.
 * Throws a TypeError saying what is wrong (the server answers 400).
 */
export function buildRequest(
  m: string,
  proto: 'http' | 'https',
  rawAuthority: string,
  rawTarget: string,
  headers: Headers | Record<string, string>,
  body: BodyInit | null,
  signal: SignalSource | undefined,
  hostFrom = 'Host',
): Request {
  const authority = utf8Text(rawAuthority);
  if (badHost(authority)) throw new TypeError(`invalid request host ${show(authority)} (from ${hostFrom})`);
  const t = targetForUrl(rawTarget);
  const url = isAbsoluteHttp(t) ? t : t.charCodeAt(0) === 0x2f ? `${proto}://${authority}${t}` : `${proto}://${authority}/${t}`;
  if (forbidden(m)) throw new TypeError(`method ${m} is not served (fetch forbids CONNECT, TRACE and TRACK)`);
  let req: Request;
  try {
    req = served(url, requestInit(m, headers, body), signal);
  } catch (error) {
    throw new TypeError(`cannot make a request of ${show(m)} ${show(url)}: ${(error as Error).message}`, { cause: error });
  }
  // Bun turns a method it does not know ("FOO", "G T") into GET instead of refusing it.
  if (req.method !== m && req.method.toUpperCase() !== m.toUpperCase()) {
    throw new TypeError(`method ${show(m)} is not valid or not supported by this runtime (it made ${req.method} of it)`);
  }
  return req;
}

function show(s: string): string {
  return JSON.stringify(s.length > 200 ? `${s.slice(0, 200)}…` : s);
}

/** The methods fetch refuses on Node and Deno (Bun takes them): refused on all three alike. */
function forbidden(method: string): boolean {
  if (method.length !== 5 && method.length !== 7) return false;
  const u = method.toUpperCase();
  return u === 'TRACE' || u === 'TRACK' || u === 'CONNECT';
}

/** URL path (percent-encoded) → the byte string of its decoded bytes, as nginx's $document_uri. */
export function percentDecode(path: string): string {
  if (!path.includes('%')) return path;
  let out = '';
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c === 0x25 && i + 2 < path.length) {
      const hi = hexValue(path.charCodeAt(i + 1));
      const lo = hexValue(path.charCodeAt(i + 2));
      if (hi >= 0 && lo >= 0) {
        out += String.fromCharCode((hi << 4) | lo);
        i += 2;
        continue;
      }
    }
    out += path[i];
  }
  return out;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  if (l >= 0x61 && l <= 0x66) return l - 0x61 + 10;
  return -1;
}

/**
 * The vars nginx's stock uwsgi_params would send for this request, in nginx's order, then one
 * HTTP_* var per header (HTTP_HOST from the URL first when the request has no Host header). For a
 * router that forwards requests to workers over uwsgi. Values are byte strings: a header value
 * holding chars above 0xFF is sent as its UTF-8 bytes.
 *
 * CONTENT_LENGTH is the request's content-length header ('' without one): a router forwarding a
 * body of unknown length must set it, as the worker reads exactly that many bytes.
 */
export function requestToVars(
  req: Request,
  info: { remoteAddr: string; remotePort: number; serverName: string; serverPort: number; scheme: 'http' | 'https'; documentRoot?: string },
): UwsgiVars {
  const url = new URL(req.url);
  // A serialized URL is ASCII: path and query are percent-encoded, the host punycode.
  const query = url.search.slice(1);
  // URL.search is '' for a bare "?" too; nginx's $request_uri keeps it.
  let search = url.search;
  if (search === '' && url.href.indexOf('?') !== -1) {
    const hash = url.href.indexOf('#');
    const q = url.href.indexOf('?');
    if (hash === -1 || q < hash) search = '?';
  }
  const vars: UwsgiVars = [
    ['QUERY_STRING', query],
    ['REQUEST_METHOD', req.method],
    ['CONTENT_TYPE', utf8Bytes(req.headers.get('content-type') ?? '')],
    ['CONTENT_LENGTH', req.headers.get('content-length') ?? ''],
    ['REQUEST_URI', url.pathname + search],
    ['PATH_INFO', percentDecode(url.pathname)],
    ['DOCUMENT_ROOT', info.documentRoot ?? ''],
    ['SERVER_PROTOCOL', 'HTTP/1.1'],
    ['REQUEST_SCHEME', info.scheme],
  ];
  if (info.scheme === 'https') vars.push(['HTTPS', 'on']);
  vars.push(
    ['REMOTE_ADDR', info.remoteAddr],
    ['REMOTE_PORT', String(info.remotePort)],
    ['SERVER_PORT', String(info.serverPort)],
    ['SERVER_NAME', info.serverName],
  );
  if (!req.headers.has('host')) vars.push(['HTTP_HOST', url.host]);
  req.headers.forEach((value, name) => {
    vars.push([`HTTP_${name.toUpperCase().replaceAll('-', '_')}`, utf8Bytes(value)]);
  });
  return vars;
}
