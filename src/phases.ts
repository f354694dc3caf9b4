/**
 * TSGI_STARTUP_PHASES=<spawn time, ms since the epoch> (bench/footprint.mjs phases sets it):
 * every tsgi process writes one line per start-up phase to stderr — its pid, the phase, the ms
 * since that spawn time and since its own runtime started, and its CPU time then — to see where
 * a cold start's time goes across the launcher, the master and the workers. Without it, phase()
 * does nothing.
 */
export const PHASES_ENV = 'TSGI_STARTUP_PHASES';

const origin = Number(process.env[PHASES_ENV] ?? '');
const on = Number.isFinite(origin) && origin > 0;

/** A moment of this process: performance.now() and the CPU time (user + system) so far, in ms. */
export interface Moment {
  at: number;
  cpuMs: number;
}

export function now(): Moment {
  const { user, system } = process.cpuUsage();
  return { at: performance.now(), cpuMs: (user + system) / 1000 };
}

/** One start-up phase of this process reached, now or at `when`. */
export function phase(what: string, when: Moment = now()): void {
  if (!on) return;
  const fromSpawn = Date.now() - (performance.now() - when.at) - origin;
  const into = `${when.at.toFixed(0)} ms into this process, CPU ${when.cpuMs.toFixed(0)} ms`;
  process.stderr.write(`tsgi phase: pid ${process.pid} ${what}: +${fromSpawn.toFixed(0)} ms from spawn, ${into}\n`);
}
