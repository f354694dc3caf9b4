// Bare Bun WebSocket echo server for bench/websocket.sh: Bun.serve with its own websocket
// handlers, no tsgi in between.   bun bench/websocket/bun-serve.ts PORT
interface BunWs {
  send(data: string | Uint8Array): number;
}
const Bun = (
  globalThis as unknown as {
    Bun: {
      serve(o: {
        port: number;
        hostname: string;
        fetch(req: Request, server: { upgrade(req: Request): boolean }): Response | undefined;
        websocket: { message(ws: BunWs, data: string | Uint8Array): void };
      }): unknown;
    };
  }
).Bun;

Bun.serve({
  port: Number(process.argv[2] ?? 8080),
  hostname: '127.0.0.1',
  fetch: (req, server) => (server.upgrade(req) ? undefined : new Response('not a WebSocket', { status: 400 })),
  websocket: { message: (ws, data) => void ws.send(data) },
});
console.log('bare Bun WebSocket server ready');
