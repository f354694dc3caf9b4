// The --http router's proxy options over in-memory connections to the workers, for the router's
// unit tests: the test plays the worker on each connection the pool opens.
import type { Conn } from '../../runtimes/types.ts';
import { WorkerGate } from '../../src/router/gate.ts';
import { UpstreamPool } from '../../src/router/pool.ts';
import type { ProxyOptions } from '../../src/router/proxy.ts';
import { Relays } from '../../src/router/upgrade.ts';
import { MemoryConn } from './memory-conn.ts';

/** A pool whose new connections the test answers (`opened` lists them in order); `ready` workers; --http-timeout `timeoutMs`. */
export function memoryProxy(timeoutMs = 60_000, ready = 1): { o: ProxyOptions; pool: UpstreamPool; opened: MemoryConn[] } {
  const opened: MemoryConn[] = [];
  const pool = new UpstreamPool(
    async () => {
      const c = new MemoryConn('', 0);
      opened.push(c);
      return c as Conn;
    },
    8,
    60_000,
  );
  const workers = new WorkerGate(10, 60_000);
  workers.workers(ready);
  return { o: { pool, upstream: '/test.sock', workers, timeoutMs, serverPort: 80, relays: new Relays(), upgrades: true }, pool, opened };
}
