/**
 * Response → the raw HTTP/1.1 head a uwsgi peer (nginx) expects.
 */
import { fromLatin1 } from './vars.ts';

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

export function statusReason(status: number): string {
  return REASONS[status] ?? 'Unknown';
}

/** May a response to this method with this status carry a body? */
export function bodyAllowed(method: string, status: number): boolean {
  return method !== 'HEAD' && status >= 200 && status !== 204 && status !== 304;
}

/**
 * The status line and headers. Set-Cookie lines stay apart; a Transfer-Encoding the app set is
 * dropped (the body goes raw, then the connection closes); `contentLength`, when the whole body
 * is known, is added unless the app set one.
 */
export function encodeResponseHead(res: Response, options: { method: string; contentLength?: number }): Uint8Array {
  let head = `HTTP/1.1 ${res.status} ${res.statusText || statusReason(res.status)}\r\n`;
  let hasLength = false;
  res.headers.forEach((value, name) => {
    if (name === 'set-cookie' || name === 'transfer-encoding') return;
    if (name === 'content-length') hasLength = true;
    head += `${name}: ${value}\r\n`;
  });
  for (const cookie of res.headers.getSetCookie()) head += `set-cookie: ${cookie}\r\n`;
  if (!hasLength && options.contentLength !== undefined && bodyAllowed(options.method, res.status)) {
    head += `content-length: ${options.contentLength}\r\n`;
  }
  head += '\r\n';
  return fromLatin1(head);
}
