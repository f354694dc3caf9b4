/**
 * Response → the raw HTTP/1.1 head a uwsgi peer (nginx) expects.
 */
import { concatBytes } from './bytes.ts';

/** IANA's HTTP Status Code Registry (RFC 9110 phrases; 418 as RFC 2324, IANA lists it as unused). */
const REASONS: Record<number, string> = {
  100: 'Continue',
  101: 'Switching Protocols',
  102: 'Processing',
  103: 'Early Hints',
  200: 'OK',
  201: 'Created',
  202: 'Accepted',
  203: 'Non-Authoritative Information',
  204: 'No Content',
  205: 'Reset Content',
  206: 'Partial Content',
  207: 'Multi-Status',
  208: 'Already Reported',
  226: 'IM Used',
  300: 'Multiple Choices',
  301: 'Moved Permanently',
  302: 'Found',
  303: 'See Other',
  304: 'Not Modified',
  305: 'Use Proxy',
  307: 'Temporary Redirect',
  308: 'Permanent Redirect',
  400: 'Bad Request',
  401: 'Unauthorized',
  402: 'Payment Required',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  407: 'Proxy Authentication Required',
  408: 'Request Timeout',
  409: 'Conflict',
  410: 'Gone',
  411: 'Length Required',
  412: 'Precondition Failed',
  413: 'Content Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  416: 'Range Not Satisfiable',
  417: 'Expectation Failed',
  418: "I'm a teapot",
  421: 'Misdirected Request',
  422: 'Unprocessable Content',
  423: 'Locked',
  424: 'Failed Dependency',
  425: 'Too Early',
  426: 'Upgrade Required',
  428: 'Precondition Required',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  451: 'Unavailable For Legal Reasons',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
  505: 'HTTP Version Not Supported',
  506: 'Variant Also Negotiates',
  507: 'Insufficient Storage',
  508: 'Loop Detected',
  510: 'Not Extended',
  511: 'Network Authentication Required',
};

/** The reason phrase of a status ("Not Found"), "Unknown" for a status IANA does not list. */
export function statusReason(status: number): string {
  return REASONS[status] ?? 'Unknown';
}

/** May a response to this method with this status carry a body? Not for HEAD, 1xx, 204, 304. */
export function bodyAllowed(method: string, status: number): boolean {
  return status >= 200 && status !== 204 && status !== 304 && method !== 'HEAD';
}

/** A statusText that can go on the status line as is (no CR, LF or other controls). */
function safeReason(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f || c > 0xff) return false;
  }
  return true;
}

/** The reason phrase of a status line: `statusText` if it can go there as is, else statusReason(status). */
export function reasonPhrase(status: number, statusText: string): string {
  return statusText && safeReason(statusText) ? statusText : statusReason(status);
}

/** Does an answer keep its Content-Length? With a body; on HEAD too (the size a GET would get), but not on 1xx or 204. */
export function keepsLength(method: string, status: number): boolean {
  return bodyAllowed(method, status) || (method === 'HEAD' && status >= 200 && status !== 204);
}

/**
 * The status line and headers of the raw HTTP/1.1 answer, blank line included.
 *
 * - The reason phrase is the app's statusText, else statusReason(status).
 * - Set-Cookie lines stay apart, one per res.headers.getSetCookie() entry, after the others.
 * - A Transfer-Encoding the app set is dropped: the body goes raw and the connection closes.
 * - `contentLength` (the whole body's size, when known) is added unless the app set one.
 * - No Content-Length is added when the response has no body (HEAD, 1xx, 204, 304); the app's own
 *   is kept on HEAD (it tells the size a GET would get) and dropped on 1xx, 204 and a 304 to a GET,
 *   which must not carry one.
 * - Response.error() (status 0, a network error) goes out as 502 Bad Gateway.
 * - `extra`: header lines the server adds (each ending in CRLF), e.g. HTTP/1.1's framing.
 * - `cgi`: the status goes in a CGI `Status: 200 OK` line instead of the HTTP status line (SCGI and
 *   FastCGI's STDOUT: Apache takes only that form; nginx takes both).
 */
export function encodeResponseHead(res: Response, options: { method: string; contentLength?: number; extra?: string; cgi?: boolean }): Uint8Array {
  let status = res.status;
  let reason = res.statusText;
  if (status < 100 || status > 999) {
    status = 502;
    reason = '';
  }
  const withBody = bodyAllowed(options.method, status);
  const keepLength = keepsLength(options.method, status);
  let head = `${options.cgi ? 'Status:' : 'HTTP/1.1'} ${status} ${reasonPhrase(status, reason)}\r\n`;
  let hasLength = false;
  res.headers.forEach((value, name) => {
    if (name === 'set-cookie' || name === 'transfer-encoding') return;
    if (name === 'content-length') {
      if (!keepLength) return;
      hasLength = true;
    }
    head += `${name}: ${value}\r\n`;
  });
  const cookies = res.headers.getSetCookie();
  for (let i = 0; i < cookies.length; i++) head += `set-cookie: ${cookies[i]}\r\n`;
  if (!hasLength && withBody && options.contentLength !== undefined) head += `content-length: ${options.contentLength}\r\n`;
  if (options.extra) head += options.extra;
  head += '\r\n';
  return byteStringToBytes(head);
}

/**
 * Header values are byte strings (Headers keeps them so): one byte per char, in one pass. A char
 * above 0xFF, which a runtime's Headers should not let through, goes out as its UTF-8 bytes.
 */
function byteStringToBytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff) return utf8Fallback(s);
    out[i] = c;
  }
  return out;
}

const utf8Encoder = new TextEncoder();

function utf8Fallback(s: string): Uint8Array {
  const parts: Uint8Array[] = [];
  let total = 0;
  let from = 0;
  const flush = (to: number) => {
    if (to > from) {
      const b = new Uint8Array(to - from);
      for (let j = from; j < to; j++) b[j - from] = s.charCodeAt(j);
      parts.push(b);
      total += b.length;
    }
  };
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 0xff) continue;
    flush(i);
    const wide = c >= 0xd800 && c <= 0xdbff && i + 1 < s.length ? 2 : 1;
    const b = utf8Encoder.encode(s.slice(i, i + wide));
    parts.push(b);
    total += b.length;
    i += wide - 1;
    from = i + 1;
  }
  flush(s.length);
  return concatBytes(parts, total);
}

const CHUNK_TEXT = new TextEncoder();
const CRLF = CHUNK_TEXT.encode('\r\n');
const LAST_CHUNK = CHUNK_TEXT.encode('0\r\n\r\n');

/** One piece of a chunked answer body (RFC 9112 7.1): its size in hex, the bytes, CRLF. */
export const chunkFrame = (c: Uint8Array): Uint8Array => concatBytes([CHUNK_TEXT.encode(`${c.length.toString(16)}\r\n`), c, CRLF]);

/** The end of a chunked answer body: the last chunk, no trailers. */
export const lastChunk = (): Uint8Array => LAST_CHUNK;
