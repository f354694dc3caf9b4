/**
 * Request log lines, one per request, as uWSGI writes them:
 *
 *   [pid: 123|app: 0|req: 1/1] 127.0.0.1 () {34 vars in 412 bytes} [Wed Nov 25 10:00:00 2026]
 *   GET / => generated 11 bytes in 0 msecs (HTTP/1.1 200) 2 headers in 79 bytes (1 switches on core 0)
 *
 * (one line). `req: N/N`: this core's requests, twice (uWSGI: the worker's / the whole
 * server's; tsgi counts per core, without a message per request).
 * "vars": the uwsgi vars nginx sent (--socket); for HTTP, the CGI variables the request would
 * make (headers plus the fixed ones) and the size of its head. --log-format takes uWSGI's
 * %(name) variables (LOG_VARIABLES); an unknown one stops tsgi at startup.
 */
import { ConfigError } from '../config/index.ts';
import { logRequest } from '../log.ts';

/** What a server knows about a finished request. */
export interface RequestFacts {
  method: string;
  uri: string;
  proto: string;
  addr: string;
  host: string;
  uagent: string;
  referer: string;
  /** uwsgi vars (or CGI variables) and their bytes. */
  vars: number;
  varsBytes: number;
  /** Response headers and the bytes of the response head. */
  headers: number;
  headersBytes: number;
  /** The request's Content-Length (0 without one). */
  cl: number;
  /** The mountpoint's app index (uWSGI's app id). */
  app: number;
}

export interface RequestOutcome {
  status: number;
  /** Body bytes sent. */
  size: number;
  ms: number;
  /** When the request started (ms since the epoch). */
  start: number;
  /** A WebSocket (status 101, logged when it closed): its close code and the message bytes received. */
  webSocket?: { code: number; received: number };
}

export type RequestLogger = (facts: RequestFacts, outcome: RequestOutcome) => void;

export interface LoggerContext {
  pid: number;
  /** Worker id (0 without a master). */
  wid: number;
  core: number;
  /** This core's requests so far. */
  requests: () => number;
}

type Field = (f: RequestFacts, o: RequestOutcome, c: LoggerContext) => string;

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad2 = (n: number) => (n < 10 ? `0${n}` : String(n));

let ctimeSecond = -1;
let ctimeText = '';
/** C's ctime() without the newline: "Wed Nov 25 10:00:00 2026" (day padded with a space), local time. */
export function ctime(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s !== ctimeSecond) {
    const d = new Date(ms);
    ctimeSecond = s;
    ctimeText = `${DAYS[d.getDay()]} ${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, ' ')} ${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())} ${d.getFullYear()}`;
  }
  return ctimeText;
}

/** uWSGI's --log-format variables that tsgi fills. */
export const LOG_VARIABLES: Record<string, Field> = {
  uri: (f) => f.uri,
  method: (f) => f.method,
  user: () => '-',
  addr: (f) => f.addr || '-',
  host: (f) => f.host,
  proto: (f) => f.proto,
  status: (_f, o) => String(o.status),
  referer: (f) => f.referer,
  uagent: (f) => f.uagent,
  size: (_f, o) => String(o.size),
  hsize: (f) => String(f.headersBytes),
  cl: (f) => String(f.cl),
  headers: (f) => String(f.headers),
  vars: (f) => String(f.vars),
  pktsize: (f) => String(f.varsBytes),
  msecs: (_f, o) => String(Math.round(o.ms)),
  micros: (_f, o) => String(Math.round(o.ms * 1000)),
  time: (_f, o) => String(Math.floor(o.start / 1000)),
  epoch: () => String(Math.floor(Date.now() / 1000)),
  ltime: (_f, o) => ctime(o.start),
  pid: (_f, _o, c) => String(c.pid),
  wid: (_f, _o, c) => String(c.wid),
  core: (_f, _o, c) => String(c.core),
  app: (f) => String(f.app),
  switches: () => '1',
};

/** Compile a --log-format string; throws a ConfigError naming unknown variables. */
export function compileLogFormat(format: string): Field {
  const parts: Array<string | Field> = [];
  const unknown: string[] = [];
  let last = 0;
  for (const m of format.matchAll(/%\(([a-z_]+)\)/g)) {
    parts.push(format.slice(last, m.index));
    const f = LOG_VARIABLES[m[1]];
    if (f) parts.push(f);
    else unknown.push(m[1]);
    last = (m.index ?? 0) + m[0].length;
  }
  parts.push(format.slice(last));
  if (unknown.length > 0) {
    throw new ConfigError(
      `--log-format: unknown variable(s) ${unknown.map((u) => `%(${u})`).join(', ')}; tsgi knows ${Object.keys(LOG_VARIABLES)
        .map((k) => `%(${k})`)
        .join(' ')}`,
    );
  }
  return (f, o, c) => {
    let s = '';
    for (const p of parts) s += typeof p === 'string' ? p : p(f, o, c);
    return s;
  };
}

/** uWSGI's default request line. */
const uwsgiLine: Field = (f, o, c) =>
  `[pid: ${c.pid}|app: ${f.app}|req: ${c.requests()}/${c.requests()}] ${f.addr || '-'} () {${f.vars} vars in ${f.varsBytes} bytes} [${ctime(o.start)}] ${f.method} ${f.uri} => generated ${o.size} bytes in ${Math.round(o.ms)} msecs (${f.proto} ${o.status}) ${f.headers} headers in ${f.headersBytes} bytes (1 switches on core ${c.core})${o.webSocket ? ` (WebSocket closed with ${o.webSocket.code}, ${o.webSocket.received} bytes received)` : ''}`;

export function requestLogger(format: string | undefined, context: LoggerContext): RequestLogger {
  const line = format ? compileLogFormat(format) : uwsgiLine;
  return (f, o) => logRequest(line(f, o, context));
}

/** Count and bytes of a raw response head (status line and blank line excluded from the count). */
export function headStats(head: Uint8Array): { headers: number; bytes: number } {
  let lines = 0;
  for (let i = head.indexOf(10); i !== -1; i = head.indexOf(10, i + 1)) lines++;
  return { headers: Math.max(0, lines - 2), bytes: head.length };
}
