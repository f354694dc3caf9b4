/** Bind errors of every runtime (Node's codes, Deno's error names) as one BindError. */
import { BindError } from './types.ts';

/** Map a bind error from any runtime to a BindError with a POSIX-style code. */
export function toBindError(e: unknown, what: string): BindError {
  const err = e as { code?: string; name?: string; message?: string };
  let code = err.code ?? '';
  if (!code && err.name === 'AddrInUse') code = 'EADDRINUSE';
  if (!code && err.name === 'PermissionDenied') code = 'EACCES';
  if (!code && err.name === 'NotFound') code = 'ENOENT';
  if (!code && /in use/i.test(err.message ?? '')) code = 'EADDRINUSE';
  return new BindError(`${what}: ${err.message ?? String(e)}`, code || 'EUNKNOWN');
}
