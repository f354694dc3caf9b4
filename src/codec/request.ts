/**
 * uwsgi vars ⇄ fetch Request, as nginx's stock uwsgi_params fill them.
 */
import type { UwsgiVars } from './types.ts';
import { fromLatin1, latin1 } from './vars.ts';

const utf8 = new TextDecoder('utf-8');
const utf8Encoder = new TextEncoder();

/** A byte string that may carry UTF-8 (a raw URI) → text. ASCII, the common case, is returned as is. */
function utf8Text(s: string): string {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return utf8.decode(fromLatin1(s));
  return s;
}

/** Text → byte string of its UTF-8 bytes (for URIs going into vars). */
function utf8Bytes(s: string): string {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return latin1(utf8Encoder.encode(s));
  return s;
}

/** HTTP_ACCEPT_LANGUAGE → accept-language. */
function headerName(cgi: string): string {
  return cgi.slice(5).toLowerCase().replaceAll('_', '-');
}

function isOn(v: string | undefined): boolean {
  if (!v) return false;
  const l = v.toLowerCase();
  return l === 'on' || l === '1' || l === 'yes' || l === 'true';
}

/**
 * Build the Request the app sees. `body` is ignored for GET and HEAD (the server drains it).
 * Throws a TypeError with a clear message when the vars make no valid URL.
 *
 * Seen on Node 20 (undici), Bun 1.4 and Deno 2.9: `content-length` set here stays readable in
 * `req.headers` on all three.
 */
export function varsToRequest(vars: UwsgiVars, body: BodyInit | null, init: { signal?: AbortSignal } = {}): Request {
  let method = 'GET';
  let scheme = '';
  let https = false;
  let host = '';
  let serverName = '';
  let serverPort = '';
  let uri: string | undefined;
  let pathInfo = '';
  let query = '';
  let contentType = '';
  let contentLength = '';
  const headers = new Headers();
  const httpContent: Array<[string, string]> = [];
  for (let i = 0; i < vars.length; i++) {
    const [k, v] = vars[i];
    if (k.length > 5 && k.charCodeAt(0) === 72 /* H */ && k.startsWith('HTTP_')) {
      if (k === 'HTTP_HOST') host = v;
      if (k === 'HTTP_CONTENT_TYPE' || k === 'HTTP_CONTENT_LENGTH') {
        httpContent.push([k, v]);
        continue;
      }
      headers.append(headerName(k), v);
      continue;
    }
    switch (k) {
      case 'REQUEST_METHOD':
        if (v) method = v;
        break;
      case 'REQUEST_SCHEME':
        scheme = v;
        break;
      case 'HTTPS':
        https = isOn(v);
        break;
      case 'SERVER_NAME':
        serverName = v;
        break;
      case 'SERVER_PORT':
        serverPort = v;
        break;
      case 'REQUEST_URI':
        uri = v;
        break;
      case 'PATH_INFO':
        pathInfo = v;
        break;
      case 'QUERY_STRING':
        query = v;
        break;
      case 'CONTENT_TYPE':
        contentType = v;
        break;
      case 'CONTENT_LENGTH':
        contentLength = v;
        break;
    }
  }
  // nginx copies Content-Type and Content-Length as HTTP_* too: use those only when the CGI
  // variables are missing, never both.
  for (const [k, v] of httpContent) {
    if (k === 'HTTP_CONTENT_TYPE' && !contentType) contentType = v;
    if (k === 'HTTP_CONTENT_LENGTH' && !contentLength) contentLength = v;
  }
  if (contentType) headers.set('content-type', contentType);
  if (contentLength && contentLength !== '0') headers.set('content-length', contentLength);

  const proto = scheme ? scheme.toLowerCase() : https ? 'https' : 'http';
  if (!host) {
    const defaultPort = proto === 'https' ? '443' : '80';
    host = serverName ? (serverPort && serverPort !== defaultPort ? `${serverName}:${serverPort}` : serverName) : 'localhost';
  }
  let target = uri !== undefined && uri !== '' ? uri : pathInfo + (query ? `?${query}` : '');
  target = utf8Text(target);
  let url: string;
  if (/^[a-zA-Z][a-zA-Z0-9+.-]*:\/\//.test(target)) url = target;
  else url = `${proto}://${utf8Text(host)}${target.startsWith('/') ? '' : '/'}${target}`;
  try {
    // Validate here, to answer 400 with a clear reason rather than fail inside Request.
    new URL(url);
  } catch {
    throw new TypeError(`the request's URL is not valid: ${url.slice(0, 200)}`);
  }
  const withBody = body !== null && method !== 'GET' && method !== 'HEAD';
  const requestInit: RequestInit & { duplex?: 'half' } = { method, headers, signal: init.signal };
  if (withBody) {
    requestInit.body = body;
    if (body instanceof ReadableStream) requestInit.duplex = 'half';
  }
  return new Request(url, requestInit);
}

/**
 * The vars nginx's stock uwsgi_params would send for this request (for a router that forwards
 * to workers over uwsgi).
 */
export function requestToVars(
  req: Request,
  info: { remoteAddr: string; remotePort: number; serverName: string; serverPort: number; scheme: 'http' | 'https'; documentRoot?: string },
): UwsgiVars {
  const url = new URL(req.url);
  const path = utf8Bytes(url.pathname);
  const query = utf8Bytes(url.search.slice(1));
  let pathInfo = path;
  try {
    pathInfo = utf8Bytes(decodeURIComponent(url.pathname));
  } catch {
    // keep the raw path when it is not valid percent-encoding
  }
  const vars: UwsgiVars = [
    ['QUERY_STRING', query],
    ['REQUEST_METHOD', req.method],
    ['CONTENT_TYPE', req.headers.get('content-type') ?? ''],
    ['CONTENT_LENGTH', req.headers.get('content-length') ?? ''],
    ['REQUEST_URI', path + (url.search ? `?${query}` : '')],
    ['PATH_INFO', pathInfo],
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
  let sawHost = false;
  req.headers.forEach((value, name) => {
    if (name === 'host') sawHost = true;
    vars.push([`HTTP_${name.toUpperCase().replaceAll('-', '_')}`, value]);
  });
  if (!sawHost) vars.push(['HTTP_HOST', url.host]);
  return vars;
}
