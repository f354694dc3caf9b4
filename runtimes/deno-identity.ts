/**
 * --uid and --gid on Deno (2.9, measured): node:process has setgid and setuid but no setgroups
 * nor initgroups, so the supplementary groups (root's, which would stay after setuid) are set
 * with libc's setgroups through Deno's FFI, which needs --allow-ffi (tsgi runs as `deno run -A`).
 */
import type { Identity } from './types.ts';
import { nodeSetIdentity } from './identity.ts';

interface DenoFfi {
  permissions: { querySync(d: { name: 'ffi' }): { state: string } };
  dlopen(
    path: string,
    symbols: { setgroups: { parameters: ['usize', 'buffer']; result: 'i32' } },
  ): { symbols: { setgroups(n: bigint, list: Uint32Array): number } };
}
const Deno = (globalThis as unknown as { Deno: DenoFfi }).Deno;

export function denoIdentityProblem(): string | null {
  if (Deno.permissions.querySync({ name: 'ffi' }).state === 'granted') return null;
  return "Deno cannot change its user here: its node:process has no setgroups, and libc's setgroups needs --allow-ffi (run tsgi with `deno run -A`), or run tsgi under systemd User= instead";
}

function denoSetGroups(groups: number[]): void {
  const libc = Deno.dlopen('libc.so.6', { setgroups: { parameters: ['usize', 'buffer'], result: 'i32' } });
  if (libc.symbols.setgroups(BigInt(groups.length), new Uint32Array(groups)) !== 0) {
    throw new Error(`setgroups(${groups.join(',')}) failed (is this process root?)`);
  }
}

export function denoSetIdentity(id: Identity): void {
  nodeSetIdentity(id, denoSetGroups);
}
