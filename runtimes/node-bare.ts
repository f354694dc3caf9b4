/**
 * Listening sockets on Node with no server of this process accepting on them, so that the process
 * the user started can be the master with no launcher in front (docs/ARCHITECTURE.md, "Why a
 * launcher"). Node has no FFI; its own TCP and pipe handles bind and listen in a thread that then
 * never runs its event loop (runtimes/node-listen-thread.cjs): the kernel queues connections on
 * the socket and only the children, which get its fd, accept them. What it gives is a libuv
 * listen: SO_REUSEADDR, the backlog asked for, a dual-stack socket on `::`.
 */
import { Worker } from 'node:worker_threads';
import { toBindError } from './bind-error.ts';
import { resolveHost } from './bare-socket.ts';
import type { BareBinder, InheritableSocket, ListenOptions } from './types.ts';

const IDLE = 0;
const ASKED = 1;
/** Requests and answers are short JSON texts: a bind names a host or a UNIX path (≤ 108 bytes). */
const BUFFER = 8 + 4096;
const BACKLOG = 511;

type Request =
  | { kind: 'tcp'; ip: string; v6: boolean; port: number; backlog: number }
  | { kind: 'unix'; path: string; backlog: number }
  | { kind: 'close'; fd: number };
type Answer = { fd?: number; port?: number; call?: string; code?: string; message?: string };

/** The thread that holds the sockets, and the one request at a time it answers. */
export class ListenThread {
  readonly #worker: Worker;
  readonly #control: Int32Array;
  readonly #bytes: Uint8Array;
  #queue: Promise<unknown> = Promise.resolve();
  /** Rejects when the thread fails or exits: a request then fails instead of waiting for ever. */
  readonly #gone: Promise<never>;

  private constructor(worker: Worker, shared: SharedArrayBuffer) {
    this.#worker = worker;
    this.#control = new Int32Array(shared, 0, 2);
    this.#bytes = new Uint8Array(shared, 8);
    this.#gone = new Promise<never>((_, reject) => {
      worker.on('error', (e) => reject(new Error(`the listening thread failed: ${e.message}`)));
      worker.on('exit', (code) => reject(new Error(`the listening thread exited (code ${code})`)));
    });
    this.#gone.catch(() => {});
  }

  /**
   * Start the thread; it stays for the life of this process, which it keeps alive only while it
   * answers. Null where this Node has no tcp_wrap and pipe_wrap bindings (then tsgi keeps a launcher).
   */
  static start(): ListenThread | null {
    if (!ListenThread.#bindings()) return null;
    const shared = new SharedArrayBuffer(BUFFER);
    const worker = new Worker(new URL('./node-listen-thread.cjs', import.meta.url), { workerData: shared, execArgv: [], stdout: false, stderr: false });
    worker.unref();
    return new ListenThread(worker, shared);
  }

  /** Does `process.binding` give the TCP and pipe server handles the thread uses? */
  static #bindings(): boolean {
    try {
      const node = process as unknown as { binding(name: string): Record<string, unknown> };
      return typeof node.binding('tcp_wrap').TCP === 'function' && typeof node.binding('pipe_wrap').Pipe === 'function';
    } catch {
      return false;
    }
  }

  /** This thread's bind, as the runtime seam's BareBinder. */
  readonly bind: BareBinder = async (target, options) => {
    const what = target.kind === 'tcp' ? `${target.host}:${target.port}` : target.path;
    try {
      return await this.#listen(target, options);
    } catch (e) {
      throw toBindError(e, what);
    }
  };

  async #listen(target: Parameters<BareBinder>[0], options?: ListenOptions): Promise<InheritableSocket> {
    const backlog = options?.backlog ?? BACKLOG;
    if (target.kind === 'unix') {
      const { fd } = await this.#ask({ kind: 'unix', path: target.path, backlog });
      return this.#socket(fd, { kind: 'unix', path: target.path });
    }
    const { ip, v6 } = await resolveHost(target.host);
    const { fd, port } = await this.#ask({ kind: 'tcp', ip, v6, port: target.port, backlog });
    return this.#socket(fd, { kind: 'tcp', host: target.host, port: port ?? target.port });
  }

  #socket(fd: number, address: InheritableSocket['address']): InheritableSocket {
    let open = true;
    const close = async () => {
      if (open) await this.#ask({ kind: 'close', fd });
      open = false;
    };
    return { fd, address, close };
  }

  /** Ask the thread, after every request before this one; an answer with a code is an error. */
  async #ask(request: Request): Promise<Answer & { fd: number }> {
    const turn = this.#queue.then(() => this.#exchange(request));
    this.#queue = turn.catch(() => {});
    const answer = await turn;
    if (answer.code !== undefined) {
      throw Object.assign(new Error(`${answer.call} ${answer.code}${answer.message ? `: ${answer.message}` : ''}`), { code: answer.code });
    }
    return { ...answer, fd: answer.fd ?? -1 };
  }

  async #exchange(request: Request): Promise<Answer> {
    const control = this.#control;
    const text = new TextEncoder().encode(JSON.stringify(request));
    this.#bytes.set(text);
    control[1] = text.length;
    Atomics.store(control, 0, ASKED);
    Atomics.notify(control, 0);
    const waiting = Atomics.waitAsync(control, 0, ASKED);
    // A pending waitAsync does not keep the event loop alive; the thread does, until it answers.
    this.#worker.ref();
    try {
      if (waiting.async) await Promise.race([waiting.value, this.#gone]);
    } finally {
      this.#worker.unref();
    }
    const answer = JSON.parse(new TextDecoder().decode(this.#bytes.slice(0, control[1]))) as Answer;
    Atomics.store(control, 0, IDLE);
    return answer;
  }
}
