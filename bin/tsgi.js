#!/usr/bin/env node
// The tsgi command on every runtime — `npx tsgi …`, `bun bin/tsgi.js …`, `deno run -A bin/tsgi.js …` —
// and what tsgi's own child processes run: make TypeScript importable (runtimes/boot.mjs: Node
// ≥ 22.18, Bun and Deno run it natively, older Node through tsx), then run the CLI.
import { enableTypeScript } from '../runtimes/boot.mjs';

await enableTypeScript();
const { main } = await import('../src/cli.ts');
await main(process.argv.slice(2));
