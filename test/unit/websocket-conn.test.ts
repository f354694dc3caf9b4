// WebSockets over tsgi's own servers on an in-memory connection: the HTTP/1.1 server and the
// --http router's internal uwsgi socket run the codec (src/worker/websocket.ts) after the app's
// upgradeWebSocket; the public uwsgi socket answers 426.
import { describe, expect, it } from 'vitest';
import { encodePacket, KEEP_CONNECTION_VAR } from '../../src/codec/index.ts';
import { CoreCounters } from '../../src/worker/counters.ts';
import { handleHttpConn } from '../../src/worker/http1.ts';
import { handleInternalConn } from '../../src/worker/internal.ts';
import { handleUwsgiConn } from '../../src/worker/uwsgi.ts';
import { type ServerWebSocket, upgradeWebSocket, type WebSocketHandlers } from '../../mod.ts';
import { clientFrame, closeCode, ServerFrames, upgradeRequest, WS_OPCODE } from '../ws-frames.ts';
import { MemoryConn } from './memory-conn.ts';

const LIMITS = { maxMessage: 1000, pingMs: 0, pongMs: 1000 };

/** A peer that reads the server's frames after its 101 head. */
class Peer {
  readonly conn: MemoryConn;
  readonly frames = new ServerFrames();
  #seen = 0;
  head = '';

  constructor(conn: MemoryConn) {
    this.conn = conn;
  }

  /** Parse what the server wrote since last time. */
  #read(): void {
    const all = this.conn.written;
    for (; this.#seen < all.length; this.#seen++) {
      let chunk = all[this.#seen];
      if (!this.head.endsWith('\r\n\r\n')) {
        const text = String.fromCharCode(...chunk);
        const end = text.indexOf('\r\n\r\n');
        this.head += end === -1 ? text : text.slice(0, end + 4);
        if (end === -1) continue;
        chunk = chunk.subarray(end + 4);
      }
      this.frames.push(chunk);
    }
  }

  async frame(n: number): Promise<void> {
    await this.conn.until(() => {
      this.#read();
      return this.frames.frames.length >= n;
    });
  }

  async opened(): Promise<void> {
    await this.conn.until(() => {
      this.#read();
      return this.head.endsWith('\r\n\r\n');
    });
  }
}

type Log = Array<string>;

function echoApp(log: Log, handlers: Partial<WebSocketHandlers<{ n: number }>> = {}) {
  return (req: Request) =>
    upgradeWebSocket<{ n: number }>(
      req,
      {
        open: (ws) => {
          log.push(`open ${ws.request.headers.get('origin')} ${ws.data.n}`);
        },
        message: (ws, data) => {
          ws.send(data);
        },
        close: (_ws, code, reason) => {
          log.push(`close ${code} ${reason}`);
        },
        ...handlers,
      },
      { data: { n: 7 }, protocol: 'chat' },
    );
}

function overHttp(app: (req: Request) => Response): Peer {
  const conn = new MemoryConn();
  handleHttpConn(conn, { handler: app, bufferSize: 4096, limitPost: 0, headTimeoutMs: 5000, keepAlive: true, webSockets: LIMITS });
  return new Peer(conn);
}

describe('WebSocket over tsgi HTTP/1.1 (in memory)', () => {
  it('answers 101 with the accept key, echoes text and binary, and closes with the client', async () => {
    const log: Log = [];
    const peer = overHttp(echoApp(log));
    peer.conn.send(upgradeRequest('/chat', { origin: 'https://app.example', 'sec-websocket-protocol': 'chat' }));
    await peer.opened();
    expect(peer.head).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\n/);
    expect(peer.head).toContain('sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n');
    expect(peer.head).toContain('sec-websocket-protocol: chat\r\n');
    peer.conn.send(clientFrame(WS_OPCODE.text, 'héllo'));
    peer.conn.send(clientFrame(WS_OPCODE.binary, new Uint8Array([1, 2, 3])));
    await peer.frame(2);
    const [a, b] = peer.frames.frames;
    expect([a.opcode, new TextDecoder().decode(a.payload)]).toEqual([WS_OPCODE.text, 'héllo']);
    expect([b.opcode, [...b.payload]]).toEqual([WS_OPCODE.binary, [1, 2, 3]]);
    peer.conn.send(clientFrame(WS_OPCODE.close, new Uint8Array([0x03, 0xe8])));
    await peer.frame(3);
    expect(closeCode(peer.frames.frames[2])).toBe(1000);
    await peer.conn.until((c) => c.closed);
    expect(log).toEqual(['open https://app.example 7', 'close 1000 ']);
  });

  it('reads frames that came in the same packet as the upgrade request', async () => {
    const peer = overHttp(echoApp([]));
    const req = new TextEncoder().encode(upgradeRequest('/'));
    const frame = clientFrame(WS_OPCODE.text, 'early');
    const both = new Uint8Array(req.length + frame.length);
    both.set(req);
    both.set(frame, req.length);
    peer.conn.send(both);
    await peer.frame(1);
    expect(new TextDecoder().decode(peer.frames.frames[0].payload)).toBe('early');
  });

  it('refuses a missing key with 400, before the app gets a WebSocket', async () => {
    const log: Log = [];
    const peer = overHttp(echoApp(log));
    peer.conn.send(upgradeRequest('/', { 'sec-websocket-key': '' }));
    await peer.conn.until((c) => c.text().includes('\r\n\r\n'));
    expect(peer.conn.text()).toMatch(/^HTTP\/1\.1 400 [\s\S]*Sec-WebSocket-Key/);
    expect(log).toEqual([]);
  });

  it('closes with 1002 on an unmasked frame, and 1009 on a message above the limit', async () => {
    for (const [frame, code] of [
      [
        (() => {
          const f = clientFrame(WS_OPCODE.text, 'x');
          return new Uint8Array([f[0], 1, 120]); // the same frame, unmasked
        })(),
        1002,
      ],
      [clientFrame(WS_OPCODE.binary, new Uint8Array(1001)), 1009],
    ] as const) {
      const log: Log = [];
      const peer = overHttp(echoApp(log));
      peer.conn.send(upgradeRequest('/'));
      await peer.opened();
      peer.conn.send(frame);
      await peer.frame(1);
      expect([peer.frames.frames[0].opcode, closeCode(peer.frames.frames[0])]).toEqual([WS_OPCODE.close, code]);
      // Half-closed: what the client still sends is dropped until it closes.
      await peer.conn.until((c) => c.writeClosed);
      peer.conn.halfClose();
      await peer.conn.until((c) => c.closed);
      expect(log[1]).toMatch(new RegExp(`^close ${code} `));
    }
  });

  it('starts the close handshake when the app closes, and answers pings', async () => {
    const log: Log = [];
    const peer = overHttp(echoApp(log, { message: (ws) => ws.close(4000, 'done') }));
    peer.conn.send(upgradeRequest('/'));
    await peer.opened();
    peer.conn.send(clientFrame(WS_OPCODE.ping, 'p'));
    await peer.frame(1);
    expect([peer.frames.frames[0].opcode, new TextDecoder().decode(peer.frames.frames[0].payload)]).toEqual([WS_OPCODE.pong, 'p']);
    peer.conn.send(clientFrame(WS_OPCODE.text, 'bye'));
    await peer.frame(2);
    expect(closeCode(peer.frames.frames[1])).toBe(4000);
    expect(peer.conn.closed).toBe(false);
    peer.conn.send(clientFrame(WS_OPCODE.close, new Uint8Array([0x0f, 0xa0])));
    await peer.conn.until((c) => c.closed);
    expect(log[1]).toBe('close 4000 ');
  });

  it('says -1 above the high-water mark and calls drain once the client has read', async () => {
    const sent: number[] = [];
    let drained = 0;
    const peer = overHttp(
      echoApp([], {
        open: (ws: ServerWebSocket<{ n: number }>) => {
          for (let i = 0; i < 4; i++) sent.push(ws.send(new Uint8Array(30000)));
          sent.push(ws.bufferedAmount);
        },
        drain: () => drained++,
      }),
    );
    peer.conn.send(upgradeRequest('/'));
    await peer.frame(4);
    expect(sent.slice(0, 2)).toEqual([30004, 30004]);
    expect(sent[2]).toBe(-1);
    expect(sent[4]).toBeGreaterThan(0);
    peer.conn.read();
    await new Promise((r) => setTimeout(r, 0));
    expect(drained).toBe(1);
  });

  it('closes a WebSocket whose client answers no ping', async () => {
    const log: Log = [];
    const conn = new MemoryConn();
    handleHttpConn(conn, {
      handler: echoApp(log),
      bufferSize: 4096,
      limitPost: 0,
      headTimeoutMs: 5000,
      keepAlive: true,
      webSockets: { maxMessage: 1000, pingMs: 20, pongMs: 20 },
    });
    const peer = new Peer(conn);
    conn.send(upgradeRequest('/'));
    await peer.frame(1);
    expect(peer.frames.frames[0].opcode).toBe(WS_OPCODE.ping);
    await conn.until((c) => c.closed);
    expect(log[1]).toBe('close 1006 no pong');
  });
});

describe('WebSocket over the uwsgi protocol (in memory)', () => {
  const vars: Array<[string, string]> = [
    ['REQUEST_METHOD', 'GET'],
    ['REQUEST_URI', '/ws'],
    ['PATH_INFO', '/ws'],
    ['SERVER_PROTOCOL', 'HTTP/1.1'],
    ['HTTP_HOST', 'example.test'],
    ['HTTP_UPGRADE', 'websocket'],
    ['HTTP_CONNECTION', 'Upgrade'],
    ['HTTP_SEC_WEBSOCKET_VERSION', '13'],
    ['HTTP_SEC_WEBSOCKET_KEY', 'dGhlIHNhbXBsZSBub25jZQ=='],
  ];

  it('the router internal socket: a 101 head, then frames raw on the connection', async () => {
    const conn = new MemoryConn();
    handleInternalConn(conn, { handler: echoApp([]), bufferSize: 4096, limitPost: 0, headTimeoutMs: 5000, webSockets: LIMITS });
    const peer = new Peer(conn);
    conn.send(encodePacket(vars));
    await peer.opened();
    expect(peer.head).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\n[\s\S]*sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=/);
    conn.send(clientFrame(WS_OPCODE.text, 'relayed'));
    await peer.frame(1);
    expect(new TextDecoder().decode(peer.frames.frames[0].payload)).toBe('relayed');
  });

  it('the router internal socket, on a connection the router asked to keep: a 101 head, then frames raw, never the next packet', async () => {
    const conn = new MemoryConn();
    handleInternalConn(conn, { handler: echoApp([]), bufferSize: 4096, limitPost: 0, headTimeoutMs: 5000, webSockets: LIMITS });
    const peer = new Peer(conn);
    conn.send(encodePacket([...vars, [KEEP_CONNECTION_VAR, '1']]));
    await peer.opened();
    expect(peer.head).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\n[\s\S]*sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=/);
    expect(peer.head).not.toMatch(/transfer-encoding|content-length/i);
    conn.send(clientFrame(WS_OPCODE.text, 'relayed'));
    await peer.frame(1);
    expect(new TextDecoder().decode(peer.frames.frames[0].payload)).toBe('relayed');
  });

  it('public --socket: 426 that says to use --http-socket', async () => {
    const log: Log = [];
    const conn = new MemoryConn();
    handleUwsgiConn(conn, { handler: echoApp(log), bufferSize: 4096, limitPost: 0, headTimeoutMs: 5000 });
    conn.send(encodePacket(vars));
    await conn.until((c) => c.closed);
    expect(conn.text()).toMatch(/^HTTP\/1\.1 426 [\s\S]*--socket \(uwsgi[\s\S]*--http-socket/);
    expect(log).toEqual([]);
  });
});

describe('open WebSockets and the core (in memory)', () => {
  it('an accepted WebSocket is no running request; a stop closes it with 1001 and waits for it', async () => {
    const counters = new CoreCounters(0);
    const log: Log = [];
    const conn = new MemoryConn();
    handleHttpConn(conn, { handler: echoApp(log), bufferSize: 4096, limitPost: 0, headTimeoutMs: 5000, keepAlive: true, webSockets: LIMITS, counters });
    const peer = new Peer(conn);
    conn.send(upgradeRequest('/'));
    await peer.opened();
    expect([counters.busy, counters.websockets, counters.totals.websockets]).toEqual([0, 1, 1]);
    counters.closeWebSockets();
    let idle = false;
    const stopped = counters.idle(5000).then((ok) => (idle = ok));
    await peer.frame(1);
    expect(closeCode(peer.frames.frames[0])).toBe(1001);
    expect(idle).toBe(false);
    conn.send(clientFrame(WS_OPCODE.close, new Uint8Array([0x03, 0xe9])));
    await stopped;
    expect([idle, counters.websockets, counters.totals.requests]).toEqual([true, 0, 1]);
    expect(log).toEqual(['open null 7', 'close 1001 ']);
  });
});
