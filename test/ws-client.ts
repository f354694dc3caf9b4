/**
 * A WebSocket client for the tests (the runtime's global WebSocket: Node 22+, Bun, Deno): what it
 * received, in order, and how it closed; every wait is bounded.
 */
export type WsMessage = string | Uint8Array;

export class WsClient {
  readonly ws: WebSocket;
  readonly received: WsMessage[] = [];
  closed: { code: number; reason: string } | null = null;
  #taken = 0;

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.binaryType = 'arraybuffer';
    ws.onmessage = (e: MessageEvent) => {
      this.received.push(typeof e.data === 'string' ? e.data : new Uint8Array(e.data as ArrayBuffer));
    };
    ws.onclose = (e: CloseEvent) => {
      this.closed = { code: e.code, reason: e.reason };
    };
  }

  /** Open a WebSocket to `url`; rejects if it does not open within `ms`. */
  static open(url: string, ms = 20_000): Promise<WsClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      const timer = setTimeout(() => {
        ws.close();
        reject(new Error(`${url} did not open within ${ms} ms`));
      }, ms);
      ws.onopen = () => {
        clearTimeout(timer);
        resolve(new WsClient(ws));
      };
      ws.onerror = () => {
        clearTimeout(timer);
        reject(new Error(`${url}: the WebSocket failed to open`));
      };
    });
  }

  /** The next message not yet taken (bounded). */
  async next(ms = 20_000): Promise<WsMessage> {
    const end = Date.now() + ms;
    while (this.received.length <= this.#taken) {
      if (this.closed) throw new Error(`closed (${this.closed.code} ${this.closed.reason}) before a message came`);
      if (Date.now() > end) throw new Error(`no message within ${ms} ms`);
      await new Promise((r) => setTimeout(r, 10));
    }
    return this.received[this.#taken++];
  }

  /** Resolves with how it closed (bounded). */
  async closing(ms = 30_000): Promise<{ code: number; reason: string }> {
    const end = Date.now() + ms;
    while (this.closed === null) {
      if (Date.now() > end) throw new Error(`not closed within ${ms} ms`);
      await new Promise((r) => setTimeout(r, 10));
    }
    return this.closed;
  }
}
