/**
 * Listening with a node:net server (node:http's and node:http2's too) on a NativeHttpTarget: a
 * bind error becomes a BindError, later server errors a log line, and the address as shown.
 */
import type net from 'node:net';
import { toBindError } from './bind-error.ts';
import type { ListenAddress, NativeHttpTarget } from './types.ts';

/** How a target is named in error lines: "host:port", the path, or "fd N". */
export function targetName(target: NativeHttpTarget): string {
  return target.kind === 'tcp' ? `${target.host}:${target.port}` : target.kind === 'unix' ? target.path : `fd ${target.fd}`;
}

/** Listen on `target`; `what` names the server in later error lines ("HTTP server"). */
export async function listenOn(server: net.Server, target: NativeHttpTarget, backlog: number | undefined, what: string): Promise<ListenAddress> {
  const where = targetName(target);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(toBindError(e, where)));
    const ready = () => {
      server.removeAllListeners('error');
      server.on('error', (e) => process.stderr.write(`tsgi: ${what} error on ${where}: ${e.message}\n`));
      resolve();
    };
    if (target.kind === 'tcp') server.listen({ host: target.host, port: target.port, backlog, reusePort: target.reusePort } as net.ListenOptions, ready);
    else if (target.kind === 'unix') server.listen({ path: target.path, backlog }, ready);
    else server.listen({ fd: target.fd } as net.ListenOptions, ready);
  });
  const addr = server.address();
  if (target.kind === 'tcp' && addr && typeof addr === 'object') return { kind: 'tcp', host: addr.address, port: addr.port };
  return target.kind === 'unix' ? { kind: 'unix', path: target.path } : { kind: 'fd', fd: target.kind === 'fd' ? target.fd : -1 };
}
