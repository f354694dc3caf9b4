#!/usr/bin/env node
// `npx tsgi …` / `bunx tsgi …`: on Node, load tsx's loader (ESM and CommonJS hooks) so that the
// project and the user's app can be TypeScript — also an app.ts outside any "type": "module"
// package. Node 20 cannot run .ts by itself; Bun and Deno run TypeScript natively.
const g = globalThis;
if (g.Bun === undefined && g.Deno === undefined) await import('tsx');
const { main } = await import('../mod.ts');
await main(process.argv.slice(2));
