// Plain JavaScript, loaded before any TypeScript: make .ts importable on this runtime.
// Bun and Deno run TypeScript natively; Node 20 needs tsx's loader hooks — its ESM and CommonJS
// ones, so that an app.ts outside a "type": "module" package loads too. tsx's main entry does
// both on a main thread but registers nothing in a worker thread, so threads call the APIs.
import { isMainThread } from 'node:worker_threads';

/** Which runtime runs this process (runtimes/detect.ts answers the same for TypeScript code). */
export function runtimeName() {
  if (globalThis.Bun !== undefined) return 'bun';
  if (globalThis.Deno !== undefined) return 'deno';
  return 'node';
}

export async function enableTypeScript() {
  if (runtimeName() !== 'node') return;
  if (isMainThread) {
    await import('tsx');
    return;
  }
  const { register } = await import('tsx/esm/api');
  register();
  const { createRequire } = await import('node:module');
  createRequire(import.meta.url)('tsx/cjs/api').register();
}
