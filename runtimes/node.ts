/**
 * The Node adapter: the Node-compatible parts (node-compat.ts), node:http for the native HTTP
 * server (node-http.ts), and how an app's TypeScript is loaded — by Node's type stripping where
 * it runs the app, else by tsx.
 */
import { extname } from 'node:path';
import { pathToFileURL } from 'node:url';
import { NODE_STRIPPING, registerTsx, RUNTIME_UP, saveCompileCache, typescriptLoader } from './boot.mjs';
import { keepResponseBodies, keepResponseSizes } from './kept-body.ts';
import {
  ALL_SIGNALS,
  nodeBindInheritable,
  nodeConnect,
  nodeListenFd,
  nodeListenTcp,
  nodeListenUnix,
  nodeParentChannel,
  nodeSpawnThread,
  nodeThreadChannel,
  processOnSignal,
  spawnChild,
} from './node-compat.ts';
import { nodeIds, nodeSetIdentity } from './identity.ts';
import type { Runtime } from './types.ts';

type Namespace = Record<string, unknown>;

/** Files type stripping does not take: JSX needs a transform. */
const TRANSFORMED = new Set(['.tsx', '.jsx']);

/**
 * Errors of an import that type stripping could not run, each raised while the module graph is
 * read and linked — before any of the app's code has run, so tsx may load it afresh: syntax that
 * needs a transform (enums, namespaces, parameter properties, decorators), specifiers that only
 * tsx resolves (`./x` or `./x.js` for x.ts), TypeScript under node_modules.
 */
const NEEDS_TSX = new Set([
  'ERR_UNSUPPORTED_TYPESCRIPT_SYNTAX',
  'ERR_INVALID_TYPESCRIPT_SYNTAX',
  'ERR_UNKNOWN_FILE_EXTENSION',
  'ERR_MODULE_NOT_FOUND',
  'ERR_UNSUPPORTED_DIR_IMPORT',
  'ERR_UNSUPPORTED_NODE_MODULES_TYPE_STRIPPING',
]);

function tsxReason(e: unknown): string | null {
  if (e instanceof SyntaxError) return `SyntaxError: ${e.message}`;
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && NEEDS_TSX.has(code) ? `${code}: ${(e as Error).message.split('\n')[0]}` : null;
}

/**
 * A CommonJS module loaded through tsx under Node's type stripping arrives with its exports as
 * the default export (`{ default: exports, 'module.exports': exports }`): unwrap it, so that
 * `export default` in an app.ts outside a "type": "module" package is the default export still.
 */
function unwrapCommonJs(mod: Namespace): Namespace {
  // Node 22 has no 'module.exports' key there, and tsx registered late loses the exports of a
  // CommonJS .ts (docs/ARCHITECTURE.md, runtime traps): such an app needs "type": "module".
  if (!('module.exports' in mod)) return mod;
  const exports = mod['module.exports'];
  return exports !== null && typeof exports === 'object' ? (exports as Namespace) : mod;
}

async function importApp(file: string): Promise<Namespace> {
  const url = pathToFileURL(file).href;
  if (typescriptLoader() !== NODE_STRIPPING) return (await import(url)) as Namespace;
  let why = TRANSFORMED.has(extname(file)) ? `${extname(file)} needs a transform` : null;
  if (why === null) {
    try {
      return (await import(url)) as Namespace;
    } catch (e) {
      why = tsxReason(e);
      if (why === null) throw e;
    }
  }
  process.stderr.write(`tsgi: ${file}: Node's type stripping cannot load it (${why}): loading it with tsx\n`);
  await registerTsx(`${file} needs it`);
  // A fresh URL: the failed attempt stays in Node's module cache under the plain one.
  return unwrapCommonJs((await import(`${url}?tsx`)) as Namespace);
}

export function createNodeRuntime(): Runtime {
  return {
    name: 'node',
    version: process.versions.node,
    socketApi: 'node:net',
    typescript: typescriptLoader,
    saveCompileCache,
    keptBodies: keepResponseBodies,
    lazyRequests: async () => (await import('./lazy-request.ts')).lazyRequests(),
    keptSizes: keepResponseSizes,
    up: RUNTIME_UP,
    importModule: importApp,
    serveHttp: async (target, handler, options) => (await import('./node-http.ts')).nodeServeHttp(target, handler, options),
    nativeHttpKinds: ['tcp', 'unix', 'fd'],
    serveHttps: async (target, handler, options, tls) => (await import('./node-tls.ts')).serveHttps(target, handler, options, tls, true),
    tls: { server: 'node:http2', h2: true, clientCerts: true, sni: true },
    nativeHttpHonorsClose: true,
    nativeHttpTakesOver: true,
    nodeHttpServer: true,
    listenTcp: nodeListenTcp,
    listenUnix: nodeListenUnix,
    listenFd: nodeListenFd,
    bindInheritable: nodeBindInheritable,
    // Node has no FFI: its own handles bind and listen in a thread that never polls (runtimes/node-bare.ts).
    bareBinder: async () => (await import('./node-bare.ts')).ListenThread.start()?.bind ?? null,
    parentChannel: nodeParentChannel,
    spawnThread: nodeSpawnThread,
    threadChannel: nodeThreadChannel,
    connectTcp: (host, port) => nodeConnect({ host, port }),
    connectUnix: (path) => nodeConnect({ path }),
    // Children run bin/tsgi.js (or another entry), which enables TypeScript itself, with this
    // process's Node options (as child_process.fork does): `node --import tsx` or --cpu-prof
    // reach every process.
    spawnSelf: (o) => spawnChild(process.execPath, process.execArgv, o),
    onSignal: processOnSignal,
    signals: ALL_SIGNALS,
    pid: process.pid,
    ids: nodeIds,
    identityProblem: () => null,
    setIdentity: (id) => nodeSetIdentity(id),
    rss: () => process.memoryUsage.rss(),
    exit: (code) => process.exit(code),
    execPath: process.execPath,
    execArgs: process.execArgv,
  };
}
