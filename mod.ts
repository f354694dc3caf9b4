/**
 * tsgi: a uWSGI-style application server for TypeScript fetch-handler apps, on Node, Bun and Deno.
 *
 * As a module: the CLI entry (`main`), the uwsgi codec and the configuration loader.
 * As a program (`bun mod.ts ARGS`, `deno run -A mod.ts ARGS`): runs the CLI.
 */
export { main } from './src/cli.ts';
export * from './src/codec/index.ts';
export { loadConfig, renderHelp, ConfigError, type TsgiOptions } from './src/config/index.ts';
export { loadApp, type FetchHandler } from './src/worker/app.ts';
export { startCore, type ServingCore } from './src/worker/server.ts';
export type { ServeOptions } from './src/master/protocol.ts';
import { main } from './src/cli.ts';

if ((import.meta as ImportMeta & { main?: boolean }).main) {
  await main(process.argv.slice(2));
}
