/**
 * `tsgi check ADDR`: readiness for exec probes and scripts. It asks the stats server at ADDR
 * (--stats-http: GET /readyz; a plain --stats server: the ready flag of its JSON) and exits 0
 * when the host is ready, 1 when it is not (starting, shutting down, no worker serving), 2 when
 * the server cannot be asked; one line says which.
 */
import type { Runtime } from '../../runtimes/types.ts';
import { askStats } from './ask.ts';

export const CHECK_READY = 0;
export const CHECK_NOT_READY = 1;
export const CHECK_UNREACHABLE = 2;

export interface CheckResult {
  code: number;
  line: string;
}

/** What an answer says: an HTTP status line and body (/readyz), or a stats document. */
export function readAnswer(address: string, text: string): CheckResult {
  if (text.startsWith('HTTP/')) {
    const status = Number(text.slice(0, text.indexOf('\r\n')).split(' ')[1]);
    const body = text.slice(text.indexOf('\r\n\r\n') + 4).trim();
    if (status === 200) return { code: CHECK_READY, line: `${address}: ${body.startsWith('ready') ? body : 'ready'}` };
    if (status === 503) return { code: CHECK_NOT_READY, line: `${address}: not ready${body ? `: ${body}` : ''}` };
    return { code: CHECK_UNREACHABLE, line: `${address}: /readyz answered HTTP ${status}: not a tsgi stats server?` };
  }
  let doc: { tsgi?: { ready?: boolean; state?: string } };
  try {
    doc = JSON.parse(text) as typeof doc;
  } catch {
    return { code: CHECK_UNREACHABLE, line: `${address}: answered neither HTTP nor stats JSON (got ${JSON.stringify(text.slice(0, 40))})` };
  }
  const ready = doc.tsgi?.ready;
  if (ready === undefined) return { code: CHECK_UNREACHABLE, line: `${address}: its stats say nothing of readiness: not a tsgi stats server?` };
  return ready ? { code: CHECK_READY, line: `${address}: ready` } : { code: CHECK_NOT_READY, line: `${address}: not ready: ${doc.tsgi?.state}` };
}

export async function check(rt: Runtime, address: string | undefined, cwd: string): Promise<CheckResult> {
  if (!address) return { code: CHECK_UNREACHABLE, line: 'usage: tsgi check ADDR (the --stats address: host:port or a UNIX socket path)' };
  try {
    return readAnswer(address, await askStats(rt, address, cwd, 'GET /readyz HTTP/1.0\r\nHost: tsgi\r\n\r\n'));
  } catch (e) {
    return { code: CHECK_UNREACHABLE, line: `${address}: unreachable: ${(e as Error).message}` };
  }
}
