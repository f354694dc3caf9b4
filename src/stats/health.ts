/**
 * Readiness, as a load balancer or a Kubernetes probe asks it of the stats server (/readyz, the
 * stats JSON, `tsgi check`): ready once every worker has started and while one can serve; not
 * ready from the moment a stop begins (--shutdown-delay's wait included). Liveness (/livez) is
 * the master answering at all.
 */

export interface Health {
  ready: boolean;
  /** Why, in a few words: "ready", "starting", "no worker ready", "shutting down". */
  state: string;
  /** Workers that can take a request now. */
  serving: number;
  workers: number;
}

export interface HealthInput {
  /** Every worker (and the router) has been ready once. */
  started: boolean;
  /** A stop signal came (the graceful stop or --shutdown-delay's wait before it). */
  stopping: boolean;
  serving: number;
  workers: number;
}

export function health(h: HealthInput): Health {
  const base = { serving: h.serving, workers: h.workers };
  if (h.stopping) return { ...base, ready: false, state: 'shutting down' };
  if (!h.started) return { ...base, ready: false, state: 'starting' };
  if (h.serving === 0) return { ...base, ready: false, state: 'no worker ready' };
  return { ...base, ready: true, state: 'ready' };
}

/** The one line /readyz answers and `tsgi check` prints. */
export function healthLine(h: Health): string {
  return `${h.state} (${h.serving} of ${h.workers} worker(s) serving)`;
}
