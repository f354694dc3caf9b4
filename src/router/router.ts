/**
 * The --http router process: uWSGI's HTTP router, a Hono app on the runtime's HTTP server in
 * front of the workers. --static-map prefixes are answered here from disk (src/router/static.ts);
 * --mount prefixes and everything else go to the workers over uwsgi (proxy.ts), with SCRIPT_NAME
 * and PATH_INFO split at the mountpoint. The master supervises it like a worker: it respawns it
 * when it dies and tells it how many workers are ready.
 */
import { queueDrained } from '../stats/proc.ts';
import { closeFd, foreignFds } from '../master/fds.ts';
import { Hono } from 'hono';
import type { HttpHandler, Listener, Peer, Runtime } from '../../runtimes/types.ts';
import { describeError, log, reopenLog } from '../log.ts';
import { type ChildState, isRouterMessage, type RouterReport } from '../master/protocol.ts';
import { CoreCounters } from '../worker/counters.ts';
import { handleHttpConn, type HttpServerOptions } from '../worker/http1.ts';
import { parseMount } from '../worker/mount.ts';
import { nativeHandler } from '../worker/native-http.ts';
import { nativeHttp } from '../worker/server.ts';
import { WorkerGate } from './gate.ts';
import { forward, type ProxyOptions } from './proxy.ts';
import { parseStaticMap, staticMap } from './static.ts';

type Env = { Bindings: { peer: Peer } };

/** The router's Hono app: static maps first, then one route per mountpoint, then the rest. */
export function routerApp(staticMaps: Array<{ prefix: string; dir: string }>, mountpoints: string[], proxy: ProxyOptions): Hono<Env> {
  const app = new Hono<Env>();
  for (const s of staticMaps) app.use(staticMap(s.prefix, s.dir));
  // Longest first: /api/v2 before /api.
  for (const p of [...mountpoints].sort((a, b) => b.length - a.length)) {
    app.all(p, (c) => forward(c.req.raw, c.env.peer, p, proxy));
    app.all(`${p}/*`, (c) => forward(c.req.raw, c.env.peer, p, proxy));
  }
  app.all('*', (c) => forward(c.req.raw, c.env.peer, '', proxy));
  return app;
}

export async function runRouter(rt: Runtime, state: ChildState): Promise<void> {
  const r = state.router;
  const channel = rt.parentChannel();
  if (!r || !channel) {
    log('tsgi http router: started without a master; exiting');
    return rt.exit(1);
  }
  for (const fd of foreignFds(state, 'router')) closeFd(fd);
  const serve = state.serve;
  // Requests wait until the master says a worker is ready (at once after a respawn of the router).
  const workers = new WorkerGate(serve.listen ?? 100, r.connectTimeout * 1000);
  let listener: Listener | null = null;
  const counters = new CoreCounters(0);
  let stopping = false;
  /** Stop accepting and finish the requests in flight; one still starting has none: it exits now. */
  const stop = async (why: string) => {
    if (stopping) return;
    stopping = true;
    log(`tsgi http router (pid: ${rt.pid}): ${why}`);
    if (listener) {
      // The router holds the port's last copy: closing it resets what the kernel has queued, so
      // take that first (a stop closes every other copy at once, and new handshakes are refused).
      if ('fd' in r.listen) await queueDrained(r.listen.fd, 1000);
      await listener.close();
      counters.drain();
      await counters.idle(state.master.workerReloadMercy * 1000);
    }
    rt.exit(0);
  };
  rt.onSignal('SIGINT', () => {});
  rt.onSignal('SIGHUP', reopenLog);
  rt.onSignal('SIGTERM', () => void stop('SIGTERM: stopping gracefully'));
  channel.onDisconnect = () => void stop('the master is gone: stopping');
  try {
    const statics = r.staticMaps.map((s) => parseStaticMap(s, state.cwd));
    const mountpoints = serve.mounts.map((m) => parseMount(m).prefix);
    const listen = r.listen;
    const proxy: ProxyOptions = {
      connect: () => rt.connectUnix(r.upstream),
      upstream: r.upstream,
      workers,
      timeoutMs: r.timeout * 1000,
      serverPort: r.port,
    };
    const app = routerApp(statics, mountpoints, proxy);
    const handler: HttpHandler = (req, peer) => app.fetch(req, { peer });
    const options: HttpServerOptions = {
      handler,
      bufferSize: serve.bufferSize,
      limitPost: serve.limitPost,
      headTimeoutMs: serve.socketTimeout * 1000,
      keepAlive: serve.httpKeepalive,
      counters,
    };
    const nativeOptions = {
      maxBodySize: serve.limitPost,
      maxHeadSize: serve.bufferSize,
      accepted: () => counters.accepted(),
      headTimeoutMs: options.headTimeoutMs,
    };
    if ('reuse' in listen) listener = await rt.serveHttp({ kind: 'tcp', ...listen.reuse, reusePort: true }, nativeHandler(options), nativeOptions);
    else if (nativeHttp(rt, 'fd', serve.httpKeepalive)) listener = await rt.serveHttp({ kind: 'fd', fd: listen.fd }, nativeHandler(options), nativeOptions);
    else listener = await rt.listenFd(listen.fd, (conn) => handleHttpConn(conn, options));
  } catch (e) {
    log(`tsgi http router (pid: ${rt.pid}): ${describeError(e)}`);
    return rt.exit(1);
  }

  channel.onMessage = (m) => {
    if (isRouterMessage(m)) workers.workers(m.ready);
  };
  channel.send({ t: 'ready' } satisfies RouterReport);
}
