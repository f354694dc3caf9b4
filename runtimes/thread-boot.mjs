// Entry of every worker thread: on Node, load tsx's loader first (the main thread's loader hooks do
// not reach threads on Node 20), then load the module named in workerData.
import { workerData } from 'node:worker_threads';

const g = globalThis;
if (g.Bun === undefined && g.Deno === undefined) await import('tsx');
await import(workerData.module);
