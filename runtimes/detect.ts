/** The one place that decides which runtime this is and loads its adapter. */
import type { Runtime, RuntimeName } from './types.ts';

export function detectRuntime(): RuntimeName {
  const g = globalThis as { Bun?: unknown; Deno?: unknown };
  if (g.Bun !== undefined) return 'bun';
  if (g.Deno !== undefined) return 'deno';
  return 'node';
}

let current: Runtime | undefined;

/** The adapter for the runtime running this process (loaded once). */
export async function getRuntime(): Promise<Runtime> {
  if (current) return current;
  switch (detectRuntime()) {
    case 'bun':
      current = (await import('./bun.ts')).createBunRuntime();
      break;
    case 'deno':
      current = (await import('./deno.ts')).createDenoRuntime();
      break;
    default:
      current = (await import('./node.ts')).createNodeRuntime();
  }
  return current;
}
