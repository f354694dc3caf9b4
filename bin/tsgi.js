#!/usr/bin/env node
// `npx tsgi …` / `bunx tsgi …`: on Node, register tsx so the project and the user's app can be
// TypeScript (Node 20 cannot run .ts by itself); Bun and Deno run TypeScript natively.
const g = globalThis;
if (g.Bun === undefined && g.Deno === undefined) {
  const { register } = await import('tsx/esm/api');
  register();
}
const { main } = await import('../mod.ts');
await main(process.argv.slice(2));
