/**
 * A raw handler (RawHandler, types.ts) on node:http: the head as node:http parsed it (rawHeaders),
 * the answer as res.writeHead(status, flat header pairs) and body writes, without Hono's adapter,
 * a Request or a Response. node:http frames the answer (Content-Length, else chunked) and adds
 * Date and its keep-alive lines, as for the adapter's answers.
 */
import type http from 'node:http';
import type net from 'node:net';
import type { RawHandler, RawReply, RawRequestHead } from './types.ts';

/** Bytes of the head as sent: "METHOD target HTTP/1.1\r\n", every "name: value\r\n", the blank line. */
export function nodeHeadBytes(m: http.IncomingMessage): number {
  const raw = m.rawHeaders;
  let n = (m.method ?? '').length + (m.url ?? '').length + 12 + 2;
  for (let i = 0; i + 1 < raw.length; i += 2) n += raw[i].length + raw[i + 1].length + 4;
  return n;
}

/** Offer the request to `raw`; true if it took it. `closing`: the server stops, the answer closes the connection. */
export function offerRaw(raw: RawHandler, req: http.IncomingMessage, res: http.ServerResponse, closing: boolean): boolean {
  const socket = req.socket;
  const head: RawRequestHead = {
    method: req.method ?? 'GET',
    target: req.url ?? '/',
    v11: req.httpVersion === '1.1',
    headers: req.rawHeaders,
    headBytes: nodeHeadBytes(req),
    peer: { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 },
  };
  const reply = new NodeRawReply(res, socket, closing);
  if (!raw(head, reply)) return false;
  reply.watch();
  return true;
}

class NodeRawReply implements RawReply {
  onDrain: (() => void) | null = null;
  onGone: (() => void) | null = null;
  onAbort: (() => void) | null = null;
  readonly #res: http.ServerResponse;
  readonly #socket: net.Socket;
  readonly #closing: boolean;
  #gone = false;
  #over = false;

  constructor(res: http.ServerResponse, socket: net.Socket, closing: boolean) {
    this.#res = res;
    this.#socket = socket;
    this.#closing = closing;
  }

  /** Learn when the client goes: its FIN (it went or half-closed), or the answer's connection closing first. */
  watch(): void {
    if (this.#socket.readableEnded) this.#ended();
    else this.#socket.once('end', this.#ended);
    this.#res.once('close', this.#closed);
  }

  head(status: number, _reason: string, headers: string[], close: boolean): void {
    if (this.#over) return;
    if (close || this.#closing) headers.push('connection', 'close');
    // node:http's own reason phrase, as for the adapter's answers.
    this.#res.writeHead(status, headers);
  }

  answer(status: number, reason: string, headers: string[], close: boolean, body: Uint8Array | null): void {
    this.head(status, reason, headers, close);
    if (this.#over) return;
    this.#over = true;
    // node:http sends the head and the body in one writev.
    if (body === null) this.#res.end();
    else this.#res.end(body);
  }

  write(chunk: Uint8Array): boolean {
    if (this.#over) return true;
    const ok = this.#res.write(chunk);
    if (!ok) this.#res.once('drain', () => this.onDrain?.());
    return ok;
  }

  end(): void {
    if (this.#over) return;
    this.#over = true;
    this.#res.end();
  }

  destroy(): void {
    if (this.#over) return;
    this.#over = true;
    this.#res.destroy();
  }

  #ended = (): void => {
    if (this.#gone || this.#over) return;
    this.#gone = true;
    this.onGone?.();
  };

  #closed = (): void => {
    this.#socket.off('end', this.#ended);
    if (this.#over) return;
    this.#ended();
    this.#over = true;
    this.onAbort?.();
  };
}
