/**
 * tsgi as a library: `serve()` starts from code what the tsgi command starts.
 *
 *   import { serve } from 'tsgi';
 *   const server = serve({ app: './app.ts', socket: ['127.0.0.1:3031'], processes: 4 });
 *   await server.ready;
 *
 * WebSockets: `return upgradeWebSocket(req, { open, message, close, drain }, { data })` in a fetch
 * handler (src/websocket/upgrade.ts), on every runtime.
 *
 * The uwsgi codec is the `tsgi/codec` subpath (src/codec/index.ts). The command is bin/tsgi.js.
 */
export { serve, type ServeConfig, type TsgiServer } from './src/serve.ts';
export { ConfigError } from './src/config/index.ts';
export type { FetchHandler } from './src/worker/app.ts';
export type { ListenAddress } from './runtimes/types.ts';
export { VERSION } from './src/version.ts';
export { ServerWebSocket, type UpgradeOptions, upgradeWebSocket, type WebSocketHandlers, WS_STATE } from './src/websocket/upgrade.ts';
