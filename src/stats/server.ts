/**
 * The stats server, run by the master so it answers while every worker is busy: on connect it
 * writes the document and closes (as uWSGI does); with --stats-http it answers HTTP — the JSON
 * at any path, Prometheus text at /metrics, a live page at / for browsers (page.ts), and the
 * probes of balancers and Kubernetes: /readyz (200 or 503, health.ts) and /livez (200 while the
 * master answers).
 */
import type { Conn, Runtime } from '../../runtimes/types.ts';
import { log } from '../log.ts';
import { bindSocket, formatAddress, removeSocketFile, type BoundSocket } from '../worker/bind.ts';
import { prometheusText, statsJson, type StatsInput } from './document.ts';
import { type Health, healthLine } from './health.ts';
import { STATS_PAGE } from './page.ts';

export interface StatsOptions {
  address: string;
  http: boolean;
  minified: boolean;
  /** --chown-socket, for a UNIX socket. */
  owner?: { uid: number; gid: number };
}

const enc = new TextEncoder();
/** The most of an HTTP request head the stats server reads. */
const HEAD_LIMIT = 8192;

function httpAnswer(conn: Conn, status: string, type: string, body: string): void {
  const bytes = enc.encode(body);
  conn.write(enc.encode(`HTTP/1.1 ${status}\r\nContent-Type: ${type}\r\nContent-Length: ${bytes.length}\r\nConnection: close\r\n\r\n`));
  conn.write(bytes);
  conn.end();
}

export async function startStatsServer(
  rt: Runtime,
  options: StatsOptions,
  cwd: string,
  figures: () => StatsInput,
  readiness: () => Health,
): Promise<BoundSocket> {
  const snapshot = (): StatsInput => ({ ...figures(), health: readiness() });
  const onConn = (conn: Conn) => {
    if (!options.http) {
      conn.onData = () => {};
      conn.write(enc.encode(statsJson(snapshot(), options.minified)));
      conn.end();
      return;
    }
    let head = '';
    const timer = setTimeout(() => conn.destroy(), 5000);
    conn.onClose = () => clearTimeout(timer);
    conn.onData = (chunk) => {
      head += String.fromCharCode(...chunk);
      if (!head.includes('\r\n\r\n')) {
        if (head.length > HEAD_LIMIT) conn.destroy();
        return;
      }
      conn.onData = null;
      clearTimeout(timer);
      const [method = '', target = '/'] = head.slice(0, head.indexOf('\r\n')).split(' ');
      const path = target.split('?')[0];
      if (method !== 'GET' && method !== 'HEAD') return httpAnswer(conn, '405 Method Not Allowed', 'text/plain', 'GET only\n');
      if (path === '/livez') return httpAnswer(conn, '200 OK', 'text/plain', 'alive\n');
      if (path === '/readyz') {
        const h = readiness();
        return httpAnswer(conn, h.ready ? '200 OK' : '503 Service Unavailable', 'text/plain', `${healthLine(h)}\n`);
      }
      if (path === '/metrics') return httpAnswer(conn, '200 OK', 'text/plain; version=0.0.4; charset=utf-8', prometheusText(snapshot()));
      // A browser at / gets the live page; tools (curl, uwsgitop-like readers) get the JSON, as
      // uWSGI's --stats-http gives it. /json is always the JSON (the page reads it).
      const accept = /\r\naccept:([^\r]*)/i.exec(head)?.[1] ?? '';
      if (path === '/' && accept.includes('text/html')) return httpAnswer(conn, '200 OK', 'text/html; charset=utf-8', STATS_PAGE);
      return httpAnswer(conn, '200 OK', 'application/json', statsJson(snapshot(), options.minified));
    };
  };
  const s = await bindSocket(rt, options.address, cwd, onConn, { owner: options.owner });
  const where = s.address.kind === 'unix' ? s.address.path : formatAddress(s.address);
  log(`stats server enabled on ${where}${options.http ? ' (HTTP: JSON at /, Prometheus at /metrics, probes at /readyz and /livez)' : ''}`);
  return s;
}

export function stopStatsServer(s: BoundSocket): void {
  void s.listener.close();
  if (s.address.kind === 'unix') removeSocketFile(s.address.path);
}
