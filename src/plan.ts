/**
 * From the options a user gave (command line, files, serve()) to what each process needs: one
 * serving process's options, the master's, and whether a master is needed at all.
 */
import type { TsgiOptions } from './config/index.ts';
import type { MasterOptions, ServeOptions } from './master/protocol.ts';
import { resolvePrivileges } from './privilege/accounts.ts';

/** uWSGI runs several processes only under a master; tsgi starts one for these too. */
export function needsMaster(o: TsgiOptions): boolean {
  return (
    o.master ||
    o.uid !== undefined ||
    o.gid !== undefined ||
    o.processes > 1 ||
    o.threads > 1 ||
    o.stats !== undefined ||
    o.http !== undefined ||
    o.https.length > 0
  );
}

export function serveOptions(o: TsgiOptions): ServeOptions {
  return {
    sockets: o.socket,
    scgiSockets: o.scgiSocket,
    httpSockets: o.httpSocket,
    httpsSockets: o.httpsSocket,
    sni: o.sni,
    fastcgiSockets: o.fastcgiSocket,
    limitPost: o.limitPost,
    webSockets: { maxMessage: o.websocketsMaxSize * 1024, pingMs: o.websocketsPingFreq * 1000, pongMs: o.websocketsPongTolerance * 1000 },
    httpKeepalive: o.httpKeepalive,
    mounts: o.mount,
    manageScriptName: o.manageScriptName,
    disableLogging: o.disableLogging,
    stats: o.stats !== undefined,
    logFormat: o.logFormat,
    logto: o.logto,
    app: o.app,
    callable: o.callable,
    chdir: o.chdir,
    chmodSocket: o.chmodSocket,
    socketOwner: resolvePrivileges(o).socketOwner,
    trustedProxies: o.trustedProxy,
    vacuum: o.vacuum,
    bufferSize: o.bufferSize,
    socketTimeout: o.socketTimeout,
    httpTimeout: o.httpTimeout,
    listen: o.listen,
    reusePort: o.reusePort,
    env: o.env,
  };
}

export function masterOptions(o: TsgiOptions): MasterOptions {
  const { identity, socketOwner } = resolvePrivileges(o);
  return {
    processes: o.processes,
    threads: o.threads,
    maxRequests: o.maxRequests ?? 0,
    harakiri: o.harakiri ?? 0,
    reloadOnRss: o.reloadOnRss ?? 0,
    workerReloadMercy: o.workerReloadMercy,
    reloadMercy: o.reloadMercy,
    shutdownDelay: o.shutdownDelay,
    touchReload: o.touchReload,
    pidfile: o.pidfile,
    identity,
    stats: o.stats ? { address: o.stats, http: o.statsHttp, minified: o.statsMinified, owner: socketOwner } : undefined,
    http:
      o.http !== undefined || o.https.length > 0
        ? {
            address: o.http,
            https: o.https,
            redirect: o.httpToHttps,
            timeout: o.httpTimeout,
            connectTimeout: o.httpConnectTimeout ?? o.httpTimeout,
            staticMaps: o.staticMap,
          }
        : undefined,
  };
}
