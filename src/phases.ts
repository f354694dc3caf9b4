/**
 * TSGI_STARTUP_PHASES=<spawn time, ms since the epoch> (bench/footprint.mjs phases sets it):
 * every tsgi process writes one line per start-up phase to stderr — its pid, the phase, the ms
 * since that spawn time and since its own runtime started — to see where a cold start's time
 * goes across the launcher, the master and the workers. Without it, phase() does nothing.
 */
export const PHASES_ENV = 'TSGI_STARTUP_PHASES';

const origin = Number(process.env[PHASES_ENV] ?? '');
const on = Number.isFinite(origin) && origin > 0;

/** One start-up phase of this process reached (`at`: when, in this process's performance.now() ms). */
export function phase(what: string, at = performance.now()): void {
  if (!on) return;
  const fromSpawn = Date.now() - (performance.now() - at) - origin;
  process.stderr.write(`tsgi phase: pid ${process.pid} ${what}: +${fromSpawn.toFixed(0)} ms from spawn, ${at.toFixed(0)} ms into this process\n`);
}
