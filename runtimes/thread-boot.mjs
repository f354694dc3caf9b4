// Entry of every worker thread: on Node, load tsx's loader first (the main thread's loader hooks do
// not reach threads on Node 20), then load the module named in workerData.
import { workerData } from 'node:worker_threads';

const g = globalThis;
if (g.Bun === undefined && g.Deno === undefined) {
  // tsx's main entry registers nothing in a worker thread: register its ESM and CommonJS
  // hooks here (the CommonJS ones for apps outside a "type": "module" package).
  const { register } = await import('tsx/esm/api');
  register();
  const { createRequire } = await import('node:module');
  createRequire(import.meta.url)('tsx/cjs/api').register();
}
await import(workerData.module);
