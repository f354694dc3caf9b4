#!/usr/bin/env node
// `npx tsgi …` / `bunx tsgi …`: make TypeScript importable (tsx on Node 20; Bun and Deno run it
// natively), then run the CLI.
import { enableTypeScript } from '../runtimes/boot.mjs';

await enableTypeScript();
const { main } = await import('../mod.ts');
await main(process.argv.slice(2));
