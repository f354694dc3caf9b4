// Plain JavaScript, loaded before any TypeScript: make .ts importable on this runtime.
// Bun and Deno run TypeScript natively, and so does Node ≥ 22.18 (type stripping: tsgi's own
// source is erasable TypeScript). Older Node, or Node asked to strip types under node_modules
// (it refuses: an installed tsgi is there), needs tsx's loader hooks — its ESM and CommonJS ones,
// so that an app.ts outside a "type": "module" package loads too. tsx's main entry does both on
// a main thread but registers nothing in a worker thread, so threads call the APIs.
import module from 'node:module';
import { isMainThread } from 'node:worker_threads';

/** When this process's runtime had started and began to run tsgi (performance.now() and CPU ms): for the start-up phases. */
const cpu = process.cpuUsage();
export const RUNTIME_UP = { at: performance.now(), cpuMs: (cpu.user + cpu.system) / 1000 };

/** Which runtime runs this process (runtimes/detect.ts answers the same for TypeScript code). */
export function runtimeName() {
  if (globalThis.Bun !== undefined) return 'bun';
  if (globalThis.Deno !== undefined) return 'deno';
  return 'node';
}

/** Node's type stripping, by name in the startup line. */
export const NODE_STRIPPING = 'node type stripping';

/** How this process runs TypeScript, once enableTypeScript() has run: for the startup line. */
let loader = 'not enabled yet';

export function typescriptLoader() {
  return loader;
}

/** Why Node's own type stripping cannot run tsgi here, or null when it can. */
function strippingBlocker() {
  if (!process.features.typescript) return `Node ${process.versions.node} has no type stripping; Node ≥ 22.18 has`;
  if (import.meta.url.includes('/node_modules/')) return 'tsgi is under node_modules, where Node strips no types';
  return null;
}

export async function enableTypeScript() {
  const name = runtimeName();
  if (name !== 'node') {
    loader = `${name}'s own`;
    return;
  }
  if (process.execArgv.some((a) => /(^|[=/])tsx\b/.test(a))) {
    loader = `tsx (node ${process.execArgv.join(' ')})`;
    return;
  }
  const blocker = strippingBlocker();
  if (blocker === null) {
    // Stripping costs ≈ 400 ms of CPU per process for tsgi's modules; Node's compile cache (in
    // the temporary directory, shared by every process; NODE_DISABLE_COMPILE_CACHE=1 turns it
    // off) keeps the stripped and compiled code for the next start (docs/ARCHITECTURE.md).
    module.enableCompileCache?.();
    loader = NODE_STRIPPING;
    return;
  }
  await registerTsx(blocker);
}

/**
 * Node writes its compile cache at exit: a launcher, a master or a worker that serves for days
 * would leave its children to strip and compile every module again (≈ 30 MiB of the stripper's
 * WebAssembly in each, for the process's life). Called before starting a child and once a role
 * is up.
 */
export function saveCompileCache() {
  if (loader === NODE_STRIPPING) module.flushCompileCache?.();
}

/** Load tsx's hooks in this process (at most once); `why` goes into the startup line. */
export async function registerTsx(why) {
  if (loader.startsWith('tsx')) return;
  loader = `tsx (${why})`;
  if (isMainThread) {
    await import('tsx');
    return;
  }
  const { register } = await import('tsx/esm/api');
  register();
  const { createRequire } = await import('node:module');
  createRequire(import.meta.url)('tsx/cjs/api').register();
}
