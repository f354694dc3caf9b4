// Bare Node WebSocket echo server for bench/websocket.sh: node:http's 'upgrade' event and tsgi's
// RFC 6455 codec (src/codec/websocket.ts) straight on the socket, no tsgi server in between.
//   node bench/websocket/node-http.ts PORT
import http from 'node:http';
import type net from 'node:net';
import { encodeFrame, WS_OPCODE, WebSocketDecoder, webSocketAccept } from '../../src/codec/websocket.ts';

async function upgrade(req: http.IncomingMessage, socket: net.Socket, head: Buffer): Promise<void> {
  const accept = await webSocketAccept(String(req.headers['sec-websocket-key'] ?? ''));
  socket.setNoDelay(true);
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: ${accept}\r\n\r\n`);
  const enc = new TextEncoder();
  const decoder = new WebSocketDecoder(
    {
      message: (data) => void socket.write(typeof data === 'string' ? encodeFrame(WS_OPCODE.text, enc.encode(data)) : encodeFrame(WS_OPCODE.binary, data)),
      ping: (payload) => void socket.write(encodeFrame(WS_OPCODE.pong, payload)),
      pong: () => {},
      close: () => socket.end(encodeFrame(WS_OPCODE.close, new Uint8Array(0))),
    },
    { maxMessage: 1024 * 1024 },
  );
  socket.on('data', (chunk: Buffer) => decoder.push(chunk));
  socket.on('error', () => socket.destroy());
  if (head.length > 0) decoder.push(head);
}

const server = http.createServer((_req, res) => res.writeHead(400).end('not a WebSocket'));
server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => void upgrade(req, socket, head));
server.listen(Number(process.argv[2] ?? 8080), '127.0.0.1', () => console.log('bare Node WebSocket server ready'));
