/**
 * A client of a stats server, for `tsgi top` and `tsgi check`: connect to ADDR (host:port, a
 * UNIX path, or http://host:port for a --stats-http server), send a request if there is one,
 * and read until the server closes (bounded).
 */
import type { Conn, Runtime } from '../../runtimes/types.ts';
import { parseSocketAddress } from '../worker/bind.ts';

/** How long a stats server may take to answer. */
const ANSWER_MS = 5000;

/** ADDR without its http:// (and any path after host:port); http: whether it said so. */
export function statsTarget(address: string): { spec: string; http: boolean } {
  const http = address.startsWith('http://');
  return { spec: http ? address.slice(7).replace(/\/.*$/, '') : address, http };
}

/** Connect, send `request` (if any), and resolve with everything the server sent before it closed. */
export async function askStats(rt: Runtime, address: string, cwd: string, request: string | null): Promise<string> {
  const a = parseSocketAddress(statsTarget(address).spec, cwd);
  const conn: Conn = a.kind === 'unix' ? await rt.connectUnix(a.path) : await rt.connectTcp(a.host === '0.0.0.0' ? '127.0.0.1' : a.host, a.port);
  const parts: Uint8Array[] = [];
  return new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      conn.destroy();
      reject(new Error(`no answer from ${address} within ${ANSWER_MS / 1000} s`));
    }, ANSWER_MS);
    conn.onData = (c) => parts.push(c);
    const done = () => {
      clearTimeout(timer);
      resolve(new TextDecoder().decode(Buffer.concat(parts)));
    };
    conn.onEnd = () => {
      done();
      conn.end();
    };
    conn.onClose = done;
    if (request !== null) conn.write(new TextEncoder().encode(request));
  });
}
