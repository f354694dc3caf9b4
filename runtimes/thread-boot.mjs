// Entry of every worker thread (--threads): enable TypeScript, then load the module named in
// workerData.
import { workerData } from 'node:worker_threads';
import { enableTypeScript } from './boot.mjs';

await enableTypeScript();
await import(workerData.module);
